#!/usr/bin/env bash
# Installs mlx into PREFIX/bin (default ~/.local/bin): one release binary with the
# XGBoost and LightGBM backends, and one link per stage, mlx-ingest ... mlx-serve. The
# binary is multi-call (busybox style): run through the link mlx-ingest, it is the
# mlx-ingest of bins/mlx-ingest, flag for flag; under its own name it is the umbrella.
# libxgboost is found through the binary's rpath, in the cache scripts/xgboost.sh
# fills ($XDG_CACHE_HOME/mlx), which must stay where it is.
#
#   bash scripts/install.sh                 # into ~/.local
#   bash scripts/install.sh /opt/mlx        # into /opt/mlx/bin
#   du -chL /opt/mlx/bin/mlx                # what it takes (docs/install.md)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:-$HOME/.local}"
# shellcheck source=scripts/backends.sh
source "$root/scripts/backends.sh"
cargo install --locked --path "$root/bins/mlx" --root "$prefix" --features xgboost,lightgbm
for stage in ingest version validate features train eval shap gate promote monitor serve; do
  ln -sfn mlx "$prefix/bin/mlx-$stage"
done
echo "installed $("$prefix/bin/mlx" --version) and its stage links into $prefix/bin" >&2
