"""Records what Evidently's DataDriftPreset decides per column (method, value, drifted)
and for the dataset, into tests/fixtures/stats/evidently_preset.json, for mlx's
`method: auto` to agree with.

Datasets are generated from a splitmix64 seed with integer arithmetic only, so
lib/mlx-core/tests/evidently.rs rebuilds them bit for bit.
"""

import json
import pathlib
import sys

import evidently
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/stats/evidently_preset.json"
MASK64 = (1 << 64) - 1
CATS = ["a", "b", "c", "d"]


class Rng:
    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def frame(seed, n, current):
    """Columns per row, drawing in this order: num (4 draws), num_shift (4), few, cat, bin."""
    rng = Rng(seed)
    rows = {"num": [], "num_shift": [], "few": [], "cat": [], "bin": []}
    cut = [30, 60, 85] if current else [40, 70, 90]
    yes = 27 if current else 20
    for _ in range(n):
        total = sum(rng.next() % 1_000_000 for _ in range(4))
        rows["num"].append((total - 2_000_000.0) / 1_000_000.0)
        total = sum(rng.next() % 1_000_000 for _ in range(4))
        rows["num_shift"].append((total - 2_000_000.0) / 1_000_000.0 + (0.3 if current else 0.0))
        rows["few"].append(int(rng.next() % 4))
        u = rng.next() % 100
        rows["cat"].append(CATS[sum(u >= c for c in cut)])
        rows["bin"].append("yes" if rng.next() % 100 < yes else "no")
    return pd.DataFrame(rows)


METHODS = {
    "K-S p_value": "ks",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "js",
    "chi-square p_value": "chi2",
    "Z-test p_value": "ztest",
    "PSI": "psi",
}


def record(name, ref_seed, ref_n, cur_seed, cur_n):
    ref, cur = frame(ref_seed, ref_n, False), frame(cur_seed, cur_n, True)
    result = Report([DataDriftPreset()]).run(reference_data=ref, current_data=cur).dict()
    columns, count = {}, None
    for m in result["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("DriftedColumnsCount"):
            count = m["value"]["count"]
        elif cfg["type"].endswith("ValueDrift"):
            columns[cfg["column"]] = {
                "method": METHODS[cfg["method"]],
                "value": float(m["value"]),
                "threshold": float(cfg["threshold"]),
            }
    return {
        "name": name,
        "reference": [ref_seed, ref_n],
        "current": [cur_seed, cur_n],
        "columns": columns,
        "drifted_columns": count,
    }


def main():
    doc = {
        "generator": f"tests/oracles/evidently_preset.py with evidently {evidently.__version__}",
        "datasets": [record("small", 11, 800, 12, 700), record("large", 13, 5000, 14, 4000)],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
