//! The tracking store (`tracking:`, docs/tracking.md): every training run, evaluation,
//! SHAP summary, gate outcome and monitoring window, kept beyond the work directory and
//! comparable across pipeline runs and machines. The pipeline runner appends a stage's
//! entries after writing its record ([`record_stage`]), the monitor its window
//! ([`record_monitor`]); `mlx runs` and `mlx metrics` read them.
//!
//! A run is a `train` entry; the entries about it (eval, shap, gate) add their metrics
//! and tags to it when read ([`runs`]), so every entry stays immutable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use mlx_contracts::config::ModelType;
use mlx_contracts::eval::Leaderboard;
use mlx_contracts::gate::GateReport;
use mlx_contracts::monitor::MonitorReport;
use mlx_contracts::shap::ShapReport;
use mlx_contracts::tracking::{EntryKind, TrackedRun, TRACKED_RUN_VERSION};
use mlx_contracts::train::TrainReport;
use mlx_contracts::{Config, StageRecord, Status};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::workdir::Workdir;

pub mod mlflow;
pub mod query;
pub mod store;

pub use store::Store;

/// The experiment a config files its runs under.
pub fn experiment(cfg: &Config) -> String {
    cfg.tracking
        .experiment
        .clone()
        .or_else(|| cfg.project.name.clone().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "default".into())
}

/// The config's tracking store.
pub fn open(cfg: &Config) -> Result<Store> {
    Store::open(&cfg.tracking.uri, &experiment(cfg))
}

/// A run as the commands show it: its `train` entry with what the entries about it
/// add (later entries win: the newest evaluation's metrics; the run's own tags stay).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The `train` entry (its metrics and tags moved into the two below).
    pub entry: TrackedRun,
    /// Its metrics and those of the entries about it.
    pub metrics: BTreeMap<String, f64>,
    /// Its tags and those of the entries about it (`gate.outcome`, ...).
    pub tags: BTreeMap<String, String>,
    /// The entries about it, oldest first.
    pub related: Vec<TrackedRun>,
}

/// The entries of `kind` among `entries`, each as a run with nothing about it
/// (`mlx runs list --kind monitor`).
pub fn of_kind(entries: Vec<TrackedRun>, kind: EntryKind) -> Vec<Run> {
    if kind == EntryKind::Train {
        return runs(entries);
    }
    entries
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|mut entry| Run {
            metrics: std::mem::take(&mut entry.metrics),
            tags: std::mem::take(&mut entry.tags),
            entry,
            related: Vec::new(),
        })
        .collect()
}

