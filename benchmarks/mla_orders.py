"""Does tgraph-reorder-contractions pick the fastest order? DeepSeek-V3's MLA
(h = 128, d = 128, q = 1536, k = 512, v = 128, e = 7168), bf16 on the GPU:
for decode (s = 1; b in 1, 32, 128; t = 1K..32K) and prefill (b = 1,
s = t = 512..8K), each order of the scores and of the output is timed with
torch (one einsum per pairwise product; products of weights alone are
computed once beforehand, as the pass assumes) and compared with the order
the cost model picks. Orders whose intermediates would not fit are not run
(the model ranks them last too).
PYTHONPATH=python python3 benchmarks/mla_orders.py"""

import pathlib
import sys

import torch

import tessera

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from run import bench  # noqa: E402

H, D, Q, K, V, E = 128, 128, 1536, 512, 128, 7168
SCORES = ("bsq,hdq,btk,hdk->bhst", [False, True, False, True],
          {"order 1": [(0, 1), (0, 1), (0, 1)], "order 2": [(0, 1), (1, 2), (0, 1)],
           "order 3": [(1, 3), (0, 2), (0, 1)]})
OUTPUT = ("bhst,btk,hvk,ehv->bse", [False, False, True, True],
          {"order 1": [(1, 2), (0, 2), (0, 1)], "order 2": [(0, 1), (0, 2), (0, 1)],
           "order 3": [(2, 3), (0, 1), (0, 1)]})
LIMIT = 24 << 30  # bytes of one intermediate


def shapes(which, b, s, t):
    if which is SCORES:
        return [(b, s, Q), (H, D, Q), (b, t, K), (H, D, K)]
    return [(b, H, s, t), (b, t, K), (H, V, K), (E, H, V)]


def steps_of(spec, pairs):
    inputs, out = spec.split("->")
    ops = inputs.split(",")
    steps = []
    for n, (i, j) in enumerate(pairs):
        others = [o for x, o in enumerate(ops) if x not in (i, j)]
        if n == len(pairs) - 1:
            kept = out
        else:
            kept = "".join(dict.fromkeys(c for c in ops[i] + ops[j]
                                         if c in out or any(c in o for o in others)))
        steps.append((ops[i], ops[j], kept, i, j))
        del ops[j], ops[i]
        ops.append(kept)
    return steps


def run_order(spec, weights, pairs, tensors, sizes):
    """A function evaluating the order with the weights' products done
    beforehand; None when an intermediate would be too large."""
    steps = steps_of(spec, pairs)
    for lhs, rhs, out, _, _ in steps:
        n = 2
        for c in out:
            n *= sizes[c]
        if n > LIMIT:
            return None
    pre, cur, ws = {}, list(tensors), list(weights)
    for lhs, rhs, out, i, j in steps:
        both = ws[i] and ws[j]
        r = torch.einsum(f"{lhs},{rhs}->{out}", cur[i], cur[j]) if both else None
        if both:
            pre[(lhs, rhs)] = r
        del cur[j], cur[i], ws[j], ws[i]
        cur.append(r)
        ws.append(both)

    def fn():
        cur, ws = list(tensors), list(weights)
        for lhs, rhs, out, i, j in steps:
            both = ws[i] and ws[j]
            r = pre[(lhs, rhs)] if both else torch.einsum(f"{lhs},{rhs}->{out}", cur[i], cur[j])
            del cur[j], cur[i], ws[j], ws[i]
            cur.append(r)
            ws.append(both)
        return cur[0]
    return fn


def main():
    cases = [(b, 1, t) for b in (1, 32, 128) for t in (1024, 2048, 4096, 8192, 16384, 32768)]
    cases += [(1, n, n) for n in (512, 1024, 2048, 4096, 8192)]
    print(f"device: {torch.cuda.get_device_name()}; bf16, torch.einsum per product, ms\n")
    print("| chain | b | s | t | order 1 | order 2 | order 3 | fastest | picked | |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    misses = total = 0
    for which, name in ((SCORES, "scores"), (OUTPUT, "output")):
        spec, weights, orders = which
        for b, s, t in cases:
            shp = shapes(which, b, s, t)
            sizes = {}
            for idx, sh in zip(spec.split("->")[0].split(","), shp):
                sizes.update(zip(idx, sh))
            tensors = [torch.randn(sh, device="cuda", dtype=torch.bfloat16) / 8 for sh in shp]
            times = {}
            for label, pairs in orders.items():
                fn = run_order(spec, weights, pairs, tensors, sizes)
                times[label] = bench(fn, reps=10) if fn is not None else None
            plan = tessera.ops.contraction_plan(spec, shp, weights)
            # The picked order, by its cost (commuted products are the same order).
            picked = next((label for label, pairs in orders.items()
                           if tessera.ops.order_cost(spec, shp, pairs, weights)[:2]
                           == (plan.flops, plan.seconds)), None)
            if picked is None:  # another order: time it as well
                picked = plan.description
                fn = run_order(spec, weights, plan.pairs, tensors, sizes)
                times[picked] = bench(fn, reps=10)
            ran = {k: v for k, v in times.items() if v is not None}
            fastest = min(ran, key=ran.get)
            ok = fastest == picked or ran[picked] <= 1.05 * ran[fastest]
            total += 1
            misses += not ok
            cells = " | ".join(f"{times[k]:.3f}" if times[k] is not None else "too large"
                               for k in orders)
            if picked not in orders:
                picked = f"{picked} ({times[picked]:.3f})"
            print(f"| {name} | {b} | {s} | {t} | {cells} | {fastest} | {picked} | "
                  f"{'ok' if ok else 'MISS'} |", flush=True)
            del tensors
            torch.cuda.empty_cache()
    print(f"\n{total - misses} of {total} picks are the measured fastest (within 5%)")


if __name__ == "__main__":
    main()
