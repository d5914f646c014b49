"""Delta tables written by the Python `deltalake` package (delta-rs's own binding), for
bins/mlx-ingest/tests/delta.rs to read with mlx at each version.

    python delta_table.py DIR

makes a table partitioned by `region` at DIR in four versions:
  0: three rows;
  1: two rows appended;
  2: one row appended with a new column, `channel` (the schema merged);
  3: the `north` partition deleted (its files removed from the table).
and prints, as JSON, each version's commit time (milliseconds) and its rows as the
package reads them back, sorted by date and region.
"""

import json
import sys
import time

import pandas as pd
from deltalake import DeltaTable, write_deltalake


def frame(rows):
    df = pd.DataFrame(rows)
    df["clicks"] = df["clicks"].astype("int64")
    df["spend"] = df["spend"].astype("float64")
    return df


def main(path):
    write_deltalake(
        path,
        frame(
            [
                {"date": "2026-01-01", "region": "north", "spend": 100.0, "clicks": 10},
                {"date": "2026-01-02", "region": "north", "spend": 150.5, "clicks": 12},
                {"date": "2026-01-01", "region": "south", "spend": 80.25, "clicks": 7},
            ]
        ),
        partition_by=["region"],
    )
    time.sleep(1.1)
    write_deltalake(
        path,
        frame(
            [
                {"date": "2026-01-02", "region": "south", "spend": 90.0, "clicks": 9},
                {"date": "2026-01-03", "region": "south", "spend": 95.5, "clicks": 11},
            ]
        ),
        mode="append",
    )
    time.sleep(1.1)
    extra = frame([{"date": "2026-01-04", "region": "south", "spend": 70.0, "clicks": 5}])
    extra["channel"] = ["search"]
    write_deltalake(path, extra, mode="append", schema_mode="merge")
    time.sleep(1.1)
    DeltaTable(path).delete("region = 'north'")

    history = {h["version"]: h["timestamp"] for h in DeltaTable(path).history()}
    versions = []
    for v in sorted(history):
        df = DeltaTable(path, version=v).to_pandas()
        df = df.sort_values(["date", "region"]).reset_index(drop=True)
        rows = json.loads(df.to_json(orient="records"))
        versions.append({"version": v, "timestamp_ms": history[v], "rows": rows})
    print(json.dumps({"versions": versions}))


if __name__ == "__main__":
    main(sys.argv[1])
