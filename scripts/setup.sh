#!/usr/bin/env bash
# Installs what is missing (apt), configures, builds, and runs an example.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tessera_install_deps
tessera_build

tessera_log "Example: the kernels of examples/, run on the CPU backend (TESSERA_BACKEND=cpu)"
for example in "$TESSERA_ROOT"/examples/[0-9]*.py; do
  TESSERA_BACKEND=cpu PYTHONPATH="$TESSERA_BUILD_DIR/python" "$TESSERA_PYTHON" "$example"
done

tessera_log "Example: tile IR through tessera-opt"
"$TESSERA_BUILD_DIR/bin/tessera-opt" "$TESSERA_ROOT/examples/ir/vector_add.mlir" \
  --tile-combine --canonicalize --cse
