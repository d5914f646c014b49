"""What MLflow's own client reads back from a server mlx mirrors to (tests/mlflow.rs).

Usage: mlflow_mirror.py URI EXPERIMENT MODEL DOWNLOAD_DIR

Prints one JSON object: every run of EXPERIMENT (params, latest metrics, tags, the full
history of every metric, the dataset inputs, and the SHA-256 of every artifact as
downloaded), and registered model MODEL (aliases, each alias resolved by
get_model_version_by_alias, versions with their tags, source and run, and the SHA-256 of
the bundle downloaded from the version's source).
"""

import hashlib
import json
import os
import sys

from mlflow.tracking import MlflowClient
from mlflow.exceptions import MlflowException


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def artifacts(client, run_id, dest, path=None):
    out = {}
    for a in client.list_artifacts(run_id, path):
        if a.is_dir:
            out.update(artifacts(client, run_id, dest, a.path))
        else:
            local = client.download_artifacts(run_id, a.path, dest)
            out[a.path] = sha256(local)
    return out


def main():
    uri, experiment, model, dest = sys.argv[1:5]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = []
    if exp is not None:
        for r in client.search_runs([exp.experiment_id], max_results=5000):
            rid = r.info.run_id
            where = os.path.join(dest, rid)
            os.makedirs(where, exist_ok=True)
            runs.append({
                "id": rid,
                "name": r.info.run_name,
                "status": r.info.status,
                "params": r.data.params,
                "metrics": r.data.metrics,
                "tags": r.data.tags,
                "histories": {
                    k: [[m.step, m.value, m.timestamp] for m in client.get_metric_history(rid, k)]
                    for k in r.data.metrics
                },
                "inputs": [
                    {"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
                    for d in (r.inputs.dataset_inputs if r.inputs else [])
                ],
                "artifacts": artifacts(client, rid, where),
            })
    registered = None
    try:
        m = client.get_registered_model(model)
    except MlflowException:
        m = None
    if m is not None:
        versions = []
        for v in client.search_model_versions(f"name = '{model}'"):
            where = os.path.join(dest, "v" + v.version)
            os.makedirs(where, exist_ok=True)
            bundle = client.download_artifacts(v.run_id, "bundle/bundle.tar", where)
            versions.append({
                "version": v.version,
                "run_id": v.run_id,
                "source": v.source,
                "tags": v.tags,
                "bundle_sha256": sha256(bundle),
            })
        registered = {
            "aliases": dict(m.aliases),
            "by_alias": {a: client.get_model_version_by_alias(model, a).version for a in m.aliases},
            "versions": versions,
        }
    json.dump({"runs": runs, "model": registered}, sys.stdout)


if __name__ == "__main__":
    main()
