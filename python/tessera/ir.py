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

__all__ = ["IRError", "parse", "run_pipeline"]


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
