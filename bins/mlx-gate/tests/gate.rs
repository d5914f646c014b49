//! `mlx-gate` end to end on the example churn data: the checks against the leaderboard
//! and the registry's production model (scored on the same rows), the outcome, the
//! reviewer's summary, and human decisions with their policy (allow-list, no
//! self-approval, stale evidence) and consequences (promotion, archive and alert,
//! retraining request).

use std::path::Path;

use assert_cmd::Command;
use mlx_contracts::eval::Leaderboard;
use mlx_contracts::gate::{Alert, CheckResult, GateOutcome, GateReport, RetrainRequest, Review};
use mlx_contracts::StageRecord;
use mlx_testkit::Sandbox;
use predicates::prelude::*;

const CONFIG: &str = "\
project: { name: churn }
data:
  sources: [{ name: customers, uri: customers.csv }]
  target: churned
  entity_columns: [customer_id]
validation:
  columns:
    tenure_months: { min: 0, max: 600 }
features:
  transforms:
    - { kind: encode, strategy: onehot, columns: [plan] }
    - { kind: scale, strategy: zscore }
split: { strategy: stratified, train: 0.7, validation: 0.15, test: 0.15 }
pipeline: { problem_type: classification }
models:
  - { name: logistic, type: logistic, params: { C: 1.0 } }
evaluation:
  metrics: [accuracy, precision, recall, f1_score, roc_auc]
  primary_metric: f1_score
approval_gate:
  primary_metric_threshold: 0.8
  reviewers: [alice, bob, dana]
";

fn bin(dir: &Path, name: &str) -> Command {
    let mut c = mlx_testkit::command_in(dir, name);
    c.env("MLX_AUTHOR", "dana").env("MLX_ACTOR", "ci");
    c
}

fn report(dir: &Path) -> GateReport {
    let rec: StageRecord =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".mlx/gate.json")).unwrap())
            .unwrap();
    serde_json::from_value(rec.details).unwrap()
}

fn review(dir: &Path, decision: &str, reviewer: &str, notes: &str) -> assert_cmd::assert::Assert {
    bin(dir, "mlx-gate")
        .args(["review", "--decision", decision, "--reviewer", reviewer])
        .args(["--notes", notes])
        .assert()
}

fn result(r: &GateReport, name: &str) -> CheckResult {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {:?}", r.checks))
        .result
}

