#!/usr/bin/env bash
# Sourced by scripts/mlx.sh, tests/run.sh and .ci/run: prepares the XGBoost and LightGBM
# backends (scripts/xgboost.sh, scripts/lightgbm.sh) and protoc (scripts/protoc.sh,
# for the Spark Connect client), and exports what cargo needs to build them, plus MLX_BACKEND_FEATURES, the cargo features that turn them on in every
# package of the workspace that has them.
# shellcheck source=scripts/protoc.sh
source "$(dirname "${BASH_SOURCE[0]}")/protoc.sh"
XGBOOST_LIB_DIR="$(bash "$(dirname "${BASH_SOURCE[0]}")/xgboost.sh")"
CMAKE="$(bash "$(dirname "${BASH_SOURCE[0]}")/lightgbm.sh")"
MLX_BACKEND_FEATURES="mlx/xgboost,mlx/lightgbm,mlx-train/xgboost,mlx-train/lightgbm,mlx-shap/xgboost,mlx-shap/lightgbm"
export XGBOOST_LIB_DIR CMAKE MLX_BACKEND_FEATURES
