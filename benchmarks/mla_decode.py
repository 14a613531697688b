"""MLA decode (absorbed form) on the GPU: tessera.ops.mla_decode against
torch (the same absorbed computation as bmm + softmax + bmm over the
gathered cache) and, when installed, FlashMLA; bf16, one query token.
PYTHONPATH=python python3 benchmarks/mla_decode.py [--batch B] [--seq T] [--sweep] [--kernels]

Times are the GPU's (the host's launch work queued behind a GPU spin, as
in a CUDA graph); the defaults are also timed from Python with the GPU
idle. Issue 7's cases: b = 128, t = 4096; 16 query heads (tensor parallel 8:
memory-bound, reported as effective TB/s over the 1152 bytes per cached
token) and 128 heads (compute-bound: 2176 FLOPs per head per token x 2,
reported as TFLOP/s). Each tessera row is checked against torch first.
Up to 32 heads, the heads-along-N kernel (the default on sm_90a there) is
also timed against the 64-row blocks (heads_on_n=False) and with 1, 2 and
4 splits. --sweep times a grid of launch choices (heads per program, output part,
tokens per step, warps, stages, splits), fastest first; --kernels lists
the split and combine kernels' times (torch.profiler) under the two
fastest rows. --lag adds, at 128 heads, the pipeliner's `lag` (the copies
after warpgroup 0's scores, P V in flight into the next iteration; not yet
the default).
"""

import pathlib
import sys

import torch

import tessera.ops as ops

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import bench  # noqa: E402


def arg(name, default):
    return next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == name), default)


def decode(q, kv, table, lens, c):
    """ops.mla_decode with launch choices `c`; c["lag"]: the NVIDIA backend's
    `lag` option for the call."""
    c = dict(c)
    lag = c.pop("lag", None)
    if lag is None:
        return ops.mla_decode(q, kv, table, lens, **c)
    from tessera.backends.nvidia import NVIDIABackend
    old = NVIDIABackend.default_options["lag"]
    NVIDIABackend.default_options["lag"] = lag
    try:
        return ops.mla_decode(q, kv, table, lens, **c)
    finally:
        NVIDIABackend.default_options["lag"] = old


def main():
    B = int(arg("--batch", 128))
    T = int(arg("--seq", 4096))
    page, d_lat, d = 64, 512, 576
    pages_per = -(-T // page)
    torch.manual_seed(0)
    kv = torch.randn(B * pages_per, page, d, device="cuda").bfloat16()
    table = torch.randperm(B * pages_per, device="cuda").int().reshape(B, pages_per)
    lens = torch.full((B,), T, dtype=torch.int32, device="cuda")
    gathered = kv[table.long()].reshape(B, pages_per * page, d)[:, :T]  # (B, T, 576)
    print(f"device: {torch.cuda.get_device_name()}; bf16, batch {B}, {T} cached tokens, "
          f"latent {d_lat} + rope {d - d_lat}, pages of {page}\n")
    print("| heads | case | ms | TB/s (cache bytes) | TFLOP/s |\n|---|---|---|---|---|")
    for H in (16, 128):
        q = torch.randn(B, H, d, device="cuda").bfloat16()
        scale = d ** -0.5

        def torch_absorbed():
            s = torch.bmm(q, gathered.transpose(1, 2)).float() * scale
            return torch.bmm(torch.softmax(s, -1).bfloat16(), gathered[:, :, :d_lat])

        ref = torch_absorbed().float()
        nbytes = B * T * d * 2
        flops = 2 * B * H * T * (d + d_lat)
        t = bench(torch_absorbed, reps=30, queued=True)
        print(f"| {H} | torch bmm + softmax + bmm | {t:.3f} | {nbytes / t / 1e9:.2f} | "
              f"{flops / t / 1e9:.0f} |", flush=True)
        configs = [dict(), dict(block_h=16, num_warps=4), dict(block_h=64, num_warps=4)]
        if H <= 32:  # the heads along N (the default there) against 64-row blocks
            configs += [dict(heads_on_n=False), dict(heads_on_n=True, num_splits=1),
                        dict(heads_on_n=True, num_splits=2), dict(heads_on_n=True, num_splits=4)]
        if "--lag" in sys.argv and H == 128:
            configs.append(dict(lag=True))
        if "--sweep" in sys.argv:
            # (heads per program, output part, tokens per step, warps, stages, splits)
            grid = {16: [(16, 512, 32, 4, 3, 16), (64, 256, 32, 4, 2, 8),
                         (64, 512, 32, 8, 2, 4), (64, 512, 64, 8, 2, None),
                         (64, 512, 64, 8, 2, 2), (64, 512, 64, 8, 2, 4),
                         (64, 512, 64, 8, 2, 8)],
                    128: [(64, 256, 32, 4, 2, 2), (64, 512, 32, 8, 2, None),
                          (64, 512, 64, 8, 2, None), (64, 512, 64, 8, 2, 2),
                          (64, 512, 64, 8, 1, None)]}[H]
            configs = [dict(block_h=bh, out_block=ob, block_n=bn, num_warps=w, num_stages=st,
                            num_splits=sp) for bh, ob, bn, w, st, sp in grid]
            # The heads along N in blocks of 16 or 32 (an entry's blocks side
            # by side, the cache from L2 after the first).
            configs = [dict()] + configs + [dict(heads_on_n=True, block_h=bh) for bh in (16, 32)]
        results = []
        for c in configs:
            try:
                out, _ = decode(q, kv, table, lens, c)
            except Exception as e:  # a choice that does not compile or fit
                print(f"| {H} | tessera {c}: {type(e).__name__}: {str(e)[:80]} | | | |")
                continue
            err = ((out.float() - ref).abs().max() / ref.abs().max()).item()
            assert err < 3e-2, (H, c, err)
            t = bench(lambda: decode(q, kv, table, lens, c), reps=30, queued=True)
            results.append((t, c))
            if not c:  # the defaults, launched from Python with nothing queued ahead
                host = bench(lambda: ops.mla_decode(q, kv, table, lens), reps=30)
        for i, (t, c) in enumerate(sorted(results, key=lambda r: r[0])):
            name = ", ".join(f"{k}={v}" for k, v in c.items()) or "defaults"
            print(f"| {H} | tessera, {name} | {t:.3f} | "
                  f"{nbytes / t / 1e9:.2f} | {flops / t / 1e9:.0f} |", flush=True)
            if not c:
                print(f"| {H} | tessera, defaults, from Python with the GPU idle (host time "
                      f"included) | {host:.3f} | {nbytes / host / 1e9:.2f} | "
                      f"{flops / host / 1e9:.0f} |", flush=True)
            if "--kernels" in sys.argv and i < 2:
                from attention_grad import kernel_times
                for k, ms in sorted(kernel_times(lambda: decode(q, kv, table, lens, c))
                                    .items(), key=lambda x: -x[1]):
                    print(f"| | &nbsp;&nbsp; {k[:50]} | {ms:.3f} | | |", flush=True)


if __name__ == "__main__":
    main()
