"""Matrix multiplication with tensor descriptors (Triton's
`tl.make_tensor_descriptor`): each operand is described once (base, shape,
strides, block shape) and read by block offsets; blocks past the edges read
zeros and the store drops them. On sm_90a (H100/H200) the loads of the
pipelined loop are TMA copies into swizzled shared memory, waited for on
mbarriers and read by wgmma; elsewhere (other GPUs, the CPU backend) they are
element pointers with bounds masks.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/07_descriptor_matmul.py
"""

import numpy as np

import tessera
import tessera.language as tl


@tessera.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    # Grouped ordering: GROUP_M rows of blocks share their B tiles in L2.
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    group = pid // (GROUP_M * num_n)
    first_m = group * GROUP_M
    size_m = min(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % (GROUP_M * num_n)) % size_m
    pid_n = (pid % (GROUP_M * num_n)) // size_m

    a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[K, 1],
                                       block_shape=[BLOCK_M, BLOCK_K])
    b_desc = tl.make_tensor_descriptor(b_ptr, shape=[K, N], strides=[N, 1],
                                       block_shape=[BLOCK_K, BLOCK_N])
    c_desc = tl.make_tensor_descriptor(c_ptr, shape=[M, N], strides=[N, 1],
                                       block_shape=[BLOCK_M, BLOCK_N])
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        a = a_desc.load([pid_m * BLOCK_M, k])
        b = b_desc.load([k, pid_n * BLOCK_N])
        acc = tl.dot(a, b, acc)
    c_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], acc.to(c_ptr.dtype.element_ty))


def matmul(a, b, BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, GROUP_M=8, **options):
    """a @ b for row-major numpy arrays (CPU backend) or torch tensors of the
    backend's device."""
    M, K = a.shape
    N = b.shape[1]
    c = np.empty((M, N), dtype=a.dtype) if isinstance(a, np.ndarray) else a.new_empty((M, N))
    grid = (tessera.cdiv(M, BLOCK_M) * tessera.cdiv(N, BLOCK_N),)
    matmul_kernel[grid](a, b, c, M, N, K, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K,
                        GROUP_M=GROUP_M, **options)
    return c


def main():
    from tessera.backends import active

    on_gpu = active().name == "cuda"
    if on_gpu:
        import torch
    rng = np.random.default_rng(0)
    for M, N, K in ((64, 64, 64), (100, 72, 96), (130, 200, 56)):
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        if on_gpu:  # fp16 operands: the tensor-core (and, on sm_90a, TMA) path
            c = matmul(torch.from_numpy(a).cuda().half(),
                       torch.from_numpy(b).cuda().half()).float().cpu().numpy()
            a, b = a.astype(np.float16), b.astype(np.float16)
        else:
            c = matmul(a, b)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = np.abs(c - ref).max() / np.abs(ref).max()
        print(f"descriptor matmul {M}x{N}x{K}: max relative error {err:.2e}")
        assert err <= (5e-3 if on_gpu else 1e-5)


if __name__ == "__main__":
    main()
