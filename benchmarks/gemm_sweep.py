"""GEMM configs x num_stages on the GPU (examples/04 kernel), TFLOP/s, with
torch.matmul in the same run. PYTHONPATH=python python3 benchmarks/gemm_sweep.py"""

import importlib.util
import pathlib
import sys

import torch

import tessera

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import bench  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mm", ROOT / "examples" / "04_matmul.py")
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)

size = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
a = torch.randn(size, size, device="cuda").half()
b = torch.randn(size, size, device="cuda").half()
c = torch.empty(size, size, device="cuda", dtype=torch.float16)
flops = 2 * size ** 3
print(f"torch.matmul: {flops / bench(lambda: torch.matmul(a, b), reps=20) / 1e9:.0f} TFLOP/s")
for bm, bn, bk, warps in ((128, 128, 32, 8), (128, 128, 64, 8), (128, 64, 32, 4),
                          (64, 128, 32, 4), (128, 256, 32, 8), (64, 64, 32, 4)):
    line = []
    for stages in (1, 2, 3, 4):
        grid = (tessera.cdiv(size, bm) * tessera.cdiv(size, bn),)
        try:
            ms = bench(lambda: mm.matmul_kernel[grid](
                a, b, c, size, size, size, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                c.stride(0), c.stride(1), BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn, BLOCK_SIZE_K=bk,
                GROUP_SIZE_M=8, ACTIVATION="", num_warps=warps, num_stages=stages), reps=10)
            line.append(f"s{stages} {flops / ms / 1e9:.0f}")
        except Exception as e:  # noqa: BLE001
            line.append(f"s{stages} failed ({type(e).__name__})")
    print(f"{bm}x{bn}x{bk} w{warps}: " + ", ".join(line))
