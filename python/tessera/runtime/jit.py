"""``@tessera.jit``: specialization, compilation caches and launches."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import sys
import threading

from .. import _C
from ..compiler.codegen import FunctionSource
from ..compiler.errors import CompilationError
from ..language import dtypes as T
from ..language.semantic import constexpr
from . import cache as disk_cache

_TORCH_DTYPES = {
    "torch.float16": T.float16, "torch.bfloat16": T.bfloat16, "torch.float32": T.float32,
    "torch.float64": T.float64, "torch.int8": T.int8, "torch.int16": T.int16,
    "torch.int32": T.int32, "torch.int64": T.int64, "torch.uint8": T.uint8,
    "torch.bool": T.int1, "torch.float8_e4m3fn": T.float8e4nv, "torch.float8_e5m2": T.float8e5,
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


def _int_range(ty):
    """[lo, hi) of an integer type (bool: 0 and 1)."""
    if ty.is_bool():
        return 0, 2
    bits = ty.int_bitwidth
    return (-2**(bits - 1), 2**(bits - 1)) if ty.is_int_signed() else (0, 2**bits)


def _declared_type(annotation, globals_):
    """The type a parameter annotation declares: a tessera dtype, a
    ``tl.pointer_type(...)`` or Triton's spelling ('*fp16', 'i32'); None
    for no annotation or another kind of one."""
    if isinstance(annotation, str) and not _is_constexpr_annotation(annotation):
        try:
            return T.parse_type(annotation)
        except ValueError:
            pass
        try:
            annotation = eval(annotation, dict(globals_))  # as typing.get_type_hints does
        except Exception:
            return None
    return annotation if isinstance(annotation, T.dtype) else None


_DLPACK_DTYPES = {  # (type code, bits) -> dtype
    (0, 8): T.int8, (0, 16): T.int16, (0, 32): T.int32, (0, 64): T.int64,
    (1, 8): T.uint8, (1, 16): T.uint16, (1, 32): T.uint32, (1, 64): T.uint64,
    (2, 16): T.float16, (2, 32): T.float32, (2, 64): T.float64, (4, 16): T.bfloat16,
    (6, 8): T.int1,
}
_DLPACK_DEVICES = {1: "cpu", 2: "cuda", 3: "cuda_host", 10: "rocm", 13: "cuda_managed"}


class _Device:
    def __init__(self, kind, index):
        self.type, self.index = kind, index

    def __repr__(self):
        return f"{self.type}:{self.index}"


class DLPackArray:
    """An array of another library seen through DLPack (``__dlpack__``): its
    address, device and element type. It holds the capsule, and so the
    producer's memory, for as long as it lives."""

    def __init__(self, value):
        try:
            self.capsule = value.__dlpack__()
        except Exception as e:  # the producer's own error, with its reason
            raise TypeError(f"{type(value).__name__}.__dlpack__() failed: {e}") from None
        address, device_type, device_id, code, bits, lanes = _C.dlpack_info(self.capsule)
        if lanes != 1:
            raise TypeError(f"DLPack arrays of vector elements ({lanes} lanes) are not supported")
        self.elem = _DLPACK_DTYPES.get((code, bits))
        if self.elem is None:
            raise TypeError(f"DLPack dtype (code {code}, {bits} bits) is not supported")
        self.device = _Device(_DLPACK_DEVICES.get(device_type, f"dlpack-device-{device_type}"),
                              device_id)
        self.address = address

    def data_ptr(self):
        return self.address


def _tensor_dtype(value):
    """The element dtype of a torch tensor, numpy array or DLPack array, or None."""
    if isinstance(value, DLPackArray):
        return value.elem
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


def _signature_text(ty, hints) -> str:
    """A run-time parameter in Triton's spelling, with tessera's hints:
    ':16' (aligned / divisible by 16), ':i64' (64-bit offsets)."""
    return (T.short_name(ty) + (":16" if "D" in hints else "") +
            (":i64" if "L" in hints else ""))


