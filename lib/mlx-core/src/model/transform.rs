//! Stateful transforms (`features.transforms`): fitted on the training rows, saved as a
//! [`Preprocessor`], applied to any batch (a Polars frame) or to one row (a JSON object).
//!
//! Both paths run the same step code over columns (a row is a batch of one), so a row
//! scored online gets bit-identical features to the batch path: training-serving skew
//! cannot come from here.

use std::collections::{BTreeMap, BTreeSet};

use mlx_contracts::config::{Config, TransformDef, TransformKind, TransformStrategy};
use mlx_contracts::features::{
    FittedStep, InputColumn, InputKind, Preprocessor, StepState, PREPROCESSOR_VERSION,
};
use mlx_data::polars::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Error, Result};

/// Values of one working column: numbers (missing = NaN) or categories.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Numbers; a missing value is NaN.
    Num(Vec<f64>),
    /// Categories; a missing value is `None`.
    Cat(Vec<Option<String>>),
}

/// Unseen categories met while transforming, per column (they go to the unknown bucket).
pub type Unknowns = BTreeMap<String, u64>;

/// Working columns in order.
#[derive(Debug, Clone, Default)]
struct Frame {
    cols: Vec<(String, Values)>,
}

impl Frame {
    fn position(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|(n, _)| n == name)
    }
}

/// The model inputs of `df`: every column but the excluded ones; numbers and booleans
/// are numeric, text and categoricals categorical. Dates must be turned into features
/// (or excluded) first.
pub fn input_columns(df: &DataFrame, exclude: &BTreeSet<&str>) -> Result<Vec<InputColumn>> {
    let mut out = Vec::new();
    for c in df.columns() {
        let name = c.name().to_string();
        if exclude.contains(name.as_str()) {
            continue;
        }
        let dtype = c.dtype();
        let kind = if dtype.is_primitive_numeric() || dtype.is_bool() {
            InputKind::Numeric
        } else if matches!(dtype, DataType::String | DataType::Categorical(_, _)) {
            InputKind::Categorical
        } else {
            return Err(Error::Usage(format!(
                "column `{name}` is {dtype}, which a model cannot read; derive features from it \
                 (`calendar`, `cyclical`) and list it in `features.exclude`"
            )));
        };
        out.push(InputColumn { name, kind });
    }
    Ok(out)
}

fn read_frame(df: &DataFrame, inputs: &[InputColumn]) -> Result<Frame> {
    let polars = |e: PolarsError| Error::Runtime(format!("reading model inputs: {e}"));
    let mut cols = Vec::with_capacity(inputs.len());
    for input in inputs {
        let c = df.column(input.name.as_str()).map_err(|_| {
            Error::Usage(format!(
                "the data has no column `{}`, which the preprocessing was fitted with",
                input.name
            ))
        })?;
        let values = match input.kind {
            InputKind::Numeric => {
                let s = c.cast(&DataType::Float64).map_err(polars)?;
                Values::Num(
                    s.f64()
                        .map_err(polars)?
                        .iter()
                        .map(|v| v.unwrap_or(f64::NAN))
                        .collect(),
                )
            }
            InputKind::Categorical => {
                let s = c.cast(&DataType::String).map_err(polars)?;
                Values::Cat(
                    s.str()
                        .map_err(polars)?
                        .iter()
                        .map(|v| v.map(str::to_owned))
                        .collect(),
                )
            }
        };
        cols.push((input.name.clone(), values));
    }
    Ok(Frame { cols })
}

