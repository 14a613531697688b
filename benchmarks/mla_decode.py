"""MLA decode (absorbed form) on the GPU: tessera.ops.mla_decode against
torch (the same absorbed computation as bmm + softmax + bmm over the
gathered cache) and, when installed, FlashMLA; bf16, one query token.
PYTHONPATH=python python3 benchmarks/mla_decode.py [--batch B] [--seq T]

Issue 7's cases: b = 128, t = 4096; 16 query heads (tensor parallel 8:
memory-bound, reported as effective TB/s over the 1152 bytes per cached
token) and 128 heads (compute-bound: 2176 FLOPs per head per token x 2,
reported as TFLOP/s). Each tessera row is checked against torch first.
"""

import pathlib
import sys

import torch

import tessera.ops as ops

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import bench  # noqa: E402


def arg(name, default):
    return next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == name), default)


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
        t = bench(torch_absorbed, reps=10)
        print(f"| {H} | torch bmm + softmax + bmm | {t:.3f} | {nbytes / t / 1e9:.2f} | "
              f"{flops / t / 1e9:.0f} |", flush=True)
        for block_h, warps in ((16, 4), (64, 4)):  # 64: every dot on wgmma, tiles copied ahead
            out, _ = ops.mla_decode(q, kv, table, lens, block_h=block_h, num_warps=warps)
            err = ((out.float() - ref).abs().max() / ref.abs().max()).item()
            assert err < 3e-2, (H, block_h, err)
            t = bench(lambda: ops.mla_decode(q, kv, table, lens, block_h=block_h,
                                             num_warps=warps), reps=10)
            print(f"| {H} | tessera, {block_h} heads per program, w{warps} | {t:.3f} | "
                  f"{nbytes / t / 1e9:.2f} | {flops / t / 1e9:.0f} |", flush=True)


if __name__ == "__main__":
    main()
