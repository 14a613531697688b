"""Layer normalization forward, two kernels:
- `_layer_norm_fwd_fused` (Triton tutorial 05): one program per row, three
  passes over the row in BLOCK_SIZE chunks (mean, variance, output); any N.
- `_layer_norm_fwd_row`: one program per row held whole in registers
  (N <= BLOCK_SIZE): the row is read once, statistics in float32.
`layer_norm` picks the second when the row fits.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/03_layer_norm.py
"""

import numpy as np

import tessera
import tessera.language as tl


@tessera.jit
def _layer_norm_fwd_fused(X, Y, W, B, Mean, Rstd, stride, N, eps, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)
    Y += row * stride
    X += row * stride
    mean = 0
    _mean = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        a = tl.load(X + cols, mask=cols < N, other=0.).to(tl.float32)
        _mean += a
    mean = tl.sum(_mean, axis=0) / N
    _var = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        x = tl.load(X + cols, mask=cols < N, other=0.).to(tl.float32)
        x = tl.where(cols < N, x - mean, 0.)
        _var += x * x
    var = tl.sum(_var, axis=0) / N
    rstd = 1 / tl.sqrt(var + eps)
    tl.store(Mean + row, mean)
    tl.store(Rstd + row, rstd)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        mask = cols < N
        w = tl.load(W + cols, mask=mask)
        b = tl.load(B + cols, mask=mask)
        x = tl.load(X + cols, mask=mask, other=0.).to(tl.float32)
        x_hat = (x - mean) * rstd
        y = x_hat * w + b
        tl.store(Y + cols, y, mask=mask)


@tessera.jit
def _layer_norm_fwd_row(X, Y, W, B, Mean, Rstd, stride, N, eps, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_SIZE)
    mask = cols < N
    x = tl.load(X + row * stride + cols, mask=mask, other=0.).to(tl.float32)
    mean = tl.sum(x, axis=0) / N
    xc = tl.where(mask, x - mean, 0.)
    var = tl.sum(xc * xc, axis=0) / N
    rstd = 1 / tl.sqrt(var + eps)
    w = tl.load(W + cols, mask=mask)
    b = tl.load(B + cols, mask=mask)
    tl.store(Y + row * stride + cols, xc * rstd * w + b, mask=mask)
    tl.store(Mean + row, mean)
    tl.store(Rstd + row, rstd)


MAX_ROW = 8192  # the widest row `_layer_norm_fwd_row` holds in registers


def layer_norm(x, weight, bias, eps=1e-5, block=None):
    """y, mean, rstd of each row of x (numpy, or tensors of the backend's
    device). `block` forces the chunked kernel with that chunk size."""
    M, N = x.shape
    y = x.copy() if isinstance(x, np.ndarray) else x.clone()
    mean, rstd = (np.empty(M, np.float32), np.empty(M, np.float32)) if isinstance(
        x, np.ndarray) else (x.new_empty(M), x.new_empty(M))
    stride = x.strides[0] // x.itemsize if isinstance(x, np.ndarray) else x.stride(0)
    if block is None and N <= MAX_ROW:
        width = tessera.next_power_of_2(N)
        _layer_norm_fwd_row[(M,)](x, y, weight, bias, mean, rstd, stride, N, eps,
                                  BLOCK_SIZE=width, num_warps=min(16, max(1, width // 256)))
    else:
        block = block or min(1024, tessera.next_power_of_2(N))
        _layer_norm_fwd_fused[(M,)](x, y, weight, bias, mean, rstd, stride, N, eps,
                                    BLOCK_SIZE=block)
    return y, mean, rstd


def reference(x, weight, bias, eps=1e-5):
    x = x.astype(np.float64)
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    return (x - mean) * rstd * weight + bias, mean[:, 0], rstd[:, 0]


def main():
    rng = np.random.default_rng(0)
    for M, N, block in ((4, 1, None), (33, 1000, 256), (33, 1000, None), (64, 4096, None),
                        (3, 10000, None)):
        x = rng.standard_normal((M, N)).astype(np.float32)
        w = rng.standard_normal(N).astype(np.float32)
        b = rng.standard_normal(N).astype(np.float32)
        y, mean, rstd = layer_norm(x, w, b, block=block)
        ry, rmean, rrstd = reference(x, w, b)
        err = max(np.abs(y - ry).max(), np.abs(mean - rmean).max(),
                  np.abs(rstd - rrstd).max() / np.abs(rrstd).max())
        print(f"layer norm {M}x{N}: max |error| = {err:.2e}")
        assert err <= 1e-4


if __name__ == "__main__":
    main()
