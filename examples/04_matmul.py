"""Matrix multiplication (Triton tutorial 03): blocked tl.dot with grouped
("super-grouping") program ordering for L2 reuse, fp16 in, fp32 accumulate,
optional fused leaky ReLU from a second @jit function.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/04_matmul.py
"""

import numpy as np

import tessera
import tessera.language as tl


@tessera.jit
def leaky_relu(x):
    return tl.where(x >= 0, x, 0.01 * x)


@tessera.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,
                  BLOCK_SIZE_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr,
                  ACTIVATION: tl.constexpr):
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)

    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_SIZE_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_SIZE_K, other=0.0)
        accumulator = tl.dot(a, b, accumulator)
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk
    if ACTIVATION == "leaky_relu":
        accumulator = leaky_relu(accumulator)
    c = accumulator.to(tl.float16)

    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, c, mask=c_mask)


def matmul(a, b, activation="", BLOCK_SIZE_M=32, BLOCK_SIZE_N=32, BLOCK_SIZE_K=32,
           GROUP_SIZE_M=4):
    M, K = a.shape
    K2, N = b.shape
    assert K == K2, "incompatible dimensions"
    c = np.empty((M, N), dtype=np.float16)
    grid = lambda meta: (tessera.cdiv(M, meta["BLOCK_SIZE_M"]) *  # noqa: E731
                         tessera.cdiv(N, meta["BLOCK_SIZE_N"]),)
    es = a.itemsize
    matmul_kernel[grid](a, b, c, M, N, K,
                        a.strides[0] // es, a.strides[1] // es, b.strides[0] // es,
                        b.strides[1] // es, c.strides[0] // c.itemsize, c.strides[1] // c.itemsize,
                        BLOCK_SIZE_M=BLOCK_SIZE_M, BLOCK_SIZE_N=BLOCK_SIZE_N,
                        BLOCK_SIZE_K=BLOCK_SIZE_K, GROUP_SIZE_M=GROUP_SIZE_M,
                        ACTIVATION=activation)
    return c


def reference(a, b, activation=""):
    c = a.astype(np.float64) @ b.astype(np.float64)
    if activation == "leaky_relu":
        c = np.where(c >= 0, c, 0.01 * c)
    return c


def main():
    rng = np.random.default_rng(0)
    for (M, N, K), act in (((64, 64, 64), ""), ((100, 70, 130), "leaky_relu"),
                           ((257, 129, 96), "")):
        a = rng.standard_normal((M, K)).astype(np.float16)
        b = rng.standard_normal((K, N)).astype(np.float16)
        c = matmul(a, b, act)
        ref = reference(a, b, act)
        err = np.abs(c.astype(np.float64) - ref).max() / np.abs(ref).max()
        print(f"matmul {M}x{N}x{K} {act or 'none'}: max relative error = {err:.2e}")
        assert err <= 2e-3


if __name__ == "__main__":
    main()
