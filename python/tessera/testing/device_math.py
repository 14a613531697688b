"""A kernel that calls every math function the GPU backends take from a
device library (CUDA's libdevice, ROCm's ocml): erf on float32, and erf,
exp, exp2, log, log2, sin, cos, rsqrt and sqrt on float64. The compile
tests (PTX, AMDGCN) and the CPU and GPU tests run it against
``reference``."""

import math

import numpy as np

import tessera
import tessera.language as tl

#: The rows of ``device_math``'s output, in order.
FUNCTIONS = ("erf32", "erf", "exp", "exp2", "log", "log2", "sin", "cos", "rsqrt", "sqrt")


@tessera.jit
def device_math(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=1.0)
    d = x.to(tl.float64)
    a = tl.abs(d) + 0.5
    tl.store(out_ptr + offs, tl.erf(x).to(tl.float64), mask=m)
    tl.store(out_ptr + n + offs, tl.erf(d), mask=m)
    tl.store(out_ptr + 2 * n + offs, tl.exp(d), mask=m)
    tl.store(out_ptr + 3 * n + offs, tl.exp2(d), mask=m)
    tl.store(out_ptr + 4 * n + offs, tl.log(a), mask=m)
    tl.store(out_ptr + 5 * n + offs, tl.log2(a), mask=m)
    tl.store(out_ptr + 6 * n + offs, tl.sin(d * 30.0), mask=m)
    tl.store(out_ptr + 7 * n + offs, tl.cos(d * 30.0), mask=m)
    tl.store(out_ptr + 8 * n + offs, tl.rsqrt(a), mask=m)
    tl.store(out_ptr + 9 * n + offs, tl.sqrt(a), mask=m)


SIGNATURE = {"x_ptr": "*fp32", "out_ptr": "*fp64", "n": "i32"}


def reference(x: np.ndarray) -> np.ndarray:
    """``device_math``'s output for float32 ``x``, in float64 (numpy and
    math.erf)."""
    d = x.astype(np.float64)
    a = np.abs(d) + 0.5
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return np.stack([erf(d), erf(d), np.exp(d), np.exp2(d), np.log(a), np.log2(a),
                     np.sin(d * 30.0), np.cos(d * 30.0), 1 / np.sqrt(a), np.sqrt(a)])


def check(out: np.ndarray, x: np.ndarray):
    """Asserts ``out`` (10 x n) is ``reference(x)``: float32 erf within
    2e-6, the float64 functions within 1e-13 of max(|value|, 1) (a few ulp,
    absolute near sin's and cos's zeros)."""
    want = reference(x)
    err32 = np.abs(out[0] - want[0]).max()
    assert err32 <= 2e-6, f"erf on float32: max |error| {err32:.2e}"
    for i, name in enumerate(FUNCTIONS[1:], 1):
        rel = (np.abs(out[i] - want[i]) / np.maximum(np.abs(want[i]), 1.0)).max()
        assert rel <= 1e-13, f"{name} on float64: max error {rel:.2e} (relative above 1)"
