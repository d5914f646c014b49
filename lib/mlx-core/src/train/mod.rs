//! `mlx-train`: fits every candidate of `models:` on the training rows of the split,
//! writes one run per candidate (`runs/<run-id>/run.json`) with its model bundle
//! (`runs/<run-id>/bundle/`), and lists the runs in `train.json`.

pub mod tune;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use mlx_contracts::config::{Config, ForecastStrategy, ModelSpec, ParamValue, TuningMethod};
use mlx_contracts::features::InputKind;
use mlx_contracts::train::{
    BundleManifest, HistoryPoint, Library, RunRecord, Signature, TrainReport, Trial,
    RUN_RECORD_VERSION, TRAIN_REPORT_VERSION,
};
use mlx_data::polars::prelude::*;
use nalgebra::DMatrix;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_json;
use crate::heldout::{positions, read, rows, split_folds};
use crate::metric::is_classification;
use crate::model::forecast;
use crate::model::transform;
use crate::model::{self, bundle, encode_classes, numeric_target, FittedModel, Target};
use crate::stage::{Context, Outcome, Stage};
use crate::workdir::paths;

/// The `train` stage.
pub struct Train;

// `evaluation`: its primary metric scores the search trials and tunes the threshold.
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
Fits every candidate of `models:` (or `pipeline.model_type`) on the training rows of the
split that `mlx-features` wrote, in parallel, and writes for each a run
(runs/<run-id>/run.json: parameters, solver history, validation metrics, timings, tags)
and a model bundle (runs/<run-id>/bundle/: manifest.json, preprocessor.json, the model
file) that every later stage loads. train.json lists the runs.

Families in this build: linear, ridge, lasso, elastic_net (regression) and logistic
(binary and multinomial, L1 or L2), solved to the same optimum as scikit-learn;
decision_tree, random_forest, knn and svm (classification and regression); xgboost and
lightgbm in builds with the `xgboost` / `lightgbm` features. Classifiers take
`class_weight: balanced` (or a map from class to weight) for imbalanced classes.
Time series (`pipeline.problem_type: time_series`) add arima and sarimax (exact
maximum likelihood; `order: auto` searches orders), ets and seasonal_naive; every
candidate's validation metrics come from rolling `forecast.horizon`-step forecasts.
Neural networks (mlp, cnn1d, lstm, transformer) train with the loop of `training:`
(optimizer, schedule, batches, epochs, early stopping, gradient clipping, loss); their
history has one point per epoch. A sequence model's `sequence: [lag_14, ..., lag_1]`
names the inputs of its window; the others join its output layer. `training.backend:
torch` (builds with the `torch` feature) trains them with libtorch, on a GPU with
`training.device: cuda`.

Examples:
  mlx-train                       train every candidate
  mlx-train --json | jq '.details.runs[] | {name, validation}'
  mlx-train --json | jq '.details.runs[].tags.forecaster'   the orders auto-ARIMA chose
  mlx run --to train              ingest, validate, features and train
  mlx-train --json | jq '.details.runs[] | {name, epochs: (.history | length)}'
  bash scripts/torch.sh cargo run -p mlx --features torch -- train   with training.backend: torch";

impl Stage for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn about(&self) -> &'static str {
        "Fit the candidate models and write their bundles and runs"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        SECTIONS
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        [paths::FEATURES, paths::SPLIT]
            .iter()
            .map(|f| ctx.workdir.join(f))
            .collect()
    }
    fn outputs(&self, _ctx: &Context) -> Vec<PathBuf> {
        Vec::new()
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        train(&ctx.config.config, &ctx.workdir)
    }
}

fn candidate_name(spec: &ModelSpec) -> String {
    spec.name
        .clone()
        .unwrap_or_else(|| spec.model_type.as_str().to_string())
}

