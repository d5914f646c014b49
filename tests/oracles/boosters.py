"""Records what Python's xgboost and lightgbm predict for boosters trained with the same
parameters and data as mlx-train's `xgboost` and `lightgbm` candidates (breast cancer:
binary; wine: multiclass; diabetes: regression; the split of
tests/fixtures/train/scores.json), into tests/fixtures/train/{xgboost,lightgbm}.json.
mlx runs the same C/C++ libraries.

Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib

import numpy as np
import lightgbm as lgb
import xgboost as xgb

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
    booster = xgb.train(params, xgb.DMatrix(X[train], label=y[train]), ROUNDS)
    pred = booster.predict(xgb.DMatrix(X[test]))
    out[name] = pred.reshape(len(test), -1).tolist()
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
    booster = lgb.train(params, lgb.Dataset(X[train], label=y[train]))
    pred = booster.predict(X[test])
    out[name] = np.asarray(pred).reshape(len(test), -1).tolist()
(HERE / "lightgbm.json").write_text(json.dumps(out) + "\n")
print(f"wrote {HERE / 'lightgbm.json'}")
