#!/usr/bin/env bash
# Lags 1/7/28 and a 7-row rolling mean per entity, on 10 million rows x 10,000
# entities: `mlx-features compute` against Python Polars (the same expressions) and
# pandas (`groupby().shift()` / `.rolling()`), on the same Parquet file, in one run.
# Each reads the file, orders rows by time, computes the features and writes Parquet.
# Prints seconds, the ratios and peak RSS.
#
#   bash bench/features/run.sh
#   ROWS=1000000 bash bench/features/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_setup bench-features-venv bench/features/requirements.txt
mlx="$target/release/mlx"
work="${MLX_BENCH_DATA:-$cache/bench-features}"
rows="${ROWS:-10000000}"
entities="${ENTITIES:-10000}"
mkdir -p "$work"
data="$work/panel-$rows-$entities.parquet"
if [[ ! -f "$data" ]]; then
  "$venv/bin/python" - "$data" "$rows" "$entities" <<'PY'
import sys, numpy as np, polars as pl
path, rows, entities = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
per = rows // entities
# Every entity has one row per day; rows are shuffled so the time sort does real work.
day = np.tile(np.arange(per), entities)
entity = np.repeat(np.arange(entities), per)
order = rng.permutation(len(day))
pl.DataFrame({
    "entity": entity[order],
    "date": (np.datetime64("2000-01-01") + day[order].astype("timedelta64[D]")),
    "value": np.round(rng.normal(100, 20, len(day)), 2),
}).write_parquet(path)
PY
fi
cat > "$work/mlx.yaml" <<'YAML'
data:
  time_column: date
  entity_columns: [entity]
features:
  incomplete_rows: keep
  derived:
    - { name: lag_1, kind: lag, column: value, periods: 1 }
    - { name: lag_7, kind: lag, column: value, periods: 7 }
    - { name: lag_28, kind: lag, column: value, periods: 28 }
    - { name: rolling_mean_7, kind: rolling, column: value, window: 7, agg: mean }
YAML
cat > "$work/polars_features.py" <<'PY'
import sys, polars as pl
df = pl.read_parquet(sys.argv[1]).sort("date", maintain_order=True)
v = pl.col("value")
df.with_columns(
    v.shift(1).over("entity").alias("lag_1"),
    v.shift(7).over("entity").alias("lag_7"),
    v.shift(28).over("entity").alias("lag_28"),
    v.rolling_mean(7).over("entity").alias("rolling_mean_7"),
).write_parquet(sys.argv[2], compression="zstd")
PY
cat > "$work/pandas_features.py" <<'PY'
import sys, pandas as pd
df = pd.read_parquet(sys.argv[1]).sort_values("date", kind="stable").reset_index(drop=True)
g = df.groupby("entity", sort=False)["value"]
df["lag_1"] = g.shift(1)
df["lag_7"] = g.shift(7)
df["lag_28"] = g.shift(28)
df["rolling_mean_7"] = g.rolling(7).mean().reset_index(level=0, drop=True)
df.to_parquet(sys.argv[2], compression="zstd")
PY
read -r t_pl m_pl < <(time_of "$venv/bin/python" "$work/polars_features.py" "$data" "$work/polars.parquet")
read -r t_pd m_pd < <(time_of "$venv/bin/python" "$work/pandas_features.py" "$data" "$work/pandas.parquet")
read -r t_mlx m_mlx < <(time_of "$mlx" features compute --config "$work/mlx.yaml" --data "$data" --out "$work/mlx.parquet")
# The three outputs hold the same values.
"$venv/bin/python" - "$work" <<'PY'
import sys, polars as pl
w = sys.argv[1]
a = pl.read_parquet(f"{w}/mlx.parquet").sort("entity", "date")
for peer in ["polars", "pandas"]:
    b = pl.read_parquet(f"{w}/{peer}.parquet").sort("entity", "date")
    for c in ["lag_1", "lag_7", "lag_28", "rolling_mean_7"]:
        d = (a[c] - b[c]).abs().max()
        assert d is None or d < 1e-9, (peer, c, d)
print("  outputs agree (lags exactly, rolling means to 1e-9)")
PY
echo "$(printf "%'d" "$rows") rows x $(printf "%'d" "$entities") entities: lags 1/7/28 + rolling mean 7 per entity:"
printf "  polars (python)        %7.2f s  %6s MiB\n" "$t_pl" "$m_pl"
printf "  pandas groupby         %7.2f s  %6s MiB\n" "$t_pd" "$m_pd"
printf "  mlx-features compute   %7.2f s  %6s MiB\n" "$t_mlx" "$m_mlx"
python3 -c "print(f'  mlx takes {$t_mlx/$t_pl:.2f}x the time of polars; pandas takes {$t_pd/$t_mlx:.1f}x the time of mlx')"