/// With `evaluation.tune_threshold`, a binary classifier's decision threshold: the one
/// that scores best on the validation rows for the primary metric.
fn decision_threshold(
    cfg: &Config,
    model: &FittedModel,
    x_val: &DMatrix<f64>,
    val_codes: Option<&[usize]>,
) -> Result<Option<f64>> {
    if !cfg.evaluation.tune_threshold {
        return Ok(None);
    }
    let metric = crate::metric::primary_metric(cfg).0;
    if !metric.uses_threshold() {
        return Err(Error::Usage(format!(
            "`evaluation.tune_threshold` tunes for the primary metric, and `{}` does not \
             depend on the threshold; make `evaluation.primary_metric` one of accuracy, \
             balanced_accuracy, precision, recall, f1_score or mcc",
            metric.as_str()
        )));
    }
    let Some(codes) = val_codes.filter(|c| !c.is_empty()) else {
        return Err(Error::Usage(
            "`evaluation.tune_threshold` needs validation rows; set `split.validation` above 0"
                .into(),
        ));
    };
    let out = model.predict(x_val)?;
    if out.ncols() != 2 {
        return Err(Error::Usage(format!(
            "`evaluation.tune_threshold` is for two classes, and the target has {}",
            out.ncols()
        )));
    }
    let p1: Vec<f64> = out.column(1).iter().copied().collect();
    Ok(crate::model::score::tune_threshold(metric, codes, &p1))
}

/// Whether a candidate searches hyperparameters (lists and ranges); a forecaster's
/// lists are orders and regressors.
fn is_search(spec: &ModelSpec) -> bool {
    !forecast::is_forecaster(spec.model_type) && tune::is_search(&spec.params)
}

/// A time series' rows, for the forecasters and the rolling-origin validation.
struct Series<'a> {
    df: &'a DataFrame,
    /// The first training row.
    start: usize,
    /// The validation rows.
    validation: Vec<usize>,
    horizon: usize,
    context: forecast::Context,
    /// The time axis of the rows through the last, which places a forecaster's scored
    /// rows.
    clock: Option<forecast::Clock>,
    /// The target of every row.
    y_all: Vec<f64>,
    /// The model matrix of every row.
    x_all: DMatrix<f64>,
}

impl<'a> Series<'a> {
    fn new(
        cfg: &Config,
        df: &'a DataFrame,
        set: &StringChunked,
        x_train: &DataFrame,
        pre: &mlx_contracts::features::Preprocessor,
    ) -> Result<Self> {
        forecast::one_series(cfg)?;
        let positions = |which: &str| positions(set, which);
        let names = x_train
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let context = forecast::Context::new(cfg, df, names);
        let start = positions("train").first().copied().unwrap_or(0);
        let target = cfg.data.target.as_deref().unwrap_or_default();
        let y_all = numeric_target(
            df.column(target)
                .map_err(|e| Error::Runtime(format!("the target `{target}`: {e}")))?,
        )?;
        let x_all = bundle::matrix(&transform::transform(pre, df)?.0)?;
        let all: Vec<usize> = (start..df.height()).collect();
        Ok(Self {
            df,
            clock: forecast::Clock::of(cfg, df, &all),
            y_all,
            x_all,
            start,
            validation: positions("validation"),
            horizon: forecast::horizon(cfg, context.season),
            context,
        })
    }

    /// Carries a forecaster's series on through the last row of the features: its
    /// estimates stay those of the training rows, but it forecasts from the latest data
    /// (statsmodels' `append(refit=False)`). Evaluation forecasts each held-out block
    /// from the rows before it, so this changes nothing that is scored.
    fn extend(&self, f: &mut forecast::Forecaster) {
        f.continue_with(
            &self.y_all,
            &self.x_all,
            self.start..self.df.height(),
            self.clock.clone(),
        );
    }

    fn validation_scores(
        &self,
        cfg: &Config,
        model: &FittedModel,
        pre: &mlx_contracts::features::Preprocessor,
        truth: &[f64],
    ) -> Result<BTreeMap<String, f64>> {
        let pred = forecast::rolling(
            cfg,
            model,
            pre,
            self.df,
            self.start,
            &self.validation,
            self.horizon,
        )?;
        Ok(crate::model::score::regression(truth, &pred, None).metrics)
    }
}

