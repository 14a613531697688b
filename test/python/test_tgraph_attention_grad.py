"""tgraph.attention_grad lowered by tgraph-lower-attention (lse and delta,
dq, the transposed key-block lists, dk and dv: three or four launches) and
run by tessera.graph on the CPU backend, against float64 gradients of
dense attention under the same mask, on fresh random data: dense, causal,
key-block lists (with an empty row), ragged blocks, Nq != Nkv, f16 and f32;
and the issue's shape through the NVIDIA pipeline and ptxas."""

import os
import subprocess

import numpy as np
import pytest

import tessera.graph
import tessera.ir


def reference(q, k, v, do, mask, scale):
    """mask: which keys each query attends to, or how many times (a block
    listed twice weighs twice)."""
    q, k, v, do = (x.astype(np.float64) for x in (q, k, v, do))
    s = np.where(mask > 0, np.einsum("zhmd,zhnd->zhmn", q, k) * scale, -np.inf)
    mx = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(mx), mx, 0)) * np.maximum(mask, 1)
    l = p.sum(-1, keepdims=True)
    p = np.where(l > 0, p / np.where(l > 0, l, 1), 0)
    o = np.einsum("zhmn,zhnd->zhmd", p, v)
    dv = np.einsum("zhmn,zhmd->zhnd", p, do)
    dp = np.einsum("zhmd,zhnd->zhmn", do, v)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return (o, np.einsum("zhmn,zhnd->zhmd", ds, k) * scale,
            np.einsum("zhmn,zhmd->zhnd", ds, q) * scale, dv)


def _pieces(Z, H, NQ, NKV, D, el, BM, BN, causal, L, QB, args):
    """(tensor type of n tokens, the function's arguments after `args`
    (names, types), the lists' operand text and types, the attributes)."""
    t = lambda n: f"tensor<{Z}x{H}x{n}x{D}x{el}>"
    kv = types = ""
    if L:
        li, lc = f"tensor<{Z}x{H}x{QB}x{L}xi32>", f"tensor<{Z}x{H}x{QB}xi32>"
        args += f", %i: {li}, %c: {lc}"
        kv, types = " kv(%i, %c)", f", {li}, {lc}"
    attrs = f"block_m = {BM}, block_n = {BN}" + (", causal" if causal else "")
    return t, args, kv, types, attrs


def grad_text(Z, H, NQ, NKV, D, el, BM, BN, causal, L=None, QB=None):
    t = lambda n: f"tensor<{Z}x{H}x{n}x{D}x{el}>"
    t, args, kv, types, attrs = _pieces(
        Z, H, NQ, NKV, D, el, BM, BN, causal, L, QB,
        f"%q: {t(NQ)}, %k: {t(NKV)}, %v: {t(NKV)}, %o: {t(NQ)}, %do: {t(NQ)}")
    results = f"{t(NQ)}, {t(NKV)}, {t(NKV)}"
    return (f"func.func @g({args}) -> ({results}) {{\n"
            f"  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %v, %o, %do{kv} {{{attrs}}}"
            f" : ({t(NQ)}, {t(NKV)}, {t(NKV)}, {t(NQ)}, {t(NQ)}{types}) -> ({results})\n"
            f"  return %dq, %dk, %dv : {results}\n}}")


