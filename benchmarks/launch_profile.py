"""Where the time of one launch from Python goes (CUDA backend): each
piece of the fast path timed on its own, beside the whole launch and the
C++ floor. Run on the GPU machine: PYTHONPATH=python python3 benchmarks/launch_profile.py
"""

import importlib.util
import pathlib
import statistics
import time

import torch

import tessera

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("va", ROOT / "examples" / "01_vector_add.py")
va = importlib.util.module_from_spec(spec)
spec.loader.exec_module(va)


def per_call(fn, k=2000):
    """Median microseconds per call over 7 rounds of k calls."""
    fn()
    torch.cuda.synchronize()
    rounds = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        rounds.append((time.perf_counter() - t0) / k * 1e6)
        torch.cuda.synchronize()
    return statistics.median(rounds)


def main():
    x = torch.randn(1024, device="cuda")
    o = torch.empty_like(x)
    kernel = va.add_kernel
    kernel[(1,)](x, x, o, 1024, BLOCK_SIZE=1024)
    rows = [
        ("empty Python loop body (lambda: None)", per_call(lambda: None)),
        ("kernel[grid] (the partial)", per_call(lambda: kernel[(1,)])),
        ("x.data_ptr()", per_call(lambda: x.data_ptr())),
        ("x.is_cuda", per_call(lambda: x.is_cuda)),
        ("x.dtype", per_call(lambda: x.dtype)),
        ("torch._C._cuda_getDevice()", per_call(torch._C._cuda_getDevice)),
        ("torch._C._cuda_getCurrentRawStream(0)",
         per_call(lambda: torch._C._cuda_getCurrentRawStream(0))),
    ]
    kernel._fast.dry_run = True
    rows.append(("whole launch without the driver call (dry run)",
                 per_call(lambda: kernel[(1,)](x, x, o, 1024, BLOCK_SIZE=1024))))
    kernel._fast.dry_run = False
    rows.append(("whole launch", per_call(lambda: kernel[(1,)](x, x, o, 1024, BLOCK_SIZE=1024))))
    compiled = kernel.warmup(x, x, o, 1024, BLOCK_SIZE=1024)
    stream = torch.cuda.current_stream().cuda_stream
    cells = [x.data_ptr(), x.data_ptr(), o.data_ptr(), 1024]
    rows.append(("C++ loop of cuLaunchKernel (per launch)", statistics.median(
        tessera._C.cuda.launch_loop(compiled.handle, [1, 1, 1], cells, stream, 2000)
        for _ in range(7)) * 1e6))
    torch.cuda.synchronize()
    rows.append(("torch.add(x, x, out=o)", per_call(lambda: torch.add(x, x, out=o))))
    print(f"device: {torch.cuda.get_device_name()}\n\n| piece | us per call |\n|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")

    # The launch against its peers, interleaved round by round (the host's
    # speed drifts), 9 rounds of 1000, medians of rounds 1-8.
    candidates = {
        "tessera": lambda: kernel[(1,)](x, x, o, 1024, BLOCK_SIZE=1024),
        "torch.add": lambda: torch.add(x, x, out=o),
    }
    try:
        import triton
        import triton.language as ttl

        @triton.jit
        def tr_add(x_ptr, y_ptr, o_ptr, n, BLOCK: ttl.constexpr):
            offs = ttl.program_id(0) * BLOCK + ttl.arange(0, BLOCK)
            m = offs < n
            ttl.store(o_ptr + offs, ttl.load(x_ptr + offs, mask=m) + ttl.load(y_ptr + offs, mask=m),
                      mask=m)
        candidates["triton"] = lambda: tr_add[(1,)](x, x, o, 1024, BLOCK=1024)
    except ImportError:
        pass
    times = {name: [] for name in candidates}
    times["C++ cuLaunchKernel loop"] = []
    for _ in range(9):
        for name, fn in candidates.items():
            fn()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(1000):
                fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
            torch.cuda.synchronize()
        times["C++ cuLaunchKernel loop"].append(
            tessera._C.cuda.launch_loop(compiled.handle, [1, 1, 1], cells, stream, 1000) * 1e6)
        torch.cuda.synchronize()
    print("\n| launch (interleaved, median of 8 rounds of 1000) | us |\n|---|---|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t[1:]):.2f} |")


if __name__ == "__main__":
    main()
