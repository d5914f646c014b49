"""Records the datasets that ship inside scikit-learn and what scikit-learn's linear
models fit on them, for mlx-train to agree with:

- tests/fixtures/train/{breast_cancer,wine,diabetes}.csv: the datasets (features and
  a `target` column);
- tests/fixtures/train/scores.json: held-out accuracy / RMSE of DecisionTree (depth 4),
  RandomForest (200 trees) and KNeighbors (k = 5, standardised) on a recorded split, and
  of the classifier trees and forests with class weights;
- tests/fixtures/train/svm.json: SVC / SVR decision values and predictions (libsvm,
  tight tolerance) on standardised features, SVC's also with balanced class weights;
- tests/fixtures/train/linear.json: coefficients, intercepts and the first rows'
  predictions of LinearRegression, Ridge, Lasso, ElasticNet (diabetes, as shipped) and
  LogisticRegression (L2 by newton-cholesky, with and without class weights; L1 by saga;
  breast cancer: binary; wine: multinomial), on standardised features (StandardScaler),
  all solved to tight tolerances; and LogisticRegression with its defaults (lbfgs,
  tol=1e-4), where it stops.

Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/train"
OUT.mkdir(parents=True, exist_ok=True)


def save(name, data, classes=None):
    X, y = data.data, data.target
    cols = [c.replace(" ", "_") for c in data.feature_names]
    with open(OUT / f"{name}.csv", "w") as f:
        f.write(",".join(cols + ["target"]) + "\n")
        for row, t in zip(X, y):
            label = classes[t] if classes is not None else repr(float(t))
            f.write(",".join(repr(float(v)) for v in row) + f",{label}\n")
    return X, (np.array(classes)[y] if classes is not None else y)


def regression(model, X, y):
    model.fit(X, y)
    return {
        "coef": model.coef_.tolist(),
        "intercept": float(model.intercept_),
        "predict": model.predict(X[:5]).tolist(),
    }


def classifier(model, X, y):
    model.fit(X, y)
    return {
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
        "predict_proba": model.predict_proba(X[:5]).tolist(),
        "classes": model.classes_.tolist(),
        "accuracy": float(model.score(X, y)),
    }


out = {"versions": {"sklearn": sklearn.__version__, "numpy": np.__version__}}
Xd, yd = save("diabetes", load_diabetes())
out["diabetes"] = {
    "linear": regression(LinearRegression(), Xd, yd),
    "ridge_1": regression(Ridge(alpha=1.0), Xd, yd),
    "lasso_0.1": regression(Lasso(alpha=0.1, tol=1e-12, max_iter=1_000_000), Xd, yd),
    "elastic_net_0.01_0.5": regression(
        ElasticNet(alpha=0.01, l1_ratio=0.5, tol=1e-12, max_iter=1_000_000), Xd, yd
    ),
}
# Classes as text, so the test also covers label encoding (sorted, as scikit-learn).
Xb, yb = save("breast_cancer", load_breast_cancer(), classes=["malignant", "benign"])
Xw, yw = save("wine", load_wine(), classes=["class_0", "class_1", "class_2"])
for name, X, y in [("breast_cancer", Xb, yb), ("wine", Xw, yw)]:
    Xs = StandardScaler().fit_transform(X)
    out[name] = {
        "logistic_C1": classifier(LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000), Xs, y),
        "logistic_C0.1": classifier(LogisticRegression(C=0.1, solver="newton-cholesky", tol=1e-12, max_iter=1000), Xs, y),
    }
    # L1: saga (the solver that leaves the intercept unpenalised), to a tight tolerance;
    # binary, and multinomial for wine.
    out[name]["logistic_l1_C0.5"] = classifier(
        LogisticRegression(l1_ratio=1.0, solver="saga", C=0.5, tol=1e-12, max_iter=1_000_000),
        Xs,
        y,
    )
    # Class weights: balanced (breast cancer), and a map (wine).
    weights = "balanced" if name == "breast_cancer" else {"class_0": 1.0, "class_1": 3.0, "class_2": 0.5}
    out[name]["logistic_weighted_C1"] = classifier(
        LogisticRegression(C=1.0, class_weight=weights, solver="newton-cholesky", tol=1e-12, max_iter=1000),
        Xs,
        y,
    )
    out[name]["logistic_weighted_C1"]["class_weight"] = weights
    # scikit-learn's defaults (lbfgs, tol=1e-4, max_iter=100): where its solver stops,
    # for mlx's default tolerance to be held to the same guarantee.
    out[name]["logistic_default"] = classifier(LogisticRegression(), Xs, y)
(OUT / "linear.json").write_text(json.dumps(out, indent=1) + "\n")

# Families fitted by mlx's own code rather than to one optimum (trees, forests,
# neighbours): scikit-learn's held-out scores with the same hyperparameters, on a
# recorded split, for mlx to come within a small margin of.
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

scores = {}
for name, X, y, task in [
    ("breast_cancer", Xb, yb, "classification"),
    ("wine", Xw, yw, "classification"),
    ("diabetes", Xd, yd, "regression"),
]:
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, random_state=0)
    train, test = np.sort(train), np.sort(test)
    scaler = StandardScaler().fit(X[train])
    Xs = scaler.transform(X)
    if task == "classification":
        models = {
            "decision_tree": (DecisionTreeClassifier(max_depth=4, random_state=0), X),
            "random_forest": (RandomForestClassifier(n_estimators=200, random_state=0), X),
            "knn": (KNeighborsClassifier(n_neighbors=5), Xs),
        }
    else:
        models = {
            "decision_tree": (DecisionTreeRegressor(max_depth=4, random_state=0), X),
            "random_forest": (RandomForestRegressor(n_estimators=200, random_state=0), X),
            "knn": (KNeighborsRegressor(n_neighbors=5), Xs),
        }
    if task == "classification":
        # Class weights: forests balanced per bootstrap sample, trees balanced.
        models["random_forest_balanced_subsample"] = (
            RandomForestClassifier(n_estimators=200, class_weight="balanced_subsample", random_state=0), X)
        models["decision_tree_balanced"] = (
            DecisionTreeClassifier(max_depth=4, class_weight="balanced", random_state=0), X)
    entry = {"train": train.tolist(), "test": test.tolist(), "task": task}
    for key, (model, data) in models.items():
        model.fit(data[train], y[train])
        pred = model.predict(data[test])
        if task == "classification":
            entry[key] = float(np.mean(pred == y[test]))
        else:
            entry[key] = float(np.sqrt(np.mean((pred - y[test]) ** 2)))
    scores[name] = entry
(OUT / "scores.json").write_text(json.dumps(scores) + "\n")
print(f"wrote {OUT}")

# Support vector machines: libsvm's decision values with tight tolerances, for mlx's
# SMO to agree with (scikit-learn's one-vs-one order for several classes).
from sklearn.svm import SVC, SVR

svm = {}
for name, X, y, kind in [
    ("breast_cancer", Xb, yb, "rbf"),
    ("wine", Xw, yw, "linear"),
    ("diabetes", Xd, yd, "rbf"),
]:
    train, test = scores[name]["train"], scores[name]["test"]
    scaler = StandardScaler().fit(X[train])
    Xs = scaler.transform(X)
    if name == "diabetes":
        model = SVR(kernel=kind, C=100.0, epsilon=5.0, tol=1e-8).fit(Xs[train], y[train])
        svm[name] = {"predict": model.predict(Xs[test]).tolist()}
    else:
        model = SVC(kernel=kind, C=1.0, tol=1e-8, decision_function_shape="ovo").fit(Xs[train], y[train])
        svm[name] = {
            "decision": model.decision_function(Xs[test]).reshape(len(test), -1).tolist(),
            "predict": model.predict(Xs[test]).tolist(),
        }
        # libsvm's per-class C: `class_weight` balanced.
        weighted = SVC(kernel=kind, C=1.0, tol=1e-8, class_weight="balanced",
                       decision_function_shape="ovo").fit(Xs[train], y[train])
        svm[name]["balanced_decision"] = weighted.decision_function(Xs[test]).reshape(len(test), -1).tolist()
(OUT / "svm.json").write_text(json.dumps(svm) + "\n")
