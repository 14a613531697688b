"""Flash attention over a block-sparse set of key/value blocks, in the DSL.

One program per (query block, batch x head): it walks only the KV blocks
listed for its query block (`kv_index[z, h, qb, :kv_count[z, h, qb]]`), with
the online softmax of flash attention (exp2, running max and sum), and
writes its rows of the output. Dense attention is the case where every
block is listed (causal: every block up to the diagonal).
"""

import tessera
import tessera.language as tl


@tessera.jit
def _key_mask(rows, cols, N_KV, CAUSAL: tl.constexpr):
    """Keys that exist, and (causal) are at or before the query's position:
    rows as a column, cols as a row."""
    valid = cols[None, :] < N_KV
    if CAUSAL:
        valid = valid & (rows[:, None] >= cols[None, :])
    return valid


@tessera.jit
def block_sparse_attention_fwd(
        Q, K, V, Out, LSE, KV_INDEX, KV_COUNT, sm_scale,
        stride_qz, stride_qh, stride_qm, stride_qk,
        stride_kz, stride_kh, stride_kn, stride_kk,
        stride_vz, stride_vh, stride_vn, stride_vk,
        stride_oz, stride_oh, stride_om, stride_ok,
        stride_iz, stride_ih, stride_iq, stride_cz, stride_ch,
        Q_INDEX, Q_COUNT, stride_qiz, stride_qih, stride_qiq, stride_qcz, stride_qch,
        H, N_Q, N_KV,
        HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
        CAUSAL: tl.constexpr, Q_SPARSE: tl.constexpr, Q_BLOCK: tl.constexpr,
        EVEN_N: tl.constexpr = False, STORE_LSE: tl.constexpr = False):
    """Q_SPARSE: the program computes only its query block's kept rows
    (Q_INDEX positions inside the Q_BLOCK-token block, Q_COUNT of them, at
    most BLOCK_M); otherwise BLOCK_M = Q_BLOCK rows. EVEN_N: N_KV is a
    multiple of BLOCK_N (no key block runs past the end: no key mask
    unless causal). sm_scale > 0 (the row max is taken before scaling).
    STORE_LSE: each row's log-sum-exp of its scaled scores (natural log,
    +inf for a row with no valid key) into LSE (Z*H, N_Q) f32, for the
    backward."""
    qb = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    r = tl.arange(0, BLOCK_M)
    if Q_SPARSE:
        kept = tl.load(Q_COUNT + off_z * stride_qcz + off_h * stride_qch + qb)
        pos = tl.load(Q_INDEX + off_z * stride_qiz + off_h * stride_qih + qb * stride_qiq + r,
                      mask=r < kept, other=0)
        offs_m = qb * Q_BLOCK + pos
        rows_valid = (r < kept) & (offs_m < N_Q)
    else:
        offs_m = qb * Q_BLOCK + r
        rows_valid = offs_m < N_Q
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)

    q = tl.load(Q + off_z * stride_qz + off_h * stride_qh + offs_m[:, None] * stride_qm
                + offs_d[None, :] * stride_qk, mask=rows_valid[:, None], other=0.0)
    k_base = K + off_z * stride_kz + off_h * stride_kh
    v_base = V + off_z * stride_vz + off_h * stride_vh
    index = KV_INDEX + off_z * stride_iz + off_h * stride_ih + qb * stride_iq
    count = tl.load(KV_COUNT + off_z * stride_cz + off_h * stride_ch + qb)

    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # exp(x) = exp2(x / log 2)
    for i in range(0, count):
        start_n = tl.load(index + i) * BLOCK_N
        cols = start_n + offs_n
        # K's rows (contiguous along d, read as vectors); the dot takes
        # their transpose, a K-major operand for the tensor cores.
        if EVEN_N:
            k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kk)
        else:
            k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kk,
                        mask=cols[:, None] < N_KV, other=0.0)
        qk = tl.dot(q, tl.trans(k))
        if EVEN_N:
            if CAUSAL:
                qk = tl.where(offs_m[:, None] >= cols[None, :], qk, float("-inf"))
        else:
            qk = tl.where(_key_mask(offs_m, cols, N_KV, CAUSAL), qk, float("-inf"))
        # The scale is applied with the max subtracted (one fma per score).
        m_ij = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)
        # Rows with nothing valid yet keep m = -inf: exponents of 0 instead of NaN.
        m_safe = tl.where(m_ij == float("-inf"), 0.0, m_ij)
        p = tl.math.exp2(qk * qk_scale - m_safe[:, None])
        alpha = tl.math.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        if EVEN_N:
            v = tl.load(v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vk)
        else:
            v = tl.load(v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vk,
                        mask=cols[:, None] < N_KV, other=0.0)
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_ij
    # Rows that saw no valid key (all their blocks masked) are zero.
    # One division per row, then multiplications (a division is ~10
    # instructions per element on the GPU).
    acc = acc * (1.0 / tl.where(l_i == 0.0, 1.0, l_i))[:, None]
    tl.store(Out + off_z * stride_oz + off_h * stride_oh + offs_m[:, None] * stride_om
             + offs_d[None, :] * stride_ok, acc.to(Out.dtype.element_ty),
             mask=rows_valid[:, None])
    if STORE_LSE:  # m and log2(l) are in the exp2 domain: times ln 2
        lse2 = m_i + tl.math.log2(tl.where(l_i == 0.0, 1.0, l_i))
        tl.store(LSE + off_hz * N_Q + offs_m,
                 tl.where(l_i == 0.0, float("inf"), lse2 * 0.6931471805599453), mask=rows_valid)


