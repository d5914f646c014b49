#!/usr/bin/env bash
# Prepares what `--features xgboost` builds against, on a fresh machine or a GitHub
# runner, and prints the directory to export as XGBOOST_LIB_DIR:
#   export XGBOOST_LIB_DIR="$(bash scripts/xgboost.sh)"
#   cargo build --release --features mlx/xgboost
# - libclang (Debian's libclang-dev), which the bindings' build script needs;
# - libxgboost.so from the PyPI `xgboost-cpu` wheel, into a cache directory (pip
#   fetches it; nothing else is downloaded). The binaries find it through an rpath set
#   at link time (build/rpath.rs). Version 3.2.0 by default: the newest Python 3.11
#   installs, so the Python oracle (tests/oracles/boosters.py) runs the same C library
#   and predictions agree to 1e-6. The `xgb` 3.4 bindings work against it.
set -euo pipefail
version="${MLX_XGBOOST_VERSION:-3.2.0}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mlx/xgboost-$version"
# shellcheck source=scripts/libclang.sh
source "$(dirname "$0")/libclang.sh"
ensure_libclang
lib="$cache/site/xgboost/lib"
if [[ ! -f "$lib/libxgboost.so" ]]; then
  mkdir -p "$cache"
  # The wheel holds a plain shared library; its Python tag does not matter here.
  python3 -m pip download --no-deps -q -d "$cache/wheel" --only-binary=:all: \
    --python-version 3.12 --platform manylinux_2_28_x86_64 "xgboost-cpu==$version" >&2
  # Keep the wheel's layout: libxgboost.so finds its bundled OpenMP runtime through
  # its own rpath, $ORIGIN/../../xgboost_cpu.libs.
  python3 - "$cache" <<'PY'
import pathlib, sys, zipfile
cache = pathlib.Path(sys.argv[1])
wheel = next((cache / "wheel").glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(".so") or ".so." in name:
            z.extract(name, cache / "site")
PY
fi
# Binaries record the library's SONAME (libxgboost.so.<major>); give it that name too.
soname="$(readelf -d "$lib/libxgboost.so" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')"
if [[ -n "$soname" && ! -e "$lib/$soname" ]]; then
  ln -s libxgboost.so "$lib/$soname"
fi
echo "$lib"
