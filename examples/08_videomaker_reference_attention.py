"""VideoMaker-style reference injection with block-sparse attention: a clip
of F frames is preceded by a reference frame; each frame's queries attend to
[reference frame; own frame], and the reference frame's own output is the
average over the frames of what its queries get from [reference; frame].
Frames are whole key/value blocks, so the pattern is a block list per query
block: tessera.ops.block_sparse_attention runs it, checked here against dense
attention with the equivalent mask in float64.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/08_videomaker_reference_attention.py
"""

import math

import numpy as np

import tessera


def reference_injection(q, k, v, frame_tokens, block=16):
    """q, k, v: (Z, H, (F + 1) * frame_tokens, D), the reference frame first.
    Returns the outputs of the F frames (attending to [reference; own frame])
    and of the reference frame (its attention to [reference; frame f],
    averaged over f)."""
    Z, H, S, D = q.shape
    per_frame = frame_tokens // block
    F = S // frame_tokens - 1
    # Frame f's query blocks list the reference's blocks and frame f's.
    QB = S // block
    index = np.full((Z, H, QB, 2 * per_frame), -1, np.int64)
    for qb in range(per_frame, QB):
        f = qb // per_frame
        index[:, :, qb] = list(range(per_frame)) + list(range(f * per_frame, (f + 1) * per_frame))
    out = tessera.ops.block_sparse_attention(q, k, v, index, block_m=block, block_n=block)
    # The reference frame against each frame, averaged: one call per frame.
    ref_out = np.zeros((Z, H, frame_tokens, D), np.float64)
    for f in range(1, F + 1):
        rows = slice(f * frame_tokens, (f + 1) * frame_tokens)
        keys = np.concatenate([k[:, :, :frame_tokens], k[:, :, rows]], axis=2)
        vals = np.concatenate([v[:, :, :frame_tokens], v[:, :, rows]], axis=2)
        ref_out += tessera.ops.attention(q[:, :, :frame_tokens], keys, vals, block_m=block,
                                         block_n=block)
    out[:, :, :frame_tokens] = ref_out / F
    return out


def dense_reference(q, k, v, frame_tokens):
    q, k, v = (t.astype(np.float64) for t in (q, k, v))
    Z, H, S, D = q.shape
    F = S // frame_tokens - 1

    def attend(qq, kk, vv):
        s = qq @ np.swapaxes(kk, -1, -2) / math.sqrt(D)
        p = np.exp(s - s.max(-1, keepdims=True))
        return (p / p.sum(-1, keepdims=True)) @ vv

    out = np.zeros_like(q)
    refk, refv = k[:, :, :frame_tokens], v[:, :, :frame_tokens]
    for f in range(1, F + 1):
        rows = slice(f * frame_tokens, (f + 1) * frame_tokens)
        kk = np.concatenate([refk, k[:, :, rows]], 2)
        vv = np.concatenate([refv, v[:, :, rows]], 2)
        out[:, :, rows] = attend(q[:, :, rows], kk, vv)
        out[:, :, :frame_tokens] += attend(q[:, :, :frame_tokens], kk, vv) / F
    return out


def main():
    rng = np.random.default_rng(0)
    frame_tokens, F = 32, 3
    q, k, v = (rng.standard_normal((1, 2, (F + 1) * frame_tokens, 16)).astype(np.float32)
               for _ in range(3))
    out = reference_injection(q, k, v, frame_tokens)
    err = np.abs(out - dense_reference(q, k, v, frame_tokens)).max()
    print(f"reference injection, {F} frames of {frame_tokens} tokens: max |error| = {err:.2e}")
    assert err < 1e-5


if __name__ == "__main__":
    main()