def _extent(value) -> int:
    """How many elements a tensor argument's addresses span from its base
    (a strided view spans more than it holds); 0 when unknown."""
    shape, strides = getattr(value, "shape", None), None
    if shape is None:
        return 0
    if callable(getattr(value, "stride", None)):
        strides = value.stride()  # torch: in elements
    elif getattr(value, "strides", None) is not None and getattr(value, "itemsize", 0):
        strides = [st // value.itemsize for st in value.strides]  # numpy: in bytes
    shape = tuple(int(d) for d in shape)
    if not shape:
        return 1
    if any(d == 0 for d in shape):
        return 0
    if strides is None:
        n = 1
        for d in shape:
            n *= d
        return n
    return 1 + sum((d - 1) * abs(int(st)) for d, st in zip(shape, strides))


class CompiledKernel:
    """A kernel specialized and compiled for one signature on one backend.

    ``JITFunction.warmup`` returns one; ``compiled[grid](*args)`` launches
    it after holding every argument to what the kernel was compiled for:
    the dtype of each tensor, 16-byte alignment and divisibility by 16
    where they were assumed, the constexprs and the integers specialized
    to 1. A mismatch raises (the JIT path instead compiles another
    specialization)."""

    def __init__(self, backend, handle, name, arg_names, arg_types, fn=None,
                 signature=None, constants=None, options=None):
        self.backend = backend
        self.handle = handle
        self.name = name
        self.arg_names = arg_names  # the run-time parameters, in order
        self.arg_types = arg_types
        self.fn = fn
        self.signature = signature or {}  # name -> (dtype, hints)
        self.constants = constants or {}
        self.options = options or {}

    def __repr__(self):
        sig = ", ".join(f"{n}: {_signature_text(t, h)}"
                        for n, (t, h) in self.signature.items())
        return f"CompiledKernel({self.name}({sig}), constants={self.constants})"

    def __getitem__(self, grid):
        return functools.partial(self.run, grid=grid)

    def run(self, *args, grid, **kwargs):
        fn = self.fn
        try:
            bound = fn.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}: {e}") from None
        bound.apply_defaults()
        runtime, constants = fn._specialize(bound, self.backend)
        values = []
        for name in self.arg_names:
            ty, hints = self.signature[name]
            where = f"argument {name!r} of the compiled {self.name}"
            if name in runtime:
                got, _, value = runtime[name]
            else:
                value = constants.get(name)
                if not isinstance(value, (int, float)):
                    raise TypeError(f"{where} must be {T.short_name(ty)}, got {value!r}")
                got = T.int32 if isinstance(value, int) else T.float32
            if ty.is_ptr():
                if not got.is_ptr():
                    raise TypeError(f"{where} must be a tensor of {T.short_name(ty.element_ty)}, "
                                    f"got {value!r}")
                if got != ty:
                    raise TypeError(f"{where} was compiled for {T.short_name(ty.element_ty)} "
                                    f"tensors, got a tensor of {T.short_name(got.element_ty)}")
                if "D" in hints and value % 16:
                    raise ValueError(f"{where} is at address {value:#x}, which is not 16-byte "
                                     "aligned, but the kernel was compiled assuming it is")
                if "L" in runtime[name][1] and "L" not in hints:
                    raise ValueError(f"{where} spans 2^31 elements or more, but the kernel was "
                                     "compiled with 32-bit offsets for it (warm it up with a "
                                     "tensor as large, or with the type '*T:i64')")
            elif got.is_ptr():
                raise TypeError(f"{where} must be a {T.short_name(ty)} scalar, got a tensor")
            elif ty.is_floating():
                value = float(value)
            else:
                if isinstance(value, float):
                    raise TypeError(f"{where} must be an integer ({T.short_name(ty)}), "
                                    f"got {value!r}")
                lo, hi = _int_range(ty)
                if not lo <= int(value) < hi:
                    raise ValueError(f"{where} = {value} does not fit the compiled type "
                                     f"{T.short_name(ty)}")
                if "D" in hints and int(value) % 16:
                    raise ValueError(f"{where} = {value} is not divisible by 16, but the kernel "
                                     "was compiled assuming it is")
            values.append(value)
        for name, compiled in self.constants.items():
            value = constants[name] if name in constants else runtime[name][2]
            if not _same_constant(compiled, value):
                what = ("specialized to 1" if name not in fn.constexpr_names and compiled == 1
                        else f"compiled with {name}={compiled!r}")
                raise ValueError(f"argument {name!r} of the compiled {self.name} is {value!r}, "
                                 f"but the kernel was {what}")
        grid = fn._resolve_grid(grid, bound, self.options)
        self.backend.launch(self, grid, values, self.options)
        return self


def _same_constant(a, b):
    if isinstance(a, T.dtype) or isinstance(b, T.dtype):
        return a == b
    return type(a) is type(b) and a == b if isinstance(a, (bool, float)) else a == b


