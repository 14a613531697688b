"""Random well-typed kernels, run and checked against numpy.

`program(seed)` builds a kernel from a random expression tree over three
float inputs: elementwise arithmetic, math functions, selections with
masks, reductions and scans over the block (broadcast back), a loop with a
carried value, and a branch on a run-time flag. The same tree evaluates in
numpy (float64) with the kernel's semantics: each program instance owns a
block of BLOCK elements, loads past `n` read 0, and reductions cover the
whole block. `check(seed)` compiles and runs the kernel on the active
backend and compares; `tools/fuzz_kernels.py` runs many seeds.

    >>> from tessera.testing import fuzz
    >>> fuzz.check(7)           # raises AssertionError (with the source) on a mismatch
"""

from __future__ import annotations

import importlib.util
import os
import random
import tempfile
import textwrap
from dataclasses import dataclass

import numpy as np

TEMPLATE = '''\
import tessera
import tessera.language as tl


@tessera.jit
def fuzz_kernel(X0, X1, X2, OUT, n, c, flag, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x0 = tl.load(X0 + offs, mask=mask, other=0.0)
    x1 = tl.load(X1 + offs, mask=mask, other=0.0)
    x2 = tl.load(X2 + offs, mask=mask, other=0.0)
    pos = offs.to(tl.float32) * 0.01
{body}
    tl.store(OUT + offs, y, mask=mask)
'''


@dataclass
class Program:
    seed: int
    source: str      # the kernel module's text
    reference: str   # numpy statements computing `y` from x0, x1, x2, pos, c, flag
    block: int
    n: int


class _Gen:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def leaf(self):
        r = self.rng.random()
        if r < 0.6:
            name = self.rng.choice(["x0", "x1", "x2"])
            return name, name
        if r < 0.75:
            return "pos", "pos"
        if r < 0.9:
            return "c", "c"
        k = self.rng.choice([0.5, 2.0, -1.5, 3.0])
        return repr(k), repr(k)

    def expr(self, depth: int):
        """(DSL text, numpy text) of a (BLOCK,) float tile; numpy arrays are
        (programs, BLOCK), so block reductions run along axis 1."""
        if depth <= 0 or self.rng.random() < 0.2:
            return self.leaf()
        kind = self.rng.choice(["bin", "bin", "bin", "un", "where", "reduce", "scan", "fma"])
        if kind == "bin":
            (a, ra), (b, rb) = self.expr(depth - 1), self.expr(depth - 1)
            op = self.rng.choice(["+", "-", "*", "/", "max", "min"])
            if op == "/":  # bounded away from 0
                return f"({a} / (tl.abs({b}) + 1.0))", f"({ra} / (np.abs({rb}) + 1.0))"
            if op == "max":
                return f"tl.maximum({a}, {b})", f"np.maximum({ra}, {rb})"
            if op == "min":
                return f"tl.minimum({a}, {b})", f"np.minimum({ra}, {rb})"
            return f"({a} {op} {b})", f"({ra} {op} {rb})"
        if kind == "un":
            a, ra = self.expr(depth - 1)
            op = self.rng.choice(["abs", "neg", "sqrt", "exp", "sigmoid"])
            if op == "abs":
                return f"tl.abs({a})", f"np.abs({ra})"
            if op == "neg":
                return f"(-{a})", f"(-{ra})"
            if op == "sqrt":
                return f"tl.sqrt(tl.abs({a}) + 1.0)", f"np.sqrt(np.abs({ra}) + 1.0)"
            if op == "exp":  # bounded above
                return f"tl.exp(tl.minimum({a}, 4.0))", f"np.exp(np.minimum({ra}, 4.0))"
            return f"tl.sigmoid({a})", f"(1.0 / (1.0 + np.exp(-({ra}))))"
        if kind == "where":
            (a, ra), (b, rb) = self.expr(depth - 1), self.expr(depth - 1)
            (t, rt), (f, rf) = self.expr(depth - 1), self.expr(depth - 1)
            cmp = self.rng.choice([">", "<", ">="])
            return (f"tl.where(({a} + pos * 0.0) {cmp} {b}, {t}, {f})",
                    f"np.where({ra} {cmp} {rb}, {rt}, {rf})")
        if kind == "reduce":
            (a, ra), (b, rb) = self.expr(depth - 1), self.expr(depth - 1)
            op = self.rng.choice(["sum", "max", "min"])
            scale = "0.01" if op == "sum" else "1.0"
            np_op = {"sum": "np.sum", "max": "np.max", "min": "np.min"}[op]
            return (f"(tl.{op}({a} + pos * 0.0, 0) * {scale} + {b})",
                    f"({np_op}({ra} + 0 * pos, axis=1, keepdims=True) * {scale} + {rb})")
        if kind == "scan":
            a, ra = self.expr(depth - 1)
            return (f"(tl.cumsum({a} + pos * 0.0, 0) * 0.01)",
                    f"(np.cumsum({ra} + 0 * pos, axis=1) * 0.01)")
        (a, ra), (b, rb), (d, rd) = (self.expr(depth - 1) for _ in range(3))
        return (f"tl.fma({a}, {b}, {d})", f"({ra} * {rb} + {rd})")

    def body(self):
        """(DSL statements, numpy statements) ending with `y` set."""
        dsl, ref = [], []
        depth = self.rng.randint(2, 4)
        e, re_ = self.expr(depth)
        dsl.append(f"y = {e} + pos * 0.0")
        ref.append(f"y = {re_} + 0 * pos")
        if self.rng.random() < 0.4:  # a loop carrying y
            k = self.rng.randint(1, 4)
            e, re_ = self.expr(2)
            dsl += [f"for i in range(0, {k}):", f"    y = y * 0.5 + {e}"]
            ref += [f"for i in range(0, {k}):", f"    y = y * 0.5 + {re_}"]
        if self.rng.random() < 0.4:  # a branch on a run-time scalar
            (e1, r1), (e2, r2) = self.expr(2), self.expr(2)
            dsl += ["if flag > 0:", f"    y = y + {e1}", "else:", f"    y = y - {e2}"]
            ref += ["if flag > 0:", f"    y = y + {r1}", "else:", f"    y = y - {r2}"]
        if self.rng.random() < 0.3:  # a mask inside the block
            dsl.append("y = tl.where(offs % 3 == 0, y, -y)")
            ref.append("y = np.where(offs % 3 == 0, y, -y)")
        return dsl, ref


