"""The CPU backend: runs every program instance of the grid on a thread pool.

Pipeline (C++, see lib/CPUBackend.cpp): tile -> tensor -> buffer -> loops ->
LLVM dialect -> LLVM IR -> host object, loaded with ORC.
"""

from __future__ import annotations

import struct

from .. import _C
from ..compiler.errors import compile_failure

IR_BUFFER = "<tessera-ir>"


class CPUBackend:
    name = "cpu"
    binary_name = "kernel.o"
    # Options a launch may pass; num_warps and num_stages are accepted for
    # Triton compatibility and do not change CPU code.
    default_options = {"num_warps": 4, "num_stages": 3, "num_threads": 0}

    def __init__(self):
        self.target = _C.cpu.host_target()

    def stages(self):
        return [name for name, _ in _C.cpu.stages()]

    def compile(self, ir: str, kernel_name: str, dump: bool, options=None) -> bytes:
        ok, binary, diagnostics, dumps = _C.cpu.compile(ir, IR_BUFFER, dump)
        if dump:
            import sys
            for stage, text in dumps:
                print(f"// -----// {kernel_name}: after stage '{stage}' //----- //\n{text}",
                      file=sys.stderr)
        if not ok:
            raise compile_failure(diagnostics, IR_BUFFER, kernel_name, "the CPU")
        return binary

    def load(self, binary: bytes, kernel_name: str):
        return _C.cpu.Kernel(binary, kernel_name)

    # -- arguments ---------------------------------------------------------------
    def pointer(self, value, name: str, kernel_name: str) -> int:
        device = getattr(value, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            raise ValueError(f"argument {name!r} of {kernel_name} is a tensor on {device}, but "
                             "the kernel runs on the CPU backend; move it with .cpu()")
        if hasattr(value, "data_ptr"):
            return value.data_ptr()
        return value.ctypes.data

    @staticmethod
    def scalar_slot(value, ty) -> int:
        if ty.is_floating():
            if ty.is_fp64():
                return struct.unpack("<q", struct.pack("<d", value))[0]
            return struct.unpack("<i", struct.pack("<f", value))[0]
        value = int(value)
        if value >= 2**63:
            value -= 2**64
        return value

    def launch(self, kernel, grid, values, options):
        slots = [v if t.is_ptr() else self.scalar_slot(v, t)
                 for v, t in zip(values, kernel.arg_types)]
        try:
            kernel.handle.launch(list(grid), slots, int(options.get("num_threads", 0) or 0))
        except RuntimeError as e:  # a program stopped at a failing tl.device_assert
            if str(e).startswith("tl.device_assert failed: "):
                raise AssertionError(str(e)) from None
            raise