def fused_text(Z, H, NQ, NKV, D, el, BM, BN, causal, L=None, QB=None):
    """The forward returning its log-sum-exp, and the gradients reading it:
    (o, lse, dq, dk, dv) of (q, k, v, do[, lists])."""
    t = lambda n: f"tensor<{Z}x{H}x{n}x{D}x{el}>"
    t, args, kv, types, attrs = _pieces(
        Z, H, NQ, NKV, D, el, BM, BN, causal, L, QB,
        f"%q: {t(NQ)}, %k: {t(NKV)}, %v: {t(NKV)}, %do: {t(NQ)}")
    r = f"tensor<{Z}x{H}x{NQ}xf32>"
    results = f"{t(NQ)}, {r}, {t(NQ)}, {t(NKV)}, {t(NKV)}"
    return (f"func.func @g({args}) -> ({results}) {{\n"
            f"  %o, %lse = tgraph.attention %q, %k, %v{kv} {{{attrs}}}"
            f" : ({t(NQ)}, {t(NKV)}, {t(NKV)}{types}) -> ({t(NQ)}, {r})\n"
            f"  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %v, %o, %do lse(%lse){kv} "
            f"{{{attrs}}} : ({t(NQ)}, {t(NKV)}, {t(NKV)}, {t(NQ)}, {t(NQ)}, {r}{types}) -> "
            f"({t(NQ)}, {t(NKV)}, {t(NKV)})\n"
            f"  return %o, %lse, %dq, %dk, %dv : {results}\n}}")


