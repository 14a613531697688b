"""Python AST -> tile IR text.

One :class:`CodeGenerator` walks one function. Values are either IR values
(:class:`~tessera.language.semantic.tensor`) or plain Python objects, which
are compile-time constants (``tl.constexpr``): arithmetic on constants is done
in Python, and control flow on them is resolved while generating.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import operator
import textwrap

from ..language import core as tlcore
from ..language import dtypes as T
from ..language import semantic as S
from ..language.semantic import SemanticError, constexpr, tensor
from .builder import FunctionBuilder
from .errors import CompilationError


def _unwrap(v):
    return v.value if isinstance(v, constexpr) else v


def _is_tensor(v) -> bool:
    return isinstance(v, tensor)


class FunctionSource:
    """A Python function's source, parsed, with where it lives in its file."""

    def __init__(self, fn):
        self.fn = fn
        self.name = fn.__name__
        try:
            lines, start = inspect.getsourcelines(fn)
        except (OSError, TypeError) as e:
            raise OSError(f"@tessera.jit compiles a function from its source, and the source of "
                          f"{fn.__qualname__!r} cannot be read ({e}): define kernels in a "
                          f"file (not `python -c` or an interactive prompt without one)") from None
        self.filename = inspect.getsourcefile(fn) or "<unknown>"
        self.start_line = start
        raw = "".join(lines)
        self.indent = len(lines[0]) - len(lines[0].lstrip())
        self.source = textwrap.dedent(raw)
        tree = ast.parse(self.source)
        self.node = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        self.arg_names = [a.arg for a in self.node.args.args]
        self.file_lines = None

    def location(self, node):
        return self.start_line + node.lineno - 1, node.col_offset + self.indent + 1

    def line_text(self, lineno):
        if self.file_lines is None:
            try:
                with open(self.filename, encoding="utf-8") as f:
                    self.file_lines = f.read().splitlines()
            except OSError:
                self.file_lines = []
        if 0 < lineno <= len(self.file_lines):
            return self.file_lines[lineno - 1]
        return None


def _assigned_names(stmts) -> list[str]:
    """Names a statement list assigns to, in order of first assignment."""
    names = []

    def add(target):
        if isinstance(target, ast.Name):
            if target.id not in names:
                names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                add(t)

    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    add(t)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                add(node.target)
    return names


def _ends_with_return(stmts) -> bool:
    return bool(stmts) and isinstance(stmts[-1], ast.Return)


class ModuleBuilder:
    """The functions of one module: the kernel and the @jit functions it calls."""

    def __init__(self):
        self.functions: list[str] = []
        self.callees: dict = {}
        self.in_progress: set = set()

    def text(self) -> str:
        return "\n".join(self.functions) + "\n"


_PY_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_PY_CMPOPS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_STATIC_CMPOPS = {
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}

# Python builtins usable on compile-time values inside kernels.
_ALLOWED_PY_BUILTINS = {
    "min", "max", "len", "int", "float", "bool", "isinstance", "abs", "tuple", "list",
    "zip", "enumerate", "getattr", "hasattr", "round", "divmod", "all", "any", "str",
    "print", "range", "sum",
}


# Values of the front end made of run-time fields (flatten / rebuild):
# carried by loops and branches, passed to and returned from helpers.
_AGGREGATES = (S.block_ptr, S.tensor_descriptor)


def _aggregate_kind(v):
    return "a block pointer" if isinstance(v, S.block_ptr) else "a tensor descriptor"


def _split_runtime(value):
    """The run-time tensors inside an argument of a @tessera.jit function
    (a tensor; a block pointer's or tensor descriptor's fields; those of
    the elements of a tuple or list), a description of its structure (for
    the callee's cache key), and a function that builds the same kind of
    value from tensors of those types (the callee's arguments)."""
    value = _unwrap(value)
    if isinstance(value, tensor):
        return [value], repr(value.type), lambda f: f[0]
    if isinstance(value, _AGGREGATES):
        fields = value.flatten()
        return fields, f"{value.type}{getattr(value, 'order', '')}{[t.type for t in fields]}", \
            value.rebuild
    if isinstance(value, (tuple, list)):
        parts = [_split_runtime(v) for v in value]
        if any(fields for fields, _, _ in parts):
            fields = [t for f, _, _ in parts for t in f]
            kind = type(value)

            def build(f):
                out, at = [], 0
                for part_fields, _, part_build in parts:
                    out.append(part_build(f[at:at + len(part_fields)]))
                    at += len(part_fields)
                return kind(out)
            return fields, "(" + ", ".join(d for _, d, _ in parts) + ")", build
    return [], repr(value), lambda f: value  # compile-time


