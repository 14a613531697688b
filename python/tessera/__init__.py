"""Tessera: a tile-level GPU kernel compiler on MLIR, with Triton's language.

    import tessera
    import tessera.language as tl

    @tessera.jit
    def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)

    add_kernel[(tessera.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)

Kernels run on the CPU backend when no GPU backend is available.
"""

from . import graph, ir, language, ops
from ._C import version as _version
from .compiler.errors import CompilationError
from .language.core import cdiv
from .language.semantic import constexpr
from .runtime.autotuner import Config, autotune, heuristics
from .runtime.jit import JITFunction, jit

__version__ = _version()


def next_power_of_2(n: int) -> int:
    """The smallest power of 2 >= n (1 for n <= 1)."""
    n = int(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


__all__ = ["jit", "JITFunction", "autotune", "heuristics", "Config", "CompilationError", "cdiv",
           "next_power_of_2", "constexpr", "language", "ir", "ops", "__version__"]