@tessera.jit
def fill_pruned_queries(Out, Q_INDEX, Q_COUNT, stride_oz, stride_oh, stride_om,
                        stride_qiz, stride_qih, stride_qiq, stride_qcz, stride_qch, H, N_Q,
                        HEAD_DIM: tl.constexpr, Q_BLOCK: tl.constexpr, KEPT_P: tl.constexpr):
    """The rows of a query block that were not kept take the output of the
    block's last kept query (the one most similar to the block's centre)."""
    qb = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    kept = tl.load(Q_COUNT + off_z * stride_qcz + off_h * stride_qch + qb)
    j = tl.arange(0, KEPT_P)
    pos = tl.load(Q_INDEX + off_z * stride_qiz + off_h * stride_qih + qb * stride_qiq + j,
                  mask=j < kept, other=-1)
    r = tl.arange(0, Q_BLOCK)
    is_kept = tl.sum(tl.where(r[:, None] == pos[None, :], 1, 0), 1) > 0
    proxy = qb * Q_BLOCK + tl.sum(tl.where(j == kept - 1, pos, 0), 0)
    d = tl.arange(0, HEAD_DIM)
    base = Out + off_z * stride_oz + off_h * stride_oh
    row = tl.load(base + proxy * stride_om + d)
    rows = qb * Q_BLOCK + r
    fill = (~is_kept) & (rows < N_Q)
    tl.store(base + rows[:, None] * stride_om + d[None, :],
             tl.broadcast_to(row[None, :], (Q_BLOCK, HEAD_DIM)), mask=fill[:, None])


# -- backward ---------------------------------------------------------------------------
# Flash attention's backward over the same block lists: a pass that recomputes
# each query row's log-sum-exp (base 2) and delta = rowsum(dO * O), then dQ per
# query block over its key blocks, and dK, dV per key block over the query
# blocks that list it (the transposed lists).


