"""Tensor descriptors (tl.make_tensor_descriptor, desc.load, desc.store):
blocks of strided N-D arrays with zeros read and nothing written outside
them; checked against numpy on fresh random data on the CPU backend
(test_gpu.py runs them on the GPU, TMA on sm_90a)."""

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera import CompilationError
from test_block_ptr import load_example

rng = np.random.default_rng()


@pytest.mark.parametrize("M,N,K", [(64, 64, 64), (70, 90, 50), (1, 33, 17), (129, 5, 200)])
def test_descriptor_matmul(M, N, K):
    """examples/07: ragged edges in every dimension read zeros."""
    ex = load_example("07_descriptor_matmul")
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = ex.matmul(a, b, BLOCK_M=32, BLOCK_N=32, BLOCK_K=16)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@tessera.jit
def shift3d(src, dst, D0, D1, D2, s0, s1, o0, o1, o2, B0: tl.constexpr, B1: tl.constexpr,
            B2: tl.constexpr):
    """dst block (p0, p1, p2) = src block at (p0, p1, p2) * B + (o0, o1, o2)."""
    d = tl.make_tensor_descriptor(src, [D0, D1, D2], [s0, s1, 1], [B0, B1, B2])
    e = tl.make_tensor_descriptor(dst, [D0, D1, D2], [s0, s1, 1], [B0, B1, B2])
    p0, p1, p2 = tl.program_id(0) * B0, tl.program_id(1) * B1, tl.program_id(2) * B2
    e.store([p0, p1, p2], d.load([p0 + o0, p1 + o1, p2 + o2]) * 2)


