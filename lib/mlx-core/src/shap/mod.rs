//! `mlx-shap`: SHAP explanations with the exact algorithm the model allows — TreeSHAP
//! for mlx's forests and for XGBoost and LightGBM models (their trees read from the
//! bundle's model file), exact linear SHAP for linear and logistic models, and for the
//! rest exact Shapley values over every coalition (few features) or antithetic
//! permutation sampling — with additivity checked on every row, the global ranking,
//! SVG plots, and the shift against a baseline explanation.

pub mod kernel;
pub mod plots;
pub mod tree;

use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command};
use mlx_contracts::config::{Config, ShapMethod, ShapShiftPolicy};
use mlx_contracts::eval::Leaderboard;
use mlx_contracts::shap::{Importance, RankChange, ShapReport, ShapShift, SHAP_REPORT_VERSION};
use mlx_contracts::train::TrainReport;
use mlx_contracts::Status;
use mlx_data::polars::prelude::*;
use nalgebra::DMatrix;
use rand::seq::index::sample;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{write_creating, write_json};
use crate::model::bundle::Bundle;
use crate::model::FittedModel;
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
    fn args(&self, cmd: Command) -> Command {
        cmd.arg(
            Arg::new("run")
                .long("run")
                .value_name("RUN_ID")
                .help("Explain this run [default: the best of leaderboard.json]"),
        )
        .arg(
            Arg::new("baseline")
                .long("baseline")
                .value_name("SHAP_JSON|VERSION")
                .env("MLX_SHAP_BASELINE")
                .help("A shap.json to compare the importance profile with (SHAP shift)"),
        )
        .subcommand(explain_command())
    }
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        stage(
            &ctx.config.config,
            &ctx.workdir,
            args.get_one::<String>("run").map(String::as_str),
            args.get_one::<String>("baseline").map(Path::new),
        )
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        _config: &dyn Fn() -> Result<Option<crate::config::LoadedConfig>>,
        _workdir: &crate::workdir::Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        (name == "explain").then(|| explain_file(sub))
    }
}

/// How SHAP values relate to the model's prediction API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The values add up to the prediction.
    Identity,
    /// One margin; the prediction is its sigmoid (the second class's probability).
    Logistic,
    /// One margin per class; the prediction is their softmax.
    Softmax,
    /// The prediction is the exponential of the margin (Poisson, gamma, Tweedie).
    Exp,
}

impl Link {
    /// Applies the link to one row's outputs.
    pub fn apply(self, z: &[f64]) -> Vec<f64> {
        match self {
            Link::Identity => z.to_vec(),
            Link::Logistic => vec![1.0 / (1.0 + (-z[0]).exp())],
            Link::Exp => z.iter().map(|v| v.exp()).collect(),
            Link::Softmax => {
                let m = z.iter().copied().fold(f64::MIN, f64::max);
                let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|v| v / s).collect()
            }
        }
    }
}

/// An XGBoost or LightGBM model as mlx's own tree ensemble (margins) and the link from
/// margins to its predictions; `None` for other models.
pub fn booster_trees(
    model: &FittedModel,
    classes: usize,
) -> Result<Option<(tree::Ensemble, Link)>> {
    let ensemble = match model {
        FittedModel::Xgboost { json, .. } => tree::from_xgboost(json, classes)?,
        FittedModel::Lightgbm { text, .. } => tree::from_lightgbm(text, classes)?,
        _ => return Ok(None),
    };
    let link = match classes {
        2 => Link::Logistic,
        k if k > 2 => Link::Softmax,
        _ => {
            let o = booster_objective(model);
            if ["poisson", "gamma", "tweedie"]
                .iter()
                .any(|k| o.contains(k))
            {
                Link::Exp
            } else {
                Link::Identity
            }
        }
    };
    Ok(Some((ensemble, link)))
}

