"""Attention forward on the GPU: tessera.ops.attention (dense, causal) and
block_sparse_attention (random block lists at a given density) against
torch's scaled_dot_product_attention (flash) on the same inputs, bf16.
PYTHONPATH=python python3 benchmarks/attention.py [--seq S] [--heads H]
    [--configs BMxBNxWxS,...] [--sparsity F] [--backward] [--flex]

--sparsity F: the block-sparse row drops the fraction F of key blocks per
query block (default 0.7; the issue's cases are 0.93 and 0.96).
--flex adds FlexAttention (torch.compile'd) rows on the same block lists.

--select adds the time of BSA's block selection (block_select) for the
shape, as a share of the block-sparse attention's, both as GPU time (the
host's work queued behind a GPU spin: benchmarks/run.py bench(queued=True)).

--graph adds the block-sparse case run as a tgraph graph (tgraph.attention
over the same lists, lowered by the compiler: tessera.graph).

--no-pingpong compiles the kernels without ping-pong warpgroup scheduling
and slot mbarriers (the NVIDIA backend's `pingpong` option), for an A/B
comparison.

--no-producer compiles the TMA loops without a producer warp (the NVIDIA
backend's `producer` option): the loop issues its own copies. --overlap
runs the intra-warpgroup overlap loop (block_sparse_attention's
`overlap`; with TMA, a producer warpgroup that gives registers back,
TESSERA_PRODUCER_REGISTERS, default 24).

--kernels lists each kernel's time under the forward + backward row.

--backward adds forward + backward rows (tessera's autograd through its
backward kernels, SDPA's, and with --flex FlexAttention's, compiled), each
checked against SDPA's gradients first.

Default shape: Wan2.1-1.3B's self-attention at 480p, 81 frames (a 16 x 28 x 52
latent of 2x2 patches: S = 23296 tokens), 12 heads of 128. Each row is
checked against SDPA (dense) or a float32 torch reference on the kept
blocks (sparse) before it is timed.
"""

import pathlib
import sys

import torch

import tessera.ops as ops

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import bench  # noqa: E402


def arg(name, default):
    return next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == name), default)


