"""The rules of the language: type promotion, broadcasting, casts, and the
tile IR each operation becomes. Mirrors the semantics of ``triton.language``.

Every function takes and returns :class:`tensor` values and emits IR through
the active :class:`~tessera.compiler.builder.FunctionBuilder`.
"""

from __future__ import annotations

import numbers
import threading

from . import dtypes as T
from .dtypes import block_type, dtype


class SemanticError(Exception):
    """A kernel that breaks a rule of the language (reported with its line)."""


class _State(threading.local):
    """The IR builder of the kernel being generated (and the hook for calls
    of jit functions), per thread: threads compile different kernels at
    once (the JIT locks per kernel only)."""

    def __init__(self):
        self.values = {"builder": None}

    def __getitem__(self, key):
        return self.values[key]

    def __setitem__(self, key, value):
        self.values[key] = value

    def get(self, key, default=None):
        return self.values.get(key, default)


_state = _State()


def builder():
    b = _state["builder"]
    if b is None:
        raise SemanticError("tessera.language functions can only be used inside a "
                            "@tessera.jit function")
    return b


def set_builder(b):
    previous = _state["builder"]
    _state["builder"] = b
    return previous


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

class tensor:
    """A value of a kernel: a scalar or a block of scalars or pointers."""

    def __init__(self, handle: str, type: dtype):
        self.handle = handle
        self.type = type
        self.dtype = type.scalar
        self.shape = tuple(type.shape) if type.is_block() else ()

    @property
    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __repr__(self):
        return f"tensor({self.handle}, {self.type})"

    __hash__ = object.__hash__

    def __bool__(self):
        raise SemanticError("a tensor has no Python truth value; use it in an `if` "
                            "of the kernel, or combine conditions with & and |")

    def __iter__(self):
        raise SemanticError("tensors cannot be iterated over")

    # arithmetic
    def __add__(self, o): return add(self, o)
    def __radd__(self, o): return add(o, self)
    def __sub__(self, o): return sub(self, o)
    def __rsub__(self, o): return sub(o, self)
    def __mul__(self, o): return mul(self, o)
    def __rmul__(self, o): return mul(o, self)
    def __truediv__(self, o): return truediv(self, o)
    def __rtruediv__(self, o): return truediv(o, self)
    def __floordiv__(self, o): return floordiv(self, o)
    def __rfloordiv__(self, o): return floordiv(o, self)
    def __mod__(self, o): return mod(self, o)
    def __rmod__(self, o): return mod(o, self)
    def __neg__(self): return minus(self)
    def __pos__(self): return self
    def __invert__(self): return invert(self)
    def __and__(self, o): return bitwise("and", self, o)
    def __rand__(self, o): return bitwise("and", o, self)
    def __or__(self, o): return bitwise("or", self, o)
    def __ror__(self, o): return bitwise("or", o, self)
    def __xor__(self, o): return bitwise("xor", self, o)
    def __rxor__(self, o): return bitwise("xor", o, self)
    def __lshift__(self, o): return shift("shl", self, o)
    def __rlshift__(self, o): return shift("shl", o, self)
    def __rshift__(self, o): return shift("shr", self, o)
    def __rrshift__(self, o): return shift("shr", o, self)
    # comparisons
    def __lt__(self, o): return compare("lt", self, o)
    def __le__(self, o): return compare("le", self, o)
    def __gt__(self, o): return compare("gt", self, o)
    def __ge__(self, o): return compare("ge", self, o)
    def __eq__(self, o): return compare("eq", self, o)
    def __ne__(self, o): return compare("ne", self, o)

    def __getitem__(self, slices):
        return subscript(self, slices)

    @property
    def T(self):
        return permute(self, list(reversed(range(len(self.shape)))))

    def to(self, dtype, fp_downcast_rounding=None, bitcast=False):
        return cast(self, _unwrap(dtype), bitcast=bitcast)

    def __getattr__(self, name):
        # Methods mirroring tl functions: x.sum(0), x.reshape(...), x.exp() ...
        from . import core
        fn = core.TENSOR_METHODS.get(name)
        if fn is None:
            raise AttributeError(f"tensor has no attribute {name!r}")
        import functools
        return functools.partial(fn, self)


class constexpr:
    """A compile-time value; also the annotation of compile-time parameters."""

    def __init__(self, value):
        self.value = value.value if isinstance(value, constexpr) else value

    def __repr__(self):
        return f"constexpr[{self.value!r}]"

    def __index__(self):
        return self.value

    def __hash__(self):
        return hash(self.value)

    def __eq__(self, other):
        return self.value == _unwrap(other)

    def __bool__(self):
        return bool(self.value)


def _unwrap(v):
    return v.value if isinstance(v, constexpr) else v


def is_tensor(v) -> bool:
    return isinstance(v, tensor)


# ---------------------------------------------------------------------------
# Constants and casts
# ---------------------------------------------------------------------------

def _int_literal(value: int, ty: dtype) -> str:
    bits = ty.int_bitwidth
    value &= (1 << bits) - 1
    if value >= 1 << (bits - 1):  # two's complement, as MLIR prints signless ints
        value -= 1 << bits
    return str(value)


def constant(value, ty: dtype) -> tensor:
    b = builder()
    if ty.is_bool():
        return tensor(b.emit1(f"arith.constant {'true' if value else 'false'}"), ty)
    if ty.is_int():
        if not isinstance(value, numbers.Integral):
            raise SemanticError(f"{value!r} is not an integer constant for {ty}")
        return tensor(b.emit1(f"arith.constant {_int_literal(int(value), ty)} : {ty.mlir()}"), ty)
    if ty.is_floating():
        bits = ty.to_bits(float(value))
        width = ty.primitive_bitwidth // 4
        return tensor(b.emit1(f"arith.constant 0x{bits:0{width}X} : {ty.mlir()}"), ty)
    raise SemanticError(f"cannot make a constant of type {ty}")


def scalar_type_of(value) -> dtype:
    value = _unwrap(value)
    if isinstance(value, bool):
        return T.int1
    if isinstance(value, numbers.Integral):
        if -2**31 <= value < 2**31:
            return T.int32
        if -2**63 <= value < 2**63:
            return T.int64
        if 0 <= value < 2**64:
            return T.uint64
        raise SemanticError(f"integer {value} does not fit in 64 bits")
    if isinstance(value, numbers.Real):
        return T.float32
    raise SemanticError(f"cannot use {value!r} (of type {type(value).__name__}) as a value in a kernel")


def to_tensor(value, ty: dtype | None = None) -> tensor:
    if isinstance(value, tensor):
        return value
    value = _unwrap(value)
    ty = ty or scalar_type_of(value)
    if ty.is_int() and isinstance(value, float):
        raise SemanticError(f"float {value} cannot become {ty}")
    return constant(value, ty)


