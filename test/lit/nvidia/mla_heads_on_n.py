# MLA decode with few heads (tensor parallel), the products transposed: the
# scores as tokens x heads (S^T = [c_kv k_rope] [q_lat q_rope]^T) and the
# output as latent x heads (O^T = c_kv^T P^T), so the 64 tokens and the 512
# latent values are wgmma's M and the 16 heads its N (m64n16: no padding
# rows), on 4 warps. c_kv^T is the copied tile read M-major (transposed);
# q^T and P^T are B, K-major. The cache's tiles are TMA copies; ptxas
# accepts it, within 227 KB of shared memory, with no spills.
# RUN: %python %s > %t.ptx
# RUN: FileCheck %s < %t.ptx
# REQUIRES: ptxas
# RUN: %ptxas -arch=sm_90a -v %t.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
# CHECK: shared bytes
# CHECK-NOT: mma.sync
# CHECK-NOT: cp.async.cg
# CHECK: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
# CHECK: wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16
# CHECK-NOT: mma.sync
# CHECK-NOT: cp.async.cg
# PTXAS: 0 bytes spill stores, 0 bytes spill loads

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "Inputs"))
from mla_ptx import print_ptx  # noqa: E402

from tessera.kernels.mla import mla_decode_split_t  # noqa: E402

print_ptx(mla_decode_split_t, dict(D_LAT=512, D_ROPE=64, PAGE=64, BLOCK_H=16, BLOCK_N=64, TMA=True), num_warps=4)
