#!/usr/bin/env bash
# Prepares what `--features lightgbm` builds with, on a fresh machine or a GitHub runner,
# and prints the cmake to export as CMAKE:
#   export CMAKE="$(bash scripts/lightgbm.sh)"
#   cargo build --release --features mlx/lightgbm
# The `lightgbm3` crate compiles LightGBM's own C++ sources (4.7.0, vendored in the
# crate) with cmake >= 3.28 and generates its bindings with libclang. Installs Debian's
# libclang-dev when missing (with sudo when not root), and cmake from PyPI into a cache
# directory when the system's is older (Debian 12 has 3.25).
set -euo pipefail
# shellcheck source=scripts/libclang.sh
source "$(dirname "$0")/libclang.sh"
ensure_libclang
recent() { "$1" --version 2>/dev/null | head -n 1 | awk '{ split($3, v, "."); exit !(v[1] > 3 || (v[1] == 3 && v[2] >= 28)) }'; }
if command -v cmake > /dev/null && recent cmake; then
  command -v cmake
  exit 0
fi
venv="${XDG_CACHE_HOME:-$HOME/.cache}/mlx/cmake-venv"
if ! recent "$venv/bin/cmake"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "cmake>=3.28,<4" >&2
fi
echo "$venv/bin/cmake"
