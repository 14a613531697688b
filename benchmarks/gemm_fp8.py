"""fp8 (e4m3) GEMM with an fp16 result, C = A @ B with B given K-major (as
Bt, N x K row-major: what cuBLAS's fp8 GEMM takes too): tessera and Triton
3.6 on the same kernel source and autotune space, cuBLAS through
torch._scaled_mm (unit scales) in the same run; rounds alternate them.
With `tf32` as third argument: the same kernel on fp32 inputs (TF32 dots:
wgmma k8 on sm_90a, which reads tf32 only K-major), cuBLAS as torch.matmul
with TF32 allowed.
PYTHONPATH=python python3 benchmarks/gemm_fp8.py [size] [rounds] [fp8|tf32]"""

import pathlib
import statistics
import sys

import torch

import tessera
import tessera.language as tl

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import as_triton, bench  # noqa: E402

SPACE = [(128, 128, 128, 8, 3), (128, 256, 64, 8, 3), (128, 256, 128, 8, 3),
         (128, 128, 64, 8, 4), (64, 256, 128, 4, 3), (128, 128, 128, 4, 4)]


@tessera.jit
def fp8_matmul_kernel(a_ptr, bt_ptr, c_ptr, M, N, K, BLOCK_M: tl.constexpr,
                      BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    group = pid // (GROUP_M * num_n)
    first_m = group * GROUP_M
    size_m = min(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % (GROUP_M * num_n)) % size_m
    pid_n = (pid % (GROUP_M * num_n)) // size_m
    rm = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    rn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    rk = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
    b_ptrs = bt_ptr + rn[:, None] * K + rk[None, :]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=rk[None, :] < K - k * BLOCK_K, other=0.0)
        bt = tl.load(b_ptrs, mask=rk[None, :] < K - k * BLOCK_K, other=0.0)
        acc = tl.dot(a, tl.trans(bt), acc)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K
    cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    tl.store(c_ptr + cm[:, None] * N + cn[None, :], acc.to(tl.float16),
             mask=(cm[:, None] < M) & (cn[None, :] < N))


# fp32 tiles are 4x fp8's bytes: K steps of 32.
SPACE_TF32 = [(128, 128, 32, 8, 3), (128, 256, 32, 8, 3), (128, 128, 32, 8, 4),
              (64, 256, 32, 4, 3), (128, 64, 32, 4, 3)]


def configs(make, space=SPACE):
    return [make({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
            for bm, bn, bk, w, s in space]


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    kind = sys.argv[3] if len(sys.argv) > 3 else "fp8"
    dtype = torch.float8_e4m3fn if kind == "fp8" else torch.float32
    a = torch.randn(size, size, device="cuda").to(dtype)
    bt = torch.randn(size, size, device="cuda").to(dtype)
    c = torch.empty(size, size, device="cuda", dtype=torch.float16)
    torch.backends.cuda.matmul.allow_tf32 = True

    def grid(meta):
        return (tessera.cdiv(size, meta["BLOCK_M"]) * tessera.cdiv(size, meta["BLOCK_N"]),)

    space = SPACE if kind == "fp8" else SPACE_TF32
    ours = tessera.autotune(configs(tessera.Config, space), key=["M", "N", "K"])(fp8_matmul_kernel)
    one = torch.tensor(1.0, device="cuda")
    runs = {"tessera": lambda: ours[grid](a, bt, c, size, size, size, GROUP_M=8)}
    if kind == "fp8":
        runs["cuBLAS (torch._scaled_mm)"] = lambda: torch._scaled_mm(
            a, bt.t(), scale_a=one, scale_b=one, out_dtype=torch.float16)
    else:
        runs["cuBLAS (torch.matmul, TF32)"] = lambda: torch.matmul(a, bt.t())
    try:
        import triton
        theirs = triton.autotune(configs(triton.Config, space), key=["M", "N", "K"])(
            as_triton(fp8_matmul_kernel))
        runs["triton 3.6 (same kernel and space)"] = lambda: theirs[grid](a, bt, c, size, size,
                                                                          size, GROUP_M=8)
    except ImportError:
        pass
    for fn in runs.values():
        fn()
    ref = a.float() @ bt.float().t()
    c.zero_()
    runs["tessera"]()
    err = ((c.float() - ref).abs().max() / ref.abs().max()).item()
    assert err < (1e-2 if kind == "fp8" else 5e-3), err
    flops = 2 * size ** 3
    samples = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            samples[name].append(flops / bench(fn, reps=20) / 1e9)
    kw = ours.best_config.kwargs
    print(f"device: {torch.cuda.get_device_name()}; {'fp8 e4m3' if kind == 'fp8' else 'fp32 as tf32'} "
          f"{size}^3 -> fp16, {rounds} rounds; "
          f"tessera config {kw['BLOCK_M']}x{kw['BLOCK_N']}x{kw['BLOCK_K']} "
          f"w{ours.best_config.num_warps} s{ours.best_config.num_stages}\n")
    print("| | median TFLOP/s | min | max |\n|---|---|---|---|")
    for name, xs in samples.items():
        print(f"| {name} | {statistics.median(xs):.0f} | {min(xs):.0f} | {max(xs):.0f} |")


if __name__ == "__main__":
    main()
