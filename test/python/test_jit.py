"""@tessera.jit: specialization, the memory and disk caches, launches and
their errors."""

import pathlib

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera.backends import active
from tessera.runtime import cache as disk_cache

rng = np.random.default_rng()


def scale_fn(x_ptr, out_ptr, n, factor, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * factor, mask=mask)


scale = tessera.jit(scale_fn)


def run_scale(kernel, n, factor=3.0, block=64):
    x = rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    kernel[(tessera.cdiv(n, block),)](x, out, n, factor, BLOCK=block)
    np.testing.assert_allclose(out, x * np.float32(factor), rtol=1e-6)


def test_specialization_keys():
    kernel = tessera.jit(scale_fn)
    run_scale(kernel, 100)
    run_scale(kernel, 200)       # neither divisible by 16: same kernel
    assert len(kernel.cache) == 1
    run_scale(kernel, 160)       # divisible by 16: specialized
    assert len(kernel.cache) == 2
    run_scale(kernel, 1)         # n == 1 becomes a constant
    assert len(kernel.cache) == 3
    run_scale(kernel, 100, block=128)  # another constexpr
    assert len(kernel.cache) == 4
    run_scale(kernel, 300, factor=0.5)  # run-time float: same kernel as 100
    assert len(kernel.cache) == 4


def entries(root):
    return [p for p in pathlib.Path(root).glob("*/*") if p.is_dir()]


def test_disk_cache_serves_a_new_jit_function(cache_dir, monkeypatch):
    run_scale(tessera.jit(scale_fn), 100)
    (entry,) = entries(cache_dir)
    assert sorted(p.name for p in entry.iterdir()) == ["kernel.o", "meta.json"]
    assert not list(pathlib.Path(cache_dir).glob("*/.tmp-*"))

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled although the disk cache had the kernel")

    monkeypatch.setattr(active(), "compile", no_compile)
    run_scale(tessera.jit(scale_fn), 100)  # a fresh function object: disk hit


def test_corrupt_cache_entry_is_not_served(cache_dir, monkeypatch):
    run_scale(tessera.jit(scale_fn), 100)
    (entry,) = entries(cache_dir)
    binary = entry / "kernel.o"
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 0xFF
    binary.write_bytes(bytes(data))

    backend = active()
    real_compile = backend.compile
    calls = []
    monkeypatch.setattr(backend, "compile", lambda *a: calls.append(1) or real_compile(*a))
    run_scale(tessera.jit(scale_fn), 100)
    assert calls == [1]  # the checksum failed, so it recompiled
    assert disk_cache.load(entry.name) is not None  # and stored a good entry again


def test_source_change_changes_the_key(cache_dir):
    run_scale(tessera.jit(scale_fn), 100)

    def scale_fn2(x_ptr, out_ptr, n, factor, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * factor * 1, mask=mask)

    run_scale(tessera.jit(scale_fn2), 100)
    assert len(entries(cache_dir)) == 2


def test_cache_can_be_disabled(cache_dir, monkeypatch):
    monkeypatch.setenv("TESSERA_CACHE", "0")
    run_scale(tessera.jit(scale_fn), 100)
    assert entries(cache_dir) == []


def test_ptx_experiments_bypass_the_cache(cache_dir, monkeypatch, tmp_path):
    """Kernels compiled while PTX is dumped or overridden (an experiment)
    are neither served from the disk cache nor stored in it."""
    run_scale(tessera.jit(scale_fn), 100)
    assert len(entries(cache_dir)) == 1
    compiled = []
    original = active().compile
    monkeypatch.setattr(active(), "compile",
                        lambda *a, **k: compiled.append(1) or original(*a, **k))
    monkeypatch.setenv("TESSERA_PTX_OVERRIDE_DIR", str(tmp_path))
    run_scale(tessera.jit(scale_fn), 100)  # compiled, not served
    run_scale(tessera.jit(scale_fn), 160)  # a new specialization: not stored
    assert len(compiled) == 2 and len(entries(cache_dir)) == 1


def test_grid_callable_sees_arguments_and_constexprs():
    seen = {}

    def grid(meta):
        seen.update(meta)
        return (tessera.cdiv(meta["n"], meta["BLOCK"]),)

    x = rng.standard_normal(1000).astype(np.float32)
    out = np.zeros_like(x)
    scale[grid](x, out, 1000, 2.0, BLOCK=128)
    np.testing.assert_allclose(out, x * 2, rtol=1e-6)
    assert seen["n"] == 1000 and seen["BLOCK"] == 128 and seen["factor"] == 2.0


def test_torch_cpu_tensors():
    torch = pytest.importorskip("torch")
    x = torch.randn(333)
    out = torch.zeros(333)
    scale[(tessera.cdiv(333, 64),)](x, out, 333, -1.5, BLOCK=64)
    torch.testing.assert_close(out, x * -1.5)


