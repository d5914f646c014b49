#!/usr/bin/env bash
# Fit + predict per model family on a 1,000,000 x 30 synthetic dataset: `mlx train`
# (one candidate per run) against scikit-learn, and Python's xgboost / lightgbm for the
# boosters, with the same parameters, threads, training rows and validation rows (the
# split mlx-features wrote), in one run. Prints per family the wall time of each
# process (read the features, fit, predict the validation rows), the fit time each
# reports, the ratios, peak RSS and the validation score.
#
#   bash bench/train/run.sh
#   ROWS=100000 FAMILIES="logistic xgboost" bash bench/train/run.sh
#
# Families: linear ridge logistic random_forest xgboost lightgbm on ROWS rows, and
# knn svm on SMALL_ROWS rows (both are quadratic in the rows, in every library).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
MLX_BENCH_NO_BUILD=1 bench_setup bench-train-venv bench/train/requirements.txt
if [[ -z "${MLX_BENCH_NO_BUILD:-}" ]]; then
  XGBOOST_LIB_DIR="$(bash scripts/xgboost.sh)" CMAKE="$(bash scripts/lightgbm.sh)" \
    cargo build --release -q -p mlx --features mlx/xgboost,mlx/lightgbm
fi
mlx="$target/release/mlx"
work="${MLX_BENCH_DATA:-$cache/bench-train}"
rows="${ROWS:-1000000}"
small="${SMALL_ROWS:-10000}"
threads="$(nproc)"
families="${FAMILIES:-linear ridge logistic random_forest xgboost lightgbm knn svm}"
mkdir -p "$work"

# One dataset per size: 30 features (some correlated, some noise), a binary label and
# a numeric value, both from nonlinear functions of the features.
make_data() {
  local path="$1" n="$2"
  [[ -f "$path" ]] && return
  "$venv/bin/python" - "$path" "$n" <<'PY'
import sys, numpy as np, polars as pl
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(3)
x = rng.normal(size=(n, 30))
x[:, 10:20] += 0.5 * x[:, :10]
signal = x[:, 0] - 2 * x[:, 1] + x[:, 2] * x[:, 3] + np.sin(3 * x[:, 4]) + 0.5 * x[:, 5] ** 2
label = (signal + rng.logistic(size=n) > 0.5).astype(np.int64)
value = 10 * signal + rng.normal(scale=5, size=n)
cols = {f"f{j}": x[:, j] for j in range(30)}
pl.DataFrame({**cols, "label": label, "value": value}).write_parquet(path)
PY
}

# A workdir per (size, task) with mlx-features' outputs: the matrix and the split.
prepare() {
  local dir="$1" data="$2" target="$3" other="$4"
  mkdir -p "$dir"
  cat > "$dir/base.yaml" <<YAML
data:
  sources: [{ name: bench, uri: $data, format: parquet }]
  target: $target
features:
  exclude: [$other]
split: { strategy: random, train: 0.8, validation: 0.1, test: 0.1, seed: 7 }
training: { seed: 42 }
YAML
  if [[ ! -f "$dir/.mlx/features/split.parquet" ]]; then
    (cd "$dir" && "$mlx" -q --config base.yaml --workdir .mlx run --to features > /dev/null)
  fi
}

cat > "$work/peer.py" <<'PY'
"""Fits one family as a Python user would, on mlx-features' matrix and split; writes
fit seconds and the validation score as JSON."""
import json, sys, time
import numpy as np, polars as pl
workdir, family, task, threads, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
params = json.loads(sys.argv[6])
df = pl.read_parquet(f"{workdir}/features/features.parquet")
sets = pl.read_parquet(f"{workdir}/features/split.parquet")["set"].to_numpy()
target = "label" if task == "classification" else "value"
X = df.select([f"f{j}" for j in range(30)]).to_numpy()
y = df[target].to_numpy()
tr, va = sets == "train", sets == "validation"
Xt, yt, Xv, yv = X[tr], y[tr], X[va], y[va]
cls = task == "classification"
if family == "linear":
    from sklearn.linear_model import LinearRegression as M; m = M(**params)
elif family == "ridge":
    from sklearn.linear_model import Ridge as M; m = M(**params)
elif family == "logistic":
    from sklearn.linear_model import LogisticRegression as M; m = M(**params)
elif family == "random_forest":
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    m = (RandomForestClassifier if cls else RandomForestRegressor)(n_jobs=threads, random_state=0, **params)
elif family == "knn":
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    m = (KNeighborsClassifier if cls else KNeighborsRegressor)(n_jobs=threads, **params)
elif family == "svm":
    from sklearn.svm import SVC, SVR; m = (SVC if cls else SVR)(**params)
