#!/usr/bin/env bash
# Builds tools/tessera-fuzz as a libFuzzer binary (clang++ -fsanitize=fuzzer,
# linked against the build's libtessera.so) and runs it on a copy of the
# corpus for the given number of seconds (default 60). Needs clang (Debian
# 12: the clang package); the instrumentation covers the fuzz target only,
# so libFuzzer mutates bytes with little guidance from the compiler.
#   ./scripts/fuzz-libfuzzer.sh [SECONDS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
seconds="${1:-60}"
out="$TESSERA_BUILD_DIR/libfuzzer"
mkdir -p "$out/corpus"
cp "$TESSERA_ROOT"/test/fuzz/corpus/*.mlir "$out/corpus/"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer -DTESSERA_LIBFUZZER -I"$TESSERA_ROOT/include" \
  "$TESSERA_ROOT/tools/tessera-fuzz/tessera-fuzz.cpp" -L"$TESSERA_BUILD_DIR/lib" -ltessera \
  -Wl,-rpath,"$TESSERA_BUILD_DIR/lib" -o "$out/tessera-libfuzzer"
cd "$out"
./tessera-libfuzzer -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 corpus
