"""Records SHAP values from the reference implementations into
tests/fixtures/shap/shap.json, for mlx-shap to agree with:

- XGBoost's own `pred_contribs` (TreeSHAP inside XGBoost) for the model mlx-train wrote
  (tests/fixtures/train/models/breast_cancer.xgb.json, binary) and for boosters trained
  here and saved next to the fixture (wine: multiclass; diabetes: regression);
- LightGBM's own `pred_contrib` for mlx-train's breast_cancer.lgb.txt and a multiclass
  wine model saved here;
- `shap.LinearExplainer` on scikit-learn's logistic regression (breast cancer,
  standardised; background: the first 100 training rows);
- `shap.KernelExplainer` enumerating every coalition on scikit-learn's SVR (diabetes,
  standardised, 10 features; background: 10 training rows).

Rows explained: the test rows of tests/fixtures/train/scores.json (the first 20 for
the model-agnostic ones). Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib

import lightgbm as lgb
import numpy as np
import shap
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

ROOT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures"
TRAIN = ROOT / "train"
OUT = ROOT / "shap"
OUT.mkdir(parents=True, exist_ok=True)
scores = json.loads((TRAIN / "scores.json").read_text())


def load(name):
    rows = (TRAIN / f"{name}.csv").read_text().splitlines()
    body = [r.split(",") for r in rows[1:]]
    X = np.array([[float(v) for v in r[:-1]] for r in body])
    labels = [r[-1] for r in body]
    return X, labels


def codes(labels):
    classes = sorted(set(labels))
    return np.array([classes.index(v) for v in labels], dtype=float)


out = {"versions": {"shap": shap.__version__, "xgboost": xgb.__version__, "lightgbm": lgb.__version__}}

# XGBoost: mlx's own binary model, and multiclass / regression models trained here.
Xb, lb = load("breast_cancer")
test_b = scores["breast_cancer"]["test"]
booster = xgb.Booster(model_file=str(TRAIN / "models/breast_cancer.xgb.json"))
out["xgboost_breast_cancer"] = booster.predict(xgb.DMatrix(Xb[test_b]), pred_contribs=True).tolist()
Xw, lw = load("wine")
train_w, test_w = scores["wine"]["train"], scores["wine"]["test"]
wine = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "seed": 1},
                 xgb.DMatrix(Xw[train_w], label=codes(lw)[train_w]), 15)
wine.save_model(str(OUT / "wine.xgb.json"))
out["xgboost_wine"] = wine.predict(xgb.DMatrix(Xw[test_w]), pred_contribs=True).tolist()
Xd, ld = load("diabetes")
yd = np.array([float(v) for v in ld])
train_d, test_d = scores["diabetes"]["train"], scores["diabetes"]["test"]
reg = xgb.train({"objective": "reg:squarederror", "max_depth": 4, "seed": 1},
                xgb.DMatrix(Xd[train_d], label=yd[train_d]), 25)
reg.save_model(str(OUT / "diabetes.xgb.json"))
out["xgboost_diabetes"] = reg.predict(xgb.DMatrix(Xd[test_d]), pred_contribs=True).tolist()

# LightGBM: mlx's own binary model, and a multiclass model trained here.
lg = lgb.Booster(model_file=str(TRAIN / "models/breast_cancer.lgb.txt"))
out["lightgbm_breast_cancer"] = lg.predict(Xb[test_b], pred_contrib=True).tolist()
lw_model = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbosity": -1,
                      "num_threads": 1, "deterministic": True, "seed": 1, "min_data_in_leaf": 5},
                     lgb.Dataset(Xw[train_w], label=codes(lw)[train_w]), num_boost_round=10)
lw_model.save_model(str(OUT / "wine.lgb.txt"))
out["lightgbm_wine"] = lw_model.predict(Xw[test_w], pred_contrib=True).tolist()

# Linear: logistic regression on standardised breast cancer, 100 training rows as the
# background (shap subtracts their mean).
train_b = scores["breast_cancer"]["train"]
Xs = StandardScaler().fit_transform(Xb)
yb = codes(lb)
logit = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(Xs, yb)
# (shap's masker samples at most 100 background rows, so give it exactly 100.)
explainer = shap.LinearExplainer(logit, Xs[train_b[:100]])
out["linear_breast_cancer"] = {
    "values": np.asarray(explainer.shap_values(Xs[test_b])).tolist(),
    "base": float(np.ravel(explainer.expected_value)[0]),
}

# Kernel: SVR on standardised diabetes (the fixture's SVR), every coalition of the 10
# features enumerated (2^10 - 2 <= nsamples), background: the first 10 training rows.
scaler = StandardScaler().fit(Xd[train_d])
Xds = scaler.transform(Xd)
svr = SVR(kernel="rbf", C=100.0, epsilon=5.0, tol=1e-8).fit(Xds[train_d], yd[train_d])
background = Xds[train_d[:10]]
kernel = shap.KernelExplainer(svr.predict, background)
rows = Xds[test_d[:20]]
out["kernel_diabetes"] = {
    "values": np.asarray(kernel.shap_values(rows, nsamples=4096, l1_reg=False, silent=True)).tolist(),
    "base": float(kernel.expected_value),
}

(OUT / "shap.json").write_text(json.dumps(out) + "\n")
print(f"wrote {OUT / 'shap.json'}")
