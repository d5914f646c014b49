#!/usr/bin/env bash
# `mlx ingest` of a large CSV into Parquet against Polars' own Python
# `pl.read_csv(path).write_parquet(out)` on the same file, in one run. Prints seconds,
# the ratio and peak RSS. The file (1 GiB by default) is generated into a cache directory.
#
#   bash bench/ingest/run.sh
#   CSV_MIB=256 bash bench/ingest/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_setup bench-polars-venv bench/ingest/requirements.txt
mlx="$target/release/mlx"
work="${MLX_BENCH_DATA:-$cache/bench-ingest}"
mib="${CSV_MIB:-1024}"
mkdir -p "$work"
csv="$work/sales-${mib}MiB.csv"
if [[ ! -f "$csv" ]]; then
  "$venv/bin/python" - "$csv" "$mib" <<'PY'
import sys, numpy as np, polars as pl
path, mib = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
rows = mib * (1 << 20) // 29  # ~29 bytes a row
df = pl.DataFrame({
    "day": np.datetime64("2000-01-01") + (np.arange(rows) % 3650).astype("timedelta64[D]"),
    "store_id": rng.integers(1, 500, rows),
    "units": rng.integers(0, 1000, rows),
    "price": np.round(rng.uniform(1, 100, rows), 2),
    "channel": rng.choice(["store", "web", "app"], rows),
})
df.write_csv(path)
PY
fi
printf 'data:\n  sources:\n    - { name: sales, uri: %s }\n' "$csv" > "$work/mlx.yaml"
read -r t_pl m_pl < <(time_of "$venv/bin/python" -c "import polars as pl, sys; pl.read_csv(sys.argv[1], try_parse_dates=True).write_parquet(sys.argv[2], compression='zstd')" "$csv" "$work/polars.parquet")
read -r t_mlx m_mlx < <(time_of "$mlx" ingest --config "$work/mlx.yaml" --workdir "$work/.mlx")
echo "CSV $(du -m "$csv" | cut -f1) MiB -> Parquet:"
printf "  polars (python) read_csv().write_parquet()  %7.2f s  %6s MiB\n" "$t_pl" "$m_pl"
printf "  mlx ingest (streaming)                      %7.2f s  %6s MiB\n" "$t_mlx" "$m_mlx"
python3 -c "print(f'  mlx takes {$t_mlx/$t_pl:.2f}x the time of polars, with {$m_mlx/$m_pl:.2f}x its peak memory')"
