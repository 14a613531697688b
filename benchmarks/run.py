"""GPU benchmarks with their peers measured in the same run: memory-bound
kernels against the device's copy bandwidth (torch clone), torch and Triton;
launch overhead from Python; first-call compile times. Prints a table.

Run on the GPU machine: PYTHONPATH=python python3 benchmarks/run.py
"""

import importlib.util
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import tessera

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_as_triton = {}


def as_triton(jit_function):
    """The same kernel source compiled by Triton: the function with `tl`
    bound to triton.language, and the @tessera.jit functions it calls
    converted the same way."""
    import types

    import triton
    import triton.language as ttl

    if id(jit_function) in _as_triton:
        return _as_triton[id(jit_function)]
    fn = jit_function.fn
    scope = dict(fn.__globals__, tl=ttl)
    copy = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__module__ = fn.__module__
    copy.__qualname__ = fn.__qualname__
    copy.__annotations__ = {k: ttl.constexpr if v is tessera.constexpr else v
                            for k, v in fn.__annotations__.items()}
    converted = _as_triton[id(jit_function)] = triton.jit(copy)
    for name in fn.__code__.co_names:  # the functions it calls, converted in its scope
        if isinstance(fn.__globals__.get(name), tessera.JITFunction):
            scope[name] = as_triton(fn.__globals__[name])
    return converted


def bench(fn, reps=100, queued=False):
    """Median time in ms with CUDA events, after warm-up, cache flushed.
    queued: the GPU spins (torch.cuda._sleep) between the flush and the
    start event while the host runs `fn`'s Python and launches, so the
    time is the GPU's alone (as in a CUDA graph) with no host gap before
    the first kernel."""
    flush = torch.empty(256 << 20, dtype=torch.int8, device="cuda")
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        flush.zero_()
        if queued:
            torch.cuda._sleep(1_000_000)  # about 0.5 ms: longer than fn's host work
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def tbps(nbytes, ms):
    return nbytes / ms / 1e9


rows = []


def row(name, ours, peers, unit):
    rows.append((name, ours, peers, unit))


def copy_bandwidth():
    x = torch.empty(1 << 28, dtype=torch.float32, device="cuda")  # 1 GiB
    y = torch.empty_like(x)
    ms = bench(lambda: y.copy_(x), reps=30)
    return tbps(2 * x.numel() * 4, ms)


