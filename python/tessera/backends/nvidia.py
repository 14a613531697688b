"""The NVIDIA backend: one program instance per CUDA block of
32 * num_warps threads.

Pipeline (C++, lib/NVIDIABackend.cpp): tile -> tilegpu (layouts) -> per-thread
NVVM -> LLVM -> NVPTX -> PTX -> cubin (ptxas when found; else the driver
JIT-compiles the PTX when loading it).
"""

from __future__ import annotations

import os
import sys

from .. import _C
from ..compiler.errors import compile_failure

IR_BUFFER = "<tessera-ir>"


def arch_of(major: int, minor: int) -> str:
    """The PTX target for a compute capability: Hopper gets its 'a' features."""
    return f"sm_{major}{minor}" + ("a" if major == 9 else "")


def libdevice() -> str:
    """CUDA's libdevice.10.bc, for tl.erf and float64 math: the CUDA
    toolkit's (TESSERA_LIBDEVICE, CUDA_HOME, /usr/local/cuda; see
    ``_C.nvidia.find_libdevice``), else the copy an installed Triton ships;
    empty when there is none (a kernel that needs it then fails to compile,
    naming its line)."""
    found = _C.nvidia.find_libdevice()
    if found or os.environ.get("TESSERA_LIBDEVICE"):
        return found
    import importlib.util
    spec = importlib.util.find_spec("triton")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "backends", "nvidia", "lib", "libdevice.10.bc")
        if os.path.exists(path):
            return path
    return ""


