"""Loads a DAG file against the Airflow stand-in in stub/ and prints what it built as
JSON: each DAG's arguments, tasks (with their arguments) and edges.

    python3 tests/airflow/inspect_dag.py dags/churn.py
"""
import json
import os
import runpy
import sys
from datetime import timedelta

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub"))
import airflow  # noqa: E402  (the stand-in)


def plain(value):
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


runpy.run_path(sys.argv[1])
out = {}
for dag in airflow.DAGS:
    out[dag.dag_id] = {
        "args": plain(dag.kwargs),
        "tasks": {t: plain(op.kwargs) for t, op in dag.tasks.items()},
        "edges": [[t, d] for t, op in dag.tasks.items() for d in op.downstream],
    }
print(json.dumps(out, indent=1))
