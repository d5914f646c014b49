"""Records what Python's xgboost and lightgbm predict for boosters trained with the same
parameters and data as mlx-train's `xgboost` and `lightgbm` candidates (breast cancer:
binary; wine: multiclass; diabetes: regression; the split of
tests/fixtures/train/scores.json), into tests/fixtures/train/{xgboost,lightgbm}.json,
with and without balanced class weights, and each round's training and validation
metric (breast cancer, the test rows as the validation set). mlx runs the same C/C++
libraries.

It also loads the model files mlx-train wrote into tests/fixtures/train/models/ (the
test `bundle_model_files_load_in_python` writes them with MLX_UPDATE=1) with Python's
libraries and records their predictions into tests/fixtures/train/models/python.json:
the bundle's model file is the library's own format.

Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib

import numpy as np
import lightgbm as lgb
import xgboost as xgb
from sklearn.utils.class_weight import compute_sample_weight

HERE = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/train"
scores = json.loads((HERE / "scores.json").read_text())
PARAMS = {"max_depth": 3, "eta": 0.3, "tree_method": "hist", "seed": 42}
ROUNDS = 30


def load(name):
    rows = (HERE / f"{name}.csv").read_text().splitlines()
    body = [r.split(",") for r in rows[1:]]
    X = np.array([[float(v) for v in r[:-1]] for r in body])
    labels = [r[-1] for r in body]
    return X, labels


out = {"version": xgb.__version__, "params": PARAMS, "rounds": ROUNDS}
for name in ["breast_cancer", "wine", "diabetes"]:
    X, labels = load(name)
    train, test = scores[name]["train"], scores[name]["test"]
    if scores[name]["task"] == "classification":
        classes = sorted(set(labels))
        y = np.array([classes.index(v) for v in labels], dtype=float)
        params = dict(PARAMS)
        if len(classes) == 2:
            params["objective"] = "binary:logistic"
        else:
            params.update(objective="multi:softprob", num_class=len(classes))
    else:
        y = np.array([float(v) for v in labels])
        params = dict(PARAMS, objective="reg:squarederror")
    dtrain = xgb.DMatrix(X[train], label=y[train])
    dvalid = xgb.DMatrix(X[test], label=y[test]) if name == "breast_cancer" else None
    evals = [(dtrain, "train"), (dvalid, "valid")] if dvalid is not None else []
    history = {}
    booster = xgb.train(params, dtrain, ROUNDS, evals=evals, evals_result=history, verbose_eval=False)
    pred = booster.predict(xgb.DMatrix(X[test]))
    out[name] = pred.reshape(len(test), -1).tolist()
    if dvalid is not None:
        out[name + "_history"] = {k: list(v.values())[0] for k, v in history.items()}
        weights = compute_sample_weight("balanced", y[train])
        weighted = xgb.train(params, xgb.DMatrix(X[train], label=y[train], weight=weights), ROUNDS)
        out[name + "_balanced"] = weighted.predict(xgb.DMatrix(X[test])).reshape(len(test), -1).tolist()
(HERE / "xgboost.json").write_text(json.dumps(out) + "\n")
print(f"wrote {HERE / 'xgboost.json'}")

LGB = {"num_leaves": 15, "learning_rate": 0.1, "num_iterations": 30, "seed": 42,
       "verbosity": -1, "num_threads": 1, "deterministic": True}
out = {"version": lgb.__version__, "params": LGB}
for name in ["breast_cancer", "wine", "diabetes"]:
    X, labels = load(name)
    train, test = scores[name]["train"], scores[name]["test"]
    if scores[name]["task"] == "classification":
        classes = sorted(set(labels))
        y = np.array([classes.index(v) for v in labels], dtype=float)
        params = dict(LGB, objective="binary") if len(classes) == 2 else dict(
            LGB, objective="multiclass", num_class=len(classes))
    else:
        y = np.array([float(v) for v in labels])
        params = dict(LGB, objective="regression")
    dtrain = lgb.Dataset(X[train], label=y[train])
    history = {}
    if name == "breast_cancer":
        dvalid = lgb.Dataset(X[test], label=y[test], reference=dtrain)
        booster = lgb.train(params, dtrain, valid_sets=[dtrain, dvalid], valid_names=["train", "valid"],
                            callbacks=[lgb.record_evaluation(history)])
        out[name + "_history"] = {k: list(v.values())[0] for k, v in history.items()}
        weights = compute_sample_weight("balanced", y[train])
        weighted = lgb.train(params, lgb.Dataset(X[train], label=y[train], weight=weights))
        out[name + "_balanced"] = np.asarray(weighted.predict(X[test])).reshape(len(test), -1).tolist()
    else:
        booster = lgb.train(params, dtrain)
    pred = booster.predict(X[test])
    out[name] = np.asarray(pred).reshape(len(test), -1).tolist()
(HERE / "lightgbm.json").write_text(json.dumps(out) + "\n")
print(f"wrote {HERE / 'lightgbm.json'}")

# The model files mlx-train wrote, loaded by Python's libraries.
MODELS = HERE / "models"
loaded = {}
X, labels = load("breast_cancer")
test = scores["breast_cancer"]["test"]
if (MODELS / "breast_cancer.xgb.json").exists():
    booster = xgb.Booster(model_file=str(MODELS / "breast_cancer.xgb.json"))
    loaded["xgboost"] = booster.predict(xgb.DMatrix(X[test])).tolist()
if (MODELS / "breast_cancer.lgb.txt").exists():
    booster = lgb.Booster(model_file=str(MODELS / "breast_cancer.lgb.txt"))
    loaded["lightgbm"] = booster.predict(X[test]).tolist()
if loaded:
    (MODELS / "python.json").write_text(json.dumps(loaded) + "\n")
    print(f"wrote {MODELS / 'python.json'}")