/// A number given as text in a request (`"42"`, `" 1.5e3 "`): only finite values, as
/// JSON itself has no infinities or NaN (`"inf"`, `"-Infinity"`, `"NaN"` and `"1e400"`,
/// which overflows, are refused like the JSON literals would be).
pub fn parse_finite(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Why text that [`parse_finite`] refused is not a number.
pub fn not_a_number(s: &str) -> String {
    if s.trim().parse::<f64>().is_ok() {
        format!("must be a finite number, got \"{s}\" (infinities, NaN and overflowing values are refused)")
    } else {
        format!("must be a number, got \"{s}\"")
    }
}

/// Reads one JSON row as a one-row frame, exactly as [`read_frame`] reads a batch.
fn read_row(
    row: &serde_json::Map<String, serde_json::Value>,
    inputs: &[InputColumn],
) -> Result<Frame> {
    use serde_json::Value as J;
    let mut cols = Vec::with_capacity(inputs.len());
    for input in inputs {
        let v = row.get(&input.name).unwrap_or(&J::Null);
        let values = match input.kind {
            InputKind::Numeric => Values::Num(vec![match v {
                J::Null => f64::NAN,
                J::Bool(b) => f64::from(u8::from(*b)),
                J::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                J::String(s) => parse_finite(s)
                    .ok_or_else(|| Error::Usage(format!("`{}` {}", input.name, not_a_number(s))))?,
                other => {
                    return Err(Error::Usage(format!(
                        "`{}` must be a number, got {other}",
                        input.name
                    )))
                }
            }]),
            InputKind::Categorical => Values::Cat(vec![match v {
                J::Null => None,
                J::String(s) => Some(s.clone()),
                J::Bool(b) => Some(b.to_string()),
                J::Number(n) => Some(n.to_string()),
                other => {
                    return Err(Error::Usage(format!(
                        "`{}` must be text, got {other}",
                        input.name
                    )))
                }
            }]),
        };
        cols.push((input.name.clone(), values));
    }
    Ok(Frame { cols })
}

/// The target as numbers for target encoding: numeric targets as they are, a two-class
/// target as 0/1 (the second class in sorted order is 1, as scikit-learn).
pub fn encode_target(c: &Column) -> Result<Vec<f64>> {
    let name = c.name().to_string();
    let polars = |e: PolarsError| Error::Runtime(format!("reading target `{name}`: {e}"));
    let values: Vec<f64> = if c.dtype().is_primitive_numeric() || c.dtype().is_bool() {
        let s = c.cast(&DataType::Float64).map_err(polars)?;
        s.f64()
            .map_err(polars)?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    } else {
        let s = c.cast(&DataType::String).map_err(polars)?;
        let ca = s.str().map_err(polars)?;
        let classes: BTreeSet<&str> = ca.iter().flatten().collect();
        if classes.len() > 2 {
            return Err(Error::Usage(format!(
                "target encoding needs a numeric or two-class target, but `{name}` has {} \
                 classes; use `onehot` or `frequency` encoding",
                classes.len()
            )));
        }
        let positive = classes.iter().nth(1).copied();
        ca.iter()
            .map(|v| match v {
                None => f64::NAN,
                Some(v) => f64::from(u8::from(Some(v) == positive)),
            })
            .collect()
    };
    if let Some(i) = values.iter().position(|v| v.is_nan()) {
        return Err(Error::Usage(format!(
            "the target `{name}` is missing on row {i} of the training rows; drop or fill those \
             rows before training"
        )));
    }
    Ok(values)
}

// --- fitting ---------------------------------------------------------------------------

fn finite(v: &[f64]) -> Vec<f64> {
    let mut x: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    x.sort_by(f64::total_cmp);
    x
}

fn mean(v: &[f64]) -> f64 {
    let x: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    mlx_stats::sum::np_sum(&x) / x.len() as f64
}

fn fit_state(
    strategy: TransformStrategy,
    def: &TransformDef,
    column: &str,
    values: &Values,
    y: Option<&[f64]>,
) -> Result<StepState> {
    let empty = |what: &str| {
        Error::Usage(format!(
            "cannot fit `{}` on `{column}`: {what}",
            strategy.as_str()
        ))
    };
    Ok(match (strategy, values) {
        (TransformStrategy::Minmax, Values::Num(v)) => {
            let x = finite(v);
            let (Some(lo), Some(hi)) = (x.first(), x.last()) else {
                return Err(empty("every training value is missing"));
            };
            let range = hi - lo;
            StepState::Scale {
                center: *lo,
                scale: if range == 0.0 { 1.0 } else { range },
            }
        }
        (TransformStrategy::Zscore, Values::Num(v)) => {
            let x = finite(v);
            if x.is_empty() {
                return Err(empty("every training value is missing"));
            }
            let std = mlx_stats::wasserstein::std_population(&x);
            StepState::Scale {
                center: mean(&x),
                scale: if std == 0.0 { 1.0 } else { std },
            }
        }
        (TransformStrategy::Robust, Values::Num(v)) => {
            let x = finite(v);
            if x.is_empty() {
                return Err(empty("every training value is missing"));
            }
            let q = |p| mlx_stats::binning::quantile_sorted(&x, p);
            let iqr = q(0.75) - q(0.25);
            StepState::Scale {
                center: q(0.5),
                scale: if iqr == 0.0 { 1.0 } else { iqr },
            }
        }
        (TransformStrategy::Mean, Values::Num(v)) => {
            let x = finite(v);
            if x.is_empty() {
                return Err(empty("every training value is missing"));
            }
            StepState::FillNumber { value: mean(&x) }
        }
        (TransformStrategy::Median, Values::Num(v)) => {
            let x = finite(v);
            if x.is_empty() {
                return Err(empty("every training value is missing"));
            }
            StepState::FillNumber {
                value: mlx_stats::binning::quantile_sorted(&x, 0.5),
            }
        }
        (TransformStrategy::Mode, Values::Num(v)) => {
            let x = finite(v);
            // The most frequent value, the smallest on ties (scikit-learn).
            let mut best: Option<(usize, f64)> = None;
            for chunk in x.chunk_by(|a, b| a == b) {
                if best.is_none_or(|(n, _)| chunk.len() > n) {
                    best = Some((chunk.len(), chunk[0]));
                }
            }
            let (_, value) = best.ok_or_else(|| empty("every training value is missing"))?;
            StepState::FillNumber { value }
        }
        (TransformStrategy::Mode, Values::Cat(v)) => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for s in v.iter().flatten() {
                *counts.entry(s).or_default() += 1;
            }
            let mut best: Option<(usize, &str)> = None;
            for (s, n) in counts {
                if best.is_none_or(|(b, _)| n > b) {
                    best = Some((n, s));
                }
            }
            let (_, value) = best.ok_or_else(|| empty("every training value is missing"))?;
            StepState::FillCategory {
                value: value.to_string(),
            }
        }
        (TransformStrategy::Constant, values) => {
            let text = def.fill_value.clone().unwrap_or_default();
            match values {
                Values::Num(_) => StepState::FillNumber {
                    value: text.trim().parse().map_err(|_| {
                        Error::Usage(format!(
                            "`fill_value: {text}` is not a number, but `{column}` is numeric"
                        ))
                    })?,
                },
                Values::Cat(_) => StepState::FillCategory { value: text },
            }
        }
        (TransformStrategy::Ffill, Values::Num(v)) => StepState::ForwardFill {
            last: v.iter().rev().copied().find(|x| !x.is_nan()),
        },
        (TransformStrategy::Onehot | TransformStrategy::Ordinal, Values::Cat(v)) => {
            let categories: Vec<String> = v
                .iter()
                .flatten()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .cloned()
                .collect();
            if strategy == TransformStrategy::Onehot {
                StepState::Onehot { categories }
            } else {
                StepState::Ordinal { categories }
            }
        }
        (TransformStrategy::Frequency, Values::Cat(v)) => {
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            let mut n = 0u64;
            for s in v.iter().flatten() {
                *counts.entry(s.clone()).or_default() += 1;
                n += 1;
            }
            StepState::Lookup {
                values: counts
                    .into_iter()
                    .map(|(k, c)| (k, c as f64 / n as f64))
                    .collect(),
                default: 0.0,
            }
        }
        (TransformStrategy::Target, Values::Cat(v)) => {
            let y = y.ok_or_else(|| {
                Error::Usage(format!("target encoding of `{column}` needs `data.target`"))
            })?;
            target_encoding(v, y, smoothing(def)?)
        }
        (s, Values::Num(_)) => {
            return Err(Error::Usage(format!(
                "`{}` applies to text columns, but `{column}` is numeric; remove it from \
                 `columns` or use a `scale`/`impute` strategy",
                s.as_str()
            )))
        }
        (s, Values::Cat(_)) => {
            return Err(Error::Usage(format!(
                "`{}` applies to numeric columns, but `{column}` is text; encode it first \
                 (an `encode` transform listed before this one)",
                s.as_str()
            )))
        }
    })
}

