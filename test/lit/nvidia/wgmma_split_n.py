# wgmma with warpgroups side by side along N (FlashMLA's split): MLA decode
# with 64 heads a program on 8 warps and the whole 512-wide latent. M (64
# heads) is one warpgroup's rows. The output (64 x 512) takes the version 3
# layout [4, 2]: each warpgroup its 256 of the 512 columns (m64n256, B
# N-major from the copied KV tile, its slab 256 columns along). The scores
# (64 x 64) would give each warpgroup a slab of 32 columns, each reading
# all of Q for a quarter of the work; as their softmax is the output's A
# (P), warpgroup 0 computes them alone ([4, 1]: m64n64, B K-major) while
# warpgroup 1 waits, and P goes to shared memory for both. No mma.sync
# fallback; ptxas accepts it, within 227 KB of shared memory. With TMA
# (contiguous pages) the cache's 64 x 512 and 64 x 64 tiles of a step are
# TMA copies (8 + 1 boxes of 128-byte rows) issued by one thread (of
# warpgroup 1), with no cp.async.
# RUN: %python %s 64 > %t.ptx
# RUN: FileCheck %s < %t.ptx
# RUN: %python %s 32 | FileCheck %s --check-prefix=N32
# RUN: %python %s 64 tma > %t.tma.ptx
# RUN: FileCheck %s --check-prefix=TMA < %t.tma.ptx
# REQUIRES: ptxas
# RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
# RUN: %ptxas -arch=sm_90a %t.tma.ptx -o %t.tma.cubin
# CHECK: shared bytes
# CHECK-NOT: mma.sync
# CHECK-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
# CHECK-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
# CHECK-NOT: mma.sync
# N32-NOT: mma.sync
# N32-DAG: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16
# N32-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
# TMA: shared bytes
# TMA-NOT: cp.async.cg
# TMA: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
# TMA-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
# TMA-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
# TMA-NOT: cp.async.cg

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "Inputs"))
from mla_ptx import print_ptx  # noqa: E402

from tessera.kernels.mla import mla_decode_split  # noqa: E402

print_ptx(mla_decode_split, dict(D_LAT=512, D_ROPE=64, PAGE=64, BLOCK_H=64,
                                 BLOCK_N=int(sys.argv[1]), D_OUT=512, TMA=len(sys.argv) > 2),
          num_warps=8)
