#!/usr/bin/env bash
# Evaluation metrics on 10 million predictions: `mlx-eval score` against scikit-learn
# (each reads the same Parquet file and computes accuracy, balanced accuracy,
# precision, recall, F1, ROC-AUC, average precision, log loss, Brier score and MCC for
# a binary classifier; MSE, RMSE, MAE, median AE, MAPE and R² for a regressor), in one
# run. Prints seconds, the ratio, peak RSS, and checks both found the same values.
#
#   bash bench/metrics/run.sh
#   ROWS=1000000 bash bench/metrics/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_setup bench-metrics-venv bench/metrics/requirements.txt
mlx="$target/release/mlx"
work="${MLX_BENCH_DATA:-$cache/bench-metrics}"
rows="${ROWS:-10000000}"
mkdir -p "$work"
data="$work/preds-$rows.parquet"
if [[ ! -f "$data" ]]; then
  "$venv/bin/python" - "$data" "$rows" <<'PY'
import sys, numpy as np, polars as pl
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(9)
y = rng.integers(0, 2, n)
p = np.clip(np.round(0.3 * y + rng.uniform(0, 0.7, n), 4), 0, 1)  # ties, as real scores have
v = rng.normal(50, 20, n)
pl.DataFrame({"y_true": y, "y_pred": (p >= 0.5).astype(np.int64), "p": p,
              "value": v, "estimate": v + rng.normal(0, 5, n)}).write_parquet(path)
PY
fi
cat > "$work/sklearn_metrics.py" <<'PY'
import sys, json, numpy as np, polars as pl
from sklearn import metrics as m
df = pl.read_parquet(sys.argv[1])
task = sys.argv[2]
if task == "classification":
    y, pred, p = df["y_true"].to_numpy(), df["y_pred"].to_numpy(), df["p"].to_numpy()
    out = {
        "accuracy": m.accuracy_score(y, pred), "balanced_accuracy": m.balanced_accuracy_score(y, pred),
        "precision": m.precision_score(y, pred), "recall": m.recall_score(y, pred), "f1_score": m.f1_score(y, pred),
        "roc_auc": m.roc_auc_score(y, p), "average_precision": m.average_precision_score(y, p),
        "log_loss": m.log_loss(y, p), "brier": m.brier_score_loss(y, p), "mcc": m.matthews_corrcoef(y, pred),
    }
else:
    y, e = df["value"].to_numpy(), df["estimate"].to_numpy()
    out = {"mse": m.mean_squared_error(y, e), "rmse": m.root_mean_squared_error(y, e),
           "mae": m.mean_absolute_error(y, e), "median_ae": m.median_absolute_error(y, e),
           "mape": m.mean_absolute_percentage_error(y, e), "r2": m.r2_score(y, e)}
json.dump({k: float(v) for k, v in out.items()}, open(sys.argv[3], "w"))
PY
echo "metrics of $(printf "%'d" "$rows") predictions:"
for task in classification regression; do
  if [[ $task == classification ]]; then cols=(--y-true y_true --y-pred y_pred --y-score p); else cols=(--y-true value --y-pred estimate); fi
  read -r t_sk m_sk < <(time_of "$venv/bin/python" "$work/sklearn_metrics.py" "$data" "$task" "$work/sk-$task.json")
  read -r t_mlx m_mlx < <(time_of sh -c "\"$mlx\" eval score --predictions \"$data\" --task $task ${cols[*]} --json > \"$work/mlx-$task.json\"")
  "$venv/bin/python" - "$work" "$task" <<'PY'
import sys, json
w, task = sys.argv[1], sys.argv[2]
sk, mlx = json.load(open(f"{w}/sk-{task}.json")), json.load(open(f"{w}/mlx-{task}.json"))["metrics"]
for k, v in sk.items():
    assert abs(mlx[k] - v) <= 1e-12 * max(1, abs(v)), (k, mlx[k], v)
PY
  printf "  %-14s scikit-learn %7.2f s %6s MiB | mlx-eval score %7.2f s %6s MiB | %s\n" "$task" "$t_sk" "$m_sk" "$t_mlx" "$m_mlx" \
    "$(python3 -c "print(f'{$t_sk/$t_mlx:.1f}x faster')")"
done
echo "  (both read the Parquet file; the values agree to 1e-12, relative)"
