#!/usr/bin/env bash
# Builds mlx with its core model backends, XGBoost and LightGBM (their libraries come
# from the package registries through scripts/xgboost.sh and scripts/lightgbm.sh), and
# runs it with the arguments given, from any directory:
#   bash scripts/mlx.sh --config config/examples/classification.yaml run
#   cd config/examples && bash ../../scripts/mlx.sh --config ad-sales.yaml run
# The build lands in the workspace's target directory (or $CARGO_TARGET_DIR), as
# `cargo run` would put it; the first run compiles, later ones start at once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/backends.sh
source "$root/scripts/backends.sh"
exec cargo run --manifest-path "$root/Cargo.toml" -p mlx --features xgboost,lightgbm -- "$@"