/// The whole stage.
pub fn train(cfg: &Config, workdir: &crate::workdir::Workdir) -> Result<Outcome> {
    let features_path = workdir.join(paths::FEATURES);
    let df = read(&features_path)?;
    let split = read(&workdir.join(paths::SPLIT))?;
    if split.height() != df.height() {
        return Err(Error::Usage(format!(
            "{} and {} disagree on the number of rows; rerun `mlx-features`",
            paths::FEATURES,
            paths::SPLIT
        )));
    }
    let target = cfg.data.target.clone().ok_or_else(|| {
        Error::Usage("training needs `data.target`: the column to predict".into())
    })?;
    if df.column(target.as_str()).is_err() {
        return Err(Error::Usage(format!(
            "the target `{target}` is not a column of {}",
            paths::FEATURES
        )));
    }
    let set = split
        .column("set")
        .and_then(|c| c.str().cloned())
        .map_err(|e| Error::Runtime(format!("{}: {e}", paths::SPLIT)))?;
    let train_df = rows(&df, &set, "train")?;
    let val_df = rows(&df, &set, "validation")?;
    if train_df.height() == 0 {
        return Err(Error::Usage("the split has no training rows".into()));
    }
    let seed = cfg.split.seed.unwrap_or(cfg.training.seed);
    let classification = is_classification(cfg);
    let target_col = |d: &DataFrame| {
        d.column(target.as_str())
            .cloned()
            .map_err(|e| Error::Runtime(e.to_string()))
    };

    let (classes, train_codes, train_values) =
        train_target(&target, &target_col(&train_df)?, classification)?;
    let (val_codes, val_values) = if val_df.height() == 0 {
        (None, None)
    } else {
        val_target(classes.as_deref(), &target_col(&val_df)?)?
    };

    // The model matrices.
    let (pre, x_train_df, _) = crate::model::transform::fit_preprocessor(cfg, &train_df, seed)?;
    let x_train = bundle::matrix(&x_train_df)?;
    let x_val = if val_df.height() > 0 {
        bundle::matrix(&transform::transform(&pre, &val_df)?.0)?
    } else {
        DMatrix::zeros(0, x_train.ncols())
    };

    let dataset_sha256 = crate::hash::sha256_file(&features_path)
        .with_path("hashing", &features_path)?
        .0;
    let config_sha256 = crate::config::section_hash(cfg, SECTIONS)?;
    let git_commit = crate::git::git(&["rev-parse", "HEAD"])
        .ok()
        .map(|s| s.trim().to_owned());
    let categories = categories(&pre);
    let mut outputs = vec!["prediction".to_string()];
    if let Some(c) = &classes {
        outputs.extend(c.iter().map(|c| format!("proba_{c}")));
    }

    // Cross-validation folds for hyperparameter search: the split's own folds over the
    // training rows, or shuffled k-fold.
    let mut folds = split_folds(&split, &set)?;
    if folds.is_empty() {
        folds = tune::kfold(x_train.nrows(), cfg.split.folds.max(2) as usize, seed);
    }
    let (x_val_known, known_val_codes) = known_validation(&x_val, &val_codes);
    let scoring = tune::Scoring::new(cfg);
    let series = cfg
        .pipeline
        .forecasts()
        .then(|| Series::new(cfg, &df, &set, &x_train_df, &pre))
        .transpose()?;

    // Every candidate, in parallel; the bar counts fitted models and search trials.
    let steps = progress_steps(cfg);
    let bar = crate::progress::count_bar(steps, "training");
    let inputs: Vec<String> = x_train_df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let models = with_training_params(cfg, &inputs)?;
    let ground = Ground {
        cfg,
        workdir,
        target: &target,
        classes: &classes,
        train_codes: &train_codes,
        train_values: &train_values,
        val_codes: &val_codes,
        val_values: &val_values,
        known_val_codes: &known_val_codes,
        pre: &pre,
        x_train: &x_train,
        x_val: &x_val,
        x_val_known: &x_val_known,
        folds: &folds,
        scoring,
        series: &series,
        seed,
        dataset_sha256: &dataset_sha256,
        config_sha256: &config_sha256,
        git_commit: &git_commit,
        categories: &categories,
        outputs: &outputs,
        bar: &bar,
    };
    let results: Vec<Result<(RunRecord, Vec<PathBuf>)>> = models
        .par_iter()
        .map(|spec| candidate(&ground, spec))
        .collect();
    bar.finish_and_clear();
    let mut runs = Vec::new();
    let mut written = Vec::new();
    for r in results {
        let (record, files) = r?;
        runs.push(record);
        written.extend(files);
    }
    let shown = |r: &RunRecord| {
        let metric = if classification { "accuracy" } else { "rmse" };
        match r.validation.get(metric) {
            Some(v) => format!("{} ({metric} {v:.4})", r.name),
            None => r.name.clone(),
        }
    };
    let mut o = Outcome::passed(format!(
        "{} model{} on {} rows x {} features ({} validation rows): {}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        x_train.nrows(),
        x_train.ncols(),
        x_val.nrows(),
        runs.iter().map(shown).collect::<Vec<_>>().join(", ")
    ));
    o.outputs_kv.insert("runs".into(), runs.len().to_string());
    o.extra_outputs = written;
    let report = TrainReport {
        schema_version: TRAIN_REPORT_VERSION,
        runs,
        train_rows: x_train.nrows() as u64,
        validation_rows: x_val.nrows() as u64,
        features: x_train.ncols() as u64,
    };
    o.details = crate::json::value(&report)?;
    Ok(o)
}

