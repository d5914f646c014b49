#!/usr/bin/env bash
# The serving image of `mlx image build` against what `mlflow models build-docker` would
# build, for the same 500-tree XGBoost model (depth 6, 30 features) as bench/serve:
#
# - mlx: the image is built here (a release build with the XGBoost backend), its
#   compressed layer and unpacked size measured; its cold start, from `podman run` to
#   the first answered /v1/predict, is the median of RUNS starts under podman
#   (tests/services/podman.sh), and so is the bare process's (`mlx serve --bundle`).
# - MLflow: `build-docker` needs a Docker daemon and pulls a base image, neither of
#   which this machine has, so the image cannot be built here. What is measured is what
#   it would hold on top of its base: `mlflow models generate-dockerfile` writes the
#   Dockerfile `build-docker` builds (its base image and install steps are printed), and
#   the model's Python environment, installed from the model's own requirements.txt into
#   a fresh venv, is measured with du. The base image is not counted (a lower bound).
#   Its cold start is `mlflow models serve --env-manager local` from spawn to the first
#   answered /invocations, with no container around it (also a lower bound).
#
#   bash bench/image/run.sh
#   RUNS=9 MLX_BENCH_NO_BUILD=1 bash bench/image/run.sh
#   PROFILE=release bash bench/image/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
source bench/lib.sh
MLX_BENCH_NO_BUILD=1 bench_setup bench-serve-venv bench/serve/requirements.txt
# The binary an image should hold: the `image` profile (release, fat LTO); PROFILE=release
# measures the plain release build.
profile="${PROFILE:-image}"
if [[ -z "${MLX_BENCH_NO_BUILD:-}" ]]; then
  XGBOOST_LIB_DIR="$(bash scripts/xgboost.sh)" cargo build --profile "$profile" -q -p mlx \
    --features mlx/xgboost
fi
# shellcheck source=tests/services/podman.sh
source tests/services/podman.sh
trap stop_podman EXIT
mlx="$target/$profile/mlx"
work="$cache/bench-image"
runs="${RUNS:-5}"
rm -rf "$work" && mkdir -p "$work" && cd "$work"

