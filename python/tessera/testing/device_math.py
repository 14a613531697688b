"""Kernels that call the math functions the GPU backends take from a
device library (CUDA's libdevice, ROCm's ocml): ``device_math`` (erf on
float32, and erf, exp, exp2, log, log2, sin, cos, rsqrt and sqrt on
float64) and ``libdevice_math`` (``tl.extra.libdevice``'s tanh, pow,
atan2... on float32 and float64). The compile tests (PTX, AMDGCN) and the
CPU and GPU tests run them against ``reference`` and
``libdevice_reference``."""

import math

import numpy as np

import tessera
import tessera.language as tl
from tessera.language.extra import libdevice as ld

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


#: The rows of ``libdevice_math``'s output: each function on float32 x
#: (rows 0..14), then on float64 (rows 15..29).
LIBDEVICE_FUNCTIONS = ("tanh", "sinh", "cosh", "tan", "asin", "acos", "atan", "asinh", "acosh",
                       "atanh", "erfc", "cbrt", "log10", "atan2", "pow")


@tessera.jit
def _libdevice_rows(x, out_ptr, offs, m, n):
    s = x / (1.0 + tl.abs(x))  # in (-1, 1)
    a = tl.abs(x) + 0.5        # positive
    tl.store(out_ptr + offs, ld.tanh(x).to(tl.float64), mask=m)
    tl.store(out_ptr + n + offs, ld.sinh(x).to(tl.float64), mask=m)
    tl.store(out_ptr + 2 * n + offs, ld.cosh(x).to(tl.float64), mask=m)
    tl.store(out_ptr + 3 * n + offs, ld.tan(s).to(tl.float64), mask=m)
    tl.store(out_ptr + 4 * n + offs, ld.asin(s).to(tl.float64), mask=m)
    tl.store(out_ptr + 5 * n + offs, ld.acos(s).to(tl.float64), mask=m)
    tl.store(out_ptr + 6 * n + offs, ld.atan(x).to(tl.float64), mask=m)
    tl.store(out_ptr + 7 * n + offs, ld.asinh(x).to(tl.float64), mask=m)
    tl.store(out_ptr + 8 * n + offs, ld.acosh(a + 1.5).to(tl.float64), mask=m)
    tl.store(out_ptr + 9 * n + offs, ld.atanh(s).to(tl.float64), mask=m)
    tl.store(out_ptr + 10 * n + offs, ld.erfc(x).to(tl.float64), mask=m)
    tl.store(out_ptr + 11 * n + offs, ld.cbrt(x).to(tl.float64), mask=m)
    tl.store(out_ptr + 12 * n + offs, ld.log10(a).to(tl.float64), mask=m)
    tl.store(out_ptr + 13 * n + offs, ld.atan2(x, a).to(tl.float64), mask=m)
    tl.store(out_ptr + 14 * n + offs, ld.pow(a, s * 3.0).to(tl.float64), mask=m)


@tessera.jit
def libdevice_math(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """``tl.extra.libdevice``'s functions (those without an instruction)
    on float32 x and on x in float64: out has 2 x 15 rows of n."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=1.0)
    _libdevice_rows(x, out_ptr, offs, m, n)
    _libdevice_rows(x.to(tl.float64), out_ptr + 15 * n, offs, m, n)


def libdevice_reference(x: np.ndarray) -> np.ndarray:
    """``libdevice_math``'s rows for float32 ``x``, in float64 (both halves
    from the same float64 inputs: the float32 half's own rounding of s and
    a is within its tolerance)."""
    d = x.astype(np.float64)
    s = d / (1 + np.abs(d))
    a = np.abs(d) + 0.5
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    rows = np.stack([np.tanh(d), np.sinh(d), np.cosh(d), np.tan(s), np.arcsin(s), np.arccos(s),
                     np.arctan(d), np.arcsinh(d), np.arccosh(a + 1.5), np.arctanh(s), erfc(d),
                     np.cbrt(d), np.log10(a), np.arctan2(d, a), a ** (s * 3)])
    return np.concatenate([rows, rows])


def check_libdevice(out: np.ndarray, x: np.ndarray):
    """Asserts ``out`` (30 x n) is ``libdevice_reference(x)``: float32
    within 4e-6 and float64 within 1e-13 of max(|value|, 1)."""
    want = libdevice_reference(x)
    for i in range(30):
        name = LIBDEVICE_FUNCTIONS[i % 15] + (" on float32" if i < 15 else " on float64")
        err = (np.abs(out[i] - want[i]) / np.maximum(np.abs(want[i]), 1.0)).max()
        assert err <= (4e-6 if i < 15 else 1e-13), f"{name}: max error {err:.2e}"
