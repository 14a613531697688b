"""The source models' blocks (tessera.models) on Tessera's ops against the
same blocks in plain torch, float64, on the CPU backend at small sizes:
outputs and a training step's gradients."""

import copy

import pytest

torch = pytest.importorskip("torch")
import tessera.models as tm  # noqa: E402

gen = torch.Generator().manual_seed(int(torch.randint(0, 1 << 30, (1,))))


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).float()


def close(got, want, tol):
    err = (got.double() - want).abs().max().item()
    assert err <= tol * max(1.0, want.abs().max().item()), err


def step(model, inputs, grad, **kwargs):
    """Output, and the gradients of the inputs and parameters, of a
    training step's backward (loss = sum(out * grad))."""
    inputs = [x.detach().clone().requires_grad_() for x in inputs]
    out = model(*inputs, **kwargs)
    params = [p for _, p in sorted(model.named_parameters())]
    grads = torch.autograd.grad((out * grad.to(out.dtype)).sum(), inputs + params)
    return out, grads


@pytest.mark.parametrize("attention", ["bsa", "dense"])
def test_wan_block_against_plain_torch(attention):
    """A Wan2.1-shaped block (small: dim 128, 2 heads of 64, a 2x8x8 latent
    video, cubes of 1x4x4 = 16 tokens, 24 text tokens): its forward and a
    training step's gradients against the block in plain torch, float64;
    with BSA, under the mask of the blocks it selected."""
    block = tm.WanBlock(dim=128, heads=2, ffn=256, video=(2, 8, 8), attention=attention,
                        cube=(1, 4, 4), p=0.5)
    reference = copy.deepcopy(block).double()
    reference.attention = "torch"
    x, context, e = randn(2, 128, 128), randn(2, 24, 128), randn(2, 6, 128, scale=0.1)
    g = randn(2, 128, 128)
    out, grads = step(block, [x, context, e], g)
    lists = block.last_lists
    if attention == "bsa":
        index, count = lists
        assert index.shape == (2, 2, 8, 8) and 1 <= int(count.min())
        assert int(count.max()) < 8  # sparse: some block of some row left out
    want, want_grads = step(reference, [t.double() for t in (x, context, e)], g,
                            lists=lists)
    close(out, want, 2e-5)
    for got, w in zip(grads, want_grads):
        close(got, w, 1e-4)


def test_wan_block_rejects_an_unknown_attention():
    with pytest.raises(ValueError, match="'bsa', 'dense' or 'torch'"):
        tm.WanBlock(dim=64, heads=1, ffn=64, video=(1, 4, 4), attention="flash")


def test_text_to_image_block_against_plain_torch():
    """A UNet/DiT text-to-image transformer block (small: 64 channels, 2 heads
    of 32, an 8x8 map, 77 text tokens of 48, two blocks): forward and a
    training step's gradients against plain torch, float64."""
    block = tm.SpatialTransformer(channels=64, heads=2, context_dim=48, depth=2)
    reference = copy.deepcopy(block).double()
    reference.attention = "torch"
    x, context = randn(2, 64, 8, 8), randn(2, 77, 48)
    g = randn(2, 64, 8, 8)
    out, grads = step(block, [x, context], g)
    want, want_grads = step(reference, [x.double(), context.double()], g)
    close(out, want, 2e-5)
    for got, w in zip(grads, want_grads):
        close(got, w, 1e-4)


def small_rar(**kw):
    return tm.RAR(vocab=32, tokens=16, dim=64, heads=2, depth=2, classes=10, **kw)


def test_rar_permuted_training_step_against_plain_torch():
    """RAR's training step (small: 16 tokens of a 32-entry codebook, 2 blocks,
    each image in its own random order): logits and every gradient against
    the same model with plain torch attention, float64."""
    model = small_rar()
    reference = copy.deepcopy(model).double()
    reference.attention = "torch"
    tokens = torch.randint(0, 32, (3, 16), generator=gen)
    labels = torch.randint(0, 10, (3,), generator=gen)
    order = torch.stack([torch.randperm(16, generator=gen) for _ in range(3)])
    g = randn(3, 16, 32)

    def run(m):
        out = m(tokens, labels, order)
        params = [p for _, p in sorted(m.named_parameters())]
        return out, torch.autograd.grad((out * g.to(out.dtype)).sum(), params)

    out, grads = run(model)
    want, want_grads = run(reference)
    close(out, want, 2e-5)
    for got, w in zip(grads, want_grads):
        close(got, w, 1e-4)
    # The order matters (the test would not see a model that ignores it).
    assert (reference(tokens, labels) - want).abs().max().item() > 1e-3


def test_rar_generation_with_a_kv_cache():
    """Greedy raster-order generation, one query a step over the cached keys
    and values (Tessera's attention): each step's logits equal the plain
    torch model's full causal forward over the generated tokens, float64."""
    model = small_rar()
    reference = copy.deepcopy(model).double()
    reference.attention = "torch"
    labels = torch.randint(0, 10, (2,), generator=gen)
    tokens, logits = model.generate(labels, return_logits=True)
    assert tokens.shape == (2, 16) and logits.shape == (2, 16, 32)
    with torch.no_grad():
        want = reference(tokens, labels)
    close(logits, want, 2e-5)
    assert torch.equal(tokens, logits.argmax(-1))


def test_reference_injection_against_plain_torch():
    """VideoMaker's injection (small: a reference frame and 3 frames of 32
    tokens, 2 heads of 16): forward and gradients against plain torch,
    float64; the block-sparse lists give frames [reference; own frame]."""
    layer = tm.ReferenceInjection(dim=32, heads=2, frame_tokens=32)
    reference = copy.deepcopy(layer).double()
    reference.attention = "torch"
    x, g = randn(2, 4 * 32, 32), randn(2, 4 * 32, 32)
    out, grads = step(layer, [x], g)
    want, want_grads = step(reference, [x.double()], g)
    close(out, want, 2e-5)
    for got, w in zip(grads, want_grads):
        close(got, w, 1e-4)


def _tp_worker(rank, world, path, seed):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{path}/rendezvous", rank=rank,
                            world_size=world)
    torch.manual_seed(seed)
    full = tm.MLA(dim=64, heads=4, q_lora=32, kv_lora=32, d_nope=16, d_rope=16, d_v=16,
                  page_size=16, max_pages=4)
    x = torch.randn(2, 23, 64)
    tp = tm.TensorParallelMLA(full)
    assert tp.local.heads == 4 // world
    with torch.no_grad():
        want = copy.deepcopy(full).double().naive(x.double())
        out, cache = tp.prefill(x[:, :20])
        outs = [out] + [tp.decode(x[:, t:t + 1], cache, absorbed=absorbed)[0]
                        for t, absorbed in ((20, True), (21, False), (22, True))]
    close(torch.cat(outs, 1), want, 1e-4)
    dist.destroy_process_group()


def test_mla_tensor_parallel_over_two_ranks(tmp_path):
    """DeepSeek-shaped MLA with its heads split over 2 ranks (gloo, CPU
    processes; NCCL on GPUs): prefill and decode (both orders) equal the
    one-device model's plain-torch definition in float64 on every rank."""
    import torch.multiprocessing as mp
    seed = int(torch.randint(0, 1 << 30, (1,), generator=gen))
    mp.spawn(_tp_worker, args=(2, str(tmp_path), seed), nprocs=2)
