//! `mlx runs` and `mlx metrics`: the command line of `mlx_core::tracking`.

use std::collections::BTreeSet;

use clap::{Args, Subcommand};
use mlx_contracts::tracking::EntryKind;
use mlx_core::tracking::query::{format_number, parse_sort, Field, Filter, Key};
use mlx_core::tracking::{self, Run, Store};
use mlx_core::{Error, ExitStatus, Workdir};
use serde_json::json;

use crate::{context, output, GlobalArgs, Ui};

/// Which store: the config's, or another.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// The tracking store [default: tracking.uri].
    #[arg(long, value_name = "URI")]
    uri: Option<String>,
    /// The experiment [default: tracking.experiment, then project.name].
    #[arg(long)]
    experiment: Option<String>,
}

/// `mlx runs list`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ListArgs {
    /// Only runs matching this (MLflow's search syntax).
    #[arg(long, short)]
    filter: Option<String>,
    /// Sort keys, comma-separated: KEY, `KEY desc` or -KEY [default: newest first].
    #[arg(long, short, allow_hyphen_values = true)]
    sort: Option<String>,
    /// At most this many (0: all).
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
    /// Columns beyond id, started, name and model, comma-separated keys [default:
    /// the primary metric, the filter's and the sort's keys].
    #[arg(long)]
    columns: Option<String>,
    /// Which entries: the runs (train, with what the entries about them add), or
    /// the eval, shap, gate or monitor entries themselves.
    #[arg(long, value_parser = ["train", "eval", "shap", "gate", "monitor"], default_value = "train")]
    kind: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// `mlx runs gc`.
