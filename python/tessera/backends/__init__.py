"""Backends: each names its target, compiles tile IR to a binary, loads it
and launches it. ``active()`` is the one kernels run on."""

from __future__ import annotations

import os

_active = None


def active():
    global _active
    if _active is None:
        name = os.environ.get("TESSERA_BACKEND", "cpu")
        if name != "cpu":
            raise RuntimeError(f"TESSERA_BACKEND={name!r}: only the 'cpu' backend exists yet")
        from .cpu import CPUBackend
        _active = CPUBackend()
    return _active
