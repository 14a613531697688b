#!/usr/bin/env bash
# The GPU lane under compute-sanitizer (issue 11): memcheck, then
# racecheck, on a sample of the GPU tests (every kernel family: elementwise,
# reductions, GEMMs on mma.sync and wgmma, TMA, attention forward and
# backward, MLA, the fuzz programs). Run from an unpacked gpu-package on the GPU machine:
#   OUT=$OUT ./scripts/gpu-sanitize.sh
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
sanitizer="${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}"
sample="vector_add or fused_softmax or layer_norm or test_matmul or descriptor or dense_attention or sparse_attention or mla_decode or fuzz_kernels_on_gpu"
for tool in memcheck racecheck; do
  start=$(date +%s)
  timeout 280 "$sanitizer" --tool "$tool" --error-exitcode 99 --target-processes all \
    python3 -m pytest -q -x "$here/test/python/test_gpu.py" -k "$sample" > "$out/sanitize-$tool.txt" 2>&1
  echo "== $tool: rc=$? in $(( $(date +%s) - start )) s"
  grep -E "ERROR SUMMARY|passed|failed" "$out/sanitize-$tool.txt" | tail -3
done