def splat(x: tensor, shape) -> tensor:
    shape = tuple(shape)
    ty = block_type(x.dtype, shape)
    return tensor(builder().emit1(f"tile.splat {x.handle} : {x.type.mlir()} -> {ty.mlir()}"), ty)


def cast(x, dst: dtype, bitcast: bool = False) -> tensor:
    """Converts the elements of ``x`` to ``dst`` (Triton's ``x.to(dst)``)."""
    x = to_tensor(x)
    dst = _unwrap(dst)
    if not isinstance(dst, dtype):
        raise SemanticError(f"cast target must be a tl dtype, got {dst!r}")
    src = x.dtype
    if src == dst:
        return x
    out_ty = block_type(dst, x.shape) if x.shape else dst
    b = builder()
    st, dt = x.type.mlir(), out_ty.mlir()

    def op(name):
        return tensor(b.emit1(f"{name} {x.handle} : {st} to {dt}"), out_ty)

    if bitcast:
        if src.is_ptr() or dst.is_ptr() or src.primitive_bitwidth != dst.primitive_bitwidth:
            raise SemanticError(f"cannot bitcast {src} to {dst}: bit widths differ")
        if src.mlir() == dst.mlir():
            return tensor(x.handle, out_ty)
        return op("arith.bitcast")
    if src.is_ptr() or dst.is_ptr():
        raise SemanticError(f"casts between pointers and other types ({src} to {dst}) "
                            "are not supported yet")
    # float8 converts to and from float16 and float32 directly (the GPU's
    # cvt instructions); other types go through them.
    if src.is_fp8() and dst not in (T.float16, T.float32):
        return cast(cast(x, T.float16 if not dst.is_fp64() else T.float32), dst)
    if dst.is_fp8() and src not in (T.float16, T.float32):
        return cast(cast(x, T.float32), dst)
    if src.is_floating() and dst.is_floating():
        if src.primitive_bitwidth == dst.primitive_bitwidth:  # fp16 <-> bf16
            return cast(cast(x, T.float32), dst)
        return op("arith.extf" if dst.primitive_bitwidth > src.primitive_bitwidth else "arith.truncf")
    if src.is_int() and dst.is_bool():
        return compare("ne", x, 0)
    if src.is_floating() and dst.is_bool():
        return compare("ne", x, 0.0)
    if src.is_int() and dst.is_int():
        if src.int_bitwidth == dst.int_bitwidth:
            return tensor(x.handle, out_ty)  # signedness only
        if dst.int_bitwidth < src.int_bitwidth:
            return op("arith.trunci")
        return op("arith.extsi" if src.is_int_signed() else "arith.extui")
    if src.is_int() and dst.is_floating():
        return op("arith.sitofp" if src.is_int_signed() else "arith.uitofp")
    if src.is_floating() and dst.is_int():
        return op("arith.fptosi" if dst.is_int_signed() else "arith.fptoui")
    raise SemanticError(f"cannot cast {src} to {dst}")


# ---------------------------------------------------------------------------
# Broadcasting and type promotion
# ---------------------------------------------------------------------------

def expand_dims_one(x: tensor, axis: int) -> tensor:
    shape = list(x.shape)
    if not shape:
        return splat(x, [1])
    shape.insert(axis, 1)
    ty = block_type(x.dtype, shape)
    return tensor(builder().emit1(
        f"tile.expand_dims {x.handle}, axis = {axis} : {x.type.mlir()} -> {ty.mlir()}"), ty)


def broadcast_to(x, shape) -> tensor:
    x = to_tensor(x)
    shape = tuple(int(_unwrap(s)) for s in shape)
    if x.shape == shape:
        return x
    if not x.shape:
        return splat(x, shape)
    if len(x.shape) > len(shape):
        raise SemanticError(f"cannot broadcast shape {list(x.shape)} to {list(shape)}")
    while len(x.shape) < len(shape):
        x = expand_dims_one(x, 0)
    for s, d in zip(x.shape, shape):
        if s != 1 and s != d:
            raise SemanticError(f"cannot broadcast shape {list(x.shape)} to {list(shape)}")
    ty = block_type(x.dtype, shape)
    return tensor(builder().emit1(
        f"tile.broadcast {x.handle} : {x.type.mlir()} -> {ty.mlir()}"), ty)


def broadcast_shapes(*shapes):
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise SemanticError("incompatible shapes for broadcasting: " +
                                " and ".join(str(list(s)) for s in shapes))
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def broadcast_values(*values):
    values = [to_tensor(v) for v in values]
    shapes = [v.shape for v in values if v.shape]
    if not shapes:
        return values
    shape = broadcast_shapes(*shapes)
    return [broadcast_to(v, shape) for v in values]


def _integer_promote(a: dtype, b: dtype) -> dtype:
    ra, rb = a.int_bitwidth, b.int_bitwidth
    if a.is_int_signed() == b.is_int_signed():
        return a if ra > rb else b
    if a.is_int_unsigned():
        return a if ra >= rb else b
    return b if rb >= ra else a


def computation_type(a: dtype, a_is_scalar: bool, b: dtype, b_is_scalar: bool,
                     div_or_mod: bool) -> dtype:
    """Triton's promotion rules (PyTorch-like for Python scalars)."""
    if a_is_scalar != b_is_scalar:
        scalar_ty, tensor_ty = (a, b) if a_is_scalar else (b, a)
        if scalar_ty.kind() <= tensor_ty.kind():
            if div_or_mod and tensor_ty in (T.float16, T.bfloat16):
                return T.float32
            return tensor_ty
    if a.is_fp8() or b.is_fp8():
        raise SemanticError(f"arithmetic on {a if a.is_fp8() else b} values is not supported; "
                            "convert them first, e.g. x.to(tl.float16)")
    if a.is_fp64() or b.is_fp64():
        return T.float64
    if a.is_fp32() or b.is_fp32():
        return T.float32
    if a.is_fp16() or b.is_fp16():
        return T.float32 if div_or_mod else T.float16
    if a.is_bf16() or b.is_bf16():
        if div_or_mod:
            return T.float32
        return T.bfloat16 if a.is_bf16() and b.is_bf16() else T.float32
    if not a.is_int() or not b.is_int():
        raise SemanticError(f"unexpected operand types {a} and {b}")
    if div_or_mod and a.is_int_signed() != b.is_int_signed():
        raise SemanticError(f"cannot use /, // or % with {a} and {b}: they differ in "
                            "signedness; cast one of them first")
    return _integer_promote(a, b)


