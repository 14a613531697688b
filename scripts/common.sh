# Shared by scripts/setup.sh and scripts/test.sh: dependencies and the build.
# Source it; it defines functions and TESSERA_ROOT / TESSERA_BUILD_DIR.

TESSERA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESSERA_BUILD_DIR="${TESSERA_BUILD_DIR:-$TESSERA_ROOT/build}"
TESSERA_PYTHON="${TESSERA_PYTHON:-/usr/bin/python3}"
export TESSERA_BUILD_DIR

# ccache keys on paths relative to the checkout, so a fresh clone reuses the
# objects of an earlier one.
export CCACHE_BASEDIR="$TESSERA_ROOT"
export CCACHE_NOHASHDIR=1

# Debian 12 packages the project builds and tests with.
TESSERA_APT_PACKAGES=(
  cmake ninja-build ccache g++ git
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools lld-22
  libzstd-dev zlib1g-dev libgtest-dev rocm-device-libs
  python3-dev pybind11-dev python3-numpy python3-pytest python3-torch
)

tessera_log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Installs (with apt-get) whichever packages are missing; does nothing when
# all are present.
tessera_install_deps() {
  local missing=()
  local pkg
  for pkg in "${TESSERA_APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    tessera_log "All ${#TESSERA_APT_PACKAGES[@]} packages present"
    return 0
  fi
  tessera_log "Installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Configures (once) and builds everything with ninja.
tessera_build() {
  if [ ! -f "$TESSERA_BUILD_DIR/build.ninja" ]; then
    tessera_log "Configuring $TESSERA_BUILD_DIR"
    cmake -G Ninja -S "$TESSERA_ROOT" -B "$TESSERA_BUILD_DIR" \
      -DCMAKE_BUILD_TYPE=Release \
      -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
      -DPython_EXECUTABLE="$TESSERA_PYTHON"
  fi
  tessera_log "Building"
  ninja -C "$TESSERA_BUILD_DIR"
}
