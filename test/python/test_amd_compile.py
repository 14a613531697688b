"""The AMD backend (compile only: there is no AMD GPU or HIP runtime here).

Every kernel the examples launch is compiled for gfx90a and gfx942 as it is
launched: the examples run their main() on the CPU backend with a shim
that first compiles each kernel (the same tile IR, signature and options)
to an HSACO for both targets, and the code objects are inspected with
llvm-readelf: an AMDGPU shared object for the right target, the kernel's
symbol and descriptor (`<name>.kd`), wave64, and an LDS size that matches
what the compiler reported (or less, where LLVM removed unused parts)."""

import importlib.util
import pathlib
import re
import shutil
import subprocess

import pytest

import tessera
import tessera.backends as backends
from tessera import _C
from tessera.backends.amd import ARCHS, AMDBackend
from tessera.backends.cpu import CPUBackend
from tessera.compiler.frontend import ASTSource
import tessera.language as tl

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
READELF = next((p for p in (shutil.which("llvm-readelf-22"), shutil.which("llvm-readelf"),
                            "/usr/lib/llvm-22/bin/llvm-readelf") if p and pathlib.Path(p).exists()),
               None)

pytestmark = pytest.mark.skipif(not _C.amd.find_lld(), reason="no ld.lld to link HSACO")


def inspect(hsaco: bytes, name: str, arch: str, lds: int, tmp_path):
    """Checks an HSACO with llvm-readelf; returns its metadata text."""
    assert hsaco[:4] == b"\x7fELF"
    if READELF is None:
        pytest.skip("no llvm-readelf")
    path = tmp_path / f"{name}-{arch}.hsaco"
    path.write_bytes(hsaco)
    out = subprocess.run([READELF, "-h", "-s", "--notes", str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert "EM_AMDGPU" in out and f"amdgcn-amd-amdhsa--{arch}" in out, out
    assert re.search(rf"\bFUNC\s+GLOBAL\s+\w+\s+\d+ {re.escape(name)}$", out, re.M), out
    assert re.search(rf"\bOBJECT\s+GLOBAL\s+\w+\s+\d+ {re.escape(name)}\.kd$", out, re.M), out
    assert ".wavefront_size: 64" in out, out
    # The LDS the descriptor declares: the compiler's figure, or less where
    # LLVM removed or split unused parts (a reduction one wavefront does
    # alone keeps 4 of its 16 bytes).
    group = int(re.search(r"\.group_segment_fixed_size: (\d+)", out).group(1))
    assert group <= lds, (group, lds)
    return group


class CompileForAMD(CPUBackend):
    """The CPU backend, but every kernel is first compiled for both AMD
    targets (and checked)."""
    # A distinct option: the kernels the JIT cached for the CPU backend
    # (in this process) are compiled again through this backend.
    default_options = dict(CPUBackend.default_options, amd_check=1)

    def __init__(self, tmp_path):
        super().__init__()
        self.target += "+amd"
        self.tmp_path = tmp_path
        self.compiled = []

    def compile(self, ir, kernel_name, dump, options=None):
        for arch in ARCHS:
            binary = AMDBackend(arch).compile(ir, kernel_name, False,
                                              {"num_warps": (options or {}).get("num_warps", 4)})
            header, _, hsaco = binary.partition(b"\n")
            lds = int(header.split(b":")[2])
            inspect(hsaco, kernel_name, arch, lds, self.tmp_path)
            self.compiled.append((kernel_name, arch, lds))
        return super().compile(ir, kernel_name, dump, options)


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("[0-9][0-9]_*.py")))
def test_examples_compile_for_amd(example, tmp_path, monkeypatch, capsys):
    """Each example's main() (its checks against numpy included) with every
    kernel it launches also compiled to HSACO for gfx90a and gfx942."""
    monkeypatch.setenv("TESSERA_CACHE", "0")
    shim = CompileForAMD(tmp_path)
    monkeypatch.setattr(backends, "_active", shim)
    load(example).main()
    assert shim.compiled, f"{example} launched no kernel"
    assert {arch for _, arch, _ in shim.compiled} == set(ARCHS)