/// `None` is scikit-learn's `smooth="auto"`.
fn smoothing(def: &TransformDef) -> Result<Option<f64>> {
    match def.smooth.as_deref().map(str::trim) {
        None | Some("auto") => Ok(None),
        Some(t) => match t.parse::<f64>() {
            Ok(v) if v >= 0.0 => Ok(Some(v)),
            _ => Err(Error::Usage(format!(
                "`smooth: {t}` must be `auto` or a number of at least 0"
            ))),
        },
    }
}

/// scikit-learn's `TargetEncoder` encodings (binary or continuous target): with a
/// fixed `smooth` m, `(sum + m * mean) / (n + m)`; with `auto`, the empirical-Bayes
/// blend `λ * mean_c + (1 - λ) * mean` with `λ = v n / (v n + ss_c / n)`.
fn target_encoding(v: &[Option<String>], y: &[f64], smooth: Option<f64>) -> StepState {
    let y_mean = mlx_stats::sum::np_sum(y) / y.len() as f64;
    let mut groups: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (c, &t) in v.iter().zip(y) {
        if let Some(c) = c {
            groups.entry(c).or_default().push(t);
        }
    }
    let values = match smooth {
        Some(m) => groups
            .into_iter()
            .map(|(c, ys)| {
                let mut sum = m * y_mean;
                for t in &ys {
                    sum += t;
                }
                let count = m + ys.len() as f64;
                let enc = if count == 0.0 { y_mean } else { sum / count };
                (c.to_string(), enc)
            })
            .collect(),
        None => {
            let y_var = {
                let d: Vec<f64> = y.iter().map(|t| (t - y_mean) * (t - y_mean)).collect();
                mlx_stats::sum::np_sum(&d) / y.len() as f64
            };
            groups
                .into_iter()
                .map(|(c, ys)| {
                    let n = ys.len() as f64;
                    let mut m = 0.0;
                    for t in &ys {
                        m += t;
                    }
                    m /= n;
                    let mut ss = 0.0;
                    for t in &ys {
                        ss += (t - m) * (t - m);
                    }
                    let lambda = y_var * n / (y_var * n + ss / n);
                    let enc = if lambda.is_nan() {
                        y_mean
                    } else {
                        lambda * m + (1.0 - lambda) * y_mean
                    };
                    (c.to_string(), enc)
                })
                .collect()
        }
    };
    StepState::Lookup {
        values,
        default: y_mean,
    }
}

