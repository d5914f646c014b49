#!/usr/bin/env bash
# Loads `mlx export airflow`'s DAGs with real Airflow (from PyPI, into a virtual
# environment in a cache directory) and prints their tasks and edges; fails on any
# import error. Not part of CI, which checks the DAG against tests/airflow/stub.
#
#   bash tests/airflow/check-with-airflow.sh path/to/mlx.yaml [MLX_BINARY]
set -euo pipefail
config="$(realpath "${1:?usage: check-with-airflow.sh CONFIG [MLX_BINARY]}")"
mlx="$(realpath "${2:-${CARGO_TARGET_DIR:-target}/debug/mlx}")"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/mlx/airflow-venv"
if [[ ! -x "$venv/bin/airflow" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "apache-airflow==3.3.2"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dags"
(cd "$(dirname "$config")" && "$mlx" --config "$config" export airflow -o "$work/dags/mlx.py")
AIRFLOW_HOME="$work/home" "$venv/bin/python" - "$work/dags" <<'PY'
import sys
import warnings

warnings.simplefilter("ignore")
from airflow.models.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
if bag.import_errors:
    sys.exit(f"import errors: {bag.import_errors}")
for dag_id, dag in sorted(bag.dags.items()):
    print(dag_id, dag.schedule, "retries:", dag.default_args.get("retries"))
    for t in dag.tasks:
        print("  ", t.task_id, "->", sorted(t.downstream_task_ids))
PY
