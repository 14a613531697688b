"""tessera.graph: a function of BSA's tgraph ops (block selection, query
selection, attention over both lists) lowered by the compiler and run on
the CPU backend, checked against float64 on fresh random data."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tessera  # noqa: E402
import tessera.graph  # noqa: E402
from test_tgraph_lower_attention import block_select_reference  # noqa: E402


def bsa_graph(Z, H, N, D, bm, bn, L, ratio, mass):
    QB = -(-N // bm)
    LQ = math.ceil(ratio * bm)
    t = f"tensor<{Z}x{H}x{N}x{D}xf32>"
    ti, tc = f"tensor<{Z}x{H}x{QB}x{L}xi32>", f"tensor<{Z}x{H}x{QB}xi32>"
    tqi = f"tensor<{Z}x{H}x{QB}x{LQ}xi32>"
    return f"""
func.func @bsa(%q: {t}, %k: {t}, %v: {t}) -> ({t}, {ti}, {tc}, {tqi}, {tc}) {{
  %i, %c = tgraph.block_select %q, %k {{block_m = {bm}, block_n = {bn}, mass = {mass} : f32,
      min_blocks = 1}} : {t}, {t} -> {ti}, {tc}
  %qi, %qc = tgraph.token_select %q {{block = {bm}, keep_ratio = {ratio} : f32}} : {t} -> {tqi}, {tc}
  %o = tgraph.attention %q, %k, %v kv(%i, %c) queries(%qi, %qc) {{block_m = {bm}, block_n = {bn}}}
      : ({t}, {t}, {t}, {ti}, {tc}, {tqi}, {tc}) -> {t}
  return %o, %i, %c, %qi, %qc : {t}, {ti}, {tc}, {tqi}, {tc}
}}"""


def test_bsa_graph_runs_lowered_kernels():
    Z, H, N, D, bm, bn, L = 1, 2, 96, 16, 32, 16, 4
    g = tessera.graph.Graph(bsa_graph(Z, H, N, D, bm, bn, L, 0.5, 0.7))
    # Two poolings, the pooled scores, the block selection, the query
    # selection, attention.
    assert len(g.steps) == 6
    q, k, v = (torch.randn(Z, H, N, D) for _ in range(3))
    o, index, count, qi, qc = g(q, k, v)
    # The block lists: as a float64 selection where no probabilities nearly tie.
    ref = block_select_reference(q.numpy(), k.numpy(), bm, bn, 0.7, None, 1, L)
    exact = 0
    for (h, b), keep, p in ref:
        if (np.diff(np.sort(p)) < 1e-5).any():
            continue
        n = int(count[0, h, b])
        assert index[0, h, b, :n].tolist() == sorted(keep) and (index[0, h, b, n:] == -1).all()
        exact += 1
    assert exact >= len(ref) // 2
    # Attention over the returned lists, float64: listed queries attend to
    # the listed key blocks; the block's other rows copy its last listed one.
    s = torch.einsum("zhqd,zhkd->zhqk", q.double(), k.double()) / math.sqrt(D)
    want = torch.zeros(Z, H, N, D, dtype=torch.float64)
    for h in range(H):
        for b in range(-(-N // bm)):
            cols = torch.cat([torch.arange(j * bn, min((j + 1) * bn, N))
                              for j in index[0, h, b, :int(count[0, h, b])].tolist()])
            kept = [b * bm + int(x) for x in qi[0, h, b, :int(qc[0, h, b])]]
            for r in kept:
                p = torch.softmax(s[0, h, r, cols], -1)
                want[0, h, r] = p @ v[0, h, cols].double()
            for r in range(b * bm, min((b + 1) * bm, N)):
                if r not in kept:
                    want[0, h, r] = want[0, h, kept[-1]]
    np.testing.assert_allclose(o.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
    assert torch.equal(g(q, k, v)[0], o)  # compiled once, same result again


def test_graph_errors():
    g = tessera.graph.Graph(bsa_graph(1, 1, 64, 16, 32, 32, 2, 0.5, 0.9))
    q = torch.randn(1, 1, 64, 16)
    with pytest.raises(ValueError, match=r"%arg1 must be float32 \(1, 1, 64, 16\), got float16"):
        g(q, q.half(), q)
    with pytest.raises(TypeError, match="takes 3 tensors"):
        g(q, q)
    with pytest.raises(ValueError, match="an op that was not lowered"):
        tessera.graph.Graph("""
func.func @f(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) -> tensor<4x2xf32> {
  %c = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return %c : tensor<4x2xf32>
}""")
