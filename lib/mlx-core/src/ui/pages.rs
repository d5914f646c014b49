//! What each page of `mlx ui` shows: the reading and the view's context. The
//! templates (`templates/`) only lay it out.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine as _;
use mlx_contracts::gate::{Decision, GateOutcome, Review};
use mlx_contracts::monitor::MonitorReport;
use mlx_contracts::registry::RegistryState;
use mlx_contracts::tracking::EntryKind;
use mlx_contracts::train::{BundleManifest, HistoryPoint, TrainReport};
use mlx_contracts::validate::ValidationReport;
use serde_json::{json, Value};

use super::auth::Session;
use super::{error_view, param, App, Query, View};
use crate::error::{Error, Result};
use crate::gate::review::{record, Request};
use crate::registry::state::short;
use crate::tracking::query::{self, format_number, parse_sort, Filter, Key};
use crate::tracking::{self, Run};

/// Rows a runs page shows at most.
const MAX_LIMIT: usize = 1000;

fn store(app: &App) -> Result<tracking::Store> {
    tracking::open(&app.cfg)
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), format_number)
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A query string of `pairs` (for links that keep the page's other settings).
fn href(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        s.append_pair(k, v);
    }
    let q = s.finish();
    if q.is_empty() {
        path.into()
    } else {
        format!("{path}?{q}")
    }
}

