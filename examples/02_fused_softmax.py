"""Fused row softmax (Triton tutorial 02): each program walks rows with a
stride of the grid size; a row lives in one block of BLOCK_SIZE >= n_cols.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/02_fused_softmax.py
"""

import numpy as np

import tessera
import tessera.language as tl


@tessera.jit
def softmax_kernel(output_ptr, input_ptr, input_row_stride, output_row_stride, n_rows, n_cols,
                   BLOCK_SIZE: tl.constexpr, num_stages: tl.constexpr):
    row_start = tl.program_id(0)
    row_step = tl.num_programs(0)
    for row_idx in tl.range(row_start, n_rows, row_step, num_stages=num_stages):
        row_start_ptr = input_ptr + row_idx * input_row_stride
        col_offsets = tl.arange(0, BLOCK_SIZE)
        input_ptrs = row_start_ptr + col_offsets
        mask = col_offsets < n_cols
        row = tl.load(input_ptrs, mask=mask, other=-float("inf"))
        row_minus_max = row - tl.max(row, axis=0)
        numerator = tl.exp(row_minus_max)
        denominator = tl.sum(numerator, axis=0)
        softmax_output = numerator / denominator
        output_row_start_ptr = output_ptr + row_idx * output_row_stride
        output_ptrs = output_row_start_ptr + col_offsets
        tl.store(output_ptrs, softmax_output, mask=mask)


def softmax(x, num_programs=8):
    n_rows, n_cols = x.shape
    y = np.empty_like(x)
    block = tessera.next_power_of_2(n_cols)
    grid = (min(num_programs, n_rows),)
    softmax_kernel[grid](y, x, x.strides[0] // x.itemsize, y.strides[0] // y.itemsize,
                         n_rows, n_cols, BLOCK_SIZE=block, num_stages=2)
    return y


def reference(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    rng = np.random.default_rng(0)
    for shape in ((1, 7), (37, 100), (256, 781)):
        x = rng.standard_normal(shape).astype(np.float32)
        err = np.abs(softmax(x) - reference(x)).max()
        print(f"softmax {shape}: max |error| = {err:.2e}")
        assert err <= 1e-6


if __name__ == "__main__":
    main()