def check(Z, H, NQ, NKV, D, BM, BN, causal, lists, dtype, rng, repeats=False, fused=False,
          lower_options=""):
    q = rng.standard_normal((Z, H, NQ, D)).astype(dtype)
    k, v = (rng.standard_normal((Z, H, NKV, D)).astype(dtype) for _ in range(2))
    do = rng.standard_normal((Z, H, NQ, D)).astype(dtype)
    QB, KB = -(-NQ // BM), -(-NKV // BN)
    mask = np.ones((Z, H, NQ, NKV), np.int64)
    if causal:
        mask *= np.tril(np.ones((NQ, NKV), np.int64))
    inputs, L = [], None
    if lists:
        L = 3
        idx = np.zeros((Z, H, QB, L), np.int32)
        cnt = np.zeros((Z, H, QB), np.int32)
        blocks = np.zeros((Z, H, QB, KB), np.int64)
        for z in range(Z):
            for h in range(H):
                for b in range(QB):
                    c = int(rng.integers(0, L + 1)) if b else 0  # block 0 lists nothing
                    sel = np.sort(rng.choice(KB, size=c if repeats else min(c, KB),
                                             replace=repeats))
                    cnt[z, h, b] = len(sel)
                    idx[z, h, b, :len(sel)] = sel
                    np.add.at(blocks[z, h, b], sel, 1)
        mask *= np.repeat(np.repeat(blocks, BM, 2)[:, :, :NQ], BN, 3)[..., :NKV]
        inputs = [idx, cnt]
    o, dq, dk, dv = reference(q, k, v, do, mask, 1 / np.sqrt(D))
    el = {"float32": "f32", "float16": "f16"}[np.dtype(dtype).name]
    tol = 1e-4 if dtype == np.float32 else 3e-2
    if fused:
        g = tessera.graph.Graph(fused_text(Z, H, NQ, NKV, D, el, BM, BN, causal, L, QB),
                                lower_options=lower_options)
        got_o, lse, *got = g(q, k, v, do, *inputs)
        s = np.einsum("zhmd,zhnd->zhmn", q.astype(np.float64), k.astype(np.float64)) / np.sqrt(D)
        mx = np.where(mask > 0, s, -np.inf).max(-1, keepdims=True)
        total = (np.exp(s - np.where(np.isfinite(mx), mx, 0)) * mask).sum(-1)
        want = np.where(total > 0, np.log(np.where(total > 0, total, 1)) + mx[..., 0], np.inf)
        seen = np.isfinite(want)
        assert (np.isinf(lse) == ~seen).all() and (lse[~seen] > 0).all()
        # (Random lists may leave every row without a valid key: all +inf.)
        assert not seen.any() or np.abs(lse[seen] - want[seen]).max() < 1e-4
        assert np.abs(got_o.astype(np.float64) - o).max() < tol
    else:
        g = tessera.graph.Graph(grad_text(Z, H, NQ, NKV, D, el, BM, BN, causal, L, QB),
                                lower_options=lower_options)
        got = g(q, k, v, o.astype(dtype), do, *inputs)
    for name, a, r in zip(("dq", "dk", "dv"), got, (dq, dk, dv)):
        err = np.abs(a.astype(np.float64) - r).max() / max(1.0, np.abs(r).max())
        assert err < tol, (name, err)


@pytest.mark.parametrize("Z,H,NQ,NKV,D,BM,BN,causal,lists,dtype", [
    (1, 2, 64, 64, 16, 16, 16, False, False, np.float32),
    (1, 2, 50, 70, 16, 16, 32, False, False, np.float32),   # ragged, Nq != Nkv
    (2, 1, 64, 64, 32, 16, 16, True, False, np.float32),
    (1, 2, 45, 45, 16, 16, 16, True, False, np.float32),
    (1, 2, 64, 96, 16, 16, 32, False, True, np.float32),
    (1, 1, 70, 50, 32, 32, 16, True, True, np.float32),
    (1, 2, 64, 64, 32, 32, 32, False, True, np.float16),
    (1, 1, 2400, 64, 16, 16, 16, True, True, np.float32),   # 150 query blocks: 3 chunks
])
def test_gradients_match_float64(Z, H, NQ, NKV, D, BM, BN, causal, lists, dtype):
    check(Z, H, NQ, NKV, D, BM, BN, causal, lists, dtype, np.random.default_rng())


@pytest.mark.parametrize("Z,H,NQ,NKV,D,BM,BN,causal,lists,dtype", [
    (1, 2, 64, 64, 16, 16, 16, False, False, np.float32),
    (1, 2, 45, 70, 16, 16, 32, True, False, np.float32),
    (1, 2, 64, 96, 16, 16, 32, False, True, np.float32),    # block 0 lists nothing
    (1, 1, 70, 50, 32, 32, 16, True, True, np.float16),
])
def test_forward_lse_feeds_the_gradients(Z, H, NQ, NKV, D, BM, BN, causal, lists, dtype):
    """tgraph.attention's second result (the log-sum-exp, natural log, +inf
    for a row that sees no key) against float64, and the gradients that
    read it (`lse(%lse)`: a delta kernel instead of the lse pass)."""
    check(Z, H, NQ, NKV, D, BM, BN, causal, lists, dtype, np.random.default_rng(), fused=True)


@pytest.mark.parametrize("Z,H,NQ,NKV,D,BM,BN,causal,lists,dtype,fused,repeats", [
    (1, 2, 64, 64, 16, 16, 16, False, False, np.float32, False, False),
    (1, 2, 50, 70, 16, 16, 32, True, False, np.float32, False, False),
    (1, 2, 64, 96, 16, 16, 32, False, True, np.float32, True, False),
    (1, 1, 70, 50, 32, 32, 16, True, True, np.float16, True, False),
    (1, 2, 96, 64, 16, 16, 16, False, True, np.float32, False, True),
])
def test_dq_by_atomics(Z, H, NQ, NKV, D, BM, BN, causal, lists, dtype, fused, repeats):
    """dq-atomics: the dk/dv kernel adds each block pair's dq into a
    float32 buffer that starts zeroed (no dq kernel), then a cast; the same
    gradients against float64 (dense, causal, lists, repeated blocks, the
    forward's lse, f16)."""
    check(Z, H, NQ, NKV, D, BM, BN, causal, lists, dtype, np.random.default_rng(),
          repeats=repeats, fused=fused, lower_options="dq-atomics=true")


def test_dq_by_atomics_launches():
    """With lists: lse and delta, the transposed lists, dk and dv (and dq
    into a zeroed buffer), dq's cast."""
    module = tessera.ir.run_pipeline(grad_text(1, 2, 64, 64, 16, "f16", 16, 16, False, 3, 4),
                                     "builtin.module(tgraph-lower-attention{dq-atomics=true})")
    assert [k for k, _ in tessera.ir.launches(module)] == [
        "g_attention_lse_0", "g_attention_qlists_1", "g_attention_dkdv_2",
        "g_attention_dq_convert_3"]
    assert "{zeroed = array<i64: 2>}" in module and "tile.descriptor_atomic_add" in module
    # A query block past the rows of its head (50 rows, blocks of 16): element atomics.
    ragged = tessera.ir.run_pipeline(grad_text(1, 2, 50, 64, 16, "f16", 16, 16, False, 3, 4),
                                     "builtin.module(tgraph-lower-attention{dq-atomics=true})")
    assert "tile.atomic_rmw fadd" in ragged and "tile.descriptor_atomic_add" not in ragged


def test_dq_by_atomics_is_a_bulk_reduction_on_sm90a():
    """On sm_90a (PTX here, no GPU needed) the dk/dv kernel adds each dq
    block with one TMA bulk reduction over the (z h nq, d) float32 buffer
    (an unswizzled map whose box is the 64 x 128 block), no element
    atomics, within the shared memory."""
    from tessera.backends.nvidia import NVIDIABackend
    module = tessera.ir.run_pipeline(grad_text(1, 2, 256, 256, 128, "bf16", 64, 64, False, 3, 4),
                                     "builtin.module(tgraph-lower-attention{dq-atomics=true})")
    name = next(k for k, _ in tessera.ir.launches(module) if "dkdv" in k)
    header, _, ptx = NVIDIABackend(arch="sm_90a").compile(
        tessera.ir.function(module, name), name, False,
        {"num_warps": 4, "num_stages": 2}).partition(b"\n")
    _, _, shared, maps = header.decode().split(":")
    assert int(shared) <= 232448
    assert maps.split("|")[-1].split(",")[2:] == ["c128", "c512", "c128", "128", "64", "0"]
    assert ptx.count(b"cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile") == 1
    assert b"\tred." not in ptx and b"\tatom." not in ptx
    # The first thread waits for the unit to read the block before the
    # scratch area is reused, and for the adds before the kernel returns.
    reduce = ptx.index(b"cp.reduce.async.bulk")
    assert ptx.index(b"cp.async.bulk.wait_group.read", reduce) < ptx.index(b"cp.async.bulk.wait_group \t0;", reduce)


def test_repeated_blocks_weigh_in_every_gradient():
    """Lists that repeat a block (outside tgraph.attention's rules): the
    forward weighs it twice, and so do dq, dk and dv."""
    check(1, 2, 96, 64, 16, 16, 16, False, True, np.float32, np.random.default_rng(),
          repeats=True)


@pytest.mark.parametrize("seed", range(4))
def test_random_configurations(seed):
    """Random shapes, blocks, dtypes, masks and lists (40 seeds run once,
    2026-12-01: no mismatch)."""
    rng = np.random.default_rng(seed)
    BM, BN = (int(rng.choice([16, 32])) for _ in range(2))
    check(int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(1, 100)),
          int(rng.integers(1, 100)), int(rng.choice([16, 32])), BM, BN, bool(rng.integers(2)),
          bool(rng.integers(2)), [np.float32, np.float16][int(rng.integers(2))], rng)


