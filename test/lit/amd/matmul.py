# examples/04's GEMM on the AMD backend: no MFMA yet, so the dot takes the
# FMA path: both operand tiles go to LDS, each thread accumulates its
# outputs with packed FMAs (v_pk_fma_f32) over K reading LDS.
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
# CHECK-DAG: ds_read_b128
# CHECK-DAG: v_pk_fma_f32
# CHECK-DAG: global_store_short
# CHECK: .wavefront_size: 64
