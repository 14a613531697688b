#!/usr/bin/env bash
# The AMD GPU lane (issue 8), for a machine with an AMD GPU (gfx90a or
# gfx942), ROCm 6 and a ROCm build of torch, after the README's setup:
# the AMD-backend tests on the GPU, then the examples' kernels through the
# AOT library (examples/aot built for the GPU). Nothing here has run on AMD
# hardware yet.
#   ./scripts/amd-lane.sh [gfx942]
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
arch="${1:-${TESSERA_HIP_ARCH:-gfx942}}"
export TESSERA_BACKEND=hip TESSERA_HIP_ARCH="$arch" PYTHONPATH="$TESSERA_BUILD_DIR/python"
python3 -m pytest -q "$TESSERA_ROOT/test/python/test_hip_gpu.py" -rs
status=$?
build="$TESSERA_BUILD_DIR/amd-lane-aot"
cmake -S "$TESSERA_ROOT/examples/aot" -B "$build" -G Ninja \
  -DTessera_DIR="$TESSERA_BUILD_DIR/lib/cmake/Tessera" -DTESSERA_AOT_TARGET="$arch" > /dev/null &&
  cmake --build "$build" && "$build/aot_example" || status=1
exit $status