// --- applying --------------------------------------------------------------------------

/// Output column names of a step over `column`.
fn step_outputs(column: &str, state: &StepState) -> Vec<String> {
    match state {
        StepState::Onehot { categories } => categories
            .iter()
            .map(|c| format!("{column}_{c}"))
            .chain(std::iter::once(format!("{column}__unknown")))
            .collect(),
        _ => vec![column.to_string()],
    }
}

/// Applies one fitted step to a working column; returns the new column(s).
fn apply_state(state: &StepState, values: Values, unknown: &mut u64) -> Vec<Values> {
    match (state, values) {
        (StepState::Scale { center, scale }, Values::Num(mut v)) => {
            for x in &mut v {
                *x = (*x - center) / scale;
            }
            vec![Values::Num(v)]
        }
        (StepState::FillNumber { value }, Values::Num(mut v)) => {
            for x in &mut v {
                if x.is_nan() {
                    *x = *value;
                }
            }
            vec![Values::Num(v)]
        }
        (StepState::FillCategory { value }, Values::Cat(mut v)) => {
            for x in &mut v {
                if x.is_none() {
                    *x = Some(value.clone());
                }
            }
            vec![Values::Cat(v)]
        }
        (StepState::ForwardFill { last }, Values::Num(mut v)) => {
            // Within a batch, the previous row's value; before any value, the last
            // training value.
            let mut prev = last.unwrap_or(f64::NAN);
            for x in &mut v {
                if x.is_nan() {
                    *x = prev;
                } else {
                    prev = *x;
                }
            }
            vec![Values::Num(v)]
        }
        (StepState::Onehot { categories }, Values::Cat(v)) => {
            let mut out = vec![vec![0.0; v.len()]; categories.len() + 1];
            for (i, x) in v.iter().enumerate() {
                if let Some(x) = x {
                    match categories.binary_search(x) {
                        Ok(k) => out[k][i] = 1.0,
                        Err(_) => {
                            out[categories.len()][i] = 1.0;
                            *unknown += 1;
                        }
                    }
                }
            }
            out.into_iter().map(Values::Num).collect()
        }
        (StepState::Ordinal { categories }, Values::Cat(v)) => vec![Values::Num(
            v.iter()
                .map(|x| match x {
                    None => f64::NAN,
                    Some(x) => match categories.binary_search(x) {
                        Ok(k) => k as f64,
                        Err(_) => {
                            *unknown += 1;
                            -1.0
                        }
                    },
                })
                .collect(),
        )],
        (StepState::Lookup { values, default }, Values::Cat(v)) => vec![Values::Num(
            v.iter()
                .map(|x| match x {
                    None => f64::NAN,
                    Some(x) => match values.get(x) {
                        Some(e) => *e,
                        None => {
                            *unknown += 1;
                            *default
                        }
                    },
                })
                .collect(),
        )],
        // The fitted state was made for this column's kind; a mismatch means the input
        // changed kind, caught by `read_frame`. Leave the column untouched.
        (_, values) => vec![values],
    }
}

fn apply_step(frame: &mut Frame, step: &FittedStep, unknowns: &mut Unknowns) -> Result<()> {
    let i = frame.position(&step.column).ok_or_else(|| {
        Error::Usage(format!(
            "`{}` is not a column at this step (an earlier encoding replaced it?)",
            step.column
        ))
    })?;
    let (_, values) = frame.cols.remove(i);
    let mut unknown = 0;
    let outputs = apply_state(&step.state, values, &mut unknown);
    if unknown > 0 {
        *unknowns.entry(step.column.clone()).or_default() += unknown;
    }
    for (k, (name, v)) in step_outputs(&step.column, &step.state)
        .into_iter()
        .zip(outputs)
        .enumerate()
    {
        frame.cols.insert(i + k, (name, v));
    }
    Ok(())
}

