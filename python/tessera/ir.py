"""Parse, verify and transform Tessera IR given as text.

Example::

    import tessera
    text = '''
    func.func @f(%x: f32) -> tensor<4xf32> {
      %t = tile.splat %x : f32 -> tensor<4xf32>
      return %t : tensor<4xf32>
    }'''
    print(tessera.ir.parse(text))
    print(tessera.ir.run_pipeline(text, "builtin.module(tile-combine,canonicalize)"))
"""

from . import _C

__all__ = ["IRError", "parse", "run_pipeline", "function", "launches"]


class IRError(Exception):
    """IR that does not parse or verify, or a pipeline that fails.

    ``diagnostics`` holds the compiler's messages, each starting with
    ``name:line:column: error:``.
    """

    def __init__(self, diagnostics: str):
        self.diagnostics = diagnostics.strip()
        super().__init__(self.diagnostics)


def parse(text: str, name: str = "<string>", generic: bool = False) -> str:
    """Parse and verify ``text``; return it printed back (generic form if asked).

    Raises :class:`IRError` with located diagnostics if it is not valid.
    """
    ok, ir, diagnostics = _C.parse(text, name, generic)
    if not ok:
        raise IRError(diagnostics)
    return ir


def run_pipeline(text: str, pipeline: str, name: str = "<string>") -> str:
    """Run a pass pipeline such as ``"builtin.module(tile-combine)"`` on ``text``."""
    ok, ir, diagnostics = _C.run_pipeline(text, name, pipeline)
    if not ok:
        raise IRError(diagnostics)
    return ir


def function(text: str, name: str) -> str:
    """The text of ``func.func @name`` in the printed module ``text`` (for
    instance a kernel a tgraph lowering added), ready for a backend's
    ``compile``."""
    start = text.find(f"func.func @{name}(")
    if start < 0:
        raise KeyError(f"no function @{name} in the module")
    depth, i = 0, start
    while True:  # past the signature's parentheses
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
        if depth == 0 and text[i - 1] == ")":
            break
    i = text.index("{", i)
    while True:  # to the body's closing brace
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
        if depth == 0:
            return text[start:i]


def launches(text: str):
    """The ``tgraph.launch`` ops of a printed module, in order: (kernel
    name, grid (x, y, z))."""
    import re
    return [(m.group(1), tuple(int(g) for g in m.groups()[1:]))
            for m in re.finditer(r"tgraph\.launch @(\w+) grid \[(\d+), (\d+), (\d+)\]", text)]
