"""Tessera: a tile-level GPU kernel compiler on MLIR.

The kernel language (``tessera.jit``, ``tessera.language``) arrives with the
front end; today the package exposes the compiler's IR entry points in
:mod:`tessera.ir`.
"""

from . import ir
from ._C import version as _version

__version__ = _version()

__all__ = ["ir", "__version__"]
