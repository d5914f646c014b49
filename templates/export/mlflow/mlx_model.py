"""An mlx model bundle as an MLflow python_function model (`mlx export model --format
mlflow`, docs/mlflow.md).

MLflow calls `_load_pyfunc(data_path)`; `data_path` holds the bundle's files as mlx wrote
them: `manifest.json`, `preprocessor.json` and the model file (mlx's JSON for linear
models and forests, XGBoost's JSON model, LightGBM's text model). `predict` applies the
fitted preprocessing step by step as mlx does (the same order, the same handling of
missing values and unseen categories) and the model, and answers what mlx-serve answers:
a `prediction` column and, for classifiers, one `proba_<class>` column per class.

Written by mlx; numpy and pandas are all it needs, plus xgboost or lightgbm for those
models.
"""

import json
import math
import os

import numpy as np
import pandas as pd


def _load_pyfunc(data_path):
    return MlxModel(data_path)


class MlxModel:
    def __init__(self, path):
        with open(os.path.join(path, "manifest.json"), encoding="utf-8") as f:
            self.manifest = json.load(f)
        with open(os.path.join(path, "preprocessor.json"), encoding="utf-8") as f:
            self.pre = json.load(f)
        self.classes = self.manifest.get("classes")
        self.threshold = self.manifest.get("decision_threshold")
        model_path = os.path.join(path, self.manifest["model_file"])
        library = self.manifest["library"]["name"]
        if library == "xgboost":
            import xgboost

            self.booster = xgboost.Booster()
            self.booster.load_model(model_path)
            self.kind = "xgboost"
        elif library == "lightgbm":
            import lightgbm

            self.booster = lightgbm.Booster(model_file=model_path)
            self.kind = "lightgbm"
        else:
            with open(model_path, encoding="utf-8") as f:
                self.model = json.load(f)
            self.kind = self.model["family"]

    # -- the preprocessing -------------------------------------------------------------

    def _read(self, frame):
        cols = []
        for c in self.pre["inputs"]:
            name = c["name"]
            if name not in frame.columns:
                raise ValueError(
                    f"the input has no column `{name}`, which the model was trained with"
                )
            s = frame[name]
            if c["kind"] == "numeric":
                try:
                    values = pd.to_numeric(s, errors="raise").astype("float64").to_numpy()
                except (ValueError, TypeError) as e:
                    raise ValueError(f"`{name}` must be numbers: {e}") from None
                cols.append([name, ("num", values.copy())])
            else:
                values = [None if _missing(v) else _text(v) for v in s.tolist()]
                cols.append([name, ("cat", values)])
        return cols

    def _step(self, cols, step):
        names = [c[0] for c in cols]
        column = step["column"]
        i = names.index(column)
        kind, v = cols.pop(i)[1]
        st = step["state"]
        t = st["type"]
        if t == "scale":
            outs = [("num", (v - st["center"]) / st["scale"])]
        elif t == "fill_number":
            v = v.copy()
            v[np.isnan(v)] = st["value"]
            outs = [("num", v)]
        elif t == "fill_category":
            outs = [("cat", [st["value"] if x is None else x for x in v])]
        elif t == "forward_fill":
            prev = math.nan if st.get("last") is None else st["last"]
            out = v.copy()
            for k, x in enumerate(out):
                if math.isnan(x):
                    out[k] = prev
                else:
                    prev = x
            outs = [("num", out)]
        elif t == "onehot":
            cats = st["categories"]
            at = {c: k for k, c in enumerate(cats)}
            m = np.zeros((len(cats) + 1, len(v)))
            for r, x in enumerate(v):
                if x is not None:
                    m[at.get(x, len(cats)), r] = 1.0
            outs = [("num", m[k]) for k in range(len(cats) + 1)]
        elif t == "ordinal":
            at = {c: k for k, c in enumerate(st["categories"])}
            outs = [("num", np.array([math.nan if x is None else float(at.get(x, -1)) for x in v]))]
        elif t == "lookup":
            values, default = st["values"], st["default"]
            outs = [("num", np.array([math.nan if x is None else values.get(x, default) for x in v]))]
        else:
            raise ValueError(f"mlx wrote a step this loader does not know: {t}")
        if t == "onehot":
            out_names = [f"{column}_{c}" for c in st["categories"]] + [f"{column}__unknown"]
        else:
            out_names = [column]
        for k, (n, o) in enumerate(zip(out_names, outs)):
            cols.insert(i + k, [n, o])

    def transform(self, frame):
        cols = self._read(frame)
        for step in self.pre["steps"]:
            self._step(cols, step)
        at = {c[0]: c[1] for c in cols}
        out = []
        for name in self.pre["outputs"]:
            kind, v = at[name]
            if kind != "num":
                raise ValueError(f"`{name}` is still text after the preprocessing")
            out.append(np.asarray(v, dtype="float64"))
        return np.column_stack(out) if out else np.zeros((len(frame), 0))

    # -- the model ----------------------------------------------------------------------

    def _output(self, x):
        n_classes = len(self.classes) if self.classes else 0
        if self.kind == "linear":
            m = self.model
            if m["kind"] == "regression":
                return (x @ np.asarray(m["coef"]) + m["intercept"]).reshape(-1, 1)
            z = x @ np.asarray(m["coef"]).T + np.asarray(m["intercept"])
            if z.shape[1] == 1:
                p = 1.0 / (1.0 + np.exp(-z[:, 0]))
                return np.column_stack([1.0 - p, p])
            z = np.exp(z - z.max(axis=1, keepdims=True))
            return z / z.sum(axis=1, keepdims=True)
        if self.kind in ("forest", "boosted"):
            trees = self.model["trees"]
            k = trees[0]["outputs"] if trees else 1
            acc = np.zeros((x.shape[0], k))
            for t in trees:
                feature, threshold = t["feature"], t["threshold"]
                left, right, value = t["left"], t["right"], t["value"]
                for r in range(x.shape[0]):
                    node = 0
                    while feature[node] >= 0:
                        node = left[node] if x[r, feature[node]] <= threshold[node] else right[node]
                    acc[r] += value[node * k:(node + 1) * k]
            if self.kind == "forest":
                return acc / len(trees)
            # mlx's gradient boosting: the first guess plus the shrunk sum of the trees.
            return self.model["init"] + self.model["learning_rate"] * acc
        if self.kind == "xgboost":
            import xgboost

            p = self.booster.predict(xgboost.DMatrix(x, missing=np.nan))
        else:
            p = self.booster.predict(x)
        p = np.asarray(p, dtype="float64")
        if n_classes == 2 and p.ndim == 1:
            return np.column_stack([1.0 - p, p])
        return p.reshape(x.shape[0], -1)

    def predict(self, context_or_input, model_input=None, params=None):
        frame = context_or_input if model_input is None else model_input
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)
        out = self._output(self.transform(frame))
        if not self.classes:
            return pd.DataFrame({"prediction": out[:, 0]})
        if self.threshold is not None and len(self.classes) == 2:
            k = (out[:, 1] >= self.threshold).astype(int)
        else:
            k = out.argmax(axis=1)
        result = {"prediction": [self.classes[i] for i in k]}
        for j, c in enumerate(self.classes):
            result[f"proba_{c}"] = out[:, j]
        return pd.DataFrame(result)


def _missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
