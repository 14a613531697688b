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


TEMPLATE_2D = '''\
import tessera
import tessera.language as tl


@tessera.jit
def fuzz_kernel(X0, X1, X2, OUT, n, c, flag, BLOCK: tl.constexpr, COLS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, COLS)
    offs = rows[:, None] * COLS + cols[None, :]
    mask = (rows < n)[:, None]
    x0 = tl.load(X0 + offs, mask=mask, other=0.0)
    x1 = tl.load(X1 + offs, mask=mask, other=0.0)
    x2 = tl.load(X2 + offs, mask=mask, other=0.0)
    pos = offs.to(tl.float32) * 0.001
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
    cols: int = 0  # 2-D programs: BLOCK rows x COLS columns per program


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


class _Gen2D(_Gen):
    """Tiles of BLOCK rows x COLS columns (numpy: (programs, BLOCK, COLS)):
    reductions along either axis broadcast back, and dots of fp16 tiles
    (square tiles only)."""

    def __init__(self, rng, square):
        super().__init__(rng)
        self.square = square

    def expr(self, depth: int):
        if depth > 0 and self.rng.random() < 0.3:
            kind = self.rng.choice(["rows", "cols"] + (["dot", "dot_t"] if self.square else []))
            if kind in ("rows", "cols"):
                (a, ra), (b, rb) = self.expr(depth - 1), self.expr(depth - 1)
                axis = 1 if kind == "rows" else 0
                op = self.rng.choice(["sum", "max", "min"])
                scale = "0.01" if op == "sum" else "1.0"
                np_op = {"sum": "np.sum", "max": "np.max", "min": "np.min"}[op]
                index = "[:, None]" if axis == 1 else "[None, :]"
                return (f"(tl.{op}({a} + pos * 0.0, {axis}){index} * {scale} + {b})",
                        f"({np_op}({ra} + 0 * pos, axis={axis + 1}, keepdims=True) * {scale}"
                        f" + {rb})")
            (a, ra), (b, rb) = self.expr(depth - 1), self.expr(depth - 1)
            h = "np.float16"
            if kind == "dot":
                return (f"(tl.dot(({a} + pos * 0.0).to(tl.float16), ({b} + pos * 0.0)"
                        f".to(tl.float16)) * 0.05)",
                        f"(np.matmul(({ra} + 0 * pos).astype({h}).astype(np.float64), "
                        f"({rb} + 0 * pos).astype({h}).astype(np.float64)) * 0.05)")
            return (f"(tl.dot(({a} + pos * 0.0).to(tl.float16), tl.trans(({b} + pos * 0.0)"
                    f".to(tl.float16))) * 0.05)",
                    f"(np.matmul(({ra} + 0 * pos).astype({h}).astype(np.float64), "
                    f"np.swapaxes(({rb} + 0 * pos).astype({h}).astype(np.float64), 1, 2))"
                    f" * 0.05)")
        return super().expr(depth)

    # The base generator's block reductions and scans (axis 0 in the DSL:
    # along the rows) are axis 1 of the numpy arrays here too.


def program(seed: int) -> Program:
    rng = random.Random(seed)
    if rng.random() < 0.4:
        block = rng.choice([16, 32, 64])
        cols = rng.choice([16, 32, 64])
        gen = _Gen2D(rng, square=block == cols)
        dsl, ref = gen.body()
        source = TEMPLATE_2D.format(body=textwrap.indent("\n".join(dsl), " " * 4))
        n = rng.randint(1, 3 * block)
        return Program(seed, source, "\n".join(ref), block, n, cols)
    dsl, ref = _Gen(rng).body()
    source = TEMPLATE.format(body=textwrap.indent("\n".join(dsl), " " * 4))
    block = rng.choice([16, 32, 64, 128])
    n = rng.randint(1, 3 * block)
    return Program(seed, source, "\n".join(ref), block, n)


def reference(prog: Program, x0, x1, x2, c: float, flag: int) -> np.ndarray:
    """The float64 result of `prog` on the inputs (n elements, or n rows of
    COLS for 2-D programs)."""
    grid = -(-prog.n // prog.block)
    width = max(prog.cols, 1)
    shape = (grid, prog.block, prog.cols) if prog.cols else (grid, prog.block)
    total = grid * prog.block * width

    def blocks(x):
        padded = np.zeros(total, np.float64)
        padded[:x.size] = x
        return padded.reshape(shape)
    offs = np.arange(total).reshape(shape)
    scope = {"np": np, "x0": blocks(x0), "x1": blocks(x1), "x2": blocks(x2), "c": float(c),
             "flag": int(flag), "offs": offs,
             "pos": offs.astype(np.float64) * (0.001 if prog.cols else 0.01)}
    with np.errstate(all="ignore"):
        exec(prog.reference, scope)  # noqa: S102 - our own generated text
    y = np.broadcast_to(np.asarray(scope["y"], np.float64), shape)
    return y.reshape(-1)[:prog.n * width]


def load(prog: Program, folder: str | None = None):
    """The kernel of `prog`, from a module file (@jit reads the source)."""
    folder = folder or tempfile.mkdtemp(prefix="tessera-fuzz-")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"fuzz_{prog.seed}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(prog.source)
    spec = importlib.util.spec_from_file_location(f"fuzz_{prog.seed}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fuzz_kernel


def check(seed: int, folder: str | None = None, device: str | None = None,
          num_warps: int | None = None) -> Program:
    """Runs program `seed` on the active backend against its float64
    reference; raises AssertionError with the kernel's source on a
    mismatch. `device` ('cuda'): the arrays are torch tensors there (the
    GPU lane)."""
    import tessera

    prog = program(seed)
    kernel = load(prog, folder)
    rng = np.random.default_rng(seed)
    size = prog.n * max(prog.cols, 1)
    x0, x1, x2 = (rng.standard_normal(size).astype(np.float32) for _ in range(3))
    c = float(rng.standard_normal())
    flag = int(rng.integers(-1, 2))
    out = np.zeros(size, np.float32)
    extra = {"COLS": prog.cols} if prog.cols else {}
    if num_warps:
        extra["num_warps"] = num_warps
    args = [x0, x1, x2, out]
    if device is not None:
        import torch
        args = [torch.from_numpy(a).to(device) for a in args]
    kernel[(tessera.cdiv(prog.n, prog.block),)](*args, prog.n, c, flag, BLOCK=prog.block,
                                                 **extra)
    if device is not None:
        out = args[3].cpu().numpy()
    want = reference(prog, x0, x1, x2, c, flag)
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    bad = ~np.isclose(out, want, rtol=2e-3, atol=2e-3 * scale)
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(
            f"fuzz seed {seed}: element {i} of {size} is {out[i]!r}, float64 reference "
            f"{want[i]!r} (BLOCK {prog.block}, COLS {prog.cols}, c {c}, flag {flag}); "
            f"kernel:\n{prog.source}")
    return prog


def compile_ptx(seed: int, arch: str = "sm_90a", folder: str | None = None, num_warps: int = 4):
    """Compiles program `seed` for an NVIDIA target (PTX, and a cubin when
    ptxas is found) without running it: the GPU pipeline must accept every
    kernel the CPU backend runs. Raises on a compiler error."""
    from ..backends.nvidia import NVIDIABackend
    from ..compiler.frontend import ASTSource

    prog = program(seed)
    kernel = load(prog, folder)
    signature = {"X0": "*fp32:16", "X1": "*fp32:16", "X2": "*fp32:16", "OUT": "*fp32:16",
                 "n": "i32", "c": "fp32", "flag": "i32"}
    constants = {"BLOCK": prog.block, **({"COLS": prog.cols} if prog.cols else {})}
    ir = ASTSource(kernel, signature, constants).make_ir()
    from .. import _C

    backend = NVIDIABackend(arch=arch)
    backend.cubin = bool(_C.nvidia.find_ptxas())  # validate the PTX with ptxas when found
    backend.compile(ir, "fuzz_kernel", False, {"num_warps": num_warps, "num_stages": 2})
    return prog

