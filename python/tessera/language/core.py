"""The functions of ``tessera.language`` (imported as ``tl``), with the names,
arguments and meaning of their ``triton.language`` counterparts."""

from __future__ import annotations

import builtins as _py

from . import dtypes as T
from . import semantic as S
from .semantic import SemanticError, _unwrap, tensor

BUILTINS = set()


def builtin(fn):
    """Marks a function the code generator calls directly inside kernels."""
    BUILTINS.add(fn)
    return fn


# -- grid ---------------------------------------------------------------------

@builtin
def program_id(axis):
    return S.program_id(axis)


@builtin
def num_programs(axis):
    return S.num_programs(axis)


# -- creation -----------------------------------------------------------------

@builtin
def arange(start, end):
    return S.arange(start, end)


@builtin
def full(shape, value, dtype):
    return S.full(shape, value, dtype)


@builtin
def zeros(shape, dtype):
    return S.full(shape, 0, dtype)


@builtin
def zeros_like(input):
    return S.full(list(input.shape), 0, input.dtype)


@builtin
def full_like(input, value):
    return S.full(list(input.shape), value, input.dtype)


@builtin
def cast(input, dtype, fp_downcast_rounding=None, bitcast=False):
    return S.cast(input, _unwrap(dtype), bitcast=_unwrap(bitcast))


# -- shapes ---------------------------------------------------------------------

@builtin
def broadcast_to(input, *shape):
    if len(shape) == 1 and isinstance(_unwrap(shape[0]), (list, tuple)):
        shape = _unwrap(shape[0])
    return S.broadcast_to(input, shape)


@builtin
def broadcast(input, other):
    return tuple(S.broadcast_values(input, other))


@builtin
def expand_dims(input, axis):
    return S.expand_dims(input, axis)


@builtin
def reshape(input, *shape, can_reorder=False):
    if len(shape) == 1 and isinstance(_unwrap(shape[0]), (list, tuple)):
        shape = _unwrap(shape[0])
    return S.reshape(input, shape, can_reorder=_unwrap(can_reorder))


@builtin
def view(input, *shape):
    if len(shape) == 1 and isinstance(_unwrap(shape[0]), (list, tuple)):
        shape = _unwrap(shape[0])
    return S.reshape(input, shape, can_reorder=True)


@builtin
def ravel(input):
    return S.reshape(input, [S.to_tensor(input).numel], can_reorder=True)


@builtin
def permute(input, *dims):
    if len(dims) == 1 and isinstance(_unwrap(dims[0]), (list, tuple)):
        dims = _unwrap(dims[0])
    return S.permute(input, dims)


@builtin
def trans(input, *dims):
    if len(dims) == 1 and isinstance(_unwrap(dims[0]), (list, tuple)):
        dims = _unwrap(dims[0])
    x = S.to_tensor(input)
    if not dims:
        dims = list(reversed(_py.range(len(x.shape))))
    return S.permute(x, dims)


def _pair_index(shape):
    """arange(0, 2) along a new last axis of `shape`, broadcast to it + [2]."""
    idx = S.arange(0, 2)
    for _ in _py.range(len(shape)):
        idx = S.expand_dims_one(idx, 0)
    return S.broadcast_to(idx, list(shape) + [2])


@builtin
def join(a, b):
    """a and b (same shape after broadcasting) side by side along a new last
    dimension of size 2: out[..., 0] = a, out[..., 1] = b."""
    a, b = S.to_tensor(a), S.to_tensor(b)
    a, b = S.binary_operands(a, b) if a.dtype != b.dtype else (a, b)
    a, b = S.broadcast_values(a, b)
    shape = list(a.shape)
    wide = shape + [2]
    pick = S.compare("eq", _pair_index(shape), 0)
    return S.where(pick, S.broadcast_to(S.expand_dims_one(a, len(shape)) if shape
                                        else S.splat(a, [1]), wide),
                   S.broadcast_to(S.expand_dims_one(b, len(shape)) if shape
                                  else S.splat(b, [1]), wide))


