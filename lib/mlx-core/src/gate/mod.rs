//! `mlx-gate`: the approval gate. Holds the best candidate to the policy in
//! `approval_gate` (primary metric threshold, regression against the production model
//! in the registry, per-metric limits, data quality and PSI from validation, SHAP shift,
//! fairness), writes the verdict with the evidence hash a human decision is bound to,
//! and records human decisions in an append-only review log.

pub mod review;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use mlx_contracts::config::{Config, Direction, Metric};
use mlx_contracts::eval::{Leaderboard, RunMetrics, LEADERBOARD_VERSION, RUN_METRICS_VERSION};
use mlx_contracts::gate::{
    Candidate, Change, CheckResult, GateCheck, GateOutcome, GateReport, ProductionRef,
    GATE_REPORT_VERSION,
};
use mlx_contracts::registry::ModelVersion;
use mlx_contracts::shap::{ShapReport, ShapShift};
use mlx_contracts::train::TrainReport;
use mlx_contracts::validate::ValidationReport;
use mlx_contracts::Status;
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_creating;
use crate::metric::worsening;
use crate::stage::{Context, Outcome, Stage};
use crate::workdir::paths;
use crate::workdir::Workdir;

/// The stage.
pub struct Gate;

const SECTIONS: &[&str] = &[
    "data",
    "validation",
    "features",
    "split",
    "pipeline",
    "models",
    "training",
    "evaluation",
    "explain",
    "approval_gate",
    "registry",
];

const LONG_ABOUT: &str = "\
Holds the best candidate of leaderboard.json to `approval_gate`: the primary metric
against its threshold (direction aware); every tracked metric against the production
model of the registry (scored on the same held-out rows) within `regression_tolerance`;
`metric_baselines` (`rmse: \"< 120\"`); validation's failed (and, with
`block_on_data_warnings`, warned) checks; the largest PSI against `max_psi`; the SHAP
shift against production (escalated to human review with `escalate_on_shap_drift`);
fairness bounds from `evaluation.fairness`. A check without its input is `skipped` with
the reason. Writes gate.json (outcome `passed`, `pending_review` or `failed`, and the
evidence hash) and reports/gate.md for the reviewer.

`mlx-gate review` records a human decision on the current evidence in
gate/reviews.ndjson (append-only) and in the registry: approve lets the candidate be
promoted; reject archives it and writes gate/alert.json; defer writes
gate/retrain-request.json with the notes for the orchestrator.

Examples:
  mlx-gate                                         judge the best candidate
  mlx-gate --json | jq -r .outputs_kv.outcome
  mlx-gate review --decision approve --reviewer alice --notes \"checked the slices\"
  mlx-gate review --decision reject --reviewer bob --notes \"leaks the label\"
  mlx-gate review --decision defer --reviewer alice --notes \"add March data\" --evidence 3f2a9c01

Exit codes: 0 passed or pending review, 1 failed (or a decision refused by the policy),
2 bad input, 3 I/O.";

impl Stage for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }
    fn about(&self) -> &'static str {
        "Hold the best candidate to the approval policy; record human decisions"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        SECTIONS
    }
    fn always_run(&self, _ctx: &Context) -> Option<String> {
        Some("the production model in the registry may have changed".into())
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![
            ctx.workdir.record_path("train"),
            ctx.workdir.join(paths::LEADERBOARD),
        ]
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join(paths::GATE_REPORT)]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        stage(&ctx.config.config, &ctx.workdir)
    }
}

/// Reads a versioned JSON file, or `None` when it does not exist.
fn read_optional<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
    version: u32,
) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    mlx_contracts::parse_versioned(&text, what, version)
        .map(Some)
        .map_err(|source| Error::Contract {
            path: path.display().to_string(),
            source,
        })
}

