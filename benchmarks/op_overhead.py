"""Host time of one call of torch.ops.tessera.attention (forward, and
forward + backward) beside torch's scaled_dot_product_attention, at shapes
where the GPU work is small (so the host path shows), and the GPU time of
the same calls. Run on the GPU machine:

    PYTHONPATH=python python3 benchmarks/op_overhead.py [--cprofile]

Columns: host us/call (the loop's wall time per call, no synchronization
inside the loop) and GPU us/call (CUDA events around the same loop);
tt.attention (eager: the kernels called directly), torch SDPA, and
torch.ops.tessera.attention (through torch.library's dispatch).
--cprofile prints where the host time of tessera's calls goes (cProfile,
by own time) for the t2i block's training step and one RAR decode call.
"""
import cProfile
import pstats
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import tessera.torch as tt

DEV, DT = "cuda", torch.bfloat16


def measure(fn, k=50):
    """(host us, GPU us) per call: medians of 5 rounds of k calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    host, gpu = [], []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        host.append((time.perf_counter() - t0) / k * 1e6)
        end.record()
        torch.cuda.synchronize()
        gpu.append(start.elapsed_time(end) / k * 1e3)
    return statistics.median(host), statistics.median(gpu)


def layout(Z, H, N, D, transposed):
    """(Z, H, N, D) bf16 with gradients: contiguous, or the (Z, N, H, D)
    tensor's transposed view (as a model's q = x.view(B, N, H, D).transpose(1, 2))."""
    if transposed:
        return torch.randn(Z, N, H, D, device=DEV, dtype=DT).transpose(1, 2).requires_grad_()
    return torch.randn(Z, H, N, D, device=DEV, dtype=DT).requires_grad_()


def cases():
    return [("tiny 1x1x64x64", (1, 1, 64, 64), 64, False, False),
            ("t2i self 2x10x4096x64 (views)", (2, 10, 4096, 64), 4096, False, True),
            ("t2i cross 2x10x4096x64, 77 keys (views)", (2, 10, 4096, 64), 77, False, True),
            ("RAR decode 32x12x1x64, 256 keys", (32, 12, 1, 64), 256, False, False),
            ("causal 1x12x1024x64", (1, 12, 1024, 64), 1024, True, False)]


def main():
    x = torch.randn(1, 1, 64, 64, device=DEV, dtype=DT)
    print(f"eager calls skip torch.library's dispatch: {tt._eager(x, x, x)}\n")
    print("| shape | call | tessera host us | tessera GPU us | torch host us | torch GPU us | "
          "torch.ops.tessera host us |")
    print("|---|---|---|---|---|---|---|")
    for name, (Z, H, N, D), NK, causal, views in cases():
        q = layout(Z, H, N, D, views)
        k, v = layout(Z, H, NK, D, views), layout(Z, H, NK, D, views)
        do = torch.randn(Z, H, N, D, device=DEV, dtype=DT)
        causal_torch = causal

        def t_fwd():
            with torch.no_grad():
                return tt.attention(q, k, v, causal=causal)

        def s_fwd():
            with torch.no_grad():
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal_torch)

        def op_fwd():  # through torch.library's dispatch (what traced code calls)
            with torch.no_grad():
                return torch.ops.tessera.attention(q, k, v, causal, None)

        def op_step():
            torch.ops.tessera.attention(q, k, v, causal, None)[0].backward(do)

        def t_step():
            tt.attention(q, k, v, causal=causal).backward(do)

        def s_step():
            F.scaled_dot_product_attention(q, k, v, is_causal=causal_torch).backward(do)

        for call, t, s, o in (("forward", t_fwd, s_fwd, op_fwd),
                              ("forward + backward", t_step, s_step, op_step)):
            th, tg = measure(t)
            sh, sg = measure(s)
            oh, _ = measure(o)
            print(f"| {name} | {call} | {th:.1f} | {tg:.1f} | {sh:.1f} | {sg:.1f} | {oh:.1f} |",
                  flush=True)
    if "--cprofile" in sys.argv:
        profile()
    if "--parts" in sys.argv:
        parts()
    if "--rar" in sys.argv:
        rar()


def rar():
    """RAR's generation (full size, 64 steps) with each attention: wall
    time, and where tessera's host time goes (cProfile)."""
    import tessera.models as tm
    import tessera.ops as ops
    model = tm.RAR(vocab=1024, tokens=256, dim=768, heads=12, depth=24).to(DEV, DT)
    labels = torch.randint(0, 10, (32,), device=DEV)
    for mode in ("torch", "tessera"):
        model.attention = mode
        for _ in range(2):
            model.generate(labels, steps=64)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.generate(labels, steps=64)
        torch.cuda.synchronize()
        print(f"\nRAR generate, 64 steps, {mode}: {(time.perf_counter() - t0) * 1e3:.1f} ms")
    print(f"plans {len(ops._DENSE_PLANS)}, tuned {len(ops._ATTENTION_CHOICE)}")
    prof = cProfile.Profile()
    prof.enable()
    model.generate(labels, steps=64)
    torch.cuda.synchronize()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def kernel_us(fn, k=50):
    """GPU microseconds a call spends in kernels (torch.profiler), by kernel."""
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(k):
            fn()
        torch.cuda.synchronize()
    totals = {}
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            us = getattr(e, "device_time_total", None)
            totals[e.name[:60]] = totals.get(e.name[:60], 0.0) + (
                e.cuda_time_total if us is None else us) / k
    return totals


