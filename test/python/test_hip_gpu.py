"""The AMD GPU lane: the examples' kernels and core language features on an
AMD GPU (the HIP backend, a ROCm build of torch: its GPU tensors are on
device "cuda"), against float64 references on fresh random data.
Skipped without one (nothing here has run on AMD hardware yet);
scripts/amd-lane.sh runs it there."""

import importlib.util
import pathlib

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera.backends import active

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not getattr(torch.version, "hip", None) or not torch.cuda.is_available()
                       or active().name != "hip",
                       reason="needs an AMD GPU, a ROCm build of torch and TESSERA_BACKEND=hip"),
]

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
rng = np.random.default_rng()


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gpu(a):
    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


def test_backend_and_target():
    backend = active()
    assert backend.name == "hip" and backend.arch in ("gfx90a", "gfx942")
    assert tessera._C.hip.device()["warp_size"] == 64


@pytest.mark.parametrize("n", [1, 1000, 98432, 1 << 20])
def test_vector_add(n):
    ex = load("01_vector_add")
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = torch.empty(n, device="cuda")
    ex.add_kernel[(tessera.cdiv(n, 1024),)](gpu(x), gpu(y), out, n, BLOCK_SIZE=1024)
    np.testing.assert_allclose(out.cpu().numpy(), x.astype(np.float64) + y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n", [1, 5000])
def test_device_library_math(n):
    """tl.erf and float64 math, from ROCm's ocml, against numpy."""
    from tessera.testing import device_math as dm
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    out = torch.zeros((10, n), dtype=torch.float64, device="cuda")
    dm.device_math[(tessera.cdiv(n, 512),)](gpu(x), out, n, BLOCK=512)
    dm.check(out.cpu().numpy(), x)


@pytest.mark.parametrize("n", [1, 5000])
def test_libdevice_functions(n):
    """tl.extra.libdevice (tanh, pow, atan2, asin...) on float32 and float64,
    from the device library, against numpy."""
    from tessera.testing import device_math as dm
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    out = torch.zeros((30, n), dtype=torch.float64, device="cuda")
    dm.libdevice_math[(tessera.cdiv(n, 512),)](gpu(x), out, n, BLOCK=512)
    dm.check_libdevice(out.cpu().numpy(), x)


@pytest.mark.parametrize("shape", [(1, 7), (37, 100), (256, 781), (64, 4096)])
@pytest.mark.parametrize("warps", [1, 4, 8])
def test_fused_softmax(shape, warps):
    """Reductions across the 64 lanes of a wavefront (ds_bpermute) and
    across wavefronts (LDS)."""
    ex = load("02_fused_softmax")
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    xt = gpu(x)
    y = torch.empty_like(xt)
    block = tessera.next_power_of_2(shape[1])
    ex.softmax_kernel[(min(64, shape[0]),)](y, xt, xt.stride(0), y.stride(0), shape[0], shape[1],
                                           BLOCK_SIZE=block, num_stages=1, num_warps=warps)
    np.testing.assert_allclose(y.cpu().numpy(), ex.reference(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("M,N,block", [(4, 1, None), (33, 1000, None), (64, 4096, 1024),
                                       (3, 10000, None)])
def test_layer_norm(M, N, block):
    ex = load("03_layer_norm")
    x = (rng.standard_normal((M, N)) * 3 + 1).astype(np.float32)
    w, b = rng.standard_normal(N).astype(np.float32), rng.standard_normal(N).astype(np.float32)
    y, mean, rstd = ex.layer_norm(gpu(x), gpu(w), gpu(b), block=block)
    ry, rmean, rrstd = ex.reference(x, w, b)
    np.testing.assert_allclose(y.cpu().numpy(), ry, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean.cpu().numpy(), rmean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rstd.cpu().numpy(), rrstd, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("BM,BN,BK,warps", [(32, 32, 32, 4), (64, 64, 32, 4), (16, 64, 16, 1)])
def test_matmul(dtype, BM, BN, BK, warps):
    ex = load("04_matmul")
    M, N, K = 200, 136, 112  # masked edges
    ty = getattr(torch, dtype)
    a = torch.randn(M, K, device="cuda").to(ty)
    b = torch.randn(K, N, device="cuda").to(ty)
    c = torch.empty((M, N), device="cuda", dtype=torch.float16)
    grid = (tessera.cdiv(M, BM) * tessera.cdiv(N, BN),)
    ex.matmul_kernel[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                           c.stride(0), c.stride(1), BLOCK_SIZE_M=BM, BLOCK_SIZE_N=BN,
                           BLOCK_SIZE_K=BK, GROUP_SIZE_M=4, ACTIVATION="", num_warps=warps)
    ref = a.double().cpu().numpy() @ b.double().cpu().numpy()
    np.testing.assert_allclose(c.double().cpu().numpy(), ref, rtol=4e-3,
                               atol=4e-3 * np.abs(ref).max())


@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention(causal):
    ex = load("05_flash_attention")
    q, k, v = (rng.standard_normal((2, 3, 100, 64)).astype(np.float16) for _ in range(3))
    out = ex.attention(gpu(q), gpu(k), gpu(v), causal)
    np.testing.assert_allclose(out.double().cpu().numpy(), ex.reference(q, k, v, causal),
                               rtol=1e-2, atol=1e-2)


@tessera.jit
def _scan_and_atomics(x, out, total, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    v = tl.load(x + offs, mask=offs < n, other=0.0)
    tl.store(out + offs, tl.cumsum(v, 0), mask=offs < n)
    tl.atomic_add(total, tl.sum(v, 0))


def test_scan_and_atomics():
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    out = torch.empty(n, device="cuda")
    total = torch.zeros(1, device="cuda")
    for _ in range(3):
        _scan_and_atomics[(1,)](gpu(x), out, total, n, BLOCK=1024, num_warps=4)
    np.testing.assert_allclose(out.cpu().numpy(), np.cumsum(x.astype(np.float64)), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(total.cpu().numpy()[0], 3 * x.astype(np.float64).sum(), rtol=1e-4)


def test_host_tensor_is_refused():
    ex = load("01_vector_add")
    x = torch.zeros(16)
    with pytest.raises(ValueError, match="runs on the AMD GPU"):
        ex.add_kernel[(1,)](x, x, x, 16, BLOCK_SIZE=1024)