/// SHAP values of a set of rows.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// `tree`, `linear`, `kernel_exact` or `permutation`.
    pub method: &'static str,
    /// `margin`, `probability`, `value`, or `regression` (a forecaster's regression
    /// component `x β`).
    pub output_space: &'static str,
    /// How the values map to the prediction.
    pub link: Link,
    /// Outputs explained.
    pub outputs: usize,
    /// Features.
    pub features: usize,
    /// Expected output per output.
    pub base: Vec<f64>,
    /// `rows × features × outputs`, row-major (row, then feature, then output).
    pub values: Vec<f64>,
    /// Rows.
    pub rows: usize,
}

impl Explanation {
    /// Row `i`'s values.
    pub fn row(&self, i: usize) -> &[f64] {
        let w = self.features * self.outputs;
        &self.values[i * w..(i + 1) * w]
    }

    /// Base plus the values of row `i`, per output (the explained output).
    pub fn total(&self, i: usize) -> Vec<f64> {
        let r = self.row(i);
        (0..self.outputs)
            .map(|o| {
                self.base[o]
                    + (0..self.features)
                        .map(|f| r[f * self.outputs + o])
                        .sum::<f64>()
            })
            .collect()
    }

    /// Mean |SHAP| per feature, summed over outputs.
    pub fn mean_abs(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.features];
        for i in 0..self.rows {
            let r = self.row(i);
            for (f, v) in m.iter_mut().enumerate() {
                *v += (0..self.outputs)
                    .map(|o| r[f * self.outputs + o].abs())
                    .sum::<f64>();
            }
        }
        for v in &mut m {
            *v /= self.rows.max(1) as f64;
        }
        m
    }
}

