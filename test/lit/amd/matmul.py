# examples/04's GEMM on the AMD backend: the dot runs on MFMA. Both operand
# tiles go to LDS; each wavefront reads its A rows (one 8-byte read of four
# k a lane) and B columns from there, one v_mfma_f32_16x16x16 f16 per 16 x 16
# output tile and K step of 16 (32 x 32 on 4 wavefronts: one tile each; K 32:
# two steps).
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py gfx942 | FileCheck %s
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py gfx90a | FileCheck %s

import importlib.util
import sys

from tessera.backends.amd import AMDBackend
from tessera.compiler import ASTSource

spec = importlib.util.spec_from_file_location("mm", sys.argv[1])
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)
f = mm.matmul_kernel
signature = {n: "*fp16" if n.endswith("_ptr") else "i32" for n in f.arg_names}
constants = dict(BLOCK_SIZE_M=32, BLOCK_SIZE_N=32, BLOCK_SIZE_K=32, GROUP_SIZE_M=8,
                 ACTIVATION="")
for name in constants:
    signature.pop(name, None)
print(AMDBackend(sys.argv[2]).compile(ASTSource(f, signature, constants).make_ir(), f.__name__,
                                      False, {"num_warps": 4, "assembly": True}).decode())

# CHECK-LABEL: matmul_kernel:
# CHECK-DAG: global_load_ushort
# CHECK-DAG: ds_write_b128
# CHECK-DAG: s_barrier
# CHECK-DAG: ds_read
# CHECK-DAG: {{v_mfma_f32_16x16x16_?f16}}
# CHECK-DAG: global_store_short
# CHECK: .wavefront_size: 64