def parts():
    """Host microseconds of the pieces of the backward's call, and the GPU
    time of a decode step's kernels beside SDPA's."""
    import tessera.ops as ops
    from tessera.backends import active
    from tessera.graph import _current_stream
    q, k, v, dout = (torch.randn(1, 1, 64, 64, device=DEV, dtype=DT) for _ in range(4))
    out, lse = ops._dense_attention_cuda(q, k, v, False, None)
    ops._dense_attention_backward(q, k, v, out, dout, lse, False, None, 64)
    graph, index, count = ops._DENSE_GRAD_PLANS[(q.shape, k.shape, q.dtype, str(q.device), False,
                                                 None, 64, True)]
    print("\nbackward graph steps:", [(n, g, [z for _, _, z in o]) for n, g, _, o in graph.steps])
    stream = torch.cuda.current_stream().cuda_stream
    name, grid, ins, outs = graph.steps[0]
    kernel = graph._kernel(active(), name)
    ptrs = [t.data_ptr() for t in (q, k, v, out, dout, lse, index, count)][:len(ins) + len(outs)]
    rows = [
        ("dense backward (plan + graph)",
         lambda: ops._dense_attention_backward(q, k, v, out, dout, lse, False, None, 64)),
        ("graph call, inputs checked", lambda: graph(q, k, v, out, dout, lse, index, count)),
        ("graph call, unchecked (as ops calls it)",
         lambda: graph(q, k, v, out, dout, lse, index, count, _checked=True)),
        ("torch.cuda.current_stream()", lambda: torch.cuda.current_stream().cuda_stream),
        ("the raw stream getter (graph's)", lambda: _current_stream()),
        ("torch.empty", lambda: torch.empty((1, 1, 64, 64), dtype=DT, device=q.device)),
        ("torch.zeros", lambda: torch.zeros((1, 1, 64, 64), dtype=torch.float32,
                                            device=q.device)),
        (f"{name}: kernel.launch", lambda: kernel.launch(list(grid), stream, "p" * len(ptrs),
                                                          ptrs)),
        ("forward (planned)", lambda: ops._dense_attention_cuda(q, k, v, False, None)),
    ]
    print("\n| piece | host us |\n|---|---|")
    for label, fn in rows:
        print(f"| {label} | {measure(fn, k=200)[0]:.1f} |", flush=True)
    print("\n| decode step (32x12 heads of 64) | keys | kernel | GPU us |\n|---|---|---|---|")
    for n in (64, 256):
        qd = torch.randn(32, 12, 1, 64, device=DEV, dtype=DT)
        kd, vd = (torch.randn(32, 12, n, 64, device=DEV, dtype=DT) for _ in range(2))
        with torch.no_grad():
            for who, fn in (("tessera", lambda: tt.attention(qd, kd, vd)),
                            ("SDPA", lambda: F.scaled_dot_product_attention(qd, kd, vd))):
                for kname, us in kernel_us(fn).items():
                    print(f"| {who} | {n} | {kname} | {us:.2f} |", flush=True)


def profile():
    import tessera.models as tm
    block = tm.SpatialTransformer(channels=640, heads=10, context_dim=2048, depth=2).to(DEV, DT)
    x = torch.randn(2, 640, 64, 64, device=DEV, dtype=DT)
    ctx = torch.randn(2, 77, 2048, device=DEV, dtype=DT)

    def step():
        xs = x.detach().requires_grad_()
        block(xs, ctx).float().square().mean().backward()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        step()
    torch.cuda.synchronize()
    print(f"\nt2i training step, wall {(time.perf_counter() - t0) * 100:.2f} ms a step")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(10):
        step()
    torch.cuda.synchronize()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)

    q = torch.randn(32, 12, 1, 64, device=DEV, dtype=DT)
    k, v = (torch.randn(32, 12, 256, 64, device=DEV, dtype=DT) for _ in range(2))
    with torch.no_grad():
        for _ in range(3):
            tt.attention(q, k, v)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(200):
            tt.attention(q, k, v)
        torch.cuda.synchronize()
        prof.disable()
    print("\nRAR decode call x 200")
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
