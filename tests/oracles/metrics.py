"""Records scikit-learn's and sktime's evaluation metrics on several prediction sets,
including degenerate ones (one class only, every score tied, a class never predicted,
zeros among the actuals), into tests/fixtures/eval/metrics.json, for mlx-eval's
metrics to agree with.

Every case holds the inputs (class codes and probabilities, or values) and the
metrics by mlx's names; a metric scikit-learn refuses (ROC-AUC with one class in the
truth: NaN and a warning) is recorded as null.

Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib
import warnings

import numpy as np
import sklearn
import sktime
from sklearn import metrics as m
from sktime.performance_metrics.forecasting import (
    mean_absolute_percentage_error as sk_mape,
    mean_absolute_scaled_error as sk_mase,
)

warnings.filterwarnings("ignore")
OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/eval"
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(5)


def refused(f):
    """The metric, or None where scikit-learn refuses it (an error, or NaN with a warning)."""
    try:
        v = float(f())
    except ValueError:
        return None
    return None if np.isnan(v) else v


def classification(name, y, proba):
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=float)
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    labels = list(range(k))
    out = {
        "accuracy": m.accuracy_score(y, pred),
        "balanced_accuracy": m.balanced_accuracy_score(y, pred),
        "log_loss": m.log_loss(y, proba, labels=labels),
        "brier": m.brier_score_loss(y, proba if k > 2 else proba[:, 1], labels=labels)
        if k > 2 else m.brier_score_loss(y, proba[:, 1], pos_label=1),
        "mcc": m.matthews_corrcoef(y, pred),
        "confusion_matrix": m.confusion_matrix(y, pred, labels=labels).tolist(),
    }
    for avg in ["macro", "micro", "weighted"]:
        out[f"precision_{avg}"] = m.precision_score(y, pred, average=avg, zero_division=0)
        out[f"recall_{avg}"] = m.recall_score(y, pred, average=avg, zero_division=0)
        out[f"f1_{avg}"] = m.f1_score(y, pred, average=avg, zero_division=0)
    if k == 2:
        out["precision"] = m.precision_score(y, pred, zero_division=0)
        out["recall"] = m.recall_score(y, pred, zero_division=0)
        out["f1_score"] = m.f1_score(y, pred, zero_division=0)
        out["roc_auc"] = refused(lambda: m.roc_auc_score(y, proba[:, 1]))
        out["average_precision"] = float(m.average_precision_score(y, proba[:, 1]))
    else:
        out["roc_auc_ovr"] = refused(lambda: m.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
        out["roc_auc_ovr_weighted"] = refused(
            lambda: m.roc_auc_score(y, proba, multi_class="ovr", average="weighted"))
    out = {k2: (float(v) if isinstance(v, (np.floating, float, int)) and not isinstance(v, bool) else v)
           for k2, v in out.items()}
    return {"name": name, "task": "classification", "y_true": y.tolist(),
            "proba": proba.tolist(), "metrics": out}


def regression(name, y, pred, train=None, sp=1):
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    r = y - pred
    out = {
        "mse": m.mean_squared_error(y, pred),
        "rmse": m.root_mean_squared_error(y, pred),
        "mae": m.mean_absolute_error(y, pred),
        "median_ae": m.median_absolute_error(y, pred),
        "mape": m.mean_absolute_percentage_error(y, pred),
        "smape": sk_mape(y, pred, symmetric=True),
        "wape": float(np.sum(np.abs(r)) / np.sum(np.abs(y))),
        "bias": float(np.mean(pred - y)),
        "r2": m.r2_score(y, pred),
        # Huber (delta 1) and log-cosh by their definitions.
        "huber": float(np.mean(np.where(np.abs(r) <= 1.0, 0.5 * r**2, np.abs(r) - 0.5))),
        "log_cosh": float(np.mean(np.log(np.cosh(r)))),
    }
    case = {"name": name, "task": "regression", "y_true": y.tolist(), "y_pred": pred.tolist()}
    if train is not None:
        out["mase"] = float(sk_mase(y, pred, y_train=np.asarray(train, dtype=float), sp=sp))
        case.update(task="forecast", y_train=list(map(float, train)), sp=sp)
    case["metrics"] = {k: float(v) for k, v in out.items()}
    return case


cases = []
# Binary: scores rounded to two decimals, so many tie.
n = 300
y = rng.integers(0, 2, n)
p1 = np.clip(np.round(0.35 * y + rng.uniform(0, 0.65, n), 2), 0, 1)
cases.append(classification("binary_with_ties", y, np.column_stack([1 - p1, p1])))
# Binary, every score tied.
cases.append(classification("binary_all_ties", y[:50], np.full((50, 2), 0.5)))
# Binary, one class only in the truth (ROC-AUC undefined).
p = rng.uniform(0, 1, 40)
cases.append(classification("binary_one_class", np.ones(40, dtype=int), np.column_stack([1 - p, p])))
# Three classes from a Dirichlet, the truth correlated with them.
proba = rng.dirichlet([1, 1, 1], 400)
y3 = np.array([rng.choice(3, p=0.5 * row + 0.5 / 3) for row in proba])
cases.append(classification("multiclass", y3, proba))
# Four classes, one never predicted (its probability always lowest).
proba4 = rng.dirichlet([2, 2, 2, 0.3], 200)
proba4[:, 3] = 0.0
proba4 /= proba4.sum(axis=1, keepdims=True)
y4 = rng.integers(0, 4, 200)
cases.append(classification("multiclass_unpredicted_class", y4, proba4))
# Regression.
yt = rng.normal(50, 20, 500)
cases.append(regression("regression", yt, yt + rng.normal(1, 8, 500)))
# Zeros among the actuals: MAPE explodes as scikit-learn's does; sMAPE stays bounded.
yz = np.round(rng.normal(0, 2, 100))
cases.append(regression("regression_zero_actuals", yz, yz + rng.normal(0, 1, 100)))
# Constant truth: R² is 0 (not exact) by scikit-learn's force_finite.
cases.append(regression("regression_constant_truth", np.full(30, 4.0), rng.normal(4, 1, 30)))
# Forecast with a weekly season, MASE against the seasonal naive forecast.
t = np.arange(140)
series = 100 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, 140)
cases.append(regression("forecast_weekly", series[112:], series[112:] + rng.normal(0, 3, 28),
                        train=series[:112], sp=7))

data = {"versions": {"sklearn": sklearn.__version__, "sktime": sktime.__version__, "numpy": np.__version__},
        "cases": cases}
(OUT / "metrics.json").write_text(json.dumps(data) + "\n")
print(f"wrote {OUT / 'metrics.json'}")
