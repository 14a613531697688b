"""tl.join / split / interleave / cat / swizzle2d (Triton's names and
meaning), checked against numpy on fresh random data (CPU backend)."""

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera import CompilationError

rng = np.random.default_rng()


@tessera.jit
def join_split_kernel(A, B, Joined, Inter, Cat, Back, M: tl.constexpr, N: tl.constexpr):
    r = tl.arange(0, M)
    c = tl.arange(0, N)
    a = tl.load(A + r[:, None] * N + c[None, :])
    b = tl.load(B + r[:, None] * N + c[None, :])
    j = tl.join(a, b)  # [M, N, 2]
    k = tl.arange(0, 2)
    tl.store(Joined + (r[:, None, None] * N + c[None, :, None]) * 2 + k[None, None, :], j)
    c2 = tl.arange(0, 2 * N)
    tl.store(Inter + r[:, None] * 2 * N + c2[None, :], tl.interleave(a, b))
    r2 = tl.arange(0, 2 * M)
    tl.store(Cat + r2[:, None] * N + c[None, :], tl.cat(a, b, can_reorder=True))
    x, y = tl.split(j)
    tl.store(Back + r[:, None] * N + c[None, :], x)
    tl.store(Back + M * N + r[:, None] * N + c[None, :], y)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16])
def test_join_split_interleave_cat(dtype):
    M, N = 8, 16
    if dtype == np.int32:
        a, b = (rng.integers(-2**31, 2**31, (M, N), dtype=np.int64).astype(np.int32)
                for _ in range(2))
    else:
        a, b = (rng.standard_normal((M, N)).astype(dtype) for _ in range(2))
    a[0, 0] = -0.0 if dtype != np.int32 else a[0, 0]  # split keeps the sign of zero
    joined = np.zeros((M, N, 2), dtype)
    inter = np.zeros((M, 2 * N), dtype)
    cat = np.zeros((2 * M, N), dtype)
    back = np.zeros((2, M, N), dtype)
    join_split_kernel[(1,)](a, b, joined, inter, cat, back, M=M, N=N)
    np.testing.assert_array_equal(joined, np.stack([a, b], -1))
    np.testing.assert_array_equal(inter, np.stack([a, b], -1).reshape(M, 2 * N))
    np.testing.assert_array_equal(cat, np.concatenate([a, b]))
    assert back.tobytes() == np.stack([a, b]).tobytes()


@tessera.jit
def swizzle_kernel(Out, SI: tl.constexpr, SJ: tl.constexpr, G):
    i = tl.arange(0, SI)[:, None] + tl.zeros([SI, SJ], dtype=tl.int32)
    j = tl.arange(0, SJ)[None, :] + tl.zeros([SI, SJ], dtype=tl.int32)
    ni, nj = tl.swizzle2d(i, j, SI, SJ, G)
    tl.store(Out + (i * SJ + j) * 2, ni)
    tl.store(Out + (i * SJ + j) * 2 + 1, nj)


@pytest.mark.parametrize("g", [2, 3, 8])
def test_swizzle2d(g):
    si, sj = 8, 4
    out = np.zeros((si, sj, 2), np.int32)
    swizzle_kernel[(1,)](out, SI=si, SJ=sj, G=g)
    # Groups of g rows walked column by column: the n-th cell of that walk
    # is where row-major cell n goes.
    order = [(i, j) for g0 in range(0, si, g) for j in range(sj)
             for i in range(g0, min(g0 + g, si))]
    want = np.array(order, np.int32).reshape(si, sj, 2)
    np.testing.assert_array_equal(out, want)


@tessera.jit
def bad_split_kernel(X, N: tl.constexpr):
    x = tl.load(X + tl.arange(0, N))
    a, b = tl.split(x)
    tl.store(X, a)


def test_split_needs_a_last_dimension_of_two():
    with pytest.raises(CompilationError, match="the last dimension must have size 2"):
        bad_split_kernel[(1,)](np.zeros(16, np.float32), N=16)


@tessera.jit
def division_kernel(X, Y, Out, N: tl.constexpr):
    i = tl.arange(0, N)
    x, y = tl.load(X + i), tl.load(Y + i)
    tl.assume(N > 0)
    tl.store(Out + i, tl.div_rn(x, y))
    tl.store(Out + N + i, tl.fdiv(x, y))


def test_div_rn_fdiv_assume():
    x, y = (rng.standard_normal(64).astype(np.float32) for _ in range(2))
    out = np.zeros((2, 64), np.float32)
    division_kernel[(1,)](x, y, out, N=64)
    np.testing.assert_array_equal(out[0], x / y)  # IEEE division, rounded to nearest
    np.testing.assert_allclose(out[1], x.astype(np.float64) / y, rtol=1e-6)