/// An SVG as an `<img>` source.
fn svg_src(svg: &str) -> String {
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

/// The runs page: the table as `mlx runs list` gives it, with paging, sorting by a
/// column's header and chosen columns. A malformed filter is said above the table.
pub(super) fn runs(app: &App, q: &Query) -> Result<View> {
    let filter_text = param(q, "filter").unwrap_or("").to_owned();
    let sort_text = param(q, "sort").unwrap_or("").to_owned();
    let columns_text = param(q, "columns").unwrap_or("").to_owned();
    let kind_text = param(q, "kind").unwrap_or("train").to_owned();
    let limit_text = param(q, "limit").unwrap_or("50").to_owned();
    let offset: usize = param(q, "offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let mut context = json!({
        "filter": filter_text, "sort": sort_text, "columns": columns_text,
        "kind": kind_text, "limit": limit_text, "kinds": ["train", "eval", "shap", "gate", "monitor"],
        "rows": [], "header": [], "error": null,
    });
    let parsed = (|| -> Result<_> {
        let kind: EntryKind = serde_json::from_value(json!(kind_text)).map_err(|_| {
            Error::Usage(format!(
                "kind `{kind_text}`: one of train, eval, shap, gate, monitor"
            ))
        })?;
        let limit: usize = limit_text
            .parse()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "limit `{limit_text}`: a number from 1 to {MAX_LIMIT}"
                ))
            })?;
        let filter = (!filter_text.trim().is_empty())
            .then(|| Filter::parse(&filter_text))
            .transpose()?;
        let sort = (!sort_text.trim().is_empty())
            .then(|| parse_sort(&sort_text))
            .transpose()?
            .unwrap_or_default();
        let columns = (!columns_text.trim().is_empty())
            .then(|| {
                columns_text
                    .split(',')
                    .map(|k| {
                        Key::parse(k.trim()).map_err(|e| Error::Usage(format!("--columns: {e}")))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        Ok((kind, limit, filter, sort, columns))
    })();
    let (kind, limit, filter, sort, columns) = match parsed {
        Ok(p) => p,
        Err(e) => {
            context["error"] = json!(e.to_string());
            return Ok(View::ok("runs.html", context).with_status(StatusCode::BAD_REQUEST));
        }
    };
    let store = store(app)?;
    let mut runs = tracking::of_kind(store.entries()?, kind);
    let total = runs.len();
    if let Some(f) = &filter {
        runs = f.keep(runs);
    }
    let matched = runs.len();
    query::sort(&mut runs, &sort);
    let primary = crate::metric::primary_metric(&app.cfg).0;
    let columns = columns
        .unwrap_or_else(|| query::default_columns(kind, primary.as_str(), filter.as_ref(), &sort));
    let page: Vec<&Run> = runs.iter().skip(offset).take(limit).collect();
    let keep = |sort: &str, offset: usize| {
        href(
            "/runs",
            &[
                ("filter", &filter_text),
                ("sort", sort),
                ("columns", &columns_text),
                ("kind", if kind_text == "train" { "" } else { &kind_text }),
                ("limit", if limit == 50 { "" } else { &limit_text }),
                (
                    "offset",
                    &if offset == 0 {
                        String::new()
                    } else {
                        offset.to_string()
                    },
                ),
            ],
        )
    };
    let header: Vec<Value> = columns
        .iter()
        .map(|k| {
            let label = k.label();
            let asc = sort.first().is_some_and(|s| s.key == *k && !s.descending);
            let next = if asc { format!("{label} desc") } else { label.clone() };
            json!({"label": label, "href": keep(&next, 0),
                   "sorted": sort.first().filter(|s| s.key == *k).map(|s| if s.descending { "desc" } else { "asc" })})
        })
        .collect();
    let rows: Vec<Value> = page
        .iter()
        .map(|r| {
            json!({
                "id": r.entry.id, "short": &r.entry.id[..12],
                "link": kind == EntryKind::Train,
                "started": time(&r.entry.started_at), "name": r.entry.name,
                "model": r.entry.model_type.clone().unwrap_or_default(),
                "cells": columns.iter().map(|k| k.of(r).map_or_else(|| "—".into(), |f| f.display())).collect::<Vec<_>>(),
            })
        })
        .collect();
    context["header"] = json!(header);
    context["rows"] = json!(rows);
    context["summary"] = json!(format!(
        "{}–{} of {matched} matching ({total} in experiment `{}` of {})",
        if page.is_empty() { 0 } else { offset + 1 },
        offset + page.len(),
        store.experiment(),
        store.label()
    ));
    context["prev"] = json!((offset > 0).then(|| keep(&sort_text, offset.saturating_sub(limit))));
    context["next"] = json!((offset + limit < matched).then(|| keep(&sort_text, offset + limit)));
    context["sort_links"] = json!({"started": keep(if sort_text == "started" { "started desc" } else { "started" }, 0)});
    Ok(View::ok("runs.html", context))
}

/// One stored file of a run or of an entry about it.
#[derive(serde::Serialize)]
struct Artifact {
    /// Its name, prefixed by the entry's kind for an entry about the run (`eval/roc.svg`).
    label: String,
    sha: String,
    image: bool,
}

/// A run's artifacts and those of the entries about it.
fn artifacts(r: &Run) -> Vec<Artifact> {
    let own = r.entry.artifacts.iter().map(|(n, sha)| (n.clone(), n, sha));
    let about = r.related.iter().flat_map(|rel| {
        rel.artifacts
            .iter()
            .map(move |(n, sha)| (format!("{}/{n}", rel.kind.as_str()), n, sha))
    });
    own.chain(about)
        .map(|(label, name, sha)| Artifact {
            image: name.ends_with(".svg") || name.ends_with(".png"),
            label,
            sha: sha.clone(),
        })
        .collect()
}

/// A run's history (`history.json`), where it has one.
fn history(store: &tracking::Store, r: &Run) -> Option<Vec<HistoryPoint>> {
    let sha = r.entry.artifacts.get("history.json")?;
    let bytes = store.object(sha).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The manifest of the run's bundle, when the work directory still holds it.
fn manifest(app: &App, r: &Run) -> Option<BundleManifest> {
    let record = app.workdir.read_record("train").ok()??;
    let report: TrainReport = serde_json::from_value(record.details).ok()?;
    let run = report.runs.iter().find(|x| {
        Some(&x.run_id) == r.entry.run_id.as_ref()
            && x.name == r.entry.name
            && Some(&x.bundle_sha256) == r.tags.get("bundle_sha256")
    })?;
    let text = std::fs::read_to_string(
        app.workdir
            .join(&run.bundle)
            .join(crate::model::bundle::MANIFEST),
    )
    .ok()?;
    serde_json::from_str(&text).ok()
}

/// The run page: everything the run knows.
pub(super) fn run(app: &App, id: &str) -> Result<View> {
    let store = store(app)?;
    let runs = tracking::runs(store.entries()?);
    let r = match tracking::resolve(&runs, id) {
        Ok(r) => r,
        Err(e) => return Ok(error_view(StatusCode::NOT_FOUND, &e.to_string())),
    };
    let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (k, v) in &r.metrics {
        let (g, rest) = k.split_once('.').unwrap_or(("", k));
        groups
            .entry(g.to_owned())
            .or_default()
            .push((rest.to_owned(), format_number(*v)));
    }
    let chart = history(&store, r).and_then(|h| {
        let points: Vec<(f64, Option<f64>)> =
            h.iter().map(|p| (p.train_loss, p.validation)).collect();
        crate::plots::loss_curve(&r.entry.name, &points).map(|(_, svg)| svg_src(&svg))
    });
    let lineage: Vec<(&str, String)> = [
        ("git commit", "git.commit"),
        ("git branch", "git.branch"),
        ("uncommitted changes", "git.dirty"),
        ("dataset", "dataset_sha256"),
        ("config", "config_sha256"),
        ("bundle", "bundle_sha256"),
        ("mlx", "mlx.version"),
        ("who", "user"),
    ]
    .into_iter()
    .filter_map(|(label, tag)| r.tags.get(tag).map(|v| (label, v.clone())))
    .collect();
    let signature = manifest(app, r).map(|m| {
        json!({
            "library": m.library, "problem_type": m.problem_type,
            "inputs": m.signature.inputs, "outputs": m.signature.outputs,
            "classes": m.classes,
        })
    });
    let registered = registered_version(app, r);
    Ok(View::ok(
        "run.html",
        json!({
            "run": {
                "id": r.entry.id, "name": r.entry.name, "model": r.entry.model_type,
                "run_id": r.entry.run_id, "training": r.entry.training,
                "status": r.entry.status, "started": time(&r.entry.started_at),
                "finished": time(&r.entry.finished_at),
            },
            "params": r.entry.params.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<Vec<_>>(),
            "groups": groups,
            "tags": r.tags,
            "lineage": lineage,
            "history": chart,
            "artifacts": artifacts(r),
            "related": r.related.iter().map(|e| json!({
                "id": e.id, "kind": e.kind.as_str(), "status": e.status, "started": time(&e.started_at)
            })).collect::<Vec<_>>(),
            "signature": signature,
            "registered": registered,
        }),
    ))
}

/// The registry version made from this run, if any.
fn registered_version(app: &App, r: &Run) -> Option<Value> {
    let state = crate::registry::open(&app.cfg).ok()?.state().ok()??;
    let bundle = r.tags.get("bundle_sha256")?;
    state
        .versions
        .iter()
        .find(|(_, v)| &v.bundle_sha256 == bundle)
        .map(|(n, v)| json!({"version": n, "stage": v.stage.as_str()}))
}

/// The compare page: runs side by side, differences marked, histories overlaid and
/// the plots next to each other.
pub(super) fn compare(app: &App, q: &Query) -> Result<View> {
    let ids: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "ids")
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .collect();
    if ids.len() < 2 {
        return Ok(error_view(
            StatusCode::BAD_REQUEST,
            "compare needs two or more runs: tick them in the runs table, or give \
             /compare?ids=ID,ID",
        ));
    }
    let store = store(app)?;
    let runs = tracking::runs(store.entries()?);
    let mut picked = Vec::new();
    for id in &ids {
        match tracking::resolve(&runs, id) {
            Ok(r) => picked.push(r),
            Err(e) => return Ok(error_view(StatusCode::NOT_FOUND, &e.to_string())),
        }
    }
    let rows = query::compare(&picked);
    let only_differ = param(q, "all").is_none();
    let series: Vec<(String, Vec<(f64, f64)>)> = picked
        .iter()
        .filter_map(|r| {
            let h = history(&store, r)?;
            Some((
                format!("{} ({})", r.entry.name, &r.entry.id[..8]),
                h.iter()
                    .map(|p| (f64::from(p.iteration), p.train_loss))
                    .collect(),
            ))
        })
        .collect();
    let chart =
        crate::plots::line_chart("training loss per iteration", "iteration", "loss", &series)
            .map(|s| svg_src(&s));
    // The plots each run has, by name, one column per run.
    let mut plots: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for (i, r) in picked.iter().enumerate() {
        for a in artifacts(r).into_iter().filter(|a| a.image) {
            let col = plots
                .entry(a.label)
                .or_insert_with(|| vec![None; picked.len()]);
            col[i] = Some(a.sha);
        }
    }
    let all_href = href(
        "/compare",
        &[
            ("ids", &ids.join(",")),
            ("all", if only_differ { "1" } else { "" }),
        ],
    );
    Ok(View::ok(
        "compare.html",
        json!({
            "runs": picked.iter().map(|r| json!({"id": r.entry.id, "short": &r.entry.id[..12], "name": r.entry.name})).collect::<Vec<_>>(),
            "rows": rows.iter().filter(|r| !only_differ || r.differs).collect::<Vec<_>>(),
            "hidden": rows.iter().filter(|r| !r.differs).count(),
            "only_differ": only_differ,
            "all_href": all_href,
            "history": chart,
            "plots": plots,
        }),
    ))
}

/// The registry page: versions, stages, aliases, deployment, and the audit trail.
pub(super) fn registry(app: &App) -> Result<View> {
    let store = crate::registry::open(&app.cfg)?;
    let Some(state) = store.state()? else {
        return Ok(View::ok(
            "registry.html",
            json!({"model": store.model(), "label": store.label(), "empty": true}),
        ));
    };
    let primary = crate::metric::primary_metric(&app.cfg).0;
    let mut history = store.history()?;
    history.reverse();
    let audit: Vec<Value> = history
        .iter()
        .map(|s| {
            let t = &s.transition;
            json!({
                "revision": s.revision, "action": t.action, "version": t.version,
                "from": t.from.map(|x| x.as_str()), "to": t.to.map(|x| x.as_str()),
                "alias": t.alias, "replaced": t.replaced, "actor": t.actor, "at": time(&t.at),
                "reason": t.reason, "evidence": t.evidence_sha256.as_deref().map(short),
                "rollback": t.action == "rollback",
            })
        })
        .collect();
    Ok(View::ok(
        "registry.html",
        json!({
            "model": state.model, "label": store.label(), "empty": false,
            "revision": state.revision,
            "primary": primary.as_str(),
            "versions": versions(&store, &state, primary.as_str()),
            "aliases": state.aliases,
            "deployment": {
                "strategy": format!("{:?}", state.deployment.strategy).to_lowercase(),
                "live": state.deployment.live, "challenger": state.deployment.challenger,
                "canary_fraction": state.deployment.canary_fraction,
            },
            "production_history": state.production_history,
            "audit": audit,
        }),
    ))
}

fn versions(store: &crate::registry::Store, state: &RegistryState, primary: &str) -> Vec<Value> {
    state
        .versions
        .iter()
        .rev()
        .map(|(n, v)| {
            let meta = store.version(*n).ok();
            json!({
                "version": n, "stage": v.stage.as_str(),
                "gate": v.gate.map(|g| g.as_str()),
                "run_id": v.run_id,
                "name": meta.as_ref().map(|m| m.name.clone()),
                "metric": num(meta.as_ref().and_then(|m| m.metrics.get(primary).copied())),
                "aliases": state.aliases.iter().filter(|(_, x)| *x == n).map(|(a, _)| a.clone()).collect::<Vec<_>>(),
                "reviews": v.reviews.iter().map(review_json).collect::<Vec<_>>(),
                "archived_reason": v.archived_reason,
                "bundle": short(&v.bundle_sha256),
            })
        })
        .collect()
}

fn review_json(r: &Review) -> Value {
    json!({
        "decision": r.decision.as_str(), "reviewer": r.reviewer, "notes": r.notes,
        "at": time(&r.at), "evidence": short(&r.evidence_sha256), "source": r.source,
    })
}

/// The reviews recorded in the work directory (`gate/reviews.ndjson`), newest first.
fn reviews(app: &App) -> Vec<Value> {
    let path = app.workdir.join(crate::workdir::paths::GATE_REVIEWS);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Review>(l).ok())
        .map(|r| review_json(&r))
        .collect();
    out.reverse();
    out
}

