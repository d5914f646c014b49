"""mlflow.search_runs on MLflow's SQLite store: the filter, sorted, the first LIMIT;
prints the best of REPEAT warm calls (the first call, which opens the database, is
not counted) and the run names it returned, one per line, to OUT.

    python peer.py WORK FILTER ORDER LIMIT REPEAT OUT
"""
import sys, time
import mlflow

work, flt, order, limit, repeat, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
exp = mlflow.get_experiment_by_name("bench").experiment_id
search = lambda: mlflow.search_runs([exp], filter_string=flt, order_by=[order], max_results=limit)
df = search()
best = float("inf")
for _ in range(repeat):
    t = time.perf_counter()
    df = search()
    best = min(best, time.perf_counter() - t)
with open(out, "w") as f:
    f.write("\n".join(df["tags.mlflow.runName"]) + "\n")
print(f"{best:.4f}")
