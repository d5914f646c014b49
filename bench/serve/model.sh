# The model bench/serve and bench/image serve: 20,000 rows x 30 features, a 500-tree
# XGBoost classifier (depth 6) trained by `mlx run` and registered in production
# ($model: its booster file), the same booster saved as an MLflow model
# (mlflow-model/), and one request row for each (row.json, row-mlflow.json, and
# row-v2.json for the Open Inference Protocol). Source
# it; `served_model` works in the current directory with $venv (numpy, xgboost,
# mlflow) and $mlx.
served_model() {
"$venv/bin/python" - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
x = rng.normal(size=(20000, 30))
y = (x[:, 0] + np.sin(3 * x[:, 1]) + x[:, 2] * x[:, 3] + rng.normal(scale=0.5, size=20000) > 0)
with open("train.csv", "w") as f:
    f.write(",".join(f"f{i}" for i in range(30)) + ",label\n")
    for r, l in zip(x, y):
        f.write(",".join(f"{v:.6f}" for v in r) + f",{int(l)}\n")
with open("row.json", "w") as f:
    f.write("{\"records\": [{" + ", ".join(f"\"f{i}\": {x[0, i]:.6f}" for i in range(30)) + "}]}")
with open("row-mlflow.json", "w") as f:
    f.write("{\"dataframe_records\": [{" + ", ".join(f"\"f{i}\": {x[0, i]:.6f}" for i in range(30)) + "}]}")
# The Open Inference Protocol: one [1, 30] tensor, as MLServer's XGBoost runtime takes
# it and mlx-serve takes a model's inputs in the signature's order.
with open("row-v2.json", "w") as f:
    f.write("{\"inputs\": [{\"name\": \"input-0\", \"shape\": [1, 30], \"datatype\": \"FP64\", \"data\": ["
            + ", ".join(f"{x[0, i]:.6f}" for i in range(30)) + "]}]}")
PY
cat > mlx.yaml <<'YAML'
project: { name: bench }
data: { sources: [{ name: train, uri: train.csv }], target: label }
pipeline: { problem_type: classification }
split: { strategy: stratified, train: 0.8, validation: 0.1, test: 0.1 }
models:
  - { name: xgb, type: xgboost, params: { n_estimators: 500, max_depth: 6, learning_rate: 0.05 } }
evaluation: { primary_metric: roc_auc, threshold: 0.5 }
explain: { enabled: false }
approval_gate: { auto_approve: true, require_human_review: false }
registry: { promote_to: production, require_staging: false }
deploy: { prediction_log: predictions }
YAML
"$mlx" run -q > /dev/null
model="$(ls .mlx/runs/*/bundle/model.xgb.json)"
"$venv/bin/python" - "$model" <<'PY'
import sys, mlflow.xgboost, xgboost as xgb
b = xgb.Booster(model_file=sys.argv[1])
mlflow.xgboost.save_model(b, "mlflow-model")
PY
}