def sparse_reference(q, k, v, index, count, bm, bn, scale):
    """float32 attention of each query block over its listed key blocks."""
    out = torch.empty_like(q, dtype=torch.float32)
    Z, H, S, D = q.shape
    for h in range(H):
        for qb in range(-(-S // bm)):
            cols = torch.cat([torch.arange(b * bn, min((b + 1) * bn, S), device=q.device)
                              for b in index[0, h, qb, :count[0, h, qb]].tolist()])
            rows = slice(qb * bm, min((qb + 1) * bm, S))
            s = (q[0, h, rows].float() @ k[0, h, cols].float().T) * scale
            out[0, h, rows] = torch.softmax(s, -1) @ v[0, h, cols].float()
    return out


def main():
    if "--no-pingpong" in sys.argv:
        from tessera.backends.nvidia import NVIDIABackend
        NVIDIABackend.default_options["pingpong"] = False
    if "--no-producer" in sys.argv:
        from tessera.backends.nvidia import NVIDIABackend
        NVIDIABackend.default_options["producer"] = False
    if "--overlap" in sys.argv:  # the intra-warpgroup overlap loop (ops: overlap=)
        import os
        os.environ["TESSERA_ATTENTION_OVERLAP"] = "1"
    S = int(arg("--seq", 23296))
    H = int(arg("--heads", 12))
    D = 128
    configs = [tuple(int(x) for x in c.split("x"))
               for c in arg("--configs", "128x128x8x2,128x64x8x2,64x64x4x2").split(",")]
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, H, S, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    scale = D ** -0.5
    flops = 4 * S * S * D * H
    print(f"device: {torch.cuda.get_device_name()}; bf16, 1 x {H} heads x {S} tokens x {D}\n")
    print("| case | ms | TFLOP/s (on computed blocks) |\n|---|---|---|")
    t = bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), reps=5)
    print(f"| torch SDPA, dense | {t:.2f} | {flops / t / 1e9:.0f} |", flush=True)
    t = bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True),
              reps=5)
    print(f"| torch SDPA, causal | {t:.2f} | {flops / 2 / t / 1e9:.0f} |", flush=True)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v).float()
    dense_ms = {}
    for bm, bn, w, st in configs:
        opts = dict(block_m=bm, block_n=bn, num_warps=w, num_stages=st)
        out = ops.attention(q, k, v, **opts)
        err = (out.float() - ref).abs().max().item()
        assert err < 3e-2, (bm, bn, err)
        t = bench(lambda: ops.attention(q, k, v, **opts), reps=5)
        dense_ms.setdefault((bm, bn, w, st), t)
        print(f"| tessera dense, {bm}x{bn} w{w} s{st} | {t:.2f} | {flops / t / 1e9:.0f} |",
              flush=True)
        t = bench(lambda: ops.attention(q, k, v, causal=True, **opts), reps=5)
        print(f"| tessera causal, {bm}x{bn} w{w} s{st} | {t:.2f} | {flops / 2 / t / 1e9:.0f} |",
              flush=True)
    for causal in (False, True):  # the configuration tessera.ops.attention picks itself
        ops.attention(q, k, v, causal=causal)
        t = bench(lambda: ops.attention(q, k, v, causal=causal), reps=5)
        choice = ops._ATTENTION_CHOICE[ops._attention_tuning_key(q, k, causal)]
        print(f"| tessera {'causal' if causal else 'dense'}, picked {choice[0]}x{choice[1]} "
              f"w{choice[2]} s{choice[3]} | {t:.2f} | {flops / (2 if causal else 1) / t / 1e9:.0f} |",
              flush=True)
    # Block-sparse: each query block keeps 1 - sparsity of the key blocks
    # (random, the diagonal always).
    bm, bn, w, st = configs[0]
    QB, KB = -(-S // bm), -(-S // bn)
    keep = max(1, round((1 - float(arg("--sparsity", 0.7))) * KB))
    scores = torch.rand(1, H, QB, KB, device="cuda")
    diag = (torch.arange(QB, device="cuda") * bm // bn).clamp(max=KB - 1)
    scores[:, :, torch.arange(QB), diag] = 2.0
    index = scores.topk(keep, dim=-1).indices.sort(-1).values.int()
    count = torch.full((1, H, QB), keep, dtype=torch.int32, device="cuda")
    opts = dict(block_m=bm, block_n=bn, num_warps=w, num_stages=st)
    out = ops.block_sparse_attention(q, k, v, index, count, **opts)
    h_check = slice(0, 1)
    ref = sparse_reference(q[:, h_check], k[:, h_check], v[:, h_check], index[:, h_check].cpu(),
                           count[:, h_check].cpu(), bm, bn, scale)
    err = (out[:, h_check].float() - ref).abs().max().item()
    assert err < 3e-2, err
    t = bench(lambda: ops.block_sparse_attention(q, k, v, index, count, **opts), reps=5)
    sparse_flops = 4 * S * keep * bn * D * H
    print(f"| tessera block-sparse, {keep} of {KB} blocks per query block, {bm}x{bn} w{w} "
          f"s{st} | {t:.2f} | {sparse_flops / t / 1e9:.0f} |", flush=True)
    print(f"| speedup over tessera dense, same config: {dense_ms[configs[0]] / t:.1f}x "
          f"(ideal {KB / keep:.2f}x) | | |", flush=True)
    if "--select" in sys.argv:
        # BSA's selection for this shape (pooling, block scores, top-p with
        # at most `keep` blocks), timed alone, against the attention it feeds.
        # GPU time (the host's work queued behind a GPU spin, as in a CUDA
        # graph): launch gaps and Python are left out, as in the attention's.
        t_sel = bench(lambda: ops.block_select(q, k, bm, bn, mass=0.9, max_blocks=keep), reps=5,
                      queued=True)
        t = bench(lambda: ops.block_sparse_attention(q, k, v, index, count, **opts), reps=5,
                  queued=True)  # the share's denominator, timed the same way
        print(f"| tessera block-sparse, GPU time (host work queued ahead) | {t:.3f} | |",
              flush=True)
        print(f"| block_select (top-p 0.9, at most {keep} blocks): {100 * t_sel / t:.1f}% of the "
              f"block-sparse attention | {t_sel:.3f} | |", flush=True)
        # In bsa_attention the block means come from the cube reordering's
        # own pass (cube_reorder(pool=True)): what selection adds there is
        # the pooling's extra cost in the reordering of q and k, and the
        # selection from the means.
        video = {23296: (16, 28, 52), 153600: (40, 48, 80)}.get(S)
        if video and bm == bn == 128:
            flat = q.reshape(H, S, D)
            t_re = bench(lambda: ops.cube_reorder(flat, video, (8, 4, 4)), reps=5, queued=True)
            t_pool = bench(lambda: ops.cube_reorder(flat, video, (8, 4, 4), pool=True), reps=5,
                           queued=True)
            qp = ops.cube_reorder(flat, video, (8, 4, 4), pool=True)[1].reshape(1, H, QB, D)
            kp = ops.cube_reorder(k.reshape(H, S, D), video, (8, 4, 4), pool=True)[1]
            kp = kp.reshape(1, H, KB, D)
            t_from = bench(lambda: ops.block_select(q, k, bm, bn, mass=0.9, max_blocks=keep,
                                                    pooled=(qp, kp)), reps=5, queued=True)
            added = 2 * max(0.0, t_pool - t_re) + t_from
            print(f"| cube_reorder of q (video {video[0]}x{video[1]}x{video[2]}, cubes 8x4x4), "
                  f"alone / with the cube means | {t_re:.3f} / {t_pool:.3f} | |", flush=True)
            print(f"| BSA's selection on top of the reordering (means from it, 2 x the pooling's "
                  f"extra, then block_select): {100 * added / t:.1f}% of the block-sparse "
                  f"attention | {added:.3f} | |", flush=True)
            # End to end: bsa_attention against the same flow given the lists
            # it picks (reorderings with means, attention, the inverse).
            cube = (8, 4, 4)
            flat = [x.reshape(H, S, D) for x in (q, k, v)]
            (qc, qm), (kc, km) = (ops.cube_reorder(x, video, cube, pool=True) for x in flat[:2])
            lists = ops.block_select(qc.reshape(1, H, S, D), kc.reshape(1, H, S, D), bm, bn,
                                     mass=0.9, max_blocks=keep,
                                     pooled=(qm.reshape(1, H, QB, D), km.reshape(1, H, KB, D)))

            def given():
                qg, kg = (ops.cube_reorder(x, video, cube, pool=True)[0] for x in flat[:2])
                vg = ops.cube_reorder(flat[2], video, cube)
                o = ops.block_sparse_attention(*(x.reshape(1, H, S, D) for x in (qg, kg, vg)),
                                               *lists, block_m=bm, block_n=bn)
                return ops.cube_reorder(o.reshape(H, S, D), video, cube, inverse=True)

            def flow():
                return ops.bsa_attention(q, k, v, video, cube, p=0.9, max_blocks=keep)

            t_given = bench(given, reps=5, queued=True)
            t_flow = bench(flow, reps=5, queued=True)
            print(f"| bsa_attention, lists given (reorderings, attention, inverse) | "
                  f"{t_given:.3f} | |", flush=True)
            print(f"| bsa_attention: selection adds {t_flow - t_given:.3f} ms, "
                  f"{100 * (t_flow - t_given) / t:.1f}% of the block-sparse attention | "
                  f"{t_flow:.3f} | |", flush=True)
    if "--graph" in sys.argv:
        import tessera.graph
        t_ = f"tensor<1x{H}x{S}x{D}xbf16>"
        ti, tc = f"tensor<1x{H}x{QB}x{keep}xi32>", f"tensor<1x{H}x{QB}xi32>"
        g = tessera.graph.Graph(
            f"func.func @a(%q: {t_}, %k: {t_}, %v: {t_}, %i: {ti}, %c: {tc}) -> {t_} {{\n"
            f"  %o = tgraph.attention %q, %k, %v kv(%i, %c) {{block_m = {bm}, block_n = {bn}}}"
            f" : ({t_}, {t_}, {t_}, {ti}, {tc}) -> {t_}\n  return %o : {t_}\n}}",
            num_warps=w, num_stages=st)
        got = g(q, k, v, index.contiguous(), count)
        err = (got[:, h_check].float() - ref).abs().max().item()
        assert err < 3e-2, ("graph", err)
        t = bench(lambda: g(q, k, v, index, count), reps=5)
        print(f"| tgraph.attention lowered (tessera.graph), same blocks | {t:.2f} | "
              f"{sparse_flops / t / 1e9:.0f} |", flush=True)
        if "--backward" in sys.argv:
            # tgraph.attention_grad lowered (64 x 64 blocks: the lists
            # refined to them), timed alone: the backward of the same mask.
            gb = 64 if bm % 64 == 0 and bn % 64 == 0 else bm
            r = bm // gb
            idx64 = (index.repeat_interleave(r, dim=2)[..., :, None] * (bn // gb)
                     + torch.arange(bn // gb, device="cuda")).flatten(-2).int().contiguous()
            cnt64 = (count.repeat_interleave(r, dim=2) * (bn // gb)).int().contiguous()
            L64 = idx64.shape[-1]
            ti64, tc64 = f"tensor<1x{H}x{S // gb}x{L64}xi32>", f"tensor<1x{H}x{S // gb}xi32>"
            gg = tessera.graph.Graph(
                f"func.func @b(%q: {t_}, %k: {t_}, %v: {t_}, %o: {t_}, %do: {t_}, %i: {ti64}, "
                f"%c: {tc64}) -> ({t_}, {t_}, {t_}) {{\n"
                f"  %dq, %dk, %dv = tgraph.attention_grad %q, %k, %v, %o, %do kv(%i, %c) "
                f"{{block_m = {gb}, block_n = {gb}}} : ({t_}, {t_}, {t_}, {t_}, {t_}, {ti64}, "
                f"{tc64}) -> ({t_}, {t_}, {t_})\n  return %dq, %dk, %dv : {t_}, {t_}, {t_}\n}}",
                num_warps=4, num_stages=2)
            do = torch.randn_like(q)
            t = bench(lambda: gg(q, k, v, got, do, idx64, cnt64), reps=3)
            print(f"| tgraph.attention_grad lowered (tessera.graph), backward alone | {t:.2f} | "
                  f"{2.5 * sparse_flops / t / 1e9:.0f} |", flush=True)
    mask = None
    if "--flex" in sys.argv and bm == bn:
        from torch.nn.attention.flex_attention import BlockMask, flex_attention
        compiled = torch.compile(flex_attention)
        wide = torch.zeros(1, H, QB, KB, dtype=torch.int32, device="cuda")
        wide[..., :keep] = index  # one column per key block, as BlockMask keeps them
        mask = BlockMask.from_kv_blocks(torch.zeros_like(count), wide,
                                        full_kv_num_blocks=count, full_kv_indices=wide,
                                        BLOCK_SIZE=bm)
        got = compiled(q, k, v, block_mask=mask)
        err = (got[:, h_check].float() - ref).abs().max().item()
        assert err < 3e-2, ("flex", err)
        t_flex = bench(lambda: compiled(q, k, v, block_mask=mask), reps=5)
        print(f"| FlexAttention (compiled), same blocks | {t_flex:.2f} | "
              f"{sparse_flops / t_flex / 1e9:.0f} |", flush=True)
    if "--backward" in sys.argv:
        sparse_backward_rows(q, k, v, index, count, opts, sparse_flops,
                             mask if "--flex" in sys.argv and bm == bn else None)
        backward_rows(q, k, v, configs, "--flex" in sys.argv)


def training_step(q, k, v):
    """(run, grads): run(f) is a step computing f(q, k, v) and its backward
    on copies of q, k, v that need gradients; grads() gives them."""
    qg, kg, vg = (t.detach().clone().requires_grad_() for t in (q, k, v))
    dout = torch.randn_like(q)

    def run(f):
        def step():
            for t in (qg, kg, vg):
                t.grad = None
            f(qg, kg, vg).backward(dout)
        return step
    return run, lambda: (qg.grad, kg.grad, vg.grad)


def sparse_backward_rows(q, k, v, index, count, opts, fwd_flops, flex_mask):
    """Forward + backward of block-sparse attention (3.5x the forward's
    FLOPs on the kept blocks), tessera and FlexAttention on the same
    blocks, gradients checked against each other."""
    run, grads = training_step(q, k, v)

    def ours(a, b, c):
        return ops.sparse_attention(a, b, c, index, count, **opts)
    run(ours)()
    mine = [g.float().clone() for g in grads()]
    t = bench(run(ours), reps=5)
    flops = fwd_flops * 3.5
    print(f"| tessera block-sparse, forward + backward | {t:.2f} | {flops / t / 1e9:.0f} |",
          flush=True)
    if "--kernels" in sys.argv:  # each kernel's time (torch.profiler) under the row
        from attention_grad import kernel_times
        for name, ms in sorted(kernel_times(run(ours)).items(), key=lambda x: -x[1]):
            print(f"| &nbsp;&nbsp; {name[:60]} | {ms:.3f} | |", flush=True)
    if flex_mask is not None:
        from torch.nn.attention.flex_attention import flex_attention
        compiled = torch.compile(flex_attention)

        def flex(a, b, c):
            return compiled(a, b, c, block_mask=flex_mask)
        run(flex)()
        for got, ref in zip(grads(), mine):
            err = ((got.float() - ref).abs().max() / ref.abs().max()).item()
            assert err < 5e-2, ("flex backward", err)
        t = bench(run(flex), reps=5)
        print(f"| FlexAttention (compiled), same blocks, forward + backward | {t:.2f} | "
              f"{flops / t / 1e9:.0f} |", flush=True)


def backward_rows(q, k, v, configs, flex):
    """Forward + backward of dense attention: ms and TFLOP/s (2.5x the
    forward's FLOPs, as FlashAttention counts them)."""
    H, S, D = q.shape[1], q.shape[2], q.shape[3]
    flops = 4 * S * S * D * H * 3.5
    run, grads = training_step(q, k, v)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    run(sdpa)()
    want = [g.float().clone() for g in grads()]
    t = bench(run(sdpa), reps=5)
    print(f"| torch SDPA, dense, forward + backward | {t:.2f} | {flops / t / 1e9:.0f} |",
          flush=True)
    if flex:
        from torch.nn.attention.flex_attention import flex_attention
        compiled = torch.compile(flex_attention)
        t = bench(run(compiled), reps=5)
        print(f"| FlexAttention (compiled), dense, forward + backward | {t:.2f} | "
              f"{flops / t / 1e9:.0f} |", flush=True)
    for bm, bn, w, st in configs:
        def ours(a, b, c):
            return ops.attention(a, b, c, block_m=bm, block_n=bn)
        run(ours)()
        for got, ref in zip(grads(), want):
            err = ((got.float() - ref).abs().max() / ref.abs().max()).item()
            assert err < 5e-2, (bm, bn, err)
        t = bench(run(ours), reps=5)
        print(f"| tessera dense, {bm}x{bn}, forward + backward | {t:.2f} | "
              f"{flops / t / 1e9:.0f} |", flush=True)


if __name__ == "__main__":
    main()
