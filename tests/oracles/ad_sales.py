"""Records what statsmodels' SARIMAX forecasts for the ad-sales example
(config/examples/ad-sales.yaml on config/examples/data/ad_sales.csv), for mlx's rolling
evaluation to agree with:

- the same rows: the first 7 days have no lag_7 and are dropped; the last 109 rows are
  the test set; the 614 before them train;
- SARIMAX(1,1,1)(0,1,1,7) with ad_spend, price, competitor_price, promotion and
  is_holiday as regressors, no trend, fitted on the training rows;
- the test rows forecast 7 days at a time, each block from the actual values before it
  with the fitted parameters (`res.apply(...)`, no refit), with the block's regressors.

The series and regressors are recorded too, so the test needs nothing else.

    -> tests/fixtures/ts/ad_sales.json

Re-record after changing the example's data. Run through tests/oracles/record.sh,
which pins the versions.
"""

import json
import pathlib

import numpy as np
import pandas as pd
import statsmodels
from statsmodels.tsa.statespace.sarimax import SARIMAX

ROOT = pathlib.Path(__file__).resolve().parents[2]
df = pd.read_csv(ROOT / "config/examples/data/ad_sales.csv").iloc[7:].reset_index(drop=True)
EXOG = ["ad_spend", "price", "competitor_price", "promotion", "is_holiday"]
y = df["sales"].to_numpy(float)
x = df[EXOG].to_numpy(float)
N_TEST, HORIZON = 109, 7
n_train = len(df) - N_TEST

res = SARIMAX(y[:n_train], exog=x[:n_train], order=(1, 1, 1), seasonal_order=(0, 1, 1, 7)).fit(
    disp=False, maxiter=1000
)
pred = []
for s in range(n_train, len(df), HORIZON):
    k = min(HORIZON, len(df) - s)
    block = res.apply(y[:s], exog=x[:s])
    pred.extend(block.forecast(k, exog=x[s : s + k]).tolist())
truth = y[n_train:]
err = np.asarray(pred) - truth
out = {
    "statsmodels": statsmodels.__version__,
    "y": y.tolist(),
    "x": x.tolist(),
    "n_train": n_train,
    "horizon": HORIZON,
    "order": [1, 1, 1],
    "seasonal_order": [0, 1, 1, 7],
    "param_names": res.model.param_names,
    "param_values": res.params.tolist(),
    "llf": float(res.llf),
    # The exact likelihood of the differenced series at the same parameters (what mlx
    # computes); the default's diffuse start of the differences gives `llf`.
    "llf_differenced": float(
        SARIMAX(
            y[:n_train],
            exog=x[:n_train],
            order=(1, 1, 1),
            seasonal_order=(0, 1, 1, 7),
            simple_differencing=True,
        ).loglike(res.params)
    ),
    "predictions": pred,
    "wape": float(np.abs(err).sum() / np.abs(truth).sum()),
    "rmse": float(np.sqrt((err**2).mean())),
    "mae": float(np.abs(err).mean()),
}
path = ROOT / "tests/fixtures/ts/ad_sales.json"
path.write_text(json.dumps(out, indent=1) + "\n")
