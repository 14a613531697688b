"""Tessera ops put into a model's FX graph, for users who do not edit the model.

    gm = tessera.torch.optimize(model)   # or tessera.fx.optimize(model)
    gm(x)                                # same results, Tessera's kernels

What is replaced (`gm.tessera_replaced` lists it by kind):
- attention: `F.scaled_dot_product_attention` without a mask or dropout,
  and the pattern `softmax(q @ k^T * scale, dim=-1) @ v` (the scale as a
  number multiplied or divided, on the scores or on q; k^T by transpose of
  the last two dimensions, permute or .mT) by tessera.torch.attention. The
  node checks at run time that Tessera supports the call (4-D, float16,
  bfloat16 or float32, head dim 16 to 256, k and v alike) and otherwise
  computes what the graph computed;
- einsum chains: `torch.einsum` of three or more operands, and einsums fed
  by einsums used nowhere else (merged into one), by
  tessera.torch.contract, which evaluates them in the order of least cost.
"""

import math
import operator

import torch
import torch.fx
import torch.nn.functional as F

_SOFTMAX = {torch.softmax, F.softmax, torch.Tensor.softmax}
_MATMUL = {operator.matmul, torch.matmul}
_MUL = {operator.mul, torch.mul}
_DIV = {operator.truediv, torch.div, torch.true_divide}
_ATTENTION_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def _supported(q, k, v):
    return (q.dim() == 4 and k.dim() == 4 and v.dim() == 4 and q.dtype in _ATTENTION_DTYPES
            and q.dtype == k.dtype == v.dtype and k.shape == v.shape
            and q.shape[:2] == k.shape[:2] and q.shape[3] == k.shape[3]
            and q.shape[3] in (16, 32, 64, 128, 256) and q.device == k.device == v.device
            and q.device.type in ("cpu", "cuda"))


