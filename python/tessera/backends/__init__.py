"""Backends: each names its target, compiles tile IR to a binary, loads it
and launches it. ``active()`` is the one kernels run on: the NVIDIA backend
when a CUDA driver sees a GPU, else the CPU backend; TESSERA_BACKEND=cpu or
=cuda chooses."""

from __future__ import annotations

import os

_active = None


def active():
    global _active
    if _active is None:
        from .. import _C
        name = os.environ.get("TESSERA_BACKEND", "")
        if name not in ("", "cpu", "cuda"):
            raise RuntimeError(f"TESSERA_BACKEND={name!r}: expected 'cpu' or 'cuda'")
        if name == "cuda" or (not name and _C.cuda.available()):
            from .nvidia import NVIDIABackend
            _active = NVIDIABackend()
        else:
            from .cpu import CPUBackend
            _active = CPUBackend()
    return _active
