"""The same N runs twice: as one pack of an mlx tracking store (entries in the
`tracked-run` contract, `mlx config schema tracked-run`) and in MLflow's own SQLite
store (its schema created by MLflow itself, the rows inserted in bulk: logging 100,000
runs through the client takes hours).

    python gen.py WORK N
"""
import hashlib, json, os, random, sqlite3, sys, uuid
from datetime import datetime, timedelta, timezone

work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
models = ["sarimax", "arima", "ets", "gradient_boosting", "seasonal_naive"]
start = datetime(2026, 1, 1, tzinfo=timezone.utc)
runs = []
for i in range(n):
    model = models[i % len(models)]
    at = start + timedelta(seconds=37 * i)
    wape = rng.uniform(0.01, 0.5)
    runs.append({
        "id": hashlib.sha256(f"bench{i}".encode()).hexdigest()[:16],
        "name": f"{model}-{i % 7}",
        "model": model,
        "at": at,
        "params": {"order": f"{i % 3},1,{i % 2}", "max_depth": 3 + i % 6, "learning_rate": round(0.01 * (1 + i % 10), 2)},
        "metrics": {"validation.wape": wape * rng.uniform(0.9, 1.1), "test.wape": wape,
                    "test.rmse": wape * 40 + rng.uniform(0, 1), "test.mae": wape * 30 + rng.uniform(0, 1)},
        "tags": {"git.commit": hashlib.sha1(str(i // 5).encode()).hexdigest(), "git.branch": "main",
                 "git.dirty": "false", "user": "ci"},
    })

# mlx: one pack, as `mlx runs` packs loose entries.
lines = []
for r in runs:
    ts = r["at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    lines.append(json.dumps({
        "schema_version": 1, "id": r["id"], "kind": "train", "training": r["id"], "name": r["name"],
        "run_id": f"{r['name']}-{r['id'][:8]}", "model_type": r["model"], "started_at": ts, "finished_at": ts,
        "status": "passed", "params": r["params"], "metrics": r["metrics"], "tags": r["tags"],
    }, separators=(",", ":")))
text = "\n".join(sorted(lines, key=lambda l: json.loads(l)["id"])) + "\n"
packs = os.path.join(work, "mlx-store", "bench", "packs")
os.makedirs(packs, exist_ok=True)
with open(os.path.join(packs, hashlib.sha256(text.encode()).hexdigest() + ".jsonl"), "w") as f:
    f.write(text)

# MLflow: its schema from MLflow, the same rows in bulk.
from mlflow.tracking import MlflowClient
db_path = os.path.join(work, "mlflow.db")
client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
eid = int(client.create_experiment("bench", artifact_location=os.path.join(work, "mlruns")))
db = sqlite3.connect(db_path)
run_rows, params, metrics, latest, tags = [], [], [], [], []
for r in runs:
    uid = uuid.UUID(int=int(r["id"], 16)).hex
    ms = int(r["at"].timestamp() * 1000)
    run_rows.append((uid, r["id"], "UNKNOWN", "", "", "ci", "FINISHED", ms, ms, "", "active",
                     f"{work}/mlruns/{eid}/{uid}/artifacts", eid, None))
    params += [(k, str(v), uid) for k, v in {"model": r["model"], **r["params"]}.items()]
    metrics += [(k, v, ms, uid, 0, 0) for k, v in r["metrics"].items()]
    latest += [(k, v, ms, 0, 0, uid) for k, v in r["metrics"].items()]
    tags += [(k, v, uid) for k, v in {"mlflow.runName": r["id"], **r["tags"]}.items()]
db.executemany("insert into runs values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", run_rows)
db.executemany("insert into params (key, value, run_uuid) values (?,?,?)", params)
db.executemany("insert into metrics (key, value, timestamp, run_uuid, step, is_nan) values (?,?,?,?,?,?)", metrics)
db.executemany("insert into latest_metrics (key, value, timestamp, step, is_nan, run_uuid) values (?,?,?,?,?,?)", latest)
db.executemany("insert into tags (key, value, run_uuid) values (?,?,?)", tags)
db.commit()
print(f"{n} runs written to {work}")
