#!/usr/bin/env bash
# TreeSHAP on an XGBoost model of 500 trees of depth 6, 100,000 rows x 30 features:
# `mlx-shap explain` against Python's `shap.TreeExplainer` (single-threaded, as the
# target says), on the same model file and rows, in one run. mlx runs once on one
# thread and once on every core. Prints seconds, the ratios, peak RSS, and checks that
# both computed the same values.
#
#   bash bench/shap/run.sh
#   ROWS=10000 TREES=100 bash bench/shap/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
MLX_BENCH_NO_BUILD=1 bench_setup bench-shap-venv bench/shap/requirements.txt
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
import sys, time, json
import numpy as np, polars as pl, xgboost as xgb, shap
data, model, out = sys.argv[1], sys.argv[2], sys.argv[3]
X = pl.read_parquet(data).select([f"f{j}" for j in range(30)]).to_numpy()
booster = xgb.Booster(model_file=model)
booster.set_param({"nthread": 1})
start = time.perf_counter()
values = shap.TreeExplainer(booster).shap_values(X)
seconds = time.perf_counter() - start
np.save(out, values)
json.dump({"seconds": seconds}, open(out + ".json", "w"))
PY
read -r t_py m_py < <(OMP_NUM_THREADS=1 time_of "$venv/bin/python" "$work/peer.py" "$data" "$bundle/model.xgb.json" "$work/peer.npy")
read -r t_one m_one < <(RAYON_NUM_THREADS=1 time_of "$mlx" shap explain --bundle "$bundle" --data "$data" --max-rows "$rows" --out "$work/mlx-one")
read -r t_all m_all < <(time_of "$mlx" shap explain --bundle "$bundle" --data "$data" --max-rows "$rows" --out "$work/mlx-all")
"$venv/bin/python" - "$work" <<'PY'
import sys, json, numpy as np, polars as pl
w = sys.argv[1]
py = np.load(f"{w}/peer.npy")
v = pl.read_parquet(f"{w}/mlx-all/shap_values.parquet").sort("row")
mlx = v.select([f"f{j}" for j in range(30)]).to_numpy()
d = np.abs(mlx - py).max()
assert d < 1e-4, d
print(f"  the same values (largest difference {d:.1e}); shap.TreeExplainer alone: "
      f"{json.load(open(f'{w}/peer.npy.json'))['seconds']:.2f} s")
PY
cores="$(nproc)"
echo "TreeSHAP, XGBoost $trees trees depth 6, $(printf "%'d" "$rows") rows x 30 features (whole processes: read, explain, write):"
printf "  shap.TreeExplainer (1 thread)  %7.2f s  %6s MiB\n" "$t_py" "$m_py"
printf "  mlx-shap explain (1 thread)    %7.2f s  %6s MiB\n" "$t_one" "$m_one"
printf "  mlx-shap explain (%s threads)   %7.2f s  %6s MiB\n" "$cores" "$t_all" "$m_all"
python3 -c "print(f'  mlx on one thread takes {$t_one/$t_py:.2f}x shap\'s time; on $cores threads {$t_all/$t_py:.2f}x ({$t_one/$t_all:.2f}x faster than on one)')"
