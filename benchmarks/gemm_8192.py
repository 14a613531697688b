"""bf16 GEMM 8192^3: tessera and Triton 3.6 autotuned over the same configs
(benchmarks/gemm_shapes.py's space), cuBLAS (torch.matmul) beside them; after
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
    runs = {"tessera": lambda: ours[grid](*args, GROUP_SIZE_M=8, ACTIVATION=""),
            "cuBLAS (torch.matmul)": lambda: torch.matmul(a, b)}
    try:
        import triton
        theirs = triton.autotune(configs(triton.Config), key=["M", "N", "K"])(
            as_triton(mm.matmul_kernel))
        runs["triton 3.6"] = lambda: theirs[grid](*args, GROUP_SIZE_M=8, ACTIVATION="")
    except ImportError:
        pass
    for fn in runs.values():  # tune and warm up
        fn()
    ref = torch.matmul(a, b).float()
    runs["tessera"]()
    err = ((c.float() - ref).abs().max() / ref.abs().max()).item()
    assert err < 2e-2, err
    flops = 2 * size ** 3
    samples = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            samples[name].append(flops / bench(fn, reps=20) / 1e9)
    kw = ours.best_config.kwargs
    print(f"device: {torch.cuda.get_device_name()}; bf16 {size}^3, {rounds} rounds; tessera config "
          f"{kw['BLOCK_SIZE_M']}x{kw['BLOCK_SIZE_N']}x{kw['BLOCK_SIZE_K']} "
          f"w{ours.best_config.num_warps} s{ours.best_config.num_stages}\n")
    print("| | median TFLOP/s | min | max |\n|---|---|---|---|")
    for name, xs in samples.items():
        print(f"| {name} | {statistics.median(xs):.0f} | {min(xs):.0f} | {max(xs):.0f} |")
    base = statistics.median(samples["cuBLAS (torch.matmul)"])
    print(f"\ntessera / cuBLAS (medians): {statistics.median(samples['tessera']) / base:.2f}")


if __name__ == "__main__":
    main()
