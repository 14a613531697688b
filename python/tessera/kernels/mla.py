"""MLA decode in absorbed form (DeepSeek-V2/V3, as FlashMLA), in the DSL.

Each query head's vector is its absorbed latent query (q_nope W_UK: D_LAT =
512) and its rope part (D_ROPE = 64); all heads share one latent KV head: a
cache of D_LAT + D_ROPE values per token, paged in pages of PAGE tokens
(`block_table[b, j]` is the page of batch entry b's tokens j*PAGE ..). The
scores are q_lat . c_kv + q_rope . k_rope, the output the softmax-weighted
sum of c_kv (the latent values; W_UV is applied after).

`mla_decode_split`: one program per (block of heads x part of the output
dims, batch entry, split); split s walks pages s*PAGES_PER_SPLIT .. of its
entry (up to its sequence length), BLOCK_N tokens at a time, with the
online softmax and writes its normalized partial output and log-sum-exp
(base 2). `mla_decode_combine` merges the splits of each
(entry, head): weights 2^(lse_s - max), the natural-log LSE out.
"""

import tessera
import tessera.language as tl


@tessera.jit
def _queries(Q, b, heads, head_ok, stride_qb, stride_qh, D_LAT: tl.constexpr,
             D_ROPE: tl.constexpr):
    """The heads' latent (BLOCK_H x D_LAT) and rope (BLOCK_H x D_ROPE)
    queries of entry b; zero for heads past H."""
    q_rows = Q + b * stride_qb + heads[:, None] * stride_qh
    q_lat = tl.load(q_rows + tl.arange(0, D_LAT)[None, :], mask=head_ok[:, None], other=0.0)
    q_rope = tl.load(q_rows + D_LAT + tl.arange(0, D_ROPE)[None, :], mask=head_ok[:, None],
                     other=0.0)
    return q_lat, q_rope


@tessera.jit
def _split_steps(SEQLENS, b, split, PAGES_PER_SPLIT, PAGE: tl.constexpr, BLOCK_N: tl.constexpr):
    """Entry b's length and the steps (BLOCK_N tokens each) split `split`
    walks: first .. last."""
    seqlen = tl.load(SEQLENS + b)
    steps = PAGE // BLOCK_N
    first = split * PAGES_PER_SPLIT * steps
    last = min(first + PAGES_PER_SPLIT * steps, tl.cdiv(seqlen, BLOCK_N))
    return seqlen, first, last


