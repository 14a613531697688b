# fp8 on sm_90a: with B given K-major (tl.dot(a, tl.trans(bt))) the dot runs
# on wgmma k32, both operands read K-major from swizzled shared tiles (the
# copied Bt tile as a transposed view), e4m3 x e4m3 and e5m2 x e4m3; ptxas
# accepts it. With B row-major (N-major) fp8 stays on mma.sync (WGMMA cannot
# read fp8 N-major).
# RUN: %python %s e4m3 > %t.ptx
# RUN: FileCheck %s < %t.ptx
# RUN: %python %s e5m2 | FileCheck %s --check-prefix=E5
# RUN: %python %s nmajor | FileCheck %s --check-prefix=NMAJOR
# CHECK: wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3
# CHECK-NOT: mma.sync.aligned
# E5: wgmma.mma_async.sync.aligned.m64n128k32.f32.e5m2.e4m3
# NMAJOR-NOT: wgmma.mma_async
# NMAJOR: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32

import sys

import tessera
import tessera.language as tl
from tessera.backends.nvidia import NVIDIABackend
from tessera.compiler import ASTSource


@tessera.jit
def fp8_mm(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
           B_T: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :])
        if B_T:
            bt = tl.load(b_ptr + rn[:, None] * K + (k + rk)[None, :])
            acc += tl.dot(a, tl.trans(bt))
        else:
            b = tl.load(b_ptr + (k + rk)[:, None] * N + rn[None, :])
            acc += tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)


mode = sys.argv[1]
a_type = "fp8e5" if mode == "e5m2" else "fp8e4nv"
signature = {"a_ptr": f"*{a_type}:16", "b_ptr": "*fp8e4nv:16", "c_ptr": "*fp32:16",
             "M": "i32:16", "N": "i32:16", "K": "i32:16"}
ir = ASTSource(fp8_mm, signature, dict(BM=128, BN=128, BK=64, B_T=mode != "nmajor")).make_ir()
binary = NVIDIABackend(arch="sm_90a").compile(ir, "fp8_mm", False,
                                              {"num_warps": 8, "num_stages": 3})
print(binary.partition(b"\n")[2].decode())
