"""Element types, pointer types and block (tensor) types of the language.

Names and meanings follow ``triton.language``: ``tl.float32``,
``tl.pointer_type(tl.float16)``, ``tl.block_type(tl.float32, [64, 64])``.
"""

from __future__ import annotations

import struct

__all__ = [
    "dtype", "pointer_type", "block_type",
    "int1", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float8e4nv", "float8e5", "float16", "bfloat16", "float32", "float64", "void",
]


class dtype:
    """A scalar element type: ``int1``... ``uint64``, ``float16``... ``float64``."""

    SINT_TYPES = ("int8", "int16", "int32", "int64")
    UINT_TYPES = ("int1", "uint8", "uint16", "uint32", "uint64")
    FP_TYPES = ("fp8e4nv", "fp8e5", "fp16", "bf16", "fp32", "fp64")
    _MLIR = {"int1": "i1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
             "uint8": "i8", "uint16": "i16", "uint32": "i32", "uint64": "i64",
             "fp8e4nv": "f8E4M3FN", "fp8e5": "f8E5M2",
             "fp16": "f16", "bf16": "bf16", "fp32": "f32", "fp64": "f64", "void": "none"}
    _BITS = {"int1": 1, "int8": 8, "int16": 16, "int32": 32, "int64": 64,
             "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64,
             "fp8e4nv": 8, "fp8e5": 8, "fp16": 16, "bf16": 16, "fp32": 32, "fp64": 64,
             "void": 0}

    def __init__(self, name: str):
        if name not in self._MLIR:
            raise ValueError(f"unknown dtype {name!r}")
        self.name = name

    # -- classification -------------------------------------------------------
    @property
    def scalar(self) -> "dtype":
        return self

    @property
    def primitive_bitwidth(self) -> int:
        return self._BITS[self.name]

    @property
    def int_bitwidth(self) -> int:
        return self._BITS[self.name]

    def is_floating(self) -> bool:
        return self.name in self.FP_TYPES

    def is_fp8(self) -> bool:
        return self.name in ("fp8e4nv", "fp8e5")

    def is_fp16(self) -> bool:
        return self.name == "fp16"

    def is_bf16(self) -> bool:
        return self.name == "bf16"

    def is_fp32(self) -> bool:
        return self.name == "fp32"

    def is_fp64(self) -> bool:
        return self.name == "fp64"

    def is_int(self) -> bool:
        return self.name in self.SINT_TYPES or self.name in self.UINT_TYPES

    def is_bool(self) -> bool:
        return self.name == "int1"

    def is_int_signed(self) -> bool:
        return self.name in self.SINT_TYPES

    def is_int_unsigned(self) -> bool:
        return self.name in self.UINT_TYPES

    def is_ptr(self) -> bool:
        return False

    def is_block(self) -> bool:
        return False

    def kind(self) -> int:
        """bool < unsigned < signed < float: scalars of a lower or equal kind do
        not take part in type promotion (as in PyTorch and Triton)."""
        if self.is_bool():
            return 0
        if self.is_int_unsigned():
            return 1
        if self.is_int_signed():
            return 2
        return 3

    # -- text -----------------------------------------------------------------
    def mlir(self) -> str:
        return self._MLIR[self.name]

    def __eq__(self, other):
        return isinstance(other, dtype) and type(other) is type(self) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.name,)

    def __repr__(self):
        return f"tl.{_PUBLIC_NAMES.get(self.name, self.name)}"

    __str__ = __repr__

    def to_bits(self, value) -> int:
        """The bit pattern of a Python number in this float type."""
        if self.name == "fp64":
            return struct.unpack("<Q", struct.pack("<d", value))[0]
        bits32 = struct.unpack("<I", struct.pack("<f", value))[0]
        if self.name == "fp32":
            return bits32
        if self.name == "fp16":
            return struct.unpack("<H", struct.pack("<e", value))[0]
        if self.is_fp8():  # the nearest value (ties to even), saturating like cvt.satfinite
            table = _fp8_values(self.name)
            if value != value:
                return 0x7F
            sign = 0x80 if struct.pack("<d", value)[7] & 0x80 else 0  # also -0.0
            if value in (float("inf"), float("-inf")):
                return sign | (0x7E if self.name == "fp8e4nv" else 0x7B)
            if value == 0:
                return sign
            best = min(range(256), key=lambda b: (table[b] != table[b], abs(table[b] - value),
                                                  b & 1))
            return best
        if self.name == "bf16":  # round to nearest even from fp32
            if value != value:
                return 0x7FC0
            return ((bits32 + 0x7FFF + ((bits32 >> 16) & 1)) >> 16) & 0xFFFF
        raise TypeError(f"{self} is not a float type")