def binary_operands(lhs, rhs, allow_lhs_ptr=False, allow_rhs_ptr=False,
                    arithmetic=True, div_or_mod=False):
    lhs_scalar = not isinstance(lhs, tensor)
    rhs_scalar = not isinstance(rhs, tensor)
    lhs_value, rhs_value = _unwrap(lhs), _unwrap(rhs)
    lt = scalar_type_of(lhs_value) if lhs_scalar else lhs.dtype
    rt = scalar_type_of(rhs_value) if rhs_scalar else rhs.dtype
    if lt.is_ptr() and not allow_lhs_ptr:
        raise SemanticError(f"unsupported operand type {lt} on the left")
    if rt.is_ptr() and not allow_rhs_ptr:
        raise SemanticError(f"unsupported operand type {rt} on the right")
    if arithmetic and not lt.is_ptr() and not rt.is_ptr():
        ty = computation_type(lt, lhs_scalar, rt, rhs_scalar, div_or_mod)
        if lhs_scalar and ty.is_int_unsigned() and lhs_value < 0:
            raise SemanticError(f"cannot use the negative scalar {lhs_value} with {ty}")
        if rhs_scalar and ty.is_int_unsigned() and rhs_value < 0:
            raise SemanticError(f"cannot use the negative scalar {rhs_value} with {ty}")
        lhs = to_tensor(lhs_value, ty) if lhs_scalar else cast(lhs, ty)
        rhs = to_tensor(rhs_value, ty) if rhs_scalar else cast(rhs, ty)
    else:
        lhs, rhs = to_tensor(lhs), to_tensor(rhs)
    return broadcast_values(lhs, rhs)


def _emit_binary(op: str, a: tensor, b: tensor, out_ty: dtype | None = None) -> tensor:
    out_ty = out_ty or a.type
    return tensor(builder().emit1(f"{op} {a.handle}, {b.handle} : {a.type.mlir()}"), out_ty)


def _emit_unary(op: str, a: tensor) -> tensor:
    return tensor(builder().emit1(f"{op} {a.handle} : {a.type.mlir()}"), a.type)


# ---------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------

def _offset_pointer(ptr: tensor, offset: tensor) -> tensor:
    if not offset.dtype.is_int():
        raise SemanticError(f"pointers can only be offset by integers, not {offset.dtype}")
    ptr, offset = broadcast_values(ptr, offset)
    return tensor(builder().emit1(
        f"tile.addptr {ptr.handle}, {offset.handle} : {ptr.type.mlir()}, {offset.type.mlir()}"),
        ptr.type)


def add(a, b) -> tensor:
    a, b = binary_operands(a, b, allow_lhs_ptr=True, allow_rhs_ptr=True)
    if a.dtype.is_ptr() and b.dtype.is_ptr():
        raise SemanticError("cannot add two pointers")
    if b.dtype.is_ptr():
        a, b = b, a
    if a.dtype.is_ptr():
        return _offset_pointer(a, b)
    return _emit_binary("arith.addf" if a.dtype.is_floating() else "arith.addi", a, b)


def sub(a, b) -> tensor:
    a, b = binary_operands(a, b, allow_lhs_ptr=True)
    if a.dtype.is_ptr():
        return _offset_pointer(a, minus(b))
    return _emit_binary("arith.subf" if a.dtype.is_floating() else "arith.subi", a, b)


def mul(a, b) -> tensor:
    a, b = binary_operands(a, b)
    return _emit_binary("arith.mulf" if a.dtype.is_floating() else "arith.muli", a, b)


def truediv(a, b) -> tensor:
    a, b = binary_operands(a, b, arithmetic=False)
    if a.dtype.is_int() and b.dtype.is_int():
        a, b = cast(a, T.float32), cast(b, T.float32)
    elif a.dtype.is_int():
        a = cast(a, b.dtype)
    elif b.dtype.is_int():
        b = cast(b, a.dtype)
    elif a.dtype.primitive_bitwidth > b.dtype.primitive_bitwidth:
        b = cast(b, a.dtype)
    elif b.dtype.primitive_bitwidth > a.dtype.primitive_bitwidth:
        a = cast(a, b.dtype)
    elif a.dtype != b.dtype:
        a, b = cast(a, T.float32), cast(b, T.float32)
    return _emit_binary("arith.divf", a, b)


def floordiv(a, b) -> tensor:
    a, b = binary_operands(a, b, div_or_mod=True)
    if not a.dtype.is_int():
        raise SemanticError(f"// needs integers, got {a.dtype}")
    return _emit_binary("arith.divsi" if a.dtype.is_int_signed() else "arith.divui", a, b)


def mod(a, b) -> tensor:
    a, b = binary_operands(a, b, div_or_mod=True)
    if a.dtype.is_floating():
        return _emit_binary("arith.remf", a, b)
    return _emit_binary("arith.remsi" if a.dtype.is_int_signed() else "arith.remui", a, b)


def minus(a) -> tensor:
    a = to_tensor(a)
    if a.dtype.is_ptr():
        raise SemanticError("cannot negate a pointer")
    if a.dtype.is_floating():
        return _emit_unary("arith.negf", a)
    return sub(broadcast_to(constant(0, a.dtype), a.shape) if a.shape else constant(0, a.dtype), a)


def invert(a) -> tensor:
    a = to_tensor(a)
    if not a.dtype.is_int():
        raise SemanticError(f"~ needs an integer or boolean, got {a.dtype}")
    ones = constant(-1 if not a.dtype.is_bool() else 1, a.dtype)
    return bitwise("xor", a, broadcast_to(ones, a.shape) if a.shape else ones)


def bitwise(op: str, a, b) -> tensor:
    a, b = binary_operands(a, b)
    if not a.dtype.is_int():
        raise SemanticError(f"bitwise '{op}' needs integers or booleans, got {a.dtype}")
    return _emit_binary(f"arith.{op}i", a, b)


def shift(op: str, a, b) -> tensor:
    a, b = binary_operands(a, b)
    if not a.dtype.is_int():
        raise SemanticError(f"shifts need integers, got {a.dtype}")
    if op == "shr":
        op = "shrsi" if a.dtype.is_int_signed() else "shrui"
    else:
        op = "shli"
    return _emit_binary(f"arith.{op}", a, b)


_FLOAT_PREDICATES = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}


def compare(op: str, a, b) -> tensor:
    a, b = binary_operands(a, b, allow_lhs_ptr=True, allow_rhs_ptr=True)
    if a.dtype.is_ptr() or b.dtype.is_ptr():
        raise SemanticError("comparisons of pointers are not supported yet")
    out = block_type(T.int1, a.shape) if a.shape else T.int1
    if a.dtype.is_floating():
        pred = _FLOAT_PREDICATES[op]
        text = f"arith.cmpf {pred}, {a.handle}, {b.handle} : {a.type.mlir()}"
    else:
        if op in ("eq", "ne"):
            pred = op
        else:
            pred = ("s" if a.dtype.is_int_signed() else "u") + op
        text = f"arith.cmpi {pred}, {a.handle}, {b.handle} : {a.type.mlir()}"
    return tensor(builder().emit1(text), out)


def to_bool(x) -> tensor:
    x = to_tensor(x)
    return x if x.dtype.is_bool() else cast(x, T.int1)


def logical(op: str, a, b) -> tensor:
    return bitwise(op, to_bool(a), to_bool(b))