/// Who produced the candidate: `MLX_AUTHOR`, else the acting user.
fn author() -> Option<String> {
    std::env::var("MLX_AUTHOR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| Some(crate::registry::state::actor()))
        .filter(|a| a != "unknown")
}

fn check(
    name: impl Into<String>,
    result: CheckResult,
    value: Option<f64>,
    threshold: Option<f64>,
    message: impl Into<String>,
) -> GateCheck {
    GateCheck {
        name: name.into(),
        result,
        value,
        threshold,
        message: message.into(),
    }
}

fn meets(value: f64, op: &str, limit: f64) -> bool {
    match op {
        "<" => value < limit,
        "<=" => value <= limit,
        ">" => value > limit,
        _ => value >= limit,
    }
}

fn metric_named(name: &str) -> Option<Metric> {
    Metric::ALL.iter().copied().find(|m| m.as_str() == name)
}

/// The inputs of the checks.
pub struct Evidence<'a> {
    /// The config.
    pub cfg: &'a Config,
    /// The candidate's metrics.
    pub metrics: &'a BTreeMap<String, f64>,
    /// The production model's metrics on the same rows.
    pub production: Option<&'a BTreeMap<String, f64>>,
    /// Validation's report.
    pub validation: Option<&'a ValidationReport>,
    /// The SHAP shift against production, or why there is none.
    pub shap: std::result::Result<&'a ShapShift, String>,
    /// The candidate's fairness measures.
    pub fairness: Option<&'a mlx_contracts::eval::Fairness>,
}

/// Every check of the policy, in a fixed order.
pub fn checks(e: &Evidence) -> Vec<GateCheck> {
    let mut out = metric_checks(e);
    out.extend(data_checks(e));
    out.extend(fairness_checks(e));
    out
}

/// The candidate's metrics: the primary metric's threshold, no regression against
/// production, the metric baselines.
fn metric_checks(e: &Evidence) -> Vec<GateCheck> {
    let g = &e.cfg.approval_gate;
    let (primary, direction) = crate::metric::primary_metric(e.cfg);
    let mut out = Vec::new();
    let p = primary.as_str();
    match (g.primary_metric_threshold, e.metrics.get(p)) {
        (None, _) => out.push(check(
            "primary_metric",
            CheckResult::Skipped,
            e.metrics.get(p).copied(),
            None,
            format!(
                "no threshold for {p}: set approval_gate.primary_metric_threshold or \
                 evaluation.threshold"
            ),
        )),
        (Some(t), None) => out.push(check(
            "primary_metric",
            CheckResult::Failed,
            None,
            Some(t),
            format!("{p} is undefined for the candidate, so it cannot be shown to meet {t}"),
        )),
        (Some(t), Some(&v)) => {
            let (op, ok) = match direction {
                Direction::Maximize => (">=", v >= t),
                Direction::Minimize => ("<=", v <= t),
            };
            out.push(check(
                "primary_metric",
                if ok {
                    CheckResult::Passed
                } else {
                    CheckResult::Failed
                },
                Some(v),
                Some(t),
                format!(
                    "{p} is {v:.4}; the policy requires {op} {t}{}",
                    if ok { "" } else { ": below the bar" }
                ),
            ));
        }
    }
    match e.production {
        None => out.push(check(
            "regression",
            CheckResult::Skipped,
            None,
            Some(g.regression_tolerance),
            "no production model in the registry to compare with",
        )),
        Some(prod) => {
            for m in &e.cfg.evaluation.metrics {
                let name = m.as_str();
                let (Some(&c), Some(&pv)) = (e.metrics.get(name), prod.get(name)) else {
                    out.push(check(
                        format!("regression:{name}"),
                        CheckResult::Skipped,
                        None,
                        Some(g.regression_tolerance),
                        format!("{name} is undefined for the candidate or for production"),
                    ));
                    continue;
                };
                let w = worsening(*m, c, pv);
                let ok = w <= g.regression_tolerance + 1e-12;
                out.push(check(
                    format!("regression:{name}"),
                    if ok {
                        CheckResult::Passed
                    } else {
                        CheckResult::Failed
                    },
                    Some(w),
                    Some(g.regression_tolerance),
                    format!(
                        "{name}: candidate {c:.4}, production {pv:.4} ({}{:.1}% {}); tolerance \
                         {:.1}%",
                        if w > 0.0 { "" } else { "+" },
                        w.abs() * 100.0,
                        if w > 0.0 { "worse" } else { "better or equal" },
                        g.regression_tolerance * 100.0
                    ),
                ));
            }
        }
    }
    for (name, bound) in &g.metric_baselines {
        let Some((op, limit)) = metric_named(name).and_then(|m| bound.parse(m.direction())) else {
            continue;
        };
        let (result, value, msg) = match e.metrics.get(name) {
            None => (
                CheckResult::Failed,
                None,
                format!("{name} is undefined for the candidate; the policy requires {op} {limit}"),
            ),
            Some(&v) => {
                let ok = meets(v, op, limit);
                (
                    if ok {
                        CheckResult::Passed
                    } else {
                        CheckResult::Failed
                    },
                    Some(v),
                    format!("{name} is {v:.4}; the policy requires {op} {limit}"),
                )
            }
        };
        out.push(check(
            format!("baseline:{name}"),
            result,
            value,
            Some(limit),
            msg,
        ));
    }
    out
}