# shellcheck source=bench/serve/model.sh
source "$repo/bench/serve/model.sh"
served_model

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Seconds from now until `url` answers a POST of `body` with 200.
until_answered() {
  local url="$1" body="$2" start
  start="$(date +%s.%N)"
  for _ in $(seq 1 3000); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      --data @"$body" "$url")" == 200 ]]; then
      since "$start"
      return 0
    fi
    sleep 0.01
  done
  echo "no answer from $url" >&2
  return 1
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'; }
# Resident memory of a process and its descendants, MiB.
tree_rss() {
  local pids="$1" all="$1"
  while pids="$(pgrep -d ' ' -P "${pids// /,}" 2> /dev/null)" && [[ -n "$pids" ]]; do
    all="$all $pids"
  done
  for p in $all; do awk '/VmRSS/ { print $2 }' "/proc/$p/status" 2> /dev/null; done |
    awk '{ s += $1 } END { printf "%.0f", s / 1024 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# --- mlx: the image
SOURCE_DATE_EPOCH=0 "$mlx" image build -q --binary "$mlx" --tag localhost/bench/mlx:v1 \
  --output img > digest.txt
layer_mb="$(python3 -c '
import json, sys
m = json.load(open("img/oci/index.json"))["manifests"][0]["digest"].split(":")[1]
man = json.load(open(f"img/oci/blobs/sha256/{m}"))
print(round(sum(l["size"] for l in man["layers"]) / 1e6, 1))')"
mkdir unpacked && tar -xzf "img/oci/blobs/sha256/$(python3 -c '
import json
m = json.load(open("img/oci/index.json"))["manifests"][0]["digest"].split(":")[1]
print(json.load(open(f"img/oci/blobs/sha256/{m}"))["layers"][0]["digest"].split(":")[1])')" -C unpacked
unpacked_mb="$(du -sb unpacked | awk '{ printf "%.1f", $1 / 1e6 }')"
binary_mb="$(stat -c %s "$mlx" | awk '{ printf "%.1f", $1 / 1e6 }')"
"$MLX_TEST_PODMAN" load -q -i img/image.tar > /dev/null

mlx_container=()
for _ in $(seq "$runs"); do
  p="$(port)"
  start="$(date +%s.%N)"
  id="$("$MLX_TEST_PODMAN" run -d --read-only -p "127.0.0.1:$p:8080" localhost/bench/mlx:v1)"
  until_answered "http://127.0.0.1:$p/v1/predict" row.json > /dev/null
  mlx_container+=("$(since "$start")")
  "$MLX_TEST_PODMAN" rm -f "$id" > /dev/null
done
bundle="$(ls .mlx/registry-cache/*.tar | head -1)"
mlx_process=()
for _ in $(seq "$runs"); do
  p="$(port)"
  start="$(date +%s.%N)"
  "$mlx" serve -q --port "$p" --bundle "$bundle" & pid=$!
  until_answered "http://127.0.0.1:$p/v1/predict" row.json > /dev/null
  mlx_process+=("$(since "$start")")
  mlx_rss="$(tree_rss "$pid")"
  kill "$pid"; wait "$pid" 2> /dev/null || true
done

# --- MLflow: the Dockerfile build-docker would build, and the environment it installs
"$venv/bin/mlflow" models generate-dockerfile -m mlflow-model --output-directory dockerfile \
  > /dev/null 2>&1
base="$(awk '/^FROM/ { print $2; exit }' dockerfile/Dockerfile)"
python3 -m venv mlflow-env
requirements="mlflow-model/requirements.txt"
mlflow-env/bin/pip install -q --disable-pip-version-check -r "$requirements"
env_mb="$(du -sb mlflow-env | awk '{ printf "%.1f", $1 / 1e6 }')"
mlflow_process=()
for _ in $(seq "$runs"); do
  p="$(port)"
  start="$(date +%s.%N)"
  PATH="$venv/bin:$PATH" MLFLOW_TRACKING_URI="file://$work/mlruns" \
    "$venv/bin/mlflow" models serve -m mlflow-model --env-manager local -p "$p" > mlflow.log 2>&1 & pid=$!
  until_answered "http://127.0.0.1:$p/invocations" row-mlflow.json > /dev/null
  mlflow_process+=("$(since "$start")")
  mlflow_rss="$(tree_rss "$pid")"
  kill "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true
  pkill -f "port $p " 2> /dev/null || true
done

c="$(printf '%s\n' "${mlx_container[@]}" | median)"
b="$(printf '%s\n' "${mlx_process[@]}" | median)"
m="$(printf '%s\n' "${mlflow_process[@]}" | median)"
echo
echo "serving image, one 500-tree XGBoost model, mlx built with --profile $profile (median of $runs starts):"
printf '| | mlx image build | mlflow models build-docker |\n|---|---|---|\n'
printf '| image | %s MB compressed, %s MB unpacked (binary %s MB) | base %s (not counted) + %s MB Python environment |\n' \
  "$layer_mb" "$unpacked_mb" "$binary_mb" "$base" "$env_mb"
printf '| cold start to the first answer | %.3f s in podman (%.3f s bare process) | %.3f s bare process, no container |\n' "$c" "$b" "$m"
printf '| resident memory after the first answer | %s MiB | %s MiB (all its processes) |\n' "$mlx_rss" "$mlflow_rss"
awk -v e="$env_mb" -v u="$unpacked_mb" -v m="$m" -v c="$c" 'BEGIN {
  printf "ratio: MLflow environment alone %.1fx the whole mlx image; MLflow start %.1fx the mlx container start\n", e / u, m / c }'
echo "goals: image under 60 MB (compressed: $layer_mb MB, unpacked: $unpacked_mb MB); cold start under 1 s (podman: $c s)"
cd "$repo"
