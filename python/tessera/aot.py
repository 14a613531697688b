"""Ahead-of-time compilation: @jit kernels into a C library that needs no Python.

A :class:`Library` collects kernels, each with one or more signatures, and
writes, for a target, a C header with one typed launch function per
kernel, a C source with a dispatcher that picks the specialization from the
actual arguments at run time (returning ``TESSERA_NO_SPECIALIZATION`` when
none fits), and the compiled kernels. ``docs/aot.md`` walks through it.

>>> lib = Library("kernels")
>>> lib.add(add_kernel, name="vector_add", signatures=[
...     {"x_ptr": "*fp32:16", "y_ptr": "*fp32:16", "output_ptr": "*fp32:16",
...      "n_elements": "i32:16", "BLOCK_SIZE": 1024},
...     {"x_ptr": "*fp32", "y_ptr": "*fp32", "output_ptr": "*fp32",
...      "n_elements": "i32", "BLOCK_SIZE": 1024}])
>>> lib.write("out", target="host")   # out/kernels.h, kernels.c, kernels_kernels.o

A signature gives every parameter: run-time ones a type in Triton's
spelling (``'*fp32'``, ``'i32'``, ``'fp32'``; ``':16'``: the pointer is
16-byte aligned or the integer divisible by 16), compile-time ones
(``tl.constexpr``) their value; an integer parameter given the value 1 is
specialized to 1 (the launch function still takes it, and the dispatcher
checks it). All signatures of a kernel share its constexpr values.

Targets:

- ``"host"``, this machine's CPU: the kernels are object files linked into
  the library, and a launch runs the grid's programs on threads (one per
  core, or ``TESSERA_AOT_THREADS``; the calling thread is one of them) and
  returns when all are done (the stream argument is ignored).
- ``"sm_80"``, ``"sm_90a"`` (NVIDIA): each kernel's cubin (PTX when ptxas
  is not installed) is embedded in the C source; the first launch on a
  context loads it through the CUDA driver (libcuda.so.1, opened with
  dlopen), and launches go on the given stream (a ``CUstream``).
- ``"gfx90a"``, ``"gfx942"`` (AMD): each kernel's HSA code object is
  embedded, loaded through the HIP runtime (libamdhip64.so) on the current
  device, and launched on the given ``hipStream_t``.

The libraries link against libc, libm and libpthread (GPU targets: libdl
and libpthread): no Tessera library.

The command line, ``python -m tessera.aot`` (``tessera-aot`` in the build's
bin/), does the same from a kernel file; see ``--help``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys

from . import _C
from .compiler.frontend import ASTSource
from .language import dtypes as T

TARGETS = ("host", "sm_80", "sm_90a", "gfx90a", "gfx942")
_INTEGERS = ("i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64")
# Names the generated functions use themselves, and C/C++ keywords.
_RESERVED = {"stream", "grid_x", "grid_y", "grid_z", "auto", "bool", "break", "case", "char",
             "const", "continue", "default", "delete", "do", "double", "else", "enum", "extern",
             "float", "for", "goto", "if", "inline", "int", "long", "new", "operator",
             "private", "public", "register", "restrict", "return", "short", "signed", "sizeof",
             "static", "struct", "switch", "template", "this", "typedef", "union", "unsigned",
             "void", "volatile", "while", "namespace", "class", "virtual", "friend", "explicit"}

# C types of run-time parameters (16-bit floats as their bits).
_C_SCALARS = {"i1": "bool", "i8": "int8_t", "i16": "int16_t", "i32": "int32_t",
              "i64": "int64_t", "u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t",
              "u64": "uint64_t", "fp16": "uint16_t", "bf16": "uint16_t", "fp32": "float",
              "fp64": "double", "fp8e4nv": "uint8_t", "fp8e5": "uint8_t"}


def _c_type(type_text: str) -> str:
    if type_text.startswith("*"):
        return _C_SCALARS[type_text[1:]] + " *"
    if type_text in ("fp16", "bf16", "fp8e4nv", "fp8e5"):
        raise ValueError(f"a run-time scalar of type {type_text} is not supported by AOT")
    return _C_SCALARS[type_text]


class _Spec:
    """One signature of a kernel: the compile-time values, each run-time
    parameter's type and hints, and the conditions the dispatcher checks."""

    def __init__(self, kernel, signature: dict):
        fn = kernel
        self.runtime = {}     # name -> (type text, divisible by 16)
        self.constants = {}   # name -> value (constexprs and integers == 1)
        self.conditions = []  # C conditions on the launch's arguments
        missing = [n for n in fn.arg_names if n not in signature]
        if missing:
            raise ValueError(f"{fn.__name__}: the signature gives nothing for {missing}")
        extra = [n for n in signature if n not in fn.arg_names]
        if extra:
            raise ValueError(f"{fn.__name__} has no parameter {extra}")
        for name in fn.arg_names:
            value = signature[name]
            if name in fn.constexpr_names:
                if isinstance(value, str) and (value.startswith("*") or value.split(":")[0]
                                               in T.BY_NAME):
                    raise ValueError(f"{fn.__name__}: {name} is a tl.constexpr; give its value, "
                                     f"not a type ({value!r})")
                self.constants[name] = value
            elif isinstance(value, bool) or not isinstance(value, (str, int)):
                raise ValueError(f"{fn.__name__}: {name} needs a type such as '*fp32' or 'i32' "
                                 f"(or the integer 1), got {value!r}")
            elif isinstance(value, int):
                if value != 1:
                    raise ValueError(f"{fn.__name__}: run-time parameter {name} can be "
                                     f"specialized to 1 only, got {value}")
                self.constants[name] = 1
                self.conditions.append(f"{name} == 1")
            else:
                text, *marks = value.split(":")
                if any(m not in ("16", "i64") for m in marks):
                    raise ValueError(f"{fn.__name__}: {name}={value!r}: the hints are ':16' and "
                                     "':i64'")
                T.parse_type(text)  # a clear error for an unknown type
                pointer = text.startswith("*")
                if "16" in marks and not pointer and text not in _INTEGERS:
                    raise ValueError(f"{fn.__name__}: {name}={value!r}: ':16' is for pointers "
                                     "and integers")
                if "i64" in marks and not pointer:
                    raise ValueError(f"{fn.__name__}: {name}={value!r}: ':i64' is for pointers")
                if not pointer and text in ("fp16", "bf16", "fp8e4nv", "fp8e5"):
                    raise ValueError(f"{fn.__name__}: a run-time scalar {name} of type {text} is "
                                     "not supported by AOT (pass fp32)")
                self.runtime[name] = (text, "".join(":" + m for m in sorted(marks)))
                if "16" in marks:
                    self.conditions.append(f"(uintptr_t){name} % 16 == 0" if pointer
                                           else f"{name} % 16 == 0")
        self.signature = {n: t + h for n, (t, h) in self.runtime.items()}


