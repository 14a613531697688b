"""Tessera's kernels as PyTorch operators.

The ops live in the `tessera` namespace of torch.library (`torch.ops.tessera.*`):
FX graphs and torch.compile keep each as one node, their fake (meta)
implementations give output shapes without running anything, and the
differentiable ones carry their backward (Tessera's backward kernels). On
torch 2.4 and later they are `torch.library.custom_op`s with `register_fake`
and `register_autograd`; on older torch (1.13) they are defined through a
`torch.library.Library` with CPU, CUDA and Meta kernels and an Autograd
kernel. CPU tensors run on Tessera's CPU backend, CUDA tensors on the GPU.

    import tessera.torch as tt
    out = tt.attention(q, k, v, causal=True)            # differentiable
    out = tt.block_sparse_attention(q, k, v, kv_index, kv_count, block_m=64, block_n=64)
    out = tt.bsa_attention(q, k, v, (T, H, W), (4, 4, 8), p=0.9)
    model = tt.optimize(model)  # attention and einsum chains -> Tessera ops

CUDA graphs: a launch never compiles, tunes or checks block lists on the
host while a stream is being captured; that raises instead of breaking
the capture. Run the captured function once before capture (`warmup`).
"""

import contextlib
import functools
import math

import torch

from . import ops as _ops

__all__ = ["attention", "block_sparse_attention", "cube_reorder", "block_select",
           "token_select", "bsa_attention", "contract", "optimize", "compile_backend", "warmup",
           "CUSTOM_OP"]

# torch >= 2.4: custom_op with register_fake / register_autograd.
CUSTOM_OP = hasattr(torch.library, "custom_op") and hasattr(torch.library, "register_autograd")
_LIB = None if CUSTOM_OP else torch.library.Library("tessera", "DEF")
_DENSE_BLOCK = 64  # the CPU backend's tiles (forward and backward)


@contextlib.contextmanager
def _below_autograd():
    """Dispatch below the Autograd key (torch 1.13's guard is not a context
    manager: it holds while the object lives)."""
    guard = torch._C._AutoDispatchBelowAutograd()
    if hasattr(guard, "__enter__"):
        with guard:
            yield
    else:
        try:
            yield
        finally:
            del guard


def _schema_defaults(schema):
    """Each argument's default in a schema "(Tensor q, float? scale=None)
    -> ..." (a placeholder for those without one)."""
    args = schema[1:schema.index(") ->")].split(", ")
    values = {"None": None, "False": False, "True": True}
    out = []
    for arg in args:
        default = arg.split("=")[1] if "=" in arg else None
        if default is not None and default not in values:
            default = float(default) if "." in default else int(default)
        else:
            default = values.get(default)
        out.append(default)
    return tuple(out)


def _op(name, schema, impl, fake, backward=None, save=None):
    """Defines tessera::name with `schema` (the arguments and results, as
    in native_functions.yaml), its kernel, its fake kernel (shapes only),
    and for differentiable ops `save(ctx, inputs, output)` and
    `backward(ctx, *output_grads) -> input grads`."""
    # torch 1.13's dispatcher leaves trailing arguments at their defaults
    # out of a Python kernel's call: they are put back from the schema.
    defaults = _schema_defaults(schema)
    run, run_fake = impl, fake

    def full(args):
        return tuple(args) + defaults[len(args) - len(defaults):] if len(args) < len(defaults) \
            else tuple(args)

    @functools.wraps(run)
    def impl(*args):  # the kernels' own calls are not recorded by autograd
        with torch.no_grad():
            return run(*full(args))

    @functools.wraps(run_fake)
    def fake(*args):
        return run_fake(*full(args))

    if CUSTOM_OP:
        op = torch.library.custom_op(f"tessera::{name}", impl, mutates_args=(), schema=schema)
        op.register_fake(fake)
        if backward is not None:
            op.register_autograd(backward, setup_context=save)
        return getattr(torch.ops.tessera, name)
    _LIB.define(f"{name}{schema}")
    _LIB.impl(name, impl, "CPU")
    _LIB.impl(name, impl, "CUDA")
    _LIB.impl(name, fake, "Meta")
    packet = getattr(torch.ops.tessera, name)
    if backward is not None:
        class Function(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *inputs):
                inputs = full(inputs)
                with _below_autograd():
                    outputs = packet(*inputs)
                save(ctx, inputs, outputs)
                for out in outputs if isinstance(outputs, tuple) else (outputs,):
                    if not out.is_floating_point():
                        ctx.mark_non_differentiable(out)
                return outputs

            @staticmethod
            def backward(ctx, *grads):
                return backward(ctx, *grads)

        Function.__name__ = f"{name}_backward"
        _LIB.impl(name, lambda *inputs: Function.apply(*inputs), "Autograd")
    else:  # not differentiated (AutogradMeta has no fallthrough on torch 1.13)
        def redispatch(*inputs):
            with _below_autograd():
                return packet(*inputs)

        _LIB.impl(name, redispatch, "Autograd")
    return packet


