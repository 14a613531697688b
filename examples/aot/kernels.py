"""Compiles four of the examples' kernels ahead of time into the C library
`kernels` (kernels.h, kernels.c and, for the host CPU, kernels_kernels.o):
    python3 kernels.py OUTPUT_DIRECTORY [TARGET]
TARGET: host (the default), sm_80, sm_90a, gfx90a or gfx942. CMakeLists.txt
runs it at build time (tessera_add_aot_library)."""

import importlib.util
import pathlib
import sys

from tessera import aot

EXAMPLES = pathlib.Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lib = aot.Library("kernels")

# Vector add: an aligned specialization (16-byte pointers, n % 16 == 0) and
# a general one; the dispatcher picks at run time.
add = load("01_vector_add").add_kernel
aligned = {"x_ptr": "*fp32:16", "y_ptr": "*fp32:16", "output_ptr": "*fp32:16",
           "n_elements": "i32:16", "BLOCK_SIZE": 1024}
general = {"x_ptr": "*fp32", "y_ptr": "*fp32", "output_ptr": "*fp32",
           "n_elements": "i32", "BLOCK_SIZE": 1024}
lib.add(add, [aligned, general], name="vector_add")

# Softmax over rows of up to 1024 columns, only for 16-byte aligned rows:
# other arguments get TESSERA_NO_SPECIALIZATION.
softmax = load("02_fused_softmax").softmax_kernel
lib.add(softmax, {"output_ptr": "*fp32:16", "input_ptr": "*fp32:16",
                  "input_row_stride": "i32:16", "output_row_stride": "i32:16",
                  "n_rows": "i32", "n_cols": "i32", "BLOCK_SIZE": 1024, "num_stages": 1},
        name="softmax")

# GEMM on fp16 (fp32 accumulation, fp16 result), row-major: the unit
# strides are specialized to 1.
matmul = load("04_matmul").matmul_kernel
lib.add(matmul, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp16", "M": "i32", "N": "i32",
                 "K": "i32", "stride_am": "i32", "stride_ak": 1, "stride_bk": "i32",
                 "stride_bn": 1, "stride_cm": "i32", "stride_cn": 1, "BLOCK_SIZE_M": 32,
                 "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8, "ACTIVATION": ""},
        name="matmul")

# Flash attention on fp32, head dim 64, causal or not (two kernels).
attn = load("05_flash_attention")._attn_fwd
signature = {"Q": "*fp32", "K": "*fp32", "V": "*fp32", "sm_scale": "fp32", "Out": "*fp32",
             "H": "i32", "N_CTX": "i32", "HEAD_DIM": 64, "BLOCK_M": 32, "BLOCK_N": 32}
for t, row in (("q", "m"), ("k", "n"), ("v", "n"), ("o", "m")):
    signature.update({f"stride_{t}z": "i32", f"stride_{t}h": "i32", f"stride_{t}{row}": "i32",
                      f"stride_{t}k": 1})
lib.add(attn, dict(signature, CAUSAL=False), name="attention")
lib.add(attn, dict(signature, CAUSAL=True), name="causal_attention")

if __name__ == "__main__":
    for path in lib.write(sys.argv[1], target=sys.argv[2] if len(sys.argv) > 2 else "host"):
        print(path)
