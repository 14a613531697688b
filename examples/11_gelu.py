"""Bias + GELU, the epilogue of a transformer's MLP: y = gelu(x + b) over
the rows of x, with GELU exact (x/2 (1 + erf(x / sqrt 2)), `tl.erf`) or in
its tanh form (x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), libdevice's
tanh, as Triton kernels write it with `triton.language.extra.libdevice`).
On GPUs erf and tanh come from the vendor's device library (CUDA's
libdevice, ROCm's ocml), linked into the kernel and inlined.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/11_gelu.py
"""

import math

import numpy as np

import tessera
import tessera.language as tl
from tessera.language.extra import libdevice


@tessera.jit
def bias_gelu_kernel(X, B, Y, n_cols, stride, BLOCK: tl.constexpr, APPROX: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(X + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
    x = x + tl.load(B + cols, mask=mask, other=0.0).to(tl.float32)
    if APPROX:
        inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)  # sqrt(2 / pi)
        y = 0.5 * x * (1.0 + libdevice.tanh(inner))
    else:
        y = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))
    tl.store(Y + row * stride + cols, y.to(Y.dtype.element_ty), mask=mask)


def bias_gelu(x, b, approximate="none", block=1024):
    """gelu(x + b) for a row-major (M, N) numpy array (CPU backend) or
    tensor of the backend's device; `approximate` "none" or "tanh", as
    torch.nn.functional.gelu."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    M, N = x.shape
    y = np.empty_like(x) if isinstance(x, np.ndarray) else x.new_empty(x.shape)
    stride = x.strides[0] // x.itemsize if isinstance(x, np.ndarray) else x.stride(0)
    block = min(block, tessera.next_power_of_2(N))
    bias_gelu_kernel[(M, tessera.cdiv(N, block))](x, b, y, N, stride, BLOCK=block,
                                                  APPROX=approximate == "tanh")
    return y


def reference(x, b, approximate="none"):
    v = x.astype(np.float64) + b.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * v * (1 + erf(v / math.sqrt(2)))


def main():
    rng = np.random.default_rng(0)
    for M, N in ((1, 1), (7, 1000), (64, 3072)):
        x = (rng.standard_normal((M, N)) * 3).astype(np.float32)
        b = rng.standard_normal(N).astype(np.float32)
        for approximate in ("none", "tanh"):
            err = np.abs(bias_gelu(x, b, approximate) - reference(x, b, approximate)).max()
            print(f"bias + gelu ({approximate}) {M}x{N}: max |error| = {err:.2e}")
            assert err <= 1e-5


if __name__ == "__main__":
    main()