class pointer_type(dtype):
    """A pointer to ``element_ty`` in ``address_space`` (1: global memory)."""

    def __init__(self, element_ty: dtype, address_space: int = 1):
        if not isinstance(element_ty, dtype):
            raise TypeError(f"pointer_type expects a dtype, got {element_ty!r}")
        self.element_ty = element_ty
        self.address_space = address_space
        self.name = f"pointer<{element_ty}>"

    @property
    def primitive_bitwidth(self) -> int:
        return 64

    def is_ptr(self):
        return True

    def is_floating(self):
        return False

    def is_int(self):
        return False

    def is_bool(self):
        return False

    def is_int_signed(self):
        return False

    def is_int_unsigned(self):
        return False

    def kind(self):
        return 4

    def mlir(self) -> str:
        if self.address_space == 1:
            return f"!tile.ptr<{self.element_ty.mlir()}>"
        return f"!tile.ptr<{self.element_ty.mlir()}, {self.address_space}>"

    def _key(self):
        return ("ptr", self.element_ty, self.address_space)

    def __repr__(self):
        return f"pointer<{self.element_ty}>"


class block_type(dtype):
    """A tensor of ``element_ty`` with a static ``shape``."""

    def __init__(self, element_ty: dtype, shape):
        self.element_ty = element_ty
        self.shape = tuple(int(s) for s in shape)
        self.numel = 1
        for s in self.shape:
            self.numel *= s
        self.name = f"<{list(self.shape)}, {element_ty}>"

    @property
    def scalar(self) -> dtype:
        return self.element_ty

    def is_block(self):
        return True

    def is_ptr(self):
        return False

    def mlir(self) -> str:
        dims = "x".join(str(s) for s in self.shape)
        return f"tensor<{dims}x{self.element_ty.mlir()}>"

    def _key(self):
        return ("block", self.element_ty, self.shape)

    def __repr__(self):
        return self.name


def _fp8_values(name: str) -> list:
    """The 256 values of an fp8 format by bit pattern (NaN where none)."""
    exp_bits, man_bits, bias = (4, 3, 7) if name == "fp8e4nv" else (5, 2, 15)
    out = []
    for bits in range(256):
        sign = -1.0 if bits & 0x80 else 1.0
        e = (bits >> man_bits) & ((1 << exp_bits) - 1)
        m = bits & ((1 << man_bits) - 1)
        if name == "fp8e4nv" and e == 15 and m == 7:
            out.append(float("nan"))
        elif name == "fp8e5" and e == 31:
            out.append(float("nan") if m else sign * float("inf"))
        elif e == 0:
            out.append(sign * m * 2.0 ** (1 - bias - man_bits))
        else:
            out.append(sign * (1 + m / (1 << man_bits)) * 2.0 ** (e - bias))
    return out


_PUBLIC_NAMES = {"fp8e4nv": "float8e4nv", "fp8e5": "float8e5", "fp16": "float16",
                 "bf16": "bfloat16", "fp32": "float32", "fp64": "float64"}

int1 = dtype("int1")
int8 = dtype("int8")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")
uint8 = dtype("uint8")
uint16 = dtype("uint16")
uint32 = dtype("uint32")
uint64 = dtype("uint64")
float8e4nv = dtype("fp8e4nv")  # e4m3, no infinities (torch.float8_e4m3fn)
float8e5 = dtype("fp8e5")  # e5m2 (torch.float8_e5m2)
float16 = dtype("fp16")
bfloat16 = dtype("bf16")
float32 = dtype("fp32")
float64 = dtype("fp64")
void = dtype("void")

BY_NAME = {
    "i1": int1, "i8": int8, "i16": int16, "i32": int32, "i64": int64,
    "u8": uint8, "u16": uint16, "u32": uint32, "u64": uint64,
    "fp8e4nv": float8e4nv, "fp8e5": float8e5,
    "fp16": float16, "bf16": bfloat16, "fp32": float32, "fp64": float64,
}


def parse_type(text: str) -> dtype:
    """``'*fp32'`` -> pointer to float32, ``'i32'`` -> int32 (Triton's spelling)."""
    text = text.strip()
    if text.startswith("*"):
        return pointer_type(parse_type(text[1:]))
    if text not in BY_NAME:
        raise ValueError(f"unknown type {text!r}; expected one of {sorted(BY_NAME)} or '*' + one")
    return BY_NAME[text]


def short_name(ty: dtype) -> str:
    """The inverse of :func:`parse_type`."""
    if ty.is_ptr():
        return "*" + short_name(ty.element_ty)
    for k, v in BY_NAME.items():
        if v == ty:
            return k
    raise ValueError(f"no short name for {ty}")