/// The review page: the reviewer's dashboard over the work directory's gate report.
/// `notice` is the outcome of a decision just made (or refused).
pub(super) fn review(app: &App, session: &Session, notice: Option<Value>) -> Result<View> {
    let report = match crate::workdir::read_gate_report(&app.workdir) {
        Ok(r) => r,
        Err(e @ Error::Usage(_)) => {
            return Ok(View::ok(
                "review.html",
                json!({"report": null, "missing": e.to_string(), "notice": notice}),
            ))
        }
        Err(e) => return Err(e),
    };
    let cfg = &app.cfg;
    let (primary, _) = crate::metric::primary_metric(cfg);
    let metrics: Vec<Value> = cfg
        .evaluation
        .metrics
        .iter()
        .map(|m| {
            let name = m.as_str();
            json!({
                "name": name, "primary": *m == primary,
                "candidate": num(report.candidate.metrics.get(name).copied()),
                "production": num(report.production.as_ref().and_then(|p| p.metrics.get(name).copied())),
            })
        })
        .collect();
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| {
            json!({"name": c.name, "result": c.result.as_str(), "value": num(c.value),
                   "threshold": num(c.threshold), "message": c.message})
        })
        .collect();
    let validation: Option<ValidationReport> = app
        .workdir
        .read_record("validate")
        .ok()
        .flatten()
        .and_then(|r| ValidationReport::from_json(&r.details.to_string()).ok());
    let warnings: Vec<Value> = validation
        .as_ref()
        .map(|v| {
            v.checks
                .iter()
                .filter(|c| c.status != mlx_contracts::Status::Passed)
                .map(|c| json!({"status": c.status, "column": c.column, "message": c.message}))
                .collect()
        })
        .unwrap_or_default();
    let drift: Vec<Value> = validation
        .as_ref()
        .and_then(|v| v.drift.as_ref())
        .map(|d| {
            let mut cols: Vec<_> = d.columns.iter().collect();
            cols.sort_by(|a, b| b.value.total_cmp(&a.value));
            cols.iter()
                .take(15)
                .map(|c| {
                    json!({"column": c.column, "method": format!("{:?}", c.method).to_lowercase(),
                           "value": format_number(c.value), "threshold": format_number(c.threshold),
                           "drifted": c.drifted})
                })
                .collect()
        })
        .unwrap_or_default();
    let top = report
        .top_features
        .first()
        .map_or(1.0, |(_, v)| v.max(1e-12));
    let shap: Vec<Value> = report
        .top_features
        .iter()
        .map(|(f, v)| json!({"feature": f, "value": format_number(*v), "width": ((v / top * 20.0).clamp(0.0, 20.0).round() as u32) * 5}))
        .collect();
    let may_decide = session.reviewer.is_some();
    let approvable = report.outcome != GateOutcome::Failed;
    Ok(View::ok(
        "review.html",
        json!({
            "report": {
                "outcome": report.outcome.as_str(),
                "candidate": report.candidate.name, "run_id": report.candidate.run_id,
                "model": report.candidate.model_type.as_str(),
                "author": report.candidate.author,
                "bundle": short(&report.candidate.bundle_sha256),
                "production": report.production.as_ref().map(|p| json!({"version": p.version, "run_id": p.run_id})),
                "reasons": report.review_reasons,
                "evidence": report.evidence_sha256,
                "evidence_short": short(&report.evidence_sha256),
                "evaluated": time(&report.evaluated_at),
            },
            "metrics": metrics,
            "checks": checks,
            "shap": shap,
            "warnings": warnings,
            "drift": drift,
            "dataset_drift": validation.as_ref().and_then(|v| v.drift.as_ref()).map(|d| d.dataset_drift),
            "changes": report.changes.iter().take(50).collect::<Vec<_>>(),
            "reviewers": cfg.approval_gate.reviewers,
            "reviews": reviews(app),
            "may_decide": may_decide,
            "approvable": approvable,
            "notice": notice,
        }),
    ))
}

