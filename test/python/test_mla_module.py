"""tessera.models.MLA (CPU tensors, CPU backend): prefill through
tessera.ops.contract and decode through tessera.ops.mla_decode on the
absorbed weights, both against a float64 evaluation of MLA's definition
(per-head keys and values materialized, no absorption)."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tessera.models import MLA  # noqa: E402


def reference(m, x):
    """Causal MLA over all of x (B, S, dim) in float64, the naive order."""
    with torch.no_grad():
        return copy.deepcopy(m).cpu().double().naive(x.cpu().double())


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


def test_mla_decode_both_orders_match_the_reference():
    """Decode forced absorbed (mla_decode over the paged cache) and not
    (mla_attention over the gathered latents, per-head keys), from the same
    prefill: both match float64, and they agree with each other."""
    m = small_mla()
    B, S = 3, 17
    x = torch.randn(B, S + 2, 64)
    want = reference(m, x)
    with torch.no_grad():
        _, cache = m.prefill(x[:, :S])
        _, cache2 = m.prefill(x[:, :S])
        for t in range(S, S + 2):
            a, cache = m.decode(x[:, t:t + 1], cache, absorbed=True)
            b, cache2 = m.decode(x[:, t:t + 1], cache2, absorbed=False)
            for out in (a, b):
                np.testing.assert_allclose(out[:, 0].numpy(), want[:, t].numpy(), rtol=1e-4,
                                           atol=1e-4)


def test_mla_decode_follows_the_cost_model():
    """At DeepSeek-V3's sizes a decode step is absorbed and a prefill-sized
    query block is not; the small test model's decode takes whatever the
    model says for its sizes (and is right either way: the test above)."""
    import tessera.ops as ops
    assert ops.mla_scores_absorbed(32, 1, 4096, 128, 1536, 512, 128)
    assert ops.mla_scores_absorbed(1, 1, 32768, 128, 1536, 512, 128)
    assert not ops.mla_scores_absorbed(1, 2048, 2048, 128, 1536, 512, 128)


def test_mla_attention_ragged_keys_and_causal_offset():
    """ops.mla_attention against float64 per-head attention: two queries
    that are the last two of 9 positions (causal, bottom-right aligned), and
    entries that see only their first kv_lengths keys."""
    import tessera.ops as ops
    g = torch.Generator().manual_seed(1)
    B, S, T, H, q, k, d, r, v = 2, 2, 9, 3, 8, 12, 5, 4, 6
    c_q, c_kv = torch.randn(B, S, q, generator=g), torch.randn(B, T, k, generator=g)
    q_pe, k_pe = torch.randn(B, S, H, r, generator=g), torch.randn(B, T, r, generator=g)
    w_uq, w_uk = torch.randn(H, d, q, generator=g), torch.randn(H, d, k, generator=g)
    w_uv = torch.randn(H, v, k, generator=g)
    lengths = torch.tensor([9, 6])
    got = ops.mla_attention(c_q, q_pe, c_kv, k_pe, w_uq, w_uk, w_uv, sm_scale=0.3,
                            causal=True, kv_lengths=lengths)
    D = {n: t.double() for n, t in dict(c_q=c_q, c_kv=c_kv, q_pe=q_pe, k_pe=k_pe, w_uq=w_uq,
                                        w_uk=w_uk, w_uv=w_uv).items()}
    qh = torch.einsum("bsq,hdq->bshd", D["c_q"], D["w_uq"])
    kh = torch.einsum("btk,hdk->bthd", D["c_kv"], D["w_uk"])
    vh = torch.einsum("btk,hvk->bthv", D["c_kv"], D["w_uv"])
    for b in range(B):
        for s in range(S):
            keys = min(T - S + s + 1, int(lengths[b]))
            sc = (torch.einsum("hd,thd->ht", qh[b, s], kh[b, :keys]) +
                  torch.einsum("hr,tr->ht", D["q_pe"][b, s], D["k_pe"][b, :keys])) * 0.3
            want = torch.einsum("ht,thv->hv", torch.softmax(sc, -1), vh[b, :keys])
            np.testing.assert_allclose(got[b, s].numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="causal queries over"):
        ops.mla_attention(c_q, q_pe, c_kv[:, :1], k_pe[:, :1], w_uq, w_uk, w_uv, sm_scale=1.0)