/// What every candidate is trained on: the config, the rows as matrices, the target,
/// the folds and the provenance every run records.
struct Ground<'a> {
    cfg: &'a Config,
    workdir: &'a crate::workdir::Workdir,
    target: &'a String,
    classes: &'a Option<Vec<String>>,
    train_codes: &'a Option<Vec<usize>>,
    train_values: &'a Option<Vec<f64>>,
    val_codes: &'a Option<Vec<usize>>,
    val_values: &'a Option<Vec<f64>>,
    /// The validation rows' classes that the model knows (early stopping scores them).
    known_val_codes: &'a Option<Vec<usize>>,
    pre: &'a mlx_contracts::features::Preprocessor,
    x_train: &'a DMatrix<f64>,
    x_val: &'a DMatrix<f64>,
    x_val_known: &'a std::borrow::Cow<'a, DMatrix<f64>>,
    folds: &'a Vec<(Vec<usize>, Vec<usize>)>,
    scoring: tune::Scoring,
    series: &'a Option<Series<'a>>,
    seed: u64,
    dataset_sha256: &'a String,
    config_sha256: &'a String,
    git_commit: &'a Option<String>,
    categories: &'a BTreeMap<String, Vec<String>>,
    outputs: &'a Vec<String>,
    bar: &'a indicatif::ProgressBar,
}