@tessera.jit
def _cache_tiles(KV, BLOCK_TABLE, b, j, stride_btb, stride_kvp, stride_kvt, KV_ROWS,
                 D_LAT: tl.constexpr, D_ROPE: tl.constexpr, PAGE: tl.constexpr,
                 BLOCK_N: tl.constexpr, TMA: tl.constexpr):
    """Step j's BLOCK_N cached tokens of entry b: their latent (BLOCK_N x
    D_LAT) and rope key (BLOCK_N x D_ROPE), and their page. TMA: read
    through tensor descriptors over all KV_ROWS rows of the cache (pages
    contiguous)."""
    steps = PAGE // BLOCK_N
    page = tl.load(BLOCK_TABLE + b * stride_btb + j // steps)
    if TMA:
        lat_desc = tl.make_tensor_descriptor(KV, shape=[KV_ROWS, D_LAT + D_ROPE],
                                             strides=[stride_kvt, 1], block_shape=[BLOCK_N, D_LAT])
        rope_desc = tl.make_tensor_descriptor(KV, shape=[KV_ROWS, D_LAT + D_ROPE],
                                              strides=[stride_kvt, 1],
                                              block_shape=[BLOCK_N, D_ROPE])
        row = page * PAGE + (j % steps) * BLOCK_N
        c_kv = lat_desc.load([row, 0])
        k_rope = rope_desc.load([row, D_LAT])
    else:
        rows = KV + page * stride_kvp + ((j % steps) * BLOCK_N
                                         + tl.arange(0, BLOCK_N))[:, None] * stride_kvt
        c_kv = tl.load(rows + tl.arange(0, D_LAT)[None, :])
        k_rope = tl.load(rows + D_LAT + tl.arange(0, D_ROPE)[None, :])
    return c_kv, k_rope, page


@tessera.jit
def mla_decode_split(Q, KV, BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, sm_scale,
                     stride_qb, stride_qh, stride_kvp, stride_kvt, stride_btb,
                     stride_ob, stride_oh, stride_os, stride_lb, stride_lh,
                     H, PAGES_PER_SPLIT, KV_ROWS,
                     D_LAT: tl.constexpr, D_ROPE: tl.constexpr, PAGE: tl.constexpr,
                     BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr, D_OUT: tl.constexpr,
                     TMA: tl.constexpr = False):
    """Program (head block x output part, b, split): an entry's head blocks
    run side by side, so the second reads the cache from L2. Scores use all D_LAT +
    D_ROPE dims; the program accumulates output dims part * D_OUT .. (the
    latent split over programs keeps each accumulator D_OUT wide; with
    D_OUT = D_LAT on 8 warps, as FlashMLA, warpgroup 0 computes the scores
    and their softmax alone and both warpgroups multiply P by their half
    of the latent's columns: the layout pass's choice, as the softmax is
    the second product's A). Tokens go BLOCK_N at
    a time (a page is PAGE / BLOCK_N steps). TMA (with D_OUT = D_LAT): the
    cache's tokens are read through tensor descriptors over all its
    KV_ROWS = pages * PAGE rows (pages contiguous: stride_kvp = PAGE *
    stride_kvt; TMA copies on sm_90a)."""
    part = tl.program_id(0)
    b = tl.program_id(1)
    parts = D_LAT // D_OUT
    heads = (part // parts) * BLOCK_H + tl.arange(0, BLOCK_H)
    d0 = (part % parts) * D_OUT
    split = tl.program_id(2)
    head_ok = heads < H
    do = tl.arange(0, D_OUT)
    t = tl.arange(0, BLOCK_N)
    q_lat, q_rope = _queries(Q, b, heads, head_ok, stride_qb, stride_qh, D_LAT, D_ROPE)
    seqlen, first, last = _split_steps(SEQLENS, b, split, PAGES_PER_SPLIT, PAGE, BLOCK_N)
    m_i = tl.zeros([BLOCK_H], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, D_OUT], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # exp(x) = exp2(x / log 2)
    for j in range(first, last):
        c_kv, k_rope, page = _cache_tiles(KV, BLOCK_TABLE, b, j, stride_btb, stride_kvp,
                                          stride_kvt, KV_ROWS, D_LAT, D_ROPE, PAGE, BLOCK_N, TMA)
        s = tl.dot(q_lat, tl.trans(c_kv)) + tl.dot(q_rope, tl.trans(k_rope))
        s = tl.where((j * BLOCK_N + t)[None, :] < seqlen, s * qk_scale, float("-inf"))
        m_ij = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_ij == float("-inf"), 0.0, m_ij)
        p = tl.math.exp2(s - m_safe[:, None])
        alpha = tl.math.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, 1)
        if D_OUT == D_LAT:  # the whole latent: the scores' tile is the values'
            c_val = c_kv
        else:
            rows = KV + page * stride_kvp + ((j % (PAGE // BLOCK_N)) * BLOCK_N
                                             + t)[:, None] * stride_kvt
            c_val = tl.load(rows + d0 + do[None, :])
        acc = tl.dot(p.to(c_val.dtype), c_val, acc * alpha[:, None])
        m_i = m_ij
    out = acc * (1.0 / tl.where(l_i == 0.0, 1.0, l_i))[:, None]  # a division per row
    lse = tl.where(l_i == 0.0, float("-inf"), m_i + tl.math.log2(tl.where(l_i == 0.0, 1.0, l_i)))
    tl.store(O_PART + b * stride_ob + heads[:, None] * stride_oh + split * stride_os + d0
             + do[None, :], out, mask=head_ok[:, None])
    if d0 == 0:
        tl.store(LSE_PART + b * stride_lb + heads * stride_lh + split, lse, mask=head_ok)


@tessera.jit
def mla_decode_split_t(Q, KV, BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, sm_scale,
                       stride_qb, stride_qh, stride_kvp, stride_kvt, stride_btb,
                       stride_ob, stride_oh, stride_os, stride_lb, stride_lh,
                       H, PAGES_PER_SPLIT, KV_ROWS,
                       D_LAT: tl.constexpr, D_ROPE: tl.constexpr, PAGE: tl.constexpr,
                       BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr, TMA: tl.constexpr = False):
    """mla_decode_split with the products transposed, for few heads (tensor
    parallel): the scores as S^T = [c_kv k_rope] [q_lat q_rope]^T (tokens x
    heads) and the output as O^T = c_kv^T P^T (latent x heads), so the
    tokens (BLOCK_N) and the latent (D_LAT) are the products' M and the
    BLOCK_H heads their N: no rows of padding heads (wgmma's M is 64 and
    more; its N may be 16). The softmax runs down the columns; the
    denominators are summed once, after the loop. Program (head block, b,
    split); the whole latent."""
    hb = tl.program_id(0)
    b = tl.program_id(1)
    split = tl.program_id(2)
    heads = hb * BLOCK_H + tl.arange(0, BLOCK_H)
    head_ok = heads < H
    dl = tl.arange(0, D_LAT)
    t = tl.arange(0, BLOCK_N)
    q_lat, q_rope = _queries(Q, b, heads, head_ok, stride_qb, stride_qh, D_LAT, D_ROPE)
    seqlen, first, last = _split_steps(SEQLENS, b, split, PAGES_PER_SPLIT, PAGE, BLOCK_N)
    m_i = tl.zeros([BLOCK_H], dtype=tl.float32) - float("inf")
    l_t = tl.zeros([BLOCK_N, BLOCK_H], dtype=tl.float32)  # column sums after the loop
    acc = tl.zeros([D_LAT, BLOCK_H], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # exp(x) = exp2(x / log 2)
    for j in range(first, last):
        c_kv, k_rope, _ = _cache_tiles(KV, BLOCK_TABLE, b, j, stride_btb, stride_kvp, stride_kvt,
                                       KV_ROWS, D_LAT, D_ROPE, PAGE, BLOCK_N, TMA)
        s = tl.dot(c_kv, tl.trans(q_lat)) + tl.dot(k_rope, tl.trans(q_rope))
        s = tl.where((j * BLOCK_N + t)[:, None] < seqlen, s * qk_scale, float("-inf"))
        m_ij = tl.maximum(m_i, tl.max(s, 0))
        m_safe = tl.where(m_ij == float("-inf"), 0.0, m_ij)
        p = tl.math.exp2(s - m_safe[None, :])
        alpha = tl.math.exp2(m_i - m_safe)
        l_t = l_t * alpha[None, :] + p
        acc = tl.dot(tl.trans(c_kv), p.to(c_kv.dtype), acc * alpha[None, :])
        m_i = m_ij
    l_i = tl.sum(l_t, 0)
    out = acc * (1.0 / tl.where(l_i == 0.0, 1.0, l_i))[None, :]  # a division per head
    lse = tl.where(l_i == 0.0, float("-inf"), m_i + tl.math.log2(tl.where(l_i == 0.0, 1.0, l_i)))
    tl.store(O_PART + b * stride_ob + heads[None, :] * stride_oh + split * stride_os
             + dl[:, None], out, mask=head_ok[None, :])
    tl.store(LSE_PART + b * stride_lb + heads * stride_lh + split, lse, mask=head_ok)


@tessera.jit
def mla_decode_combine(O_PART, LSE_PART, O, LSE, stride_pb, stride_ph, stride_ps, stride_lb,
                       stride_lh, stride_ob, stride_oh, stride_sb, H, SPLITS,
                       D_LAT: tl.constexpr, SPLITS_P2: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    s = tl.arange(0, SPLITS_P2)
    dl = tl.arange(0, D_LAT)
    lse = tl.load(LSE_PART + b * stride_lb + h * stride_lh + s, mask=s < SPLITS,
                  other=float("-inf"))
    m = tl.max(lse, 0)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    w = tl.math.exp2(lse - m_safe)
    total = tl.sum(w, 0)
    parts = tl.load(O_PART + b * stride_pb + h * stride_ph + s[:, None] * stride_ps + dl[None, :],
                    mask=(s < SPLITS)[:, None], other=0.0)
    out = tl.sum(parts * w[:, None], 0) / tl.where(total == 0.0, 1.0, total)
    tl.store(O + b * stride_ob + h * stride_oh + dl, out.to(O.dtype.element_ty))
    natural = (m_safe + tl.math.log2(tl.where(total == 0.0, 1.0, total))) * 0.6931471805599453
    tl.store(LSE + b * stride_sb + h, tl.where(total == 0.0, float("-inf"), natural))
