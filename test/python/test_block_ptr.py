"""Block pointers: tl.make_block_ptr, tl.advance, loads and stores with
boundary_check and padding_option, carried by loops and branches; checked
against numpy on fresh random data (CPU backend; test_gpu.py runs the
GEMM of examples/06 on the GPU)."""

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera import CompilationError

rng = np.random.default_rng()


def load_example(name):
    """A kernel module of examples/ (06: the block-pointer matmul with autotune)."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_block_pointer_strided_views(tmp_path, monkeypatch):
    """The GEMM of examples/06 (block pointers; its square and ragged shapes
    are in test_examples.py) on views whose strides are not row-major."""
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    ex = load_example("06_block_ptr_matmul")
    big = rng.standard_normal((80, 90)).astype(np.float32)
    a = big[5:55:2, 3:40]  # rows strided by 2 elements of a larger array
    b = np.asfortranarray(rng.standard_normal((37, 20)).astype(np.float32))  # column-major
    c = ex.matmul(a, b)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@tessera.jit
def copy3d(src, dst, D0, D1, D2, s0, s1, s2, PAD: tl.constexpr, B0: tl.constexpr,
           B1: tl.constexpr, B2: tl.constexpr):
    p = tl.make_block_ptr(src, (D0, D1, D2), (s0, s1, s2),
                          (tl.program_id(0) * B0, tl.program_id(1) * B1, tl.program_id(2) * B2),
                          (B0, B1, B2), (2, 1, 0))
    q = tl.make_block_ptr(dst, (B0 * tl.num_programs(0), B1 * tl.num_programs(1),
                                B2 * tl.num_programs(2)),
                          (B1 * tl.num_programs(1) * B2 * tl.num_programs(2),
                           B2 * tl.num_programs(2), 1),
                          (tl.program_id(0) * B0, tl.program_id(1) * B1, tl.program_id(2) * B2),
                          (B0, B1, B2), (2, 1, 0))
    tl.store(q, tl.load(p, boundary_check=(0, 1, 2), padding_option=PAD))


@pytest.mark.parametrize("pad", ["zero", "nan"])
def test_3d_boundary_check_and_padding(pad):
    D = (5, 6, 7)
    x = rng.standard_normal(D).astype(np.float32)
    B = (4, 4, 4)
    grid = tuple(tessera.cdiv(d, b) for d, b in zip(D, B))
    out = np.full(tuple(g * b for g, b in zip(grid, B)), 7.0, np.float32)
    copy3d[grid](x, out, *D, *(s // 4 for s in x.strides), PAD=pad, B0=4, B1=4, B2=4)
    np.testing.assert_array_equal(out[:5, :6, :7], x)
    fill = 0.0 if pad == "zero" else np.nan
    rest = out.copy()
    rest[:5, :6, :7] = fill
    np.testing.assert_array_equal(rest, np.full_like(out, fill))


@tessera.jit
def shifted(src, dst, n, SHIFT: tl.constexpr, B: tl.constexpr):
    p = tl.make_block_ptr(src, (n,), (1,), (0,), (B,), (0,))
    if tl.program_id(0) == 1:
        p = tl.advance(p, (SHIFT,))
    q = tl.make_block_ptr(dst, (2 * B,), (1,), (tl.program_id(0) * B,), (B,), (0,))
    tl.store(q, tl.load(p, boundary_check=(0,), padding_option="zero"))


def test_block_pointer_through_a_branch():
    x = rng.standard_normal(40).astype(np.float32)
    out = np.zeros(32, np.float32)
    shifted[(2,)](x, out, 40, SHIFT=30, B=16)
    np.testing.assert_array_equal(out[:16], x[:16])
    np.testing.assert_array_equal(out[16:26], x[30:40])
    np.testing.assert_array_equal(out[26:], 0)


def bad_kernel(body, tmp_path):
    """A kernel with `body`, from a file (the front end reads its source)."""
    import importlib.util
    path = tmp_path / "bad_block_ptr_kernel.py"
    path.write_text("import tessera\nimport tessera.language as tl\n\n\n@tessera.jit\n"
                    "def k(x, y, n, B: tl.constexpr):\n" + body + "\n")
    spec = importlib.util.spec_from_file_location("bad_block_ptr_kernel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.k


@pytest.mark.parametrize("body,message", [
    ("    p = tl.make_block_ptr(x, (n,), (1,), (0,), (B,), (0,))\n"
     "    tl.load(p, boundary_check=(1,))", "boundary_check dimension 1 is not one of 0..0"),
    ("    p = tl.make_block_ptr(x, (n, n), (1,), (0, 0), (B, B), (1, 0))",
     "strides has 1 entries but block_shape has 2"),
    ("    p = tl.make_block_ptr(x, (n,), (1,), (0,), (12,), (0,))",
     "block_shape [12] must be compile-time powers of two"),
    ("    p = tl.make_block_ptr(x, (n,), (1,), (0,), (B,), (0,))\n"
     "    tl.load(p, padding_option='one')", "padding_option 'one' is not one of"),
    ("    p = tl.make_block_ptr(x, (n,), (1,), (0,), (B,), (0,))\n"
     "    tl.load(p, mask=n > 0)", "a block pointer takes boundary_check and padding_option"),
    ("    tl.load(x, boundary_check=(0,))", "boundary_check and padding_option need a block"),
    ("    p = tl.make_block_ptr(x, (n,), (1,), (0,), (B,), (0,))\n"
     "    tl.store(p, tl.zeros((2 * B,), tl.float32))",
     "a [32] value into a block pointer of block_shape [16]"),
    ("    p = tl.make_block_ptr(x, (n,), (1,), (0,), (B,), (0,))\n"
     "    for i in range(n):\n"
     "        p = tl.make_block_ptr(x, (n, n), (1, 1), (0, 0), (B, B), (1, 0))\n"
     "    tl.load(p)", "before the loop but"),
    ("    p = tl.advance(x, (1,))", "tl.advance expects a block pointer"),
])
def test_block_pointer_errors(body, message, tmp_path):
    k = bad_kernel(body, tmp_path)
    x = np.zeros(64, np.float32)
    with pytest.raises(CompilationError) as info:
        k[(1,)](x, x, 64, B=16)
    assert message in str(info.value)


@tessera.jit
def _rows_below(ptr, n):
    """Returns a block pointer (advanced n rows) and the block it points to."""
    moved = tl.advance(ptr, [n, 0])
    return moved, tl.load(moved, boundary_check=(0,), padding_option="zero")


@tessera.jit
def block_ptr_from_helper(X, Y, M, N: tl.constexpr, B: tl.constexpr):
    p = tl.make_block_ptr(X, shape=(M, N), strides=(N, 1), offsets=(0, 0), block_shape=(B, N),
                          order=(1, 0))
    q = tl.make_block_ptr(Y, shape=(M, N), strides=(N, 1), offsets=(0, 0), block_shape=(B, N),
                          order=(1, 0))
    p, first = _rows_below(p, B)
    p, second = _rows_below(p, B)
    tl.store(q, first + 10 * second, boundary_check=(0,))


def test_block_pointer_returned_by_a_helper():
    """A helper returning (block pointer, tile): the caller keeps advancing
    the returned pointer; rows past the end read zero."""
    M, N, B = 40, 16, 16
    x = rng.standard_normal((M, N)).astype(np.float32)
    y = np.zeros((M, N), np.float32)
    block_ptr_from_helper[(1,)](x, y, M, N=N, B=B)
    second = np.zeros((B, N))
    second[:M - 2 * B] = x[2 * B:]
    np.testing.assert_allclose(y[:B], x[B:2 * B] + 10 * second, rtol=1e-5, atol=1e-5)