elif family == "xgboost":
    import xgboost as xgb
    m = (xgb.XGBClassifier if cls else xgb.XGBRegressor)(n_jobs=threads, **params)
elif family == "lightgbm":
    import lightgbm as lgb
    m = (lgb.LGBMClassifier if cls else lgb.LGBMRegressor)(n_jobs=threads, verbose=-1, **params)
start = time.perf_counter()
m.fit(Xt, yt)
fit = time.perf_counter() - start
pred = m.predict(Xv)
score = float(np.mean(pred == yv)) if cls else float(np.sqrt(np.mean((pred - yv) ** 2)))
json.dump({"fit_seconds": fit, "score": score}, open(out, "w"))
PY

# family | task | mlx params (YAML) | Python params (JSON) | rows
specs=(
  "linear|regression|{}|{}|$rows"
  "ridge|regression|{ alpha: 1.0 }|{\"alpha\": 1.0}|$rows"
  "logistic|classification|{ C: 1.0 }|{\"C\": 1.0, \"max_iter\": 1000}|$rows"
  "random_forest|classification|{ n_estimators: 50, max_depth: 12 }|{\"n_estimators\": 50, \"max_depth\": 12}|$rows"
  "xgboost|classification|{ n_estimators: 100, max_depth: 6, learning_rate: 0.3, tree_method: hist, nthread: $threads }|{\"n_estimators\": 100, \"max_depth\": 6, \"learning_rate\": 0.3, \"tree_method\": \"hist\"}|$rows"
  "lightgbm|classification|{ n_estimators: 100, num_leaves: 31, learning_rate: 0.1, num_threads: $threads }|{\"n_estimators\": 100, \"num_leaves\": 31, \"learning_rate\": 0.1}|$rows"
  "knn|classification|{ n_neighbors: 5 }|{\"n_neighbors\": 5}|$small"
  "svm|classification|{ kernel: rbf, C: 1.0 }|{\"kernel\": \"rbf\", \"C\": 1.0}|$small"
)

printf "%-14s %7s %9s %9s %7s %9s %9s %7s %9s %9s %9s %9s\n" family rows "mlx s" "peer s" ratio \
  "mlx fit" "peer fit" ratio "mlx MiB" "peer MiB" "mlx score" "peer score"
for spec in "${specs[@]}"; do
  IFS='|' read -r family task mparams pparams n <<< "$spec"
  [[ " $families " == *" $family "* ]] || continue
  data="$work/data-$n.parquet"
  make_data "$data" "$n"
  if [[ "$task" == classification ]]; then t=label o=value; else t=value o=label; fi
  dir="$work/$n-$task"
  prepare "$dir" "$data" "$t" "$o"
  cfg="$dir/$family.yaml"
  cat "$dir/base.yaml" > "$cfg"
  printf "pipeline: { problem_type: %s }\nmodels:\n  - { name: %s, type: %s, params: %s }\n" \
    "$task" "$family" "$family" "$mparams" >> "$cfg"
  read -r t_mlx m_mlx < <(cd "$dir" && time_of "$mlx" -q --config "$cfg" --workdir .mlx train)
  read -r fit_mlx s_mlx < <("$venv/bin/python" -c "
import json; r = json.load(open('$dir/.mlx/train.json'))['details']['runs'][0]
v = r['validation']; print(r['fit_seconds'], v.get('accuracy', v.get('rmse')))")
  read -r t_py m_py < <(time_of "$venv/bin/python" "$work/peer.py" "$dir/.mlx" "$family" "$task" \
    "$threads" "$work/peer.json" "$pparams")
  read -r fit_py s_py < <("$venv/bin/python" -c "
import json; r = json.load(open('$work/peer.json')); print(r['fit_seconds'], r['score'])")
  python3 -c "
print(f'%-14s %7d %9.2f %9.2f %6.2fx %9.2f %9.2f %6.2fx %9s %9s %9.4f %9.4f' % ('$family', $n,
  $t_mlx, $t_py, $t_mlx / $t_py, $fit_mlx, $fit_py, $fit_mlx / max($fit_py, 1e-9), '$m_mlx',
  '$m_py', $s_mlx, $s_py))"
done
echo "ratio: mlx's time / the peer's (below 1: mlx is faster); score: validation accuracy"
echo "(classification) or RMSE (regression); $threads threads for both."