def test_empty_grid_is_an_error():
    x = np.ones(16, np.float32)
    out = np.full(16, 7.0, np.float32)
    with pytest.raises(ValueError, match=r"grid dimension 0 is 0; it must be in \[1, 2147483647\]"):
        scale[(0,)](x, out, 16, 2.0, BLOCK=16)
    assert (out == 7.0).all()


@pytest.mark.parametrize("launch,error,message", [
    (lambda x, o: scale[(1,)](x, o, 16), TypeError, "missing a required argument: 'factor'"),
    (lambda x, o: scale[(1,)]([1.0], o, 16, 1.0, BLOCK=16), TypeError,
     "argument 'x_ptr' of scale_fn has unsupported type list"),
    (lambda x, o: scale[(1,)](x.astype(np.complex64), o, 16, 1.0, BLOCK=16), TypeError,
     "numpy dtype complex64 is not supported"),
    (lambda x, o: scale[(1, 1, 1, 1)](x, o, 16, 1.0, BLOCK=16), ValueError,
     "the grid must have 1 to 3 dimensions"),
    (lambda x, o: scale[(-1,)](x, o, 16, 1.0, BLOCK=16), ValueError,
     "grid dimension 0 is -1"),
    (lambda x, o: scale[(1, 70000)](x, o, 16, 1.0, BLOCK=16), ValueError,
     "grid dimension 1 is 70000; it must be in [1, 65535]"),
    (lambda x, o: scale[(1,)](x, o, 2**70, 1.0, BLOCK=16), ValueError, "does not fit in 64 bits"),
    (lambda x, o: scale(x, o, 16, 1.0, BLOCK=16), RuntimeError, "launch it with scale_fn[grid]"),
])
def test_bad_launches_raise(launch, error, message):
    x = np.zeros(16, np.float32)
    with pytest.raises(error) as info:
        launch(x, np.zeros(16, np.float32))
    assert message in str(info.value)


def test_language_outside_a_kernel():
    with pytest.raises(Exception, match="can only be used inside a @tessera.jit function"):
        tl.arange(0, 16)


def test_dump_ir_prints_every_stage(monkeypatch, capfd):
    monkeypatch.setenv("TESSERA_DUMP_IR", "1")
    run_scale(tessera.jit(scale_fn), 48)
    err = capfd.readouterr().err
    assert "tile IR from the front end" in err and "tile.load" in err
    for stage in active().stages() + ["llvm-ir"]:
        assert f"after stage '{stage}'" in err


def test_next_power_of_2_and_cdiv():
    assert [tessera.next_power_of_2(n) for n in (0, 1, 2, 3, 17, 1024, 1025)] == \
        [1, 1, 2, 4, 32, 1024, 2048]
    assert tessera.cdiv(10, 4) == 3 and tessera.cdiv(8, 4) == 2


def test_import_as_triton():
    """A Triton kernel ports by changing its imports."""
    import tessera as triton
    import tessera.language as tl2

    @triton.jit
    def copy(src, dst, n, BLOCK: tl2.constexpr):
        offs = tl2.program_id(0) * BLOCK + tl2.arange(0, BLOCK)
        tl2.store(dst + offs, tl2.load(src + offs, mask=offs < n), mask=offs < n)

    x = rng.standard_normal(100).astype(np.float32)
    y = np.zeros_like(x)
    copy[(triton.cdiv(100, 32),)](x, y, 100, BLOCK=32)
    np.testing.assert_array_equal(x, y)


# -- compiled kernels (warmup) hold their arguments to the specialization ------------------
def test_warmup_compiles_without_launching_and_launches_after():
    k = scale.warmup("*fp32:16", "*fp32:16", "i32", "fp32", BLOCK=64)
    assert k.signature["x_ptr"] == (tl.pointer_type(tl.float32), "D")
    assert k.constants == {"BLOCK": 64}
    x = rng.standard_normal(100).astype(np.float32)
    out = np.zeros(100, np.float32)
    k[(2,)](x, out, 100, 0.5, BLOCK=64)
    np.testing.assert_allclose(out, x.astype(np.float64) * 0.5, rtol=1e-6)
    # the JIT path finds the same kernel in its cache
    assert scale.warmup(x, out, 100, 0.5, BLOCK=64) is k


_x = np.zeros(64, np.float32)


