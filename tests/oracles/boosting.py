"""Records what scikit-learn's GradientBoostingRegressor predicts on the diabetes data
(tests/fixtures/train/diabetes.csv, written by train.py), for mlx's gradient_boosting:
fitted on the first 350 rows, its predictions of those rows, for a few settings.

    -> tests/fixtures/train/gradient_boosting.json

Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.ensemble import GradientBoostingRegressor

ROOT = pathlib.Path(__file__).resolve().parents[2]
data = np.loadtxt(ROOT / "tests/fixtures/train/diabetes.csv", delimiter=",", skiprows=1)
X, y = data[:, :-1], data[:, -1]
N_TRAIN = 350

cases = []
for n_estimators, learning_rate, max_depth, min_samples_leaf in [
    (100, 0.1, 3, 1),
    (40, 0.3, 2, 5),
    (10, 1.0, 4, 10),
]:
    m = GradientBoostingRegressor(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        random_state=0,
    ).fit(X[:N_TRAIN], y[:N_TRAIN])
    cases.append(
        {
            "n_estimators": n_estimators,
            "learning_rate": learning_rate,
            "max_depth": max_depth,
            "min_samples_leaf": min_samples_leaf,
            "predict_train": m.predict(X[:N_TRAIN]).tolist(),
        }
    )

out = {"sklearn": sklearn.__version__, "n_train": N_TRAIN, "cases": cases}
(ROOT / "tests/fixtures/train/gradient_boosting.json").write_text(json.dumps(out, indent=1) + "\n")
