"""The backward of attention alone, on the GPU: tgraph.attention_grad lowered
by the compiler (tessera.graph), block-sparse and dense, in several block
configurations, against FlexAttention's backward on the same block mask and
SDPA's dense backward, all measured in this run. bf16, D 128 unless
--head-dim says.
PYTHONPATH=python python3 benchmarks/attention_grad.py [--seq S] [--heads H]
    [--batch B] [--head-dim D] [--sparsity F] [--configs BMxBNxWqxWk,...]
    [--dense | --dense-only] [--kernels]

A configuration BMxBNxWqxWk: query blocks of BM, key blocks of BN, Wq warps
for the lse and dq kernels, Wk for the dk/dv kernel. The block lists are
drawn for blocks of 128 (as the forward's) and refined to each
configuration's blocks, so every row computes the same mask.
--kernels adds each kernel's time (torch.profiler) under its row.
--dq-atomics adds the lowering's dq-atomics variant (dq added by the dk/dv
kernel into a zeroed float32 buffer: no dq kernel).
--dense adds the dense backward (no lists) beside SDPA's; --dense-only
times only that (the text-to-image block's shape: --batch 2 --heads 10
--seq 4096 --head-dim 64).

Gradients are checked against FlexAttention's (sparse) or SDPA's (dense)
before each row is timed. TFLOP/s: 2.5x the forward's FLOPs on the kept
blocks, as FlashAttention counts the backward.
"""

import pathlib
import sys

import torch

import tessera.graph

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import bench  # noqa: E402


def arg(name, default):
    return next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == name), default)


def refine(index, count, bm, bn, base=128):
    """Lists over base x base blocks as lists over bm x bn blocks."""
    rq, rk = base // bm, base // bn
    idx = (index.repeat_interleave(rq, dim=2)[..., :, None] * rk
           + torch.arange(rk, device=index.device, dtype=index.dtype)).flatten(-2)
    return idx.int().contiguous(), (count.repeat_interleave(rq, dim=2) * rk).int().contiguous()


def grad_graph(H, S, bm, bn, wq, wk, lists, lse=False, atomics=False, Z=1, D=128):
    """The backward as a graph of (q, k, v, o, do[, lse][, lists]); with
    lse, the forward's log-sum-exp is read (no lse pass)."""
    t_ = f"tensor<{Z}x{H}x{S}x{D}xbf16>"
    args, kv, types = "", "", ""
    if lse:
        args, kv, types = (f", %l: tensor<{Z}x{H}x{S}xf32>", " lse(%l)",
                           f", tensor<{Z}x{H}x{S}xf32>")
    if lists is not None:
        QB, L = lists
        ti, tc = f"tensor<1x{H}x{QB}x{L}xi32>", f"tensor<1x{H}x{QB}xi32>"
        args += f", %i: {ti}, %c: {tc}"
        kv += " kv(%i, %c)"
        types += f", {ti}, {tc}"
    text = (f"func.func @b(%q: {t_}, %k: {t_}, %v: {t_}, %o: {t_}, %do: {t_}{args}) -> "
            f"({t_}, {t_}, {t_}) {{\n"
            f"  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %v, %o, %do{kv} "
            f"{{block_m = {bm}, block_n = {bn}}} : ({t_}, {t_}, {t_}, {t_}, {t_}{types}) -> "
            f"({t_}, {t_}, {t_})\n  return %dq, %dk, %dv : {t_}, {t_}, {t_}\n}}")
    return tessera.graph.Graph(text, num_warps=lambda name: wk if "dkdv" in name else wq,
                               num_stages=2, lower_options="dq-atomics=true" if atomics else "")


def kernel_times(step):
    """ms per call of each kernel a step launches."""
    from torch.profiler import ProfilerActivity, profile
    step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            step()
        torch.cuda.synchronize()
    out = {}
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None)
        if us is None:
            us = getattr(e, "self_cuda_time_total", 0)
        if us:
            out[e.key] = us / 3 / 1000
    return out


def check(got, want, what):
    for g, w, n in zip(got, want, ("dq", "dk", "dv")):
        err = ((g.float() - w.float()).abs().max() / w.float().abs().max()).item()
        assert err < 5e-2, (what, n, err)


