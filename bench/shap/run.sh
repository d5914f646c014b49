#!/usr/bin/env bash
# TreeSHAP on an XGBoost model of 500 trees of depth 6, 100,000 rows x 30 features:
# `mlx-shap explain` against Python's `shap.TreeExplainer`, FastTreeSHAP v1 and v2
# (the maintained fork, `fasttreeshap-fixed`) and XGBoost's own `pred_contribs`, on the
# same model file and rows, in one run: each on one thread, and mlx, FastTreeSHAP v2 and
# XGBoost on every core. Prints seconds, the ratios, peak RSS, and checks that every
# peer computed the same values as mlx (to 1e-5 relative; XGBoost sums in single precision)
# and that mlx's are the same on one thread and on all.
#
#   bash bench/shap/run.sh
#   ROWS=20000 bash bench/shap/run.sh            # the issue's size
#   ROWS=10000 TREES=100 PEERS="shap v2" bash bench/shap/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
MLX_BENCH_NO_BUILD=1 bench_setup bench-shap-venv bench/shap/requirements.txt
# FastTreeSHAP's fork declares `xgboost` (the CUDA build) as a dependency; the venv has
# xgboost-cpu, the same library without CUDA, and the fork's other dependencies (shap's).
"$venv/bin/pip" install -q --no-deps fasttreeshap-fixed==0.1.5
if [[ -z "${MLX_BENCH_NO_BUILD:-}" ]]; then
  XGBOOST_LIB_DIR="$(bash scripts/xgboost.sh)" cargo build --release -q -p mlx --features mlx/xgboost
fi
mlx="$target/release/mlx"
work="${MLX_BENCH_DATA:-$cache/bench-shap}"
rows="${ROWS:-100000}"
trees="${TREES:-500}"
mkdir -p "$work"
data="$work/data-$rows.parquet"
if [[ ! -f "$data" ]]; then
  "$venv/bin/python" - "$data" "$rows" <<'PY'
import sys, numpy as np, polars as pl
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(4)
x = rng.normal(size=(n, 30))
y = (x[:, 0] - 2 * x[:, 1] + x[:, 2] * x[:, 3] + np.sin(3 * x[:, 4]) + rng.logistic(size=n) > 0).astype(np.int64)
pl.DataFrame({**{f"f{j}": x[:, j] for j in range(30)}, "label": y}).write_parquet(path)
PY
fi
# The model: trained by mlx-train (so it is a bundle), read by both.
proj="$work/project-$rows-$trees"
if [[ ! -d "$proj/.mlx/runs" ]]; then
  mkdir -p "$proj"
  cat > "$proj/mlx.yaml" <<YAML
data:
  sources: [{ name: d, uri: $data, format: parquet }]
  target: label
pipeline: { problem_type: classification }
split: { strategy: random, train: 0.9, validation: 0.05, test: 0.05 }
models:
  - { name: xgb, type: xgboost, params: { n_estimators: $trees, max_depth: 6, learning_rate: 0.1, tree_method: hist } }
YAML
  (cd "$proj" && "$mlx" -q run --to train > /dev/null)
fi
bundle="$(ls -d "$proj"/.mlx/runs/*/bundle | head -1)"
cat > "$work/peer.py" <<'PY'
"""One peer explains the rows: shap.TreeExplainer, FastTreeSHAP (v1 or v2) or
XGBoost's own pred_contribs, on a given number of threads; writes the values (without
the bias column) and the seconds of the explanation alone."""
import sys, time, json
import numpy as np, polars as pl, xgboost as xgb
data, model, out, peer, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
X = pl.read_parquet(data).select([f"f{j}" for j in range(30)]).to_numpy()
booster = xgb.Booster(model_file=model)
booster.set_param({"nthread": threads})
start = time.perf_counter()
if peer == "shap":
    import shap
    values = shap.TreeExplainer(booster).shap_values(X)
elif peer in ("v1", "v2"):
    import fasttreeshap_fixed as fasttreeshap
    values = fasttreeshap.TreeExplainer(booster, algorithm=peer, n_jobs=threads).shap_values(X)
else:
    values = booster.predict(xgb.DMatrix(X, nthread=threads), pred_contribs=True)[:, :-1]
seconds = time.perf_counter() - start
np.save(out, values)
json.dump({"seconds": seconds}, open(out + ".json", "w"))
PY
cores="$(nproc)"
read -r t_one m_one < <(RAYON_NUM_THREADS=1 time_of "$mlx" shap explain --bundle "$bundle" --data "$data" --max-rows "$rows" --out "$work/mlx-one")
read -r t_all m_all < <(time_of "$mlx" shap explain --bundle "$bundle" --data "$data" --max-rows "$rows" --out "$work/mlx-all")
echo "TreeSHAP, XGBoost $trees trees depth 6, $(printf "%'d" "$rows") rows x 30 features; whole processes (read, explain, write), and the explanation alone for the peers:"
printf "  %-34s %8s %9s %8s %9s %s\n" tool seconds "alone s" MiB "ratio" "largest difference from mlx, relative to max(1, |value|)"
printf "  %-34s %8.2f %9s %8s\n" "mlx-shap explain (1 thread)" "$t_one" "" "$m_one"
printf "  %-34s %8.2f %9s %8s\n" "mlx-shap explain ($cores threads)" "$t_all" "" "$m_all"
# peer | threads | label
peers=(
  "shap|1|shap.TreeExplainer (1 thread)"
  "v1|1|FastTreeSHAP v1 (1 thread)"
  "v2|1|FastTreeSHAP v2 (1 thread)"
  "xgb|1|XGBoost pred_contribs (1 thread)"
  "v2|$cores|FastTreeSHAP v2 ($cores threads)"
  "xgb|$cores|XGBoost pred_contribs ($cores threads)"
)
for spec in "${peers[@]}"; do
  IFS='|' read -r peer threads label <<< "$spec"
  [[ -z "${PEERS:-}" || " $PEERS " == *" $peer "* ]] || continue
  out="$work/peer-$peer-$threads.npy"
  read -r t_py m_py < <(OMP_NUM_THREADS="$threads" time_of "$venv/bin/python" "$work/peer.py" "$data" "$bundle/model.xgb.json" "$out" "$peer" "$threads")
  mlx_t="$t_one"; [[ "$threads" == 1 ]] || mlx_t="$t_all"
  "$venv/bin/python" - "$work" "$out" "$label" "$t_py" "$m_py" "$mlx_t" <<'PY'
import sys, json, numpy as np, polars as pl
w, out, label, t, mem, mlx_t = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], float(sys.argv[6])
v = pl.read_parquet(f"{w}/mlx-all/shap_values.parquet").sort("row")
mlx = v.select([f"f{j}" for j in range(30)]).to_numpy()
one = pl.read_parquet(f"{w}/mlx-one/shap_values.parquet").sort("row").select([f"f{j}" for j in range(30)]).to_numpy()
assert np.array_equal(mlx, one), "mlx's values differ between one thread and all"
peer = np.load(out)
d = (np.abs(mlx - peer) / np.maximum(np.abs(peer), 1)).max()
assert d < 1e-5, (label, d)
alone = json.load(open(out + ".json"))["seconds"]
print(f"  {label:<34} {t:8.2f} {alone:9.2f} {mem:>8} {alone / mlx_t:8.2f}x {d:.1e}")
PY
done
echo "ratio: the peer's explanation alone over mlx's whole process on the same threads (above 1: mlx is faster)."
