"""Backends: each names its target, compiles tile IR to a binary, loads it
and launches it. ``active()`` is the one kernels run on: the NVIDIA backend
when a CUDA driver sees a GPU, the AMD one when torch is a ROCm build and
HIP sees a GPU, else the CPU backend; TESSERA_BACKEND=cpu, =cuda or =hip
chooses."""

from __future__ import annotations

import os

_active = None


def active():
    global _active
    if _active is None:
        from .. import _C
        name = os.environ.get("TESSERA_BACKEND", "")
        if name not in ("", "cpu", "cuda", "hip"):
            raise RuntimeError(f"TESSERA_BACKEND={name!r}: expected 'cpu', 'cuda' or 'hip'")
        import sys
        torch = sys.modules.get("torch")
        rocm = torch is not None and bool(getattr(getattr(torch, "version", None), "hip", None))
        if name == "hip" or (not name and rocm and _C.hip.available()):
            from .amd import AMDBackend
            _active = AMDBackend()
        elif name == "cuda" or (not name and _C.cuda.available()):
            from .nvidia import NVIDIABackend
            _active = NVIDIABackend()
        else:
            from .cpu import CPUBackend
            _active = CPUBackend()
    return _active


_host = None


def host():
    """The CPU backend (the active one when it is the CPU's)."""
    global _host
    if _host is None:
        if active().name == "cpu":
            _host = active()
        else:
            from .cpu import CPUBackend
            _host = CPUBackend()
    return _host


def for_values(values):
    """The backend a launch on `values` runs on: active(), except that host
    data (numpy arrays, CPU torch tensors) with no GPU tensor among it runs
    on the CPU backend, as a torch op follows its tensors' device."""
    backend = active()
    if backend.name == "cpu":
        return backend
    on_host = False
    for v in values:
        if type(v).__module__ == "numpy":
            on_host = on_host or getattr(v, "ndim", 0) > 0
        elif hasattr(v, "data_ptr") and hasattr(v, "device"):
            if getattr(v.device, "type", None) != "cpu":
                return backend
            on_host = True
    return host() if on_host else backend


def slot_kinds(kernel) -> str:
    """How each run-time argument of a compiled GPU kernel goes into its
    8-byte parameter cell: 'p' pointer, 'f' f32, 'd' f64, 'i' integer
    (computed once per kernel)."""
    kinds = getattr(kernel, "kinds", None)
    if kinds is None:
        kinds = "".join("p" if t.is_ptr() else "f" if t.is_fp32() else
                        "d" if t.is_fp64() else "i" for t in kernel.arg_types)
        kernel.kinds = kinds
    return kinds
