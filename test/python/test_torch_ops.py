"""tessera.torch: Tessera's kernels as torch operators (CPU backend here;
test_gpu.py runs them on the GPU, with CUDA graph capture), against float64
references on fresh random data; their fake kernels, FX graphs, and
tessera.torch.optimize on small models."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import tessera  # noqa: E402
import tessera.torch as tt  # noqa: E402
from tessera.runtime import capture  # noqa: E402

gen = torch.Generator().manual_seed(int(np.random.default_rng().integers(1 << 31)))


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).float()


def dense_reference(q, k, v, keep, scale=None):
    """softmax(q k^T * scale) v in float64 over the (query, key) pairs `keep`
    marks (rows with none are zero)."""
    q, k, v = (x.double() for x in (q, k, v))
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = (q @ k.transpose(-1, -2) * scale).masked_fill(~keep, float("-inf"))
    p = torch.softmax(s, -1).nan_to_num(0.0)
    return p @ v


def grads(out, inputs, g):
    return torch.autograd.grad(out, inputs, g)


def leaves(*xs):
    return [x.detach().clone().requires_grad_() for x in xs]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n_kv", [96, 130])
def test_attention_op_forward_and_grads(causal, n_kv):
    q, k, v = randn(2, 3, 96, 32), randn(2, 3, n_kv, 32), randn(2, 3, n_kv, 32)
    keep = torch.ones(96, n_kv, dtype=torch.bool)
    if causal:
        keep = keep.tril()
    qa, ka, va = leaves(q, k, v)
    out = tt.attention(qa, ka, va, causal=causal)
    qr, kr, vr = (x.double().requires_grad_() for x in (q, k, v))
    ref = dense_reference(qr, kr, vr, keep)
    assert torch.allclose(out.double(), ref, atol=2e-5), (out.double() - ref).abs().max()
    g = randn(*ref.shape)
    for got, want in zip(grads(out, (qa, ka, va), g), grads(ref, (qr, kr, vr), g.double())):
        assert torch.allclose(got.double(), want, atol=1e-4), (got.double() - want).abs().max()


def test_eager_calls_and_the_dispatched_op_agree():
    """tt.attention in eager mode calls the kernels without torch.library's
    dispatch; torch.ops.tessera.attention goes through it. Same output,
    gradients and layout (q's: the transposed view a model's q is), equal to
    the float64 reference."""
    Z, N, H, D = 2, 80, 3, 32
    base = [randn(Z, N, H, D) for _ in range(3)]
    views = [leaves(x)[0] for x in base]
    q, k, v = (x.transpose(1, 2) for x in views)  # (Z, H, N, D) views
    out = tt.attention(q, k, v, causal=True)
    assert out.stride() == q.stride() and out.grad_fn is not None
    keep = torch.ones(N, N, dtype=torch.bool).tril()
    ref = dense_reference(*(x.transpose(1, 2).double() for x in base), keep)
    assert torch.allclose(out.double(), ref, atol=2e-5), (out.double() - ref).abs().max()
    g = randn(Z, H, N, D)
    got = grads(out, views, g)
    views2 = [leaves(x)[0] for x in base]
    out2 = torch.ops.tessera.attention(*(x.transpose(1, 2) for x in views2), True, None)[0]
    assert out2.stride() == q.stride() and torch.equal(out, out2)
    for a, b in zip(got, grads(out2, views2, g)):
        assert torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(tt.attention(q, k, v, causal=True), out)


def test_dispatch_modes_see_the_op():
    """Under a dispatch mode (as FakeTensorMode and make_fx are) the call
    goes through torch.library: the mode sees tessera.attention, and its
    backward, as one op each."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Names(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(str(func))
            return func(*args, **(kwargs or {}))

    q, k, v = leaves(randn(1, 2, 64, 16), randn(1, 2, 64, 16), randn(1, 2, 64, 16))
    with Names() as mode:
        out = tt.attention(q, k, v)
        out.sum().backward()
    assert any(n.startswith("tessera.attention.") for n in mode.names), mode.names
    assert any(n.startswith("tessera.attention_backward") for n in mode.names), mode.names
    with Names() as mode:  # outside a mode, nothing records the eager call's kernels
        pass
    tt.attention(q, k, v)
    assert mode.names == []


