"""tessera.aot (issue 9), host target: the C library it writes, built into
examples/aot's C++ program with CMake (find_package(Tessera)) and run: it
checks vector add (both specializations), softmax (and the dispatcher's
TESSERA_NO_SPECIALIZATION), an fp16 GEMM and flash attention (causal and
not) against double-precision references on random data. Also the
command line and what it refuses."""

import ctypes
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tessera
import tessera.language as tl
from tessera import _C, aot

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(tessera.__file__).resolve().parents[2]
PACKAGE = BUILD / "lib" / "cmake" / "Tessera"
CMAKE, NINJA, CC = shutil.which("cmake"), shutil.which("ninja"), shutil.which("cc")

pytestmark = pytest.mark.skipif(not _C.amd.find_lld(), reason="tessera.aot needs ld.lld")


@tessera.jit
def _axpy(x, y, out, n, alpha, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out + offs, alpha * tl.load(x + offs, mask=m) + tl.load(y + offs, mask=m), mask=m)


@pytest.mark.skipif(not (CMAKE and NINJA and PACKAGE.exists()), reason="no cmake/ninja or package")
def test_example_program_builds_and_passes(tmp_path):
    build = tmp_path / "build"
    env = dict(os.environ, TESSERA_CACHE="0")
    r = subprocess.run([CMAKE, "-S", str(ROOT / "examples" / "aot"), "-B", str(build), "-G",
                        "Ninja", f"-DTessera_DIR={PACKAGE}"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([CMAKE, "--build", str(build)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # The program needs no Python: run it with none on PATH or PYTHONPATH.
    r = subprocess.run([str(build / "aot_example")], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all checks passed" in r.stdout
    assert r.stdout.count(" ok") == 7


@pytest.mark.skipif(not (CMAKE and NINJA and PACKAGE.exists()), reason="no cmake/ninja or package")
@pytest.mark.parametrize("target", ["sm_90a", "gfx942"])
def test_example_program_builds_for_gpus(target, tmp_path):
    """The GPU variants, compile and link only (no GPU here): the cubins or
    HSA code objects embedded in the C source, the program linked against
    libdl and libpthread only."""
    build = tmp_path / "build"
    env = dict(os.environ, TESSERA_CACHE="0")
    r = subprocess.run([CMAKE, "-S", str(ROOT / "examples" / "aot"), "-B", str(build), "-G",
                        "Ninja", f"-DTessera_DIR={PACKAGE}", f"-DTESSERA_AOT_TARGET={target}"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([CMAKE, "--build", str(build)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    source = (build / "kernels-aot" / "kernels.c").read_text()
    assert source.count("__image[") == 6  # one binary a specialization
    assert ("cuModuleLoadData" if target.startswith("sm_") else "hipModuleLoadData") in source
    assert (build / "aot_example").exists()
    needed = subprocess.run(["readelf", "-d", str(build / "aot_example")], capture_output=True,
                            text=True).stdout if shutil.which("readelf") else ""
    assert "libcuda" not in needed and "amdhip" not in needed  # opened with dlopen


@pytest.mark.skipif(not CC, reason="no C compiler")
def test_library_from_python_dispatches_and_matches_numpy(tmp_path):
    """A library written with the Python API, compiled with cc into a
    shared object and called through ctypes: each specialization on fresh
    random data against numpy in float64, the == 1 specialization, and the
    error codes."""
    lib = aot.Library("axpy")
    common = {"x": "*fp32", "y": "*fp32", "out": "*fp32", "alpha": "fp32", "BLOCK": 256}
    lib.add(_axpy, [dict(common, x="*fp32:16", y="*fp32:16", out="*fp32:16", n="i32:16"),
                    dict(common, n=1)])
    files = lib.write(str(tmp_path / "gen"))
    assert sorted(pathlib.Path(f).name for f in files) == ["axpy.c", "axpy.h", "axpy_kernels.o"]
    so = tmp_path / "libaxpy.so"
    r = subprocess.run([CC, "-shared", "-fPIC", "-O2", "-o", str(so), str(tmp_path / "gen" / "axpy.c"),
                        str(tmp_path / "gen" / "axpy_kernels.o"), "-lm", "-lpthread"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    c = ctypes.CDLL(str(so))
    fn = c.axpy__axpy
    fp = ctypes.POINTER(ctypes.c_float)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, fp, fp, fp,
                   ctypes.c_int32, ctypes.c_float]
    rng = np.random.default_rng()

    def call(x, y, out, n, alpha, grid):
        return fn(None, grid, 1, 1, *(a.ctypes.data_as(fp) for a in (x, y, out)), n, alpha)

    n = 16 * int(rng.integers(100, 400))
    x, y = (rng.standard_normal(n + 8).astype(np.float32) for _ in range(2))
    out = np.zeros(n + 8, np.float32)
    alpha = float(rng.standard_normal())
    assert call(x, y, out, n, alpha, (n + 255) // 256) == 0
    ref = np.float32(alpha).astype(np.float64) * x[:n] + y[:n]
    np.testing.assert_allclose(out[:n], ref, rtol=1e-6, atol=1e-6)
    assert not out[n:].any()  # the mask: nothing past n
    # The same on 1 and 5 threads (the programs are shared out at launch).
    for threads in ("1", "5"):
        os.environ["TESSERA_AOT_THREADS"] = threads
        try:
            again = np.zeros_like(out)
            assert call(x, y, again, n, alpha, (n + 255) // 256) == 0
        finally:
            del os.environ["TESSERA_AOT_THREADS"]
        np.testing.assert_array_equal(again, out)
    out[:] = 0
    assert call(x, y, out, 1, alpha, 1) == 0  # n == 1: the second specialization
    np.testing.assert_allclose(out[:1], np.float32(alpha) * x[:1] + y[:1], rtol=1e-6)
    assert not out[1:].any()
    assert call(x, y, out, 17, alpha, 1) == 1  # TESSERA_NO_SPECIALIZATION
    assert call(x, y, out, 32, alpha, 0) == 2  # TESSERA_INVALID_GRID


def test_command_line_writes_the_library(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tessera.aot", str(ROOT / "examples" / "01_vector_add.py"),
                        "--kernel", "add_kernel:vector_add", "--signature",
                        "x_ptr=*fp32:16,y_ptr=*fp32:16,output_ptr=*fp32:16,n_elements=i32:16,"
                        "BLOCK_SIZE=1024", "--signature",
                        "x_ptr=*fp32,y_ptr=*fp32,output_ptr=*fp32,n_elements=i32,BLOCK_SIZE=1024",
                        "--name", "k", "--out", str(tmp_path)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(BUILD / "python")))
    assert r.returncode == 0, r.stderr
    header = (tmp_path / "k.h").read_text()
    assert ("tessera_status k_vector_add(tessera_stream stream, uint32_t grid_x, uint32_t grid_y, "
            "uint32_t grid_z, float *x_ptr, float *y_ptr, float *output_ptr, int32_t n_elements);"
            ) in header
    assert (tmp_path / "k_kernels.o").exists()


@pytest.mark.parametrize("signature,message", [
    ({"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32", "BLOCK": 256},
     r"the signature gives nothing for \['alpha'\]"),
    ({"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32", "BLOCK": "i32"},
     "BLOCK is a tl.constexpr; give its value, not a type"),
    ({"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": 2, "alpha": "fp32", "BLOCK": 256},
     "run-time parameter n can be specialized to 1 only, got 2"),
    ({"x": "*fp32:8", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32", "BLOCK": 256},
     "the hints are ':16' and ':i64'"),
    ({"x": "*fp33", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32", "BLOCK": 256},
     "unknown type 'fp33'"),
    ({"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32:16", "BLOCK": 256},
     "':16' is for pointers and integers"),
    ({"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32:i64", "alpha": "fp32", "BLOCK": 256},
     "':i64' is for pointers"),
    ({"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp16", "BLOCK": 256},
     "a run-time scalar alpha of type fp16 is not supported"),
    ({"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32", "BLOCK": 256,
      "z": "i32"}, r"has no parameter \['z'\]"),
])
def test_bad_signatures_are_refused(signature, message):
    with pytest.raises(ValueError, match=message):
        aot.Library("k").add(_axpy, [signature])


def test_signatures_must_share_constexprs_and_types():
    base = {"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32", "BLOCK": 256}
    with pytest.raises(ValueError, match="same constexpr values"):
        aot.Library("k").add(_axpy, [base, dict(base, BLOCK=128)])
    with pytest.raises(ValueError, match="different types in different signatures"):
        aot.Library("k").add(_axpy, [base, dict(base, x="*fp16")])
    with pytest.raises(ValueError, match="must be a C identifier"):
        aot.Library("my-lib")
    with pytest.raises(ValueError, match="unknown AOT target 'gfx1100'"):
        aot.Library("k").add(_axpy, [base]).write("/tmp/never", target="gfx1100")


def test_autotune_config_supplies_constexprs_and_warps(tmp_path):
    """A tessera.Config (what @autotune picks) fills the constexprs a
    signature leaves out, and its num_warps/num_stages are used."""
    lib = aot.Library("tuned")
    base = {"x": "*fp32", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32"}
    lib.add(_axpy, [base], config=tessera.Config({"BLOCK": 128}, num_warps=2, num_stages=1))
    kernel = lib.kernels[0]
    assert kernel.specs[0].constants == {"BLOCK": 128}
    assert kernel.options == {"num_warps": 2, "num_stages": 1}
    # An explicit value in the signature wins over the config's.
    lib.add(_axpy, [dict(base, BLOCK=512)], name="explicit",
            config=tessera.Config({"BLOCK": 128}, num_warps=2))
    assert lib.kernels[1].specs[0].constants == {"BLOCK": 512}
    assert {pathlib.Path(f).name for f in lib.write(str(tmp_path))} == {
        "tuned.h", "tuned.c", "tuned_kernels.o"}


@tessera.jit
def _uses_stream(stream, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(stream + offs, offs.to(tl.float32), mask=offs < n)


def test_reserved_names_and_64_bit_offsets(tmp_path):
    """A parameter named like the launch function's own (or a C keyword)
    is refused; ':i64' (arrays of 2^31 elements or more) compiles with
    64-bit offsets and keeps the hint in the specialization."""
    with pytest.raises(ValueError, match=r"parameter 'stream' is a C/C\+\+ keyword or a name"):
        aot.Library("k").add(_uses_stream, [{"stream": "*fp32", "n": "i32", "BLOCK": 64}])
    base = {"x": "*fp32:i64", "y": "*fp32", "out": "*fp32", "n": "i32", "alpha": "fp32",
            "BLOCK": 256}
    lib = aot.Library("big").add(_axpy, [base])
    assert lib.kernels[0].specs[0].signature["x"] == "*fp32:i64"
    assert (tmp_path / "big.h").name in {pathlib.Path(f).name for f in lib.write(str(tmp_path))}
