//! `mlx-eval` end to end: every run scored on the held-out rows (checked against an
//! independent recount from the bundles' own predictions), the leaderboard, slices,
//! fairness, plots, the report; `mlx-eval score` on hand-computed files; bad input.
//! The metric definitions themselves are checked against scikit-learn in mlx-stats.

use std::path::{Path, PathBuf};

use mlx_contracts::eval::{Leaderboard, RunMetrics};
use mlx_contracts::StageRecord;
use mlx_core::model::bundle::Bundle;
use mlx_data::polars::prelude::*;
use predicates::prelude::*;
use serde_json::Value;

use mlx_testkit::{command_in as bin, root};

fn read<T: serde::de::DeserializeOwned>(p: &Path) -> T {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A text column's values.
fn texts(df: &DataFrame, column: &str) -> Vec<String> {
    df.column(column)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect()
}

/// The held-out rows mlx-features wrote (the split's `test` set).
fn test_rows(workdir: &Path) -> DataFrame {
    let df = mlx_data::read_table(&workdir.join("features/features.parquet")).unwrap();
    let split = mlx_data::read_table(&workdir.join("features/split.parquet")).unwrap();
    let mask = split.column("set").unwrap().str().unwrap().equal("test");
    df.filter(&mask).unwrap()
}

/// A project holding a dataset of tests/fixtures/train and `config`, run through
/// `mlx run --to eval`; the project and its work directory.
fn evaluated(dataset: &str, config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = format!("{dataset}.csv");
    std::fs::copy(
        root().join("tests/fixtures/train").join(&file),
        d.join(&file),
    )
    .unwrap();
    std::fs::write(d.join("mlx.yaml"), config).unwrap();
    bin(d, "mlx")
        .args(["run", "--to", "eval"])
        .assert()
        .success();
    let w = d.join(".mlx");
    (dir, w)
}

const BREAST_CANCER: &str = "\
data:
  sources:
    - { name: bc, uri: breast_cancer.csv }
  target: target
pipeline:
  problem_type: classification
features:
  transforms:
    - { kind: scale, strategy: zscore }
split: { strategy: stratified, train: 0.6, validation: 0.2, test: 0.2 }
models:
  - { name: stump, type: decision_tree, params: { max_depth: 1 } }
  - { name: logistic, type: logistic }
evaluation:
  primary_metric: roc_auc
";

#[test]
fn every_run_is_scored_on_the_test_rows_and_ranked() {
    let (_dir, w) = evaluated("breast_cancer", BREAST_CANCER);
    let board: Leaderboard = read(&w.join("leaderboard.json"));
    assert_eq!(board.set, "test");
    // A stump's AUC cannot beat logistic regression's on this data.
    let names: Vec<&str> = board.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["logistic", "stump"]);
    assert_eq!(
        board.entries.iter().map(|e| e.rank).collect::<Vec<_>>(),
        [1, 2]
    );
    let held = test_rows(&w);
    let truth = texts(&held, "target");
    for e in &board.entries {
        let m: RunMetrics = read(&w.join(format!("runs/{}/metrics.json", e.run_id)));
        assert_eq!(m.scores.rows as usize, held.height());
        // Recount from the bundle's own predictions on the same rows.
        let bundle = Bundle::load(&w.join(format!("runs/{}/bundle", e.run_id))).unwrap();
        let out = bundle.predict(&held).unwrap();
        let pred = texts(&out, "prediction");
        let right = truth.iter().zip(&pred).filter(|(t, p)| t == p).count();
        let accuracy = right as f64 / truth.len() as f64;
        assert!((m.scores.metrics["accuracy"] - accuracy).abs() < 1e-12);
        // AUC by counting every (malignant-is-positive? no: the second class, `malignant`
        // in sorted order) positive-negative pair, ties half.
        let classes = bundle.manifest.classes.clone().unwrap();
        let p1: Vec<f64> = out
            .column(&format!("proba_{}", classes[1]))
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let (mut pairs, mut wins) = (0.0, 0.0);
        for (i, ti) in truth.iter().enumerate() {
            for (j, tj) in truth.iter().enumerate() {
                if *ti == classes[1] && *tj == classes[0] {
                    pairs += 1.0;
                    wins += if p1[i] > p1[j] {
                        1.0
                    } else if p1[i] == p1[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        assert!((m.scores.metrics["roc_auc"] - wins / pairs).abs() < 1e-12);
        assert_eq!(e.primary, Some(m.scores.metrics["roc_auc"]));
        let cm = m.scores.confusion_matrix.as_ref().unwrap();
        assert_eq!(cm.classes, classes);
        let diagonal: u64 = (0..2).map(|k| cm.counts[k][k]).sum();
        assert_eq!(diagonal as usize, right);
        // Plots, as SVG: the four of a binary classifier, and for logistic regression
        // the loss of each Newton step (a tree has no history).
        let with_loss = m.plots.iter().any(|p| p.ends_with("/loss.svg"));
        assert_eq!(
            with_loss,
            m.model_type.as_str() == "logistic",
            "{:?}",
            m.plots
        );
        assert_eq!(m.plots.len(), 4 + usize::from(with_loss), "{:?}", m.plots);
        for p in &m.plots {
            let svg = std::fs::read_to_string(w.join(p)).unwrap();
            assert!(svg.starts_with("<svg"), "{p}");
        }
    }
    let rec =
        StageRecord::from_json(&std::fs::read_to_string(w.join("eval.json")).unwrap()).unwrap();
    assert!(rec.summary.contains("best: logistic"), "{}", rec.summary);
    let md = std::fs::read_to_string(w.join("reports/eval.md")).unwrap();
    assert!(md.contains("| 1 | logistic | logistic |"), "{md}");
    assert!(md.contains("```mermaid\nxychart-beta"), "{md}");
    assert!(md.contains("### Confusion matrix of `logistic`"), "{md}");
}

/// 200 rows: `x` decides the label, `group` (a or b) is not a model input but is
/// sliced and checked for fairness.
fn grouped_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,noise,group,label\n");
    for i in 0..200 {
        let x = (i as f64 * 0.37).sin() * 3.0;
        let noise = ((i * 7919) % 101) as f64 / 100.0;
        let group = if i % 3 == 0 { "a" } else { "b" };
        let label = if x + noise - 0.5 > 0.0 { "yes" } else { "no" };
        csv.push_str(&format!("{x},{noise},{group},{label}\n"));
    }
    std::fs::write(dir.path().join("data.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("mlx.yaml"),
        "\
data:
  sources: [{ name: d, uri: data.csv }]
  target: label
pipeline:
  problem_type: classification
  model_type: logistic
features:
  exclude: [group]
split: { strategy: stratified, train: 0.5, validation: 0.2, test: 0.3 }
evaluation:
  primary_metric: f1_score
  segments: [group]
  fairness: { protected: group, positive_class: 'yes' }
",
    )
    .unwrap();
    dir
}

#[test]
fn slices_and_fairness_follow_the_groups() {
    let dir = grouped_project();
    let d = dir.path();
    bin(d, "mlx")
        .args(["run", "--to", "eval"])
        .assert()
        .success();
    let w = d.join(".mlx");
    let board: Leaderboard = read(&w.join("leaderboard.json"));
    let m: RunMetrics = read(&w.join(format!("runs/{}/metrics.json", board.entries[0].run_id)));
    let held = test_rows(&w);
    let bundle = Bundle::load(&w.join(format!("runs/{}/bundle", m.run_id))).unwrap();
    let out = bundle.predict(&held).unwrap();
    let pred = texts(&out, "prediction");
    let group = texts(&held, "group");
    let truth = texts(&held, "label");
    let f = m.fairness.as_ref().unwrap();
    assert_eq!(f.positive_class, "yes");
    let mut rates = Vec::new();
    for g in ["a", "b"] {
        let rows: Vec<usize> = (0..group.len()).filter(|&i| group[i] == g).collect();
        let selected = rows.iter().filter(|&&i| pred[i] == "yes").count() as f64;
        let pos: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| truth[i] == "yes")
            .collect();
        let tp = pos.iter().filter(|&&i| pred[i] == "yes").count() as f64;
        let got = f.groups.iter().find(|x| x.value == g).unwrap();
        assert_eq!(got.rows as usize, rows.len());
        assert!((got.selection_rate - selected / rows.len() as f64).abs() < 1e-12);
        assert!((got.true_positive_rate.unwrap() - tp / pos.len() as f64).abs() < 1e-12);
        rates.push((selected / rows.len() as f64, tp / pos.len() as f64));
        // The slice of this group has its own metrics, on its rows only.
        let slice = m.slices.iter().find(|s| s.value == g).unwrap();
        assert_eq!(slice.column, "group");
        assert_eq!(slice.scores.rows as usize, rows.len());
        let right = rows.iter().filter(|&&i| pred[i] == truth[i]).count() as f64;
        assert!((slice.scores.metrics["accuracy"] - right / rows.len() as f64).abs() < 1e-12);
    }
    assert!((f.demographic_parity_difference - (rates[0].0 - rates[1].0).abs()).abs() < 1e-12);
    assert!((f.equal_opportunity_difference - (rates[0].1 - rates[1].1).abs()).abs() < 1e-12);
    let md = std::fs::read_to_string(w.join("reports/eval.md")).unwrap();
    assert!(md.contains("### Fairness of"), "{md}");
}

#[test]
fn score_reads_a_predictions_file_without_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Truth b a b a b; predicted b b a a b; P(b) 0.9 0.6 0.4 0.3 0.8.
    // Accuracy 3/5; positive class b (second sorted): tp 2, fp 1, fn 1 -> precision 2/3.
    // AUC: positives {0.9, 0.4, 0.8} vs negatives {0.6, 0.3}: 5 of 6 pairs.
    std::fs::write(
        d.join("preds.csv"),
        "label,predicted,p\nb,b,0.9\na,b,0.6\nb,a,0.4\na,a,0.3\nb,b,0.8\n",
    )
    .unwrap();
    let out = bin(d, "mlx-eval")
        .args([
            "score",
            "--predictions",
            "preds.csv",
            "--task",
            "classification",
            "--y-true",
            "label",
            "--y-pred",
            "predicted",
            "--y-score",
            "p",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let m = &v["metrics"];
    assert_eq!(m["accuracy"], 0.6);
    assert!((m["precision"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-15);
    assert!((m["roc_auc"].as_f64().unwrap() - 5.0 / 6.0).abs() < 1e-15);
    // Without scores, only the label metrics, and a note on the others.
    bin(d, "mlx-eval")
        .args([
            "score",
            "--predictions",
            "preds.csv",
            "--task",
            "classification",
            "--y-true",
            "label",
            "--y-pred",
            "predicted",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("accuracy")
                .and(predicate::str::is_match(r"roc_auc +undefined: no probabilities").unwrap()),
        );

    // A forecast with its history: MAE 1; the naive one-step errors of 10, 12, 11, 15
    // are 2, 1, 4 (MAE 7/3), so MASE = 3/7.
    std::fs::write(d.join("fc.csv"), "y_true,y_pred\n16,17\n18,17\n").unwrap();
    std::fs::write(d.join("history.csv"), "y_true\n10\n12\n11\n15\n").unwrap();
    let out = bin(d, "mlx-eval")
        .args([
            "score",
            "--predictions",
            "fc.csv",
            "--task",
            "forecast",
            "--history",
            "history.csv",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["metrics"]["mae"], 1.0);
    assert!((v["metrics"]["mase"].as_f64().unwrap() - 3.0 / 7.0).abs() < 1e-15);
    assert_eq!(v["metrics"]["rmse"], 1.0);
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("p.csv"), "truth,guess\n1,1\n").unwrap();
    bin(d, "mlx-eval")
        .args(["score", "--predictions", "p.csv", "--task", "regression"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "has no column `y_true`; its columns are: truth, guess",
        ));
    bin(d, "mlx-eval")
        .args([
            "score",
            "--predictions",
            "missing.csv",
            "--task",
            "regression",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.csv does not exist"));
    std::fs::write(d.join("t.csv"), "y_true,y_pred\n1,x\n").unwrap();
    bin(d, "mlx-eval")
        .args(["score", "--predictions", "t.csv", "--task", "regression"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "column `y_pred` of t.csv is not numeric",
        ));
    // The stage without training first.
    std::fs::write(
        d.join("mlx.yaml"),
        "data:\n  sources: [{ name: p, uri: p.csv }]\n  target: truth\n",
    )
    .unwrap();
    bin(d, "mlx-eval")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("run `mlx-train` first"));
}

#[test]
fn a_cross_validated_split_reports_each_metric_over_its_folds() {
    let (_dir, w) = evaluated(
        "wine",
        "data:\n  sources: [{ name: w, uri: wine.csv }]\n  target: target\npipeline:\n  problem_type: classification\n  model_type: logistic\nfeatures:\n  transforms: [{ kind: scale, strategy: zscore }]\nsplit: { strategy: stratified_kfold, folds: 4, test: 0.2 }\n",
    );
    let board: Leaderboard = read(&w.join("leaderboard.json"));
    let m: RunMetrics = read(&w.join(format!("runs/{}/metrics.json", board.entries[0].run_id)));
    let acc = m.folds["accuracy"];
    assert!(acc.min <= acc.mean && acc.mean <= acc.max, "{acc:?}");
    assert!(acc.mean > 0.85 && acc.std >= 0.0, "{acc:?}");
    assert!(m.folds.contains_key("log_loss") && m.folds.contains_key("f1_macro"));
}

#[test]
fn the_production_model_is_scored_as_the_champion_to_beat() {
    let (dir, w) = evaluated("breast_cancer", BREAST_CANCER);
    let d = dir.path();
    let board: Leaderboard = read(&w.join("leaderboard.json"));
    // The stump plays the production model, packed as the registry keeps bundles.
    let stump = &board.entries[1];
    let packed = d.join("production.tar");
    mlx_core::model::bundle::pack(&w.join(format!("runs/{}/bundle", stump.run_id)), &packed)
        .unwrap();
    bin(d, "mlx-eval")
        .args(["--champion", packed.to_str().unwrap()])
        .assert()
        .success();
    let board: Leaderboard = read(&w.join("leaderboard.json"));
    let c = board.champion.unwrap();
    assert_eq!(c.name, "stump");
    assert_eq!(c.primary, stump.primary, "the same rows, the same score");
    assert_eq!(c.beaten, Some(true));
    let md = std::fs::read_to_string(w.join("reports/eval.md")).unwrap();
    assert!(md.contains("the best candidate beats it"), "{md}");
    bin(d, "mlx-eval")
        .args(["--champion", "nowhere.tar"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the champion `nowhere.tar` is neither a bundle file nor a registry version",
        ));
}

#[test]
fn a_tuned_threshold_is_stored_in_the_bundle_and_decides_predictions() {
    let dir = grouped_project();
    let d = dir.path();
    let cfg = std::fs::read_to_string(d.join("mlx.yaml"))
        .unwrap()
        .replace(
            "  primary_metric: f1_score\n",
            "  primary_metric: f1_score\n  tune_threshold: true\n",
        );
    std::fs::write(d.join("mlx.yaml"), cfg).unwrap();
    bin(d, "mlx")
        .args(["run", "--to", "eval"])
        .assert()
        .success();
    let w = d.join(".mlx");
    let board: Leaderboard = read(&w.join("leaderboard.json"));
    let m: RunMetrics = read(&w.join(format!("runs/{}/metrics.json", board.entries[0].run_id)));
    let bundle = Bundle::load(&w.join(format!("runs/{}/bundle", m.run_id))).unwrap();
    let t = bundle
        .manifest
        .decision_threshold
        .expect("a tuned threshold");
    assert_eq!(m.threshold, Some(t));
    let out = bundle.predict(&test_rows(&w)).unwrap();
    let p: Vec<f64> = out
        .column("proba_yes")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    let pred = texts(&out, "prediction");
    for (p, label) in p.iter().zip(&pred) {
        assert_eq!(label == "yes", *p >= t, "P(yes) {p}, threshold {t}");
    }
    // A threshold cannot be tuned for a metric that does not depend on it.
    let cfg = std::fs::read_to_string(d.join("mlx.yaml"))
        .unwrap()
        .replace("primary_metric: f1_score", "primary_metric: roc_auc");
    std::fs::write(d.join("mlx.yaml"), cfg).unwrap();
    bin(d, "mlx")
        .args(["run", "--to", "train"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`roc_auc` does not depend on the threshold",
        ));
}
