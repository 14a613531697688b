# Flash attention's loop with K and V read through tensor descriptors (the
# ops' default on sm_90a): TMA copies into the slots, and with two
# warpgroups taking turns (`pingpong`, the default) the slots keep their
# empty barriers: the TMA wait of a slot needs no barrier of all threads
# after it (slot reuse waits for every thread's release instead). Without
# pingpong the TMA wait is followed by bar.sync 0. (This is the loop that
# issues its own copies, `producer` off; passes/tilegpu-producer-warp.mlir
# and nvidia/graph_attention_tma.py check the producer warp's form.)
# RUN: %python %s 1 > %t.on.ptx
# RUN: FileCheck %s < %t.on.ptx
# RUN: %python %s 0 | FileCheck %s --check-prefix=OFF
# REQUIRES: ptxas
# RUN: %ptxas -arch=sm_90a %t.on.ptx -o %t.cubin

import sys

from tessera.backends.nvidia import NVIDIABackend
from tessera.compiler import ASTSource
from tessera.kernels import attention as A

f = A.block_sparse_attention_fwd
ptrs = {"Q": "*bf16:16", "K": "*bf16:16", "V": "*bf16:16", "Out": "*bf16:16", "LSE": "*fp32:16",
        "KV_INDEX": "*i32:16", "KV_COUNT": "*i32:16", "Q_INDEX": "*i32:16", "Q_COUNT": "*i32:16"}
constants = dict(HEAD_DIM=128, BLOCK_M=128, BLOCK_N=128, CAUSAL=False, Q_SPARSE=False,
                 Q_BLOCK=128, EVEN_N=True, TMA=True, stride_qk=1, stride_kk=1, stride_vk=1,
                 stride_ok=1, stride_iq=1)
signature = {n: ptrs.get(n, "fp32" if n == "sm_scale" else
                         "i32:16" if n.startswith("stride") or n in ("N_Q", "N_KV", "KV_ROWS")
                         else "i32")
             for n in f.arg_names if n not in constants and n not in f.constexpr_names}
binary = NVIDIABackend(arch="sm_90a").compile(
    ASTSource(f, signature, constants).make_ir(), f.__name__, False,
    {"num_warps": 8, "num_stages": 2, "pingpong": sys.argv[1] == "1", "producer": False})
print(binary.partition(b"\n")[2].decode())

# CHECK-LABEL: .visible .entry block_sparse_attention_fwd(
# The prologue's copy: one thread arms the slot's TMA barrier and issues
# the boxes of K and V (64 columns each).
# CHECK: mbarrier.arrive.expect_tx.shared.b64
# CHECK-COUNT-4: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
# CHECK: bar.arrive 1, 256;
# The loop (after q's write to its buffer): both dots in this warpgroup's
# turn, the slot released on its empty barrier, then the waits (empty,
# TMA: with TMA copies only the TMA mbarrier says a slot is full, and no
# thread arrives at a full barrier of its own) and the next copies; no
# barrier of all threads until the ring drains after the loop.
# CHECK: bar.sync [[MINE:%r[0-9]+]], 256;
# CHECK-NEXT: wgmma.fence.sync.aligned;
# CHECK-NOT: bar.sync 0;
# CHECK: bar.sync [[MINE]], 256;
# CHECK-NOT: bar.sync 0;
# CHECK: mbarrier.arrive.shared.b64
# CHECK-NOT: bar.sync 0;
# CHECK-NOT: cp.async.mbarrier.arrive
# CHECK-COUNT-2: mbarrier.try_wait.parity.shared.b64
# CHECK-NOT: bar.sync 0;
# CHECK-NOT: mbarrier.try_wait
# CHECK-NOT: cp.async.mbarrier.arrive
# CHECK: mbarrier.arrive.expect_tx.shared.b64
# CHECK-NOT: bar.sync 0;
# CHECK: cp.async.bulk.tensor.2d
# CHECK-NOT: bar.sync 0;
# CHECK: bar.sync 1, 256;

# OFF-LABEL: .visible .entry block_sparse_attention_fwd(
# OFF-NOT: bar.arrive
# OFF: mbarrier.try_wait.parity.shared.b64
# OFF: bar.sync 0;
# OFF: cp.async.bulk.tensor.2d