/// Trains one candidate (searching its parameters when it lists several), writes its
/// bundle and run record, and returns the record and the files written.
fn candidate(g: &Ground, spec: &ModelSpec) -> Result<(RunRecord, Vec<PathBuf>)> {
    let Ground {
        cfg,
        workdir,
        target,
        classes,
        val_codes,
        val_values,
        known_val_codes,
        pre,
        x_val,
        x_val_known,
        series,
        seed,
        dataset_sha256,
        config_sha256,
        git_commit,
        categories,
        outputs,
        bar,
        ..
    } = *g;
    let name = candidate_name(spec);
    let started = Instant::now();
    let named = |e: Error| match e {
        Error::Usage(m) => Error::Usage(format!("model `{name}`: {m}")),
        Error::Runtime(m) => Error::Runtime(format!("model `{name}`: {m}")),
        other => other,
    };
    let (params, trials, fit) = fit_candidate(g, spec).map_err(named)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    bar.inc(1);
    let run_id = run_id(config_sha256, dataset_sha256, &name, &params, seed)?;
    // A forecaster's bundle asks only for its regressors.
    let mut fit = fit;
    let pre = match &mut fit.model {
        FittedModel::Forecast(f) => std::borrow::Cow::Owned(f.restrict(pre)),
        _ => std::borrow::Cow::Borrowed(pre),
    };
    let categories: BTreeMap<String, Vec<String>> = categories
        .iter()
        .filter(|(k, _)| pre.inputs.iter().any(|i| &i.name == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (lib, version) = fit.model.library();
    let mut manifest = BundleManifest {
        schema_version: mlx_contracts::train::BUNDLE_VERSION,
        name: name.clone(),
        problem_type: cfg.pipeline.problem_type,
        model_type: spec.model_type,
        library: Library { name: lib, version },
        model_file: String::new(),
        signature: Signature {
            inputs: pre.inputs.clone(),
            categories: categories.clone(),
            outputs: match &fit.model {
                FittedModel::Forecast(f) if f.has_interval() => outputs
                    .iter()
                    .cloned()
                    .chain(["prediction_lower".into(), "prediction_upper".into()])
                    .collect(),
                _ => outputs.clone(),
            },
        },
        classes: classes.clone(),
        decision_threshold: None,
        target: target.clone(),
        params: params.clone(),
        dataset_sha256: dataset_sha256.clone(),
        git_commit: git_commit.clone(),
        config_sha256: config_sha256.clone(),
        trained_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files: BTreeMap::new(),
    };
    manifest.decision_threshold =
        decision_threshold(cfg, &fit.model, x_val_known, known_val_codes.as_deref())
            .map_err(named)?;
    let run_dir = workdir.join(format!("runs/{run_id}"));
    let bundle_dir = run_dir.join("bundle");
    let bundle_sha256 = bundle::write(&bundle_dir, &mut manifest, &pre, &fit.model)?;
    // Every metric mlx-eval computes, on the validation rows (none without them);
    // a time series forecasts them from the rows before, as evaluation does.
    let validation = match (&series, &val_values) {
        (Some(series), Some(v)) if !v.is_empty() => series
            .validation_scores(cfg, &fit.model, &pre, v)
            .map_err(named)?,
        (Some(_), _) => BTreeMap::new(),
        (None, _) => match (&val_codes, &val_values) {
            (Some(c), _) => Some(Target::Classes(c, classes.as_deref().unwrap_or_default())),
            (_, Some(v)) => Some(Target::Values(v)),
            _ => None,
        }
        .filter(|_| x_val.nrows() > 0)
        .map(|y| crate::model::score::of_model(&fit.model, x_val, &y, manifest.decision_threshold))
        .transpose()
        .map_err(named)?
        .map(|s| s.metrics)
        .unwrap_or_default(),
    };
    let mut tags: BTreeMap<String, String> = [
        ("dataset_sha256".to_string(), dataset_sha256.clone()),
        (
            "git_commit".to_string(),
            git_commit.clone().unwrap_or_default(),
        ),
    ]
    .into();
    if let FittedModel::Forecast(f) = &fit.model {
        tags.insert("forecaster".into(), f.describe());
    }
    let record = RunRecord {
        schema_version: RUN_RECORD_VERSION,
        run_id: run_id.clone(),
        name,
        model_type: spec.model_type,
        params,
        history: fit
            .history
            .iter()
            .enumerate()
            .map(|(i, (l, v))| HistoryPoint {
                iteration: i as u32 + 1,
                train_loss: *l,
                validation: *v,
            })
            .collect(),
        fit_seconds,
        validation,
        trials,
        tags,
        bundle: format!("runs/{run_id}/bundle"),
        bundle_sha256,
    };
    let p = run_dir.join("run.json");
    write_json(&p, &record).with_path("writing", &p)?;
    let written = [bundle::MANIFEST, bundle::PREPROCESSOR, &manifest.model_file]
        .map(|f| bundle_dir.join(f))
        .into_iter()
        .chain([p])
        .collect();
    Ok((record, written))
}

/// A run's id: the candidate's name and a hash of what decides its model (the config's
/// training sections, the data, the parameters, the seed).
fn run_id(
    config_sha256: &str,
    dataset_sha256: &str,
    name: &str,
    params: &BTreeMap<String, ParamValue>,
    seed: u64,
) -> Result<String> {
    let mut h = Sha256::new();
    for part in [
        config_sha256,
        dataset_sha256,
        name,
        &crate::json::line(params)?,
        &seed.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    Ok(format!(
        "{name}-{}",
        &crate::config::hex(&h.finalize())[..12]
    ))
}

/// A fitted candidate: its parameters, the search's trials, the fit.
type Fitted = (BTreeMap<String, ParamValue>, Vec<Trial>, model::Fit);

/// Fits one candidate on the training rows: its parameters searched over the folds when
/// it lists several (the trials returned), a forecaster on the series.
fn fit_candidate(g: &Ground, spec: &ModelSpec) -> Result<Fitted> {
    let Ground {
        cfg,
        classes,
        train_codes,
        train_values,
        val_values,
        known_val_codes,
        x_train,
        x_val_known,
        folds,
        scoring,
        series,
        seed,
        bar,
        ..
    } = *g;
    let y = match (&train_codes, &train_values) {
        (Some(codes), _) => Target::Classes(codes, classes.as_deref().unwrap_or_default()),
        (_, Some(v)) => Target::Values(v),
        _ => unreachable!("the target is classes or values"),
    };
    let (params, trials) = if is_search(spec) {
        let tuning = cfg.training.tuning.clone();
        let only_lists = !spec.params.iter().any(|(k, v)| tune::is_range(k, v));
        let method = tuning.as_ref().map(|t| t.method).unwrap_or(if only_lists {
            TuningMethod::Grid
        } else {
            TuningMethod::Random
        });
        let n = tuning.as_ref().map_or(20, |t| t.trials);
        let sets = tune::trials(&spec.params, method, n, seed)?;
        let (trials, best) = tune::search(
            spec.model_type,
            sets,
            x_train,
            train_codes.as_deref().zip(classes.as_deref()),
            train_values.as_deref(),
            folds,
            scoring,
            seed,
        )?;
        bar.inc(trials.len() as u64);
        (trials[best].params.clone(), trials)
    } else {
        (spec.params.clone(), Vec::new())
    };
    let val_target = match (&known_val_codes, &val_values) {
        (Some(c), _) => Some(Target::Classes(c, classes.as_deref().unwrap_or_default())),
        (_, Some(v)) => Some(Target::Values(v)),
        _ => None,
    };
    let fit = match &series {
        Some(series)
            if forecast::is_forecaster(spec.model_type)
                || cfg.forecast.strategy == ForecastStrategy::Direct =>
        {
            let Target::Values(y) = y else {
                unreachable!("a time series has values")
            };
            let mut model =
                forecast::fit(spec.model_type, &params, x_train, y, &series.context, seed)?;
            if let FittedModel::Forecast(f) = &mut model {
                series.extend(f);
                f.interval = Some(cfg.forecast.interval.unwrap_or(0.95));
            }
            model::Fit {
                model,
                history: Vec::new(),
            }
        }
        _ => model::fit(
            spec.model_type,
            &params,
            x_train,
            y,
            val_target.as_ref().map(|t| (x_val_known.as_ref(), t)),
            seed,
        )?,
    };
    Ok((params, trials, fit))
}

/// A classifier's classes and codes, or a regressor's values.
type TrainTarget = (Option<Vec<String>>, Option<Vec<usize>>, Option<Vec<f64>>);

/// The training rows' target: the classes and their codes for a classifier, else the
/// values; refused when there is nothing to learn.
fn train_target(target: &str, col: &Column, classification: bool) -> Result<TrainTarget> {
    Ok(if classification {
        let (classes, codes) = encode_classes(col)?;
        if classes.len() < 2 {
            return Err(Error::Usage(format!(
                "the target `{target}` has one class (`{}`) in the training rows; a classifier \
                 needs at least two",
                classes.first().cloned().unwrap_or_default()
            )));
        }
        (Some(classes), Some(codes), None)
    } else {
        let v = numeric_target(col)?;
        if v.iter().all(|x| *x == v[0]) {
            return Err(Error::Usage(format!(
                "the target `{target}` is constant ({}) in the training rows; there is nothing \
                 to learn",
                v[0]
            )));
        }
        (None, None, Some(v))
    })
}

/// The validation rows early stopping can score: those whose class the model knows
/// (all of them for a regressor), and their codes.
fn known_validation<'a>(
    x_val: &'a DMatrix<f64>,
    val_codes: &Option<Vec<usize>>,
) -> (std::borrow::Cow<'a, DMatrix<f64>>, Option<Vec<usize>>) {
    match val_codes {
        Some(codes) if codes.contains(&usize::MAX) => {
            let keep: Vec<usize> = (0..codes.len())
                .filter(|&i| codes[i] != usize::MAX)
                .collect();
            (
                std::borrow::Cow::Owned(DMatrix::from_fn(keep.len(), x_val.ncols(), |i, j| {
                    x_val[(keep[i], j)]
                })),
                Some(keep.iter().map(|&i| codes[i]).collect::<Vec<_>>()),
            )
        }
        _ => (std::borrow::Cow::Borrowed(x_val), val_codes.clone()),
    }
}

/// What the training bar counts: one fit per candidate, and each search's trials.
fn progress_steps(cfg: &Config) -> u64 {
    cfg.models
        .iter()
        .map(|m| {
            if is_search(m) {
                1 + cfg
                    .training
                    .tuning
                    .as_ref()
                    .map_or(20, |t| u64::from(t.trials))
            } else {
                1
            }
        })
        .sum()
}

/// A validation target: codes or values.
type ValTarget = (Option<Vec<usize>>, Option<Vec<f64>>);

/// The validation rows' target: codes into the training classes (`usize::MAX` for a
/// class unseen in training, which cannot be scored as that class), else the values.
fn val_target(classes: Option<&[String]>, col: &Column) -> Result<ValTarget> {
    Ok(match classes {
        Some(classes) => {
            let (vc, codes) = encode_classes(col)?;
            let map: Vec<usize> = vc
                .iter()
                .map(|c| classes.iter().position(|x| x == c).unwrap_or(usize::MAX))
                .collect();
            (
                Some(codes.into_iter().map(|c| map[c]).collect::<Vec<_>>()),
                None,
            )
        }
        None => (None, Some(numeric_target(col)?)),
    })
}

/// The categories the fitted preprocessing knows, per categorical input (the bundle's
/// signature lists them).
fn categories(pre: &mlx_contracts::features::Preprocessor) -> BTreeMap<String, Vec<String>> {
    pre.inputs
        .iter()
        .filter(|i| i.kind == InputKind::Categorical)
        .filter_map(|i| {
            pre.steps
                .iter()
                .find(|s| s.column == i.name)
                .and_then(|s| match &s.state {
                    mlx_contracts::features::StepState::Onehot { categories }
                    | mlx_contracts::features::StepState::Ordinal { categories } => {
                        Some((i.name.clone(), categories.clone()))
                    }
                    mlx_contracts::features::StepState::Lookup { values, .. } => {
                        Some((i.name.clone(), values.keys().cloned().collect()))
                    }
                    _ => None,
                })
        })
        .collect()
}

/// The candidates of the config; a network's parameters carry the training loop's
/// settings (`training:`), so the run record shows them and every refit repeats them.
fn with_training_params(cfg: &Config, inputs: &[String]) -> Result<Vec<ModelSpec>> {
    cfg.models
        .iter()
        .map(|m| {
            Ok(ModelSpec {
                params: if crate::model::neural::is_network(m.model_type) {
                    crate::model::neural::with_training(
                        m.model_type,
                        &m.params,
                        &cfg.training,
                        inputs,
                    )
                    .map_err(|e| match e {
                        Error::Usage(msg) => {
                            Error::Usage(format!("model `{}`: {msg}", candidate_name(m)))
                        }
                        other => other,
                    })?
                } else {
                    m.params.clone()
                },
                ..m.clone()
            })
        })
        .collect::<Result<_>>()
}
