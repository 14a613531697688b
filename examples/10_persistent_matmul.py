"""Persistent matrix multiplication (Triton tutorial 09): one program per
streaming multiprocessor, each walking the output tiles
pid, pid + NUM_SMS, pid + 2 * NUM_SMS, ... in grouped order (GROUP_M rows
of tiles share their B columns in L2). Launch cost is paid once per SM
instead of once per tile, and a program's next tile starts while its
neighbours still compute. Tiles are read through tensor descriptors (TMA
copies on sm_90a, cp.async elsewhere on NVIDIA, plain loads on the CPU).

Run: PYTHONPATH=build/python /usr/bin/python3 examples/10_persistent_matmul.py
"""

import numpy as np

import tessera
import tessera.language as tl


@tessera.jit
def tile_coordinates(tile_id, num_pid_m, num_pid_n, GROUP_M: tl.constexpr):
    """The (row, column) of output tile `tile_id` in grouped order."""
    in_group = GROUP_M * num_pid_n
    first_m = (tile_id // in_group) * GROUP_M
    group_rows = min(num_pid_m - first_m, GROUP_M)
    pid_m = first_m + (tile_id % in_group) % group_rows
    pid_n = (tile_id % in_group) // group_rows
    return pid_m, pid_n


@tessera.jit
def matmul_persistent(a_ptr, b_ptr, c_ptr, M, N, K, BLOCK_M: tl.constexpr,
                      BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
                      NUM_SMS: tl.constexpr):
    start = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_tiles = num_pid_m * num_pid_n
    a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[K, 1],
                                       block_shape=[BLOCK_M, BLOCK_K])
    b_desc = tl.make_tensor_descriptor(b_ptr, shape=[K, N], strides=[N, 1],
                                       block_shape=[BLOCK_K, BLOCK_N])
    c_desc = tl.make_tensor_descriptor(c_ptr, shape=[M, N], strides=[N, 1],
                                       block_shape=[BLOCK_M, BLOCK_N])
    for tile_id in range(start, num_tiles, NUM_SMS):
        pid_m, pid_n = tile_coordinates(tile_id, num_pid_m, num_pid_n, GROUP_M)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k in range(0, tl.cdiv(K, BLOCK_K)):
            a = a_desc.load([pid_m * BLOCK_M, k * BLOCK_K])
            b = b_desc.load([k * BLOCK_K, pid_n * BLOCK_N])
            acc = tl.dot(a, b, acc)
        c_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], acc.to(c_ptr.dtype.element_ty))


def num_sms():
    """Streaming multiprocessors of the GPU; the CPU backend's worker count."""
    from tessera.backends import active
    if active().name == "cuda":
        from tessera import _C
        return _C.cuda.device()["multiprocessors"]
    import os
    return os.cpu_count() or 1


def matmul(a, b, BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, GROUP_M=8, **options):
    """a @ b (row-major numpy arrays or torch tensors on the backend's device)."""
    M, K = a.shape
    N = b.shape[1]
    c = np.empty((M, N), dtype=a.dtype) if isinstance(a, np.ndarray) else a.new_empty((M, N))
    sms = num_sms()
    tiles = tessera.cdiv(M, BLOCK_M) * tessera.cdiv(N, BLOCK_N)
    matmul_persistent[(min(sms, tiles),)](a, b, c, M, N, K, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
                                          BLOCK_K=BLOCK_K, GROUP_M=GROUP_M, NUM_SMS=sms,
                                          **options)
    return c


def main():
    rng = np.random.default_rng(0)
    M, N, K = 300, 200, 100
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = matmul(a, b, BLOCK_M=32, BLOCK_N=32, BLOCK_K=16)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    err = np.abs(c - ref).max()
    print(f"persistent matmul {M}x{N}x{K} on {num_sms()} programs: max |error| {err:.2e}")
    assert err < 1e-3


if __name__ == "__main__":
    main()
