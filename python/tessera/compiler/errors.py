"""Errors of the front end, located in the user's Python source."""

from __future__ import annotations


class CompilationError(Exception):
    """A kernel that does not compile, located at ``filename:lineno:col``.

    The message shows the offending source line with a caret under the
    column, like a C compiler's.
    """

    def __init__(self, message: str, filename: str | None = None, lineno: int | None = None,
                 col: int | None = None, source_line: str | None = None):
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col = col
        self.source_line = source_line
        super().__init__(self._format())

    def _format(self) -> str:
        if self.filename is None or self.lineno is None:
            return self.message
        head = f"{self.filename}:{self.lineno}:{self.col or 1}: error: {self.message}"
        if not self.source_line:
            return head
        caret = " " * max((self.col or 1) - 1, 0) + "^"
        return f"{head}\n    {self.source_line.rstrip()}\n    {caret}"


def read_line(filename: str, lineno: int) -> str | None:
    try:
        with open(filename, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if i == lineno:
                    return line.rstrip("\n")
    except OSError:
        return None
    return None


def from_diagnostics(diagnostics: str, fallback: str) -> CompilationError:
    """Maps the compiler's first ``file:line:col: error: message`` to an error
    at that place in the user's source."""
    import re

    for line in diagnostics.splitlines():
        m = re.match(r"^(.*?):(\d+):(\d+): error: (.*)$", line)
        if m:
            filename, lineno, col, message = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
            notes = [ln for ln in diagnostics.splitlines() if ": note: " in ln]
            if notes:
                message += "\n" + "\n".join(notes)
            return CompilationError(message, filename, lineno, col, read_line(filename, lineno))
    return CompilationError(f"{fallback}:\n{diagnostics.strip()}")


def compile_failure(diagnostics: str, ir_buffer: str, kernel_name: str,
                    target: str) -> CompilationError:
    """The error for a backend's failed compile: located in the user's source
    when the diagnostics point there, an internal error when they point into
    the generated IR itself."""
    if diagnostics.startswith(ir_buffer):
        return CompilationError(
            f"internal compiler error while compiling {kernel_name} for {target} (rerun "
            f"with TESSERA_DUMP_IR=1 to see the IR):\n{diagnostics}")
    return from_diagnostics(diagnostics, f"compiling {kernel_name} for {target}")