class JITFunction(_C.Launchable):
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
        self.declared = {}
        for name, p in self.signature.parameters.items():
            ty = _declared_type(p.annotation, fn.__globals__)
            if ty is not None and name not in self.constexpr_names:
                self.declared[name] = ty
        self.cache: dict = {}
        self._compile_lock = threading.Lock()
        self._key_locks: dict = {}
        self._source_hash = None
        self._fast = None  # the C++ FastLauncher, False when not used

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

    # kernel[grid] is C (_C.Launchable): with a FastLauncher set, it launches
    # without Python; else it calls `_subscript`.
    def _subscript(self, grid):
        if self._fast is None and self._make_fast_launcher() is not False:
            self._set_fast_launcher(self._fast)
            return self[grid]
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
        if self.declared:  # declared types are checked on every launch, in Python
            return False

        params = list(self.signature.parameters.values())
        self._fast = _C.cuda.FastLauncher(
            self.arg_names,
            [n in self.constexpr_names for n in self.arg_names],
            [n not in self.do_not_specialize for n in self.arg_names],
            tuple(p.default for p in params), inspect.Parameter.empty,
            self._fast_fallback, torch.Tensor, torch._C._cuda_getCurrentRawStream,
            torch._C._cuda_getDevice, dict(active().default_options), constexpr)
        return self._fast

    def _fast_fallback(self, key, grid, args, kwargs):
        kernel = self.run(*args, grid=grid, **kwargs)
        if key is not None and self._fast not in (None, False):
            positions = [self.arg_names.index(n) for n in kernel.arg_names]
            kinds = kernel.backend.kinds(kernel)
            self._fast.register(key, kernel.handle, positions, kinds)
        return None

    # -- specialization -----------------------------------------------------------------
    def _specialize(self, bound, backend, typed=None):
        """Splits the arguments into run-time ones (name -> (dtype, hints,
        value)) and compile-time ones (name -> value). `typed` gives some
        run-time ones as (dtype, hints) instead of values (warmup)."""
        runtime, constants = {}, {}
        for name, value in bound.arguments.items():
            if typed and name in typed:
                runtime[name] = typed[name] + (0,)
                continue
            if isinstance(value, constexpr):
                value = value.value
            if name in self.constexpr_names:
                constants[name] = value
                continue
            if value is None or isinstance(value, T.dtype):
                constants[name] = value
                continue
            if type(value).__module__ == "numpy" and getattr(value, "shape", None) == () and \
                    getattr(value, "dtype", None) is not None and value.dtype.kind in "biuf":
                value = value.item()  # a numpy scalar: as the Python number
            specialize = name not in self.do_not_specialize
            declared = self.declared.get(name)
            if declared is not None and declared.is_floating() and \
                    isinstance(value, (int, float)) and not isinstance(value, bool):
                runtime[name] = (declared, "", float(value))  # never an integer constant
                continue
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
                if (hasattr(value, "__dlpack__") and not hasattr(value, "data_ptr")
                        and type(value).__module__ != "numpy"):
                    value = DLPackArray(value)
                try:
                    elem = _tensor_dtype(value)
                except TypeError as e:
                    raise TypeError(f"argument {name!r} of {self.__name__}: {e}") from None
                if elem is None:
                    raise TypeError(f"argument {name!r} of {self.__name__} has unsupported type "
                                    f"{type(value).__name__}; pass a torch tensor, a numpy "
                                    "array, a DLPack array, an int, a float or a bool")
                address = backend.pointer(value, name, self.__name__)
                hints = "D" if specialize and address % 16 == 0 else ""
                if _extent(value) >= 2**31:
                    hints += "L"  # 64-bit offsets (tile-widen-offsets)
                runtime[name] = (T.pointer_type(elem), hints, address)
        for name, ty in self.declared.items():
            if not (typed and name in typed):
                self._check_declared(name, ty, runtime, constants)
        return runtime, constants

    def _check_declared(self, name, declared, runtime, constants):
        """Holds an argument to the type its annotation declares."""
        if name in runtime:
            ty, hints, value = runtime[name]
        elif isinstance(constants.get(name), int) and constants[name] == 1:
            ty, hints, value = T.int32, "", 1  # specialized to 1: still an integer
        else:
            return
        where = f"argument {name!r} of {self.__name__}"
        if declared.is_ptr():
            if not ty.is_ptr():
                raise TypeError(f"{where} is declared {T.short_name(declared)} (a pointer), "
                                f"but a {T.short_name(ty)} value was passed")
            if ty != declared:
                raise TypeError(f"{where} is declared {T.short_name(declared)}, but a tensor of "
                                f"{T.short_name(ty.element_ty)} was passed")
            return
        if ty.is_ptr():
            raise TypeError(f"{where} is declared {T.short_name(declared)} (a scalar), but a "
                            "tensor was passed")
        if declared.is_floating():
            if name in runtime:
                runtime[name] = (declared, "", float(value))
            return
        if ty.is_floating():
            raise TypeError(f"{where} is declared {T.short_name(declared)}, but the float "
                            f"{value!r} was passed")
        lo, hi = _int_range(declared)
        if not lo <= int(value) < hi:
            raise ValueError(f"{where} = {value} is out of range for its declared type "
                             f"{T.short_name(declared)}")
        if name in runtime:
            runtime[name] = (declared, hints, value)

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
        signature = {n: _signature_text(runtime[n][0], runtime[n][1]) for n in names}
        dump = os.environ.get("TESSERA_DUMP_IR", "0") not in ("", "0")
        # Code dumped or replaced for an experiment (backends/nvidia.py)
        # neither comes from nor goes to the compile cache.
        uncached = any(os.environ.get(v) for v in ("TESSERA_PTX_DUMP_DIR",
                                                   "TESSERA_PTX_OVERRIDE_DIR"))
        if backend.name != "cpu":
            from . import capture
            capture.forbid(f"kernel {self.__name__} would be compiled or loaded")
        key = self._disk_key(backend, signature, constants, options)
        hit = None if dump or uncached else disk_cache.load(key)
        if hit is not None:
            binary = hit[0]
        else:
            ir = ASTSource(self, signature, constants).make_ir()
            if dump:
                print(f"// -----// {self.__name__}: tile IR from the front end //----- //\n{ir}",
                      file=sys.stderr)
            binary = backend.compile(ir, self.__name__, dump, options)
            if not uncached:
                disk_cache.store(key, binary, {"name": self.__name__, "signature": signature},
                                 backend.binary_name)
        handle = backend.load(binary, self.__name__)
        kernel = CompiledKernel(backend, handle, self.__name__, names, types, self,
                              {n: (runtime[n][0], runtime[n][1]) for n in names},
                              dict(constants), dict(options))
        kernel.binary = binary  # what the backend loaded (object, cubin or PTX)
        return kernel

    # -- launch ------------------------------------------------------------------------------
    def _bind(self, args, kwargs, typed=None):
        """(backend, options, bound arguments, run-time args, kernel)."""
        from ..backends import for_values

        backend = for_values(list(args) + list(kwargs.values()))
        options = dict(backend.default_options)
        for name in list(kwargs):
            if name in options and name not in self.arg_names:
                options[name] = kwargs.pop(name)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.__name__}: {e}") from None
        bound.apply_defaults()
        runtime, constants = self._specialize(bound, backend, typed)
        key = (tuple((n, repr(t), h) for n, (t, h, _) in runtime.items()),
               tuple((n, repr(v)) for n, v in constants.items()),
               tuple(sorted(options.items())), backend.name)
        kernel = self.cache.get(key)
        if kernel is None:
            # One compile per key in a process: threads asking for the same
            # kernel wait for the first one's result.
            with self._compile_lock:
                lock = self._key_locks.setdefault(key, threading.Lock())
            with lock:
                kernel = self.cache.get(key)
                if kernel is None:
                    kernel = self.compile(runtime, constants, options, backend)
                    self.cache[key] = kernel
        return backend, options, bound, runtime, kernel

    def run(self, *args, grid, **kwargs):
        backend, options, bound, runtime, kernel = self._bind(args, kwargs)
        grid = self._resolve_grid(grid, bound, options)
        backend.launch(kernel, grid, [runtime[n][2] for n in kernel.arg_names], options)
        return kernel

    def warmup(self, *args, grid=None, **kwargs) -> CompiledKernel:
        """Compiles (or finds in the caches) the kernel these arguments
        select, without launching it, and returns it. Arguments may be
        tensors and scalars as for a launch, or types in Triton's spelling
        for run-time parameters: '*fp16' (a pointer), '*fp16:16' (16-byte
        aligned), 'i32', 'i32:16' (divisible by 16), 'fp32'."""
        typed = {}
        params = list(self.signature.parameters)
        for name, value in list(zip(params, args)) + list(kwargs.items()):
            if isinstance(value, str) and name in params and name not in self.constexpr_names:
                text, *hints = value.split(":")
                if any(h not in ("16", "i64") for h in hints):
                    raise ValueError(f"warmup: {name}={value!r}: the hints are ':16' (aligned "
                                     "or divisible by 16) and ':i64' (a pointer to 2^31 "
                                     "elements or more)")
                typed[name] = (T.parse_type(text),
                               ("D" if "16" in hints else "") + ("L" if "i64" in hints else ""))
        return self._bind(list(args), dict(kwargs), typed)[4]

    def _resolve_grid(self, grid, bound, options):
        if callable(grid):
            meta = {n: (v.value if isinstance(v, constexpr) else v)
                    for n, v in bound.arguments.items()}
            meta.update(options)
            grid = grid(meta)
        return self._check_grid(grid)

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