/// The data behind the candidate: validation's checks, drift, the SHAP shift.
fn data_checks(e: &Evidence) -> Vec<GateCheck> {
    let g = &e.cfg.approval_gate;
    let mut out = Vec::new();
    match e.validation {
        None => out.push(check(
            "data_quality",
            CheckResult::Skipped,
            None,
            None,
            "validation did not run (no validate.json)",
        )),
        Some(v) => {
            let failed: Vec<&str> = v
                .checks
                .iter()
                .filter(|c| c.status == Status::Failed)
                .map(|c| c.message.as_str())
                .collect();
            let warned: Vec<&str> = v
                .checks
                .iter()
                .filter(|c| c.status == Status::Warned)
                .map(|c| c.message.as_str())
                .collect();
            let (result, msg) = if !failed.is_empty() {
                (
                    CheckResult::Failed,
                    format!(
                        "{} failed validation check(s): {}",
                        failed.len(),
                        failed.join("; ")
                    ),
                )
            } else if !warned.is_empty() && g.block_on_data_warnings {
                (
                    CheckResult::Failed,
                    format!(
                        "{} validation warning(s), blocking under block_on_data_warnings: {}",
                        warned.len(),
                        warned.join("; ")
                    ),
                )
            } else if !warned.is_empty() {
                (
                    CheckResult::Escalated,
                    format!(
                        "{} validation warning(s) for a human to weigh: {}",
                        warned.len(),
                        warned.join("; ")
                    ),
                )
            } else {
                (
                    CheckResult::Passed,
                    format!("all {} validation checks passed", v.checks.len()),
                )
            };
            out.push(check(
                "data_quality",
                result,
                Some((failed.len() + warned.len()) as f64),
                None,
                msg,
            ));
        }
    }
    let worst_psi = e.validation.and_then(|v| v.drift.as_ref()).and_then(|d| {
        d.columns
            .iter()
            .filter_map(|c| c.statistics.get("psi").map(|p| (c.column.as_str(), *p)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    });
    out.push(match (g.max_psi, worst_psi) {
        (None, w) => check(
            "psi",
            CheckResult::Skipped,
            w.map(|w| w.1),
            None,
            "approval_gate.max_psi is not set",
        ),
        (Some(t), None) => check(
            "psi",
            CheckResult::Skipped,
            None,
            Some(t),
            "no drift report from validation (it needs a frozen reference: \
             `mlx-validate --freeze-reference`)",
        ),
        (Some(t), Some((col, v))) => check(
            "psi",
            if v <= t {
                CheckResult::Passed
            } else {
                CheckResult::Failed
            },
            Some(v),
            Some(t),
            format!("the largest PSI is {v:.4} ({col}); the limit is {t}"),
        ),
    });
    out.push(match &e.shap {
        Err(why) => check("shap_shift", CheckResult::Skipped, None, None, why.clone()),
        Ok(s) => {
            let policy = &e.cfg.explain.shift;
            let msg = if s.flagged {
                format!(
                    "the feature ranking moved against production: {}",
                    s.reasons.join("; ")
                )
            } else {
                format!(
                    "the feature ranking is stable against production (Spearman {:.3}, L1 {:.3})",
                    s.spearman, s.l1_distance
                )
            };
            check(
                "shap_shift",
                match (s.flagged, g.escalate_on_shap_drift) {
                    (true, true) => CheckResult::Escalated,
                    _ => CheckResult::Passed,
                },
                Some(s.spearman),
                Some(policy.min_spearman),
                msg,
            )
        }
    });
    out
}

fn fairness_checks(e: &Evidence) -> Vec<GateCheck> {
    let Some(policy) = &e.cfg.evaluation.fairness else {
        return vec![check(
            "fairness",
            CheckResult::Skipped,
            None,
            None,
            "no fairness bounds configured (evaluation.fairness)",
        )];
    };
    let Some(f) = e.fairness else {
        return vec![check(
            "fairness",
            CheckResult::Skipped,
            None,
            None,
            format!(
                "evaluation measured no fairness for `{}` (classifiers only)",
                policy.protected
            ),
        )];
    };
    let rates: Vec<f64> = f.groups.iter().map(|g| g.selection_rate).collect();
    let max_rate = rates.iter().copied().fold(f64::NAN, f64::max);
    let min_rate = rates.iter().copied().fold(f64::NAN, f64::min);
    let impact = if max_rate > 0.0 {
        min_rate / max_rate
    } else {
        1.0
    };
    let bounds = [
        (
            "demographic_parity_difference",
            f.demographic_parity_difference,
            policy.max_demographic_parity_difference,
            true,
        ),
        (
            "equal_opportunity_difference",
            f.equal_opportunity_difference,
            policy.max_equal_opportunity_difference,
            true,
        ),
        (
            "disparate_impact",
            impact,
            policy.min_disparate_impact,
            false,
        ),
    ];
    let mut out = Vec::new();
    for (name, value, bound, is_max) in bounds {
        let Some(t) = bound else { continue };
        let ok = if is_max { value <= t } else { value >= t };
        out.push(check(
            format!("fairness:{name}"),
            if ok {
                CheckResult::Passed
            } else {
                CheckResult::Failed
            },
            Some(value),
            Some(t),
            format!(
                "{name} across `{}` is {value:.4}; the bound is {} {t}",
                f.column,
                if is_max { "at most" } else { "at least" }
            ),
        ));
    }
    if out.is_empty() {
        out.push(check(
            "fairness",
            CheckResult::Skipped,
            None,
            None,
            "evaluation.fairness sets no bound",
        ));
    }
    out
}

/// The verdict from the checks and the policy, with the reasons a human must decide.
pub fn outcome(cfg: &Config, checks: &[GateCheck]) -> (GateOutcome, Vec<String>) {
    if checks.iter().any(|c| c.result == CheckResult::Failed) {
        return (GateOutcome::Failed, Vec::new());
    }
    let g = &cfg.approval_gate;
    let mut reasons = Vec::new();
    if g.require_human_review {
        reasons
            .push("the policy requires human review (approval_gate.require_human_review)".into());
    } else if !g.auto_approve {
        reasons.push("auto_approve is off".into());
    }
    for c in checks.iter().filter(|c| c.result == CheckResult::Escalated) {
        reasons.push(format!("{}: {}", c.name, c.message));
    }
    if reasons.is_empty() {
        (GateOutcome::Passed, reasons)
    } else {
        (GateOutcome::PendingReview, reasons)
    }
}

/// The evidence hash: the candidate, production, checks, outcome and changes, without
/// timestamps, so an unchanged situation keeps its hash.
pub fn evidence_hash(r: &GateReport) -> String {
    let v = serde_json::json!({
        "candidate": r.candidate,
        "production": r.production,
        "outcome": r.outcome,
        "checks": r.checks,
        "review_reasons": r.review_reasons,
        "changes": r.changes,
    });
    crate::config::hex(&Sha256::digest(v.to_string().as_bytes()))
}

/// Flattens JSON into `path = value` leaves.
fn leaves(v: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for (i, x) in items.iter().enumerate() {
                leaves(x, &format!("{prefix}[{i}]"), out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// What differs between production and the candidate: data, code, config keys.
pub fn changes(
    prod: &ModelVersion,
    manifest: &mlx_contracts::train::BundleManifest,
    cfg: &Config,
) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let mut diff = |kind: &str, what: &str, p: Option<String>, c: Option<String>| {
        if p != c {
            out.push(Change {
                kind: kind.into(),
                what: what.into(),
                production: p,
                candidate: c,
            });
        }
    };
    diff(
        "data",
        "features (sha256)",
        Some(prod.dataset_sha256.clone()),
        Some(manifest.dataset_sha256.clone()),
    );
    diff(
        "code",
        "git commit",
        prod.git_commit.clone(),
        manifest.git_commit.clone(),
    );
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    leaves(&prod.config, "", &mut a);
    // Masked as the registry's copy is: a secret never reaches the report, and an
    // unchanged secret is no difference.
    leaves(&crate::config::masked_value(cfg)?, "", &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        diff("config", k, a.get(k).cloned(), b.get(k).cloned());
    }
    Ok(out)
}

/// Why the SHAP stage skipped the candidate's run, as its record says.
fn shap_skipped(workdir: &Workdir, run_id: &str) -> Result<Option<String>> {
    Ok(workdir.read_record("shap")?.and_then(|r| {
        (r.details["run_id"] == run_id)
            .then(|| r.details["skipped"].as_str().map(str::to_owned))
            .flatten()
    }))
}

/// The status and summary of a gate that asks for human review, with the decision
/// taken so far on this evidence (the review log): approved, rejected or deferred
/// by whom, or still awaiting review. Stale reviews (on other evidence) do not count.
fn review_summary(
    cfg: &Config,
    workdir: &Workdir,
    name: &str,
    report: &GateReport,
) -> Result<(Status, String)> {
    let reviews = crate::fsutil::read_ndjson(
        &workdir.join(paths::GATE_REVIEWS),
        "review",
        mlx_contracts::gate::REVIEW_VERSION,
    )?
    .unwrap_or_default();
    let evidence = crate::registry::state::short(&report.evidence_sha256);
    let a = crate::registry::state::tally(&reviews, &report.evidence_sha256);
    let need = cfg.approval_gate.min_approvals.max(1) as usize;
    let who = |rs: &[&mlx_contracts::gate::Review]| {
        rs.iter()
            .map(|r| r.reviewer.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(match a.blocking {
        // Still warned: what a rejection means for the registry is promote's to say.
        Some(b) => (
            Status::Warned,
            format!(
                "{name} passed the checks and was {} by {} on evidence {evidence}{}",
                if b.decision == mlx_contracts::gate::Decision::Reject {
                    "rejected"
                } else {
                    "deferred"
                },
                b.reviewer,
                if b.notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", b.notes)
                }
            ),
        ),
        None if a.current.len() >= need => (
            Status::Passed,
            format!(
                "{name} passed the checks and was approved by {} on evidence {evidence}",
                who(&a.current)
            ),
        ),
        None => (
            Status::Warned,
            format!(
                "{name} passed the checks and awaits human review ({}); evidence {evidence}{}",
                report.review_reasons.join("; "),
                match a.current.len() {
                    0 => String::new(),
                    n => format!(" ({n} of {need} approvals: {})", who(&a.current)),
                }
            ),
        ),
    })
}

/// The candidate's SHAP ranking against production's, or why there is none to compare.
fn shap_shift(
    cfg: &Config,
    workdir: &Workdir,
    run_id: &str,
    shap_report: Option<&ShapReport>,
    production: Option<&(ModelVersion, BTreeMap<String, f64>)>,
) -> Result<std::result::Result<ShapShift, String>> {
    Ok(match (shap_report, production) {
        (None, _) if !cfg.explain.enabled => Err("explain.enabled is false".to_string()),
        (None, _) => Err(shap_skipped(workdir, run_id)?.map_or_else(
            || "no SHAP report for the candidate; run `mlx-shap`".into(),
            |why| format!("SHAP was skipped: {why}"),
        )),
        (Some(_), None) => Err("no production model in the registry to compare with".into()),
        (Some(now), Some((v, _))) => match &v.shap {
            None => Err(format!(
                "production version {} was registered without a SHAP report",
                v.version
            )),
            Some(base) => Ok(crate::explain::shift(
                &now.importance,
                &base.importance,
                &format!("v{}", v.version),
                &cfg.explain.shift,
                cfg.explain.top_k.max(1) as usize,
            )),
        },
    })
}

/// The whole stage.
pub fn stage(cfg: &Config, workdir: &Workdir) -> Result<Outcome> {
    let train = workdir.read_record("train")?.ok_or_else(|| {
        Error::Usage("there is no train.json in the work directory; run `mlx-train` first".into())
    })?;
    let train: TrainReport = serde_json::from_value(train.details)
        .map_err(|e| Error::Runtime(format!("train.json is not a training report: {e}")))?;
    let lb_path = workdir.join(paths::LEADERBOARD);
    let board: Leaderboard = read_optional(&lb_path, "leaderboard", LEADERBOARD_VERSION)?
        .ok_or_else(|| Error::Usage("there is no leaderboard.json; run `mlx-eval` first".into()))?;
    let best = board
        .entries
        .first()
        .ok_or_else(|| Error::Usage("leaderboard.json ranks no runs".into()))?;
    let run = train
        .runs
        .iter()
        .find(|r| r.run_id == best.run_id)
        .ok_or_else(|| {
            Error::Usage(format!(
                "leaderboard.json's best run `{}` is not in train.json; run `mlx-eval` again",
                best.run_id
            ))
        })?;
    let bundle = crate::model::bundle::Bundle::load(&workdir.join(&run.bundle))?;
    let run_metrics: Option<RunMetrics> = read_optional(
        &workdir.join(format!("runs/{}/metrics.json", run.run_id)),
        "run metrics",
        RUN_METRICS_VERSION,
    )?;
    let validation: Option<ValidationReport> =
        match workdir.read_record("validate")? {
            Some(r) => Some(ValidationReport::from_json(&r.details.to_string()).map_err(
                |source| Error::Contract {
                    path: workdir.record_path("validate").display().to_string(),
                    source,
                },
            )?),
            None => None,
        };
    let shap_report: Option<ShapReport> = if cfg.explain.enabled {
        let p = workdir.join(format!("runs/{}/shap.json", run.run_id));
        p.exists()
            .then(|| crate::workdir::read_shap_report(&p))
            .transpose()?
    } else {
        None
    };

    // The production model, scored on the candidate's held-out rows.
    let store = crate::registry::open(cfg)?;
    let state = store.state()?;
    let mut production: Option<(ModelVersion, BTreeMap<String, f64>)> = None;
    if let Some(n) = state.as_ref().and_then(|s| s.production()) {
        let (v, path) = crate::registry::fetch(&store, n, &workdir.join(paths::REGISTRY_CACHE))?;
        let held = crate::heldout::held_out(cfg, workdir)?;
        let scored = crate::heldout::score_champion(&path, &held, &board)?;
        production = Some((v, scored.metrics));
    }
    let shift = shap_shift(
        cfg,
        workdir,
        &run.run_id,
        shap_report.as_ref(),
        production.as_ref(),
    )?;
    let evidence = Evidence {
        cfg,
        metrics: &best.metrics,
        production: production.as_ref().map(|p| &p.1),
        validation: validation.as_ref(),
        shap: shift.as_ref().map_err(Clone::clone),
        fairness: run_metrics.as_ref().and_then(|m| m.fairness.as_ref()),
    };
    let checks = checks(&evidence);
    let (outcome, review_reasons) = outcome(cfg, &checks);
    let mut report = GateReport {
        schema_version: GATE_REPORT_VERSION,
        candidate: Candidate {
            run_id: run.run_id.clone(),
            name: run.name.clone(),
            model_type: run.model_type,
            bundle: run.bundle.clone(),
            bundle_sha256: run.bundle_sha256.clone(),
            author: author(),
            metrics: best.metrics.clone(),
        },
        production: production.as_ref().map(|(v, m)| ProductionRef {
            version: v.version,
            run_id: v.run_id.clone(),
            metrics: m.clone(),
        }),
        outcome,
        checks,
        review_reasons,
        changes: production
            .as_ref()
            .map(|(v, _)| changes(v, &bundle.manifest, cfg))
            .transpose()?
            .unwrap_or_default(),
        top_features: shap_report
            .as_ref()
            .map(|s| {
                s.importance
                    .iter()
                    .take(cfg.explain.top_k.max(1) as usize)
                    .map(|i| (i.feature.clone(), i.mean_abs))
                    .collect()
            })
            .unwrap_or_default(),
        evidence_sha256: String::new(),
        evaluated_at: Utc::now(),
    };
    report.evidence_sha256 = evidence_hash(&report);
    let md = review::markdown(&report, cfg, validation.as_ref());
    let rp = workdir.join(paths::GATE_REPORT);
    write_creating(&rp, md.as_bytes()).with_path("writing", &rp)?;

    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.result == CheckResult::Failed)
        .map(|c| c.message.as_str())
        .collect();
    let (status, summary) = match outcome {
        GateOutcome::Passed => (
            Status::Passed,
            format!("{} passed every check; auto-approved", run.name),
        ),
        GateOutcome::PendingReview => review_summary(cfg, workdir, &run.name, &report)?,
        GateOutcome::Failed => (
            Status::Failed,
            format!("{} failed the gate: {}", run.name, failed.join("; ")),
        ),
    };
    let mut o = Outcome::with_status(status, summary);
    o.outputs_kv
        .insert("outcome".into(), outcome.as_str().into());
    o.outputs_kv
        .insert("evidence_sha256".into(), report.evidence_sha256.clone());
    o.outputs_kv.insert("run_id".into(), run.run_id.clone());
    o.details = crate::json::value(&report)?;
    o.report_md = Some(md);
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::Env;

    struct NoEnv;
    impl Env for NoEnv {
        fn get(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn config(yaml: &str) -> Config {
        crate::config::parse(Path::new("mlx.yaml"), yaml, &NoEnv)
            .unwrap()
            .config
    }

    fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn validation(statuses: &[&str], psi: &[(&str, f64)]) -> ValidationReport {
        let checks: Vec<_> = statuses
            .iter()
            .map(|s| serde_json::json!({"kind": "range", "column": "x", "status": s, "value": null, "threshold": null, "message": format!("x is {s}")}))
            .collect();
        let columns: Vec<_> = psi
            .iter()
            .map(|(c, v)| serde_json::json!({"column": c, "kind": "numeric", "method": "psi", "value": v, "threshold": 0.25, "drifted": false, "status": "passed", "reference_count": 10, "current_count": 10, "statistics": {"psi": v}, "histogram": {"labels": [], "reference": [], "current": []}}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "rows": 10, "columns": 1, "checks": checks,
            "drift": {"columns": columns, "drifted_columns": 0, "drift_share": 0.0, "drift_share_threshold": 0.5, "dataset_drift": false}
        }))
        .unwrap()
    }

    fn evidence<'a>(
        cfg: &'a Config,
        m: &'a BTreeMap<String, f64>,
        prod: Option<&'a BTreeMap<String, f64>>,
        v: Option<&'a ValidationReport>,
    ) -> Evidence<'a> {
        Evidence {
            cfg,
            metrics: m,
            production: prod,
            validation: v,
            shap: Err("not explained".into()),
            fairness: None,
        }
    }

    fn find<'a>(checks: &'a [GateCheck], name: &str) -> &'a GateCheck {
        checks.iter().find(|c| c.name == name).unwrap()
    }

    const REGRESSION: &str = "pipeline: { problem_type: regression }
evaluation: { metrics: [rmse, r2, bias], primary_metric: rmse, threshold: 130 }
approval_gate:
  regression_tolerance: 0.05
  metric_baselines: { rmse: \"< 120\", r2: 0.6 }
  max_psi: 0.2
";

    #[test]
    fn limits_follow_the_metric_direction_and_comparisons_are_exact() {
        let cfg = config(REGRESSION);
        let m = metrics(&[("rmse", 120.0), ("r2", 0.6), ("bias", -3.0)]);
        let c = checks(&evidence(&cfg, &m, None, None));
        // rmse 120 meets `<= 130` (the primary threshold) but not `< 120`.
        assert_eq!(find(&c, "primary_metric").result, CheckResult::Passed);
        assert_eq!(find(&c, "baseline:rmse").result, CheckResult::Failed);
        // A bare number on a maximised metric is a floor, met with equality.
        assert_eq!(find(&c, "baseline:r2").result, CheckResult::Passed);
        assert_eq!(find(&c, "regression").result, CheckResult::Skipped);
        assert_eq!(find(&c, "data_quality").result, CheckResult::Skipped);
        assert_eq!(find(&c, "psi").result, CheckResult::Skipped);
        assert!(find(&c, "psi").message.contains("no drift report"));
        assert_eq!(outcome(&cfg, &c).0, GateOutcome::Failed);
    }

    #[test]
    fn regression_is_relative_to_production_and_bias_is_absolute() {
        let cfg = config(REGRESSION);
        let m = metrics(&[("rmse", 105.0), ("r2", 0.7), ("bias", -4.0)]);
        let p = metrics(&[("rmse", 100.0), ("r2", 0.72), ("bias", 5.0)]);
        let c = checks(&evidence(&cfg, &m, Some(&p), None));
        let rmse = find(&c, "regression:rmse");
        assert_eq!(rmse.value, Some(0.05));
        assert_eq!(rmse.result, CheckResult::Passed, "5% worse is within 5%");
        let r2 = find(&c, "regression:r2");
        assert!((r2.value.unwrap() - 0.02 / 0.72).abs() < 1e-15);
        // |−4| is smaller than |5|: better, although −4 < 5.
        assert_eq!(find(&c, "regression:bias").value, Some(-0.2));
        assert_eq!(worsening(Metric::Accuracy, 0.5, 0.0), -0.5);
        assert_eq!(worsening(Metric::Mae, 0.5, 0.0), 0.5);
    }

    #[test]
    fn data_quality_and_psi_come_from_validation() {
        let cfg = config(REGRESSION);
        let m = metrics(&[("rmse", 100.0), ("r2", 0.7)]);
        let v = validation(&["passed", "warned"], &[("price", 0.1), ("ad_spend", 0.31)]);
        let c = checks(&evidence(&cfg, &m, None, Some(&v)));
        assert_eq!(find(&c, "data_quality").result, CheckResult::Escalated);
        let psi = find(&c, "psi");
        assert_eq!((psi.value, psi.result), (Some(0.31), CheckResult::Failed));
        assert!(psi.message.contains("ad_spend"));
        let strict = config(&format!("{REGRESSION}  block_on_data_warnings: true\n"));
        let c = checks(&evidence(&strict, &m, None, Some(&v)));
        assert_eq!(find(&c, "data_quality").result, CheckResult::Failed);
        let failed = validation(&["failed"], &[]);
        let c = checks(&evidence(&cfg, &m, None, Some(&failed)));
        assert_eq!(find(&c, "data_quality").result, CheckResult::Failed);
    }

    #[test]
    fn the_outcome_follows_the_policy() {
        let auto = config(
            "approval_gate: { auto_approve: true, require_human_review: false }\nevaluation: { threshold: 0.5 }\n",
        );
        let m = metrics(&[("f1_score", 0.9)]);
        let c = checks(&evidence(&auto, &m, None, None));
        assert_eq!(outcome(&auto, &c), (GateOutcome::Passed, vec![]));
        let mut escalated = c.clone();
        escalated.push(check(
            "shap_shift",
            CheckResult::Escalated,
            None,
            None,
            "moved",
        ));
        let (o, why) = outcome(&auto, &escalated);
        assert_eq!(o, GateOutcome::PendingReview);
        assert_eq!(why, vec!["shap_shift: moved".to_string()]);
        let default = config("evaluation: { threshold: 0.5 }\n");
        assert_eq!(outcome(&default, &c).0, GateOutcome::PendingReview);
    }

    #[test]
    fn fairness_bounds_include_the_four_fifths_rule() {
        let cfg = config(
            "evaluation:\n  fairness: { protected: region, max_demographic_parity_difference: 0.25, min_disparate_impact: 0.8 }\n",
        );
        let f: mlx_contracts::eval::Fairness = serde_json::from_value(serde_json::json!({
            "column": "region", "positive_class": "1",
            "demographic_parity_difference": 0.2, "equal_opportunity_difference": 0.1,
            "groups": [
                {"value": "a", "rows": 10, "selection_rate": 0.3, "true_positive_rate": null, "false_positive_rate": null, "error_rate": 0.1},
                {"value": "b", "rows": 10, "selection_rate": 0.5, "true_positive_rate": null, "false_positive_rate": null, "error_rate": 0.1}
            ]
        }))
        .unwrap();
        let m = metrics(&[("f1_score", 0.9)]);
        let mut e = evidence(&cfg, &m, None, None);
        e.fairness = Some(&f);
        let c = checks(&e);
        assert_eq!(
            find(&c, "fairness:demographic_parity_difference").result,
            CheckResult::Passed
        );
        let di = find(&c, "fairness:disparate_impact");
        assert!((di.value.unwrap() - 0.6).abs() < 1e-15);
        assert_eq!(di.result, CheckResult::Failed);
        assert!(!c
            .iter()
            .any(|c| c.name == "fairness:equal_opportunity_difference"));
    }
}