def logical_not(a) -> tensor:
    return invert(to_bool(a))


def where(cond, x, y) -> tensor:
    cond = to_bool(cond)
    x, y = binary_operands(x, y, allow_lhs_ptr=True, allow_rhs_ptr=True)
    if x.dtype != y.dtype:
        raise SemanticError(f"where: both values must have one type, got {x.dtype} and {y.dtype}")
    cond, x, y = broadcast_values(cond, x, y)
    if cond.shape:
        text = f"arith.select {cond.handle}, {x.handle}, {y.handle} : {cond.type.mlir()}, {x.type.mlir()}"
    else:
        text = f"arith.select {cond.handle}, {x.handle}, {y.handle} : {x.type.mlir()}"
    return tensor(builder().emit1(text), x.type)


def _float_check(name: str, x: tensor, allowed=("fp32", "fp64")):
    if x.dtype.name not in allowed:
        raise SemanticError(f"{name}: expected dtype {list(allowed)} but got {x.dtype}")


def math_unary(name: str, x, allowed=("fp32", "fp64")) -> tensor:
    x = to_tensor(x)
    _float_check(name, x, allowed)
    return _emit_unary(f"math.{name}", x)


def math_binary(name: str, x, y, allowed=("fp32", "fp64")) -> tensor:
    x, y = binary_operands(x, y)
    _float_check(name, x, allowed)
    return _emit_binary(f"math.{name}", x, y)


def abs_(x) -> tensor:
    x = to_tensor(x)
    if x.dtype.is_floating():
        return _emit_unary("math.absf", x)
    if x.dtype.is_int_signed():
        return _emit_unary("math.absi", x)
    return x


def maximum(a, b, propagate_nan: bool = False) -> tensor:
    """The larger of a and b; floats: a NaN loses to a number unless
    propagate_nan (then either NaN gives NaN)."""
    a, b = binary_operands(a, b)
    if a.dtype.is_floating():
        return _emit_binary("arith.maximumf" if propagate_nan else "arith.maxnumf", a, b)
    return _emit_binary("arith.maxsi" if a.dtype.is_int_signed() else "arith.maxui", a, b)


def minimum(a, b, propagate_nan: bool = False) -> tensor:
    a, b = binary_operands(a, b)
    if a.dtype.is_floating():
        return _emit_binary("arith.minimumf" if propagate_nan else "arith.minnumf", a, b)
    return _emit_binary("arith.minsi" if a.dtype.is_int_signed() else "arith.minui", a, b)


def fma(a, b, c) -> tensor:
    a, b = binary_operands(a, b)
    a, c = binary_operands(a, c)
    a, b, c = broadcast_values(a, b, c)
    if not a.dtype.is_floating():
        raise SemanticError(f"fma needs floats, got {a.dtype}")
    return tensor(builder().emit1(
        f"math.fma {a.handle}, {b.handle}, {c.handle} : {a.type.mlir()}"), a.type)


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------

def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def validate_shape(shape):
    numel = 1
    for s in shape:
        if not isinstance(s, numbers.Integral):
            raise SemanticError(f"shape {list(shape)} must hold compile-time integers "
                                "(tl.constexpr)")
        if not _is_pow2(int(s)):
            raise SemanticError(f"shape {list(shape)}: every dimension must be a power of 2")
        numel *= int(s)
    if numel > 2**20:
        raise SemanticError(f"shape {list(shape)} has {numel} elements, more than 2**20")


def arange(start, end) -> tensor:
    start, end = _unwrap(start), _unwrap(end)
    if not isinstance(start, numbers.Integral) or not isinstance(end, numbers.Integral):
        raise SemanticError("arange's arguments must be compile-time integers (tl.constexpr)")
    if end <= start:
        raise SemanticError(f"arange({start}, {end}): end must be greater than start")
    if start < 0:
        raise SemanticError(f"arange({start}, {end}): start must not be negative")
    n = end - start
    if not _is_pow2(n):
        raise SemanticError(f"arange's range must be a power of 2, got {n}")
    ty = block_type(T.int32, [n])
    return tensor(builder().emit1(f"tile.make_range {start} to {end} : {ty.mlir()}"), ty)


def full(shape, value, ty: dtype) -> tensor:
    shape = [_unwrap(s) for s in (shape if isinstance(shape, (list, tuple)) else [shape])]
    validate_shape(shape)
    ty = _unwrap(ty)
    scalar = to_tensor(_unwrap(value), ty) if not isinstance(value, tensor) else cast(value, ty)
    return splat(scalar, shape) if shape else scalar