class _Kernel:
    def __init__(self, fn, name: str, signatures):
        self.fn, self.name = fn, name
        self.specs = [_Spec(fn, s) for s in signatures]
        if not self.specs:
            raise ValueError(f"{name}: give at least one signature")
        constexprs = [{k: v for k, v in s.constants.items() if k in fn.constexpr_names}
                      for s in self.specs]
        if any(c != constexprs[0] for c in constexprs):
            raise ValueError(f"{name}: all signatures of a kernel must give the same constexpr "
                             "values (add the kernel again under another name for others)")
        # The launch function's parameters: every run-time parameter of the
        # kernel, typed by the first signature that does not fix it to 1.
        self.params = []
        for pname in fn.arg_names:
            if pname in fn.constexpr_names:
                continue
            if pname in _RESERVED or pname.startswith("tessera_"):
                raise ValueError(f"{name}: parameter {pname!r} is a C/C++ keyword or a name the "
                                 "generated launch functions use; rename it for AOT")
            fixed = [s for s in self.specs if pname not in s.runtime]
            typed = [s.runtime[pname][0] for s in self.specs if pname in s.runtime]
            if fixed and any(t not in _INTEGERS for t in typed):
                raise ValueError(f"{name}: parameter {pname} is specialized to 1 in one "
                                 "signature and is not an integer in another")
            types = {s.runtime[pname][0] for s in self.specs if pname in s.runtime}
            if len(types) > 1:
                raise ValueError(f"{name}: parameter {pname} has different types in different "
                                 f"signatures ({sorted(types)}); dispatch is on hints only")
            self.params.append((pname, types.pop() if types else "i32"))


def _unwrap(kernel):
    """The @jit function under @autotune / @heuristics wrappers."""
    while not hasattr(kernel, "constexpr_names") and hasattr(kernel, "fn"):
        kernel = kernel.fn
    if not hasattr(kernel, "constexpr_names"):
        raise TypeError(f"{kernel!r} is not a @tessera.jit kernel")
    return kernel