def test_attention_op_scale_and_lse():
    q, k, v = randn(1, 2, 64, 16), randn(1, 2, 80, 16), randn(1, 2, 80, 16)
    out, lse = torch.ops.tessera.attention(q, k, v, False, 0.3)
    s = q.double() @ k.double().transpose(-1, -2) * 0.3
    assert torch.allclose(out.double(), torch.softmax(s, -1) @ v.double(), atol=2e-5)
    assert torch.allclose(lse.double(), torch.logsumexp(s, -1), atol=1e-5)


def random_lists(Z, H, QB, KB, L):
    index = torch.full((Z, H, QB, L), -1, dtype=torch.int32)
    count = torch.randint(1, L + 1, (Z, H, QB), generator=gen, dtype=torch.int32)
    for z in range(Z):
        for h in range(H):
            for qb in range(QB):
                c = int(count[z, h, qb])
                index[z, h, qb, :c] = torch.randperm(KB, generator=gen)[:c].int()
    return index, count


def block_mask(index, count, NQ, NKV, bm, bn):
    Z, H, QB, _ = index.shape
    keep = torch.zeros(Z, H, NQ, NKV, dtype=torch.bool)
    for z in range(Z):
        for h in range(H):
            for qb in range(QB):
                for b in index[z, h, qb, :count[z, h, qb]].tolist():
                    keep[z, h, qb * bm:(qb + 1) * bm, b * bn:(b + 1) * bn] = True
    return keep