#[test]
fn a_candidate_waits_for_a_human_and_is_promoted_after_approval() {
    let s = Sandbox::churn(CONFIG);
    let d = s.path();
    // The gate passes its checks but the default policy wants a human: exit 0, warned.
    bin(d, "mlx").args(["run"]).assert().success();
    let r = report(d);
    assert_eq!(r.outcome, GateOutcome::PendingReview);
    let board: Leaderboard = serde_json::from_str(&s.read(".mlx/leaderboard.json")).unwrap();
    let best = &board.entries[0];
    let primary = r
        .checks
        .iter()
        .find(|c| c.name == "primary_metric")
        .unwrap();
    assert_eq!(primary.value, best.primary, "the leaderboard's best f1");
    assert_eq!(primary.threshold, Some(0.8));
    assert_eq!(primary.result, CheckResult::Passed);
    // Without production, and without PSI or fairness settings, those checks say so.
    assert_eq!(result(&r, "regression"), CheckResult::Skipped);
    assert_eq!(result(&r, "shap_shift"), CheckResult::Skipped);
    assert_eq!(result(&r, "psi"), CheckResult::Skipped);
    assert_eq!(result(&r, "fairness"), CheckResult::Skipped);
    assert_eq!(result(&r, "data_quality"), CheckResult::Passed);
    assert_eq!(r.candidate.author.as_deref(), Some("dana"));
    assert_eq!(
        r.top_features[0].0, "tenure_months",
        "the generator's main driver"
    );
    let md = s.read(".mlx/reports/gate.md");
    assert!(md.contains("pending human review"), "{md}");
    assert!(md.contains("| f1_score (primary) |"), "{md}");
    assert!(md.contains(&r.evidence_sha256), "{md}");
    // Registered, not promoted: it waits for an approval.
    let rec: StageRecord = serde_json::from_str(&s.read(".mlx/promote.json")).unwrap();
    assert_eq!(rec.outputs_kv["stage"], "none");
    assert!(rec.summary.contains("needs 1 approval"), "{}", rec.summary);

    // The author may not approve their own model; a stranger may not decide at all;
    // a decision on other evidence is refused. None of them is recorded.
    review(d, "approve", "dana", "mine")
        .code(1)
        .stderr(predicate::str::contains("dana produced this candidate"));
    review(d, "approve", "mallory", "lgtm")
        .code(1)
        .stderr(predicate::str::contains("not an allowed reviewer"));
    bin(d, "mlx-gate")
        .args(["review", "--decision", "approve", "--reviewer", "alice"])
        .args(["--evidence", "0123456789ab"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the candidate or its checks changed",
        ));
    review(d, "reject", "bob", "")
        .code(2)
        .stderr(predicate::str::contains("needs --notes"));
    assert!(!d.join(".mlx/gate/reviews.ndjson").exists());

    review(d, "approve", "Alice", "slices look fine").success();
    let log = s.read(".mlx/gate/reviews.ndjson");
    let lines: Vec<Review> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].evidence_sha256, r.evidence_sha256);
    assert_eq!(lines[0].reviewer, "Alice");

    // The gate reruns on the same evidence (the hash is stable), and promotion proceeds.
    bin(d, "mlx").args(["run"]).assert().success();
    assert_eq!(report(d).evidence_sha256, r.evidence_sha256);
    let rec: StageRecord = serde_json::from_str(&s.read(".mlx/promote.json")).unwrap();
    assert_eq!(rec.outputs_kv["stage"], "staging", "{}", rec.summary);
    bin(d, "mlx-promote")
        .args(["promote", "--version", "1", "--to", "production"])
        .assert()
        .success();
    // Eval and SHAP name the registry's production model as what to beat.
    bin(d, "mlx-eval")
        .args(["--champion", "production"])
        .assert()
        .success();
    let board: Leaderboard = serde_json::from_str(&s.read(".mlx/leaderboard.json")).unwrap();
    assert_eq!(board.champion.unwrap().metrics, r.candidate.metrics);
    bin(d, "mlx-shap")
        .args(["--baseline", "production"])
        .assert()
        .success();
    let shap: mlx_contracts::shap::ShapReport =
        serde_json::from_str(&s.read(&format!(".mlx/runs/{}/shap.json", r.candidate.run_id)))
            .unwrap();
    let same = shap.shift.unwrap();
    assert_eq!(
        (same.spearman, same.l1_distance, same.flagged),
        (1.0, 0.0, false)
    );

    // A worse candidate: C shrinks the coefficients. Production is scored on the same
    // held-out rows, so its metrics are exactly those it was registered with.
    s.write("mlx.yaml", &CONFIG.replace("C: 1.0", "C: 0.0005"));
    bin(d, "mlx").args(["run"]).assert().code(1);
    let worse = report(d);
    assert_eq!(worse.outcome, GateOutcome::Failed);
    let prod = worse.production.as_ref().unwrap();
    assert_eq!(prod.version, 1);
    assert_eq!(prod.metrics, r.candidate.metrics);
    for m in ["accuracy", "precision", "recall", "f1_score", "roc_auc"] {
        let c = worse
            .checks
            .iter()
            .find(|c| c.name == format!("regression:{m}"))
            .unwrap();
        let (cand, p) = (worse.candidate.metrics[m], prod.metrics[m]);
        let relative = (p - cand) / p;
        assert!((c.value.unwrap() - relative).abs() < 1e-12, "{m}");
        assert_eq!(
            c.result == CheckResult::Failed,
            relative > 0.02,
            "{m}: {c:?}"
        );
    }
    assert!(worse
        .changes
        .iter()
        .any(|c| c.what == "models[0].params.C" && c.candidate.as_deref() == Some("0.0005")));
    // A failed candidate cannot be approved.
    review(d, "approve", "bob", "ship it")
        .code(1)
        .stderr(predicate::str::contains("failed the gate"));
}

