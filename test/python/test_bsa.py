"""BSA pieces as DSL kernels (cube reordering, block selection) and
bsa_attention end to end, against numpy references in float64 on fresh
random data (CPU backend; test_gpu.py runs them on the GPU)."""

import math

import numpy as np
import pytest

import tessera
from test_attention import random_blocks, reference

rng = np.random.default_rng()


def reorder_reference(x, video, cube):
    Z, S, C = x.shape
    T, H, W = video
    t, h, w = cube
    y = x.reshape(Z, T // t, t, H // h, h, W // w, w, C)
    return y.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(Z, S, C)


def unreorder_reference(y, video, cube):
    Z, S, C = y.shape
    T, H, W = video
    t, h, w = cube
    x = y.reshape(Z, T // t, H // h, W // w, t, h, w, C)
    return x.transpose(0, 1, 4, 2, 5, 3, 6, 7).reshape(Z, S, C)


@pytest.mark.parametrize("video,cube", [((2, 4, 8), (1, 2, 4)), ((3, 4, 4), (3, 2, 2)),
                                        ((4, 8, 8), (2, 4, 4))])
def test_cube_reorder(video, cube):
    x = rng.standard_normal((2, int(np.prod(video)), 5)).astype(np.float32)
    y = tessera.ops.cube_reorder(x, video, cube)
    np.testing.assert_array_equal(y, reorder_reference(x, video, cube))
    np.testing.assert_array_equal(tessera.ops.cube_reorder(y, video, cube, inverse=True), x)
    np.testing.assert_array_equal(unreorder_reference(y, video, cube), x)


def select_reference(q, k, bm, bn, mass=None, threshold=None, min_blocks=1, max_blocks=None):
    """Per query block: the chosen key blocks, highest score first."""
    Z, H, NQ, D = q.shape
    NKV = k.shape[2]
    QB, KB = -(-NQ // bm), -(-NKV // bn)
    L = KB if max_blocks is None else max_blocks

    def pool(x, n, b, nb):
        x = x.astype(np.float64)
        return np.stack([x[:, :, i * b:min((i + 1) * b, n)].mean(2) for i in range(nb)], 2)

    qp, kp = pool(q, NQ, bm, QB), pool(k, NKV, bn, KB)
    s = qp @ np.swapaxes(kp, -1, -2) / math.sqrt(D)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    chosen = {}
    select_reference.ambiguous = {}
    for z in range(Z):
        for h in range(H):
            for qb in range(QB):
                row = p[z, h, qb]
                order = np.argsort(-row, kind="stable")
                if mass is not None:
                    cum = np.cumsum(row[order])
                    n = int(np.searchsorted(cum, mass - 1e-12) + 1)
                    # The mass before the last kept block and before the
                    # first left out decide the cut.
                    near = (np.abs(cum[max(0, n - 2):min(n, KB - 1)] - mass) < 1e-6).any()
                else:
                    cut = row.mean() + threshold * row.std()
                    n = int((row > cut).sum())
                    near = np.abs(row - cut).min() < 1e-6 * row.max()
                n = min(max(n, min_blocks), L)
                # float32 may decide a cut through (nearly) equal values or
                # a mass within rounding of p either way: such rows are
                # noted with the blocks that may go either way (exact ties,
                # which both break toward the lower block, are not).
                gap = row[order[n - 1]] - row[order[n]] if n < KB else np.inf
                if near or 0 < gap < 1e-6 * row[order[n - 1]]:
                    edge = row[order[n - 1]]
                    either = set(np.nonzero(np.abs(row - edge) < 1e-5 * row.max())[0].tolist())
                    either |= set(order[max(0, n - 2):n + 1].tolist())
                    select_reference.ambiguous[z, h, qb] = either
                chosen[z, h, qb] = list(order[:n])
    return chosen


@pytest.mark.parametrize("mode", [dict(mass=0.5, min_blocks=1), dict(mass=0.9, min_blocks=2),
                                  dict(mass=1.0), dict(threshold=0.5, min_blocks=1),
                                  dict(threshold=0.0, min_blocks=3, max_blocks=5)])
# 9 key blocks; 80 (a row of a 64-block head and a 16-block tail); 100
@pytest.mark.parametrize("nkv", [130, 1280, 1600])
def test_block_select(mode, nkv):
    q = (rng.standard_normal((1, 2, 100, 16)) * 3).astype(np.float32)
    k = (rng.standard_normal((1, 2, nkv, 16)) * 3).astype(np.float32)
    index, count = tessera.ops.block_select(q, k, 16, 16, **mode)
    check_selection(index, count, select_reference(q, k, 16, 16, **mode))


def check_selection(index, count, want):
    """The chosen blocks, listed in increasing order, -1 past each count.
    Rows the reference found within float32 rounding of a cut may differ
    from it only in the blocks at the cut: blocks whose probability is
    within rounding of the last one kept, or the one before or after it
    when the mass sits at the cut."""
    ambiguous = select_reference.ambiguous
    for (z, h, qb), blocks in want.items():
        got = list(index[z, h, qb, :count[z, h, qb]])
        assert (index[z, h, qb, count[z, h, qb]:] == -1).all()
        assert got == sorted(got) and len(set(got)) == len(got)
        if (z, h, qb) in ambiguous:
            differ = set(got) ^ set(int(b) for b in blocks)
            assert differ <= ambiguous[z, h, qb], ((z, h, qb), sorted(differ))
        else:
            assert got == sorted(blocks), ((z, h, qb), got, blocks)


@pytest.mark.parametrize("mode", [dict(mass=0.3, min_blocks=1), dict(mass=0.9, min_blocks=2),
                                  dict(threshold=0.5, min_blocks=2, max_blocks=7)])
@pytest.mark.parametrize("distinct", [4, 16])
def test_block_select_ties_go_to_the_lower_block(mode, distinct):
    """Key blocks repeated (equal probabilities): the cut through a group
    of equals keeps its lower-numbered blocks, as ranking would (80 key
    blocks: groups of equals across the row's head and tail tiles)."""
    q = (rng.standard_normal((1, 2, 64, 16)) * 2).astype(np.float32)
    base = (rng.standard_normal((1, 2, distinct * 16, 16)) * 2).astype(np.float32)
    k = np.concatenate([base] * 5, axis=2)  # each of the distinct blocks five times
    index, count = tessera.ops.block_select(q, k, 16, 16, **mode)
    check_selection(index, count, select_reference(q, k, 16, 16, **mode))


@pytest.mark.parametrize("mode", [dict(mass=0.9, min_blocks=2, max_blocks=13),
                                  dict(mass=0.5, max_blocks=32),
                                  dict(threshold=0.5, min_blocks=2, max_blocks=7)])
def test_block_select_rounds(mode):
    """Rows taken a max at a time (at most 32 kept) over 150 key blocks,
    37 query blocks: the selection matches the reference."""
    q = (rng.standard_normal((1, 2, 37 * 16, 16)) * 3).astype(np.float32)
    k = (rng.standard_normal((1, 2, 150 * 16, 16)) * 3).astype(np.float32)
    index, count = tessera.ops.block_select(q, k, 16, 16, **mode)
    assert index.shape == (1, 2, 37, mode["max_blocks"])
    check_selection(index, count, select_reference(q, k, 16, 16, **mode))


@pytest.mark.parametrize("scale", [3.0, 0.3])  # peaked scores; flat (max_blocks clamps)
def test_block_select_many_key_blocks(scale):
    """1500 key blocks (past the 1024 that ranking every pair allowed; rows
    split into a 1024-block head and a 512-block tail)."""
    q = (rng.standard_normal((1, 1, 48, 16)) * scale).astype(np.float32)
    k = (rng.standard_normal((1, 1, 1500 * 16, 16)) * scale).astype(np.float32)
    for mode in (dict(mass=0.5, max_blocks=40), dict(threshold=1.0, min_blocks=2)):
        index, count = tessera.ops.block_select(q, k, 16, 16, **mode)
        check_selection(index, count, select_reference(q, k, 16, 16, **mode))


@pytest.mark.parametrize("video,cube,C", [((2, 4, 8), (1, 4, 4), 16), ((4, 8, 8), (2, 4, 4), 200),
                                          ((4, 4, 8), (4, 4, 8), 64)])
def test_cube_reorder_pools_the_cubes(video, cube, C):
    """pool=True: the same reordering, and each cube's mean token (float32)
    from the same pass, as block_select's pooling gives it; block_select
    from those means selects what it selects from the tokens."""
    S = int(np.prod(video))
    x = rng.standard_normal((3, S, C)).astype(np.float16)
    y, pooled = tessera.ops.cube_reorder(x, video, cube, pool=True)
    want = reorder_reference(x, video, cube)
    np.testing.assert_array_equal(y, want)
    volume = int(np.prod(cube))
    means = want.astype(np.float64).reshape(3, S // volume, volume, C).mean(2)
    assert pooled.dtype == np.float32 and pooled.shape == (3, S // volume, C)
    np.testing.assert_allclose(pooled, means, rtol=1e-5, atol=1e-5)
    if volume == 16:
        q, k = (t.reshape(1, 3, S, C) for t in (want, reorder_reference(x[::-1].copy(), video,
                                                                          cube)))
        qp, kp = pooled.reshape(1, 3, -1, C), tessera.ops.cube_reorder(
            x[::-1].copy(), video, cube, pool=True)[1].reshape(1, 3, -1, C)
        a = tessera.ops.block_select(q, k, 16, 16, mass=0.7)
        b = tessera.ops.block_select(q, k, 16, 16, mass=0.7, pooled=(qp, kp))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="pool is for the forward direction"):
        tessera.ops.cube_reorder(x, video, cube, inverse=True, pool=True)


def test_bsa_attention_matches_masked_dense():
    """bsa_attention = dense attention under the mask its selection means,
    in the video's own token order."""
    video, cube = (2, 4, 8), (1, 4, 4)
    Z, H, D = 1, 2, 16
    S = int(np.prod(video))
    q, k, v = (rng.standard_normal((Z, H, S, D)).astype(np.float32) for _ in range(3))
    out = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.6)
    # The same selection on the reordered tokens, as a token mask.
    def to_cubes(x):
        return reorder_reference(x.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    qc, kc, vc = to_cubes(q), to_cubes(k), to_cubes(v)
    mask = np.zeros((Z, H, S, S), bool)
    for (z, h, qb), blocks in select_reference(qc, kc, 16, 16, mass=0.6).items():
        for kb in blocks:
            mask[z, h, qb * 16:(qb + 1) * 16, kb * 16:(kb + 1) * 16] = True
    ref_cubes = reference(qc, kc, vc, mask, 1 / math.sqrt(D))
    ref = unreorder_reference(ref_cubes.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(mass=0.5, threshold=1.0), "exactly one of mass"),
    (dict(mass=1.5), "must be in \\(0, 1\\]"),
    (dict(mass=0.5, min_blocks=0), "need 1 <= min_blocks"),
])
def test_block_select_errors(kwargs, message):
    q = np.zeros((1, 1, 64, 16), np.float32)
    with pytest.raises(ValueError, match=message):
        tessera.ops.block_select(q, q, 16, 16, **kwargs)


def test_block_select_pooled_must_match():
    q = rng.standard_normal((1, 2, 64, 16)).astype(np.float32)
    bad = np.zeros((1, 2, 3, 16), np.float32)
    with pytest.raises(ValueError, match="pooled q must be float32 \\(1, 2, 4, 16\\)"):
        tessera.ops.block_select(q, q, 16, 16, mass=0.5, pooled=(bad, bad))


def test_bsa_errors():
    q = np.zeros((1, 1, 48, 16), np.float32)
    with pytest.raises(ValueError, match="not a multiple of the cube's"):
        tessera.ops.bsa_attention(q, q, q, (2, 4, 6), (1, 4, 4), p=0.5)
    with pytest.raises(ValueError, match="keep_ratio must be in"):
        tessera.ops.bsa_attention(q, q, q, (3, 4, 4), (1, 4, 4), p=0.5, keep_ratio=0.0)


def random_query_lists(Z, H, NQ, B, kept):
    """Random kept-query lists (1..kept distinct positions per block, -1
    padded), their counts, and for each row the row whose output it takes
    (itself when listed, else its block's last listed query)."""
    QB = -(-NQ // B)
    q_index = np.full((Z, H, QB, kept), -1, np.int64)
    q_count = np.zeros((Z, H, QB), np.int64)
    target = np.zeros((Z, H, NQ), np.int64)
    for z in range(Z):
        for h in range(H):
            for qb in range(QB):
                n = min(B, NQ - qb * B)
                c = int(rng.integers(1, min(kept, n) + 1))
                q_index[z, h, qb, :c] = rng.choice(n, c, replace=False)
                q_count[z, h, qb] = c
                rows = [qb * B + int(r) for r in q_index[z, h, qb, :c]]
                for r in range(qb * B, qb * B + n):
                    target[z, h, r] = r if r in rows else rows[-1]
    return q_index, q_count, target


@pytest.mark.parametrize("NQ,B,kept,causal", [(64, 16, 5, False), (100, 32, 9, True),
                                              (48, 16, 16, False)])
def test_query_sparse_attention(NQ, B, kept, causal):
    """Only the listed queries of each block are computed (equal to dense
    attention under the KV mask on those rows); the others copy the block's
    last listed query's output."""
    Z, H, D = 1, 2, 16
    q, k, v = (rng.standard_normal((Z, H, NQ, D)).astype(np.float32) for _ in range(3))
    index, mask = random_blocks(Z, H, NQ, NQ, B, B, L=3)
    QB = -(-NQ // B)
    q_index, q_count, _ = random_query_lists(Z, H, NQ, B, kept)
    out = tessera.ops.block_sparse_attention(q, k, v, index, block_m=B, block_n=B, causal=causal,
                                             q_index=q_index, q_count=q_count)
    if causal:
        mask = mask & np.tril(np.ones((NQ, NQ), bool))
    ref = reference(q, k, v, mask, 1 / math.sqrt(D))
    for z in range(Z):
        for h in range(H):
            for qb in range(QB):
                rows = [qb * B + int(r) for r in q_index[z, h, qb, :q_count[z, h, qb]]]
                np.testing.assert_allclose(out[z, h, rows], ref[z, h, rows], rtol=1e-5, atol=1e-5)
                proxy = out[z, h, rows[-1]]
                for r in range(qb * B, min((qb + 1) * B, NQ)):
                    if r not in rows:
                        np.testing.assert_array_equal(out[z, h, r], proxy)


def test_bsa_with_query_sparsity():
    """bsa_attention(keep_ratio=0.5) = its pieces composed by hand."""
    video, cube = (2, 4, 8), (1, 4, 4)
    Z, H, D = 1, 2, 16
    S = int(np.prod(video))
    q, k, v = (rng.standard_normal((Z, H, S, D)).astype(np.float32) for _ in range(3))
    out = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.6, keep_ratio=0.5)

    def to_cubes(x):
        return reorder_reference(x.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    qc, kc, vc = to_cubes(q), to_cubes(k), to_cubes(v)
    index, count = tessera.ops.block_select(qc, kc, 16, 16, mass=0.6)
    qi, qn = tessera.ops.token_select(qc, 16, 0.5)
    assert (qn == 8).all()
    by_hand = tessera.ops.block_sparse_attention(qc, kc, vc, index, count, block_m=16,
                                                 block_n=16, q_index=qi, q_count=qn)
    want = unreorder_reference(by_hand.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("keep_ratio", [1.0, 0.5])
def test_bsa_hands_its_lists_over_unchecked(keep_ratio, monkeypatch):
    """With torch tensors, bsa_attention's block and query lists (its own
    selection's, valid by construction) reach the attention without the
    host check that given lists get (a copy and a synchronization on a
    GPU): the checks are made to fail, and the output still equals the
    pieces composed by hand with checked lists, on fresh data."""
    torch = pytest.importorskip("torch")
    video, cube = (2, 4, 8), (1, 4, 4)
    Z, H, D = 1, 2, 16
    S = int(np.prod(video))
    q, k, v = (torch.from_numpy(rng.standard_normal((Z, H, S, D)).astype(np.float32))
               for _ in range(3))
    flat = [x.reshape(Z * H, S, D) for x in (q, k, v)]
    (qc, qm), (kc, km) = (tessera.ops.cube_reorder(x, video, cube, pool=True) for x in flat[:2])
    qc, kc = qc.reshape(Z, H, S, D), kc.reshape(Z, H, S, D)
    vc = tessera.ops.cube_reorder(flat[2], video, cube).reshape(Z, H, S, D)
    index, count = tessera.ops.block_select(qc, kc, 16, 16, mass=0.6,
                                            pooled=(qm.reshape(Z, H, -1, D),
                                                    km.reshape(Z, H, -1, D)))
    qi = qn = None
    if keep_ratio != 1.0:
        qi, qn = tessera.ops.token_select(qc, 16, keep_ratio)
    by_hand = tessera.ops.block_sparse_attention(qc, kc, vc, index.numpy(), count.numpy(),
                                                 block_m=16, block_n=16,
                                                 q_index=None if qi is None else qi.numpy(),
                                                 q_count=None if qn is None else qn.numpy())
    want = tessera.ops.cube_reorder(by_hand.reshape(Z * H, S, D), video, cube, inverse=True)

    def no_check(*args, **kwargs):
        raise AssertionError("bsa_attention's own lists were checked on the host")
    monkeypatch.setattr(tessera.ops, "_kv_lists", no_check)
    monkeypatch.setattr(tessera.ops, "_query_lists", no_check)
    out = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.6, keep_ratio=keep_ratio)
    np.testing.assert_array_equal(out.numpy(), want.reshape(Z, H, S, D).numpy())
    with pytest.raises(AssertionError, match="checked on the host"):  # given lists are
        tessera.ops.block_sparse_attention(qc, kc, vc, index.clone(), count.clone(),
                                           block_m=16, block_n=16)


@pytest.mark.parametrize("NQ,NKV,bm,bn", [(512, 768, 128, 128), (256, 512, 128, 64),
                                          (200, 384, 64, 128), (96, 64, 32, 32)])
def test_backward_lists_cut_on_the_device(NQ, NKV, bm, bn):
    """Lists the forward checked are cut into the backward's 64 x 64 tiles
    with torch ops on their device: the same lists as the host's cut
    (entries past each count 0), on fresh random lists."""
    torch = pytest.importorskip("torch")
    Z, H = 2, 3
    index, _ = random_blocks(Z, H, NQ, NKV, bm, bn, L=4)
    count = (index >= 0).sum(-1)
    used = np.arange(index.shape[3]) < count[..., None]
    want = tessera.ops._backward_lists(index, count, used, Z, H, NQ, NKV, bm, bn)
    got = tessera.ops._backward_lists_on_device(torch.from_numpy(index).int(),
                                                torch.from_numpy(count).int(), NQ, bm, bn)
    assert got[2:] == want[2:]
    np.testing.assert_array_equal(got[0].numpy(), want[0])
    np.testing.assert_array_equal(got[1].numpy(), want[1])


def test_bsa_training_step_without_host_checks(monkeypatch):
    """bsa_attention under autograd: its lists reach the forward and the
    backward's cut without a host check (both made to fail), and the
    gradients equal those of block_sparse_attention over the same lists
    given as numpy (checked on the host), on fresh data."""
    torch = pytest.importorskip("torch")
    video, cube = (2, 4, 8), (1, 4, 4)
    Z, H, D = 1, 2, 16
    S = int(np.prod(video))
    data = [rng.standard_normal((Z, H, S, D)).astype(np.float32) for _ in range(4)]

    def grads(fn):
        q, k, v = (torch.from_numpy(x).requires_grad_() for x in data[:3])
        (fn(q, k, v) * torch.from_numpy(data[3])).sum().backward()
        return [t.grad.numpy() for t in (q, k, v)]

    flat = [torch.from_numpy(x).reshape(Z * H, S, D) for x in data[:2]]
    (qc, qm), (kc, km) = (tessera.ops.cube_reorder(x, video, cube, pool=True) for x in flat)
    index, count = tessera.ops.block_select(qc.reshape(Z, H, S, D), kc.reshape(Z, H, S, D), 16,
                                            16, mass=0.6, pooled=(qm.reshape(Z, H, -1, D),
                                                                  km.reshape(Z, H, -1, D)))
    index, count = index.numpy(), count.numpy()

    def by_hand(q, k, v):
        cubes = [tessera.ops._reorder_autograd().apply(x.reshape(Z * H, S, D), video, cube,
                                                       False, False).reshape(Z, H, S, D)
                 for x in (q, k, v)]
        out = tessera.ops.sparse_attention(*cubes, index, count, block_m=16, block_n=16)
        return tessera.ops._reorder_autograd().apply(out.reshape(Z * H, S, D), video, cube,
                                                     True, False).reshape(Z, H, S, D)
    want = grads(by_hand)

    def no_check(*args, **kwargs):
        raise AssertionError("bsa_attention's own lists were checked on the host")
    monkeypatch.setattr(tessera.ops, "_kv_lists", no_check)
    got = grads(lambda q, k, v: tessera.ops.bsa_attention(q, k, v, video, cube, p=0.6))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("N,block,ratio", [(64, 16, 0.5), (100, 32, 0.3), (128, 64, 0.125)])
def test_query_targets_on_the_device(N, block, ratio):
    """The backward's query targets (each row's own row when listed, else
    its block's proxy) from torch ops on the lists' device equal the host
    computation, on token_select's lists of fresh data."""
    torch = pytest.importorskip("torch")
    q = rng.standard_normal((2, 3, N, 16)).astype(np.float32)
    index, count = tessera.ops.token_select(q, block, ratio)
    want = tessera.ops._query_targets(index, count, q.shape, block)
    got = tessera.ops._query_targets_on_device(torch.from_numpy(index),
                                               torch.from_numpy(count), q.shape, block)
    np.testing.assert_array_equal(got.numpy(), want)


def block_similarities(q, block):
    """Per block: float64 cosine similarity of each token to the centre token."""
    Z, H, N, D = q.shape
    out = {}
    for z in range(Z):
        for h in range(H):
            for b in range(-(-N // block)):
                x = q[z, h, b * block:(b + 1) * block].astype(np.float64)
                c = x[len(x) // 2]
                out[z, h, b] = x @ c / (np.linalg.norm(x, axis=1) * np.linalg.norm(c) + 1e-12)
    return out


@pytest.mark.parametrize("N,block,ratio", [(64, 16, 0.5), (100, 32, 0.3), (40, 16, 1.0),
                                           (128, 64, 0.125)])
def test_token_select(N, block, ratio):
    """The kept tokens are the ceil(ratio x tokens) least similar to the
    centre, listed from least to most similar (up to fp32 rounding: 1e-5)."""
    q = rng.standard_normal((2, 2, N, 16)).astype(np.float32)
    index, count = tessera.ops.token_select(q, block, ratio)
    for key, sim in block_similarities(q, block).items():
        keep = math.ceil(ratio * len(sim))
        assert count[key] == keep
        kept = list(index[key][:keep])
        assert len(set(kept)) == keep and all(0 <= i < len(sim) for i in kept)
        assert (index[key][keep:] == -1).all()
        dropped = [i for i in range(len(sim)) if i not in kept]
        if dropped:
            assert sim[kept].max() <= sim[dropped].min() + 1e-5, key
        assert (np.diff(sim[kept]) >= -1e-5).all(), key


def test_bsa_attention_autograd_on_cpu_tensors():
    """Gradients through bsa_attention (reordering and attention; selection
    fixed) against float64 gradients of masked attention in cube order."""
    torch = pytest.importorskip("torch")
    from test_attention import reference_grads
    video, cube = (2, 4, 8), (1, 4, 4)
    Z, H, D = 1, 2, 16
    S = int(np.prod(video))
    q, k, v = (torch.randn(Z, H, S, D, dtype=torch.float32, requires_grad=True)
               for _ in range(3))
    out = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.6)
    dout = torch.randn_like(out)
    out.backward(dout)

    def to_cubes(x):
        return reorder_reference(x.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    qc, kc, vc = (to_cubes(t.detach().numpy()) for t in (q, k, v))
    mask = np.zeros((Z, H, S, S), bool)
    for (z, h, qb), blocks in select_reference(qc, kc, 16, 16, mass=0.6).items():
        for kb in blocks:
            mask[z, h, qb * 16:(qb + 1) * 16, kb * 16:(kb + 1) * 16] = True
    grads = reference_grads(qc, kc, vc, mask, to_cubes(dout.numpy()), 1 / math.sqrt(D))
    for t, g in zip((q, k, v), grads):
        want = unreorder_reference(g.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-4, atol=1e-4)


def test_dense_attention_autograd_on_cpu_tensors():
    torch = pytest.importorskip("torch")
    from test_attention import reference_grads
    q, k, v = (torch.randn(1, 2, 48, 16, requires_grad=True) for _ in range(3))
    out = tessera.ops.attention(q, k, v, causal=True, block_m=16, block_n=16)
    dout = torch.randn_like(out)
    out.backward(dout)
    mask = np.tril(np.ones((48, 48), bool))
    grads = reference_grads(q.detach().numpy(), k.detach().numpy(), v.detach().numpy(), mask,
                            dout.numpy(), 0.25)
    for t, g in zip((q, k, v), grads):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("NQ,B,kept", [(64, 16, 5), (100, 32, 9)])
def test_query_sparse_attention_autograd_on_cpu_tensors(NQ, B, kept):
    """Gradients with query sparsity: out[r] = attention of r's proxy query
    (itself when kept) under the KV mask, differentiated in float64 by torch
    on that definition; pruned rows of q get no gradient."""
    torch = pytest.importorskip("torch")
    Z, H, D = 1, 2, 16
    q, k, v = (torch.randn(Z, H, NQ, D, dtype=torch.float32, requires_grad=True)
               for _ in range(3))
    index, mask = random_blocks(Z, H, NQ, NQ, B, B, L=3)
    q_index, q_count, target = random_query_lists(Z, H, NQ, B, kept)
    out = tessera.ops.sparse_attention(q, k, v, torch.from_numpy(index), block_m=B, block_n=B,
                                       q_index=q_index, q_count=q_count)
    dout = torch.randn_like(out)
    out.backward(dout)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    s = (q64 @ k64.transpose(-1, -2)) / math.sqrt(D)
    s = s.masked_fill(~torch.from_numpy(mask), float("-inf"))
    full = torch.softmax(s, -1) @ v64
    ref = torch.gather(full, 2, torch.from_numpy(target)[..., None].expand(Z, H, NQ, D))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)
    ref.backward(dout.double())
    for t, t64 in zip((q, k, v), (q64, k64, v64)):
        np.testing.assert_allclose(t.grad.numpy(), t64.grad.numpy(), rtol=1e-4, atol=1e-4)
    pruned = target != np.arange(NQ)
    assert (q.grad.numpy()[pruned] == 0).all()


def test_bsa_attention_autograd_with_query_sparsity():
    """bsa_attention(keep_ratio=0.5) differentiates (selection fixed): the
    same gradients as sparse_attention over its own selection, in cube order."""
    torch = pytest.importorskip("torch")
    video, cube = (2, 4, 8), (1, 4, 4)
    Z, H, D = 1, 2, 16
    S = int(np.prod(video))
    q, k, v = (torch.randn(Z, H, S, D, dtype=torch.float32, requires_grad=True)
               for _ in range(3))
    out = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.6, keep_ratio=0.5)
    dout = torch.randn_like(out)
    out.backward(dout)
    with torch.no_grad():
        want = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.6, keep_ratio=0.5)
    np.testing.assert_allclose(out.detach().numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    qc, kc, vc = (tessera.ops.cube_reorder(t.detach().reshape(Z * H, S, D), video, cube)
                  .reshape(Z, H, S, D).requires_grad_() for t in (q, k, v))
    index, count = tessera.ops.block_select(qc.detach(), kc.detach(), 16, 16, mass=0.6)
    qi, qn = tessera.ops.token_select(qc.detach(), 16, 0.5)
    by_hand = tessera.ops.sparse_attention(qc, kc, vc, index, count, block_m=16, block_n=16,
                                           q_index=qi, q_count=qn)
    dc = tessera.ops.cube_reorder(dout.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    by_hand.backward(dc)
    for t, tc in zip((q, k, v), (qc, kc, vc)):
        want = tessera.ops.cube_reorder(tc.grad.reshape(Z * H, S, D), video, cube,
                                        inverse=True).reshape(Z, H, S, D)
        np.testing.assert_allclose(t.grad.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
