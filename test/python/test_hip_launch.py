"""The AMD backend's launch path (Python -> _C.hip -> the HIP runtime)
against a mock libamdhip64 (test/unit/runtime/MockHip.cpp): no AMD GPU
here. A kernel compiled to HSACO for gfx942 is loaded and launched through
`kernel[grid](...)` with TESSERA_BACKEND=hip; the mock records the launch,
and the test checks what HIP would have received: the kernel, the grid,
the workgroup (64 lanes x num_warps), no dynamic LDS, and each argument's
cell (pointers, i32, f32). Each case runs in a fresh interpreter, as the
runtime is loaded once a process."""

import os
import pathlib
import subprocess
import sys

import pytest

import tessera
from tessera import _C

MOCK = pathlib.Path(tessera.__file__).resolve().parents[2] / "lib" / "libtessera_mock_hip.so"

pytestmark = [pytest.mark.skipif(not MOCK.exists(), reason="the mock HIP library is not built"),
              pytest.mark.skipif(not _C.amd.find_lld(), reason="no ld.lld to link HSACO")]

SCRIPT = r'''
import ctypes, sys
import tessera, tessera.language as tl
from tessera.backends import active

mock = ctypes.CDLL(sys.argv[1])
mock.mock_hip_last_param.restype = ctypes.c_uint64
mock.mock_hip_last_function.restype = ctypes.c_char_p

@tessera.jit
def scale(x, out, n, alpha, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out + offs, tl.load(x + offs, mask=m) * alpha, mask=m)

class Device:
    type = "cuda"

class GpuTensor:
    """What a ROCm torch tensor shows the launcher: a torch type, a float32
    dtype, a 'cuda' device, an address (torch here is a CPU build)."""
    __module__ = "torch"
    device = Device()
    dtype = "torch.float32"
    def __init__(self, address):
        self.address = address
    def data_ptr(self):
        return self.address

backend = active()
print("backend", backend.name, backend.arch, tessera._C.hip.device()["name"])
mock.mock_hip_expect_params(4)
x, out = GpuTensor(0x7f0000001000), GpuTensor(0x7f0000200000)
CASE
'''


def run(tmp_path, case, extra_env=None):
    script = tmp_path / "launch.py"  # kernels need a source file
    script.write_text(SCRIPT.replace("CASE", case))
    env = dict(os.environ, TESSERA_LIBHIP=str(MOCK), TESSERA_BACKEND="hip",
               TESSERA_HIP_ARCH="gfx942", TESSERA_CACHE="0")
    env["PYTHONPATH"] = os.pathsep.join([str(pathlib.Path(tessera.__file__).parents[1]),
                                         env.get("PYTHONPATH", "")])
    env.update(extra_env or {})
    return subprocess.run([sys.executable, str(script), str(MOCK)],
                          capture_output=True, text=True, env=env)


def test_launch_reaches_hip_with_the_right_configuration(tmp_path):
    r = run(tmp_path, '''
import numpy as np
scale[(5,)](x, out, 4000, 0.25, BLOCK=1024, num_warps=8)
grid, block = (ctypes.c_uint * 3)(), (ctypes.c_uint * 3)()
shared, stream = ctypes.c_uint(), ctypes.c_void_p()
mock.mock_hip_last_launch(grid, block, ctypes.byref(shared), ctypes.byref(stream))
print("launches", mock.mock_hip_launch_count())
print("function", mock.mock_hip_last_function().decode())
print("grid", list(grid), "block", list(block), "shared", shared.value)
cells = [mock.mock_hip_last_param(i) for i in range(4)]
print("x", hex(cells[0]), "out", hex(cells[1]), "n", cells[2] & 0xffffffff,
      "alpha", np.frombuffer(np.uint32(cells[3] & 0xffffffff).tobytes(), np.float32)[0])
''')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "backend hip gfx942 Mock MI300X" in out
    assert "launches 1" in out
    assert "function scale" in out
    assert "grid [5, 1, 1] block [512, 1, 1] shared 0" in out
    assert "x 0x7f0000001000 out 0x7f0000200000 n 4000 alpha 0.25" in out


def test_host_array_is_refused_with_the_reason(tmp_path):
    r = run(tmp_path, '''
import numpy as np
try:
    scale[(1,)](np.zeros(4, np.float32), out, 4, 1.0, BLOCK=64)
except ValueError as e:
    print("refused:", e)
print("launches", mock.mock_hip_launch_count())
''')
    assert r.returncode == 0, r.stderr
    assert "refused: argument 'x' of scale is a ndarray, but the kernel runs on the AMD GPU" \
        in r.stdout
    assert "launches 0" in r.stdout


def test_hip_failure_becomes_a_python_exception(tmp_path):
    r = run(tmp_path, '''
mock.mock_hip_fail_next(b"hipModuleLaunchKernel", 701)
try:
    scale[(1,)](x, out, 4, 1.0, BLOCK=64)
except RuntimeError as e:
    print(type(e).__name__, e)
''')
    assert r.returncode == 0, r.stderr
    assert ("HipError hipModuleLaunchKernel: hipErrorLaunchOutOfResources: too many resources "
            "requested for launch") in r.stdout


def test_unknown_architecture_is_an_error(tmp_path):
    r = run(tmp_path, "pass", {"TESSERA_HIP_ARCH": "gfx1100"})
    assert r.returncode != 0
    assert "the AMD backend compiles for gfx90a and gfx942, not 'gfx1100'" in r.stderr