@pytest.mark.parametrize("offsets", [(0, 0, 0), (1, -2, 3), (-5, 4, -1)])
def test_descriptor_3d_out_of_bounds(offsets):
    """3-D blocks at shifted (also negative) offsets: elements outside the
    array read as zero; the store's own edges drop what is outside."""
    D = (7, 10, 13)
    x = rng.standard_normal(D).astype(np.float32)
    y = np.full(D, np.nan, np.float32)
    B = (4, 4, 8)
    grid = tuple(-(-d // b) for d, b in zip(D, B))
    shift3d[grid](x, y, *D, D[1] * D[2], D[2], *offsets, B0=B[0], B1=B[1], B2=B[2])
    padded = np.zeros([d + 40 for d in D], np.float64)
    padded[20:20 + D[0], 20:20 + D[1], 20:20 + D[2]] = x
    o = [20 + v for v in offsets]
    ref = 2 * padded[o[0]:o[0] + D[0], o[1]:o[1] + D[1], o[2]:o[2] + D[2]]
    np.testing.assert_array_equal(y, ref.astype(np.float32))


@tessera.jit
def rows_of_view(src, dst, R, C, stride, BR: tl.constexpr, BC: tl.constexpr):
    d = tl.make_tensor_descriptor(src, [R, C], [stride, 1], [BR, BC])
    out = tl.make_tensor_descriptor(dst, [R, C], [C, 1], [BR, BC])
    r, c = tl.program_id(0) * BR, tl.program_id(1) * BC
    out.store([r, c], d.load([r, c]) + 1)


def test_descriptor_strided_rows():
    """A view whose rows are further apart than their length, int32 data."""
    big = rng.integers(-100, 100, (40, 64)).astype(np.int32)
    view = big[3:38, 5:30]
    out = np.zeros((35, 25), np.int32)
    rows_of_view[(tessera.cdiv(35, 8), tessera.cdiv(25, 16))](
        big[3:, 5:], out, 35, 25, 64, BR=8, BC=16)
    np.testing.assert_array_equal(out, view + 1)


@tessera.jit
def last_stride_not_one(x_ptr, n, s):
    d = tl.make_tensor_descriptor(x_ptr, [n, n], [n, s], [16, 16])  # <- here
    d.store([0, 0], d.load([0, 0]))


@tessera.jit
def wrong_offsets(x_ptr, n):
    d = tl.make_tensor_descriptor(x_ptr, [n, n], [n, 1], [16, 16])
    d.store([0, 0], d.load([0]))  # <- here


@tessera.jit
def block_not_power_of_two(x_ptr, n):
    d = tl.make_tensor_descriptor(x_ptr, [n], [1], [24])  # <- here
    d.store([0], d.load([0]))


@tessera.jit
def atomic_add_wrong_type(x_ptr, n):
    d = tl.make_tensor_descriptor(x_ptr, [n], [1], [16])
    d.atomic_add([0], tl.zeros((16,), tl.int16))  # <- here


@tessera.jit
def store_wrong_shape(x_ptr, n):
    d = tl.make_tensor_descriptor(x_ptr, [n, n], [n, 1], [16, 16])
    d.store([0, 0], tl.zeros((16, 32), tl.float32))  # <- here


@pytest.mark.parametrize("kernel,message", [
    (last_stride_not_one, "the last stride must be the constant 1"),
    (wrong_offsets, "give one offset per dimension of the 2-D block"),
    (block_not_power_of_two, "block_shape [24] must be compile-time powers of two"),
    (store_wrong_shape, "a [16, 32] value into blocks of [16, 16]"),
    (atomic_add_wrong_type, "adds 32- or 64-bit integers or floats (not fp8), not tl.int16"),
])
def test_descriptor_errors(kernel, message):
    import inspect
    x = np.zeros(1024, np.int16 if kernel is atomic_add_wrong_type else np.float32)
    with pytest.raises(CompilationError) as info:
        kernel[(1,)](x, 32, 3) if kernel is last_stride_not_one else kernel[(1,)](x, 32)
    lines, start = inspect.getsourcelines(kernel.fn)
    marked = next(start + i for i, line in enumerate(lines) if "# <- here" in line)
    assert info.value.lineno == marked, str(info.value)
    assert message in info.value.message, str(info.value)


@pytest.mark.parametrize("block,warps,stages,copies", [
    ((128, 128, 64), 8, 4, "cp.async.bulk.tensor"),  # wgmma: TMA
    ((32, 64, 32), 4, 3, "cp.async.cg"),  # mma.sync (M < 64 per warpgroup): cp.async
    ((64, 64, 32), 4, 1, "ld.global.v4"),  # not pipelined: vector loads
])
def test_descriptor_loads_on_sm90a(block, warps, stages, copies):
    """On sm_90a (compiled to PTX here, no GPU needed) descriptor loads
    that do not become TMA copies are compiled like pointer loads (copied
    asynchronously or loaded as vectors), not read element by element."""
    from tessera.backends.nvidia import NVIDIABackend
    from tessera.compiler.frontend import ASTSource
    ex = load_example("07_descriptor_matmul")
    sig = {"a_ptr": "*bf16:16", "b_ptr": "*bf16:16", "c_ptr": "*bf16:16", "M": "i32:16",
           "N": "i32:16", "K": "i32:16"}
    bm, bn, bk = block
    ir = ASTSource(ex.matmul_kernel, sig,
                   dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8)).make_ir()
    binary = NVIDIABackend(arch="sm_90a").compile(
        ir, "matmul_kernel", False, {"num_warps": warps, "num_stages": stages})
    ptx = binary.partition(b"\n")[2].decode()
    assert copies in ptx
    # Element by element, a 32 x 32 tile would be 1024 scalar loads.
    assert ptx.count("ld.global.u16") + ptx.count("ld.global.b16") < 16, ptx.count("ld.global")


@pytest.mark.parametrize("M,N,K,block", [(300, 200, 100, (32, 32, 16)), (64, 64, 64, (32, 32, 32)),
                                         (1, 130, 40, (16, 64, 16))])
def test_persistent_matmul(M, N, K, block):
    """examples/10: programs looping over tiles (more tiles than programs,
    a ragged last tile, fewer tiles than programs) against float64."""
    ex = load_example("10_persistent_matmul")
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    bm, bn, bk = block
    c = ex.matmul(a, b, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=2)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_persistent_matmul_shares_shared_memory():
    """The persistent kernel's pipelined loop (inside the tile loop) and its
    epilogue use shared memory one after the other: the same bytes as the
    one-tile kernel (examples/07), not both added up (which would not fit
    128 x 256 x 64 tiles in three stages on an H100/H200)."""
    from tessera.backends.nvidia import NVIDIABackend
    from tessera.compiler.frontend import ASTSource
    sig = {"a_ptr": "*bf16:16", "b_ptr": "*bf16:16", "c_ptr": "*bf16:16", "M": "i32:16",
           "N": "i32:16", "K": "i32:16"}
    blocks = dict(BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, GROUP_M=8)
    shared = []
    for name, kernel, extra in [("07_descriptor_matmul", "matmul_kernel", {}),
                                ("10_persistent_matmul", "matmul_persistent", {"NUM_SMS": 132})]:
        fn = getattr(load_example(name), kernel)
        ir = ASTSource(fn, sig, dict(blocks, **extra)).make_ir()
        header = NVIDIABackend(arch="sm_90a").compile(
            ir, kernel, False, {"num_warps": 8, "num_stages": 3}).partition(b"\n")[0]
        shared.append(int(header.split(b":")[2]))
    assert shared[1] == shared[0] <= 232448, shared


@tessera.jit
def accumulate_blocks(src, dst, R, C, stride, o0, o1, BR: tl.constexpr, BC: tl.constexpr):
    """Program (i, j) adds src's block (i, j) into dst's block at (i, j) *
    B + (o0, o1) and, again halved, at (i, j) * B (the blocks overlap when
    the offsets are not whole blocks)."""
    d = tl.make_tensor_descriptor(src, [R, C], [stride, 1], [BR, BC])
    out = tl.make_tensor_descriptor(dst, [R, C], [C, 1], [BR, BC])
    r, c = tl.program_id(0) * BR, tl.program_id(1) * BC
    x = d.load([r, c])
    out.atomic_add([r + o0, c + o1], x)
    out.atomic_add([r, c], x * 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("offsets", [(0, 0), (3, -5), (-17, 9)])
def test_descriptor_atomic_add(dtype, offsets):
    """desc.atomic_add: overlapping blocks from many programs add up, and
    nothing outside the array is written (against numpy, float64)."""
    R, C, BR, BC = 45, 70, 16, 32
    if dtype == np.int32:
        x = rng.integers(-1000, 1000, (R, C + 3)).astype(np.int32) * 2  # halves exact
    else:
        x = rng.standard_normal((R, C + 3)).astype(np.float32)
    base = rng.integers(-9, 9, (R, C)).astype(dtype)
    y = base.copy()
    grid = (-(-R // BR), -(-C // BC))
    accumulate_blocks[grid](x, y, R, C, C + 3, *offsets, BR=BR, BC=BC)
    want = base.astype(np.float64) + 0.5 * x[:, :C]
    o0, o1 = offsets
    for i in range(R):
        for j in range(C):
            if 0 <= i + o0 < R and 0 <= j + o1 < C:
                want[i + o0, j + o1] += x[i, j]
    if dtype == np.int32:
        np.testing.assert_array_equal(y, want.astype(np.int64))
    else:
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tma", [True, False])
def test_descriptor_atomic_add_on_sm90a(tma, tmp_path):
    """On sm_90a (PTX here, no GPU needed) a 2-D float block's atomic add is
    TMA's bulk reduction (`cp.reduce.async.bulk.tensor ... .add`: the block
    written to shared memory once, one tensor map, unswizzled); with TMA
    off (TESSERA_TMA=0) it is `red`, with no value back, four adjacent
    floats at a time where the row stride keeps them 16-byte aligned.
    ptxas accepts both."""
    import subprocess
    from tessera.backends.nvidia import NVIDIABackend
    from tessera.compiler.frontend import ASTSource
    from test_ptx_compile import PTXAS
    sig = {"src": "*fp32:16", "dst": "*fp32:16", "R": "i32", "C": "i32:16", "stride": "i32:16",
           "o0": "i32", "o1": "i32"}
    ir = ASTSource(accumulate_blocks, sig, dict(BR=16, BC=32)).make_ir()
    backend = NVIDIABackend(arch="sm_90a")
    backend.tma = tma
    header, _, ptx = backend.compile(ir, "accumulate_blocks", False,
                                     {"num_warps": 4, "num_stages": 3}).partition(b"\n")
    maps = header.decode().split(":")[3]
    if tma:
        assert ptx.count(b"cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile") == 2
        assert b"\tred." not in ptx and b"\tatom." not in ptx
        assert maps.split("|") == ["7,a1,a3,a2,a3,32,16,0"]  # f32, box 32 x 16, no swizzle
    else:
        assert b"red.relaxed.gpu.global.add.v4.f32" in ptx and b"atom." not in ptx
        assert maps == ""
    if PTXAS:
        (tmp_path / "k.ptx").write_bytes(ptx)
        r = subprocess.run([PTXAS, "-arch=sm_90a", str(tmp_path / "k.ptx"), "-o",
                            str(tmp_path / "k.cubin")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@tessera.jit
def _scaled_block(desc, row, col, scale):
    """A descriptor passed to a @tessera.jit helper: its block, scaled."""
    return desc.load([row, col]) * scale


@tessera.jit
def _store_block(desc, row, col, value):
    desc.store([row, col], value)


@tessera.jit
def copy_through_helpers(src, dst, M, N, stride, scale, BM: tl.constexpr, BN: tl.constexpr):
    d = tl.make_tensor_descriptor(src, [M, N], [stride, 1], [BM, BN])
    e = tl.make_tensor_descriptor(dst, [M, N], [stride, 1], [BM, BN])
    r, c = tl.program_id(0) * BM, tl.program_id(1) * BN
    _store_block(e, r, c, _scaled_block(d, r + 1, c, scale))


@pytest.mark.parametrize("M,N", [(64, 32), (70, 45)])
def test_descriptor_passed_to_helpers(M, N):
    """Descriptors as arguments of @tessera.jit functions (base, shape and
    strides travel as the callee's arguments): the block one row down,
    scaled; rows past the end read zero, columns past it are not written."""
    stride = N + 3
    src = rng.standard_normal((M, stride)).astype(np.float32)
    dst = np.full((M, stride), -7.0, np.float32)
    copy_through_helpers[(-(-M // 16), -(-N // 16))](src, dst, M, N, stride, 0.5, BM=16, BN=16)
    want = np.zeros((M, N), np.float64)
    want[:-1] = src[1:, :N].astype(np.float64) * 0.5
    np.testing.assert_allclose(dst[:, :N], want, rtol=1e-6)
    assert (dst[:, N:] == -7.0).all()


def test_descriptor_passed_to_a_helper_is_a_tma_copy_on_sm90a():
    """On sm_90a the helper's descriptor load of a wgmma operand is still a
    TMA copy once the helper is inlined."""
    from tessera import _C
    from tessera.compiler.frontend import ASTSource

    @tessera.jit
    def _tile(desc, row):
        return desc.load([row, 0])

    @tessera.jit
    def scores(Q, K, Out, N, BLOCK: tl.constexpr, D: tl.constexpr):
        kd = tl.make_tensor_descriptor(K, [N, D], [D, 1], [BLOCK, D])
        rows = tl.arange(0, 64)
        d = tl.arange(0, D)
        q = tl.load(Q + rows[:, None] * D + d[None, :])
        acc = tl.zeros([64, BLOCK], dtype=tl.float32)
        for i in range(0, N // BLOCK):
            acc += tl.dot(q, tl.trans(_tile(kd, i * BLOCK)))
        cols = tl.arange(0, BLOCK)
        tl.store(Out + rows[:, None] * BLOCK + cols[None, :], acc)

    sig = {"Q": "*bf16:16", "K": "*bf16:16", "Out": "*fp32:16", "N": "i32:16"}
    ok, ptx, _, _, diagnostics, _, maps, _ = _C.nvidia.compile(
        ASTSource(scores, sig, dict(BLOCK=64, D=64)).make_ir(), "scores", "sm_90a", 4,
        cubin=False, num_stages=3)
    assert ok, diagnostics
    assert len(maps) == 1 and "cp.async.bulk.tensor" in ptx


@tessera.jit
def _descriptor_of(X, M, N, stride, B: tl.constexpr):
    return tl.make_tensor_descriptor(X, [M, N], [stride, 1], [B, B])


@tessera.jit
def descriptor_carried(X, Y, M, N, stride, steps, B: tl.constexpr):
    """A descriptor made by a helper, carried by a loop whose body may
    replace it (a run-time if): the sum of blocks (i, 0), from the second
    array once i > 1."""
    d = _descriptor_of(X, M, N, stride, B)
    acc = tl.zeros([B, B], dtype=tl.float32)
    for i in range(0, steps):
        acc += d.load([i * B, 0])
        if i == 1:
            d = _descriptor_of(Y, M, N, stride, B)
    e = _descriptor_of(Y, M, N, stride, B)
    e.store([0, 0], acc)


def test_descriptor_returned_by_a_helper_and_carried():
    M, N, B = 70, 16, 16
    stride = N + 5
    x = rng.standard_normal((M, stride)).astype(np.float32)
    y = rng.standard_normal((M, stride)).astype(np.float32)
    y0 = y.copy()
    descriptor_carried[(1,)](x, y, M, N, stride, 5, B=B)

    def block(a, i):
        out = np.zeros((B, B))
        rows = a[i * B:(i + 1) * B, :N]
        out[:len(rows)] = rows
        return out
    want = block(x, 0) + block(x, 1) + sum(block(y0, i) for i in (2, 3, 4))
    np.testing.assert_allclose(y[:B, :N], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y[B:], y0[B:])


@tessera.jit
def _mixed_returns(X, M, N, flag, B: tl.constexpr):
    if flag > 0:
        return tl.make_tensor_descriptor(X, [M, N], [N, 1], [B, B])
    else:
        return tl.make_tensor_descriptor(X, [M, N], [N, 1], [B, 2 * B])


@tessera.jit
def mixed_returns_kernel(X, M, N, flag, B: tl.constexpr):
    d = _mixed_returns(X, M, N, flag, B)
    d.store([0, 0], 1.0)


def test_helper_returning_different_descriptors_is_an_error():
    with pytest.raises(CompilationError, match="returns block pointers or tensor descriptors"):
        mixed_returns_kernel[(1,)](np.zeros((16, 32), np.float32), 16, 32, 2, B=16)
