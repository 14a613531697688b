"""bf16 GEMM 8192^3: tessera (examples/04 with pointer loads through cp.async,
and examples/07 with tensor descriptors, TMA on sm_90a) and Triton 3.6
autotuned over the same configs (benchmarks/gemm_shapes.py's space), cuBLAS
(torch.matmul) beside them; after
tuning, rounds alternate the three and the table gives each one's median and
range over the rounds (clocks drift on a shared host).
PYTHONPATH=python python3 benchmarks/gemm_8192.py [size] [rounds]"""

import pathlib
import statistics
import sys

import torch

import tessera

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gemm_shapes import configs, mm  # noqa: E402
from run import load  # noqa: E402

dm = load("07_descriptor_matmul")
from run import as_triton, bench  # noqa: E402


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    a = torch.randn(size, size, device="cuda").bfloat16()
    b = torch.randn(size, size, device="cuda").bfloat16()
    c = torch.empty(size, size, device="cuda", dtype=torch.bfloat16)
    args = (a, b, c, size, size, size, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
            c.stride(0), c.stride(1))

    def grid(meta):
        return (tessera.cdiv(size, meta["BLOCK_SIZE_M"]) * tessera.cdiv(size, meta["BLOCK_SIZE_N"]),)

    ours = tessera.autotune(configs(tessera.Config), key=["M", "N", "K"])(mm.matmul_kernel)
    desc = tessera.autotune(
        [tessera.Config({k.replace("_SIZE", ""): v for k, v in cfg.kwargs.items()},
                        num_warps=cfg.num_warps, num_stages=cfg.num_stages)
         for cfg in configs(tessera.Config)], key=["M", "N", "K"])(dm.matmul_kernel)

    def desc_grid(meta):
        return (tessera.cdiv(size, meta["BLOCK_M"]) * tessera.cdiv(size, meta["BLOCK_N"]),)

    runs = {"tessera": lambda: ours[grid](*args, GROUP_SIZE_M=8, ACTIVATION=""),
            "tessera, descriptors (TMA)": lambda: desc[desc_grid](a, b, c, size, size, size,
                                                                   GROUP_M=8),
            "cuBLAS (torch.matmul)": lambda: torch.matmul(a, b)}
    try:
        import triton
        theirs = triton.autotune(configs(triton.Config), key=["M", "N", "K"])(
            as_triton(mm.matmul_kernel))
        runs["triton 3.6"] = lambda: theirs[grid](*args, GROUP_SIZE_M=8, ACTIVATION="")
        # Device-side descriptors need global scratch for their tensor maps.
        triton.set_allocator(lambda size, align, stream: torch.empty(size, dtype=torch.int8,
                                                                      device="cuda"))
        theirs_desc = triton.autotune(
            [triton.Config({k.replace("_SIZE", ""): v for k, v in cfg.kwargs.items()},
                           num_warps=cfg.num_warps, num_stages=cfg.num_stages)
             for cfg in configs(triton.Config)], key=["M", "N", "K"])(
            as_triton(dm.matmul_kernel))
        runs["triton 3.6, descriptors"] = lambda: theirs_desc[desc_grid](a, b, c, size, size,
                                                                          size, GROUP_M=8)
    except ImportError:
        pass
    for fn in runs.values():  # tune and warm up
        fn()
    ref = torch.matmul(a, b).float()
    for name in ("tessera", "tessera, descriptors (TMA)"):
        c.zero_()
        runs[name]()
        err = ((c.float() - ref).abs().max() / ref.abs().max()).item()
        assert err < 2e-2, (name, err)
    flops = 2 * size ** 3
    samples = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            samples[name].append(flops / bench(fn, reps=20) / 1e9)
    kw, dk = ours.best_config.kwargs, desc.best_config.kwargs
    print(f"device: {torch.cuda.get_device_name()}; bf16 {size}^3, {rounds} rounds; tessera config "
          f"{kw['BLOCK_SIZE_M']}x{kw['BLOCK_SIZE_N']}x{kw['BLOCK_SIZE_K']} "
          f"w{ours.best_config.num_warps} s{ours.best_config.num_stages}; descriptors "
          f"{dk['BLOCK_M']}x{dk['BLOCK_N']}x{dk['BLOCK_K']} w{desc.best_config.num_warps} "
          f"s{desc.best_config.num_stages}\n")
    print("| | median TFLOP/s | min | max |\n|---|---|---|---|")
    for name, xs in samples.items():
        print(f"| {name} | {statistics.median(xs):.0f} | {min(xs):.0f} | {max(xs):.0f} |")
    base = statistics.median(samples["cuBLAS (torch.matmul)"])
    print(f"\ntessera / cuBLAS (medians): {statistics.median(samples['tessera']) / base:.2f}; "
          f"with descriptors: {statistics.median(samples['tessera, descriptors (TMA)']) / base:.2f}")


if __name__ == "__main__":
    main()
