#!/usr/bin/env bash
# Builds if needed, then runs the three test suites: lit (IR tests),
# GoogleTest (C++ units), pytest (Python package). Exits non-zero if any fails.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tessera_install_deps || exit 1
tessera_build || exit 1

failed=()

tessera_log "lit: test/lit"
/usr/lib/llvm-22/bin/lit -sv "$TESSERA_BUILD_DIR/test/lit" || failed+=(lit)

tessera_log "GoogleTest: tessera-unittests, tessera-runtime-tests (mock CUDA driver), tessera-hip-runtime-tests (mock HIP)"
"$TESSERA_BUILD_DIR/bin/tessera-unittests" --gtest_brief=1 || failed+=(gtest)
"$TESSERA_BUILD_DIR/bin/tessera-runtime-tests" --gtest_brief=1 || failed+=(runtime-gtest)
"$TESSERA_BUILD_DIR/bin/tessera-hip-runtime-tests" --gtest_brief=1 || failed+=(hip-runtime-gtest)

tessera_log "pytest: test/python"
(cd "$TESSERA_ROOT" && "$TESSERA_PYTHON" -m pytest -q test/python) || failed+=(pytest)

if [ ${#failed[@]} -ne 0 ]; then
  tessera_log "FAILED: ${failed[*]}"
  exit 1
fi
tessera_log "All test suites passed"