@tessera.jit
def flip_kernel(X, Out, M: tl.constexpr, N: tl.constexpr, DIM: tl.constexpr):
    r = tl.arange(0, M)
    c = tl.arange(0, N)
    x = tl.load(X + r[:, None] * N + c[None, :])
    tl.store(Out + r[:, None] * N + c[None, :], tl.flip(x, DIM))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_flip(dim, dtype):
    M, N = 4, 32
    x = rng.standard_normal((M, N)).astype(np.float32)
    x = x if dtype == np.float32 else (x * 1000).astype(np.int32)
    out = np.zeros_like(x)
    flip_kernel[(1,)](x, out, M=M, N=N, DIM=dim)
    np.testing.assert_array_equal(out, np.flip(x, dim))


@tessera.jit
def histogram_kernel(X, Out, N: tl.constexpr, BINS: tl.constexpr):
    tl.store(Out + tl.arange(0, BINS), tl.histogram(tl.load(X + tl.arange(0, N)), BINS))


def test_histogram():
    x = rng.integers(-3, 20, 256).astype(np.int32)  # some outside [0, 16)
    out = np.zeros(16, np.int32)
    histogram_kernel[(1,)](x, out, N=256, BINS=16)
    np.testing.assert_array_equal(out, np.bincount(x[(x >= 0) & (x < 16)], minlength=16))


@tessera.jit
def sort_kernel(X, Out, M: tl.constexpr, N: tl.constexpr, DESCENDING: tl.constexpr):
    r = tl.arange(0, M)
    c = tl.arange(0, N)
    x = tl.load(X + r[:, None] * N + c[None, :])
    tl.store(Out + r[:, None] * N + c[None, :], tl.sort(x, descending=DESCENDING))


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype,n", [(np.float32, 16), (np.int32, 8), (np.float16, 2)])
def test_sort(descending, dtype, n):
    M = 4
    x = rng.standard_normal((M, n)).astype(np.float32)
    x = x.astype(dtype) if dtype != np.int32 else (x * 5).astype(np.int32)  # with ties
    out = np.zeros_like(x)
    sort_kernel[(1,)](x, out, M=M, N=n, DESCENDING=descending)
    want = np.sort(x, -1)
    np.testing.assert_array_equal(out, want[:, ::-1] if descending else want)


@tessera.jit
def gather_kernel(Src, Index, Out, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr,
                  AXIS: tl.constexpr):
    r = tl.arange(0, M)
    c = tl.arange(0, N)
    src = tl.load(Src + r[:, None] * N + c[None, :])
    if AXIS == 1:
        k = tl.arange(0, K)
        idx = tl.load(Index + r[:, None] * K + k[None, :])
        tl.store(Out + r[:, None] * K + k[None, :], tl.gather(src, idx, 1))
    else:
        k = tl.arange(0, K)
        idx = tl.load(Index + k[:, None] * N + c[None, :])
        tl.store(Out + k[:, None] * N + c[None, :], tl.gather(src, idx, 0))


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_gather(axis, dtype):
    M, N, K = 8, 16, 32
    src = rng.standard_normal((M, N)).astype(np.float32)
    src = src if dtype == np.float32 else (src * 1000).astype(np.int32)
    if axis == 1:
        idx = rng.integers(0, N, (M, K)).astype(np.int32)
        want = np.take_along_axis(src, idx, 1)
        out = np.zeros((M, K), dtype)
    else:
        idx = rng.integers(0, M, (K, N)).astype(np.int32)
        want = np.take_along_axis(src, idx, 0)
        out = np.zeros((K, N), dtype)
    gather_kernel[(1,)](src, idx, out, M=M, N=N, K=K, AXIS=axis)
    np.testing.assert_array_equal(out, want)


@tessera.jit
def topk_kernel(X, Out, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    r = tl.arange(0, M)
    x = tl.load(X + r[:, None] * N + tl.arange(0, N)[None, :])
    tl.store(Out + r[:, None] * K + tl.arange(0, K)[None, :], tl.topk(x, K))


@pytest.mark.parametrize("k", [1, 4, 16])
def test_topk(k):
    x = rng.standard_normal((4, 16)).astype(np.float32)
    out = np.zeros((4, k), np.float32)
    topk_kernel[(1,)](x, out, M=4, N=16, K=k)
    np.testing.assert_array_equal(out, -np.sort(-x, -1)[:, :k])
