"""BSA's selection and token reordering (arXiv 2509.01085), in the DSL.

- `cube_reorder`: tokens of a (T, H, W) latent video reordered cube by cube
  (and back), so a cube is one contiguous block of the sequence.
- `block_pool`: the mean of each block of tokens (queries or keys).
- `block_scores`, `block_select`: per query block, softmax over key blocks
  of the pooled scores, then the fewest blocks whose mass reaches p (MODE
  0) or the blocks above mean + k std (MODE 1), at least MIN and at most
  L, listed in increasing order.
"""

import tessera
import tessera.language as tl


@tessera.jit
def cube_reorder_kernel(X, Y, P, stride_xz, stride_xs, stride_yz, stride_ys, stride_pz,
                        stride_pb, S, C,
                        T: tl.constexpr, HV: tl.constexpr, WV: tl.constexpr,
                        CT: tl.constexpr, CH: tl.constexpr, CW: tl.constexpr,
                        INVERSE: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
                        POOL: tl.constexpr = False):
    """POOL (forward, BLOCK_T = one cube's tokens): also the cube's mean
    token (float32) into P (batch, cubes, C): block_select's pooling, from
    the tile the reordering reads anyway."""
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
        if POOL:
            mean = tl.sum(x.to(tl.float32), 0) / BLOCK_T
            tl.store(P + z * stride_pz + tl.program_id(0) * stride_pb + ch, mean, mask=ch < C)


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
def block_scores_kernel(QP, KP, Scores, scale, stride_qz, stride_qh, stride_qb, stride_kz,
                        stride_kh, stride_kb, stride_sz, stride_sh, stride_sq, H, QB, KB,
                        HEAD_DIM: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr):
    """The pooled scores q_b k_c^T * scale of BM query blocks by BN key
    blocks (float32 products: the selection compares them)."""
    zh = tl.program_id(2)
    z = zh // H
    h = zh % H
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    cols = tl.program_id(1) * BN + tl.arange(0, BN)
    d = tl.arange(0, HEAD_DIM)
    q = tl.load(QP + z * stride_qz + h * stride_qh + rows[:, None] * stride_qb + d[None, :],
                mask=rows[:, None] < QB, other=0.0)
    k = tl.load(KP + z * stride_kz + h * stride_kh + cols[:, None] * stride_kb + d[None, :],
                mask=cols[:, None] < KB, other=0.0)
    s = tl.dot(q, tl.trans(k), input_precision="tf32x3") * scale
    tl.store(Scores + z * stride_sz + h * stride_sh + rows[:, None] * stride_sq + cols[None, :],
             s, mask=(rows[:, None] < QB) & (cols[None, :] < KB))


@tessera.jit
def _take_highest(rest, kept, kbs):
    """The highest of `rest` (ties: the lowest index) marked in `kept` and
    taken out of `rest`; returns both and the value."""
    top, at = tl.max(rest, 0, return_indices=True)
    return tl.where(kbs == at, -1.0, rest), tl.where(kbs == at, 1, kept), top


@tessera.jit
def _row_sum(a, b, SPLIT: tl.constexpr):
    """The sum of a row held as a head tile and a tail tile (the tail only
    when SPLIT: otherwise it is an empty stand-in)."""
    total = tl.sum(a, 0)
    if SPLIT:
        total = total + tl.sum(b, 0)
    return total


@tessera.jit
def _row_max(a, b, SPLIT: tl.constexpr):
    """The maximum of a row held as a head tile and a tail tile."""
    top = tl.max(a, 0)
    if SPLIT:
        top = tl.maximum(top, tl.max(b, 0))
    return top


