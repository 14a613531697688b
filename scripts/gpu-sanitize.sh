#!/usr/bin/env bash
# The GPU lane under compute-sanitizer (issue 11): a negative control (a
# kernel that writes out of bounds must be reported by memcheck), then the
# whole of test/python/test_gpu.py under each tool named (memcheck,
# synccheck and racecheck by default; one kernel cache shared by the runs),
# less the test that loads an invalid image on purpose (memcheck counts its
# API error). Run from an unpacked gpu-package on the GPU machine:
#   OUT=$OUT ./scripts/gpu-sanitize.sh [memcheck] [synccheck] [racecheck]
#
# racecheck cannot follow the ping-pong schedule's named barriers: it
# reports hazards across a `bar.sync 0` that follows them, in a kernel
# that has no race (scripts/sanitize_named_barriers.py shows it on two
# small PTX kernels, right answers both). So the racecheck lane runs with
# TESSERA_PINGPONG=0, after the probe; synccheck and memcheck run the
# default schedule.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
sanitizer="${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}"
tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(memcheck synccheck racecheck)
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
  pingpong=1
  if [ "$tool" = racecheck ]; then
    pingpong=0
    "$sanitizer" --tool racecheck python3 "$here/scripts/sanitize_named_barriers.py" \
      > "$out/sanitize-probe.txt" 2>&1
    n() { grep -c "Race reported.*probe_$1" "$out/sanitize-probe.txt"; }
    echo "== racecheck probe (rc=$?): reports on probe_racy (the control, must be > 0): $(n racy)," \
      "probe_plain: $(n plain), probe_pingpong: $(n pingpong); $(grep -c ': ok$' "$out/sanitize-probe.txt") of 2 right"
  fi
  start=$(date +%s)
  TESSERA_PINGPONG=$pingpong timeout 290 "$sanitizer" --tool "$tool" --error-exitcode 99 \
    --target-processes all python3 -m pytest -q "$here/test/python/test_gpu.py" \
    -k "not test_driver_errors_are_cuda_errors" > "$out/sanitize-$tool.txt" 2>&1
  echo "== $tool (TESSERA_PINGPONG=$pingpong): rc=$? in $(( $(date +%s) - start )) s"
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed|failed" "$out/sanitize-$tool.txt" | tail -3
done
