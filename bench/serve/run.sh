#!/usr/bin/env bash
# mlx-serve against `mlflow models serve`, a plain FastAPI app (uvicorn) and Seldon's
# MLServer with its XGBoost runtime, all serving the same 500-tree XGBoost model (depth
# 6, 30 features) on loopback, measured with wrk in one run: single-row p50/p99 latency
# at concurrency 1, throughput at concurrency 32, errors, and mlx-serve's resident
# memory over a long run at concurrency 32. MLServer and mlx-serve are also driven over
# the Open Inference Protocol (V2) with the same request body.
#
#   bash bench/serve/run.sh
#   DURATION=10 SOAK=60 bash bench/serve/run.sh
#
# Every server gets all cores: mlx-serve's runtime has one thread per core; MLflow and
# uvicorn run one worker per core, each with one XGBoost thread (OMP_NUM_THREADS=1:
# with more, the workers' OpenMP threads fight over the cores and single-row latency
# grows tenfold). MLServer runs one parallel worker per core (`parallel_workers`).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
MLX_BENCH_NO_BUILD=1 bench_setup bench-serve-mlserver-venv bench/serve/requirements-mlserver.txt
mlserver_venv="$venv"
MLX_BENCH_NO_BUILD=1 bench_setup bench-serve-venv bench/serve/requirements.txt
if [[ -z "${MLX_BENCH_NO_BUILD:-}" ]]; then
  XGBOOST_LIB_DIR="$(bash scripts/xgboost.sh)" cargo build --release -q -p mlx --features mlx/xgboost
fi
command -v wrk > /dev/null || { apt-get update -q && apt-get install -y -q wrk; }
mlx="$target/release/mlx"
work="$cache/bench-serve"
duration="${DURATION:-20}"
soak="${SOAK:-300}"
cores="$(nproc)"
rm -rf "$work" && mkdir -p "$work" && cd "$work"

# shellcheck source=bench/serve/model.sh
source "$OLDPWD/bench/serve/model.sh"
served_model
features="$(seq -s, -f 'f%g' 0 29)"

wait_up() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' --data @"$2" "$1" && return 0
    sleep 0.2
  done
  echo "server at $1 did not come up" >&2
  return 1
}
# wrk's summary as "p50_ms p99_ms requests_per_s errors".
measure() {
  local url="$1" body="$2" conns="$3" secs="$4"
  BODY="$body" wrk -t"$(( conns < cores ? conns : cores ))" -c"$conns" -d"${secs}s" --latency \
    -s "$OLDPWD/bench/serve/post.lua" "$url" > wrk.out
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50.000%" || ($1 == "50%") { p50 = ms($2) }
    $1 == "99.000%" || ($1 == "99%") { p99 = ms($2) }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { err += $NF }
    /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
    END { printf "%.3f %.3f %.0f %d\n", p50, p99, rps, err }' wrk.out
}
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

results=()
run_peer() {
  local name="$1" url="$2" body="$3"
  wait_up "$url" "$body"
  measure "$url" "$body" 1 3 > /dev/null   # warm-up
  local one all
  one="$(measure "$url" "$body" 1 "$duration")"
  all="$(measure "$url" "$body" 32 "$duration")"
  results+=("$name $one $all")
}

"$mlx" serve --port 18301 -q 2> serve.log &
mlx_pid=$!
run_peer mlx-serve "http://127.0.0.1:18301/v1/predict" row.json
run_peer mlx-serve-v2 "http://127.0.0.1:18301/v2/models/bench/infer" row-v2.json

OMP_NUM_THREADS=1 PATH="$venv/bin:$PATH" MLFLOW_TRACKING_URI="file://$work/mlruns" "$venv/bin/mlflow" models serve -m mlflow-model \
  --env-manager local -p 18302 -w "$cores" > mlflow.log 2>&1 &
mlflow_pid=$!
run_peer "mlflow-serve" "http://127.0.0.1:18302/invocations" row-mlflow.json
kill "$mlflow_pid"; pkill -f "mlflow-model" || true

OMP_NUM_THREADS=1 MODEL="$model" FEATURES="$features" "$venv/bin/uvicorn" --app-dir "$OLDPWD/bench/serve" \
  fastapi_app:app --port 18303 --workers "$cores" --log-level warning > fastapi.log 2>&1 &
fastapi_pid=$!
run_peer fastapi "http://127.0.0.1:18303/predict" row.json
kill "$fastapi_pid"

# Seldon MLServer's XGBoost runtime over the Open Inference Protocol: the same booster
# file, the same V2 body.
mkdir -p mlserver/bench
cp "$model" mlserver/bench/model.json
printf '{"name": "bench", "implementation": "mlserver_xgboost.XGBoostModel", "parameters": {"uri": "./model.json"}}\n' \
  > mlserver/bench/model-settings.json
printf '{"http_port": 18304, "grpc_port": 18305, "metrics_port": 18306, "parallel_workers": %s}\n' "$cores" \
  > mlserver/settings.json
OMP_NUM_THREADS=1 PATH="$mlserver_venv/bin:$PATH" "$mlserver_venv/bin/mlserver" start mlserver > mlserver.log 2>&1 &
mlserver_pid=$!
run_peer mlserver-v2 "http://127.0.0.1:18304/v2/models/bench/infer" row-v2.json
# MLServer waits for its worker pool on SIGTERM; give it 10 s.
kill "$mlserver_pid"
for _ in $(seq 1 100); do kill -0 "$mlserver_pid" 2> /dev/null || break; sleep 0.1; done
pkill -9 -f "mlserver start" || true

# mlx-serve under sustained load: RSS every 10 s.
BODY=row.json wrk -t"$cores" -c32 -d"${soak}s" -s "$OLDPWD/bench/serve/post.lua" \
  http://127.0.0.1:18301/v1/predict > soak.out &
wrk_pid=$!
samples=()
while kill -0 "$wrk_pid" 2> /dev/null; do
  samples+=("$(rss_mib "$mlx_pid")")
  sleep 10
done
soak_errors="$(awk '/Non-2xx/ { e += $NF } /Socket errors/ { gsub(",", ""); e += $4 + $6 + $8 + $10 } END { print e + 0 }' soak.out)"
kill "$mlx_pid"; wait "$mlx_pid" || true

printf '\n%-13s %10s %10s %12s %7s %12s %12s %7s\n' server "c1 p50 ms" "c1 p99 ms" "c1 req/s" errors "c32 p99 ms" "c32 req/s" errors
for r in "${results[@]}"; do
  read -r name p50 p99 rps1 e1 _ p99b rps32 e32 <<< "$r"
  printf '%-13s %10s %10s %12s %7s %12s %12s %7s\n' "$name" "$p50" "$p99" "$rps1" "$e1" "$p99b" "$rps32" "$e32"
done
read -r _ _ _ _ _ _ _ mlx32 _ <<< "${results[0]}"
read -r _ _ _ _ _ _ _ mlx32v2 _ <<< "${results[1]}"
for r in "${results[@]:2}"; do
  read -r name _ _ _ _ _ _ rps32 _ <<< "$r"
  # Each peer against mlx-serve on its own protocol.
  case "$name" in *-v2) a="$mlx32v2"; own=mlx-serve-v2 ;; *) a="$mlx32"; own=mlx-serve ;; esac
  awk -v a="$a" -v b="$rps32" -v n="$name" -v o="$own" 'BEGIN { printf "%s throughput at c32: %.1fx %s\n", o, a / b, n }'
done
echo "mlx-serve RSS over ${soak}s at c32 (MiB, every 10 s): ${samples[*]}; errors: $soak_errors"
