"""``@tessera.autotune`` and ``@tessera.heuristics``.

    @tessera.autotune(configs=[tessera.Config({"BLOCK_M": 128, "BLOCK_N": 128}, num_warps=8),
                               tessera.Config({"BLOCK_M": 64, "BLOCK_N": 128}, num_warps=4)],
                      key=["M", "N", "K"])
    @tessera.jit
    def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, ..., BLOCK_M: tl.constexpr, ...):
        ...

    matmul_kernel[lambda meta: (cdiv(M, meta["BLOCK_M"]) * cdiv(N, meta["BLOCK_N"]),)](a, b, c, M, N, K, ...)

The first launch for a new value of the key (the named arguments' values and
the dtypes of the tensor arguments) times every config and keeps the
fastest; later launches with that key use it directly. Each config's time is
stored on disk on its own (one file per config under the kernel's source,
the key and the target), so a later process, or a changed config list,
re-times only the configs it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time

from . import cache as disk_cache
from .jit import JITFunction, _tensor_dtype


class Config:
    """One point of the search: constexpr values and launch options."""

    def __init__(self, kwargs: dict, num_warps: int = 4, num_stages: int = 3,
                 pre_hook=None):
        self.kwargs = dict(kwargs)
        self.num_warps = num_warps
        self.num_stages = num_stages
        self.pre_hook = pre_hook

    def all_kwargs(self) -> dict:
        return dict(self.kwargs, num_warps=self.num_warps, num_stages=self.num_stages)

    def _identity(self) -> str:
        return json.dumps(sorted((k, repr(v)) for k, v in self.all_kwargs().items()))

    def __eq__(self, other):
        return isinstance(other, Config) and self._identity() == other._identity()

    def __hash__(self):
        return hash(self._identity())

    def __repr__(self):
        items = ", ".join(f"{k}: {v}" for k, v in self.kwargs.items())
        return f"Config({{{items}}}, num_warps={self.num_warps}, num_stages={self.num_stages})"


def _synchronize():
    from ..backends import active
    if active().name == "cuda":
        from .. import _C
        _C.cuda.synchronize()


def _stream() -> int:
    """The stream launches go to: PyTorch's current stream when PyTorch
    is loaded (the launcher uses the same), else the default stream."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return torch.cuda.current_stream().cuda_stream
    return 0


# How do_bench measures; part of the disk record's key, so timings taken
# another way are never compared with these.
TIMING_METHOD = "cuda: events around each run after a 256 MiB L2 flush, median; " \
                "cpu: best of 3 rounds"


def _timed_run(fn, timer, stream):
    """One run of `fn` after an L2 flush, between `timer`'s events."""
    from .. import _C
    _C.cuda.flush_l2(stream)
    timer.start(stream)
    fn()
    timer.stop(stream)


