#!/usr/bin/env bash
# The GPU lane under compute-sanitizer (issue 11): a negative control (a
# kernel that writes out of bounds must be reported by memcheck), then the
# whole of test/python/test_gpu.py under each tool named (memcheck and
# racecheck by default; one kernel cache shared by the runs), less the test
# that loads an invalid image on purpose (memcheck counts its API error). Run from an
# unpacked gpu-package on the GPU machine:
#   OUT=$OUT ./scripts/gpu-sanitize.sh [memcheck] [racecheck]
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
sanitizer="${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}"
tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(memcheck racecheck)
"$sanitizer" --tool memcheck --error-exitcode 99 python3 "$here/scripts/sanitize_control.py" \
  > "$out/sanitize-control.txt" 2>&1
rc=$?
if [ $rc -eq 99 ] && grep -q "Invalid __global__ write" "$out/sanitize-control.txt"; then
  echo "== control: memcheck reports the out-of-bounds store (rc=$rc)"
else
  echo "== control: NOT REPORTED (rc=$rc): the sanitizer does not see tessera's launches"
  tail -n 20 "$out/sanitize-control.txt"
fi
for tool in "${tools[@]}"; do
  start=$(date +%s)
  timeout 290 "$sanitizer" --tool "$tool" --error-exitcode 99 --target-processes all \
    python3 -m pytest -q "$here/test/python/test_gpu.py" \
    -k "not test_driver_errors_are_cuda_errors" > "$out/sanitize-$tool.txt" 2>&1
  echo "== $tool: rc=$? in $(( $(date +%s) - start )) s"
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed|failed" "$out/sanitize-$tool.txt" | tail -3
done
