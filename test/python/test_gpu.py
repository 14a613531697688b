"""The examples/ kernels and core language features on an NVIDIA GPU,
against float64 references on fresh random data. Skipped without a GPU
(CI has none); scripts/gpu-lane.sh runs them on the GPU machine."""

import importlib.util
import math
import pathlib

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera.backends import active

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or active().name != "cuda",
                       reason="needs an NVIDIA GPU and the NVIDIA backend"),
]

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cuda(a):
    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


rng = np.random.default_rng()


@pytest.mark.parametrize("n", [1, 1000, 98432, 1 << 20])
def test_vector_add(n):
    ex = load("01_vector_add")
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = torch.empty(n, device="cuda")
    ex.add_kernel[(tessera.cdiv(n, 1024),)](cuda(x), cuda(y), out, n, BLOCK_SIZE=1024)
    np.testing.assert_allclose(out.cpu().numpy(), x.astype(np.float64) + y, rtol=1e-6, atol=1e-6)


def test_host_data_runs_on_the_cpu_backend():
    """On a GPU machine, a launch on host data (numpy arrays, CPU tensors)
    runs on the CPU backend and one on CUDA tensors on the GPU, the same
    kernel with the same signature in one process (the kernel cache keys
    the backend); mixed devices raise with the reason."""
    ex = load("01_vector_add")
    n = 3000
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    want = x.astype(np.float64) + y
    grid = (tessera.cdiv(n, 1024),)
    host = np.empty(n, np.float32)
    ex.add_kernel[grid](x, y, host, n, BLOCK_SIZE=1024)
    np.testing.assert_allclose(host, want, rtol=1e-6, atol=1e-6)
    on_cpu = torch.empty(n)
    ex.add_kernel[grid](torch.from_numpy(x), torch.from_numpy(y), on_cpu, n, BLOCK_SIZE=1024)
    np.testing.assert_allclose(on_cpu.numpy(), want, rtol=1e-6, atol=1e-6)
    out = torch.empty(n, device="cuda")
    ex.add_kernel[grid](cuda(x), cuda(y), out, n, BLOCK_SIZE=1024)
    np.testing.assert_allclose(out.cpu().numpy(), want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="on cpu, but the kernel runs on the GPU"):
        ex.add_kernel[grid](cuda(x), torch.from_numpy(y), out, n, BLOCK_SIZE=1024)


@pytest.mark.parametrize("n", [1, 5000])
def test_device_library_math(n):
    """tl.erf and float64 math, from CUDA's libdevice, against numpy."""
    from tessera.testing import device_math as dm
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    out = torch.zeros((10, n), dtype=torch.float64, device="cuda")
    dm.device_math[(tessera.cdiv(n, 512),)](cuda(x), out, n, BLOCK=512)
    dm.check(out.cpu().numpy(), x)


@pytest.mark.parametrize("n", [1, 5000])
def test_libdevice_functions(n):
    """tl.extra.libdevice (tanh, pow, atan2, asin...) on float32 and float64,
    from the device library, against numpy."""
    from tessera.testing import device_math as dm
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    out = torch.zeros((30, n), dtype=torch.float64, device="cuda")
    dm.libdevice_math[(tessera.cdiv(n, 512),)](cuda(x), out, n, BLOCK=512)
    dm.check_libdevice(out.cpu().numpy(), x)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_bias_gelu(approximate):
    """examples/11_gelu.py (tl.erf; libdevice.tanh) against float64."""
    ex = load("11_gelu")
    x = (rng.standard_normal((64, 3000)) * 3).astype(np.float32)
    b = rng.standard_normal(3000).astype(np.float32)
    y = ex.bias_gelu(cuda(x), cuda(b), approximate)
    np.testing.assert_allclose(y.cpu().numpy(), ex.reference(x, b, approximate), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 7), (37, 100), (256, 781), (64, 4096)])
def test_fused_softmax(shape):
    ex = load("02_fused_softmax")
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    xt = cuda(x)
    y = torch.empty_like(xt)
    block = tessera.next_power_of_2(shape[1])
    ex.softmax_kernel[(min(64, shape[0]),)](y, xt, xt.stride(0), y.stride(0), shape[0], shape[1],
                                           BLOCK_SIZE=block, num_stages=2,
                                           num_warps=8 if block >= 2048 else 4)
    np.testing.assert_allclose(y.cpu().numpy(), ex.reference(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("M,N,block", [(4, 1, None), (33, 1000, None), (33, 1000, 256),
                                       (64, 4096, None), (64, 4096, 1024), (5, 8192, None),
                                       (3, 10000, None)])
def test_layer_norm(M, N, block):
    ex = load("03_layer_norm")
    x = (rng.standard_normal((M, N)) * 3 + 1).astype(np.float32)
    w, b = rng.standard_normal(N).astype(np.float32), rng.standard_normal(N).astype(np.float32)
    y, mean, rstd = ex.layer_norm(cuda(x), cuda(w), cuda(b), block=block)
    ry, rmean, rrstd = ex.reference(x, w, b)
    np.testing.assert_allclose(y.cpu().numpy(), ry, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean.cpu().numpy(), rmean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rstd.cpu().numpy(), rrstd, rtol=1e-4)


@pytest.mark.parametrize("M,N,K,act", [(64, 64, 64, ""), (100, 70, 130, "leaky_relu")])
def test_matmul(M, N, K, act):
    ex = load("04_matmul")
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    at, bt = cuda(a), cuda(b)
    c = torch.empty((M, N), device="cuda", dtype=torch.float16)
    grid = (tessera.cdiv(M, 32) * tessera.cdiv(N, 32),)
    ex.matmul_kernel[grid](at, bt, c, M, N, K, at.stride(0), at.stride(1), bt.stride(0),
                           bt.stride(1), c.stride(0), c.stride(1), BLOCK_SIZE_M=32,
                           BLOCK_SIZE_N=32, BLOCK_SIZE_K=32, GROUP_SIZE_M=4, ACTIVATION=act)
    ref = ex.reference(a, b, act)
    np.testing.assert_allclose(c.cpu().numpy().astype(np.float64), ref, rtol=2e-3,
                               atol=2e-3 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("BM,BN,BK,warps", [(32, 32, 32, 4), (64, 64, 32, 4), (128, 128, 32, 8),
                                            (16, 64, 16, 2), (128, 64, 64, 4), (16, 16, 16, 4),
                                            (64, 32, 16, 1)])
def test_matmul_tensor_cores(dtype, BM, BN, BK, warps):
    """fp16/bf16 dots run on mma.sync (sm_80+): block shapes and warp counts
    that tile, repeat and replicate the 16 x 8 instruction tiles."""
    ex = load("04_matmul")
    M, N, K = 200, 136, 112  # not multiples of the blocks: masked edges
    ty = getattr(torch, dtype)
    a = torch.randn(M, K, device="cuda").to(ty)
    b = torch.randn(K, N, device="cuda").to(ty)
    c = torch.empty((M, N), device="cuda", dtype=ty)
    grid = (tessera.cdiv(M, BM) * tessera.cdiv(N, BN),)
    ex.matmul_kernel[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                           c.stride(0), c.stride(1), BLOCK_SIZE_M=BM, BLOCK_SIZE_N=BN,
                           BLOCK_SIZE_K=BK, GROUP_SIZE_M=4, ACTIVATION="", num_warps=warps)
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    tol = 8e-3 if dtype == "bfloat16" else 2e-3
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=tol,
                               atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
@pytest.mark.parametrize("K", [16, 48, 112, 500])
def test_matmul_pipelined_loads(stages, K):
    """Loads issued stages - 1 iterations ahead: loops shorter than the
    pipeline (their extra loads masked off) and longer ones."""
    ex = load("04_matmul")
    M, N = 96, 80
    a = torch.randn(M, K, device="cuda").half()
    b = torch.randn(K, N, device="cuda").half()
    c = torch.empty((M, N), device="cuda", dtype=torch.float16)
    grid = (tessera.cdiv(M, 32) * tessera.cdiv(N, 64),)
    ex.matmul_kernel[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                           c.stride(0), c.stride(1), BLOCK_SIZE_M=32, BLOCK_SIZE_N=64,
                           BLOCK_SIZE_K=16, GROUP_SIZE_M=4, ACTIVATION="", num_stages=stages)
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=2e-3,
                               atol=2e-3 * np.abs(ref).max())


@tessera.jit
def wgmma_kernel(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
                 BK: tl.constexpr, SCALE_A: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
    b_ptrs = b_ptr + rk[:, None] * N + rn[None, :]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptrs, mask=(rm[:, None] < M) & (rk[None, :] < K - k), other=0.0)
        if SCALE_A:  # computed in registers: written to shared memory by the threads
            a = a * 2
        b = tl.load(b_ptrs, mask=(rk[:, None] < K - k) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b)
        a_ptrs += BK
        b_ptrs += BK * N
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@pytest.mark.parametrize("dtype,stages,scale_a", [("float16", 1, False), ("float16", 3, True),
                                                   ("float16", 4, False), ("bfloat16", 3, False)])
@pytest.mark.parametrize("BM,BN,BK,warps", [(64, 16, 16, 4), (64, 32, 32, 4), (64, 128, 128, 4),
                                            (128, 256, 32, 8), (256, 128, 64, 8),
                                            (128, 64, 64, 4), (64, 256, 64, 8), (64, 512, 32, 8),
                                            (128, 256, 64, 16)])
def test_wgmma_dots(dtype, stages, scale_a, BM, BN, BK, warps):
    """On sm_90a, fp16/bf16 dots over whole warpgroups run on wgmma with
    swizzled shared operands (32/64/128-byte swizzles, K tiles of one and
    two swizzle blocks, one and two warpgroups, several 64-row tiles per
    warpgroup), fed by cp.async stages or by the threads' own stores. With
    fewer 64-row blocks than warpgroups (64 x 256 and 64 x 512 on 8 warps,
    128 x 256 on 16) the warpgroups split N, each on its slab of B."""
    if active().arch != "sm_90a":
        pytest.skip("wgmma is sm_90a's (other targets run these dots in test_matmul_tensor_cores)")
    M, N, K = 300, 280, 200  # masked edges in every dimension
    ty = getattr(torch, dtype)
    a = torch.randn(M, K, device="cuda").to(ty)
    b = torch.randn(K, N, device="cuda").to(ty)
    c = torch.empty((M, N), device="cuda", dtype=torch.float32)
    grid = (tessera.cdiv(M, BM), tessera.cdiv(N, BN))
    wgmma_kernel[grid](a, b, c, M, N, K, BM=BM, BN=BN, BK=BK, SCALE_A=scale_a,
                       num_warps=warps, num_stages=stages)
    ref = (2.0 if scale_a else 1.0) * (a.double().cpu().numpy() @ b.double().cpu().numpy())
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=1e-3,
                               atol=1e-3 * np.abs(ref).max())


@tessera.jit
def wgmma_scaled_kernel(a_ptr, b_ptr, a2_ptr, c_ptr, c2_ptr, M, N, K, BM: tl.constexpr,
                        BN: tl.constexpr, BK: tl.constexpr, BM2: tl.constexpr):
    """acc += dot(a, b) * 0.5 (the dot's result read in the loop), and a
    second, narrow dot (BM2 rows: mma.sync) sharing the B tile."""
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rm2 = tl.program_id(0) * BM2 + tl.arange(0, BM2)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    acc2 = tl.zeros((BM2, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :],
                    mask=(rm[:, None] < M) & ((k + rk)[None, :] < K), other=0.0)
        a2 = tl.load(a2_ptr + rm2[:, None] * K + (k + rk)[None, :],
                     mask=(rm2[:, None] < M) & ((k + rk)[None, :] < K), other=0.0)
        b = tl.load(b_ptr + (k + rk)[:, None] * N + rn[None, :],
                    mask=((k + rk)[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b) * 0.5
        acc2 = tl.dot(a2, b, acc2)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))
    tl.store(c2_ptr + rm2[:, None] * N + rn[None, :], acc2,
             mask=(rm2[:, None] < M) & (rn[None, :] < N))


@pytest.mark.parametrize("stages", [1, 3])
@pytest.mark.parametrize("BM,BN,BK,BM2,warps", [(64, 64, 32, 16, 4), (128, 128, 64, 32, 8)])
def test_wgmma_result_read_in_loop_and_shared_operand(stages, BM, BN, BK, BM2, warps):
    """A wgmma dot whose result is read inside the loop waits for itself
    (it may not stay in flight), and a B tile read by a wgmma dot and an
    mma.sync dot is kept where both can read it; on every target."""
    M, N, K = 300, 280, 200
    a = torch.randn(M, K, device="cuda").half()
    a2 = torch.randn(M, K, device="cuda").half()
    b = torch.randn(K, N, device="cuda").half()
    c = torch.empty((M, N), device="cuda", dtype=torch.float32)
    c2 = torch.zeros((M, N), device="cuda", dtype=torch.float32)
    grid = (tessera.cdiv(M, BM), tessera.cdiv(N, BN))
    wgmma_scaled_kernel[grid](a, b, a2, c, c2, M, N, K, BM=BM, BN=BN, BK=BK, BM2=BM2,
                              num_warps=warps, num_stages=stages)
    bd = b.double().cpu().numpy()
    ref = 0.5 * (a.double().cpu().numpy() @ bd)
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=1e-3,
                               atol=1e-3 * np.abs(ref).max())
    # The narrow dot covers rows [pid * BM2, pid * BM2 + BM2) of each program.
    rows = np.concatenate([np.arange(p * BM2, p * BM2 + BM2) for p in range(grid[0])])
    rows = rows[rows < M]
    ref2 = a2.double().cpu().numpy()[rows] @ bd
    np.testing.assert_allclose(c2.double().cpu().numpy()[rows], ref2, rtol=1e-3,
                               atol=1e-3 * np.abs(ref2).max())


