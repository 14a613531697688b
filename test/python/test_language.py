"""tessera.language operations, each run on the CPU backend and checked
against numpy (float64 where it matters) on fresh random data."""

import numpy as np
import pytest

import tessera
import tessera.language as tl

rng = np.random.default_rng()


# -- elementwise ---------------------------------------------------------------

@tessera.jit
def unary_kernel(x_ptr, out_ptr, n, OP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=1.0)
    if OP == "exp":
        y = tl.exp(x)
    elif OP == "exp2":
        y = tl.exp2(x)
    elif OP == "log":
        y = tl.log(x)
    elif OP == "log2":
        y = tl.log2(x)
    elif OP == "sqrt":
        y = tl.sqrt(x)
    elif OP == "rsqrt":
        y = tl.rsqrt(x)
    elif OP == "sigmoid":
        y = tl.sigmoid(x)
    elif OP == "abs":
        y = tl.abs(x - 1.0)
    elif OP == "sin":
        y = tl.sin(x)
    else:
        y = tl.cos(x)
    tl.store(out_ptr + offs, y, mask=mask)


REFERENCE = {
    "exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "abs": lambda x: np.abs(x - 1), "sin": np.sin, "cos": np.cos,
}


@pytest.mark.parametrize("op", sorted(REFERENCE))
def test_unary_math(op):
    n = 1000
    x = rng.uniform(0.1, 4.0, n).astype(np.float32)
    out = np.empty_like(x)
    unary_kernel[(tessera.cdiv(n, 256),)](x, out, n, OP=op, BLOCK=256)
    np.testing.assert_allclose(out, REFERENCE[op](x.astype(np.float64)), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("n", [1, 3000])
def test_erf_and_float64_math(n):
    """The functions the GPU backends take from a device library (tl.erf,
    float64 exp, log, sin...), on this backend, against numpy."""
    from tessera.testing import device_math as dm
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    out = np.zeros((10, n))
    dm.device_math[(tessera.cdiv(n, 512),)](x, out, n, BLOCK=512)
    dm.check(out, x)


@pytest.mark.parametrize("n", [1, 3000])
def test_libdevice_functions(n):
    """tl.extra.libdevice (tanh, pow, atan2, asin...) on float32 and float64
    against numpy; `from tessera.language.extra import libdevice` as in
    Triton."""
    from tessera.testing import device_math as dm
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    out = np.zeros((30, n))
    dm.libdevice_math[(tessera.cdiv(n, 512),)](x, out, n, BLOCK=512)
    dm.check_libdevice(out, x)


@tessera.jit
def binary_kernel(a_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    a = tl.load(a_ptr + offs, mask=mask, other=1)
    b = tl.load(b_ptr + offs, mask=mask, other=1)
    base = out_ptr + offs * 8
    tl.store(base + 0, a + b, mask=mask)
    tl.store(base + 1, a - b, mask=mask)
    tl.store(base + 2, a * b, mask=mask)
    tl.store(base + 3, a // b, mask=mask)
    tl.store(base + 4, a % b, mask=mask)
    tl.store(base + 5, tl.maximum(a, b), mask=mask)
    tl.store(base + 6, (a & 0xFF) ^ (b | 3), mask=mask)
    tl.store(base + 7, (a << 2) >> 1, mask=mask)


def test_integer_arithmetic_has_c_semantics():
    n = 777
    a = rng.integers(-10_000, 10_000, n).astype(np.int32)
    b = rng.integers(1, 100, n).astype(np.int32) * rng.choice([-1, 1], n).astype(np.int32)
    out = np.zeros((n, 8), np.int32)
    binary_kernel[(tessera.cdiv(n, 128),)](a, b, out, n, BLOCK=128)
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    trunc_div = np.trunc(a64 / b64).astype(np.int64)
    expected = np.stack([a64 + b64, a64 - b64, a64 * b64, trunc_div, a64 - trunc_div * b64,
                         np.maximum(a64, b64), (a64 & 0xFF) ^ (b64 | 3), (a64 << 2) >> 1], 1)
    np.testing.assert_array_equal(out, expected)


@tessera.jit
def promote_kernel(i8_ptr, f16_ptr, out_f32_ptr, out_i32_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    a = tl.load(i8_ptr + offs)            # int8
    h = tl.load(f16_ptr + offs)           # fp16
    wide = a + tl.full([BLOCK], 1000, tl.int32)  # int8 + int32 -> int32
    tl.store(out_i32_ptr + offs, wide)
    mixed = h * 2 + a                     # fp16 * python int -> fp16; fp16 + int8 -> fp16
    ratio = a / 4                         # int / int -> fp32
    tl.store(out_f32_ptr + offs, mixed.to(tl.float32) + ratio)


def test_dtype_promotion():
    a = rng.integers(-100, 100, 64).astype(np.int8)
    h = rng.standard_normal(64).astype(np.float16)
    out_f = np.empty(64, np.float32)
    out_i = np.empty(64, np.int32)
    promote_kernel[(1,)](a, h, out_f, out_i, BLOCK=64)
    np.testing.assert_array_equal(out_i, a.astype(np.int32) + 1000)
    mixed = (h * np.float16(2) + a.astype(np.float16)).astype(np.float32)
    np.testing.assert_allclose(out_f, mixed + a.astype(np.float32) / 4, rtol=1e-6)


@tessera.jit
def cast_kernel(x_ptr, f16_ptr, bf16_ptr, i32_ptr, bool_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(f16_ptr + offs, x.to(tl.float16))
    tl.store(bf16_ptr + offs, x)          # stores convert to the pointee type
    tl.store(i32_ptr + offs, x.to(tl.int32))
    tl.store(bool_ptr + offs, x > 0)


def test_casts():
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal(128) * 100).astype(np.float32)
    f16 = np.empty(128, np.float16)
    bf16 = torch.empty(128, dtype=torch.bfloat16)
    i32 = np.empty(128, np.int32)
    flags = np.empty(128, np.bool_)
    cast_kernel[(1,)](x, f16, bf16, i32, flags, BLOCK=128)
    np.testing.assert_array_equal(f16, x.astype(np.float16))
    np.testing.assert_array_equal(bf16.float().numpy(), torch.from_numpy(x).bfloat16().float().numpy())
    np.testing.assert_array_equal(i32, np.trunc(x).astype(np.int32))
    np.testing.assert_array_equal(flags, x > 0)


# -- shapes and 2-D tiles ---------------------------------------------------------

@tessera.jit
def transpose_kernel(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    tile = tl.load(x_ptr + rm[:, None] * N + rn[None, :], mask=mask)
    t = tl.trans(tile)
    tl.store(out_ptr + rn[:, None] * M + rm[None, :], t, mask=tl.trans(mask))


def test_transpose_2d_tiles():
    M, N = 45, 70
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.zeros((N, M), np.float32)
    transpose_kernel[(tessera.cdiv(M, 16), tessera.cdiv(N, 32))](x, out, M, N, BM=16, BN=32)
    np.testing.assert_array_equal(out, x.T)


@tessera.jit
def reshape_kernel(x_ptr, out_ptr):
    offs = tl.arange(0, 64)
    x = tl.load(x_ptr + offs)
    m = tl.reshape(x, [8, 8])
    row_sums = tl.sum(m, axis=1)                      # [8]
    b = tl.broadcast_to(row_sums[:, None], [8, 8])    # repeat along columns
    tl.store(out_ptr + offs, tl.reshape(b + m, [64]))


def test_reshape_broadcast():
    x = rng.standard_normal(64).astype(np.float32)
    out = np.empty(64, np.float32)
    reshape_kernel[(1,)](x, out)
    m = x.astype(np.float64).reshape(8, 8)
    np.testing.assert_allclose(out.reshape(8, 8), m.sum(1, keepdims=True) + m, rtol=1e-5, atol=1e-5)


# -- reductions and scans ------------------------------------------------------------

@tessera.jit
def reduce_kernel(x_ptr, out_ptr, idx_ptr, AXIS: tl.constexpr, OP: tl.constexpr,
                  M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :])
    if OP == "sum":
        r = tl.sum(x, axis=AXIS)
    elif OP == "max":
        r = tl.max(x, axis=AXIS)
    elif OP == "min":
        r = tl.min(x, axis=AXIS)
    elif OP == "argmax":
        r, i = tl.max(x, axis=AXIS, return_indices=True)
        tl.store(idx_ptr + tl.arange(0, M if AXIS == 1 else N), i)
    else:
        r = x.sum(axis=AXIS) * 0 + tl.argmin(x, axis=AXIS).to(tl.float32)
    tl.store(out_ptr + tl.arange(0, M if AXIS == 1 else N), r)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("op", ["sum", "max", "min", "argmax", "argmin"])
def test_reductions(axis, op):
    M, N = 16, 32
    # Few distinct values, so argmax/argmin must break ties toward the first index.
    x = rng.integers(-4, 4, (M, N)).astype(np.float32)
    out = np.empty(M if axis == 1 else N, np.float32)
    idx = np.zeros_like(out, dtype=np.int32)
    reduce_kernel[(1,)](x, out, idx, AXIS=axis, OP=op, M=M, N=N)
    if op == "argmax":
        np.testing.assert_array_equal(out, x.max(axis=axis))
        np.testing.assert_array_equal(idx, x.argmax(axis=axis))
    elif op == "argmin":
        np.testing.assert_array_equal(out, x.argmin(axis=axis))
    else:
        np.testing.assert_array_equal(out, getattr(x.astype(np.float64), op)(axis=axis))


@tessera.jit
def sum_all_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, BLOCK))
    x2 = tl.reshape(x, [BLOCK // 8, 8])
    total = tl.sum(x2)                          # axis=None: everything
    kept = tl.sum(x2, axis=1, keep_dims=True)   # [BLOCK // 8, 1]
    tl.store(out_ptr, total)
    tl.store(out_ptr + 1 + tl.arange(0, BLOCK // 8)[:, None], kept)


def test_sum_all_and_keep_dims():
    x = rng.integers(-1000, 1000, 256).astype(np.int8)
    out = np.empty(1 + 32, np.int32)
    sum_all_kernel[(1,)](x, out, BLOCK=256)
    assert out[0] == x.astype(np.int64).sum()  # int8 sums accumulate in int32
    np.testing.assert_array_equal(out[1:], x.astype(np.int64).reshape(32, 8).sum(1))


@tessera.jit
def add_pair(a, b):
    return a + b


@tessera.jit
def max_and_count(v1, c1, v2, c2):
    return tl.maximum(v1, v2), c1 + c2


@tessera.jit
def scan_kernel(x_ptr, cum_ptr, rev_ptr, prod_ptr, custom_ptr, red_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(cum_ptr + offs, tl.cumsum(x, 0))
    tl.store(rev_ptr + offs, tl.cumsum(x, 0, reverse=True))
    tl.store(prod_ptr + offs, tl.cumprod(x % 3 + 1, 0))
    tl.store(custom_ptr + offs, tl.associative_scan(x, 0, add_pair))
    m, c = tl.reduce((x, tl.full([BLOCK], 1, tl.int32)), 0, max_and_count)
    tl.store(red_ptr, m)
    tl.store(red_ptr + 1, c)


def test_scans_and_custom_combine():
    x = rng.integers(-50, 50, 128).astype(np.int32)
    cum, rev, prod, custom = (np.empty(128, np.int32) for _ in range(4))
    red = np.empty(2, np.int32)
    scan_kernel[(1,)](x, cum, rev, prod, custom, red, BLOCK=128)
    np.testing.assert_array_equal(cum, np.cumsum(x))
    np.testing.assert_array_equal(rev, np.cumsum(x[::-1])[::-1])
    np.testing.assert_array_equal(prod, np.cumprod(np.fmod(x, 3) + 1).astype(np.int32))
    np.testing.assert_array_equal(custom, np.cumsum(x))
    np.testing.assert_array_equal(red, [x.max(), 128])


# -- dot ---------------------------------------------------------------------------------

@tessera.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr,
               PRECISION: tl.constexpr):
    rm, rn, rk = tl.arange(0, M), tl.arange(0, N), tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    c = tl.dot(a, b, input_precision=PRECISION)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], c)


def test_dot_int8():
    a = rng.integers(-128, 128, (32, 64)).astype(np.int8)
    b = rng.integers(-128, 128, (64, 16)).astype(np.int8)
    c = np.empty((32, 16), np.int32)
    dot_kernel[(1,)](a, b, c, M=32, N=16, K=64, PRECISION="ieee")
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))


def test_dot_fp32_ieee():
    a = rng.standard_normal((16, 32)).astype(np.float32)
    b = rng.standard_normal((32, 64)).astype(np.float32)
    c = np.empty((16, 64), np.float32)
    dot_kernel[(1,)](a, b, c, M=16, N=64, K=32, PRECISION="ieee")
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


# -- control flow ----------------------------------------------------------------------------

@tessera.jit
def collatz_kernel(x_ptr, steps_ptr):
    pid = tl.program_id(0)
    v = tl.load(x_ptr + pid)
    steps = 0
    while v != 1:
        if v % 2 == 0:
            v = v // 2
        else:
            v = 3 * v + 1
        steps += 1
    tl.store(steps_ptr + pid, steps)


def collatz(v):
    steps = 0
    while v != 1:
        v = v // 2 if v % 2 == 0 else 3 * v + 1
        steps += 1
    return steps


def test_while_and_runtime_if():
    x = rng.integers(1, 10_000, 50).astype(np.int32)
    steps = np.empty(50, np.int32)
    collatz_kernel[(50,)](x, steps)
    np.testing.assert_array_equal(steps, [collatz(int(v)) for v in x])


@tessera.jit
def early_return_kernel(x_ptr, out_ptr, n, limit):
    pid = tl.program_id(0)
    if pid >= n:
        return
    v = tl.load(x_ptr + pid)
    if v > limit:
        return
    tl.store(out_ptr + pid, v * 2)


def test_early_return():
    x = rng.standard_normal(40).astype(np.float32)
    out = np.full(48, -7.0, np.float32)
    early_return_kernel[(48,)](x, out, 40, 0.5)
    expected = np.full(48, -7.0, np.float32)
    keep = x <= 0.5
    expected[:40][keep] = x[keep] * 2
    np.testing.assert_array_equal(out, expected)


@tessera.jit
def stats(x):
    return tl.sum(x, 0), tl.max(x, 0)


@tessera.jit
def helper_calls_kernel(x_ptr, out_ptr, scale, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
    acc = 0.0
    for i in tl.static_range(UNROLL):
        x = tl.load(x_ptr + i * BLOCK + tl.arange(0, BLOCK))
        s, m = stats(x * scale)
        acc += s + m
    tl.store(out_ptr, acc)


def test_jit_helpers_static_range_and_scalar_args():
    x = rng.standard_normal((3, 64)).astype(np.float32)
    out = np.empty(1, np.float32)
    helper_calls_kernel[(1,)](x, out, 0.5, BLOCK=64, UNROLL=3)
    xs = x.astype(np.float64) * 0.5
    # A float32 sum of 192 terms: its error scales with the terms, not the
    # result (which may come near zero).
    scale = (np.abs(xs).sum(1) + np.abs(xs).max(1)).sum()
    np.testing.assert_allclose(out[0], (xs.sum(1) + xs.max(1)).sum(), rtol=1e-5, atol=1e-6 * scale)


@tessera.jit
def _weighted(pair):
    """A tuple argument: a tensor and (a tensor, a compile-time weight)."""
    a, (b, w) = pair
    return a + b * w


@tessera.jit
def _tile_at(ptr, step):
    """A block pointer argument, advanced and read in the helper."""
    return tl.load(tl.advance(ptr, [step, 0]), boundary_check=(0, 1), padding_option="zero")


@tessera.jit
def aggregate_args_kernel(X, Out, M, N, BLOCK: tl.constexpr):
    bp = tl.make_block_ptr(X, shape=(M, N), strides=(N, 1), offsets=(0, 0),
                           block_shape=(BLOCK, BLOCK), order=(1, 0))
    top = _tile_at(bp, 0)
    below = _tile_at(bp, BLOCK)
    r = tl.arange(0, BLOCK)
    out = Out + r[:, None] * BLOCK + r[None, :]
    tl.store(out, _weighted((top, (below, 3.0))))
    tl.store(out + BLOCK * BLOCK, _weighted([below, (top, 2)]))


def test_jit_helpers_take_tuples_and_block_pointers():
    """Tuples (nested, with compile-time members) and block pointers as
    arguments of @tessera.jit helpers: their run-time fields become the
    helper's arguments; rows past the array read zero."""
    M, N, B = 24, 16, 16
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.empty((2, B, B), np.float32)
    aggregate_args_kernel[(1,)](x, out, M, N, BLOCK=B)
    top = x[:B].astype(np.float64)
    below = np.zeros((B, B))
    below[:M - B] = x[B:]
    np.testing.assert_allclose(out[0], top + 3 * below, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[1], below + 2 * top, rtol=1e-6, atol=1e-6)


@tessera.jit
def grid_kernel(out_ptr):
    x, y, z = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    nx, ny = tl.num_programs(0), tl.num_programs(1)
    tl.store(out_ptr + (z * ny + y) * nx + x, x + 10 * y + 100 * z + 1000 * tl.num_programs(2))


def test_3d_grid():
    out = np.zeros((4, 3, 5), np.int32)
    grid_kernel[(5, 3, 4)](out)
    z, y, x = np.meshgrid(range(4), range(3), range(5), indexing="ij")
    np.testing.assert_array_equal(out, x + 10 * y + 100 * z + 4000)


# -- atomics -----------------------------------------------------------------------------------

@tessera.jit
def atomic_kernel(x_ptr, sum_ptr, max_ptr, count_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    tl.atomic_add(sum_ptr, tl.sum(x, 0))
    tl.atomic_max(max_ptr + offs % 4, x, mask=mask)
    tl.atomic_add(count_ptr, 1)


def test_atomics_from_many_programs():
    n = 5000
    x = rng.standard_normal(n).astype(np.float32)
    total = np.zeros(1, np.float32)
    maxes = np.full(4, -np.inf, np.float32)
    count = np.zeros(1, np.int32)
    programs = tessera.cdiv(n, 64)
    atomic_kernel[(programs,)](x, total, maxes, count, n, BLOCK=64)
    assert count[0] == programs
    np.testing.assert_allclose(total[0], x.astype(np.float64).sum(), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(maxes, [x[i::4].max() for i in range(4)])


@tessera.jit
def cas_kernel(lock_ptr, counter_ptr):
    # A spin lock: every program increments the counter non-atomically
    # inside the critical section.
    while tl.atomic_cas(lock_ptr, 0, 1) != 0:
        pass
    v = tl.load(counter_ptr, volatile=True)
    tl.store(counter_ptr, v + 1)
    tl.atomic_xchg(lock_ptr, 0)


def test_atomic_cas_lock():
    lock = np.zeros(1, np.int32)
    counter = np.zeros(1, np.int32)
    cas_kernel[(500,)](lock, counter)
    assert counter[0] == 500 and lock[0] == 0


def test_fp8_constant_bits():
    """fp8 constants round to the nearest value and saturate like the GPU's
    cvt.satfinite (infinities to the largest finite value), keeping -0."""
    import tessera.language as tl
    e4, e5 = tl.float8e4nv, tl.float8e5
    assert [e4.to_bits(v) for v in (1.0, -2.5, 448.0, 1e9, float("inf"), float("-inf"), -0.0)] == \
        [0x38, 0xC2, 0x7E, 0x7E, 0x7E, 0xFE, 0x80]
    assert [e5.to_bits(v) for v in (1.0, 1000.0, 57344.0, float("inf"), float("-inf"), -0.0)] == \
        [0x3C, 0x64, 0x7B, 0x7B, 0xFB, 0x80]


@tessera.jit
def print_kernel(X, N, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    x = tl.load(X + i, mask=i < N, other=0.0)
    tl.device_print("x: ", x)
    tl.device_print("n ", N, hex=True)
    tl.device_print("pair ", i.reshape(2, 2), x < 1)


def test_device_print_on_cpu(capfd):
    """tl.device_print: a line per element, as Triton's (program ids, the
    element's index, the prefix, the value), on the CPU backend."""
    if tessera.backends.active().name != "cpu":
        pytest.skip("the CPU backend's printing")
    x = rng.standard_normal(4).astype(np.float32)
    print_kernel[(2,)](x, 3, BLOCK=4)
    lines = capfd.readouterr().out.splitlines()
    for pid in (0, 1):
        mine = [line for line in lines if line.startswith(f"pid ({pid}, 0, 0) ")]
        got = [line[len(f"pid ({pid}, 0, 0) "):] for line in mine]
        want = [f"idx ({i}) x: {v:f}" for i, v in enumerate([*x[:3], 0.0])] + ["n 0x3"]
        want += [f"idx ({i // 2}, {i % 2}) pair (operand 0) {i}" for i in range(4)]
        want += [f"idx ({i}) pair (operand 1) {int(v < 1)}" for i, v in enumerate([*x[:3], 0.0])]
        assert got == want, (got, want)


@tessera.jit
def assert_kernel(X, Y, N, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(X + i, mask=i < N, other=0.0)
    tl.device_assert(x >= 0, "x must be non-negative")
    tl.store(Y + i, x * 2, mask=i < N)


def test_device_assert_on_cpu():
    """tl.device_assert: a false element stops its program before the code
    after the assert (as a GPU kernel traps) and the launch raises an
    AssertionError naming the Python line, the program and the element."""
    if tessera.backends.active().name != "cpu":
        pytest.skip("the CPU backend's assertions")
    x = rng.random(64).astype(np.float32)
    y = np.zeros(64, np.float32)
    assert_kernel[(4,)](x, y, 64, BLOCK=16)
    np.testing.assert_array_equal(y, 2 * x)
    x[37] = -1.0
    y[:] = 0
    with pytest.raises(AssertionError) as info:
        assert_kernel[(4,)](x, y, 64, BLOCK=16, num_threads=1)
    line = assert_kernel.fn.__code__.co_firstlineno + 4  # the decorator's line, then 4 down
    assert f"test_language.py:{line}: x must be non-negative (program (2, 0, 0), element (5))" \
        in str(info.value)
    assert not y[32:48].any()  # program 2 stopped at the assert


@tessera.jit
def nan_kernel(X, Y, Out, N: tl.constexpr):
    i = tl.arange(0, N)
    x, y = tl.load(X + i), tl.load(Y + i)
    tl.store(Out + i, tl.maximum(x, y))
    tl.store(Out + N + i, tl.maximum(x, y, propagate_nan=tl.PropagateNan.ALL))
    tl.store(Out + 2 * N + i, tl.minimum(x, y, propagate_nan=tl.PropagateNan.ALL))
    tl.store(Out + 3 * N + i, tl.clamp(x, -0.5, 0.5, propagate_nan=tl.PropagateNan.ALL))


def test_propagate_nan():
    """tl.maximum / minimum / clamp: NaNs lose to numbers by default (as
    Triton's PropagateNan.NONE) and win with PropagateNan.ALL."""
    x = rng.standard_normal(16).astype(np.float32)
    y = rng.standard_normal(16).astype(np.float32)
    x[3], y[5] = np.nan, np.nan
    out = np.zeros((4, 16), np.float32)
    nan_kernel[(1,)](x, y, out, N=16)
    np.testing.assert_array_equal(out[0], np.fmax(x, y))
    np.testing.assert_array_equal(out[1], np.maximum(x, y))
    np.testing.assert_array_equal(out[2], np.minimum(x, y))
    np.testing.assert_array_equal(out[3], np.clip(x, -0.5, 0.5))


# -- loops ---------------------------------------------------------------------

@tessera.jit
def unrolled_recurrence(x_ptr, out_ptr, lo, hi, step, BLOCK: tl.constexpr,
                        UNROLL: tl.constexpr):
    """Two carried values whose result depends on the order of the
    iterations; `tl.range(..., loop_unroll_factor=UNROLL)` must not change
    it (the GPU backends repeat the body, the rest of the iterations in a
    loop of their own)."""
    offs = tl.arange(0, BLOCK)
    a = tl.zeros([BLOCK], dtype=tl.float32)
    b = tl.zeros([BLOCK], dtype=tl.float32) + 1.0
    for i in tl.range(lo, hi, step, loop_unroll_factor=UNROLL):
        x = tl.load(x_ptr + i * BLOCK + offs)
        a = a * 0.5 + x * b
        b = b * 0.9 + a * 0.1
    tl.store(out_ptr + offs, a + b)


def unrolled_recurrence_reference(x, lo, hi, step):
    a = np.zeros(x.shape[1])
    b = np.ones(x.shape[1])
    for i in range(lo, hi, step):
        a = a * 0.5 + x[i] * b
        b = b * 0.9 + a * 0.1
    return a + b


UNROLL_CASES = [(0, 7, 1, 2), (0, 8, 1, 2), (1, 10, 2, 3), (3, 3, 1, 2), (5, 2, 1, 2),
                (0, 11, 3, 4), (0, 1, 1, 2)]


@pytest.mark.parametrize("lo,hi,step,unroll", UNROLL_CASES)
def test_loop_unroll_factor_keeps_the_iterations(lo, hi, step, unroll):
    x = rng.standard_normal((12, 64)).astype(np.float32)
    out = np.zeros(64, np.float32)
    unrolled_recurrence[(1,)](x, out, lo, hi, step, BLOCK=64, UNROLL=unroll)
    np.testing.assert_allclose(out, unrolled_recurrence_reference(x.astype(np.float64), lo, hi,
                                                                  step), rtol=1e-5, atol=1e-5)


@tessera.jit
def unrolled_dot(a_ptr, b_ptr, c_ptr, K, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
    """A K loop of dots (pipelined on the GPU) unrolled UNROLL times."""
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK, BLOCK], dtype=tl.float32)
    for kk in tl.range(0, K, BLOCK, loop_unroll_factor=UNROLL):
        a = tl.load(a_ptr + offs[:, None] * K + (kk + offs)[None, :])
        b = tl.load(b_ptr + (kk + offs)[:, None] * BLOCK + offs[None, :])
        acc = tl.dot(a, b, acc)
    tl.store(c_ptr + offs[:, None] * BLOCK + offs[None, :], acc)


def test_unrolled_dot_loop():
    a = rng.standard_normal((32, 96)).astype(np.float32)
    b = rng.standard_normal((96, 32)).astype(np.float32)
    c = np.zeros((32, 32), np.float32)
    unrolled_dot[(1,)](a, b, c, 96, BLOCK=32, UNROLL=2)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
