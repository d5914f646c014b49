"""Records statsmodels' SARIMAX into tests/fixtures/ts/arima.json, for mlx's ARIMA to
agree with: the fitted parameters, log-likelihood, information criteria, the
log-likelihood at fixed parameters (the Kalman filter alone) and multi-step forecasts
with their variances.

The data sets and Stata's published results ship inside statsmodels, in its SARIMAX test
results: the airline model on log(air2) with (0,1,1)(0,1,1)12, ARIMA(1,1,1) with a
constant on wpi1, and the Friedman ARMAX(1,1) of consumption on money (m2 and a
constant). statsmodels' defaults are used (differencing inside the state vector, exact
diffuse initialisation, L-BFGS). Run through tests/oracles/record.sh, which pins the
versions.
"""

import json
import pathlib
import warnings

import numpy as np
import scipy
import statsmodels
from statsmodels.tsa.statespace import sarimax
from statsmodels.tsa.statespace.tests.results import results_sarimax as stata

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/ts/arima.json"
H = 12


def case(name, y, order, seasonal, trend, exog, exog_future, stata_params, stata_llf):
    model = sarimax.SARIMAX(y, exog=exog, order=order, seasonal_order=seasonal, trend=trend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(disp=0)
        at_stata = model.filter(np.array(stata_params))
    steps = len(exog_future) if exog_future is not None else H
    fc = fit.get_forecast(steps, exog=exog_future)
    ci = fc.conf_int(alpha=0.05)
    return {
        "name": name,
        "y": [float(v) for v in y],
        "exog": None if exog is None else np.asarray(exog).tolist(),
        "exog_future": None if exog_future is None else np.asarray(exog_future).tolist(),
        "order": list(order),
        "seasonal_order": list(seasonal),
        "trend": trend,
        "stata": {"params": stata_params, "llf": stata_llf},
        "statsmodels": {
            "param_names": list(model.param_names),
            "params": [float(v) for v in fit.params],
            "llf": float(fit.llf),
            "aic": float(fit.aic),
            "bic": float(fit.bic),
            "aicc": float(fit.aicc),
            "llf_at_stata_params": float(at_stata.llf),
            "forecast_mean": [float(v) for v in np.asarray(fc.predicted_mean)],
            "forecast_var": [float(v) for v in np.asarray(fc.var_pred_mean)],
            "forecast_lower_95": [float(v) for v in np.asarray(ci)[:, 0]],
            "forecast_upper_95": [float(v) for v in np.asarray(ci)[:, 1]],
        },
    }


air = stata.air2_stationary
air_params = air["params_ma"] + air["params_seasonal_ma"] + air["params_variance"]
wpi = stata.wpi1_stationary
# Stata estimates the mean of the differenced series; statsmodels' `trend="c"` is the
# intercept of the ARMA equation: (1 - ar) * mean.
wpi_params = [wpi["params_mean"][0] * (1 - wpi["params_ar"][0])] + wpi["params_ar"] + wpi["params_ma"] + wpi["params_variance"]
fr = stata.friedman2_mle
consump = np.asarray(fr["data"]["consump"], dtype=float)
m2 = np.asarray(fr["data"]["m2"], dtype=float)
exog = np.column_stack([np.ones_like(m2), m2])
# The future money supply: the last four quarters again, plus 2%.
exog_future = exog[-4:] * np.array([1.0, 1.02])
fr_params = fr["params_exog"] + fr["params_ar"] + fr["params_ma"] + fr["params_variance"]

cases = [
    case("airline", np.log(air["data"]), (0, 1, 1), (0, 1, 1, 12), "n", None, None, air_params, air["loglike"]),
    case("wpi1_arima_111_c", np.asarray(wpi["data"], dtype=float), (1, 1, 1), (0, 0, 0, 0), "c", None, None, wpi_params, wpi["loglike"]),
    case("friedman_armax_11", consump, (1, 0, 1), (0, 0, 0, 0), "n", exog, exog_future, fr_params, fr["loglike"]),
]

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(
    json.dumps(
        {
            "versions": {"statsmodels": statsmodels.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
            "cases": cases,
        },
        indent=1,
    )
    + "\n"
)
print(f"wrote {OUT}")
