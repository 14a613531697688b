"""Vector addition (Triton tutorial 01): out = x + y, one block per program.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/01_vector_add.py
"""

import numpy as np

import tessera
import tessera.language as tl


@tessera.jit
def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    output = x + y
    tl.store(output_ptr + offsets, output, mask=mask)


def add(x, y, BLOCK_SIZE=1024):
    output = np.empty_like(x)
    n = x.size
    grid = lambda meta: (tessera.cdiv(n, meta["BLOCK_SIZE"]),)  # noqa: E731
    add_kernel[grid](x, y, output, n, BLOCK_SIZE=BLOCK_SIZE)
    return output


def main():
    rng = np.random.default_rng(0)
    for n in (1, 1000, 98432):
        x = rng.standard_normal(n).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        out = add(x, y)
        err = np.abs(out - (x.astype(np.float64) + y)).max()
        print(f"vector add n={n:6d}: max |error| = {err:.2e}")
        assert err <= 1e-6 * max(1.0, np.abs(x).max() + np.abs(y).max())


if __name__ == "__main__":
    main()
