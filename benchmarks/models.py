"""The source models' blocks at full size: plain torch (eager), torch.compile of
the plain model, and the same blocks on Tessera's ops, in one table (ms a
call, median of a few after warm-up; CUDA events).

- Wan2.1-1.3B DiT block (dim 1536, 12 heads of 128, FFN 8960, a 16x28x52
  latent video = 23,296 tokens, 512 text tokens), bf16, a training step
  (forward + backward): torch SDPA (dense), Tessera dense, Tessera BSA (top-p
  0.9, at most 13 of 182 key blocks: about 93% sparse);
- an SDXL-style text-to-image block (640 channels, 10 heads of 64, a 64x64
  map, 77 text tokens of 2048, two transformer blocks), bf16, training step;
- RAR-L-shaped generation (768 wide, 12 heads, 24 blocks, 256 tokens,
  batch 32), bf16: 256 greedy steps with a KV cache;
- VideoMaker's injection (320 wide, 5 heads of 64, a reference frame and 8
  frames of 64x64 tokens), bf16, training step;
- a DeepSeek-V3-shaped MLA decode step (128 heads, batch 32, 4096 cached
  tokens), bf16: eager, and captured in a CUDA graph and replayed.

PYTHONPATH=python python3 benchmarks/models.py [--only=wan,t2i,rar,inject,mla]
--profile lists the GPU kernels of one call of each variant (t2i, rar).
--small runs tiny shapes (on the CPU when there is no GPU): a check that
the script runs, not a measurement.
"""

import copy
import statistics
import sys
import time

import torch

import tessera.models as tm

SMALL = "--small" in sys.argv
DEV = "cuda" if torch.cuda.is_available() else "cpu"
DT = torch.bfloat16 if DEV == "cuda" else torch.float32