fn run(p: &Preprocessor, mut frame: Frame) -> Result<(Vec<Vec<f64>>, Unknowns)> {
    let mut unknowns = Unknowns::new();
    for step in &p.steps {
        apply_step(&mut frame, step, &mut unknowns)?;
    }
    let mut out = Vec::with_capacity(p.outputs.len());
    for name in &p.outputs {
        let i = frame
            .position(name)
            .ok_or_else(|| Error::Runtime(format!("the preprocessing lost column `{name}`")))?;
        match std::mem::replace(&mut frame.cols[i].1, Values::Num(Vec::new())) {
            Values::Num(v) => out.push(v),
            Values::Cat(_) => {
                return Err(Error::Runtime(format!(
                    "`{name}` is still text after preprocessing"
                )))
            }
        }
    }
    Ok((out, unknowns))
}

fn to_frame(names: &[String], cols: Vec<Vec<f64>>) -> Result<DataFrame> {
    let columns: Vec<Column> = names
        .iter()
        .zip(cols)
        .map(|(n, v)| Column::new(n.as_str().into(), v))
        .collect();
    DataFrame::new_infer_height(columns).map_err(|e| Error::Runtime(e.to_string()))
}

/// Applies a fitted preprocessor to a batch: the model matrix (Float64 columns named
/// `p.outputs`, missing values as NaN) and the unseen categories met.
pub fn transform(p: &Preprocessor, df: &DataFrame) -> Result<(DataFrame, Unknowns)> {
    let (cols, unknowns) = run(p, read_frame(df, &p.inputs)?)?;
    Ok((to_frame(&p.outputs, cols)?, unknowns))
}

/// Applies a fitted preprocessor to one row (as JSON): the same code as [`transform`]
/// on a batch of one, so the values are bit-identical.
pub fn transform_row(
    p: &Preprocessor,
    row: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Vec<f64>, Unknowns)> {
    let (cols, unknowns) = run(p, read_row(row, &p.inputs)?)?;
    Ok((cols.into_iter().map(|c| c[0]).collect(), unknowns))
}

/// Splits row indices `0..n` into `k` shuffled folds (for out-of-fold target encoding).
fn shuffled_folds(n: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(seed));
    kfold(n, k)
        .into_iter()
        .map(|test| test.into_iter().map(|i| idx[i]).collect())
        .collect()
}

/// The most categories a text column with no configured encoder may have to be one-hot
/// encoded by default.
pub const DEFAULT_ONEHOT_LIMIT: usize = 32;

/// Fits `defs` on the training rows `train` (with the target `y` when a target
/// encoding needs it) and returns the preprocessor, the training matrix, in which
/// target-encoded columns are out-of-fold (each row encoded by the other folds only),
/// and notes on what was done by default (text columns one-hot encoded).
pub fn fit(
    defs: &[TransformDef],
    train: &DataFrame,
    inputs: Vec<InputColumn>,
    y: Option<&[f64]>,
    seed: u64,
) -> Result<(Preprocessor, DataFrame, Vec<String>)> {
    let mut frame = read_frame(train, &inputs)?;
    let mut steps = Vec::new();
    for (d, def) in defs.iter().enumerate() {
        let strategy = def.strategy.unwrap_or(def.kind.default_strategy());
        if strategy.kind() != def.kind {
            return Err(Error::Usage(format!(
                "features.transforms[{d}]: `{}` is not a `{}` strategy",
                strategy.as_str(),
                def.kind.as_str()
            )));
        }
        let targets: Vec<String> = if def.columns.is_empty() {
            // Every column of the kind the strategy reads.
            let text = match strategy {
                TransformStrategy::Mode | TransformStrategy::Constant => None,
                _ => Some(def.kind == TransformKind::Encode),
            };
            frame
                .cols
                .iter()
                .filter(|(_, v)| match text {
                    None => true,
                    Some(t) => matches!(v, Values::Cat(_)) == t,
                })
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            def.columns.clone()
        };
        for column in targets {
            let i = frame.position(&column).ok_or_else(|| {
                let known: Vec<&str> = frame.cols.iter().map(|(n, _)| n.as_str()).collect();
                let hint = crate::config::did_you_mean(&column, known.iter().copied())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                Error::Usage(format!(
                    "features.transforms[{d}] names `{column}`, which is not a model input at \
                     this step; {hint}inputs: {}",
                    known.join(", ")
                ))
            })?;
            let state = fit_state(strategy, def, &column, &frame.cols[i].1, y)?;
            let step = FittedStep {
                column: column.clone(),
                strategy,
                state,
            };
            for out in step_outputs(&column, &step.state).iter().skip(1) {
                if frame.position(out).is_some() {
                    return Err(Error::Usage(format!(
                        "one-hot encoding `{column}` makes the column `{out}`, which already exists"
                    )));
                }
            }
            if strategy == TransformStrategy::Target {
                // Training rows are encoded out of fold, so no row sees its own target.
                let Values::Cat(values) = &frame.cols[i].1 else {
                    unreachable!("fit_state accepted a text column")
                };
                let encoded = out_of_fold_target(values, y.unwrap_or_default(), def, seed)?;
                frame.cols[i].1 = Values::Num(encoded);
            } else {
                apply_step(&mut frame, &step, &mut Unknowns::new())?;
            }
            steps.push(step);
        }
    }
    let notes = default_onehot(&mut frame, &mut steps)?;
    let outputs: Vec<String> = frame.cols.iter().map(|(n, _)| n.clone()).collect();
    let matrix: Vec<Vec<f64>> = frame
        .cols
        .into_iter()
        .map(|(_, v)| match v {
            Values::Num(v) => v,
            Values::Cat(_) => Vec::new(),
        })
        .collect();
    let p = Preprocessor {
        schema_version: PREPROCESSOR_VERSION,
        inputs,
        steps,
        outputs,
    };
    let df = to_frame(&p.outputs, matrix)?;
    Ok((p, df, notes))
}

