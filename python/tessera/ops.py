"""Graph-level operations.

``contract(spec, *operands, weights=...)`` evaluates an einsum over named
indices in the order `tgraph-reorder-contractions` would choose for the
operands' actual sizes (the same cost model, through ``tessera._C``):
exact dynamic programming over orders, cost = max(FLOPs / peak, bytes /
bandwidth) per pairwise product, products of weights alone cached and
charged once. ``contraction_plan`` returns that order and its cost.

    # DeepSeek MLA scores: prefill picks (W_UQ c_Q)^T (W_UK c_KV), decode
    # [(W_UQ c_Q)^T W_UK] c_KV.
    scores = tessera.ops.contract("bsq,hdq,btk,hdk->bhst", c_q, w_uq, c_kv, w_uk,
                                  weights=[False, True, False, True])

The pairwise products run with the array library of the operands
(``torch.einsum`` for torch tensors, ``numpy.einsum`` for numpy arrays);
they are not yet lowered to Tessera kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _C

# H200 (dense bf16 tensor FLOP/s, HBM3e bandwidth): the default machine.
PEAK_TFLOPS = 989.0
PEAK_TBPS = 4.8


@dataclass(frozen=True)
class ContractionPlan:
    """An evaluation order: `pairs` as opt_einsum's path (positions in the
    shrinking operand list), `steps` as (lhs, rhs, out, weights only)."""
    pairs: tuple
    steps: tuple
    description: str
    flops: float
    seconds: float


def _parse(spec: str, count: int):
    if "->" not in spec:
        raise ValueError(f"contract: spec {spec!r} has no '->' before the result's indices")
    lhs, out = spec.split("->")
    inputs = lhs.split(",")
    if len(inputs) != count:
        raise ValueError(f"contract: spec {spec!r} names {len(inputs)} operands, got {count}")
    for s in inputs + [out]:
        if not s.isalpha() or not s.islower() or len(set(s)) != len(s):
            raise ValueError(f"contract: {s!r} in {spec!r}: indices are distinct lowercase letters")
    for c in out:
        if not any(c in s for s in inputs):
            raise ValueError(f"contract: result index {c!r} is in no operand")
    return inputs, out


def _sizes(inputs, shapes):
    sizes = {}
    for idx, shape in zip(inputs, shapes):
        if len(idx) != len(shape):
            raise ValueError(f"contract: operand {idx!r} has {len(shape)} dimensions, "
                             f"the spec names {len(idx)}")
        for c, n in zip(idx, shape):
            if sizes.setdefault(c, int(n)) != int(n):
                raise ValueError(f"contract: index {c!r} has sizes {sizes[c]} and {n}")
    return sizes


def contraction_plan(spec: str, shapes, weights=None, element_bytes=2, peak_tflops=PEAK_TFLOPS,
                     peak_tbps=PEAK_TBPS, precompute_weights=True) -> ContractionPlan:
    """The order of least estimated time for operands of `shapes`."""
    inputs, out = _parse(spec, len(shapes))
    weights = list(weights) if weights is not None else [False] * len(inputs)
    if len(weights) != len(inputs):
        raise ValueError(f"contract: {len(weights)} weight flags for {len(inputs)} operands")
    sizes = _sizes(inputs, shapes)
    pairs, steps, text, flops, seconds = _C.contraction.plan(
        inputs, out, weights, sizes, peak_tflops, peak_tbps, element_bytes, precompute_weights)
    return ContractionPlan(tuple(tuple(p) for p in pairs), tuple(tuple(s) for s in steps), text,
                           flops, seconds)


def order_cost(spec: str, shapes, pairs, weights=None, element_bytes=2, peak_tflops=PEAK_TFLOPS,
               peak_tbps=PEAK_TBPS, precompute_weights=True):
    """(FLOPs, estimated seconds, description) of the order `pairs`."""
    inputs, out = _parse(spec, len(shapes))
    weights = list(weights) if weights is not None else [False] * len(inputs)
    return _C.contraction.cost(inputs, out, weights, _sizes(inputs, shapes), list(pairs),
                               peak_tflops, peak_tbps, element_bytes, precompute_weights)


def evaluate(plan: ContractionPlan, operands, einsum):
    """Runs `plan`'s pairwise products with `einsum(spec, a, b)`."""
    ops = list(operands)
    for (i, j), (lhs, rhs, out, _) in zip(plan.pairs, plan.steps):
        r = einsum(f"{lhs},{rhs}->{out}", ops[i], ops[j])
        del ops[j], ops[i]
        ops.append(r)
    return ops[0]


def contract(spec: str, *operands, weights=None, **machine):
    """`spec` over `operands`, in the order of least estimated time."""
    if len(operands) < 2:
        raise ValueError("contract: give at least two operands")
    itemsize = getattr(operands[0], "itemsize", None)
    if itemsize is None:
        itemsize = operands[0].element_size()
    plan = contraction_plan(spec, [tuple(o.shape) for o in operands], weights,
                            element_bytes=int(itemsize), **machine)
    if type(operands[0]).__module__.startswith("torch"):
        import torch
        einsum = torch.einsum
    else:
        import numpy
        einsum = numpy.einsum
    return evaluate(plan, operands, einsum)
