//! What the workflows ask of GitHub, one function per step: the PR report and the
//! `mlx/gate` status, a reviewer's decision, a deployment record, the monitoring alert,
//! and finding the training run whose work directory a review needs.

use std::collections::BTreeMap;

use mlx_contracts::config::Config;
use mlx_contracts::gate::{Decision, GateOutcome, GateReport};
use mlx_contracts::monitor::MonitorReport;
use mlx_contracts::Status;
use mlx_core::gate::review::{self, Request};
use mlx_core::workdir::paths;
use mlx_core::{Error, Result, Workdir};
use serde_json::{json, Value};

use crate::api::{permission_name, GitHub};
use crate::event::{parse_said, usage, Command, Event, Parsed, Said};

/// The hidden marker of the report comment; it also carries the evidence shown.
pub const REPORT_MARKER: &str = "<!-- mlx:report";
/// The hidden marker of the monitoring alert issue.
pub const ALERT_MARKER: &str = "<!-- mlx:alert -->";
/// The label of the monitoring alert issue.
pub const ALERT_LABEL: &str = "mlx-alert";
/// The commit status context.
pub const STATUS_CONTEXT: &str = "mlx/gate";

/// The result of a step: what to tell people, the `$GITHUB_OUTPUT` values and the
/// exit status.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// `failed` exits 1.
    pub status: Status,
    /// One human sentence or more.
    pub human: String,
    /// Step outputs.
    pub outputs: BTreeMap<String, String>,
}

impl StepResult {
    fn new(status: Status, human: impl Into<String>) -> Self {
        Self {
            status,
            human: human.into(),
            outputs: BTreeMap::new(),
        }
    }

    fn out(mut self, k: &str, v: impl ToString) -> Self {
        self.outputs.insert(k.into(), v.to_string());
        self
    }
}

/// Where the workflow run is, for links.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`.
    pub url: Option<String>,
    /// `$GITHUB_SHA`.
    pub sha: Option<String>,
}

impl RunInfo {
    /// From the variables GitHub Actions sets.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let url = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
            _ => None,
        };
        Self {
            url,
            sha: var("GITHUB_SHA"),
        }
    }
}

fn marker(evidence: &str, sha: &str) -> String {
    format!("{REPORT_MARKER} evidence={evidence} sha={sha} -->")
}