/// A decision posted from the review page, through `mlx-gate review`'s own checks.
pub(super) fn decide(app: &App, session: &Session, form: &Query) -> Result<View> {
    let Some(reviewer) = session.reviewer.clone() else {
        return Ok(error_view(
            StatusCode::UNAUTHORIZED,
            "log in with your reviewer token before deciding",
        ));
    };
    let decision = match param(form, "decision") {
        Some("approve") => Decision::Approve,
        Some("reject") => Decision::Reject,
        Some("defer") => Decision::Defer,
        other => {
            return Ok(error_view(
                StatusCode::BAD_REQUEST,
                &format!(
                    "decision `{}`: approve, reject or defer",
                    other.unwrap_or("")
                ),
            ))
        }
    };
    let Some(evidence) = param(form, "evidence").map(str::to_owned) else {
        return Ok(error_view(
            StatusCode::BAD_REQUEST,
            "the form carried no evidence hash: open the review page again and decide there",
        ));
    };
    let request = Request {
        decision,
        reviewer: reviewer.clone(),
        notes: param(form, "notes").unwrap_or("").trim().to_owned(),
        evidence: Some(evidence),
        source: "ui".into(),
        url: None,
    };
    let outcome = {
        let _one = app.deciding.lock().unwrap_or_else(|p| p.into_inner());
        record(&app.cfg, &app.workdir, request)
    };
    let (notice, status) = match outcome {
        Ok(done) => {
            tracing::info!("{reviewer} decided in mlx ui: {}", done.human);
            (json!({"ok": true, "message": done.human}), StatusCode::OK)
        }
        Err(e) => {
            let status = super::status_of(&e);
            (json!({"ok": false, "message": e.to_string()}), status)
        }
    };
    Ok(review(app, session, Some(notice))?.with_status(status))
}

