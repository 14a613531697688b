"""Batched GEMM in the DSL: C[b] = A[b] @ B[b] for strided operands (any
layout), fp32 accumulation; what `tessera.ops.contract(..., kernels=True)`
runs for each pairwise product of a contraction."""

import tessera
import tessera.language as tl


@tessera.jit
def batched_matmul_kernel(A, B, C, M, N, K,
                          stride_ab, stride_am, stride_ak,
                          stride_bb, stride_bk, stride_bn,
                          stride_cb, stride_cm, stride_cn,
                          BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    batch = tl.program_id(2)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    a_base = A + batch.to(tl.int64) * stride_ab
    b_base = B + batch.to(tl.int64) * stride_bb
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        a = tl.load(a_base + rm[:, None] * stride_am + (k + rk)[None, :] * stride_ak,
                    mask=(rm[:, None] < M) & ((k + rk)[None, :] < K), other=0.0)
        b = tl.load(b_base + (k + rk)[:, None] * stride_bk + rn[None, :] * stride_bn,
                    mask=((k + rk)[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc)
    c_base = C + batch.to(tl.int64) * stride_cb
    tl.store(c_base + rm[:, None] * stride_cm + rn[None, :] * stride_cn,
             acc.to(C.dtype.element_ty), mask=(rm[:, None] < M) & (rn[None, :] < N))
