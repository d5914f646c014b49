#!/usr/bin/env bash
# Drift detection side by side: mlx-validate drift vs Evidently's DataDriftPreset on
# the same Parquet files, in one run. Prints seconds, the ratio and peak RSS of both.
#
#   bash bench/drift/run.sh                      # 2M rows x 50 numeric + 10 categorical
#   ROWS=20000000 NUMERIC=20 CATEGORICAL=0 MLX_ONLY=1 bash bench/drift/run.sh
#
# The Python peer is installed into a virtual environment in a cache directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_setup bench-venv bench/drift/requirements.txt mlx-validate
"$venv/bin/python" bench/drift/bench.py \
  --rows "${ROWS:-2000000}" --numeric "${NUMERIC:-50}" --categorical "${CATEGORICAL:-10}" \
  --data "${MLX_BENCH_DATA:-$cache/bench-data}" --mlx "$target/release/mlx-validate" \
  ${MLX_ONLY:+--mlx-only}
