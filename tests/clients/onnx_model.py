"""Runs an ONNX model mlx exported with onnxruntime (tests/mlflow.rs).
Usage: onnx_model.py MODEL.onnx ROWS.parquet MLX_PREDICTIONS.csv

Checks the model with onnx.checker (full check, with shape inference), feeds every
input of the model from the columns of ROWS (numbers as float64 [N, 1], categories as
text [N, 1], missing as ""), and prints one JSON object: the inputs, the outputs, and
per row both onnxruntime's answers and mlx's (read from the CSV that mlx-serve batch
wrote for the same rows), as `prediction` and `proba_<class>`.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd


def main():
    path, rows, mlx_csv = sys.argv[1:4]
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    frame = pd.read_parquet(rows)
    feed = {}
    for i in session.get_inputs():
        col = frame[i.name]
        if i.type == "tensor(string)":
            feed[i.name] = np.array(
                [["" if pd.isna(v) else str(v)] for v in col.tolist()], dtype=object
            )
        else:
            feed[i.name] = col.astype("float64").to_numpy().reshape(-1, 1)
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, feed)))
    mine = pd.read_csv(mlx_csv, keep_default_na=False)
    probas = [c for c in mine.columns if c.startswith("proba_")]
    answers = []
    for r in range(len(frame)):
        if "label" in got:
            a = {"prediction": str(got["label"][r])}
            for j, c in enumerate(probas):
                a[c] = float(got["probabilities"][r][j])
        else:
            a = {"prediction": float(got["prediction"][r][0])}
        answers.append(a)
    cols = ["prediction"] + probas
    json.dump(
        {
            "inputs": [i.name for i in session.get_inputs()],
            "outputs": names,
            "got": answers,
            "mlx": mine[cols].to_dict(orient="records"),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
