# Every kernel the examples launch, down to AMDGCN for gfx942 (MI300): the
# examples run their main() on the CPU backend with a shim that also
# compiles each kernel it launches (the same IR, signature and options) with
# the AMD backend and prints the assembly. Each kernel is a wave64 AMDGPU
# kernel; the GEMMs and attention run their dots on MFMA (16x16x16 for
# fp16, 16x16x4 for the fp32 examples).
# RUN: %python %s %tessera_srcdir/examples gfx942 > %t.s
# RUN: FileCheck %s < %t.s

import importlib.util
import os
import pathlib
import sys

import tessera.backends as backends
from tessera.backends.amd import AMDBackend
from tessera.backends.cpu import CPUBackend

os.environ["TESSERA_CACHE"] = "0"
arch = sys.argv[2]


class Shim(CPUBackend):
    default_options = dict(CPUBackend.default_options, amd_text=1)

    def compile(self, ir, kernel_name, dump, options=None):
        asm = AMDBackend(arch).compile(ir, kernel_name, False,
                                       {"num_warps": (options or {}).get("num_warps", 4),
                                        "assembly": True})
        print(f"// ===== {kernel_name}")
        print(asm.decode())
        return super().compile(ir, kernel_name, dump, options)


backends._active = Shim()
sys.stdout.flush()
for path in sorted(pathlib.Path(sys.argv[1]).glob("[0-9][0-9]_*.py")):
    print(f"// ===== example {path.stem}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()

# CHECK-LABEL: // ===== example 01_vector_add
# CHECK-LABEL: // ===== add_kernel
# CHECK: .amdgcn_target "amdgcn-amd-amdhsa--gfx942
# CHECK: add_kernel:
# CHECK: global_load
# CHECK: v_add_f32
# CHECK: global_store
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 02_fused_softmax
# CHECK-LABEL: // ===== softmax_kernel
# CHECK: softmax_kernel:
# CHECK: v_exp_f32
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 03_layer_norm
# CHECK-LABEL: // ===== _layer_norm_fwd_row
# CHECK: _layer_norm_fwd_row:
# CHECK: v_sqrt_f32
# CHECK: .wavefront_size: 64
# CHECK-LABEL: // ===== _layer_norm_fwd_fused
# CHECK: _layer_norm_fwd_fused:
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 04_matmul
# CHECK-LABEL: // ===== matmul_kernel
# CHECK: matmul_kernel:
# CHECK: v_mfma_f32_16x16x16_f16
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 05_flash_attention
# CHECK-LABEL: // ===== _attn_fwd
# CHECK: _attn_fwd:
# CHECK-DAG: v_mfma_f32_16x16x16_f16
# CHECK-DAG: v_exp_f32
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 06_block_ptr_matmul
# CHECK-LABEL: // ===== matmul_kernel
# CHECK: matmul_kernel:
# CHECK: v_mfma_f32_16x16x4_f32
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 07_descriptor_matmul
# CHECK-LABEL: // ===== matmul_kernel
# CHECK: matmul_kernel:
# CHECK: v_mfma_f32_16x16x4_f32
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 08_videomaker_reference_attention
# CHECK-LABEL: // ===== block_sparse_attention_fwd
# CHECK: block_sparse_attention_fwd:
# CHECK: v_mfma_f32_16x16x4_f32
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 09_rar_permuted_causal
# CHECK-LABEL: // ===== block_sparse_attention_fwd
# CHECK: block_sparse_attention_fwd:
# CHECK: v_mfma_f32_16x16x4_f32
# CHECK: .wavefront_size: 64

# CHECK-LABEL: // ===== example 10_persistent_matmul
# CHECK-LABEL: // ===== matmul_persistent
# CHECK: matmul_persistent:
# CHECK: v_mfma_f32_16x16x4_f32
# CHECK: .wavefront_size: 64

# erf and libdevice.tanh from ocml, inlined: no calls.
# CHECK-LABEL: // ===== example 11_gelu
# CHECK-LABEL: // ===== bias_gelu_kernel
# CHECK: bias_gelu_kernel:
# CHECK-NOT: s_swappc
# CHECK: s_endpgm
# CHECK: .wavefront_size: 64
