//! `mlx-eval`: every candidate scored on the same held-out rows, ranked by the primary
//! metric into `leaderboard.json`, with slices, fairness, plots and a markdown report;
//! and `mlx-eval score`, which scores any predictions file without a config.

pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlx_contracts::config::{Config, Direction, Metric};
use mlx_contracts::eval::{
    Fairness, GroupRates, Leaderboard, LeaderboardEntry, RunMetrics, Slice, Spread,
    LEADERBOARD_VERSION, RUN_METRICS_VERSION,
};
use mlx_contracts::train::{RunRecord, TrainReport};
use mlx_contracts::Status;
use mlx_data::polars::prelude::*;
use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{write_creating, write_json};
use crate::model::bundle::Bundle;
use crate::model::encode_classes;
use crate::model::{self, Target};
use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::paths;
use nalgebra::DMatrix;

use crate::heldout::{class_truth, held_out, score_champion, HeldOut, Predicted};
use crate::metric::primary_metric;
use crate::model::score::{self as scores, Classified};
use crate::plots;

/// The stage.
pub struct Eval;

const SECTIONS: &[&str] = &[
    "data",
    "features",
    "split",
    "pipeline",
    "models",
    "training",
    "evaluation",
];

const LONG_ABOUT: &str = "\
Scores every run of train.json on the same held-out rows (the split's test rows, or its
validation rows when it has no test rows), writes each run's metrics, slices, fairness
and plots to runs/<run-id>/metrics.json and runs/<run-id>/plots/*.svg, ranks the runs by
`evaluation.primary_metric` into leaderboard.json, and writes a markdown report with
mermaid charts (reports/eval.md). With --champion (the production model's bundle, which
the registry provides), that model is scored on the same rows as the one to beat.

Metrics are scikit-learn's definitions (and sktime's sMAPE and MASE): accuracy,
balanced_accuracy, precision/recall/f1 (binary, macro, micro, weighted), roc_auc
(one-vs-rest for several classes), average_precision, log_loss, brier, mcc, the confusion
matrix; mse, rmse, mae, median_ae, mape, smape, wape, bias, r2, huber, log_cosh, and mase
for time series.

Examples:
  mlx-eval                                   score every run of train.json
  mlx-eval --json | jq '.details.entries[0]'  the best candidate
  mlx-eval --champion production              compare with the registry's production model
  mlx-eval --champion prod/bundle.tar         compare with a bundle file
  mlx-eval score --predictions preds.csv --task classification --y-true label
  mlx-eval score --predictions preds.parquet --task regression --json | jq .metrics.rmse

Exit codes: 0 scored, 2 a config or input problem, 3 I/O.";

impl Stage for Eval {
    fn name(&self) -> &'static str {
        "eval"
    }
    fn about(&self) -> &'static str {
        "Score every candidate on the held-out rows, rank them, and plot"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        SECTIONS
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![
            ctx.workdir.record_path("train"),
            ctx.workdir.join(paths::FEATURES),
            ctx.workdir.join(paths::SPLIT),
        ]
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![
            ctx.workdir.join(paths::LEADERBOARD),
            ctx.workdir.join(paths::EVAL_REPORT),
        ]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        evaluate(&ctx.config.config, &ctx.workdir, None)
    }
}

/// With a cross-validated or backtested split, every metric over its folds: the run's
/// model refitted on each fold's training rows (with the run's parameters and the
/// bundle's preprocessing) and scored on the fold's validation rows (a time series:
/// forecast from the rows before, with MASE scaled by the fold's training rows and
/// `season`).
fn fold_spread(
    bundle: &Bundle,
    run: &RunRecord,
    held: &HeldOut,
    seed: u64,
    season: usize,
) -> Result<BTreeMap<String, Spread>> {
    if held.folds.is_empty() {
        return Ok(BTreeMap::new());
    }
    let x = bundle.matrix(&held.train)?;
    let target = held.train.column(&bundle.manifest.target).map_err(|_| {
        Error::Usage(format!(
            "the target `{}` is not a column of the training rows",
            bundle.manifest.target
        ))
    })?;
    let (classes, codes, values) = match &bundle.manifest.classes {
        Some(model_classes) => {
            let (codes, classes) = class_truth(target, model_classes)?;
            (classes, codes, Vec::new())
        }
        None => (Vec::new(), Vec::new(), model::numeric_target(target)?),
    };
    let pick = |rows: &[usize]| DMatrix::from_fn(rows.len(), x.ncols(), |i, j| x[(rows[i], j)]);
    let context = held.series.as_ref().map(|s| {
        let names = bundle
            .matrix_named(&held.train.head(Some(1)))
            .map(|(_, n)| n)
            .unwrap_or_default();
        crate::model::forecast::Context::new(&s.cfg, &held.train, names)
    });
    let per_fold: Vec<BTreeMap<String, f64>> = held
        .folds
        .par_iter()
        .map(|(tr, va)| {
            let (ct, cv): (Vec<usize>, Vec<usize>) = if classes.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                (
                    tr.iter().map(|&i| codes[i]).collect(),
                    va.iter().map(|&i| codes[i]).collect(),
                )
            };
            let (vt, vv): (Vec<f64>, Vec<f64>) = if classes.is_empty() {
                (
                    tr.iter().map(|&i| values[i]).collect(),
                    va.iter().map(|&i| values[i]).collect(),
                )
            } else {
                (Vec::new(), Vec::new())
            };
            let (yt, yv) = if classes.is_empty() {
                (Target::Values(&vt), Target::Values(&vv))
            } else {
                (
                    Target::Classes(&ct, &classes),
                    Target::Classes(&cv, &classes),
                )
            };
            if let Some(series) = &held.series {
                let fitted = crate::model::forecast::fit(
                    run.model_type,
                    &run.params,
                    &pick(tr),
                    &vt,
                    context.as_ref().expect("a time series has a context"),
                    seed,
                )?;
                let mut refit = bundle.clone();
                refit.model = fitted;
                let pred =
                    series.forecast(&refit, &held.train, tr.first().copied().unwrap_or(0), va)?;
                return Ok(scores::regression(&vv, &pred, Some((&vt, season))).metrics);
            }
            let fit = model::fit(run.model_type, &run.params, &pick(tr), yt, None, seed)?;
            Ok(scores::of_model(
                &fit.model,
                &pick(va),
                &yv,
                bundle.manifest.decision_threshold,
            )?
            .metrics)
        })
        .collect::<Result<_>>()?;
    let mut out = BTreeMap::new();
    for name in per_fold[0].keys() {
        let v: Vec<f64> = per_fold
            .iter()
            .filter_map(|m| m.get(name).copied())
            .collect();
        if v.len() != per_fold.len() {
            continue;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = if v.len() > 1 {
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        out.insert(
            name.clone(),
            Spread {
                mean,
                std,
                min: v.iter().copied().fold(f64::INFINITY, f64::min),
                max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            },
        );
    }
    Ok(out)
}

/// Row indices per value (as text) of a column.
fn groups(rows: &DataFrame, column: &str) -> Result<BTreeMap<String, Vec<usize>>> {
    let col = rows.column(column).map_err(|_| {
        Error::Usage(format!(
            "`{column}` (evaluation.segments / evaluation.fairness) is not a column of the \
             features; name a column of features/features.parquet"
        ))
    })?;
    let text = col
        .cast(&DataType::String)
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let text = text.str().map_err(|e| Error::Runtime(e.to_string()))?;
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, v) in text.iter().enumerate() {
        out.entry(v.unwrap_or("null").to_string())
            .or_default()
            .push(i);
    }
    Ok(out)
}

/// Selection rate, TPR, FPR and error rate per group of the protected attribute.
fn fairness(
    p: &Predicted,
    rows: &DataFrame,
    check: &mlx_contracts::config::FairnessCheck,
) -> Result<Option<Fairness>> {
    let Predicted::Classes {
        truth,
        proba,
        classes,
        threshold,
    } = p
    else {
        return Ok(None);
    };
    let positive = match &check.positive_class {
        Some(c) => classes.iter().position(|x| x == c).ok_or_else(|| {
            Error::Usage(format!(
                "`evaluation.fairness.positive_class` is `{c}`, which is not a class; the \
                 classes are: {}",
                classes.join(", ")
            ))
        })?,
        None if classes.len() == 2 => 1,
        None => {
            return Err(Error::Usage(format!(
                "`evaluation.fairness` needs `positive_class` when there are more than two \
                 classes ({})",
                classes.join(", ")
            )))
        }
    };
    let pred = Classified {
        truth,
        proba,
        classes,
        threshold: *threshold,
    }
    .predicted();
    let mut out = Vec::new();
    for (value, idx) in groups(rows, &check.protected)? {
        let n = idx.len() as f64;
        let count = |f: &dyn Fn(usize) -> bool| idx.iter().filter(|&&i| f(i)).count() as f64;
        let actual_pos = count(&|i| truth[i] == positive);
        let actual_neg = n - actual_pos;
        let tp = count(&|i| truth[i] == positive && pred[i] == positive);
        let fp = count(&|i| truth[i] != positive && pred[i] == positive);
        out.push(GroupRates {
            value,
            rows: idx.len() as u64,
            selection_rate: count(&|i| pred[i] == positive) / n,
            true_positive_rate: (actual_pos > 0.0).then(|| tp / actual_pos),
            false_positive_rate: (actual_neg > 0.0).then(|| fp / actual_neg),
            error_rate: count(&|i| pred[i] != truth[i]) / n,
        });
    }
    let spread = |v: Vec<f64>| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if v.is_empty() {
            0.0
        } else {
            hi - lo
        }
    };
    Ok(Some(Fairness {
        column: check.protected.clone(),
        positive_class: classes[positive].clone(),
        demographic_parity_difference: spread(out.iter().map(|g| g.selection_rate).collect()),
        equal_opportunity_difference: spread(
            out.iter().filter_map(|g| g.true_positive_rate).collect(),
        ),
        groups: out,
    }))
}

/// Scores one run and writes its metrics and plots.
fn evaluate_run(
    cfg: &Config,
    workdir: &crate::workdir::Workdir,
    run: &RunRecord,
    held: &HeldOut,
) -> Result<(RunMetrics, Vec<PathBuf>)> {
    let bundle = Bundle::load(&workdir.join(&run.bundle))?;
    let p = Predicted::of(&bundle, held)?;
    // MASE scales by the in-sample error of the seasonal naive forecast.
    let sp = match (cfg.evaluation.seasonal_period, &held.series) {
        (Some(p), _) => p as usize,
        (None, Some(s)) => s.season,
        (None, None) => 1,
    };
    let history = held.train_target.as_deref().map(|t| (t, sp));
    let scores = p.scores(None, history);
    let mut slices = Vec::new();
    for column in &cfg.evaluation.segments {
        for (value, idx) in groups(&held.rows, column)? {
            slices.push(Slice {
                column: column.clone(),
                value,
                scores: p.scores(Some(&idx), None),
            });
        }
    }
    let fairness = match &cfg.evaluation.fairness {
        Some(check) => fairness(&p, &held.rows, check)?,
        None => None,
    };
    let run_dir = workdir.join(format!("runs/{}", run.run_id));
    let mut written = Vec::new();
    let mut plot_files = Vec::new();
    if cfg.evaluation.plots.unwrap_or(true) {
        let mut plots = match &p {
            Predicted::Classes {
                truth,
                proba,
                classes,
                ..
            } => plots::classification(&run.name, truth, proba, classes, &scores),
            Predicted::Values { truth, pred } => plots::regression(&run.name, truth, pred),
        };
        let history: Vec<(f64, Option<f64>)> = run
            .history
            .iter()
            .map(|h| (h.train_loss, h.validation))
            .collect();
        plots.extend(plots::loss_curve(&run.name, &history));
        for (name, svg) in plots {
            let rel = format!("runs/{}/plots/{name}.svg", run.run_id);
            let path = workdir.join(&rel);
            write_creating(&path, svg.as_bytes()).with_path("writing", &path)?;
            written.push(path);
            plot_files.push(rel);
        }
    }
    let metrics = RunMetrics {
        schema_version: RUN_METRICS_VERSION,
        run_id: run.run_id.clone(),
        name: run.name.clone(),
        model_type: run.model_type,
        set: held.set.to_string(),
        scores,
        threshold: bundle.manifest.decision_threshold,
        folds: fold_spread(&bundle, run, held, cfg.training.seed, sp)?,
        slices,
        fairness,
        plots: plot_files,
    };
    let path = run_dir.join("metrics.json");
    write_json(&path, &metrics).with_path("writing", &path)?;
    written.push(path);
    Ok((metrics, written))
}

/// Ranks runs by the primary metric (undefined values last, config order on ties).
pub fn rank(runs: &[RunMetrics], metric: Metric, direction: Direction, set: &str) -> Leaderboard {
    let mut entries: Vec<LeaderboardEntry> = runs
        .iter()
        .map(|r| LeaderboardEntry {
            rank: 0,
            run_id: r.run_id.clone(),
            name: r.name.clone(),
            model_type: r.model_type,
            primary: r.scores.metrics.get(metric.as_str()).copied(),
            metrics: r.scores.metrics.clone(),
            folds: r.folds.clone(),
        })
        .collect();
    let key = |e: &LeaderboardEntry| match (e.primary, direction) {
        (None, _) => f64::INFINITY,
        (Some(v), Direction::Maximize) => -v,
        (Some(v), Direction::Minimize) => v,
    };
    entries.sort_by(|a, b| key(a).total_cmp(&key(b)));
    for (i, e) in entries.iter_mut().enumerate() {
        e.rank = i as u32 + 1;
    }
    Leaderboard {
        schema_version: LEADERBOARD_VERSION,
        primary_metric: metric,
        direction,
        set: set.to_string(),
        entries,
        champion: None,
    }
}

/// The whole stage.
pub fn evaluate(
    cfg: &Config,
    workdir: &crate::workdir::Workdir,
    champion: Option<&Path>,
) -> Result<Outcome> {
    let record = workdir.read_record("train")?.ok_or_else(|| {
        Error::Usage("there is no train.json in the work directory; run `mlx-train` first".into())
    })?;
    let report: TrainReport = serde_json::from_value(record.details).map_err(|e| {
        Error::Runtime(format!(
            "train.json's details are not a training report ({e}); run `mlx-train` again"
        ))
    })?;
    if report.runs.is_empty() {
        return Err(Error::Usage(
            "train.json lists no runs; run `mlx-train` first".into(),
        ));
    }
    let held = held_out(cfg, workdir)?;
    let (metric, direction) = primary_metric(cfg);
    let bar = crate::progress::count_bar(report.runs.len() as u64, "evaluating");
    let results: Vec<Result<(RunMetrics, Vec<PathBuf>)>> = report
        .runs
        .par_iter()
        .map(|run| {
            let r = evaluate_run(cfg, workdir, run, &held).map_err(|e| match e {
                Error::Usage(m) => Error::Usage(format!("run `{}`: {m}", run.name)),
                Error::Runtime(m) => Error::Runtime(format!("run `{}`: {m}", run.name)),
                other => other,
            });
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let mut runs = Vec::new();
    let mut written = Vec::new();
    for r in results {
        let (m, files) = r?;
        runs.push(m);
        written.extend(files);
    }
    let mut board = rank(&runs, metric, direction, held.set);
    if let Some(path) = champion {
        let path = if path.exists() {
            path.to_path_buf()
        } else {
            let which = path.to_string_lossy();
            crate::registry::registry_version(cfg, workdir, &which)
                .map_err(|e| {
                    Error::Usage(format!(
                        "the champion `{which}` is neither a bundle file nor a registry version: {e}"
                    ))
                })?
                .1
        };
        board.champion = Some(score_champion(&path, &held, &board)?);
    }
    let lb = workdir.join(paths::LEADERBOARD);
    write_json(&lb, &board).with_path("writing", &lb)?;
    let md = report::markdown(&board, &runs, cfg);
    let rp = workdir.join(paths::EVAL_REPORT);
    write_creating(&rp, md.as_bytes()).with_path("writing", &rp)?;

    let best = &board.entries[0];
    let shown = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v:.4}"));
    let status = if best.primary.is_none() {
        Status::Warned
    } else {
        Status::Passed
    };
    let mut o = Outcome::with_status(
        status,
        format!(
            "{} run{} scored on {} {} rows; best: {} ({} {})",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" },
            held.rows.height(),
            held.set,
            best.name,
            metric.as_str(),
            shown(best.primary)
        ),
    );
    o.outputs_kv.insert("best_run".into(), best.run_id.clone());
    if let Some(beaten) = board.champion.as_ref().and_then(|c| c.beaten) {
        o.outputs_kv
            .insert("beats_champion".into(), beaten.to_string());
    }
    o.outputs_kv
        .insert(metric.as_str().to_string(), shown(best.primary));
    o.extra_outputs = written;
    o.details = crate::json::value(&board)?;
    o.report_md = Some(md);
    Ok(o)
}

fn column<'a>(df: &'a DataFrame, name: &str, path: &Path) -> Result<&'a Column> {
    df.column(name).map_err(|_| {
        Error::Usage(format!(
            "{} has no column `{name}`; its columns are: {}",
            path.display(),
            df.get_column_names()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn floats(c: &Column, path: &Path) -> Result<Vec<f64>> {
    let ca = float_column(c, path)?;
    Ok(contiguous(&ca)?.to_vec())
}

/// A numeric column as one chunk of doubles without missing values (a column that is
/// already that is shared, not copied: at 10 million rows a copy's fresh pages cost
/// more than the metrics).
fn float_column(c: &Column, path: &Path) -> Result<Float64Chunked> {
    if !c.dtype().is_primitive_numeric() {
        return Err(Error::Usage(format!(
            "column `{}` of {} is not numeric ({})",
            c.name(),
            path.display(),
            c.dtype()
        )));
    }
    let cast = c
        .cast(&DataType::Float64)
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let ca = cast
        .f64()
        .map_err(|e| Error::Runtime(e.to_string()))?
        .rechunk()
        .into_owned();
    if ca.null_count() > 0 {
        let row = ca.iter().position(|x| x.is_none()).unwrap_or(0);
        return Err(Error::Usage(format!(
            "column `{}` of {} is missing a value at row {}",
            c.name(),
            path.display(),
            row + 1
        )));
    }
    Ok(ca)
}

/// The values of a column [`float_column`] made.
fn contiguous(ca: &Float64Chunked) -> Result<&[f64]> {
    ca.cont_slice()
        .map_err(|e| Error::Runtime(format!("reading a column: {e}")))
}

/// What `mlx-eval score` reads: the predictions file, what they are, and the columns.
#[derive(Debug, Clone)]
pub struct ScoreFile {
    /// CSV or Parquet file with the truth and the predictions.
    pub predictions: PathBuf,
    /// `classification`, `regression` or `forecast`.
    pub task: String,
    /// The column with the actual values.
    pub y_true: String,
    /// The column with the predicted labels or values.
    pub y_pred: String,
    /// A classifier's probability column(s).
    pub y_score: Option<Vec<String>>,
    /// A forecast's training series (its `y_true` column), for MASE.
    pub history: Option<PathBuf>,
    /// MASE's season length.
    pub season: u32,
}

/// `mlx-eval score`.
pub fn score_file(o: &ScoreFile) -> Result<Standalone> {
    let path = o.predictions.clone();
    if !path.exists() {
        return Err(Error::Usage(format!("{} does not exist", path.display())));
    }
    // Only the columns used (Parquet reads just those), unless a classifier's
    // probability columns are to be found by name.
    let mut wanted = vec![o.y_true.clone(), o.y_pred.clone()];
    wanted.extend(o.y_score.iter().flatten().cloned());
    let df = if o.task == "classification" && o.y_score.is_none() {
        mlx_data::read_table(&path)?
    } else {
        mlx_data::read_columns(&path, &wanted)?
    };
    let truth = column(&df, &o.y_true, &path)?;
    let scores = match o.task.as_str() {
        "classification" => {
            let (classes, codes) = encode_classes(truth)?;
            let score_cols: Vec<String> = match &o.y_score {
                Some(c) => c.clone(),
                None => {
                    let auto: Vec<String> = classes.iter().map(|c| format!("proba_{c}")).collect();
                    if auto.iter().all(|c| df.column(c).is_ok()) {
                        auto
                    } else {
                        Vec::new()
                    }
                }
            };
            let k = classes.len();
            // The labels: --y-pred when the file has it, else the most probable class.
            let pred_col = if score_cols.is_empty() || df.column(&o.y_pred).is_ok() {
                Some(column(&df, &o.y_pred, &path)?)
            } else {
                None
            };
            let mut all = classes.clone();
            let pred: Option<Vec<usize>> = match pred_col {
                Some(c) => {
                    let text = c
                        .cast(&DataType::String)
                        .map_err(|e| Error::Runtime(e.to_string()))?;
                    let text = text.str().map_err(|e| Error::Runtime(e.to_string()))?;
                    // Labels the truth never has become extra classes.
                    let mut index: std::collections::HashMap<String, usize> = all
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.clone(), i))
                        .collect();
                    Some(
                        text.iter()
                            .map(|v| {
                                let v = v.unwrap_or("null");
                                match index.get(v) {
                                    Some(&i) => i,
                                    None => {
                                        all.push(v.to_string());
                                        index.insert(v.to_string(), all.len() - 1);
                                        all.len() - 1
                                    }
                                }
                            })
                            .collect(),
                    )
                }
                None => None,
            };
            if score_cols.is_empty() {
                scores::from_labels(&codes, &pred.unwrap_or_default(), &all)
            } else {
                let cols: Vec<Vec<f64>> = score_cols
                    .iter()
                    .map(|c| floats(column(&df, c, &path)?, &path))
                    .collect::<Result<_>>()?;
                let proba: Vec<f64> = match cols.len() {
                    1 if k == 2 => cols[0].iter().flat_map(|p| [1.0 - p, *p]).collect(),
                    n if n == k => (0..codes.len())
                        .flat_map(|i| cols.iter().map(move |c| c[i]))
                        .collect(),
                    n => {
                        return Err(Error::Usage(format!(
                            "--y-score names {n} column(s), but the truth has {k} classes ({}); \
                             give one probability column per class in that order (or one for \
                             two classes)",
                            classes.join(", ")
                        )))
                    }
                };
                match pred {
                    // Labels as given (e.g. with a tuned threshold), probabilities as given.
                    Some(pred) if all.len() == k => {
                        let mut s = scores::from_labels(&codes, &pred, &all);
                        scores::add_probability_metrics(&mut s, &codes, &proba, k);
                        s
                    }
                    Some(pred) => scores::from_labels(&codes, &pred, &all),
                    None => scores::classification(&Classified {
                        truth: &codes,
                        proba: &proba,
                        classes: &classes,
                        threshold: None,
                    }),
                }
            }
        }
        task => {
            let t = float_column(truth, &path)?;
            let p = float_column(column(&df, &o.y_pred, &path)?, &path)?;
            let (t, p) = (contiguous(&t)?, contiguous(&p)?);
            let history = match (task, &o.history) {
                ("forecast", Some(h)) => {
                    let hp = h.clone();
                    if !hp.exists() {
                        return Err(Error::Usage(format!("{} does not exist", hp.display())));
                    }
                    let hdf = mlx_data::read_table(&hp)?;
                    Some(floats(column(&hdf, &o.y_true, &hp)?, &hp)?)
                }
                _ => None,
            };
            let sp = o.season as usize;
            let mut s = scores::regression(t, p, history.as_deref().map(|h| (h, sp)));
            if task == "forecast" && history.is_none() {
                s.undefined
                    .insert("mase".into(), "no --history (the training series)".into());
            }
            s
        }
    };
    Ok(Standalone {
        status: Status::Passed,
        human: report::metrics_table(&scores),
        json: crate::json::value(&scores)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A float column is shared as it is; integers are cast; a missing value is refused
    /// by its row.
    #[test]
    fn score_columns_are_doubles_without_gaps() {
        let path = Path::new("p.parquet");
        let c = Column::new("y".into(), [1.5f64, 2.0, -3.0]);
        assert_eq!(
            contiguous(&float_column(&c, path).unwrap()).unwrap(),
            [1.5, 2.0, -3.0]
        );
        let c = Column::new("y".into(), [1i64, 2]);
        assert_eq!(floats(&c, path).unwrap(), [1.0, 2.0]);
        let c = Column::new("y".into(), [Some(1.0f64), None, Some(3.0)]);
        let err = float_column(&c, path).unwrap_err().to_string();
        assert!(
            err.contains("column `y` of p.parquet is missing a value at row 2"),
            "{err}"
        );
        let c = Column::new("y".into(), ["a", "b"]);
        assert!(float_column(&c, path)
            .unwrap_err()
            .to_string()
            .contains("is not numeric"));
    }
}