def same_bytes_copy(elements):
    """Copy bandwidth at this size (small problems cannot reach the 1 GiB figure)."""
    x = torch.empty(elements, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    return tbps(8 * elements, bench(lambda: y.copy_(x)))


def main():
    torch.manual_seed(0)
    dev = torch.cuda.get_device_name()
    copy = copy_bandwidth()
    print(f"device: {dev}; copy bandwidth (torch copy_, 1 GiB): {copy:.2f} TB/s")
    try:
        import triton
        import triton.language as ttl
    except ImportError:
        triton = None

    # -- vector add -----------------------------------------------------------
    va = load("01_vector_add")
    n = 1 << 26
    x, y = torch.randn(n, device="cuda"), torch.randn(n, device="cuda")
    out = torch.empty_like(x)
    grid = (tessera.cdiv(n, 1024),)
    ours = bench(lambda: va.add_kernel[grid](x, y, out, n, BLOCK_SIZE=1024))
    assert torch.allclose(out, x + y)
    peers = {"torch.add": tbps(12 * n, bench(lambda: torch.add(x, y, out=out)))}
    if triton is not None:
        @triton.jit
        def tr_add(x_ptr, y_ptr, o_ptr, n, BLOCK: ttl.constexpr):
            offs = ttl.program_id(0) * BLOCK + ttl.arange(0, BLOCK)
            m = offs < n
            ttl.store(o_ptr + offs, ttl.load(x_ptr + offs, mask=m) + ttl.load(y_ptr + offs, mask=m), mask=m)
        peers["triton"] = tbps(12 * n, bench(lambda: tr_add[grid](x, y, out, n, BLOCK=1024)))
    row("vector add 2^26 fp32", tbps(12 * n, ours), peers, "TB/s")

    # -- softmax: one row per program (large), and 4 rows per program (small) --
    sm = load("02_fused_softmax")
    tr_sm = as_triton(sm.softmax_kernel) if triton is not None else None
    for M, N, progs, warps in ((8192, 4096, 8192, 8), (4096, 1024, 1024, 4)):
        a = torch.randn(M, N, device="cuda")
        b = torch.empty_like(a)
        block = tessera.next_power_of_2(N)
        ours = bench(lambda: sm.softmax_kernel[(progs,)](b, a, N, N, M, N, BLOCK_SIZE=block,
                                                        num_stages=2, num_warps=warps))
        assert torch.allclose(b, torch.softmax(a, 1), atol=1e-5)
        peers = {"torch.softmax": tbps(8 * M * N, bench(lambda: torch.softmax(a, 1))),
                 "copy, same bytes": same_bytes_copy(M * N)}
        if tr_sm is not None:
            peers["triton (same kernel)"] = tbps(8 * M * N, bench(
                lambda: tr_sm[(progs,)](b, a, N, N, M, N, BLOCK_SIZE=block, num_stages=2,
                                        num_warps=warps)))
        row(f"softmax {M}x{N} fp32, {progs} programs, {warps} warps", tbps(8 * M * N, ours),
            peers, "TB/s")

    # -- layer norm: the row held in registers, and the tutorial's chunked loops --
    ln = load("03_layer_norm")
    M, N = 16384, 4096
    a = torch.randn(M, N, device="cuda")
    w, bias = torch.randn(N, device="cuda"), torch.randn(N, device="cuda")
    o = torch.empty_like(a)
    mean, rstd = torch.empty(M, device="cuda"), torch.empty(M, device="cuda")
    ref = torch.nn.functional.layer_norm(a, (N,), w, bias, 1e-5)
    torch_ln = tbps(8 * M * N, bench(lambda: torch.nn.functional.layer_norm(a, (N,), w, bias,
                                                                           1e-5)))
    # Each kernel at its best num_warps of 4, 8, 16, Triton's the same way.
    for kernel, block, what in ((ln._layer_norm_fwd_row, N, "row in registers"),
                                (ln._layer_norm_fwd_fused, 1024, "chunked, 3 passes")):
        o.zero_()
        ours, warps = min((bench(lambda: kernel[(M,)](a, o, w, bias, mean, rstd, N, N, 1e-5,
                                                      BLOCK_SIZE=block, num_warps=nw)), nw)
                          for nw in (4, 8, 16))
        kernel[(M,)](a, o, w, bias, mean, rstd, N, N, 1e-5, BLOCK_SIZE=block, num_warps=warps)
        assert torch.allclose(o, ref, atol=1e-4)
        peers = {"torch layer_norm": torch_ln, "copy, same bytes": same_bytes_copy(M * N)}
        if triton is not None:
            tr = as_triton(kernel)
            t, tw = min((bench(lambda: tr[(M,)](a, o, w, bias, mean, rstd, N, N, 1e-5,
                                                BLOCK_SIZE=block, num_warps=nw)), nw)
                        for nw in (4, 8, 16))
            peers[f"triton (same kernel, {tw} warps)"] = tbps(8 * M * N, t)
        row(f"layer norm {M}x{N} fp32, {what}, {warps} warps", tbps(8 * M * N, ours), peers,
            "TB/s")

    # -- GEMM (examples/04 on tensor cores): both compilers autotuned over the same
    # space, beside cuBLAS --
    mm = load("04_matmul")
    space = [(bm, bn, bk, w, st) for bm, bn, bk, w in ((128, 128, 32, 8), (128, 128, 64, 8),
                                                        (128, 256, 32, 8), (128, 256, 64, 8),
                                                        (64, 128, 32, 4), (128, 64, 32, 4))
             for st in (3, 4)]

    def configs(make):
        return [make({"BLOCK_SIZE_M": bm, "BLOCK_SIZE_N": bn, "BLOCK_SIZE_K": bk},
                     num_warps=w, num_stages=st) for bm, bn, bk, w, st in space]

    ours_tuned = tessera.autotune(configs(tessera.Config), key=["M", "N", "K"])(mm.matmul_kernel)
    theirs_tuned = None
    if triton is not None:
        theirs_tuned = triton.autotune(configs(triton.Config), key=["M", "N", "K"])(
            as_triton(mm.matmul_kernel))

    def grid_of(size):
        return lambda meta: (tessera.cdiv(size, meta["BLOCK_SIZE_M"]) *
                             tessera.cdiv(size, meta["BLOCK_SIZE_N"]),)

    def describe(cfg):
        kw = cfg.kwargs
        return (f"{kw['BLOCK_SIZE_M']}x{kw['BLOCK_SIZE_N']}x{kw['BLOCK_SIZE_K']} "
                f"w{cfg.num_warps} s{cfg.num_stages}")

    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 GEMMs: tf32, as tl.dot's default
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        size = 4096
        a = torch.randn(size, size, device="cuda").to(dtype)
        b = torch.randn(size, size, device="cuda").to(dtype)
        c = torch.empty(size, size, device="cuda", dtype=dtype)
        args = (a, b, c, size, size, size, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                c.stride(0), c.stride(1))
        flops = 2 * size ** 3
        ours = bench(lambda: ours_tuned[grid_of(size)](*args, GROUP_SIZE_M=8, ACTIVATION=""),
                     reps=20)
        ref = torch.matmul(a, b)
        err = ((c.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
        assert err < 1e-2, err
        peers = {"torch.matmul (cuBLAS)": flops / bench(lambda: torch.matmul(a, b), reps=20)
                 / 1e9}
        if theirs_tuned is not None:
            t = bench(lambda: theirs_tuned[grid_of(size)](*args, GROUP_SIZE_M=8, ACTIVATION=""),
                      reps=20)
            peers[f"triton (same kernel and space; {describe(theirs_tuned.best_config)})"] = (
                flops / t / 1e9)
        name = str(dtype).replace("torch.", "") + (" (tf32)" if dtype == torch.float32 else "")
        row(f"GEMM {size}^3 {name}, autotuned ({describe(ours_tuned.best_config)})",
            flops / ours / 1e9, peers, "TFLOP/s")

    # fp8 e4m3 (sm_89+): examples/04 with fp8 operands and an fp16 result;
    # cuBLAS through torch._scaled_mm (unit scales, B column-major as it needs).
    if torch.cuda.get_device_capability() >= (8, 9):
        size = 4096
        a = torch.randn(size, size, device="cuda").to(torch.float8_e4m3fn)
        b = torch.randn(size, size, device="cuda").to(torch.float8_e4m3fn)
        c = torch.empty(size, size, device="cuda", dtype=torch.float16)
        args = (a, b, c, size, size, size, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                c.stride(0), c.stride(1))
        flops = 2 * size ** 3
        fp8_space = [cfg for cfg in configs(tessera.Config) if cfg.kwargs["BLOCK_SIZE_K"] >= 64]
        fp8_tuned = tessera.autotune(fp8_space, key=["M", "N", "K"])(mm.matmul_kernel)
        ours = bench(lambda: fp8_tuned[grid_of(size)](*args, GROUP_SIZE_M=8, ACTIVATION=""),
                     reps=20)
        ref = a.double() @ b.double()
        err = ((c.double() - ref).abs().max() / ref.abs().max()).item()
        assert err < 1e-2, err
        peers = {}
        bt = b.t().contiguous().t()
        one = torch.tensor(1.0, device="cuda")
        try:
            peers["torch._scaled_mm (cuBLAS)"] = flops / bench(
                lambda: torch._scaled_mm(a, bt, scale_a=one, scale_b=one,
                                         out_dtype=torch.float16), reps=20) / 1e9
        except (RuntimeError, TypeError) as e:
            print(f"(cuBLAS fp8 unavailable: {e})")
        if triton is not None:
            theirs_fp8 = triton.autotune([cfg for cfg in configs(triton.Config)
                                          if cfg.kwargs["BLOCK_SIZE_K"] >= 64],
                                         key=["M", "N", "K"])(as_triton(mm.matmul_kernel))
            t = bench(lambda: theirs_fp8[grid_of(size)](*args, GROUP_SIZE_M=8, ACTIVATION=""),
                      reps=20)
            peers[f"triton (same kernel and space; {describe(theirs_fp8.best_config)})"] = (
                flops / t / 1e9)
        row(f"GEMM {size}^3 float8_e4m3fn -> fp16, autotuned ({describe(fp8_tuned.best_config)})",
            flops / ours / 1e9, peers, "TFLOP/s")

    # -- launch overhead: rounds of k launches, the candidates interleaved round by
    # round (this host's speed drifts), synchronized between rounds; medians --
    small = torch.randn(1024, device="cuda")
    so = torch.empty_like(small)
    k = 1000
    compiled = va.add_kernel.warmup(small, small, so, 1024, BLOCK_SIZE=1024)
    stream = torch.cuda.current_stream().cuda_stream
    cells = [small.data_ptr(), small.data_ptr(), so.data_ptr(), 1024]

    def loop(launch):
        def run():
            t0 = time.perf_counter()
            for _ in range(k):
                launch()
            return (time.perf_counter() - t0) / k * 1e6
        return run

    candidates = {
        "tessera": loop(lambda: va.add_kernel[(1,)](small, small, so, 1024, BLOCK_SIZE=1024)),
        "torch.add": loop(lambda: torch.add(small, small, out=so)),
        "C++ cuLaunchKernel loop (floor)": lambda: 1e6 * tessera._C.cuda.launch_loop(
            compiled.handle, [1, 1, 1], cells, stream, k),
    }
    if triton is not None:
        candidates["triton"] = loop(lambda: tr_add[(1,)](small, small, so, 1024, BLOCK=1024))
    times = {name: [] for name in candidates}
    for _ in range(9):
        for name, run in candidates.items():
            times[name].append(run())
            torch.cuda.synchronize()
    medians = {name: statistics.median(t[1:]) for name, t in times.items()}  # round 0: warm-up
    ours = medians.pop("tessera")
    row("launch overhead from Python (vector add, 4 args)", ours, medians, "us")

    # -- first call: cold cache, then warm disk cache in a new process ---------------
    script = f"""
import sys, time, importlib.util, torch
sys.path.insert(0, {str(ROOT / 'python')!r})
x = torch.randn(1 << 20, device='cuda'); o = torch.empty_like(x); torch.cuda.synchronize()
import tessera
spec = importlib.util.spec_from_file_location('va', {str(ROOT / 'examples' / '01_vector_add.py')!r})
va = importlib.util.module_from_spec(spec); spec.loader.exec_module(va)
t = time.perf_counter()
va.add_kernel[(1024,)](x, x, o, 1 << 20, BLOCK_SIZE=1024); torch.cuda.synchronize()
print(time.perf_counter() - t)
"""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TESSERA_CACHE_DIR=cache)
        cold = float(subprocess.check_output([sys.executable, "-c", script], env=env))
        warm = float(subprocess.check_output([sys.executable, "-c", script], env=env))
    row("vector add first call, cold cache", cold, {}, "s")
    row("vector add first call, warm disk cache (new process)", warm, {}, "s")

    print("\n| benchmark | tessera | peers | unit |\n|---|---|---|---|")
    for name, ours, peers, unit in rows:
        p = ", ".join(f"{k} {v:.3g}" for k, v in peers.items())
        frac = f" ({ours / copy:.0%} of copy)" if unit == "TB/s" else ""
        print(f"| {name} | {ours:.3g}{frac} | {p} | {unit} |")


if __name__ == "__main__":
    main()
