"""The AMD backend, compile only for now: one program instance per HIP
workgroup of 64 * num_warps threads (CDNA wavefronts of 64 lanes).

Pipeline (C++, lib/AMDBackend.cpp): tile -> tilegpu (wave64 layouts) ->
per-thread ROCDL -> LLVM -> AMDGPU -> an ELF object -> ld.lld -> an HSA code
object (HSACO) for gfx90a (MI200) or gfx942 (MI300). Dots run on FMAs (no
MFMA yet); there is no HIP runtime yet, so kernels compile but do not
launch (docs/amd-backend.md).
"""

from __future__ import annotations

import sys

from .. import _C
from ..compiler.errors import compile_failure

IR_BUFFER = "<tessera-ir>"
ARCHS = ("gfx90a", "gfx942")


class AMDBackend:
    name = "hip"
    binary_name = "kernel.hsaco"
    default_options = {"num_warps": 4}

    def __init__(self, arch: str = "gfx942"):
        if not _C.amd.supported_arch(arch):
            raise ValueError(f"the AMD backend compiles for {' and '.join(ARCHS)}, not {arch!r}")
        self.arch = arch
        self.target = f"hip:{arch}"

    def compile(self, ir: str, kernel_name: str, dump: bool = False, options=None) -> bytes:
        """The HSACO (ELF) with a one-line header: ``tessera:<num_warps>:<LDS bytes>``.
        ``options["assembly"] = True`` returns the AMDGCN text instead of the HSACO."""
        options = options or {}
        num_warps = int(options.get("num_warps", self.default_options["num_warps"]))
        if num_warps not in (1, 2, 4, 8, 16):
            raise ValueError(f"num_warps must be a power of two from 1 to 16 "
                             f"(64 to 1024 threads), got {num_warps}")
        ok, assembly, hsaco, shared, diagnostics, dumps = _C.amd.compile(
            ir, IR_BUFFER, self.arch, num_warps, True, dump)
        if dump:
            for stage, text in dumps:
                print(f"// -----// {kernel_name}: after stage '{stage}' //----- //\n{text}",
                      file=sys.stderr)
        if not ok:
            raise compile_failure(diagnostics, IR_BUFFER, kernel_name, self.arch)
        if options.get("assembly"):
            return assembly.encode()
        if not hsaco:
            raise RuntimeError("no ld.lld found to link the HSA code object "
                               "(install lld-22 or set TESSERA_LLD)")
        return f"tessera:{num_warps}:{shared}\n".encode() + hsaco

    def load(self, binary: bytes, kernel_name: str):
        raise RuntimeError("the AMD backend has no HIP runtime yet: kernels compile to HSACO "
                           "(AMDBackend.compile) but cannot launch")