/// The runs among `entries` (oldest first, as [`Store::entries`] gives them).
pub fn runs(entries: Vec<TrackedRun>) -> Vec<Run> {
    // Each entry is moved once, into its run or into the list of entries about runs (a
    // listing builds a run per entry: at 100,000 runs a second move cost 10 ms).
    let mut runs = Vec::with_capacity(entries.len());
    let mut about = Vec::new();
    for mut entry in entries {
        match (&entry.kind, &entry.about) {
            (EntryKind::Train, _) => runs.push(Run {
                metrics: std::mem::take(&mut entry.metrics),
                tags: std::mem::take(&mut entry.tags),
                entry,
                related: Vec::new(),
            }),
            (_, Some(_)) => about.push(entry),
            _ => {}
        }
    }
    if about.is_empty() {
        return runs;
    }
    let at: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.entry.id.clone(), i))
        .collect();
    for e in about {
        if let Some(&i) = e.about.as_ref().and_then(|a| at.get(a)) {
            runs[i].related.push(e);
        }
    }
    for run in runs.iter_mut().filter(|r| !r.related.is_empty()) {
        // The run's own tags (its commit, its config hash) stay its own.
        let own: BTreeSet<String> = run.tags.keys().cloned().collect();
        for r in &run.related {
            run.metrics
                .extend(r.metrics.iter().map(|(k, v)| (k.clone(), *v)));
            run.tags.extend(
                r.tags
                    .iter()
                    .filter(|(k, _)| !own.contains(*k))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
    }
    runs
}

/// The run whose id starts with `prefix` (a unique prefix, as git takes commits).
pub fn resolve<'a>(runs: &'a [Run], prefix: &str) -> Result<&'a Run> {
    let p = prefix.trim().to_ascii_lowercase();
    if p.len() < 4 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "`{prefix}` is not a run id: give at least 4 of its hex digits, as `mlx runs list` \
             shows them"
        )));
    }
    let hits: Vec<&Run> = runs.iter().filter(|r| r.entry.id.starts_with(&p)).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::Usage(format!(
            "no run `{prefix}` in this experiment; `mlx runs list` shows the runs"
        ))),
        many => Err(Error::Usage(format!(
            "`{prefix}` is the start of {} runs ({}); give more of the id",
            many.len(),
            many.iter()
                .map(|r| r.entry.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// An entry's id: from the stage execution and the candidate, so recording the same
/// stage record again writes nothing new.
fn entry_id(kind: EntryKind, started_at: &DateTime<Utc>, name: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        kind.as_str(),
        &started_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        name,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    crate::config::hex(&h.finalize())[..16].to_owned()
}

/// The id of the training a `train` record is: shared by the runs it made.
fn training_id(train: &StageRecord) -> String {
    entry_id(EntryKind::Train, &train.started_at, "")
}

/// Who, where and at which commit: the tags every entry carries.
fn context_tags(record: &StageRecord) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let git = |args: &[&str]| crate::git::git(args).ok().map(|s| s.trim().to_owned());
    if let Some(commit) = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty()) {
        tags.insert("git.commit".into(), commit);
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        tags.insert("git.dirty".into(), dirty.to_string());
    }
    let branch = ["GITHUB_HEAD_REF", "GITHUB_REF_NAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"));
    if let Some(b) = branch {
        tags.insert("git.branch".into(), b);
    }
    tags.insert("user".into(), crate::registry::state::actor());
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        tags.insert("host".into(), host.trim().to_owned());
    }
    for (env, tag) in [
        ("GITHUB_REPOSITORY", "github.repository"),
        ("GITHUB_RUN_ID", "github.run_id"),
        ("GITHUB_RUN_ATTEMPT", "github.run_attempt"),
    ] {
        if let Ok(v) = std::env::var(env) {
            tags.insert(tag.into(), v);
        }
    }
    tags.insert("config_sha256".into(), record.config_hash.clone());
    tags.insert("mlx.version".into(), record.tool_version.clone());
    tags
}

/// An entry of `record` for the candidate `name` (its run `run_id`, family `model`).
fn base(
    record: &StageRecord,
    kind: EntryKind,
    training: &str,
    (name, run_id, model): (&str, &str, ModelType),
) -> TrackedRun {
    TrackedRun {
        schema_version: TRACKED_RUN_VERSION,
        id: entry_id(kind, &record.started_at, name),
        kind,
        about: None,
        training: Some(training.to_owned()),
        name: name.to_owned(),
        run_id: Some(run_id.to_owned()),
        model_type: Some(model.as_str().to_owned()),
        started_at: record.started_at,
        finished_at: record.finished_at,
        status: record.status,
        params: BTreeMap::new(),
        metrics: BTreeMap::new(),
        tags: BTreeMap::new(),
        artifacts: BTreeMap::new(),
    }
}

/// An entry of `record` about the run of the candidate in the training `train`.
fn about(
    record: &StageRecord,
    kind: EntryKind,
    train: &StageRecord,
    candidate: (&str, &str, ModelType),
) -> TrackedRun {
    let mut e = base(record, kind, &training_id(train), candidate);
    e.about = Some(entry_id(EntryKind::Train, &train.started_at, candidate.0));
    e
}

/// The entries a stage record makes (none for a stage the store does not track, or a
/// record without details: a stage that errored). Artifacts go to `store` when given.
pub fn entries_of(
    record: &StageRecord,
    workdir: &Workdir,
    store: Option<&Store>,
) -> Result<Vec<TrackedRun>> {
    if record.details.is_null() {
        return Ok(Vec::new());
    }
    let of = match record.stage.as_str() {
        "train" => train_entries,
        "eval" => eval_entries,
        "shap" => shap_entries,
        "gate" => gate_entries,
        _ => return Ok(Vec::new()),
    };
    of(record, workdir, store, context_tags(record))
}

