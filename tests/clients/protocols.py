"""The real clients of the inference protocols against a running mlx-serve:
Triton's `tritonclient.http` (the Open Inference Protocol: health, metadata, inference
with binary tensor data and with JSON, output selection, a versioned route, an error)
and MLflow's own scoring-server client and payload helpers (`ScoringServerClient`,
`convert_input_example_to_serving_input`, `dump_input_data`). Prints what each
answered as one JSON object, which bins/mlx-serve/tests/serve.rs compares with the
server's /v1/predict.

    python protocols.py URL MODEL ROWS.json INPUTS
"""
import json
import sys

import numpy as np
import pandas as pd
import requests
import tritonclient.http as triton
from mlflow.models import convert_input_example_to_serving_input
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from mlflow.utils.proto_json_utils import dump_input_data
from tritonclient.utils import InferenceServerException

url, name, rows_path, signature = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
host, port = url.removeprefix("http://").split(":")
frame = pd.DataFrame(json.load(open(rows_path)))
out = {}


def text(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values]


# --- the Open Inference Protocol, as Triton's client speaks it ---
client = triton.InferenceServerClient(url=f"{host}:{port}")
out["live"] = client.is_server_live()
out["ready"] = client.is_server_ready()
out["model_ready"] = client.is_model_ready(name)
out["server"] = client.get_server_metadata()
meta = client.get_model_metadata(name)
out["metadata"] = meta


def tensors(binary, age_type="FP64"):
    made = []
    for column in frame.columns:
        if column == "customer_id":
            data, datatype = frame[column].to_numpy(np.int64), "INT64"
        elif not pd.api.types.is_numeric_dtype(frame[column]):
            data, datatype = frame[column].to_numpy(np.object_), "BYTES"
        elif column == "age" and age_type == "BYTES":
            data, datatype = frame[column].astype(str).to_numpy(np.object_), "BYTES"
        else:
            data, datatype = frame[column].to_numpy(np.float64), "FP64"
        t = triton.InferInput(column, list(data.shape), datatype)
        t.set_data_from_numpy(data, binary_data=binary)
        made.append(t)
    return made


names = [o["name"] for o in meta["outputs"]]
# The client's default: binary tensor data both ways.
r = client.infer(name, tensors(True))
out["binary"] = {n: text(r.as_numpy(n).tolist()) for n in names}
out["binary_version"] = r.get_response()["model_version"]
# JSON both ways, on the versioned route, two outputs chosen (one of them binary).
chosen = [triton.InferRequestedOutput(names[-2], binary_data=False),
          triton.InferRequestedOutput("prediction", binary_data=True)]
r = client.infer(name, tensors(False), model_version=meta["versions"][0], outputs=chosen)
out["chosen"] = {o["name"]: text(r.as_numpy(o["name"]).tolist()) for o in r.get_response()["outputs"]}
try:
    client.infer(name, tensors(False, age_type="BYTES"))
    out["wrong_datatype"] = None
except InferenceServerException as e:
    out["wrong_datatype"] = {"status": e.status(), "message": e.message()}

# --- MLflow's scoring API, as MLflow's client and helpers write it ---
scoring = ScoringServerClient(host, port)
scoring.wait_server_ready(timeout=30)
out["mlflow_client"] = scoring.invoke(frame)["predictions"]
payloads = {
    "dataframe_split": convert_input_example_to_serving_input(frame),
    "inputs_columns": convert_input_example_to_serving_input(
        {c: frame[c].to_numpy() for c in frame.columns}),
    "inputs_records": convert_input_example_to_serving_input(frame.to_dict(orient="records")),
    # Rows as arrays in the signature's order, which holds the derived feature too.
    "inputs_ndarray": dump_input_data(frame.assign(
        income_per_year=frame.income / (frame.tenure_months / 12 + 1))[signature].to_numpy()),
    "dataframe_records": json.dumps({"dataframe_records": frame.to_dict(orient="records")}),
    "instances": json.dumps({"instances": frame.to_dict(orient="records")}),
}
for form, payload in payloads.items():
    answer = requests.post(f"{url}/invocations", data=payload,
                           headers={"Content-Type": "application/json"})
    out[form] = answer.json()["predictions"] if answer.ok else answer.text
answer = requests.post(f"{url}/invocations", data=frame.to_csv(index=False),
                       headers={"Content-Type": "text/csv"})
out["csv"] = answer.json()["predictions"] if answer.ok else answer.text
print(json.dumps(out, default=str))
