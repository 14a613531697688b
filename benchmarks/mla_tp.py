"""DeepSeek-V3-shaped MLA with tensor parallelism over the GPUs of one host
(torch.distributed, NCCL): the heads split over the ranks, Tessera's kernels
unchanged, one all-reduce a phase. Each rank checks its prefill and decode
outputs against the unsplit model on its GPU, and rank 0 prints the decode
step's time with and without the split.

    torchrun --nproc-per-node 2 benchmarks/mla_tp.py
"""

import os

import torch
import torch.distributed as dist

import tessera.models as tm


def main():
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    torch.manual_seed(0)  # the same weights and inputs on every rank
    full = tm.MLA(dim=7168, heads=128, page_size=64, max_pages=66, dtype=torch.bfloat16,
                  device="cuda")
    B, T = 32, 4096
    tp = tm.TensorParallelMLA(full)
    with torch.no_grad():
        # Prefill checked on a short sequence (its scores are materialized).
        x = torch.randn(2, 256, 7168, device="cuda", dtype=torch.bfloat16) * 0.1
        want, _ = full.prefill(x)
        out, _ = tp.prefill(x)
        err = ((out.float() - want.float()).abs().max() / want.float().abs().max()).item()
        assert err < 3e-2, f"rank {rank}: prefill differs by {err}"
        # Decode over a cache of T random latents, the same on every rank.
        latents = torch.randn(B, T, full.kv_lora + full.d_rope, device="cuda",
                              dtype=torch.bfloat16) * 0.1
        cache_full, cache = full._cache(latents), full._cache(latents)
        x_t = torch.randn(B, 1, 7168, device="cuda", dtype=torch.bfloat16) * 0.1
        lens = cache.seqlens.clone()

        def step(model, c):
            c.seqlens.copy_(lens)
            return model.decode(x_t, c, absorbed=True)[0]

        err = ((step(tp, cache).float() - step(full, cache_full).float()).abs().max()).item()
        assert err < 3e-2, f"rank {rank}: decode differs by {err}"
        times = {}
        for name, model, c in (("1 GPU, 128 heads", full, cache_full),
                               (f"{world} GPUs, {128 // world} heads each", tp, cache)):
            for _ in range(3):
                step(model, c)
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(20):
                step(model, c)
            end.record()
            torch.cuda.synchronize()
            times[name] = start.elapsed_time(end) / 20
    if rank == 0:
        print(f"| MLA decode step, batch {B}, {T} cached tokens (bf16) | ms |\n|---|---|")
        for name, ms in times.items():
            print(f"| {name} | {ms:.3f} |")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