@tessera.jit
def wgmma_trans_kernel(x_ptr, y_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
                       BK: tl.constexpr, A_T: tl.constexpr):
    """C = A @ B with B given as Bt (N x K, row-major), or with A given as
    At (K x M, row-major): tiles loaded row-major, transposed by tl.trans."""
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        if A_T:
            at = tl.load(x_ptr + (k + rk)[:, None] * M + rm[None, :],
                         mask=((k + rk)[:, None] < K) & (rm[None, :] < M), other=0.0)
            b = tl.load(y_ptr + (k + rk)[:, None] * N + rn[None, :],
                        mask=((k + rk)[:, None] < K) & (rn[None, :] < N), other=0.0)
            acc += tl.dot(tl.trans(at), b)
        else:
            a = tl.load(x_ptr + rm[:, None] * K + (k + rk)[None, :],
                        mask=(rm[:, None] < M) & ((k + rk)[None, :] < K), other=0.0)
            bt = tl.load(y_ptr + rn[:, None] * K + (k + rk)[None, :],
                         mask=(rn[:, None] < N) & ((k + rk)[None, :] < K), other=0.0)
            acc += tl.dot(a, tl.trans(bt))
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@pytest.mark.parametrize("a_t", [False, True])
@pytest.mark.parametrize("stages", [1, 3])
@pytest.mark.parametrize("BM,BN,BK,warps", [(64, 64, 32, 4), (128, 128, 64, 8), (64, 256, 64, 4)])
def test_wgmma_transposed_operands(a_t, stages, BM, BN, BK, warps):
    """Transposes of copied tiles are views on sm_90a: a K-major B (Bt row-
    major) and an M-major A (At row-major) read by wgmma's descriptors."""
    if active().arch != "sm_90a":
        pytest.skip("wgmma is sm_90a's")
    M, N, K = 300, 280, 200
    a = torch.randn(M, K, device="cuda").half()
    b = torch.randn(K, N, device="cuda").half()
    c = torch.empty((M, N), device="cuda", dtype=torch.float32)
    x = a.t().contiguous() if a_t else a
    y = b if a_t else b.t().contiguous()
    grid = (tessera.cdiv(M, BM), tessera.cdiv(N, BN))
    wgmma_trans_kernel[grid](x, y, c, M, N, K, BM=BM, BN=BN, BK=BK, A_T=a_t, num_warps=warps,
                             num_stages=stages)
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=1e-3,
                               atol=1e-3 * np.abs(ref).max())


@tessera.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
               BK: tl.constexpr, ACC: tl.constexpr, PREC: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=ACC)
    for k in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :],
                    mask=(rm[:, None] < M) & ((k + rk)[None, :] < K), other=0)
        b = tl.load(b_ptr + (k + rk)[:, None] * N + rn[None, :],
                    mask=((k + rk)[:, None] < K) & (rn[None, :] < N), other=0)
        acc += tl.dot(a, b, input_precision=PREC)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@pytest.mark.parametrize("kind,BM,BN,BK,warps", [
    ("tf32", 64, 64, 32, 4), ("tf32", 32, 64, 16, 2), ("tf32x3", 64, 32, 32, 4),
    ("ieee", 32, 32, 16, 4), ("int8", 64, 64, 64, 4), ("int8", 32, 32, 32, 1)])
def test_dot_precisions_on_tensor_cores(kind, BM, BN, BK, warps):
    """fp32 dots: tf32 (m16n8k8; Triton's default), tf32x3 (three tf32
    products, about fp32 accuracy), ieee (FMA); int8 -> int32 (m16n8k32)."""
    M, N, K = 150, 90, 200
    if kind == "int8":
        a = rng.integers(-128, 128, (M, K)).astype(np.int8)
        b = rng.integers(-128, 128, (K, N)).astype(np.int8)
        c = torch.empty((M, N), device="cuda", dtype=torch.int32)
        acc, prec = tl.int32, "ieee"
    else:
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        c = torch.empty((M, N), device="cuda", dtype=torch.float32)
        acc, prec = tl.float32, kind
    grid = (tessera.cdiv(M, BM), tessera.cdiv(N, BN))
    dot_kernel[grid](cuda(a), cuda(b), c, M, N, K, BM=BM, BN=BN, BK=BK, ACC=acc, PREC=prec,
                     num_warps=warps)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    out = c.cpu().numpy()
    if kind == "int8":
        np.testing.assert_array_equal(out, ref.astype(np.int64))
        return
    err = np.abs(out - ref).max() / np.abs(ref).max()
    bound = {"tf32": 5e-3, "tf32x3": 1e-5, "ieee": 1e-5}[kind]
    assert err <= bound, f"{kind}: max relative error {err:.2e} over {bound}"
    if kind == "tf32":
        assert err > 1e-6, "tf32 precision should show tf32 rounding (is the dot on mma?)"


@pytest.mark.parametrize("Z,H,N,D,causal", [(1, 2, 64, 16, False), (2, 2, 100, 32, True)])
def test_flash_attention(Z, H, N, D, causal):
    ex = load("05_flash_attention")
    q, k, v = (rng.standard_normal((Z, H, N, D)).astype(np.float16) for _ in range(3))
    qt, kt, vt = cuda(q), cuda(k), cuda(v)
    o = torch.empty_like(qt)
    grid = (tessera.cdiv(N, 32), Z * H, 1)
    ex._attn_fwd[grid](qt, kt, vt, 1.0 / math.sqrt(D), o, *qt.stride(), *kt.stride(),
                       *vt.stride(), *o.stride(), H, N, HEAD_DIM=D, BLOCK_M=32, BLOCK_N=32,
                       CAUSAL=causal)
    np.testing.assert_allclose(o.cpu().numpy().astype(np.float64), ex.reference(q, k, v, causal),
                               rtol=1e-2, atol=5e-3)


@tessera.jit
def atomic_kernel(x_ptr, total_ptr, count_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.atomic_add(total_ptr, tl.sum(x, 0))
    tl.atomic_add(count_ptr, 1)


def test_atomics():
    n = 10_000
    x = rng.standard_normal(n).astype(np.float32)
    total = torch.zeros(1, device="cuda")
    count = torch.zeros(1, device="cuda", dtype=torch.int32)
    atomic_kernel[(tessera.cdiv(n, 256),)](cuda(x), total, count, n, BLOCK=256)
    assert count.item() == tessera.cdiv(n, 256)
    np.testing.assert_allclose(total.item(), x.astype(np.float64).sum(), rtol=1e-4, atol=1e-3)


def test_cpu_tensor_among_gpu_tensors_is_rejected():
    ex = load("01_vector_add")
    x, y = torch.zeros(16), torch.zeros(16, device="cuda")
    with pytest.raises(ValueError, match="runs on the GPU; pass a CUDA tensor"):
        ex.add_kernel[(1,)](y, x, y, 16, BLOCK_SIZE=16)


def test_fast_launch_path_specializes_like_the_python_path():
    """After the first launch of a signature, launches go through the C++
    path; it must pick the same specializations (n == 1, n % 16, alignment)."""
    ex = load("01_vector_add")
    kernel = ex.add_kernel
    for n in (1000, 1024, 1, 1000, 1024, 1, 999):
        x, y = rng.standard_normal(n + 1).astype(np.float32), rng.standard_normal(n).astype(np.float32)
        xt = cuda(x)[1:] if n == 999 else cuda(x)[:n]  # 999: a pointer off 16-byte alignment
        out = torch.zeros(n, device="cuda")
        kernel[(tessera.cdiv(n, 1024),)](xt, cuda(y), out, n, BLOCK_SIZE=1024)
        ref = (x[1:] if n == 999 else x[:n]).astype(np.float64) + y
        np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-6, atol=1e-6)
    assert len(kernel._fast) >= 4
    # Launch options are part of the key too: num_warps=8 is another kernel.
    before = len(kernel._fast)
    for _ in range(2):
        x = torch.randn(4096, device="cuda")
        out = torch.empty_like(x)
        kernel[(4,)](x, x, out, 4096, BLOCK_SIZE=1024, num_warps=8)
        torch.testing.assert_close(out, 2 * x)
    assert len(kernel._fast) == before + 1


def test_fast_path_still_rejects_bad_launches():
    ex = load("01_vector_add")
    x = torch.zeros(16, device="cuda")
    ex.add_kernel[(1,)](x, x, x, 16, BLOCK_SIZE=16)
    with pytest.raises(ValueError, match="runs on the GPU"):
        ex.add_kernel[(1,)](x.cpu(), x, x, 16, BLOCK_SIZE=16)
    with pytest.raises(ValueError, match="grid dimension 0 is 0"):
        ex.add_kernel[(0,)](x, x, x, 16, BLOCK_SIZE=16)


def test_target_and_binary_kind():
    """TESSERA_CUDA_ARCH=sm_80 (the GPU lane runs the suite so) compiles for
    that target and ships PTX for the driver to JIT; the device's own
    target gets a cubin from ptxas when ptxas is installed."""
    import os
    backend = active()
    wanted = os.environ.get("TESSERA_CUDA_ARCH")
    if wanted:
        assert backend.arch == wanted
    ex = load("01_vector_add")
    x = torch.zeros(64, device="cuda")
    k = ex.add_kernel.warmup(x, x, x, 64, BLOCK_SIZE=64)
    image = k.binary.partition(b"\n")[2]
    assert image.startswith(b"\x7fELF") == backend.cubin
    if not backend.cubin:
        assert f".target {backend.arch}".encode() in image


def test_gemm_sass_has_hgmma():
    """On sm_90a the GEMM of examples/04 is built on wgmma: its SASS (from
    cuobjdump, when the machine has it) holds HGMMA instructions and no HMMA."""
    import os
    import shutil
    import subprocess
    import tempfile
    backend = active()
    if backend.arch != "sm_90a" or not backend.cubin:
        pytest.skip("needs an sm_90a cubin")
    tool = shutil.which("cuobjdump") or next(
        (p for p in ("/usr/local/cuda/bin/cuobjdump",) if os.path.exists(p)), None)
    if tool is None:
        pytest.skip("cuobjdump is not installed")
    ex = load("04_matmul")
    k = ex.matmul_kernel.warmup("*fp16:16", "*fp16:16", "*fp16:16", "i32:16", "i32:16", "i32:16",
                                "i32:16", 1, "i32:16", 1, "i32:16", 1, BLOCK_SIZE_M=128,
                                BLOCK_SIZE_N=128, BLOCK_SIZE_K=64, GROUP_SIZE_M=8,
                                ACTIVATION="", num_warps=8, num_stages=3)
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(k.binary.partition(b"\n")[2])
        f.flush()
        sass = subprocess.run([tool, "-sass", f.name], capture_output=True, text=True,
                              check=True).stdout
    assert "HGMMA.64x128x16.F32" in sass
    assert "HMMA" not in sass


def test_compiled_kernel_on_the_gpu_checks_its_arguments():
    ex = load("01_vector_add")
    x = torch.randn(1024, device="cuda")
    out = torch.empty_like(x)
    k = ex.add_kernel.warmup("*fp32:16", "*fp32:16", "*fp32:16", "i32:16", BLOCK_SIZE=256)
    k[(4,)](x, x, out, 1024, BLOCK_SIZE=256)
    torch.testing.assert_close(out, 2 * x)
    with pytest.raises(TypeError, match="compiled for fp32 tensors, got a tensor of fp16"):
        k[(4,)](x.half(), x, out, 1024, BLOCK_SIZE=256)
    with pytest.raises(ValueError, match="not 16-byte aligned"):
        k[(4,)](x[1:], x, out, 1008, BLOCK_SIZE=256)
    with pytest.raises(ValueError, match="runs on the GPU"):
        k[(4,)](x.cpu(), x, out, 1024, BLOCK_SIZE=256)


