"""The front end's entry point: a kernel plus a signature -> tile IR text."""

from __future__ import annotations

from ..language import dtypes as T
from . import codegen


def _attr_text(hints) -> str:
    if "D" in hints:
        return " {tile.divisibility = 16 : i32}"
    return ""


class ASTSource:
    """A @jit function specialized to argument types and compile-time values.

    ``signature`` maps each run-time parameter to a type, as a dtype or in
    Triton's spelling (``'*fp32'``, ``'i32'``); a ``':16'`` suffix says the
    integer or pointer is divisible by 16. ``constexprs`` maps the other
    parameters to their values.

    >>> ASTSource(add_kernel, {"x": "*fp32", "n": "i32:16"}, {"BLOCK": 128}).make_ir()
    """

    def __init__(self, fn, signature: dict, constexprs: dict | None = None):
        self.fn = fn
        self.signature = {}
        self.hints = {}
        for name, ty in signature.items():
            hints = ""
            if isinstance(ty, str):
                ty, _, div = ty.partition(":")
                if div == "16":
                    hints = "D"
                ty = T.parse_type(ty)
            self.signature[name] = ty
            self.hints[name] = hints
        self.constexprs = dict(constexprs or {})
        missing = [n for n in fn.arg_names if n not in self.signature and n not in self.constexprs]
        if missing:
            raise TypeError(f"{fn.__name__}: no type or value for {missing}")

    def make_ir(self) -> str:
        attrs = {n: _attr_text(h) for n, h in self.hints.items()}
        return codegen.generate_module(self.fn, self.signature, self.constexprs, attrs)
