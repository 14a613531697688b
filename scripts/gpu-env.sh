# Sourced by the GPU machine's scripts (gpu-lane, gpu-checks, gpu-sanitize):
# `here` (the unpacked package), `out` (logs: $OUT or ./gpu-logs), the
# package's Python on PYTHONPATH and a fresh kernel cache.
here="$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)"
out="${OUT:-$here/gpu-logs}"
mkdir -p "$out"
export PYTHONPATH="$here/python"
export TESSERA_CACHE_DIR="${TESSERA_CACHE_DIR:-$(mktemp -d)}"
