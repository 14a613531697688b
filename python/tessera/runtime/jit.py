"""``@tessera.jit``: specialization, compilation caches and launches."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import sys

from ..compiler.codegen import FunctionSource
from ..compiler.errors import CompilationError
from ..language import dtypes as T
from ..language.semantic import constexpr
from . import cache as disk_cache

_TORCH_DTYPES = {
    "torch.float16": T.float16, "torch.bfloat16": T.bfloat16, "torch.float32": T.float32,
    "torch.float64": T.float64, "torch.int8": T.int8, "torch.int16": T.int16,
    "torch.int32": T.int32, "torch.int64": T.int64, "torch.uint8": T.uint8,
    "torch.bool": T.int1,
}
_NUMPY_DTYPES = {
    "float16": T.float16, "float32": T.float32, "float64": T.float64, "int8": T.int8,
    "int16": T.int16, "int32": T.int32, "int64": T.int64, "uint8": T.uint8,
    "uint16": T.uint16, "uint32": T.uint32, "uint64": T.uint64, "bool": T.int1,
}
_MAX_GRID = (2**31 - 1, 65535, 65535)


@functools.lru_cache(maxsize=None)
def compiler_fingerprint() -> str:
    """Identifies this build of the compiler: the version, the Python
    package's sources (the front end) and libtessera.so's size and time."""
    from .. import _C

    h = hashlib.sha256(_C.version().encode())
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for root, _, files in sorted(os.walk(package)):
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(root, name), "rb") as f:
                    h.update(name.encode() + f.read())
    lib = _C.library_path()
    if lib:
        st = os.stat(lib)
        h.update(f"{lib}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _is_constexpr_annotation(annotation) -> bool:
    if annotation is constexpr:
        return True
    return isinstance(annotation, str) and annotation.split(".")[-1] == "constexpr"


def _tensor_dtype(value):
    """The element dtype of a torch tensor or numpy array, or None."""
    module = type(value).__module__
    if module.startswith("torch") and hasattr(value, "data_ptr"):
        ty = _TORCH_DTYPES.get(str(value.dtype))
        if ty is None:
            raise TypeError(f"torch dtype {value.dtype} is not supported")
        return ty
    if module == "numpy" and type(value).__name__ == "ndarray":
        ty = _NUMPY_DTYPES.get(value.dtype.name)
        if ty is None:
            raise TypeError(f"numpy dtype {value.dtype} is not supported")
        return ty
    return None


class CompiledKernel:
    """A kernel specialized and compiled for one signature on one backend."""

    def __init__(self, backend, handle, name, arg_names, arg_types):
        self.backend = backend
        self.handle = handle
        self.name = name
        self.arg_names = arg_names  # the run-time parameters, in order
        self.arg_types = arg_types


class JITFunction:
    """A kernel: call it as ``kernel[grid](*args)``."""

    def __init__(self, fn, do_not_specialize=(), debug=None, noinline=None):
        self.fn = fn
        functools.update_wrapper(self, fn)
        self.source = FunctionSource(fn)
        self.signature = inspect.signature(fn)
        self.arg_names = list(self.signature.parameters)
        self.constexpr_names = {
            name for name, p in self.signature.parameters.items()
            if _is_constexpr_annotation(p.annotation)}
        self.do_not_specialize = {
            self.arg_names[d] if isinstance(d, int) else d for d in do_not_specialize}
        self.cache: dict = {}
        self._source_hash = None
        self._fast = None

    # -- identity -------------------------------------------------------------------
    @property
    def source_hash(self) -> str:
        """Hash of this function's source and of every @jit function it reaches."""
        if self._source_hash is None:
            seen = set()
            h = hashlib.sha256()

            def visit(jf):
                if id(jf) in seen:
                    return
                seen.add(id(jf))
                h.update(jf.source.source.encode())
                import ast
                for node in ast.walk(jf.source.node):
                    name = node.id if isinstance(node, ast.Name) else None
                    if name and isinstance(jf.fn.__globals__.get(name), JITFunction):
                        visit(jf.fn.__globals__[name])

            visit(self)
            self._source_hash = h.hexdigest()
        return self._source_hash

    def __repr__(self):
        return f"JITFunction({self.__module__}:{self.__qualname__})"

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.__name__} is a @tessera.jit kernel: launch it with "
                           f"{self.__name__}[grid](...), or call it from another kernel")

    def __getitem__(self, grid):
        fast = self._fast if self._fast is not None else self._make_fast_launcher()
        if fast is not False:
            return functools.partial(fast.launch, grid)
        return functools.partial(self.run, grid=grid)

    # -- the C++ launch path (CUDA) ---------------------------------------------------
    def _make_fast_launcher(self):
        """The C++ launcher for the CUDA backend (False elsewhere): it binds,
        specializes and launches without Python in the loop, and calls
        `_fast_fallback` for what it does not handle."""
        from ..backends import active

        self._fast = False
        torch = sys.modules.get("torch")
        if active().name != "cuda" or torch is None or os.environ.get("TESSERA_SLOW_LAUNCH"):
            return False
        from .. import _C

        params = list(self.signature.parameters.values())
        self._fast = _C.cuda.FastLauncher(
            self.arg_names,
            [n in self.constexpr_names for n in self.arg_names],
            [n not in self.do_not_specialize for n in self.arg_names],
            tuple(p.default for p in params), inspect.Parameter.empty,
            self._fast_fallback, torch.Tensor, torch._C._cuda_getCurrentRawStream,
            torch._C._cuda_getDevice)
        return self._fast

    def _fast_fallback(self, key, grid, args, kwargs):
        kernel = self.run(*args, grid=grid, **kwargs)
        if key is not None and self._fast not in (None, False):
            positions = [self.arg_names.index(n) for n in kernel.arg_names]
            kinds = kernel.backend.kinds(kernel)
            self._fast.register(key, kernel.handle, positions, kinds)
        return None

    # -- specialization -----------------------------------------------------------------
    def _specialize(self, bound, backend):
        """Splits the arguments into run-time ones (name -> (dtype, hints,
        value)) and compile-time ones (name -> value)."""
        runtime, constants = {}, {}
        for name, value in bound.arguments.items():
            if isinstance(value, constexpr):
                value = value.value
            if name in self.constexpr_names:
                constants[name] = value
                continue
            if value is None or isinstance(value, T.dtype):
                constants[name] = value
                continue
            specialize = name not in self.do_not_specialize
            if isinstance(value, bool):
                runtime[name] = (T.int1, "", int(value))
            elif isinstance(value, int):
                if specialize and value == 1:
                    constants[name] = 1
                    continue
                if -2**31 <= value < 2**31:
                    ty = T.int32
                elif -2**63 <= value < 2**63:
                    ty = T.int64
                elif 0 <= value < 2**64:
                    ty = T.uint64
                else:
                    raise ValueError(f"argument {name!r} = {value} does not fit in 64 bits")
                hints = "D" if specialize and value % 16 == 0 else ""
                runtime[name] = (ty, hints, value)
            elif isinstance(value, float):
                runtime[name] = (T.float32, "", value)
            else:
                try:
                    elem = _tensor_dtype(value)
                except TypeError as e:
                    raise TypeError(f"argument {name!r} of {self.__name__}: {e}") from None
                if elem is None:
                    raise TypeError(f"argument {name!r} of {self.__name__} has unsupported type "
                                    f"{type(value).__name__}; pass a torch tensor, a numpy "
                                    "array, an int, a float or a bool")
                address = backend.pointer(value, name, self.__name__)
                hints = "D" if specialize and address % 16 == 0 else ""
                runtime[name] = (T.pointer_type(elem), hints, address)
        return runtime, constants

    # -- compilation ---------------------------------------------------------------------
    def _disk_key(self, backend, signature, constants, options) -> str:
        record = {
            "compiler": compiler_fingerprint(),
            "source": self.source_hash,
            "name": self.__name__,
            "signature": signature,
            "constants": {k: repr(v) for k, v in sorted(constants.items())},
            "options": options,
            "backend": backend.name,
            "target": backend.target,
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def compile(self, runtime, constants, options, backend):
        from ..compiler.frontend import ASTSource

        names = [n for n in self.arg_names if n in runtime]
        types = [runtime[n][0] for n in names]
        signature = {n: T.short_name(runtime[n][0]) + (":16" if runtime[n][1] else "")
                     for n in names}
        dump = os.environ.get("TESSERA_DUMP_IR", "0") not in ("", "0")
        key = self._disk_key(backend, signature, constants, options)
        hit = None if dump else disk_cache.load(key)
        if hit is not None:
            binary = hit[0]
        else:
            ir = ASTSource(self, signature, constants).make_ir()
            if dump:
                print(f"// -----// {self.__name__}: tile IR from the front end //----- //\n{ir}",
                      file=sys.stderr)
            binary = backend.compile(ir, self.__name__, dump, options)
            disk_cache.store(key, binary, {"name": self.__name__, "signature": signature},
                             backend.binary_name)
        handle = backend.load(binary, self.__name__)
        return CompiledKernel(backend, handle, self.__name__, names, types)

    # -- launch ------------------------------------------------------------------------------
    def run(self, *args, grid, **kwargs):
        from ..backends import active

        backend = active()
        options = dict(backend.default_options)
        for name in list(kwargs):
            if name in options and name not in self.arg_names:
                options[name] = kwargs.pop(name)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.__name__}: {e}") from None
        bound.apply_defaults()
        runtime, constants = self._specialize(bound, backend)
        key = (tuple((n, repr(t), h) for n, (t, h, _) in runtime.items()),
               tuple((n, repr(v)) for n, v in constants.items()),
               tuple(sorted(options.items())))
        kernel = self.cache.get(key)
        if kernel is None:
            kernel = self.compile(runtime, constants, options, backend)
            self.cache[key] = kernel
        if callable(grid):
            meta = {n: (v.value if isinstance(v, constexpr) else v)
                    for n, v in bound.arguments.items()}
            meta.update(options)
            grid = grid(meta)
        grid = self._check_grid(grid)
        backend.launch(kernel, grid, [runtime[n][2] for n in kernel.arg_names], options)
        return kernel

    def _check_grid(self, grid):
        if isinstance(grid, int):
            grid = (grid,)
        grid = tuple(int(g.value if isinstance(g, constexpr) else g) for g in grid)
        if not 1 <= len(grid) <= 3:
            raise ValueError(f"{self.__name__}: the grid must have 1 to 3 dimensions, got {grid}")
        for i, (g, limit) in enumerate(zip(grid, _MAX_GRID)):
            if g < 1 or g > limit:
                raise ValueError(f"{self.__name__}: grid dimension {i} is {g}; it must be in "
                                 f"[1, {limit}]")
        return grid + (1,) * (3 - len(grid))


def jit(fn=None, *, do_not_specialize=(), debug=None, noinline=None):
    """Decorator: makes ``fn`` a kernel (or a function kernels can call)."""
    def wrap(f):
        return JITFunction(f, do_not_specialize=do_not_specialize, debug=debug, noinline=noinline)
    if fn is not None:
        return wrap(fn)
    return wrap


__all__ = ["JITFunction", "jit", "CompilationError"]
