"""tessera.ops.attention and block_sparse_attention (a DSL flash-attention
kernel that visits only the listed key/value blocks) against a float64
dense reference with the equivalent mask, on fresh random data (CPU backend
here; test_gpu.py runs them on the GPU)."""

import math

import numpy as np
import pytest

import tessera

rng = np.random.default_rng()


def reference(q, k, v, mask, scale):
    q, k, v = (t.astype(np.float64) for t in (q, k, v))
    s = np.where(mask, q @ np.swapaxes(k, -1, -2) * scale, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0))
    total = p.sum(-1, keepdims=True)
    return (p / np.where(total == 0, 1, total)) @ v


def random_blocks(Z, H, NQ, NKV, BM, BN, L):
    """Random KV block lists (1..L distinct blocks per query block, -1
    padded) and the token mask they mean."""
    QB, KB = -(-NQ // BM), -(-NKV // BN)
    index = np.full((Z, H, QB, L), -1, np.int64)
    mask = np.zeros((Z, H, NQ, NKV), bool)
    for z in range(Z):
        for h in range(H):
            for qb in range(QB):
                chosen = rng.choice(KB, rng.integers(1, min(L, KB) + 1), replace=False)
                index[z, h, qb, :len(chosen)] = chosen
                for kb in chosen:
                    mask[z, h, qb * BM:(qb + 1) * BM, kb * BN:(kb + 1) * BN] = True
    return index, mask


@pytest.mark.parametrize("Z,H,NQ,NKV,D,BM,BN", [(1, 2, 100, 100, 16, 32, 16),
                                                (2, 1, 64, 130, 32, 16, 32),
                                                (1, 1, 33, 47, 64, 16, 16)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_block_sparse_attention(Z, H, NQ, NKV, D, BM, BN, dtype):
    q = rng.standard_normal((Z, H, NQ, D)).astype(dtype)
    k, v = (rng.standard_normal((Z, H, NKV, D)).astype(dtype) for _ in range(2))
    index, mask = random_blocks(Z, H, NQ, NKV, BM, BN, L=3)
    out = tessera.ops.block_sparse_attention(q, k, v, index, block_m=BM, block_n=BN)
    ref = reference(q, k, v, mask, 1 / math.sqrt(D))
    tol = 2e-3 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("causal", [False, True])
def test_dense_attention(causal):
    Z, H, N, D = 1, 2, 90, 32
    q, k, v = (rng.standard_normal((Z, H, N, D)).astype(np.float32) for _ in range(3))
    mask = np.tril(np.ones((N, N), bool)) if causal else np.ones((N, N), bool)
    out = tessera.ops.attention(q, k, v, causal=causal, block_m=32, block_n=16, sm_scale=0.3)
    np.testing.assert_allclose(out, reference(q, k, v, mask, 0.3), rtol=1e-5, atol=1e-5)


def test_explicit_counts_and_causal_blocks():
    """kv_count given (entries past it ignored, even out of range), causal
    masking inside the listed blocks; a query block listing only later
    blocks gets zero rows."""
    Z, H, N, D, B = 1, 1, 64, 16, 16
    q, k, v = (rng.standard_normal((Z, H, N, D)).astype(np.float32) for _ in range(3))
    index = np.array([[[[3, 99], [0, 1], [2, 0], [3, 1]]]])
    count = np.array([[[1, 2, 2, 1]]])
    out = tessera.ops.block_sparse_attention(q, k, v, index, count, block_m=B, block_n=B,
                                             causal=True)
    mask = np.zeros((N, N), bool)
    for qb, blocks in enumerate([[3], [0, 1], [2, 0], [3]]):
        for kb in blocks:
            mask[qb * B:(qb + 1) * B, kb * B:(kb + 1) * B] = True
    mask &= np.tril(np.ones((N, N), bool))
    np.testing.assert_allclose(out, reference(q, k, v, mask, 1 / math.sqrt(D)), rtol=1e-5,
                               atol=1e-5)
    assert not out[0, 0, :16].any()  # query block 0 only lists block 3: all masked


@pytest.mark.parametrize("make,message", [
    (lambda q: dict(q=q[:, :, :, :8]), "must be \\(1, 2, kv tokens, 8\\)"),
    (lambda q: dict(k=np.zeros((1, 2, 64, 24), np.float32), v=np.zeros((1, 2, 64, 24), np.float32),
                    q=np.zeros((1, 2, 64, 24), np.float32)), "head dim 24 is not supported"),
    (lambda q: dict(q=q.astype(np.float64)), "must share a dtype"),
    (lambda q: dict(index=np.array([[[[0], [7]], [[0], [1]]]])), "is not a key/value block"),
    (lambda q: dict(index=np.zeros((1, 2, 3, 1), np.int64)), "kv_index must be integers of shape"),
    (lambda q: dict(block_m=24), "block_m must be 16, 32, 64 or 128"),
    (lambda q: dict(sm_scale=-0.5), "sm_scale must be a positive finite number, got -0.5"),
    (lambda q: dict(sm_scale=float("nan")), "sm_scale must be a positive finite number"),
])
def test_attention_errors(make, message):
    q = np.zeros((1, 2, 64, 16), np.float32)
    args = dict(q=q, k=q, v=q, index=np.zeros((1, 2, 2, 1), np.int64), block_m=32, sm_scale=None)
    args.update(make(q))
    with pytest.raises(ValueError, match=message):
        tessera.ops.block_sparse_attention(args["q"], args["k"], args["v"], args["index"],
                                           block_m=args["block_m"], block_n=32,
                                           sm_scale=args["sm_scale"])


def test_repeated_block_is_an_error():
    q = np.zeros((1, 1, 64, 16), np.float32)
    with pytest.raises(ValueError, match="lists a key/value block twice"):
        tessera.ops.block_sparse_attention(q, q, q, np.array([[[[0, 0], [1, -1]]]]), block_m=32,
                                           block_n=32)


def reference_grads(q, k, v, mask, dout, scale):
    """float64 gradients of masked attention: dq, dk, dv."""
    q, k, v, dout = (t.astype(np.float64) for t in (q, k, v, dout))
    s = np.where(mask, q @ np.swapaxes(k, -1, -2) * scale, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0))
    total = p.sum(-1, keepdims=True)
    p = p / np.where(total == 0, 1, total)
    dv = np.swapaxes(p, -1, -2) @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return ds @ k * scale, np.swapaxes(ds, -1, -2) @ q * scale, dv


@pytest.mark.parametrize("Z,H,NQ,NKV,D,BM,BN,causal", [(1, 2, 100, 100, 16, 16, 16, False),
                                                       (1, 2, 100, 100, 16, 16, 16, True),
                                                       (2, 1, 64, 96, 32, 32, 16, False),
                                                       (1, 1, 40, 70, 16, 16, 32, True),
                                                       # blocks of 128: 64 x 64 sub-blocks
                                                       (1, 1, 300, 200, 16, 128, 128, True),
                                                       (1, 2, 256, 320, 16, 128, 64, False)])
@pytest.mark.parametrize("forward_lse", [False, True])
def test_block_sparse_attention_backward(Z, H, NQ, NKV, D, BM, BN, causal, forward_lse):
    """dq, dk, dv from the lowered tgraph.attention_grad against float64 gradients of
    attention under the same mask; with forward_lse, the backward reads
    the forward's log-sum-exp (return_lse) instead of computing it."""
    q = rng.standard_normal((Z, H, NQ, D)).astype(np.float32)
    k, v = (rng.standard_normal((Z, H, NKV, D)).astype(np.float32) for _ in range(2))
    dout = rng.standard_normal((Z, H, NQ, D)).astype(np.float32)
    index, mask = random_blocks(Z, H, NQ, NKV, BM, BN, L=3)
    if causal:
        mask &= np.tril(np.ones((NQ, NKV), bool))
    out = tessera.ops.block_sparse_attention(q, k, v, index, block_m=BM, block_n=BN,
                                             causal=causal, return_lse=forward_lse)
    lse = None
    if forward_lse:
        out, lse = out
    grads = tessera.ops.block_sparse_attention_backward(q, k, v, out, dout, index, block_m=BM,
                                                        block_n=BN, causal=causal, lse=lse)
    for got, want in zip(grads, reference_grads(q, k, v, mask, dout, 1 / math.sqrt(D))):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("causal", [False, True])
def test_return_lse(causal):
    """The log-sum-exp of each row's scaled, masked scores (natural log)
    against float64; +inf for a row with no valid key (the first query
    block of head 0 lists only keys after its rows: causal masks them)."""
    Z, H, NQ, NKV, D, BM, BN = 1, 2, 70, 90, 16, 16, 16
    q = rng.standard_normal((Z, H, NQ, D)).astype(np.float32)
    k, v = (rng.standard_normal((Z, H, NKV, D)).astype(np.float32) for _ in range(2))
    index, mask = random_blocks(Z, H, NQ, NKV, BM, BN, L=3)
    index[0, 0, 0, :] = -1
    index[0, 0, 0, 0] = 5  # block 0 of head 0 sees keys 80-89 only: causal masks them all
    mask[0, 0, :BM] = False
    mask[0, 0, :BM, 80:] = True
    if causal:
        mask &= np.tril(np.ones((NQ, NKV), bool))
    out, lse = tessera.ops.block_sparse_attention(q, k, v, index, block_m=BM, block_n=BN,
                                                  causal=causal, sm_scale=0.3, return_lse=True)
    s = np.where(mask, q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64) * 0.3,
                 -np.inf)
    m = s.max(-1)
    seen = np.isfinite(m)
    with np.errstate(divide="ignore"):
        want = np.where(seen, np.log(np.exp(s - np.where(seen, m, 0)[..., None]).sum(-1))
                        + np.where(seen, m, 0), np.inf)
    assert lse.shape == (Z, H, NQ) and lse.dtype == np.float32
    assert (np.isinf(lse) == ~seen).all() and (lse[~seen] > 0).all()
    assert seen.all() != causal  # the causal case has rows with no key
    np.testing.assert_allclose(lse[seen], want[seen], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, reference(q, k, v, mask, 0.3), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="return_lse is not available with query lists"):
        tessera.ops.block_sparse_attention(q, k, v, index, block_m=BM, block_n=BN,
                                           q_index=np.zeros((Z, H, 5, 2), np.int32),
                                           q_count=np.ones((Z, H, 5), np.int32), return_lse=True)


def test_sparse_attention_autograd_on_cpu_tensors():
    """torch autograd through tessera.ops.sparse_attention (CPU tensors)."""
    torch = pytest.importorskip("torch")
    Z, H, N, D, B = 1, 2, 64, 16, 16
    q, k, v = (torch.randn(Z, H, N, D, dtype=torch.float32, requires_grad=True)
               for _ in range(3))
    index, mask = random_blocks(Z, H, N, N, B, B, L=2)
    out = tessera.ops.sparse_attention(q, k, v, torch.from_numpy(index), block_m=B, block_n=B)
    dout = torch.randn_like(out)
    out.backward(dout)
    want = reference_grads(q.detach().numpy(), k.detach().numpy(), v.detach().numpy(), mask,
                           dout.numpy(), 1 / math.sqrt(D))
    for t, w in zip((q, k, v), want):
        np.testing.assert_allclose(t.grad.numpy(), w, rtol=1e-4, atol=1e-4)


def test_backward_lists_cache_follows_content():
    """The backward's list cache is keyed by the lists' content: the same
    shapes with other blocks give the other blocks' gradients."""
    Z, H, N, D, B = 1, 1, 64, 16, 16
    q, k, v, dout = (rng.standard_normal((Z, H, N, D)).astype(np.float32) for _ in range(4))
    for _ in range(2):
        index, mask = random_blocks(Z, H, N, N, B, B, L=2)
        out = tessera.ops.block_sparse_attention(q, k, v, index, block_m=B, block_n=B)
        grads = tessera.ops.block_sparse_attention_backward(q, k, v, out, dout, index,
                                                            block_m=B, block_n=B)
        for got, want in zip(grads, reference_grads(q, k, v, mask, dout, 1 / math.sqrt(D))):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_checked_lists_follow_in_place_changes():
    """Torch block lists are checked once per (tensor, version): the same
    tensor changed in place is checked again (an out-of-range block raises)
    and its new blocks are the ones attended to."""
    torch = pytest.importorskip("torch")
    Z, H, N, D, B = 1, 1, 128, 16, 32
    q, k, v = (rng.standard_normal((Z, H, N, D)).astype(np.float32) for _ in range(3))
    qt, kt, vt = (torch.from_numpy(a) for a in (q, k, v))
    index = torch.tensor([[[[0, 1], [1, 2], [2, 3], [3, 0]]]], dtype=torch.int32)
    for _ in range(2):  # the second call takes the checked lists
        out = tessera.ops.block_sparse_attention(qt, kt, vt, index, block_m=B, block_n=B)
    index[0, 0, 0, 1] = 2  # query block 0 now attends to blocks 0 and 2
    out = tessera.ops.block_sparse_attention(qt, kt, vt, index, block_m=B, block_n=B)
    mask = np.zeros((Z, H, N, N), bool)
    for qb, blocks in enumerate([[0, 2], [1, 2], [2, 3], [3, 0]]):
        for kb in blocks:
            mask[..., qb * B:(qb + 1) * B, kb * B:(kb + 1) * B] = True
    np.testing.assert_allclose(out.numpy(), reference(q, k, v, mask, 1 / math.sqrt(D)),
                               rtol=1e-5, atol=1e-5)
    index[0, 0, 0, 1] = 9
    with pytest.raises(ValueError, match="is not a key/value block"):
        tessera.ops.block_sparse_attention(qt, kt, vt, index, block_m=B, block_n=B)


def test_backward_lists_follow_in_place_changes():
    """The backward's lists for torch block lists are found by (tensor,
    version): the same tensor changed in place gets the new blocks'
    gradients."""
    torch = pytest.importorskip("torch")
    Z, H, N, D, B = 1, 1, 64, 16, 16
    q, k, v, dout = (rng.standard_normal((Z, H, N, D)).astype(np.float32) for _ in range(4))
    index = torch.tensor([[[[0, 1], [1, 2], [2, 3], [3, 0]]]], dtype=torch.int32)
    for blocks in ([[0, 1], [1, 2], [2, 3], [3, 0]], [[0, 1], [1, 2], [2, 3], [3, 0]],
                   [[0, 2], [1, 2], [2, 3], [3, 0]]):
        if int(index[0, 0, 0, 1]) != blocks[0][1]:  # the second step: unchanged, a hit
            index[0, 0, 0, 1] = blocks[0][1]
        qt, kt, vt = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
        out = tessera.ops.sparse_attention(qt, kt, vt, index, block_m=B, block_n=B)
        out.backward(torch.from_numpy(dout))
        mask = np.zeros((Z, H, N, N), bool)
        for qb, kbs in enumerate(blocks):
            for kb in kbs:
                mask[..., qb * B:(qb + 1) * B, kb * B:(kb + 1) * B] = True
        for t, want in zip((qt, kt, vt), reference_grads(q, k, v, mask, dout, 1 / math.sqrt(D))):
            np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("Z,H,NQ,NKV,D,BM,BN", [(1, 2, 100, 100, 16, 32, 16),
                                                (2, 1, 64, 130, 32, 16, 32)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_overlap_loop(Z, H, NQ, NKV, D, BM, BN, dtype):
    """The intra-warpgroup overlap loop (overlap=True: each block's softmax
    beside the previous block's P V, one extra iteration): random block
    lists with some query blocks listing none, against float64, with the
    log-sum-exp the plain loop gives."""
    q = rng.standard_normal((Z, H, NQ, D)).astype(dtype)
    k, v = (rng.standard_normal((Z, H, NKV, D)).astype(dtype) for _ in range(2))
    index, mask = random_blocks(Z, H, NQ, NKV, BM, BN, L=3)
    count = (index >= 0).sum(-1).astype(np.int32)
    count[0, 0, 0] = 0  # a query block with no key block: zero rows
    mask[0, 0, :BM] = False
    out, lse = tessera.ops.block_sparse_attention(q, k, v, index, count, block_m=BM,
                                                  block_n=BN, overlap=True, return_lse=True)
    ref = reference(q, k, v, mask, 1 / math.sqrt(D))
    tol = 2e-3 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)
    _, want_lse = tessera.ops.block_sparse_attention(q, k, v, index, count, block_m=BM,
                                                     block_n=BN, return_lse=True)
    np.testing.assert_allclose(lse, want_lse, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_overlap_loop_dense(causal):
    Z, H, N, D = 1, 2, 90, 32
    q, k, v = (rng.standard_normal((Z, H, N, D)).astype(np.float32) for _ in range(3))
    mask = np.tril(np.ones((N, N), bool)) if causal else np.ones((N, N), bool)
    out = tessera.ops.attention(q, k, v, causal=causal, block_m=32, block_n=16, sm_scale=0.3,
                                overlap=True)
    np.testing.assert_allclose(out, reference(q, k, v, mask, 0.3), rtol=1e-5, atol=1e-5)


def test_overlap_loop_with_gradients():
    """attention(overlap=True) on tensors that require grad: the forward runs
    the overlap loop, the backward kernels give dq, dk, dv (float64 check);
    return_lse=True is refused there with the reason."""
    torch = pytest.importorskip("torch")
    Z, H, N, D = 1, 2, 70, 16
    q, k, v, dout = (rng.standard_normal((Z, H, N, D)) for _ in range(4))
    qt, kt, vt = (torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (q, k, v))
    out = tessera.ops.attention(qt, kt, vt, causal=True, block_m=32, block_n=16, overlap=True)
    out.backward(torch.from_numpy(dout).float())
    mask = np.broadcast_to(np.tril(np.ones((N, N), bool)), (Z, H, N, N))
    np.testing.assert_allclose(out.detach().numpy(), reference(q, k, v, mask, D ** -0.5),
                               rtol=1e-4, atol=1e-4)
    for t, want in zip((qt, kt, vt), reference_grads(q, k, v, mask, dout, D ** -0.5)):
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="return_lse=True is forward-only"):
        tessera.ops.attention(qt, kt, vt, block_m=32, block_n=16, return_lse=True)
