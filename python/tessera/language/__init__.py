"""``tessera.language``, imported as ``tl``: the kernel language.

It mirrors ``triton.language`` for the core subset; a Triton kernel ports by
changing its imports to ``import tessera as triton`` and
``import tessera.language as tl``. docs/language.md lists what is missing.
"""

from . import core as _core
from .core import *  # noqa: F401,F403
from .core import range, static_range  # noqa: F401  (shadow the builtin)
from .random import (pair_uniform_to_normal, philox, rand, rand4x, randint, randint4x,  # noqa: F401
                     randn, randn4x, uint_to_uniform_float, umulhi)
from .dtypes import (bfloat16, block_type, dtype, float8e4nv, float8e5, float16,  # noqa: F401
                     float32, float64, int1, int8, int16, int32, int64, pointer_type, uint8,
                     uint16, uint32, uint64, void)
from .semantic import constexpr, tensor  # noqa: F401

bool = int1  # noqa: A001 - as in triton.language


class math:
    """``tl.math``: the same functions as ``tl``."""
    exp = _core.exp
    exp2 = _core.exp2
    log = _core.log
    log2 = _core.log2
    sqrt = _core.sqrt
    rsqrt = _core.rsqrt
    sin = _core.sin
    cos = _core.cos
    erf = _core.erf
    floor = _core.floor
    ceil = _core.ceil
    abs = _core.abs
    fma = _core.fma
    max = _core.maximum
    min = _core.minimum
    sigmoid = _core.sigmoid
    umulhi = umulhi


from . import extra  # noqa: E402,F401  (tl.extra.libdevice)

__all__ = [n for n in dir(_core) if not n.startswith("_") and n not in ("annotations",)]