fn details(record: &StageRecord, what: &str) -> Error {
    Error::Runtime(format!(
        "{}'s details are not {what}; run `mlx-{}` again",
        record.stage, record.stage
    ))
}

/// The training the later stages' entries are about: the work directory's.
fn train_record(workdir: &Workdir) -> Result<StageRecord> {
    workdir.read_record("train")?.ok_or_else(|| {
        Error::Usage("the work directory has no train.json; run `mlx-train` first".into())
    })
}

/// One run per candidate of a training.
fn train_entries(
    record: &StageRecord,
    _workdir: &Workdir,
    store: Option<&Store>,
    tags: BTreeMap<String, String>,
) -> Result<Vec<TrackedRun>> {
    let mut out = Vec::new();
    let report: TrainReport = serde_json::from_value(record.details.clone())
        .map_err(|_| details(record, "a training report"))?;
    let training = training_id(record);
    for r in &report.runs {
        let mut e = base(
            record,
            EntryKind::Train,
            &training,
            (&r.name, &r.run_id, r.model_type),
        );
        e.params = r.params.clone();
        e.metrics = r
            .validation
            .iter()
            .map(|(k, v)| (format!("validation.{k}"), *v))
            .collect();
        // The search's cross-validated score of the parameters it chose.
        if let Some(t) = r
            .trials
            .iter()
            .find(|t| t.params.iter().all(|(k, v)| r.params.get(k) == Some(v)))
        {
            e.metrics.insert("cv.score".into(), t.score);
            for (i, f) in t.folds.iter().enumerate() {
                e.metrics.insert(format!("cv.fold{}.score", i + 1), *f);
            }
        }
        e.tags = tags.clone();
        e.tags.extend(
            r.tags
                .iter()
                .filter(|(k, _)| *k != "git_commit")
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        e.tags
            .insert("bundle_sha256".into(), r.bundle_sha256.clone());
        e.tags
            .insert("fit_seconds".into(), format!("{:.3}", r.fit_seconds));
        if let Some(s) = store {
            if !r.history.is_empty() {
                let sha = s.put_object(crate::json::pretty(&r.history)?.into_bytes())?;
                e.artifacts.insert("history.json".into(), sha);
            }
            if !r.trials.is_empty() {
                let sha = s.put_object(crate::json::pretty(&r.trials)?.into_bytes())?;
                e.artifacts.insert("trials.json".into(), sha);
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// One entry per candidate evaluated, about its run.
fn eval_entries(
    record: &StageRecord,
    workdir: &Workdir,
    store: Option<&Store>,
    tags: BTreeMap<String, String>,
) -> Result<Vec<TrackedRun>> {
    let mut out = Vec::new();
    let board: Leaderboard = serde_json::from_value(record.details.clone())
        .map_err(|_| details(record, "a leaderboard"))?;
    let train = train_record(workdir)?;
    for l in &board.entries {
        let mut e = about(
            record,
            EntryKind::Eval,
            &train,
            (&l.name, &l.run_id, l.model_type),
        );
        e.metrics = l
            .metrics
            .iter()
            .map(|(k, v)| (format!("{}.{k}", board.set), *v))
            .collect();
        for (k, s) in &l.folds {
            e.metrics.insert(format!("folds.{k}.mean"), s.mean);
            e.metrics.insert(format!("folds.{k}.std"), s.std);
        }
        e.metrics.insert("rank".into(), f64::from(l.rank));
        e.tags = tags.clone();
        if let Some(s) = store {
            let mut files = run_plots(workdir, &l.run_id);
            files.push(crate::workdir::paths::EVAL_REPORT.to_owned());
            add_files(&mut e, workdir, &files, s)?;
        }
        out.push(e);
    }
    Ok(out)
}

/// The explanation, about the explained run (a skipped one records nothing).
fn shap_entries(
    record: &StageRecord,
    workdir: &Workdir,
    store: Option<&Store>,
    tags: BTreeMap<String, String>,
) -> Result<Vec<TrackedRun>> {
    // A skipped explanation (`{"skipped": …}`) records nothing.
    let Ok(report) = serde_json::from_value::<ShapReport>(record.details.clone()) else {
        return Ok(Vec::new());
    };
    let train = train_record(workdir)?;
    let mut e = about(
        record,
        EntryKind::Shap,
        &train,
        (&report.name, &report.run_id, report.model_type),
    );
    e.metrics = report
        .importance
        .iter()
        .map(|i| (format!("shap.{}", i.feature), i.mean_abs))
        .collect();
    e.metrics.insert(
        "shap.additivity_max_error".into(),
        report.additivity_max_error,
    );
    e.tags = tags;
    e.tags.insert("shap.method".into(), report.method.clone());
    if let Some(top) = report.importance.iter().min_by_key(|i| i.rank) {
        e.tags
            .insert("shap.top_feature".into(), top.feature.clone());
    }
    if let Some(shift) = &report.shift {
        e.metrics
            .insert("shap_shift.spearman".into(), shift.spearman);
        e.metrics
            .insert("shap_shift.l1_distance".into(), shift.l1_distance);
        e.tags
            .insert("shap_shift.flagged".into(), shift.flagged.to_string());
    }
    if let Some(s) = store {
        let mut files = report.plots.clone();
        files.push(crate::workdir::paths::SHAP_REPORT.to_owned());
        add_files(&mut e, workdir, &files, s)?;
    }
    Ok(vec![e])
}

/// The gate's outcome, about its candidate's run.
fn gate_entries(
    record: &StageRecord,
    workdir: &Workdir,
    store: Option<&Store>,
    tags: BTreeMap<String, String>,
) -> Result<Vec<TrackedRun>> {
    let report: GateReport = serde_json::from_value(record.details.clone())
        .map_err(|_| details(record, "a gate report"))?;
    let train = train_record(workdir)?;
    let c = &report.candidate;
    let mut e = about(
        record,
        EntryKind::Gate,
        &train,
        (&c.name, &c.run_id, c.model_type),
    );
    e.metrics = report
        .checks
        .iter()
        .filter_map(|k| k.value.map(|v| (format!("check.{}", k.name), v)))
        .collect();
    e.tags = tags;
    e.tags
        .insert("gate.outcome".into(), report.outcome.as_str().to_owned());
    if let Some(p) = &report.production {
        e.tags
            .insert("gate.production_version".into(), p.version.to_string());
    }
    if let Some(s) = store {
        add_files(
            &mut e,
            workdir,
            &[crate::workdir::paths::GATE_REPORT.to_owned()],
            s,
        )?;
    }
    Ok(vec![e])
}

/// Stores the work directory's files `rels` as the entry's artifacts (by file name).
fn add_files(e: &mut TrackedRun, workdir: &Workdir, rels: &[String], store: &Store) -> Result<()> {
    for rel in rels {
        if let Ok(bytes) = std::fs::read(workdir.join(rel)) {
            let name = rel.rsplit('/').next().unwrap_or(rel).to_owned();
            e.artifacts.insert(name, store.put_object(bytes)?);
        }
    }
    Ok(())
}

/// The entry of the monitoring window in the work directory (`monitor/monitor.json`,
/// which `mlx-monitor` wrote: it runs beside the pipeline and writes no stage record),
/// timed by that file, so recording it again writes nothing new.
pub fn monitor_window(workdir: &Workdir, report: &MonitorReport) -> Result<TrackedRun> {
    let path = workdir.join(crate::workdir::paths::MONITOR_JSON);
    let at: DateTime<Utc> = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        .into();
    Ok(monitor_entry(report, at, at))
}

/// The entry of one monitoring window: the window's and the baseline's metrics, drift
/// per feature, the triggers' values, whether one fired and the diagnosis.
fn monitor_entry(
    report: &MonitorReport,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
) -> TrackedRun {
    let name = &report.model;
    let mut metrics: BTreeMap<String, f64> = report
        .window
        .iter()
        .map(|(k, v)| (format!("window.{k}"), *v))
        .collect();
    metrics.extend(
        report
            .baseline
            .iter()
            .map(|(k, v)| (format!("baseline.{k}"), *v)),
    );
    for d in report
        .feature_drift
        .iter()
        .chain(report.prediction_drift.as_ref())
    {
        metrics.insert(format!("drift.{}.psi", d.column), d.psi);
    }
    for t in &report.triggers {
        if let Some(v) = t.value {
            metrics.insert(format!("trigger.{}", t.name), v);
        }
    }
    let mut tags: BTreeMap<String, String> = [
        ("monitor.as_of".to_string(), report.as_of.to_string()),
        ("monitor.fired".to_string(), report.fired.to_string()),
        ("monitor.diagnosis".to_string(), report.diagnosis.clone()),
        ("user".to_string(), crate::registry::state::actor()),
    ]
    .into();
    if let Some(v) = report.version {
        tags.insert("monitor.version".into(), v.to_string());
    }
    let fired: Vec<&str> = report
        .triggers
        .iter()
        .filter(|t| t.fired)
        .map(|t| t.name.as_str())
        .collect();
    if !fired.is_empty() {
        tags.insert("monitor.triggers".into(), fired.join(","));
    }
    TrackedRun {
        schema_version: TRACKED_RUN_VERSION,
        id: entry_id(EntryKind::Monitor, &started_at, name),
        kind: EntryKind::Monitor,
        about: None,
        training: None,
        name: name.clone(),
        run_id: None,
        model_type: None,
        started_at,
        finished_at,
        status: if report.fired {
            Status::Failed
        } else {
            Status::Passed
        },
        params: BTreeMap::new(),
        metrics,
        tags,
        artifacts: BTreeMap::new(),
    }
}

/// Appends a monitoring window's entry to the config's tracking store (when
/// `tracking.enabled`).
pub fn record_monitor(cfg: &Config, entry: TrackedRun) -> Result<usize> {
    if !cfg.tracking.enabled {
        return Ok(0);
    }
    let new = open(cfg)?.append(&[entry])?;
    mlflow::mirror_quietly(cfg);
    Ok(new)
}

/// The plots an evaluation wrote for a run (`runs/<run-id>/metrics.json`).
fn run_plots(workdir: &Workdir, run_id: &str) -> Vec<String> {
    let path = workdir.join(format!("runs/{run_id}/metrics.json"));
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            mlx_contracts::parse_versioned::<mlx_contracts::eval::RunMetrics>(
                &t,
                "run metrics",
                mlx_contracts::eval::RUN_METRICS_VERSION,
            )
            .ok()
        })
        .map(|m| m.plots)
        .unwrap_or_default()
}

/// The stages whose records make entries.
pub const TRACKED: &[&str] = &["train", "eval", "shap", "gate"];

/// Appends the entries of a stage's record to the config's tracking store (when
/// `tracking.enabled`). Returns how many were new.
pub fn record_stage(cfg: &Config, workdir: &Workdir, record: &StageRecord) -> Result<usize> {
    if !cfg.tracking.enabled || !TRACKED.contains(&record.stage.as_str()) {
        return Ok(0);
    }
    let store = open(cfg)?;
    let entries = entries_of(record, workdir, Some(&store))?;
    let new = store.append(&entries)?;
    mlflow::mirror_quietly(cfg);
    Ok(new)
}

/// Records the work directory's stage records and monitoring window again (after the
/// store was unreachable when they ran); what is there already is not written twice.
pub fn import(workdir: &Workdir, store: &Store) -> Result<usize> {
    let known: BTreeSet<String> = store.entries()?.into_iter().map(|e| e.id).collect();
    let mut new = 0;
    for stage in TRACKED {
        if let Some(r) = workdir.read_record(stage)? {
            let mut entries = entries_of(&r, workdir, Some(store))?;
            entries.retain(|e| !known.contains(&e.id));
            new += store.append(&entries)?;
        }
    }
    let monitor = workdir.join(crate::workdir::paths::MONITOR_JSON);
    if let Ok(text) = std::fs::read_to_string(&monitor) {
        let report = mlx_contracts::parse_versioned::<MonitorReport>(
            &text,
            "monitoring report",
            mlx_contracts::monitor::MONITOR_REPORT_VERSION,
        )
        .map_err(|source| Error::Contract {
            path: monitor.display().to_string(),
            source,
        })?;
        let entry = monitor_window(workdir, &report)?;
        if !known.contains(&entry.id) {
            new += store.append(&[entry])?;
        }
    }
    Ok(new)
}

// ---------------------------------------------------------------------------------------
// metrics show / diff

/// The metrics of one training's runs: by candidate name, then metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSet {
    /// What they are: `workspace`, or the revision given.
    pub label: String,
    /// The training they come from (absent for the work directory).
    pub training: Option<String>,
    /// `name -> metric -> value`.
    pub values: BTreeMap<String, BTreeMap<String, f64>>,
}

fn metric_set(label: &str, training: Option<String>, runs: &[Run]) -> MetricSet {
    let mut values: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for r in runs {
        values.insert(r.entry.name.clone(), r.metrics.clone());
    }
    MetricSet {
        label: label.to_owned(),
        training,
        values,
    }
}

/// The metrics of the runs in the work directory (its train, eval and gate records),
/// as they would be recorded.
pub fn workspace_metrics(workdir: &Workdir) -> Result<MetricSet> {
    let mut entries = Vec::new();
    for stage in TRACKED {
        if let Some(r) = workdir.read_record(stage)? {
            entries.extend(entries_of(&r, workdir, None)?);
        }
    }
    if entries.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no training; run `mlx run` (or `mlx-train`) first",
            workdir.root().display()
        )));
    }
    Ok(metric_set("workspace", None, &runs(entries)))
}

