"""The library's DSL kernels (attention forward and backward, BSA
selection, MLA decode) compiled for sm_90a and sm_80 on this machine (no
GPU needed) and assembled by ptxas: every configuration the ops use must
compile, pass ptxas, and fit in 227 KB of shared memory. (The GPU tests run
them; this catches a compiler change that breaks one before a GPU does.)"""

import importlib.util
import os
import pathlib
import re
import subprocess

import pytest

from tessera.backends.nvidia import NVIDIABackend
from tessera.compiler.frontend import ASTSource
from tessera.kernels import attention as A
from tessera.kernels import bsa as S
from tessera.kernels import mla as M

_spec = importlib.util.spec_from_file_location(
    "mm04", pathlib.Path(__file__).parents[2] / "examples" / "04_matmul.py")
mm04 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mm04)

PTXAS = next((p for p in (os.environ.get("TESSERA_PTXAS", ""), "/usr/local/cuda/bin/ptxas")
              if p and os.path.exists(p)), None)


def signature(fn, ptrs, floats=(), divisible=()):
    return {n: ptrs.get(n, "fp32" if n in floats else "i32:16" if n in divisible else "i32")
            for n in fn.arg_names if n not in fn.constexpr_names}


def compile_and_assemble(fn, sig, consts, options, arch, tmp_path):
    for c in consts:
        sig.pop(c, None)
    binary = NVIDIABackend(arch=arch).compile(ASTSource(fn, sig, consts).make_ir(), fn.__name__,
                                              False, options)
    header, _, ptx = binary.partition(b"\n")
    assert int(header.split(b":")[2]) <= 232448, (fn.__name__, consts, header)
    if PTXAS:
        path = tmp_path / "k.ptx"
        path.write_bytes(ptx)
        r = subprocess.run([PTXAS, "-v", f"-arch={arch}", str(path), "-o",
                            str(tmp_path / "k.cubin")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        # C7514: ptxas serializes every wgmma of the kernel (a 0.75x GEMM).
        assert "C7514" not in r.stderr, (fn.__name__, consts, r.stderr)


ARCHS = ["sm_90a", "sm_80"]
ATTN = {"Q": "*bf16:16", "K": "*bf16:16", "V": "*bf16:16", "Out": "*bf16:16", "LSE": "*fp32:16",
        "KV_INDEX": "*i32:16", "KV_COUNT": "*i32:16", "Q_INDEX": "*i32:16", "Q_COUNT": "*i32:16"}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("bm,bn,warps,causal,q_sparse", [
    (128, 128, 8, False, False), (128, 128, 8, True, False), (64, 64, 4, False, True),
    (128, 64, 8, True, True), (16, 16, 1, False, False)])
def test_attention_forward(arch, bm, bn, warps, causal, q_sparse, tmp_path):
    f = A.block_sparse_attention_fwd
    strides = [n for n in f.arg_names if n.startswith("stride") and n.endswith(("m", "n", "z", "h"))]
    compile_and_assemble(f, signature(f, ATTN, ["sm_scale"], strides),
                         dict(HEAD_DIM=128, BLOCK_M=bm, BLOCK_N=bn, CAUSAL=causal,
                              Q_SPARSE=q_sparse, Q_BLOCK=bm, stride_qk=1, stride_kk=1,
                              stride_vk=1, stride_ok=1, stride_iq=1),
                         {"num_warps": warps, "num_stages": 2}, arch, tmp_path)


@pytest.mark.parametrize("bm,bn,warps", [(128, 128, 8), (64, 64, 4)])
def test_attention_forward_tma(bm, bn, warps, tmp_path):
    """K and V through tensor descriptors (ops' default on sm_90a for
    non-causal contiguous inputs): TMA copies on mbarriers, no cp.async,
    both products on wgmma; ptxas takes it."""
    from tessera import _C
    f = A.block_sparse_attention_fwd
    strides = [n for n in f.arg_names if n.startswith("stride") and n.endswith(("m", "n", "z", "h"))]
    sig = signature(f, ATTN, ["sm_scale"], strides + ["N_KV", "KV_ROWS"])
    consts = dict(HEAD_DIM=128, BLOCK_M=bm, BLOCK_N=bn, CAUSAL=False, Q_SPARSE=False, Q_BLOCK=bm,
                  EVEN_N=True, TMA=True, stride_qk=1, stride_kk=1, stride_vk=1, stride_ok=1,
                  stride_iq=1)
    for c in consts:
        sig.pop(c, None)
    ok, ptx, _, _, diagnostics, _, maps, _ = _C.nvidia.compile(
        ASTSource(f, sig, consts).make_ir(), f.__name__, "sm_90a", warps, cubin=False,
        num_stages=2)
    assert ok, diagnostics
    assert len(maps) == 2 and "cp.async.bulk.tensor" in ptx and "cp.async.cg" not in ptx
    assert ptx.count("wgmma.mma_async") > 0
    compile_and_assemble(f, signature(f, ATTN, ["sm_scale"], strides + ["N_KV", "KV_ROWS"]),
                         consts, {"num_warps": warps, "num_stages": 2}, "sm_90a", tmp_path)


@pytest.mark.parametrize("q_sparse", [False, True])
def test_attention_forward_producer_warp(q_sparse, tmp_path):
    """With the producer option, the TMA loop's copies come from a ninth
    warp: the launch header says 9 warps, the kernel requires 288 threads,
    the other warps' CTA barriers count 256, and ptxas takes it (the
    query-sparse variant's kept-row loads before the loop stay with the
    consumers)."""
    from tessera import _C
    f = A.block_sparse_attention_fwd
    strides = [n for n in f.arg_names if n.startswith("stride") and n.endswith(("m", "n", "z", "h"))]
    consts = dict(HEAD_DIM=128, BLOCK_M=128, BLOCK_N=128, CAUSAL=False, Q_SPARSE=q_sparse,
                  Q_BLOCK=128, EVEN_N=True, TMA=True, stride_qk=1, stride_kk=1, stride_vk=1,
                  stride_ok=1, stride_iq=1)
    sig = signature(f, ATTN, ["sm_scale"], strides + ["N_KV", "KV_ROWS"])
    for c in consts:
        sig.pop(c, None)
    ir = ASTSource(f, sig, consts).make_ir()
    # Two boxes of 64 columns per tile, k and v: in the prologue and the
    # loop, or in the producer's loop only.
    for producer, warps, threads, copies in ((False, 8, 256, 8), (True, 9, 288, 4)):
        ok, ptx, _, _, diagnostics, _, maps, block_warps = _C.nvidia.compile(
            ir, f.__name__, "sm_90a", 8, cubin=False, num_stages=2, producer_warp=producer)
        assert ok, diagnostics
        assert block_warps == warps and f".reqntid {threads}" in ptx
        assert len(maps) == 2 and ptx.count("cp.async.bulk.tensor") == copies
    assert re.search(r"bar\.sync\s+0, 256;", ptx)
    binary = NVIDIABackend(arch="sm_90a").compile(ir, f.__name__, False,
                                                  {"num_warps": 8, "num_stages": 2,
                                                   "producer": True})
    assert binary.startswith(b"tessera:9:")
    compile_and_assemble(f, signature(f, ATTN, ["sm_scale"], strides + ["N_KV", "KV_ROWS"]),
                         consts, {"num_warps": 8, "num_stages": 2, "producer": True}, "sm_90a",
                         tmp_path)


def _overlap_ptx(producer, registers):
    from tessera import _C
    f = A.block_sparse_attention_fwd
    strides = [n for n in f.arg_names if n.startswith("stride") and n.endswith(("m", "n", "z", "h"))]
    consts = dict(HEAD_DIM=128, BLOCK_M=128, BLOCK_N=128, CAUSAL=False, Q_SPARSE=False,
                  Q_BLOCK=128, EVEN_N=True, TMA=True, OVERLAP=True, stride_qk=1, stride_kk=1,
                  stride_vk=1, stride_ok=1, stride_iq=1)
    sig = signature(f, ATTN, ["sm_scale"], strides + ["N_KV", "KV_ROWS"])
    for c in consts:
        sig.pop(c, None)
    ir = ASTSource(f, sig, consts).make_ir()
    return _C.nvidia.compile(ir, f.__name__, "sm_90a", 8, cubin=False, num_stages=2,
                             producer_warp=producer, producer_registers=registers)


def _ptxas_spills(ptx, tmp_path):
    path = tmp_path / "k.ptx"
    path.write_text(ptx)
    r = subprocess.run([PTXAS, "-v", "-arch=sm_90a", str(path), "-o", str(tmp_path / "k.cubin")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "arning" not in r.stderr, r.stderr
    return [int(n) for n in re.findall(r"(\d+) bytes spill stores", r.stderr)]


@pytest.mark.skipif(not PTXAS, reason="needs ptxas")
def test_attention_overlap_loop_on_sm90a(tmp_path):
    """The intra-warpgroup overlap loop at sm_90a: in the PTX each iteration
    issues Q K^T, then P V, waits for the first only (wait_group 1), runs the
    exponentials, waits for P V (wait_group 0) and only then packs the new
    P, so no register a product reads is written while it is in flight.
    Its two score tiles do not fit the 168 registers a block of 9 warps
    leaves (a producer warp: ptxas spills); with a producer warpgroup that
    keeps 24 registers (setmaxnreg) the consumers get 240 and nothing
    spills (12 warps, 384 threads)."""
    ok, ptx, _, _, diagnostics, _, _, warps = _overlap_ptx(True, 24)
    assert ok, diagnostics
    assert warps == 12 and ".reqntid 384" in ptx
    assert re.search(r"setmaxnreg\.dec\.sync\.aligned\.u32\s+24;", ptx)
    assert re.search(r"setmaxnreg\.inc\.sync\.aligned\.u32\s+240;", ptx)
    ops = re.findall(r"wgmma\.mma_async|wgmma\.commit_group|wgmma\.wait_group\.sync\.aligned\s+\d|"
                     r"ex2\.approx|cvt\.rn\.bf16x2", ptx)
    seq = [o.split(".")[0] if not o.startswith("wgmma.wait") else o[-1] for o in ops]
    # The loop body: 8 + 8 wgmma (two products), wait 1, exponentials, wait 0, packs.
    start = seq.index("1")
    assert seq[:start] == ["wgmma"] * 18, seq[:start]  # 16 mma_async + 2 commits
    after = seq[start + 1:]
    assert after.index("0") > 0 and set(after[:after.index("0")]) == {"ex2"}
    assert after[after.index("0") + 1:after.index("0") + 33] == ["cvt"] * 32
    if PTXAS:
        assert _ptxas_spills(ptx, tmp_path) == [0]
        ok, ptx9, *_ = _overlap_ptx(True, 0)
        assert ok and _ptxas_spills(ptx9, tmp_path)[0] > 0  # 9 warps: 168 registers
    ok, _, _, _, diagnostics, _, _, _ = _overlap_ptx(True, 20)
    assert not ok and "24 to 256 registers a multiple of 8" in diagnostics


@pytest.mark.parametrize("env,expected", [("0", False), ("1", True), (None, True)])
def test_pingpong_environment_variable(env, expected):
    """TESSERA_PINGPONG=0 turns the ping-pong schedule off for a process
    (the racecheck lane): the attention loop then has no mbarrier."""
    import sys

    f = A.block_sparse_attention_fwd
    strides = [n for n in f.arg_names if n.startswith("stride") and n.endswith(("m", "n", "z", "h"))]
    consts = dict(HEAD_DIM=128, BLOCK_M=128, BLOCK_N=128, CAUSAL=False, Q_SPARSE=False,
                  Q_BLOCK=128, EVEN_N=True, stride_qk=1, stride_kk=1, stride_vk=1, stride_ok=1,
                  stride_iq=1)
    sig = {n: t for n, t in signature(f, ATTN, ["sm_scale"], strides).items() if n not in consts}
    code = ("from tessera.backends.nvidia import NVIDIABackend as B\n"
            "from tessera.compiler.frontend import ASTSource\n"
            "from tessera.kernels import attention as A\n"
            "f = A.block_sparse_attention_fwd\n"
            f"ir = ASTSource(f, {sig!r}, {consts!r}).make_ir()\n"
            "b = B(arch='sm_90a').compile(ir, f.__name__, False, {'num_warps': 8, 'num_stages': 2})\n"
            "print(B.default_options['pingpong'], b'mbarrier.init' in b)\n")
    import tessera
    environ = {k: v for k, v in os.environ.items() if k != "TESSERA_PINGPONG"}
    environ["PYTHONPATH"] = os.pathsep.join(
        [str(pathlib.Path(tessera.__file__).parents[1]), environ.get("PYTHONPATH", "")])
    if env is not None:
        environ["TESSERA_PINGPONG"] = env
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(expected), str(expected)]


def test_attention_forward_head_dim_256_fits(tmp_path):
    """128 x 64 blocks of head dim 256 on 8 warps: the ping-pong pipeline's
    extra slot would not fit beside q, so the loop keeps two slots (and
    the shared-memory check in compile_and_assemble holds)."""
    f = A.block_sparse_attention_fwd
    strides = [n for n in f.arg_names if n.startswith("stride") and n.endswith(("m", "n", "z", "h"))]
    compile_and_assemble(f, signature(f, ATTN, ["sm_scale"], strides),
                         dict(HEAD_DIM=256, BLOCK_M=128, BLOCK_N=64, CAUSAL=False,
                              Q_SPARSE=False, Q_BLOCK=128, stride_qk=1, stride_kk=1,
                              stride_vk=1, stride_ok=1, stride_iq=1),
                         {"num_warps": 8, "num_stages": 2}, "sm_90a", tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kb_p,mode,tail", [(256, 0, 0), (2048, 1, 0), (8192, 0, 0), (1024, 0, 256),
                                            (1024, 1, 256)])
def test_block_select(arch, kb_p, mode, tail, tmp_path):
    f = S.block_select_kernel
    ptrs = {"Scores": "*fp32:16", "Index": "*i32:16", "Count": "*i32:16"}
    split = dict(TAIL=tail, SPLIT=True) if tail else {}
    compile_and_assemble(f, signature(f, ptrs, ["param"]), dict(MODE=mode, KB_P=kb_p, **split),
                         {"num_warps": max(1, min(8, kb_p // 1024))}, arch, tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
def test_block_scores(arch, tmp_path):
    f = S.block_scores_kernel
    ptrs = {"QP": "*fp32:16", "KP": "*fp32:16", "Scores": "*fp32:16"}
    compile_and_assemble(f, signature(f, ptrs, ["scale"]), dict(HEAD_DIM=128, BM=64, BN=64),
                         {"num_warps": 4}, arch, tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("block_h,block_n,out_block,warps", [(64, 32, 256, 4), (16, 32, 256, 4),
                                                             (64, 64, 512, 8)])
def test_mla_decode(arch, block_h, block_n, out_block, warps, tmp_path):
    f = M.mla_decode_split
    ptrs = {"Q": "*bf16:16", "KV": "*bf16:16", "BLOCK_TABLE": "*i32:16", "SEQLENS": "*i32:16",
            "O_PART": "*fp32:16", "LSE_PART": "*fp32:16"}
    divisible = ["stride_qb", "stride_qh", "stride_kvp", "stride_kvt", "stride_btb"]
    compile_and_assemble(f, signature(f, ptrs, ["sm_scale"], divisible),
                         dict(D_LAT=512, D_ROPE=64, PAGE=64, BLOCK_H=block_h, BLOCK_N=block_n,
                              D_OUT=out_block), {"num_warps": warps, "num_stages": 2}, arch,
                         tmp_path)
    g = M.mla_decode_combine
    compile_and_assemble(g, signature(g, {"O_PART": "*fp32:16", "LSE_PART": "*fp32:16",
                                          "O": "*bf16:16", "LSE": "*fp32:16"}),
                         dict(D_LAT=512, SPLITS_P2=8), {"num_warps": 4}, arch, tmp_path)


def loop_bodies(ptx):
    """Each loop's PTX lines (from the label a backward branch goes to, to
    that branch)."""
    lines = ptx.splitlines()
    labels = {m.group(1): i for i, line in enumerate(lines)
              if (m := re.match(r"^(\$L__BB\d+_\d+):", line))}
    for i, line in enumerate(lines):
        m = re.search(r"\bbra(?:\.uni)?\s+(\$L__BB\d+_\d+);", line)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            yield lines[labels[m.group(1)]:i + 1]


def test_mla_decode_loop_barriers():
    """MLA decode's 8-warp loop (64 heads x 64 keys a step, the cache by
    TMA): warpgroup 0 computes the scores (m64n64) and their softmax alone,
    under a branch warpgroup 1 skips, with no barrier: the row max and sum
    stay within quads. CTA barriers a step: the slot refill, the rows'
    scales handed to warpgroup 1, and P written for both warpgroups' m64n256
    (placed beside the scales, in the shared memory the kernel may take up
    to the block's limit as it holds an SM alone: 1 KB more than the
    scratch area measured, so no barrier between the scales' reads and P's
    writes). Once 7, then 5 with the scores split over both warpgroups."""
    f = M.mla_decode_split
    ptrs = {"Q": "*bf16:16", "KV": "*bf16:16", "BLOCK_TABLE": "*i32:16", "SEQLENS": "*i32:16",
            "O_PART": "*fp32:16", "LSE_PART": "*fp32:16"}
    divisible = ["stride_qb", "stride_qh", "stride_kvp", "stride_kvt", "stride_btb"]
    sig = signature(f, ptrs, ["sm_scale"], divisible)
    consts = dict(D_LAT=512, D_ROPE=64, PAGE=64, BLOCK_H=64, BLOCK_N=64, D_OUT=512, TMA=True)
    for c in consts:
        sig.pop(c, None)
    binary = NVIDIABackend(arch="sm_90a").compile(ASTSource(f, sig, consts).make_ir(), f.__name__,
                                                  False, {"num_warps": 8, "num_stages": 2})
    header, _, ptx = binary.partition(b"\n")
    assert int(header.split(b":")[2]) == 231424
    steps = [body for body in loop_bodies(ptx.decode())
             if sum("wgmma.mma_async" in line for line in body) == 40]  # 36 + 4 a step
    assert steps
    for body in steps:
        assert sum("m64n64k16" in line for line in body) == 36
        assert sum(line.strip().startswith("bar.sync") for line in body) == 3


def test_mla_decode_lagged(tmp_path):
    """The pipeliner's `lag` (not yet the default): in MLA's loop the next
    tiles' copies go after warpgroup 0's scores, once every thread has
    released the slot the previous iteration read (an empty mbarrier: no
    CTA barrier after the TMA wait), and P V is not waited for in its
    iteration (it runs while the next scores are issued): in the loop
    text, the wait for the tiles (mbarrier) is followed by the 36 m64n64
    with no CTA barrier between, the copies come after them, and after the
    m64n256 group's commit no wait comes before the loop goes round."""
    from tessera import _C
    f = M.mla_decode_split
    ptrs = {"Q": "*bf16:16", "KV": "*bf16:16", "BLOCK_TABLE": "*i32:16", "SEQLENS": "*i32:16",
            "O_PART": "*fp32:16", "LSE_PART": "*fp32:16"}
    divisible = ["stride_qb", "stride_qh", "stride_kvp", "stride_kvt", "stride_btb"]
    consts = dict(D_LAT=512, D_ROPE=64, PAGE=64, BLOCK_H=64, BLOCK_N=64, D_OUT=512, TMA=True)
    sig = signature(f, ptrs, ["sm_scale"], divisible)
    for c in consts:
        sig.pop(c, None)
    ir = ASTSource(f, sig, consts).make_ir()
    ok, ptx, _, shared, diagnostics, _, _, _ = _C.nvidia.compile(
        ir, f.__name__, "sm_90a", 8, cubin=False, num_stages=2, lag=True)
    assert ok, diagnostics
    assert shared <= 232448
    steps = [body for body in loop_bodies(ptx)
             if sum("wgmma.mma_async" in line for line in body) == 40]
    assert steps
    for body in steps:
        lines = [line.strip() for line in body]
        scores = [i for i, line in enumerate(lines) if "m64n64k16" in line]
        values = [i for i, line in enumerate(lines) if "m64n256k16" in line]
        copies = [i for i, line in enumerate(lines) if "cp.async.bulk.tensor" in line]
        full = next(i for i, line in enumerate(lines) if "mbarrier.try_wait" in line)
        assert len(scores) == 36 and len(values) == 4 and copies
        assert full < scores[0] and not any(line.startswith("bar.sync")
                                            for line in lines[full:scores[0]])
        assert copies[0] > scores[-1]
        commit = next(i for i in range(values[-1], len(lines))
                      if lines[i].startswith("wgmma.commit_group"))
        around = lines[commit + 1:] + lines[:commit]  # on to the next iteration's tile wait
        until = next(i for i, line in enumerate(around) if "mbarrier.try_wait" in line)
        assert not any(line.startswith("wgmma.wait_group") for line in around[:until])
    compile_and_assemble(f, signature(f, ptrs, ["sm_scale"], divisible), consts,
                         {"num_warps": 8, "num_stages": 2, "lag": True}, "sm_90a", tmp_path)


# benchmarks/gemm_shapes.py's autotune space: the pointer GEMM
# (examples/04), bf16 in, as benchmarks/gemm_configs.py launches it.
GEMM_SPACE = [(128, 256, 64, 8, 3), (128, 256, 32, 8, 3), (128, 128, 64, 8, 3),
              (128, 128, 64, 8, 4), (128, 128, 32, 8, 2), (64, 128, 32, 4, 3),
              (64, 64, 32, 4, 3), (32, 64, 32, 4, 3)]


@pytest.mark.parametrize("bm,bn,bk,warps,stages", GEMM_SPACE)
def test_gemm_space(bm, bn, bk, warps, stages, tmp_path):
    f = mm04.matmul_kernel
    ptrs = {n: "*bf16:16" for n in ("a_ptr", "b_ptr", "c_ptr")}
    compile_and_assemble(f, signature(f, ptrs, (), ["M", "N", "K", "stride_am", "stride_bk",
                                                    "stride_cm"]),
                         dict(BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn, BLOCK_SIZE_K=bk, GROUP_SIZE_M=8,
                              ACTIVATION="", stride_ak=1, stride_bn=1, stride_cn=1),
                         {"num_warps": warps, "num_stages": stages}, "sm_90a", tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pool", [False, True])
def test_cube_reorder(arch, pool, tmp_path):
    """The reordering of Wan's 16 x 28 x 52 latent in 8 x 4 x 4 cubes (D
    128, bf16); with the cubes' means (128 tokens x 64 channels a program)."""
    f = S.cube_reorder_kernel
    ptrs = {"X": "*bf16:16", "Y": "*bf16:16", "P": "*fp32:16"}
    consts = dict(T=16, HV=28, WV=52, CT=8, CH=4, CW=4, INVERSE=False,
                  BLOCK_T=128 if pool else 32, BLOCK_C=64 if pool else 128, POOL=pool)
    compile_and_assemble(f, signature(f, ptrs, divisible=[n for n in f.arg_names
                                                          if n.startswith("stride")]),
                         consts, {"num_warps": 8 if pool else 4}, arch, tmp_path)


@pytest.mark.parametrize("kernel", ["device_math", "libdevice_math"])
@pytest.mark.parametrize("arch", ARCHS)
def test_device_library_math_is_libdevice_inlined(arch, kernel, tmp_path):
    """tl.erf and float64 exp, exp2, log, log2, sin, cos and rsqrt come from
    CUDA's libdevice, and so do tl.extra.libdevice's tanh, pow, atan2...:
    linked and inlined (no .extern in the PTX; the calls left are
    libdevice's own slow paths, float64 sin and cos's range reduction and
    float64 pow, functions of the module as in nvcc's code), and ptxas
    takes it."""
    from tessera import _C
    from tessera.testing import device_math as dm
    if not _C.nvidia.find_libdevice():
        pytest.skip("no CUDA libdevice")
    fn = getattr(dm, kernel)
    ir = ASTSource(fn, dict(dm.SIGNATURE), {"BLOCK": 512}).make_ir()
    ok, ptx, _, _, diagnostics, _, _, _ = _C.nvidia.compile(ir, kernel, arch, 4, cubin=False)
    assert ok, diagnostics
    assert ".extern" not in ptx and "__nv_" not in ptx
    assert set(re.findall(r"call\S*\s+\(retval0\), (\w+)", ptx)) <= {
        "__internal_trig_reduction_slowpathd", "__internal_accurate_pow"}
    assert "fma.rn.f64" in ptx
    compile_and_assemble(fn, dict(dm.SIGNATURE), {"BLOCK": 512}, {"num_warps": 4}, arch,
                         tmp_path)


def test_missing_libdevice_names_the_line(monkeypatch):
    from tessera.compiler.errors import CompilationError
    from tessera.testing import device_math as dm
    monkeypatch.setenv("TESSERA_LIBDEVICE", "/nonexistent/libdevice.10.bc")
    ir = ASTSource(dm.device_math, dict(dm.SIGNATURE), {"BLOCK": 512}).make_ir()
    with pytest.raises(CompilationError, match=r"device_math.py:\d+:\d+: error: erf on 'f32' "
                       r"is computed by CUDA's libdevice .*set TESSERA_LIBDEVICE"):
        NVIDIABackend(arch="sm_90a").compile(ir, "device_math", False, {"num_warps": 4})


import tessera  # noqa: E402
import tessera.language as tl  # noqa: E402


@tessera.jit
def _dot_with_stored_transpose(Q, K, S, KT, WIDE: tl.constexpr):
    r = tl.arange(0, 64)
    c = tl.arange(0, WIDE)
    q = tl.load(Q + r[:, None] * 64 + r[None, :])
    k = tl.load(K + c[:, None] * 64 + r[None, :])
    kt = tl.trans(k)
    tl.store(KT + r[:, None] * WIDE + c[None, :], kt)  # the transpose read by a store too
    tl.store(S + r[:, None] * WIDE + c[None, :], tl.dot(q, kt))


@pytest.mark.parametrize("wide", [64, 256])
def test_split_n_dot_whose_transposed_b_is_stored_too(wide, tmp_path):
    """64 rows on 8 warps: wgmma splits N between the warpgroups only where
    each one's columns of B can be addressed in shared memory. A tl.trans
    that is also stored is written N-major, so its slabs must be whole
    128-byte swizzle columns: 32 columns (64 wide) are not, and the dot
    stays on mma.sync; 128 columns (256 wide) are."""
    f = _dot_with_stored_transpose
    ptrs = {n: "*bf16:16" for n in ("Q", "K", "KT")}
    ptrs["S"] = "*fp32:16"
    compile_and_assemble(f, signature(f, ptrs), dict(WIDE=wide), {"num_warps": 8}, "sm_90a",
                         tmp_path)


def test_ptx_dump_and_override(tmp_path, monkeypatch):
    """TESSERA_PTX_DUMP_DIR receives a kernel's PTX named by its tile IR;
    TESSERA_PTX_OVERRIDE_DIR replaces it by an edited copy of that name."""
    f = mm04.matmul_kernel
    sig = signature(f, {"a_ptr": "*fp16:16", "b_ptr": "*fp16:16", "c_ptr": "*fp16:16"}, (),
                    [n for n in f.arg_names if n.startswith("stride")] + ["M", "N", "K"])
    consts = dict(BLOCK_SIZE_M=64, BLOCK_SIZE_N=64, BLOCK_SIZE_K=32, GROUP_SIZE_M=8,
                  ACTIVATION="")
    for c in consts:
        sig.pop(c, None)
    ir = ASTSource(f, sig, consts).make_ir()
    backend = NVIDIABackend(arch="sm_90a")
    options = {"num_warps": 4, "num_stages": 3}
    monkeypatch.setenv("TESSERA_PTX_DUMP_DIR", str(tmp_path / "dump"))
    original = backend.compile(ir, "matmul_kernel", False, options)
    dumped = list((tmp_path / "dump").glob("matmul_kernel-*.ptx"))
    assert len(dumped) == 1 and dumped[0].read_bytes() == original.partition(b"\n")[2]
    monkeypatch.delenv("TESSERA_PTX_DUMP_DIR")
    edited = dumped[0].read_text().replace(".visible .entry", "// edited\n.visible .entry")
    (tmp_path / "edits").mkdir()
    (tmp_path / "edits" / dumped[0].name).write_text(edited)
    monkeypatch.setenv("TESSERA_PTX_OVERRIDE_DIR", str(tmp_path / "edits"))
    header, _, ptx = backend.compile(ir, "matmul_kernel", False, options).partition(b"\n")
    assert ptx.decode() == edited and header == original.partition(b"\n")[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_random_numbers(arch, tmp_path):
    """tl.randint / rand / randn (64-bit products, sin/cos/log) pass ptxas."""
    from test_random import random_kernel
    sig = signature(random_kernel, {"Ints": "*u32:16", "Uniform": "*fp32:16",
                                    "Normal": "*fp32:16", "Four": "*u32:16"})
    sig["seed"] = "i64"
    compile_and_assemble(random_kernel, sig, dict(BLOCK=256), {"num_warps": 4}, arch, tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
def test_join_split_interleave_cat(arch, tmp_path):
    """tl.join / split / interleave / cat (rank-3 tiles with a last dimension
    of 2, reductions over it, permutes and reshapes) pass ptxas."""
    from test_join_split import join_split_kernel
    sig = signature(join_split_kernel,
                    {n: "*fp32:16" for n in ("A", "B", "Joined", "Inter", "Cat", "Back")})
    compile_and_assemble(join_split_kernel, sig, dict(M=8, N=16), {"num_warps": 4}, arch,
                         tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
def test_sort_flip_histogram(arch, tmp_path):
    """tl.sort (a bitonic network of split/join steps), tl.flip and
    tl.histogram pass ptxas."""
    from test_join_split import flip_kernel, histogram_kernel, sort_kernel
    compile_and_assemble(sort_kernel, signature(sort_kernel, {"X": "*fp32:16", "Out": "*fp32:16"}),
                         dict(M=4, N=64, DESCENDING=False), {"num_warps": 4}, arch, tmp_path)
    compile_and_assemble(flip_kernel, signature(flip_kernel, {"X": "*fp32:16", "Out": "*fp32:16"}),
                         dict(M=4, N=32, DIM=1), {"num_warps": 4}, arch, tmp_path)
    from test_join_split import topk_kernel
    compile_and_assemble(topk_kernel, signature(topk_kernel, {"X": "*fp32:16", "Out": "*fp32:16"}),
                         dict(M=4, N=64, K=8), {"num_warps": 4}, arch, tmp_path)
    compile_and_assemble(histogram_kernel,
                         signature(histogram_kernel, {"X": "*i32:16", "Out": "*i32:16"}),
                         dict(N=256, BINS=16), {"num_warps": 4}, arch, tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
def test_gather(arch, tmp_path):
    from test_join_split import gather_kernel
    sig = signature(gather_kernel, {"Src": "*fp32:16", "Index": "*i32:16", "Out": "*fp32:16"})
    compile_and_assemble(gather_kernel, sig, dict(M=8, N=16, K=32, AXIS=1), {"num_warps": 4},
                         arch, tmp_path)


@pytest.mark.parametrize("arch", ARCHS)
def test_device_print(arch, tmp_path):
    """tl.device_print: vprintf calls with a format string per print and the
    arguments in a buffer; ptxas takes it."""
    from test_language import print_kernel
    sig = signature(print_kernel, {"X": "*fp32:16"})
    compile_and_assemble(print_kernel, sig, dict(BLOCK=4), {"num_warps": 1}, arch, tmp_path)
    for c in ("BLOCK",):
        sig.pop(c, None)
    ptx = NVIDIABackend(arch=arch).compile(ASTSource(print_kernel, sig, dict(BLOCK=4)).make_ir(),
                                           "print_kernel", False, {"num_warps": 1})
    assert ptx.count(b"vprintf") >= 4


@pytest.mark.parametrize("arch", ARCHS)
def test_device_assert(arch, tmp_path):
    """tl.device_assert: __assertfail where a thread's element is false, with
    the message and the Python file and line; ptxas takes it."""
    from test_language import assert_kernel
    sig = signature(assert_kernel, {"X": "*fp32:16", "Y": "*fp32:16"})
    compile_and_assemble(assert_kernel, sig, dict(BLOCK=128), {"num_warps": 4}, arch, tmp_path)
    sig.pop("BLOCK", None)
    ptx = NVIDIABackend(arch=arch).compile(ASTSource(assert_kernel, sig, dict(BLOCK=128)).make_ir(),
                                           "assert_kernel", False, {"num_warps": 4})
    assert b"__assertfail" in ptx


@pytest.mark.parametrize("arch", ARCHS)
def test_loop_unroll_factor_in_ptx(arch, tmp_path):
    """tl.range(..., loop_unroll_factor=3): the PTX has the loop body three
    times in the main loop and once in the loop of the iterations left
    (four of the recurrence's multiplies by 0.9), and assembles."""
    import test_language as L
    f = L.unrolled_recurrence
    sig = {"x_ptr": "*fp32:16", "out_ptr": "*fp32:16", "lo": "i32", "hi": "i32", "step": "i32"}
    binary = NVIDIABackend(arch=arch).compile(
        ASTSource(f, sig, {"BLOCK": 64, "UNROLL": 3}).make_ir(), f.__name__, False,
        {"num_warps": 1, "num_stages": 2})
    ptx = binary.partition(b"\n")[2].decode()
    assert len(re.findall(r"0f3F666666", ptx)) == 2 * 4, ptx  # 0.9, two elements a thread
    compile_and_assemble(f, dict(sig), {"BLOCK": 64, "UNROLL": 3}, {"num_warps": 1, "num_stages": 2},
                         arch, tmp_path)


def test_loop_unroll_factor_of_a_pipelined_dot_loop(tmp_path):
    """The pipeliner's consumer loop keeps loop_unroll_factor: at sm_90a the
    K loop's wgmma instructions stand three times for UNROLL=2 (two copies,
    one in the loop of the iterations left) against once, and it
    assembles."""
    import test_language as L
    f = L.unrolled_dot
    sig = {"a_ptr": "*fp16:16", "b_ptr": "*fp16:16", "c_ptr": "*fp32:16", "K": "i32:16"}
    counts = {}
    for unroll in (1, 2):
        binary = NVIDIABackend(arch="sm_90a").compile(
            ASTSource(f, dict(sig), {"BLOCK": 64, "UNROLL": unroll}).make_ir(), f.__name__, False,
            {"num_warps": 4, "num_stages": 2})
        counts[unroll] = binary.partition(b"\n")[2].decode().count("wgmma.mma_async")
    assert counts[1] > 0 and counts[2] == 3 * counts[1], counts
    compile_and_assemble(f, dict(sig), {"BLOCK": 64, "UNROLL": 2}, {"num_warps": 4, "num_stages": 2},
                         "sm_90a", tmp_path)


@pytest.mark.skipif(not PTXAS, reason="needs ptxas")
def test_ptxas_wait_experiments_assemble(tmp_path):
    """scripts/ptxas_wait_experiments.py: every variant of the overlap
    loop's PTX is valid PTX (ptxas assembles it), each differs from the
    compiled one where it says, and the SASS count finds the exponentials
    between the two waits."""
    spec = importlib.util.spec_from_file_location(
        "ptxas_wait", pathlib.Path(__file__).parents[2] / "scripts" / "ptxas_wait_experiments.py")
    pw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pw)
    found = pw.variants(pw.overlap_ptx())
    assert len(found) == 10 and len(set(found.values())) == 10
    assert found["wait predicated on the row sums"].count("@!%pw1 " + pw.WAIT0) == 1
    assert found["wait after a branch on the row sums"].count("bra $L_never_negative;") == 1
    assert found["no rescale of O after the wait"].count("(rescale dropped)") == 64
    assert found["no slot release after the wait"].count("(release dropped)") == 1
    assert found["packs into fresh registers, moved at the end"].count("%xp") == 1 + 2 * 32
    for i, ptx in enumerate(found.values()):
        pw.assemble(ptx, tmp_path, f"v{i}")
    sass = "\n".join(["HGMMA", "WARPGROUP.DEPBAR.LE gsb0, 0x1 ;", "MUFU.EX2 R1, R1 ;",
                      "MUFU.EX2 R2, R2 ;", "WARPGROUP.DEPBAR.LE gsb0, 0x0 ;", "MUFU.EX2 R3, R3 ;"])
    assert pw.exponentials_between_waits(sass) == 2
    assert pw.first_body_order(sass) == "DEPBAR0x1 EX2x2 DEPBAR0x0 EX2"
