"""The source models' blocks as torch modules on Tessera's ops
(tessera.models, tessera.torch), each against the same block in plain
torch (float64) at small sizes: a Wan2.1-shaped DiT block with BSA
self-attention (a training step), a text-to-image transformer block, a
RAR-style image transformer (permuted training step and KV-cache
generation), VideoMaker's reference injection, and DeepSeek-shaped MLA
(prefill and decode); then tessera.torch.optimize on a model that writes
its attention out. On the CPU backend here; CUDA tensors run on the GPU.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/12_models_in_torch.py
"""

import copy

import torch

import tessera.models as tm
import tessera.torch as tt


def plain(model):
    """The same model in plain torch, float64."""
    ref = copy.deepcopy(model).double()
    ref.attention = "torch"
    return ref


def step(model, inputs, grad, **kwargs):
    """Output and the parameters' gradients of loss = sum(out * grad)."""
    out = model(*inputs, **kwargs)
    params = [p for _, p in sorted(model.named_parameters())]
    return out, torch.autograd.grad((out * grad.to(out.dtype)).sum(), params)


def error(got, want):
    """The largest difference, relative to the reference's largest value."""
    return ((got.double() - want).abs().max() / max(1.0, want.abs().max().item())).item()


def main(check=True):
    torch.manual_seed(0)
    rows = []

    # Wan2.1-shaped block, BSA self-attention, a training step.
    wan = tm.WanBlock(dim=128, heads=2, ffn=256, video=(2, 8, 8), cube=(1, 4, 4), p=0.5)
    x, ctx, e = torch.randn(1, 128, 128), torch.randn(1, 24, 128), 0.1 * torch.randn(1, 6, 128)
    g = torch.randn(1, 128, 128)
    out, grads = step(wan, (x, ctx, e), g)
    kept = wan.last_lists[1].float().mean().item()
    want, want_grads = step(plain(wan), (x.double(), ctx.double(), e.double()), g,
                            lists=wan.last_lists)
    rows.append((f"Wan block, BSA ({kept:.1f} of 8 key blocks kept), training step",
                 error(out, want), max(error(a, b) for a, b in zip(grads, want_grads))))

    # Text-to-image block: self- and cross-attention to 77 text tokens, GEGLU.
    t2i = tm.SpatialTransformer(channels=64, heads=2, context_dim=48, depth=1)
    x, ctx, g = torch.randn(1, 64, 8, 8), torch.randn(1, 77, 48), torch.randn(1, 64, 8, 8)
    out, grads = step(t2i, (x, ctx), g)
    want, want_grads = step(plain(t2i), (x.double(), ctx.double()), g)
    rows.append(("text-to-image block, training step", error(out, want),
                 max(error(a, b) for a, b in zip(grads, want_grads))))

    # RAR: a permuted-order training step, then generation with a KV cache.
    rar = tm.RAR(vocab=32, tokens=16, dim=64, heads=2, depth=2, classes=10)
    tokens, labels = torch.randint(0, 32, (2, 16)), torch.randint(0, 10, (2,))
    order = torch.stack([torch.randperm(16) for _ in range(2)])
    g = torch.randn(2, 16, 32)
    out, grads = step(rar, (tokens, labels, order), g)
    want, want_grads = step(plain(rar), (tokens, labels, order), g)
    rows.append(("RAR, permuted-order training step", error(out, want),
                 max(error(a, b) for a, b in zip(grads, want_grads))))
    generated, logits = rar.generate(labels, return_logits=True)
    with torch.no_grad():
        want = plain(rar)(generated, labels)
    rows.append(("RAR, 16 tokens generated with a KV cache (logits)", error(logits, want), None))

    # VideoMaker's reference injection.
    inj = tm.ReferenceInjection(dim=32, heads=2, frame_tokens=32)
    x, g = torch.randn(1, 4 * 32, 32), torch.randn(1, 4 * 32, 32)
    out, grads = step(inj, (x,), g)
    want, want_grads = step(plain(inj), (x.double(),), g)
    rows.append(("VideoMaker injection, 3 frames, training step", error(out, want),
                 max(error(a, b) for a, b in zip(grads, want_grads))))

    # DeepSeek-shaped MLA (small): prefill, then decode steps.
    mla = tm.MLA(dim=64, heads=4, q_lora=32, kv_lora=32, d_nope=16, d_rope=16, d_v=16,
                 page_size=16, max_pages=4)
    x = torch.randn(2, 24, 64)
    with torch.no_grad():
        want = copy.deepcopy(mla).double().naive(x.double())
        out, cache = mla.prefill(x[:, :20])
        steps = [mla.decode(x[:, t:t + 1], cache)[0] for t in range(20, 24)]
    rows.append(("MLA prefill (20 tokens), contractions in the cost model's order",
                 error(out, want[:, :20]), None))
    rows.append(("MLA decode (4 steps, absorbed, paged cache)",
                 error(torch.cat(steps, 1), want[:, 20:]), None))

    # optimize: attention written out in a model, replaced in its FX graph.
    class Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(64, 192)

        def forward(self, x):
            qkv = self.qkv(x).reshape(1, 40, 3, 2, 32).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            return torch.softmax(q @ k.transpose(-2, -1) * 32 ** -0.5, dim=-1) @ v

    model = Attn()
    gm = tt.optimize(model)
    x = torch.randn(1, 40, 64)
    rows.append((f"optimize: replaced {gm.tessera_replaced}",
                 error(gm(x), copy.deepcopy(model).double()(x.double())), None))

    print(f"| {'model (CPU backend, against plain torch in float64)':<72} | output | grads |")
    print(f"|{'-' * 74}|--------|-------|")
    for name, out_err, grad_err in rows:
        grad = "" if grad_err is None else f"{grad_err:.1e}"
        print(f"| {name:<72} | {out_err:.1e} | {grad} |")
    if check:
        for name, out_err, grad_err in rows:
            assert out_err < 1e-4 and (grad_err is None or grad_err < 1e-3), name
    return rows


if __name__ == "__main__":
    main()
