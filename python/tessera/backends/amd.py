"""The AMD backend: one program instance per HIP workgroup of
64 * num_warps threads (CDNA wavefronts of 64 lanes).

Pipeline (C++, lib/AMDBackend.cpp): tile -> tilegpu (wave64 layouts) ->
per-thread ROCDL -> LLVM -> AMDGPU -> an ELF object -> ld.lld -> an HSA code
object (HSACO) for gfx90a (MI200) or gfx942 (MI300). Dots run on MFMA
(16 x 16 tiles). Kernels launch through the HIP runtime (libamdhip64 loaded with
dlopen; $TESSERA_LIBHIP names another, as the tests' mock); nothing has run
on AMD hardware yet (docs/amd-backend.md).
"""

from __future__ import annotations

import os
import sys

from .. import _C
from ..compiler.errors import compile_failure

IR_BUFFER = "<tessera-ir>"
ARCHS = ("gfx90a", "gfx942")


class AMDBackend:
    name = "hip"
    binary_name = "kernel.hsaco"
    # num_stages is accepted for Triton compatibility (no pipeliner on AMD yet).
    default_options = {"num_warps": 4, "num_stages": 3}

    def __init__(self, arch: str | None = None):
        if arch is None:
            arch = device_arch()
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
            ir, IR_BUFFER, self.arch, num_warps, True, dump, _C.amd.find_ocml())
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
        header, _, image = binary.partition(b"\n")
        fields = header.split(b":")
        if len(fields) != 3 or fields[0] != b"tessera" or not image.startswith(b"\x7fELF"):
            raise ValueError(f"{kernel_name}: not a binary of the AMD backend "
                             "(tessera:<num_warps>:<LDS bytes>, then an HSA code object)")
        _, num_warps, lds = (f.decode() for f in fields)
        return _C.hip.Kernel(image, kernel_name, int(num_warps), int(lds))

    # -- arguments -------------------------------------------------------------
    def pointer(self, value, name: str, kernel_name: str) -> int:
        # ROCm builds of torch call their GPU device "cuda"; DLPack, "rocm".
        device = getattr(value, "device", None)
        if device is None or getattr(device, "type", None) not in ("cuda", "rocm"):
            where = f"on {device}" if device is not None else f"a {type(value).__name__}"
            raise ValueError(f"argument {name!r} of {kernel_name} is {where}, but the kernel "
                             "runs on the AMD GPU; pass a GPU tensor (ROCm torch: device "
                             "'cuda')")
        return value.data_ptr()

    @staticmethod
    def kinds(kernel) -> str:
        """How each run-time argument goes into its 8-byte parameter cell."""
        from . import slot_kinds
        return slot_kinds(kernel)

    def launch(self, kernel, grid, values, options):
        stream = 0
        torch = sys.modules.get("torch")
        if torch is not None and getattr(torch.version, "hip", None) and torch.cuda.is_available():
            stream = torch.cuda.current_stream().cuda_stream
        kernel.handle.launch(grid, stream, self.kinds(kernel), values)


def device_arch() -> str:
    """The gfx target of the GPU kernels launch on: $TESSERA_HIP_ARCH, else
    what a ROCm build of torch reports (gcnArchName, features dropped)."""
    arch = os.environ.get("TESSERA_HIP_ARCH")
    if arch:
        return arch
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch.version, "hip", None) and torch.cuda.is_available():
        name = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()),
                       "gcnArchName", "")
        if name:
            return name.split(":")[0]
    raise RuntimeError("the AMD backend cannot tell the GPU's architecture: set "
                       "TESSERA_HIP_ARCH=gfx90a or gfx942 (or use a ROCm build of torch)")