/// The monitor page: the monitoring windows over time from the tracking store, and the
/// newest window of the work directory in detail.
pub(super) fn monitor(app: &App) -> Result<View> {
    let store = store(app)?;
    let mut windows = tracking::of_kind(store.entries()?, EntryKind::Monitor);
    windows.sort_by_key(|w| w.entry.started_at);
    let primary = crate::metric::primary_metric(&app.cfg).0;
    let key = format!("window.{}", primary.as_str());
    let over_windows = |metric: &str| -> Vec<(f64, f64)> {
        windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.metrics.get(metric).map(|v| (i as f64 + 1.0, *v)))
            .collect()
    };
    let metric_chart = crate::plots::line_chart(
        &format!("{} per monitoring window", primary.as_str()),
        "window",
        primary.as_str(),
        &[
            ("window".to_string(), over_windows(&key)),
            (
                "baseline".to_string(),
                over_windows(&format!("baseline.{}", primary.as_str())),
            ),
        ],
    )
    .map(|s| svg_src(&s));
    // Drift per feature: the six that drifted most, against the PSI threshold.
    let mut features: BTreeMap<String, f64> = BTreeMap::new();
    for w in &windows {
        for (k, v) in &w.metrics {
            if let Some(col) = k
                .strip_prefix("drift.")
                .and_then(|c| c.strip_suffix(".psi"))
            {
                let m = features.entry(col.to_owned()).or_insert(f64::NEG_INFINITY);
                *m = m.max(*v);
            }
        }
    }
    let mut features: Vec<(String, f64)> = features.into_iter().collect();
    features.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut drift_series: Vec<(String, Vec<(f64, f64)>)> = features
        .iter()
        .take(6)
        .map(|(c, _)| (c.clone(), over_windows(&format!("drift.{c}.psi"))))
        .collect();
    if !drift_series.is_empty() {
        let t = app.cfg.monitoring.psi_threshold;
        drift_series.push((
            "PSI threshold".into(),
            vec![(1.0, t), ((windows.len().max(2)) as f64, t)],
        ));
    }
    let drift_chart = crate::plots::line_chart("PSI per feature", "window", "PSI", &drift_series)
        .map(|s| svg_src(&s));
    let table: Vec<Value> = windows
        .iter()
        .rev()
        .take(100)
        .map(|w| {
            json!({
                "as_of": w.tags.get("monitor.as_of"), "version": w.tags.get("monitor.version"),
                "metric": num(w.metrics.get(&key).copied()),
                "fired": w.tags.get("monitor.fired").map(String::as_str) == Some("true"),
                "triggers": w.tags.get("monitor.triggers"),
                "diagnosis": w.tags.get("monitor.diagnosis"),
            })
        })
        .collect();
    let latest = latest_monitor(app);
    Ok(View::ok(
        "monitor.html",
        json!({
            "primary": primary.as_str(), "metric_chart": metric_chart,
            "drift_chart": drift_chart, "windows": table,
            "count": windows.len(), "latest": latest,
        }),
    ))
}

