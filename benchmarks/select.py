"""BSA's block selection alone on the GPU (tessera.ops.block_select from the
block means, as bsa_attention calls it), kernel by kernel, at the issue's
shapes: S 23296 (182 blocks of 128, top-p 0.9, at most 13) and S 153600
(1200 blocks, at most 60). Up to 32 kept blocks the selection takes them
one max reduction at a time; above, rows clamped by max_blocks run the
second bisection and the others skip it; a bisected row is a head and a
tail tile where one tile would pad more (1200: 1024 + 256).
PYTHONPATH=python python3 benchmarks/select.py
"""

import pathlib
import sys

import torch

from tessera import ops

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from attention_grad import kernel_times  # noqa: E402
from run import bench  # noqa: E402


def main():
    default = dict(ops._SELECT_TUNING)
    # The defaults (rows split into a head and a tail tile where that pads
    # less: 1024 + 256 for 1200 key blocks, two warps); the split rows on
    # one warp; one tile a row (2048 for 1200, two warps: session 12's
    # default); bisection only (no max rounds).
    for tuning in ({}, {"split_blocks_per_warp": 1024}, {"split_rows": False},
                   {"rounds_up_to": 0}):
        ops._SELECT_TUNING.update(default, **tuning)
        print(f"\n{ops._SELECT_TUNING}")
        table()


def table():
    H, D = 12, 128
    print(f"device: {torch.cuda.get_device_name()}\n")
    print("| S | key blocks | kept at most | means' scale | rows clamped | ms | kernels (ms) |\n"
          "|---|---|---|---|---|---|---|")
    for S, keep, scale in ((23296, 13, 0.5), (23296, 13, 4.0), (153600, 60, 0.5),
                           (153600, 60, 4.0)):
        nb = S // 128
        q = torch.randn(1, H, S, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, H, S, D, device="cuda", dtype=torch.bfloat16)
        # Means as cube_reorder(pool=True) gives them (float32): scale 0.5,
        # flat scores (every row reaches max_blocks); 4, peaked (few do).
        qp = torch.randn(1, H, nb, D, device="cuda") * scale
        kp = torch.randn(1, H, nb, D, device="cuda") * scale
        run = lambda: ops.block_select(q, k, 128, 128, mass=0.9, max_blocks=keep,  # noqa: E731
                                       pooled=(qp, kp))
        index, count = run()
        clamped = (count == keep).float().mean().item()
        t = bench(run, reps=20)
        parts = ", ".join(f"{name.split('(')[0][:40]} {ms:.3f}"
                          for name, ms in sorted(kernel_times(run).items(), key=lambda x: -x[1]))
        print(f"| {S} | {nb} | {keep} | {scale} | {100 * clamped:.0f}% | {t:.3f} | {parts} |", flush=True)


if __name__ == "__main__":
    main()
