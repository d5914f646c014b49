//! Human review: `mlx-gate review` records a decision bound to the gate's evidence, and
//! the markdown summary a reviewer decides from.

use std::io::Write;

use chrono::Utc;
use mlx_contracts::config::Config;
use mlx_contracts::gate::{
    Alert, CheckResult, Decision, GateOutcome, GateReport, RetrainRequest, Review,
    DECISION_OUTPUT_VERSION, REVIEW_VERSION,
};
use mlx_contracts::registry::Stage as RegistryStage;
use mlx_contracts::validate::ValidationReport;
use mlx_contracts::Status;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_json;
use crate::registry::state::{self, short};
use crate::stage::Standalone;
use crate::workdir::paths;
use crate::workdir::Workdir;

/// Whether `reviewer` may make `decision` on `report` under the policy.
pub fn authorize(
    report: &GateReport,
    cfg: &Config,
    reviewer: &str,
    decision: Decision,
    evidence: Option<&str>,
) -> Result<()> {
    let g = &cfg.approval_gate;
    if reviewer.trim().is_empty() {
        return Err(Error::Usage(
            "a decision needs a reviewer: --reviewer NAME".into(),
        ));
    }
    if let Some(e) = evidence {
        if e.len() < 8 || !e.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Usage(format!(
                "--evidence `{e}` is not an evidence hash (at least 8 hex digits of \
                 gate.json's evidence_sha256)"
            )));
        }
        if !report.evidence_sha256.starts_with(&e.to_ascii_lowercase()) {
            return Err(Error::Refused(format!(
                "the decision was made on evidence {e}, but the gate's evidence is now {}: \
                 the candidate or its checks changed since; read reports/gate.md again and \
                 decide on the current evidence",
                short(&report.evidence_sha256)
            )));
        }
    }
    if !g.reviewers.is_empty() && !g.reviewers.iter().any(|r| r.eq_ignore_ascii_case(reviewer)) {
        return Err(Error::Refused(format!(
            "{reviewer} is not an allowed reviewer (approval_gate.reviewers: {})",
            g.reviewers.join(", ")
        )));
    }
    if decision == Decision::Approve {
        if report.outcome == GateOutcome::Failed {
            return Err(Error::Refused(format!(
                "{} failed the gate ({}); a failed candidate cannot be approved: fix the \
                 failing checks and run the gate again",
                report.candidate.name,
                report
                    .checks
                    .iter()
                    .filter(|c| c.result == CheckResult::Failed)
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let own = report
            .candidate
            .author
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(reviewer));
        if own && !g.allow_self_approval {
            return Err(Error::Refused(format!(
                "{reviewer} produced this candidate and may not approve it \
                 (approval_gate.allow_self_approval is false); ask another reviewer"
            )));
        }
    }
    Ok(())
}

fn append_line(path: &std::path::Path, line: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_path("creating", parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_path("opening", path)?;
    // One write of a whole line: concurrent appends do not interleave.
    f.write_all(format!("{line}\n").as_bytes())
        .with_path("appending to", path)?;
    f.sync_all().with_path("syncing", path)
}

/// A decision to record.
#[derive(Debug, Clone)]
pub struct Request {
    /// Approve, reject or defer.
    pub decision: Decision,
    /// Who decides.
    pub reviewer: String,
    /// Why (required for reject and defer).
    pub notes: String,
    /// The evidence hash (or a prefix of it) the decision was made on.
    pub evidence: Option<String>,
    /// `cli`, `pull_request_review` or `issue_comment`.
    pub source: String,
    /// Where the decision was made (a PR comment or review).
    pub url: Option<String>,
}

/// Checks and records a decision: the registry version, `gate/reviews.ndjson`, and the
/// alert or retraining request a rejection or deferral produces.
pub fn record(cfg: &Config, workdir: &Workdir, request: Request) -> Result<Standalone> {
    let Request {
        decision,
        reviewer,
        notes,
        evidence,
        source,
        url,
    } = request;
    let report = crate::workdir::read_gate_report(workdir)?;
    authorize(&report, cfg, &reviewer, decision, evidence.as_deref())?;
    if decision != Decision::Approve && notes.trim().is_empty() {
        return Err(Error::Usage(format!(
            "a {} needs --notes saying why (they go to the {})",
            decision.as_str(),
            if decision == Decision::Reject {
                "alert"
            } else {
                "retraining request"
            }
        )));
    }
    let review = Review {
        schema_version: REVIEW_VERSION,
        decision,
        reviewer: reviewer.clone(),
        notes: notes.clone(),
        at: Utc::now(),
        evidence_sha256: report.evidence_sha256.clone(),
        run_id: report.candidate.run_id.clone(),
        source,
        url,
    };

    // The registry first: if it refuses or races, nothing is written anywhere.
    let store = crate::registry::open(cfg)?;
    let mut archived = None;
    let registered = store.state()?.and_then(|s| {
        s.versions
            .iter()
            .find(|(_, v)| v.bundle_sha256 == report.candidate.bundle_sha256)
            .map(|(n, _)| *n)
    });
    match (decision, registered) {
        (Decision::Reject, _) => {
            let n = match registered {
                Some(n) => n,
                None => {
                    crate::registry::register(&store, cfg, workdir, &report, vec![review.clone()])?
                        .0
                }
            };
            crate::registry::change(&store, |s| {
                let mut next = s.clone();
                let v = next.versions.get_mut(&n).expect("registered");
                if !v.reviews.contains(&review) {
                    v.reviews.push(review.clone());
                }
                if v.stage == RegistryStage::Production {
                    return Err(Error::Refused(format!(
                        "the candidate is version {n}, which is in production; roll it back \
                         with `mlx-promote rollback` instead"
                    )));
                }
                if v.stage == RegistryStage::Archived {
                    let mut t = state::transition("review", Some(n), &format!("reject: {notes}"));
                    t.actor = reviewer.clone();
                    t.evidence_sha256 = Some(review.evidence_sha256.clone());
                    next.transition = t;
                    return Ok(next);
                }
                let mut archived = state::archive(&next, n, &format!("rejected: {notes}"))?;
                archived.transition.actor = reviewer.clone();
                archived.transition.evidence_sha256 = Some(review.evidence_sha256.clone());
                Ok(archived)
            })?;
            archived = Some(n);
        }
        (_, Some(n)) => {
            crate::registry::change(&store, |s| {
                let mut next = s.clone();
                next.versions
                    .get_mut(&n)
                    .expect("registered")
                    .reviews
                    .push(review.clone());
                let mut t = state::transition(
                    "review",
                    Some(n),
                    &format!("{}: {notes}", decision.as_str()),
                );
                t.actor = reviewer.clone();
                t.evidence_sha256 = Some(review.evidence_sha256.clone());
                next.transition = t;
                Ok(next)
            })?;
        }
        (_, None) => {}
    }

    let line = crate::json::line(&review)?;
    append_line(&workdir.join(paths::GATE_REVIEWS), &line)?;
    let human = match decision {
        Decision::Approve => format!(
            "{reviewer} approved {} on evidence {}: it may be promoted (`mlx-promote`)",
            report.candidate.name,
            short(&report.evidence_sha256)
        ),
        Decision::Reject => {
            let alert = Alert {
                schema_version: DECISION_OUTPUT_VERSION,
                kind: "candidate_rejected".into(),
                message: format!(
                    "{reviewer} rejected {} (run {}): {notes}",
                    report.candidate.name, report.candidate.run_id
                ),
                review: review.clone(),
                archived_version: archived,
            };
            let p = workdir.join(paths::GATE_ALERT);
            write_json(&p, &alert).with_path("writing", &p)?;
            format!(
                "{}; archived as version {} of `{}`; alert written to {}",
                alert.message,
                archived.unwrap_or_default(),
                store.model(),
                p.display()
            )
        }
        Decision::Defer => {
            let req = RetrainRequest {
                schema_version: DECISION_OUTPUT_VERSION,
                reason: format!("{reviewer} deferred {}", report.candidate.name),
                notes: notes.clone(),
                requested_by: reviewer.clone(),
                at: review.at,
                run_id: report.candidate.run_id.clone(),
            };
            let p = workdir.join(paths::RETRAIN_REQUEST);
            write_json(&p, &req).with_path("writing", &p)?;
            format!(
                "{reviewer} deferred {}; retraining request written to {}",
                report.candidate.name,
                p.display()
            )
        }
    };
    Ok(Standalone {
        status: Status::Passed,
        human,
        json: crate::json::value(&review)?,
    })
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.4}"))
}

/// The reviewer's summary: verdict, metrics against the threshold and production,
/// every check, drift, top SHAP features, what changed, and how to decide.
pub fn markdown(r: &GateReport, cfg: &Config, validation: Option<&ValidationReport>) -> String {
    let mut md = format!(
        "# Approval gate: {} — {}\n\n",
        r.candidate.name,
        match r.outcome {
            GateOutcome::Passed => "passed (auto-approved)",
            GateOutcome::PendingReview => "pending human review",
            GateOutcome::Failed => "failed",
        }
    );
    md.push_str(&format!(
        "Candidate run `{}` ({}), bundle `{}`; production: {}.\n\n",
        r.candidate.run_id,
        r.candidate.model_type.as_str(),
        short(&r.candidate.bundle_sha256),
        r.production
            .as_ref()
            .map_or("none in the registry".into(), |p| format!(
                "version {} (run `{}`)",
                p.version, p.run_id
            ))
    ));
    for reason in &r.review_reasons {
        md.push_str(&format!("- needs review: {reason}\n"));
    }
    if !r.review_reasons.is_empty() {
        md.push('\n');
    }
    let (primary, _) = crate::metric::primary_metric(cfg);
    md.push_str(
        "## Metrics\n\n| metric | candidate | threshold | production |\n|---|---:|---:|---:|\n",
    );
    for m in &cfg.evaluation.metrics {
        let name = m.as_str();
        let threshold = if *m == primary {
            cfg.approval_gate.primary_metric_threshold
        } else {
            cfg.approval_gate
                .metric_baselines
                .get(name)
                .and_then(|b| b.parse(m.direction()))
                .map(|(_, v)| v)
        };
        md.push_str(&format!(
            "| {}{} | {} | {} | {} |\n",
            name,
            if *m == primary { " (primary)" } else { "" },
            fmt(r.candidate.metrics.get(name).copied()),
            fmt(threshold),
            fmt(r
                .production
                .as_ref()
                .and_then(|p| p.metrics.get(name).copied()))
        ));
    }
    md.push_str(
        "\n## Checks\n\n| check | result | value | threshold | detail |\n|---|---|---:|---:|---|\n",
    );
    for c in &r.checks {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            c.name,
            c.result.as_str(),
            fmt(c.value),
            fmt(c.threshold),
            c.message.replace('|', "\\|")
        ));
    }
    if let Some(d) = validation.and_then(|v| v.drift.as_ref()) {
        let mut cols: Vec<_> = d.columns.iter().collect();
        cols.sort_by(|a, b| b.value.total_cmp(&a.value));
        md.push_str(&format!(
            "\n## Drift\n\n{} of {} columns drifted (dataset drift: {}).\n\n| column | method | \
             value | threshold | psi |\n|---|---|---:|---:|---:|\n",
            d.drifted_columns,
            d.columns.len(),
            if d.dataset_drift { "yes" } else { "no" }
        ));
        for c in cols.iter().take(10) {
            md.push_str(&format!(
                "| {} | {:?} | {:.4} | {} | {} |\n",
                c.column,
                c.method,
                c.value,
                c.threshold,
                fmt(c.statistics.get("psi").copied())
            ));
        }
    }
    if !r.top_features.is_empty() {
        md.push_str("\n## Top SHAP features\n\n```mermaid\nxychart-beta horizontal\n");
        md.push_str("  title \"mean |SHAP|\"\n  x-axis [");
        md.push_str(
            &r.top_features
                .iter()
                .map(|(f, _)| format!("\"{}\"", crate::markdown::mermaid_label(f)))
                .collect::<Vec<_>>()
                .join(", "),
        );
        md.push_str("]\n  bar [");
        md.push_str(
            &r.top_features
                .iter()
                .map(|(_, v)| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        md.push_str("]\n```\n");
    }
    if r.production.is_some() {
        md.push_str("\n## Changes since production\n\n");
        if r.changes.is_empty() {
            md.push_str("Same data, code and config as production.\n");
        } else {
            md.push_str("| kind | what | production | candidate |\n|---|---|---|---|\n");
            for c in r.changes.iter().take(30) {
                md.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    c.kind,
                    c.what,
                    c.production.as_deref().unwrap_or("—").replace('|', "\\|"),
                    c.candidate.as_deref().unwrap_or("—").replace('|', "\\|")
                ));
            }
            if r.changes.len() > 30 {
                md.push_str(&format!("\n… and {} more.\n", r.changes.len() - 30));
            }
        }
    }
    md.push_str(&format!(
        "\n## Decide\n\nEvidence `{}`.\n\n```sh\nmlx-gate review --decision approve|reject|defer \
         --reviewer NAME --notes \"...\" --evidence {}\n```\n",
        r.evidence_sha256,
        short(&r.evidence_sha256)
    ));
    md
}
