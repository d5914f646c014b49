//! Running stages: one at a time with a record, or the whole pipeline with skipping of
//! up-to-date stages (the `dvc repro` idea, with the dependency graph taken from the
//! stages' declared inputs and outputs instead of a separate `dvc.yaml`).
//!
//! A stage is up to date when its last record succeeded, was written by this tool
//! version with the same config-section hash, names the same declared inputs with the
//! same content, and every output it recorded still has the recorded content.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use mlx_contracts::{FileDigest, StageRecord, Status, STAGE_RECORD_VERSION};

use crate::config::section_hash;
use crate::error::{Error, IoContext, Result};
use crate::hash;
use crate::stage::{Context, Outcome, Stage};

/// The tool version written into records; a new version reruns every stage.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether a stage needs to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// Nothing changed since this record.
    UpToDate(Box<StageRecord>),
    /// It must run, for this reason.
    Stale(String),
}

/// Decides whether `stage` must run.
pub fn freshness(stage: &dyn Stage, ctx: &Context) -> Result<Freshness> {
    let stale = |s: String| Ok(Freshness::Stale(s));
    if let Some(reason) = stage.always_run(ctx) {
        return stale(reason);
    }
    let record = match ctx.workdir.read_record(stage.name()) {
        Ok(Some(r)) => r,
        Ok(None) => return stale("no previous run".into()),
        Err(Error::Contract { source, .. }) => {
            return stale(format!("previous record unreadable ({source})"))
        }
        Err(e) => return Err(e),
    };
    if !record.succeeded() {
        return stale("previous run failed".into());
    }
    if record.tool_version != TOOL_VERSION {
        return stale(format!(
            "tool version changed ({} -> {TOOL_VERSION})",
            record.tool_version
        ));
    }
    if record.config_hash != section_hash(&ctx.config.config, stage.sections())? {
        return stale(format!(
            "config changed in `{}`",
            stage.sections().join("`, `")
        ));
    }
    let declared: Vec<String> = stage
        .inputs(ctx)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for path in &declared {
        if !record.inputs.iter().any(|d| &d.path == path) {
            return stale(format!("new input {path}"));
        }
    }
    for d in &record.inputs {
        if let Some(reason) = changed(d)? {
            return stale(format!("input {reason}"));
        }
    }
    for d in &record.outputs {
        if let Some(reason) = changed(d)? {
            return stale(format!("output {reason}"));
        }
    }
    Ok(Freshness::UpToDate(Box::new(record)))
}

fn changed(d: &FileDigest) -> Result<Option<String>> {
    let path = Path::new(&d.path);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(format!("{} is missing", d.path)))
        }
        Err(e) => return Err(Error::io(format!("reading {}", d.path), e)),
    };
    // A size change is decisive without reading the file.
    if meta.len() != d.size {
        return Ok(Some(format!("{} changed", d.path)));
    }
    let (sha, _) = hash::sha256_file(path).with_path("hashing", path)?;
    Ok((sha != d.sha256).then(|| format!("{} changed", d.path)))
}

/// One stage's result, as the CLI reports it.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The record written.
    pub record: StageRecord,
    /// Markdown for the step summary, when the stage made one.
    pub report_md: Option<String>,
}

/// Runs one stage and writes its record (also when the stage fails or errors, so CI
/// can read why; a failed record is never considered up to date).
/// `run` does the stage's work (its command line's flags applied), `stage` describes it.
pub fn execute(
    stage: &dyn Stage,
    ctx: &Context,
    run: impl FnOnce(&Context) -> Result<Outcome>,
) -> Result<Executed> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let config_hash = section_hash(&ctx.config.config, stage.sections())?;
    let declared_inputs = stage.inputs(ctx);
    let result = run(ctx);
    let finished_at = Utc::now();
    let mut record = StageRecord {
        schema_version: STAGE_RECORD_VERSION,
        stage: stage.name().to_owned(),
        tool: format!("mlx-{}", stage.name()),
        tool_version: TOOL_VERSION.to_owned(),
        config_hash,
        inputs: Vec::new(),
        outputs: Vec::new(),
        started_at,
        finished_at,
        duration_s: clock.elapsed().as_secs_f64(),
        status: Status::Failed,
        summary: String::new(),
        details: serde_json::Value::Null,
        outputs_kv: Default::default(),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            record.summary = ctx.config.mask(&format!("{e:#}"));
            ctx.workdir.write_record(&record)?;
            return Err(e);
        }
    };
    let Outcome {
        status,
        summary,
        details,
        outputs_kv,
        extra_inputs,
        extra_outputs,
        report_md,
    } = outcome;
    // A declared input may legitimately be absent when flags point the stage
    // elsewhere; what it actually read (extra_inputs) must exist.
    let mut inputs = digests(declared_inputs.iter(), false)?;
    for d in digests(extra_inputs.iter(), true)? {
        if !inputs.iter().any(|i| i.path == d.path) {
            inputs.push(d);
        }
    }
    record.inputs = inputs;
    let mut outputs = stage.outputs(ctx);
    outputs.extend(extra_outputs);
    // A failed stage may legitimately not have written its outputs.
    record.outputs = digests(outputs.iter(), status != Status::Failed)?;
    record.status = status;
    record.summary = ctx.config.mask(&summary);
    record.details = details;
    record.outputs_kv = outputs_kv;
    ctx.workdir.write_record(&record)?;
    crate::tracking::record_stage(&ctx.config.config, &ctx.workdir, &record).map_err(|e| {
        let what = format!(
            "{} ran and its record is written, but the tracking store ({}) did not take its \
             runs: ",
            stage.name(),
            ctx.config.config.tracking.uri
        );
        let then = "; fix that and run `mlx runs import` to record them (or set \
                    tracking.enabled: false)";
        match e {
            Error::Usage(m) => Error::Usage(format!("{what}{m}{then}")),
            other => Error::Runtime(format!("{what}{other:#}{then}")),
        }
    })?;
    Ok(Executed { record, report_md })
}

