"""The front end's entry point: a kernel plus a signature -> tile IR text."""

from __future__ import annotations

import inspect

from ..language import dtypes as T
from . import codegen


def _attr_text(hints) -> str:
    attrs = []
    if "D" in hints:
        attrs.append("tile.divisibility = 16 : i32")
    if "L" in hints:
        attrs.append("tile.large")  # offsets in 64 bits: tile-widen-offsets
    return " {" + ", ".join(attrs) + "}" if attrs else ""


class ASTSource:
    """A @jit function specialized to argument types and compile-time values.

    ``signature`` maps each run-time parameter to a type, as a dtype or in
    Triton's spelling (``'*fp32'``, ``'i32'``); a ``':16'`` suffix says the
    integer or pointer is divisible by 16, ``':i64'`` that a pointer's
    array spans 2^31 elements or more (its offsets are computed in 64
    bits). ``constexprs`` maps the other parameters to their values.

    >>> ASTSource(add_kernel, {"x": "*fp32", "n": "i32:16"}, {"BLOCK": 128}).make_ir()
    """

    def __init__(self, fn, signature: dict, constexprs: dict | None = None):
        self.fn = fn
        self.signature = {}
        self.hints = {}
        for name, ty in signature.items():
            hints = ""
            if isinstance(ty, str):
                ty, *marks = ty.split(":")
                if "16" in marks:
                    hints += "D"
                if "i64" in marks:
                    hints += "L"
                ty = T.parse_type(ty)
            self.signature[name] = ty
            self.hints[name] = hints
        self.constexprs = dict(constexprs or {})
        # Constexpr parameters left out take their defaults.
        params = getattr(getattr(fn, "signature", None), "parameters", {})
        for name in getattr(fn, "constexpr_names", ()):
            default = params[name].default if name in params else None
            if name not in self.signature and name not in self.constexprs and \
                    default is not inspect.Parameter.empty and default is not None:
                self.constexprs[name] = default
        missing = [n for n in fn.arg_names if n not in self.signature and n not in self.constexprs]
        if missing:
            raise TypeError(f"{fn.__name__}: no type or value for {missing}")

    def make_ir(self) -> str:
        attrs = {n: _attr_text(h) for n, h in self.hints.items()}
        return codegen.generate_module(self.fn, self.signature, self.constexprs, attrs)