def test_launches():
    """With lists: four launches (lse and delta, dq, the transposed lists,
    dk and dv); without: three."""
    with_lists = tessera.ir.run_pipeline(grad_text(1, 2, 64, 64, 16, "f16", 16, 16, False, 3, 4),
                                         "builtin.module(tgraph-lower-attention)")
    dense = tessera.ir.run_pipeline(grad_text(1, 2, 64, 64, 16, "f16", 16, 16, True),
                                    "builtin.module(tgraph-lower-attention)")
    assert [k for k, _ in tessera.ir.launches(with_lists)] == [
        "g_attention_lse_0", "g_attention_dq_1", "g_attention_qlists_2", "g_attention_dkdv_3"]
    assert [k for k, _ in tessera.ir.launches(dense)] == [
        "g_attention_lse_0", "g_attention_dq_1", "g_attention_dkdv_2"]


@pytest.mark.parametrize("arch,warps", [("sm_90a", 8), ("sm_80", 4)])
def test_gradient_kernels_compile_for_nvidia(arch, warps, tmp_path):
    """The issue's shape (bf16, D 128, 12 heads, S = 23296, lists of 13)
    with 64 x 64 blocks: every kernel through the NVIDIA pipeline and ptxas,
    within the shared memory of the device."""
    from tessera.backends.nvidia import NVIDIABackend
    module = tessera.ir.run_pipeline(grad_text(1, 12, 23296, 23296, 128, "bf16", 64, 64, False,
                                               13, 364), "builtin.module(tgraph-lower-attention)")
    ptxas = "/usr/local/cuda/bin/ptxas"
    for name, _ in tessera.ir.launches(module):
        binary = NVIDIABackend(arch=arch).compile(tessera.ir.function(module, name), name, False,
                                                  {"num_warps": warps, "num_stages": 2})
        header, _, ptx = binary.partition(b"\n")
        assert int(header.split(b":")[2]) <= 232448, (name, header)
        if os.path.exists(ptxas):
            (tmp_path / "k.ptx").write_bytes(ptx)
            r = subprocess.run([ptxas, f"-arch={arch}", str(tmp_path / "k.ptx"), "-o",
                                str(tmp_path / "k.cubin")], capture_output=True, text=True)
            assert r.returncode == 0, (name, r.stderr)


