"""The plain FastAPI peer: the same XGBoost model file, one row or many per request.

    MODEL=model.xgb.json FEATURES=f0,f1,... uvicorn fastapi_app:app
"""

import os

import numpy as np
import xgboost as xgb
from fastapi import FastAPI, Request

booster = xgb.Booster(model_file=os.environ["MODEL"])
features = os.environ["FEATURES"].split(",")
app = FastAPI()


@app.post("/predict")
async def predict(request: Request):
    body = await request.json()
    rows = np.array([[r[f] for f in features] for r in body["records"]], dtype=np.float32)
    p = booster.predict(xgb.DMatrix(rows, feature_names=features))
    return {"predictions": [{"proba_1": float(v)} for v in p]}
