#!/usr/bin/env bash
# Forecasting against statsmodels and pmdarima, on the same series in one run:
#   1. the airline model, SARIMAX(0,1,1)(0,1,1)12 on log(air passengers), fitted by
#      exact maximum likelihood, plus a 12-step forecast (median of REPEAT runs), against
#      statsmodels' SARIMAX with its defaults;
#   2. automatic order selection on a 1,000-point daily series with weekly seasonality,
#      against pmdarima's stepwise `auto_arima(m=7)` with its defaults.
# Prints seconds, the ratios, peak RSS, and what each side found.
#
#   bash bench/forecast/run.sh
#   REPEAT=5 bash bench/forecast/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
MLX_BENCH_NO_BUILD=1 bench_setup bench-forecast-venv bench/forecast/requirements.txt
cargo build --release -q -p mlx-stats --example forecast_bench
work="$cache/bench-forecast"
mkdir -p "$work"
"$venv/bin/python" bench/forecast/peer.py "$work" "${REPEAT:-20}" "$target/release/examples/forecast_bench"
