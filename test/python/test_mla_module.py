"""tessera.models.MLA (CPU tensors, CPU backend): prefill through
tessera.ops.contract and decode through tessera.ops.mla_decode on the
absorbed weights, both against a float64 evaluation of MLA's definition
(per-head keys and values materialized, no absorption)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tessera.models import MLA  # noqa: E402
from tessera.models.mla import _rope  # noqa: E402


def reference(m, x):
    """Causal MLA over all of x (B, S, dim) in float64, the naive order."""
    p = {n: t.detach().double() for n, t in m.named_parameters()}
    x = x.double()
    B, S, _ = x.shape
    pos = torch.arange(S)
    c_q = x @ p["w_dq"]
    q = torch.einsum("bsq,hdq->bshd", c_q, p["w_uq"])
    q_pe = _rope(torch.einsum("bsq,hrq->bshr", c_q, p["w_qr"]), pos)
    c_kv = x @ p["w_dkv"]
    k = torch.einsum("btk,hdk->bthd", c_kv, p["w_uk"])
    v = torch.einsum("btk,hvk->bthv", c_kv, p["w_uv"])
    k_pe = _rope(x @ p["w_kr"], pos)
    s = (torch.einsum("bshd,bthd->bhst", q, k) + torch.einsum("bshr,btr->bhst", q_pe, k_pe))
    s = s / math.sqrt(m.d_nope + m.d_rope)
    s = s.masked_fill(~torch.ones(S, S, dtype=torch.bool).tril(), float("-inf"))
    o = torch.einsum("bhst,bthv->bshv", torch.softmax(s, -1), v)
    return torch.einsum("bshv,hve->bse", o, p["w_o"])


def small_mla():
    torch.manual_seed(0)
    return MLA(dim=64, heads=4, q_lora=32, kv_lora=32, d_nope=16, d_rope=16, d_v=16,
               page_size=16, max_pages=4)


def test_mla_prefill_and_decode():
    m = small_mla()
    B, S, steps = 2, 21, 3
    x = torch.randn(B, S + steps, 64)
    want = reference(m, x)
    with torch.no_grad():
        out, cache = m.prefill(x[:, :S])
        np.testing.assert_allclose(out.numpy(), want[:, :S].numpy(), rtol=1e-4, atol=1e-4)
        for t in range(S, S + steps):
            out, cache = m.decode(x[:, t:t + 1], cache)
            np.testing.assert_allclose(out[:, 0].numpy(), want[:, t].numpy(), rtol=1e-4,
                                       atol=1e-4)
    assert cache.seqlens.tolist() == [S + steps] * B


def test_mla_prefill_uses_the_cost_models_order():
    """At DeepSeek-V3's sizes the prefill scores chain is evaluated in the
    MLA note's order 1 (project q and k, then multiply) and a single-token
    query in order 2 (absorbed): the plans tessera.ops.contract follows."""
    import tessera.ops as ops
    spec = "bsq,hdq,btk,hdk->bhst"
    weights = [False, True, False, True]
    prefill = ops.contraction_plan(spec, [(1, 2048, 1536), (128, 128, 1536), (1, 2048, 512),
                                          (128, 128, 512)], weights)
    decode = ops.contraction_plan(spec, [(32, 1, 1536), (128, 128, 1536), (32, 4096, 512),
                                         (128, 128, 512)], weights)
    # Order 1 multiplies the two projections (q: bshd, k: bthd) last; order
    # 2 multiplies the projected query by W_UK, then the latent cache.
    last = prefill.steps[-1]
    assert {last[0], last[1]} == {"bshd", "bthd"}, prefill.description
    assert decode.description == "(btk (hdk (bsq hdq)))", decode.description


def test_mla_cache_full_is_an_error():
    m = small_mla()
    with torch.no_grad(), pytest.raises(ValueError, match="exceed the cache"):
        m.prefill(torch.randn(1, 65, 64))


def test_mla_shape_errors():
    m = small_mla()
    with torch.no_grad():
        _, cache = m.prefill(torch.randn(2, 5, 64))
        with pytest.raises(ValueError, match="one new token per sequence"):
            m.decode(torch.randn(2, 2, 64), cache)
        with pytest.raises(ValueError, match="holds 2 sequences"):
            m.decode(torch.randn(3, 1, 64), cache)
        with pytest.raises(ValueError, match="S >= 1"):
            m.prefill(torch.randn(2, 0, 64))
