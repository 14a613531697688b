"""The kernel cache under concurrency and damage: threads of one process
compile a kernel once; processes sharing one disk cache never read a torn
or damaged entry; damaged entries are removed and written again."""

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera.backends import active
from tessera.runtime import cache as disk_cache

BUILD_PYTHON = pathlib.Path(tessera.__file__).resolve().parents[1]


def scale_fn(x_ptr, out_ptr, n, factor, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * factor, mask=mask)


def run_scale(kernel, n=300, block=64, factor=3.0):
    x = np.random.default_rng().standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    kernel[(tessera.cdiv(n, block),)](x, out, n, factor, BLOCK=block)
    np.testing.assert_allclose(out, x * np.float32(factor), rtol=1e-6)


def entries(root):
    return [p for p in pathlib.Path(root).glob("*/*") if p.is_dir()]


def counting_compile(monkeypatch, delay=0.0):
    """Counts the backend's compiles (slowed by `delay` to widen races)."""
    backend = active()
    real = backend.compile
    calls = []

    def compile_(*args):
        calls.append(1)
        time.sleep(delay)
        return real(*args)
    monkeypatch.setattr(backend, "compile", compile_)
    return calls


def test_threads_compile_a_kernel_once(cache_dir, monkeypatch):
    calls = counting_compile(monkeypatch, delay=0.2)
    kernel = tessera.jit(scale_fn)
    errors = []

    def worker():
        try:
            run_scale(kernel)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert calls == [1]


@pytest.mark.parametrize("damage", ["truncated binary", "truncated record", "empty record",
                                    "record names another file", "missing binary"])
def test_damaged_entry_is_removed_and_rewritten(cache_dir, monkeypatch, damage):
    run_scale(tessera.jit(scale_fn))
    (entry,) = entries(cache_dir)
    binary, record = entry / "kernel.o", entry / "meta.json"
    if damage == "truncated binary":
        binary.write_bytes(binary.read_bytes()[:100])
    elif damage == "truncated record":
        record.write_text(record.read_text()[:20])
    elif damage == "empty record":
        record.write_text("")
    elif damage == "record names another file":
        meta = json.loads(record.read_text())
        record.write_text(json.dumps(dict(meta, binary="../../elsewhere")))
    else:
        binary.unlink()
    assert disk_cache.load(entry.name) is None  # never served
    calls = counting_compile(monkeypatch)
    run_scale(tessera.jit(scale_fn))
    assert calls == [1]  # recompiled
    assert disk_cache.load(entry.name) is not None  # and a good entry is back
    assert not [p for p in pathlib.Path(cache_dir).glob("*/*") if ".bad-" in p.name]


WORKER = r'''
import json, sys, threading, time
import numpy as np
import tessera
import tessera.language as tl
from tessera.backends import active

def scale_fn(x_ptr, out_ptr, n, factor, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * factor, mask=mask)

backend = active()
real = backend.compile
counts = {}
lock = threading.Lock()
def compile_(ir, name, dump, options):
    key = hash(str(ir))  # one count per distinct kernel
    with lock:
        counts[key] = counts.get(key, 0) + 1
    time.sleep(0.05)
    return real(ir, name, dump, options)
backend.compile = compile_

me = int(sys.argv[1])
kernel = tessera.jit(scale_fn)
# Blocks shared by every process (the same entries) and one of its own.
blocks = [16, 32, 64, 128, [256, 512, 1024, 2048, 4096, 8, 4, 2][me]]
bad = []
def worker(t):
    rng = np.random.default_rng(t)
    for i in range(6):
        block = blocks[(t + i) % len(blocks)]
        n = 1000 + t
        x = rng.standard_normal(n).astype(np.float32)
        out = np.zeros(n, np.float32)
        try:
            kernel[(tessera.cdiv(n, block),)](x, out, n, 2.0, BLOCK=block)
        except Exception as e:
            bad.append(repr(e))
            continue
        if not np.allclose(out, x * 2.0, rtol=1e-6):
            bad.append((t, block))
threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"compiles": sum(counts.values()), "most": max(counts.values(), default=0),
                  "kernels": len(kernel.cache), "bad": bad}))
'''


def test_processes_and_threads_share_one_disk_cache(cache_dir):
    """8 processes x 8 threads compile 4 shared kernels and one of their own
    into one cache: each process compiles each kernel at most once (none of
    the shared ones if another process stored it first), results are
    right, and every entry left is whole."""
    env = dict(os.environ, TESSERA_CACHE_DIR=str(cache_dir), TESSERA_CACHE="1",
               PYTHONPATH=str(BUILD_PYTHON))
    script = cache_dir / "worker.py"  # outside the entries' two-level folders
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    for r in results:
        assert r["bad"] == []
        assert r["kernels"] == 5
        assert r["most"] == 1  # no kernel compiled twice in a process
        assert 1 <= r["compiles"] <= 5  # its own kernel at least
    # 4 shared + 8 own kernels: 12 entries, each whole, nothing left over.
    found = entries(cache_dir)
    assert len(found) == 12
    for entry in found:
        assert disk_cache.load(entry.name) is not None
    assert not [p for p in pathlib.Path(cache_dir).glob("*/*") if p.name.startswith(".tmp-")]


def test_ir_builder_state_is_per_thread():
    """The builder of the kernel being generated belongs to its thread:
    threads compiling different kernels at once (the JIT locks per kernel)
    must not see or reset each other's (an arange in one thread failed as
    'outside a @tessera.jit function' when another finished first)."""
    import threading
    from tessera.language import semantic as S
    previous = S.set_builder("this thread's")
    seen = []
    try:
        t = threading.Thread(target=lambda: seen.append((S._state["builder"],
                                                         S.set_builder("other's"))))
        t.start()
        t.join()
        assert seen == [(None, None)]
        assert S._state["builder"] == "this thread's"
    finally:
        S.set_builder(previous)