class Library:
    """Kernels compiled ahead of time into one C library named `name`."""

    def __init__(self, name: str):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"the library name {name!r} must be a C identifier")
        self.name = name
        self.kernels: list[_Kernel] = []

    def add(self, kernel, signatures, name: str | None = None, num_warps: int = 4,
            num_stages: int = 3, config=None):
        """Adds `kernel` (a @jit function, or one under @autotune /
        @heuristics) compiled for each of `signatures`. `config`, an
        autotuning ``tessera.Config`` (by default the best one an
        @autotune kernel found in this process, if it ran), supplies the
        constexprs the signatures leave out and num_warps / num_stages."""
        if config is None:
            wrapper = kernel
            while wrapper is not None and not hasattr(wrapper, "constexpr_names"):
                if getattr(wrapper, "best_config", None) is not None:
                    config = wrapper.best_config
                    break
                wrapper = getattr(wrapper, "fn", None)
        if isinstance(signatures, dict):
            signatures = [signatures]
        if config is not None:
            signatures = [dict(config.kwargs, **s) for s in signatures]
            num_warps, num_stages = config.num_warps, config.num_stages
        fn = _unwrap(kernel)
        name = name or fn.__name__
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"the kernel name {name!r} must be a C identifier")
        if any(k.name == name for k in self.kernels):
            raise ValueError(f"the library already has a kernel named {name!r}")
        k = _Kernel(fn, name, signatures)
        k.options = {"num_warps": num_warps, "num_stages": num_stages}
        self.kernels.append(k)
        return self

    # -- writing ---------------------------------------------------------------
    def write(self, out_dir: str, target: str = "host") -> list[str]:
        """Writes ``<name>.h``, ``<name>.c`` and ``<name>_kernels.o`` (every
        kernel, one relocatable object) into `out_dir`; returns their paths."""
        if target not in TARGETS:
            raise ValueError(f"unknown AOT target {target!r}; expected one of {TARGETS}")
        if not self.kernels:
            raise ValueError(f"the library {self.name} has no kernels")
        os.makedirs(out_dir, exist_ok=True)
        if target != "host":
            return self._write_gpu(out_dir, target)
        from .backends.cpu import CPUBackend
        backend = CPUBackend()
        files, objects = [], []
        source = [f'#include "{self.name}.h"', ""] + _HOST_PRELUDE.splitlines() + [""]
        for kernel in self.kernels:
            ranked = sorted(range(len(kernel.specs)),
                            key=lambda i: -len(kernel.specs[i].conditions))
            for i, spec in enumerate(kernel.specs):
                symbol = f"{self.name}__{kernel.name}__{i}"
                ir = ASTSource(kernel.fn, spec.signature, spec.constants).make_ir()
                ir, count = re.subn(rf"func\.func @{re.escape(kernel.fn.__name__)}\(",
                                    f"func.func @{symbol}(", ir)
                if count != 1:
                    raise RuntimeError(f"{kernel.name}: cannot rename the kernel in its IR")
                obj = backend.compile(ir, symbol, False, kernel.options)
                path = os.path.join(out_dir, f"{symbol}.o")
                with open(path, "wb") as f:
                    f.write(obj)
                objects.append(path)
                source += self._specialization(kernel, spec, symbol)
            source += self._dispatcher(kernel, ranked)
        # One relocatable object of all the kernels (ld -r): a fixed set of
        # outputs for build systems.
        merged = os.path.join(out_dir, f"{self.name}_kernels.o")
        lld = _C.amd.find_lld()
        if not lld:
            raise RuntimeError("tessera.aot needs ld.lld (lld-22) to merge the kernels' objects")
        r = subprocess.run([lld, "-r", "-o", merged] + objects, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"ld.lld -r failed: {r.stderr.strip()}")
        for path in objects:
            os.remove(path)
        files.append(merged)
        header = self._header()
        for ext, text in (("h", header), ("c", "\n".join(source) + "\n")):
            path = os.path.join(out_dir, f"{self.name}.{ext}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            files.append(path)
        return files

    # -- GPU targets -------------------------------------------------------------
    def _write_gpu(self, out_dir, target):
        nvidia = target.startswith("sm_")
        if nvidia:
            from .backends.nvidia import NVIDIABackend
            backend = NVIDIABackend(arch=target)
            backend.cubin = bool(_C.nvidia.find_ptxas())  # else PTX, JIT-compiled at load
        else:
            from .backends.amd import AMDBackend
            backend = AMDBackend(target)
        source = [f'#include "{self.name}.h"', "", "#include <dlfcn.h>", "#include <pthread.h>",
                  "#include <stdint.h>", "#include <string.h>", ""]
        source += (_CUDA_PRELUDE if nvidia else _HIP_PRELUDE).splitlines() + [""]
        for kernel in self.kernels:
            ranked = sorted(range(len(kernel.specs)),
                            key=lambda i: -len(kernel.specs[i].conditions))
            for i, spec in enumerate(kernel.specs):
                symbol = f"{self.name}__{kernel.name}__{i}"
                ir = ASTSource(kernel.fn, spec.signature, spec.constants).make_ir()
                ir, count = re.subn(rf"func\.func @{re.escape(kernel.fn.__name__)}\(",
                                    f"func.func @{symbol}(", ir)
                if count != 1:
                    raise RuntimeError(f"{kernel.name}: cannot rename the kernel in its IR")
                options = dict(backend.default_options, **kernel.options)
                binary = backend.compile(ir, symbol, False, options)
                header, _, image = binary.partition(b"\n")
                fields = header.decode().split(":")
                warps, shared = int(fields[1]), int(fields[2])
                if nvidia and fields[3]:
                    raise ValueError(f"{kernel.name}: the kernel uses TMA tensor descriptors, "
                                     "which AOT does not support yet (compile it for sm_80, or "
                                     "with pointers)")
                if nvidia and not backend.cubin:
                    image += b"\0"  # PTX text, NUL-terminated for the driver
                threads = (32 if nvidia else 64) * warps
                source += self._gpu_specialization(kernel, spec, symbol, image, threads,
                                                   shared if nvidia else 0)
            source += self._dispatcher(kernel, ranked, gpu=True)
        files = []
        for ext, text in (("h", self._header()), ("c", "\n".join(source) + "\n")):
            path = os.path.join(out_dir, f"{self.name}.{ext}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            files.append(path)
        return files

    def _gpu_specialization(self, kernel, spec, symbol, image, threads, shared):
        lines = [f"static const unsigned char {symbol}__image[{len(image)}] "
                 f"__attribute__((aligned(64))) = {{"]
        values = [str(b) for b in image]
        for i in range(0, len(values), 24):
            lines.append("  " + ",".join(values[i:i + 24]) + ",")
        lines.append("};")
        lines.append(f"static struct tessera_kernel {symbol}__kernel = "
                     f'{{"{symbol}", {symbol}__image, {threads}u, {shared}u, 0u, {{{{0}}}}}};')
        params = "".join(f", {_c_type(t)}{'' if t.startswith('*') else ' '}{n}"
                         for n, t in kernel.params)
        lines.append(f"static tessera_status {symbol}__launch(tessera_stream stream, "
                     f"uint32_t tessera_gx, uint32_t tessera_gy, uint32_t tessera_gz{params}) {{")
        names = list(spec.runtime)
        for n, _ in kernel.params:
            if n not in spec.runtime:
                lines.append(f"  (void){n};")
        if names:
            lines.append(f"  void *tessera_args[{len(names)}] = {{"
                         + ", ".join(f"&{n}" for n in names) + "};")
        else:
            lines.append("  void **tessera_args = 0;")
        lines.append(f"  return tessera_gpu_launch(&{symbol}__kernel, stream, tessera_gx, "
                     "tessera_gy, tessera_gz, tessera_args);")
        lines += ["}", ""]
        return lines

    def _prototype(self, kernel) -> str:
        params = ", ".join(f"{_c_type(t)}{'' if t.startswith('*') else ' '}{n}"
                           for n, t in kernel.params)
        return (f"tessera_status {self.name}_{kernel.name}(tessera_stream stream, uint32_t grid_x, "
                f"uint32_t grid_y, uint32_t grid_z{', ' + params if params else ''})")

    def _header(self) -> str:
        guard = f"TESSERA_AOT_{self.name.upper()}_H"
        lines = [f"/* Generated by tessera.aot ({_C.version()}): do not edit. */",
                 f"#ifndef {guard}", f"#define {guard}", "",
                 "#include <stdbool.h>", "#include <stdint.h>", "",
                 "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
                 "#ifndef TESSERA_AOT_STATUS", "#define TESSERA_AOT_STATUS",
                 "typedef enum {",
                 "  TESSERA_OK = 0,",
                 "  /* No compiled specialization accepts these arguments. */",
                 "  TESSERA_NO_SPECIALIZATION = 1,",
                 "  /* A grid dimension is 0. */",
                 "  TESSERA_INVALID_GRID = 2,",
                 "  /* GPU targets: no driver (libcuda.so.1 / libamdhip64.so) could be loaded. */",
                 "  TESSERA_NO_DRIVER = 3,",
                 "  /* GPU targets: the driver refused the kernel's binary (another GPU?). */",
                 "  TESSERA_LOAD_FAILED = 4,",
                 "  /* GPU targets: the driver refused the launch. */",
                 "  TESSERA_LAUNCH_FAILED = 5,",
                 "} tessera_status;",
                 "/* A CUDA/HIP stream for GPU targets; ignored on the host. */",
                 "typedef void *tessera_stream;",
                 "#endif", ""]
        for kernel in self.kernels:
            lines.append(f"/* {kernel.fn.__name__}, specializations:")
            for spec in kernel.specs:
                lines.append(f" *   {', '.join(spec.conditions) or '(any arguments)'}")
            lines.append(" */")
            lines.append(self._prototype(kernel) + ";")
            lines.append("")
        lines += ["#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
        return "\n".join(lines)

    def _specialization(self, kernel, spec, symbol) -> list[str]:
        """The entry declaration and a launcher packing the run-time
        arguments into the kernel's 8-byte slots (CPU backend ABI)."""
        lines = [f"void {symbol}__entry(const int64_t *, uint32_t, uint32_t, uint32_t, "
                 "uint32_t, uint32_t, uint32_t);",
                 f"static void {symbol}__launch(uint32_t tessera_gx, uint32_t tessera_gy, "
                 "uint32_t tessera_gz"
                 + "".join(f", {_c_type(t)}{'' if t.startswith('*') else ' '}{n}"
                           for n, t in kernel.params) + ") {"]
        names = list(spec.runtime)
        lines.append(f"  int64_t tessera_slots[{max(1, len(names))}] = {{0}};")
        for i, n in enumerate(names):
            t = spec.runtime[n][0]
            if t.startswith("*"):
                lines.append(f"  tessera_slots[{i}] = (int64_t)(intptr_t){n};")
            elif t == "fp32":
                lines.append(f"  {{ int32_t tessera_bits; memcpy(&tessera_bits, &{n}, 4); "
                             f"tessera_slots[{i}] = tessera_bits; }}")
            elif t == "fp64":
                lines.append(f"  memcpy(&tessera_slots[{i}], &{n}, 8);")
            else:
                lines.append(f"  tessera_slots[{i}] = (int64_t){n};")
        unused = [n for n, _ in kernel.params if n not in spec.runtime]
        for n in unused:
            lines.append(f"  (void){n};")
        lines.append(f"  tessera_run_grid({symbol}__entry, tessera_slots, tessera_gx, tessera_gy, "
                     "tessera_gz);")
        lines += ["}", ""]
        return lines

    def _dispatcher(self, kernel, ranked, gpu=False) -> list[str]:
        args = ", ".join(n for n, _ in kernel.params)
        lines = [self._prototype(kernel) + " {"] + ([] if gpu else ["  (void)stream;"]) + [
                 "  if (grid_x == 0 || grid_y == 0 || grid_z == 0)",
                 "    return TESSERA_INVALID_GRID;"]
        for i in ranked:
            spec = kernel.specs[i]
            symbol = f"{self.name}__{kernel.name}__{i}"
            cond = " && ".join(spec.conditions) or "1"
            if gpu:
                lines += [f"  if ({cond})",
                          f"    return {symbol}__launch(stream, grid_x, grid_y, grid_z"
                          f"{', ' + args if args else ''});"]
                continue
            lines += [f"  if ({cond}) {{",
                      f"    {symbol}__launch(grid_x, grid_y, grid_z{', ' + args if args else ''});",
                      "    return TESSERA_OK;", "  }"]
        lines += ["  return TESSERA_NO_SPECIALIZATION;", "}", ""]
        return lines


# The host target's grid: programs shared by threads (as the CPU backend
# runs them), TESSERA_AOT_THREADS of them or one per core.
_HOST_PRELUDE = r"""
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void (*tessera_entry)(const int64_t *, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t,
                              uint32_t);
struct tessera_grid {
  tessera_entry entry;
  const int64_t *slots;
  uint32_t gx, gy, gz;
  uint64_t next, total;
  pthread_mutex_t lock;
};

static void *tessera_worker(void *arg) {
  struct tessera_grid *g = (struct tessera_grid *)arg;
  for (;;) {
    uint64_t i;
    pthread_mutex_lock(&g->lock);
    i = g->next++;
    pthread_mutex_unlock(&g->lock);
    if (i >= g->total)
      return 0;
    g->entry(g->slots, (uint32_t)(i % g->gx), (uint32_t)(i / g->gx % g->gy),
             (uint32_t)(i / ((uint64_t)g->gx * g->gy)), g->gx, g->gy, g->gz);
  }
}

static long tessera_cores;
static void tessera_count_cores(void) { tessera_cores = sysconf(_SC_NPROCESSORS_ONLN); }

static void tessera_run_grid(tessera_entry entry, const int64_t *slots, uint32_t gx,
                             uint32_t gy, uint32_t gz) {
  struct tessera_grid g;
  pthread_t threads[63];
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  const char *env = getenv("TESSERA_AOT_THREADS");
  uint64_t n, started = 0, t;
  g.entry = entry, g.slots = slots, g.gx = gx, g.gy = gy, g.gz = gz;
  g.next = 0, g.total = (uint64_t)gx * gy * gz;
  if (g.total == 1) { /* one program: no threads, no lock */
    entry(slots, 0, 0, 0, 1, 1, 1);
    return;
  }
  pthread_once(&once, tessera_count_cores); /* sysconf reads /sys: once */
  n = env && atoi(env) > 0 ? (uint64_t)atoi(env)
                           : (uint64_t)(tessera_cores > 0 ? tessera_cores : 1);
  if (n > g.total)
    n = g.total;
  if (n > 64)
    n = 64;
  pthread_mutex_init(&g.lock, 0);
  /* The calling thread works too; a thread that cannot start leaves its share to the others. */
  for (t = 1; t < n; ++t)
    if (pthread_create(&threads[started], 0, tessera_worker, &g) == 0)
      ++started;
  tessera_worker(&g);
  for (t = 0; t < started; ++t)
    pthread_join(threads[t], 0);
  pthread_mutex_destroy(&g.lock);
}
"""

# The GPU targets' loader: the driver through dlopen, each kernel's module
# loaded once a context (CUDA) or device (HIP) under a lock; launches after
# that take no lock.
_CUDA_PRELUDE = r"""
typedef int CUresult;
/* A kernel's module, loaded once per context (up to 8 contexts kept). */
struct tessera_kernel {
  const char *name;
  const unsigned char *image;
  unsigned threads, shared;
  unsigned count;
  struct { void *context, *function; } loaded[8];
};
static struct {
  int loaded;
  CUresult (*Init)(unsigned);
  CUresult (*CtxGetCurrent)(void **);
  CUresult (*DevicePrimaryCtxRetain)(void **, int);
  CUresult (*CtxSetCurrent)(void *);
  CUresult (*ModuleLoadData)(void **, const void *);
  CUresult (*ModuleUnload)(void *);
  CUresult (*ModuleGetFunction)(void **, void *, const char *);
  CUresult (*FuncSetAttribute)(void *, int, int);
  CUresult (*LaunchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, void *, void **, void **);
} tessera_cu;
static pthread_mutex_t tessera_lock = PTHREAD_MUTEX_INITIALIZER;

static int tessera_cu_load(void) {
  void *lib;
  if (tessera_cu.loaded)
    return tessera_cu.loaded > 0;
  __atomic_store_n(&tessera_cu.loaded, -1, __ATOMIC_RELAXED);
  lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return 0;
  *(void **)&tessera_cu.Init = dlsym(lib, "cuInit");
  *(void **)&tessera_cu.CtxGetCurrent = dlsym(lib, "cuCtxGetCurrent");
  *(void **)&tessera_cu.DevicePrimaryCtxRetain = dlsym(lib, "cuDevicePrimaryCtxRetain");
  *(void **)&tessera_cu.CtxSetCurrent = dlsym(lib, "cuCtxSetCurrent");
  *(void **)&tessera_cu.ModuleLoadData = dlsym(lib, "cuModuleLoadData");
  *(void **)&tessera_cu.ModuleUnload = dlsym(lib, "cuModuleUnload");
  *(void **)&tessera_cu.ModuleGetFunction = dlsym(lib, "cuModuleGetFunction");
  *(void **)&tessera_cu.FuncSetAttribute = dlsym(lib, "cuFuncSetAttribute");
  *(void **)&tessera_cu.LaunchKernel = dlsym(lib, "cuLaunchKernel");
  if (!tessera_cu.Init || !tessera_cu.CtxGetCurrent || !tessera_cu.DevicePrimaryCtxRetain ||
      !tessera_cu.CtxSetCurrent || !tessera_cu.ModuleLoadData || !tessera_cu.ModuleUnload ||
      !tessera_cu.ModuleGetFunction ||
      !tessera_cu.FuncSetAttribute || !tessera_cu.LaunchKernel || tessera_cu.Init(0) != 0)
    return 0;
  __atomic_store_n(&tessera_cu.loaded, 1, __ATOMIC_RELEASE);
  return 1;
}

/* The first launch in a context: the driver opened, the module loaded, the
   function published to the lock-free path (the entry, then the count). */
static tessera_status tessera_gpu_load(struct tessera_kernel *k, void **function) {
  void *context = 0, *module = 0;
  unsigned i, count;
  pthread_mutex_lock(&tessera_lock);
  if (!tessera_cu_load()) {
    pthread_mutex_unlock(&tessera_lock);
    return TESSERA_NO_DRIVER;
  }
  /* No current context: device 0's primary one, as the runtime API does. */
  if (tessera_cu.CtxGetCurrent(&context) != 0 || !context) {
    if (tessera_cu.DevicePrimaryCtxRetain(&context, 0) != 0 ||
        tessera_cu.CtxSetCurrent(context) != 0) {
      pthread_mutex_unlock(&tessera_lock);
      return TESSERA_NO_DRIVER;
    }
  }
  count = k->count;
  for (i = 0; i < count; ++i)
    if (k->loaded[i].context == context) {
      *function = k->loaded[i].function;
      pthread_mutex_unlock(&tessera_lock);
      return TESSERA_OK;
    }
  /* Loaded into locals, kept only when every step worked. */
  if (tessera_cu.ModuleLoadData(&module, k->image) != 0) {
    pthread_mutex_unlock(&tessera_lock);
    return TESSERA_LOAD_FAILED;
  }
  if (tessera_cu.ModuleGetFunction(function, module, k->name) != 0 ||
      /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
      (k->shared > 49152 && tessera_cu.FuncSetAttribute(*function, 8, (int)k->shared) != 0)) {
    tessera_cu.ModuleUnload(module);
    pthread_mutex_unlock(&tessera_lock);
    return TESSERA_LOAD_FAILED;
  }
  /* (With more than 8 contexts, a ninth's module is loaded at each launch.) */
  if (count < 8) {
    k->loaded[count].context = context;
    k->loaded[count].function = *function;
    __atomic_store_n(&k->count, count + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&tessera_lock);
  return TESSERA_OK;
}

/* A launch: no lock once the kernel is loaded in the current context, only
   cuCtxGetCurrent, a scan of at most 8 entries and cuLaunchKernel. */
static tessera_status tessera_gpu_launch(struct tessera_kernel *k, tessera_stream stream,
                                         uint32_t gx, uint32_t gy, uint32_t gz, void **args) {
  void *context = 0, *function = 0;
  unsigned i, count;
  tessera_status status;
  if (__atomic_load_n(&tessera_cu.loaded, __ATOMIC_ACQUIRE) > 0 &&
      tessera_cu.CtxGetCurrent(&context) == 0 && context) {
    count = __atomic_load_n(&k->count, __ATOMIC_ACQUIRE);
    for (i = 0; i < count; ++i)
      if (k->loaded[i].context == context) {
        function = k->loaded[i].function;
        break;
      }
  }
  if (!function && (status = tessera_gpu_load(k, &function)) != TESSERA_OK)
    return status;
  return tessera_cu.LaunchKernel(function, gx, gy, gz, k->threads, 1, 1, k->shared, stream,
                                 args, 0) == 0 ? TESSERA_OK : TESSERA_LAUNCH_FAILED;
}
"""

_HIP_PRELUDE = r"""
typedef int hipError_t;
/* A kernel's module, loaded once per device (up to 8 devices kept); LDS is
   static, in the code object. */
struct tessera_kernel {
  const char *name;
  const unsigned char *image;
  unsigned threads, shared;
  unsigned count;
  struct { int device; void *function; } loaded[8];
};
static struct {
  int loaded;
  hipError_t (*Init)(unsigned);
  hipError_t (*GetDevice)(int *);
  hipError_t (*ModuleLoadData)(void **, const void *);
  hipError_t (*ModuleUnload)(void *);
  hipError_t (*ModuleGetFunction)(void **, void *, const char *);
  hipError_t (*ModuleLaunchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned,
                                   unsigned, unsigned, void *, void **, void **);
} tessera_hip;
static pthread_mutex_t tessera_lock = PTHREAD_MUTEX_INITIALIZER;

static int tessera_hip_load(void) {
  void *lib;
  if (tessera_hip.loaded)
    return tessera_hip.loaded > 0;
  __atomic_store_n(&tessera_hip.loaded, -1, __ATOMIC_RELAXED);
  /* The runtime a ROCm torch already loaded first, then the usual names. */
  lib = dlopen("libamdhip64.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (!lib)
    lib = dlopen("libamdhip64.so.5", RTLD_NOW | RTLD_NOLOAD);
  if (!lib)
    lib = dlopen("libamdhip64.so.6", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("libamdhip64.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("/opt/rocm/lib/libamdhip64.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return 0;
  *(void **)&tessera_hip.Init = dlsym(lib, "hipInit");
  *(void **)&tessera_hip.GetDevice = dlsym(lib, "hipGetDevice");
  *(void **)&tessera_hip.ModuleLoadData = dlsym(lib, "hipModuleLoadData");
  *(void **)&tessera_hip.ModuleUnload = dlsym(lib, "hipModuleUnload");
  *(void **)&tessera_hip.ModuleGetFunction = dlsym(lib, "hipModuleGetFunction");
  *(void **)&tessera_hip.ModuleLaunchKernel = dlsym(lib, "hipModuleLaunchKernel");
  if (!tessera_hip.Init || !tessera_hip.GetDevice || !tessera_hip.ModuleLoadData ||
      !tessera_hip.ModuleUnload ||
      !tessera_hip.ModuleGetFunction || !tessera_hip.ModuleLaunchKernel ||
      tessera_hip.Init(0) != 0)
    return 0;
  __atomic_store_n(&tessera_hip.loaded, 1, __ATOMIC_RELEASE);
  return 1;
}

/* The first launch on a device: the runtime opened, the module loaded, the
   function published to the lock-free path (the entry, then the count). */
static tessera_status tessera_gpu_load(struct tessera_kernel *k, void **function) {
  int device = 0;
  void *module = 0;
  unsigned i, count;
  pthread_mutex_lock(&tessera_lock);
  if (!tessera_hip_load() || tessera_hip.GetDevice(&device) != 0) {
    pthread_mutex_unlock(&tessera_lock);
    return TESSERA_NO_DRIVER;
  }
  count = k->count;
  for (i = 0; i < count; ++i)
    if (k->loaded[i].device == device) {
      *function = k->loaded[i].function;
      pthread_mutex_unlock(&tessera_lock);
      return TESSERA_OK;
    }
  if (tessera_hip.ModuleLoadData(&module, k->image) != 0) {
    pthread_mutex_unlock(&tessera_lock);
    return TESSERA_LOAD_FAILED;
  }
  if (tessera_hip.ModuleGetFunction(function, module, k->name) != 0) {
    tessera_hip.ModuleUnload(module);
    pthread_mutex_unlock(&tessera_lock);
    return TESSERA_LOAD_FAILED;
  }
  if (count < 8) {
    k->loaded[count].device = device;
    k->loaded[count].function = *function;
    __atomic_store_n(&k->count, count + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&tessera_lock);
  return TESSERA_OK;
}

/* A launch: no lock once the kernel is loaded on the current device. */
static tessera_status tessera_gpu_launch(struct tessera_kernel *k, tessera_stream stream,
                                         uint32_t gx, uint32_t gy, uint32_t gz, void **args) {
  int device = 0;
  void *function = 0;
  unsigned i, count;
  tessera_status status;
  if (__atomic_load_n(&tessera_hip.loaded, __ATOMIC_ACQUIRE) > 0 &&
      tessera_hip.GetDevice(&device) == 0) {
    count = __atomic_load_n(&k->count, __ATOMIC_ACQUIRE);
    for (i = 0; i < count; ++i)
      if (k->loaded[i].device == device) {
        function = k->loaded[i].function;
        break;
      }
  }
  if (!function && (status = tessera_gpu_load(k, &function)) != TESSERA_OK)
    return status;
  return tessera_hip.ModuleLaunchKernel(function, gx, gy, gz, k->threads, 1, 1, 0, stream, args,
                                        0) == 0 ? TESSERA_OK : TESSERA_LAUNCH_FAILED;
}
"""


# -- the command line ----------------------------------------------------------------------
def _parse_signature(text: str) -> dict:
    """'x=*fp32:16,n=i32,BLOCK=1024' -> {'x': '*fp32:16', 'n': 'i32', 'BLOCK': 1024}."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ValueError(f"signature item {item!r}: expected NAME=TYPE or NAME=VALUE")
        name, value = (s.strip() for s in item.split("=", 1))
        if re.fullmatch(r"-?\d+", value):
            out[name] = int(value)
        elif re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value):
            out[name] = float(value)
        elif value in ("True", "False"):
            out[name] = value == "True"
        else:
            out[name] = value.strip("'\"")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="tessera-aot", allow_abbrev=False,
        description="Compile @tessera.jit kernels ahead of time into a C library "
                    "(a header, a C source with a dispatcher, the kernels' objects).")
    parser.add_argument("file", help="the Python file defining the kernels")
    parser.add_argument("--kernel", action="append", required=True, metavar="FN[:NAME]",
                        help="a kernel of FILE (and the name of its launch function); repeat "
                             "for several; each takes the --signature options that follow it")
    parser.add_argument("--signature", action="append", default=[], metavar="SIG",
                        help="NAME=TYPE,...,CONST=VALUE for the last --kernel (repeat for "
                             "several specializations)")
    parser.add_argument("--name", required=True, help="the library's name (a C identifier)")
    parser.add_argument("--out", required=True, help="the output directory")
    parser.add_argument("--target", default="host", choices=TARGETS)
    parser.add_argument("--num-warps", type=int, default=4)
    # argparse keeps --kernel and --signature in separate lists: pair them by position.
    args, order = parser.parse_args(argv), []
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(argv):
        if a in ("--kernel", "--signature") and i + 1 < len(argv):
            order.append((a, argv[i + 1]))
        elif a.startswith(("--kernel=", "--signature=")):
            order.append(tuple(a.split("=", 1)))
    spec = importlib.util.spec_from_file_location("tessera_aot_input", args.file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lib = Library(args.name)
    pending = None
    try:
        for flag, value in order + [("--kernel", None)]:
            if flag == "--kernel":
                if pending is not None:
                    fn_name, name, sigs = pending
                    if not sigs:
                        parser.error(f"--kernel {fn_name}: no --signature follows it")
                    if not hasattr(module, fn_name):
                        parser.error(f"{args.file} defines no {fn_name}")
                    lib.add(getattr(module, fn_name), sigs, name=name, num_warps=args.num_warps)
                if value is not None:
                    fn_name, _, name = value.partition(":")
                    pending = (fn_name, name or fn_name, [])
            else:
                if pending is None:
                    parser.error("--signature before any --kernel")
                pending[2].append(_parse_signature(value))
        files = lib.write(args.out, args.target)
    except (ValueError, TypeError) as e:
        print(f"tessera-aot: error: {e}", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