def test_list_steps_are_kept_while_the_lists_are_unchanged():
    """The launch that reads only the block lists (their transpose, for dK
    and dV) runs once while the same list tensors come back unchanged; a
    list changed in place (its version moves) or a new tensor runs it
    again. Each call's gradients match float64 under its own lists."""
    import torch
    rng = np.random.default_rng()
    Z, H, N, D, B, L = 1, 2, 96, 16, 32, 2
    QB = N // B
    g = tessera.graph.Graph(grad_text(Z, H, N, N, D, "f32", B, B, False, L, QB))
    assert len(g._memo_steps) == 1
    idx = torch.zeros((Z, H, QB, L), dtype=torch.int32)
    cnt = torch.zeros((Z, H, QB), dtype=torch.int32)

    def fill():
        for z in range(Z):
            for h in range(H):
                for b in range(QB):
                    sel = np.sort(rng.choice(QB, size=int(rng.integers(1, L + 1)), replace=False))
                    cnt[z, h, b] = len(sel)
                    idx[z, h, b, :] = 0
                    idx[z, h, b, :len(sel)] = torch.from_numpy(sel.astype(np.int32))

    def run():
        q, k, v, do = (rng.standard_normal((Z, H, N, D)).astype(np.float32) for _ in range(4))
        blocks = np.zeros((Z, H, QB, QB), np.int64)
        for z in range(Z):
            for h in range(H):
                for b in range(QB):
                    blocks[z, h, b, idx[z, h, b, :cnt[z, h, b]].numpy()] = 1
        mask = np.repeat(np.repeat(blocks, B, 2), B, 3)
        o, *want = reference(q, k, v, do, mask, 1 / np.sqrt(D))
        got = g(*(torch.from_numpy(x) for x in (q, k, v, o.astype(np.float32), do)), idx, cnt)
        for a, r in zip(got, want):
            assert np.abs(a.numpy().astype(np.float64) - r).max() < 1e-4 * max(1.0, np.abs(r).max())
        return next(iter(g._memo.values()))[2]

    fill()
    first = run()
    again = run()  # the same lists: the kept results
    assert all(again[n] is first[n] for n in first)
    fill()  # in place: versions move
    changed = run()
    assert all(changed[n] is not first[n] for n in first)
