#!/usr/bin/env bash
# The GPU lane, on the GPU machine, from the package of scripts/gpu-package.sh
# unpacked at the top of this tree: GPU tests, then the benchmarks; full logs
# under $OUT (or ./gpu-logs), a short table last.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/device.txt" 2>&1
python3 -c "import tessera, tessera.backends as b; print('backend', b.active().name, b.active().target)" \
  > "$out/backend.txt" 2>&1
python3 -m pytest -q -rs "$here/test/python/test_gpu.py" > "$out/gpu-tests.txt" 2>&1
tests_rc=$?
# Older targets on this device: their PTX, JIT-compiled by the driver.
for arch in ${TESSERA_LANE_ARCHS:-sm_80 sm_89}; do
  TESSERA_CUDA_ARCH=$arch python3 -m pytest -q -rs "$here/test/python/test_gpu.py" \
    > "$out/gpu-tests-$arch.txt" 2>&1 || tests_rc=1
done
if [ -d "$here/benchmarks" ]; then
  python3 "$here/benchmarks/run.py" > "$out/benchmarks.txt" 2>&1
fi
echo "== device: $(cat "$out/device.txt")"
cat "$out/backend.txt"
echo "== GPU tests (rc=$tests_rc): $(tail -n 1 "$out/gpu-tests.txt")"
for f in "$out"/gpu-tests-*.txt; do
  [ -f "$f" ] && echo "== GPU tests, $(basename "$f" .txt | sed 's/gpu-tests-//') PTX via the driver JIT: $(tail -n 1 "$f")"
done
grep -h -B2 -A25 "^___\|Error\b" "$out"/gpu-tests*.txt | head -150
[ -f "$out/benchmarks.txt" ] && cat "$out/benchmarks.txt"
exit $tests_rc
