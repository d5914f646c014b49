//! Every metric against scikit-learn's and sktime's values on the recorded prediction
//! sets (tests/oracles/metrics.py -> tests/fixtures/eval/metrics.json), degenerate ones
//! included.

use mlx_stats::metrics::{self, Average, Confusion, Errors};
use serde_json::Value;

fn fixture() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/eval/metrics.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Equal to a relative 1e-12 (or both absent).
fn check(case: &str, metric: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{case} {metric}: mlx {g}, reference {w}"
        ),
        (g, _) => panic!("{case} {metric}: mlx {g:?}, reference {want}"),
    }
}

#[test]
fn classification_metrics_match_scikit_learn() {
    let f = fixture();
    let mut seen = 0;
    for case in f["cases"].as_array().unwrap() {
        if case["task"] != "classification" {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let y: Vec<usize> = case["y_true"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let rows: Vec<Vec<f64>> = case["proba"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let k = rows[0].len();
        let proba: Vec<f64> = rows.concat();
        // The predicted class: the most probable, the first on ties (numpy's argmax).
        let pred: Vec<usize> = rows
            .iter()
            .map(|r| (0..k).fold(0, |best, c| if r[c] > r[best] { c } else { best }))
            .collect();
        let c = Confusion::new(&y, &pred, k);
        let want = &case["metrics"];
        let want_cm: Vec<u64> = want["confusion_matrix"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
            .collect();
        assert_eq!(c.counts, want_cm, "{name} confusion matrix");
        let mut got: Vec<(String, Option<f64>)> = vec![
            ("accuracy".into(), Some(c.accuracy())),
            ("balanced_accuracy".into(), Some(c.balanced_accuracy())),
            ("log_loss".into(), Some(metrics::log_loss(&y, &proba, k))),
            ("brier".into(), Some(metrics::brier(&y, &proba, k))),
            ("mcc".into(), Some(c.matthews())),
        ];
        for (avg, a) in [
            ("macro", Average::Macro),
            ("micro", Average::Micro),
            ("weighted", Average::Weighted),
        ] {
            let s = c.scores(a);
            got.push((format!("precision_{avg}"), Some(s.precision)));
            got.push((format!("recall_{avg}"), Some(s.recall)));
            got.push((format!("f1_{avg}"), Some(s.f1)));
        }
        if k == 2 {
            let s = c.scores(Average::Binary(1));
            let positive: Vec<bool> = y.iter().map(|&t| t == 1).collect();
            let score: Vec<f64> = rows.iter().map(|r| r[1]).collect();
            got.extend([
                ("precision".into(), Some(s.precision)),
                ("recall".into(), Some(s.recall)),
                ("f1_score".into(), Some(s.f1)),
                ("roc_auc".into(), metrics::roc_auc(&positive, &score)),
                (
                    "average_precision".into(),
                    Some(metrics::average_precision(&positive, &score)),
                ),
            ]);
        } else {
            got.extend([
                (
                    "roc_auc_ovr".into(),
                    metrics::roc_auc_ovr(&y, &proba, k, false),
                ),
                (
                    "roc_auc_ovr_weighted".into(),
                    metrics::roc_auc_ovr(&y, &proba, k, true),
                ),
            ]);
        }
        for (metric, value) in got {
            assert!(
                want.get(&metric).is_some(),
                "{name}: the fixture has no {metric}"
            );
            check(name, &metric, value, &want[&metric]);
            seen += 1;
        }
    }
    assert!(seen > 80, "only {seen} comparisons");
}

#[test]
fn regression_and_forecast_metrics_match_scikit_learn_and_sktime() {
    let f = fixture();
    let mut seen = 0;
    for case in f["cases"].as_array().unwrap() {
        if case["task"] == "classification" {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let (t, p) = (floats(&case["y_true"]), floats(&case["y_pred"]));
        let e = Errors {
            y_true: &t,
            y_pred: &p,
        };
        let mut got = vec![
            ("mse", Some(e.mse())),
            ("rmse", Some(e.rmse())),
            ("mae", Some(e.mae())),
            ("median_ae", Some(e.median_ae())),
            ("mape", Some(e.mape())),
            ("smape", Some(e.smape())),
            ("wape", Some(e.wape())),
            ("bias", Some(e.bias())),
            ("r2", Some(e.r2())),
            ("huber", Some(e.huber(1.0))),
            ("log_cosh", Some(e.log_cosh())),
        ];
        if case["task"] == "forecast" {
            let sp = case["sp"].as_u64().unwrap() as usize;
            got.push(("mase", e.mase(&floats(&case["y_train"]), sp)));
        }
        for (metric, value) in got {
            check(name, metric, value, &case["metrics"][metric]);
            seen += 1;
        }
    }
    assert!(seen >= 45, "only {seen} comparisons");
}
