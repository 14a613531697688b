"""Graph-level operations.

``contract(spec, *operands, weights=...)`` evaluates an einsum over named
indices in the order `tgraph-reorder-contractions` would choose for the
operands' actual sizes (the same cost model, through ``tessera._C``):
exact dynamic programming over orders, cost = max(FLOPs / peak, bytes /
bandwidth) per pairwise product, products of weights alone cached and
charged once. ``contraction_plan`` returns that order and its cost.

    # DeepSeek MLA scores: prefill picks (W_UQ c_Q)^T (W_UK c_KV), decode
    # [(W_UQ c_Q)^T W_UK] c_KV.
    scores = tessera.ops.contract("bsq,hdq,btk,hdk->bhst", c_q, w_uq, c_kv, w_uk,
                                  weights=[False, True, False, True])

The pairwise products run with the array library of the operands
(``torch.einsum`` for torch tensors, ``numpy.einsum`` for numpy arrays);
they are not yet lowered to Tessera kernels.

``attention(q, k, v, causal)`` and ``block_sparse_attention(q, k, v,
kv_index, kv_count)`` run a flash-attention kernel written in the DSL
(``tessera.kernels.attention``) that visits only the listed key/value blocks
of each query block.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

from . import _C

# H200 (dense bf16 tensor FLOP/s, HBM3e bandwidth): the default machine.
PEAK_TFLOPS = 989.0
PEAK_TBPS = 4.8


@dataclass(frozen=True)
class ContractionPlan:
    """An evaluation order: `pairs` as opt_einsum's path (positions in the
    shrinking operand list), `steps` as (lhs, rhs, out, weights only)."""
    pairs: tuple
    steps: tuple
    description: str
    flops: float
    seconds: float


def _parse(spec: str, count: int):
    if "->" not in spec:
        raise ValueError(f"contract: spec {spec!r} has no '->' before the result's indices")
    lhs, out = spec.split("->")
    inputs = lhs.split(",")
    if len(inputs) != count:
        raise ValueError(f"contract: spec {spec!r} names {len(inputs)} operands, got {count}")
    for s in inputs + [out]:
        if not s.isalpha() or not s.islower() or len(set(s)) != len(s):
            raise ValueError(f"contract: {s!r} in {spec!r}: indices are distinct lowercase letters")
    for c in out:
        if not any(c in s for s in inputs):
            raise ValueError(f"contract: result index {c!r} is in no operand")
    return inputs, out


def _sizes(inputs, shapes):
    sizes = {}
    for idx, shape in zip(inputs, shapes):
        if len(idx) != len(shape):
            raise ValueError(f"contract: operand {idx!r} has {len(shape)} dimensions, "
                             f"the spec names {len(idx)}")
        for c, n in zip(idx, shape):
            if sizes.setdefault(c, int(n)) != int(n):
                raise ValueError(f"contract: index {c!r} has sizes {sizes[c]} and {n}")
    return sizes


def contraction_plan(spec: str, shapes, weights=None, element_bytes=2, peak_tflops=PEAK_TFLOPS,
                     peak_tbps=PEAK_TBPS, precompute_weights=True) -> ContractionPlan:
    """The order of least estimated time for operands of `shapes`."""
    inputs, out = _parse(spec, len(shapes))
    weights = list(weights) if weights is not None else [False] * len(inputs)
    if len(weights) != len(inputs):
        raise ValueError(f"contract: {len(weights)} weight flags for {len(inputs)} operands")
    sizes = _sizes(inputs, shapes)
    pairs, steps, text, flops, seconds = _C.contraction.plan(
        inputs, out, weights, sizes, peak_tflops, peak_tbps, element_bytes, precompute_weights)
    return ContractionPlan(tuple(tuple(p) for p in pairs), tuple(tuple(s) for s in steps), text,
                           flops, seconds)


def order_cost(spec: str, shapes, pairs, weights=None, element_bytes=2, peak_tflops=PEAK_TFLOPS,
               peak_tbps=PEAK_TBPS, precompute_weights=True):
    """(FLOPs, estimated seconds, description) of the order `pairs`."""
    inputs, out = _parse(spec, len(shapes))
    weights = list(weights) if weights is not None else [False] * len(inputs)
    return _C.contraction.cost(inputs, out, weights, _sizes(inputs, shapes), list(pairs),
                               peak_tflops, peak_tbps, element_bytes, precompute_weights)


def evaluate(plan: ContractionPlan, operands, einsum):
    """Runs `plan`'s pairwise products with `einsum(spec, a, b)`."""
    ops = list(operands)
    for (i, j), (lhs, rhs, out, _) in zip(plan.pairs, plan.steps):
        r = einsum(f"{lhs},{rhs}->{out}", ops[i], ops[j])
        del ops[j], ops[i]
        ops.append(r)
    return ops[0]