/// The evidence hash a report comment showed.
pub fn shown_evidence(body: &str) -> Option<&str> {
    let rest = &body[body.find(REPORT_MARKER)? + REPORT_MARKER.len()..];
    let value = &rest[rest.find("evidence=")? + "evidence=".len()..];
    Some(value.split_whitespace().next().unwrap_or_default())
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// The report comment's text.
pub fn report_body(
    report: &GateReport,
    gate_md: &str,
    metrics_md: Option<&str>,
    cfg: &Config,
    sha: &str,
    run: &RunInfo,
) -> String {
    let p = &cfg.github.command_prefix;
    let who = if cfg.approval_gate.reviewers.is_empty() {
        format!(
            "anyone with `{}` permission or more",
            permission_name(cfg.github.required_permission)
        )
    } else {
        cfg.approval_gate.reviewers.join(", ")
    };
    let mut s = format!(
        "{}\n{}\n\n",
        marker(&report.evidence_sha256, sha),
        gate_md.trim_end()
    );
    if let Some(m) = metrics_md {
        s.push_str(m.trim_end());
        s.push_str("\n\n");
    }
    s.push_str("---\n");
    match report.outcome {
        GateOutcome::Failed => {
            s.push_str("The candidate failed the gate and cannot be approved.\n")
        }
        _ => s.push_str(&format!(
            "**Decide** with a review (approve / request changes) or a comment: {}. \
             Who may decide: {who}{}. The decision is bound to evidence `{}`.\n",
            usage(p),
            if cfg.approval_gate.allow_self_approval {
                ""
            } else {
                "; not the PR's author"
            },
            short(&report.evidence_sha256)
        )),
    }
    if let Some(u) = &run.url {
        s.push_str(&format!("\n[Workflow run and full report]({u})\n"));
    }
    s
}

/// The primary metric against the PR's base branch (`GITHUB_BASE_REF`), when the
/// tracking store has a training at its commit (a store the runners share: `s3://`).
fn base_metrics(cfg: &Config, workdir: &Workdir) -> Option<String> {
    let base = std::env::var("GITHUB_BASE_REF")
        .ok()
        .filter(|b| !b.is_empty())?;
    let rev = format!("origin/{base}");
    let commit =
        mlx_core::git::git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")]).ok()?;
    let table = mlx_core::tracking::primary_against(cfg, workdir, commit.trim(), &base)?;
    Some(format!(
        "**Against `{base}`** (`mlx metrics diff {rev}`, the newest training of its head in \
         the tracking store):\n\n{table}"
    ))
}

/// `mlx github report`: the PR comment (posted or updated in place) and the `mlx/gate`
/// commit status.
pub fn report(
    gh: &GitHub,
    cfg: &Config,
    workdir: &Workdir,
    pr: Option<u64>,
    sha: &str,
    run: &RunInfo,
) -> Result<StepResult> {
    let report = match mlx_core::workdir::read_gate_report(workdir) {
        Ok(r) => r,
        Err(e) => {
            gh.status(
                sha,
                "error",
                STATUS_CONTEXT,
                "the pipeline did not reach the gate",
                run.url.as_deref(),
            )?;
            return Err(e);
        }
    };
    let md_path = workdir.join(paths::GATE_REPORT);
    let md = std::fs::read_to_string(&md_path).unwrap_or_else(|_| {
        format!(
            "(no {} in the work directory; the gate report is in gate.json)",
            paths::GATE_REPORT
        )
    });
    let primary = mlx_core::metric::primary_metric(cfg).0.to_string();
    let metric = report
        .candidate
        .metrics
        .get(&primary)
        .map(|v| format!(" ({primary} {v:.4})"))
        .unwrap_or_default();
    let (state, description) = match report.outcome {
        GateOutcome::Passed => ("success", format!("passed{metric}")),
        GateOutcome::PendingReview => (
            "pending",
            format!(
                "awaiting review{metric}: {}",
                report.review_reasons.join("; ")
            ),
        ),
        GateOutcome::Failed => ("failure", format!("failed{metric}")),
    };
    let mut result = StepResult::new(Status::Passed, "")
        .out("outcome", report.outcome.as_str())
        .out("evidence_sha256", &report.evidence_sha256);
    let mut human = Vec::new();
    if let (Some(n), true) = (pr, cfg.github.pr_comment) {
        let metrics = base_metrics(cfg, workdir);
        let body = report_body(&report, &md, metrics.as_deref(), cfg, sha, run);
        let (id, created) = gh.upsert_comment(n, REPORT_MARKER, &body)?;
        human.push(format!(
            "{} the report comment on #{n}",
            if created { "posted" } else { "updated" }
        ));
        result = result.out("comment_id", id);
    }
    gh.status(sha, state, STATUS_CONTEXT, &description, run.url.as_deref())?;
    human.push(format!("set {STATUS_CONTEXT} to {state} on {}", short(sha)));
    result.human = format!("{}: {}", report.outcome.as_str(), human.join("; "));
    Ok(result)
}

/// Options of `mlx github review`.
#[derive(Debug, Clone)]
pub struct ReviewOptions {
    /// The training workflow a deferral dispatches (a file name in the repository).
    pub train_workflow: String,
    /// The branch to dispatch on when the PR comes from a fork.
    pub default_branch: String,
}

/// Text from a comment made inert before it is echoed into another: no mention
/// (`@org/team` pings nobody), no image, link, HTML or other markdown, one line, at
/// most 300 characters.
pub fn inert(text: &str) -> String {
    let short: String = text.chars().take(300).collect();
    let mut out = mlx_core::markdown::escape(&short).replace('@', "@\u{2060}");
    if text.chars().count() > 300 {
        out.push('…');
    }
    out
}

fn reply(gh: &GitHub, said: &Said, reaction: &str, text: &str) -> Result<()> {
    if let Some(id) = said.comment_id {
        gh.react(id, reaction)?;
    }
    gh.comment(said.pr, &format!("@{} {text}", said.actor))
        .map(drop)
}

/// Checks a decision before it is recorded: who made it (permission on the repository,
/// then authorship) and what they saw (the head commit's report, unchanged since they
/// spoke, over a finished training run). Returns the pull request and the report
/// comment's body, or why the decision is refused.
fn vet(
    gh: &GitHub,
    cfg: &Config,
    workdir: &Workdir,
    said: &Said,
    decision: Decision,
) -> Result<std::result::Result<(crate::api::Pull, String), String>> {
    // Who: permission on the repository, then authorship.
    let needed = cfg.github.required_permission;
    let has = gh.permission(&said.actor)?;
    if has.is_none_or(|p| p < needed) {
        return Ok(Err(format!(
            "deciding on a model needs `{}` permission on {} or more, and you have `{}`",
            permission_name(needed),
            gh.repo(),
            has.map_or("none", permission_name)
        )));
    }
    if decision == Decision::Approve
        && !cfg.approval_gate.allow_self_approval
        && said.actor.eq_ignore_ascii_case(&said.pr_author)
    {
        return Ok(Err(
            "you opened this pull request, and its author may not approve its model \
             (approval_gate.allow_self_approval is false); ask another reviewer"
                .into(),
        ));
    }

    // What they saw: the head commit's report, unchanged since they spoke.
    let pull = gh.pull(said.pr)?;
    if let Some(c) = said.commit.as_deref().filter(|c| *c != pull.head_sha) {
        return Ok(Err(format!(
            "the review was made on commit {}, but the pull request is now at {}: the \
             model was retrained since; read the new report and review again",
            short(c),
            short(&pull.head_sha)
        )));
    }
    let report_comment = gh
        .comments(said.pr)?
        .into_iter()
        .find(|c| c.body.contains(REPORT_MARKER));
    let Some(report_comment) = report_comment else {
        return Ok(Err("there is no mlx report on this pull request yet: wait for the training workflow to post it".into()));
    };
    if later(&report_comment.updated_at, &said.at) {
        return Ok(Err(format!(
            "the report changed at {} after you spoke at {}: read it again and decide on \
             the current evidence",
            report_comment.updated_at, said.at
        )));
    }
    // The training run's work directory (downloaded by the workflow) must be there.
    if let Err(e) = mlx_core::workdir::read_gate_report(workdir) {
        return Ok(Err(format!(
            "there is no finished training run of commit {} to decide on ({e}); wait for \
             the mlx/gate status and decide again",
            short(&pull.head_sha)
        )));
    }
    Ok(Ok((pull, report_comment.body)))
}

/// `mlx github review`: turns a PR comment or review into a recorded decision, after
/// checking the person's permission and the evidence they saw.
pub fn review(
    gh: &GitHub,
    cfg: &Config,
    workdir: &Workdir,
    event: &Event,
    opts: &ReviewOptions,
) -> Result<StepResult> {
    let Event::Said(said) = event else {
        return Ok(StepResult::new(
            Status::Passed,
            "not a comment or review on a pull request: nothing to decide",
        )
        .out("decision", "none"));
    };
    let prefix = &cfg.github.command_prefix;
    let command = match parse_said(&said.what, prefix) {
        Parsed::NotCommand => {
            return Ok(StepResult::new(
                Status::Passed,
                format!("#{}: not addressed to {prefix}: nothing to decide", said.pr),
            )
            .out("decision", "none"))
        }
        Parsed::Invalid(why) => {
            // Only people who may decide are answered: an outsider's text is never
            // echoed into the pull request.
            let has = gh.permission(&said.actor)?;
            if has.is_none_or(|p| p < cfg.github.required_permission) {
                return Err(Error::Refused(format!(
                    "{} on #{}: not a command, from someone without `{}` permission: not answered",
                    said.actor,
                    said.pr,
                    permission_name(cfg.github.required_permission)
                )));
            }
            reply(gh, said, "confused", &why)?;
            return Err(Error::Usage(format!(
                "{} on #{}: {why}",
                said.actor, said.pr
            )));
        }
        Parsed::Command(c) => c,
    };
    let (decision, notes) = match command {
        Command::Approve(n) => (Decision::Approve, n),
        Command::Reject(n) => (Decision::Reject, n),
        Command::Defer(n) => (Decision::Defer, n),
    };
    let refuse = |why: String| -> Result<StepResult> {
        reply(
            gh,
            said,
            "-1",
            &format!("your `{}` was not recorded: {why}", decision.as_str()),
        )?;
        Err(Error::Refused(format!(
            "{} on #{}: {why}",
            said.actor, said.pr
        )))
    };

    let (pull, report) = match vet(gh, cfg, workdir, said, decision)? {
        Ok(seen) => seen,
        Err(why) => return refuse(why),
    };
    let evidence = shown_evidence(&report)
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    let source = match said.what {
        crate::event::Words::Comment(_) => "issue_comment",
        crate::event::Words::Review { .. } => "pull_request_review",
    };
    let request = Request {
        decision,
        reviewer: said.actor.clone(),
        notes: notes.clone(),
        evidence: evidence.clone(),
        source: source.into(),
        url: Some(said.url.clone()),
    };
    let recorded = match review::record(cfg, workdir, request) {
        Ok(r) => r,
        Err(Error::Refused(why)) => return refuse(why),
        Err(e) => return Err(e),
    };
    let evidence = evidence.unwrap_or_default();
    let mut text = match decision {
        Decision::Approve => format!(
            "approved the model on evidence `{}`: it goes on to promotion.",
            short(&evidence)
        ),
        Decision::Reject => format!("rejected the model: {}. It is archived.", inert(&notes)),
        Decision::Defer => format!(
            "deferred the model: retraining with your notes: {}",
            inert(&notes)
        ),
    };
    let mut result = StepResult::new(Status::Passed, recorded.human)
        .out("decision", decision.as_str())
        .out("evidence_sha256", &evidence)
        .out("pr", said.pr)
        .out("head_sha", &pull.head_sha);
    if decision == Decision::Defer {
        let branch = if pull.same_repo {
            pull.head_ref.clone()
        } else {
            opts.default_branch.clone()
        };
        let inputs = BTreeMap::from([
            (
                "reason".to_owned(),
                format!("deferred by {} on #{}", said.actor, said.pr),
            ),
            ("notes".to_owned(), notes.clone()),
        ]);
        gh.dispatch(&opts.train_workflow, &branch, &inputs)?;
        text.push_str(&format!(
            " (dispatched {} on `{branch}`)",
            opts.train_workflow
        ));
        result = result.out("dispatched", &opts.train_workflow);
    }
    reply(gh, said, "+1", &text)?;
    Ok(result)
}

/// `mlx github deployment`: records that a registry version went to an environment.
pub fn deployment(
    gh: &GitHub,
    cfg: &Config,
    environment: &str,
    version: &str,
    git_ref: &str,
    succeeded: bool,
    run: &RunInfo,
) -> Result<StepResult> {
    let model = mlx_core::registry::open(cfg)?.model().to_owned();
    let state = if succeeded { "success" } else { "failure" };
    let description = format!("{model} v{version} to {environment}");
    let id = gh.deployment(
        git_ref,
        environment,
        &description,
        json!({ "model": model, "version": version, "registry": cfg.registry.uri }),
        state,
        run.url.as_deref(),
    )?;
    Ok(StepResult::new(
        Status::Passed,
        format!("recorded deployment {id}: {description} ({state})"),
    )
    .out("deployment_id", id))
}

/// `mlx github alert`: after `mlx-monitor`, opens or updates the alert issue and
/// dispatches retraining when a trigger fired.
pub fn alert(
    gh: &GitHub,
    cfg: &Config,
    workdir: &Workdir,
    train_workflow: &str,
    git_ref: &str,
    run: &RunInfo,
) -> Result<StepResult> {
    let path = workdir.join(paths::MONITOR_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "no monitoring report at {} ({e}): run `mlx monitor` first",
            path.display()
        ))
    })?;
    let report = MonitorReport::from_json(&text).map_err(|source| Error::Contract {
        path: path.display().to_string(),
        source,
    })?;
    if !report.fired {
        return Ok(StepResult::new(
            Status::Passed,
            format!("{}: no trigger fired; nothing to report", report.model),
        )
        .out("fired", "false"));
    }
    let md = std::fs::read_to_string(workdir.join(paths::MONITOR_REPORT))
        .unwrap_or_else(|_| report.diagnosis.clone());
    let fired: Vec<&str> = report
        .triggers
        .iter()
        .filter(|t| t.fired)
        .map(|t| t.message.as_str())
        .collect();
    let title = format!("mlx: {} needs retraining", report.model);
    let mut body = format!("{ALERT_MARKER}\n{}\n", md.trim_end());
    if let Some(u) = &run.url {
        body.push_str(&format!("\n[Monitoring run]({u})\n"));
    }
    let note = format!("Fired again on {}: {}", report.as_of, fired.join("; "));
    let (issue, created) = gh.upsert_issue(ALERT_LABEL, &title, &body, &note)?;
    // Handled: the issue and the dispatch are the signal, not a red job.
    let mut result = StepResult::new(
        Status::Passed,
        format!(
            "{}: {}; {} issue #{issue}",
            report.model,
            fired.join("; "),
            if created { "opened" } else { "updated" }
        ),
    )
    .out("fired", "true")
    .out("issue", issue);
    if cfg.monitoring.retrain {
        let inputs = BTreeMap::from([
            (
                "reason".to_owned(),
                format!("monitoring: {}", fired.join("; ")),
            ),
            ("notes".to_owned(), report.recommendation.clone()),
        ]);
        gh.dispatch(train_workflow, git_ref, &inputs)?;
        result
            .human
            .push_str(&format!("; dispatched {train_workflow} on `{git_ref}`"));
        result = result.out("dispatched", train_workflow);
    }
    Ok(result)
}

