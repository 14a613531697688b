"""The examples/ kernels on the CPU backend, against float64 numpy references,
on fresh random inputs of several sizes (including sizes that are not
multiples of the block, so masks matter)."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng()


@pytest.mark.parametrize("n", [1, 17, 1024, 4097, 100_003])
def test_vector_add(rng, n):
    ex = load("01_vector_add")
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    out = ex.add(x, y)
    ref = x.astype(np.float64) + y
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (64, 128), (130, 1000), (7, 2049)])
def test_fused_softmax(rng, shape):
    ex = load("02_fused_softmax")
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    np.testing.assert_allclose(ex.softmax(x), ex.reference(x), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("M,N,block", [(1, 1, None), (5, 300, 128), (16, 1024, None),
                                       (9, 3000, 512), (7, 3000, None), (3, 9000, None)])
def test_layer_norm(rng, M, N, block):
    ex = load("03_layer_norm")
    x = (rng.standard_normal((M, N)) * 3 + 1).astype(np.float32)
    w = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    y, mean, rstd = ex.layer_norm(x, w, b, block=block)
    ry, rmean, rrstd = ex.reference(x, w, b)
    np.testing.assert_allclose(y, ry, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean, rmean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rstd, rrstd, rtol=1e-4)


@pytest.mark.parametrize("M,N,K,act", [(32, 32, 32, ""), (64, 48, 80, "leaky_relu"),
                                       (100, 33, 17, ""), (129, 257, 64, "leaky_relu")])
def test_matmul(rng, M, N, K, act):
    ex = load("04_matmul")
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c = ex.matmul(a, b, act)
    ref = ex.reference(a, b, act)
    # fp32 accumulation, one fp16 rounding of the result.
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max())


def test_matmul_transposed_strides(rng):
    """Strided (non-contiguous) operands go through the same kernel."""
    ex = load("04_matmul")
    a = rng.standard_normal((48, 64)).astype(np.float16).T  # 64 x 48, column-major
    b = rng.standard_normal((40, 48)).astype(np.float16).T  # 48 x 40
    c = ex.matmul(a, b)
    ref = ex.reference(a, b)
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max())


@pytest.mark.parametrize("Z,H,N,D,causal", [(1, 1, 16, 16, False), (1, 2, 64, 32, True),
                                            (2, 3, 97, 16, False), (1, 2, 130, 64, True)])
def test_flash_attention(rng, Z, H, N, D, causal):
    ex = load("05_flash_attention")
    q, k, v = (rng.standard_normal((Z, H, N, D)).astype(np.float16) for _ in range(3))
    o = ex.attention(q, k, v, causal)
    ref = ex.reference(q, k, v, causal)
    # fp16 inputs and output, fp16 probabilities into the second product.
    np.testing.assert_allclose(o.astype(np.float64), ref, rtol=1e-2, atol=5e-3)


@pytest.mark.parametrize("M,N,K", [(16, 16, 16), (64, 64, 64), (100, 70, 96), (33, 129, 50)])
def test_block_ptr_matmul(rng, M, N, K, tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    ex = load("06_block_ptr_matmul")
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = ex.matmul(a, b)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    assert ex.matmul_kernel.best_config in ex.matmul_kernel.configs


@pytest.mark.parametrize("frame_tokens,frames,D", [(16, 2, 16), (32, 3, 32), (64, 2, 16)])
def test_videomaker_reference_injection(rng, frame_tokens, frames, D):
    ex = load("08_videomaker_reference_attention")
    q, k, v = (rng.standard_normal((1, 2, (frames + 1) * frame_tokens, D)).astype(np.float32)
               for _ in range(3))
    out = ex.reference_injection(q, k, v, frame_tokens)
    np.testing.assert_allclose(out, ex.dense_reference(q, k, v, frame_tokens), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("S,D", [(16, 16), (80, 32), (130, 16)])
def test_rar_permuted_causal(rng, S, D):
    ex = load("09_rar_permuted_causal")
    q, k, v = (rng.standard_normal((2, 1, S, D)).astype(np.float32) for _ in range(3))
    order = rng.permutation(S)
    out = ex.permuted_causal_attention(q, k, v, order)
    np.testing.assert_allclose(out, ex.dense_reference(q, k, v, order), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("M,N", [(1, 1), (5, 300), (16, 2048)])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_bias_gelu(rng, M, N, approximate):
    ex = load("11_gelu")
    x = (rng.standard_normal((M, N)) * 3).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    y = ex.bias_gelu(x, b, approximate, block=256)
    np.testing.assert_allclose(y, ex.reference(x, b, approximate), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="approximate"):
        ex.bias_gelu(x, b, "erf")


def test_models_in_torch():
    """examples/12: the source models' blocks on Tessera's ops against plain
    torch in float64 (the example asserts its tolerances)."""
    pytest.importorskip("torch")
    rows = load("12_models_in_torch").main(check=True)
    assert len(rows) == 8
