# The GEMM loop of examples/04 on sm_90a: operand tiles load as 16-byte
# vectors (the pointers advanced each iteration and the `% N`-wrapped
# columns keep their contiguity through the axis analysis' loop fixed point),
# reach shared memory as 16-byte stores, and feed mma.sync through ldmatrix.
# With num_stages = 3 they are copied with cp.async into 3 shared slots.
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py 1 > %t.ptx
# RUN: FileCheck %s < %t.ptx
# RUN: FileCheck %s --check-prefix=LOADS < %t.ptx
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py 3 | FileCheck %s --check-prefix=ASYNC

import importlib.util
import sys

from tessera.backends.nvidia import NVIDIABackend
from tessera.compiler import ASTSource

spec = importlib.util.spec_from_file_location("mm", sys.argv[1])
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)

signature = {"a_ptr": "*fp16:16", "b_ptr": "*fp16:16", "c_ptr": "*fp16:16", "M": "i32:16",
             "N": "i32:16", "K": "i32:16", "stride_am": "i32:16", "stride_bk": "i32:16",
             "stride_cm": "i32:16"}
constants = dict(BLOCK_SIZE_M=128, BLOCK_SIZE_N=128, BLOCK_SIZE_K=32, GROUP_SIZE_M=8,
                 ACTIVATION="", stride_ak=1, stride_bn=1, stride_cn=1)
ir = ASTSource(mm.matmul_kernel, signature, constants).make_ir()
binary = NVIDIABackend(arch="sm_90a").compile(ir, "matmul_kernel", False,
                                              {"num_warps": 8, "num_stages": int(sys.argv[2])})
print(binary.partition(b"\n")[2].decode())

# 128 x 32 and 32 x 128 fp16 tiles over 256 threads: 16 halves each, two v4 loads.
# LOADS-LABEL: .visible .entry matmul_kernel(
# LOADS-COUNT-4: ld.global.v4.b32
# LOADS-NOT: ld.global.b16
# CHECK-LABEL: .visible .entry matmul_kernel(
# CHECK-DAG: st.shared.v4.b32
# CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
# CHECK-DAG: ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16
# CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
# Prologue: two stages of 4 copies (two 16-byte copies per thread per tile),
# then per iteration: wait until one group is left, 4 copies, a commit.
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py 3 | FileCheck %s --check-prefix=GROUPS
# ASYNC-LABEL: .visible .entry matmul_kernel(
# ASYNC-COUNT-12: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, %r{{[0-9]+}};
# ASYNC-NOT: cp.async.cg
# GROUPS-COUNT-2: cp.async.commit_group;
# GROUPS: cp.async.wait_group 1;
# GROUPS-NEXT: bar.sync 0;
# GROUPS: cp.async.commit_group;
# GROUPS: cp.async.wait_group 0;