def test_dlpack_cuda_arrays():
    class DLPackOnly:
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, stream=None):
            return self.t.__dlpack__()

    ex = load("01_vector_add")
    n = 5000
    x, y = torch.randn(n, device="cuda"), torch.randn(n, device="cuda")
    out = torch.zeros(n, device="cuda")
    ex.add_kernel[(tessera.cdiv(n, 1024),)](DLPackOnly(x), DLPackOnly(y), DLPackOnly(out), n,
                                           BLOCK_SIZE=1024)
    np.testing.assert_allclose(out.cpu().numpy(), x.cpu().double().numpy() + y.cpu().numpy(),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="runs on the GPU"):
        ex.add_kernel[(1,)](DLPackOnly(x.cpu()), y, out, n, BLOCK_SIZE=1024)


def test_driver_errors_are_cuda_errors():
    with pytest.raises(tessera._C.cuda.CudaError, match="CUDA_ERROR"):
        tessera._C.cuda.Kernel(b"not a cubin", "k", 4, 0)


def test_fast_path_scalars_follow_declared_types():
    @tessera.jit
    def axpb(out, a: tl.float64, b: "fp32", n, B: tl.constexpr):
        offs = tl.arange(0, B)
        tl.store(out + offs, (offs * a + b).to(tl.float32), mask=offs < n)

    out = torch.zeros(64, device="cuda")
    for a, b in ((2, 3), (0.5, 1.25), (3, 7)):  # ints to float parameters, twice each kind
        axpb[(1,)](out, a, b, 64, B=64)
        np.testing.assert_allclose(out.cpu().numpy(), np.arange(64) * a + b, rtol=1e-6)


def test_callable_grid_on_the_fast_path():
    """A grid function gets the arguments and launch options by name, also
    on the C++ path (after the first launch)."""
    ex = load("01_vector_add")
    seen = []

    def grid(meta):
        seen.append((meta["n_elements"],
                     meta["BLOCK_SIZE"], meta["num_warps"]))
        return (tessera.cdiv(seen[-1][0], meta["BLOCK_SIZE"]),)

    for n in (3000, 3000, 5000):
        x = torch.randn(n, device="cuda")
        out = torch.empty_like(x)
        ex.add_kernel[grid](x, x, out, n, BLOCK_SIZE=512)
        torch.testing.assert_close(out, 2 * x)
    assert [s[0] for s in seen] == [3000, 3000, 5000]
    assert all(s[1] == 512 and s[2] == 4 for s in seen)


def test_autotuned_matmul_on_the_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    ex = load("04_matmul")
    configs = [tessera.Config({"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32},
                              num_warps=4, num_stages=3),
               tessera.Config({"BLOCK_SIZE_M": 128, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32},
                              num_warps=4, num_stages=2)]
    tuned = tessera.autotune(configs, key=["M", "N", "K"])(ex.matmul_kernel)
    M, N, K = 300, 200, 160
    a = torch.randn(M, K, device="cuda").half()
    b = torch.randn(K, N, device="cuda").half()
    c = torch.empty((M, N), device="cuda", dtype=torch.float16)
    grid = lambda meta: (tessera.cdiv(M, meta["BLOCK_SIZE_M"]) *  # noqa: E731
                         tessera.cdiv(N, meta["BLOCK_SIZE_N"]),)
    for _ in range(2):
        c.zero_()
        tuned[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                    c.stride(0), c.stride(1), GROUP_SIZE_M=4, ACTIVATION="")
        ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
        np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=2e-3,
                                   atol=2e-3 * np.abs(ref).max())
    assert tuned.best_config in configs and len(tuned.timings) == 1


def test_do_bench_times_the_device_work():
    """The autotuner's do_bench times on the device with a cold L2: a
    vector add of 3 x 64 MiB cannot beat the H200's 4.8 TB/s, and two adds
    per run take about twice one."""
    from tessera.runtime.autotuner import do_bench

    ex = load("01_vector_add")
    n = 1 << 24
    x = torch.randn(n, device="cuda")
    out = torch.empty_like(x)
    grid = (tessera.cdiv(n, 1024),)
    one = do_bench(lambda: ex.add_kernel[grid](x, x, out, n, BLOCK_SIZE=1024))
    two = do_bench(lambda: (ex.add_kernel[grid](x, x, out, n, BLOCK_SIZE=1024),
                            ex.add_kernel[grid](out, x, out, n, BLOCK_SIZE=1024)))
    torch.testing.assert_close(out, 3 * x)
    assert 3 * 4 * n / (one * 1e-3) < 6e12, one  # bytes per second below any HBM3e
    assert 1.5 < two / one < 2.5, (one, two)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("M,N,K", [(64, 64, 64), (100, 70, 96), (257, 129, 512)])
def test_block_ptr_matmul_example(M, N, K, dtype, tmp_path, monkeypatch):
    """examples/06: block-pointer loads (boundary_check) feeding tensor-core
    dots (fp16 -> m16n8k16, fp32 -> tf32), autotuned, pipelined."""
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    ex = load("06_block_ptr_matmul")
    a = torch.randn(M, K, device="cuda").to(getattr(torch, dtype))
    b = torch.randn(K, N, device="cuda").to(getattr(torch, dtype))
    c = ex.matmul(a, b)
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=5e-3,
                               atol=5e-3 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("BM,BN,BK,warps,stages", [(64, 64, 32, 4, 3), (128, 128, 64, 8, 4),
                                                   (128, 256, 64, 8, 3), (64, 128, 128, 4, 2),
                                                   (64, 64, 32, 4, 1)])
@pytest.mark.parametrize("M,N,K", [(256, 256, 256), (300, 280, 200)])
def test_descriptor_matmul(dtype, BM, BN, BK, warps, stages, M, N, K):
    """examples/07 (tensor descriptors): on sm_90a the pipelined loads are TMA
    copies (boxes of 32/64/128-byte rows, one and two per tile, zeros past
    the edges); with num_stages=1 they stay in registers; other targets read
    element pointers."""
    ex = load("07_descriptor_matmul")
    ty = getattr(torch, dtype)
    a = torch.randn(M, K, device="cuda").to(ty)
    b = torch.randn(K, N, device="cuda").to(ty)
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    for _ in range(2):  # the first launch compiles, the second takes the C++ fast path
        c = ex.matmul(a, b, BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, num_warps=warps,
                      num_stages=stages)
        np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=1e-2,
                                   atol=1e-2 * np.abs(ref).max())


@pytest.mark.parametrize("BM,BN,BK,warps,stages", [(64, 64, 32, 4, 3), (128, 128, 64, 8, 4),
                                                   (128, 256, 64, 8, 3), (32, 64, 32, 4, 3)])
@pytest.mark.parametrize("M,N,K", [(1000, 1096, 296), (128, 64, 64), (4096, 2048, 512)])
def test_persistent_matmul(BM, BN, BK, warps, stages, M, N, K):
    """examples/10: one program per SM looping over tiles; each program's
    pipelined loop (TMA on sm_90a, cp.async for the mma.sync config) runs
    once per tile and the epilogue's scratch shares the slots' bytes.
    (Rows of N and K elements: multiples of 16 bytes, as TMA needs.)"""
    ex = load("10_persistent_matmul")
    a = torch.randn(M, K, device="cuda").bfloat16()
    b = torch.randn(K, N, device="cuda").bfloat16()
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    c = ex.matmul(a, b, BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, num_warps=warps, num_stages=stages)
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=1e-2,
                               atol=1e-2 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
