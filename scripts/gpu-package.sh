#!/usr/bin/env bash
# Builds a relocatable package for the GPU machine (x86-64 Linux, Python 3.11
# or 3.12): build/gpu-package.tar.xz holding python/tessera (both extension
# copies), lib/libtessera.so (stripped), the examples and the GPU tests.
# scripts/gpu-lane.sh runs them there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
tessera_install_deps
py312="$TESSERA_BUILD_DIR/py312"
if [ ! -d "$py312/python3.12" ]; then
  mkdir -p "$py312"
  tar -xzf "$TESSERA_ROOT/../shared/device/py312-include.tgz" -C "$py312"
  tar -xzf "$TESSERA_ROOT/../shared/device/pybind11-include.tgz" -C "$py312"
fi
# The archive's pyconfig.h includes the multiarch one, which it lacks; the
# x86-64 Linux configuration of Debian's 3.11 has the same platform facts.
multiarch="$py312/x86_64-linux-gnu/python3.12"
if [ ! -f "$multiarch/pyconfig.h" ]; then
  mkdir -p "$multiarch"
  cp /usr/include/x86_64-linux-gnu/python3.11/pyconfig.h "$multiarch/pyconfig.h"
fi
tessera_build
cmake -S "$TESSERA_ROOT" -B "$TESSERA_BUILD_DIR" -DTESSERA_PY312_ROOT="$py312" > /dev/null
ninja -C "$TESSERA_BUILD_DIR"
stage="$TESSERA_BUILD_DIR/gpu-package"
rm -rf "$stage" && mkdir -p "$stage/lib"
cp -r "$TESSERA_BUILD_DIR/python" "$stage/python"
find "$stage/python" -name __pycache__ -prune -exec rm -rf {} +
strip -o "$stage/lib/libtessera.so" "$TESSERA_BUILD_DIR/lib/libtessera.so"
strip "$stage"/python/tessera/_C*.so
cp -r "$TESSERA_ROOT/examples" "$TESSERA_ROOT/scripts" "$stage/"
mkdir -p "$stage/test" && cp -r "$TESSERA_ROOT/test/python" "$stage/test/python"
cp -r "$TESSERA_ROOT/benchmarks" "$stage/" 2>/dev/null || true
tar -C "$stage" -cJf "$TESSERA_BUILD_DIR/gpu-package.tar.xz" .
ls -la "$TESSERA_BUILD_DIR/gpu-package.tar.xz"
