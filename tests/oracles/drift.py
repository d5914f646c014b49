"""Records drift statistics from scipy (and Evidently's definitions on top of scipy and
numpy) into tests/fixtures/stats/drift.json, for mlx-stats to agree with.

Run through tests/oracles/record.sh, which pins the versions. Large samples are not
stored: they are generated from a seed by `gen`, which mlx-stats' tests reimplement
with the same integer arithmetic, so both sides see bit-identical data.
"""

import json
import math
import pathlib
import sys

import numpy as np
import scipy
from scipy import special, stats
from scipy.spatial import distance

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/stats/drift.json"
MASK64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def gen(seed, n, mu, sigma):
    """Irwin-Hall(4) approximately normal values on a 1e-6 grid, from splitmix64."""
    state = seed
    out = []
    for _ in range(n):
        total = 0
        for _ in range(4):
            state, r = splitmix64(state)
            total += r % 1_000_000
        out.append((total - 2_000_000.0) / 1_000_000.0 * sigma + mu)
    return out


def evidently_fill(p):
    """Evidently's get_binned_data zero filling."""
    p = np.array(p, dtype=float)
    nonzero = p[p != 0]
    if nonzero.size == 0:
        return p
    m = nonzero.min()
    np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return p


def quantile_psi_parts(ref, cur, bins=10):
    """mlx's default PSI binning: reference deciles (numpy linear), right-closed bins
    open at both ends, Evidently's zero filling."""
    ref = np.sort(np.asarray(ref, dtype=float))
    edges = np.unique(np.quantile(ref, [k / bins for k in range(1, bins)]))
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1)
    cc = np.bincount(np.searchsorted(edges, np.asarray(cur, dtype=float), side="left"), minlength=edges.size + 1)
    return edges, rc, cc


def sturges_parts(ref, cur):
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    return edges, np.histogram(ref, edges)[0], np.histogram(cur, edges)[0]


def psi(rp, cp):
    return float(np.sum((rp - cp) * np.log(rp / cp)))


def numeric_case(name, ref, cur, spec=None):
    ref_a = np.asarray(ref, dtype=float)
    cur_a = np.asarray(cur, dtype=float)
    ref_a = ref_a[~np.isnan(ref_a)]
    cur_a = cur_a[~np.isnan(cur_a)]
    q_edges, q_rc, q_cc = quantile_psi_parts(ref_a, cur_a)
    s_edges, s_rc, s_cc = sturges_parts(ref_a, cur_a)
    s_rp, s_cp = s_rc / ref_a.size, s_cc / cur_a.size
    ks = stats.ks_2samp(ref_a, cur_a)
    case = {
        "name": name,
        "quantile_edges": q_edges.tolist(),
        "quantile_ref_counts": q_rc.tolist(),
        "quantile_cur_counts": q_cc.tolist(),
        "psi_quantile": psi(evidently_fill(q_rc / ref_a.size), evidently_fill(q_cc / cur_a.size)),
        "sturges_edges": s_edges.tolist(),
        "sturges_ref_counts": s_rc.tolist(),
        "sturges_cur_counts": s_cc.tolist(),
        "psi_sturges": psi(evidently_fill(s_rp), evidently_fill(s_cp)),
        "kl_sturges": float(stats.entropy(evidently_fill(s_rp), evidently_fill(s_cp))),
        "js_sturges": float(distance.jensenshannon(s_rp, s_cp)),
        "wasserstein": float(stats.wasserstein_distance(ref_a, cur_a)),
        "wasserstein_normed": float(stats.wasserstein_distance(ref_a, cur_a) / max(np.std(ref_a), 0.001)),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
    }
    if spec is None:
        case["reference"] = [None if math.isnan(v) else v for v in map(float, ref)]
        case["current"] = [None if math.isnan(v) else v for v in map(float, cur)]
    else:
        case["generate"] = spec
    return case


def generated(name, ref_spec, cur_spec):
    return numeric_case(name, gen(*ref_spec), gen(*cur_spec), {"reference": ref_spec, "current": cur_spec})