def expand_dims(x, axis) -> tensor:
    x = to_tensor(x)
    axes = [_unwrap(a) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    rank = len(x.shape) + len(axes)
    axes = sorted(a + rank if a < 0 else a for a in axes)
    for a in axes:
        if not 0 <= a < rank:
            raise SemanticError(f"expand_dims: axis {a} is out of range for rank {rank}")
        x = expand_dims_one(x, a)
    return x


def subscript(x: tensor, slices) -> tensor:
    """``x[:, None]``: ':' keeps a dimension, None inserts one of size 1."""
    if not isinstance(slices, tuple):
        slices = (slices,)
    kept = sum(1 for s in slices if isinstance(_unwrap(s), slice))
    if kept > len(x.shape):
        raise SemanticError(f"too many indices for a tensor of rank {len(x.shape)}")
    out, dim = x, 0
    for s in slices:
        s = _unwrap(s)
        if s is None:
            out = expand_dims_one(out, dim)
        elif not (isinstance(s, slice) and s.start is None and s.stop is None and s.step is None):
            raise SemanticError(f"unsupported tensor index {s!r}: only ':' and None are allowed")
        dim += 1
    return out


def reshape(x, shape, can_reorder=False) -> tensor:
    x = to_tensor(x)
    shape = [int(_unwrap(s)) for s in shape]
    validate_shape(shape)
    numel = 1
    for s in shape:
        numel *= s
    if numel != x.numel:
        raise SemanticError(f"reshape: cannot view {x.numel} elements as {shape}")
    if tuple(shape) == x.shape:
        return x
    if not x.shape:
        return splat(x, shape)
    ty = block_type(x.dtype, shape)
    flag = " allow_reorder" if can_reorder else ""
    return tensor(builder().emit1(
        f"tile.reshape {x.handle}{flag} : {x.type.mlir()} -> {ty.mlir()}"), ty)


def permute(x, dims) -> tensor:
    x = to_tensor(x)
    dims = [int(_unwrap(d)) for d in dims]
    if sorted(dims) != list(range(len(x.shape))):
        raise SemanticError(f"permute: {dims} is not a permutation of the {len(x.shape)} dimensions")
    if dims == list(range(len(x.shape))):
        return x
    ty = block_type(x.dtype, [x.shape[d] for d in dims])
    return tensor(builder().emit1(
        f"tile.trans {x.handle}, order = [{', '.join(map(str, dims))}] : "
        f"{x.type.mlir()} -> {ty.mlir()}"), ty)


# ---------------------------------------------------------------------------
# Grid and memory
# ---------------------------------------------------------------------------

_AXES = {0: "x", 1: "y", 2: "z"}


def program_id(axis) -> tensor:
    axis = _unwrap(axis)
    if axis not in _AXES:
        raise SemanticError(f"program_id axis must be 0, 1 or 2, got {axis!r}")
    return tensor(builder().emit1(f"tile.program_id {_AXES[axis]} : i32"), T.int32)


def num_programs(axis) -> tensor:
    axis = _unwrap(axis)
    if axis not in _AXES:
        raise SemanticError(f"num_programs axis must be 0, 1 or 2, got {axis!r}")
    return tensor(builder().emit1(f"tile.num_programs {_AXES[axis]} : i32"), T.int32)


_LOAD_CACHE = {"": None, ".ca": "ca", ".cg": "cg", ".cs": "cs", ".cv": "cv"}
_STORE_CACHE = {"": None, ".wb": "wb", ".cg": "cg", ".cs": "cs", ".wt": "wt"}
_EVICTION = {"": None, "evict_normal": "evict_normal", "evict_first": "evict_first",
             "evict_last": "evict_last"}


def _memory_hints(cache, eviction, table) -> str:
    cache, eviction = _unwrap(cache) or "", _unwrap(eviction) or ""
    if cache not in table:
        raise SemanticError(f"cache modifier {cache!r} is not one of {sorted(k for k in table if k)}")
    if eviction not in _EVICTION:
        raise SemanticError(f"eviction policy {eviction!r} is not one of "
                            f"{sorted(k for k in _EVICTION if k)}")
    text = ""
    if table[cache]:
        text += f" cache = {table[cache]}"
    if _EVICTION[eviction]:
        text += f" evict = {_EVICTION[eviction]}"
    return text


def _pointer_operand(ptr, what: str) -> tensor:
    ptr = to_tensor(ptr)
    if not ptr.dtype.is_ptr():
        raise SemanticError(f"{what} expects a pointer or a block of pointers, got {ptr.type}")
    return ptr


def load(ptr, mask=None, other=None, cache_modifier="", eviction_policy="",
         volatile=False) -> tensor:
    ptr = _pointer_operand(ptr, "tl.load")
    elem = ptr.dtype.element_ty
    operands = [ptr]
    if mask is not None:
        mask = to_bool(mask)
        ptr, mask = broadcast_values(ptr, mask)
        operands = [ptr, mask]
        if other is not None:
            other = broadcast_to(cast(to_tensor(other, elem) if not isinstance(other, tensor) else other,
                                      elem), ptr.shape)
            operands.append(other)
    elif other is not None:
        raise SemanticError("tl.load: 'other' needs a 'mask'")
    hints = _memory_hints(cache_modifier, eviction_policy, _LOAD_CACHE)
    if _unwrap(volatile):
        hints += " volatile"
    out = block_type(elem, ptr.shape) if ptr.shape else elem
    names = ", ".join(o.handle for o in operands)
    return tensor(builder().emit1(f"tile.load {names}{hints} : {ptr.type.mlir()}"), out)


def store(ptr, value, mask=None, cache_modifier="", eviction_policy=""):
    ptr = _pointer_operand(ptr, "tl.store")
    elem = ptr.dtype.element_ty
    value = to_tensor(value, elem) if not isinstance(value, tensor) else value
    if value.shape and not ptr.shape:
        ptr = broadcast_to(ptr, value.shape)
    if mask is not None:
        mask = to_bool(mask)
        if mask.shape and not ptr.shape:
            ptr = broadcast_to(ptr, mask.shape)
        mask = broadcast_to(mask, ptr.shape)
    value = broadcast_to(cast(value, elem), ptr.shape)
    operands = [ptr, value] + ([mask] if mask is not None else [])
    hints = _memory_hints(cache_modifier, eviction_policy, _STORE_CACHE)
    builder().emit(f"tile.store {', '.join(o.handle for o in operands)}{hints} : {ptr.type.mlir()}")


_SEMANTICS = {None: "acq_rel", "acq_rel": "acq_rel", "acquire": "acquire",
              "release": "release", "relaxed": "relaxed"}
_SCOPES = {None: "gpu", "gpu": "gpu", "cta": "cta", "sys": "sys"}


def atomic_rmw(kind: str, ptr, val, mask=None, sem=None, scope=None) -> tensor:
    ptr = _pointer_operand(ptr, f"tl.atomic_{kind}")
    elem = ptr.dtype.element_ty
    sem, scope = _unwrap(sem), _unwrap(scope)
    if sem not in _SEMANTICS:
        raise SemanticError(f"memory semantic {sem!r} is not one of acq_rel, acquire, release, relaxed")
    if scope not in _SCOPES:
        raise SemanticError(f"scope {scope!r} is not one of gpu, cta, sys")
    val = to_tensor(val, elem) if not isinstance(val, tensor) else val
    shape = broadcast_shapes(*[s for s in (ptr.shape, val.shape) if s]) if (ptr.shape or val.shape) else ()
    if mask is not None:
        mask = to_bool(mask)
        if mask.shape:
            shape = broadcast_shapes(shape, mask.shape) if shape else mask.shape
        mask = broadcast_to(mask, shape) if shape else mask
    ptr = broadcast_to(ptr, shape) if shape else ptr
    val = broadcast_to(cast(val, elem), shape) if shape else cast(val, elem)
    if kind == "add" and elem.is_floating():
        kind = "fadd"
    if kind in ("max", "min") and elem.is_int_unsigned():
        kind = "u" + kind
    operands = [ptr, val] + ([mask] if mask is not None else [])
    out = block_type(elem, shape) if shape else elem
    return tensor(builder().emit1(
        f"tile.atomic_rmw {kind}, {_SEMANTICS[sem]}, {_SCOPES[scope]}, "
        f"{', '.join(o.handle for o in operands)} : {ptr.type.mlir()}"), out)


def atomic_cas(ptr, cmp, val, sem=None, scope=None) -> tensor:
    ptr = _pointer_operand(ptr, "tl.atomic_cas")
    elem = ptr.dtype.element_ty
    sem, scope = _unwrap(sem), _unwrap(scope)
    cmp = cast(to_tensor(cmp, elem) if not isinstance(cmp, tensor) else cmp, elem)
    val = cast(to_tensor(val, elem) if not isinstance(val, tensor) else val, elem)
    ptr, cmp, val = broadcast_values(ptr, cmp, val)
    out = block_type(elem, ptr.shape) if ptr.shape else elem
    return tensor(builder().emit1(
        f"tile.atomic_cas {_SEMANTICS[sem]}, {_SCOPES[scope]}, {ptr.handle}, {cmp.handle}, "
        f"{val.handle} : {ptr.type.mlir()}"), out)


# ---------------------------------------------------------------------------
# dot, reductions, scans
# ---------------------------------------------------------------------------

def dot(a, b, acc=None, input_precision=None, max_num_imprecise_acc=None,
        out_dtype=T.float32) -> tensor:
    a, b = to_tensor(a), to_tensor(b)
    out_dtype = _unwrap(out_dtype)
    if len(a.shape) not in (2, 3) or len(b.shape) != len(a.shape):
        raise SemanticError(f"tl.dot needs two 2-D (or two 3-D) blocks, got shapes "
                            f"{list(a.shape)} and {list(b.shape)}")
    if a.shape[-1] != b.shape[-2]:
        raise SemanticError(f"tl.dot: first input shape {list(a.shape)} and second input "
                            f"shape {list(b.shape)} are not compatible for matmul "
                            f"(second index of first shape ({a.shape[-1]}) must be equal to "
                            f"first index of second shape ({b.shape[-2]}))")
    if len(a.shape) == 3 and a.shape[0] != b.shape[0]:
        raise SemanticError(f"tl.dot: batch dimensions differ: {a.shape[0]} and {b.shape[0]}")
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if min(m, k, n) < 16:
        raise SemanticError(f"tl.dot: all dimensions must be >= 16, got M={m}, K={k}, N={n}")
    if a.dtype.is_int() or b.dtype.is_int():
        if a.dtype != T.int8 or b.dtype != T.int8:
            raise SemanticError(f"tl.dot: integer inputs must both be int8, got {a.dtype} and {b.dtype}")
        ret = T.int32
    else:
        if a.dtype != b.dtype and not (a.dtype.is_fp8() and b.dtype.is_fp8()):
            raise SemanticError(f"tl.dot: both inputs must have the same dtype (or both be "
                                f"float8), got "
                                f"{a.dtype} and {b.dtype}")
        ret = T.float64 if a.dtype.is_fp64() else out_dtype
        if ret == T.float16 and not a.dtype.is_fp16():
            raise SemanticError("tl.dot: out_dtype=float16 needs float16 inputs")
    shape = list(a.shape[:-1]) + [n]
    if acc is None:
        acc = full(shape, 0, ret)
    else:
        acc = to_tensor(acc)
        if acc.dtype != ret or list(acc.shape) != shape:
            raise SemanticError(f"tl.dot: accumulator must be {block_type(ret, shape)}, got {acc.type}")
    precision = _unwrap(input_precision)
    if precision is None:
        precision = "tf32" if a.dtype.is_fp32() else "ieee"
    if precision not in ("tf32", "tf32x3", "ieee"):
        raise SemanticError(f"tl.dot: input_precision {precision!r} is not one of tf32, tf32x3, ieee")
    if not a.dtype.is_fp32():
        precision = "ieee"
    prec = "" if precision == "ieee" else f", precision = {precision}"
    out_ty = block_type(ret, shape)
    return tensor(builder().emit1(
        f"tile.dot {a.handle}, {b.handle}, {acc.handle}{prec} : {a.type.mlir()} * "
        f"{b.type.mlir()} -> {out_ty.mlir()}"), out_ty)


def _combine_region(b, elem_types, combine):
    """Emits a combining region: ^bb0(acc..., next...) -> tile.reduce.return."""
    with b.region() as lines:
        args = [b.fresh_arg() for _ in range(2 * len(elem_types))]
        sig = ", ".join(f"{a}: {t.mlir()}" for a, t in zip(args, elem_types * 2))
        lines.append("  " * (b.depth - 1) + f"^bb0({sig}):")
        n = len(elem_types)
        acc = [tensor(a, t) for a, t in zip(args[:n], elem_types)]
        nxt = [tensor(a, t) for a, t in zip(args[n:], elem_types)]
        results = combine(acc, nxt)
        results = [results] if isinstance(results, tensor) else list(results)
        if len(results) != n:
            raise SemanticError(f"combine function must return {n} values, got {len(results)}")
        results = [cast(r, t) for r, t in zip(results, elem_types)]
        for r in results:
            if r.shape:
                raise SemanticError("combine function must return scalars")
        b.emit(f"tile.reduce.return {', '.join(r.handle for r in results)} : "
               f"{', '.join(t.mlir() for t in elem_types)}")
    return lines


def _combine_axis(inputs, axis, what):
    """Checks the operands of a reduce or scan: one shape, an axis in range
    (negative counts from the end). Returns (shape, axis)."""
    shape = inputs[0].shape
    if not shape:
        raise SemanticError(f"cannot {what} a scalar")
    if not isinstance(axis, numbers.Integral):
        raise SemanticError(f"the {what} axis must be a compile-time integer, got {axis!r}")
    if axis < 0:
        axis += len(shape)
    if not 0 <= axis < len(shape):
        raise SemanticError(f"{what} axis {axis} is out of range for shape {list(shape)}")
    for x in inputs:
        if x.shape != shape:
            raise SemanticError(f"all tensors of a {what} must have the same shape, got "
                                f"{list(shape)} and {list(x.shape)}")
    return shape, axis


def reduce(inputs, axis, combine, keep_dims=False):
    """Reduces one tensor or a tuple of tensors (of one shape) along ``axis``."""
    single = isinstance(inputs, tensor)
    inputs = [to_tensor(x) for x in ([inputs] if single else inputs)]
    axis = _unwrap(axis)
    if axis is None:
        flat = [reshape(x, [x.numel], can_reorder=True) for x in inputs]
        out = reduce(flat if not single else flat[0], 0, combine)
        if keep_dims:
            shape = [1] * len(inputs[0].shape)
            out = reshape(out, shape) if single else tuple(reshape(o, shape) for o in out)
        return out
    shape, axis = _combine_axis(inputs, axis, "reduce")
    b = builder()
    elems = [x.dtype for x in inputs]
    out_shape = shape[:axis] + shape[axis + 1:]
    out_types = [block_type(e, out_shape) if out_shape else e for e in elems]
    region = _combine_region(b, elems, combine)
    names = b.emit_with_regions(
        f"tile.reduce({', '.join(x.handle for x in inputs)}) axis = {axis} : "
        f"({', '.join(x.type.mlir() for x in inputs)}) -> "
        f"({', '.join(t.mlir() for t in out_types)}) ", [("", region)], len(inputs))
    outs = [tensor(n, t) for n, t in zip(names, out_types)]
    if keep_dims:
        outs = [expand_dims_one(o, axis) for o in outs]
    return outs[0] if single else tuple(outs)


def scan(inputs, axis, combine, reverse=False):
    single = isinstance(inputs, tensor)
    inputs = [to_tensor(x) for x in ([inputs] if single else inputs)]
    _, axis = _combine_axis(inputs, _unwrap(axis), "scan")
    b = builder()
    elems = [x.dtype for x in inputs]
    region = _combine_region(b, elems, combine)
    rev = " reverse" if _unwrap(reverse) else ""
    names = b.emit_with_regions(
        f"tile.scan({', '.join(x.handle for x in inputs)}) axis = {axis}{rev} : "
        f"({', '.join(x.type.mlir() for x in inputs)}) -> "
        f"({', '.join(x.type.mlir() for x in inputs)}) ", [("", region)], len(inputs))
    outs = [tensor(n, x.type) for n, x in zip(names, inputs)]
    return outs[0] if single else tuple(outs)


# -- block pointers -----------------------------------------------------------------------

class block_ptr:
    """`tl.make_block_ptr`: a tile of a strided N-D array. It is a value of
    the front end, not of the IR: loads and stores through it become a
    tensor of element pointers with the mask of `boundary_check`; loops
    carry its run-time fields (base, shape, strides, offsets) one by one."""

    def __init__(self, base, shape, strides, offsets, block_shape, order):
        self.base, self.shape, self.strides = base, list(shape), list(strides)
        self.offsets, self.block_shape, self.order = list(offsets), list(block_shape), order

    # the run-time fields, for loops and branches
    def flatten(self):
        return [self.base] + self.shape + self.strides + self.offsets

    def rebuild(self, fields):
        n = len(self.block_shape)
        return block_ptr(fields[0], fields[1:1 + n], fields[1 + n:1 + 2 * n],
                         fields[1 + 2 * n:1 + 3 * n], self.block_shape, self.order)

    @property
    def type(self):
        return f"block_ptr<{self.base.dtype.element_ty}, {self.block_shape}>"

    def __repr__(self):
        return self.type


def make_block_ptr(base, shape, strides, offsets, block_shape, order) -> block_ptr:
    base = to_tensor(base)
    if not base.dtype.is_ptr() or base.shape:
        raise SemanticError(f"tl.make_block_ptr: base must be a scalar pointer, got {base.type}")
    block_shape = [_unwrap(b) for b in _unwrap(block_shape)]
    order = [_unwrap(o) for o in _unwrap(order)]
    shape, strides, offsets = (list(_unwrap(x)) for x in (shape, strides, offsets))
    n = len(block_shape)
    for name, seq in (("shape", shape), ("strides", strides), ("offsets", offsets),
                      ("order", order)):
        if len(seq) != n:
            raise SemanticError(f"tl.make_block_ptr: {name} has {len(seq)} entries but "
                                f"block_shape has {n}")
    if sorted(order) != list(range(n)):
        raise SemanticError(f"tl.make_block_ptr: order {order} is not a permutation of "
                            f"0..{n - 1}")
    for b in block_shape:
        if not isinstance(b, int) or b <= 0 or b & (b - 1):
            raise SemanticError(f"tl.make_block_ptr: block_shape {block_shape} must be "
                                "compile-time powers of two")

    def ints(values, what, ty):
        out = []
        for v in values:
            v = _unwrap(v)
            t = to_tensor(v, ty) if not isinstance(v, tensor) else v
            if t.shape or not t.dtype.is_int():
                raise SemanticError(f"tl.make_block_ptr: {what} must be integer scalars, "
                                    f"got {t.type}")
            out.append(cast(t, ty) if t.dtype != ty else t)
        return out

    # Shapes and strides in int64 as in Triton when given so; int32 otherwise
    # (the offsets of a tile then stay 32-bit, which the GPU prefers).
    wide = any(isinstance(_unwrap(v), tensor) and _unwrap(v).dtype.int_bitwidth == 64
               or isinstance(_unwrap(v), int) and not -2**31 <= _unwrap(v) < 2**31
               for v in shape + strides)
    ity = T.int64 if wide else T.int32
    return block_ptr(base, ints(shape, "shape", ity), ints(strides, "strides", ity),
                     ints(offsets, "offsets", T.int32), block_shape, order)


def advance(ptr, offsets) -> block_ptr:
    if not isinstance(ptr, block_ptr):
        raise SemanticError(f"tl.advance expects a block pointer, got {getattr(ptr, 'type', ptr)}")
    offsets = list(_unwrap(offsets))
    if len(offsets) != len(ptr.offsets):
        raise SemanticError(f"tl.advance: {len(offsets)} offsets for a {len(ptr.offsets)}-D "
                            "block pointer")
    new = [add(o, cast(to_tensor(_unwrap(d), T.int32), T.int32) if not isinstance(_unwrap(d), tensor)
               else cast(_unwrap(d), T.int32)) for o, d in zip(ptr.offsets, offsets)]
    return block_ptr(ptr.base, ptr.shape, ptr.strides, new, ptr.block_shape, ptr.order)


def _block_pointers(ptr, boundary_check, what):
    """The element pointers of a block and its boundary mask (or None)."""
    n = len(ptr.block_shape)
    checks = sorted(set(_unwrap(d) for d in (_unwrap(boundary_check) or ())))
    for d in checks:
        if not isinstance(d, int) or not 0 <= d < n:
            raise SemanticError(f"{what}: boundary_check dimension {d} is not one of "
                                f"0..{n - 1}")
    ity = ptr.strides[0].dtype
    pointers, mask = ptr.base, None
    for d, size in enumerate(ptr.block_shape):
        idx = add(cast(ptr.offsets[d], ity), cast(arange(0, size), ity))  # along dim d
        for other in range(n):  # size 1 along the other dimensions
            if other != d:
                idx = expand_dims_one(idx, other)
        offsets = mul(idx, ptr.strides[d])
        pointers = add(pointers, offsets)
        if d in checks:
            inside = logical("and", compare("ge", idx, to_tensor(0, ity)),
                             compare("lt", idx, ptr.shape[d]))
            mask = inside if mask is None else logical("and", mask, inside)
    pointers = broadcast_to(pointers, ptr.block_shape)
    if mask is not None:
        mask = broadcast_to(mask, ptr.block_shape)
    return pointers, mask


def load_block(ptr, boundary_check, padding_option, cache_modifier, eviction_policy,
               volatile) -> tensor:
    padding = _unwrap(padding_option) or ""
    if padding not in ("", "zero", "nan"):
        raise SemanticError(f"tl.load: padding_option {padding!r} is not one of 'zero', 'nan'")
    pointers, mask = _block_pointers(ptr, boundary_check, "tl.load")
    other = None
    if mask is not None:
        elem = ptr.base.dtype.element_ty
        if padding == "nan":
            if not elem.is_floating():
                raise SemanticError("tl.load: padding_option='nan' needs a floating-point block")
            other = float("nan")
        else:
            other = 0
    return load(pointers, mask, other, cache_modifier, eviction_policy, volatile)


def store_block(ptr, value, boundary_check, cache_modifier, eviction_policy):
    pointers, mask = _block_pointers(ptr, boundary_check, "tl.store")
    value = to_tensor(value) if not isinstance(value, tensor) else value
    if value.shape and list(value.shape) != ptr.block_shape:
        raise SemanticError(f"tl.store: a {list(value.shape)} value into a block pointer of "
                            f"block_shape {ptr.block_shape}")
    store(pointers, value, mask, cache_modifier, eviction_policy)


# -- tensor descriptors ----------------------------------------------------------------

class tensor_descriptor:
    """`tl.make_tensor_descriptor`: blocks of a strided N-D array whose last
    dimension is contiguous. A value of the front end: `load` and `store`
    become `tile.descriptor_load` / `tile.descriptor_store`, which carry the
    base, shape and strides (TMA copies on sm_90a, element pointers with
    bounds masks elsewhere). Out-of-bounds elements read as zero and are
    not written."""

    def __init__(self, base, shape, strides, block_shape):
        self.base, self.shape, self.strides = base, list(shape), list(strides)
        self.block_shape = list(block_shape)

    # the run-time fields, for loops, branches and calls (the last stride is
    # the constant 1, made again where the descriptor is rebuilt)
    def flatten(self):
        return [self.base] + self.shape + self.strides[:-1]

    def rebuild(self, fields):
        n = len(self.block_shape)
        return tensor_descriptor(fields[0], fields[1:1 + n],
                                 list(fields[1 + n:]) + [to_tensor(1, T.int64)], self.block_shape)

    @property
    def dtype(self):
        return self.base.dtype.element_ty

    @property
    def type(self):
        return f"tensor_descriptor<{self.dtype}, {self.block_shape}>"

    def __repr__(self):
        return self.type

    def _offsets(self, offsets, what):
        offsets = list(_unwrap(offsets)) if isinstance(_unwrap(offsets), (list, tuple)) else None
        if offsets is None or len(offsets) != len(self.block_shape):
            raise SemanticError(f"{what}: give one offset per dimension of the "
                                f"{len(self.block_shape)}-D block, as a list")
        out = []
        for o in offsets:
            o = _unwrap(o)
            t = o if isinstance(o, tensor) else to_tensor(o, T.int32)
            if t.shape or not t.dtype.is_int():
                raise SemanticError(f"{what}: offsets must be integer scalars, got {t.type}")
            out.append(cast(t, T.int32) if t.dtype != T.int32 else t)
        return out

    def _operands(self, offsets):
        return (f"{self.base.handle}[{', '.join(o.handle for o in offsets)}] shape ["
                f"{', '.join(s.handle for s in self.shape)}] strides ["
                f"{', '.join(s.handle for s in self.strides)}]")

    def load(self, offsets) -> tensor:
        offsets = self._offsets(offsets, "tensor descriptor load")
        out = block_type(self.dtype, self.block_shape)
        return tensor(builder().emit1(
            f"tile.descriptor_load {self._operands(offsets)} : {self.base.type.mlir()} -> "
            f"{out.mlir()}"), out)

    def store(self, offsets, value):
        offsets = self._offsets(offsets, "tensor descriptor store")
        value = to_tensor(value, self.dtype) if not isinstance(value, tensor) else value
        if value.shape and list(value.shape) != self.block_shape:
            raise SemanticError(f"tensor descriptor store: a {list(value.shape)} value into "
                                f"blocks of {self.block_shape}")
        value = broadcast_to(cast(value, self.dtype), self.block_shape)
        builder().emit(f"tile.descriptor_store {self.base.handle}["
                       f"{', '.join(o.handle for o in offsets)}], {value.handle} shape ["
                       f"{', '.join(s.handle for s in self.shape)}] strides ["
                       f"{', '.join(s.handle for s in self.strides)}] : "
                       f"{self.base.type.mlir()}, {value.type.mlir()}")


    def atomic_add(self, offsets, value):
        """Adds `value` (a block, or a scalar for every element) into the
        block at `offsets`, atomically (relaxed, device scope), skipping
        elements outside the array; nothing is returned. Integers of 32 or
        64 bits and floats."""
        what = "tensor descriptor atomic_add"
        offsets = self._offsets(offsets, what)
        elem = self.dtype
        if not (elem.is_floating() and not elem.is_fp8()) and \
                not (elem.is_int() and elem.primitive_bitwidth in (32, 64)):
            raise SemanticError(f"{what}: adds 32- or 64-bit integers or floats (not fp8), "
                                f"not {elem}")
        value = to_tensor(value, elem) if not isinstance(value, tensor) else value
        if value.shape and list(value.shape) != self.block_shape:
            raise SemanticError(f"{what}: a {list(value.shape)} value into blocks of "
                                f"{self.block_shape}")
        value = broadcast_to(cast(value, elem), self.block_shape)
        builder().emit(f"tile.descriptor_atomic_add {self.base.handle}["
                       f"{', '.join(o.handle for o in offsets)}], {value.handle} shape ["
                       f"{', '.join(s.handle for s in self.shape)}] strides ["
                       f"{', '.join(s.handle for s in self.strides)}] : "
                       f"{self.base.type.mlir()}, {value.type.mlir()}")


def make_tensor_descriptor(base, shape, strides, block_shape) -> tensor_descriptor:
    what = "tl.make_tensor_descriptor"
    base = to_tensor(_unwrap(base))
    if not base.dtype.is_ptr() or base.shape:
        raise SemanticError(f"{what}: base must be a scalar pointer, got {base.type}")
    elem = base.dtype.element_ty
    if elem.is_bool() or elem.is_ptr():
        raise SemanticError(f"{what}: blocks of {elem} are not supported")
    block_shape = [_unwrap(b) for b in _unwrap(block_shape)]
    shape, strides = list(_unwrap(shape)), list(_unwrap(strides))
    n = len(block_shape)
    if not 1 <= n <= 5:
        raise SemanticError(f"{what}: blocks have 1 to 5 dimensions, got {n}")
    for name, seq in (("shape", shape), ("strides", strides)):
        if len(seq) != n:
            raise SemanticError(f"{what}: {name} has {len(seq)} entries but block_shape has {n}")
    for b in block_shape:
        if not isinstance(b, int) or b <= 0 or b & (b - 1):
            raise SemanticError(f"{what}: block_shape {block_shape} must be compile-time "
                                "powers of two")
    last = _unwrap(strides[-1])
    if not (isinstance(last, int) and last == 1):
        raise SemanticError(f"{what}: the last stride must be the constant 1 (contiguous rows), "
                            f"got {getattr(last, 'type', last)}")

    def ints(values, name, ty):
        out = []
        for v in values:
            v = _unwrap(v)
            t = v if isinstance(v, tensor) else to_tensor(v, ty)
            if t.shape or not t.dtype.is_int():
                raise SemanticError(f"{what}: {name} must be integer scalars, got {t.type}")
            out.append(cast(t, ty) if t.dtype != ty else t)
        return out

    return tensor_descriptor(base, ints(shape, "shape", T.int32), ints(strides, "strides", T.int64),
                             block_shape)
