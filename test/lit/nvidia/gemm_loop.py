# The GEMM loop of examples/04 on sm_80: operand tiles load as 16-byte
# vectors (the pointers advanced each iteration and the `% N`-wrapped
# columns keep their contiguity through the axis analysis' loop fixed point),
# reach shared memory as 16-byte stores, and feed mma.sync through ldmatrix.
# With num_stages = 3 they are copied with cp.async into 3 shared slots.
# On sm_90a the same loop runs on wgmma (see WGMMA below).
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py 1 sm_80 > %t.ptx
# RUN: FileCheck %s < %t.ptx
# RUN: FileCheck %s --check-prefix=LOADS < %t.ptx
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py 3 sm_80 | FileCheck %s --check-prefix=ASYNC
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py 3 sm_90a > %t90.ptx
# RUN: FileCheck %s --check-prefix=WGMMA < %t90.ptx
# RUN: FileCheck %s --check-prefix=ASYNC < %t90.ptx

import importlib.util
import sys

from tessera.backends.nvidia import NVIDIABackend
from tessera.compiler import ASTSource

spec = importlib.util.spec_from_file_location("mm", sys.argv[1])
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)

# Optional: the operands' type and BLOCK_SIZE_K (fp16, 32 by default).
dtype = sys.argv[4] if len(sys.argv) > 4 else "fp16"
block_k = int(sys.argv[5]) if len(sys.argv) > 5 else 32
signature = {"a_ptr": f"*{dtype}:16", "b_ptr": f"*{dtype}:16", "c_ptr": f"*{dtype}:16", "M": "i32:16",
             "N": "i32:16", "K": "i32:16", "stride_am": "i32:16", "stride_bk": "i32:16",
             "stride_cm": "i32:16"}
constants = dict(BLOCK_SIZE_M=128, BLOCK_SIZE_N=128, BLOCK_SIZE_K=block_k, GROUP_SIZE_M=8,
                 ACTIVATION="", stride_ak=1, stride_bn=1, stride_cn=1)
ir = ASTSource(mm.matmul_kernel, signature, constants).make_ir()
binary = NVIDIABackend(arch=sys.argv[3]).compile(ir, "matmul_kernel", False,
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
# RUN: %python %s %tessera_srcdir/examples/04_matmul.py 3 sm_80 | FileCheck %s --check-prefix=GROUPS
# ASYNC-LABEL: .visible .entry matmul_kernel(
# ASYNC-COUNT-12: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, %r{{[0-9]+}};
# ASYNC-NOT: cp.async.cg
# GROUPS-COUNT-2: cp.async.commit_group;
# GROUPS: cp.async.wait_group 1;
# GROUPS-NEXT: bar.sync 0;
# GROUPS: cp.async.commit_group;
# GROUPS: cp.async.wait_group 0;

# sm_90a: 128 x 128 x 32 with 8 warps is two warpgroups, each one
# m64n128k16 wgmma per 16 of k. The A tile (64-byte rows) is 64-byte
# swizzled: descriptor mode 2 (bit 63), SBO 8 rows x 64 B = 512 (0x20 << 32),
# LBO unused (1 << 16); B (256-byte rows) is 128-byte swizzled in 128-byte
# column blocks 32 rows x 128 B = 4096 apart: mode 1 (bit 62), SBO 1024
# (0x40 << 32), LBO 4096 (0x100 << 16). A K-major (trans-a 0), B N-major
# (trans-b 1). Copies are fenced for the async proxy before the barrier.
# Both operands come from the loop's copies, so each iteration's wgmma stays
# in flight until the next one's (wait_group 1; the copies use 4 slots for
# 3 stages) and the wait for all follows the loop.
# WGMMA-LABEL: .visible .entry matmul_kernel(
# WGMMA-NOT: ldmatrix
# WGMMA-NOT: mma.sync
# WGMMA: cp.async.wait_group 1;
# WGMMA-NEXT: fence.proxy.async.shared::cta;
# WGMMA-NEXT: bar.sync 0;
# WGMMA-DAG: or.b64 %rd{{[0-9]+}}, %rd{{[0-9]+}}, -9223371899415756800;
# WGMMA-DAG: or.b64 %rd{{[0-9]+}}, %rd{{[0-9]+}}, 4611686293322072064;
# WGMMA: wgmma.fence.sync.aligned;
# WGMMA-COUNT-2: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, p, 1, 1, 0, 1;
# WGMMA-NOT: wgmma.mma_async
# WGMMA: wgmma.commit_group.sync.aligned;
# WGMMA-NEXT: wgmma.wait_group.sync.aligned 1;
# WGMMA: wgmma.wait_group.sync.aligned 0;
# WGMMA: cp.async.wait_group 0;