/// The metrics of the newest training at git commit `commit` (one from a clean tree
/// before one from a tree with changes), or `None`.
pub fn commit_metrics(all: &[Run], commit: &str, label: &str) -> Option<MetricSet> {
    let at: Vec<&Run> = all
        .iter()
        .filter(|r| r.tags.get("git.commit").map(String::as_str) == Some(commit))
        .collect();
    let newest = |clean: bool| {
        at.iter()
            .filter(|r| !clean || r.tags.get("git.dirty").map(String::as_str) != Some("true"))
            .max_by_key(|r| r.entry.started_at)
            .map(|r| r.entry.training.clone())
    };
    let training = newest(true).or_else(|| newest(false))?;
    let runs: Vec<Run> = at
        .into_iter()
        .filter(|r| r.entry.training == training)
        .cloned()
        .collect();
    Some(metric_set(label, training, &runs))
}

/// One row of `mlx metrics diff`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiffRow {
    /// The candidate.
    pub name: String,
    /// The metric.
    pub metric: String,
    /// Its value in the old set.
    pub old: Option<f64>,
    /// Its value in the new set.
    pub new: Option<f64>,
    /// `new - old`, when both are there.
    pub change: Option<f64>,
}

/// Every metric of either set, old against new; `all`: also those that did not
/// change.
pub fn diff(old: &MetricSet, new: &MetricSet, all: bool) -> Vec<DiffRow> {
    let names: BTreeSet<&String> = old.values.keys().chain(new.values.keys()).collect();
    let mut rows = Vec::new();
    let empty = BTreeMap::new();
    for name in names {
        let (o, n) = (
            old.values.get(name).unwrap_or(&empty),
            new.values.get(name).unwrap_or(&empty),
        );
        let metrics: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for m in metrics {
            let (a, b) = (o.get(m).copied(), n.get(m).copied());
            let change = a.zip(b).map(|(a, b)| b - a);
            if !all && a == b {
                continue;
            }
            rows.push(DiffRow {
                name: name.clone(),
                metric: m.clone(),
                old: a,
                new: b,
                change,
            });
        }
    }
    rows
}

