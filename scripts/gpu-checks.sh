#!/usr/bin/env bash
# One GPU run for a session's changes, inside the device tool's 10-minute
# limit: the GPU tests (sm_90a cubins, then sm_80 PTX through the driver
# JIT) and the benchmarks the open issues track, each under its own time
# limit; full logs under $OUT (or ./gpu-logs), the tables last.
#   rm -rf /tmp/pkg && mkdir -p /tmp/pkg && tar -xJf build/gpu-package.tar.xz -C /tmp/pkg &&
#   cd /tmp/pkg && OUT=$OUT ./scripts/gpu-checks.sh
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
# STEPS="gpu-tests attention ..." runs only the steps named (all by default).
step() {  # name, seconds, command...
  local name=$1 limit=$2
  shift 2
  if [[ -n "${STEPS:-}" && " $STEPS " != *" $name "* ]]; then return; fi
  local start=$(date +%s)
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1
  echo "== $name: rc=$? in $(( $(date +%s) - start )) s"
}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
step gpu-tests 240 python3 -m pytest -q -x "$here/test/python/test_gpu.py"
tail -n 3 "$out/gpu-tests.txt" 2>/dev/null
TESSERA_CUDA_ARCH=sm_80 step gpu-tests-sm80 130 python3 -m pytest -q "$here/test/python/test_gpu.py"
tail -n 3 "$out/gpu-tests-sm80.txt" 2>/dev/null
step attention 110 python3 "$here/benchmarks/attention.py" --configs 128x128x8x2,64x64x4x2
step attention-sparse 200 python3 "$here/benchmarks/attention.py" --configs 128x128x8x2 \
  --sparsity 0.93 --flex --backward --graph --select
# (--dq-atomics, dq by TMA bulk reductions, measured slower in session 13:
# run it by hand when the backward changes.)
step attention-grad 120 python3 "$here/benchmarks/attention_grad.py" --configs 64x64x4x4,64x128x4x8 --kernels
step mla-decode 60 python3 "$here/benchmarks/mla_decode.py"
step select 90 python3 "$here/benchmarks/select.py"
step gemm-configs 60 python3 "$here/benchmarks/gemm_configs.py" 128x1536x7168,4096x1536x7168
# AOT (issue 9): examples/aot built for this GPU with no CMake (the
# generated C and main.cpp, the driver through dlopen), run, launches timed.
aot() {
  rm -rf "$out/aot" && mkdir -p "$out/aot" &&
    python3 "$here/examples/aot/kernels.py" "$out/aot/gen" sm_90a &&
    gcc -O2 -c "$out/aot/gen/kernels.c" -o "$out/aot/kernels.o" &&
    g++ -O2 -std=c++17 -DTESSERA_AOT_CUDA -I"$out/aot/gen" "$here/examples/aot/main.cpp" \
      "$out/aot/kernels.o" -ldl -lpthread -o "$out/aot/aot_example" &&
    "$out/aot/aot_example"
}
step aot 120 env out="$out" here="$here" bash -c "$(declare -f aot); aot"
for f in attention attention-sparse attention-grad mla-decode select gemm-configs aot; do
  [[ -f "$out/$f.txt" ]] || continue
  echo "--- $f"; grep -v "Warning\|row, counts\|warn_once" "$out/$f.txt" | tail -n 24
done
grep -h -A15 "^___\|^FAILED\|Error" "$out"/gpu-tests*.txt | head -60
