"""Builds tile IR as MLIR text, one function at a time.

Every operation carries the Python location it came from, so diagnostics of
the verifier and of later passes point at the user's source line.
"""

from __future__ import annotations

import contextlib


class FunctionBuilder:
    """Emits the operations of one ``func.func``."""

    def __init__(self, filename: str):
        self.filename = filename
        self.lines: list[str] = []
        self.depth = 1
        self._next = 0
        self.loc: tuple[int, int] | None = None

    # -- names and locations ---------------------------------------------------
    def fresh(self) -> str:
        name = f"%{self._next}"
        self._next += 1
        return name

    def fresh_arg(self) -> str:
        name = f"%a{self._next}"
        self._next += 1
        return name

    def loc_text(self) -> str:
        if self.loc is None:
            return ""
        line, col = self.loc
        name = self.filename.replace("\\", "\\\\").replace('"', '\\"')
        return f' loc("{name}":{line}:{col})'

    # -- emission ----------------------------------------------------------------
    def _indent(self) -> str:
        return "  " * self.depth

    def emit(self, text: str, num_results: int = 0) -> list[str]:
        """Emits one op; returns the names of its results."""
        loc = self.loc_text()
        if num_results == 0:
            self.lines.append(f"{self._indent()}{text}{loc}")
            return []
        base = self.fresh()
        if num_results == 1:
            self.lines.append(f"{self._indent()}{base} = {text}{loc}")
            return [base]
        self.lines.append(f"{self._indent()}{base}:{num_results} = {text}{loc}")
        return [f"{base}#{i}" for i in range(num_results)]

    def emit1(self, text: str) -> str:
        return self.emit(text, 1)[0]

    @contextlib.contextmanager
    def region(self):
        """Collects the lines of a nested region; yields the list."""
        saved = self.lines
        self.lines = []
        self.depth += 1
        body = self.lines
        try:
            yield body
        finally:
            self.lines = saved
            self.depth -= 1

    def emit_with_regions(self, head: str, regions: list[tuple[str, list[str]]],
                          num_results: int, tail: str = "") -> list[str]:
        """Emits an op whose text is ``head {region0} sep1 {region1} ... tail``.

        ``regions`` holds (text before the region, region lines) pairs.
        """
        ind = self._indent()
        parts = [head]
        for before, lines in regions:
            parts.append(f"{before}{{\n" + "\n".join(lines) + f"\n{ind}}}")
        text = "".join(parts) + tail
        return self.emit(text, num_results)


def signature_text(names: list[str], types: list[str], attrs: list[str] | None = None) -> str:
    parts = []
    for i, (n, t) in enumerate(zip(names, types)):
        a = attrs[i] if attrs and attrs[i] else ""
        parts.append(f"{n}: {t}{a}")
    return ", ".join(parts)