def main():
    S = int(arg("--seq", 23296))
    H = int(arg("--heads", 12))
    Z = int(arg("--batch", 1))
    D = int(arg("--head-dim", 128))
    if "--dense-only" in sys.argv:
        return dense_rows(Z, H, S, D)
    if (Z, D) != (1, 128):
        raise SystemExit("the block-sparse rows take --batch 1 and --head-dim 128 "
                         "(--dense-only takes any)")
    sparsity = float(arg("--sparsity", 0.93))
    configs = [tuple(int(x) for x in c.split("x"))
               for c in arg("--configs", "64x64x4x4,64x128x4x8,128x64x8x4").split(",")]
    torch.manual_seed(0)
    q, k, v, do = (torch.randn(1, H, S, D, device="cuda", dtype=torch.bfloat16)
                   for _ in range(4))
    QB = KB = -(-S // 128)
    keep = max(1, round((1 - sparsity) * KB))
    scores = torch.rand(1, H, QB, KB, device="cuda")
    scores[:, :, torch.arange(QB), torch.arange(QB)] = 2.0
    index = scores.topk(keep, dim=-1).indices.sort(-1).values.int()
    count = torch.full((1, H, QB), keep, dtype=torch.int32, device="cuda")
    flops = 2.5 * 4 * S * keep * 128 * D * H
    print(f"device: {torch.cuda.get_device_name()}; bf16, 1 x {H} heads x {S} tokens x {D}; "
          f"{keep} of {KB} key blocks of 128 per query block\n")
    print("| backward alone | ms | TFLOP/s (on computed blocks) |\n|---|---|---|")

    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    # The backward is timed several times on one graph (retain_graph), which
    # donated buffers (torch 2.5+) refuse.
    import torch._functorch.config as functorch_config
    if hasattr(functorch_config, "donated_buffer"):
        functorch_config.donated_buffer = False
    flex = torch.compile(flex_attention)
    wide = torch.zeros(1, H, QB, KB, dtype=torch.int32, device="cuda")
    wide[..., :keep] = index
    mask = BlockMask.from_kv_blocks(torch.zeros_like(count), wide, full_kv_num_blocks=count,
                                    full_kv_indices=wide, BLOCK_SIZE=128)
    qg, kg, vg = (t.detach().clone().requires_grad_() for t in (q, k, v))
    out = flex(qg, kg, vg, block_mask=mask)
    want = torch.autograd.grad(out, (qg, kg, vg), do, retain_graph=True)
    t = bench(lambda: torch.autograd.grad(out, (qg, kg, vg), do, retain_graph=True), reps=5)
    print(f"| FlexAttention (compiled), block-sparse | {t:.3f} | {flops / t / 1e9:.0f} |",
          flush=True)
    # The forward (tgraph.attention, 128 x 128) returning o and its lse.
    t_, r_ = f"tensor<1x{H}x{S}x128xbf16>", f"tensor<1x{H}x{S}xf32>"
    ti, tc = f"tensor<1x{H}x{QB}x{keep}xi32>", f"tensor<1x{H}x{QB}xi32>"
    forward = tessera.graph.Graph(
        f"func.func @f(%q: {t_}, %k: {t_}, %v: {t_}, %i: {ti}, %c: {tc}) -> ({t_}, {r_}) {{\n"
        f"  %o, %l = tgraph.attention %q, %k, %v kv(%i, %c) {{block_m = 128, block_n = 128}} : "
        f"({t_}, {t_}, {t_}, {ti}, {tc}) -> ({t_}, {r_})\n  return %o, %l : {t_}, {r_}\n}}",
        num_warps=8)
    o, lse = forward(q, k, v, index, count)
    for bm, bn, wq, wk in configs:
        idx, cnt = refine(index, count, bm, bn)
        variants = [(False, False), (True, False)]
        if "--dq-atomics" in sys.argv:
            variants.append((True, True))
        for given, atomics in variants:
            g = grad_graph(H, S, bm, bn, wq, wk, (idx.shape[2], idx.shape[3]), lse=given,
                           atomics=atomics)
            args = (q, k, v, o, do) + ((lse,) if given else ()) + (idx, cnt)
            check(g(*args), want, (bm, bn, given, atomics))
            t = bench(lambda: g(*args), reps=5)
            print(f"| tessera tgraph.attention_grad, block-sparse, {bm}x{bn} w{wq}/w{wk}"
                  f"{', lse given' if given else ''}{', dq by atomics' if atomics else ''} | "
                  f"{t:.3f} | {flops / t / 1e9:.0f} |", flush=True)
            if "--kernels" in sys.argv:
                for name, ms in kernel_times(lambda: g(*args)).items():
                    print(f"| &nbsp;&nbsp; {name} | {ms:.3f} | |", flush=True)

    if "--dense" in sys.argv:
        dense_rows(1, H, S, D, q, k, v, do, configs)


def dense_rows(Z, H, S, D, q=None, k=None, v=None, do=None, configs=None):
    """The dense backward beside SDPA's (cuDNN's or flash's, as torch picks)."""
    if q is None:
        torch.manual_seed(0)
        q, k, v, do = (torch.randn(Z, H, S, D, device="cuda", dtype=torch.bfloat16)
                       for _ in range(4))
        configs = [tuple(int(x) for x in c.split("x")) for c in
                   arg("--configs", "64x64x4x4,64x128x4x8,128x64x8x4,128x128x8x8").split(",")]
        print(f"device: {torch.cuda.get_device_name()}; bf16, {Z} x {H} heads x {S} tokens x "
              f"{D}, dense\n")
        print("| backward alone | ms | TFLOP/s |\n|---|---|---|")
    qg, kg, vg = (t.detach().clone().requires_grad_() for t in (q, k, v))
    dense = 2.5 * 4 * S * S * D * H * Z
    out = torch.nn.functional.scaled_dot_product_attention(qg, kg, vg)
    want = torch.autograd.grad(out, (qg, kg, vg), do, retain_graph=True)
    t = bench(lambda: torch.autograd.grad(out, (qg, kg, vg), do, retain_graph=True), reps=3)
    print(f"| torch SDPA, dense | {t:.3f} | {dense / t / 1e9:.0f} |", flush=True)
    o = out.detach()
    for bm, bn, wq, wk in configs:
        g = grad_graph(H, S, bm, bn, wq, wk, None, Z=Z, D=D)
        check(g(q, k, v, o, do), want, ("dense", bm, bn))
        t = bench(lambda: g(q, k, v, o, do), reps=3)
        print(f"| tessera tgraph.attention_grad, dense, {bm}x{bn} w{wq}/w{wk} | {t:.3f} | "
              f"{dense / t / 1e9:.0f} |", flush=True)
        if "--kernels" in sys.argv:
            for name, ms in kernel_times(lambda: g(q, k, v, o, do)).items():
                print(f"| &nbsp;&nbsp; {name} | {ms:.3f} | |", flush=True)


if __name__ == "__main__":
    main()
