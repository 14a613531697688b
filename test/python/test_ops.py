"""tessera.ops.contract / contraction_plan: the order tgraph-reorder-contractions
would choose (the same cost model), evaluated pairwise; checked against
numpy.einsum in float64 on fresh random data."""

import numpy as np
import pytest

import tessera

rng = np.random.default_rng()
SCORES = "bsq,hdq,btk,hdk->bhst"
W = [False, True, False, True]


def mla_shapes(b, s, t, h=128, d=128, q=1536, k=512):
    return [(b, s, q), (h, d, q), (b, t, k), (h, d, k)]


def test_plan_follows_the_phase():
    """DeepSeek-V3 dimensions: prefill takes order 1, decode order 2, and
    the weights' product (order 3) is never chosen."""
    for s in (512, 2048, 8192):
        plan = tessera.ops.contraction_plan(SCORES, mla_shapes(1, s, s), W)
        assert plan.description == "((bsq hdq) (btk hdk))", plan
    for b in (1, 32, 128):
        for t in (1024, 4096, 32768):
            plan = tessera.ops.contraction_plan(SCORES, mla_shapes(b, 1, t), W)
            assert plan.description == "(btk (hdk (bsq hdq)))", (b, t, plan)
            assert all(step[2] != "hqk" for step in plan.steps)
    # The note's decode FLOPs for order 2: 2bshdq + 2bshkd + 2bhstk.
    b, s, t, h, d, q, k = 32, 1, 4096, 128, 128, 1536, 512
    plan = tessera.ops.contraction_plan(SCORES, mla_shapes(b, s, t), W)
    assert plan.flops == 2 * b * s * h * d * q + 2 * b * s * h * k * d + 2 * b * h * s * t * k
    order1 = tessera.ops.order_cost(SCORES, mla_shapes(b, s, t), [(0, 1), (0, 1), (0, 1)], W)
    assert order1[0] == 2 * b * s * h * d * q + 2 * b * t * h * d * k + 2 * b * h * s * t * d
    assert order1[1] > plan.seconds


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 1, 7), (3, 6, 2)])
def test_contract_matches_einsum(shape):
    """Small MLA-shaped scores (random sizes of b, s, t): the planned order
    gives numpy.einsum's float64 result."""
    b, s, t = shape
    h, d, q, k = 4, 8, 16, 12
    ops = [rng.standard_normal(sh) for sh in mla_shapes(b, s, t, h, d, q, k)]
    got = tessera.ops.contract(SCORES, *ops, weights=W)
    want = np.einsum(SCORES, *ops)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_contract_chain_and_torch():
    """A matrix chain on torch CPU tensors (float64) and on numpy arrays."""
    torch = pytest.importorskip("torch")
    a, b, c = (rng.standard_normal(sh) for sh in ((30, 2), (2, 40), (40, 3)))
    ref = a @ b @ c
    tol = 1e-12 * np.abs(ref).max()  # float64, reassociated
    np.testing.assert_allclose(tessera.ops.contract("mn,np,pq->mq", a, b, c), ref, rtol=1e-12,
                               atol=tol)
    got = tessera.ops.contract("mn,np,pq->mq", *(torch.from_numpy(x) for x in (a, b, c)))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=tol)
    plan = tessera.ops.contraction_plan("mn,np,pq->mq", [(1000, 10), (10, 1000), (1000, 10)])
    assert plan.description == "(mn (np pq))"


@pytest.mark.parametrize("spec,shapes,message", [
    ("mn,np", [(2, 3), (3, 4)], "has no '->'"),
    ("mn,np,pq->mq", [(2, 3), (3, 4)], "names 3 operands, got 2"),
    ("mn,Np->mp", [(2, 3), (3, 4)], "distinct lowercase letters"),
    ("mn,np->mz", [(2, 3), (3, 4)], "result index 'z' is in no operand"),
    ("mn,np->mp", [(2, 3), (4, 4)], "index 'n' has sizes 3 and 4"),
    ("mn,np->mp", [(2, 3, 1), (3, 4)], "has 3 dimensions, the spec names 2"),
])
def test_contract_errors(spec, shapes, message):
    with pytest.raises(ValueError, match=message):
        tessera.ops.contraction_plan(spec, shapes)


def test_plan_and_cost_reject_bad_machines_and_sizes():
    shapes = [(2, 3), (3, 4), (4, 5)]
    with pytest.raises(ValueError, match="positive and finite"):
        tessera.ops.contraction_plan("mn,np,pq->mq", shapes, peak_tflops=float("nan"))
    with pytest.raises(ValueError, match="positive and finite"):
        tessera.ops.order_cost("mn,np,pq->mq", shapes, [(0, 1), (0, 1)], peak_tbps=0.0)
    with pytest.raises(ValueError, match="one weight flag per operand"):
        tessera.ops.order_cost("mn,np,pq->mq", shapes, [(0, 1), (0, 1)], weights=[True])
    with pytest.raises(ValueError, match="do not reduce to one operand"):
        tessera.ops.order_cost("mn,np,pq->mq", shapes, [(0, 1)])


def test_tma_switch_is_part_of_the_target(monkeypatch):
    """TESSERA_TMA=0 changes the backend's target, which the cache keys on."""
    from tessera.backends.nvidia import NVIDIABackend
    with_tma = NVIDIABackend(arch="sm_90a").target
    monkeypatch.setenv("TESSERA_TMA", "0")
    without = NVIDIABackend(arch="sm_90a")
    assert without.target != with_tma and not without.tma


@pytest.mark.parametrize("spec,shapes", [
    ("mk,kn->mn", [(30, 20), (20, 50)]),
    ("bsq,hdq->bshd", [(2, 3, 40), (4, 8, 40)]),
    ("hdk,bshd->hkbs", [(4, 8, 12), (2, 3, 4, 8)]),
    ("bhst,btk->bhsk", [(2, 4, 3, 5), (2, 5, 12)]),
    ("ab,cd->ac", [(3, 4), (5, 6)]),  # b and d summed alone, then an outer product
    ("ijk,kj->ji", [(7, 5, 3), (3, 5)]),
])
def test_pairwise_on_the_gemm_kernel(spec, shapes):
    """One pairwise product on Tessera's batched GEMM kernel (the operands
    permuted to batch x M x K and batch x K x N) against float64 einsum."""
    ops = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    got = tessera.ops.pairwise(spec, *ops)
    want = np.einsum(spec, *(o.astype(np.float64) for o in ops))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 1, 7)])
def test_contract_on_tessera_kernels(shape):
    """The planned MLA scores chain with every product on the GEMM kernel."""
    b, s, t = shape
    ops = [rng.standard_normal(sh).astype(np.float32)
           for sh in mla_shapes(b, s, t, 4, 8, 16, 12)]
    got = tessera.ops.contract(SCORES, *ops, weights=W, kernels=True)
    want = np.einsum(SCORES, *(o.astype(np.float64) for o in ops))
    # fp32 intermediates: errors scale with the largest values, not each one.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
