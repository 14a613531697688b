"""Graphs of tgraph ops, lowered by the compiler and run.

    import tessera.graph
    g = tessera.graph.Graph('''
    func.func @bsa(%q: tensor<1x2x256x64xf16>, %k: tensor<1x2x256x64xf16>,
                   %v: tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16> {
      %i, %c = tgraph.block_select %q, %k {block_m = 64, block_n = 64, mass = 0.9 : f32,
          min_blocks = 1} : tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>
          -> tensor<1x2x4x4xi32>, tensor<1x2x4xi32>
      %o = tgraph.attention %q, %k, %v kv(%i, %c) {block_m = 64, block_n = 64}
          : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>,
             tensor<1x2x4x4xi32>, tensor<1x2x4xi32>) -> tensor<1x2x256x64xf16>
      return %o : tensor<1x2x256x64xf16>
    }''')
    o = g(q, k, v)          # torch tensors (CPU or CUDA) or numpy arrays

The function's tgraph ops are lowered (`tgraph-lower-attention`) to tile
kernels and `tgraph.launch`es; calling the graph runs the launches in order
on the active backend, allocating each launch's results, and returns the
function's results. Each kernel is compiled once per graph.
"""

from __future__ import annotations

import re
import weakref

from . import ir
from .backends import for_values
from .runtime import capture

_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64",
           "i32": "int32", "i64": "int64", "i8": "int8"}


def _tensor_type(text: str):
    """'tensor<1x2x64xf16>' -> ((1, 2, 64), 'float16')."""
    m = re.fullmatch(r"tensor<((?:\d+x)*)(\w+)>", text.strip())
    if not m or m.group(2) not in _DTYPES:
        raise ValueError(f"tessera.graph: unsupported type {text.strip()!r}")
    shape = tuple(int(d) for d in m.group(1).split("x") if d)
    return shape, _DTYPES[m.group(2)]


def _split_types(text: str):
    """Top-level comma-separated types of '(a, b)' or 'a' or '(a)'."""
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [t.strip() for t in out]


def _current_stream():
    """The current device's current CUDA stream (the launcher runs on the
    current device, as torch.cuda.current_stream() gives it), through
    torch's raw getter: a microsecond, against ~5-8."""
    import torch
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return raw(torch._C._cuda_getDevice())
    return torch.cuda.current_stream().cuda_stream