class _RuntimeParam:
    """A @tessera.jit function's parameter bound to a value of the front end
    that holds run-time tensors (a block pointer, a tensor descriptor, a
    tuple): the tensors are the callee's arguments, the value is rebuilt
    from them."""

    def __init__(self, types, description, build):
        self.types, self.description, self.build = types, description, build

    def __repr__(self):
        return self.description


class CodeGenerator(ast.NodeVisitor):
    def __init__(self, module: ModuleBuilder, jitfn, src: FunctionSource, func_name: str,
                 arg_values: dict, arg_types: dict, arg_attrs: dict | None, is_kernel: bool):
        self.module = module
        self.jitfn = jitfn
        self.src = src
        self.func_name = func_name
        self.is_kernel = is_kernel
        self.builder = FunctionBuilder(src.filename)
        self.locals: dict = {}
        self.arg_values = arg_values  # name -> python value (compile-time arguments)
        self.arg_types = arg_types  # name -> dtype (runtime arguments)
        self.arg_attrs = arg_attrs or {}
        self.returned = False
        self.return_values = None
        self.result_types = None
        self.return_plan = None  # (per item: (aggregate template or None, fields), ...)
        self.loop_depth = 0
        self.region_depth = 0
        self.in_tail = False  # the statement being generated ends the function
        self.globals = dict(src.fn.__globals__)
        closure = inspect.getclosurevars(src.fn).nonlocals
        self.globals.update(closure)

    # -- errors and locations ---------------------------------------------------
    def error(self, node, message) -> CompilationError:
        line, col = self.src.location(node)
        return CompilationError(message, self.src.filename, line, col, self.src.line_text(line))

    def visit(self, node):
        saved = self.builder.loc
        if hasattr(node, "lineno"):
            self.builder.loc = self.src.location(node)
        try:
            return super().visit(node)
        except CompilationError:
            raise
        except SemanticError as e:
            raise self.error(node, str(e)) from None
        except RecursionError:
            raise self.error(node, "recursion is not supported in kernels") from None
        except Exception as e:  # a Python error in the kernel body
            raise self.error(node, f"{type(e).__name__}: {e}") from None
        finally:
            self.builder.loc = saved

    def generic_visit(self, node):
        raise self.error(node, f"unsupported Python syntax in a kernel: {type(node).__name__}")

    # -- the function -------------------------------------------------------------
    def generate(self):
        """Generates the function; returns (name, result dtypes)."""
        node = self.src.node
        b = self.builder
        arg_names, arg_types, arg_attrs = [], [], []
        for name in self.src.arg_names:
            if isinstance(self.arg_types.get(name), _RuntimeParam):
                param = self.arg_types[name]
                fields = []
                for ty in param.types:
                    handle = b.fresh_arg()
                    arg_names.append(handle)
                    arg_types.append(ty.mlir())
                    arg_attrs.append("")
                    fields.append(tensor(handle, ty))
                self.locals[name] = param.build(fields)
            elif name in self.arg_types:
                ty = self.arg_types[name]
                handle = b.fresh_arg()
                arg_names.append(handle)
                arg_types.append(ty.mlir())
                arg_attrs.append(self.arg_attrs.get(name, ""))
                self.locals[name] = tensor(handle, ty)
            elif name in self.arg_values:
                self.locals[name] = _unwrap(self.arg_values[name])
            else:
                raise self.error(node, f"argument {name!r} has neither a type nor a value")
        self.visit_stmts(node.body, tail=True)
        if not self.returned:
            self.emit_return(None)
        results = self.result_types or []
        prefix = "func.func @" if self.is_kernel else "func.func private @"
        sig = ", ".join(f"{n}: {t}{a}" for n, t, a in zip(arg_names, arg_types, arg_attrs))
        ret = ""
        if results:
            ret = " -> (" + ", ".join(t.mlir() for t in results) + ")"
        b.loc = self.src.location(node)
        text = (f"{prefix}{self.func_name}({sig}){ret} {{\n" + "\n".join(b.lines) +
                "\n}" + b.loc_text())
        self.module.functions.append(text)
        return self.func_name, results, self.return_plan

    def emit_return(self, values):
        values = [] if values is None else values
        if self.is_kernel and values:
            raise SemanticError("a kernel cannot return a value")
        types = [v.type for v in values]
        if self.result_types is None:
            self.result_types = types
        elif [t for t in self.result_types] != types:
            raise SemanticError(f"this function returns {types} here but "
                                f"{self.result_types} elsewhere")
        if values:
            self.builder.emit(f"func.return {', '.join(v.handle for v in values)} : "
                              f"{', '.join(t.mlir() for t in types)}")
        else:
            self.builder.emit("func.return")

    # -- statements ---------------------------------------------------------------
    def visit_stmts(self, stmts, tail=False):
        stmts = list(stmts)
        i = 0
        while i < len(stmts):
            stmt = stmts[i]
            if self.returned:
                break
            # `if c: ...; return` followed by more code: the rest is the else.
            if (isinstance(stmt, ast.If) and _ends_with_return(stmt.body) and not stmt.orelse
                    and i + 1 < len(stmts)):
                stmt = ast.If(test=stmt.test, body=stmt.body, orelse=stmts[i + 1:])
                ast.copy_location(stmt, stmts[i])
                stmts = stmts[:i] + [stmt]
            self.in_tail = tail and i == len(stmts) - 1
            self.visit(stmt)
            i += 1

    def visit_FunctionDef(self, node):
        raise self.error(node, "functions cannot be defined inside a kernel; define a "
                               "@tessera.jit function at module level")

    def visit_Pass(self, node):
        return None

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None  # a docstring
        self.visit(node.value)

    def _assign(self, target, value, node):
        if isinstance(target, ast.Name):
            if isinstance(value, tlcore.range) or isinstance(value, tlcore.static_range):
                raise self.error(node, "range objects can only be used in a for loop")
            self.locals[target.id] = _unwrap(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if _is_tensor(value) or not isinstance(value, (tuple, list)):
                raise self.error(node, "cannot unpack a non-tuple value")
            if len(value) != len(target.elts):
                raise self.error(node, f"cannot unpack {len(value)} values into "
                                       f"{len(target.elts)} names")
            for t, v in zip(target.elts, value):
                self._assign(t, v, node)
        else:
            raise self.error(target, "only names and tuples of names can be assigned to "
                                     "in a kernel (store to memory with tl.store)")

    def visit_Assign(self, node):
        value = self.visit(node.value)
        for target in node.targets:
            self._assign(target, value, node)

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None
        value = self.visit(node.value)
        ann = self.visit(node.annotation)
        if ann is constexpr and _is_tensor(value):
            raise self.error(node, f"{node.target.id} is annotated tl.constexpr but its "
                                   "value is only known at run time")
        self._assign(node.target, value, node)

    def visit_AugAssign(self, node):
        if not isinstance(node.target, ast.Name):
            raise self.error(node, "only names can be updated in a kernel")
        current = self.lookup(node.target.id, node.target)
        value = self.apply_binop(node.op, current, self.visit(node.value), node)
        self.locals[node.target.id] = value

    def visit_Return(self, node):
        if self.loop_depth:
            raise self.error(node, "return inside a loop is not supported")
        if self.is_kernel:
            if node.value is not None:
                raise self.error(node, "a kernel cannot return a value")
            if not self.in_tail:
                raise self.error(node, "return must end the kernel: nothing may run after it")
            # In tail position nothing follows at any level: the branch ends.
            if self.region_depth == 0:
                self.returned = True
                self.emit_return(None)
            return None
        if self.region_depth > 1:
            raise self.error(node, "return inside nested run-time ifs is not supported")
        value = self.visit(node.value) if node.value is not None else None
        items = [] if value is None else list(value) if isinstance(value, tuple) else [value]
        # Block pointers and descriptors return as their fields; the caller
        # rebuilds them (the plan: one template or None per returned item).
        values, plan = [], []
        for v in items:
            v = _unwrap(v)
            if isinstance(v, _AGGREGATES):
                fields = v.flatten()
                plan.append((v, len(fields)))
                values.extend(fields)
            else:
                plan.append((None, 1))
                values.append(S.to_tensor(v))
        described = [None if t is None else (type(t), t.block_shape) for t, _ in plan]
        if self.return_plan is not None and self.return_plan[1] != described:
            raise self.error(node, "this function returns block pointers or tensor descriptors "
                                   "here that differ from those it returns elsewhere")
        self.return_plan = (plan, described, isinstance(value, tuple))
        self.return_values = values
        self.returned = True
        if self.region_depth == 0:
            self.emit_return(values)

    def visit_Assert(self, node):
        cond = self.visit(node.test)
        msg = self.visit(node.msg) if node.msg is not None else ""
        if not _is_tensor(cond):
            if not cond:
                raise self.error(node, f"assertion failed: {_unwrap(msg)}")
            return None
        tlcore.device_assert(cond, msg)

    def _reject(self, node, what):
        raise self.error(node, f"{what} is not supported in kernels")

    def visit_Break(self, node):
        self._reject(node, "break")

    def visit_Continue(self, node):
        self._reject(node, "continue")

    def visit_While(self, node):
        if node.orelse:
            self._reject(node, "while ... else")
        self.while_loop(node)

    def visit_With(self, node):
        self._reject(node, "with")

    def visit_Try(self, node):
        self._reject(node, "try")

    def visit_Raise(self, node):
        self._reject(node, "raise")

    def visit_Global(self, node):
        self._reject(node, "global")

    def visit_Nonlocal(self, node):
        self._reject(node, "nonlocal")

    def visit_Delete(self, node):
        self._reject(node, "del")

    def visit_Lambda(self, node):
        self._reject(node, "lambda")

    # -- if -------------------------------------------------------------------------
    def _run_branch(self, stmts, before, tail):
        """Generates a branch in a fresh region; returns (lines, locals, returned, values)."""
        self.locals = dict(before)
        self.returned, self.return_values = False, None
        self.region_depth += 1
        try:
            with self.builder.region() as lines:
                self.visit_stmts(stmts, tail)
                result = (lines, self.locals, self.returned, self.return_values)
        finally:
            self.region_depth -= 1
        return result

    def visit_If(self, node):
        tail = self.in_tail
        cond = self.visit(node.test)
        if not _is_tensor(cond):
            self.visit_stmts(node.body if cond else node.orelse, tail)
            return None
        if cond.shape:
            raise self.error(node.test, f"an if condition must be a scalar, got a block of "
                                        f"shape {list(cond.shape)}")
        cond = S.to_bool(cond)
        before = dict(self.locals)
        then_lines, then_locals, then_ret, then_vals = self._run_branch(node.body, before, tail)
        else_lines, else_locals, else_ret, else_vals = self._run_branch(node.orelse, before, tail)
        self.locals = dict(before)
        self.returned, self.return_values = False, None
        b = self.builder

        # Values visible after the if: those of both branches (a block
        # pointer as its fields).
        names, then_out, else_out, block_ptrs = [], [], [], []
        for name in list(then_locals) + [n for n in else_locals if n not in then_locals]:
            if name not in then_locals or name not in else_locals:
                continue
            tv, ev = then_locals[name], else_locals[name]
            if tv is ev:
                self.locals[name] = tv
                continue
            if isinstance(tv, _AGGREGATES) or isinstance(ev, _AGGREGATES):
                tf = tv.flatten() if isinstance(tv, _AGGREGATES) else None
                ef = ev.flatten() if isinstance(ev, _AGGREGATES) else None
                if (tf is None or ef is None or type(tv) is not type(ev)
                        or tv.block_shape != ev.block_shape
                        or [x.type for x in tf] != [x.type for x in ef]):
                    raise self.error(node, f"{name!r} is {getattr(tv, 'type', tv)} in the "
                                           f"then-branch but {getattr(ev, 'type', ev)} in the "
                                           "else-branch")
                block_ptrs.append((name, tv, len(names), len(tf)))
                for i, (x, y) in enumerate(zip(tf, ef)):
                    names.append(f"{name}\0{i}")
                    then_out.append(x)
                    else_out.append(y)
                continue
            if not _is_tensor(tv) and not _is_tensor(ev):
                if tv == ev:
                    self.locals[name] = tv
                    continue
                raise self.error(node, f"{name!r} is a compile-time value that differs between "
                                       "the branches of a run-time if")
            tv = S.to_tensor(tv, ev.dtype if _is_tensor(ev) and not ev.shape else None) \
                if not _is_tensor(tv) else tv
            ev = S.to_tensor(ev, tv.dtype) if not _is_tensor(ev) else ev
            if tv.type != ev.type:
                raise self.error(node, f"{name!r} is {tv.type} in the then-branch but "
                                       f"{ev.type} in the else-branch")
            names.append(name)
            then_out.append(tv)
            else_out.append(ev)

        returns = then_ret or else_ret
        if returns and self.region_depth > 0:
            raise self.error(node, "return inside nested run-time ifs is not supported")
        if returns:
            if not (then_ret and else_ret):
                raise self.error(node, "when one branch of a run-time if returns, the "
                                       "other must return too")
            then_out, else_out, names = list(then_vals), list(else_vals), []
            if [v.type for v in then_out] != [v.type for v in else_out]:
                raise self.error(node, "the branches return values of different types: "
                                       f"{[v.type for v in then_out]} and "
                                       f"{[v.type for v in else_out]}")

        def yield_into(lines, values):
            saved_lines, saved_depth = b.lines, b.depth
            b.lines, b.depth = lines, saved_depth + 1
            if values:
                b.emit(f"scf.yield {', '.join(v.handle for v in values)} : "
                       f"{', '.join(v.type.mlir() for v in values)}")
            else:
                b.emit("scf.yield")
            b.lines, b.depth = saved_lines, saved_depth

        yield_into(then_lines, then_out)
        yield_into(else_lines, else_out)
        types = [v.type for v in then_out]
        head = f"scf.if {cond.handle}"
        if types:
            head += " -> (" + ", ".join(t.mlir() for t in types) + ")"
        results = b.emit_with_regions(head, [(" ", then_lines), (" else ", else_lines)],
                                      len(types))
        outs = [tensor(r, t) for r, t in zip(results, types)]
        if returns:
            self.returned = True
            self.return_values = outs
            self.emit_return(outs)
            return None
        for name, value in zip(names, outs):
            if "\0" not in name:
                self.locals[name] = value
        for name, template, at, n in block_ptrs:
            self.locals[name] = template.rebuild(outs[at:at + n])

    # -- loops ------------------------------------------------------------------------
    def _carried(self, body):
        carried = []
        for name in _assigned_names(body):
            if name in self.locals:
                carried.append(name)
        return carried

    def _carry_plan(self, carried):
        """The IR values that carry `carried` (a block pointer carries each of
        its run-time fields) and the plan to rebuild them: (name, block
        pointer template or None, number of values)."""
        flat, plan = [], []
        for name in carried:
            v = self.locals[name]
            if isinstance(v, _AGGREGATES):
                fields = v.flatten()
                plan.append((name, v, len(fields)))
                flat.extend(fields)
            else:
                plan.append((name, None, 1))
                flat.append(v if _is_tensor(v) else S.to_tensor(v))
        return flat, plan

    def _bind_carried(self, plan, values):
        at = 0
        for name, template, n in plan:
            chunk = values[at:at + n]
            at += n
            self.locals[name] = template.rebuild(chunk) if template is not None else chunk[0]

    def _flat_carried(self, node, plan, types, where):
        """The current values of the carried variables as IR values of
        `types` (their types before the loop or in the other branch)."""
        outs, at = [], 0
        for name, template, n in plan:
            v = self.locals[name]
            if template is not None or isinstance(v, _AGGREGATES):
                if not (template is not None and type(v) is type(template)
                        and v.block_shape == template.block_shape):
                    raise self.error(node, f"{name!r} is {template if template is not None else types[at]} "
                                           f"before {where} but {getattr(v, 'type', v)} after it")
                values = v.flatten()
            else:
                t = types[at]
                values = [v if _is_tensor(v) else S.to_tensor(v, t if not t.is_block() else None)]
            for j, x in enumerate(values):
                if x.type != types[at + j]:
                    what = name if template is None else f"{name} ({_aggregate_kind(template)})"
                    raise self.error(node, f"loop-carried variable {what!r} is {types[at + j]} "
                                           f"before the loop but {x.type} at the end of its "
                                           "body; give it its final type before the loop")
            outs.extend(values)
            at += n
        return outs

    def _loop_body(self, node, body, plan, args, types, extra=None):
        """Generates a loop body with the carried variables bound to `args`;
        returns its lines and the values to yield."""
        before = dict(self.locals)
        self._bind_carried(plan, [tensor(a, t) for a, t in zip(args, types)])
        if extra:
            self.locals.update(extra)
        self.loop_depth += 1
        with self.builder.region() as lines:
            self.visit_stmts(body)
            outs = self._flat_carried(node, plan, types, "the loop")
            self.builder.emit(
                "scf.yield" + (f" {', '.join(v.handle for v in outs)} : "
                               f"{', '.join(v.type.mlir() for v in outs)}" if outs else ""))
        self.loop_depth -= 1
        self.locals = before
        return lines

    def visit_For(self, node):
        if node.orelse:
            self._reject(node, "for ... else")
        if not isinstance(node.target, ast.Name):
            raise self.error(node.target, "the loop variable must be a single name")
        it = self.visit(node.iter)
        if isinstance(it, tlcore.static_range) or isinstance(it, range) or \
                isinstance(it, (tuple, list)) and not any(_is_tensor(v) for v in it):
            values = it.range if isinstance(it, tlcore.static_range) else it
            if isinstance(it, range):
                # Python's range is a run-time loop in Triton; unroll only if asked.
                it = tlcore.range(it.start, it.stop, it.step)
            else:
                for v in values:
                    self.locals[node.target.id] = v
                    self.visit_stmts(node.body, tail=False)
                return None
        if not isinstance(it, tlcore.range):
            raise self.error(node.iter, "a kernel loop iterates over range(...), tl.range(...) "
                                        "or tl.static_range(...)")
        step = _unwrap(it.step)
        unroll = _unwrap(getattr(it, "loop_unroll_factor", None))
        if unroll is not None and (isinstance(unroll, bool) or not isinstance(unroll, int)
                                   or unroll < 1):
            raise self.error(node.iter, "loop_unroll_factor must be a positive integer constant, "
                                        f"got {unroll!r}")
        if not _is_tensor(step) and step <= 0:
            raise self.error(node.iter, f"the loop step must be positive, got {step}")
        bounds = [_unwrap(it.start), _unwrap(it.end), step]
        ity = T.int32
        for v in bounds:
            t = v.dtype if _is_tensor(v) else S.scalar_type_of(v)
            if _is_tensor(v) and v.shape:
                raise self.error(node.iter, "loop bounds must be scalars")
            if not t.is_int():
                raise self.error(node.iter, f"loop bounds must be integers, got {t}")
            if t.int_bitwidth == 64:
                ity = T.int64
        lb, ub, st = [S.cast(S.to_tensor(v), ity) if _is_tensor(v) else S.to_tensor(v, ity)
                      for v in bounds]
        carried = self._carried(node.body)
        inits, plan = self._carry_plan(carried)
        types = [v.type for v in inits]
        b = self.builder
        iv = b.fresh_arg()
        args = [b.fresh_arg() for _ in inits]
        lines = self._loop_body(node, node.body, plan, args, types,
                                extra={node.target.id: tensor(iv, ity)})
        head = f"scf.for {iv} = {lb.handle} to {ub.handle} step {st.handle}"
        if inits:
            head += " iter_args(" + ", ".join(f"{a} = {v.handle}" for a, v in zip(args, inits))
            head += ") -> (" + ", ".join(t.mlir() for t in types) + ")"
        head += f" : {ity.mlir()} "
        tail = f" {{tt.loop_unroll_factor = {unroll} : i32}}" if unroll and unroll > 1 else ""
        results = b.emit_with_regions(head, [("", lines)], len(inits), tail)
        self._bind_carried(plan, [tensor(r, t) for r, t in zip(results, types)])

    def while_loop(self, node):
        carried = self._carried(node.body)
        inits, plan = self._carry_plan(carried)
        types = [v.type for v in inits]
        b = self.builder
        before_args = [b.fresh_arg() for _ in inits]
        # The condition, in the "before" region.
        saved = dict(self.locals)
        self._bind_carried(plan, [tensor(a, t) for a, t in zip(before_args, types)])
        with b.region() as cond_lines:
            cond = self.visit(node.test)
            if not _is_tensor(cond):
                raise self.error(node.test, "a while condition must depend on run-time values")
            if cond.shape:
                raise self.error(node.test, "a while condition must be a scalar")
            cond = S.to_bool(cond)
            passed = ", ".join(before_args)
            sig = " : " + ", ".join(t.mlir() for t in types) if inits else ""
            b.emit(f"scf.condition({cond.handle}){(' ' + passed) if inits else ''}{sig}")
        self.locals = saved
        after_args = [b.fresh_arg() for _ in inits]
        body_lines = self._loop_body(node, node.body, plan, after_args, types)
        label = "  " * b.depth + "^bb0(" + ", ".join(
            f"{a}: {t.mlir()}" for a, t in zip(after_args, types)) + "):"
        body_lines.insert(0, label)
        head = "scf.while (" + ", ".join(f"{a} = {v.handle}" for a, v in zip(before_args, inits))
        head += ") : (" + ", ".join(t.mlir() for t in types) + ") -> ("
        head += ", ".join(t.mlir() for t in types) + ") "
        results = b.emit_with_regions(head, [("", cond_lines), (" do ", body_lines)],
                                      len(inits))
        self._bind_carried(plan, [tensor(r, t) for r, t in zip(results, types)])

    # -- expressions ------------------------------------------------------------------
    def lookup(self, name, node):
        if name in self.locals:
            return self.locals[name]
        if name in self.globals:
            return _unwrap(self.globals[name])
        if name in _ALLOWED_PY_BUILTINS or name in ("None", "True", "False"):
            return getattr(builtins, name)
        raise self.error(node, f"name {name!r} is not defined")

    def visit_Name(self, node):
        return self.lookup(node.id, node)

    def visit_Constant(self, node):
        return node.value

    def visit_Tuple(self, node):
        return tuple(self._elements(node.elts))

    def visit_List(self, node):
        return list(self._elements(node.elts))

    def _elements(self, elts):
        out = []
        for e in elts:
            if isinstance(e, ast.Starred):
                out.extend(self.visit(e.value))
            else:
                out.append(self.visit(e))
        return out

    def visit_Slice(self, node):
        parts = [self.visit(p) if p is not None else None for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def visit_Subscript(self, node):
        value = self.visit(node.value)
        index = self.visit(node.slice)
        if _is_tensor(value):
            return S.subscript(value, index)
        if _is_tensor(index):
            raise self.error(node, "tuples can only be indexed by compile-time values")
        return value[_unwrap(index)]

    def visit_Attribute(self, node):
        value = self.visit(node.value)
        return _unwrap(getattr(value, node.attr))

    def apply_binop(self, op, lhs, rhs, node):
        fn = _PY_BINOPS.get(type(op))
        if fn is None:
            raise self.error(node, f"operator {type(op).__name__} is not supported")
        if not _is_tensor(lhs) and not _is_tensor(rhs):
            return fn(_unwrap(lhs), _unwrap(rhs))
        if fn is operator.pow:
            raise self.error(node, "** on tensors is not supported; use multiplication or "
                                   "tl.exp2/tl.log2")
        return fn(lhs, rhs)

    def visit_BinOp(self, node):
        return self.apply_binop(node.op, self.visit(node.left), self.visit(node.right), node)

    def visit_UnaryOp(self, node):
        v = self.visit(node.operand)
        op = type(node.op)
        if not _is_tensor(v):
            v = _unwrap(v)
            return {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
                    ast.Invert: operator.invert}[op](v)
        if op is ast.USub:
            return S.minus(v)
        if op is ast.UAdd:
            return v
        if op is ast.Invert:
            return S.invert(v)
        return S.logical_not(v)

    def visit_Compare(self, node):
        if len(node.ops) != 1:
            raise self.error(node, "chained comparisons are not supported; combine them with &")
        lhs, rhs = self.visit(node.left), self.visit(node.comparators[0])
        op = type(node.ops[0])
        if op in _STATIC_CMPOPS:
            if _is_tensor(lhs) and op in (ast.In, ast.NotIn):
                raise self.error(node, "'in' needs compile-time values")
            return _STATIC_CMPOPS[op](_unwrap(lhs), _unwrap(rhs))
        fn = _PY_CMPOPS[op]
        if not _is_tensor(lhs) and not _is_tensor(rhs):
            return fn(_unwrap(lhs), _unwrap(rhs))
        if not _is_tensor(lhs):  # keep tensors on the left for __eq__ etc.
            swapped = {operator.lt: operator.gt, operator.le: operator.ge, operator.gt: operator.lt,
                       operator.ge: operator.le, operator.eq: operator.eq, operator.ne: operator.ne}
            return swapped[fn](rhs, lhs)
        return fn(lhs, rhs)

    def visit_BoolOp(self, node):
        is_and = isinstance(node.op, ast.And)
        op = "and" if is_and else "or"
        runtime = []
        last = None
        for value_node in node.values:
            v = self.visit(value_node)
            if _is_tensor(v):
                runtime.append(S.to_bool(v))
                continue
            v = _unwrap(v)
            last = v
            # A compile-time value decides the whole expression or drops out.
            if is_and and not v:
                return False if runtime else v
            if not is_and and v:
                return True if runtime else v
        if not runtime:
            return last
        result = runtime[0]
        for v in runtime[1:]:
            result = S.logical(op, result, v)
        return result

    def visit_IfExp(self, node):
        cond = self.visit(node.test)
        if not _is_tensor(cond):
            return self.visit(node.body if cond else node.orelse)
        return S.where(cond, self.visit(node.body), self.visit(node.orelse))

    def visit_JoinedStr(self, node):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            else:
                value = self.visit(v.value)
                if _is_tensor(value):
                    raise self.error(v, "f-strings can only hold compile-time values")
                parts.append(format(_unwrap(value), self.visit(v.format_spec) if v.format_spec else ""))
        return "".join(parts)

    def visit_FormattedValue(self, node):
        return format(_unwrap(self.visit(node.value)))

    # -- calls ------------------------------------------------------------------------
    def visit_Call(self, node):
        fn = self.visit(node.func)
        args = self._elements(node.args)
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                kwargs.update(self.visit(kw.value))
            else:
                kwargs[kw.arg] = self.visit(kw.value)
        from ..runtime.jit import JITFunction

        if isinstance(fn, JITFunction):
            return self.call_jit(fn, args, kwargs, node)
        if fn in tlcore.BUILTINS or fn in (tlcore.range, tlcore.static_range):
            return self._call_builtin(fn, args, kwargs)
        if isinstance(fn, functools.partial) and fn.func in tlcore.BUILTINS:
            return self._call_builtin(fn, args, kwargs)
        if inspect.ismethod(fn) and isinstance(fn.__self__, (tensor, S.tensor_descriptor)):
            return self._call_builtin(fn, args, kwargs)
        if fn is constexpr:
            return _unwrap(args[0])
        if isinstance(fn, T.dtype):
            raise self.error(node, f"{fn} is a type, not a function; use x.to({fn})")
        if getattr(fn, "__tessera_builtin__", None):
            return fn.__tessera_builtin__(*args, **kwargs)
        any_tensor = any(_is_tensor(a) for a in args) or any(_is_tensor(v) for v in kwargs.values())
        if fn is builtins.range:
            if any_tensor:
                return tlcore.range(*args)
            return range(*[_unwrap(a) for a in args])
        if fn is builtins.print:
            if any_tensor:
                raise self.error(node, "print() of run-time values: use tl.device_print")
            return print(*[_unwrap(a) for a in args], **kwargs)
        if any_tensor and fn in (builtins.min, builtins.max) and len(args) >= 2 and not kwargs:
            # As in Triton: min/max of run-time values are tl.minimum/maximum.
            combine = S.minimum if fn is builtins.min else S.maximum
            return functools.reduce(combine, args)
        if any_tensor:
            name = getattr(fn, "__name__", repr(fn))
            raise self.error(node, f"{name!r} is not a @tessera.jit function and cannot take "
                                   "run-time values; decorate it with @tessera.jit")
        if not callable(fn):
            raise self.error(node, f"{fn!r} is not callable")
        return fn(*[_unwrap(a) for a in args], **{k: _unwrap(v) for k, v in kwargs.items()})

    def _call_builtin(self, fn, args, kwargs):
        previous = S._state.get("call_jit")
        S._state["call_jit"] = lambda f, a: self.call_jit(f, a, {}, None)
        try:
            return fn(*args, **kwargs)
        finally:
            S._state["call_jit"] = previous

    def call_jit(self, fn, args, kwargs, node):
        src = fn.source
        sig = inspect.signature(src.fn)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise SemanticError(f"calling {src.name}: {e}") from None
        bound.apply_defaults()
        runtime_types, values, passed = {}, {}, []
        for name, value in bound.arguments.items():
            fields, description, build = _split_runtime(value)
            if _is_tensor(value):
                runtime_types[name] = value.type
                passed.append(value)
            elif fields:
                runtime_types[name] = _RuntimeParam([t.type for t in fields], description, build)
                passed.extend(fields)
            else:
                values[name] = _unwrap(value)
        key = (id(fn), tuple((n, repr(t)) for n, t in runtime_types.items()),
               tuple((n, repr(v)) for n, v in values.items()))
        if key not in self.module.callees:
            if key in self.module.in_progress:
                raise SemanticError(f"{src.name} calls itself; recursion is not supported")
            self.module.in_progress.add(key)
            name = f"{src.name}__{len(self.module.callees)}"
            gen = CodeGenerator(self.module, fn, src, name, values, runtime_types, None,
                                is_kernel=False)
            saved = S.set_builder(gen.builder)
            try:
                self.module.callees[key] = gen.generate()
            finally:
                S.set_builder(saved)
                self.module.in_progress.discard(key)
        name, results, return_plan = self.module.callees[key]
        b = self.builder
        arg_text = ", ".join(v.handle for v in passed)
        types_in = ", ".join(v.type.mlir() for v in passed)
        types_out = ", ".join(t.mlir() for t in results)
        call = f"func.call @{name}({arg_text}) : ({types_in}) -> ({types_out})"
        names = b.emit(call, len(results))
        outs = [tensor(n, t) for n, t in zip(names, results)]
        if return_plan is not None and any(t is not None for t, _ in return_plan[0]):
            items, at = [], 0
            for template, n in return_plan[0]:
                items.append(template.rebuild(outs[at:at + n]) if template is not None
                             else outs[at])
                at += n
            return tuple(items) if return_plan[2] else items[0]
        if not outs:
            return None
        if len(outs) == 1:
            return outs[0]
        return tuple(outs)


def generate_module(fn, signature: dict, constexprs: dict, attrs: dict) -> str:
    """The tile IR module of kernel ``fn`` (a JITFunction) specialized to
    ``signature`` (name -> dtype) and ``constexprs`` (name -> value)."""
    module = ModuleBuilder()
    src = fn.source
    gen = CodeGenerator(module, fn, src, src.name, constexprs, signature, attrs, is_kernel=True)
    saved = S.set_builder(gen.builder)
    try:
        gen.generate()
    finally:
        S.set_builder(saved)
    # Callees first, then the kernel, so the text reads top-down.
    kernel = module.functions.pop()
    return "\n\n".join(module.functions + [kernel]) + "\n"
