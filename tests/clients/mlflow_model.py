"""Loads an MLflow model directory with MLflow's own loader and scores rows with it
(tests/mlflow.rs). Usage: mlflow_model.py MODEL_DIR ROWS.parquet MLX_PREDICTIONS.csv

Reads the model's signature from its MLmodel (through mlflow.models.get_model_info),
takes those columns of ROWS (numbers as float64, as the signature's `double` asks),
predicts with mlflow.pyfunc.load_model, and prints one JSON object: the signature's
inputs and outputs, the flavors, and per row both MLflow's and mlx's answers (mlx's read
from the CSV that mlx-serve batch wrote for the same rows).
"""

import json
import sys

import mlflow
import pandas as pd


def main():
    model_dir, rows, mlx_csv = sys.argv[1:4]
    info = mlflow.models.get_model_info(model_dir)
    inputs = info.signature.inputs.to_dict()
    outputs = info.signature.outputs.to_dict()
    frame = pd.read_parquet(rows)
    x = pd.DataFrame()
    for c in inputs:
        if c["type"] == "double":
            x[c["name"]] = frame[c["name"]].astype("float64")
        else:
            x[c["name"]] = frame[c["name"]].astype("string").astype(object)
    got = mlflow.pyfunc.load_model(model_dir).predict(x)
    mine = pd.read_csv(mlx_csv, keep_default_na=False)
    names = [o["name"] for o in outputs]
    json.dump(
        {
            "inputs": inputs,
            "outputs": outputs,
            "flavors": sorted(info.flavors),
            "got": got[names].to_dict(orient="records"),
            "mlx": mine[names].to_dict(orient="records"),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