class Graph:
    """A function of tgraph ops (text), lowered and ready to run.

    `name`: the function to run (the module's first function that is not a
    kernel by default). `num_warps`: per launch on a GPU, an int or a
    function of the kernel's name (attention kernels of 128-row blocks
    want 8), for the kernels whose lowering did not choose (the block
    selection takes one warp up to 1024 key blocks)."""

    def __init__(self, text: str, name: str | None = None, num_warps=4, num_stages=2,
                 lower_options: str = ""):
        # lower_options: tgraph-lower-attention's, e.g. "dq-atomics=true".
        lowering = "tgraph-lower-attention" + (f"{{{lower_options}}}" if lower_options else "")
        self.module = ir.run_pipeline(text, f"builtin.module({lowering})")
        kernels = {k for k, _ in ir.launches(self.module)}
        heads = re.finditer(r"func\.func @(\w+)\((.*?)\)\s*(?:->\s*(.*?))?\s*\{", self.module)
        entry = None
        for m in heads:
            if m.group(1) not in kernels and (name is None or m.group(1) == name):
                entry = m
                break
        if entry is None:
            raise ValueError(f"tessera.graph: no function {'@' + name if name else ''} to run")
        self.name = entry.group(1)
        body = ir.function(self.module, self.name)
        self.args = []
        for arg in re.finditer(r"(%\w+): (tensor<[^>]*>)", entry.group(2)):
            self.args.append((arg.group(1), _tensor_type(arg.group(2))))
        self._arg_names = [n for n, _ in self.args]
        self.steps = []
        launch = re.compile(r"(%[\w]+)(?::(\d+))? = tgraph\.launch @(\w+) grid \[(\d+), (\d+), "
                            r"(\d+)\]\((.*?)\)(?: \{zeroed = array<i64: ([\d, ]+)>\})? : "
                            r"\((.*?)\) -> (.*)")
        for line in body.splitlines():
            line = line.strip()
            if "tgraph.launch" in line:
                m = launch.fullmatch(line)
                if not m:
                    raise ValueError(f"tessera.graph: cannot read {line!r}")
                result, count = m.group(1), int(m.group(2) or 1)
                outs = [result] if count == 1 else [f"{result}#{i}" for i in range(count)]
                ins = [a.strip() for a in m.group(7).split(",") if a.strip()]
                zeroed = {int(i) for i in (m.group(8) or "").split(",") if i.strip()}
                types = [_tensor_type(t) for t in _split_types(m.group(10))]
                self.steps.append((m.group(3), tuple(int(g) for g in m.group(4, 5, 6)), ins,
                                   [(o, t, i in zeroed) for i, (o, t) in
                                    enumerate(zip(outs, types))]))
            elif line.startswith("return"):
                names = line[len("return"):].split(":")[0]
                self.returns = [n.strip() for n in names.split(",") if n.strip()]
            elif line.startswith("%") and "=" in line and "tgraph." in line:
                raise ValueError(f"tessera.graph: an op that was not lowered: {line!r}")
        self.num_warps, self.num_stages = num_warps, num_stages
        self._compiled = {}
        # Launches that read only integer arguments (block lists): their
        # results, kept while the same list tensors come back unchanged
        # (same objects, same versions), as a training loop's one mask does.
        int_args = {n for n, (_, dtype) in self.args if dtype.startswith("int")}
        self._memo_steps = {i for i, (_, _, ins, outs) in enumerate(self.steps)
                            if ins and all(n in int_args for n in ins) and
                            not any(z or o in self.returns for o, _, z in outs)}
        self._memo = {}

    def _kernel(self, backend, name):
        key = (backend.name, name)
        if key not in self._compiled:
            if backend.name != "cpu":
                capture.forbid(f"graph kernel {name} would be compiled")
            # A kernel's own choice (`tgraph.num_warps`, as the selection's
            # one warp) over the graph's.
            warps = ir.kernel_warps(self.module, name) or (
                self.num_warps(name) if callable(self.num_warps) else self.num_warps)
            options = dict(backend.default_options, num_warps=warps, num_stages=self.num_stages)
            binary = backend.compile(ir.function(self.module, name), name, False, options)
            self._compiled[key] = backend.load(binary, name)
        return self._compiled[key]

    def __call__(self, *inputs, _checked=False):
        """`_checked`: the caller (tessera.ops, whose launch plans are keyed
        by shapes and dtypes and which makes its inputs contiguous) vouches
        for the inputs' shapes, dtypes and layout: they are not checked
        again (about 2 us a tensor on the host)."""
        if len(inputs) != len(self.args):
            raise TypeError(f"{self.name} takes {len(self.args)} tensors, got {len(inputs)}")
        torch_mode = type(inputs[0]).__module__.startswith("torch")
        if torch_mode:
            import torch
            lib = torch
        else:
            import numpy as lib
        if _checked:
            env = dict(zip(self._arg_names, inputs))
        else:
            env = {}
            for (name, (shape, dtype)), x in zip(self.args, inputs):
                got = str(x.dtype).replace("torch.", "")
                if tuple(x.shape) != shape or got != dtype:
                    raise ValueError(f"{self.name}: {name} must be {dtype} {shape}, got {got} "
                                     f"{tuple(x.shape)}")
                if torch_mode and not x.is_contiguous() or \
                        not torch_mode and not x.flags.c_contiguous:
                    raise ValueError(f"{self.name}: {name} must be contiguous")
                env[name] = x
        backend = for_values(inputs)
        device = getattr(inputs[0], "device", None)
        on_gpu = device is not None and getattr(device, "type", "cpu") == "cuda"
        if on_gpu != (backend.name == "cuda"):
            raise ValueError(f"{self.name}: the inputs are on {'the GPU' if on_gpu else 'the CPU'}"
                             f" but run on the {backend.name} backend (inputs on two devices, "
                             "or GPU inputs with TESSERA_BACKEND=cpu)")
        stream = None
        if backend.name == "cuda":  # the current stream, once a call
            stream = _current_stream()
        # Not while a CUDA graph is captured: a captured launch must not
        # read results the memo may later drop (and free).
        memo = torch_mode and bool(self._memo_steps) and not capture.capturing()
        for step, (kernel_name, grid, ins, outs) in enumerate(self.steps):
            if memo and step in self._memo_steps:
                key = tuple((id(env[n]), env[n]._version) for n in ins)
                hit = self._memo.get(step)
                if hit is not None and hit[0] == key and \
                        all(r() is env[n] for r, n in zip(hit[1], ins)):
                    env.update(hit[2])
                    continue
            for out, (shape, dtype), zeroed in outs:
                make = lib.zeros if zeroed else lib.empty  # zeroed: the kernel adds into it
                if torch_mode:
                    env[out] = make(shape, dtype=getattr(lib, dtype), device=device)
                else:
                    env[out] = make(shape, dtype=dtype)
            args = [env[n] for n in ins] + [env[o] for o, _, _ in outs]
            ptrs = [a.data_ptr() if torch_mode else a.ctypes.data for a in args]
            kernel = self._kernel(backend, kernel_name)
            if stream is not None:
                kernel.launch(list(grid), stream, "p" * len(ptrs), ptrs)
            else:
                kernel.launch(list(grid), ptrs, 0)
            if memo and step in self._memo_steps:
                self._memo[step] = (tuple((id(env[n]), env[n]._version) for n in ins),
                                    [weakref.ref(env[n]) for n in ins],
                                    {o: env[o] for o, _, _ in outs})
        results = [env[n] for n in self.returns]
        return results[0] if len(results) == 1 else tuple(results)
