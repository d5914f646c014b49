//! `method: auto` against what Evidently's DataDriftPreset decides, recorded by
//! `tests/oracles/evidently_preset.py` (re-record with `bash tests/oracles/record.sh`).
//!
//! Both the method chosen per column and its value must agree (1e-9 relative), except
//! for the value of the chi-square test: mlx uses scipy's `chi2_contingency` (a test of
//! homogeneity), Evidently a goodness-of-fit test against reference frequencies; the
//! choice of method still has to agree.

use std::collections::BTreeMap;
use std::path::Path;

use mlx_contracts::config::{Drift, DriftMethod};
use mlx_core::drift::{column_drift, dataset_drift, method_name, ColumnValues};
use serde_json::Value;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn irwin_hall(&mut self) -> f64 {
        let total: u64 = (0..4).map(|_| self.next() % 1_000_000).sum();
        (total as f64 - 2_000_000.0) / 1_000_000.0
    }
}

/// The same frame as `frame` in evidently_preset.py, as drift inputs.
fn frame(seed: u64, n: u64, current: bool) -> BTreeMap<&'static str, ColumnValues> {
    let mut rng = Rng(seed);
    let (mut num, mut shift, mut few) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cat, mut bin) = (BTreeMap::new(), BTreeMap::new());
    let cut: [u64; 3] = if current { [30, 60, 85] } else { [40, 70, 90] };
    let yes = if current { 27 } else { 20 };
    for _ in 0..n {
        num.push(rng.irwin_hall());
        shift.push(rng.irwin_hall() + if current { 0.3 } else { 0.0 });
        few.push((rng.next() % 4) as f64);
        let u = rng.next() % 100;
        let c = ["a", "b", "c", "d"][cut.iter().filter(|&&k| u >= k).count()];
        *cat.entry(c.to_owned()).or_insert(0) += 1;
        let b = if rng.next() % 100 < yes { "yes" } else { "no" };
        *bin.entry(b.to_owned()).or_insert(0) += 1;
    }
    for v in [&mut num, &mut shift, &mut few] {
        v.sort_by(f64::total_cmp);
    }
    BTreeMap::from([
        ("num", ColumnValues::Numeric(num)),
        ("num_shift", ColumnValues::Numeric(shift)),
        ("few", ColumnValues::Numeric(few)),
        ("cat", ColumnValues::Categorical(cat)),
        ("bin", ColumnValues::Categorical(bin)),
    ])
}

#[test]
fn auto_mode_decides_like_evidently() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/stats/evidently_preset.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cfg = Drift::default();
    for ds in fixture["datasets"].as_array().unwrap() {
        let name = ds["name"].as_str().unwrap();
        let spec = |k: &str| (ds[k][0].as_u64().unwrap(), ds[k][1].as_u64().unwrap());
        let (rs, rn) = spec("reference");
        let (cs, cn) = spec("current");
        let (reference, current) = (frame(rs, rn, false), frame(cs, cn, true));
        let mut results = Vec::new();
        for (col, want) in ds["columns"].as_object().unwrap() {
            let d = column_drift(
                col,
                &reference[col.as_str()],
                &current[col.as_str()],
                DriftMethod::Auto,
                &cfg,
            )
            .unwrap();
            assert_eq!(
                method_name(d.method),
                want["method"].as_str().unwrap(),
                "{name}/{col}: method"
            );
            assert_eq!(
                d.threshold,
                want["threshold"].as_f64().unwrap(),
                "{name}/{col}: threshold"
            );
            let expected = want["value"].as_f64().unwrap();
            if d.method != DriftMethod::Chi2 {
                let rel = ((d.value - expected) / expected).abs();
                assert!(
                    rel <= 1e-9,
                    "{name}/{col}: {} = {:e}, Evidently {expected:e}",
                    method_name(d.method),
                    d.value
                );
                let evidently_drifted = if matches!(d.method, DriftMethod::Ks | DriftMethod::Ztest)
                {
                    expected < d.threshold
                } else {
                    expected >= d.threshold
                };
                assert_eq!(d.drifted, evidently_drifted, "{name}/{col}: verdict");
            }
            results.push(d);
        }
        let report = dataset_drift(results, &cfg);
        assert_eq!(
            report.drifted_columns as f64,
            ds["drifted_columns"].as_f64().unwrap(),
            "{name}: drifted column count"
        );
    }
}