@tessera.jit
def block_select_kernel(Scores, Index, Count, param, stride_sz, stride_sh, stride_sq,
                        stride_iz, stride_ih, stride_iq, stride_cz, stride_ch, H, KB, L, MIN,
                        MODE: tl.constexpr, KB_P: tl.constexpr, ROUNDS: tl.constexpr = False,
                        TAIL: tl.constexpr = 16, SPLIT: tl.constexpr = False):
    """One query block's selection, with no sort: its probabilities
    (softmax of its scores), then how many blocks n it keeps (top-p: the
    fewest, highest first with ties at the lower index, whose mass reaches
    p, MODE 0; or those above mean + param * std, MODE 1; at least MIN, at
    most L), then its n highest. Both counts come from bisections over the
    probabilities' bit patterns (non-negative floats order as their bits
    do): 31 steps of one reduction each, where ranking every pair of blocks
    would take KB^2. With top-p, when neither MIN nor L clamps n, the first
    bisection's threshold is already the n-th highest value and the second
    takes no step. The kept blocks are stored in increasing order, -1 past
    the count. (A search of 4 or 8 ways a round, several sums in one
    reduction, measured slower on an H200: the kernel is bound by its
    per-element work, not by the reductions' latency.)

    SPLIT: the row is a head tile of KB_P blocks and a tail tile of the
    TAIL after them (1200 key blocks: 1024 + 256, where one tile would
    hold 2048, 848 of them padding every bisection step compares); each
    sum over the row is then two reductions. Without SPLIT the tail is an
    empty stand-in of TAIL blocks past KB that no reduction reads.

    ROUNDS (for small L, without SPLIT): no bisection; the blocks are
    taken highest first (ties: the lower block), one max reduction a
    block, while fewer than MIN are kept or the mass is short of p (MODE
    0) or fewer than n (MODE 1), at most L: L or fewer reductions instead
    of 31 or 62."""
    tl.static_assert(not (SPLIT and ROUNDS), "ROUNDS takes one tile a row (no SPLIT)")
    qb = tl.program_id(0)
    zh = tl.program_id(1)
    z = zh // H
    h = zh % H
    scores = Scores + z * stride_sz + h * stride_sh + qb * stride_sq
    kbs = tl.arange(0, KB_P)
    kbt = KB_P + tl.arange(0, TAIL)
    valid = kbs < KB
    valid_t = kbt < KB
    s = tl.load(scores + kbs, mask=valid, other=float("-inf"))
    st = tl.load(scores + kbt, mask=valid_t, other=float("-inf"))
    top = _row_max(s, st, SPLIT)
    e = tl.where(valid, tl.exp(s - top), 0.0)
    et = tl.where(valid_t, tl.exp(st - top), 0.0)
    total = _row_sum(e, et, SPLIT)
    prob = e / total
    prob_t = et / total
    if MODE == 1:  # n: the blocks above mean + param * std, clamped
        mean = _row_sum(prob, prob_t, SPLIT) / KB
        dev = tl.where(valid, prob - mean, 0.0)
        dev_t = tl.where(valid_t, prob_t - mean, 0.0)
        std = tl.sqrt(_row_sum(dev * dev, dev_t * dev_t, SPLIT) / KB)
        cut = mean + param * std
        n = _row_sum(tl.where(valid & (prob > cut), 1, 0), tl.where(valid_t & (prob_t > cut), 1, 0),
                     SPLIT)
        n = tl.minimum(tl.maximum(n, MIN), L)
    kept_t = tl.zeros([TAIL], dtype=tl.int32)
    if ROUNDS:
        rest = tl.where(valid, prob, -1.0)
        kept = tl.zeros([KB_P], dtype=tl.int32)
        mass = 0.0
        n_kept = 0
        if MODE == 0:
            while (n_kept < L) & ((n_kept < MIN) | (mass < param)):
                rest, kept, top = _take_highest(rest, kept, kbs)
                mass += top
                n_kept += 1
        else:
            while n_kept < n:
                rest, kept, top = _take_highest(rest, kept, kbs)
                n_kept += 1
    else:
        bits = tl.where(valid, prob, -1.0).to(tl.int32, bitcast=True)  # past KB: negative
        bits_t = tl.where(valid_t, prob_t, -1.0).to(tl.int32, bitcast=True)
        if MODE == 0:
            # t: the largest value whose blocks at or above it reach the mass.
            lo = 0
            hi = 0x3F800001  # just above 1.0
            for _ in range(0, 31):
                mid = lo + (hi - lo) // 2
                reach = _row_sum(tl.where(bits >= mid, prob, 0.0),
                                 tl.where(bits_t >= mid, prob_t, 0.0), SPLIT) >= param
                lo = tl.where(reach, mid, lo)
                hi = tl.where(reach, hi, mid)
            above = bits > lo
            above_t = bits_t > lo
            tie = tl.where(bits == lo, 1, 0)
            tie_t = tl.where(bits_t == lo, 1, 0)
            tie_before = tl.cumsum(tie, 0) - tie
            tie_before_t = tl.cumsum(tie_t, 0) - tie_t + tl.sum(tie, 0)
            t = lo.to(tl.float32, bitcast=True)
            # Blocks above t are all kept (the mass before each is short of
            # p); blocks at t in index order while the mass before them is.
            mass_above = _row_sum(tl.where(above, prob, 0.0), tl.where(above_t, prob_t, 0.0),
                                  SPLIT)
            tie_kept = (tie > 0) & (mass_above + tie_before.to(tl.float32) * t < param)
            tie_kept_t = (tie_t > 0) & (mass_above + tie_before_t.to(tl.float32) * t < param)
            n_p = _row_sum(tl.where(above | tie_kept, 1, 0), tl.where(above_t | tie_kept_t, 1, 0),
                           SPLIT)
            n = tl.minimum(tl.maximum(n_p, MIN), L)
            # Unclamped, t is the n-th highest value: the second bisection
            # would find it again (its ties kept in the same order).
            free = n == n_p
            lo = tl.where(free, lo, 0)
            hi = tl.where(free, lo + 1, 0x3F800001)
            steps = tl.where(free, 0, 31)
        else:
            lo = 0
            hi = 0x3F800001
            steps = 31
        # v: the largest value with at least n blocks at or above it.
        for _ in range(0, steps):
            mid = lo + (hi - lo) // 2
            enough = _row_sum(tl.where(bits >= mid, 1, 0), tl.where(bits_t >= mid, 1, 0),
                              SPLIT) >= n
            lo = tl.where(enough, mid, lo)
            hi = tl.where(enough, hi, mid)
        above = bits > lo
        above_t = bits_t > lo
        tie = tl.where(bits == lo, 1, 0)
        tie_t = tl.where(bits_t == lo, 1, 0)
        tie_before = tl.cumsum(tie, 0) - tie
        tie_before_t = tl.cumsum(tie_t, 0) - tie_t + tl.sum(tie, 0)
        room = n - _row_sum(tl.where(above, 1, 0), tl.where(above_t, 1, 0), SPLIT)
        kept = tl.where((above | ((tie > 0) & (tie_before < room))) & valid, 1, 0)
        kept_t = tl.where((above_t | ((tie_t > 0) & (tie_before_t < room))) & valid_t, 1, 0)
        n_kept = _row_sum(kept, kept_t, SPLIT)
    pos = tl.cumsum(kept, 0) - kept
    pos_t = tl.cumsum(kept_t, 0) - kept_t + tl.sum(kept, 0)
    row = Index + z * stride_iz + h * stride_ih + qb * stride_iq
    tl.store(row + pos, kbs, mask=kept > 0)
    tl.store(row + pos_t, kbt, mask=kept_t > 0)
    tl.store(row + kbs, tl.full([KB_P], -1, tl.int32), mask=(kbs >= n_kept) & (kbs < L))
    tl.store(row + kbt, tl.full([TAIL], -1, tl.int32), mask=(kbt >= n_kept) & (kbt < L))
    tl.store(Count + z * stride_cz + h * stride_ch + qb, n_kept)


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