#[test]
fn approval_on_changed_evidence_does_not_count() {
    let s = Sandbox::churn(CONFIG);
    let d = s.path();
    bin(d, "mlx").args(["run"]).assert().success();
    let first = report(d);
    review(d, "approve", "alice", "ok").success();
    // A stricter policy: the same model (so the same registry version), but other
    // checks, so other evidence. The approval was given on the old evidence.
    s.write(
        "mlx.yaml",
        &CONFIG.replace(
            "primary_metric_threshold: 0.8",
            "primary_metric_threshold: 0.81",
        ),
    );
    bin(d, "mlx").args(["run"]).assert().success();
    let second = report(d);
    assert_eq!(
        second.candidate.bundle_sha256,
        first.candidate.bundle_sha256
    );
    assert_ne!(second.evidence_sha256, first.evidence_sha256);
    let rec: StageRecord = serde_json::from_str(&s.read(".mlx/promote.json")).unwrap();
    assert_eq!(rec.outputs_kv["version"], "1");
    assert_eq!(rec.outputs_kv["stage"], "none");
    assert!(
        rec.summary
            .contains("the approval by alice was made on evidence")
            && rec.summary.contains("has since changed"),
        "{}",
        rec.summary
    );
    bin(d, "mlx-promote")
        .args(["promote", "--version", "1", "--to", "staging"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has since changed"));
    // Approving the current evidence lets it through.
    review(d, "approve", "bob", "fine at 0.81").success();
    bin(d, "mlx-promote")
        .args(["promote", "--version", "1", "--to", "staging"])
        .assert()
        .success();
}

#[test]
fn reject_archives_and_alerts_and_defer_asks_for_retraining() {
    let s = Sandbox::churn(CONFIG);
    let d = s.path();
    bin(d, "mlx").args(["run"]).assert().success();
    let r = report(d);
    review(d, "defer", "bob", "add the March batch").success();
    let req: RetrainRequest =
        serde_json::from_str(&s.read(".mlx/gate/retrain-request.json")).unwrap();
    assert_eq!(req.notes, "add the March batch");
    assert_eq!(req.run_id, r.candidate.run_id);
    review(d, "reject", "alice", "uses a leaked column").success();
    let alert: Alert = serde_json::from_str(&s.read(".mlx/gate/alert.json")).unwrap();
    assert_eq!(alert.archived_version, Some(1));
    assert!(alert.message.contains("uses a leaked column"));
    let out = bin(d, "mlx-promote")
        .args(["show", "--version", "1", "--json", "-q"])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["state"]["stage"], "archived");
    assert_eq!(
        shown["state"]["archived_reason"],
        "rejected: uses a leaked column"
    );
    assert_eq!(shown["state"]["reviews"].as_array().unwrap().len(), 2);
    // An archived candidate is not promoted by the pipeline, whatever the reviews say.
    review(d, "approve", "bob", "changed my mind").success();
    bin(d, "mlx")
        .args(["run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("archived"));
}

#[test]
fn bad_input_is_named() {
    let s = Sandbox::churn(CONFIG);
    let d = s.path();
    bin(d, "mlx-gate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no train.json"));
    bin(d, "mlx-gate")
        .args(["review", "--decision", "approve", "--reviewer", "alice"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("gate.json holds no verdict"));
    s.write(
        "mlx.yaml",
        &CONFIG.replace(
            "  reviewers: [alice, bob, dana]",
            "  metric_baselines: { f1_score: \"about 0.8\" }",
        ),
    );
    bin(d, "mlx-gate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "approval_gate.metric_baselines.f1_score",
        ));
}
