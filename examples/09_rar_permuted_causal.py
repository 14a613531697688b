"""RAR-style permuted causal attention: with a permutation `order` of the
tokens, a query attends to the keys that come at or before it in `order`.
Permuting q, k and v by `order` turns that into ordinary causal attention;
the output is permuted back. Checked against dense attention with the
permuted causal mask in float64.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/09_rar_permuted_causal.py
"""

import math

import numpy as np

import tessera


def permuted_causal_attention(q, k, v, order, block=16):
    """order[i] = the token placed i-th; token order[i] sees order[:i + 1]."""
    perm = np.asarray(order)
    qp, kp, vp = (np.ascontiguousarray(t[:, :, perm]) for t in (q, k, v))
    out = tessera.ops.attention(qp, kp, vp, causal=True, block_m=block, block_n=block)
    result = np.empty_like(out)
    result[:, :, perm] = out
    return result


def dense_reference(q, k, v, order):
    q, k, v = (t.astype(np.float64) for t in (q, k, v))
    S, D = q.shape[2], q.shape[3]
    rank = np.empty(S, np.int64)
    rank[np.asarray(order)] = np.arange(S)
    mask = rank[None, :] <= rank[:, None]  # key earlier (or same) in the order
    s = np.where(mask, q @ np.swapaxes(k, -1, -2) / math.sqrt(D), -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


def main():
    rng = np.random.default_rng(0)
    S = 80
    q, k, v = (rng.standard_normal((1, 2, S, 32)).astype(np.float32) for _ in range(3))
    order = rng.permutation(S)
    out = permuted_causal_attention(q, k, v, order)
    err = np.abs(out - dense_reference(q, k, v, order)).max()
    print(f"permuted causal attention, {S} tokens: max |error| = {err:.2e}")
    assert err < 1e-5


if __name__ == "__main__":
    main()
