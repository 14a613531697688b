"""The math of a device library, as Triton's
``triton.language.extra.libdevice``: ``libdevice.tanh(x)``,
``libdevice.pow(x, y)``... on float32 and float64 tensors.

On NVIDIA GPUs they are CUDA's libdevice functions (``__nv_tanhf``...), on
AMD GPUs ROCm's ocml (``__ocml_tanh_f32``...), linked into the kernel and
inlined; on the CPU backend, the C library's. The functions with a
hardware instruction (exp, exp2, log, log2, sin, cos, rsqrt on float32)
use it, as ``tl.exp`` and friends do.
"""

from .. import core as _core
from .. import semantic as _S
from ..core import builtin as _builtin


_unary = _core._math1  # as tl.exp and the other math functions


def _binary(name, mlir_name):
    def fn(arg0, arg1):
        return _S.math_binary(mlir_name, arg0, arg1)
    fn.__name__ = name
    fn.__doc__ = f"libdevice's {name} (float32 and float64)."
    return _builtin(fn)


tanh = _unary("tanh")
sinh = _unary("sinh")
cosh = _unary("cosh")
tan = _unary("tan")
asin = _unary("asin")
acos = _unary("acos")
atan = _unary("atan")
asinh = _unary("asinh")
acosh = _unary("acosh")
atanh = _unary("atanh")
erfc = _unary("erfc")
cbrt = _unary("cbrt")
log10 = _unary("log10")
atan2 = _binary("atan2", "atan2")
pow = _binary("pow", "powf")  # noqa: A001 - libdevice's name

# The functions tl has too.
exp = _core.exp
exp2 = _core.exp2
log = _core.log
log2 = _core.log2
sin = _core.sin
cos = _core.cos
sqrt = _core.sqrt
rsqrt = _core.rsqrt
erf = _core.erf
floor = _core.floor
ceil = _core.ceil
fabs = _core.abs
fma = _core.fma
