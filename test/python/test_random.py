"""tl.randint / rand / randn / philox / umulhi (Philox 4x32, as Triton's):
checked on the CPU backend against Random123's known-answer vectors and a
numpy implementation of Philox on fresh random seeds and offsets."""

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera import CompilationError

rng = np.random.default_rng()
M32 = np.uint64(0xFFFFFFFF)


def philox_ref(seed, counters, rounds=10):
    """Philox 4x32 in numpy (uint64 arithmetic): the key from the seed's
    low and high words, counters (c0, c1, c2, c3) of any shape."""
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
    c = [np.asarray(x, np.uint64) for x in counters]
    a, b = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    for _ in range(rounds):
        pa, pb = a * c[0], b * c[2]
        c = [(pb >> np.uint64(32)) ^ c[1] ^ k0, pb & M32, (pa >> np.uint64(32)) ^ c[3] ^ k1,
             pa & M32]
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & M32, (k1 + np.uint64(0xBB67AE85)) & M32
    return [x.astype(np.uint32) for x in c]


@tessera.jit
def philox_kernel(C, Out, seed, N, ROUNDS: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < N
    w = tl.philox(seed, tl.load(C + i, mask=m), tl.load(C + N + i, mask=m),
                  tl.load(C + 2 * N + i, mask=m), tl.load(C + 3 * N + i, mask=m), ROUNDS)
    for j in tl.static_range(4):
        tl.store(Out + j * N + i, w[j], mask=m)


def test_philox_known_answers():
    """Random123's kat_vectors for philox4x32-10."""
    cases = [((0, 0, 0, 0), 0, (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, 0xFFFFFFFFFFFFFFFF,
              (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), 0x299F31D0A4093822,
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, seed, want in cases:
        c = np.array(ctr, np.uint32).reshape(4, 1)
        out = np.zeros((4, 1), np.uint32)
        philox_kernel[(1,)](c, out, np.int64(seed - (1 << 64) if seed >= 1 << 63 else seed), 1,
                            ROUNDS=10, BLOCK=16)
        assert [int(x) for x in out[:, 0]] == list(want)


@pytest.mark.parametrize("rounds", [10, 7])
def test_philox_matches_numpy(rounds):
    n = 300
    c = rng.integers(0, 2**32, (4, n), dtype=np.uint64).astype(np.uint32)
    seed = int(rng.integers(0, 2**62))
    out = np.zeros((4, n), np.uint32)
    philox_kernel[(1,)](c, out, np.int64(seed), n, ROUNDS=rounds, BLOCK=512)
    want = philox_ref(seed, c.astype(np.uint64), rounds)
    for j in range(4):
        np.testing.assert_array_equal(out[j], want[j])


@tessera.jit
def random_kernel(Ints, Uniform, Normal, Four, seed, base, N, BLOCK: tl.constexpr):
    off = base + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = off < base + N
    at = off - base
    tl.store(Ints + at, tl.randint(seed, off), mask=m)
    tl.store(Uniform + at, tl.rand(seed, off), mask=m)
    tl.store(Normal + at, tl.randn(seed, off), mask=m)
    a, b, c, d = tl.randint4x(seed, off)
    tl.store(Four + at, a ^ b ^ c ^ d, mask=m)


def test_randint_rand_randn():
    n, base = 1000, int(rng.integers(0, 2**20))
    seed = int(rng.integers(0, 2**40))
    ints = np.zeros(n, np.uint32)
    uni = np.zeros(n, np.float32)
    nrm = np.zeros(n, np.float32)
    four = np.zeros(n, np.uint32)
    random_kernel[(-(-n // 128),)](ints, uni, nrm, four, np.int64(seed), base, n, BLOCK=128)
    off = np.arange(base, base + n, dtype=np.uint64)
    zero = np.zeros(n, np.uint64)
    w = philox_ref(seed, [off, zero, zero, zero])
    np.testing.assert_array_equal(ints, w[0])
    np.testing.assert_array_equal(four, w[0] ^ w[1] ^ w[2] ^ w[3])

    def uniform(x):
        s = x.view(np.int32).astype(np.int64)
        return np.where(s < 0, -s - 1, s).astype(np.float64) * 4.6566127342e-10
    np.testing.assert_allclose(uni, uniform(w[0]), rtol=1e-6)
    assert (uni >= 0).all() and (uni < 1).all()
    u1 = np.maximum(1e-7, uniform(w[0]))
    want = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * uniform(w[1]))
    np.testing.assert_allclose(nrm, want, rtol=1e-4, atol=1e-4)
    # The same seed and offsets draw the same numbers; another seed others.
    again = np.zeros(n, np.uint32)
    random_kernel[(-(-n // 128),)](again, uni, nrm, four, np.int64(seed), base, n, BLOCK=128)
    np.testing.assert_array_equal(again, ints)
    random_kernel[(-(-n // 128),)](again, uni, nrm, four, np.int64(seed + 1), base, n, BLOCK=128)
    assert (again != ints).mean() > 0.99


@tessera.jit
def umulhi_kernel(A, B, Out, N, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < N
    tl.store(Out + i, tl.umulhi(tl.load(A + i, mask=m), tl.load(B + i, mask=m)), mask=m)


@pytest.mark.parametrize("dtype", [np.uint32, np.int32])
def test_umulhi(dtype):
    n = 200
    a = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(dtype)
    b = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(dtype)
    out = np.zeros(n, dtype)
    umulhi_kernel[(1,)](a, b, out, n, BLOCK=256)
    want = ((a.view(np.uint32).astype(np.uint64) * b.view(np.uint32).astype(np.uint64))
            >> np.uint64(32)).astype(np.uint32)
    np.testing.assert_array_equal(out.view(np.uint32), want)


@tessera.jit
def bad_seed_kernel(Out, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    tl.store(Out + i, tl.rand(i.to(tl.float32), i))


def test_float_seed_is_an_error():
    with pytest.raises(CompilationError, match="the seed must be an integer scalar"):
        bad_seed_kernel[(1,)](np.zeros(16, np.float32), BLOCK=16)