class NVIDIABackend:
    name = "cuda"
    binary_name = "kernel.cubin"
    # pingpong: with 8 warps, a loop with two or more wgmma dots (flash
    # attention's q k^T and P V) copies its tiles on per-slot mbarriers (no
    # barrier of all threads per iteration) and its two warpgroups take
    # turns issuing the dots, so one's softmax runs beside the other's dots
    # (FlashAttention-3's schedule). pingpong=False turns both off, for a
    # launch; TESSERA_PINGPONG=0 for the process (compute-sanitizer's
    # racecheck cannot follow the named barriers: docs/reliability.md).
    # producer: in such loops whose copies are all TMA copies (sm_90a), a
    # warp of its own issues the copies (the block gets num_warps + 1
    # warps): dense attention 5-6% fewer cycles (docs/performance.md).
    # producer=False for a launch, TESSERA_PRODUCER_WARP=0 for the process.
    # producer_registers=N (TESSERA_PRODUCER_REGISTERS): the producer is a
    # warpgroup that keeps N registers a thread and gives the rest to the
    # consumers (setmaxnreg; 24 gives 8 consumer warps 240): a block of
    # num_warps + 4 warps. 0 (the default): one producer warp, whose block
    # of 9 warps caps every thread at 168 registers (3 warps share a
    # quarter of the register file).
    # lag (TESSERA_LAG=1; not yet the default, not yet run on a GPU): in
    # loops whose scores warpgroup 0 computes alone (MLA decode on 8
    # warps), the next tiles' copies go after those scores, once every
    # thread released the slot, and P V stays in flight while the next
    # scores are issued.
    default_options = {"num_warps": 4, "num_stages": 3,
                       "pingpong": os.environ.get("TESSERA_PINGPONG", "1") != "0",
                       "producer": os.environ.get("TESSERA_PRODUCER_WARP", "1") != "0",
                       "producer_registers": int(os.environ.get("TESSERA_PRODUCER_REGISTERS",
                                                                "0")),
                       "lag": os.environ.get("TESSERA_LAG", "0") != "0"}

    def __init__(self, arch: str | None = None):
        device_arch = None
        if arch is None:
            device = _C.cuda.device()
            device_arch = arch_of(device["major"], device["minor"])
            self.device_name = device["name"]
            # TESSERA_CUDA_ARCH=sm_80 compiles for an older target (the
            # driver JIT-compiles its PTX for this device).
            arch = os.environ.get("TESSERA_CUDA_ARCH") or device_arch
        self.arch = arch
        # A cubin from ptxas when it is found and targets this very device;
        # else PTX, which the driver compiles when it loads it.
        # TESSERA_PTXAS=none (a path that does not exist) forces the JIT.
        self.cubin = arch == device_arch and bool(_C.nvidia.find_ptxas())
        # TESSERA_TMA=0 keeps tensor-descriptor loads off TMA (sm_90a); it is
        # part of the target, so cached binaries of the other kind are not used.
        self.tma = os.environ.get("TESSERA_TMA", "1") != "0"
        self.target = f"cuda:{arch}" + ("" if self.cubin else ":ptx") + ("" if self.tma else ":notma")

    def stages(self, num_warps=4):
        return [name for name, _ in _C.nvidia.stages(num_warps)]

    def compile(self, ir: str, kernel_name: str, dump: bool, options=None) -> bytes:
        num_warps = int((options or {}).get("num_warps", 4))
        if num_warps not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"num_warps must be a power of two from 1 to 32, got {num_warps}")
        num_stages = int((options or {}).get("num_stages", 3))
        if not 1 <= num_stages <= 8:
            raise ValueError(f"num_stages must be from 1 to 8, got {num_stages}")
        override = os.environ.get("TESSERA_PTX_OVERRIDE_DIR", "")
        dump_dir = os.environ.get("TESSERA_PTX_DUMP_DIR", "")
        options = options or {}
        ok, ptx, cubin, shared, diagnostics, dumps, maps, block_warps = _C.nvidia.compile(
            ir, IR_BUFFER, self.arch, num_warps, self.cubin and not override, dump, num_stages,
            self.tma, bool(options.get("pingpong", self.default_options["pingpong"])),
            libdevice(), bool(options.get("producer", self.default_options["producer"])),
            int(options.get("producer_registers", self.default_options["producer_registers"])),
            bool(options.get("lag", self.default_options["lag"])))
        if dump:
            for stage, text in dumps:
                print(f"// -----// {kernel_name}: after stage '{stage}' //----- //\n{text}",
                      file=sys.stderr)
        if not ok:
            raise compile_failure(diagnostics, IR_BUFFER, kernel_name, self.arch)
        if dump_dir or override:
            ptx, cubin = self._dump_or_override(ir, kernel_name, ptx, cubin, dump_dir, override)
        binary = cubin if cubin else ptx.encode()
        # The launch needs the block size, shared memory and the recipes of
        # the TMA tensor maps it passes: keep them with the binary (the first
        # bytes, so the disk cache carries them too).
        header = f"tessera:{block_warps}:{shared}:{'|'.join(maps)}\n".encode()
        return header + binary

    def _dump_or_override(self, ir, kernel_name, ptx, cubin, dump_dir, override):
        """For experiments on the generated code: TESSERA_PTX_DUMP_DIR
        receives each kernel's PTX as <name>-<hash of its tile IR>.ptx;
        with TESSERA_PTX_OVERRIDE_DIR, a file of that name there (or
        <name>.ptx) is loaded instead of the compiled PTX (assembled by
        ptxas when a cubin is loaded). The launch keeps the compiled
        kernel's block size, shared memory and tensor maps, so an edit
        must keep the kernel's parameters and shared-memory layout.
        Neither is read from or written to the compile cache (jit.py)."""
        import hashlib
        import subprocess
        import tempfile
        stem = f"{kernel_name}-{hashlib.sha256(ir.encode()).hexdigest()[:12]}"
        if dump_dir:
            os.makedirs(dump_dir, exist_ok=True)
            with open(os.path.join(dump_dir, stem + ".ptx"), "w") as f:
                f.write(ptx)
        if not override:
            return ptx, cubin
        for name in (stem + ".ptx", kernel_name + ".ptx"):
            path = os.path.join(override, name)
            if os.path.exists(path):
                print(f"tessera: {kernel_name}: PTX from {path}", file=sys.stderr)
                with open(path) as f:
                    ptx = f.read()
                break
        if not self.cubin:
            return ptx, b""
        with tempfile.TemporaryDirectory() as tmp:
            src, out = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
            with open(src, "w") as f:
                f.write(ptx)
            r = subprocess.run([_C.nvidia.find_ptxas(), f"-arch={self.arch}", src, "-o", out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"ptxas rejected the PTX for {kernel_name}:\n{r.stderr}")
            with open(out, "rb") as f:
                return ptx, f.read()

    def load(self, binary: bytes, kernel_name: str):
        header, _, image = binary.partition(b"\n")
        _, num_warps, shared, maps = header.decode().split(":")
        return _C.cuda.Kernel(image, kernel_name, int(num_warps), int(shared),
                              maps.split("|") if maps else [])

    # -- arguments -------------------------------------------------------------
    def pointer(self, value, name: str, kernel_name: str) -> int:
        device = getattr(value, "device", None)
        if device is None or getattr(device, "type", None) != "cuda":
            where = f"on {device}" if device is not None else f"a {type(value).__name__}"
            raise ValueError(f"argument {name!r} of {kernel_name} is {where}, but the kernel "
                             "runs on the GPU; pass a CUDA tensor")
        return value.data_ptr()

    @staticmethod
    def kinds(kernel) -> str:
        """How each run-time argument goes into its 8-byte parameter cell."""
        from . import slot_kinds
        return slot_kinds(kernel)

    def launch(self, kernel, grid, values, options):
        kinds = self.kinds(kernel)
        stream = 0
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            stream = torch.cuda.current_stream().cuda_stream
        kernel.handle.launch(grid, stream, kinds, values)