/// Diff rows as a markdown table (`mlx metrics diff --md`, the PR comment).
pub fn diff_markdown(rows: &[DiffRow], old: &str, new: &str) -> String {
    let esc = crate::markdown::escape;
    let num = |x: Option<f64>| x.map_or_else(|| "-".into(), query::format_number);
    let mut s = format!(
        "| name | metric | {} | {} | change |\n| --- | --- | --- | --- | --- |\n",
        esc(old),
        esc(new)
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            esc(&r.name),
            esc(&r.metric),
            num(r.old),
            num(r.new),
            signed(r.change)
        ));
    }
    s
}

/// A change as the tables show it: `+0.125`, `-0.03`, `-` when a side is missing.
pub fn signed(change: Option<f64>) -> String {
    change.map_or_else(
        || "-".into(),
        |c| {
            let s = query::format_number(c);
            if c > 0.0 {
                format!("+{s}")
            } else {
                s
            }
        },
    )
}

/// For the PR comment: the primary metric of the work directory's runs against the
/// newest training the store has at `base_commit` (`label`: how to call it), or `None`
/// when the store has none there or cannot be read.
pub fn primary_against(
    cfg: &Config,
    workdir: &Workdir,
    base_commit: &str,
    label: &str,
) -> Option<String> {
    if !cfg.tracking.enabled {
        return None;
    }
    let store = open(cfg).ok()?;
    let old = commit_metrics(&runs(store.entries().ok()?), base_commit, label)?;
    let new = workspace_metrics(workdir).ok()?;
    let primary = crate::metric::primary_metric(cfg).0;
    let rows: Vec<DiffRow> = diff(&old, &new, true)
        .into_iter()
        .filter(|r| r.metric.rsplit('.').next() == Some(primary.as_str()))
        .collect();
    (!rows.is_empty()).then(|| diff_markdown(&rows, &old.label, &new.label))
}