/// `mlx github find-run`: the newest successful run of the training workflow on a
/// commit, whose work directory a review or promotion downloads.
pub fn find_run(gh: &GitHub, workflow: &str, sha: &str) -> Result<StepResult> {
    match gh.latest_run(workflow, sha)? {
        Some(id) => Ok(StepResult::new(
            Status::Passed,
            format!("{workflow} run {id} trained commit {}", short(sha)),
        )
        .out("workflow_run_id", id)
        .out("head_sha", sha)),
        None => Err(Error::Refused(format!(
            "no successful run of {workflow} on commit {} yet: wait for it (the mlx/gate \
             status) and try again",
            short(sha)
        ))),
    }
}

/// Whether RFC 3339 time `a` is after `b` (as text when either does not parse).
fn later(a: &str, b: &str) -> bool {
    use chrono::DateTime;
    match (
        DateTime::parse_from_rfc3339(a),
        DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => a > b,
    }
}

/// A JSON view of a step's result for `--json`.
pub fn to_json(r: &StepResult) -> Value {
    json!({ "status": r.status, "message": r.human, "outputs": r.outputs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_text_mentions_nobody_and_renders_nothing() {
        let s = inert("cc @org/team ![img](https://evil.example/x.png) <b>hi</b>\nline `code`");
        assert!(!s.contains("@o"), "{s}");
        for raw in ["![", "](", "<b>", "\n", " `code`"] {
            assert!(!s.contains(raw), "{raw:?} in {s}");
        }
        assert_eq!(inert("plain words, no markup"), "plain words, no markup");
        assert!(inert(&"x".repeat(500)).chars().count() <= 301);
    }

    #[test]
    fn the_marker_carries_the_evidence() {
        let body = format!("{}\n# Gate\n", marker("abc123", "deadbeef"));
        assert_eq!(shown_evidence(&body), Some("abc123"));
        assert_eq!(shown_evidence("# no marker"), None);
    }
}
