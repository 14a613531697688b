# Flash attention's loop (two wgmma dots, 8 warps = two warpgroups over the
# query rows) on sm_90a, with the backend's `pingpong` option (the default)
# and without.
#
# With it, the loop keeps no barrier of all threads: each thread's cp.async
# copies into a slot complete on the slot's full mbarrier
# (cp.async.mbarrier.arrive.noinc, then the thread's mbarrier.arrive: 512
# arrivals a phase for 256 threads), readers
# wait on it, release the slot on
# its empty mbarrier after the iteration's second dot, and the copies into
# a slot wait for its release (3 slots for 2 stages: 6 mbarriers). Each
# dot is issued in the warpgroup's turn: bar.sync on named barrier 1 + g
# before the wgmma fence, bar.arrive at the other's after the commit;
# warpgroup 1 arrives at barrier 1 before the loop so that 0 goes first.
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
                 Q_BLOCK=128, EVEN_N=True, stride_qk=1, stride_kk=1, stride_vk=1, stride_ok=1,
                 stride_iq=1)
signature = {n: ptrs.get(n, "fp32" if n == "sm_scale" else
                         "i32:16" if n.startswith("stride") or n in ("N_Q", "N_KV", "KV_ROWS")
                         else "i32")
             for n in f.arg_names if n not in constants and n not in f.constexpr_names}
binary = NVIDIABackend(arch="sm_90a").compile(
    ASTSource(f, signature, constants).make_ir(), f.__name__, False,
    {"num_warps": 8, "num_stages": 2, "pingpong": sys.argv[1] == "1"})
print(binary.partition(b"\n")[2].decode())

# CHECK-LABEL: .visible .entry block_sparse_attention_fwd(
# CHECK: mov.b32 [[FULL:%r[0-9]+]], 512;
# CHECK-NEXT: mbarrier.init.shared.b64 [{{.*}}], [[FULL]];
# CHECK-NEXT: mov.b32 [[EMPTY:%r[0-9]+]], 256;
# CHECK-NEXT: mbarrier.init.shared.b64 [{{.*}}], [[EMPTY]];
# CHECK-COUNT-4: mbarrier.init.shared.b64
# CHECK: cp.async.mbarrier.arrive.noinc.shared.b64
# CHECK-NEXT: mbarrier.arrive.shared.b64
# CHECK: bar.arrive 1, 256;
# The loop: copies, the first dot in this warpgroup's turn ...
# CHECK: cp.async.mbarrier.arrive.noinc.shared.b64
# CHECK-NEXT: mbarrier.arrive.shared.b64
# CHECK-NOT: bar.sync 0;
# CHECK: bar.sync [[MINE:%r[0-9]+]], 256;
# CHECK-NEXT: wgmma.fence.sync.aligned;
# CHECK-NOT: bar.sync 0;
# CHECK: wgmma.commit_group.sync.aligned;
# CHECK-NOT: wgmma
# CHECK: bar.arrive [[OTHER:%r[0-9]+]], 256;
# ... the second ...
# CHECK-NOT: bar.sync 0;
# CHECK: bar.sync [[MINE]], 256;
# CHECK-NEXT: wgmma.fence.sync.aligned;
# CHECK-NOT: bar.sync 0;
# CHECK: wgmma.commit_group.sync.aligned;
# CHECK-NOT: wgmma
# CHECK: bar.arrive [[OTHER]], 256;
# ... then the slot's release and the next iteration's waits (full, empty).
# CHECK-NOT: bar.sync 0;
# CHECK: mbarrier.arrive.shared.b64
# CHECK-NOT: bar.sync 0;
# CHECK: mbarrier.try_wait.parity.shared.b64
# CHECK-NOT: bar.sync 0;
# CHECK: mbarrier.try_wait.parity.shared.b64
# After the loop warpgroup 0 takes 1's last arrival; the barriers go.
# CHECK: bar.sync 1, 256;
# CHECK: mbarrier.inval.shared.b64

# OFF-LABEL: .visible .entry block_sparse_attention_fwd(
# OFF-NOT: mbarrier
# OFF-NOT: bar.arrive
# OFF: wgmma.fence.sync.aligned;
# OFF: cp.async.wait_group 0;
# OFF-NEXT: fence.proxy.async.shared::cta;
# OFF-NEXT: bar.sync 0;