def test_block_sparse_attention_op_forward_and_grads():
    Z, H, N, D, B = 1, 2, 256, 32, 64
    q, k, v = randn(Z, H, N, D), randn(Z, H, N, D), randn(Z, H, N, D)
    index, count = random_lists(Z, H, N // B, N // B, 3)
    qa, ka, va = leaves(q, k, v)
    out = tt.block_sparse_attention(qa, ka, va, index, count, block_m=B, block_n=B)
    qr, kr, vr = (x.double().requires_grad_() for x in (q, k, v))
    ref = dense_reference(qr, kr, vr, block_mask(index, count, N, N, B, B))
    assert torch.allclose(out.double(), ref, atol=2e-5), (out.double() - ref).abs().max()
    g = randn(*ref.shape)
    for got, want in zip(grads(out, (qa, ka, va), g), grads(ref, (qr, kr, vr), g.double())):
        assert torch.allclose(got.double(), want, atol=1e-4), (got.double() - want).abs().max()


def test_cube_reorder_op_and_its_gradient():
    video, cube = (2, 4, 8), (1, 4, 4)
    x = randn(3, 64, 16).requires_grad_()
    y = tt.cube_reorder(x, video, cube)
    want = x.detach().reshape(3, 2, 1, 1, 4, 2, 4, 16).permute(0, 1, 3, 5, 2, 4, 6, 7)
    assert torch.equal(y.detach(), want.reshape(3, 64, 16))
    g = randn(3, 64, 16)
    (dx,) = torch.autograd.grad(y, x, g)
    assert torch.equal(dx, tt.cube_reorder(g, video, cube, inverse=True))
    assert torch.equal(tt.cube_reorder(y.detach(), video, cube, inverse=True), x.detach())
    y2, means = tt.cube_reorder(x.detach(), video, cube, pool=True)
    assert torch.equal(y2, y.detach())
    assert torch.allclose(means.double(), y.detach().double().reshape(3, 4, 16, 16).mean(2),
                          atol=1e-6)


def test_bsa_attention_from_ops_against_its_lists():
    """bsa_attention built from the ops: the output is dense attention in
    float64 under the mask of the blocks it selected (cube order), taken
    back to (t, h, w) order; the gradients are that reference's."""
    video, cube = (2, 8, 8), (1, 4, 4)
    Z, H, S, D, B = 1, 2, 128, 16, 16
    q, k, v = randn(Z, H, S, D, scale=2), randn(Z, H, S, D, scale=2), randn(Z, H, S, D)
    qa, ka, va = leaves(q, k, v)
    out = tt.bsa_attention(qa, ka, va, video, cube, p=0.6)

    def cubes(x):
        return tt.cube_reorder(x.reshape(Z * H, S, D), video, cube).reshape(Z, H, S, D)

    (qc, qm), (kc, km) = (tt.cube_reorder(x.reshape(Z * H, S, D), video, cube, pool=True)
                          for x in (q, k))
    index, count = tt.block_select(qc.reshape(Z, H, S, D), kc.reshape(Z, H, S, D), B, B,
                                   mass=0.6, pooled=(qm.reshape(Z, H, S // B, D),
                                                     km.reshape(Z, H, S // B, D)))
    assert 1 <= int(count.min()) and int(count.max()) <= S // B
    keep = block_mask(index, count, S, S, B, B)
    qr, kr, vr = (x.double().requires_grad_() for x in (q, k, v))
    back = [cubes(x.float()) for x in (q, k, v)]
    perm = cubes(torch.arange(S, dtype=torch.float32).reshape(1, 1, S, 1).expand(Z, H, S, D))
    order = perm[0, 0, :, 0].long()  # cube position -> token
    assert torch.equal(back[0], q[:, :, order])
    ref_c = dense_reference(qr[:, :, order], kr[:, :, order], vr[:, :, order], keep)
    ref = torch.empty_like(ref_c)
    ref[:, :, order] = ref_c
    assert torch.allclose(out.double(), ref, atol=2e-5), (out.double() - ref).abs().max()
    g = randn(Z, H, S, D)
    for got, want in zip(grads(out, (qa, ka, va), g), grads(ref, (qr, kr, vr), g.double())):
        assert torch.allclose(got.double(), want, atol=1e-4), (got.double() - want).abs().max()


def test_token_select_op_matches_ops():
    q = randn(1, 2, 64, 16)
    index, count = tt.token_select(q, 16, 0.5)
    want = tessera.ops.token_select(q, 16, 0.5)
    assert torch.equal(index, want[0]) and torch.equal(count, want[1])


def test_fake_kernels_give_shapes_without_running():
    meta = dict(device="meta")
    q, k = torch.empty(1, 2, 100, 32, **meta), torch.empty(1, 2, 130, 32, **meta)
    out, lse = torch.ops.tessera.attention(q, k, k)
    assert out.shape == q.shape and lse.shape == (1, 2, 100) and lse.dtype == torch.float32
    index = torch.empty(1, 2, 2, 3, dtype=torch.int32, **meta)
    count = torch.empty(1, 2, 2, dtype=torch.int32, **meta)
    out, lse = torch.ops.tessera.block_sparse_attention(q, k, k, index, count, 64, 64)
    assert out.shape == q.shape and lse.shape == (1, 2, 100)
    index, count = torch.ops.tessera.block_select(q, k, 64, 64, 0.9, None, 1, 2)
    assert index.shape == (1, 2, 2, 2) and count.shape == (1, 2, 2)
    assert index.dtype == torch.int32
    y, means = torch.ops.tessera.cube_reorder_pooled(torch.empty(3, 64, 8, **meta), [2, 4, 8],
                                                     [1, 2, 4])
    assert y.shape == (3, 64, 8) and means.shape == (3, 8, 8)
    dq, dk, dv = torch.ops.tessera.attention_backward(q, k, k, q, lse, q, False, None)
    assert dq.shape == q.shape and dk.shape == k.shape
    with pytest.raises(ValueError, match="head dim 24"):
        torch.ops.tessera.attention(*(torch.empty(1, 1, 8, 24, **meta),) * 3)


class ExplicitAttention(torch.nn.Module):
    """Attention written out, in several spellings of the same pattern."""

    def __init__(self, dim, heads, spelling):
        super().__init__()
        self.heads, self.spelling = heads, spelling
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.scale = (dim // heads) ** -0.5

    def forward(self, x):
        B, N, C = x.shape[0], x.shape[1], self.proj.in_features  # traceable
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.spelling == 0:
            a = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1) @ v
        elif self.spelling == 1:
            a = (torch.matmul(q, k.transpose(2, 3)) / (1 / self.scale)).softmax(-1) @ v
        else:
            a = torch.matmul(torch.nn.functional.softmax(
                (q * self.scale) @ k.permute(0, 1, 3, 2), dim=-1), v)
        return self.proj(a.transpose(1, 2).reshape(B, N, C))


@pytest.mark.parametrize("spelling", [0, 1, 2])
def test_optimize_replaces_written_out_attention(spelling):
    torch.manual_seed(int(torch.randint(0, 1 << 30, (1,), generator=gen)))
    model = ExplicitAttention(64, 4, spelling)
    gm = tt.optimize(model)
    assert gm.tessera_replaced == {"attention": 1, "einsum": 0}
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert tessera.fx.attention in targets
    assert not any(t in (torch.softmax, torch.nn.functional.softmax) for t in targets)
    x = randn(2, 48, 64).requires_grad_()
    out = gm(x)
    want = copy.deepcopy(model).double()(x.detach().double())
    assert torch.allclose(out.double(), want, atol=1e-5), (out.double() - want).abs().max()
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_optimize_falls_back_where_tessera_does_not_apply():
    """Head dim 24 (not supported): the replaced node computes it in torch."""
    model = ExplicitAttention(96, 4, 0)
    gm = tt.optimize(model)
    x = randn(1, 10, 96)
    assert torch.allclose(gm(x), model(x), atol=1e-5)


class EinsumChain(torch.nn.Module):
    def forward(self, a, b, c, d):
        ab = torch.einsum("ij,jk->ik", a, b)
        abc = torch.einsum("ik,kl->il", ab, c)
        return torch.einsum("il,lm->im", abc, d) + torch.einsum("ij,jk,kl->il", a, b, c).sum()


def test_optimize_merges_and_reorders_einsum_chains():
    gm = tt.optimize(EinsumChain())
    assert gm.tessera_replaced == {"attention": 0, "einsum": 2}
    assert sum(n.target is torch.einsum for n in gm.graph.nodes) == 0
    merged = [n.args[0] for n in gm.graph.nodes if n.target is tessera.fx.contract]
    assert sorted(len(s.split("->")[0].split(",")) for s in merged) == [3, 4]
    a, b, c, d = randn(40, 3), randn(3, 50), randn(50, 2), randn(2, 60)
    want = EinsumChain()(*(x.double() for x in (a, b, c, d)))
    assert torch.allclose(gm(a, b, c, d).double(), want, rtol=1e-5, atol=1e-4)


def test_traced_graph_keeps_the_ops_as_nodes():
    class M(torch.nn.Module):
        def forward(self, q, k, v):
            return tt.attention(q, k, v, causal=True) * 2

    gm = torch.fx.symbolic_trace(M())
    assert torch.ops.tessera.attention in [n.target for n in gm.graph.nodes]
    q, k, v = randn(1, 2, 64, 16), randn(1, 2, 64, 16), randn(1, 2, 64, 16)
    keep = torch.ones(64, 64, dtype=torch.bool).tril()
    assert torch.allclose(gm(q, k, v).double(), 2 * dense_reference(q, k, v, keep), atol=4e-5)


def test_launches_refuse_to_compile_or_tune_during_capture(monkeypatch):
    """While a CUDA graph is captured, what would break the capture raises
    CaptureError with the reason (the capture is simulated here)."""
    monkeypatch.setattr(capture, "capturing", lambda: True)
    with pytest.raises(capture.CaptureError, match="timed.*warmup"):
        tessera.ops._tuned_attention_config(randn(1, 1, 1, 16), randn(1, 1, 1, 16),
                                            randn(1, 1, 1, 16), False, None)

    class FakeGPU:
        name = "cuda"

    from tessera.kernels.bsa import block_pool_kernel
    with pytest.raises(capture.CaptureError, match="block_pool_kernel would be compiled"):
        block_pool_kernel.compile({}, {}, {}, FakeGPU())
    monkeypatch.setattr(capture, "capturing", lambda: False)
    capture.forbid("nothing")  # no capture: no error


def test_capture_is_detected_without_a_gpu():
    assert capture.capturing() is False  # torch without a GPU, or nothing captured


def test_compile_backend_replaces_in_the_given_graph():
    """compile_backend (what torch.compile calls with Dynamo's graph; torch
    1.13 has no Dynamo, so an FX graph stands in): the graph's attention
    runs on Tessera's op, equal to the original in float64."""
    class M(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1) @ v

    gm = torch.fx.symbolic_trace(M())
    run = tt.compile_backend(gm, None, inner="eager")
    assert tessera.fx.attention in [n.target for n in gm.graph.nodes]
    q, k, v = randn(1, 2, 40, 16), randn(1, 2, 40, 16), randn(1, 2, 40, 16)
    want = torch.softmax(q.double() @ k.double().transpose(-2, -1) * 0.25, -1) @ v.double()
    assert torch.allclose(run(q, k, v).double(), want, atol=2e-5)


def test_optimize_with_bsa_for_the_video_self_attention():
    """optimize(bsa=...): attention over the video's tokens runs as BSA (the
    same as tessera.torch.bsa_attention on the model's q, k, v, and not
    dense), attention over other lengths stays dense."""
    class M(torch.nn.Module):
        def forward(self, q, k, v, kt, vt):
            a = torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1) @ v      # self, video
            b = torch.softmax(q @ kt.transpose(-2, -1) * 0.25, dim=-1) @ vt    # cross, 24 keys
            return a, b

    cfg = dict(video_shape=(2, 8, 8), cube=(1, 4, 4), p=0.5)
    gm = tt.optimize(M(), bsa=cfg)
    assert gm.tessera_replaced["attention"] == 2
    q, k, v = (randn(1, 2, 128, 16, scale=2) for _ in range(3))
    kt, vt = randn(1, 2, 24, 16), randn(1, 2, 24, 16)
    a, b = gm(q, k, v, kt, vt)
    want = tt.bsa_attention(q, k, v, (2, 8, 8), (1, 4, 4), p=0.5, scale=0.25)
    assert torch.allclose(a, want, atol=1e-6)
    dense = torch.softmax(q.double() @ k.double().transpose(-2, -1) * 0.25, -1) @ v.double()
    assert (a.double() - dense).abs().max() > 1e-3  # sparse, not dense
    cross = torch.softmax(q.double() @ kt.double().transpose(-2, -1) * 0.25, -1) @ vt.double()
    assert torch.allclose(b.double(), cross, atol=2e-5)
    with pytest.raises(ValueError, match="video_shape and cube"):
        tt.optimize(M(), bsa=dict(p=0.5))


@pytest.mark.skipif(not hasattr(torch.library, "opcheck"), reason="torch.library.opcheck: torch 2.4+")
def test_opcheck_on_the_custom_ops():
    """torch.library.opcheck (torch 2.4+): each op's schema, fake kernel and
    autograd registration agree with its kernel."""
    q, k, v = (randn(1, 2, 64, 16).requires_grad_() for _ in range(3))
    torch.library.opcheck(torch.ops.tessera.attention.default, (q, k, v, True, None))
    qt = randn(1, 64, 2, 16).transpose(1, 2).requires_grad_()  # the output takes its layout
    torch.library.opcheck(torch.ops.tessera.attention.default, (qt, k, v, False, None))
    index = torch.tensor([[[[0, 1], [1, -1]]] * 2], dtype=torch.int32)
    count = torch.tensor([[[2, 1]] * 2], dtype=torch.int32)
    torch.library.opcheck(torch.ops.tessera.block_sparse_attention.default,
                          (q, k, v, index, count, 32, 32, False, None, None, None))
    x = randn(3, 64, 16).requires_grad_()
    torch.library.opcheck(torch.ops.tessera.cube_reorder.default, (x, [2, 4, 8], [1, 4, 4], False))
    torch.library.opcheck(torch.ops.tessera.block_select.default,
                          (q.detach(), k.detach(), 16, 16, 0.9, None, 1, None, None, None))


@pytest.mark.parametrize("bad", ["dout_dtype", "dout_shape", "v_shape", "lse_shape"])
def test_attention_backward_op_checks_what_its_plan_does_not_hold(bad):
    """torch.ops.tessera.attention_backward runs its lowered graph without
    the graph's own checks (the plan's key holds q's and k's shapes and
    dtype): the other tensors are checked on every call, so a wrong one
    raises instead of being read as something else."""
    q, k, v, dout = (torch.randn(1, 2, 64, 32) for _ in range(4))
    out, lse = torch.ops.tessera.attention(q, k, v)
    torch.ops.tessera.attention_backward(q, k, v, out, lse, dout, False, None)  # the plan
    args = dict(q=q, k=k, v=v, out=out, lse=lse, dout=dout)
    if bad == "dout_dtype":
        args["dout"] = dout.double()
    elif bad == "dout_shape":
        args["dout"] = torch.randn(1, 2, 32, 32)
    elif bad == "v_shape":
        args["v"] = torch.randn(1, 2, 64, 16)
    else:
        args["lse"] = lse[:, :, :32]
    with pytest.raises(ValueError, match="attention backward"):
        torch.ops.tessera.attention_backward(args["q"], args["k"], args["v"], args["out"],
                                             args["lse"], args["dout"], False, None)
