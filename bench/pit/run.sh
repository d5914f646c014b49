#!/usr/bin/env bash
# Point-in-time join of 1 million label rows against 10 million feature rows (100,000
# entities, TTL 30 days): `mlx-features join` against Feast's local offline store
# (`get_historical_features` with the file offline store), on the same Parquet files,
# in one run. Prints seconds, the ratio, peak RSS, and checks both found the same values.
#
#   bash bench/pit/run.sh
#   LABELS=100000 FEATURES=1000000 bash bench/pit/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_setup bench-feast-venv bench/pit/requirements.txt
mlx="$target/release/mlx"
work="${MLX_BENCH_DATA:-$cache/bench-pit}"
labels_n="${LABELS:-1000000}"
features_n="${FEATURES:-10000000}"
entities="${ENTITIES:-100000}"
mkdir -p "$work"
tag="$labels_n-$features_n-$entities"
labels="$work/labels-$tag.parquet"
features="$work/features-$tag.parquet"
if [[ ! -f "$features" ]]; then
  "$venv/bin/python" - "$labels" "$features" "$labels_n" "$features_n" "$entities" <<'PY'
import sys
import numpy as np, pandas as pd
labels, features, n_l, n_f, n_e = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
rng = np.random.default_rng(11)
start = np.datetime64("2024-01-01T00:00:00", "s")
span = 365 * 86400
# Feature rows: unique (entity, time) pairs, times in seconds over a year.
user = rng.integers(0, n_e, n_f)
sec = rng.integers(0, span, n_f)
df = pd.DataFrame({"user_id": user, "ts": start + sec, "value": rng.normal(0, 1, n_f)})
df = df.drop_duplicates(["user_id", "ts"])
df["ts"] = df["ts"].dt.tz_localize("UTC")
df.to_parquet(features, index=False)
lab = pd.DataFrame({
    "user_id": rng.integers(0, n_e, n_l),
    "event_timestamp": (start + rng.integers(0, span, n_l)).astype("datetime64[s]"),
})
lab["event_timestamp"] = lab["event_timestamp"].dt.tz_localize("UTC")
# Feast drops repeated (entity, time) label rows; keep one of each so both see the same.
lab.drop_duplicates().to_parquet(labels, index=False)
PY
fi
repo="$work/feast_repo"
rm -rf "$repo" && mkdir -p "$repo/data"
cat > "$repo/feature_store.yaml" <<YAML
project: bench
registry: $repo/data/registry.db
provider: local
online_store:
  type: sqlite
  path: $repo/data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
YAML
cat > "$work/feast_join.py" <<'PY'
import sys, time
from datetime import timedelta
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource
from feast.types import Float64
repo, labels, features, out = sys.argv[1:5]
store = FeatureStore(repo_path=repo)
user = Entity(name="user", join_keys=["user_id"])
view = FeatureView(
    name="stats", entities=[user], ttl=timedelta(days=30),
    schema=[Field(name="value", dtype=Float64)],
    source=FileSource(path=features, timestamp_field="ts"),
)
store.apply([user, view])
t0 = time.time()
entity_df = pd.read_parquet(labels)
df = store.get_historical_features(entity_df=entity_df, features=["stats:value"]).to_df()
df.to_parquet(out, index=False)
print(f"{time.time() - t0:.2f}", file=sys.stderr)
PY
read -r t_mlx m_mlx < <(time_of "$mlx" features join --labels "$labels" --features "$features" \
  --entity user_id --timestamp event_timestamp --feature-timestamp ts --ttl 30d --out "$work/mlx.parquet")
read -r t_feast m_feast < <(time_of "$venv/bin/python" "$work/feast_join.py" "$repo" "$labels" "$features" "$work/feast.parquet")
t_feast_join="$(tail -n 1 "$work/.stderr")"
"$venv/bin/python" - "$work" <<'PY'
import sys, pandas as pd
w = sys.argv[1]
key = ["user_id", "event_timestamp"]
a = pd.read_parquet(f"{w}/mlx.parquet")
b = pd.read_parquet(f"{w}/feast.parquet")
m = a.merge(b, on=key, how="left", suffixes=("", "_feast"), indicator=True)
both = m[m["_merge"] == "both"]
same = (both["value"].isna() & both["value_feast"].isna()) | (both["value"] == both["value_feast"])
assert same.all(), both[~same].head()
# Feast leaves out some label rows that have no feature row in time; mlx keeps every
# label row (as a left join), with the features missing.
dropped = m[m["_merge"] == "left_only"]
assert dropped["value"].isna().all(), dropped.head()
print(f"  same values on the {len(both):,} rows both returned ({a['value'].notna().sum():,} matched a feature row);"
      f" feast left out {len(dropped):,} label rows without one")
PY
echo "point-in-time join, $(printf "%'d" "$labels_n") labels x $(printf "%'d" "$features_n") feature rows, TTL 30 days:"
printf "  feast %s (file offline store)  %7.2f s (%s s in get_historical_features)  %6s MiB\n" \
  "$("$venv/bin/python" -c 'import feast; print(feast.__version__)')" "$t_feast" "$t_feast_join" "$m_feast"
printf "  mlx-features join                   %7.2f s  %6s MiB\n" "$t_mlx" "$m_mlx"
python3 -c "print(f'  mlx is {$t_feast_join/$t_mlx:.1f}x faster than the join alone ({$t_feast/$t_mlx:.1f}x end to end), with {$m_mlx/$m_feast:.2f}x its peak memory')"
