"""Records what pandas and scikit-learn compute for mlx-features to agree with:

- tests/fixtures/features/panel.csv: a small sales panel (3 stores, unsorted rows, a
  missing sale, a gap in one store's dates), and panel.json: the pandas features of
  the design documents' example and the other feature kinds, per row in time order;
- splits.json: fold indices of scikit-learn's KFold, StratifiedKFold, GroupKFold and
  TimeSeriesSplit;
- transforms.json: fitted statistics and outputs of StandardScaler, MinMaxScaler,
  RobustScaler, SimpleImputer, OrdinalEncoder, OneHotEncoder and TargetEncoder.

Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib

import numpy as np
import pandas as pd
import sklearn
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/features"
OUT.mkdir(parents=True, exist_ok=True)
HOLIDAYS = ["2024-01-01", "2024-01-15", "2024-02-19"]


def clean(values):
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in values]


def values(series):
    return [
        None if pd.isna(x) else (bool(x) if isinstance(x, (bool, np.bool_)) else float(x))
        for x in series
    ]


def panel():
    rng = np.random.default_rng(42)
    rows = []
    for store in ["s1", "s2", "s3"]:
        dates = pd.date_range("2024-01-01", periods=40, freq="D")
        if store == "s2":
            # A gap: rolling by time differs from rolling by rows here.
            dates = dates.delete([10, 11, 12])
        for d in dates:
            rows.append(
                {
                    "date": d.strftime("%Y-%m-%d"),
                    "store": store,
                    "sales": float(round(rng.normal(100, 15), 2)),
                    "price": float(round(rng.uniform(5, 10), 2)),
                    "competitor_price": float(round(rng.uniform(5, 10), 2)),
                }
            )
    df = pd.DataFrame(rows)
    df.loc[5, "sales"] = np.nan  # s1, 2024-01-06
    df.to_csv(OUT / "panel.csv", index=False, na_rep="")

    df["date"] = pd.to_datetime(df["date"])
    df = df.sort_values("date", kind="stable").reset_index(drop=True)
    g = df.groupby("store", sort=False)["sales"]
    out = {}
    out["lag_1"] = g.shift(1)
    out["lag_7"] = g.shift(7)
    out["diff_1"] = g.diff(1)
    out["rolling_mean_7"] = g.rolling(7).mean().reset_index(level=0, drop=True)
    out["rolling_std_7"] = g.rolling(7).std().reset_index(level=0, drop=True)
    out["rolling_max_3"] = g.rolling(3, min_periods=2).max().reset_index(level=0, drop=True)
    out["rolling_sum_7d"] = (
        df.set_index("date").groupby("store", sort=False)["sales"].rolling("7D").sum()
    )
    # Align the time-indexed result back to rows (unique per store and date).
    tmp = out["rolling_sum_7d"].reset_index()
    out["rolling_sum_7d"] = df.merge(tmp, on=["store", "date"], how="left")["sales_y"]
    out["expanding_mean"] = g.expanding().mean().reset_index(level=0, drop=True)
    shifted = g.shift(1)
    out["prev_rolling_mean_3"] = (
        shifted.groupby(df["store"], sort=False).rolling(3).mean().reset_index(level=0, drop=True)
    )
    dow = df["date"].dt.dayofweek
    out["dow"] = dow
    out["month"] = df["date"].dt.month
    out["day_sin"] = np.sin(2 * np.pi * dow / 7)
    out["day_cos"] = np.cos(2 * np.pi * dow / 7)
    out["is_holiday"] = df["date"].isin(pd.to_datetime(HOLIDAYS))
    out["store_mean_price"] = df.groupby("store", sort=False)["price"].transform("mean")
    out["price_ratio"] = df["price"] / df["competitor_price"]
    result = {
        "holidays": HOLIDAYS,
        "order": [f"{s}|{d:%Y-%m-%d}" for s, d in zip(df["store"], df["date"])],
        "columns": {k: values(pd.Series(v).reindex(df.index)) for k, v in out.items()},
    }
    (OUT / "panel.json").write_text(json.dumps(result, indent=1) + "\n")


def splits():
    out = {}
    n = 23
    out["kfold"] = {"n": n, "k": 5, "test": [t.tolist() for _, t in KFold(5).split(np.zeros(n))]}
    y = ["b", "a", "b", "c", "a", "b", "b", "a", "c", "b", "b", "a", "b", "c", "b", "a", "b", "b", "a"]
    out["stratified_kfold"] = {
        "y": y,
        "k": 3,
        "test": [t.tolist() for _, t in StratifiedKFold(3).split(np.zeros(len(y)), y)],
    }
    groups = [3, 1, 1, 2, 2, 5, 5, 5, 4, 4, 1, 6, 6, 7, 3, 3, 2, 8, 8, 8]
    out["group_kfold"] = {
        "groups": groups,
        "k": 3,
        "test": [t.tolist() for _, _, t in [(0, *s) for s in GroupKFold(3).split(np.zeros(len(groups)), groups=groups)]],
    }
    cases = []
    for n, k, max_train, test_size, gap in [(20, 4, None, None, 0), (20, 3, 5, 3, 1), (17, 5, None, 2, 2)]:
        s = TimeSeriesSplit(n_splits=k, max_train_size=max_train, test_size=test_size, gap=gap)
        cases.append(
            {
                "n": n,
                "k": k,
                "max_train_size": max_train,
                "test_size": test_size,
                "gap": gap,
                "folds": [[tr.tolist(), te.tolist()] for tr, te in s.split(np.zeros(n))],
            }
        )
    out["time_series_split"] = cases
    (OUT / "splits.json").write_text(json.dumps(out) + "\n")


def transforms():
    x = np.array([3.5, np.nan, 1.0, 7.25, 2.0, 2.0, 10.5, np.nan, 4.0, 2.0, 6.0, 0.5])
    cat = ["red", "blue", None, "red", "green", "blue", "red", "green", "red", None, "blue", "red"]
    x_new = np.array([0.0, 5.0, np.nan, 12.0])
    cat_new = ["red", "purple", None, "green"]
    X = x.reshape(-1, 1)
    Xn = x_new.reshape(-1, 1)
    out = {"x": clean(x.tolist()), "cat": cat, "x_new": clean(x_new.tolist()), "cat_new": cat_new}
    for name, est in [("zscore", StandardScaler()), ("minmax", MinMaxScaler()), ("robust", RobustScaler())]:
        est.fit(X)
        out[name] = clean(est.transform(Xn).ravel().tolist())
    for strategy in ["mean", "median", "most_frequent"]:
        out[f"impute_{strategy}"] = float(SimpleImputer(strategy=strategy).fit(X).statistics_[0])
    cat_obj = np.array([c if c is not None else np.nan for c in cat], dtype=object).reshape(-1, 1)
    out["impute_cat_most_frequent"] = str(
        SimpleImputer(strategy="most_frequent").fit(cat_obj).statistics_[0]
    )
    known = [c for c in cat if c is not None]
    kc = np.array(known, dtype=object).reshape(-1, 1)
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(kc)
    new_known = np.array(["red", "purple", "green"], dtype=object).reshape(-1, 1)
    out["ordinal"] = ordinal.transform(new_known).ravel().tolist()
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(kc)
    out["onehot_names"] = onehot.get_feature_names_out(["cat"]).tolist()
    out["onehot"] = onehot.transform(new_known).tolist()
    # Target encoding: the full-fit encodings (what is applied to new rows).
    y_bin = [1, 0, 1, 1, 0, 0, 1, 1, 0, 1]
    y_reg = [10.0, 3.5, 8.25, 12.0, 1.0, 4.0, 9.5, 11.0, 2.0, 7.0]
    out["target"] = {"cat": known, "y_binary": y_bin, "y_continuous": y_reg}
    for yname, yv in [("binary", y_bin), ("continuous", y_reg)]:
        for smooth in ["auto", 2.0]:
            te = TargetEncoder(smooth=smooth, target_type=yname).fit(kc, yv)
            out["target"][f"{yname}_{smooth}"] = {
                "categories": [str(c) for c in te.categories_[0]],
                "encodings": te.encodings_[0].tolist(),
                "mean": float(te.target_mean_),
            }
    out["versions"] = {"sklearn": sklearn.__version__, "pandas": pd.__version__, "numpy": np.__version__}
    (OUT / "transforms.json").write_text(json.dumps(out, indent=1) + "\n")


panel()
splits()
transforms()
print(f"wrote {OUT}/panel.csv, panel.json, splits.json, transforms.json")