def categorical_case(name, ref_counts, cur_counts):
    keys = sorted(set(ref_counts) | set(cur_counts))
    rc = np.array([ref_counts.get(k, 0) for k in keys])
    cc = np.array([cur_counts.get(k, 0) for k in keys])
    rp, cp = rc / rc.sum(), cc / cc.sum()
    table = np.vstack([rc, cc])
    chi2, p, dof, _ = stats.chi2_contingency(table)
    case = {
        "name": name,
        "keys": keys,
        "ref_counts": rc.tolist(),
        "cur_counts": cc.tolist(),
        "psi": psi(evidently_fill(rp), evidently_fill(cp)),
        "kl": float(stats.entropy(evidently_fill(rp), evidently_fill(cp))),
        "js": float(distance.jensenshannon(rp, cp)),
        "chi2_statistic": float(chi2),
        "chi2_pvalue": float(p),
        "chi2_dof": int(dof),
    }
    if len(keys) == 2:
        # Evidently's z-test: the first sorted key is "0", the other "1".
        n1, n2 = rc.sum(), cc.sum()
        p1, p2 = rc[1] / n1, cc[1] / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        case["ztest_pvalue"] = float(2 * stats.norm.sf(abs(z)))
    return case


def main():
    cases = []
    rng_small = np.random.default_rng(7)
    # Small hand-made samples: ties, constant columns, empty bins, one side outside.
    cases.append(numeric_case("ties", [1, 2, 2, 3, 3, 3, 4, 4, 4, 4] * 3, [2, 3, 3, 4, 4, 4, 5, 5, 5, 5, 5] * 2))
    cases.append(numeric_case("constant_same", [5.0] * 40, [5.0] * 30))
    cases.append(numeric_case("constant_shifted", [5.0] * 40, [6.0] * 30))
    cases.append(numeric_case("empty_bins", list(np.round(rng_small.normal(0, 1, 200), 6)), list(np.round(rng_small.normal(3, 0.2, 150), 6))))
    cases.append(numeric_case("with_nan", [1.5, float("nan"), 2.5, 3.5, 0.5, float("nan"), 4.0, 2.0], [2.5, 3.0, float("nan"), 5.0, 6.5]))
    cases.append(numeric_case("equal_sizes", list(np.round(rng_small.normal(0, 1, 300), 6)), list(np.round(rng_small.normal(0.2, 1, 300), 6))))
    # Generated samples: exact KS with unequal sizes, asymptotic KS, unbalanced sizes.
    cases.append(generated("normal_shift", (1, 500, 0.0, 1.0), (2, 400, 0.3, 1.0)))
    cases.append(generated("same_distribution", (3, 2000, 10.0, 2.0), (4, 1500, 10.0, 2.0)))
    cases.append(generated("asymptotic_ks", (5, 20000, 0.0, 1.0), (6, 15000, 0.05, 1.0)))
    cases.append(generated("unbalanced_ks", (7, 50, 0.0, 1.0), (8, 12000, 0.0, 1.0)))
    cases.append(generated("scale_change", (9, 3000, 0.0, 1.0), (10, 2500, 0.0, 1.6)))

    categorical = [
        categorical_case("categories_shift", {"a": 500, "b": 300, "c": 200}, {"a": 300, "b": 300, "c": 400}),
        categorical_case("one_side_only", {"a": 50, "b": 40, "c": 10}, {"a": 30, "b": 50, "d": 20}),
        categorical_case("binary", {"no": 900, "yes": 100}, {"no": 820, "yes": 180}),
        categorical_case("binary_same", {"no": 90, "yes": 10}, {"no": 180, "yes": 20}),
    ]

    # The Kolmogorov distribution across its computation regions, and Smirnov's tail.
    kstwo = []
    for n in [1, 5, 20, 50, 140, 141, 1000, 8571, 50000, 200000]:
        for x in [0.001, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9]:
            kstwo.append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))})
    smirnov = []
    for n in [2, 10, 100, 1000, 10000]:
        for x in [0.01, 0.05, 0.1, 0.2, 0.5, 0.7]:
            smirnov.append({"n": n, "x": x, "sf": float(special.smirnov(n, x))})
    chi2_sf = [{"x": x, "dof": d, "sf": float(stats.chi2.sf(x, d))} for d in [1, 2, 3, 7, 30] for x in [0.01, 0.5, 2.0, 7.5, 40.0]]

    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "generator": f"tests/oracles/drift.py with numpy {np.__version__}, scipy {scipy.__version__}",
        "numeric": cases,
        "categorical": categorical,
        "kstwo_sf": kstwo,
        "smirnov_sf": smirnov,
        "chi2_sf": chi2_sf,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} numeric, {len(categorical)} categorical cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