@builtin
def split(a):
    """The inverse of join: a tensor whose last dimension has size 2, as the
    two tensors a[..., 0] and a[..., 1] (bit for bit)."""
    a = S.to_tensor(a)
    if not a.shape or a.shape[-1] != 2:
        raise SemanticError(f"tl.split: the last dimension must have size 2, got {a.type}")
    dt = a.dtype
    bits = {8: T.int8, 16: T.int16, 32: T.int32, 64: T.int64}
    if dt.is_floating():
        a = S.cast(a, bits[dt.primitive_bitwidth], bitcast=True)
    elif dt.is_bool():
        a = S.cast(a, T.int8)
    pick = S.compare("eq", _pair_index(a.shape[:-1]), 0)
    zero = S.to_tensor(0, a.dtype)
    axis = len(a.shape) - 1
    # One element of each pair is zero: the sum is the other, exactly.
    halves = [S.reduce(S.where(p, a, zero), axis, lambda x, y: S.add(x[0], y[0]), False)
              for p in (pick, S.logical_not(pick))]
    if dt.is_floating():
        halves = [S.cast(h, dt, bitcast=True) for h in halves]
    elif dt.is_bool():
        halves = [S.cast(h, T.int1) for h in halves]
    elif halves[0].dtype != dt:
        halves = [S.cast(h, dt) for h in halves]
    return tuple(halves)


@builtin
def interleave(a, b):
    """a and b interleaved along their last dimension: a0 b0 a1 b1 ..."""
    j = join(a, b)
    shape = list(j.shape[:-2]) + [j.shape[-2] * 2]
    return S.reshape(j, shape)


@builtin
def cat(input, other, can_reorder=False):
    """input then other along dimension 0 (Triton requires can_reorder=True
    and may reorder; here the order is kept)."""
    j = join(input, other)  # [..., 2]
    rank = len(j.shape)
    j = S.permute(j, [rank - 1] + list(_py.range(rank - 1)))  # [2, n, ...]
    return S.reshape(j, [j.shape[0] * j.shape[1]] + list(j.shape[2:]))


def _flip_last(x):
    """x reversed along its last dimension (a power of two): each bit of
    the index flipped in turn, by swapping the elements that differ in it."""
    step = 1
    while step < x.shape[-1]:
        a, b = _pairs_at(x, step)
        x = _unpair(b, a, x.shape)
        step *= 2
    return x


@builtin
def flip(x, dim=None):
    """x reversed along `dim` (the last by default; its size a power of two),
    exactly (as Triton's)."""
    x = S.to_tensor(x)
    if not x.shape:
        raise SemanticError("tl.flip: needs a tensor, got a scalar")
    rank = len(x.shape)
    dim = rank - 1 if _unwrap(dim) is None else _unwrap(dim)
    dim = dim + rank if dim < 0 else dim
    if not 0 <= dim < rank:
        raise SemanticError(f"tl.flip: dim {dim} is out of range for rank {rank}")
    if x.shape[dim] & (x.shape[dim] - 1):
        raise SemanticError(f"tl.flip: the flipped dimension must be a power of two, "
                            f"got {x.shape[dim]}")
    if x.shape[dim] == 1:
        return x
    order = [d for d in _py.range(rank) if d != dim] + [dim]
    back = [order.index(d) for d in _py.range(rank)]
    return S.permute(_flip_last(S.permute(x, order)), back)