fn digests<'a>(
    paths: impl Iterator<Item = &'a PathBuf>,
    must_exist: bool,
) -> Result<Vec<FileDigest>> {
    let mut out: Vec<FileDigest> = Vec::new();
    for p in paths {
        let key = p.display().to_string();
        if out.iter().any(|d| d.path == key) {
            continue;
        }
        match hash::digest(p) {
            Ok(d) => out.push(d),
            Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("hashing {key}"), e)),
        }
    }
    Ok(out)
}

/// What `mlx run` does with a stage range.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run every stage in range, even when up to date.
    pub force: bool,
    /// First stage to consider.
    pub from: Option<String>,
    /// Last stage to consider.
    pub to: Option<String>,
    /// Only report what would run.
    pub dry_run: bool,
}

/// What happened to one stage in `mlx run`.
#[derive(Debug, Clone)]
pub enum Step {
    /// The stage ran (its record says how it went).
    Ran {
        /// Why it ran.
        reason: String,
        /// Its result.
        executed: Box<Executed>,
    },
    /// Up to date; the previous record stands.
    Skipped(Box<StageRecord>),
    /// Turned off in the config.
    Disabled,
    /// `--dry-run`: would run, for this reason.
    WouldRun(String),
}

/// Runs the stages in order, stopping at the first failed one. `run` runs one stage as
/// the pipeline does (its flags at their defaults).
pub fn run_pipeline(
    stages: &[&dyn Stage],
    ctx: &Context,
    opts: &RunOptions,
    run: impl Fn(&dyn Stage, &Context) -> Result<Outcome>,
    mut on_step: impl FnMut(&str, &Step),
) -> Result<Vec<(String, Step)>> {
    let stages: Vec<&dyn Stage> = stages.iter().copied().filter(|s| s.in_pipeline()).collect();
    let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
    let index = |flag: &str, name: &Option<String>, default: usize| -> Result<usize> {
        match name {
            None => Ok(default),
            Some(n) => names.iter().position(|s| s == n).ok_or_else(|| {
                let hint = crate::config::did_you_mean(n, names.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                Error::Usage(format!(
                    "{flag} `{n}` is not a stage{hint}; the stages are: {}",
                    names.join(", ")
                ))
            }),
        }
    };
    let from = index("--from", &opts.from, 0)?;
    let to = index("--to", &opts.to, names.len().saturating_sub(1))?;
    if from > to && !names.is_empty() {
        return Err(Error::Usage(format!(
            "--from `{}` comes after --to `{}` in the pipeline",
            names[from], names[to]
        )));
    }
    let mut steps = Vec::new();
    for stage in stages.iter().take(to + 1).skip(from) {
        let step = if !stage.enabled(&ctx.config.config) {
            Step::Disabled
        } else {
            let reason = if opts.force {
                "forced".to_owned()
            } else {
                match freshness(*stage, ctx)? {
                    Freshness::UpToDate(r) => {
                        let step = Step::Skipped(r);
                        on_step(stage.name(), &step);
                        steps.push((stage.name().to_owned(), step));
                        continue;
                    }
                    Freshness::Stale(reason) => reason,
                }
            };
            if opts.dry_run {
                Step::WouldRun(reason)
            } else {
                let executed = execute(*stage, ctx, |c| run(*stage, c))?;
                Step::Ran {
                    reason,
                    executed: Box::new(executed),
                }
            }
        };
        on_step(stage.name(), &step);
        let failed =
            matches!(&step, Step::Ran { executed, .. } if executed.record.status == Status::Failed);
        steps.push((stage.name().to_owned(), step));
        if failed {
            break;
        }
    }
    Ok(steps)
}
