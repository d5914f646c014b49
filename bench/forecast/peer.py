"""The Python side of bench/forecast/run.sh: writes the series, times statsmodels and
pmdarima, runs mlx's side on the same file, and prints the comparison."""

import json
import pathlib
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from pmdarima.arima import auto_arima
from statsmodels.tsa.statespace import sarimax
from statsmodels.tsa.statespace.tests.results import results_sarimax as stata

work, repeat, mlx = sys.argv[1], int(sys.argv[2]), sys.argv[3]
warnings.simplefilter("ignore")


air = np.log(np.asarray(stata.air2_stationary["data"], dtype=float))
# The daily series of tests/oracles/auto_arima.py, as its fixture recorded it.
fixture = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/ts/auto_arima.json"
y = np.asarray(next(c["y"] for c in json.loads(fixture.read_text())["cases"] if c["name"] == "daily_weekly"))
series = f"{work}/series.json"
with open(series, "w") as f:
    json.dump({"air_log": air.tolist(), "daily": y.tolist(), "repeat": repeat}, f)

times = []
for _ in range(repeat):
    t = time.perf_counter()
    res = sarimax.SARIMAX(air, order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=0)
    fc = res.forecast(12)
    times.append(time.perf_counter() - t)
sm_air = statistics.median(times)

t = time.perf_counter()
pm = auto_arima(y, m=7, seasonal=True, stepwise=True, suppress_warnings=True, error_action="ignore")
pm_auto = time.perf_counter() - t
py_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

# GNU time measures the child alone (a forked Python would count its own pages).
rss_file = f"{work}/mlx.rss"
out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, mlx, series], check=True, capture_output=True, text=True).stdout
ours = json.loads(out)
mlx_rss = int(open(rss_file).read().split()[-1]) / 1024

print(f"{'':34} {'mlx':>10} {'python':>10} {'ratio':>7}")
print(f"{'airline fit + 12-step forecast (s)':34} {ours['airline_seconds']:10.5f} {sm_air:10.5f} {sm_air / ours['airline_seconds']:6.1f}x")
print(f"{'auto-ARIMA, 1,000 daily points (s)':34} {ours['auto_seconds']:10.3f} {pm_auto:10.3f} {pm_auto / ours['auto_seconds']:6.1f}x")
print(f"{'peak RSS (MiB)':34} {mlx_rss:10.0f} {py_rss:10.0f}")
print()
print(f"airline: mlx theta {ours['airline_params'][0]:.6f} Theta {ours['airline_params'][1]:.6f} "
      f"llf {ours['airline_llf']:.5f}; statsmodels theta {res.params[0]:.6f} Theta {res.params[1]:.6f} "
      f"llf {res.llf:.5f}; 12-step forecast {ours['airline_forecast_12']:.6f} vs {fc[-1]:.6f}")
print(f"auto-ARIMA: mlx {ours['auto_order']} AIC {ours['auto_aic']:.2f} ({ours['auto_fits']} fits); "
      f"pmdarima {pm.order}{pm.seasonal_order} AIC {pm.aic():.2f}")