def attention(q, k, v, causal=False, scale=None, bsa=None):
    """tessera.torch.attention where Tessera supports the call; otherwise
    softmax(q k^T * scale) v in torch (the graph's own computation). `bsa`
    (a dict of tessera.torch.bsa_attention's arguments, video_shape and
    cube at least): self-attention over that video's tokens (not causal)
    runs as BSA instead."""
    from . import torch as tt
    if _supported(q, k, v):
        if bsa is not None and not causal and q.shape[2] == k.shape[2] == \
                math.prod(bsa["video_shape"]):
            return tt.bsa_attention(q, k, v, scale=scale, **bsa)
        return tt.attention(q, k, v, causal=causal, scale=scale)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = torch.matmul(q, k.transpose(-2, -1)) * scale
    if causal:
        n, m = s.shape[-2], s.shape[-1]
        s = s.masked_fill(torch.ones(n, m, dtype=torch.bool, device=s.device).triu(1),
                          float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def contract(spec, *operands):
    """tessera.torch.contract (the order of least estimated cost)."""
    from . import torch as tt
    return tt.contract(spec, *operands)


def _is(node, targets, method=None):
    if node.op == "call_function" and node.target in targets:
        return True
    return method is not None and node.op == "call_method" and node.target == method


def _arg(node, i, name, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _scaled(node):
    """(x, factor) for x * number, number * x or x / number; else (node, 1)."""
    if isinstance(node, torch.fx.Node) and len(node.args) == 2 and not node.kwargs:
        a, b = node.args
        if _is(node, _MUL, "mul"):
            if _number(b):
                return a, float(b)
            if _number(a) and node.op == "call_function":
                return b, float(a)
        if _is(node, _DIV, "div") and _number(b) and b != 0:
            return a, 1.0 / float(b)
    return node, 1.0


def _untransposed(node):
    """k for k.transpose(-2, -1) (or (2, 3), torch.transpose, permute(0, 1,
    3, 2), k.mT) of a 4-D tensor; None otherwise."""
    if not isinstance(node, torch.fx.Node):
        return None
    if _is(node, {torch.transpose}, "transpose") and len(node.args) == 3:
        dims = {d % 4 if isinstance(d, int) else None for d in node.args[1:]}
        return node.args[0] if dims == {2, 3} else None
    if node.op == "call_method" and node.target == "permute":
        dims = node.args[1:] if len(node.args) > 2 else node.args[1]
        return node.args[0] if tuple(dims) == (0, 1, 3, 2) else None
    if node.op == "call_function" and node.target is getattr and node.args[1] == "mT":
        return node.args[0]
    return None


def _replace_sdpa(graph, bsa):
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    count = 0
    for node in list(graph.nodes):
        if sdpa is None or node.op != "call_function" or node.target is not sdpa:
            continue
        q, k, v = (_arg(node, i, n) for i, n in enumerate(("query", "key", "value")))
        if _arg(node, 3, "attn_mask") is not None or _arg(node, 4, "dropout_p", 0.0) != 0.0 \
                or node.kwargs.get("enable_gqa", False):
            continue
        causal = _arg(node, 5, "is_causal", False)
        scale = node.kwargs.get("scale")
        if not isinstance(causal, bool) or not (scale is None or _number(scale)):
            continue
        with graph.inserting_before(node):
            new = graph.call_function(attention, (q, k, v),
                                      {"causal": causal, "scale": scale, "bsa": bsa})
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        count += 1
    return count


def _replace_softmax_attention(graph, bsa):
    count = 0
    for node in list(graph.nodes):
        if not _is(node, _SOFTMAX, "softmax") or len(node.users) != 1:
            continue
        dim = _arg(node, 1, "dim")
        if dim != -1 or node.kwargs.get("dtype") is not None or len(node.args) > 2:
            continue
        (out,) = node.users
        if not _is(out, _MATMUL, "matmul") or out.args[0] is not node or out.kwargs:
            continue
        v = out.args[1]
        scores, factor = _scaled(node.args[0])
        if not _is(scores, _MATMUL, "matmul") or len(scores.users) != 1:
            continue
        q, kt = scores.args
        k = _untransposed(kt)
        if k is None:
            continue
        q, q_factor = _scaled(q)
        with graph.inserting_before(out):
            new = graph.call_function(attention, (q, k, v),
                                      {"scale": factor * q_factor, "bsa": bsa})
        out.replace_all_uses_with(new)
        count += 1
    return count


def _einsum_parts(node):
    """(spec, operands) of a torch.einsum node (operands given one by one
    or as a list), or None."""
    if node.op != "call_function" or node.target is not torch.einsum or node.kwargs:
        return None
    spec, *operands = node.args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if not isinstance(spec, str) or "->" not in spec or "." in spec:
        return None
    return spec.replace(" ", ""), operands


def _merge(spec, operands, i, inner_spec, inner_operands):
    """The einsum `spec` with operand i replaced by the einsum that makes
    it: one spec over both operand lists, or None (a repeated output
    index)."""
    ins, out = spec.split("->")
    ins = ins.split(",")
    inner_ins, inner_out = inner_spec.split("->")
    if len(set(inner_out)) != len(inner_out) or len(inner_out) != len(ins[i]) \
            or len(set(ins[i])) != len(ins[i]):
        return None
    rename = dict(zip(inner_out, ins[i]))
    used = set(spec.replace(",", "").replace("->", ""))
    free = (c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    for c in inner_ins.replace(",", ""):
        if c not in rename:
            rename[c] = next(free)
    merged = ins[:i] + ["".join(rename[c] for c in s) for s in inner_ins.split(",")] + ins[i + 1:]
    return ",".join(merged) + "->" + out, operands[:i] + inner_operands + operands[i + 1:]


def _replace_einsum(graph):
    count = 0
    # Outermost first: an einsum takes in the chain that feeds it; the inner
    # ones are then used by nothing (and skipped, then removed).
    for node in reversed(list(graph.nodes)):
        parts = _einsum_parts(node)
        if parts is None or not node.users:
            continue
        spec, operands = parts
        merged_any = True
        while merged_any:  # einsums feeding this one, used nowhere else
            merged_any = False
            for i, o in enumerate(operands):
                inner = _einsum_parts(o) if isinstance(o, torch.fx.Node) else None
                if inner is None or len(o.users) != 1:
                    continue
                merged = _merge(spec, operands, i, *inner)
                if merged is not None:
                    spec, operands = merged
                    merged_any = True
                    break
        if len(operands) < 3:
            continue
        with graph.inserting_before(node):
            new = graph.call_function(contract, (spec, *operands))
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        count += 1
    return count


def optimize(model, attention=True, einsum=True, bsa=None, concrete_args=None):
    """A torch.fx.GraphModule of `model` (traced with symbolic_trace unless it
    is one already) with attention and einsum chains replaced by Tessera
    ops; `tessera_replaced` on it counts them by kind. `bsa`: the
    configuration of block-sparse attention for the model's self-attention
    over a video (tessera.torch.bsa_attention's arguments: video_shape,
    cube, p or threshold, ...): attention over that many tokens runs as BSA,
    other attention (cross-attention, other lengths) dense."""
    if bsa is not None:
        if "video_shape" not in bsa or "cube" not in bsa:
            raise ValueError("optimize: bsa needs video_shape and cube (and p or threshold)")
        bsa = dict(bsa, video_shape=tuple(bsa["video_shape"]), cube=tuple(bsa["cube"]))
    gm = model if isinstance(model, torch.fx.GraphModule) else \
        torch.fx.symbolic_trace(model, concrete_args=concrete_args)
    replaced = {"attention": 0, "einsum": 0}
    if attention:
        replaced["attention"] = _replace_sdpa(gm.graph, bsa) + \
            _replace_softmax_attention(gm.graph, bsa)
    if einsum:
        replaced["einsum"] = _replace_einsum(gm.graph)
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    gm.tessera_replaced = replaced
    return gm


__all__ = ["optimize", "attention", "contract"]