// ---------------------------------------------------------------------------------------
// gc

/// Which runs `mlx runs gc` removes: older than `older_than`, or beyond the newest
/// `keep`; never one that a registry version is (its run id and bundle hash), nor one
/// whose removal was not asked. Returns the runs to remove and those kept because the
/// registry references them.
pub fn gc_plan<'a>(
    all: &'a [Run],
    older_than: Option<DateTime<Utc>>,
    keep: Option<usize>,
    referenced: &BTreeSet<(String, String)>,
) -> (Vec<&'a Run>, Vec<&'a Run>) {
    let mut newest_first: Vec<&Run> = all.iter().collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse(r.entry.started_at));
    let (mut remove, mut protected) = (Vec::new(), Vec::new());
    for (i, r) in newest_first.into_iter().enumerate() {
        let old = older_than.is_some_and(|t| r.entry.started_at < t);
        let beyond = keep.is_some_and(|k| i >= k);
        if !(old || beyond) {
            continue;
        }
        let key = (
            r.entry.run_id.clone().unwrap_or_default(),
            r.tags.get("bundle_sha256").cloned().unwrap_or_default(),
        );
        if referenced.contains(&key) {
            protected.push(r);
        } else {
            remove.push(r);
        }
    }
    (remove, protected)
}

/// The ids of a run's entries (its own and those about it).
pub fn entry_ids(run: &Run) -> impl Iterator<Item = String> + '_ {
    std::iter::once(run.entry.id.clone()).chain(run.related.iter().map(|e| e.id.clone()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mlx_contracts::config::ParamValue;

    pub(crate) fn run(
        name: &str,
        model: &str,
        metrics: &[(&str, f64)],
        params: &[(&str, ParamValue)],
    ) -> Run {
        runs(vec![train_entry(name, model, metrics, params)]).remove(0)
    }

    /// A `train` entry as the store holds it.
    fn train_entry(
        name: &str,
        model: &str,
        metrics: &[(&str, f64)],
        params: &[(&str, ParamValue)],
    ) -> TrackedRun {
        let at = Utc::now();
        TrackedRun {
            schema_version: TRACKED_RUN_VERSION,
            id: entry_id(EntryKind::Train, &at, name),
            kind: EntryKind::Train,
            about: None,
            training: Some("t".into()),
            name: name.into(),
            run_id: Some(format!("{name}-1")),
            model_type: Some(model.into()),
            started_at: at,
            finished_at: at,
            status: Status::Passed,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            tags: BTreeMap::new(),
            artifacts: BTreeMap::new(),
        }
    }

    #[test]
    fn entries_about_a_run_add_to_it_and_the_newest_wins() {
        let mut a = train_entry("rf", "random_forest", &[("validation.accuracy", 0.8)], &[]);
        a.tags = [("config_sha256".to_string(), "train's".to_string())].into();
        let mut eval = a.clone();
        eval.kind = EntryKind::Eval;
        eval.id = "e".repeat(16);
        eval.about = Some(a.id.clone());
        eval.metrics = [("test.accuracy".to_string(), 0.7)].into();
        eval.tags = [("config_sha256".to_string(), "eval's".to_string())].into();
        let mut again = eval.clone();
        again.id = "d".repeat(16);
        again.metrics = [("test.accuracy".to_string(), 0.75)].into();
        let mut gate = eval.clone();
        gate.kind = EntryKind::Gate;
        gate.id = "f".repeat(16);
        gate.metrics = BTreeMap::new();
        gate.tags = [("gate.outcome".to_string(), "passed".to_string())].into();
        let got = runs(vec![a.clone(), eval, again, gate]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].metrics["validation.accuracy"], 0.8);
        assert_eq!(
            got[0].metrics["test.accuracy"], 0.75,
            "the newest evaluation"
        );
        assert_eq!(got[0].tags["gate.outcome"], "passed");
        assert_eq!(got[0].tags["config_sha256"], "train's");
        assert_eq!(entry_ids(&got[0]).count(), 4);
        assert_eq!(resolve(&got, &a.id[..6]).unwrap().entry.id, a.id);
        assert!(resolve(&got, "zz").is_err());
        assert!(resolve(&got, "0000")
            .unwrap_err()
            .to_string()
            .contains("no run"));
    }

    #[test]
    fn diff_lists_changed_metrics_with_their_change_and_gc_spares_registered_runs() {
        let set = |v: &[(&str, &str, f64)]| {
            let mut s = MetricSet::default();
            for (n, m, x) in v {
                s.values
                    .entry(n.to_string())
                    .or_default()
                    .insert(m.to_string(), *x);
            }
            s
        };
        let old = set(&[
            ("rf", "test.f1", 0.5),
            ("rf", "test.auc", 0.7),
            ("lr", "test.f1", 0.4),
        ]);
        let new = set(&[
            ("rf", "test.f1", 0.625),
            ("rf", "test.auc", 0.7),
            ("gb", "test.f1", 0.9),
        ]);
        let rows = diff(&old, &new, false);
        let row = |n: &str, m: &str| rows.iter().find(|r| r.name == n && r.metric == m).cloned();
        assert_eq!(row("rf", "test.f1").unwrap().change, Some(0.125));
        assert!(row("rf", "test.auc").is_none());
        assert_eq!(row("lr", "test.f1").unwrap().new, None);
        assert_eq!(row("gb", "test.f1").unwrap().old, None);
        assert_eq!(diff(&old, &new, true).len(), 4);

        let mut a = run("a", "linear", &[], &[]);
        a.entry.started_at = Utc::now() - chrono::Duration::days(40);
        a.tags.insert("bundle_sha256".into(), "s".into());
        let mut b = run("b", "linear", &[], &[]);
        b.entry.started_at = Utc::now() - chrono::Duration::days(30);
        let c = run("c", "linear", &[], &[]);
        let all = vec![a, b, c];
        let referenced: BTreeSet<(String, String)> = [("a-1".to_string(), "s".to_string())].into();
        let (rm, kept) = gc_plan(
            &all,
            Some(Utc::now() - chrono::Duration::days(7)),
            None,
            &referenced,
        );
        assert_eq!(
            rm.iter().map(|r| r.entry.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(kept[0].entry.name, "a");
        let (rm, _) = gc_plan(&all, None, Some(2), &BTreeSet::new());
        assert_eq!(
            rm.iter().map(|r| r.entry.name.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
    }
}