#[derive(Debug, Clone, Args)]
pub(crate) struct GcArgs {
    /// Remove runs started longer ago than this: 90d, 12h, 2w.
    #[arg(long, value_name = "AGE", required_unless_present = "keep")]
    older_than: Option<String>,
    /// Keep the newest N runs, remove the rest.
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
    /// Only say what would be removed.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// The runs of the experiment, newest first: filtered, sorted, with chosen columns.
    #[command(after_help = "\
Examples:
  mlx runs list
  mlx runs list --filter \"metrics.wape < 0.1 and params.model = 'sarimax'\"
  mlx runs list --sort 'metrics.test.accuracy desc' --limit 5
  mlx runs list --filter \"tags.git.branch = 'main'\" --columns metrics.test.f1,params.max_depth
  mlx runs list --kind monitor           the monitoring windows
  mlx runs list --json | jq '.[0].id'

Keys: metrics.<name> (metrics.test.f1; a bare metrics.f1 is the held-out score: test,
else validation), params.<name> (params.model: the model family), tags.<name>
(tags.git.commit, tags.gate.outcome) and the attributes id, name, model, status,
training, run_id, started. Operators: = != < <= > >= like ilike, joined by and, or,
not and parentheses; strings in quotes.")]
    List(ListArgs),
    /// Everything a run knows: params, metrics, tags, artifacts, the entries about it.
    #[command(after_help = "\
Examples:
  mlx runs show 3fa2
  mlx runs show 3fa2c81d09b4e6a1 --json | jq .metrics")]
    Show {
        /// The run id (a unique prefix of at least 4 hex digits).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Runs side by side: attributes, params, metrics and tags; `*` marks a row whose
    /// values differ.
    #[command(after_help = "\
Examples:
  mlx runs compare 3fa2 91c0
  mlx runs compare 3fa2 91c0 77d1 --json")]
    Compare {
        /// Two or more run ids.
        #[arg(num_args = 2.., required = true)]
        ids: Vec<String>,
        /// Also the rows that are equal across the runs.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Removes old runs (and the entries about them) by age or count; never a run that
    /// a registry version was made from.
    #[command(after_help = "\
Examples:
  mlx runs gc --older-than 90d --dry-run
  mlx runs gc --keep 1000")]
    Gc(GcArgs),
    /// Records the work directory's train, eval and gate records in the store (after
    /// the store could not be reached when they ran); nothing is recorded twice.
    #[command(after_help = "\
Examples:
  mlx runs import
  mlx runs import --uri s3://ml/tracking")]
    Import {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TrackingCommand {
    /// Sends the MLflow server of `tracking.mlflow` every run, entry, artifact, model
    /// version, alias and audit entry it lacks; safe to repeat: nothing is sent twice.
    #[command(after_help = "\
Examples:
  mlx tracking sync
  MLFLOW_TRACKING_TOKEN=$TOKEN mlx tracking sync --json

It exits 3 when the server cannot be reached or refuses; what was sent before stays sent,
and the next sync goes on from there.")]
    Sync,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MetricsCommand {
    /// The metrics of the work directory's runs, or of the runs of a git revision.
    #[command(after_help = "\
Examples:
  mlx metrics show
  mlx metrics show --rev HEAD~1 --json")]
    Show {
        /// A git revision: its newest training in the store [default: the work directory].
        #[arg(long)]
        rev: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The metrics of two git revisions' runs, per metric old, new and change, as
    /// `dvc metrics diff`: no revision compares HEAD with the work directory, one
    /// compares it with the work directory, two compare them.
    #[command(after_help = "\
Examples:
  mlx metrics diff                  HEAD against the work directory
  mlx metrics diff main             main's runs against the work directory
  mlx metrics diff HEAD~1 HEAD
  mlx metrics diff --md >> comment.md")]
    Diff {
        /// The old revision [default: HEAD].
        a_rev: Option<String>,
        /// The new revision [default: the work directory].
        b_rev: Option<String>,
        /// Also the metrics that did not change.
        #[arg(long)]
        all: bool,
        /// A markdown table (for a PR comment).
        #[arg(long)]
        md: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn open(global: &GlobalArgs, args: &StoreArgs) -> Result<(mlx_core::Context, Store), Error> {
    let ctx = context(global)?;
    let cfg = &ctx.config.config;
    let experiment = args
        .experiment
        .clone()
        .unwrap_or_else(|| tracking::experiment(cfg));
    let store = Store::open(
        args.uri.as_deref().unwrap_or(&cfg.tracking.uri),
        &experiment,
    )?;
    Ok((ctx, store))
}

fn all_runs(store: &Store) -> Result<Vec<Run>, Error> {
    Ok(tracking::runs(store.entries()?))
}

/// `mlx runs …`.
pub(crate) fn runs(cmd: RunsCommand, global: &GlobalArgs, ui: &Ui) -> Result<ExitStatus, Error> {
    match cmd {
        RunsCommand::List(a) => list(a, global, ui),
        RunsCommand::Show { id, store } => {
            let (ctx, store) = open(global, &store)?;
            let runs = all_runs(&store)?;
            let run = tracking::resolve(&runs, &id)?;
            let mirror = tracking::mlflow::status(&ctx.config.config, &store, run)?;
            if global.json {
                let mut v = run_json(run);
                v["mlflow"] = mirror_json(mirror.as_ref());
                output::stdout(&format!("{}\n", output::json_text(&v)?));
            } else {
                let mut text = show_text(run);
                text.push_str(&mirror_text(mirror.as_ref()));
                output::stdout(&text);
            }
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Compare { ids, all, store } => {
            let (_, store) = open(global, &store)?;
            let runs = all_runs(&store)?;
            let picked: Vec<&Run> = ids
                .iter()
                .map(|i| tracking::resolve(&runs, i))
                .collect::<Result<_, _>>()?;
            let rows = tracking::query::compare(&picked);
            if global.json {
                let v: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| json!({"key": r.key, "values": r.values, "differs": r.differs}))
                    .collect();
                let ids: Vec<&str> = picked.iter().map(|r| r.entry.id.as_str()).collect();
                output::stdout(&format!(
                    "{}\n",
                    output::json_text(&json!({"runs": ids, "rows": v}))?
                ));
            } else {
                let mut header = vec![String::new(), "key".to_string()];
                header.extend(picked.iter().map(|r| r.entry.id[..12].to_owned()));
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .filter(|r| all || r.differs)
                    .map(|r| {
                        let mut row = vec![
                            if r.differs { "*".into() } else { String::new() },
                            r.key.clone(),
                        ];
                        row.extend(
                            r.values
                                .iter()
                                .map(|v| v.clone().unwrap_or_else(|| "-".into())),
                        );
                        row
                    })
                    .collect();
                output::stdout(&table(&header, &body));
                if !all {
                    ui.info("rows marked * differ; --all shows the equal ones too");
                }
            }
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Gc(a) => gc(a, global, ui),
        RunsCommand::Import { store } => {
            let (_, store) = open(global, &store)?;
            let new = tracking::import(&Workdir::new(&global.workdir), &store)?;
            ui.info(&format!(
                "recorded {new} new entries in experiment `{}` of {}",
                store.experiment(),
                store.label()
            ));
            if global.json {
                output::stdout(&format!("{}\n", json!({ "new": new })));
            }
            Ok(ExitStatus::Ok)
        }
    }
}

fn list(a: ListArgs, global: &GlobalArgs, ui: &Ui) -> Result<ExitStatus, Error> {
    let ListArgs {
        filter,
        sort,
        limit,
        columns,
        kind,
        store,
    } = a;
    let kind: EntryKind =
        serde_json::from_value(json!(kind)).map_err(|e| Error::Usage(format!("--kind: {e}")))?;
    // Flags first: a malformed filter is said before the store is read.
    let filter = filter.as_deref().map(Filter::parse).transpose()?;
    let sort = sort
        .as_deref()
        .map(parse_sort)
        .transpose()?
        .unwrap_or_default();
    let chosen = columns
        .as_deref()
        .map(|c| {
            c.split(',')
                .map(|k| Key::parse(k.trim()).map_err(|e| Error::Usage(format!("--columns: {e}"))))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let (ctx, store) = open(global, &store)?;
    let mut runs = tracking::of_kind(store.entries()?, kind);
    let total = runs.len();
    if let Some(f) = &filter {
        runs = f.keep(runs);
    }
    let matched = runs.len();
    tracking::query::sort(&mut runs, &sort);
    if limit > 0 {
        runs.truncate(limit);
    }
    let columns = chosen.unwrap_or_else(|| {
        let primary = mlx_core::metric::primary_metric(&ctx.config.config).0;
        tracking::query::default_columns(kind, primary.as_str(), filter.as_ref(), &sort)
    });
    if global.json {
        let v: Vec<serde_json::Value> = runs.iter().map(run_json).collect();
        output::stdout(&format!("{}\n", output::json_text(&json!(v))?));
    } else {
        let mut header = vec![
            "id".to_string(),
            "started".into(),
            "name".into(),
            "model".into(),
        ];
        header.extend(columns.iter().map(Key::label));
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.entry.id[..12].to_owned(),
                    r.entry.started_at.format("%Y-%m-%d %H:%M").to_string(),
                    r.entry.name.clone(),
                    r.entry.model_type.clone().unwrap_or_default(),
                ];
                row.extend(columns.iter().map(|k| cell(k.of(r))));
                row
            })
            .collect();
        if !rows.is_empty() {
            output::stdout(&table(&header, &rows));
        }
        ui.info(&format!(
            "{} of {matched} matching runs ({total} in experiment `{}` of {})",
            rows.len(),
            store.experiment(),
            store.label()
        ));
    }
    Ok(ExitStatus::Ok)
}

fn gc(a: GcArgs, global: &GlobalArgs, ui: &Ui) -> Result<ExitStatus, Error> {
    let GcArgs {
        older_than,
        keep,
        dry_run,
        store,
    } = a;
    let cutoff = older_than
        .as_deref()
        .map(|a| parse_age(a).map(|d| chrono::Utc::now() - d))
        .transpose()?;
    let (ctx, store) = open(global, &store)?;
    let referenced = registered_runs(&ctx.config.config)?;
    let runs = all_runs(&store)?;
    let (remove, protected) = tracking::gc_plan(&runs, cutoff, keep, &referenced);
    for r in &protected {
        ui.info(&format!(
            "keeping {} ({}): a registry version was made from it",
            &r.entry.id[..12],
            r.entry.name
        ));
    }
    let ids: BTreeSet<String> = remove.iter().flat_map(|r| tracking::entry_ids(r)).collect();
    if global.json {
        let v: Vec<&str> = remove.iter().map(|r| r.entry.id.as_str()).collect();
        let kept: Vec<&str> = protected.iter().map(|r| r.entry.id.as_str()).collect();
        output::stdout(&format!(
            "{}\n",
            json!({"removed": v, "kept_registered": kept, "dry_run": dry_run})
        ));
    }
    if dry_run {
        for r in &remove {
            ui.info(&format!(
                "would remove {} ({})",
                &r.entry.id[..12],
                r.entry.name
            ));
        }
        ui.info(&format!(
            "would remove {} of {} runs",
            remove.len(),
            runs.len()
        ));
    } else {
        store.remove(&ids)?;
        store.pack()?;
        ui.info(&format!("removed {} of {} runs", remove.len(), runs.len()));
    }
    Ok(ExitStatus::Ok)
}

/// The (run id, bundle hash) of every version in the config's registry.
fn registered_runs(cfg: &mlx_contracts::Config) -> Result<BTreeSet<(String, String)>, Error> {
    let registry = mlx_core::registry::open(cfg)?;
    Ok(registry
        .state()?
        .map(|s| {
            s.versions
                .values()
                .map(|v| (v.run_id.clone(), v.bundle_sha256.clone()))
                .collect()
        })
        .unwrap_or_default())
}

/// `90d`, `12h`, `2w`, `30m`.
fn parse_age(text: &str) -> Result<chrono::Duration, Error> {
    mlx_core::validate::checks::parse_duration_ms(text)
        .map(chrono::Duration::milliseconds)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--older-than `{text}`: write a number and a unit: 30m, 12h, 90d or 2w"
            ))
        })
}

fn cell(f: Option<Field>) -> String {
    f.map_or_else(|| "-".into(), |f| f.display())
}

/// A left-aligned text table with a header.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = cells
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header);
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// `mlx tracking …`.
pub(crate) fn tracking(
    cmd: TrackingCommand,
    global: &GlobalArgs,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    match cmd {
        TrackingCommand::Sync => {
            let ctx = context(global)?;
            let s = tracking::mlflow::sync(&ctx.config.config)?;
            ui.info(&format!(
                "MLflow {} (experiment {}): {} runs created, {} entries logged, {} artifacts \
                 uploaded, {} model versions created, {} version tags and aliases set",
                s.server,
                s.experiment_id,
                s.runs_created,
                s.entries,
                s.artifacts,
                s.versions_created,
                s.registry_changes
            ));
            if let Some(why) = &s.artifacts_skipped {
                ui.info(&format!("warning: artifacts were not sent: {why}"));
            }
            if global.json {
                let v = serde_json::to_value(&s)
                    .map_err(|e| Error::Runtime(format!("encoding the sync's summary: {e}")))?;
                output::stdout(&format!("{}\n", output::json_text(&v)?));
            }
            Ok(ExitStatus::Ok)
        }
    }
}

fn mirror_json(m: Option<&tracking::mlflow::RunMirror>) -> serde_json::Value {
    use tracking::mlflow::RunMirror;
    match m {
        None => serde_json::Value::Null,
        Some(RunMirror::Mirrored { server, run }) => {
            json!({ "state": "mirrored", "server": server, "run": run })
        }
        Some(RunMirror::Queued {
            server,
            waiting,
            last_error,
        }) => json!({
            "state": "queued",
            "server": server,
            "waiting_entries": waiting,
            "last_error": last_error,
        }),
    }
}

fn mirror_text(m: Option<&tracking::mlflow::RunMirror>) -> String {
    use tracking::mlflow::RunMirror;
    match m {
        None => String::new(),
        Some(RunMirror::Mirrored { server, run }) => {
            format!("mlflow\n  mirrored to {server} as run {run}\n")
        }
        Some(RunMirror::Queued {
            server,
            waiting,
            last_error,
        }) => {
            let mut s = format!(
                "mlflow\n  queued: {waiting} of its entries are not on {server} yet; `mlx \
                 tracking sync` sends them\n"
            );
            if let Some(e) = last_error {
                s.push_str(&format!("  last attempt {e}\n"));
            }
            s
        }
    }
}

fn run_json(r: &Run) -> serde_json::Value {
    json!({
        "id": r.entry.id,
        "name": r.entry.name,
        "model": r.entry.model_type,
        "run_id": r.entry.run_id,
        "training": r.entry.training,
        "status": r.entry.status,
        "started_at": r.entry.started_at,
        "finished_at": r.entry.finished_at,
        "params": r.entry.params,
        "metrics": r.metrics,
        "tags": r.tags,
        "artifacts": r.entry.artifacts,
        "related": r.related.iter().map(|e| json!({
            "id": e.id,
            "kind": e.kind,
            "started_at": e.started_at,
            "status": e.status,
            "artifacts": e.artifacts,
        })).collect::<Vec<_>>(),
    })
}

fn show_text(r: &Run) -> String {
    let e = &r.entry;
    let mut s = format!(
        "run {}\n  name      {}\n  model     {}\n  run_id    {}\n  training  {}\n  status    {}\n  started   {}\n  finished  {}\n",
        e.id,
        e.name,
        e.model_type.as_deref().unwrap_or("-"),
        e.run_id.as_deref().unwrap_or("-"),
        e.training.as_deref().unwrap_or("-"),
        e.status,
        e.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        e.finished_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    let section = |s: &mut String, title: &str, kv: Vec<(String, String)>| {
        if kv.is_empty() {
            return;
        }
        s.push_str(&format!("{title}\n"));
        let w = kv.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        for (k, v) in kv {
            s.push_str(&format!("  {k:<w$}  {v}\n"));
        }
    };
    section(
        &mut s,
        "params",
        e.params
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
    );
    section(
        &mut s,
        "metrics",
        r.metrics
            .iter()
            .map(|(k, v)| (k.clone(), format_number(*v)))
            .collect(),
    );
    section(
        &mut s,
        "tags",
        r.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    );
    let mut artifacts: Vec<(String, String)> = e
        .artifacts
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for rel in &r.related {
        artifacts.extend(
            rel.artifacts
                .iter()
                .map(|(k, v)| (format!("{}/{k}", rel.kind.as_str()), v.clone())),
        );
    }
    section(&mut s, "artifacts (objects/<sha256>)", artifacts);
    section(
        &mut s,
        "entries about it",
        r.related
            .iter()
            .map(|x| {
                (
                    x.id.clone(),
                    format!(
                        "{} {} {}",
                        x.kind.as_str(),
                        x.status,
                        x.started_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                )
            })
            .collect(),
    );
    s
}

/// `mlx metrics …`.
pub(crate) fn metrics(
    cmd: MetricsCommand,
    global: &GlobalArgs,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    let workdir = Workdir::new(&global.workdir);
    let set_of = |rev: Option<&str>, store: &StoreArgs| -> Result<tracking::MetricSet, Error> {
        match rev {
            None => tracking::workspace_metrics(&workdir),
            Some(rev) => {
                let commit =
                    mlx_core::git::git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
                        .map_err(|_| Error::Usage(format!("`{rev}` is not a git revision here")))?
                        .trim()
                        .to_owned();
                let (_, s) = open(global, store)?;
                let runs = all_runs(&s)?;
                tracking::commit_metrics(&runs, &commit, rev).ok_or_else(|| {
                    Error::Usage(format!(
                        "no training at {rev} ({}) in experiment `{}` of {}; run the \
                         pipeline at that commit, or `mlx runs list --filter \"tags.git.commit \
                         like '{}%'\"` to look",
                        &commit[..12.min(commit.len())],
                        s.experiment(),
                        s.label(),
                        &commit[..7.min(commit.len())]
                    ))
                })
            }
        }
    };
    match cmd {
        MetricsCommand::Show { rev, store } => {
            let set = set_of(rev.as_deref(), &store)?;
            if global.json {
                output::stdout(&format!(
                    "{}\n",
                    output::json_text(
                        &json!({"source": set.label, "training": set.training, "metrics": set.values})
                    )?
                ));
            } else {
                let rows: Vec<Vec<String>> = set
                    .values
                    .iter()
                    .flat_map(|(name, m)| {
                        m.iter()
                            .map(move |(k, v)| vec![name.clone(), k.clone(), format_number(*v)])
                    })
                    .collect();
                output::stdout(&table(
                    &["name".into(), "metric".into(), set.label.clone()],
                    &rows,
                ));
            }
            Ok(ExitStatus::Ok)
        }
        MetricsCommand::Diff {
            a_rev,
            b_rev,
            all,
            md,
            store,
        } => {
            let old_rev = a_rev.unwrap_or_else(|| "HEAD".into());
            let old = set_of(Some(&old_rev), &store)?;
            let new = set_of(b_rev.as_deref(), &store)?;
            let rows = tracking::diff(&old, &new, all);
            if global.json {
                output::stdout(&format!(
                    "{}\n",
                    output::json_text(&json!({"old": old.label, "new": new.label, "rows": rows}))?
                ));
            } else {
                let header = vec![
                    "name".to_string(),
                    "metric".into(),
                    old.label.clone(),
                    new.label.clone(),
                    "change".into(),
                ];
                let num = |x: Option<f64>| x.map_or_else(|| "-".into(), format_number);
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.metric.clone(),
                            num(r.old),
                            num(r.new),
                            tracking::signed(r.change),
                        ]
                    })
                    .collect();
                if md {
                    output::stdout(&tracking::diff_markdown(&rows, &old.label, &new.label));
                } else if body.is_empty() {
                    ui.info(&format!(
                        "no metric changed between {} and {}",
                        old.label, new.label
                    ));
                } else {
                    output::stdout(&table(&header, &body));
                }
            }
            Ok(ExitStatus::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_tables() {
        assert_eq!(parse_age("90d").unwrap(), chrono::Duration::days(90));
        assert_eq!(parse_age("2w").unwrap(), chrono::Duration::days(14));
        assert!(parse_age("90").is_err() && parse_age("d").is_err() && parse_age("3y").is_err());
        let t = table(
            &["a".into(), "bb".into()],
            &[vec!["xyz".into(), "1".into()]],
        );
        assert_eq!(t, "a    bb\nxyz  1\n");
    }
}
