"""Delta tables written by the Python `deltalake` package (delta-rs's own binding), for
bins/mlx-ingest/tests/delta.rs to read with mlx at each version.

    python delta_table.py DIR

makes a table partitioned by `region` at DIR (or an `s3://` URI: see `storage_options`)
in four versions:
  0: three rows;
  1: two rows appended;
  2: one row appended with a new column, `channel` (the schema merged);
  3: the `north` partition deleted (its files removed from the table).
and prints, as JSON, each version's commit time (milliseconds) and its rows as the
package reads them back, sorted by date and region.
"""

import json
import os
import sys
import time

import pandas as pd
from deltalake import DeltaTable, write_deltalake


def frame(rows):
    df = pd.DataFrame(rows)
    df["clicks"] = df["clicks"].astype("int64")
    df["spend"] = df["spend"].astype("float64")
    return df


def storage_options(uri):
    """For an `s3://` URI, the endpoint and credentials from AWS_ENDPOINT,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (the tests point them at
    moto); commits by conditional writes, as mlx makes them."""
    if not uri.startswith("s3://"):
        return None
    return {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "conditional_put": "etag",
    }


def main(path):
    options = storage_options(path)
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
        storage_options=options,
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
        storage_options=options,
    )
    time.sleep(1.1)
    extra = frame([{"date": "2026-01-04", "region": "south", "spend": 70.0, "clicks": 5}])
    extra["channel"] = ["search"]
    write_deltalake(
        path, extra, mode="append", schema_mode="merge", storage_options=options
    )
    time.sleep(1.1)
    DeltaTable(path, storage_options=options).delete("region = 'north'")

    history = {
        h["version"]: h["timestamp"]
        for h in DeltaTable(path, storage_options=options).history()
    }
    versions = []
    for v in sorted(history):
        df = DeltaTable(path, version=v, storage_options=options).to_pandas()
        df = df.sort_values(["date", "region"]).reset_index(drop=True)
        rows = json.loads(df.to_json(orient="records"))
        versions.append({"version": v, "timestamp_ms": history[v], "rows": rows})
    print(json.dumps({"versions": versions}), flush=True)
    # The package's I/O threads abort the interpreter's normal exit after S3 use
    # ("terminate called without an active exception"); everything is printed by now.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
