"""Matrix multiplication with block pointers, autotuning and heuristics:
`tl.make_block_ptr`/`tl.advance` walk the tiles (boundary_check masks the
edges), `@tessera.autotune` picks the block shape per (M, N, K), and
`@tessera.heuristics` tells the kernel when K needs no boundary check.
On an NVIDIA GPU (sm_80+) the dots run on tensor cores with cp.async
pipelining; on the CPU backend the same kernel runs on threads.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/06_block_ptr_matmul.py
"""

import numpy as np

import tessera
import tessera.language as tl


@tessera.autotune(
    configs=[tessera.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=4),
             tessera.Config({"BLOCK_M": 32, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=4)],
    key=["M", "N", "K"])
@tessera.heuristics({"EVEN_K": lambda args: args["K"] % args["BLOCK_K"] == 0})
@tessera.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn,
                  stride_cm, stride_cn, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_K: tl.constexpr, EVEN_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    a_block = tl.make_block_ptr(a_ptr, shape=(M, K), strides=(stride_am, stride_ak),
                                offsets=(pid_m * BLOCK_M, 0), block_shape=(BLOCK_M, BLOCK_K),
                                order=(1, 0))
    b_block = tl.make_block_ptr(b_ptr, shape=(K, N), strides=(stride_bk, stride_bn),
                                offsets=(0, pid_n * BLOCK_N), block_shape=(BLOCK_K, BLOCK_N),
                                order=(1, 0))
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for _ in range(0, K, BLOCK_K):
        if EVEN_K:  # compile-time: only the M and N edges need masks
            a = tl.load(a_block, boundary_check=(0,), padding_option="zero")
            b = tl.load(b_block, boundary_check=(1,), padding_option="zero")
        else:
            a = tl.load(a_block, boundary_check=(0, 1), padding_option="zero")
            b = tl.load(b_block, boundary_check=(0, 1), padding_option="zero")
        acc += tl.dot(a, b)
        a_block = tl.advance(a_block, (0, BLOCK_K))
        b_block = tl.advance(b_block, (BLOCK_K, 0))
    c_block = tl.make_block_ptr(c_ptr, shape=(M, N), strides=(stride_cm, stride_cn),
                                offsets=(pid_m * BLOCK_M, pid_n * BLOCK_N),
                                block_shape=(BLOCK_M, BLOCK_N), order=(1, 0))
    tl.store(c_block, acc.to(c_ptr.dtype.element_ty), boundary_check=(0, 1))


def matmul(a, b):
    """a @ b for numpy arrays (CPU backend) or torch tensors of the backend's device."""
    M, K = a.shape
    N = b.shape[1]
    if isinstance(a, np.ndarray):
        c = np.empty((M, N), dtype=a.dtype)
        strides = [s // a.itemsize for s in a.strides + b.strides + c.strides]
    else:
        c = a.new_empty((M, N))
        strides = [*a.stride(), *b.stride(), *c.stride()]

    def grid(meta):
        return (tessera.cdiv(M, meta["BLOCK_M"]), tessera.cdiv(N, meta["BLOCK_N"]))

    matmul_kernel[grid](a, b, c, M, N, K, *strides)
    return c


def main():
    from tessera.backends import active

    on_gpu = active().name == "cuda"
    if on_gpu:  # torch tensors on the GPU; fp32 dots use TF32 there, as in Triton
        import torch
    rng = np.random.default_rng(0)
    for M, N, K in ((64, 64, 64), (100, 70, 96), (33, 129, 50)):
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        if on_gpu:
            c = matmul(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()).cpu().numpy()
        else:
            c = matmul(a, b)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = np.abs(c - ref).max() / np.abs(ref).max()
        print(f"block-pointer matmul {M}x{N}x{K}: max relative error {err:.2e}, "
              f"config {matmul_kernel.best_config}")
        assert err <= (5e-3 if on_gpu else 1e-5)


if __name__ == "__main__":
    main()
