"""Records statsmodels' ExponentialSmoothing into tests/fixtures/ts/ets.json, for mlx's
exponential smoothing to agree with: simple (Nile river flow), Holt's linear trend
(wpi1) and Holt-Winters with additive and multiplicative seasonality (the airline
passengers), each twice: at fixed smoothing parameters and initial states (the
recursions alone: fitted values and forecasts) and fitted by statsmodels' defaults
(least squares over the smoothing parameters and the initial states), whose sum of
squared errors mlx must reach. All three data sets ship inside statsmodels. Run through
tests/oracles/record.sh, which pins the versions.
"""

import json
import pathlib
import warnings

import numpy as np
import scipy
import statsmodels
from statsmodels.datasets import nile
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from statsmodels.tsa.statespace.tests.results import results_sarimax as stata

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/ts/ets.json"
H = 24


def textbook(y, trend, seasonal, m, damped, fixed, initial, h):
    """The Holt-Winters recursions written out, for the forecasts at horizons that are
    multiples of the period: there statsmodels' HoltWinters reads the seasonal state of
    one period earlier than the last one it computed (its forecast copies
    `s[nobs - 1 + j % m]`), so it is not the reference for those steps."""
    a = fixed["smoothing_level"]
    b_ = fixed.get("smoothing_trend", 0.0)
    g = fixed.get("smoothing_seasonal", 0.0)
    phi = fixed.get("damping_trend", 1.0) if damped else 1.0
    lvl = initial["initial_level"]
    b = initial.get("initial_trend", 0.0) if trend else 0.0
    s = list(initial.get("initial_seasonal", []))
    for t, obs in enumerate(y):
        tr = lvl + phi * b
        if seasonal == "add":
            sp = s[t % m]
            new = a * (obs - sp) + (1 - a) * tr
            s[t % m] = g * (obs - tr) + (1 - g) * sp
        elif seasonal == "mul":
            sp = s[t % m]
            new = a * obs / sp + (1 - a) * tr
            s[t % m] = g * obs / tr + (1 - g) * sp
        else:
            new = a * obs + (1 - a) * tr
        if trend:
            b = b_ * (new - lvl) + (1 - b_) * phi * b
        lvl = new
    out, damp, power = [], 0.0, 1.0
    for k in range(1, h + 1):
        power *= phi
        damp += power
        tr = lvl + damp * b
        if seasonal == "add":
            out.append(tr + s[(len(y) + k - 1) % m])
        elif seasonal == "mul":
            out.append(tr * s[(len(y) + k - 1) % m])
        else:
            out.append(tr)
    return out


def record(name, y, trend, seasonal, periods, damped, fixed, initial):
    kw = dict(trend=trend, seasonal=seasonal, seasonal_periods=periods, damped_trend=damped)
    known = ExponentialSmoothing(y, initialization_method="known", **kw, **initial)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at = known.fit(optimized=False, **fixed)
        fit = ExponentialSmoothing(y, **kw).fit()
    p = fit.params
    return {
        "name": name,
        "y": [float(v) for v in y],
        "trend": trend,
        "seasonal": seasonal,
        "seasonal_periods": periods,
        "damped": damped,
        "fixed": {
            "params": {k: float(v) for k, v in fixed.items()},
            "initial": {k: (np.asarray(v, dtype=float).tolist() if np.ndim(v) else float(v)) for k, v in initial.items()},
            "fitted": [float(v) for v in at.fittedvalues],
            "forecast": [float(v) for v in at.forecast(H)],
            "forecast_textbook": [float(v) for v in textbook(y, trend, seasonal, periods, damped, fixed, initial, H)],
            "sse": float(at.sse),
        },
        "fit": {
            "alpha": float(p["smoothing_level"]),
            "beta": None if trend is None else float(p["smoothing_trend"]),
            "gamma": None if seasonal is None else float(p["smoothing_seasonal"]),
            "phi": float(p["damping_trend"]) if damped else None,
            "sse": float(fit.sse),
            "aic": float(fit.aic),
            "forecast": [float(v) for v in fit.forecast(H)],
        },
    }


flow = np.asarray(nile.load_pandas().data["volume"], dtype=float)
wpi = np.asarray(stata.wpi1_stationary["data"], dtype=float)
air = np.asarray(stata.air2_stationary["data"], dtype=float)
season_add = [-25.0, -30.0, 5.0, 0.0, 5.0, 40.0, 70.0, 65.0, 20.0, -10.0, -40.0, -20.0]
season_mul = [0.9, 0.88, 1.02, 0.99, 0.98, 1.12, 1.23, 1.22, 1.07, 0.93, 0.8, 0.9]

cases = [
    record("nile_simple", flow, None, None, None, False,
           {"smoothing_level": 0.25}, {"initial_level": 1100.0}),
    record("wpi1_holt", wpi, "add", None, None, False,
           {"smoothing_level": 0.9, "smoothing_trend": 0.3}, {"initial_level": 30.0, "initial_trend": 0.1}),
    record("wpi1_holt_damped", wpi, "add", None, None, True,
           {"smoothing_level": 0.9, "smoothing_trend": 0.3, "damping_trend": 0.95}, {"initial_level": 30.0, "initial_trend": 0.1}),
    record("air_hw_additive", air, "add", "add", 12, False,
           {"smoothing_level": 0.3, "smoothing_trend": 0.05, "smoothing_seasonal": 0.4},
           {"initial_level": 120.0, "initial_trend": 1.5, "initial_seasonal": season_add}),
    record("air_hw_multiplicative", air, "add", "mul", 12, False,
           {"smoothing_level": 0.3, "smoothing_trend": 0.05, "smoothing_seasonal": 0.4},
           {"initial_level": 120.0, "initial_trend": 1.5, "initial_seasonal": season_mul}),
]

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(
    json.dumps(
        {"versions": {"statsmodels": statsmodels.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
         "horizon": H, "cases": cases},
        indent=1,
    )
    + "\n"
)
print(f"wrote {OUT}")
