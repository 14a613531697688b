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
    if "--reorder" in sys.argv:
        return reorder()
    default = dict(ops._SELECT_TUNING)
    # The defaults (rows split into a head and a tail tile where that pads
    # less: 1024 + 256 for 1200 key blocks, two warps); the split rows on
    # one warp; one tile a row (2048 for 1200, two warps: session 12's
    # default); bisection only (no max rounds).
    # Score tiles of 32 and 16 (more programs than SMs at S = 23296).
    variants = ({}, {"split_blocks_per_warp": 1024}, {"split_rows": False}, {"rounds_up_to": 0},
                {"scores_tile": 32}, {"scores_tile": 32, "scores_warps": 2},
                {"scores_tile": 32, "scores_warps": 1}, {"scores_tile": 16, "scores_warps": 1})
    if "--scores" in sys.argv:
        variants = variants[:1] + variants[4:]
    for tuning in variants:
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


def reorder():
    """cube_reorder of q at S 23296 (cubes 8x4x4), alone and with the cube
    means, for each pooling tile (a cube's 128 tokens by 64 or 128
    channels)."""
    H, D, video, cube = 12, 128, (16, 28, 52), (8, 4, 4)
    x = torch.randn(H, 23296, D, device="cuda", dtype=torch.bfloat16)
    alone = bench(lambda: ops.cube_reorder(x, video, cube), reps=20, queued=True)
    print(f"device: {torch.cuda.get_device_name()}\n\n| pooling tile | alone ms | pooled ms |"
          f" extra ms |\n|---|---|---|---|")
    default = dict(ops._REORDER_TUNING)
    for tile in (8192, 16384, 4096):
        ops._REORDER_TUNING.update(default, pool_tile=tile)
        y, p = ops.cube_reorder(x, video, cube, pool=True)
        want = x.float().reshape(H, 2, 8, 7, 4, 13, 4, D).permute(0, 1, 3, 5, 2, 4, 6, 7)
        err = (p - want.reshape(H, 182, 128, D).mean(2)).abs().max().item()
        assert err < 1e-4, err
        t = bench(lambda: ops.cube_reorder(x, video, cube, pool=True), reps=20, queued=True)
        print(f"| 128 x {tile // 128} | {alone:.4f} | {t:.4f} | {t - alone:.4f} |", flush=True)
    ops._REORDER_TUNING.update(default)


if __name__ == "__main__":
    main()
