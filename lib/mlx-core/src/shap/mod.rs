//! `mlx-shap`: SHAP explanations of the trained candidates — TreeSHAP for mlx's forests
//! and for XGBoost and LightGBM models (their trees read from the bundle's model file),
//! exact linear SHAP for linear and logistic models, and for the rest exact Shapley
//! values over every coalition (few features) or antithetic permutation sampling — with
//! additivity checked on every row, the global ranking, SVG plots, and the shift
//! against a baseline explanation. The algorithms are the shared layer
//! [`crate::explain`]; this stage reads the work directory and writes its report.

use std::path::{Path, PathBuf};

use mlx_contracts::config::{Config, ShapMethod};
use mlx_contracts::eval::Leaderboard;
use mlx_contracts::train::TrainReport;
use mlx_contracts::Status;

use crate::error::{Error, IoContext, Result};
use crate::explain::{explain_bundle, nothing_to_attribute, plots, sample_rows, shift, take};
use crate::fsutil::{write_creating, write_json};
use crate::model::bundle::Bundle;

use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::paths;

/// The stage.
pub struct Shap;

const SECTIONS: &[&str] = &[
    "data",
    "features",
    "split",
    "pipeline",
    "models",
    "training",
    "evaluation",
    "explain",
];

const LONG_ABOUT: &str = "\
Explains the best run of leaderboard.json (or --run) on up to `explain.max_samples`
held-out rows with the exact algorithm the model allows: TreeSHAP for random forests,
decision trees, XGBoost and LightGBM (margin space for the boosters, agreeing with their
own pred_contribs), linear SHAP for linear and logistic models (against the training
background mean), and for SVMs and k-NN exact Shapley values over every coalition of up
to 14 features, or antithetic permutation sampling beyond. Checks additivity
(base value + SHAP values = model output) on every row, and writes
runs/<run-id>/shap.json (ranking, base values), runs/<run-id>/shap_values.parquet and
runs/<run-id>/plots/shap_*.svg (bar, beeswarm, waterfall, force). With --baseline (the
production model's shap.json), records the SHAP shift for the gate.

Examples:
  mlx-shap                                    explain the best candidate
  mlx-shap --run xgboost-3f2a9c01d4e5         explain one run
  mlx-shap --baseline production              compare with the registry's production model
  mlx-shap --baseline prod/shap.json          compare with another explanation
  mlx-shap explain --bundle runs/x/bundle --data rows.parquet --json | jq .importance

Exit codes: 0 explained, 2 a config or input problem, 3 I/O or an additivity failure.";

impl Stage for Shap {
    fn name(&self) -> &'static str {
        "shap"
    }
    fn about(&self) -> &'static str {
        "Explain the best model with SHAP values, its ranking and plots"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        SECTIONS
    }
    fn enabled(&self, config: &Config) -> bool {
        config.explain.enabled
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![
            ctx.workdir.record_path("train"),
            ctx.workdir.join(paths::LEADERBOARD),
            ctx.workdir.join(paths::FEATURES),
            ctx.workdir.join(paths::SPLIT),
        ]
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join(paths::SHAP_REPORT)]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        stage(&ctx.config.config, &ctx.workdir, None, None)
    }
}

