"""CUDA graph capture: what a launch may not do while a stream is captured.

Compiling or loading a kernel, timing configurations and copying block
lists to the host to check them all break a capture (or would be baked
into it). While torch's current CUDA stream is capturing, those steps
raise `CaptureError` saying what to run before the capture instead.
"""

import sys


class CaptureError(RuntimeError):
    """A step that cannot run while a CUDA graph is being captured."""


def capturing() -> bool:
    """Whether torch's current CUDA stream is being captured into a graph
    (False without torch or without a GPU)."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "cuda") or not torch.cuda.is_available():
        return False
    return bool(torch.cuda.is_current_stream_capturing())


def forbid(what: str):
    """Raises CaptureError when a capture is in progress: `what` would
    happen inside it."""
    if capturing():
        raise CaptureError(
            f"tessera: {what} while a CUDA graph is being captured; run the same call once "
            "before the capture (tessera.torch.warmup) so that it is ready")
