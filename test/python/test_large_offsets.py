"""Offsets past 2^31 elements: a pointer argument whose array spans 2^31
elements or more is specialized (':i64') and its offsets are computed in
64 bits (tile-widen-offsets), instead of wrapping to a wrong address."""

import numpy as np
import pytest

import tessera
import tessera.language as tl


@tessera.jit
def row_copy(x_ptr, out_ptr, row, stride, BLOCK: tl.constexpr):
    cols = tl.arange(0, BLOCK)
    tl.store(out_ptr + cols, tl.load(x_ptr + row * stride + cols))


def large_array():
    """2^31 + 2^15 bytes, zero pages mapped lazily: only the touched row is
    ever backed by memory."""
    try:
        return np.zeros((2**16 + 1, 2**15), np.int8)
    except MemoryError:
        pytest.skip("cannot map 2 GiB")


def test_row_past_two_to_the_31():
    x = large_array()
    row = 2**16  # row * stride = 2^31: wraps negative in 32 bits
    x[row, :16] = np.arange(1, 17, dtype=np.int8)
    out = np.zeros(16, np.int8)
    row_copy[(1,)](x, out, row, x.shape[1], BLOCK=16)
    np.testing.assert_array_equal(out, x[row, :16])
    # and the small rows still read right with the same kernel
    x[3, :16] = -np.arange(1, 17, dtype=np.int8)
    row_copy[(1,)](x, out, 3, x.shape[1], BLOCK=16)
    np.testing.assert_array_equal(out, x[3, :16])


def test_kernel_compiled_for_32_bit_offsets_refuses_a_large_array():
    compiled = row_copy.warmup("*i8:16", "*i8:16", "i32", "i32:16", BLOCK=16, grid=(1,))
    x = large_array()
    out = np.zeros(16, np.int8)
    with pytest.raises(ValueError, match="spans 2\\^31 elements or more.*32-bit offsets"):
        compiled[(1,)](x, out, 2**16, x.shape[1], BLOCK=16)


def test_widened_kernel_is_another_specialization():
    compiled = row_copy.warmup("*i8:16:i64", "*i8:16", "i32", "i32:16", BLOCK=16, grid=(1,))
    assert "*i8:16:i64" in repr(compiled)
    x = np.arange(64, dtype=np.int8).reshape(4, 16)
    out = np.zeros(16, np.int8)
    compiled[(1,)](x, out, 2, 16, BLOCK=16)  # small arrays run on it too
    np.testing.assert_array_equal(out, x[2])