# -- attention ----------------------------------------------------------------------------

def _attention_impl(q, k, v, causal, scale):
    # Heads' rows contiguous: on sm_90a K and V are then read by TMA (a
    # model's k and v are often transposed views). q is read with its
    # strides, and the output takes q's layout: a model's (batch, tokens,
    # heads, head_dim) view of q gives an output whose transpose back is
    # free.
    k, v = k.contiguous(), v.contiguous()
    if q.is_cuda:  # the tuned blocks (timed once per shape, never in a capture)
        return _ops._dense_attention_cuda(q, k, v, causal, scale)
    return tuple(_ops.attention(q, k, v, causal, scale, block_m=_DENSE_BLOCK,
                                block_n=_DENSE_BLOCK, return_lse=True))


def _attention_fake(q, k, v, causal, scale):
    _ops._check_attention_inputs(q, k, v)
    # The output has q's layout, as the kernels' (empty_like).
    return torch.empty_like(q), q.new_empty(q.shape[:3], dtype=torch.float32)


def _attention_save(ctx, inputs, output):
    q, k, v, causal, scale = inputs
    ctx.save_for_backward(q, k, v, *output)
    ctx.args = (causal, scale)


def _attention_backward(ctx, dout, dlse):
    q, k, v, out, lse = ctx.saved_tensors
    dq, dk, dv = _attention_bwd(q, k, v, out, lse, dout.contiguous(), *ctx.args)
    return dq, dk, dv, None, None


def _attention_bwd_impl(q, k, v, out, lse, dout, causal, scale):
    # The CPU backend's tiles are _DENSE_BLOCK's; on a GPU the backward's
    # own choice (by head dim and target).
    return tuple(_ops._dense_attention_backward(q, k, v, out, dout, lse, causal, scale,
                                                None if q.is_cuda else _DENSE_BLOCK))


def _grads_fake(q, k, v, *rest):
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


_attention_bwd = _op(
    "attention_backward",
    "(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor dout, bool causal, "
    "float? scale) -> (Tensor, Tensor, Tensor)", _attention_bwd_impl, _grads_fake)
_attention = _op(
    "attention", "(Tensor q, Tensor k, Tensor v, bool causal=False, float? scale=None) -> "
    "(Tensor, Tensor)", _attention_impl, _attention_fake, _attention_backward, _attention_save)


_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
_dispatch_modes = getattr(torch._C, "_len_torch_dispatch_mode", None)
if _dispatch_modes is None:  # torch 1.13: the innermost mode, or None
    from torch.utils._python_dispatch import _get_current_dispatch_mode as _current_mode

    def _dispatch_modes():
        return int(_current_mode() is not None)
_function_modes = getattr(torch._C, "_is_torch_function_mode_enabled", None)
_functorch_wrapped = getattr(getattr(torch._C, "_functorch", None),
                             "is_functorch_wrapped_tensor", None)


def _eager(*tensors):
    """Whether a call may go straight to the kernels rather than through
    torch.library's dispatch (which costs tens of microseconds a call in
    Python): plain tensors, and nothing that records or transforms ops —
    no torch.compile or FX tracing, no dispatch or function mode (fake
    tensors, make_fx, FlopCounterMode), no functorch transform."""
    for t in tensors:
        if type(t) is not torch.Tensor:  # FakeTensor, FunctionalTensor, an fx Proxy...
            return False
        if _functorch_wrapped is not None and _functorch_wrapped(t):
            return False
    if _is_compiling is not None and _is_compiling():
        return False
    if _dispatch_modes is not None and _dispatch_modes() > 0:
        return False
    return _function_modes is None or not _function_modes()


