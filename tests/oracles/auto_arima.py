"""Records pmdarima's `auto_arima` (stepwise, its defaults) into
tests/fixtures/ts/auto_arima.json, for mlx's automatic order selection to compare with:
the chosen orders and AIC, and the differencing tests (KPSS for d, OCSB and
Canova-Hansen for D, and statsmodels' KPSS statistic and classical decomposition for the
seasonal strength mlx uses) on the airline passengers (log, monthly), wpi1 and a 1,000-point
daily series with weekly seasonality drawn from a fixed seed (also the benchmark's
series). Run through tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib
import warnings

import numpy as np
import pmdarima
from pmdarima.arima import auto_arima, ndiffs, nsdiffs
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import kpss
from statsmodels.tsa.statespace.tests.results import results_sarimax as stata

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/ts/auto_arima.json"


def daily(n=1000, seed=7):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    weekly = np.array([0.0, -3.0, -2.0, -1.0, 1.0, 6.0, 4.0])
    e = rng.normal(0, 2.0, n)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.6 * ar[i - 1] + e[i]
    return 100 + 0.02 * t + weekly[t % 7] + ar


def case(name, y, m):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = auto_arima(y, m=m, seasonal=m > 1, stepwise=True, suppress_warnings=True, error_action="ignore")
        d = ndiffs(y, test="kpss", alpha=0.05, max_d=2)
        yd = np.diff(y, n=d) if d else y
        out = {
            "name": name,
            "m": m,
            "y": [float(v) for v in y],
            "ndiffs_kpss": int(d),
            "order": list(fit.order),
            "seasonal_order": list(fit.seasonal_order),
            "with_intercept": bool(fit.with_intercept),
            "aic": float(fit.aic()),
        }
        # KPSS (level) statistics with pmdarima's short lag rule, as differencing proceeds.
        lags = lambda v: int(4 * (len(v) / 100) ** 0.25)
        out["kpss"] = [float(kpss(np.diff(y, n=k) if k else y, regression="c", nlags=lags(np.diff(y, n=k) if k else y))[0]) for k in range(3)]
        if m > 1:
            out["nsdiffs_ocsb"] = int(nsdiffs(y, m=m, test="ocsb"))
            out["nsdiffs_ch"] = int(nsdiffs(y, m=m, test="ch"))
            # Seasonal strength (Wang, Smith & Hyndman) over a classical decomposition.
            dec = seasonal_decompose(y, period=m)
            r, sea = dec.resid, dec.seasonal
            ok = ~np.isnan(r)
            out["seasonal_strength"] = float(max(0.0, 1 - np.var(r[ok]) / np.var(sea[ok] + r[ok])))
        return out


cases = [
    case("air_log", np.log(np.asarray(stata.air2_stationary["data"], dtype=float)), 12),
    case("wpi1", np.asarray(stata.wpi1_stationary["data"], dtype=float), 1),
    case("daily_weekly", daily(), 7),
]
OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps({"versions": {"pmdarima": pmdarima.__version__, "numpy": np.__version__}, "cases": cases}, indent=1) + "\n")
print(f"wrote {OUT}")