def timed(fn, reps=5):
    """Median ms of fn() after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        if DEV == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def compiled(model):
    """torch.compile of the plain model where torch has it."""
    if not hasattr(torch, "compile") or DEV != "cuda":
        return None
    return torch.compile(model)


def training_step(model, inputs, **kwargs):
    def run():
        xs = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
        out = model(*xs, **kwargs)
        out.float().square().mean().backward()
    return run


def variants(model, plain_mode, modes):
    """(name, module) for plain torch, torch.compile of it, and each Tessera
    mode, sharing the weights."""
    plain = copy.deepcopy(model)
    plain.attention = plain_mode
    out = [("torch eager", plain)]
    c = compiled(plain)
    if c is not None:
        out.append(("torch.compile", c))
    for name, mode in modes:
        m = copy.deepcopy(model)
        m.attention = mode
        out.append((name, m))
    return out


def profile(name, fn, top=10):
    """With --profile: the GPU kernels of one call of fn (torch.profiler),
    the `top` by total time, under the table."""
    if "--profile" not in sys.argv or DEV != "cuda":
        return
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    totals = {}
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            n, t = totals.get(e.name, (0, 0.0))
            us = getattr(e, "device_time_total", None)  # cuda_time_total before torch 2.4
            totals[e.name] = (n + 1, t + (e.cuda_time_total if us is None else us) / 1e3)
    print(f"\n{name}: GPU kernels of one call (ms, calls)\n")
    for k, (n, t) in sorted(totals.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"- {t:.3f} ({n}) {k[:90]}")


def table(title, rows):
    base = rows[0][1]
    print(f"\n### {title}\n\n| variant | ms | vs torch eager |\n|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} | {base / ms:.2f}x |", flush=True)


def wan():
    dim, heads, ffn, video, L = (128, 2, 256, (2, 8, 8), 24) if SMALL else \
        (1536, 12, 8960, (16, 28, 52), 512)
    cube = (1, 4, 4) if SMALL else (8, 4, 4)
    S = video[0] * video[1] * video[2]
    block = tm.WanBlock(dim=dim, heads=heads, ffn=ffn, video=video, cube=cube, p=0.9,
                        max_blocks=None if SMALL else 13).to(DEV, DT)
    x, ctx = torch.randn(1, S, dim, device=DEV, dtype=DT), torch.randn(1, L, dim, device=DEV,
                                                                         dtype=DT)
    e = 0.1 * torch.randn(1, 6, dim, device=DEV, dtype=DT)
    rows = [(name, timed(training_step(m, [x, ctx, e])))
            for name, m in variants(block, "torch", [("tessera dense", "dense"),
                                                     ("tessera BSA", "bsa")])]
    table(f"Wan2.1 block, {S} tokens, training step ({DEV}, {DT})", rows)


def t2i():
    C, heads, ctx_dim, hw = (64, 2, 48, 8) if SMALL else (640, 10, 2048, 64)
    block = tm.SpatialTransformer(channels=C, heads=heads, context_dim=ctx_dim,
                                  depth=2).to(DEV, DT)
    x = torch.randn(2, C, hw, hw, device=DEV, dtype=DT)
    ctx = torch.randn(2, 77, ctx_dim, device=DEV, dtype=DT)
    models = variants(block, "torch", [("tessera", "tessera")])
    rows = [(name, timed(training_step(m, [x, ctx]))) for name, m in models]
    table(f"text-to-image block, {hw}x{hw} map, 77 text tokens, training step", rows)
    for name, m in models:
        if name != "torch.compile":
            profile(f"t2i, {name}", training_step(m, [x, ctx]))


def rar():
    shape = dict(vocab=32, tokens=16, dim=64, heads=2, depth=2) if SMALL else \
        dict(vocab=1024, tokens=256, dim=768, heads=12, depth=24)
    model = tm.RAR(classes=10, **shape).to(DEV, DT)
    labels = torch.randint(0, 10, (4 if SMALL else 32,), device=DEV)
    models = [(name, m) for name, m in variants(model, "torch", [("tessera", "tessera")])
              if name != "torch.compile"]  # generation's growing cache recompiles
    rows = [(name, timed(lambda m=m: m.generate(labels), reps=3)) for name, m in models]
    table(f"RAR generation, {shape['tokens']} tokens with a KV cache, batch {len(labels)}",
          rows)
    for name, m in models:
        profile(f"RAR, {name}", lambda m=m: m.generate(labels))


def inject():
    dim, heads, n, frames = (32, 2, 32, 3) if SMALL else (320, 5, 4096, 8)
    layer = tm.ReferenceInjection(dim=dim, heads=heads, frame_tokens=n).to(DEV, DT)
    x = torch.randn(1, (frames + 1) * n, dim, device=DEV, dtype=DT)
    rows = [(name, timed(training_step(m, [x])))
            for name, m in variants(layer, "torch", [("tessera", "tessera")])]
    table(f"VideoMaker injection, {frames} frames of {n} tokens, training step", rows)


def mla():
    shape = dict(dim=64, heads=4, q_lora=32, kv_lora=32, d_nope=16, d_rope=16, d_v=16,
                 page_size=16, max_pages=8) if SMALL else \
        dict(dim=7168, heads=128, page_size=64, max_pages=66)
    B, T = (2, 100) if SMALL else (32, 4096)
    model = tm.MLA(dtype=DT, device=DEV, **shape)
    step_x = torch.randn(B, 1, shape["dim"], device=DEV, dtype=DT) * 0.1
    with torch.no_grad():
        # A cache of T random latents (a prefill of B x T tokens would
        # materialize its (B, heads, T, T) scores).
        width = model.kv_lora + model.d_rope
        cache = model._cache(torch.randn(B, T, width, device=DEV, dtype=DT) * 0.1)
        lens = cache.seqlens.clone()

        def eager():
            cache.seqlens.copy_(lens)  # the same step every time
            return model.decode(step_x, cache, absorbed=True)

        def torch_absorbed():
            """The same step in torch (bmm + softmax over the latents: the
            absorbed order, as the issue's torch figure)."""
            m = model
            pos = lens.long()[:, None]
            c_q, q_pe, c_kv, k_pe = m._latents(step_x, pos)
            latent = cache.pages.view(B, -1, cache.pages.shape[-1])[:, :T]
            latent = torch.cat([latent, torch.cat([c_kv, k_pe], -1)], 1)  # (B, T + 1, 576)
            q_lat = torch.einsum("bq,hdq,hdk->bhk", c_q[:, 0], m.w_uq, m.w_uk)
            q = torch.cat([q_lat, q_pe[:, 0]], -1)  # (B, H, 576)
            p = torch.softmax(torch.bmm(q, latent.transpose(1, 2)).float() * m.scale, -1)
            o_lat = torch.bmm(p.to(latent.dtype), latent[..., :m.kv_lora])
            return torch.einsum("bhv,hve->be", torch.einsum("bhk,hvk->bhv", o_lat, m.w_uv),
                                m.w_o)

        rows = [("torch eager (absorbed: bmm + softmax)", timed(torch_absorbed)),
                ("tessera eager (absorbed)", timed(eager))]
        out_t = torch_absorbed()
        out_m = eager()[0][:, 0]
        err = ((out_t.float() - out_m.float()).abs().max() / out_t.float().abs().max()).item()
        assert err < 5e-2, err  # the two steps agree (bf16 on the GPU)
        if DEV == "cuda":
            eager()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                cache.seqlens.copy_(lens)
                model.decode(step_x, cache, absorbed=True)
            rows.append(("tessera, CUDA graph replay", timed(graph.replay)))
    table(f"MLA decode step, {shape['heads']} heads, batch {B}, {T} cached tokens", rows)


def main():
    only = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), None)
    chosen = only.split(",") if only else ["wan", "t2i", "rar", "inject", "mla"]
    if DEV == "cuda":
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for name in chosen:
        {"wan": wan, "t2i": t2i, "rar": rar, "inject": inject, "mla": mla}[name]()


if __name__ == "__main__":
    main()