def _pairs_at(x, j):
    """x's last dimension n viewed as [n / 2j, 2, j] and split on the 2: the
    elements whose index has bit j clear, and their partners (bit j set)."""
    lead, n = list(x.shape[:-1]), x.shape[-1]
    y = S.reshape(x, lead + [n // (2 * j), 2, j])
    r = len(y.shape)
    return split(S.permute(y, list(_py.range(r - 2)) + [r - 1, r - 2]))


def _unpair(a, b, shape):
    """The inverse of _pairs_at: the pairs back in a tensor of `shape`."""
    y = join(a, b)
    r = len(y.shape)
    y = S.permute(y, list(_py.range(r - 2)) + [r - 1, r - 2])
    return S.reshape(y, list(shape))


@builtin
def sort(x, dim=None, descending=False):
    """x sorted along its last dimension (a power of two; `dim`, when given,
    must name it), ascending or descending: a bitonic sorting network of
    compare-and-swap steps, exact for every dtype (NaNs end up wherever
    the comparisons leave them)."""
    x = S.to_tensor(x)
    if not x.shape:
        raise SemanticError("tl.sort: needs a tensor, got a scalar")
    rank, n = len(x.shape), x.shape[-1]
    dim = rank - 1 if _unwrap(dim) is None else _unwrap(dim)
    if dim not in (rank - 1, -1):
        raise SemanticError(f"tl.sort: sorts along the last dimension only, got dim {dim}")
    if n & (n - 1):
        raise SemanticError(f"tl.sort: the sorted dimension must be a power of two, got {n}")
    descending = bool(_unwrap(descending))
    index = S.broadcast_to(S.arange(0, n), list(x.shape)) if rank == 1 else \
        S.broadcast_to(S.reshape(S.arange(0, n), [1] * (rank - 1) + [n]), list(x.shape))
    k = 2
    while k <= n:
        j = k // 2
        while j >= 1:
            a, b = _pairs_at(x, j)
            ia, _ = _pairs_at(index, j)
            # Runs of k alternate direction (bit k of the index); the last
            # merge (k = n) goes the asked way.
            down = S.compare("ne", S.bitwise("and", ia, k), 0)
            if descending:
                down = S.logical_not(down)
            swap = S.bitwise("xor", S.compare("gt", a, b), down)
            x = _unpair(S.where(swap, b, a), S.where(swap, a, b), x.shape)
            j //= 2
        k *= 2
    return x


@builtin
def gather(src, index, axis):
    """out[..., i, ...] = src[..., index[..., i, ...], ...] along `axis`:
    index has src's rank and, off `axis`, its sizes; out has index's shape.
    Exact (a one-hot selection); indices outside src read zero."""
    src, index = S.to_tensor(src), S.to_tensor(index)
    axis = _unwrap(axis)
    rank = len(src.shape)
    if not rank or len(index.shape) != rank or not index.dtype.is_int():
        raise SemanticError(f"tl.gather: needs an integer index of src's rank, got {index.type} "
                            f"for {src.type}")
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise SemanticError(f"tl.gather: axis {axis} is out of range for rank {rank}")
    for d in _py.range(rank):
        if d != axis and index.shape[d] != src.shape[d]:
            raise SemanticError(f"tl.gather: index {list(index.shape)} and src "
                                f"{list(src.shape)} differ off axis {axis}")
    order = [d for d in _py.range(rank) if d != axis] + [axis]
    back = [order.index(d) for d in _py.range(rank)]
    s, i = S.permute(src, order), S.permute(index, order)  # [..., N], [..., M]
    n = s.shape[-1]
    dt = s.dtype
    bits = {8: T.int8, 16: T.int16, 32: T.int32, 64: T.int64}
    if dt.is_floating():
        s = S.cast(s, bits[dt.primitive_bitwidth], bitcast=True)
    elif dt.is_bool():
        s = S.cast(s, T.int8)
    wide = list(i.shape) + [n]  # [..., M, N]
    cols = S.broadcast_to(S.reshape(S.arange(0, n), [1] * len(i.shape) + [n]), wide)
    hit = S.compare("eq", S.broadcast_to(S.expand_dims_one(S.cast(i, T.int32), len(i.shape)),
                                         wide), cols)
    vals = S.broadcast_to(S.expand_dims_one(s, len(s.shape) - 1), wide)
    picked = S.where(hit, vals, S.to_tensor(0, s.dtype))
    out = S.reduce(picked, len(wide) - 1, lambda x, y: S.add(x[0], y[0]), False)  # one nonzero
    if out.dtype != s.dtype:
        out = S.cast(out, s.dtype)
    if dt.is_floating():
        out = S.cast(out, dt, bitcast=True)
    elif dt.is_bool():
        out = S.cast(out, T.int1)
    return S.permute(out, back)


@builtin
def topk(x, k, dim=None):
    """The k largest elements along the last dimension (a power of two),
    largest first (k a power of two up to it): the sorted tensor's first k."""
    x = S.to_tensor(x)
    k = _unwrap(k)
    if not x.shape:
        raise SemanticError("tl.topk: needs a tensor, got a scalar")
    n = x.shape[-1]
    if not isinstance(k, int) or k < 1 or k > n or k & (k - 1):
        raise SemanticError(f"tl.topk: k must be a power of two from 1 to {n}, got {k!r}")
    y = sort(x, dim, descending=True)
    if k == n:
        return y
    # The first k: rows of n as [n / k, k] turned to [k, n / k], then the
    # first element along the last dimension.
    lead = list(y.shape[:-1])
    y = S.reshape(y, lead + [n // k, k])
    r = len(y.shape)
    return _first_along_last(S.permute(y, list(_py.range(r - 2)) + [r - 1, r - 2]))


def _first_along_last(y):
    """y[..., 0] of a tensor whose last dimension is a power of two: the
    elements whose index has the top bit clear, until one is left."""
    while y.shape[-1] > 1:
        n = y.shape[-1]
        a, _ = _pairs_at(y, n // 2)  # [..., 1, n / 2]
        y = S.reshape(a, list(y.shape[:-1]) + [n // 2])
    return S.reshape(y, list(y.shape[:-1]))


@builtin
def histogram(input, num_bins):
    """How many elements of the 1-D integer tensor `input` equal each of
    0 .. num_bins - 1 (int32 counts; values outside are not counted)."""
    x = S.to_tensor(input)
    num_bins = _unwrap(num_bins)
    if len(x.shape) != 1 or not x.dtype.is_int():
        raise SemanticError(f"tl.histogram: needs a 1-D integer tensor, got {x.type}")
    bins = S.expand_dims_one(S.arange(0, num_bins), 0)
    hit = S.compare("eq", S.expand_dims_one(S.cast(x, T.int32), 1), bins)
    return sum(S.cast(hit, T.int32), 0)


@builtin
def swizzle2d(i, j, size_i, size_j, size_g):
    """Grouped ordering of a size_i x size_j grid: (i, j) in row-major order
    becomes the (i, j) visited when groups of size_g rows are walked
    column by column (the grouped GEMM tile order)."""
    ij = S.add(S.mul(i, size_j), j)
    size_gj = S.mul(size_g, size_j)
    group = S.floordiv(ij, size_gj)
    off_i = S.mul(group, size_g)
    rows = S.minimum(S.sub(size_i, off_i), size_g)
    ij = S.mod(ij, size_gj)
    return S.add(off_i, S.mod(ij, rows)), S.floordiv(ij, rows)


@builtin
def fdiv(x, y, ieee_rounding=False):
    return S.truediv(x, y)


@builtin
def div_rn(x, y):
    """x / y rounded to nearest (IEEE division)."""
    return S.truediv(x, y)


@builtin
def assume(cond):
    """A hint that `cond` holds (accepted; no effect yet)."""
    return None


# -- memory ---------------------------------------------------------------------

@builtin
def load(pointer, mask=None, other=None, boundary_check=(), padding_option="",
         cache_modifier="", eviction_policy="", volatile=False):
    if isinstance(pointer, S.block_ptr):
        if mask is not None or other is not None:
            raise SemanticError("tl.load: a block pointer takes boundary_check and "
                                "padding_option, not mask and other")
        return S.load_block(pointer, boundary_check, padding_option, cache_modifier,
                            eviction_policy, volatile)
    if _unwrap(boundary_check) or _unwrap(padding_option):
        raise SemanticError("tl.load: boundary_check and padding_option need a block pointer "
                            "(tl.make_block_ptr)")
    return S.load(pointer, mask, other, cache_modifier, eviction_policy, volatile)


@builtin
def store(pointer, value, mask=None, boundary_check=(), cache_modifier="", eviction_policy=""):
    if isinstance(pointer, S.block_ptr):
        if mask is not None:
            raise SemanticError("tl.store: a block pointer takes boundary_check, not mask")
        return S.store_block(pointer, value, boundary_check, cache_modifier, eviction_policy)
    if _unwrap(boundary_check):
        raise SemanticError("tl.store: boundary_check needs a block pointer (tl.make_block_ptr)")
    return S.store(pointer, value, mask, cache_modifier, eviction_policy)


@builtin
def make_block_ptr(base, shape, strides, offsets, block_shape, order):
    return S.make_block_ptr(base, shape, strides, offsets, block_shape, order)


@builtin
def make_tensor_descriptor(base, shape, strides, block_shape):
    return S.make_tensor_descriptor(base, shape, strides, block_shape)


@builtin
def advance(base, offsets):
    return S.advance(base, offsets)


def _atomic(kind):
    def fn(pointer, val, mask=None, sem=None, scope=None):
        return S.atomic_rmw(kind, pointer, val, mask, sem, scope)
    fn.__name__ = f"atomic_{kind}"
    return builtin(fn)


atomic_add = _atomic("add")
atomic_max = _atomic("max")
atomic_min = _atomic("min")
atomic_and = _atomic("and")
atomic_or = _atomic("or")
atomic_xor = _atomic("xor")
atomic_xchg = _atomic("xchg")


@builtin
def atomic_cas(pointer, cmp, val, sem=None, scope=None):
    return S.atomic_cas(pointer, cmp, val, sem, scope)


# -- math -------------------------------------------------------------------------

@builtin
def where(condition, x, y):
    return S.where(condition, x, y)


def _math1(name, mlir_name=None):
    def fn(x):
        return S.math_unary(mlir_name or name, x)
    fn.__name__ = name
    return builtin(fn)


exp = _math1("exp")
exp2 = _math1("exp2")
log = _math1("log")
log2 = _math1("log2")
sqrt = _math1("sqrt")
rsqrt = _math1("rsqrt")
sin = _math1("sin")
cos = _math1("cos")
erf = _math1("erf")
floor = _math1("floor")
ceil = _math1("ceil")


@builtin
def sqrt_rn(x):
    return S.math_unary("sqrt", x)


@builtin
def abs(x):
    return S.abs_(x)


class PropagateNan:
    """`propagate_nan` of tl.maximum / minimum / clamp: NONE (a NaN loses to
    a number, the default) or ALL (a NaN operand gives NaN)."""
    NONE = 0
    ALL = 0xFFFF


def _propagates(flag):
    flag = _unwrap(flag)
    if flag in (None, PropagateNan.NONE, False):
        return False
    if flag in (PropagateNan.ALL, True):
        return True
    raise SemanticError(f"propagate_nan must be tl.PropagateNan.NONE or ALL, got {flag!r}")


@builtin
def maximum(x, y, propagate_nan=None):
    return S.maximum(x, y, _propagates(propagate_nan))


@builtin
def minimum(x, y, propagate_nan=None):
    return S.minimum(x, y, _propagates(propagate_nan))


@builtin
def clamp(x, min, max, propagate_nan=None):
    nan = _propagates(propagate_nan)
    return S.minimum(S.maximum(x, min, nan), max, nan)


@builtin
def fma(x, y, z):
    return S.fma(x, y, z)


@builtin
def sigmoid(x):
    x = S.to_tensor(x)
    return S.truediv(1.0, S.add(1.0, S.math_unary("exp", S.minus(x))))


@builtin
def softmax(x, ieee_rounding=False):
    z = S.sub(x, max(x, 0))
    num = S.math_unary("exp", z)
    return S.truediv(num, sum(num, 0))


@builtin
def cdiv(x, div):
    if not isinstance(x, tensor) and not isinstance(div, tensor):
        x, div = _unwrap(x), _unwrap(div)
        return (x + div - 1) // div
    return S.floordiv(S.sub(S.add(x, div), 1), div)


@builtin
def dot(input, other, acc=None, input_precision=None, allow_tf32=None,
        max_num_imprecise_acc=None, out_dtype=T.float32):
    if input_precision is None and allow_tf32 is not None:
        input_precision = "tf32" if _unwrap(allow_tf32) else "ieee"
    return S.dot(input, other, acc, input_precision, max_num_imprecise_acc, out_dtype)


# -- reductions and scans -----------------------------------------------------------

def _call_combine(combine_fn):
    """A combine function for semantic.reduce/scan from a @jit function."""
    def combine(acc, nxt):
        call = S._state.get("call_jit")
        if call is None:
            raise SemanticError("combine functions can only be called inside a kernel")
        return call(combine_fn, list(acc) + list(nxt))
    return combine


def _sum_dtype(ty):
    if ty.is_int_signed() and ty.int_bitwidth < 32:
        return T.int32
    if ty.is_int_unsigned() and ty.int_bitwidth < 32:
        return T.uint32
    return None


@builtin
def reduce(input, axis, combine_fn, keep_dims=False):
    return S.reduce(input if isinstance(input, tensor) else tuple(input), axis,
                    _call_combine(combine_fn), _unwrap(keep_dims))


@builtin
def sum(input, axis=None, keep_dims=False, dtype=None):
    x = S.to_tensor(input)
    out = _unwrap(dtype) or _sum_dtype(x.dtype)
    if out is not None:
        x = S.cast(x, out)
    return S.reduce(x, axis, lambda a, b: S.add(a[0], b[0]), _unwrap(keep_dims))


def _max_combine(a, b):
    return S.maximum(a[0], b[0])


def _min_combine(a, b):
    return S.minimum(a[0], b[0])


def _arg_combine(greater):
    def combine(acc, nxt):
        (v1, i1), (v2, i2) = acc, nxt
        better = S.compare("gt" if greater else "lt", v1, v2)
        tie = S.logical("and", S.compare("eq", v1, v2), S.compare("lt", i1, i2))
        pick = S.logical("or", better, tie)
        return S.where(pick, v1, v2), S.where(pick, i1, i2)
    return combine


def _with_indices(x, axis, greater, keep_dims):
    x = S.to_tensor(x)
    axis = _unwrap(axis)
    if axis is None:
        x = S.reshape(x, [x.numel])
        axis = 0
    if axis < 0:
        axis += len(x.shape)
    idx = S.arange(0, x.shape[axis])
    shape = [1] * len(x.shape)
    shape[axis] = x.shape[axis]
    idx = S.broadcast_to(S.reshape(idx, shape), x.shape)
    return S.reduce((x, idx), axis, _arg_combine(greater), keep_dims)


@builtin
def max(input, axis=None, return_indices=False, return_indices_tie_break_left=True,
        keep_dims=False):
    if _unwrap(return_indices):
        return _with_indices(input, axis, True, _unwrap(keep_dims))
    return S.reduce(S.to_tensor(input), axis, _max_combine, _unwrap(keep_dims))


@builtin
def min(input, axis=None, return_indices=False, return_indices_tie_break_left=True,
        keep_dims=False):
    if _unwrap(return_indices):
        return _with_indices(input, axis, False, _unwrap(keep_dims))
    return S.reduce(S.to_tensor(input), axis, _min_combine, _unwrap(keep_dims))


@builtin
def argmax(input, axis, tie_break_left=True, keep_dims=False):
    return _with_indices(input, axis, True, _unwrap(keep_dims))[1]


@builtin
def argmin(input, axis, tie_break_left=True, keep_dims=False):
    return _with_indices(input, axis, False, _unwrap(keep_dims))[1]


@builtin
def xor_sum(input, axis=None, keep_dims=False):
    return S.reduce(S.to_tensor(input), axis, lambda a, b: S.bitwise("xor", a[0], b[0]),
                    _unwrap(keep_dims))


@builtin
def associative_scan(input, axis, combine_fn, reverse=False):
    return S.scan(input if isinstance(input, tensor) else tuple(input), axis,
                  _call_combine(combine_fn), reverse)


@builtin
def cumsum(input, axis=0, reverse=False, dtype=None):
    x = S.to_tensor(input)
    out = _unwrap(dtype) or _sum_dtype(x.dtype)
    if out is not None:
        x = S.cast(x, out)
    return S.scan(x, axis, lambda a, b: S.add(a[0], b[0]), reverse)


@builtin
def cumprod(input, axis=0, reverse=False):
    return S.scan(S.to_tensor(input), axis, lambda a, b: S.mul(a[0], b[0]), reverse)


# -- compiler hints and debugging -----------------------------------------------------

@builtin
def multiple_of(input, values):
    return input


@builtin
def max_contiguous(input, values):
    return input


@builtin
def max_constancy(input, values):
    return input


@builtin
def debug_barrier():
    return None


@builtin
def static_print(*values, sep=" ", end="\n", file=None, flush=False):
    print(*[_unwrap(v) for v in values], sep=sep, end=end, file=file, flush=flush)


@builtin
def static_assert(cond, msg=""):
    if isinstance(cond, tensor):
        raise SemanticError("static_assert needs a compile-time condition")
    if not _unwrap(cond):
        raise SemanticError(f"static_assert failed: {_unwrap(msg)}")


@builtin
def device_print(prefix, *args, hex=False):
    values = [S.to_tensor(a) for a in args]
    flag = " hex" if _unwrap(hex) else ""
    prefix = str(_unwrap(prefix)).replace("\\", "\\\\").replace('"', '\\"')
    tail = ""
    if values:
        tail = (" " + ", ".join(v.handle for v in values) + " : " +
                ", ".join(v.type.mlir() for v in values))
    S.builder().emit(f'tile.print "{prefix}"{flag}{tail}')


@builtin
def device_assert(cond, msg=""):
    cond = S.to_bool(cond)
    msg = str(_unwrap(msg) or "assertion failed").replace("\\", "\\\\").replace('"', '\\"')
    S.builder().emit(f'tile.assert {cond.handle}, "{msg}" : {cond.type.mlir()}')


class static_range:
    """A loop the compiler unrolls: ``for i in tl.static_range(4)``."""

    def __init__(self, arg1, arg2=None, step=None):
        args = [_unwrap(a) for a in (arg1, arg2, step) if a is not None]
        self.range = _py.range(*args)


class range:  # noqa: A001 - the name of triton.language.range
    """A loop kept as a loop: ``for i in tl.range(0, n, 1, num_stages=3)``."""

    def __init__(self, arg1, arg2=None, step=None, num_stages=None, loop_unroll_factor=None,
                 disallow_acc_multi_buffer=False, flatten=False, warp_specialize=False):
        if arg2 is None:
            arg1, arg2 = 0, arg1
        self.start, self.end, self.step = arg1, arg2, 1 if step is None else step
        self.num_stages = num_stages
        # On the GPU, the compiled loop's body repeated this many times (the
        # last iterations in a loop of their own).
        self.loop_unroll_factor = loop_unroll_factor


TENSOR_METHODS = {
    "sum": sum, "max": max, "min": min, "argmax": argmax, "argmin": argmin,
    "reshape": reshape, "view": view, "trans": trans, "permute": permute,
    "expand_dims": expand_dims, "broadcast_to": broadcast_to, "ravel": ravel,
    "cumsum": cumsum, "cumprod": cumprod, "reduce": reduce, "exp": exp, "exp2": exp2,
    "log": log, "log2": log2, "sqrt": sqrt, "rsqrt": rsqrt, "sin": sin, "cos": cos,
    "abs": abs, "sigmoid": sigmoid, "softmax": softmax, "cast": cast,
    "associative_scan": associative_scan, "xor_sum": xor_sum,
}
