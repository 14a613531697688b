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


def _function_span(text: str, name: str):
    """Where ``func.func @name`` starts, where its signature ends (after
    the arguments' parentheses), and where it ends."""
    start = text.find(f"func.func @{name}(")
    if start < 0:
        raise KeyError(f"no function @{name} in the module")

    def past(i, open_, close):  # from an opening bracket to just after its match
        depth = 0
        while True:
            depth += {open_: 1, close: -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                return i

    signature = past(text.index("(", start), "(", ")")
    i = signature
    if text[i:].lstrip().startswith("attributes"):  # a dictionary before the body
        i = past(text.index("{", i), "{", "}")
    return start, signature, past(text.index("{", i), "{", "}")


def function(text: str, name: str) -> str:
    """The text of ``func.func @name`` in the printed module ``text`` (for
    instance a kernel a tgraph lowering added), ready for a backend's
    ``compile``."""
    start, _, end = _function_span(text, name)
    return text[start:end]


def kernel_warps(text: str, name: str):
    """The warps a lowering asked for kernel @name (its `tgraph.num_warps`
    attribute), or None."""
    import re
    _, signature, end = _function_span(text, name)
    m = re.match(r"\s*attributes\s*\{[^}]*tgraph\.num_warps = (\d+)", text[signature:end])
    return int(m.group(1)) if m else None


def launches(text: str):
    """The ``tgraph.launch`` ops of a printed module, in order: (kernel
    name, grid (x, y, z))."""
    import re
    return [(m.group(1), tuple(int(g) for g in m.groups()[1:]))
            for m in re.finditer(r"tgraph\.launch @(\w+) grid \[(\d+), (\d+), (\d+)\]", text)]