/// A target encoding of the training rows out of fold: each row encoded by the other
/// folds only, so no row sees its own target.
fn out_of_fold_target(
    values: &[Option<String>],
    y: &[f64],
    def: &TransformDef,
    seed: u64,
) -> Result<Vec<f64>> {
    let mut encoded = vec![f64::NAN; values.len()];
    let k = def.folds.unwrap_or(5).max(2) as usize;
    let smooth = smoothing(def)?;
    let pick = |rows: &[usize]| -> Vec<Option<String>> {
        rows.iter().map(|&r| values[r].clone()).collect()
    };
    for fold in shuffled_folds(values.len(), k.min(values.len().max(1)), seed) {
        let mut in_fold = vec![false; values.len()];
        for &r in &fold {
            in_fold[r] = true;
        }
        let rest: Vec<usize> = (0..values.len()).filter(|&r| !in_fold[r]).collect();
        let ys: Vec<f64> = rest.iter().map(|&r| y[r]).collect();
        let state = target_encoding(&pick(&rest), &ys, smooth);
        let mut none = 0;
        let applied = apply_state(&state, Values::Cat(pick(&fold)), &mut none);
        if let Some(Values::Num(v)) = applied.into_iter().next() {
            for (&r, e) in fold.iter().zip(v) {
                encoded[r] = e;
            }
        }
    }
    Ok(encoded)
}

/// Text columns no transform encoded: one-hot when they have few categories (the
/// design documents' "encoding" row), with a note; otherwise the user must choose.
fn default_onehot(frame: &mut Frame, steps: &mut Vec<FittedStep>) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let mut too_many = Vec::new();
    let text: Vec<String> = frame
        .cols
        .iter()
        .filter(|(_, v)| matches!(v, Values::Cat(_)))
        .map(|(n, _)| n.clone())
        .collect();
    for column in text {
        let i = frame.position(&column).expect("listed above");
        let def = TransformDef {
            kind: TransformKind::Encode,
            strategy: Some(TransformStrategy::Onehot),
            columns: vec![column.clone()],
            ..TransformDef::default()
        };
        let state = fit_state(
            TransformStrategy::Onehot,
            &def,
            &column,
            &frame.cols[i].1,
            None,
        )?;
        let StepState::Onehot { categories } = &state else {
            unreachable!("a one-hot fit of a text column")
        };
        if categories.len() > DEFAULT_ONEHOT_LIMIT {
            too_many.push(format!("`{column}` ({} categories)", categories.len()));
            continue;
        }
        let step = FittedStep {
            column: column.clone(),
            strategy: TransformStrategy::Onehot,
            state,
        };
        let made = step_outputs(&column, &step.state);
        if let Some(out) = made.iter().skip(1).find(|o| frame.position(o).is_some()) {
            return Err(Error::Usage(format!(
                "one-hot encoding the text column `{column}` by default makes the column \
                 `{out}`, which already exists; configure its encoding in `features.transforms`"
            )));
        }
        notes.push(format!(
            "text column `{column}` has no encoder in `features.transforms`: one-hot encoded \
             by default into {} columns ({} categories and `{column}__unknown`)",
            made.len(),
            made.len() - 1
        ));
        apply_step(frame, &step, &mut Unknowns::new())?;
        steps.push(step);
    }
    if !too_many.is_empty() {
        return Err(Error::Usage(format!(
            "text columns {} have no encoder, and more categories than the {DEFAULT_ONEHOT_LIMIT} \
             a default one-hot encoding takes; add `{{kind: encode, strategy: target, columns: \
             [...]}}` (or `frequency`, `ordinal`, `onehot`) to `features.transforms`, or list \
             them in `features.exclude`",
            too_many.join(", ")
        )));
    }
    Ok(notes)
}