def pairwise(spec: str, a, b):
    """One pairwise product `spec` ("lhs,rhs->out") on Tessera's batched GEMM
    kernel: indices shared by both operands and the result are the batch,
    those of one operand and the result M or N, those of both operands only
    K; an index of one operand alone is summed first."""
    lhs, rest = spec.split(",")
    rhs, out = rest.split("->")

    def lib(x):
        if _is_torch(x):
            import torch
            return torch
        import numpy
        return numpy

    # Indices only one operand has and the result drops: sum them first.
    for name in ("a", "b"):
        x, idx, other = (a, lhs, rhs) if name == "a" else (b, rhs, lhs)
        alone = [i for i, c in enumerate(idx) if c not in other and c not in out]
        if alone:
            x = x.sum(axis=tuple(alone)) if not _is_torch(x) else x.sum(dim=tuple(alone))
            idx = "".join(c for c in idx if c in other or c in out)
            if name == "a":
                a, lhs = x, idx
            else:
                b, rhs = x, idx
    batch = [c for c in lhs if c in rhs and c in out]
    ms = [c for c in lhs if c not in rhs]
    ns = [c for c in rhs if c not in lhs]
    ks = [c for c in lhs if c in rhs and c not in out]
    size = {c: int(n) for idx, x in ((lhs, a), (rhs, b)) for c, n in zip(idx, x.shape)}

    def prod(cs):
        p = 1
        for c in cs:
            p *= size[c]
        return p

    def arrange(x, idx, order, shape):
        perm = [idx.index(c) for c in order]
        x = x.permute(*perm) if _is_torch(x) else x.transpose(perm)
        x = x.reshape(shape)
        return x.contiguous() if _is_torch(x) else lib(x).ascontiguousarray(x)

    nb, m, n, k = prod(batch), prod(ms), prod(ns), prod(ks)
    a3 = arrange(a, lhs, batch + ms + ks, (nb, m, k))
    b3 = arrange(b, rhs, batch + ks + ns, (nb, k, n))
    c3 = _empty(a3, (nb, m, n))
    from .kernels.gemm import batched_matmul_kernel
    bm = 64 if m > 32 else 32 if m > 16 else 16
    bn = 64 if n > 32 else 32 if n > 16 else 16
    grid = (-(-m // bm), -(-n // bn), nb)
    if k == 0 or m == 0 or n == 0:
        c3[...] = 0
    else:
        batched_matmul_kernel[grid](a3, b3, c3, m, n, k, *_strides(a3), *_strides(b3),
                                    *_strides(c3), BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=32)
    c = c3.reshape([size[c] for c in batch + ms + ns])
    perm = [(batch + ms + ns).index(ch) for ch in out]
    return c.permute(*perm) if _is_torch(c) else c.transpose(perm)


def contract(spec: str, *operands, weights=None, kernels=False, **machine):
    """`spec` over `operands`, in the order of least estimated time. Each
    pairwise product runs with the operands' einsum, or with `kernels=True`
    on Tessera's batched GEMM kernel (float32/float16/bfloat16)."""
    if len(operands) < 2:
        raise ValueError("contract: give at least two operands")
    itemsize = getattr(operands[0], "itemsize", None)
    if itemsize is None:
        itemsize = operands[0].element_size()
    plan = contraction_plan(spec, [tuple(o.shape) for o in operands], weights,
                            element_bytes=int(itemsize), **machine)
    if kernels:
        einsum = pairwise
    elif type(operands[0]).__module__.startswith("torch"):
        import torch
        einsum = torch.einsum
    else:
        import numpy
        einsum = numpy.einsum
    return evaluate(plan, operands, einsum)


# -- attention -------------------------------------------------------------------------

def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _strides(t):
    if _is_torch(t):
        return list(t.stride())
    return [s // t.itemsize for s in t.strides]


def _check_attention_inputs(q, k, v):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if len(t.shape) != 4:
            raise ValueError(f"attention: {name} must be (batch, heads, tokens, head_dim), got "
                             f"shape {tuple(t.shape)}")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise ValueError(f"attention: q, k and v must share a dtype, got {q.dtype}, {k.dtype}, "
                         f"{v.dtype}")
    if str(q.dtype).replace("torch.", "") not in ("float16", "bfloat16", "float32"):
        raise ValueError(f"attention: dtype {q.dtype} is not supported (float16, bfloat16, "
                         "float32)")
    Z, H, _, D = q.shape
    if tuple(k.shape) != tuple(v.shape) or k.shape[0] != Z or k.shape[1] != H or k.shape[3] != D:
        raise ValueError(f"attention: k and v must be ({Z}, {H}, kv tokens, {D}), got "
                         f"{tuple(k.shape)} and {tuple(v.shape)}")
    if D not in (16, 32, 64, 128, 256):
        raise ValueError(f"attention: head dim {D} is not supported (16, 32, 64, 128 or 256)")


def _capturing():
    from .runtime import capture
    return capture.capturing()


def _forbid_in_capture(what):
    from .runtime import capture
    capture.forbid(what)


def _kv_lists(kv_index, kv_count, Z, H, QB, KB):
    """Checked key/value block lists as numpy: (index, count, used), `used`
    marking the entries before each count."""
    import numpy as np
    if _is_torch(kv_index) and kv_index.is_cuda:
        _forbid_in_capture("block lists would be copied to the host to be checked")
    index = kv_index.detach().cpu().numpy() if _is_torch(kv_index) else np.asarray(kv_index)
    if index.ndim != 4 or index.shape[:3] != (Z, H, QB) or not np.issubdtype(index.dtype,
                                                                                np.integer):
        raise ValueError(f"attention: kv_index must be integers of shape ({Z}, {H}, {QB}, L), "
                         f"got {index.dtype} {index.shape}")
    if kv_count is None:
        negative = index < 0
        count = np.where(negative.any(-1), negative.argmax(-1), index.shape[3])
    else:
        count = kv_count.detach().cpu().numpy() if _is_torch(kv_count) else np.asarray(kv_count)
        if count.shape != (Z, H, QB):
            raise ValueError(f"attention: kv_count must have shape ({Z}, {H}, {QB}), got "
                             f"{count.shape}")
        if (count < 0).any() or (count > index.shape[3]).any():
            raise ValueError(f"attention: kv_count entries must be in [0, {index.shape[3]}]")
    used = np.arange(index.shape[3]) < count[..., None]
    bad = used & ((index < 0) | (index >= KB))
    if bad.any():
        z, h, qb, i = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(f"attention: kv_index[{z}, {h}, {qb}, {i}] = {int(index[z, h, qb, i])} "
                         f"is not a key/value block (0 to {KB - 1})")
    # A block listed twice in a row: some (row, block) pair counted twice.
    rows = np.arange(Z * H * QB, dtype=np.int64).reshape(Z, H, QB, 1) * KB
    dump = Z * H * QB * KB  # entries past the counts go to one extra bin
    pairs = np.where(used, rows + index, dump).ravel()
    seen = np.bincount(pairs, minlength=dump + 1)[:dump]
    if (seen > 1).any():
        z, h, qb = np.unravel_index(int(np.argmax(seen > 1)) // KB, (Z, H, QB))
        raise ValueError(f"attention: kv_index[{z}, {h}, {qb}] lists a key/value block twice")
    return index, count, used


# Block lists given as torch tensors, once checked: by (tensor, version), so
# that a list changed in place (its version moves) or a new tensor is
# checked again; weak references make sure the key's tensors are the same
# objects (an id can be reused once a tensor is freed).
_CHECKED_LISTS: dict = {}
_NO_QUERY_LISTS: dict = {}


def _checked_lists_key(kv_index, kv_count, Z, H, QB, KB, device):
    return (id(kv_index), kv_index._version, id(kv_count),
            None if kv_count is None else kv_count._version, Z, H, QB, KB, str(device))


def _checked_lists_get(kv_index, kv_count, Z, H, QB, KB, device):
    hit = _CHECKED_LISTS.get(_checked_lists_key(kv_index, kv_count, Z, H, QB, KB, device))
    if hit is None or hit[0]() is not kv_index or \
            (kv_count is not None and hit[1]() is not kv_count):
        return None
    # None: the given tensor itself (not held here, so it can be freed).
    return tuple(given if kept is None else kept
                 for given, kept in zip((kv_index, kv_count), hit[2]))


def _checked_lists_put(kv_index, kv_count, Z, H, QB, KB, device, lists):
    import weakref
    key = _checked_lists_key(kv_index, kv_count, Z, H, QB, KB, device)
    lists = tuple(None if made is given else made
                  for given, made in zip((kv_index, kv_count), lists))
    _CHECKED_LISTS[key] = (weakref.ref(kv_index),
                           None if kv_count is None else weakref.ref(kv_count), lists)
    while len(_CHECKED_LISTS) > 64:
        _CHECKED_LISTS.pop(next(iter(_CHECKED_LISTS)))


def _rows_of_heads(t):
    """Whether a (Z, H, N, D) tensor's rows are all its rows in order, each
    contiguous and 16-byte aligned (one 2-D TMA descriptor covers it)."""
    Z, H, N, D = t.shape
    st = t.stride()
    return st[3] == 1 and (st[2] == D or N == 1) and (st[1] == N * st[2] or H == 1) and \
        (st[0] == H * N * st[2] or Z == 1) and (st[2] * t.element_size()) % 16 == 0 and \
        t.data_ptr() % 16 == 0


def _query_lists(q_index, q_count, Z, H, QB, NQ, block_m):
    """Checked query lists as int32 numpy (entries past each count 0)."""
    import numpy as np
    if _is_torch(q_index) and q_index.is_cuda:
        _forbid_in_capture("query lists would be copied to the host to be checked")
    qi = q_index.detach().cpu().numpy() if _is_torch(q_index) else np.asarray(q_index)
    qc = q_count.detach().cpu().numpy() if _is_torch(q_count) else np.asarray(q_count)
    if qi.ndim != 4 or qi.shape[:3] != (Z, H, QB) or qc.shape != (Z, H, QB):
        raise ValueError(f"attention: q_index must be ({Z}, {H}, {QB}, K) and q_count "
                         f"({Z}, {H}, {QB}), got {qi.shape} and {qc.shape}")
    if (qc < 1).any() or (qc > qi.shape[3]).any():
        raise ValueError(f"attention: q_count entries must be in [1, {qi.shape[3]}]")
    qused = np.arange(qi.shape[3]) < qc[..., None]
    if (qused & ((qi < 0) | (qi >= block_m))).any():
        raise ValueError(f"attention: q_index entries are positions in a block (0 to "
                         f"{block_m - 1})")
    past = (np.arange(QB) * block_m)[None, None, :, None] + qi >= NQ
    if (qused & past).any():
        raise ValueError(f"attention: q_index lists a query past the end of the sequence "
                         f"({NQ} queries)")
    listed = np.sort(np.where(qused, qi, -1 - np.arange(qi.shape[3])), axis=-1)
    if ((listed[..., 1:] == listed[..., :-1]) & (listed[..., 1:] >= 0)).any():
        raise ValueError("attention: q_index lists a query twice in a block")
    qi = np.ascontiguousarray(np.where(qused, qi, 0), dtype=np.int32)
    qc = np.ascontiguousarray(qc, dtype=np.int32)
    return qi, qc


def block_sparse_attention(q, k, v, kv_index, kv_count=None, *, block_m=64, block_n=64,
                           sm_scale=None, causal=False, q_index=None, q_count=None,
                           num_warps=None, num_stages=2, return_lse=False, overlap=None,
                           _lists=None, _record=None):
    """softmax(q k^T * scale) v where query block qb (rows qb*block_m ...)
    attends only to the key/value blocks kv_index[z, h, qb, :kv_count[z, h, qb]]
    (blocks of block_n tokens). q: (Z, H, Nq, D); k, v: (Z, H, Nkv, D);
    kv_index: (Z, H, cdiv(Nq, block_m), L) integers; kv_count: (Z, H,
    cdiv(Nq, block_m)) (default: the entries before the first negative one);
    a block may be listed once per query block. `causal` masks key positions
    after the query's (top-left aligned when Nq != Nkv). numpy arrays run on
    the CPU backend, CUDA tensors on the GPU. A row with no valid key (all
    its blocks masked by `causal`) is zero.

    With `q_index` (Z, H, QB, K) and `q_count` (Z, H, QB) (as token_select
    gives them), only the listed positions of each query block are computed;
    the other rows take the output of the block's last listed query.

    `return_lse`: also return each query row's log-sum-exp of its scaled
    scores (Z, H, Nq) float32, natural log, +inf for a row with no valid
    key (as FlexAttention's return_lse); the backward reads it instead of
    computing it again. Not with query lists.

    `num_warps` defaults to 8 for 128-row query blocks (two warpgroups
    taking turns on sm_90a: ATTENTION_CONFIGS' best) and 4 below.

    `overlap` (default: TESSERA_ATTENTION_OVERLAP=1, else off): the loop of
    FlashAttention-3's intra-warpgroup overlap (each block's softmax runs
    while the previous block's P V is in flight; one more iteration than
    blocks). Not measured on a GPU yet, so not the default."""
    from .kernels.attention import block_sparse_attention_fwd
    import numpy as np

    _check_attention_inputs(q, k, v)
    Z, H, NQ, D = q.shape
    NKV = k.shape[2]
    for name, b in (("block_m", block_m), ("block_n", block_n)):
        if b not in (16, 32, 64, 128):
            raise ValueError(f"attention: {name} must be 16, 32, 64 or 128, got {b}")
    QB, KB = -(-NQ // block_m), -(-NKV // block_n)
    checked = None
    if _lists is None and _is_torch(q) and _is_torch(kv_index) and \
            (kv_count is None or _is_torch(kv_count)):
        checked = _checked_lists_get(kv_index, kv_count, Z, H, QB, KB, q.device)
    if _lists is None and checked is None:
        index, count, used = _kv_lists(kv_index, kv_count, Z, H, QB, KB)
        index = np.ascontiguousarray(np.where(used, index, 0), dtype=np.int32)
        count = np.ascontiguousarray(count, dtype=np.int32)
    q_sparse = q_index is not None
    if return_lse and q_sparse:
        raise ValueError("attention: return_lse is not available with query lists (q_index): "
                         "pruned rows have no log-sum-exp of their own")
    trusted_q = None  # query lists made by token_select (bsa_attention's)
    if q_sparse and _is_torch(q) and _is_torch(q_index) and _is_torch(q_count):
        trusted_q = _checked_lists_get(q_index, q_count, Z, H, QB, ("query", block_m, NQ),
                                       q.device)
    if trusted_q is not None:
        kept_cols = int(q_index.shape[3])
        rows = max(16, 1 << (kept_cols - 1).bit_length())
    elif q_sparse:
        qi, qc = _query_lists(q_index, q_count, Z, H, QB, NQ, block_m)
        kept_cols = int(qi.shape[3])
        rows = max(16, 1 << (kept_cols - 1).bit_length())
    else:
        qi = np.zeros((1, 1, 1, 1), np.int32)
        qc = np.zeros((1, 1, 1), np.int32)
        rows = block_m
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(D)
    if not (math.isfinite(float(sm_scale)) and float(sm_scale) > 0):
        raise ValueError(f"sm_scale must be a positive finite number, got {sm_scale}")
    if _is_torch(q):
        import torch
        out = torch.empty_like(q)
        lse = torch.empty((Z, H, NQ), device=q.device, dtype=torch.float32) if return_lse else out
        if trusted_q is not None:
            qi_t, qc_t = trusted_q
        elif q_sparse:
            qi_t, qc_t = (torch.from_numpy(a).to(q.device) for a in (qi, qc))
        else:  # unused by the kernel: one pair of zeros per device
            key = str(q.device)
            if key not in _NO_QUERY_LISTS:
                _NO_QUERY_LISTS[key] = tuple(torch.from_numpy(a).to(q.device) for a in (qi, qc))
            qi_t, qc_t = _NO_QUERY_LISTS[key]
        if checked is not None:
            index_t, count_t = checked
        elif _lists is None:
            # Lists already on the device as int32 are used as they are
            # (checked above; entries past a count are never read).
            def on_device(given, checked):
                if (_is_torch(given) and given.dtype == torch.int32 and
                        given.device == q.device and given.stride(-1) == 1):
                    return given
                return torch.from_numpy(checked).to(q.device)
            index_t, count_t = on_device(kv_index, index), on_device(kv_count, count)
            if _is_torch(kv_index) and (kv_count is None or _is_torch(kv_count)):
                _checked_lists_put(kv_index, kv_count, Z, H, QB, KB, q.device,
                                   (index_t, count_t))
    else:
        out = np.empty_like(q)
        lse = np.empty((Z, H, NQ), np.float32) if return_lse else out
        qi_t, qc_t = qi, qc
        if _lists is None:
            index_t, count_t = index, count
    if _lists is None:
        s_i, s_c = _strides(index_t), _strides(count_t)
    else:  # made by attention(): lists shared by every (batch, head), on the device
        index_t, count_t, s_i, s_c = _lists
    s_qi, s_qc = _strides(qi_t), _strides(qc_t)
    if num_warps is None:
        num_warps = 8 if block_m >= 128 else 4
    # K and V by TMA (sm_90a): rows of contiguous (Z, H, N, D) tensors. The
    # pipelined loop's slots then have empty barriers and the two
    # warpgroups take turns (H200, S 23296: dense 6.96 -> 5.96-6.03 ms,
    # causal 4.12 -> 3.93-4.09, 93% sparse 0.56 -> 0.50-0.55).
    # TESSERA_ATTENTION_TMA=0 reads them with cp.async instead.
    import os
    tma = not q_sparse and os.environ.get("TESSERA_ATTENTION_TMA", "1") != "0" and _on_sm90(q)
    overlap = bool(overlap if overlap is not None
                   else os.environ.get("TESSERA_ATTENTION_OVERLAP", "0") not in ("", "0"))
    options = {"num_warps": num_warps, "num_stages": num_stages}
    tma = tma and NKV % block_n == 0 and _rows_of_heads(k) and _rows_of_heads(v)
    if overlap and tma:
        # The overlap loop holds two score tiles' worth of registers (228 a
        # thread on 8 warps): a producer warp's block of 9 warps caps them
        # at 168, so the producer is a warpgroup that gives registers back.
        options["producer_registers"] = int(os.environ.get("TESSERA_PRODUCER_REGISTERS", "24"))
    rest = (index_t, count_t, float(sm_scale), *_strides(q), *_strides(k), *_strides(v),
            *_strides(out), s_i[0], s_i[1], s_i[2], s_c[0], s_c[1], qi_t, qc_t,
            s_qi[0], s_qi[1], s_qi[2], s_qc[0], s_qc[1], H, NQ, NKV, Z * H * NKV)
    constants = dict(HEAD_DIM=D, BLOCK_M=rows, BLOCK_N=block_n, CAUSAL=bool(causal),
                     Q_SPARSE=q_sparse, Q_BLOCK=block_m, EVEN_N=NKV % block_n == 0,
                     STORE_LSE=bool(return_lse), TMA=tma, OVERLAP=overlap, **options)
    launch = block_sparse_attention_fwd[(QB, Z * H)]
    launch(q, k, v, out, lse, *rest, **constants)
    if _record is not None and not q_sparse:  # what a repeat of this call launches
        _record.append((launch, rest, constants))
    if q_sparse:
        from .kernels.attention import fill_pruned_queries
        so = _strides(out)
        fill_pruned_queries[(QB, Z * H)](out, qi_t, qc_t, so[0], so[1], so[2], s_qi[0], s_qi[1],
                                         s_qi[2], s_qc[0], s_qc[1], H, NQ, HEAD_DIM=D,
                                         Q_BLOCK=block_m,
                                         KEPT_P=1 << (kept_cols - 1).bit_length())
    return (out, lse) if return_lse else out


# Configurations tried for dense attention on a GPU: (block_m, block_n,
# num_warps, num_stages); with 16 queries or fewer (a decode step's one
# row per sequence) DECODE_CONFIGS, whose 16-row blocks pad less.
ATTENTION_CONFIGS = [(128, 128, 8, 2), (64, 64, 4, 2), (128, 64, 8, 2)]
DECODE_CONFIGS = [(16, 64, 4, 2), (16, 128, 4, 2), (64, 64, 4, 2)]
_ATTENTION_CHOICE: dict = {}


def _attention_tuning_key(q, k, causal):
    """What a tuned choice is kept under: the key length rounded up to a
    power of two (a cache growing a token a step is timed once per
    doubling, not once per length)."""
    return (str(q.device), tuple(q.shape), 1 << (int(k.shape[2]) - 1).bit_length(),
            str(q.dtype), bool(causal))


def _tuned_attention_config(q, k, v, causal, sm_scale):
    """On a GPU, the fastest of ATTENTION_CONFIGS (DECODE_CONFIGS for 16
    queries or fewer) for this shape, dtype and mask, timed once per
    process (cold L2, as the autotuner times); TESSERA_PRINT_AUTOTUNING=1
    prints the timings."""
    import sys
    from .runtime.autotuner import do_bench_interleaved
    key = _attention_tuning_key(q, k, causal)
    if key not in _ATTENTION_CHOICE:
        _forbid_in_capture(f"attention's block sizes for shape {tuple(q.shape)} would be timed")
        configs = DECODE_CONFIGS if q.shape[2] <= 16 else ATTENTION_CONFIGS
        runs = [(lambda bm=bm, bn=bn, w=w, st=st: attention(
            q, k, v, causal, sm_scale, block_m=bm, block_n=bn, num_warps=w, num_stages=st))
            for bm, bn, w, st in configs]
        # In turns (one run of each a round), so that the clock's drift
        # over the tuning does not favour the candidate timed first.
        times = dict(zip(configs, do_bench_interleaved(runs, warmup=1, rounds=10)))
        _ATTENTION_CHOICE[key] = min(times, key=times.get)
        if os.environ.get("TESSERA_PRINT_AUTOTUNING", "0") not in ("", "0"):
            print(f"[tessera] attention {key}: " + ", ".join(
                f"{c}: {t:.3f} ms" for c, t in times.items()), file=sys.stderr)
    return _ATTENTION_CHOICE[key]


# Dense attention calls on CUDA tensors, by everything their launch depends
# on (shapes, strides, dtype, device, mask, scale, 16-byte alignment, the
# blocks): the launch of the first such call, repeated with the new tensors
# (no checks, lists or tuning on the host again: a model's attention layers
# call the same shapes every step).
_DENSE_PLANS: dict = {}


def _dense_attention_cuda(q, k, v, causal, sm_scale, config=None, return_lse=True):
    """ops.attention of CUDA tensors without gradients, (out, lse) (lse:
    None without return_lse), the launch planned once per signature
    (`config`: (block_m, block_n, num_warps, num_stages), default the tuned
    one)."""
    import torch
    aligned = (q.data_ptr() | k.data_ptr() | v.data_ptr()) % 16 == 0
    key = (q.shape, q.stride(), k.shape, k.stride(), v.shape, v.stride(), q.dtype, k.dtype,
           v.dtype, q.device, k.device, v.device, bool(causal), sm_scale, config,
           bool(return_lse), aligned, os.environ.get("TESSERA_ATTENTION_TMA"),
           os.environ.get("TESSERA_ATTENTION_OVERLAP"),
           os.environ.get("TESSERA_PRODUCER_REGISTERS"))
    plan = _DENSE_PLANS.get(key)
    if plan is not None:
        launch, rest, constants = plan
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[:3], device=q.device, dtype=torch.float32) \
            if return_lse else out
        launch(q, k, v, out, lse, *rest, **constants)
        return out, (lse if return_lse else None)
    _check_attention_inputs(q, k, v)
    if config is None:
        config = _tuned_attention_config(q, k, v, causal, sm_scale)
    bm, bn, w, st = config
    record = []
    with torch.no_grad():
        result = attention(q, k, v, causal, sm_scale, block_m=bm, block_n=bn, num_warps=w,
                           num_stages=st, return_lse=return_lse, _record=record)
    out, lse = result if return_lse else (result, None)
    if record and not _capturing():
        _DENSE_PLANS[key] = record[0]
        while len(_DENSE_PLANS) > 2048:  # a generation's cache lengths each have one
            _DENSE_PLANS.pop(next(iter(_DENSE_PLANS)))
    return out, lse


def attention(q, k, v, causal=False, sm_scale=None, *, block_m=None, block_n=None, **options):
    """Dense (or causal) attention: block_sparse_attention with every block
    (causal: every block up to the diagonal) listed. Without block_m and
    block_n, a GPU call picks the fastest of ATTENTION_CONFIGS for the
    shape (timed on first use) and the CPU backend takes 64 x 64."""
    import numpy as np
    _check_attention_inputs(q, k, v)
    if block_m is None and block_n is None and not options and not _requires_grad(q, k, v) \
            and _is_torch(q) and q.is_cuda:
        bm, bn, w, st = _tuned_attention_config(q, k, v, causal, sm_scale)
        block_m, block_n, options = bm, bn, {"num_warps": w, "num_stages": st}
    block_m = block_m or 64
    block_n = block_n or 64
    Z, H, NQ, _ = q.shape
    QB, KB = -(-NQ // block_m), -(-k.shape[2] // block_n)
    count = np.full((Z, H, QB), KB, np.int32)
    if causal:
        last = np.minimum(((np.arange(QB) + 1) * block_m + block_n - 1) // block_n, KB)
        count = np.broadcast_to(last.astype(np.int32), (Z, H, QB))
    if _requires_grad(q, k, v):
        if options.get("return_lse"):
            raise ValueError("attention: return_lse=True is forward-only; the log-sum-exp "
                             "has no gradient (call it on tensors that do not require grad, "
                             "or under torch.no_grad())")
        options.pop("return_lse", None)
        views = _dense_grad_lists(q, k, causal, block_m, block_n)
        return sparse_attention(q, k, v, views[0], views[1], block_m=block_m, block_n=block_n,
                                sm_scale=sm_scale, causal=causal, **options)
    # The lists are the same for every (batch, head): one row of block
    # numbers and one row of counts, read with zero strides, made once per
    # device and shape (no per-call checks or copies).
    key = (str(getattr(q, "device", "cpu")), QB, KB, bool(causal), block_m, block_n)
    lists = _DENSE_LISTS.get(key)
    if lists is None:
        if _is_torch(q) and q.is_cuda:
            _forbid_in_capture("dense block lists would be copied to the GPU")
        row = np.arange(KB, dtype=np.int32)
        counts = np.array(count[0, 0], np.int32)  # a writable copy (count may be a view)
        if _is_torch(q):
            row, counts = (__import__("torch").from_numpy(a).to(q.device) for a in (row, counts))
        lists = _DENSE_LISTS[key] = (row, counts, [0, 0, 0], [0, 0])
    return block_sparse_attention(q, k, v, None, None, block_m=block_m, block_n=block_n,
                                  sm_scale=sm_scale, causal=causal, _lists=lists, **options)


_DENSE_LISTS: dict = {}


def _dense_grad_lists(q, k, causal, block_m, block_n):
    """Every key block for each query block (causal: up to the diagonal) as
    torch views on q's device ((Z, H, QB, KB) and (Z, H, QB) int32), the
    same objects every step: checked (forward) and transposed (backward)
    once."""
    import numpy as np
    Z, H, NQ, _ = q.shape
    QB, KB = -(-NQ // block_m), -(-k.shape[2] // block_n)
    key = ("grad", str(q.device), Z, H, QB, KB, bool(causal), block_m, block_n)
    views = _DENSE_LISTS.get(key)
    if views is None:
        import torch
        if q.is_cuda:
            _forbid_in_capture("dense block lists would be copied to the GPU")
        count = np.full((Z, H, QB), KB, np.int32)
        if causal:
            last = np.minimum(((np.arange(QB) + 1) * block_m + block_n - 1) // block_n, KB)
            count = np.broadcast_to(last.astype(np.int32), (Z, H, QB))
        views = _DENSE_LISTS[key] = (
            torch.from_numpy(np.arange(KB, dtype=np.int32)).to(q.device).expand(Z, H, QB, KB),
            torch.from_numpy(np.array(count, np.int32)).to(q.device))
    return views


def _requires_grad(*tensors):
    if not _is_torch(tensors[0]):
        return False
    import torch
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


# -- BSA (block-sparse attention for video) --------------------------------------------

def _empty(like, shape, dtype=None):
    if _is_torch(like):
        import torch
        return torch.empty(shape, device=like.device,
                           dtype=dtype if dtype is not None else like.dtype)
    import numpy as np
    return np.empty(shape, dtype=dtype if dtype is not None else like.dtype)


def cube_reorder(x, video_shape, cube, inverse=False, pool=False):
    """x (Z, S, C) with S = T*H*W tokens in (t, h, w) order -> the tokens
    cube by cube (each cube of t*h*w tokens contiguous); `inverse` undoes it.
    `pool` (forward only, cubes of 16 to 128 tokens): also each cube's mean
    token, float32 (Z, cubes, C), from the same pass: returns (y, pooled)."""
    from .kernels.bsa import cube_reorder_kernel
    T, HV, WV = (int(v) for v in video_shape)
    CT, CH, CW = (int(v) for v in cube)
    if len(x.shape) != 3:
        raise ValueError(f"cube_reorder: x must be (batch, tokens, channels), got {tuple(x.shape)}")
    Z, S, C = x.shape
    for name, a, b in (("T", T, CT), ("H", HV, CH), ("W", WV, CW)):
        if b < 1 or a % b:
            raise ValueError(f"cube_reorder: video {name} = {a} is not a multiple of the cube's {b}")
    if S != T * HV * WV:
        raise ValueError(f"cube_reorder: x has {S} tokens, the video {T}x{HV}x{WV} has "
                         f"{T * HV * WV}")
    y = _empty(x, (Z, S, C))
    xs, ys = _strides(x), _strides(y)
    if xs[2] != 1:
        raise ValueError("cube_reorder: x's channels must be contiguous")
    volume = CT * CH * CW
    BT, BC = 32, min(128, 1 << (max(C, 1) - 1).bit_length())
    pooled = y
    if pool:
        if inverse or volume not in (16, 32, 64, 128):
            raise ValueError("cube_reorder: pool is for the forward direction and cubes of 16, "
                             f"32, 64 or 128 tokens, got {'inverse, ' if inverse else ''}"
                             f"{volume} tokens")
        import numpy as np
        pooled = _empty(x, (Z, S // volume, C),
                        np.float32 if not _is_torch(x) else __import__("torch").float32)
        BT, BC = volume, min(BC, _REORDER_TUNING["pool_tile"] // volume)
    ps = _strides(pooled)
    cube_reorder_kernel[(-(-S // BT), Z, -(-C // BC))](
        x, y, pooled, xs[0], xs[1], ys[0], ys[1], ps[0], ps[1], S, C, T=T, HV=HV, WV=WV, CT=CT,
        CH=CH, CW=CW, INVERSE=bool(inverse), BLOCK_T=BT, BLOCK_C=BC, POOL=bool(pool),
        num_warps=4 if BT * BC <= 4096 else 8)
    return (y, pooled) if pool else y


# cube_reorder(pool=True)'s tile: a cube's tokens by as many channels as
# fit this many elements (benchmarks/select.py --reorder compares others).
_REORDER_TUNING = {"pool_tile": 8192}


def _pool_blocks(x, n, blk, nb, f32):
    """The mean of each block of `blk` tokens of x (Z, H, n, D), float32."""
    from .kernels.bsa import block_pool_kernel
    Z, H, _, D = x.shape
    out = _empty(x, (Z, H, nb, D), f32)
    xs, os_ = _strides(x), _strides(out)
    if xs[3] != 1:
        raise ValueError("block_select: the head dimension must be contiguous")
    block_pool_kernel[(nb, Z * H)](x, out, xs[0], xs[1], xs[2], os_[0], os_[1], os_[2], H, n,
                                   BLOCK=blk, HEAD_DIM=D)
    return out


def block_select(q, k, block_m, block_n, mass=None, threshold=None, min_blocks=1,
                 max_blocks=None, pooled=None):
    """BSA's KV-block selection: mean-pool q and k per block, softmax over key
    blocks of the pooled scores / sqrt(D), then per query block the fewest
    blocks whose mass reaches `mass` (top-p) or those above mean +
    `threshold` x std, at least `min_blocks`, at most `max_blocks` (the
    highest; ties go to the lower block), listed in increasing order (up to
    8192 key blocks). Returns (kv_index (Z, H, QB, L) int32, -1 past each
    count, kv_count (Z, H, QB) int32). `pooled`: q's and k's block means,
    float32 (Z, H, blocks, D), when already made (cube_reorder(pool=True)
    makes them while it reorders): no pooling pass."""
    from .kernels.bsa import block_scores_kernel, block_select_kernel
    _check_attention_inputs(q, k, k)
    if (mass is None) == (threshold is None):
        raise ValueError("block_select: give exactly one of mass (top-p) and threshold")
    if mass is not None and not 0 < mass <= 1:
        raise ValueError(f"block_select: mass (p) must be in (0, 1], got {mass}")
    Z, H, NQ, D = q.shape
    NKV = k.shape[2]
    QB, KB = -(-NQ // block_m), -(-NKV // block_n)
    L = KB if max_blocks is None else int(max_blocks)
    if not 1 <= min_blocks <= L <= KB:
        raise ValueError(f"block_select: need 1 <= min_blocks ({min_blocks}) <= max_blocks ({L}) "
                         f"<= key blocks ({KB})")
    KB_P = max(16, 1 << (KB - 1).bit_length())
    if KB_P > 8192:
        raise ValueError(f"block_select: {KB} key blocks; at most 8192 are supported")
    import numpy as np
    f32 = np.float32 if not _is_torch(q) else __import__("torch").float32
    i32 = np.int32 if not _is_torch(q) else __import__("torch").int32
    if pooled is not None:
        pooled = list(pooled)
        for name, p_, nb in (("q", pooled[0], QB), ("k", pooled[1], KB)):
            if tuple(p_.shape) != (Z, H, nb, D) or "float32" not in str(p_.dtype):
                raise ValueError(f"block_select: pooled {name} must be float32 ({Z}, {H}, {nb}, "
                                 f"{D}), got {str(p_.dtype)} {tuple(p_.shape)}")
    else:
        pooled = [_pool_blocks(x, n, blk, nb, f32)
                  for x, n, blk, nb in ((q, NQ, block_m, QB), (k, NKV, block_n, KB))]
    index = _empty(q, (Z, H, QB, L), i32)  # -1 past each count (the kernel's)
    count = _empty(q, (Z, H, QB), i32)
    scores = _empty(q, (Z, H, QB, KB), f32)
    qs, ks, ss, ix, cs = (_strides(t) for t in (pooled[0], pooled[1], scores, index, count))
    BM = BN = _SELECT_TUNING["scores_tile"]
    block_scores_kernel[(-(-QB // BM), -(-KB // BN), Z * H)](
        pooled[0], pooled[1], scores, 1.0 / math.sqrt(D), qs[0], qs[1], qs[2], ks[0], ks[1],
        ks[2], ss[0], ss[1], ss[2], H, QB, KB, HEAD_DIM=D, BM=BM, BN=BN,
        num_warps=_SELECT_TUNING["scores_warps"])
    param = float(mass if mass is not None else threshold)
    rounds = L <= _SELECT_TUNING["rounds_up_to"]
    # Bisections over a row of KB blocks compare every element of its tile
    # each step: a head of half the padded row and a tail of what is left
    # (1200: 1024 + 256) when that is fewer elements.
    head, tail = KB_P // 2, max(16, 1 << (KB - KB_P // 2 - 1).bit_length())
    split = not rounds and _SELECT_TUNING["split_rows"] and head + tail < KB_P
    block_select_kernel[(QB, Z * H)](
        scores, index, count, param, ss[0], ss[1], ss[2], ix[0], ix[1], ix[2], cs[0], cs[1], H,
        KB, L, int(min_blocks), MODE=0 if mass is not None else 1, KB_P=head if split else KB_P,
        ROUNDS=rounds, TAIL=tail if split else 16, SPLIT=split,
        num_warps=max(1, min(8, head // _SELECT_TUNING["split_blocks_per_warp"] if split
                             else KB_P // _SELECT_TUNING["blocks_per_warp"])))
    return index, count


# block_select's launch choices (benchmarks/select.py compares others):
# the score tiles' side and warps, the key blocks per warp of the
# selection (one warp up to that many: shuffles only, no barrier), and up
# to how many kept blocks (max_blocks) the selection takes them one max
# reduction at a time instead of bisecting, and whether a bisected row is
# split into a head and a tail tile when that pads less (its warps then
# counted by the head's blocks).
_SELECT_TUNING = {"scores_tile": 64, "scores_warps": 4, "blocks_per_warp": 1024,
                  "rounds_up_to": 32, "split_rows": True, "split_blocks_per_warp": 512}


def token_select(q, block, keep_ratio):
    """BSA's query sparsity: per block of `block` tokens, the ceil(keep_ratio
    x tokens) queries least similar (cosine) to the block's centre token, as
    positions in the block from least to most similar. Returns (index (Z, H,
    blocks, ceil(keep_ratio x block)) int32 with -1 past each count, count
    (Z, H, blocks) int32)."""
    from .kernels.bsa import token_select_kernel
    _check_attention_inputs(q, q, q)
    if not 0 < keep_ratio <= 1:
        raise ValueError(f"token_select: keep_ratio must be in (0, 1], got {keep_ratio}")
    if block not in (16, 32, 64, 128):
        raise ValueError(f"token_select: block must be 16, 32, 64 or 128, got {block}")
    Z, H, N, D = q.shape
    nb = -(-N // block)
    keep = math.ceil(keep_ratio * block)
    import numpy as np
    i32 = np.int32 if not _is_torch(q) else __import__("torch").int32
    index = _empty(q, (Z, H, nb, keep), i32)
    index[...] = -1
    count = _empty(q, (Z, H, nb), i32)
    qs, ix, cs = _strides(q), _strides(index), _strides(count)
    if qs[3] != 1:
        raise ValueError("token_select: the head dimension must be contiguous")
    token_select_kernel[(nb, Z * H)](q, index, count, qs[0], qs[1], qs[2], ix[0], ix[1], ix[2],
                                     cs[0], cs[1], H, N, float(keep_ratio), BLOCK=block,
                                     HEAD_DIM=D)
    return index, count


def bsa_attention(q, k, v, video_shape, cube, p=None, threshold=None, min_blocks=1,
                  max_blocks=None, keep_ratio=1.0, sm_scale=None, **options):
    """Block-sparse attention for video (BSA): q, k, v (Z, H, S, D) with the
    S = T*H*W tokens of a latent video in (t, h, w) order. Tokens are
    reordered cube by cube (one cube = one block of t*h*w tokens, a power of
    two from 16 to 128), each query block keeps the key blocks that
    `block_select` picks (top-p `p` or `threshold`), attention runs over
    those, and the output goes back to (t, h, w) order. With `keep_ratio` < 1
    only the least redundant queries of each cube (token_select) are
    computed; the others take the output of the cube's kept query most
    similar to its centre token."""
    _check_attention_inputs(q, k, v)
    Z, H, S, D = q.shape
    block = int(cube[0]) * int(cube[1]) * int(cube[2])
    if block not in (16, 32, 64, 128):
        raise ValueError(f"bsa_attention: a cube of {block} tokens; cubes of 16, 32, 64 or 128 "
                         "tokens are supported")

    grad = _requires_grad(q, k, v)

    def to_cubes(x, inverse=False, pool=False):
        """x in cube order (and, with pool, its cubes' means (Z, H, cubes, D))."""
        flat = x.reshape(Z * H, S, D)
        if grad:
            y = _reorder_autograd().apply(flat, tuple(video_shape), tuple(cube), inverse, pool)
        else:
            y = cube_reorder(flat, video_shape, cube, inverse, pool=pool)
        if pool:
            return y[0].reshape(Z, H, S, D), y[1].reshape(Z, H, S // block, D)
        return y.reshape(Z, H, S, D)

    # The selection's block means come from the reordering's own pass.
    (qc, qp), (kc, kp) = (to_cubes(x, pool=True) for x in (q, k))
    sel_q, sel_k = (qc.detach(), kc.detach()) if grad else (qc, kc)
    index, count = block_select(sel_q, sel_k, block, block, mass=p, threshold=threshold,
                                min_blocks=min_blocks, max_blocks=max_blocks,
                                pooled=(qp, kp))
    q_index = q_count = None
    if keep_ratio != 1.0:  # query sparsity: the least redundant queries of each cube
        q_index, q_count = token_select(sel_q, block, keep_ratio)
    vc = to_cubes(v)
    if _is_torch(index):
        # block_select's and token_select's lists are valid by construction
        # (in range, distinct, -1 past each count): the attention takes them
        # without copying them to the host to check them (a synchronization).
        QB = -(-S // block)
        _checked_lists_put(index, count, Z, H, QB, QB, q.device, (index, count))
        if q_index is not None:
            _checked_lists_put(q_index, q_count, Z, H, QB, ("query", block, S), q.device,
                               (q_index, q_count))
    if grad:  # selection (of blocks and of queries) is not differentiated (as in BSA)
        out = sparse_attention(qc, kc, vc, index, count, block_m=block, block_n=block,
                               sm_scale=sm_scale, q_index=q_index, q_count=q_count, **options)
        return to_cubes(out, inverse=True)
    out = block_sparse_attention(qc, kc, vc, index, count, block_m=block, block_n=block,
                                 sm_scale=sm_scale, q_index=q_index, q_count=q_count, **options)
    return to_cubes(out, inverse=True)


def _reorder_autograd():
    """cube_reorder as a torch.autograd.Function: its gradient is the
    inverse reordering."""
    global _ReorderFunction
    if "_ReorderFunction" in globals():
        return _ReorderFunction
    import torch

    class _ReorderFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, video, cube, inverse, pool=False):
            ctx.args = (video, cube, inverse)
            out = cube_reorder(x.contiguous(), video, cube, inverse, pool=pool)
            if pool:  # the cubes' means feed the selection only: no gradient
                ctx.mark_non_differentiable(out[1])
            return out

        @staticmethod
        def backward(ctx, grad, *unused):
            video, cube, inverse = ctx.args
            return (cube_reorder(grad.contiguous(), video, cube, not inverse), None, None, None,
                    None)

    globals()["_ReorderFunction"] = _ReorderFunction
    return _ReorderFunction


_BACKWARD_LISTS: dict = {}


def _backward_lists(index, count, used, Z, H, NQ, NKV, block_m, block_n):
    """The backward's block lists (numpy): blocks larger than 64 cut into
    64 x 64 sub-blocks (the backward kernels' tiles; larger ones exceed
    shared memory), entries past each count 0. Returns (index, count,
    block_m, block_n); the lowered backward transposes them itself."""
    import numpy as np
    QB = index.shape[2]
    if block_m > 64 or block_n > 64:
        rm, rn = max(1, block_m // 64), max(1, block_n // 64)
        block_m, block_n = block_m // rm, block_n // rn
        QB2, KB2 = -(-NQ // block_m), -(-NKV // block_n)
        sub = (index[..., None] * rn + np.arange(rn)).reshape(Z, H, QB, -1)
        keep = (used[..., None] & (sub.reshape(Z, H, QB, -1, rn) < KB2)).reshape(Z, H, QB, -1)
        cnt = keep.sum(-1)
        if not (keep == np.repeat(used, rn, axis=-1)).all():
            # A last key block cut short: listed sub-blocks first, in order.
            order = np.argsort(~keep, axis=-1, kind="stable")
            sub = np.take_along_axis(np.where(keep, sub, 0), order, -1)
        index = np.repeat(sub, rm, axis=2)[:, :, :QB2]
        count = np.repeat(cnt, rm, axis=2)[:, :, :QB2]
        used = np.arange(index.shape[3]) < count[..., None]
    index = np.ascontiguousarray(np.where(used, index, 0), dtype=np.int32)
    count = np.ascontiguousarray(count, dtype=np.int32)
    return index, count, block_m, block_n


def _backward_lists_on_device(index, count, NQ, block_m, block_n):
    """_backward_lists with torch ops on the lists' device (no copy to the
    host), for lists the forward has checked, given with their counts,
    whose key blocks are all whole (none cut short at the end of the
    sequence, so every sub-block of a listed block is listed)."""
    import torch
    Z, H, QB, L = index.shape
    used = torch.arange(L, device=index.device) < count[..., None]
    index = index.to(torch.int64)
    if block_m > 64 or block_n > 64:
        rm, rn = max(1, block_m // 64), max(1, block_n // 64)
        block_m, block_n = block_m // rm, block_n // rn
        QB2 = -(-NQ // block_m)
        index = (index[..., None] * rn + torch.arange(rn, device=index.device)).reshape(
            Z, H, QB, L * rn).repeat_interleave(rm, dim=2)[:, :, :QB2]
        used = used.repeat_interleave(rn, dim=-1).repeat_interleave(rm, dim=2)[:, :, :QB2]
        count = (count * rn).repeat_interleave(rm, dim=2)[:, :, :QB2]
    index = torch.where(used, index, torch.zeros_like(index)).to(torch.int32).contiguous()
    return index, count.to(torch.int32).contiguous(), block_m, block_n


def _cached_backward_lists(q, kv_index, kv_count, Z, H, NQ, NKV, block_m, block_n):
    """_backward_lists of the given lists, on q's device, computed once per
    list (a training loop reuses one mask across steps and layers): torch
    lists are found by (tensor, version), any list by a digest of its
    content (the last 16 kept)."""
    import numpy as np
    device = str(q.device) if _is_torch(q) else "numpy"
    QB, KB = -(-NQ // block_m), -(-NKV // block_n)
    tag = ("backward", block_m, block_n, device)
    by_tensor = _is_torch(kv_index) and (kv_count is None or _is_torch(kv_count))
    if by_tensor and kv_count is not None and _is_torch(q) and NKV % block_n == 0:
        # Lists the forward checked (bsa_attention's own among them) are
        # cut on their device, with no copy to the host.
        checked = _checked_lists_get(kv_index, kv_count, Z, H, QB, KB, q.device)
        if checked is not None:
            return _backward_lists_on_device(checked[0], checked[1], NQ, block_m, block_n)
    if by_tensor:
        hit = _checked_lists_get(kv_index, kv_count, Z, H, QB, KB, tag)
        if hit is not None and hit[0] in _BACKWARD_LISTS:
            _BACKWARD_LISTS[hit[0]] = _BACKWARD_LISTS.pop(hit[0])  # most recent last
            return _BACKWARD_LISTS[hit[0]]
    raw = [None if t is None else (t.detach().cpu().numpy() if _is_torch(t) else np.asarray(t))
           for t in (kv_index, kv_count)]
    digest = hashlib.blake2b(digest_size=16)
    for a in raw:
        digest.update(b"-" if a is None else repr((a.shape, a.dtype.str)).encode())
        if a is not None:
            digest.update(np.ascontiguousarray(a).tobytes())
    key = (digest.hexdigest(), Z, H, NQ, NKV, block_m, block_n, device)
    lists = _BACKWARD_LISTS.pop(key, None)
    if lists is None:
        index, count, used = _kv_lists(raw[0], raw[1], Z, H, QB, KB)
        lists = _backward_lists(index, count, used, Z, H, NQ, NKV, block_m, block_n)
        if _is_torch(q):
            import torch
            lists = tuple(torch.from_numpy(a).to(q.device) for a in lists[:2]) + lists[2:]
    _BACKWARD_LISTS[key] = lists  # most recent last
    while len(_BACKWARD_LISTS) > 16:
        _BACKWARD_LISTS.pop(next(iter(_BACKWARD_LISTS)))
    if by_tensor:  # remember the content key for these tensors
        _checked_lists_put(kv_index, kv_count, Z, H, QB, KB, tag, (key, None))
    return lists


_GRAD_GRAPHS: dict = {}


def _grad_graph(Z, H, NQ, NKV, D, el, block_m, block_n, causal, scale, QB, L, with_lse,
                num_warps):
    """tgraph.attention_grad over key-block lists, lowered (tessera.graph),
    made once per shape and options: (q, k, v, o, do[, lse], index, count)
    -> (dq, dk, dv)."""
    key = (Z, H, NQ, NKV, D, el, block_m, block_n, causal, scale, QB, L, with_lse, num_warps)
    graph = _GRAD_GRAPHS.get(key)
    if graph is None:
        from . import graph as tgraph_graph
        tq = f"tensor<{Z}x{H}x{NQ}x{D}x{el}>"
        tk = f"tensor<{Z}x{H}x{NKV}x{D}x{el}>"
        tl_ = f"tensor<{Z}x{H}x{NQ}xf32>"
        ti, tc = f"tensor<{Z}x{H}x{QB}x{L}xi32>", f"tensor<{Z}x{H}x{QB}xi32>"
        lse_arg, lse_op, lse_ty = (f", %l: {tl_}", " lse(%l)", f", {tl_}") if with_lse else \
            ("", "", "")
        attrs = f"block_m = {block_m}, block_n = {block_n}, scale = {scale!r} : f32" + \
            (", causal" if causal else "")
        text = (f"func.func @attention_backward(%q: {tq}, %k: {tk}, %v: {tk}, %o: {tq}, "
                f"%do: {tq}{lse_arg}, %i: {ti}, %c: {tc}) -> ({tq}, {tk}, {tk}) {{\n"
                f"  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %v, %o, %do{lse_op} "
                f"kv(%i, %c) {{{attrs}}} : ({tq}, {tk}, {tk}, {tq}, {tq}{lse_ty}, {ti}, {tc}) "
                f"-> ({tq}, {tk}, {tk})\n  return %dq, %dk, %dv : {tq}, {tk}, {tk}\n}}")
        graph = _GRAD_GRAPHS[key] = tgraph_graph.Graph(text, num_warps=num_warps)
        while len(_GRAD_GRAPHS) > 32:
            _GRAD_GRAPHS.pop(next(iter(_GRAD_GRAPHS)))
    return graph


def block_sparse_attention_backward(q, k, v, out, dout, kv_index, kv_count=None, *, block_m=64,
                                    block_n=64, sm_scale=None, causal=False, num_warps=4,
                                    lse=None):
    """Gradients (dq, dk, dv) of block_sparse_attention at (q, k, v) given
    its output `out` and the output's gradient `dout`, over the same block
    lists: `tgraph.attention_grad` lowered by the compiler and run by
    tessera.graph (the log-sum-exp and delta, dQ per query block, the lists
    transposed, dK and dV per key block; blocks larger than 64 cut into 64 x
    64 tiles). `lse`: the forward's log-sum-exp (return_lse=True), read
    instead of recomputed."""
    _check_attention_inputs(q, k, v)
    Z, H, NQ, D = q.shape
    if lse is not None and tuple(lse.shape) != (Z, H, NQ):
        raise ValueError(f"attention backward: lse must be ({Z}, {H}, {NQ}), got "
                         f"{tuple(lse.shape)}")
    for name, t, like in (("out", out, q), ("dout", dout, q)):
        if tuple(t.shape) != tuple(like.shape) or str(t.dtype) != str(like.dtype):
            raise ValueError(f"attention backward: {name} must be {like.dtype} "
                             f"{tuple(like.shape)} like q, got {t.dtype} {tuple(t.shape)}")
    graph, index, count = _backward_plan(q, k, kv_index, kv_count, block_m, block_n, sm_scale,
                                         causal, lse is not None, num_warps)
    return _run_backward(graph, index, count, q, k, v, out, dout, lse)


def _backward_plan(q, k, kv_index, kv_count, block_m, block_n, sm_scale, causal, with_lse,
                   num_warps):
    """(graph, index, count): the lowered backward and its lists (cut in 64
    x 64 tiles, on q's device) for these lists and options."""
    Z, H, NQ, D = q.shape
    NKV = k.shape[2]
    index, count, block_m, block_n = _cached_backward_lists(
        q, kv_index, kv_count, Z, H, NQ, NKV, block_m, block_n)
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(D)
    if not (math.isfinite(float(sm_scale)) and float(sm_scale) > 0):
        raise ValueError(f"sm_scale must be a positive finite number, got {sm_scale}")
    el = {"float16": "f16", "bfloat16": "bf16", "float32": "f32"}[
        str(q.dtype).replace("torch.", "")]
    # The scale as the f32 attribute holds it (the kernels read that).
    import numpy as np
    scale = float(np.float32(sm_scale))
    graph = _grad_graph(Z, H, NQ, NKV, D, el, block_m, block_n, bool(causal), scale,
                        index.shape[2], index.shape[3], with_lse, num_warps)
    return graph, index, count


# Dense attention's backward by (shapes, dtype, device, mask, scale, blocks,
# lse given): its graph and lists, looked up once (a training step calls the
# same shapes every step).
_DENSE_GRAD_PLANS: dict = {}


def _on_sm90(q) -> bool:
    """Whether q is a CUDA tensor and the active backend compiles for
    sm_90a (wgmma, TMA)."""
    from .backends import active
    return _is_torch(q) and q.is_cuda and str(getattr(active(), "arch", "")).startswith("sm_90")


def _dense_grad_blocks(q, block):
    """(tile, warps) of the dense backward: 64 x 64 tiles on 4 warps; for
    head dims up to 64 on sm_90a, 128 x 128 on 8 (the text-to-image
    block's backward, 2 x 10 heads x 4096 x 64 on an H200: 0.84 ms against
    1.01, dk/dv 0.43 against 0.50; at head dim 128, 64 x 64 stays the
    fastest: docs/performance.md, sessions 13 and 20)."""
    if block is not None:
        return block, 4
    if q.shape[-1] <= 64 and _on_sm90(q):
        return 128, 8
    return 64, 4


def _dense_attention_backward(q, k, v, out, dout, lse, causal, sm_scale, block=None):
    """block_sparse_attention_backward over every block (causal: up to the
    diagonal) of block x block tiles (by default _dense_grad_blocks'), for
    tensors the forward made (shapes and dtypes not checked again)."""
    key = (q.shape, k.shape, q.dtype, str(q.device), bool(causal), sm_scale, block,
           lse is not None)
    # What the key does not hold (the graph runs unchecked): the other
    # tensors' shapes and dtypes (torch.ops.tessera.attention_backward may
    # be called with anything).
    if v.shape != k.shape or out.shape != q.shape or dout.shape != q.shape or \
            not (k.dtype == v.dtype == out.dtype == dout.dtype == q.dtype) or \
            (lse is not None and tuple(lse.shape) != tuple(q.shape[:3])) or \
            _is_torch(q) and not all(t.device == q.device for t in (k, v, out, dout)) or \
            _is_torch(q) and lse is not None and lse.device != q.device:
        raise ValueError(
            f"attention backward: all on q's device ({getattr(q, 'device', 'cpu')}), "
            f"v {q.dtype} {tuple(k.shape)} like k, out and dout "
            f"{q.dtype} {tuple(q.shape)} like q, lse {tuple(q.shape[:3])}; got v {v.dtype} "
            f"{tuple(v.shape)}, out {out.dtype} {tuple(out.shape)}, dout {dout.dtype} "
            f"{tuple(dout.shape)}" + ("" if lse is None else f", lse {tuple(lse.shape)}"))
    plan = _DENSE_GRAD_PLANS.get(key)
    if plan is None:
        _check_attention_inputs(q, k, v)
        tile, warps = _dense_grad_blocks(q, block)
        index, count = _dense_grad_lists(q, k, causal, tile, tile)
        plan = _backward_plan(q, k, index, count, tile, tile, sm_scale, causal,
                              lse is not None, warps)
        _DENSE_GRAD_PLANS[key] = plan
        while len(_DENSE_GRAD_PLANS) > 256:
            _DENSE_GRAD_PLANS.pop(next(iter(_DENSE_GRAD_PLANS)))
    return _run_backward(*plan, q, k, v, out, dout, lse)


def _run_backward(graph, index, count, q, k, v, out, dout, lse):
    import numpy as np
    if _is_torch(q):
        import torch
        args = [t.contiguous() for t in (q, k, v, out, dout)]
        if lse is not None:
            args.append(lse.to(torch.float32).contiguous())
    else:
        args = [np.ascontiguousarray(t) for t in (q, k, v, out, dout)]
        if lse is not None:
            args.append(np.ascontiguousarray(lse, dtype=np.float32))
    # Both callers checked shapes, dtypes and devices (the dense plan's key
    # and its per-call check; block_sparse_attention_backward's checks), and
    # the arguments were just made contiguous.
    return graph(*args, index, count, _checked=True)


def _attention_autograd():
    """A torch.autograd.Function over block_sparse_attention and its
    backward (made on first use: torch is optional)."""
    global _AttentionFunction
    if "_AttentionFunction" in globals():
        return _AttentionFunction
    import torch

    class _AttentionFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v, kv_index, kv_count, options, q_index, q_count):
            if q_index is None:  # the log-sum-exp kept for the backward
                out, lse = block_sparse_attention(q, k, v, kv_index, kv_count, return_lse=True,
                                                  **options)
            else:
                out = block_sparse_attention(q, k, v, kv_index, kv_count, q_index=q_index,
                                             q_count=q_count, **options)
                lse = None
            ctx.save_for_backward(q, k, v, out, lse)
            ctx.lists = (kv_index, kv_count)
            ctx.queries = (q_index, q_count)
            ctx.options = options
            return out

        @staticmethod
        def backward(ctx, dout):
            q, k, v, out, lse = ctx.saved_tensors
            o = ctx.options
            if ctx.queries[0] is not None:
                # A pruned query's output is its block's proxy query's: its
                # gradient flows to the proxy's row, and its own q gets none.
                if _is_torch(ctx.queries[0]) and _is_torch(ctx.queries[1]):
                    target = _query_targets_on_device(*ctx.queries, q.shape, o["block_m"])
                else:
                    target = torch.from_numpy(_query_targets(*ctx.queries, q.shape,
                                                             o["block_m"]))
                ZH, S, D = q.shape[0] * q.shape[1], q.shape[2], q.shape[3]
                index = target.to(dout.device).reshape(ZH, S, 1).expand(ZH, S, D)
                dout = torch.zeros_like(dout).reshape(ZH, S, D).scatter_add_(
                    1, index, dout.reshape(ZH, S, D)).reshape(dout.shape)
            dq, dk, dv = block_sparse_attention_backward(
                q, k, v, out, dout, *ctx.lists, block_m=o["block_m"], block_n=o["block_n"],
                sm_scale=o.get("sm_scale"), causal=o.get("causal", False), lse=lse)
            return dq, dk, dv, None, None, None, None, None

    globals()["_AttentionFunction"] = _AttentionFunction
    return _AttentionFunction


def _query_targets(q_index, q_count, shape, block_m):
    """For each query row (Z*H, S) of a query-sparse attention, the row
    whose output it has: itself when listed in q_index, else its block's
    last listed query (its proxy)."""
    import numpy as np
    Z, H, S, _ = shape
    qi = q_index.detach().cpu().numpy() if _is_torch(q_index) else np.asarray(q_index)
    qc = q_count.detach().cpu().numpy() if _is_torch(q_count) else np.asarray(q_count)
    QB = qc.shape[2]
    qi = qi.astype(np.int64)
    # Default: every row of a block maps to the block's proxy.
    proxy = np.take_along_axis(qi, (qc.astype(np.int64) - 1)[..., None], axis=3)[..., 0]
    blocks = np.arange(QB) * block_m
    target = np.repeat(blocks[None, None, :] + proxy, block_m, axis=2)[:, :, :QB * block_m]
    kept = np.arange(qi.shape[3]) < qc[..., None]
    z, h, b, j = np.nonzero(kept)
    r = b * block_m + qi[z, h, b, j]
    target[z, h, r] = r
    return np.ascontiguousarray(target[:, :, :S]).reshape(Z * H, S)


def _query_targets_on_device(q_index, q_count, shape, block_m):
    """_query_targets with torch ops on the lists' device (no copy to the
    host): each row's target, int64 (Z*H, S)."""
    import torch
    Z, H, S, _ = shape
    qi, qc = q_index.to(torch.int64), q_count.to(torch.int64)
    QB, L = qi.shape[2], qi.shape[3]
    blocks = torch.arange(QB, device=qi.device) * block_m
    proxy = blocks + qi.gather(3, (qc - 1)[..., None])[..., 0]  # (Z, H, QB) rows
    target = proxy.repeat_interleave(block_m, dim=2)
    kept = torch.arange(L, device=qi.device) < qc[..., None]
    # Listed rows map to themselves; entries past a count rewrite the
    # proxy's row with itself (it is listed).
    rows = torch.where(kept, blocks[:, None] + qi, proxy[..., None]).reshape(Z, H, QB * L)
    target = target.scatter(2, rows, rows)
    return target[:, :, :S].reshape(Z * H, S).contiguous()


def sparse_attention(q, k, v, kv_index, kv_count=None, *, block_m=64, block_n=64,
                     sm_scale=None, causal=False, q_index=None, q_count=None, num_warps=None,
                     num_stages=2, overlap=None):
    """block_sparse_attention that torch autograd differentiates (dq, dk, dv
    by the backward kernels); numpy arrays and tensors without gradients go
    straight to the forward (`num_warps`, `num_stages`: the forward's, as
    block_sparse_attention takes them). With query sparsity (q_index, q_count), a
    pruned query's output is its block's proxy query's, and so is its
    gradient: dout of pruned rows is added to their proxies' rows, and
    pruned rows of q get a zero gradient."""
    options = dict(block_m=block_m, block_n=block_n, sm_scale=sm_scale, causal=causal,
                   num_warps=num_warps, num_stages=num_stages, overlap=overlap)
    if _requires_grad(q, k, v):
        return _attention_autograd().apply(q, k, v, kv_index, kv_count, options, q_index,
                                           q_count)
    return block_sparse_attention(q, k, v, kv_index, kv_count, q_index=q_index,
                                  q_count=q_count, **options)


def _device_programs(backend_name):
    """Programs that fill the machine: 2 per SM on a GPU, the CPU's cores."""
    import os
    if backend_name == "cuda":
        return 2 * _C.cuda.device()["multiprocessors"]
    return os.cpu_count() or 1


def mla_decode(q, kv_cache, block_table, cache_seqlens, *, head_dim_v=512, sm_scale=None,
               num_splits=None, block_h=None, block_n=None, out_block=None, num_warps=None,
               num_stages=2, heads_on_n=None):
    """Multi-head latent attention for decoding, in absorbed form (FlashMLA's
    `flash_mla_with_kvcache`): q (B, H, D) holds each head's absorbed latent
    query (the first `head_dim_v` = 512 values: q_nope W_UK) and its rope
    part (D - head_dim_v = 64); kv_cache (pages, page_size, D) (or with a
    KV-head axis of 1 before D) holds the shared latent KV per token;
    block_table (B, max_pages) maps entry b's j-th page; cache_seqlens (B,)
    the tokens of each entry. Returns (o (B, H, head_dim_v) in q's dtype,
    lse (B, H) float32, natural log; -inf for an empty sequence).

    The sequence is split over `num_splits` programs per (entry, block of
    `block_h` heads) (default: about 4 programs an SM below 64 heads, 2
    with 64 heads a program on 8 warps, 1 with heads_on_n, 1 split from 64
    heads) and the splits are
    merged by a second kernel. `block_h` heads
    go to a program (default 64 on sm_90a, where every dot is then a wgmma
    and the tiles are copied ahead, and elsewhere when there are 64 or more
    heads; else 16). On sm_90a a block of 64 heads runs on 8 warps
    (`num_warps`; else 4): as FlashMLA's, warpgroup 0 computes the scores
    and their softmax, both warpgroups multiply P by their half of the
    latent, and one program computes all of head_dim_v;
    when the cache's pages are contiguous (16-bit, 16-byte aligned rows)
    its tiles come by TMA.
    Each program takes `block_n` tokens per step (default: a page, at most
    64 on 8 warps, else 32) and accumulates `out_block` of
    the head_dim_v output values (default: all of them, but 256 for 64
    heads on 4 warps, where programs over the other parts recompute the
    scores). numpy arrays run on the CPU backend, CUDA tensors on the
    GPU.

    `heads_on_n` (sm_90a; default: fp16/bf16 with at most 32 heads and none
    of block_h, block_n, out_block, num_warps given): the products transposed
    (S^T = K Q^T, O^T = c_kv^T P^T), the heads their N and the tokens and
    the latent their M, so that few heads (tensor parallel) compute no
    padding rows: blocks of 16 heads (block_h 32 is allowed), 64 tokens a
    step, 4 warps.

    The block table and lengths as int32 tensors on q's device are checked
    once (a copy to the host) and then used as they are while the same
    tensors are passed unchanged: a decode step launches without waiting
    for the GPU and can be captured in a CUDA graph after a warm-up call.
    The splits cover every page of the table, so lengths grown in place
    (within it) between graph replays are computed in full."""
    import numpy as np
    from .backends import active

    # A decode step like one before (same shapes, strides, options and
    # the same unchanged block table and lengths): its checks and launch
    # choices are kept, and only the outputs are allocated.
    plan_key = None
    if _is_torch(q) and _is_torch(kv_cache) and _is_torch(block_table) and \
            _is_torch(cache_seqlens):
        plan_key = (q.shape, q.stride(), q.dtype, q.device, kv_cache.shape, kv_cache.stride(),
                    kv_cache.dtype, head_dim_v, sm_scale, num_splits, block_h, block_n,
                    out_block, num_warps, num_stages, heads_on_n, id(block_table),
                    id(cache_seqlens), active().name)
        plan = _MLA_PLANS.get(plan_key)
        if plan is not None and plan[0]() is block_table and plan[1]() is cache_seqlens:
            versions = (block_table._version, cache_seqlens._version)
            # Changed in place since their check: checked again, except
            # inside a CUDA graph capture, where a check (a copy to the
            # host) cannot run; the kernels read the lengths on the device
            # and cover every page of the table.
            if plan[2] == versions or (_capturing() and plan[2][0] == versions[0]):
                return _mla_launch(q, kv_cache, block_table, cache_seqlens, *plan[3:])

    if len(q.shape) != 3:
        raise ValueError(f"mla_decode: q must be (batch, heads, head_dim), got {tuple(q.shape)}")
    B, H, D = q.shape
    if B > 65535:  # the grid's y extent: an entry's head blocks go along x
        raise ValueError(f"mla_decode: at most 65535 batch entries a call, got {B}")
    kv_heads_axis = len(kv_cache.shape) == 4
    if kv_heads_axis:
        if kv_cache.shape[2] != 1:
            raise ValueError(f"mla_decode: one latent KV head, got kv_cache {tuple(kv_cache.shape)}")
        kv_cache = kv_cache.reshape(kv_cache.shape[0], kv_cache.shape[1], kv_cache.shape[3])
    if len(kv_cache.shape) != 3 or kv_cache.shape[2] != D:
        raise ValueError(f"mla_decode: kv_cache must be (pages, page_size, {D}), got "
                         f"{tuple(kv_cache.shape)}")
    if q.dtype != kv_cache.dtype:
        raise ValueError(f"mla_decode: q and kv_cache must share a dtype, got {q.dtype} and "
                         f"{kv_cache.dtype}")
    if str(q.dtype).replace("torch.", "") not in ("float16", "bfloat16", "float32"):
        raise ValueError(f"mla_decode: dtype {q.dtype} is not supported (float16, bfloat16, "
                         "float32)")
    rope = D - head_dim_v
    pow2 = (lambda n: n >= 16 and n & (n - 1) == 0)
    if not (pow2(head_dim_v) and pow2(rope)):
        raise ValueError(f"mla_decode: latent ({head_dim_v}) and rope ({rope}) sizes must be "
                         "powers of two of at least 16")
    pages, page = int(kv_cache.shape[0]), int(kv_cache.shape[1])
    if not pow2(page):
        raise ValueError(f"mla_decode: page size {page} must be a power of two of at least 16")
    # On sm_90a a block of 64 heads runs its dots on wgmma from shared
    # memory: faster even when fewer heads are padded to it (16 heads, b 128,
    # 4096 tokens, H200: 0.446 ms against 0.512 with blocks of 16).
    wgmma = _on_sm90(q)
    if heads_on_n is None:
        heads_on_n = wgmma and H <= 32 and page % 64 == 0 and head_dim_v % 64 == 0 and \
            str(q.dtype) in ("torch.float16", "torch.bfloat16") and \
            block_h is None and block_n is None and out_block is None and num_warps is None
    if heads_on_n:
        # 16 heads a program: 32 spill (ptxas: 112 bytes at 255 registers);
        # an entry's two blocks of 16 run side by side, the second from L2.
        block_h = block_h or 16
        if block_h not in (16, 32):
            raise ValueError(f"mla_decode: heads_on_n takes block_h 16 or 32, got {block_h}")
        block_n, num_warps = block_n or 64, num_warps or 4
        if block_n != 64 or page % 64 or head_dim_v % 64:
            raise ValueError("mla_decode: heads_on_n takes 64 tokens a step (block_n), pages and "
                             "head_dim_v multiples of 64")
        out_block = out_block or head_dim_v
        if out_block != head_dim_v:
            raise ValueError("mla_decode: heads_on_n computes all of head_dim_v in a program "
                             "(out_block)")
    block_h = block_h or (64 if H >= 64 or wgmma else 16)
    if block_h not in (16, 32, 64):
        raise ValueError(f"mla_decode: block_h must be 16, 32 or 64, got {block_h}")
    # 8 warps on sm_90a: the warpgroups side by side along N (b 128, 4096
    # tokens, H200: 128 heads 0.44-0.45 ms against 0.78-0.84 on 4 warps
    # with halves of the latent; 16 heads 0.22-0.23 against 0.44-0.45; with
    # TMA 0.405 and 0.199), 64 tokens a step (32: 0.55 and 0.28).
    split_n = wgmma and block_h == 64 and num_warps in (None, 8)
    num_warps = num_warps or (8 if split_n else 4)
    block_n = block_n or min(page, 64 if split_n else 32)
    if not pow2(block_n) or page % block_n:
        raise ValueError(f"mla_decode: block_n ({block_n}) must be a power of two of at least 16 "
                         f"dividing the page size {page}")
    # A wgmma accumulator is at most 256 wide; mma.sync's (16 or 32 heads)
    # takes all of head_dim_v, so the cache is read by one program, not two.
    out_block = out_block or (min(head_dim_v, 256) if block_h == 64 and not split_n
                              else head_dim_v)
    if not pow2(out_block) or head_dim_v % out_block:
        raise ValueError(f"mla_decode: out_block ({out_block}) must be a power of two of at "
                         f"least 16 dividing {head_dim_v}")
    if (q.stride(2) if _is_torch(q) else q.strides[2] // q.itemsize) != 1 or \
            _strides(kv_cache)[2] != 1:
        raise ValueError("mla_decode: q and kv_cache must be contiguous along head_dim")
    # The block table and lengths are checked on the host (one copy and a
    # synchronization) the first time a pair of tensors is seen, and not
    # again while neither changes (same objects, same torch versions): a
    # decode step that passes the same device tensors launches without
    # waiting for the GPU (and can be captured in a CUDA graph after a
    # warm-up call). Entries past a sequence's pages are never read. The
    # splits cover the table's every page (not only the longest sequence's),
    # so lengths that grow in place within it stay right in a graph.
    on_device = _is_torch(q) and _is_torch(block_table) and _is_torch(cache_seqlens) and \
        str(block_table.dtype) == str(cache_seqlens.dtype) == "torch.int32" and \
        block_table.device == cache_seqlens.device == q.device and block_table.stride(-1) == 1
    key = (id(block_table), getattr(block_table, "_version", None), id(cache_seqlens),
           getattr(cache_seqlens, "_version", None), B, pages, page, str(getattr(q, "device", "")))
    hit = _MLA_CHECKED.get(key) if on_device else None
    if hit is not None and hit[0]() is block_table and hit[1]() is cache_seqlens:
        table_t, lens_t = block_table, cache_seqlens
    else:
        if _is_torch(block_table) and block_table.is_cuda:
            _forbid_in_capture("mla_decode's block table and lengths would be copied to the "
                               "host to be checked")
        table = block_table.detach().cpu().numpy() if _is_torch(block_table) else \
            np.asarray(block_table)
        lens = cache_seqlens.detach().cpu().numpy() if _is_torch(cache_seqlens) else \
            np.asarray(cache_seqlens)
        if table.ndim != 2 or table.shape[0] != B or lens.shape != (B,):
            raise ValueError(f"mla_decode: block_table must be ({B}, max_pages) and "
                             f"cache_seqlens ({B},), got {table.shape} and {lens.shape}")
        if (lens < 0).any() or (lens > table.shape[1] * page).any():
            raise ValueError(f"mla_decode: cache_seqlens must be in [0, {table.shape[1] * page}]"
                             f" (max_pages x page_size)")
        used = np.arange(table.shape[1])[None, :] < -(-lens[:, None] // page)
        if (used & ((table < 0) | (table >= pages))).any():
            raise ValueError(f"mla_decode: block_table entries in use must be pages 0 to "
                             f"{pages - 1}")
        if on_device:
            import weakref
            table_t, lens_t = block_table, cache_seqlens
            _MLA_CHECKED[key] = (weakref.ref(block_table), weakref.ref(cache_seqlens))
            while len(_MLA_CHECKED) > 64:
                _MLA_CHECKED.pop(next(iter(_MLA_CHECKED)))
        else:
            table_t = np.ascontiguousarray(np.where(used, table, 0), dtype=np.int32)
            lens_t = np.ascontiguousarray(lens, dtype=np.int32)
            if _is_torch(q):
                import torch
                table_t, lens_t = (torch.from_numpy(a).to(q.device) for a in (table_t, lens_t))
    max_pages = max(1, int(table_t.shape[1]))
    head_blocks = -(-H // block_h)
    if num_splits is None:
        # Below 64 heads the decode is bound by memory latency: about 4
        # programs an SM, whole waves (16 heads, 4 warps: 0.30 ms with 4 a
        # batch entry against 0.33 with 5 or 8, H200); 2 an SM on 8 warps
        # (one a time: 225 KB of shared memory; b 128, 16 heads, TMA:
        # 0.199 ms with 2 splits, 0.212 with 4). The heads along N: one an
        # SM (16 heads: 0.159 ms with 1 split, 0.166 with 2, 0.175 with 4).
        # With 64 or more heads, compute: one split.
        per_slot = 2 if H < 64 and not (split_n or heads_on_n) else 1  # _device_programs: 2 an SM
        programs = per_slot * _device_programs(active().name) // (2 if heads_on_n else 1)
        num_splits = max(1, min(max_pages, programs // max(1, B * head_blocks)))
    num_splits = int(num_splits)
    if not 1 <= num_splits <= 64:
        raise ValueError(f"mla_decode: num_splits must be 1 to 64, got {num_splits}")
    per_split = -(-max_pages // num_splits)
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(D)
    sq, skv, sbt = _strides(q), _strides(kv_cache), _strides(table_t)
    args = (B, H, head_dim_v, num_splits, float(sm_scale), per_split, rope, page, block_h,
            block_n, out_block, head_blocks * (head_dim_v // out_block), num_warps, num_stages,
            (sq[0], sq[1], skv[0], skv[1], sbt[0]), bool(heads_on_n))
    if plan_key is not None and on_device and table_t is block_table:
        import weakref
        _MLA_PLANS[plan_key] = (weakref.ref(block_table), weakref.ref(cache_seqlens),
                                (block_table._version, cache_seqlens._version)) + args + \
            (kv_heads_axis,)
        while len(_MLA_PLANS) > 64:
            _MLA_PLANS.pop(next(iter(_MLA_PLANS)))
    return _mla_launch(q, kv_cache, table_t, lens_t, *args, False)  # kv_cache reshaped above


def _mla_launch(q, kv_cache, table_t, lens_t, B, H, head_dim_v, num_splits, sm_scale, per_split,
                rope, page, block_h, block_n, out_block, parts, num_warps, num_stages,
                in_strides, heads_on_n, kv_heads_axis):
    """mla_decode's allocations and launches, its checks done (kv_heads_axis:
    kv_cache still has its KV-head axis of 1)."""
    import numpy as np
    from .kernels.mla import mla_decode_combine, mla_decode_split, mla_decode_split_t
    if kv_heads_axis:
        kv_cache = kv_cache.reshape(kv_cache.shape[0], kv_cache.shape[1], kv_cache.shape[3])
    if _is_torch(q):
        import torch
        o_part = torch.empty((B, H, num_splits, head_dim_v), dtype=torch.float32, device=q.device)
        lse_part = torch.empty((B, H, num_splits), dtype=torch.float32, device=q.device)
        out = torch.empty((B, H, head_dim_v), dtype=q.dtype, device=q.device)
        lse = torch.empty((B, H), dtype=torch.float32, device=q.device)
    else:
        o_part = np.empty((B, H, num_splits, head_dim_v), np.float32)
        lse_part = np.empty((B, H, num_splits), np.float32)
        out = np.empty((B, H, head_dim_v), q.dtype)
        lse = np.empty((B, H), np.float32)
    if B == 0 or H == 0:
        return out, lse
    # The partial and final outputs are contiguous.
    S, V = num_splits, head_dim_v
    # The cache by TMA (sm_90a): pages contiguous, each program's whole
    # latent (the values are the scores' tile). TESSERA_MLA_TMA=0: cp.async.
    import os
    skv = _strides(kv_cache)
    tma = _on_sm90(q) and out_block == head_dim_v and \
        skv[0] == page * skv[1] and (skv[1] * q.element_size()) % 16 == 0 and \
        kv_cache.data_ptr() % 16 == 0 and q.element_size() == 2 and \
        os.environ.get("TESSERA_MLA_TMA", "1") != "0"
    if heads_on_n:
        mla_decode_split_t[(parts, B, num_splits)](
            q, kv_cache, table_t, lens_t, o_part, lse_part, sm_scale, *in_strides, H * S * V,
            S * V, V, H * S, S, H, per_split, kv_cache.shape[0] * page, D_LAT=head_dim_v,
            D_ROPE=rope, PAGE=page, BLOCK_H=block_h, BLOCK_N=block_n, TMA=tma,
            num_warps=num_warps, num_stages=num_stages)
    else:
        mla_decode_split[(parts, B, num_splits)](
            q, kv_cache, table_t, lens_t, o_part, lse_part, sm_scale, *in_strides, H * S * V,
            S * V, V, H * S, S, H, per_split, kv_cache.shape[0] * page, D_LAT=head_dim_v,
            D_ROPE=rope, PAGE=page, BLOCK_H=block_h, BLOCK_N=block_n, D_OUT=out_block, TMA=tma,
            num_warps=num_warps, num_stages=num_stages)
    mla_decode_combine[(B, H)](
        o_part, lse_part, out, lse, H * S * V, S * V, V, H * S, S, H * V, V, H, H, num_splits,
        D_LAT=head_dim_v, SPLITS_P2=max(2, 1 << (num_splits - 1).bit_length()))
    return out, lse


_MLA_CHECKED: dict = {}
# mla_decode's checked launch choices per (shapes, strides, options, block
# table and lengths by identity and torch version).
_MLA_PLANS: dict = {}

MLA_SCORES = "bsq,hdq,btk,hdk->bhst"
MLA_OUTPUT = "bhst,btk,hvk->bshv"


def mla_attention(c_q, q_pe, c_kv, k_pe, w_uq, w_uk, w_uv, *, sm_scale, causal=True,
                  kv_lengths=None):
    """Multi-head latent attention from the latents (torch tensors), each
    contraction chain in the order the cost model picks for these sizes
    (`contract`): scores (c_Q W_UQ) . (W_UK c_KV) + q_pe . k_pe, softmax,
    times W_UV c_KV.

    c_q (B, S, q_lora), q_pe (B, S, H, d_rope), c_kv (B, T, kv_lora),
    k_pe (B, T, d_rope), w_uq (H, d_nope, q_lora), w_uk (H, d_nope,
    kv_lora), w_uv (H, d_v, kv_lora). `causal`: the S queries are the last S
    of the T positions (query s sees keys up to T - S + s). `kv_lengths`
    (B,): entry b sees only its first kv_lengths[b] keys. Returns (B, S, H,
    d_v); W_O is the caller's.
    """
    import torch
    B, S, _ = c_q.shape
    T = c_kv.shape[1]
    if c_kv.shape[0] != B or q_pe.shape[:2] != (B, S) or k_pe.shape[:2] != (B, T):
        raise ValueError(f"mla_attention: c_q {tuple(c_q.shape)}, q_pe {tuple(q_pe.shape)}, "
                         f"c_kv {tuple(c_kv.shape)} and k_pe {tuple(k_pe.shape)} disagree on "
                         "batch or length")
    if causal and S > T:
        raise ValueError(f"mla_attention: {S} causal queries over {T} keys")
    scores = contract(MLA_SCORES, c_q, w_uq, c_kv, w_uk, weights=[False, True, False, True])
    scores = (scores + torch.einsum("bshr,btr->bhst", q_pe, k_pe)) * sm_scale
    keep = torch.ones(S, T, dtype=torch.bool, device=c_q.device)
    if causal:
        keep = keep.tril(T - S)
    keep = keep.expand(B, 1, S, T)
    if kv_lengths is not None:
        t = torch.arange(T, device=c_q.device)
        keep = keep & (t < kv_lengths.to(c_q.device).long()[:, None])[:, None, None, :]
    p = torch.softmax(scores.masked_fill(~keep, float("-inf")), -1)
    return contract(MLA_OUTPUT, p, c_kv, w_uv, weights=[False, False, True])


def mla_scores_absorbed(batch, queries, keys, heads, q_lora, kv_lora, d_nope, element_bytes=2):
    """Whether the cost model evaluates MLA's scores chain absorbed (the
    MLA note's order 2 or 3: the latent cache multiplied last, by the query
    already in the latent space) for these sizes."""
    plan = contraction_plan(MLA_SCORES, [(batch, queries, q_lora), (heads, d_nope, q_lora),
                                         (batch, keys, kv_lora), (heads, d_nope, kv_lora)],
                            [False, True, False, True], element_bytes=element_bytes)
    return all("btk" not in (lhs, rhs) for lhs, rhs, *_ in plan.steps[:-1])
