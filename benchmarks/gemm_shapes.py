"""bf16 GEMM over the issue's grid of shapes, tessera and Triton 3.6 each
autotuned over the same configs, cuBLAS (torch.matmul) beside them.
PYTHONPATH=python python3 benchmarks/gemm_shapes.py [--quick] [--only MxNxK,...]

Three tessera columns: examples/04 (pointer loads, cp.async), examples/07
(tensor descriptors: TMA on sm_90a) and examples/10 (persistent: one
program per SM looping over tiles, descriptors), all autotuned over the
same space.

Shapes: square 1024..8192, and M in {16, 128, 4096} against the (N, K) of
Wan2.1-1.3B (1536 x 1536, 8960 x 1536, 1536 x 8960) and DeepSeek-V3
(7168 x 1536, 1536 x 7168, 512 x 7168). C = A @ B with A M x K, B K x N.
"""

import importlib.util
import pathlib
import sys

import torch

import tessera

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import as_triton, bench  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mm", ROOT / "examples" / "04_matmul.py")
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)
spec = importlib.util.spec_from_file_location("dm", ROOT / "examples" / "07_descriptor_matmul.py")
dm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dm)
spec = importlib.util.spec_from_file_location("pm", ROOT / "examples" / "10_persistent_matmul.py")
pm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pm)

SPACE = [(128, 256, 64, 8, 3), (128, 256, 32, 8, 3), (128, 128, 64, 8, 3), (128, 128, 64, 8, 4),
         (128, 128, 32, 8, 2), (64, 128, 32, 4, 3), (64, 64, 32, 4, 3), (32, 64, 32, 4, 3)]


def configs(make):
    return [make({"BLOCK_SIZE_M": bm, "BLOCK_SIZE_N": bn, "BLOCK_SIZE_K": bk},
                 num_warps=w, num_stages=s) for bm, bn, bk, w, s in SPACE]


def main():
    quick = "--quick" in sys.argv
    only = next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--only"), None)
    shapes = [(s, s, s) for s in ((1024, 4096) if quick else (1024, 2048, 4096, 8192))]
    nk = [(1536, 1536), (8960, 1536), (1536, 8960), (7168, 1536), (1536, 7168), (512, 7168)]
    for m in ((16, 4096) if quick else (16, 128, 4096)):
        shapes += [(m, n, k) for n, k in (nk[:2] + nk[3:4] if quick else nk)]
    if only:
        shapes = [tuple(int(x) for x in shape.split("x")) for shape in only.split(",")]
    ours = tessera.autotune(configs(tessera.Config), key=["M", "N", "K"])(mm.matmul_kernel)
    desc = tessera.autotune(
        [tessera.Config({k.replace("_SIZE", ""): v for k, v in cfg.kwargs.items()},
                        num_warps=cfg.num_warps, num_stages=cfg.num_stages)
         for cfg in configs(tessera.Config)], key=["M", "N", "K"])(dm.matmul_kernel)
    pers = tessera.autotune(
        [tessera.Config({k.replace("_SIZE", ""): v for k, v in cfg.kwargs.items()},
                        num_warps=cfg.num_warps, num_stages=cfg.num_stages)
         for cfg in configs(tessera.Config)], key=["M", "N", "K"])(pm.matmul_persistent)
    sms = pm.num_sms()
    theirs = None
    try:
        import triton
        theirs = triton.autotune(configs(triton.Config), key=["M", "N", "K"])(
            as_triton(mm.matmul_kernel))
    except ImportError:
        pass
    print(f"device: {torch.cuda.get_device_name()}; bf16 in, fp32 accumulate, bf16 out\n")
    print("| M x N x K | tessera | tessera, descriptors (TMA) | tessera, persistent | triton 3.6 "
          "| cuBLAS | tessera / triton | best tessera / triton "
          "| configs (tessera, descriptors, persistent, triton) |\n|---|---|---|---|---|---|---|---|---|")
    for M, N, K in shapes:
        a = torch.randn(M, K, device="cuda").bfloat16()
        b = torch.randn(K, N, device="cuda").bfloat16()
        c = torch.empty(M, N, device="cuda", dtype=torch.bfloat16)
        args = (a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                c.stride(0), c.stride(1))

        def grid(meta):
            return (tessera.cdiv(M, meta["BLOCK_SIZE_M"]) * tessera.cdiv(N, meta["BLOCK_SIZE_N"]),)

        flops = 2 * M * N * K
        t_ours = bench(lambda: ours[grid](*args, GROUP_SIZE_M=8, ACTIVATION=""), reps=20)
        ref = torch.matmul(a, b).float()
        err = ((c.float() - ref).abs().max() / ref.abs().max()).item()
        assert err < 2e-2, (M, N, K, err)
        t_blas = bench(lambda: torch.matmul(a, b), reps=20)
        t_tr = bench(lambda: theirs[grid](*args, GROUP_SIZE_M=8, ACTIVATION=""), reps=20) \
            if theirs is not None else float("nan")

        def dgrid(meta):
            return (tessera.cdiv(M, meta["BLOCK_M"]) * tessera.cdiv(N, meta["BLOCK_N"]),)

        t_desc = bench(lambda: desc[dgrid](a, b, c, M, N, K, GROUP_M=8), reps=20)
        err = ((c.float() - ref).abs().max() / ref.abs().max()).item()
        assert err < 2e-2, ("descriptors", M, N, K, err)

        def pgrid(meta):
            return (min(sms, dgrid(meta)[0]),)

        c.zero_()
        t_pers = bench(lambda: pers[pgrid](a, b, c, M, N, K, GROUP_M=8, NUM_SMS=sms), reps=20)
        err = ((c.float() - ref).abs().max() / ref.abs().max()).item()
        assert err < 2e-2, ("persistent", M, N, K, err)
        tf = [flops / t / 1e9 for t in (t_ours, t_desc, t_pers, t_tr, t_blas)]

        def cfg(tuner, prefix):
            if tuner is None or tuner.best_config is None:
                return "-"
            kw = tuner.best_config.kwargs
            return (f"{kw[prefix + 'M']}x{kw[prefix + 'N']}x{kw[prefix + 'K']} "
                    f"w{tuner.best_config.num_warps} s{tuner.best_config.num_stages}")
        print(f"| {M}x{N}x{K} | {tf[0]:.0f} | {tf[1]:.0f} | {tf[2]:.0f} | {tf[3]:.0f} | "
              f"{tf[4]:.0f} | {tf[0] / tf[3]:.2f} | {max(tf[:3]) / tf[3]:.2f} | "
              f"{cfg(ours, 'BLOCK_SIZE_')}, {cfg(desc, 'BLOCK_')}, {cfg(pers, 'BLOCK_')}, "
              f"{cfg(theirs, 'BLOCK_SIZE_')} |", flush=True)


if __name__ == "__main__":
    main()
