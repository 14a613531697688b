"""BSA's selection and token reordering (arXiv 2509.01085), in the DSL.

- `cube_reorder`: tokens of a (T, H, W) latent video reordered cube by cube
  (and back), so a cube is one contiguous block of the sequence.
- `block_pool`: the mean of each block of tokens (queries or keys).
- `block_select`: per query block, softmax over key blocks of the pooled
  scores, then the fewest blocks whose mass reaches p (MODE 0) or the blocks
  above mean + k std (MODE 1), at least MIN and at most L, highest first.
"""

import tessera
import tessera.language as tl


@tessera.jit
def cube_reorder_kernel(X, Y, stride_xz, stride_xs, stride_yz, stride_ys, S, C,
                        T: tl.constexpr, HV: tl.constexpr, WV: tl.constexpr,
                        CT: tl.constexpr, CH: tl.constexpr, CW: tl.constexpr,
                        INVERSE: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr):
    z = tl.program_id(1)
    o = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)  # position in cube order
    ch = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    volume = CT * CH * CW
    cube = o // volume
    within = o % volume
    nh = HV // CH
    nw = WV // CW
    t = (cube // (nh * nw)) * CT + within // (CH * CW)
    h = ((cube // nw) % nh) * CH + (within // CW) % CH
    w = (cube % nw) * CW + within % CW
    src = (t * HV + h) * WV + w  # position in (t, h, w) order
    mask = (o[:, None] < S) & (ch[None, :] < C)
    if INVERSE:
        x = tl.load(X + z * stride_xz + o[:, None] * stride_xs + ch[None, :], mask=mask)
        tl.store(Y + z * stride_yz + src[:, None] * stride_ys + ch[None, :], x, mask=mask)
    else:
        x = tl.load(X + z * stride_xz + src[:, None] * stride_xs + ch[None, :], mask=mask)
        tl.store(Y + z * stride_yz + o[:, None] * stride_ys + ch[None, :], x, mask=mask)


@tessera.jit
def block_pool_kernel(X, Out, stride_xz, stride_xh, stride_xn, stride_oz, stride_oh, stride_ob,
                      H, N, BLOCK: tl.constexpr, HEAD_DIM: tl.constexpr):
    b = tl.program_id(0)
    zh = tl.program_id(1)
    z = zh // H
    h = zh % H
    rows = b * BLOCK + tl.arange(0, BLOCK)
    d = tl.arange(0, HEAD_DIM)
    x = tl.load(X + z * stride_xz + h * stride_xh + rows[:, None] * stride_xn + d[None, :],
                mask=rows[:, None] < N, other=0.0).to(tl.float32)
    count = tl.minimum(N - b * BLOCK, BLOCK).to(tl.float32)
    tl.store(Out + z * stride_oz + h * stride_oh + b * stride_ob + d, tl.sum(x, 0) / count)


@tessera.jit
def block_select_kernel(QP, KP, Index, Count, scale, param,
                        stride_qz, stride_qh, stride_qb, stride_kz, stride_kh, stride_kb,
                        stride_iz, stride_ih, stride_iq, stride_cz, stride_ch,
                        H, KB, L, MIN,
                        MODE: tl.constexpr, KB_P: tl.constexpr, HEAD_DIM: tl.constexpr,
                        CHUNK: tl.constexpr):
    """The selected blocks in one pass, without a loop over them: each key
    block's rank (how many blocks come first: higher probability, or equal at
    a lower index, as repeated argmax would take them) and the mass ranked
    before it, from CHUNK x KB_P comparisons at a time; block j is kept when
    rank < L and (rank < MIN, or the mass before it < p (MODE 0), or rank <
    the count above mean + param * std (MODE 1)), and stored at its rank."""
    qb = tl.program_id(0)
    zh = tl.program_id(1)
    z = zh // H
    h = zh % H
    d = tl.arange(0, HEAD_DIM)
    kbs = tl.arange(0, KB_P)
    valid = kbs < KB
    q = tl.load(QP + z * stride_qz + h * stride_qh + qb * stride_qb + d)
    k_rows = KP + z * stride_kz + h * stride_kh
    c = tl.arange(0, CHUNK)
    # Scores CHUNK key blocks at a time (the pooled keys never all in
    # registers), placed into the KB_P-vector by position.
    s = tl.zeros([KB_P], dtype=tl.float32)
    for i0 in range(0, KB_P, CHUNK):
        ci = i0 + c
        kc = tl.load(k_rows + ci[:, None] * stride_kb + d[None, :], mask=(ci < KB)[:, None],
                     other=0.0)
        sc = tl.sum(kc * q[None, :], 1) * scale
        s += tl.sum(tl.where(ci[:, None] == kbs[None, :], sc[:, None], 0.0), 0)
    s = tl.where(valid, s, float("-inf"))
    s_max = tl.max(s, 0)
    total = tl.sum(tl.where(valid, tl.exp(s - s_max), 0.0), 0)
    prob = tl.where(valid, tl.exp(s - s_max) / total, -1.0)
    target = MIN
    if MODE == 1:  # above mean + param * std of this query block's scores
        p_valid = tl.where(valid, prob, 0.0)
        mean = tl.sum(p_valid, 0) / KB
        dev = tl.where(valid, prob - mean, 0.0)
        std = tl.sqrt(tl.sum(dev * dev, 0) / KB)
        target = tl.maximum(tl.sum(tl.where(valid & (prob > mean + param * std), 1, 0), 0), MIN)
    rank = tl.zeros([KB_P], dtype=tl.int32)
    before = tl.zeros([KB_P], dtype=tl.float32)
    for i0 in range(0, KB_P, CHUNK):
        # The probabilities of blocks i0 .. i0 + CHUNK, recomputed.
        ci = i0 + c
        ok = ci < KB
        kc = tl.load(k_rows + ci[:, None] * stride_kb + d[None, :], mask=ok[:, None], other=0.0)
        sc = tl.sum(kc * q[None, :], 1) * scale
        pc = tl.where(ok, tl.exp(sc - s_max) / total, -1.0)
        first = (pc[:, None] > prob[None, :]) | ((pc[:, None] == prob[None, :]) &
                                                 (ci[:, None] < kbs[None, :]))
        first = first & ok[:, None]
        rank += tl.sum(tl.where(first, 1, 0), 0)
        before += tl.sum(tl.where(first, pc[:, None], 0.0), 0)
    if MODE == 0:
        keep = (rank < MIN) | (before < param)
    else:
        keep = rank < target
    keep = keep & valid & (rank < L)
    index = Index + z * stride_iz + h * stride_ih + qb * stride_iq
    tl.store(index + rank, kbs, mask=keep)
    tl.store(Count + z * stride_cz + h * stride_ch + qb, tl.sum(tl.where(keep, 1, 0), 0))


@tessera.jit
def token_select_kernel(X, Index, Count, stride_xz, stride_xh, stride_xn, stride_iz, stride_ih,
                        stride_ib, stride_cz, stride_ch, H, N, ratio,
                        BLOCK: tl.constexpr, HEAD_DIM: tl.constexpr):
    """Per block: cosine similarity of each token to the block's centre
    token; keep the ceil(ratio x tokens) least similar, listed from least to
    most similar (ties: lower position first)."""
    b = tl.program_id(0)
    zh = tl.program_id(1)
    z = zh // H
    h = zh % H
    r = tl.arange(0, BLOCK)
    rows = b * BLOCK + r
    d = tl.arange(0, HEAD_DIM)
    valid = rows < N
    x = tl.load(X + z * stride_xz + h * stride_xh + rows[:, None] * stride_xn + d[None, :],
                mask=valid[:, None], other=0.0).to(tl.float32)
    n = tl.minimum(N - b * BLOCK, BLOCK)
    centre = tl.sum(tl.where((r == n // 2)[:, None], x, 0.0), 0)
    norm = tl.sqrt(tl.sum(x * x, 1)) * tl.sqrt(tl.sum(centre * centre, 0)) + 1e-12
    sim = tl.where(valid, tl.sum(x * centre[None, :], 1) / norm, float("inf"))
    # rank = how many tokens come before this one (less similar, or equally
    # similar at a lower position).
    si = sim[:, None]
    sj = tl.reshape(sim, (1, BLOCK))
    before = (sj < si) | ((sj == si) & (r[None, :] < r[:, None]))
    rank = tl.sum(tl.where(before, 1, 0), 1)
    keep = tl.ceil(ratio * n.to(tl.float32)).to(tl.int32)
    index = Index + z * stride_iz + h * stride_ih + b * stride_ib
    tl.store(index + rank, r, mask=valid & (rank < keep))
    tl.store(Count + z * stride_cz + h * stride_ch + b, keep)
