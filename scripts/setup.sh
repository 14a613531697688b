#!/usr/bin/env bash
# Installs what is missing (apt), configures, builds, and runs an example.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tessera_install_deps
tessera_build

tessera_log "Example: examples/ir/vector_add.mlir through tile-combine and canonicalize"
"$TESSERA_BUILD_DIR/bin/tessera-opt" "$TESSERA_ROOT/examples/ir/vector_add.mlir" \
  --tile-combine --canonicalize

tessera_log "Example: the same kernel from Python"
PYTHONPATH="$TESSERA_BUILD_DIR/python" "$TESSERA_PYTHON" "$TESSERA_ROOT/examples/ir/verify_from_python.py"
