"""bf16 GEMM config by config: every config of gemm_shapes.py's space timed
alone for tessera (examples/04 pointers, examples/07 descriptors) and Triton
3.6 (the same examples/04 source), to see where an autotuned gap comes from.
PYTHONPATH=python python3 benchmarks/gemm_configs.py [MxNxK,...] [--dump DIR]

--dump DIR writes Triton's PTX for each config (tessera's are in
TESSERA_CACHE_DIR) and prints registers and spills beside the times.
"""

import pathlib
import sys

import torch

import tessera

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gemm_shapes import SPACE, dm, mm  # noqa: E402
from run import as_triton, bench  # noqa: E402


def main():
    argv = sys.argv[1:]
    dump = None
    if "--dump" in argv:
        i = argv.index("--dump")
        dump = pathlib.Path(argv[i + 1])
        dump.mkdir(parents=True, exist_ok=True)
        del argv[i:i + 2]
    shapes = [tuple(int(x) for x in s.split("x")) for s in (argv[0].split(",") if argv else
                                                          ["128x1536x7168", "128x512x7168"])]
    try:
        theirs = as_triton(mm.matmul_kernel)
    except ImportError:
        theirs = None
    print(f"device: {torch.cuda.get_device_name()}; bf16 in, fp32 accumulate; TFLOP/s\n")
    print("| M x N x K | config | programs | tessera | descriptors | triton | tessera / triton "
          "| triton regs, spills |\n|---|---|---|---|---|---|---|---|")
    for M, N, K in shapes:
        a = torch.randn(M, K, device="cuda").bfloat16()
        b = torch.randn(K, N, device="cuda").bfloat16()
        c = torch.empty(M, N, device="cuda", dtype=torch.bfloat16)
        ref = torch.matmul(a, b).float()
        args = (a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                c.stride(0), c.stride(1))
        flops = 2 * M * N * K
        for bm, bn, bk, w, s in SPACE:
            grid = (tessera.cdiv(M, bm) * tessera.cdiv(N, bn),)
            meta = dict(BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn, BLOCK_SIZE_K=bk, GROUP_SIZE_M=8,
                        ACTIVATION="", num_warps=w, num_stages=s)

            def checked(fn):
                c.zero_()
                fn()
                err = ((c.float() - ref).abs().max() / ref.abs().max()).item()
                assert err < 2e-2, (M, N, K, bm, bn, bk, err)
                return flops / bench(fn, reps=20) / 1e9

            t_ours = checked(lambda: mm.matmul_kernel[grid](*args, **meta))
            t_desc = checked(lambda: dm.matmul_kernel[grid](
                a, b, c, M, N, K, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8,
                num_warps=w, num_stages=s))
            t_tr, regs = float("nan"), "-"
            if theirs is not None:
                t_tr = checked(lambda: theirs[grid](*args, **meta))
                k = theirs.warmup(*args, grid=grid, **meta)
                regs = f"{k.n_regs}, {k.n_spills}"
                if dump is not None:
                    (dump / f"triton_{bm}x{bn}x{bk}_w{w}_s{s}.ptx").write_text(k.asm["ptx"])
                    (dump / f"triton_{bm}x{bn}x{bk}_w{w}_s{s}.ttgir").write_text(k.asm["ttgir"])
            print(f"| {M}x{N}x{K} | {bm}x{bn}x{bk} w{w} s{s} | {grid[0]} | {t_ours:.0f} | "
                  f"{t_desc:.0f} | {t_tr:.0f} | {t_ours / t_tr:.2f} | {regs} |", flush=True)


if __name__ == "__main__":
    main()
