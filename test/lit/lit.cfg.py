# lit configuration for Tessera's IR tests: tessera-opt + FileCheck.
import os

import lit.formats

config.name = "Tessera"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tessera_obj_root, "test", "lit")

# Tools come from the build (tessera-opt) and from LLVM 22 (FileCheck, not).
path = [os.path.join(config.tessera_obj_root, "bin"), config.llvm_tools_dir]
config.environment["PATH"] = os.pathsep.join(path + [config.environment.get("PATH", "")])

config.suffixes += [".test", ".py"]
# Front-end tests run Python kernels through the package in the build tree.
if config.python_executable:
    config.substitutions.append(
        ("%python", "env PYTHONPATH={} TESSERA_CACHE=0 {}".format(
            os.path.join(config.tessera_obj_root, "python"), config.python_executable)))
else:
    config.unsupported = True
config.substitutions.append(
    ("%tessera_libdir", os.path.join(config.tessera_obj_root, "lib")))
config.substitutions.append(
    ("%tessera_bindir", os.path.join(config.tessera_obj_root, "bin")))
config.substitutions.append(("%tessera_srcdir", config.tessera_src_root))

# ptxas validates the PTX the NVIDIA backend emits (CUDA is on the CI machine).
import shutil
ptxas = os.environ.get("TESSERA_PTXAS") or shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# The device math libraries (tl.erf, float64 math): CUDA's libdevice and
# ROCm's ocml (Debian's rocm-device-libs), where installed.
cuda = os.environ.get("CUDA_HOME") or "/usr/local/cuda"
if os.environ.get("TESSERA_LIBDEVICE") or os.path.exists(f"{cuda}/nvvm/libdevice/libdevice.10.bc"):
    config.available_features.add("libdevice")
if os.environ.get("TESSERA_OCML") or any(os.path.exists(f"{d}/amdgcn/bitcode/ocml.bc") for d in (
        os.environ.get("ROCM_PATH", "/opt/rocm"), "/opt/rocm", "/usr/lib/x86_64-linux-gnu")):
    config.available_features.add("ocml")
