//! Explaining a fitted model: SHAP values with the exact algorithm the model allows —
//! TreeSHAP for mlx's forests and for XGBoost and LightGBM models, exact linear SHAP
//! for linear and logistic models, and for the rest exact Shapley values over every
//! coalition (few features) or antithetic permutation sampling — with additivity
//! checked, the global ranking, SVG plots, and the shift against a baseline. The
//! `shap` stage and the monitor both stand on it.

mod fast_tree;
pub mod kernel;
pub mod plots;
pub mod tree;

use std::path::{Path, PathBuf};

use mlx_contracts::config::{ShapMethod, ShapShiftPolicy};
use mlx_contracts::shap::{Importance, RankChange, ShapReport, ShapShift, SHAP_REPORT_VERSION};
use mlx_data::polars::prelude::*;
use nalgebra::DMatrix;
use rand::seq::index::sample;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_creating;
use crate::model::bundle::Bundle;
use crate::model::ensemble::{booster_trees, Link};
use crate::model::FittedModel;

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
                FittedModel::Forest(f) => (crate::model::ensemble::from_forest(f), Link::Identity),
                FittedModel::Boosted(b) => {
                    (crate::model::ensemble::from_boosted(b), Link::Identity)
                }
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