@tessera.jit
def _row_sum(x, out, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    row = tl.program_id(0)
    v = tl.load(x + row * n + offs, mask=offs < n, other=0.0)
    tl.store(out + row, tl.sum(tl.exp(v), 0))


def _ir(fn, signature, constants):
    return ASTSource(fn, signature, constants).make_ir()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("warps", [1, 4, 16])
def test_reduction_uses_wave64_shuffles_and_lds(arch, warps, tmp_path):
    """A row reduction over 256 elements a wavefront (4 a lane): lanes
    combine through ds_bpermute (6 steps for 64 lanes), wavefronts through
    LDS between s_barriers; the LDS the kernel declares is what the
    compiler said."""
    ir = _ir(_row_sum, {"x": "*fp32", "out": "*fp32", "n": "i32"}, {"BLOCK": 256 * warps})
    asm = AMDBackend(arch).compile(ir, "_row_sum", False,
                                   {"num_warps": warps, "assembly": True}).decode()
    assert asm.count("ds_bpermute_b32") >= 6
    assert "v_exp_f32" in asm
    assert (".amdhsa_next_free_vgpr" in asm) and ".wavefront_size: 64" in asm
    assert f".max_flat_workgroup_size: {64 * warps}" in asm
    binary = AMDBackend(arch).compile(ir, "_row_sum", False, {"num_warps": warps})
    header, _, hsaco = binary.partition(b"\n")
    lds = int(header.split(b":")[2])
    group = inspect(hsaco, "_row_sum", arch, lds, tmp_path)
    if warps > 1:
        assert "s_barrier" in asm and group == lds > 0


def test_bad_arch_and_num_warps():
    with pytest.raises(ValueError, match="gfx90a and gfx942, not 'gfx1100'"):
        AMDBackend("gfx1100")
    ir = _ir(_row_sum, {"x": "*fp32", "out": "*fp32", "n": "i32"}, {"BLOCK": 64})
    with pytest.raises(ValueError, match="num_warps must be a power of two from 1 to 16"):
        AMDBackend("gfx942").compile(ir, "_row_sum", False, {"num_warps": 32})


@pytest.mark.parametrize("binary", [b"", b"tessera:4:0\nnot an ELF", b"tessera:4\n\x7fELF"])
def test_load_refuses_what_is_not_an_amd_binary(binary):
    with pytest.raises(ValueError, match="k: not a binary of the AMD backend"):
        AMDBackend("gfx90a").load(binary, "k")


def test_aligned_accesses_are_16_byte_vectors():
    """With ':16' hints (16-byte aligned pointers, n divisible by 16) the
    vector add moves 4 floats per instruction (dwordx4), as on NVIDIA."""
    ex = load("01_vector_add")
    counts = {}
    for hint in ("", ":16"):
        sig = {n: "*fp32" + hint for n in ("x_ptr", "y_ptr", "output_ptr")}
        sig["n_elements"] = "i32" + hint
        asm = AMDBackend("gfx942").compile(_ir(ex.add_kernel, sig, {"BLOCK_SIZE": 1024}),
                                           "add_kernel", False,
                                           {"num_warps": 4, "assembly": True}).decode()
        counts[hint] = (asm.count("global_load_dwordx4"), asm.count("global_load_dword "),
                        asm.count("global_store_dwordx4"))
    assert counts[""] == (0, 8, 0)
    assert counts[":16"] == (2, 0, 1)


@tessera.jit
def _big_dot(a, b, c, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    rm, rn, rk = tl.arange(0, BM), tl.arange(0, BN), tl.arange(0, BK)
    x = tl.load(a + rm[:, None] * BK + rk[None, :])
    y = tl.load(b + rk[:, None] * BN + rn[None, :])
    tl.store(c + rm[:, None] * BN + rn[None, :], tl.dot(x, y))


def test_too_much_lds_is_an_error():
    """Operands of 256 x 128 and 128 x 256 floats staged in LDS need 256 KB;
    a workgroup has 64 KB."""
    ir = _ir(_big_dot, {"a": "*fp32", "b": "*fp32", "c": "*fp32"}, {"BM": 256, "BN": 256, "BK": 128})
    with pytest.raises(tessera.CompilationError, match=r"bytes of LDS; gfx942 has 65536"):
        AMDBackend("gfx942").compile(ir, "_big_dot", False, {"num_warps": 4})


MFMA = {("fp16", "gfx942"): "v_mfma_f32_16x16x16_f16", ("fp16", "gfx90a"): "v_mfma_f32_16x16x16f16",
        ("bf16", "gfx942"): "v_mfma_f32_16x16x16_bf16",
        ("bf16", "gfx90a"): "v_mfma_f32_16x16x16bf16_1k",
        ("fp32", "gfx942"): "v_mfma_f32_16x16x4_f32", ("fp32", "gfx90a"): "v_mfma_f32_16x16x4f32"}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype,bm,bn,bk,warps", [("fp16", 64, 64, 32, 4), ("bf16", 128, 64, 64, 8),
                                                  ("fp32", 32, 64, 16, 2)])
