//! mlx-stats against values recorded from scipy and Evidently's definitions by
//! `tests/oracles/drift.py` (re-record with `bash tests/oracles/record.sh`).

use std::path::Path;

use mlx_stats::binning::{
    fill_zeros, histogram, proportions, quantile_counts, quantile_edges, sturges_edges,
};
use mlx_stats::kolmogorov::{kolmogn_sf, smirnov_sf};
use mlx_stats::{
    chi2_contingency, js_distance, kl_divergence, ks_2samp_sorted, psi, wasserstein_normed_sorted,
    wasserstein_sorted, ztest_proportions,
};
use serde_json::Value;

/// Agreement required: relative 1e-9 (absolute below 1e-300, where values are zero
/// for practical purposes).
const RTOL: f64 = 1e-9;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stats/drift.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[track_caller]
fn close(what: &str, got: f64, want: f64) {
    let ok = if want.abs() < 1e-300 {
        got.abs() < 1e-300
    } else {
        ((got - want) / want).abs() <= RTOL
    };
    assert!(
        ok,
        "{what}: got {got:e}, scipy {want:e} (rel {:e})",
        ((got - want) / want).abs()
    );
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The same generator as `gen` in drift.py, with the same float operations.
fn generate(spec: &Value) -> Vec<f64> {
    let mut state = spec[0].as_u64().unwrap();
    let n = spec[1].as_u64().unwrap();
    let (mu, sigma) = (spec[2].as_f64().unwrap(), spec[3].as_f64().unwrap());
    (0..n)
        .map(|_| {
            let total: u64 = (0..4).map(|_| splitmix64(&mut state) % 1_000_000).sum();
            (total as f64 - 2_000_000.0) / 1_000_000.0 * sigma + mu
        })
        .collect()
}

fn sample(case: &Value, side: &str) -> Vec<f64> {
    let mut v: Vec<f64> = match case.get("generate") {
        Some(spec) => generate(&spec[side]),
        // null stands for NaN: nulls are dropped before any statistic.
        None => case[side]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .collect(),
    };
    v.sort_by(f64::total_cmp);
    v
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn numeric_drift_statistics_agree_with_scipy() {
    let f = fixture();
    for case in f["numeric"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (r, c) = (sample(case, "reference"), sample(case, "current"));

        let edges = quantile_edges(&r, 10);
        assert_eq!(
            edges,
            floats(&case["quantile_edges"]),
            "{name}: quantile edges"
        );
        let (rc, cc) = (quantile_counts(&r, &edges), quantile_counts(&c, &edges));
        assert_eq!(rc, ints(&case["quantile_ref_counts"]), "{name}");
        assert_eq!(cc, ints(&case["quantile_cur_counts"]), "{name}");
        let (mut rp, mut cp) = (proportions(&rc, r.len()), proportions(&cc, c.len()));
        fill_zeros(&mut rp);
        fill_zeros(&mut cp);
        close(
            &format!("{name}: psi (quantile)"),
            psi(&rp, &cp),
            case["psi_quantile"].as_f64().unwrap(),
        );

        let edges = sturges_edges(&r, &c);
        assert_eq!(
            edges,
            floats(&case["sturges_edges"]),
            "{name}: sturges edges"
        );
        let (rc, cc) = (histogram(&r, &edges), histogram(&c, &edges));
        assert_eq!(rc, ints(&case["sturges_ref_counts"]), "{name}");
        assert_eq!(cc, ints(&case["sturges_cur_counts"]), "{name}");
        let (rp_raw, cp_raw) = (proportions(&rc, r.len()), proportions(&cc, c.len()));
        let (mut rp, mut cp) = (rp_raw.clone(), cp_raw.clone());
        fill_zeros(&mut rp);
        fill_zeros(&mut cp);
        close(
            &format!("{name}: psi (sturges)"),
            psi(&rp, &cp),
            case["psi_sturges"].as_f64().unwrap(),
        );
        close(
            &format!("{name}: kl"),
            kl_divergence(&rp, &cp),
            case["kl_sturges"].as_f64().unwrap(),
        );
        close(
            &format!("{name}: js"),
            js_distance(&rp_raw, &cp_raw),
            case["js_sturges"].as_f64().unwrap(),
        );

        close(
            &format!("{name}: wasserstein"),
            wasserstein_sorted(&r, &c),
            case["wasserstein"].as_f64().unwrap(),
        );
        close(
            &format!("{name}: wasserstein normed"),
            wasserstein_normed_sorted(&r, &c),
            case["wasserstein_normed"].as_f64().unwrap(),
        );
        let ks = ks_2samp_sorted(&r, &c);
        close(
            &format!("{name}: ks statistic"),
            ks.statistic,
            case["ks_statistic"].as_f64().unwrap(),
        );
        close(
            &format!("{name}: ks p-value ({:?})", ks.method),
            ks.p_value,
            case["ks_pvalue"].as_f64().unwrap(),
        );
    }
}

#[test]
fn categorical_drift_statistics_agree_with_scipy() {
    let f = fixture();
    for case in f["categorical"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (rc, cc) = (ints(&case["ref_counts"]), ints(&case["cur_counts"]));
        let (nr, nc) = (
            rc.iter().sum::<u64>() as usize,
            cc.iter().sum::<u64>() as usize,
        );
        let (rp_raw, cp_raw) = (proportions(&rc, nr), proportions(&cc, nc));
        let (mut rp, mut cp) = (rp_raw.clone(), cp_raw.clone());
        fill_zeros(&mut rp);
        fill_zeros(&mut cp);
        close(
            &format!("{name}: psi"),
            psi(&rp, &cp),
            case["psi"].as_f64().unwrap(),
        );
        close(
            &format!("{name}: kl"),
            kl_divergence(&rp, &cp),
            case["kl"].as_f64().unwrap(),
        );
        close(
            &format!("{name}: js"),
            js_distance(&rp_raw, &cp_raw),
            case["js"].as_f64().unwrap(),
        );
        let table: Vec<u64> = rc.iter().chain(&cc).copied().collect();
        let chi = chi2_contingency(&table, 2).unwrap();
        close(
            &format!("{name}: chi2"),
            chi.statistic,
            case["chi2_statistic"].as_f64().unwrap(),
        );
        close(
            &format!("{name}: chi2 p"),
            chi.p_value,
            case["chi2_pvalue"].as_f64().unwrap(),
        );
        assert_eq!(chi.dof as u64, case["chi2_dof"].as_u64().unwrap());
        if let Some(z) = case.get("ztest_pvalue") {
            let p = ztest_proportions(rc[1], nr as u64, cc[1], nc as u64);
            close(&format!("{name}: z-test p"), p, z.as_f64().unwrap());
        }
    }
}

#[test]
fn kolmogorov_distribution_agrees_with_scipy_in_every_region() {
    let f = fixture();
    for p in f["kstwo_sf"].as_array().unwrap() {
        let (n, x) = (p["n"].as_u64().unwrap(), p["x"].as_f64().unwrap());
        close(
            &format!("kstwo.sf({x}, {n})"),
            kolmogn_sf(n, x),
            p["sf"].as_f64().unwrap(),
        );
    }
    for p in f["smirnov_sf"].as_array().unwrap() {
        let (n, x) = (p["n"].as_u64().unwrap(), p["x"].as_f64().unwrap());
        close(
            &format!("smirnov({n}, {x})"),
            smirnov_sf(n, x),
            p["sf"].as_f64().unwrap(),
        );
    }
    for p in f["chi2_sf"].as_array().unwrap() {
        let (x, d) = (p["x"].as_f64().unwrap(), p["dof"].as_f64().unwrap());
        close(
            &format!("chi2.sf({x}, {d})"),
            mlx_stats::chi2::chi2_sf(x, d),
            p["sf"].as_f64().unwrap(),
        );
    }
}