@pytest.mark.parametrize("args,kwargs,error,message", [
    ((_x.astype(np.float16), _x, 64, 1.0), {}, TypeError,
     "was compiled for fp32 tensors, got a tensor of fp16"),
    ((_x[1:], _x, 63, 1.0), {}, ValueError, "which is not 16-byte aligned, but the kernel was "
     "compiled assuming it is"),
    ((_x, _x, 64, 1.0), {"BLOCK": 32}, ValueError, "compiled with BLOCK=64"),
    ((_x, _x, 2**40, 1.0), {}, ValueError, "does not fit the compiled type i32"),
    ((_x, _x, 1.5, 1.0), {}, TypeError, "must be an integer (i32), got 1.5"),
    ((_x, 3, 64, 1.0), {}, TypeError, "'out_ptr' of the compiled scale_fn must be a tensor"),
])
def test_compiled_kernel_rejects_what_it_was_not_compiled_for(args, kwargs, error, message):
    k = scale.warmup("*fp32:16", "*fp32:16", "i32", "fp32", BLOCK=64)
    out = args[1].copy() if isinstance(args[1], np.ndarray) else args[1]
    with pytest.raises(error) as info:
        k[(1,)](args[0], out, *args[2:], **dict({"BLOCK": 64}, **kwargs))
    assert message in str(info.value)


def test_compiled_kernel_checks_divisibility_and_one():
    x = np.zeros(64, np.float32)
    k16 = scale.warmup(x, x, 64, 1.0, BLOCK=64)  # n % 16 == 0 assumed
    with pytest.raises(ValueError, match="n' of the compiled scale_fn = 63 is not divisible by 16"):
        k16[(1,)](x, x, 63, 1.0, BLOCK=64)
    k1 = scale.warmup(x, x, 1, 1.0, BLOCK=64)
    with pytest.raises(ValueError, match="is 5, but the kernel was specialized to 1"):
        k1[(1,)](x, x, 5, 1.0, BLOCK=64)


# -- declared parameter types ------------------------------------------------------------
@tessera.jit
def fill_typed(out_ptr: tl.pointer_type(tl.float32), n: "i64", value: tl.float64,
               B: tl.constexpr):
    offs = tl.arange(0, B)
    tl.store(out_ptr + offs, (offs.to(tl.float64) * value + n).to(tl.float32), mask=offs < 4)


def test_declared_types_are_enforced():
    out = np.zeros(16, np.float32)
    k = fill_typed[(1,)](out, 7, 2, B=16)
    assert k.signature["n"][0] == tl.int64 and k.signature["value"][0] == tl.float64
    np.testing.assert_allclose(out[:4], 7 + 2 * np.arange(4.0))
    # 1 passed to a float parameter stays a float (not an integer constant).
    k = fill_typed[(1,)](out, 7, 1, B=16)
    assert k.signature["value"][0] == tl.float64 and "value" not in k.constants
    np.testing.assert_allclose(out[:4], 7 + np.arange(4.0))
    with pytest.raises(TypeError, match="'out_ptr' of fill_typed is declared \\*fp32, but a "
                       "tensor of fp16 was passed"):
        fill_typed[(1,)](out.astype(np.float16), 7, 2.0, B=16)
    with pytest.raises(TypeError, match="'n' of fill_typed is declared i64, but the float 1.5"):
        fill_typed[(1,)](out, 1.5, 2.0, B=16)
    with pytest.raises(TypeError, match="'value' of fill_typed is declared fp64 \\(a scalar\\)"):
        fill_typed[(1,)](out, 1, out, B=16)


# -- DLPack --------------------------------------------------------------------------------
class DLPackOnly:
    """An array of some other library: all it offers is __dlpack__."""

    def __init__(self, array):
        self.array = array

    def __dlpack__(self, stream=None):
        return self.array.__dlpack__()

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


def test_dlpack_arrays_are_accepted():
    n = 300
    x = rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    scale[(tessera.cdiv(n, 64),)](DLPackOnly(x), DLPackOnly(out), n, 2.0, BLOCK=64)
    np.testing.assert_allclose(out, x.astype(np.float64) * 2, rtol=1e-6)
    # a view with an offset: the DLPack byte offset / data pointer is honoured
    out[:] = 0
    scale[(5,)](DLPackOnly(x[10:]), DLPackOnly(out[:-10]), n - 10, 1.0, BLOCK=64)
    np.testing.assert_allclose(out[:-10], x[10:])


def test_dlpack_errors():
    class Broken:
        def __dlpack__(self, stream=None):
            raise BufferError("cannot export a read-only view")

    with pytest.raises(TypeError, match="Broken.__dlpack__\\(\\) failed: cannot export"):
        scale[(1,)](Broken(), np.zeros(4, np.float32), 4, 1.0, BLOCK=16)
    with pytest.raises(TypeError, match="not an unconsumed DLPack capsule"):
        tessera._C.dlpack_info(_renamed_capsule())


def _renamed_capsule():
    """A capsule another consumer has taken (DLPack renames it)."""
    import ctypes
    capsule = np.zeros(4, np.float32).__dlpack__()
    set_name = ctypes.pythonapi.PyCapsule_SetName
    set_name.argtypes = [ctypes.py_object, ctypes.c_char_p]
    set_name(capsule, b"used_dltensor")
    return capsule