def test_dots_run_on_mfma(arch, dtype, bm, bn, bk, warps, tmp_path):
    """tl.dot on the matrix cores: one MFMA per 16 x 16 output tile and K
    step (16 for fp16/bf16, 4 for fp32), the tiles shared out over the
    wavefronts, no FMA loop left, and the HSACO checks out."""
    ir = _ir(_big_dot, {"a": f"*{dtype}", "b": f"*{dtype}", "c": "*fp32"},
             {"BM": bm, "BN": bn, "BK": bk})
    asm = AMDBackend(arch).compile(ir, "_big_dot", False,
                                   {"num_warps": warps, "assembly": True}).decode()
    k_step = 4 if dtype == "fp32" else 16
    tiles = (bm // 16) * (bn // 16) // warps
    assert asm.count(MFMA[dtype, arch]) == tiles * (bk // k_step), asm
    assert "v_pk_fma_f32" not in asm and "v_fmac_f32" not in asm
    # Both operands are K-contiguous in LDS: fragments are whole reads, not
    # one ds_read_u16 per element.
    assert "ds_read_u16" not in asm
    binary = AMDBackend(arch).compile(ir, "_big_dot", False, {"num_warps": warps})
    header, _, hsaco = binary.partition(b"\n")
    inspect(hsaco, "_big_dot", arch, int(header.split(b":")[2]), tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
def test_attention_runs_on_mfma(arch):
    """The ops' flash attention kernel (bf16, head dim 128, 64 x 64 blocks):
    both products, q k^T and p v, on MFMA; the softmax's row statistics
    reduce in the MFMA layout (ds_bpermute within a 16-lane row group)."""
    from tessera.kernels import attention as A
    f = A.block_sparse_attention_fwd
    sig = {}
    for n in f.arg_names:
        if n in f.constexpr_names:  # their defaults (EVEN_N, STORE_LSE, TMA off)
            continue
        if n in ("Q", "K", "V", "Out"):
            sig[n] = "*bf16:16"
        elif n in ("LSE",):
            sig[n] = "*fp32:16"
        elif n in ("KV_INDEX", "KV_COUNT", "Q_INDEX", "Q_COUNT"):
            sig[n] = "*i32:16"
        elif n == "sm_scale":
            sig[n] = "fp32"
        else:
            sig[n] = "i32"
    consts = dict(HEAD_DIM=128, BLOCK_M=64, BLOCK_N=64, CAUSAL=False, Q_SPARSE=False,
                  Q_BLOCK=64, stride_qk=1, stride_kk=1, stride_vk=1, stride_ok=1, stride_iq=1)
    for c in consts:
        sig.pop(c, None)
    asm = AMDBackend(arch).compile(_ir(f, sig, consts), f.__name__, False,
                                   {"num_warps": 4, "assembly": True}).decode()
    # Per key block: q k^T (64 x 64, K 128) and p v (64 x 128, K 64): 16 x 8 +
    # 32 x 4 instructions over 4 wavefronts = 64 a wavefront.
    assert asm.count(MFMA["bf16", arch]) == 64, asm.count(MFMA["bf16", arch])
    assert "ds_bpermute_b32" in asm and "v_exp_f32" in asm
    assert "ds_read_u16" not in asm  # k^T and v read from LDS four K values at a time


@pytest.mark.parametrize("kernel", ["device_math", "libdevice_math"])
@pytest.mark.parametrize("arch", ARCHS)
def test_device_library_math_is_ocml_inlined(arch, kernel, tmp_path):
    """tl.erf and float64 exp, exp2, log, log2, sin, cos and rsqrt, and
    tl.extra.libdevice's tanh, pow, atan2..., come from ROCm's ocml: linked,
    inlined (no calls in the ISA, nothing undefined in the HSACO). Run on
    an AMD GPU by test_hip_gpu.py."""
    from tessera.testing import device_math as dm
    if not _C.amd.find_ocml():
        pytest.skip("no ocml.bc (Debian's rocm-device-libs)")
    ir = _ir(getattr(dm, kernel), dict(dm.SIGNATURE), {"BLOCK": 512})
    asm = AMDBackend(arch).compile(ir, kernel, False,
                                   {"num_warps": 4, "assembly": True}).decode()
    assert "s_swappc" not in asm and "__ocml" not in asm and "__oclc" not in asm
    assert "v_fma_f64" in asm
    binary = AMDBackend(arch).compile(ir, kernel, False, {"num_warps": 4})
    header, _, hsaco = binary.partition(b"\n")
    inspect(hsaco, kernel, arch, int(header.split(b":")[2]), tmp_path)
    out = subprocess.run([READELF, "-s", str(tmp_path / f"{kernel}-{arch}.hsaco")],
                         capture_output=True, text=True, check=True).stdout
    assert not re.search(r"\bUND[ \t]+\S", out), out


def test_missing_ocml_names_the_line(monkeypatch):
    from tessera.compiler.errors import CompilationError
    from tessera.testing import device_math as dm
    monkeypatch.setenv("TESSERA_OCML", "/nonexistent/ocml.bc")
    ir = _ir(dm.device_math, dict(dm.SIGNATURE), {"BLOCK": 512})
    with pytest.raises(CompilationError, match=r"device_math.py:\d+:\d+: error: erf on 'f32' "
                       r"is computed by ROCm's ocml .*set TESSERA_OCML"):
        AMDBackend("gfx942").compile(ir, "device_math", False, {"num_warps": 4})


@pytest.mark.parametrize("arch", ARCHS)
def test_loop_unroll_factor_on_amd(arch):
    """tl.range(..., loop_unroll_factor=3) on the AMD backend: the body three
    times in the main loop and once in the loop of the iterations left
    (an element a lane: four loads of x)."""
    import test_language as L
    ir = _ir(L.unrolled_recurrence, {"x_ptr": "*fp32", "out_ptr": "*fp32", "lo": "i32",
                                     "hi": "i32", "step": "i32"}, {"BLOCK": 64, "UNROLL": 3})
    asm = AMDBackend(arch).compile(ir, "unrolled_recurrence", False,
                                   {"num_warps": 1, "assembly": True}).decode()
    assert asm.count("global_load_dword ") == 4, asm