/// The whole stage.
pub fn stage(
    cfg: &Config,
    workdir: &crate::workdir::Workdir,
    run: Option<&str>,
    baseline: Option<&Path>,
) -> Result<Outcome> {
    let record = workdir.read_record("train")?.ok_or_else(|| {
        Error::Usage("there is no train.json in the work directory; run `mlx-train` first".into())
    })?;
    let report: TrainReport = serde_json::from_value(record.details)
        .map_err(|e| Error::Runtime(format!("train.json is not a training report: {e}")))?;
    let run_id = match run {
        Some(r) => r.to_string(),
        None => best_run(workdir)?,
    };
    let run = report
        .runs
        .iter()
        .find(|r| r.run_id == run_id)
        .ok_or_else(|| {
            Error::Usage(format!(
                "train.json has no run `{run_id}`; its runs are: {}",
                report
                    .runs
                    .iter()
                    .map(|r| r.run_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let bundle = Bundle::load(&workdir.join(&run.bundle))?;
    // Nothing to explain is not a failure of the pipeline: the stage says it skipped
    // and why, and the gate reads that from this record.
    if let Some(why) = nothing_to_attribute(&bundle.model) {
        let rp = workdir.join(paths::SHAP_REPORT);
        let md = format!("# SHAP: {}\n\nSkipped: {why}.\n", run.name);
        write_creating(&rp, md.as_bytes()).with_path("writing", &rp)?;
        let mut o = Outcome::passed(format!("skipped: {why}"));
        o.details = serde_json::json!({ "skipped": why, "run_id": run.run_id });
        return Ok(o);
    }
    let crate::heldout::HeldOut {
        rows: held,
        train: training,
        ..
    } = crate::heldout::held_out(cfg, workdir)?;
    let seed = cfg.training.seed;
    let explained = take(
        &held,
        &sample_rows(held.height(), cfg.explain.max_samples.max(1) as usize, seed),
    )?;
    let background = take(
        &training,
        &sample_rows(
            training.height(),
            cfg.explain.background_samples.max(1) as usize,
            seed.wrapping_add(1),
        ),
    )?;
    let rel = format!("runs/{}", run.run_id);
    let dir = workdir.join(&rel);
    let (mut shap, mut written) = explain_bundle(
        &bundle,
        &explained,
        &background,
        &cfg.explain,
        seed,
        &dir,
        &rel,
        &run.run_id,
    )?;
    if let Some(b) = baseline {
        let base = baseline_report(cfg, workdir, b)?;
        let name = if base.run_id.is_empty() {
            b.display().to_string()
        } else {
            base.run_id.clone()
        };
        shap.shift = Some(shift(
            &shap.importance,
            &base.importance,
            &name,
            &cfg.explain.shift,
            cfg.explain.top_k.max(1) as usize,
        ));
    }
    let path = dir.join("shap.json");
    write_json(&path, &shap).with_path("writing", &path)?;
    written.push(path);
    let md = plots::markdown(&shap, cfg.explain.top_k.max(1) as usize);
    let rp = workdir.join(paths::SHAP_REPORT);
    write_creating(&rp, md.as_bytes()).with_path("writing", &rp)?;
    let top: Vec<&str> = shap
        .importance
        .iter()
        .take(3)
        .map(|i| i.feature.as_str())
        .collect();
    let flagged = shap.shift.as_ref().is_some_and(|s| s.flagged);
    let mut o = Outcome::with_status(
        if flagged {
            Status::Warned
        } else {
            Status::Passed
        },
        format!(
            "{} explained on {} rows with {} SHAP ({} space, additivity within {:.1e}); top: {}{}",
            shap.name,
            shap.rows,
            shap.method,
            shap.output_space,
            shap.additivity_max_error,
            top.join(", "),
            if flagged { "; SHAP shift flagged" } else { "" }
        ),
    );
    o.outputs_kv.insert("run".into(), run.run_id.clone());
    o.outputs_kv
        .insert("shap_shift".into(), flagged.to_string());
    o.extra_outputs = written;
    o.details = crate::json::value(&shap)?;
    o.report_md = Some(md);
    Ok(o)
}

/// The run the leaderboard ranks first.
fn best_run(workdir: &crate::workdir::Workdir) -> Result<String> {
    let lb = workdir.join(paths::LEADERBOARD);
    let text = std::fs::read_to_string(&lb).map_err(|_| {
        Error::Usage(
            "there is no leaderboard.json to pick the best run from; run `mlx-eval` \
             first, or name a run with --run"
                .into(),
        )
    })?;
    let board: Leaderboard = mlx_contracts::parse_versioned(
        &text,
        "leaderboard",
        mlx_contracts::eval::LEADERBOARD_VERSION,
    )
    .map_err(|source| Error::Contract {
        path: lb.display().to_string(),
        source,
    })?;
    board
        .entries
        .first()
        .map(|e| e.run_id.clone())
        .ok_or_else(|| Error::Usage("leaderboard.json ranks no runs".into()))
}

/// The baseline explanation to compare with: a `shap.json`, or the report a registry
/// version was registered with.
fn baseline_report(
    cfg: &Config,
    workdir: &crate::workdir::Workdir,
    b: &Path,
) -> Result<mlx_contracts::shap::ShapReport> {
    Ok(if b.exists() {
        crate::workdir::read_shap_report(b)?
    } else {
        let which = b.to_string_lossy();
        let (v, _) = crate::registry::registry_version(cfg, workdir, &which).map_err(|e| {
            Error::Usage(format!(
                "the baseline `{which}` is neither a shap.json nor a registry version: {e}"
            ))
        })?;
        v.shap.ok_or_else(|| {
            Error::Usage(format!(
                "registry version {} was registered without a SHAP report",
                v.version
            ))
        })?
    })
}

/// What `mlx-shap explain` reads.
#[derive(Debug, Clone)]
pub struct ExplainFile {
    /// The bundle.
    pub bundle: PathBuf,
    /// The rows to explain.
    pub data: PathBuf,
    /// The background rows [default: the rows explained].
    pub background: Option<PathBuf>,
    /// `auto`, `tree`, `linear`, `kernel` or `permutation`.
    pub method: String,
    /// The most rows explained (a seeded sample).
    pub max_rows: u32,
    /// The directory written.
    pub out: PathBuf,
}

/// `mlx-shap explain`: a bundle explained on a file, without a config or work directory.
pub fn explain_file(o: &ExplainFile) -> Result<Standalone> {
    let existing = |p: &Path| -> Result<PathBuf> {
        let p = p.to_path_buf();
        if p.exists() {
            Ok(p)
        } else {
            Err(Error::Usage(format!("{} does not exist", p.display())))
        }
    };
    let bundle = Bundle::load(&existing(&o.bundle)?)?;
    let data = mlx_data::read_table(&existing(&o.data)?)?;
    let background = match &o.background {
        Some(b) => mlx_data::read_table(&existing(b)?)?,
        None => data.clone(),
    };
    let method = match o.method.as_str() {
        "tree" => ShapMethod::Tree,
        "linear" => ShapMethod::Linear,
        "kernel" => ShapMethod::Kernel,
        "permutation" => ShapMethod::Permutation,
        _ => ShapMethod::Auto,
    };
    let max_rows = o.max_rows as usize;
    let cfg = mlx_contracts::config::Explain {
        method,
        max_samples: max_rows as u32,
        ..Default::default()
    };
    let rows = take(&data, &sample_rows(data.height(), max_rows, 42))?;
    let bg = take(
        &background,
        &sample_rows(background.height(), cfg.background_samples as usize, 43),
    )?;
    let out = o.out.clone();
    let rel = out.display().to_string();
    let (report, _) = explain_bundle(&bundle, &rows, &bg, &cfg, 42, &out, &rel, "")?;
    let path = out.join("shap.json");
    write_json(&path, &report).with_path("writing", &path)?;
    let mut human = format!(
        "{} rows explained with {} SHAP ({} space; additivity within {:.1e}); base {:?}\n",
        report.rows,
        report.method,
        report.output_space,
        report.additivity_max_error,
        report.base_values
    );
    for i in report.importance.iter().take(cfg.top_k as usize) {
        human.push_str(&format!(
            "{:>3}. {:30} {:.6}\n",
            i.rank, i.feature, i.mean_abs
        ));
    }
    human.push_str(&format!("values: {}", report.values_file));
    Ok(Standalone {
        status: Status::Passed,
        human,
        json: crate::json::value(&report)?,
    })
}