@tessera.jit
def bsa_bwd_preprocess(Q, K, O, DO, LSE, DELTA, KV_INDEX, KV_COUNT, qk_scale,
                       stride_qz, stride_qh, stride_qm, stride_kz, stride_kh, stride_kn,
                       stride_iz, stride_ih, stride_iq, stride_cz, stride_ch,
                       H, N_Q, N_KV, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr,
                       BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    qb = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    offs_m = qb * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = off_z * stride_qz + off_h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :]
    row_ok = offs_m[:, None] < N_Q
    q = tl.load(Q + rows, mask=row_ok, other=0.0)
    k_base = K + off_z * stride_kz + off_h * stride_kh
    index = KV_INDEX + off_z * stride_iz + off_h * stride_ih + qb * stride_iq
    count = tl.load(KV_COUNT + off_z * stride_cz + off_h * stride_ch + qb)
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    for i in range(0, count):
        cols = tl.load(index + i) * BLOCK_N + offs_n
        k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :],
                    mask=cols[:, None] < N_KV, other=0.0)
        qk = tl.dot(q, tl.trans(k)) * qk_scale
        valid = _key_mask(offs_m, cols, N_KV, CAUSAL)
        qk = tl.where(valid, qk, float("-inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        m_safe = tl.where(m_ij == float("-inf"), 0.0, m_ij)
        l_i = l_i * tl.math.exp2(m_i - m_safe) + tl.sum(tl.math.exp2(qk - m_safe[:, None]), 1)
        m_i = m_ij
    lse = tl.where(l_i == 0.0, float("inf"), m_i + tl.math.log2(tl.where(l_i == 0.0, 1.0, l_i)))
    stat = off_hz * N_Q + offs_m
    tl.store(LSE + stat, lse, mask=offs_m < N_Q)
    o = tl.load(O + rows, mask=row_ok, other=0.0).to(tl.float32)
    do = tl.load(DO + rows, mask=row_ok, other=0.0).to(tl.float32)
    tl.store(DELTA + stat, tl.sum(o * do, 1), mask=offs_m < N_Q)


@tessera.jit
def bsa_bwd_delta(O, DO, LSE_IN, LSE, DELTA, stride_qz, stride_qh, stride_qm, H, N_Q,
                  HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr):
    """With the forward's log-sum-exp (natural log): delta = rowsum(dO * O)
    and the log-sum-exp in the exp2 domain (times log2(e)), as
    bsa_bwd_preprocess gives them, without recomputing any score."""
    qb = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    offs_m = qb * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = off_z * stride_qz + off_h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :]
    row_ok = offs_m[:, None] < N_Q
    o = tl.load(O + rows, mask=row_ok, other=0.0).to(tl.float32)
    do = tl.load(DO + rows, mask=row_ok, other=0.0).to(tl.float32)
    stat = off_hz * N_Q + offs_m
    tl.store(DELTA + stat, tl.sum(o * do, 1), mask=offs_m < N_Q)
    lse = tl.load(LSE_IN + stat, mask=offs_m < N_Q, other=0.0)
    tl.store(LSE + stat, lse * 1.4426950408889634, mask=offs_m < N_Q)


@tessera.jit
def bsa_bwd_dq(Q, K, V, DO, DQ, LSE, DELTA, KV_INDEX, KV_COUNT, qk_scale, sm_scale,
               stride_qz, stride_qh, stride_qm, stride_kz, stride_kh, stride_kn,
               stride_iz, stride_ih, stride_iq, stride_cz, stride_ch,
               H, N_Q, N_KV, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr,
               BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    qb = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    offs_m = qb * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = off_z * stride_qz + off_h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :]
    row_ok = offs_m[:, None] < N_Q
    q = tl.load(Q + rows, mask=row_ok, other=0.0)
    do = tl.load(DO + rows, mask=row_ok, other=0.0)
    stat = off_hz * N_Q + offs_m
    lse = tl.load(LSE + stat, mask=offs_m < N_Q, other=float("inf"))
    delta = tl.load(DELTA + stat, mask=offs_m < N_Q, other=0.0)
    k_base = K + off_z * stride_kz + off_h * stride_kh
    v_base = V + off_z * stride_kz + off_h * stride_kh
    index = KV_INDEX + off_z * stride_iz + off_h * stride_ih + qb * stride_iq
    count = tl.load(KV_COUNT + off_z * stride_cz + off_h * stride_ch + qb)
    dq = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    for i in range(0, count):
        cols = tl.load(index + i) * BLOCK_N + offs_n
        k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :],
                    mask=cols[:, None] < N_KV, other=0.0)
        v = tl.load(v_base + cols[:, None] * stride_kn + offs_d[None, :],
                    mask=cols[:, None] < N_KV, other=0.0)
        valid = _key_mask(offs_m, cols, N_KV, CAUSAL)
        p = tl.where(valid, tl.math.exp2(tl.dot(q, tl.trans(k)) * qk_scale - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq = tl.dot(ds.to(k.dtype), k, dq)
    tl.store(DQ + rows, (dq * sm_scale).to(DQ.dtype.element_ty), mask=row_ok)


@tessera.jit
def bsa_bwd_dkdv(Q, K, V, DO, DK, DV, LSE, DELTA, Q_OF_KV, Q_OF_KV_COUNT, qk_scale, sm_scale,
                 stride_qz, stride_qh, stride_qm, stride_kz, stride_kh, stride_kn,
                 stride_iz, stride_ih, stride_iq, stride_cz, stride_ch,
                 H, N_Q, N_KV, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr,
                 BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    kb = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    cols = kb * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    kv_rows = off_z * stride_kz + off_h * stride_kh + cols[:, None] * stride_kn + offs_d[None, :]
    col_ok = cols[:, None] < N_KV
    k = tl.load(K + kv_rows, mask=col_ok, other=0.0)
    v = tl.load(V + kv_rows, mask=col_ok, other=0.0)
    index = Q_OF_KV + off_z * stride_iz + off_h * stride_ih + kb * stride_iq
    count = tl.load(Q_OF_KV_COUNT + off_z * stride_cz + off_h * stride_ch + kb)
    dk = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    for i in range(0, count):
        rows_m = tl.load(index + i) * BLOCK_M + offs_m
        q_off = off_z * stride_qz + off_h * stride_qh + rows_m[:, None] * stride_qm \
            + offs_d[None, :]
        row_ok = rows_m[:, None] < N_Q
        q = tl.load(Q + q_off, mask=row_ok, other=0.0)
        do = tl.load(DO + q_off, mask=row_ok, other=0.0)
        stat = off_hz * N_Q + rows_m
        lse = tl.load(LSE + stat, mask=rows_m < N_Q, other=float("inf"))
        delta = tl.load(DELTA + stat, mask=rows_m < N_Q, other=0.0)
        valid = _key_mask(rows_m, cols, N_KV, CAUSAL) & (rows_m[:, None] < N_Q)
        p = tl.where(valid, tl.math.exp2(tl.dot(q, tl.trans(k)) * qk_scale - lse[:, None]), 0.0)
        dv = tl.dot(tl.trans(p.to(do.dtype)), do, dv)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dk = tl.dot(tl.trans(ds.to(q.dtype)), q, dk)
    tl.store(DK + kv_rows, (dk * sm_scale).to(DK.dtype.element_ty), mask=col_ok)
    tl.store(DV + kv_rows, dv.to(DV.dtype.element_ty), mask=col_ok)