fn latest_monitor(app: &App) -> Option<Value> {
    let text =
        std::fs::read_to_string(app.workdir.join(crate::workdir::paths::MONITOR_JSON)).ok()?;
    let m = MonitorReport::from_json(&text).ok()?;
    let mut drift: Vec<_> = m.feature_drift.iter().collect();
    drift.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    Some(json!({
        "as_of": m.as_of.to_string(), "model": m.model, "version": m.version,
        "window_days": m.window_days, "fired": m.fired,
        "diagnosis": m.diagnosis, "recommendation": m.recommendation,
        "window": m.window.iter().map(|(k, v)| (k.clone(), format_number(*v), num(m.baseline.get(k).copied()))).collect::<Vec<_>>(),
        "triggers": m.triggers.iter().map(|t| json!({"name": t.name, "value": num(t.value), "threshold": format_number(t.threshold), "fired": t.fired, "message": t.message})).collect::<Vec<_>>(),
        "drift": drift.iter().map(|d| json!({"column": d.column, "psi": format_number(d.psi), "kl": format_number(d.kl)})).collect::<Vec<_>>(),
    }))
}

/// A stored artifact, by its SHA-256, with its content type; `None` when the store
/// has no such artifact.
pub(super) fn artifact(app: &App, sha: &str) -> Result<Option<(Vec<u8>, &'static str)>> {
    if !mlx_contracts::version::is_sha256(sha) {
        return Err(Error::Usage(format!(
            "`{sha}` is not an artifact's SHA-256 (64 hex digits)"
        )));
    }
    let bytes = match store(app)?.object(sha) {
        Ok(b) => b,
        // The hash is well-formed, so this says the store lacks it.
        Err(Error::Usage(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    let kind = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if text.contains("<svg") {
        "image/svg+xml"
    } else if text.trim_start().starts_with('{') || text.trim_start().starts_with('[') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok(Some((bytes, kind)))
}