class _EagerAttention(torch.autograd.Function):
    """torch.ops.tessera.attention's forward and backward, called directly
    (eager mode: see _eager)."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale):
        # The contiguous k and v the kernels read are what the backward
        # reads too (not copied a second time there).
        k, v = k.contiguous(), v.contiguous()
        out, lse = _attention_impl(q, k, v, causal, scale)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.args = (causal, scale)
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = _attention_bwd_impl(q, k, v, out, lse, dout.contiguous(), *ctx.args)
        return dq, dk, dv, None, None


def attention(q, k, v, causal=False, scale=None):
    """softmax(q k^T * scale) v for q (Z, H, Nq, D), k and v (Z, H, Nkv, D)
    (scale: 1 / sqrt(D) by default; causal: top-left aligned), through
    torch.ops.tessera.attention, which also gives each row's log-sum-exp.
    Differentiable in q, k and v. In eager mode the op's kernels are
    called without torch.library's dispatch (the same kernels and
    backward; traced and compiled code sees the op)."""
    causal, scale = bool(causal), None if scale is None else float(scale)
    if _eager(q, k, v):
        if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
            return _EagerAttention.apply(q, k, v, causal, scale)
        with torch.no_grad():
            return _attention_impl(q, k, v, causal, scale)[0]
    return _attention(q, k, v, causal, scale)[0]


# -- block-sparse attention ---------------------------------------------------------------

def _sparse_impl(q, k, v, kv_index, kv_count, block_m, block_n, causal, scale, q_index,
                 q_count):
    options = dict(block_m=block_m, block_n=block_n, sm_scale=scale, causal=causal)
    q, k, v = (x.contiguous() for x in (q, k, v))  # as _attention_impl
    if q_index is None:
        return tuple(_ops.block_sparse_attention(q, k, v, kv_index, kv_count, return_lse=True,
                                                 **options))
    out = _ops.block_sparse_attention(q, k, v, kv_index, kv_count, q_index=q_index,
                                      q_count=q_count, **options)
    return out, q.new_empty((0,), dtype=torch.float32)  # no lse with query lists


def _sparse_fake(q, k, v, kv_index, kv_count, block_m, block_n, causal, scale, q_index,
                 q_count):
    _ops._check_attention_inputs(q, k, v)
    lse_shape = q.shape[:3] if q_index is None else (0,)
    return q.new_empty(q.shape), q.new_empty(lse_shape, dtype=torch.float32)


def _sparse_save(ctx, inputs, output):
    q, k, v, kv_index, kv_count, block_m, block_n, causal, scale, q_index, q_count = inputs
    ctx.save_for_backward(q, k, v, *output)
    ctx.lists = (kv_index, kv_count, q_index, q_count)
    ctx.args = (block_m, block_n, causal, scale)


def _sparse_backward(ctx, dout, dlse):
    q, k, v, out, lse = ctx.saved_tensors
    kv_index, kv_count, q_index, q_count = ctx.lists
    block_m, block_n, causal, scale = ctx.args
    dout = dout.contiguous()
    if q_index is not None:
        # A pruned query's output is its block's proxy query's: its gradient
        # goes to the proxy's row.
        target = _ops._query_targets_on_device(q_index, q_count, q.shape, block_m)
        ZH, S, D = q.shape[0] * q.shape[1], q.shape[2], q.shape[3]
        index = target.to(dout.device).reshape(ZH, S, 1).expand(ZH, S, D)
        dout = torch.zeros_like(dout).reshape(ZH, S, D).scatter_add_(
            1, index, dout.reshape(ZH, S, D)).reshape(dout.shape)
    dq, dk, dv = _sparse_bwd(q, k, v, out, lse, dout, kv_index, kv_count, block_m, block_n,
                             causal, scale)
    return dq, dk, dv, None, None, None, None, None, None, None, None


def _sparse_bwd_impl(q, k, v, out, lse, dout, kv_index, kv_count, block_m, block_n, causal,
                     scale):
    return tuple(_ops.block_sparse_attention_backward(
        q, k, v, out, dout, kv_index, kv_count, block_m=block_m, block_n=block_n,
        sm_scale=scale, causal=causal, lse=lse if lse.numel() else None))


_sparse_bwd = _op(
    "block_sparse_attention_backward",
    "(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor dout, Tensor kv_index, "
    "Tensor kv_count, int block_m, int block_n, bool causal, float? scale) -> "
    "(Tensor, Tensor, Tensor)", _sparse_bwd_impl, _grads_fake)
_sparse = _op(
    "block_sparse_attention",
    "(Tensor q, Tensor k, Tensor v, Tensor kv_index, Tensor kv_count, int block_m=64, "
    "int block_n=64, bool causal=False, float? scale=None, Tensor? q_index=None, "
    "Tensor? q_count=None) -> (Tensor, Tensor)", _sparse_impl, _sparse_fake, _sparse_backward,
    _sparse_save)


def block_sparse_attention(q, k, v, kv_index, kv_count, *, block_m=64, block_n=64,
                           causal=False, scale=None, q_index=None, q_count=None):
    """Attention where query block qb attends only to the key blocks
    kv_index[z, h, qb, :kv_count[z, h, qb]] (tessera.ops.block_sparse_attention;
    with q_index/q_count only the listed queries of each block are computed
    and the others take their block's proxy's output). Differentiable in q,
    k and v."""
    return _sparse(q, k, v, kv_index, kv_count, int(block_m), int(block_n), bool(causal),
                   None if scale is None else float(scale), q_index, q_count)[0]


# -- BSA: cube reordering, selection ------------------------------------------------------

def _reorder_impl(x, video, cube, inverse):
    return _ops.cube_reorder(x.contiguous(), tuple(video), tuple(cube), inverse)


def _reorder_fake(x, video, cube, inverse):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _reorder_save(ctx, inputs, output):
    ctx.args = tuple(inputs[1:])


def _reorder_backward(ctx, grad):
    video, cube, inverse = ctx.args
    return _reorder(grad.contiguous(), video, cube, not inverse), None, None, None


def _pooled_impl(x, video, cube):
    return tuple(_ops.cube_reorder(x.contiguous(), tuple(video), tuple(cube), pool=True))


def _pooled_fake(x, video, cube):
    Z, S, C = x.shape
    volume = math.prod(cube)
    return (torch.empty_like(x, memory_format=torch.contiguous_format),
            x.new_empty((Z, S // volume, C), dtype=torch.float32))


def _pooled_save(ctx, inputs, output):
    ctx.args = (inputs[1], inputs[2])


def _pooled_backward(ctx, grad, dmeans):  # the means feed the selection only
    video, cube = ctx.args
    return _reorder(grad.contiguous(), video, cube, True), None, None


_reorder = _op("cube_reorder", "(Tensor x, int[] video, int[] cube, bool inverse=False) -> Tensor",
               _reorder_impl, _reorder_fake, _reorder_backward, _reorder_save)
_pooled = _op("cube_reorder_pooled", "(Tensor x, int[] video, int[] cube) -> (Tensor, Tensor)",
              _pooled_impl, _pooled_fake, _pooled_backward, _pooled_save)


def cube_reorder(x, video_shape, cube, inverse=False, pool=False):
    """tessera.ops.cube_reorder as an op (differentiable: the gradient is the
    inverse reordering); pool=True also returns each cube's mean token
    (float32, not differentiated)."""
    video, cube = [int(s) for s in video_shape], [int(s) for s in cube]
    if pool:
        if inverse:
            raise ValueError("cube_reorder: pool is for the forward direction")
        return _pooled(x, video, cube)
    return _reorder(x, video, cube, bool(inverse))


def _select_impl(q, k, block_m, block_n, mass, threshold, min_blocks, max_blocks, q_means,
                 k_means):
    pooled = None if q_means is None else (q_means, k_means)
    index, count = _ops.block_select(q, k, block_m, block_n, mass=mass, threshold=threshold,
                                     min_blocks=min_blocks, max_blocks=max_blocks, pooled=pooled)
    # Valid by construction: the attention takes them without a host check.
    Z, H, NQ, _ = q.shape
    QB, KB = -(-NQ // block_m), -(-k.shape[2] // block_n)
    _ops._checked_lists_put(index, count, Z, H, QB, KB, q.device, (index, count))
    return index, count


def _select_fake(q, k, block_m, block_n, mass, threshold, min_blocks, max_blocks, q_means,
                 k_means):
    Z, H, NQ, _ = q.shape
    QB, KB = -(-NQ // block_m), -(-k.shape[2] // block_n)
    L = KB if max_blocks is None else max_blocks
    return (q.new_empty((Z, H, QB, L), dtype=torch.int32),
            q.new_empty((Z, H, QB), dtype=torch.int32))


def _token_impl(q, block, keep_ratio):
    index, count = _ops.token_select(q, block, keep_ratio)
    Z, H, S, _ = q.shape
    QB = -(-S // block)
    _ops._checked_lists_put(index, count, Z, H, QB, ("query", block, S), q.device,
                            (index, count))
    return index, count


def _token_fake(q, block, keep_ratio):
    Z, H, S, _ = q.shape
    nb = -(-S // block)
    return (q.new_empty((Z, H, nb, math.ceil(keep_ratio * block)), dtype=torch.int32),
            q.new_empty((Z, H, nb), dtype=torch.int32))


_select = _op("block_select",
              "(Tensor q, Tensor k, int block_m, int block_n, float? mass=None, "
              "float? threshold=None, int min_blocks=1, int? max_blocks=None, "
              "Tensor? q_means=None, Tensor? k_means=None) -> (Tensor, Tensor)",
              _select_impl, _select_fake)
_token = _op("token_select", "(Tensor q, int block, float keep_ratio) -> (Tensor, Tensor)",
             _token_impl, _token_fake)


def block_select(q, k, block_m, block_n, mass=None, threshold=None, min_blocks=1,
                 max_blocks=None, pooled=None):
    """tessera.ops.block_select as an op: (kv_index, kv_count), int32."""
    q_means, k_means = (None, None) if pooled is None else pooled
    return _select(q, k, int(block_m), int(block_n), None if mass is None else float(mass),
                   None if threshold is None else float(threshold), int(min_blocks),
                   None if max_blocks is None else int(max_blocks), q_means, k_means)


def token_select(q, block, keep_ratio):
    """tessera.ops.token_select as an op: (q_index, q_count), int32."""
    return _token(q, int(block), float(keep_ratio))


def bsa_attention(q, k, v, video_shape, cube, p=None, threshold=None, min_blocks=1,
                  max_blocks=None, keep_ratio=1.0, scale=None, return_lists=False):
    """tessera.ops.bsa_attention from the ops above (so a traced graph shows
    the reorderings, the selection and the attention as nodes):
    differentiable in q, k and v; the selection is not differentiated.
    return_lists: also the selected (kv_index, kv_count), over the blocks
    of the cube order."""
    Z, H, S, D = q.shape
    block = math.prod(int(c) for c in cube)

    def to_cubes(x, pool=False):
        y = cube_reorder(x.reshape(Z * H, S, D), video_shape, cube, pool=pool)
        if pool:
            return y[0].reshape(Z, H, S, D), y[1].reshape(Z, H, S // block, D)
        return y.reshape(Z, H, S, D)

    (qc, qm), (kc, km) = to_cubes(q, True), to_cubes(k, True)
    index, count = block_select(qc.detach(), kc.detach(), block, block, mass=p,
                                threshold=threshold, min_blocks=min_blocks,
                                max_blocks=max_blocks, pooled=(qm, km))
    q_index = q_count = None
    if keep_ratio != 1.0:
        q_index, q_count = token_select(qc.detach(), block, keep_ratio)
    out = block_sparse_attention(qc, kc, to_cubes(v), index, count, block_m=block,
                                 block_n=block, scale=scale, q_index=q_index, q_count=q_count)
    out = cube_reorder(out.reshape(Z * H, S, D), video_shape, cube,
                       inverse=True).reshape(Z, H, S, D)
    return (out, (index, count)) if return_lists else out


def contract(spec, *operands, weights=None):
    """An einsum over `operands` evaluated in the order of least estimated
    cost (tessera.ops.contract: FLOPs and bytes, weights-only products
    charged once), as pairwise torch.einsum products: differentiable."""
    return _ops.contract(spec, *operands, weights=weights)


def warmup(fn, *args, **kwargs):
    """Runs `fn` once (compiling, tuning and checking block lists as needed)
    and synchronizes, so that a CUDA graph capture of the same call finds
    everything made. Returns fn's result."""
    result = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result


def compile_backend(gm, example_inputs, inner="inductor"):
    """A torch.compile backend (torch 2):

        model = torch.compile(model, backend=tessera.torch.compile_backend)

    The graph Dynamo captures gets its attention and einsum chains replaced
    by Tessera ops (tessera.fx.optimize), and the rest is compiled by
    `inner` ("inductor", or "eager" to run the graph as it is)."""
    from .fx import optimize as _optimize
    gm = _optimize(gm)
    if inner == "eager":
        return gm.forward
    from torch._inductor.compile_fx import compile_fx
    return compile_fx(gm, example_inputs)


def optimize(model, *args, **kwargs):
    """An FX GraphModule of `model` with its attention (scaled dot-product
    attention, and the softmax(q k^T * scale) v pattern) and its einsum
    chains replaced by Tessera ops (tessera.fx.optimize)."""
    from .fx import optimize as _optimize
    return _optimize(model, *args, **kwargs)
