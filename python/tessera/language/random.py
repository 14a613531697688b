"""Counter-based random numbers in kernels, as ``triton.language``'s: Philox
4x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011),
keyed by a seed and counted by an offset, so that every element of a tile
draws its own numbers and a kernel run twice with the same seed draws the
same ones (dropout masks recomputed in a backward pass).

The seed gives the key (its low and high 32 bits), the offset the first
counter word (the others are zero). ``randint`` is the first word of the
Philox output, ``rand`` maps it to [0, 1), ``randn`` takes two words
through Box-Muller.
"""

from __future__ import annotations

from . import dtypes as T
from . import semantic as S
from .core import builtin
from .semantic import SemanticError, _unwrap

N_ROUNDS_DEFAULT = 10
_KEY_A, _KEY_B = 0x9E3779B9, 0xBB67AE85  # the key's increments per round
_ROUND_A, _ROUND_B = 0xD2511F53, 0xCD9E8D57  # the round multipliers


def _u32(x, what):
    x = S.to_tensor(_unwrap(x))
    if not x.dtype.is_int() or x.dtype.int_bitwidth > 32:
        raise SemanticError(f"{what}: needs integers of at most 32 bits, got {x.dtype}")
    if x.dtype.int_bitwidth < 32:
        x = S.cast(x, T.int32)
    return S.cast(x, T.uint32, bitcast=True) if x.dtype.is_int_signed() else x


def _const(v):
    return S.to_tensor(v, T.uint32)


def _hi_lo(a: int, x):
    """The high and low 32 bits of the 64-bit product a * x (x uint32)."""
    wide = S.mul(S.cast(x, T.uint64), S.to_tensor(a, T.uint64))
    return (S.cast(S.shift("shr", wide, S.to_tensor(32, T.uint64)), T.uint32),
            S.cast(wide, T.uint32))


@builtin
def umulhi(x, y):
    """The high 32 bits of the 64-bit product of 32-bit integers (as
    unsigned numbers; the result has x's type)."""
    x = S.to_tensor(_unwrap(x))
    dt = x.dtype
    a, b = _u32(x, "tl.umulhi"), _u32(y, "tl.umulhi")
    a, b = S.broadcast_values(a, b) if (a.shape or b.shape) else (a, b)
    wide = S.mul(S.cast(a, T.uint64), S.cast(b, T.uint64))
    hi = S.cast(S.shift("shr", wide, S.to_tensor(32, T.uint64)), T.uint32)
    return S.cast(hi, dt, bitcast=True) if dt.is_int_signed() and dt.int_bitwidth == 32 else hi


@builtin
def philox(seed, c0, c1, c2, c3, n_rounds=N_ROUNDS_DEFAULT):
    """Philox 4x32 with `n_rounds` rounds: four uint32 words from the
    counter (c0, c1, c2, c3) under the key of the 64-bit `seed`."""
    n_rounds = _unwrap(n_rounds)
    if not isinstance(n_rounds, int) or n_rounds < 1:
        raise SemanticError(f"tl.philox: n_rounds must be a positive compile-time integer, "
                            f"got {n_rounds!r}")
    seed = S.to_tensor(_unwrap(seed))
    if not seed.dtype.is_int() or seed.shape:
        raise SemanticError(f"tl.philox: the seed must be an integer scalar, got {seed.type}")
    seed = S.cast(seed, T.uint64)
    k0 = S.cast(seed, T.uint32)
    k1 = S.cast(S.shift("shr", seed, S.to_tensor(32, T.uint64)), T.uint32)
    c = [_u32(v, "tl.philox") for v in (c0, c1, c2, c3)]
    shape = S.broadcast_shapes(*[v.shape for v in c]) if any(v.shape for v in c) else []
    c = [S.broadcast_to(v, shape) if shape else v for v in c]
    for _ in range(n_rounds):
        hi_b, lo_b = _hi_lo(_ROUND_B, c[2])
        hi_a, lo_a = _hi_lo(_ROUND_A, c[0])
        c = [S.bitwise("xor", S.bitwise("xor", hi_b, c[1]), k0), lo_b,
             S.bitwise("xor", S.bitwise("xor", hi_a, c[3]), k1), lo_a]
        k0 = S.add(k0, _const(_KEY_A))
        k1 = S.add(k1, _const(_KEY_B))
    return tuple(c)


@builtin
def randint4x(seed, offset, n_rounds=N_ROUNDS_DEFAULT):
    """Four uint32 random words per element of `offset`."""
    offset = _u32(offset, "tl.randint4x")
    zero = S.mul(offset, _const(0))
    return philox(seed, offset, zero, zero, zero, n_rounds)


@builtin
def randint(seed, offset, n_rounds=N_ROUNDS_DEFAULT):
    """A uint32 random word per element of `offset`."""
    return randint4x(seed, offset, n_rounds)[0]


@builtin
def uint_to_uniform_float(x):
    """uint32 words to float32 in [0, 1): the word as a signed integer,
    folded onto the non-negative ones (x < 0: -x - 1), times 2^-31."""
    x = S.to_tensor(_unwrap(x))
    if x.dtype not in (T.uint32, T.int32):
        raise SemanticError(f"tl.uint_to_uniform_float: needs 32-bit integers, got {x.dtype}")
    s = S.cast(x, T.int32, bitcast=True)
    s = S.where(S.compare("lt", s, 0), S.sub(S.minus(s), 1), s)
    return S.mul(S.cast(s, T.float32), 4.6566127342e-10)


@builtin
def rand(seed, offset, n_rounds=N_ROUNDS_DEFAULT):
    """A float32 uniform in [0, 1) per element of `offset`."""
    return uint_to_uniform_float(randint(seed, offset, n_rounds))


@builtin
def rand4x(seed, offset, n_rounds=N_ROUNDS_DEFAULT):
    return tuple(uint_to_uniform_float(w) for w in randint4x(seed, offset, n_rounds))


@builtin
def pair_uniform_to_normal(u1, u2):
    """Box-Muller: two independent standard normals from two uniforms."""
    u1 = S.maximum(S.to_tensor(1.0e-7, T.float32), S.to_tensor(_unwrap(u1)))
    th = S.mul(S.to_tensor(_unwrap(u2)), 6.283185307179586)
    r = S.math_unary("sqrt", S.mul(S.math_unary("log", u1), -2.0))
    return S.mul(r, S.math_unary("cos", th)), S.mul(r, S.math_unary("sin", th))


@builtin
def randn(seed, offset, n_rounds=N_ROUNDS_DEFAULT):
    """A float32 standard normal per element of `offset`."""
    i1, i2, _, _ = randint4x(seed, offset, n_rounds)
    return pair_uniform_to_normal(uint_to_uniform_float(i1), uint_to_uniform_float(i2))[0]


@builtin
def randn4x(seed, offset, n_rounds=N_ROUNDS_DEFAULT):
    u = rand4x(seed, offset, n_rounds)
    n1, n2 = pair_uniform_to_normal(u[0], u[1])
    n3, n4 = pair_uniform_to_normal(u[2], u[3])
    return n1, n2, n3, n4