@pytest.mark.parametrize("offsets", [(0, 0), (3, -5)])
@pytest.mark.parametrize("C", [70, 72])
def test_descriptor_atomic_add_on_gpu(dtype, offsets, C):
    """desc.atomic_add from many programs into overlapping blocks against
    float64: on sm_90a rows of 72 (whole 16-byte units) are TMA bulk
    reductions, rows of 70 element atomics (red, four floats at a time
    where aligned), as on sm_80."""
    import test_tensor_descriptor as td
    R, BR, BC = 45, 16, 32
    if dtype == torch.int32:
        x = torch.randint(-1000, 1000, (R, C + 3), dtype=torch.int32, device="cuda") * 2
    else:
        x = torch.randn(R, C + 3, device="cuda")
    base = torch.randint(-9, 9, (R, C), device="cuda").to(dtype)
    y = base.clone()
    td.accumulate_blocks[(-(-R // BR), -(-C // BC))](x, y, R, C, C + 3, *offsets, BR=BR, BC=BC)
    xs = x.double().cpu().numpy()[:, :C]
    want = base.double().cpu().numpy() + 0.5 * xs
    o0, o1 = offsets
    want[max(o0, 0):R + min(o0, 0), max(o1, 0):C + min(o1, 0)] += \
        xs[max(-o0, 0):R - max(o0, 0), max(-o1, 0):C - max(o1, 0)]
    np.testing.assert_allclose(y.double().cpu().numpy(), want, rtol=1e-5, atol=1e-5)


def test_descriptor_matmul_uses_tma_on_sm90a():
    """The sm_90a binary of examples/07 copies with TMA (the PTX's
    cp.async.bulk.tensor; UTMALDG in the SASS when cuobjdump is there) and
    passes two tensor maps."""
    import os
    import shutil
    import subprocess
    import tempfile
    backend = active()
    if backend.arch != "sm_90a":
        pytest.skip("TMA is sm_90a's")
    ex = load("07_descriptor_matmul")
    k = ex.matmul_kernel.warmup("*fp16:16", "*fp16:16", "*fp16:16", "i32:16", "i32:16", "i32:16",
                                BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, GROUP_M=8, num_warps=8,
                                num_stages=4)
    header, _, image = k.binary.partition(b"\n")
    assert len(header.decode().split(":")[3].split("|")) == 2
    tool = shutil.which("cuobjdump") or next(
        (p for p in ("/usr/local/cuda/bin/cuobjdump",) if os.path.exists(p)), None)
    if not backend.cubin or tool is None:
        assert b"cp.async.bulk.tensor.2d" in image
        return
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(image)
        f.flush()
        sass = subprocess.run([tool, "-sass", f.name], capture_output=True, text=True,
                              check=True).stdout
    assert "UTMALDG" in sass and "HGMMA" in sass


def test_descriptor_tma_rejects_unaligned_rows():
    """TMA needs rows 16-byte aligned: on sm_90a a row stride of 100 halves
    is a launch error that says so; elsewhere the pointer path runs it."""
    ex = load("07_descriptor_matmul")
    a = torch.randn(128, 100, device="cuda").half()
    b = torch.randn(100, 64, device="cuda").half()
    if active().arch == "sm_90a":
        with pytest.raises(ValueError, match="multiple of 16 bytes"):
            ex.matmul(a, b, BLOCK_M=64, BLOCK_N=64, BLOCK_K=32)
    else:
        c = ex.matmul(a, b, BLOCK_M=64, BLOCK_N=64, BLOCK_K=32)
        ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
        np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=1e-2,
                                   atol=1e-2 * np.abs(ref).max())


@tessera.jit
def desc_shift3d(src, dst, D0, D1, D2, s0, s1, o0, o1, o2, B0: tl.constexpr, B1: tl.constexpr,
                 B2: tl.constexpr):
    d = tl.make_tensor_descriptor(src, [D0, D1, D2], [s0, s1, 1], [B0, B1, B2])
    e = tl.make_tensor_descriptor(dst, [D0, D1, D2], [s0, s1, 1], [B0, B1, B2])
    p0, p1, p2 = tl.program_id(0) * B0, tl.program_id(1) * B1, tl.program_id(2) * B2
    e.store([p0, p1, p2], d.load([p0 + o0, p1 + o1, p2 + o2]) * 2)


def test_descriptor_3d_on_gpu():
    """3-D descriptor blocks at shifted (negative) offsets: zeros outside."""
    D = (7, 10, 13)
    x = rng.standard_normal(D).astype(np.float32)
    y = torch.full(D, float("nan"), device="cuda")
    B = (4, 4, 8)
    grid = tuple(-(-d // b) for d, b in zip(D, B))
    offsets = (1, -2, 3)
    desc_shift3d[grid](cuda(x), y, *D, D[1] * D[2], D[2], *offsets, B0=B[0], B1=B[1], B2=B[2])
    padded = np.zeros([d + 40 for d in D])
    padded[20:20 + D[0], 20:20 + D[1], 20:20 + D[2]] = x
    o = [20 + v for v in offsets]
    ref = 2 * padded[o[0]:o[0] + D[0], o[1]:o[1] + D[1], o[2]:o[2] + D[2]]
    np.testing.assert_array_equal(y.cpu().numpy(), ref.astype(np.float32))


@tessera.jit
def fp8_roundtrip(x_ptr, y_ptr, z_ptr, n, DT: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    f8 = x.to(DT)
    tl.store(y_ptr + offs, f8, mask=offs < n)
    tl.store(z_ptr + offs, f8.to(tl.float32), mask=offs < n)


def needs_sm89():
    if active().arch in ("sm_80",):
        pytest.skip("fp8 needs sm_89 or newer")


@pytest.mark.parametrize("name", ["float8e4nv", "float8e5"])
@pytest.mark.parametrize("src", ["float32", "float16"])
def test_fp8_conversions(name, src):
    """fp32/fp16 -> fp8 (round to nearest even, saturating) -> fp32, against
    torch's own fp8 conversion of the same values (in range) and its bytes."""
    needs_sm89()
    tdt = {"float8e4nv": torch.float8_e4m3fn, "float8e5": torch.float8_e5m2}[name]
    n = 5000
    x = (torch.randn(n, device="cuda") * 50).to(getattr(torch, src))
    y = torch.empty(n, device="cuda", dtype=tdt)
    z = torch.empty(n, device="cuda")
    fp8_roundtrip[(tessera.cdiv(n, 1024),)](x, y, z, n, DT=getattr(tl, name), BLOCK=1024)
    ref = x.float().to(tdt)
    assert torch.equal(y.view(torch.uint8), ref.view(torch.uint8))
    np.testing.assert_array_equal(z.cpu().numpy(), ref.float().cpu().numpy())
    # Out of range saturates to the largest finite value (as Triton's cvt does).
    big = torch.tensor([1e6, -1e6], device="cuda")
    yb, zb = torch.empty(2, device="cuda", dtype=tdt), torch.empty(2, device="cuda")
    fp8_roundtrip[(1,)](big, yb, zb, 2, DT=getattr(tl, name), BLOCK=1024)
    top = 448.0 if name == "float8e4nv" else 57344.0
    assert zb.tolist() == [top, -top]


@pytest.mark.parametrize("ta,tb", [("float8_e4m3fn", "float8_e4m3fn"), ("float8_e5m2", "float8_e5m2"),
                                   ("float8_e4m3fn", "float8_e5m2")])
@pytest.mark.parametrize("BM,BN,BK,warps,stages", [(64, 64, 64, 4, 3), (128, 128, 64, 8, 3),
                                                   (32, 64, 32, 2, 1)])
def test_fp8_dots(ta, tb, BM, BN, BK, warps, stages):
    """fp8 dots (e4m3, e5m2 and mixed) on mma.sync m16n8k32 with fp32
    accumulation, operands through cp.async stages or the threads, against
    float64 products of the same fp8 values."""
    needs_sm89()
    M, N, K = 300, 280, 200
    a = (torch.randn(M, K, device="cuda") * 4).to(getattr(torch, ta))
    b = (torch.randn(K, N, device="cuda") * 4).to(getattr(torch, tb))
    c = torch.empty((M, N), device="cuda", dtype=torch.float32)
    grid = (tessera.cdiv(M, BM), tessera.cdiv(N, BN))
    wgmma_kernel[grid](a, b, c, M, N, K, BM=BM, BN=BN, BK=BK, SCALE_A=False, num_warps=warps,
                       num_stages=stages)
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=1e-4,
                               atol=1e-4 * np.abs(ref).max())


def test_fp8_on_sm80_is_a_clear_error():
    """Compiled for sm_80, an fp8 conversion names its line and the need."""
    from tessera.backends.nvidia import NVIDIABackend
    from tessera.compiler import ASTSource
    ir = ASTSource(fp8_roundtrip, {"x_ptr": "*fp32:16", "y_ptr": "*fp8e4nv:16", "z_ptr": "*fp32:16",
                                   "n": "i32"}, {"DT": tl.float8e4nv, "BLOCK": 1024}).make_ir()
    with pytest.raises(tessera.CompilationError, match="needs sm_89 or newer"):
        NVIDIABackend(arch="sm_80").compile(ir, "fp8_roundtrip", False, {"num_warps": 4})


@pytest.mark.parametrize("ta,tb", [("float8_e4m3fn", "float8_e4m3fn"), ("float8_e5m2", "float8_e5m2"),
                                   ("float8_e5m2", "float8_e4m3fn")])
@pytest.mark.parametrize("BM,BN,BK,warps,stages", [(64, 64, 64, 4, 3), (64, 128, 32, 4, 1),
                                                   (128, 128, 128, 8, 3)])
def test_fp8_dots_with_k_major_b(ta, tb, BM, BN, BK, warps, stages):
    """fp8 with B given K-major (tl.dot(a, tl.trans(bt))): wgmma k32 on
    sm_90a (both operands K-major, B a transposed view of its copied tile or
    written transposed by the threads), mma.sync on sm_89."""
    needs_sm89()
    M, N, K = 300, 280, 200
    a = (torch.randn(M, K, device="cuda") * 4).to(getattr(torch, ta))
    bt = (torch.randn(N, K, device="cuda") * 4).to(getattr(torch, tb))
    c = torch.empty((M, N), device="cuda", dtype=torch.float32)
    grid = (tessera.cdiv(M, BM), tessera.cdiv(N, BN))
    wgmma_trans_kernel[grid](a, bt, c, M, N, K, BM=BM, BN=BN, BK=BK, A_T=False, num_warps=warps,
                             num_stages=stages)
    ref = a.double().cpu().numpy() @ bt.double().cpu().numpy().T
    # Hopper's fp8 wgmma adds its products with less than fp32 precision
    # (4e-4 to 6e-4 of the largest value here, measured on an H200); mma.sync's
    # is exact to fp32.
    tol = 2e-3 if active().arch == "sm_90a" else 1e-4
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=tol,
                               atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("BM,BN,BK,warps,stages", [(64, 64, 32, 4, 3), (128, 128, 32, 8, 3),
                                                   (128, 256, 32, 8, 3), (64, 128, 64, 4, 1)])
def test_tf32_dots_with_k_major_b(BM, BN, BK, warps, stages):
    """fp32 dots (TF32 precision, the default) with B given K-major: wgmma
    m64nNk8 on sm_90a (operands copied or written K-major), mma.sync m16n8k8
    elsewhere. The error is a TF32 product's (more than 1e-6 of the largest
    value, so an exact fp32 fallback would show; less than 5e-3)."""
    M, N, K = 300, 280, 200
    a = torch.randn(M, K, device="cuda")
    bt = torch.randn(N, K, device="cuda")
    c = torch.empty((M, N), device="cuda", dtype=torch.float32)
    grid = (tessera.cdiv(M, BM), tessera.cdiv(N, BN))
    wgmma_trans_kernel[grid](a, bt, c, M, N, K, BM=BM, BN=BN, BK=BK, A_T=False, num_warps=warps,
                             num_stages=stages)
    ref = a.double().cpu().numpy() @ bt.double().cpu().numpy().T
    err = np.abs(c.double().cpu().numpy() - ref).max() / np.abs(ref).max()
    assert 1e-6 < err < 5e-3, err


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("NQ,NKV,D,BM,BN,warps", [(300, 300, 64, 64, 64, 4),
                                                  (256, 512, 128, 128, 64, 8),
                                                  (200, 130, 32, 32, 32, 4)])
def test_block_sparse_attention_on_gpu(dtype, NQ, NKV, D, BM, BN, warps):
    """tessera.ops.block_sparse_attention (DSL kernel visiting only the
    listed KV blocks) against float64 dense attention with the same mask."""
    import test_attention as ta
    Z, H = 2, 3
    ty = getattr(torch, dtype)
    q = torch.randn(Z, H, NQ, D, device="cuda").to(ty)
    k = torch.randn(Z, H, NKV, D, device="cuda").to(ty)
    v = torch.randn(Z, H, NKV, D, device="cuda").to(ty)
    index, mask = ta.random_blocks(Z, H, NQ, NKV, BM, BN, L=3)
    out = tessera.ops.block_sparse_attention(q, k, v, torch.from_numpy(index).cuda(),
                                             block_m=BM, block_n=BN, num_warps=warps)
    ref = ta.reference(q.double().cpu().numpy(), k.double().cpu().numpy(),
                       v.double().cpu().numpy(), mask, 1 / math.sqrt(D))
    np.testing.assert_allclose(out.double().cpu().numpy(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("layout", ["zhnd", "znhd"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_k_v_by_tma_and_by_cp_async(layout, causal, monkeypatch):
    """On sm_90a the forward reads K and V of (Z, H, N, D)-contiguous
    tensors by TMA over all Z*H*N rows (rows of other heads must never
    leak in), other layouts (a (Z, N, H, D) tensor's transposed view) and
    TESSERA_ATTENTION_TMA=0 by cp.async: every way matches float64."""
    import test_attention as ta
    Z, H, N, D = 2, 3, 512, 128

    def make():
        if layout == "znhd":
            return torch.randn(Z, N, H, D, device="cuda").bfloat16().transpose(1, 2)
        return torch.randn(Z, H, N, D, device="cuda").bfloat16()
    q, k, v = make(), make(), make()
    mask = np.tril(np.ones((N, N), bool)) if causal else np.ones((N, N), bool)
    ref = ta.reference(q.double().cpu().numpy(), k.double().cpu().numpy(),
                       v.double().cpu().numpy(), mask, 1 / math.sqrt(D))
    for tma in ("1", "0"):
        monkeypatch.setenv("TESSERA_ATTENTION_TMA", tma)
        out = tessera.ops.attention(q, k, v, causal=causal, block_m=128, block_n=128,
                                    num_warps=8)
        np.testing.assert_allclose(out.double().cpu().numpy(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("case", ["dense", "causal", "sparse", "empty rows"])
def test_attention_producer_warp_on_gpu(case, monkeypatch):
    """The producer option: the TMA loop's copies come from a ninth warp
    (tilegpu.producer), the others only wait for their slots. Dense,
    causal and block-sparse forwards (lists of 1 to 5 blocks, and query
    blocks with none) match float64 on fresh data, bf16, 128 x 128 x 8."""
    from tessera.backends.nvidia import NVIDIABackend
    monkeypatch.setitem(NVIDIABackend.default_options, "producer", True)
    _attention_case_on_gpu(case)


def _attention_case_on_gpu(case, **options):
    """Dense, causal, block-sparse (lists of 1 to 5 blocks) or sparse with
    query blocks that visit no key block ("empty rows"), bf16, 128 x 128 x 8,
    against float64."""
    import test_attention as ta
    Z, H, N, D = 2, 3, 1024, 128
    q, k, v = (torch.randn(Z, H, N, D, device="cuda").bfloat16() for _ in range(3))
    if case in ("dense", "causal"):
        causal = case == "causal"
        out = tessera.ops.attention(q, k, v, causal=causal, block_m=128, block_n=128,
                                    num_warps=8, **options)
        mask = np.tril(np.ones((N, N), bool)) if causal else np.ones((N, N), bool)
    else:
        index, mask = ta.random_blocks(Z, H, N, N, 128, 128, L=5)
        if case == "empty rows":  # query blocks that visit no key block
            index[:, :, ::3] = -1
            mask[:, :, :, :] = False
            for z, h, qb in np.ndindex(*index.shape[:3]):
                for kb in index[z, h, qb]:
                    if kb >= 0:
                        mask[z, h, qb * 128:(qb + 1) * 128, kb * 128:(kb + 1) * 128] = True
        out = tessera.ops.block_sparse_attention(q, k, v, torch.from_numpy(index).cuda(),
                                                 block_m=128, block_n=128, num_warps=8,
                                                 **options)
    ref = ta.reference(q.double().cpu().numpy(), k.double().cpu().numpy(),
                       v.double().cpu().numpy(), mask, 1 / math.sqrt(D))
    np.testing.assert_allclose(out.double().cpu().numpy(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("causal", [False, True])
def test_dense_attention_on_gpu(causal):
    import test_attention as ta
    Z, H, N, D = 1, 4, 1000, 64
    q, k, v = (torch.randn(Z, H, N, D, device="cuda").half() for _ in range(3))
    out = tessera.ops.attention(q, k, v, causal=causal)
    mask = np.tril(np.ones((N, N), bool)) if causal else np.ones((N, N), bool)
    ref = ta.reference(q.double().cpu().numpy(), k.double().cpu().numpy(),
                       v.double().cpu().numpy(), mask, 1 / math.sqrt(D))
    np.testing.assert_allclose(out.double().cpu().numpy(), ref, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("mode", [dict(mass=0.9, min_blocks=2, max_blocks=13),
                                  dict(threshold=0.5, min_blocks=2, max_blocks=7)])
def test_block_select_rounds_on_gpu(mode):
    """The selection taken a max at a time on the GPU, head dim 128, 182
    key blocks (the Wan2.1 shape's count), against the float64 reference."""
    import test_bsa as tb
    q = (rng.standard_normal((1, 3, 45 * 16, 128)) * 0.5).astype(np.float32)
    k = (rng.standard_normal((1, 3, 182 * 16, 128)) * 0.5).astype(np.float32)
    index, count = tessera.ops.block_select(torch.from_numpy(q).cuda(), torch.from_numpy(k).cuda(),
                                            16, 16, **mode)
    tb.check_selection(index.cpu().numpy(), count.cpu().numpy(),
                       tb.select_reference(q, k, 16, 16, **mode))


def test_bsa_lists_taken_without_a_host_check_on_gpu():
    """bsa_attention hands block_select's lists to the attention as checked
    (no copy to the host): the same output as block_sparse_attention over
    the same lists, checked the usual way, on fresh data."""
    video, cube = (8, 8, 16), (2, 4, 4)
    Z, H, D = 1, 3, 64
    S = 8 * 8 * 16
    q, k, v = (torch.randn(Z, H, S, D, device="cuda").half() for _ in range(3))
    got = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.8, min_blocks=2)
    flat = [x.reshape(Z * H, S, D) for x in (q, k, v)]
    (qc, qm), (kc, km) = (tessera.ops.cube_reorder(x, video, cube, pool=True) for x in flat[:2])
    qc, kc = qc.reshape(Z, H, S, D), kc.reshape(Z, H, S, D)
    vc = tessera.ops.cube_reorder(flat[2], video, cube).reshape(Z, H, S, D)
    index, count = tessera.ops.block_select(qc, kc, 32, 32, mass=0.8, min_blocks=2,
                                            pooled=(qm.reshape(Z, H, -1, D),
                                                    km.reshape(Z, H, -1, D)))
    out = tessera.ops.block_sparse_attention(qc, kc, vc, index.clone(), count.clone(),
                                             block_m=32, block_n=32)
    back = tessera.ops.cube_reorder(out.reshape(Z * H, S, D), video, cube, inverse=True)
    np.testing.assert_allclose(got.float().cpu().numpy(),
                               back.reshape(Z, H, S, D).float().cpu().numpy(), rtol=1e-3,
                               atol=1e-3)


def test_bsa_on_gpu():
    """Cube reordering, block selection and bsa_attention on the GPU (fp16)
    against the numpy references of test_bsa.py."""
    import test_attention as ta
    import test_bsa as tb
    video, cube = (4, 8, 16), (2, 4, 4)
    Z, H, D = 1, 2, 64
    S = 4 * 8 * 16
    q, k, v = (torch.randn(Z, H, S, D, device="cuda").half() for _ in range(3))
    x = q.reshape(Z * H, S, D)
    np.testing.assert_array_equal(tessera.ops.cube_reorder(x, video, cube).cpu().numpy(),
                                  tb.reorder_reference(x.cpu().numpy(), video, cube))
    out = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.7, min_blocks=2)
    qn, kn, vn = (tb.reorder_reference(t.reshape(Z * H, S, D).float().cpu().numpy(), video,
                                       cube).reshape(Z, H, S, D) for t in (q, k, v))
    index, count = tessera.ops.block_select(torch.from_numpy(qn).cuda().half(),
                                            torch.from_numpy(kn).cuda().half(), 32, 32, mass=0.7,
                                            min_blocks=2)
    want = tb.select_reference(qn, kn, 32, 32, mass=0.7, min_blocks=2)
    index, count = index.cpu().numpy(), count.cpu().numpy()
    agree = sum(sorted(index[key][:count[key]]) == sorted(b) for key, b in want.items())
    assert agree >= len(want) - 1, (agree, len(want))  # fp16 pooling may flip one boundary
    mask = np.zeros((Z, H, S, S), bool)
    for (z, h, qb) in want:
        for kb in index[z, h, qb, :count[z, h, qb]]:
            mask[z, h, qb * 32:(qb + 1) * 32, kb * 32:(kb + 1) * 32] = True
    ref_tokens = tb.unreorder_reference(ta.reference(qn, kn, vn, mask, 1 / math.sqrt(D))
                                        .reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    np.testing.assert_allclose(out.float().cpu().numpy(), ref_tokens, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("mode", [dict(mass=0.5, max_blocks=60), dict(mass=0.95),
                                  dict(threshold=1.0, min_blocks=2)])
@pytest.mark.parametrize("scale", [3.0, 0.3])  # peaked scores; flat (max_blocks clamps)
def test_block_select_many_key_blocks_on_gpu(mode, scale):
    """1200 key blocks (rows split into a 1024-block head and a 256-block
    tail) on the GPU, from given block means, against numpy's ranking."""
    import test_bsa as tb
    qp = (rng.standard_normal((1, 2, 64, 16)) * scale).astype(np.float32)
    kp = (rng.standard_normal((1, 2, 1200, 16)) * scale).astype(np.float32)
    # With one token a block the pooled means are the tokens themselves.
    q, k = torch.from_numpy(qp).cuda().half(), torch.from_numpy(kp).cuda().half()
    index, count = tessera.ops.block_select(q, k, 1, 1, pooled=(torch.from_numpy(qp).cuda(),
                                                                 torch.from_numpy(kp).cuda()),
                                            **mode)
    tb.check_selection(index.cpu().numpy(), count.cpu().numpy(),
                       tb.select_reference(qp, kp, 1, 1, **mode))


def test_query_sparse_bsa_on_gpu():
    """bsa_attention with keep_ratio = 0.5 (token_select's lists consumed by
    the attention kernel, pruned rows filled) equals its pieces composed by
    hand, and the kept rows equal float64 attention under the KV mask."""
    import test_attention as ta
    video, cube = (4, 8, 16), (2, 4, 4)
    Z, H, D = 1, 2, 64
    S = 4 * 8 * 16
    q, k, v = (torch.randn(Z, H, S, D, device="cuda").half() for _ in range(3))
    out = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.7, keep_ratio=0.5)

    def to_cubes(x):
        return tessera.ops.cube_reorder(x.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)
    qc, kc, vc = to_cubes(q), to_cubes(k), to_cubes(v)
    index, count = tessera.ops.block_select(qc, kc, 32, 32, mass=0.7)
    qi, qn = tessera.ops.token_select(qc, 32, 0.5)
    by_hand = tessera.ops.block_sparse_attention(qc, kc, vc, index, count, block_m=32,
                                                 block_n=32, q_index=qi, q_count=qn)
    back = tessera.ops.cube_reorder(by_hand.reshape(Z * H, S, D), video, cube, inverse=True)
    assert torch.equal(out, back.reshape(Z, H, S, D))
    index, count, qi, qn = (t.cpu().numpy() for t in (index, count, qi, qn))
    mask = np.zeros((Z, H, S, S), bool)
    for z in range(Z):
        for h in range(H):
            for qb in range(S // 32):
                for kb in index[z, h, qb, :count[z, h, qb]]:
                    mask[z, h, qb * 32:(qb + 1) * 32, kb * 32:(kb + 1) * 32] = True
    ref = ta.reference(*(t.double().cpu().numpy() for t in (qc, kc, vc)), mask, 1 / math.sqrt(D))
    got = by_hand.double().cpu().numpy()
    for z in range(Z):
        for h in range(H):
            for qb in range(S // 32):
                rows = [qb * 32 + int(r) for r in qi[z, h, qb, :qn[z, h, qb]]]
                np.testing.assert_allclose(got[z, h, rows], ref[z, h, rows], rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("causal", [False, True])
def test_sparse_attention_backward_on_gpu(causal):
    """torch autograd through tessera.ops.sparse_attention on the GPU (bf16):
    dq, dk, dv from the lowered tgraph.attention_grad (reading the forward's
    log-sum-exp) against float64 gradients."""
    import test_attention as ta
    Z, H, N, D, B = 1, 2, 256, 64, 64
    q, k, v = (torch.randn(Z, H, N, D, device="cuda").bfloat16().requires_grad_()
               for _ in range(3))
    index, mask = ta.random_blocks(Z, H, N, N, B, B, L=2)
    if causal:
        mask &= np.tril(np.ones((N, N), bool))
    out = tessera.ops.sparse_attention(q, k, v, torch.from_numpy(index).cuda(), block_m=B,
                                       block_n=B, causal=causal)
    dout = torch.randn_like(out)
    out.backward(dout)
    want = ta.reference_grads(*(t.detach().double().cpu().numpy() for t in (q, k, v)), mask,
                              dout.double().cpu().numpy(), 1 / math.sqrt(D))
    for t, w in zip((q, k, v), want):
        np.testing.assert_allclose(t.grad.double().cpu().numpy(), w, rtol=5e-2,
                                   atol=5e-2 * np.abs(w).max())


@tessera.jit
def dot_softmax_dot(Q, K, V, O, L, n_keys, BM: tl.constexpr, BN: tl.constexpr, D: tl.constexpr):
    """One attention block: the row max and row sum of q k^T (keys past
    n_keys masked) and P V, all after a dot (in its mma layout on GPUs)."""
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    d = tl.arange(0, D)
    q = tl.load(Q + rm[:, None] * D + d[None, :])
    k = tl.load(K + rn[:, None] * D + d[None, :])
    v = tl.load(V + rn[:, None] * D + d[None, :])
    s = tl.dot(q, tl.trans(k)) * 0.125
    s = tl.where(rn[None, :] < n_keys, s, float("-inf"))
    m = tl.max(s, 1)
    p = tl.math.exp2(s - m[:, None])
    tl.store(L + rm, tl.sum(p, 1))
    tl.store(O + rm[:, None] * D + d[None, :], tl.dot(p.to(v.dtype), v))


@pytest.mark.parametrize("BM,BN,D,warps", [(64, 64, 64, 4), (128, 128, 128, 8), (128, 64, 64, 4),
                                           (64, 128, 32, 4), (16, 16, 16, 1)])
def test_softmax_between_dots(BM, BN, D, warps):
    """Row reductions, exponents and masks of a dot's result in its mma
    layout (wgmma on sm_90a, mma.sync elsewhere) against float64."""
    q = torch.randn(BM, D, device="cuda").half()
    k = torch.randn(BN, D, device="cuda").half()
    v = torch.randn(BN, D, device="cuda").half()
    o = torch.empty(BM, D, device="cuda")
    lsum = torch.empty(BM, device="cuda")
    n_keys = BN - 3
    dot_softmax_dot[(1,)](q, k, v, o, lsum, n_keys, BM=BM, BN=BN, D=D, num_warps=warps)
    qd, kd, vd = (t.double().cpu().numpy() for t in (q, k, v))
    s = qd @ kd.T * 0.125
    s[:, n_keys:] = -np.inf
    p = np.exp2(s - s.max(1, keepdims=True))
    np.testing.assert_allclose(lsum.cpu().numpy(), p.sum(1), rtol=2e-3)
    ref = p.astype(np.float16).astype(np.float64) @ vd
    np.testing.assert_allclose(o.double().cpu().numpy(), ref, rtol=1e-2,
                               atol=1e-2 * np.abs(ref).max())


def test_query_sparse_attention_backward_on_gpu():
    """Gradients with query sparsity on the GPU (bf16): pruned queries'
    output gradients flow to their proxies; against float64 torch autograd
    of the definition (out[r] = attention of r's proxy query)."""
    import test_attention as ta
    Z, H, N, D, B, kept = 1, 2, 256, 64, 64, 24
    q, k, v = (torch.randn(Z, H, N, D, device="cuda").bfloat16().requires_grad_()
               for _ in range(3))
    index, mask = ta.random_blocks(Z, H, N, N, B, B, L=2)
    QB = N // B
    rng = np.random.default_rng()
    q_index = np.stack([[[rng.permutation(B)[:kept] for _ in range(QB)] for _ in range(H)]])
    q_count = np.full((Z, H, QB), kept)
    target = np.zeros((Z, H, N), np.int64)
    for h in range(H):
        for qb in range(QB):
            rows = [qb * B + int(r) for r in q_index[0, h, qb]]
            for r in range(qb * B, (qb + 1) * B):
                target[0, h, r] = r if r in rows else rows[-1]
    out = tessera.ops.sparse_attention(q, k, v, torch.from_numpy(index).cuda(), block_m=B,
                                       block_n=B, q_index=q_index, q_count=q_count)
    dout = torch.randn_like(out)
    out.backward(dout)
    q64, k64, v64 = (t.detach().double().cpu().requires_grad_() for t in (q, k, v))
    s = (q64 @ k64.transpose(-1, -2)) / math.sqrt(D)
    full = torch.softmax(s.masked_fill(~torch.from_numpy(mask), float("-inf")), -1) @ v64
    ref = torch.gather(full, 2, torch.from_numpy(target)[..., None].expand(Z, H, N, D))
    ref.backward(dout.double().cpu())
    for t, t64 in zip((q, k, v), (q64, k64, v64)):
        w = t64.grad.numpy()
        np.testing.assert_allclose(t.grad.double().cpu().numpy(), w, rtol=5e-2,
                                   atol=5e-2 * np.abs(w).max())


@pytest.mark.parametrize("H,block_h,warps,out_block,block_n,padded",
                         [(16, 16, 4, None, None, False), (128, 64, 4, 256, None, False),
                          (128, 64, 8, 512, 64, False), (16, 64, 8, 512, 32, False),
                          (128, 64, 8, 512, 64, True), (16, None, None, None, None, False),
                          (32, None, None, None, None, False), (16, None, None, None, None, True)])
def test_mla_decode_on_gpu(H, block_h, warps, out_block, block_n, padded):
    """tessera.ops.mla_decode with DeepSeek-V3's shapes (latent 512 + rope
    64, pages of 64 tokens), bf16, ragged sequence lengths, split and
    combined, against float64. On 8 warps with the whole latent (sm_90a)
    the two warpgroups split both products' columns, and the cache's
    tiles come by TMA when its pages are contiguous; `padded` pages (a
    row of padding after each) are copied with cp.async. With the defaults
    and up to 32 heads, sm_90a runs the products transposed (heads_on_n)."""
    import test_mla as tm
    from tessera.kernels.mla import mla_decode_split, mla_decode_split_t
    B, page = 3, 64
    lens = [700, 1, 130]
    q, kv, table, lens = tm.random_cache(B, H, 512, 64, page, lens, pages=40)
    qg = torch.from_numpy(q).cuda().bfloat16()
    kvg = torch.from_numpy(kv).cuda().bfloat16()
    if padded:
        kvg = torch.cat([kvg, torch.randn_like(kvg[:, :1])], 1)[:, :page]
    out, lse = tessera.ops.mla_decode(qg, kvg, torch.from_numpy(table).cuda(),
                                      torch.from_numpy(lens).cuda(), block_h=block_h,
                                      num_warps=warps, out_block=out_block, block_n=block_n)
    sm90 = str(getattr(active(), "arch", "")).startswith("sm_90")
    if warps == 8 and not padded and sm90:
        assert any(("TMA", "True") in key[1] for key in mla_decode_split.cache)
    if block_h is None and sm90:
        assert any(("TMA", repr(not padded)) in key[1] for key in mla_decode_split_t.cache)
    qd, kvd = (t.double().cpu().numpy() for t in (qg, kvg))
    want, want_lse = tm.reference(qd, kvd, table, lens, 512, 1 / math.sqrt(576))
    np.testing.assert_allclose(out.double().cpu().numpy(), want, rtol=2e-2,
                               atol=2e-2 * np.abs(want).max())
    np.testing.assert_allclose(lse.cpu().numpy(), want_lse, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("lens", [[700, 1, 130], [4096, 64, 2500]])
def test_mla_decode_lagged_on_gpu(lens, monkeypatch):
    """The pipeliner's `lag` (not yet the default): MLA's 64 heads on 8
    warps, the cache by TMA, the copies issued after warpgroup 0's scores
    once every thread released the slot and P V left in flight into the
    next iteration; ragged lengths (one of a single token), split and
    combined, against float64."""
    import test_mla as tm
    from tessera.backends.nvidia import NVIDIABackend
    monkeypatch.setitem(NVIDIABackend.default_options, "lag", True)
    B, H, page = 3, 128, 64
    q, kv, table, lens = tm.random_cache(B, H, 512, 64, page, lens, pages=200)
    qg = torch.from_numpy(q).cuda().bfloat16()
    kvg = torch.from_numpy(kv).cuda().bfloat16()
    out, lse = tessera.ops.mla_decode(qg, kvg, torch.from_numpy(table).cuda(),
                                      torch.from_numpy(lens).cuda(), block_h=64, num_warps=8,
                                      out_block=512, block_n=64)
    qd, kvd = (t.double().cpu().numpy() for t in (qg, kvg))
    want, want_lse = tm.reference(qd, kvd, table, lens, 512, 1 / math.sqrt(576))
    np.testing.assert_allclose(out.double().cpu().numpy(), want, rtol=2e-2,
                               atol=2e-2 * np.abs(want).max())
    np.testing.assert_allclose(lse.cpu().numpy(), want_lse, rtol=1e-3, atol=1e-3)


def test_mla_decode_in_a_cuda_graph():
    """A decode step on int32 device tensors launches without a host
    synchronization after its first call, so it can be captured in a CUDA
    graph; replays with new queries and lengths changed in place (within
    the table's pages) match float64."""
    import test_mla as tm
    B, H, page = 4, 16, 64
    q, kv, table, lens = tm.random_cache(B, H, 512, 64, page, [300, 64, 1, 200], pages=40)
    qg, kvg = (torch.from_numpy(a).cuda().bfloat16() for a in (q, kv))
    table_g = torch.from_numpy(table.astype(np.int32)).cuda()
    lens_g = torch.from_numpy(lens.astype(np.int32)).cuda()
    tessera.ops.mla_decode(qg, kvg, table_g, lens_g)  # warm-up: compiles and checks the lists
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out, lse = tessera.ops.mla_decode(qg, kvg, table_g, lens_g)
    for n in ([300, 64, 1, 200], [320, 3, 100, 256]):
        qn = rng.standard_normal(q.shape).astype(np.float32)
        qg.copy_(torch.from_numpy(qn))
        lens_g.copy_(torch.tensor(n, dtype=torch.int32))
        graph.replay()
        torch.cuda.synchronize()
        qd, kvd = (t.double().cpu().numpy() for t in (qg, kvg))
        want, want_lse = tm.reference(qd, kvd, table, np.array(n), 512, 1 / math.sqrt(576))
        np.testing.assert_allclose(out.double().cpu().numpy(), want, rtol=2e-2,
                                   atol=2e-2 * np.abs(want).max())
        np.testing.assert_allclose(lse.cpu().numpy(), want_lse, rtol=1e-3, atol=1e-3)


def test_mla_module_on_gpu():
    """tessera.models.MLA on CUDA tensors (fp32): prefill through contract,
    decode through mla_decode (TF32 dots: 1e-2), against the float64
    definition."""
    import test_mla_module as tm
    m = tm.small_mla().cuda()
    B, S, steps = 2, 40, 3
    x = torch.randn(B, S + steps, 64, device="cuda")
    want = tm.reference(m.cpu(), x.cpu())
    m.cuda()
    with torch.no_grad():
        out, cache = m.prefill(x[:, :S])
        np.testing.assert_allclose(out.cpu().numpy(), want[:, :S].numpy(), rtol=1e-2, atol=1e-2)
        for t in range(S, S + steps):
            out, cache = m.decode(x[:, t:t + 1], cache)
            np.testing.assert_allclose(out[:, 0].cpu().numpy(), want[:, t].numpy(), rtol=1e-2,
                                       atol=1e-2)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("warps", [4, 8])
def test_fuzz_kernels_on_gpu(seed, warps, tmp_path):
    """The kernel fuzzer's programs (tessera.testing.fuzz: 1-D and 2-D
    tiles, reductions, scans, fp16 dots, loops, branches, masks) on the GPU
    against their float64 numpy references."""
    from tessera.testing import fuzz
    fuzz.check(seed, str(tmp_path), device="cuda", num_warps=warps)


@tessera.jit
def _row_scale(x_ptr, out_ptr, rows, stride, BLOCK: tl.constexpr):
    # Each program reads one of the rows listed in `rows` and writes it
    # back doubled, in place of the next row: row * stride passes 2^31.
    row = tl.load(rows + tl.program_id(0))
    cols = tl.arange(0, BLOCK)
    v = tl.load(x_ptr + row * stride + cols)
    tl.store(x_ptr + (row + 1) * stride + cols, v * 2)
    tl.store(out_ptr + tl.program_id(0) * BLOCK + cols, v)


def test_offsets_past_two_to_the_31():
    # 2^31 + 2^21 bytes of int8: offsets past 2^31 wrap negative in 32 bits
    # (an illegal address, or a silent read of the wrong row); the pointer
    # is specialized ':i64' and its offsets computed in 64 bits.
    stride, nrows = 2**12, 2**19 + 2**9
    try:
        x = torch.zeros(nrows, stride, dtype=torch.int8, device="cuda")
    except RuntimeError:
        pytest.skip("cannot allocate 2 GiB on the GPU")
    # No row is another's row + 1: each program writes a row nobody reads.
    rows = np.array([3, 2**19 - 2, 2**19, 2**19 + 100, nrows - 2], np.int32)
    data = rng.integers(-60, 60, size=(len(rows), 256), dtype=np.int8)
    for r, d in zip(rows, data):
        x[int(r), :256] = cuda(d)
    out = torch.zeros(len(rows), 256, dtype=torch.int8, device="cuda")
    _row_scale[(len(rows),)](x, out, cuda(rows), stride, BLOCK=256)
    np.testing.assert_array_equal(out.cpu().numpy(), data)
    for r, d in zip(rows, data):
        np.testing.assert_array_equal(x[int(r) + 1, :256].cpu().numpy(), d.astype(np.int64) * 2)


@pytest.mark.parametrize("bm,bn,warps,causal", [(64, 64, 4, False), (128, 128, 8, True)])
def test_tgraph_lowered_attention_on_gpu(bm, bn, warps, causal):
    """tgraph.attention over key-block lists, lowered by
    tgraph-lower-attention, compiled for the GPU and launched over the
    tgraph.launch's grid (tessera.graph): against float64 attention under
    the same mask (128 x 128 on 8 warps runs the ping-pong pipeline)."""
    import tessera.graph
    Z, H, N, D = 1, 2, 300, 64
    QB, KB, L = -(-N // bm), -(-N // bn), 3
    t = f"tensor<{Z}x{H}x{N}x{D}xbf16>"
    ti, tc = f"tensor<{Z}x{H}x{QB}x{L}xi32>", f"tensor<{Z}x{H}x{QB}xi32>"
    text = (f"func.func @g(%q: {t}, %k: {t}, %v: {t}, %i: {ti}, %c: {tc}) -> {t} {{\n"
            f"  %o = tgraph.attention %q, %k, %v kv(%i, %c) {{block_m = {bm}, block_n = {bn}"
            f"{', causal' if causal else ''}}} : ({t}, {t}, {t}, {ti}, {tc}) -> {t}\n"
            f"  return %o : {t}\n}}\n")
    graph = tessera.graph.Graph(text, num_warps=warps)
    q, k, v = (torch.randn(Z, H, N, D, device="cuda").bfloat16() for _ in range(3))
    index = torch.zeros(Z, H, QB, L, dtype=torch.int32)
    count = torch.randint(1, L + 1, (Z, H, QB), dtype=torch.int32)
    keep = torch.zeros(Z, H, N, N, dtype=torch.bool)
    for h in range(H):
        for b in range(QB):
            # the diagonal block first (causal rows then always see a key)
            picked = [min(b * bm // bn, KB - 1)] + [j for j in torch.randperm(KB).tolist()
                                                   if j != min(b * bm // bn, KB - 1)]
            picked = picked[:int(count[0, h, b])]
            index[0, h, b, :len(picked)] = torch.tensor(picked, dtype=torch.int32)
            for j in picked:
                keep[0, h, b * bm:(b + 1) * bm, j * bn:(j + 1) * bn] = True
    if causal:
        keep &= torch.ones(N, N, dtype=torch.bool).tril()
    out = graph(q, k, v, index.cuda(), count.cuda())
    torch.cuda.synchronize()
    s = torch.einsum("zhqd,zhkd->zhqk", q.double(), k.double()).cpu() * D ** -0.5
    s = s.masked_fill(~keep, float("-inf"))
    p = torch.softmax(s, -1).nan_to_num(0.0)
    want = torch.einsum("zhqk,zhkd->zhqd", p, v.double().cpu())
    np.testing.assert_allclose(out.double().cpu().numpy(), want.numpy(), rtol=2e-2, atol=2e-2)


def test_tgraph_lowered_selection_on_gpu():
    """tgraph.cube_reorder, token_select and block_select lowered by
    tgraph-lower-attention and run on the GPU, against the same kernels run
    on the CPU backend (bitwise for the reordering and the integer lists'
    shapes; the lists themselves equal where no probabilities nearly tie)."""
    import tessera.ir
    from tessera.backends.cpu import CPUBackend
    Z, H, N, D = 1, 2, 150, 32
    tq = f"tensor<{Z}x{H}x{N}x{D}xf32>"
    tx = "tensor<2x48x40xf16>"
    ti, tc = f"tensor<{Z}x{H}x5x16xi32>", f"tensor<{Z}x{H}x5xi32>"
    tbi, tbc = f"tensor<{Z}x{H}x5x4xi32>", f"tensor<{Z}x{H}x5xi32>"
    text = (f"func.func @g(%x: {tx}, %q: {tq}, %k: {tq}) -> ({tx}, {ti}, {tc}, {tbi}, {tbc}) {{\n"
            f"  %y = tgraph.cube_reorder %x {{video = array<i64: 2, 4, 6>, cube = array<i64: 1, 2, 3>}}"
            f" : {tx} -> {tx}\n"
            f"  %i, %c = tgraph.token_select %q {{block = 32, keep_ratio = 0.5 : f32}}"
            f" : {tq} -> {ti}, {tc}\n"
            f"  %bi, %bc = tgraph.block_select %q, %k {{block_m = 32, block_n = 32, mass = 0.7 : f32,"
            f" min_blocks = 1}} : {tq}, {tq} -> {tbi}, {tbc}\n"
            f"  return %y, %i, %c, %bi, %bc : {tx}, {ti}, {tc}, {tbi}, {tbc}\n}}\n")
    module = tessera.ir.run_pipeline(text, "builtin.module(tgraph-lower-attention)")
    launches = tessera.ir.launches(module)
    assert len(launches) == 6
    x = torch.randn(2, 48, 40).half()
    q, k = torch.randn(Z, H, N, D), torch.randn(Z, H, N, D)
    shapes = {"y": (2, 48, 40), "i": (Z, H, 5, 16), "c": (Z, H, 5), "pq": (Z, H, 5, D),
              "pk": (Z, H, 5, D), "sc": (Z, H, 5, 5), "bi": (Z, H, 5, 4), "bc": (Z, H, 5)}
    # Each launch's inputs and results, by name.
    plan = [(("x",), ("y",)), (("q",), ("i", "c")), (("q",), ("pq",)), (("k",), ("pk",)),
            (("pq", "pk"), ("sc",)), (("sc",), ("bi", "bc"))]

    def run(backend, device):
        vals = {"x": x.to(device), "q": q.to(device), "k": k.to(device)}
        for (name, grid), (ins, res) in zip(launches, plan):
            ins, res = list(ins), list(res)
            for n in res:
                dtype = (torch.half if n == "y" else
                         torch.float32 if n in ("pq", "pk", "sc") else torch.int32)
                vals[n] = torch.full(shapes[n], -9, dtype=dtype, device=device)
            args = [vals[n] for n in ins + res]
            binary = backend.compile(tessera.ir.function(module, name), name, False,
                                     {"num_warps": 4, "num_stages": 2})
            kernel = backend.load(binary, name)
            if device == "cuda":
                kernel.launch(list(grid), torch.cuda.current_stream().cuda_stream,
                              "p" * len(args), [a.data_ptr() for a in args])
            else:
                kernel.launch(list(grid), [a.data_ptr() for a in args], 0)
        if device == "cuda":
            torch.cuda.synchronize()
        return {n: v.cpu() for n, v in vals.items()}

    gpu, cpu = run(active(), "cuda"), run(CPUBackend(), "cpu")
    assert torch.equal(gpu["y"], cpu["y"])
    assert torch.equal(gpu["c"], cpu["c"]) and torch.equal(gpu["bc"], cpu["bc"])
    np.testing.assert_allclose(gpu["pq"].numpy(), cpu["pq"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gpu["sc"].numpy(), cpu["sc"].numpy(), rtol=1e-4, atol=1e-5)
    assert (cpu["bc"] >= 1).all() and (cpu["sc"] != -9).all()  # every launch ran on real inputs
    # Token lists: the same tokens per block (the order may differ on near ties).
    for a, b in zip(gpu["i"].reshape(-1, 16), cpu["i"].reshape(-1, 16)):
        assert sorted(a.tolist()) == sorted(b.tolist())
    assert (gpu["bi"] == cpu["bi"]).float().mean() > 0.9


def test_tgraph_graph_on_gpu():
    """tessera.graph on CUDA tensors: BSA's selection and attention ops
    lowered and run on the GPU, against the same graph's lists and a
    float64 attention over them."""
    import math
    import tessera.graph
    from test_graph import bsa_graph
    Z, H, N, D, bm, bn, L = 1, 2, 256, 64, 64, 64, 3
    g = tessera.graph.Graph(bsa_graph(Z, H, N, D, bm, bn, L, 0.5, 0.8))
    q, k, v = (torch.randn(Z, H, N, D, device="cuda") for _ in range(3))
    o, index, count, qi, qc = (t.cpu() for t in g(q, k, v))
    qc64, kc64, vc64 = q.double().cpu(), k.double().cpu(), v.double().cpu()
    s = torch.einsum("zhqd,zhkd->zhqk", qc64, kc64) / math.sqrt(D)
    for h in range(H):
        for b in range(N // bm):
            n = int(count[0, h, b])
            assert 1 <= n <= L and (index[0, h, b, n:] == -1).all()
            cols = torch.cat([torch.arange(j * bn, (j + 1) * bn)
                              for j in index[0, h, b, :n].tolist()])
            kept = [b * bm + int(x) for x in qi[0, h, b, :int(qc[0, h, b])]]
            for r in range(b * bm, (b + 1) * bm):
                src = r if r in kept else kept[-1]
                want = torch.softmax(s[0, h, src, cols], -1) @ vc64[0, h, cols]
                np.testing.assert_allclose(o[0, h, r].double().numpy(), want.numpy(),
                                           rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("causal,lists,atomics", [(False, True, False), (True, False, False),
                                                  (False, True, True), (True, False, True)])
def test_tgraph_attention_grad_on_gpu(causal, lists, atomics):
    """tgraph.attention_grad lowered and run by tessera.graph on CUDA
    tensors (bf16, 8 warps: wgmma), against float64 gradients under the
    same mask; `atomics`: the dq-atomics variant (dq blocks added by TMA
    bulk reductions on sm_90a)."""
    import tessera.graph
    from test_tgraph_attention_grad import grad_text, reference
    Z, H, N, D, BM, BN, L = 1, 2, 512, 64, 64, 64, 3
    QB = N // BM
    g = tessera.graph.Graph(grad_text(Z, H, N, N, D, "bf16", BM, BN, causal, L if lists else None,
                                      QB), num_warps=8, num_stages=2,
                            lower_options="dq-atomics=true" if atomics else "")
    q, k, v, do = (torch.randn(Z, H, N, D, device="cuda").bfloat16() for _ in range(4))
    mask = np.ones((Z, H, N, N), np.int64)
    if causal:
        mask *= np.tril(np.ones((N, N), np.int64))
    inputs = []
    if lists:
        gen = np.random.default_rng()
        idx = np.zeros((Z, H, QB, L), np.int32)
        cnt = np.zeros((Z, H, QB), np.int32)
        blocks = np.zeros((Z, H, QB, QB), np.int64)
        for h in range(H):
            for b in range(QB):
                sel = np.sort(gen.choice(QB, size=int(gen.integers(1, L + 1)), replace=False))
                cnt[0, h, b] = len(sel)
                idx[0, h, b, :len(sel)] = sel
                blocks[0, h, b, sel] = 1
        mask *= np.repeat(np.repeat(blocks, BM, 2), BN, 3)
        inputs = [torch.from_numpy(idx).cuda(), torch.from_numpy(cnt).cuda()]
    host = [t.float().cpu().numpy() for t in (q, k, v, do)]
    o, dq, dk, dv = reference(*host, mask, 1 / math.sqrt(D))
    got = g(q, k, v, torch.from_numpy(o).cuda().bfloat16(), do, *inputs)
    for a, r in zip(got, (dq, dk, dv)):
        err = np.abs(a.double().cpu().numpy() - r).max() / max(1.0, np.abs(r).max())
        assert err < 3e-2, err


def test_random_numbers_on_gpu():
    """tl.randint / rand / randn (Philox 4x32-10) on the GPU: bit for bit
    the numpy reference's integers, its uniforms and normals to rounding."""
    from test_random import philox_ref, random_kernel
    n, base, seed = 5000, int(rng.integers(0, 2**20)), int(rng.integers(0, 2**40))
    ints, four = (torch.zeros(n, dtype=torch.int32, device="cuda") for _ in range(2))
    uni, nrm = (torch.zeros(n, device="cuda") for _ in range(2))
    random_kernel[(tessera.cdiv(n, 256),)](ints, uni, nrm, four, seed, base, n, BLOCK=256)
    off = np.arange(base, base + n, dtype=np.uint64)
    zero = np.zeros(n, np.uint64)
    w = philox_ref(seed, [off, zero, zero, zero])
    np.testing.assert_array_equal(ints.cpu().numpy().view(np.uint32), w[0])
    np.testing.assert_array_equal(four.cpu().numpy().view(np.uint32), w[0] ^ w[1] ^ w[2] ^ w[3])
    s = w[0].view(np.int32).astype(np.int64)
    u = np.where(s < 0, -s - 1, s) * 4.6566127342e-10
    np.testing.assert_allclose(uni.cpu().numpy(), u, rtol=1e-6)
    s2 = w[1].view(np.int32).astype(np.int64)
    u2 = np.where(s2 < 0, -s2 - 1, s2) * 4.6566127342e-10
    want = np.sqrt(-2 * np.log(np.maximum(1e-7, u))) * np.cos(2 * np.pi * u2)
    np.testing.assert_allclose(nrm.cpu().numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
def test_join_split_on_gpu(dtype):
    """tl.join / split / interleave / cat on the GPU, bit for bit."""
    from test_join_split import join_split_kernel
    M, N = 8, 16
    if dtype == torch.int32:
        a, b = (cuda(rng.integers(-2**31, 2**31, (M, N), dtype=np.int64).astype(np.int32))
                for _ in range(2))
    else:
        a, b = (cuda(rng.standard_normal((M, N)).astype(np.float32)) for _ in range(2))
    joined = torch.zeros((M, N, 2), dtype=dtype, device="cuda")
    inter = torch.zeros((M, 2 * N), dtype=dtype, device="cuda")
    cat = torch.zeros((2 * M, N), dtype=dtype, device="cuda")
    back = torch.zeros((2, M, N), dtype=dtype, device="cuda")
    join_split_kernel[(1,)](a, b, joined, inter, cat, back, M=M, N=N)
    assert torch.equal(joined, torch.stack([a, b], -1))
    assert torch.equal(inter, torch.stack([a, b], -1).reshape(M, 2 * N))
    assert torch.equal(cat, torch.cat([a, b]))
    assert torch.equal(back, torch.stack([a, b]))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_flip_histogram_on_gpu(descending):
    """tl.sort, tl.flip and tl.histogram on the GPU against torch, exactly."""
    from test_join_split import flip_kernel, histogram_kernel, sort_kernel
    x = cuda(rng.standard_normal((4, 64)).astype(np.float32))
    out = torch.empty_like(x)
    sort_kernel[(1,)](x, out, M=4, N=64, DESCENDING=descending)
    assert torch.equal(out, torch.sort(x, -1, descending=descending).values)
    from test_join_split import topk_kernel
    top = torch.empty((4, 8), device="cuda")
    topk_kernel[(1,)](x, top, M=4, N=64, K=8)
    assert torch.equal(top, torch.topk(x, 8, -1).values)
    flip_kernel[(1,)](x, out, M=4, N=64, DIM=1)
    assert torch.equal(out, torch.flip(x, [1]))
    v = cuda(rng.integers(-3, 20, 256).astype(np.int32))
    h = torch.zeros(16, dtype=torch.int32, device="cuda")
    histogram_kernel[(1,)](v, h, N=256, BINS=16)
    kept = v[(v >= 0) & (v < 16)].long()
    assert torch.equal(h.long(), torch.bincount(kept, minlength=16))


@pytest.mark.parametrize("axis", [0, 1])
def test_gather_on_gpu(axis):
    from test_join_split import gather_kernel
    M, N, K = 8, 16, 32
    src = cuda(rng.standard_normal((M, N)).astype(np.float32))
    if axis == 1:
        idx = cuda(rng.integers(0, N, (M, K)).astype(np.int32))
        out = torch.empty((M, K), device="cuda")
    else:
        idx = cuda(rng.integers(0, M, (K, N)).astype(np.int32))
        out = torch.empty((K, N), device="cuda")
    gather_kernel[(1,)](src, idx, out, M=M, N=N, K=K, AXIS=axis)
    assert torch.equal(out, torch.gather(src, axis, idx.long()))


def test_device_print_on_gpu(capfd):
    """tl.device_print on the GPU: the same lines as on the CPU backend (each
    element once, by the thread that owns it)."""
    from test_language import print_kernel
    x = rng.standard_normal(4).astype(np.float32)
    print_kernel[(2,)](cuda(x), 3, BLOCK=4)
    torch.cuda.synchronize()
    lines = capfd.readouterr().out.splitlines()
    for pid in (0, 1):
        got = sorted(line[len(f"pid ({pid}, 0, 0) "):] for line in lines
                     if line.startswith(f"pid ({pid}, 0, 0) "))
        want = [f"idx ({i}) x: {v:f}" for i, v in enumerate([*x[:3], 0.0])] + ["n 0x3"]
        want += [f"idx ({i // 2}, {i % 2}) pair (operand 0) {i}" for i in range(4)]
        want += [f"idx ({i}) pair (operand 1) {int(v < 1)}" for i, v in enumerate([*x[:3], 0.0])]
        assert got == sorted(want), (got, want)


def test_device_assert_on_gpu():
    """tl.device_assert on the GPU: a passing launch runs; a failing one
    stops the kernel through __assertfail, which prints the message and
    the Python line, and the process's CUDA context fails from then on (run
    in a child process for that reason)."""
    import os
    import subprocess
    import sys
    from test_language import assert_kernel
    x = torch.rand(64, device="cuda")
    y = torch.zeros(64, device="cuda")
    assert_kernel[(4,)](x, y, 64, BLOCK=16)
    assert torch.equal(y, 2 * x)
    code = ("import torch\nfrom test_language import assert_kernel\n"
            "x = torch.rand(64, device='cuda'); x[37] = -1\n"
            "assert_kernel[(4,)](x, torch.zeros_like(x), 64, BLOCK=16)\n"
            "torch.cuda.synchronize()\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=str(pathlib.Path(__file__).parent), timeout=300)
    line = assert_kernel.fn.__code__.co_firstlineno + 4
    assert r.returncode != 0
    assert "x must be non-negative" in r.stdout + r.stderr, r.stdout + r.stderr
    assert f"test_language.py:{line}" in r.stdout + r.stderr, r.stdout + r.stderr


def test_propagate_nan_on_gpu():
    from test_language import nan_kernel
    x = rng.standard_normal(16).astype(np.float32)
    y = rng.standard_normal(16).astype(np.float32)
    x[3], y[5] = np.nan, np.nan
    out = torch.zeros((4, 16), device="cuda")
    nan_kernel[(1,)](cuda(x), cuda(y), out, N=16)
    out = out.cpu().numpy()
    np.testing.assert_array_equal(out[0], np.fmax(x, y))
    np.testing.assert_array_equal(out[1], np.maximum(x, y))
    np.testing.assert_array_equal(out[2], np.minimum(x, y))
    np.testing.assert_array_equal(out[3], np.clip(x, -0.5, 0.5))


# -- tessera.torch on the GPU (torch.ops.tessera, CUDA graphs) -------------------------------

def _torch_reference(q, k, v, causal):
    q, k, v = (x.double() for x in (q, k, v))
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        n, m = s.shape[-2:]
        s = s.masked_fill(torch.ones(n, m, dtype=torch.bool, device=s.device).triu(1),
                          float("-inf"))
    return torch.softmax(s, -1) @ v


@pytest.mark.parametrize("causal", [False, True])
def test_torch_ops_attention_and_grads_on_gpu(causal):
    """torch.ops.tessera.attention on bf16 CUDA tensors (tuned blocks) and
    its backward (the backward kernels) against float64."""
    import tessera.torch as tt
    shape = (1, 3, 640, 128)
    q, k, v = (cuda(rng.standard_normal(shape)).bfloat16().requires_grad_() for _ in range(3))
    out = tt.attention(q, k, v, causal=causal)
    refs = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref = _torch_reference(*refs, causal)
    assert (out.double() - ref).abs().max().item() < 2e-2
    g = cuda(rng.standard_normal(shape)).bfloat16()
    got = torch.autograd.grad(out, (q, k, v), g)
    want = torch.autograd.grad(ref, refs, g.double())
    for a, b in zip(got, want):
        assert (a.double() - b).abs().max().item() < 5e-2 * max(1.0, b.abs().max().item())


def test_attention_launch_plans_on_gpu():
    """Dense attention on CUDA tensors repeats a planned launch per
    signature (shapes, strides, dtype, alignment...): contiguous tensors,
    the transposed views a model passes (the output takes q's layout) and a
    misaligned q each get their own plan, and every call, first or repeated,
    on fresh data, matches float64, forward and backward."""
    import tessera.ops as ops
    import tessera.torch as tt
    Z, H, N, D = 2, 3, 320, 64
    base = cuda(rng.standard_normal((Z, N, H, D + 8))).bfloat16()
    layouts = {
        "contiguous": lambda x: x[..., :D].transpose(1, 2).contiguous(),
        "views": lambda x: x[..., :D].contiguous().transpose(1, 2),
        "misaligned q": lambda x: x[..., 1:D + 1].transpose(1, 2),  # 2-byte offset
    }
    before = len(ops._DENSE_PLANS)
    for name, make in layouts.items():
        for step in range(3):
            q, k, v = (make(cuda(rng.standard_normal(base.shape)).bfloat16()) for _ in range(3))
            if name == "misaligned q":
                k, v = k.contiguous(), v.contiguous()
            with torch.no_grad():
                out = tt.attention(q, k, v, causal=step == 1)
            ref = _torch_reference(q, k, v, step == 1)
            assert (out.double() - ref).abs().max().item() < 2e-2, (name, step)
            assert out.stride() == torch.empty_like(q).stride(), name
            leaves = [x.detach().requires_grad_() for x in (q, k, v)]
            out = tt.attention(*leaves)
            refs = [x.detach().double().requires_grad_() for x in (q, k, v)]
            ref = _torch_reference(*refs, False)
            assert (out.double() - ref).abs().max().item() < 2e-2, (name, step)
            g = cuda(rng.standard_normal(out.shape)).bfloat16()
            for a, b in zip(torch.autograd.grad(out, leaves, g),
                            torch.autograd.grad(ref, refs, g.double())):
                assert (a.double() - b).abs().max().item() < 5e-2 * max(1.0, b.abs().max().item())
    assert len(ops._DENSE_PLANS) - before >= 3
    # Decode: one query row a sequence against a cache growing a token a
    # step (16-row blocks among the tuned choices; one tuning per doubling).
    q = cuda(rng.standard_normal((4, 3, 1, 64))).bfloat16()
    for n in (1, 17, 200, 256, 257):
        k, v = (cuda(rng.standard_normal((4, 3, n, 64))).bfloat16() for _ in range(2))
        with torch.no_grad():
            out = tt.attention(q, k, v)
        assert (out.double() - _torch_reference(q, k, v, False)).abs().max().item() < 2e-2, n
    assert ops._attention_tuning_key(q, k, False)[2] == 512


def test_torch_ops_attention_in_a_cuda_graph():
    """A warmed-up call captured in a CUDA graph and replayed on new inputs
    matches float64; a call that would compile during capture raises
    CaptureError instead of breaking the capture."""
    import tessera.torch as tt
    from tessera.runtime.capture import CaptureError
    shape = (1, 2, 512, 64)
    q, k, v = (cuda(rng.standard_normal(shape)).half() for _ in range(3))
    tt.warmup(tt.attention, q, k, v)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = tt.attention(q, k, v)
    for _ in range(2):
        for x in (q, k, v):
            x.copy_(cuda(rng.standard_normal(shape)).half())
        graph.replay()
        torch.cuda.synchronize()
        assert (out.double() - _torch_reference(q, k, v, False)).abs().max().item() < 1e-2
    q2 = cuda(rng.standard_normal((1, 2, 384, 32))).half()  # a shape never run
    with pytest.raises(CaptureError, match="warmup"):
        with torch.cuda.graph(torch.cuda.CUDAGraph()):
            tt.attention(q2, q2, q2)


def test_torch_ops_block_sparse_and_bsa_on_gpu():
    """block_sparse_attention and bsa_attention through the ops on bf16
    CUDA tensors, against float64 dense attention under the blocks' mask."""
    import tessera.torch as tt
    Z, H, S, D, B = 1, 2, 1024, 64, 128
    q, k, v = (cuda(rng.standard_normal((Z, H, S, D))).bfloat16() for _ in range(3))
    QB = S // B
    index = torch.stack([torch.randperm(QB)[:3] for _ in range(Z * H * QB)]).int()
    index = index.reshape(Z, H, QB, 3).cuda()
    count = torch.full((Z, H, QB), 3, dtype=torch.int32, device="cuda")
    out = tt.block_sparse_attention(q, k, v, index, count, block_m=B, block_n=B)
    keep = torch.zeros(Z, H, S, S, dtype=torch.bool, device="cuda")
    for h in range(H):
        for qb in range(QB):
            for b in index[0, h, qb].tolist():
                keep[0, h, qb * B:(qb + 1) * B, b * B:(b + 1) * B] = True
    s = (q.double() @ k.double().transpose(-1, -2) / math.sqrt(D)).masked_fill(~keep, -math.inf)
    ref = torch.softmax(s, -1) @ v.double()
    assert (out.double() - ref).abs().max().item() < 2e-2
    video, cube = (4, 16, 16), (2, 8, 8)
    out = tt.bsa_attention(q, k, v, video, cube, p=0.5)
    want = tessera.ops.bsa_attention(q, k, v, video, cube, p=0.5)
    assert (out.double() - want.double()).abs().max().item() < 1e-2


def test_mla_decode_step_in_a_cuda_graph():
    """tessera.models.MLA's absorbed decode step captured in a CUDA graph
    after one eager step, replayed for the next tokens: each replay's output
    equals the eager model's step on the same cache (fp32, TF32 dots)."""
    import copy
    import test_mla_module as tm
    m = tm.small_mla().cuda()
    B, S, steps = 2, 40, 4
    x = torch.randn(B, S + steps + 1, 64, device="cuda")
    with torch.no_grad():
        _, cache = m.prefill(x[:, :S])
        eager = copy.deepcopy(cache)
        m.decode(x[:, S:S + 1], cache, absorbed=True)  # warm-up step, outside the capture
        m.decode(x[:, S:S + 1], eager, absorbed=True)
        step_in = x[:, S + 1:S + 2].clone()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out, _ = m.decode(step_in, cache, absorbed=True)
        # Capturing ran nothing: the cache is one step behind the capture's.
        for t in range(S + 1, S + steps + 1):
            step_in.copy_(x[:, t:t + 1])
            graph.replay()
            want, eager = m.decode(x[:, t:t + 1], eager, absorbed=True)
            torch.cuda.synchronize()
            assert torch.equal(cache.seqlens, eager.seqlens)
            assert (out - want).abs().max().item() < 1e-4


@pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile needs torch 2")
def test_torch_compile_backend_on_gpu():
    """torch.compile(backend=tessera.torch.compile_backend): the SDPA in the
    captured graph runs on Tessera's attention (the op is in the compiled
    graph), with results equal to eager torch within bf16 rounding, and
    gradients."""
    import tessera.torch as tt
    seen = []

    def backend(gm, example_inputs):
        fn = tt.compile_backend(gm, example_inputs, inner="eager")
        seen.append(sum(n.target is tessera.fx.attention for n in gm.graph.nodes))
        return fn

    class Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(256, 768)

        def forward(self, x):
            B, N = x.shape[:2]
            q, k, v = self.qkv(x).view(B, N, 3, 2, 128).permute(2, 0, 3, 1, 4)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    model = Attn().cuda().bfloat16()
    x = torch.randn(2, 512, 256, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    compiled = torch.compile(model, backend=backend)
    out = compiled(x)
    assert seen and seen[0] == 1
    want = model(x)
    assert (out.float() - want.float()).abs().max().item() < 2e-2
    out.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("case", ["dense", "causal", "sparse", "empty rows"])
@pytest.mark.parametrize("registers", [24, 0])
def test_attention_overlap_loop_on_gpu(case, registers, monkeypatch):
    """The intra-warpgroup overlap loop (overlap=True: each block's softmax
    beside the previous block's P V) on sm_90a with its producer warpgroup
    (setmaxnreg: 24 registers kept, the consumers 240) or, with 0, on 8
    warps and no producer: dense, causal, block-sparse and empty lists
    against float64, bf16, 128 x 128."""
    from tessera.backends.nvidia import NVIDIABackend
    if registers == 0:
        monkeypatch.setitem(NVIDIABackend.default_options, "producer", False)
    monkeypatch.setenv("TESSERA_PRODUCER_REGISTERS", str(registers or 24))
    _attention_case_on_gpu(case, overlap=True)


@pytest.mark.parametrize("lo,hi,step,unroll", [(0, 7, 1, 2), (0, 8, 1, 2), (1, 10, 2, 3),
                                               (3, 3, 1, 2), (5, 2, 1, 2), (0, 11, 3, 4),
                                               (0, 1, 1, 2)])
def test_loop_unroll_factor_on_gpu(lo, hi, step, unroll):
    """tl.range(..., loop_unroll_factor=n) on the GPU: the body repeated n
    times, the rest of the iterations after it, the same order (a
    recurrence), against float64."""
    import test_language as L
    x = np.random.default_rng().standard_normal((12, 64)).astype(np.float32)
    out = torch.zeros(64, device="cuda")
    L.unrolled_recurrence[(1,)](cuda(x), out, lo, hi, step, BLOCK=64, UNROLL=unroll)
    np.testing.assert_allclose(out.cpu().numpy(), L.unrolled_recurrence_reference(
        x.astype(np.float64), lo, hi, step), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k_blocks,unroll", [(3, 2), (4, 2), (5, 3), (1, 2)])
def test_unrolled_dot_loop_on_gpu(k_blocks, unroll):
    """A pipelined K loop of tensor-core dots (fp16, 64 x 64 blocks)
    unrolled by the pipeliner's consumer loop, the rest after it, against
    float64."""
    import test_language as L
    K = 64 * k_blocks
    gen = np.random.default_rng()
    a = gen.standard_normal((64, K)).astype(np.float16)
    b = gen.standard_normal((K, 64)).astype(np.float16)
    c = torch.zeros(64, 64, device="cuda")
    L.unrolled_dot[(1,)](cuda(a), cuda(b), c, K, BLOCK=64, UNROLL=unroll)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c.cpu().numpy(), ref, rtol=2e-2, atol=5e-2)