def program(seed: int) -> Program:
    rng = random.Random(seed)
    dsl, ref = _Gen(rng).body()
    source = TEMPLATE.format(body=textwrap.indent("\n".join(dsl), " " * 4))
    block = rng.choice([16, 32, 64, 128])
    n = rng.randint(1, 3 * block)
    return Program(seed, source, "\n".join(ref), block, n)


def reference(prog: Program, x0, x1, x2, c: float, flag: int) -> np.ndarray:
    """The float64 result of `prog` on the inputs (length n)."""
    grid = -(-prog.n // prog.block)
    total = grid * prog.block

    def blocks(x):
        padded = np.zeros(total, np.float64)
        padded[:prog.n] = x
        return padded.reshape(grid, prog.block)
    scope = {"np": np, "x0": blocks(x0), "x1": blocks(x1), "x2": blocks(x2), "c": float(c),
             "flag": int(flag),
             "offs": np.arange(total).reshape(grid, prog.block),
             "pos": np.arange(total, dtype=np.float64).reshape(grid, prog.block) * 0.01}
    with np.errstate(all="ignore"):
        exec(prog.reference, scope)  # noqa: S102 - our own generated text
    return np.asarray(scope["y"], np.float64).reshape(-1)[:prog.n]


def load(prog: Program, folder: str | None = None):
    """The kernel of `prog`, from a module file (@jit reads the source)."""
    folder = folder or tempfile.mkdtemp(prefix="tessera-fuzz-")
    path = os.path.join(folder, f"fuzz_{prog.seed}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(prog.source)
    spec = importlib.util.spec_from_file_location(f"fuzz_{prog.seed}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fuzz_kernel


def check(seed: int, folder: str | None = None) -> Program:
    """Runs program `seed` on the active backend against its float64
    reference; raises AssertionError with the kernel's source on a
    mismatch."""
    import tessera

    prog = program(seed)
    kernel = load(prog, folder)
    rng = np.random.default_rng(seed)
    x0, x1, x2 = (rng.standard_normal(prog.n).astype(np.float32) for _ in range(3))
    c = float(rng.standard_normal())
    flag = int(rng.integers(-1, 2))
    out = np.zeros(prog.n, np.float32)
    kernel[(tessera.cdiv(prog.n, prog.block),)](x0, x1, x2, out, prog.n, c, flag,
                                                 BLOCK=prog.block)
    want = reference(prog, x0, x1, x2, c, flag)
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    bad = ~np.isclose(out, want, rtol=2e-3, atol=2e-3 * scale)
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(
            f"fuzz seed {seed}: element {i} of {prog.n} is {out[i]!r}, float64 reference "
            f"{want[i]!r} (BLOCK {prog.block}, c {c}, flag {flag}); kernel:\n{prog.source}")
    return prog
