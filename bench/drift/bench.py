"""Generates reference/current Parquet files and times mlx-validate drift against
Evidently's DataDriftPreset on them, each in its own process under /usr/bin/time
(wall seconds and peak RSS). Run through bench/drift/run.sh."""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])


def generate(path, rows, numeric, categorical, seed, shifted):
    rng = np.random.default_rng(seed)
    cols = {}
    for i in range(numeric):
        shift = 0.25 if (shifted and i % 5 == 0) else 0.0
        cols[f"n{i}"] = rng.normal(shift, 1.0, rows)
    for i in range(categorical):
        p = np.array([0.4, 0.25, 0.15, 0.1, 0.1])
        if shifted and i % 3 == 0:
            p = np.array([0.25, 0.25, 0.2, 0.15, 0.15])
        cols[f"c{i}"] = CATEGORIES[rng.choice(5, size=rows, p=p)]
    pq.write_table(pa.table(cols), path, compression="zstd")


def timed(cmd, ok=(0,)):
    with tempfile.NamedTemporaryFile("r") as t:
        out = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd], capture_output=True, text=True)
        seconds, kib = t.read().split()[-2:]
    if out.returncode not in ok:
        sys.exit(f"{cmd[0]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return float(seconds), int(kib) / 1024, out.stdout


EVIDENTLY = """
import sys, pandas as pd
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    snapshot = Report([DataDriftPreset()]).run(reference_data=ref, current_data=cur)
    result = snapshot.dict()
except ImportError:
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref, current_data=cur)
    result = report.as_dict()
drifted = None
for m in result.get("metrics", []):
    v = m.get("value")
    if isinstance(v, dict) and "count" in v and "share" in v:
        drifted = v["count"]
        break
print(drifted)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--numeric", type=int, required=True)
    ap.add_argument("--categorical", type=int, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--mlx", required=True)
    ap.add_argument("--mlx-only", action="store_true")
    a = ap.parse_args()
    data = pathlib.Path(a.data)
    data.mkdir(parents=True, exist_ok=True)
    stem = f"{a.rows}x{a.numeric}n{a.categorical}c"
    ref, cur = data / f"{stem}-reference.parquet", data / f"{stem}-current.parquet"
    if not ref.exists():
        generate(ref, a.rows, a.numeric, a.categorical, 1, False)
        generate(cur, a.rows, a.numeric, a.categorical, 2, True)
    print(f"data: {a.rows:,} rows x {a.numeric} numeric + {a.categorical} categorical columns ({ref.stat().st_size / 2**20:.0f} + {cur.stat().st_size / 2**20:.0f} MiB Parquet)")

    # mlx-validate exits 1 when the dataset drifted: that is an answer, not a failure.
    t_mlx, rss_mlx, out = timed([a.mlx, "drift", "--reference", str(ref), "--current", str(cur), "--json", "-q"], ok=(0, 1))
    report = json.loads(out)
    print(f"mlx-validate drift:       {t_mlx:8.2f} s   peak RSS {rss_mlx:8.0f} MiB   drifted columns {report['drifted_columns']}")
    if a.mlx_only:
        return
    t_ev, rss_ev, out = timed([sys.executable, "-c", EVIDENTLY, str(ref), str(cur)])
    print(f"Evidently DataDriftPreset: {t_ev:8.2f} s   peak RSS {rss_ev:8.0f} MiB   drifted columns {out.strip()}")
    print(f"ratio: mlx is {t_ev / t_mlx:.1f}x faster, with {rss_ev / rss_mlx:.1f}x less peak memory")


if __name__ == "__main__":
    main()