/// The objective a booster's model file names, to pick the link.
fn booster_objective(model: &FittedModel) -> String {
    match model {
        FittedModel::Xgboost { json, .. } => serde_json::from_slice::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v["learner"]["objective"]["name"].as_str().map(String::from))
            .unwrap_or_default(),
        FittedModel::Lightgbm { text, .. } => String::from_utf8_lossy(text)
            .lines()
            .find_map(|l| l.strip_prefix("objective=").map(String::from))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Why a model has nothing SHAP could attribute its predictions to (a forecaster
/// without regressors), or `None`.
pub fn nothing_to_attribute(model: &FittedModel) -> Option<String> {
    match model {
        FittedModel::Direct(d) => nothing_to_attribute(&d.steps[0]),
        FittedModel::Forecast(f) if f.coefficients().is_none() => Some(format!(
            "{} has no regressors: its forecasts come from the series' own history, so \
             SHAP has no features to attribute them to",
            f.describe()
        )),
        _ => None,
    }
}

/// The algorithm for a model with `p` features: the one asked for, or with `auto` the
/// exact one the model allows.
pub fn choose_method(model: &FittedModel, p: usize, method: ShapMethod) -> Result<ShapMethod> {
    if let FittedModel::Direct(d) = model {
        return choose_method(&d.steps[0], p, method);
    }
    let is_tree = matches!(
        model,
        FittedModel::Forest(_)
            | FittedModel::Boosted(_)
            | FittedModel::Xgboost { .. }
            | FittedModel::Lightgbm { .. }
    );
    if let Some(why) = nothing_to_attribute(model) {
        return Err(Error::Usage(format!(
            "{why}; give it `exog` (SARIMAX), or explain another run with --run"
        )));
    }
    let is_linear = matches!(model, FittedModel::Linear(_) | FittedModel::Forecast(_));
    Ok(match method {
        ShapMethod::Auto if is_tree => ShapMethod::Tree,
        ShapMethod::Auto if is_linear => ShapMethod::Linear,
        ShapMethod::Auto if p <= kernel::MAX_EXACT_FEATURES => ShapMethod::Kernel,
        ShapMethod::Auto => ShapMethod::Permutation,
        ShapMethod::Tree if !is_tree => {
            return Err(Error::Usage(
                "`explain.method: tree` needs a tree model (decision_tree, random_forest, \
                 gradient_boosting, xgboost, lightgbm); use `auto`"
                    .into(),
            ))
        }
        ShapMethod::Linear if !is_linear => {
            return Err(Error::Usage(
                "`explain.method: linear` needs a linear or logistic model; use `auto`".into(),
            ))
        }
        other => other,
    })
}

/// The model evaluations per explained row of a model-agnostic method (0 for the
/// exact tree and linear algorithms): coalitions or permutation prefixes times the
/// background rows.
pub fn evaluations_per_row(
    method: ShapMethod,
    p: usize,
    background: usize,
    permutations: u32,
) -> u64 {
    let b = background as u64;
    match method {
        ShapMethod::Kernel => (1u64 << p.min(63)).saturating_mul(b),
        ShapMethod::Permutation => {
            (2 * u64::from(permutations.max(1)) * (p as u64 + 1)).saturating_mul(b)
        }
        _ => 0,
    }
}

/// One row's SHAP values and base values.
type PerRow<'a> = dyn Fn(&[f64]) -> Result<(Vec<f64>, Vec<f64>)> + Sync + 'a;

/// Explains the rows `x` of `model` (`classes`: 0 for values). `background` serves the linear and
/// model-agnostic methods; `method` may force one (`auto`: the exact one allowed).
pub fn explain(
    model: &FittedModel,
    classes: usize,
    x: &DMatrix<f64>,
    background: &DMatrix<f64>,
    method: ShapMethod,
    permutations: u32,
    seed: u64,
) -> Result<Explanation> {
    if let FittedModel::Direct(d) = model {
        // The one-step model: the forecast of the next row.
        return explain(
            &d.steps[0],
            classes,
            x,
            background,
            method,
            permutations,
            seed,
        );
    }
    let p = x.ncols();
    let rows: Vec<Vec<f64>> = (0..x.nrows())
        .map(|i| x.row(i).iter().copied().collect())
        .collect();
    let chosen = choose_method(model, p, method)?;
    let collect = |each: &PerRow| -> Result<(Vec<f64>, Vec<f64>)> {
        let parts: Vec<(Vec<f64>, Vec<f64>)> =
            rows.par_iter().map(|r| each(r)).collect::<Result<_>>()?;
        let base = parts.first().map(|p| p.1.clone()).unwrap_or_default();
        Ok((parts.into_iter().flat_map(|p| p.0).collect(), base))
    };
    let (values, base, link, space, name) = match chosen {
        ShapMethod::Tree => {
            let (ensemble, link) = match model {
                FittedModel::Forest(f) => (tree::from_forest(f), Link::Identity),
                FittedModel::Boosted(b) => (tree::from_boosted(b), Link::Identity),
                _ => booster_trees(model, classes)?.expect("a tree model"),
            };
            let base = ensemble.expected();
            let values: Vec<f64> = ensemble.shap_rows(&rows, p).concat();
            let space = if matches!(model, FittedModel::Forest(_)) {
                if classes > 0 {
                    "probability"
                } else {
                    "value"
                }
            } else if link == Link::Identity {
                "value"
            } else {
                "margin"
            };
            (values, base, link, space, "tree")
        }
        ShapMethod::Linear if matches!(model, FittedModel::Forecast(_)) => {
            // A regression with ARIMA errors forecasts `x β` plus the errors' forecast,
            // which comes from the history, not from the row: the regressors' SHAP
            // values are `β_j (x_j − E[x_j])`, and the explained output is the regression
            // component `x β`.
            let (cols, beta) = forecast_coefficients(model);
            let mean: Vec<f64> = (0..p).map(|j| background.column(j).mean()).collect();
            let base = cols
                .iter()
                .zip(beta)
                .map(|(&j, b)| b * mean[j])
                .sum::<f64>();
            let values: Vec<f64> = rows
                .iter()
                .flat_map(|r| {
                    let mut phi = vec![0.0; p];
                    for (&j, b) in cols.iter().zip(beta) {
                        phi[j] = b * (r[j] - mean[j]);
                    }
                    phi
                })
                .collect();
            (values, vec![base], Link::Identity, "regression", "linear")
        }
        ShapMethod::Linear => {
            let FittedModel::Linear(m) = model else {
                unreachable!("a linear model")
            };
            let mean: Vec<f64> = (0..p).map(|j| background.column(j).mean()).collect();
            let (values, base) = collect(&|r| Ok(kernel::linear(m, r, &mean)))?;
            let link = match (classes, base.len()) {
                (0, _) => Link::Identity,
                (_, 1) => Link::Logistic,
                _ => Link::Softmax,
            };
            let space = if classes > 0 { "margin" } else { "value" };
            (values, base, link, space, "linear")
        }
        ShapMethod::Kernel | ShapMethod::Permutation | ShapMethod::Auto => {
            if background.nrows() == 0 {
                return Err(Error::Usage(
                    "SHAP needs background rows; none were given".into(),
                ));
            }
            let f = |m: &DMatrix<f64>| model.predict(m);
            let exact = chosen == ShapMethod::Kernel;
            if exact && p > kernel::MAX_EXACT_FEATURES {
                return Err(Error::Usage(format!(
                    "`explain.method: kernel` enumerates every coalition, up to {} features; \
                     the model has {p}: use `permutation` (or `auto`)",
                    kernel::MAX_EXACT_FEATURES
                )));
            }
            let (values, base) = collect(&|r| {
                if exact {
                    kernel::exact(&f, r, background)
                } else {
                    kernel::permutation(&f, r, background, permutations as usize, seed)
                }
            })?;
            let space = if classes > 0 { "probability" } else { "value" };
            (
                values,
                base,
                Link::Identity,
                space,
                if exact { "kernel_exact" } else { "permutation" },
            )
        }
    };
    let outputs = base.len();
    Ok(Explanation {
        method: name,
        output_space: space,
        link,
        outputs,
        features: p,
        base,
        values,
        rows: rows.len(),
    })
}

/// The largest |link(base + Σφ) − prediction| over rows and outputs. A binary model
/// explained in margin space is compared with its second class's probability.
pub fn additivity_error(e: &Explanation, model: &FittedModel, x: &DMatrix<f64>) -> Result<f64> {
    if let FittedModel::Direct(d) = model {
        return additivity_error(e, &d.steps[0], x);
    }
    let pred = match model {
        FittedModel::Forecast(_) => {
            let (cols, beta) = forecast_coefficients(model);
            DMatrix::from_fn(x.nrows(), 1, |i, _| {
                cols.iter().zip(beta).map(|(&j, b)| b * x[(i, j)]).sum()
            })
        }
        _ => model.predict(x)?,
    };
    let mut worst: f64 = 0.0;
    for i in 0..e.rows {
        let got = e.link.apply(&e.total(i));
        let want: Vec<f64> = match (e.link, pred.ncols(), got.len()) {
            (Link::Logistic, 2, 1) => vec![pred[(i, 1)]],
            _ => pred.row(i).iter().copied().collect(),
        };
        if want.len() != got.len() {
            return Err(Error::Runtime(format!(
                "SHAP explained {} outputs, the model predicts {}",
                got.len(),
                want.len()
            )));
        }
        for (g, w) in got.iter().zip(&want) {
            worst = worst.max((g - w).abs());
        }
    }
    Ok(worst)
}

/// A forecaster's regressor columns and coefficients ([`choose_method`] refuses one
/// without them).
fn forecast_coefficients(model: &FittedModel) -> (&[usize], &[f64]) {
    match model {
        FittedModel::Forecast(f) => f.coefficients().unwrap_or((&[], &[])),
        _ => (&[], &[]),
    }
}

/// The additivity tolerance: boosters predict in single precision.
fn tolerance(model: &FittedModel) -> f64 {
    match model {
        FittedModel::Direct(d) => tolerance(&d.steps[0]),
        FittedModel::Xgboost { .. } | FittedModel::Lightgbm { .. } => 1e-4,
        _ => 1e-6,
    }
}

/// Ranks features by mean |SHAP| (largest first; ties by feature order).
pub fn importance(features: &[String], mean_abs: &[f64]) -> Vec<Importance> {
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by(|&a, &b| mean_abs[b].total_cmp(&mean_abs[a]).then(a.cmp(&b)));
    order
        .iter()
        .enumerate()
        .map(|(r, &f)| Importance {
            feature: features[f].clone(),
            mean_abs: mean_abs[f],
            rank: r as u32 + 1,
        })
        .collect()
}

/// Average ranks (ties share the mean rank), as scipy's `rankdata`.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[order[k]] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation (Pearson's on average ranks; 0 when either is constant).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb) * (y - mb)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// Compares an importance profile with a baseline's, over the union of features (a
/// feature one side lacks has importance 0 there).
pub fn shift(
    now: &[Importance],
    baseline: &[Importance],
    baseline_name: &str,
    policy: &ShapShiftPolicy,
    top_k: usize,
) -> ShapShift {
    let mut names: Vec<String> = baseline.iter().map(|i| i.feature.clone()).collect();
    for i in now {
        if !names.contains(&i.feature) {
            names.push(i.feature.clone());
        }
    }
    let get = |list: &[Importance], f: &str| {
        list.iter()
            .find(|i| i.feature == f)
            .map_or(0.0, |i| i.mean_abs)
    };
    let a: Vec<f64> = names.iter().map(|f| get(now, f)).collect();
    let b: Vec<f64> = names.iter().map(|f| get(baseline, f)).collect();
    let norm = |v: &[f64]| {
        let s: f64 = v.iter().sum();
        v.iter()
            .map(|x| if s > 0.0 { x / s } else { 0.0 })
            .collect::<Vec<_>>()
    };
    let l1: f64 = norm(&a)
        .iter()
        .zip(norm(&b))
        .map(|(x, y)| (x - y).abs())
        .sum();
    let rho = spearman(&a, &b);
    let rank_changes: Vec<RankChange> = baseline
        .iter()
        .take(policy.top_features as usize)
        .map(|i| RankChange {
            feature: i.feature.clone(),
            baseline_rank: i.rank,
            rank: now.iter().find(|n| n.feature == i.feature).map(|n| n.rank),
        })
        .collect();
    let mut reasons = Vec::new();
    if rho < policy.min_spearman {
        reasons.push(format!(
            "Spearman correlation of the importances {rho:.3} is below {}",
            policy.min_spearman
        ));
    }
    if l1 > policy.max_l1 {
        reasons.push(format!(
            "L1 distance of the normalised importances {l1:.3} is above {}",
            policy.max_l1
        ));
    }
    for c in &rank_changes {
        if c.rank.is_none_or(|r| r as usize > top_k) {
            reasons.push(format!(
                "`{}` was #{} and is now {}",
                c.feature,
                c.baseline_rank,
                c.rank.map_or("gone".to_string(), |r| format!(
                    "#{r}, out of the top {top_k}"
                ))
            ));
        }
    }
    ShapShift {
        baseline: baseline_name.to_string(),
        spearman: rho,
        l1_distance: l1,
        rank_changes,
        flagged: !reasons.is_empty(),
        reasons,
    }
}

/// Up to `n` of `rows` row indices, a seeded sample kept in order.
pub(crate) fn sample_rows(rows: usize, n: usize, seed: u64) -> Vec<usize> {
    if rows <= n {
        return (0..rows).collect();
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut idx = sample(&mut rng, rows, n).into_vec();
    idx.sort_unstable();
    idx
}

pub(crate) fn take(df: &DataFrame, idx: &[usize]) -> Result<DataFrame> {
    let ca = IdxCa::from_vec("idx".into(), idx.iter().map(|&i| i as IdxSize).collect());
    df.take(&ca).map_err(|e| Error::Runtime(e.to_string()))
}

/// The per-row values as a frame: `row`, `output`, one column per feature,
/// `base_value` and `model_output` (base + Σ values).
fn values_frame(e: &Explanation, features: &[String], outputs: &[String]) -> Result<DataFrame> {
    let n = e.rows * e.outputs;
    let mut cols: Vec<Column> = vec![
        Column::new(
            "row".into(),
            (0..n).map(|k| (k / e.outputs) as u32).collect::<Vec<_>>(),
        ),
        Column::new(
            "output".into(),
            (0..n)
                .map(|k| outputs[k % e.outputs].clone())
                .collect::<Vec<_>>(),
        ),
    ];
    for (f, name) in features.iter().enumerate() {
        cols.push(Column::new(
            name.as_str().into(),
            (0..n)
                .map(|k| e.row(k / e.outputs)[f * e.outputs + k % e.outputs])
                .collect::<Vec<f64>>(),
        ));
    }
    cols.push(Column::new(
        "base_value".into(),
        (0..n).map(|k| e.base[k % e.outputs]).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "model_output".into(),
        (0..n)
            .map(|k| e.total(k / e.outputs)[k % e.outputs])
            .collect::<Vec<_>>(),
    ));
    DataFrame::new_infer_height(cols).map_err(|e| Error::Runtime(e.to_string()))
}

/// The explained outputs' names.
fn output_names(classes: Option<&[String]>, e: &Explanation) -> Vec<String> {
    match classes {
        Some(c) if e.outputs == c.len() => c.to_vec(),
        Some(c) if e.outputs == 1 && c.len() == 2 => vec![c[1].clone()],
        _ => vec!["prediction".to_string()],
    }
}

/// Explains one bundle on `rows` with `background` rows and writes its files under
/// `dir` (the values, the plots); returns the report (paths relative to `rel`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn explain_bundle(
    bundle: &Bundle,
    rows: &DataFrame,
    background: &DataFrame,
    cfg: &mlx_contracts::config::Explain,
    seed: u64,
    dir: &Path,
    rel: &str,
    run_id: &str,
) -> Result<(ShapReport, Vec<PathBuf>)> {
    let (mut x, features) = bundle.matrix_named(rows)?;
    let mut bg = bundle.matrix(background)?;
    let classes = bundle.manifest.classes.as_ref().map_or(0, Vec::len);
    // Model-agnostic methods evaluate the model per coalition and background row: keep
    // the total within `explain.max_evaluations` by explaining fewer rows (and, when one
    // row alone exceeds it, with fewer background rows). The rows are a random sample
    // already, so the first ones are kept.
    let method = choose_method(&bundle.model, x.ncols(), cfg.method)?;
    let budget = cfg.max_evaluations.max(1);
    let mut per_row = evaluations_per_row(method, x.ncols(), bg.nrows(), cfg.permutations);
    if per_row > budget && bg.nrows() > 1 {
        let keep = ((budget * bg.nrows() as u64) / per_row).max(1) as usize;
        tracing::warn!(
            "SHAP: {} background rows instead of {} (explain.max_evaluations)",
            keep,
            bg.nrows()
        );
        bg = bg.rows(0, keep).into_owned();
        per_row = evaluations_per_row(method, x.ncols(), bg.nrows(), cfg.permutations);
    }
    if per_row > 0 && per_row * x.nrows() as u64 > budget {
        let keep = (budget / per_row).max(1) as usize;
        tracing::warn!(
            "SHAP: {} rows explained instead of {} (explain.max_evaluations)",
            keep,
            x.nrows()
        );
        x = x.rows(0, keep.min(x.nrows())).into_owned();
    }
    let e = explain(
        &bundle.model,
        classes,
        &x,
        &bg,
        cfg.method,
        cfg.permutations,
        seed,
    )?;
    let err = additivity_error(&e, &bundle.model, &x)?;
    let tol = tolerance(&bundle.model);
    if err > tol {
        return Err(Error::Runtime(format!(
            "SHAP values do not add up to the model's output: off by {err:.3e} (more than \
             {tol:e}); this is a bug in mlx, please report it with the bundle"
        )));
    }
    let outputs = output_names(bundle.manifest.classes.as_deref(), &e);
    let mut written = Vec::new();
    std::fs::create_dir_all(dir).with_path("creating", dir)?;
    let values_path = dir.join("shap_values.parquet");
    let mut frame = values_frame(&e, &features, &outputs)?;
    crate::workdir::write_parquet(&values_path, &mut frame)?;
    written.push(values_path);
    let ranking = importance(&features, &e.mean_abs());
    let mut plot_files = Vec::new();
    let top_k = cfg.top_k.max(1) as usize;
    let row = (cfg.plot_row as usize).min(e.rows.saturating_sub(1));
    for (name, svg) in plots::all(&e, &x, &features, &outputs, &ranking, top_k, row) {
        let path = dir.join(format!("plots/shap_{name}.svg"));
        write_creating(&path, svg.as_bytes()).with_path("writing", &path)?;
        written.push(path);
        plot_files.push(format!("{rel}/plots/shap_{name}.svg"));
    }
    let report = ShapReport {
        schema_version: SHAP_REPORT_VERSION,
        run_id: run_id.to_string(),
        name: bundle.manifest.name.clone(),
        model_type: bundle.manifest.model_type,
        method: e.method.to_string(),
        output_space: e.output_space.to_string(),
        outputs,
        features,
        rows: e.rows as u64,
        background_rows: bg.nrows() as u64,
        base_values: e.base.clone(),
        additivity_max_error: err,
        importance: ranking,
        values_file: format!("{rel}/shap_values.parquet"),
        plots: plot_files,
        shift: None,
    };
    Ok((report, written))
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
        None => {
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
                .ok_or_else(|| Error::Usage("leaderboard.json ranks no runs".into()))?
        }
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
        let base = if b.exists() {
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
        };
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

fn explain_command() -> Command {
    Command::new("explain")
        .about("Explain the rows of a data file with a bundle, without a config")
        .after_help(
            "Examples:
  mlx-shap explain --bundle .mlx/runs/xgboost-3f2a/bundle --data rows.parquet
  mlx-shap explain --bundle model.tar --data new.csv --background train.csv --out shap/ --json

Exit codes: 0 explained, 2 a missing file or bad flag, 3 unreadable input.",
        )
        .arg(
            Arg::new("bundle")
                .long("bundle")
                .value_name("PATH")
                .required(true)
                .help("A bundle directory or packed bundle"),
        )
        .arg(
            Arg::new("data")
                .long("data")
                .value_name("FILE")
                .required(true)
                .help("Rows to explain (CSV, Parquet, JSON) with the bundle's input columns"),
        )
        .arg(
            Arg::new("background")
                .long("background")
                .value_name("FILE")
                .help("Background rows for linear and model-agnostic SHAP [default: --data]"),
        )
        .arg(
            Arg::new("method")
                .long("method")
                .value_parser(["auto", "tree", "linear", "kernel", "permutation"])
                .default_value("auto"),
        )
        .arg(
            Arg::new("max-rows")
                .long("max-rows")
                .value_parser(clap::value_parser!(u32).range(1..))
                .default_value("1000")
                .help("Explain at most this many rows (a seeded sample)"),
        )
        .arg(
            Arg::new("out")
                .long("out")
                .value_name("DIR")
                .default_value("shap")
                .help("Where shap.json, shap_values.parquet and the plots go"),
        )
}

/// `mlx-shap explain`.
fn explain_file(args: &ArgMatches) -> Result<Standalone> {
    let get = |k: &str| args.get_one::<String>(k).cloned().unwrap_or_default();
    let existing = |k: &str| -> Result<PathBuf> {
        let p = PathBuf::from(get(k));
        if p.exists() {
            Ok(p)
        } else {
            Err(Error::Usage(format!("{} does not exist", p.display())))
        }
    };
    let bundle = Bundle::load(&existing("bundle")?)?;
    let data = mlx_data::read_table(&existing("data")?)?;
    let background = match args.get_one::<String>("background") {
        Some(_) => mlx_data::read_table(&existing("background")?)?,
        None => data.clone(),
    };
    let method = match get("method").as_str() {
        "tree" => ShapMethod::Tree,
        "linear" => ShapMethod::Linear,
        "kernel" => ShapMethod::Kernel,
        "permutation" => ShapMethod::Permutation,
        _ => ShapMethod::Auto,
    };
    let max_rows = args.get_one::<u32>("max-rows").copied().unwrap_or(1000) as usize;
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
    let out = PathBuf::from(get("out"));
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