def do_bench(fn, warmup: int = 3, rep: int = 10) -> float:
    """Milliseconds per run of `fn()`.

    On the GPU, like Triton's do_bench: each run follows a write of a
    buffer larger than the L2 cache (so inputs come from memory, as in a
    model where other kernels ran in between) and is timed by events on the
    launch stream; the result is the median of at least `rep` runs, or of
    as many as fit in about 40 ms (at most 200). On the CPU backend: the
    best of 3 rounds of `rep` runs by wall clock."""
    from ..backends import active
    for _ in range(warmup):
        fn()
    if active().name != "cuda":
        _synchronize()
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(rep):
                fn()
            _synchronize()
            best = min(best, (time.perf_counter() - t0) * 1e3 / rep)
        return best
    from .. import _C
    stream = _stream()

    def timed(timers):
        for timer in timers:
            _timed_run(fn, timer, stream)
        return sorted(timer.milliseconds() for timer in timers)

    estimate = timed([_C.cuda.EventTimer() for _ in range(2)])[0]
    runs = max(rep, min(200, int(40 / max(estimate, 1e-3))))
    times = timed([_C.cuda.EventTimer() for _ in range(runs)])
    return times[len(times) // 2]


def do_bench_interleaved(fns, warmup: int = 1, rounds: int = 10) -> list:
    """Milliseconds per run of each of `fns`, timed in turns: rounds that
    each time every function once (after an L2 flush, events on the launch
    stream), the median of each; at least `rounds` rounds, or as many as
    fit in about 40 ms (at most 200), as do_bench. The GPU's clock drifts
    over the seconds a tuning takes; timed one after the other, the
    candidate timed last paid for it (ops.attention's causal blocks were
    picked 10% slower than the best). On the CPU backend: do_bench of
    each."""
    from ..backends import active
    if active().name != "cuda":
        return [do_bench(fn, warmup=warmup, rep=rounds) for fn in fns]
    for fn in fns:
        for _ in range(warmup):
            fn()
    from .. import _C
    stream = _stream()
    estimate = 0.0
    for fn in fns:  # one timed run each: how many rounds fit in ~40 ms
        timer = _C.cuda.EventTimer()
        _timed_run(fn, timer, stream)
        estimate += timer.milliseconds()
    rounds = max(rounds, min(200, int(40 / max(estimate, 1e-3))))
    timers = [[_C.cuda.EventTimer() for _ in range(rounds)] for _ in fns]
    for r in range(rounds):
        for fn, mine in zip(fns, timers):
            _timed_run(fn, mine[r], stream)
    medians = []
    for mine in timers:
        times = sorted(t.milliseconds() for t in mine)
        medians.append(times[len(times) // 2])
    return medians


def _zero(value):
    if hasattr(value, "zero_"):
        value.zero_()
    else:
        value[...] = 0


def _copy(value):
    return value.clone() if hasattr(value, "clone") else value.copy()


def _restore(dst, src):
    if hasattr(dst, "copy_"):
        dst.copy_(src)
    else:
        dst[...] = src


class Autotuner:
    """A kernel whose constexprs and launch options are chosen by timing."""

    def __init__(self, fn, configs, key, reset_to_zero=None, restore_value=None,
                 prune_configs_by=None, warmup=3, rep=10, do_bench=None):
        if not configs:
            raise ValueError("autotune needs at least one Config")
        self.fn = fn
        self.jit = fn if isinstance(fn, JITFunction) else fn.jit
        self.configs = list(configs)
        self.arg_names = self.jit.arg_names
        for name in list(key) + list(reset_to_zero or []) + list(restore_value or []):
            if name not in self.arg_names:
                raise ValueError(f"autotune: {name!r} is not a parameter of "
                                 f"{self.jit.__name__}; its parameters are {self.arg_names}")
        for config in self.configs:
            for name in config.kwargs:
                if name not in self.arg_names:
                    raise ValueError(f"autotune: {config} sets {name!r}, which is not a "
                                     f"parameter of {self.jit.__name__}")
        self.key = list(key)
        self.reset_to_zero = list(reset_to_zero or [])
        self.restore_value = list(restore_value or [])
        self.prune_configs_by = prune_configs_by or {}
        self.warmup, self.rep = warmup, rep
        self.bench = do_bench
        self.cache: dict = {}  # key -> best Config
        self.timings: dict = {}  # key -> {Config: ms}
        self.best_config = None
        self.__name__ = self.jit.__name__
        self.__doc__ = self.jit.__doc__

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.run(*args, grid=grid, **kwargs)

    def __call__(self, *args, **kwargs):
        return self.jit(*args, **kwargs)  # raises: launch with [grid]

    # -- keys -------------------------------------------------------------------------
    def _named(self, args, kwargs) -> dict:
        named = dict(zip(self.arg_names, args))
        named.update(kwargs)
        return named

    def _key(self, named) -> tuple:
        key = []
        for name in self.key:
            key.append(repr(named.get(name)))
        for name in self.arg_names:  # tensors' dtypes join the key, as in Triton
            value = named.get(name)
            try:
                dtype = _tensor_dtype(value)
            except TypeError:
                dtype = None
            if dtype is not None:
                key.append(f"{name}:{dtype}")
        return tuple(key)

    def _disk_folder(self, key) -> str:
        from ..backends import active
        from .jit import compiler_fingerprint

        record = json.dumps([compiler_fingerprint(), self.jit.source_hash, self.jit.__name__,
                             list(key), active().name, active().target,
                             TIMING_METHOD if self.bench is None else "the caller's do_bench"])
        digest = hashlib.sha256(record.encode()).hexdigest()
        return os.path.join(disk_cache.cache_dir(), "autotune", digest[:2], digest)

    def _load_timing(self, folder, config):
        if not disk_cache.enabled():
            return None
        path = os.path.join(folder, hashlib.sha256(config._identity().encode()).hexdigest()
                            + ".json")
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
            if record.get("config") != config._identity():
                return None
            return float(record["ms"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _store_timing(self, folder, config, ms):
        if not disk_cache.enabled():
            return
        try:
            os.makedirs(folder, exist_ok=True)
            name = hashlib.sha256(config._identity().encode()).hexdigest() + ".json"
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"config": config._identity(), "ms": ms}, f)
            os.replace(tmp, os.path.join(folder, name))
        except OSError:
            pass  # an unwritable cache only costs a re-tune

    # -- tuning -------------------------------------------------------------------------
    def _pruned(self, named):
        configs = self.configs
        prune = self.prune_configs_by.get("early_config_prune")
        if prune is not None:
            configs = list(prune(configs, named))
            if not configs:
                raise ValueError(f"autotune of {self.__name__}: early_config_prune left no config")
        return configs

    def _launch(self, config, grid, args, kwargs):
        call = dict(kwargs)
        call.update(config.all_kwargs())
        if config.pre_hook is not None:
            config.pre_hook(self._named(args, call))
        if isinstance(self.fn, JITFunction):  # through the C++ launch path when it has one
            return self.fn[grid](*args, **call)
        return self.fn.run(*args, grid=grid, **call)

    def _time(self, config, grid, args, kwargs, named) -> float:
        # Arguments the timed runs overwrite get their values back after: the
        # launch that follows tuning sees what the caller passed.
        saved = {n: _copy(named[n]) for n in self.restore_value + self.reset_to_zero}

        def once():
            for name in self.reset_to_zero:
                _zero(named[name])
            self._launch(config, grid, args, kwargs)

        try:
            bench = self.bench or (lambda f: do_bench(f, self.warmup, self.rep))
            ms = bench(once)
        finally:
            for name, value in saved.items():
                _restore(named[name], value)
        return ms

    def run(self, *args, grid, **kwargs):
        for config in self.configs:
            for name in config.kwargs:
                if name in kwargs or name in self.arg_names[:len(args)]:
                    raise ValueError(f"autotune of {self.__name__}: {name!r} is set both by "
                                     "the launch and by the configs; leave it to the configs")
        named = self._named(args, kwargs)
        key = self._key(named)
        best = self.cache.get(key)
        if best is None:
            best = self._tune(key, grid, args, kwargs, named)
        self.best_config = best
        return self._launch(best, grid, args, kwargs)

    def _tune(self, key, grid, args, kwargs, named):
        from ..compiler.errors import CompilationError

        configs = self._pruned(named)
        folder = self._disk_folder(key)
        timings, failures, errors = {}, {}, {}
        verbose = os.environ.get("TESSERA_PRINT_AUTOTUNING", "0") not in ("", "0")
        start = time.perf_counter()
        for i, config in enumerate(configs):
            ms = self._load_timing(folder, config)
            source = "disk"
            if ms is None:
                source = "timed"
                try:
                    ms = self._time(config, grid, args, kwargs, named)
                except (CompilationError, RuntimeError, ValueError, TypeError) as e:
                    # A config this device cannot run (too much shared
                    # memory, a block shape the kernel rejects) drops out.
                    failures[config] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
                    errors[config] = e
                    ms = float("inf")
                if ms != float("inf"):
                    self._store_timing(folder, config, ms)
            timings[config] = ms
            if verbose:
                shown = "failed: " + failures[config] if config in failures else f"{ms:.4f} ms"
                print(f"[tessera autotune] {self.__name__} {i + 1}/{len(configs)} {config}: "
                      f"{shown} ({source})", file=sys.stderr)
        runnable = {c: t for c, t in timings.items() if t != float("inf")}
        if not runnable:
            if len({(type(e), str(e)) for e in errors.values()}) == 1:
                # The same error for every config (a CPU tensor for a GPU
                # kernel, a missing argument): the launch's, not the configs'.
                raise next(iter(errors.values()))
            reasons = "; ".join(f"{c}: {r}" for c, r in failures.items())
            raise RuntimeError(f"autotune of {self.__name__}: no config ran ({reasons})")
        best = min(runnable, key=runnable.get)
        self.cache[key] = best
        self.timings[key] = timings
        if verbose:
            print(f"[tessera autotune] {self.__name__} key {key}: best {best}, "
                  f"{runnable[best]:.4f} ms, tuning took {time.perf_counter() - start:.2f} s",
                  file=sys.stderr)
        return best


def autotune(configs, key, prune_configs_by=None, reset_to_zero=None, restore_value=None,
             warmup=3, rep=10, do_bench=None):
    """Decorator: chooses among `configs` by timing, per value of `key` (a
    list of parameter names). `reset_to_zero` names outputs zeroed before
    each timed run (for kernels that accumulate with atomics) and given back
    their values after tuning; `restore_value` names arguments saved and
    restored around tuning;
    `prune_configs_by={"early_config_prune": f}` filters the configs
    (f(configs, named_args) -> configs) before timing."""
    def wrap(fn):
        return Autotuner(fn, configs, key, reset_to_zero, restore_value, prune_configs_by,
                         warmup, rep, do_bench)
    return wrap


class Heuristics:
    """A kernel whose some constexprs are computed from the arguments."""

    def __init__(self, fn, values: dict):
        self.fn = fn
        self.jit = fn if isinstance(fn, JITFunction) else fn.jit
        self.values = dict(values)
        for name in self.values:
            if name not in self.jit.arg_names:
                raise ValueError(f"heuristics: {name!r} is not a parameter of "
                                 f"{self.jit.__name__}")
        self.arg_names = self.jit.arg_names
        self.__name__ = self.jit.__name__

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.run(*args, grid=grid, **kwargs)

    def run(self, *args, grid, **kwargs):
        named = dict(zip(self.arg_names, args))
        named.update(kwargs)
        for name, rule in self.values.items():
            kwargs[name] = rule(named)
            named[name] = kwargs[name]
        if isinstance(self.fn, JITFunction):
            return self.fn[grid](*args, **kwargs)
        return self.fn.run(*args, grid=grid, **kwargs)


def heuristics(values: dict):
    """Decorator: `values` maps constexpr parameter names to functions of
    the named arguments, evaluated at each launch."""
    def wrap(fn):
        return Heuristics(fn, values)
    return wrap
