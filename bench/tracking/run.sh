#!/usr/bin/env bash
# Listing, filtering and sorting 100,000 runs by a metric: `mlx runs list` on a local
# tracking store against `mlflow.search_runs` on MLflow's own SQLite store holding the
# same runs, in one run. Both warm (the files in the page cache; MLflow's first call,
# which opens the database, not counted). mlx is timed as the whole process a user
# runs (start, read every entry, filter, sort, print); MLflow as the call alone, best
# of five. Checks both return the same runs in the same order.
#
#   bash bench/tracking/run.sh
#   RUNS=10000 bash bench/tracking/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_setup bench-tracking-venv bench/tracking/requirements.txt
mlx="$target/release/mlx"
runs="${RUNS:-100000}"
work="${MLX_BENCH_DATA:-$cache/bench-tracking}/$runs"
if [[ ! -f "$work/mlflow.db" ]]; then
  rm -rf "$work" && mkdir -p "$work"
  "$venv/bin/python" bench/tracking/gen.py "$work" "$runs"
fi
printf 'project: { name: bench }\ntracking: { uri: mlx-store }\n' > "$work/mlx.yaml"
filter="metrics.test.wape < 0.1 and params.model = 'sarimax'"
limit=50
"$mlx" --config "$work/mlx.yaml" runs list --filter "$filter" --sort metrics.test.wape \
  --limit $limit --json > "$work/mlx.json"  # warm the page cache
best=""
for _ in 1 2 3 4 5; do
  read -r t m < <(time_of sh -c "\"$mlx\" --config \"$work/mlx.yaml\" runs list --filter \"$filter\" --sort metrics.test.wape --limit $limit --json > \"$work/mlx.json\"")
  if [[ -z "$best" ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; mem=$m; fi
done
"$venv/bin/python" -c 'import json,sys; print("\n".join(r["id"] for r in json.load(open(sys.argv[1]))))' "$work/mlx.json" > "$work/mlx.ids"
mlflow_filter="metrics.\`test.wape\` < 0.1 and params.model = 'sarimax'"
/usr/bin/time -f "%M" -o "$work/.peer-mem" "$venv/bin/python" bench/tracking/peer.py "$work" \
  "$mlflow_filter" "metrics.\`test.wape\` ASC" $limit 5 "$work/mlflow.ids" > "$work/.peer-time"
s_mlflow=$(cat "$work/.peer-time")
m_mlflow=$(awk '{ printf "%.0f", $1 / 1024 }' "$work/.peer-mem")
if ! cmp -s "$work/mlx.ids" "$work/mlflow.ids"; then
  echo "the two returned different runs: diff $work/mlx.ids $work/mlflow.ids" >&2
  exit 1
fi
echo "$(printf "%'d" "$runs") runs, filter \"$filter\", sorted by metrics.test.wape, first $limit (the same $limit in the same order):"
printf '  mlx runs list (whole process): %6.3f s  peak %5d MiB\n' "$best" "$mem"
printf '  mlflow.search_runs (the call):  %6.3f s  peak %5d MiB (the process)\n' "$s_mlflow" "$m_mlflow"
awk -v a="$s_mlflow" -v b="$best" 'BEGIN {
  if (a >= b) printf "  ratio: mlx %.1fx faster\n", a / b; else printf "  ratio: mlx %.1fx slower\n", b / a }'