/// scikit-learn `KFold(k)`: test indices per fold, the first `n % k` folds one larger.
pub fn kfold(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for f in 0..k {
        let size = n / k + usize::from(f < n % k);
        out.push((start..start + size).collect());
        start += size;
    }
    out
}

/// Fits the configured transforms on the training rows `train` (every column but the
/// target, the time column, entity and group keys and `features.exclude` is an input).
/// Returns the preprocessor, the training matrix (target encodings out of fold) and
/// notes on what was done by default.
pub fn fit_preprocessor(
    cfg: &Config,
    train: &DataFrame,
    seed: u64,
) -> Result<(Preprocessor, DataFrame, Vec<String>)> {
    let f = &cfg.features;
    let mut exclude: BTreeSet<&str> = f.exclude.iter().map(String::as_str).collect();
    exclude.extend(cfg.data.target.as_deref());
    exclude.extend(cfg.data.time_column.as_deref());
    exclude.extend(cfg.data.entity_columns.iter().map(String::as_str));
    exclude.extend(cfg.data.group_column.as_deref());
    let inputs = input_columns(train, &exclude)?;
    let needs_target = f
        .transforms
        .iter()
        .any(|t| t.strategy == Some(TransformStrategy::Target));
    let y = match (&cfg.data.target, needs_target) {
        (Some(t), true) => Some(encode_target(
            train
                .column(t.as_str())
                .map_err(|e| Error::Runtime(e.to_string()))?,
        )?),
        (None, true) => {
            return Err(Error::Usage(
                "a `target` encoding needs `data.target`".into(),
            ))
        }
        _ => None,
    };
    fit(&f.transforms, train, inputs, y.as_deref(), seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: TransformKind, strategy: TransformStrategy, columns: &[&str]) -> TransformDef {
        TransformDef {
            kind,
            strategy: Some(strategy),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    fn frame() -> DataFrame {
        df!(
            "x" => [Some(1.0), None, Some(3.0), Some(10.0)],
            "plan" => [Some("basic"), Some("pro"), None, Some("basic")],
        )
        .unwrap()
    }

    fn values(df: &DataFrame, name: &str) -> Vec<f64> {
        df.column(name)
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    }

    fn inputs(df: &DataFrame) -> Vec<InputColumn> {
        input_columns(df, &BTreeSet::new()).unwrap()
    }

    #[test]
    fn fit_then_transform_hand_computed() {
        let df = frame();
        let defs = [
            def(TransformKind::Impute, TransformStrategy::Median, &["x"]),
            def(TransformKind::Scale, TransformStrategy::Minmax, &["x"]),
            def(TransformKind::Encode, TransformStrategy::Onehot, &["plan"]),
        ];
        let (p, m, _) = fit(&defs, &df, inputs(&df), None, 0).unwrap();
        assert_eq!(
            p.outputs,
            ["x", "plan_basic", "plan_pro", "plan__unknown"].map(String::from)
        );
        // median of 1, 3, 10 is 3; min 1, max 10.
        let x: Vec<f64> = values(&m, "x");
        assert_eq!(x, vec![0.0, 2.0 / 9.0, 2.0 / 9.0, 1.0]);
        let new = df!("x" => [Some(5.5)], "plan" => [Some("enterprise")]).unwrap();
        let (out, unknown) = transform(&p, &new).unwrap();
        assert_eq!(unknown.get("plan"), Some(&1));
        let row: Vec<f64> = out
            .get_row(0)
            .unwrap()
            .0
            .iter()
            .map(|v| v.extract::<f64>().unwrap())
            .collect();
        assert_eq!(row, vec![0.5, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn forward_fill_and_frequency_hand_computed() {
        let train = df!(
            "x" => [Some(1.0), None, Some(4.0), None],
            "c" => ["a", "b", "a", "a"],
        )
        .unwrap();
        let defs = [
            def(TransformKind::Impute, TransformStrategy::Ffill, &["x"]),
            def(TransformKind::Encode, TransformStrategy::Frequency, &["c"]),
        ];
        let (p, m, _) = fit(&defs, &train, inputs(&train), None, 0).unwrap();
        let x: Vec<f64> = values(&m, "x");
        assert_eq!(x, vec![1.0, 1.0, 4.0, 4.0]);
        let c: Vec<f64> = values(&m, "c");
        assert_eq!(c, vec![0.75, 0.25, 0.75, 0.75]);
        // A new batch starting with a gap takes the last training value; unseen is 0.
        let new = df!("x" => [None, Some(2.0), None], "c" => ["z", "b", "a"]).unwrap();
        let (out, unknown) = transform(&p, &new).unwrap();
        let x: Vec<f64> = values(&out, "x");
        assert_eq!(x, vec![4.0, 2.0, 2.0]);
        let c: Vec<f64> = values(&out, "c");
        assert_eq!(c, vec![0.0, 0.25, 0.75]);
        assert_eq!(unknown.get("c"), Some(&1));
    }

    #[test]
    fn text_without_an_encoder_is_one_hot_encoded_by_default_with_a_note() {
        let df = frame();
        let (p, m, notes) = fit(&[], &df, inputs(&df), None, 0).unwrap();
        assert_eq!(
            p.outputs,
            ["x", "plan_basic", "plan_pro", "plan__unknown"].map(String::from)
        );
        assert_eq!(values(&m, "plan_basic"), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(values(&m, "plan_pro"), vec![0.0, 1.0, 0.0, 0.0]);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("`plan`") && notes[0].contains("one-hot encoded by default"),
            "{notes:?}"
        );
        // The same as configuring it: the default is the configured one-hot encoding.
        let defs = [def(
            TransformKind::Encode,
            TransformStrategy::Onehot,
            &["plan"],
        )];
        let (q, _, none) = fit(&defs, &df, inputs(&df), None, 0).unwrap();
        assert_eq!((q, none), (p, vec![]));
    }

    #[test]
    fn text_with_many_categories_and_no_encoder_is_an_error_naming_it() {
        let ids: Vec<String> = (0..=DEFAULT_ONEHOT_LIMIT)
            .map(|i| format!("id{i}"))
            .collect();
        let df = df!("id" => ids).unwrap();
        let err = fit(&[], &df, inputs(&df), None, 0).unwrap_err().to_string();
        assert!(
            err.contains("`id` (33 categories)") && err.contains("features.exclude"),
            "{err}"
        );
    }

    #[test]
    fn out_of_fold_target_encoding_ignores_the_rows_own_target() {
        let df = df!("city" => ["a", "a", "a", "b", "b", "b", "a", "b"]).unwrap();
        let y = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
        let defs = [TransformDef {
            kind: TransformKind::Encode,
            strategy: Some(TransformStrategy::Target),
            smooth: Some("1".into()),
            folds: Some(4),
            ..Default::default()
        }];
        let (_, m1, _) = fit(&defs, &df, inputs(&df), Some(&y), 7).unwrap();
        // Flipping row 0's target changes its neighbours' encodings, never its own.
        let mut y2 = y;
        y2[0] = 0.0;
        let (_, m2, _) = fit(&defs, &df, inputs(&df), Some(&y2), 7).unwrap();
        let a = m1.column("city").unwrap().f64().unwrap().get(0);
        let b = m2.column("city").unwrap().f64().unwrap().get(0);
        assert_eq!(a, b);
        assert_ne!(m1.column("city").unwrap(), m2.column("city").unwrap());
    }

    #[test]
    fn a_row_and_a_batch_give_identical_bits() {
        let df = frame();
        let defs = [
            def(TransformKind::Impute, TransformStrategy::Mean, &["x"]),
            def(TransformKind::Scale, TransformStrategy::Zscore, &["x"]),
            def(
                TransformKind::Encode,
                TransformStrategy::Frequency,
                &["plan"],
            ),
        ];
        let (p, _, _) = fit(&defs, &df, inputs(&df), None, 0).unwrap();
        let (batch, _) = transform(&p, &df).unwrap();
        for r in 0..df.height() {
            let mut row = serde_json::Map::new();
            for c in df.columns() {
                let v = c.get(r).unwrap();
                row.insert(
                    c.name().to_string(),
                    match v {
                        AnyValue::Null => serde_json::Value::Null,
                        AnyValue::Float64(f) => serde_json::json!(f),
                        other => serde_json::json!(other.get_str().unwrap_or_default()),
                    },
                );
            }
            let (online, _) = transform_row(&p, &row).unwrap();
            for (k, v) in online.iter().enumerate() {
                let b = batch.columns()[k].f64().unwrap().get(r).unwrap();
                assert_eq!(v.to_bits(), b.to_bits(), "row {r} column {k}");
            }
        }
    }
}
