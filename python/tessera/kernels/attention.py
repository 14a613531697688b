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
def _masked_scores(qk, offs_m, cols, N_KV, CAUSAL: tl.constexpr, EVEN_N: tl.constexpr):
    """qk with -inf where the key does not exist or (causal) comes after the
    query; with EVEN_N every key exists."""
    if EVEN_N:
        if CAUSAL:
            qk = tl.where(offs_m[:, None] >= cols[None, :], qk, float("-inf"))
    else:
        qk = tl.where(_key_mask(offs_m, cols, N_KV, CAUSAL), qk, float("-inf"))
    return qk


@tessera.jit
def block_sparse_attention_fwd(
        Q, K, V, Out, LSE, KV_INDEX, KV_COUNT, sm_scale,
        stride_qz, stride_qh, stride_qm, stride_qk,
        stride_kz, stride_kh, stride_kn, stride_kk,
        stride_vz, stride_vh, stride_vn, stride_vk,
        stride_oz, stride_oh, stride_om, stride_ok,
        stride_iz, stride_ih, stride_iq, stride_cz, stride_ch,
        Q_INDEX, Q_COUNT, stride_qiz, stride_qih, stride_qiq, stride_qcz, stride_qch,
        H, N_Q, N_KV, KV_ROWS,
        HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
        CAUSAL: tl.constexpr, Q_SPARSE: tl.constexpr, Q_BLOCK: tl.constexpr,
        EVEN_N: tl.constexpr = False, STORE_LSE: tl.constexpr = False,
        TMA: tl.constexpr = False, OVERLAP: tl.constexpr = False):
    """Q_SPARSE: the program computes only its query block's kept rows
    (Q_INDEX positions inside the Q_BLOCK-token block, Q_COUNT of them, at
    most BLOCK_M); otherwise BLOCK_M = Q_BLOCK rows. EVEN_N: N_KV is a
    multiple of BLOCK_N (no key block runs past the end: no key mask
    unless causal). sm_scale > 0 (the row max is taken before scaling).
    STORE_LSE: each row's log-sum-exp of its scaled scores (natural log,
    +inf for a row with no valid key) into LSE (Z*H, N_Q) f32, for the
    backward. TMA (with EVEN_N): K and V are read through tensor
    descriptors over all their KV_ROWS = Z * H * N_KV rows (TMA copies on
    sm_90a, described once by the launcher), for K and V laid out as (Z, H,
    N_KV, HEAD_DIM) with contiguous rows (stride_kz = H stride_kh, stride_kh
    = N_KV stride_kn, stride_kk = 1; the same for V).

    OVERLAP: FlashAttention-3's intra-warpgroup overlap. Iteration i issues
    S_i = Q K_i^T and then O += P_{i-1} V_{i-1}, computes S_i's softmax
    while the second product runs, then rescales O and packs P_i: no
    register a product reads is written while it is in flight. One more
    iteration than blocks finishes the last block's P V (its S repeats the
    last block's, with its exponentials zeroed by an infinite row offset);
    the first one's P V adds P = 0."""
    if CAUSAL:
        # The last query blocks, with the most key blocks, go first: the
        # short ones fill the end of the grid instead of the long ones.
        qb = tl.num_programs(0) - 1 - tl.program_id(0)
    else:
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
    if TMA:
        k_desc = tl.make_tensor_descriptor(K, shape=[KV_ROWS, HEAD_DIM], strides=[stride_kn, 1],
                                           block_shape=[BLOCK_N, HEAD_DIM])
        v_desc = tl.make_tensor_descriptor(V, shape=[KV_ROWS, HEAD_DIM], strides=[stride_vn, 1],
                                           block_shape=[BLOCK_N, HEAD_DIM])
        kv_row0 = off_hz * N_KV

    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # exp(x) = exp2(x / log 2)
    if OVERLAP:
        p = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32).to(V.dtype.element_ty)
        for i in range(0, tl.where(count > 0, count + 1, 0)):
            start_n = tl.load(index + tl.minimum(i, count - 1)) * BLOCK_N
            start_v = tl.load(index + tl.maximum(i - 1, 0)) * BLOCK_N
            cols = start_n + offs_n
            cols_v = start_v + offs_n
            # Both tiles first: no copy is waited for between the products.
            if TMA:
                k = k_desc.load([kv_row0 + start_n, 0])
                v = v_desc.load([kv_row0 + start_v, 0])
            elif EVEN_N:
                k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kk)
                v = tl.load(v_base + cols_v[:, None] * stride_vn + offs_d[None, :] * stride_vk)
            else:
                k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kk,
                            mask=cols[:, None] < N_KV, other=0.0)
                v = tl.load(v_base + cols_v[:, None] * stride_vn + offs_d[None, :] * stride_vk,
                            mask=cols_v[:, None] < N_KV, other=0.0)
            qk = tl.dot(q, tl.trans(k))
            acc = tl.dot(p, v, acc)
            qk = _masked_scores(qk, offs_m, cols, N_KV, CAUSAL, EVEN_N)
            m_ij = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)
            m_safe = tl.where(m_ij == float("-inf"), 0.0, m_ij)
            # The extra iteration's S repeats a block already counted (its
            # row max changes nothing): its exponentials are zeroed.
            m_sub = tl.where(i < count, m_safe, float("inf"))
            p_f = tl.math.exp2(qk * qk_scale - m_sub[:, None])
            alpha = tl.math.exp2(m_i - m_safe)
            l_i = l_i * alpha + tl.sum(p_f, 1)
            acc = acc * alpha[:, None]
            p = p_f.to(V.dtype.element_ty)
            m_i = m_ij
    else:
        for i in range(0, count):
            start_n = tl.load(index + i) * BLOCK_N
            cols = start_n + offs_n
            # K's rows (contiguous along d, read as vectors); the dot takes
            # their transpose, a K-major operand for the tensor cores.
            if TMA:
                k = k_desc.load([kv_row0 + start_n, 0])
            elif EVEN_N:
                k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kk)
            else:
                k = tl.load(k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kk,
                            mask=cols[:, None] < N_KV, other=0.0)
            qk = tl.dot(q, tl.trans(k))
            qk = _masked_scores(qk, offs_m, cols, N_KV, CAUSAL, EVEN_N)
            # The scale is applied with the max subtracted (one fma per score).
            m_ij = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)
            # Rows with nothing valid yet keep m = -inf: exponents of 0 instead of NaN.
            m_safe = tl.where(m_ij == float("-inf"), 0.0, m_ij)
            p = tl.math.exp2(qk * qk_scale - m_safe[:, None])
            alpha = tl.math.exp2(m_i - m_safe)
            l_i = l_i * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None]
            if TMA:
                v = v_desc.load([kv_row0 + start_n, 0])
            elif EVEN_N:
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
