"""Flash attention forward (Triton tutorial 06, without TMA): one program per
(query block, batch*head); online softmax over key/value blocks with exp2;
optional causal masking. fp16 in, fp32 accumulate.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/05_flash_attention.py
"""

import math

import numpy as np

import tessera
import tessera.language as tl


@tessera.jit
def _attn_fwd(Q, K, V, sm_scale, Out,
              stride_qz, stride_qh, stride_qm, stride_qk,
              stride_kz, stride_kh, stride_kn, stride_kk,
              stride_vz, stride_vh, stride_vn, stride_vk,
              stride_oz, stride_oh, stride_om, stride_ok,
              H, N_CTX,
              HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
              CAUSAL: tl.constexpr):
    start_m = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)

    q_ptrs = Q + off_z * stride_qz + off_h * stride_qh \
        + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qk
    q = tl.load(q_ptrs, mask=offs_m[:, None] < N_CTX, other=0.0)
    k_base = K + off_z * stride_kz + off_h * stride_kh
    v_base = V + off_z * stride_vz + off_h * stride_vh

    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32) + 1.0
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # 1/log(2): exp(x) = exp2(x / log 2)

    hi = N_CTX
    if CAUSAL:
        hi = min((start_m + 1) * BLOCK_M, N_CTX)
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + offs_n
        # K's rows (contiguous along d); the dot takes their transpose.
        k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kk,
                    mask=cols[:, None] < N_CTX, other=0.0)
        qk = tl.dot(q, tl.trans(k)) * qk_scale
        valid = cols[None, :] < N_CTX
        if CAUSAL:
            valid = valid & (offs_m[:, None] >= cols[None, :])
        qk = tl.where(valid, qk, float("-inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        l_ij = tl.sum(p, 1)
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + l_ij
        acc = acc * alpha[:, None]
        v = tl.load(v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vk,
                    mask=cols[:, None] < N_CTX, other=0.0)
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_ij
    acc = acc / l_i[:, None]
    o_ptrs = Out + off_z * stride_oz + off_h * stride_oh \
        + offs_m[:, None] * stride_om + offs_d[None, :] * stride_ok
    tl.store(o_ptrs, acc.to(Out.dtype.element_ty), mask=offs_m[:, None] < N_CTX)


def attention(q, k, v, causal=False, sm_scale=None, BLOCK_M=32, BLOCK_N=32):
    Z, H, N_CTX, D = q.shape
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(D)
    o = np.empty_like(q)

    def strides(t):
        return [s // t.itemsize for s in t.strides]

    grid = (tessera.cdiv(N_CTX, BLOCK_M), Z * H, 1)
    _attn_fwd[grid](q, k, v, sm_scale, o, *strides(q), *strides(k), *strides(v), *strides(o),
                    H, N_CTX, HEAD_DIM=D, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, CAUSAL=causal)
    return o


def reference(q, k, v, causal=False, sm_scale=None):
    q, k, v = (t.astype(np.float64) for t in (q, k, v))
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    s = q @ np.swapaxes(k, -1, -2) * sm_scale
    if causal:
        n = q.shape[2]
        s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return p @ v


def main():
    rng = np.random.default_rng(0)
    for (Z, H, N, D), causal in (((1, 2, 64, 16), False), ((2, 2, 100, 32), True),
                                 ((1, 1, 77, 64), False)):
        q, k, v = (rng.standard_normal((Z, H, N, D)).astype(np.float16) for _ in range(3))
        o = attention(q, k, v, causal)
        err = np.abs(o.astype(np.float64) - reference(q, k, v, causal)).max()
        print(f"attention Z={Z} H={H} N={N} D={D} causal={causal}: max |error| = {err:.2e}")
        assert err <= 1e-2


if __name__ == "__main__":
    main()
