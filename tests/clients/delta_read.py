"""Reads a Delta table as the Python `deltalake` package (delta-rs's own binding) reads
it, for the tests of the tables mlx writes (feature views, batch predictions):

    python delta_read.py URI

prints, as JSON, every version in the table's history (oldest first) with its
operation and its rows as the package reads them back at that version (time travel).
For an `s3://` URI, the storage options are delta_table.py's.
"""

import json
import os
import sys

from deltalake import DeltaTable

from delta_table import storage_options


def plain(v):
    """A value as JSON carries it exactly: floats by their shortest round-trip text
    (Python's), NaN as null, dates and times as ISO text."""
    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def main(uri):
    options = storage_options(uri)
    latest = DeltaTable(uri, storage_options=options)
    history = sorted(latest.history(), key=lambda h: h["version"])
    versions = []
    for h in history:
        v = h["version"]
        table = DeltaTable(uri, version=v, storage_options=options)
        rows = [
            {k: plain(x) for k, x in r.items()}
            for r in table.to_pyarrow_table().to_pylist()
        ]
        versions.append(
            {
                "version": v,
                "operation": h.get("operation"),
                "files": len(table.file_uris()),
                "columns": [f.name for f in table.schema().fields],
                "rows": rows,
            }
        )
    print(json.dumps({"versions": versions}), flush=True)
    # The package's I/O threads abort the interpreter's normal exit after S3 reads
    # ("terminate called without an active exception"); everything is printed by now.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
