"""The front end: Python AST -> tile IR text, and the compile driver."""

from .errors import CompilationError
from .frontend import ASTSource

__all__ = ["ASTSource", "CompilationError"]
