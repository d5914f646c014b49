//! Forecasting for `pipeline.problem_type: time_series`: the statistical models of
//! `mlx-stats` (ARIMA, SARIMAX, exponential smoothing, the baselines) as `mlx train`
//! candidates, and rolling-origin forecasts of held-out rows for every candidate
//! ([`rolling`]), regression models on lag features included.

pub mod rolling;

use std::collections::BTreeMap;

use mlx_contracts::config::{Config, FeatureKind, ForecastStrategy, ModelType, ParamValue};
use mlx_contracts::features::Preprocessor;
use mlx_data::polars::prelude::*;
use mlx_stats::{arima, baseline, ets};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{FittedModel, Params, Target};

pub use rolling::rolling;

/// Whether a family is a statistical forecaster (fitted on the series itself).
pub fn is_forecaster(model: ModelType) -> bool {
    matches!(
        model,
        ModelType::Arima | ModelType::Sarimax | ModelType::Ets | ModelType::SeasonalNaive
    )
}

/// Rows per season: `forecast.season`, else from the spacing of the time column.
pub fn season(cfg: &Config, df: &DataFrame) -> usize {
    if let Some(s) = cfg.forecast.season {
        return s.max(1) as usize;
    }
    let Some(step) = cfg
        .data
        .time_column
        .as_deref()
        .and_then(|t| median_step_ms(df, t))
    else {
        return 1;
    };
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    match step {
        s if s == HOUR => 24,
        s if s == DAY => 7,
        s if s == 7 * DAY => 52,
        s if (28 * DAY..=31 * DAY).contains(&s) => 12,
        s if (89 * DAY..=92 * DAY).contains(&s) => 4,
        _ => 1,
    }
}

/// A time series problem forecasts one series: refuses `data.entity_columns`.
pub fn one_series(cfg: &Config) -> Result<()> {
    if cfg.data.entity_columns.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "a time_series problem forecasts one series, and `data.entity_columns` makes one \
         per {}; remove `entity_columns` (select one series in the source, or aggregate), \
         or use `problem_type: regression`",
        cfg.data.entity_columns.join(", ")
    )))
}

/// The forecast horizon: `forecast.horizon`, else the season (1 without one).
pub fn horizon(cfg: &Config, season: usize) -> usize {
    cfg.forecast
        .horizon
        .map_or(season.max(1), |h| h.max(1) as usize)
}

/// The median spacing of a time column, in milliseconds.
fn median_step_ms(df: &DataFrame, time: &str) -> Option<i64> {
    median_step(&times_ms(df.column(time).ok()?)?)
}

/// The median positive spacing of times, in their unit.
fn median_step(ms: &[Option<i64>]) -> Option<i64> {
    let mut steps: Vec<i64> = ms
        .windows(2)
        .filter_map(|w| Some(w[1]? - w[0]?))
        .filter(|d| *d > 0)
        .collect();
    if steps.is_empty() {
        return None;
    }
    steps.sort_unstable();
    Some(steps[steps.len() / 2])
}

/// The derived features computed from the target's own history (lags, differences,
/// rolling and expanding windows of `data.target`): unknown beyond the forecast
/// origin, so multi-step forecasts recompute them.
pub fn target_features(cfg: &Config) -> Vec<String> {
    let Some(target) = cfg.data.target.as_deref() else {
        return Vec::new();
    };
    cfg.features
        .derived
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                FeatureKind::Lag
                    | FeatureKind::Diff
                    | FeatureKind::Rolling
                    | FeatureKind::Expanding
            ) && d.column.as_deref() == Some(target)
        })
        .map(|d| d.name.clone())
        .collect()
}

/// Direct multi-step forecasting: `steps[k]` forecasts `k + 1` rows ahead. It reads
/// the regressors of the row it forecasts and the target's features (lags, windows) of
/// the first row after the forecast origin, the last ones known there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Direct {
    /// One model per step ahead.
    pub steps: Vec<FittedModel>,
    /// The model-matrix columns computed from the target.
    pub target_columns: Vec<usize>,
}

impl Direct {
    /// Fits one model per step `1..=horizon` on the rows of `x` (consecutive, in time
    /// order): step `k` learns row `t` from row `t`'s regressors and row `t − k + 1`'s
    /// target features.
    pub fn fit(
        model: ModelType,
        params: &BTreeMap<String, ParamValue>,
        x: &DMatrix<f64>,
        y: &[f64],
        ctx: &Context,
        seed: u64,
    ) -> Result<Self> {
        let target_columns = ctx.target_columns();
        let n = x.nrows();
        let steps = (1..=ctx.horizon.max(1))
            .map(|k| {
                if n < k + 1 {
                    return Err(Error::Usage(format!(
                        "{n} training rows are too few for a direct {k}-step model"
                    )));
                }
                let xk = Self::shifted(x, &target_columns, k, k - 1..n);
                let m = crate::model::fit(
                    model,
                    params,
                    &xk,
                    Target::Values(&y[k - 1..]),
                    None,
                    seed.wrapping_add(k as u64),
                )?;
                Ok(m.model)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            steps,
            target_columns,
        })
    }

    /// Rows `rows` of `x`, their target columns taken from `k − 1` rows earlier.
    fn shifted(
        x: &DMatrix<f64>,
        target_columns: &[usize],
        k: usize,
        rows: std::ops::Range<usize>,
    ) -> DMatrix<f64> {
        let rows: Vec<usize> = rows.collect();
        DMatrix::from_fn(rows.len(), x.ncols(), |i, j| {
            let r = rows[i];
            if target_columns.contains(&j) {
                x[(r + 1 - k, j)]
            } else {
                x[(r, j)]
            }
        })
    }

    /// Forecasts rows `s..s + h` of `x` from the origin `s − 1`.
    pub fn forecast(&self, x: &DMatrix<f64>, s: usize, h: usize) -> Result<Vec<f64>> {
        (0..h)
            .map(|j| {
                let model = &self.steps[j.min(self.steps.len() - 1)];
                let row = DMatrix::from_fn(1, x.ncols(), |_, c| {
                    if self.target_columns.contains(&c) {
                        x[(s, c)]
                    } else {
                        x[(s + j, c)]
                    }
                });
                Ok(model.predict(&row)?[(0, 0)])
            })
            .collect()
    }
}

/// What a statistical forecaster is fitted with besides its parameters.
pub struct Context {
    /// Rows per season.
    pub season: usize,
    /// Rows ahead of each forecast.
    pub horizon: usize,
    /// How regression models forecast several steps.
    pub strategy: ForecastStrategy,
    /// The model inputs computed from the target.
    pub from_target: Vec<String>,
    /// The model matrix's column names.
    pub names: Vec<String>,
    /// The regressors SARIMAX uses by default: the model inputs not computed from the
    /// target.
    pub default_exog: Vec<String>,
}

impl Context {
    /// The context of a config's series `df`, whose model matrix has columns `names`.
    pub fn new(cfg: &Config, df: &DataFrame, names: Vec<String>) -> Self {
        let from_target = target_features(cfg);
        let season = season(cfg, df);
        Self {
            season,
            horizon: horizon(cfg, season),
            strategy: cfg.forecast.strategy,
            default_exog: names
                .iter()
                .filter(|n| !from_target.contains(n))
                .cloned()
                .collect(),
            from_target,
            names,
        }
    }

    /// The model-matrix columns computed from the target.
    pub fn target_columns(&self) -> Vec<usize> {
        (0..self.names.len())
            .filter(|&j| self.from_target.contains(&self.names[j]))
            .collect()
    }
}

/// Fits any candidate of a time series: a statistical forecaster on the series, or a
/// regression model on the rows.
pub fn fit(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: &[f64],
    ctx: &Context,
    seed: u64,
) -> Result<FittedModel> {
    if is_forecaster(model) {
        Ok(FittedModel::Forecast(Box::new(Forecaster::fit(
            model, params, x, y, ctx,
        )?)))
    } else if ctx.strategy == ForecastStrategy::Direct && !ctx.target_columns().is_empty() {
        Ok(FittedModel::Direct(Box::new(Direct::fit(
            model, params, x, y, ctx, seed,
        )?)))
    } else {
        Ok(crate::model::fit(model, params, x, Target::Values(y), None, seed)?.model)
    }
}

/// A fitted statistical forecaster, with the series it was fitted on (its forecasts
/// start after the series' last value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forecaster {
    /// The model and its estimates.
    pub method: Method,
    /// The regressors: model inputs, by name.
    pub exog: Vec<String>,
    /// The regressors' columns in the model matrix.
    pub exog_columns: Vec<usize>,
    /// The series its forecasts continue: the training rows, and in a trained bundle
    /// every later row of the features too (the estimates are the training rows').
    pub history: Vec<f64>,
    /// The regressors' rows over `history`.
    pub history_exog: Vec<Vec<f64>>,
    /// Regressors asked for but constant over the training series, left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constant_exog: Vec<String>,
    /// When `history` ends and how far apart its rows are: scored rows are placed by
    /// their time (`None`: scored rows are the steps after it, in order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<Clock>,
    /// Coverage of the prediction intervals it is served with (`forecast.interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// The forecast without regressors after `history`, kept between calls: serving
    /// asks for it with every request.
    #[serde(skip)]
    base: BaseCache,
}

/// A forecaster's base forecast, computed once and extended when a longer one is asked
/// for (the first `h` steps do not depend on how many follow).
#[derive(Debug, Default)]
struct BaseCache(std::sync::RwLock<Option<Forecast>>);

impl Clone for BaseCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for BaseCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The time axis of a training series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// `data.time_column`.
    pub column: String,
    /// The last row's time (milliseconds since 1970, UTC).
    pub last_ms: i64,
    /// The median spacing of the rows (milliseconds).
    pub step_ms: i64,
}

impl Clock {
    /// The clock of the rows `rows` (in time order) of a frame.
    pub fn of(cfg: &Config, df: &DataFrame, rows: &[usize]) -> Option<Self> {
        let column = cfg.data.time_column.clone()?;
        let times = times_ms(df.column(&column).ok()?)?;
        let step_ms = median_step(&times)?;
        let last_ms = times.get(*rows.last()?).copied()??;
        Some(Self {
            column,
            last_ms,
            step_ms,
        })
    }

    /// Steps ahead of the training series' end of times (milliseconds); an error names
    /// a time that is not after it.
    pub fn steps(&self, times: &[Option<i64>]) -> Result<Vec<usize>> {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t.ok_or_else(|| {
                    Error::Usage(format!(
                        "row {i}: `{}` is missing; a forecaster places each row by its time",
                        self.column
                    ))
                })?;
                let steps = ((t - self.last_ms) as f64 / self.step_ms as f64).round();
                if steps < 1.0 {
                    return Err(Error::Usage(format!(
                        "row {i}: `{}` {} is not after the series the model continues, which ends at {}; \
                         a forecaster forecasts later rows (retrain to move its origin)",
                        self.column,
                        show_ms(t),
                        show_ms(self.last_ms)
                    )));
                }
                Ok(steps as usize)
            })
            .collect()
    }
}

fn show_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// A time column's values in milliseconds since 1970 (dates at midnight UTC; text as
/// a date or an RFC 3339 time).
pub fn times_ms(c: &Column) -> Option<Vec<Option<i64>>> {
    match c.dtype() {
        DataType::Date => Some(
            c.cast(&DataType::Int32)
                .ok()?
                .i32()
                .ok()?
                .iter()
                .map(|v| v.map(|d| i64::from(d) * 86_400_000))
                .collect(),
        ),
        DataType::Datetime(..) => Some(
            c.cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
                .ok()?
                .cast(&DataType::Int64)
                .ok()?
                .i64()
                .ok()?
                .iter()
                .collect(),
        ),
        DataType::String => Some(
            c.str()
                .ok()?
                .iter()
                .map(|v| v.and_then(parse_time_ms))
                .collect(),
        ),
        _ => None,
    }
}

/// A date (`YYYY-MM-DD`) or RFC 3339 time, in milliseconds since 1970.
pub fn parse_time_ms(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp_millis())
        })
}

/// A forecaster's model and estimates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Method {
    /// Seasonal ARIMA with regressors, by exact maximum likelihood.
    Arima {
        /// `(p, d, q)`.
        order: [usize; 3],
        /// `(P, D, Q, s)`; zeros without a seasonal part.
        seasonal_order: [usize; 4],
        ar: Vec<f64>,
        ma: Vec<f64>,
        sar: Vec<f64>,
        sma: Vec<f64>,
        /// The mean of the differenced series (a constant), if estimated.
        mean: Option<f64>,
        /// One coefficient per regressor.
        beta: Vec<f64>,
        sigma2: f64,
        loglike: f64,
        aic: f64,
    },
    /// Exponential smoothing (simple, Holt, Holt-Winters).
    Ets {
        trend: bool,
        damped: bool,
        /// `add` or `mul`; `None` without a season.
        seasonal: Option<String>,
        season: usize,
        alpha: f64,
        beta: f64,
        gamma: f64,
        phi: f64,
        level: f64,
        slope: f64,
        initial_season: Vec<f64>,
        sse: f64,
        aic: f64,
    },
    /// Naive, seasonal naive or drift.
    Baseline {
        /// `naive`, `seasonal_naive` or `drift`.
        rule: String,
        season: usize,
    },
}

/// Point forecasts and, where the model defines them, their variances.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Expected values.
    pub mean: Vec<f64>,
    /// Forecast error variances.
    pub var: Option<Vec<f64>>,
}

fn int_list(model: ModelType, name: &str, v: &ParamValue, len: usize) -> Result<Vec<usize>> {
    let bad = || {
        Error::Usage(format!(
            "`{}` parameter `{name}` must be a list of {len} whole numbers of at least 0{}, \
             got {}",
            model.as_str(),
            if name == "order" { " or `auto`" } else { "" },
            v
        ))
    };
    match v {
        ParamValue::List(items) if items.len() == len => items
            .iter()
            .map(|i| match i {
                ParamValue::Int(n) if *n >= 0 => Ok(*n as usize),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

fn names_list(model: ModelType, name: &str, v: &ParamValue) -> Result<Vec<String>> {
    match v {
        ParamValue::List(items) => items
            .iter()
            .map(|i| match i {
                ParamValue::String(s) => Ok(s.clone()),
                other => Err(Error::Usage(format!(
                    "`{}` parameter `{name}` must list column names, got {}",
                    model.as_str(),
                    other
                ))),
            })
            .collect(),
        ParamValue::String(s) => Ok(vec![s.clone()]),
        other => Err(Error::Usage(format!(
            "`{}` parameter `{name}` must list column names, got {}",
            model.as_str(),
            other
        ))),
    }
}

fn choice<'a>(
    model: ModelType,
    params: &'a BTreeMap<String, ParamValue>,
    name: &str,
    allowed: &[&'a str],
    default: &'a str,
) -> Result<&'a str> {
    match params.get(name) {
        None | Some(ParamValue::Null) => Ok(default),
        Some(ParamValue::String(s)) if allowed.contains(&s.as_str()) => Ok(s.as_str()),
        Some(ParamValue::Bool(false)) if allowed.contains(&"none") => Ok("none"),
        Some(other) => Err(Error::Usage(format!(
            "`{}` parameter `{name}` must be one of {}, got {}",
            model.as_str(),
            allowed.join(", "),
            other
        ))),
    }
}

fn stats_error(model: ModelType, e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{} cannot be fitted: {e}", model.as_str()))
}

/// The regressors a forecaster uses: their names, their model-matrix columns and the
/// training rows' values.
type Exog = (Vec<String>, Vec<usize>, Vec<Vec<f64>>);

/// ARIMA or SARIMAX: a given order, or auto-ARIMA's choice. Returns the method, the
/// regressors kept and those left out for being constant.
fn fit_arima(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: &[f64],
    ctx: &Context,
) -> Result<(Method, Exog, Vec<String>)> {
    let p = Params::of(model, params, false)?;
    let exog = match params.get("exog") {
        None => {
            if model == ModelType::Sarimax {
                ctx.default_exog.to_vec()
            } else {
                Vec::new()
            }
        }
        Some(ParamValue::Null) => Vec::new(),
        Some(v) => names_list(model, "exog", v)?,
    };
    // A regressor constant over the series (a holiday flag in a stretch without
    // holidays) carries no information and makes the regression singular: it
    // is left out, with its coefficient taken as 0.
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (j, name) in exog_columns(model, &exog, &ctx.names)?
        .into_iter()
        .zip(exog)
    {
        let first = x.get((0, j)).copied().unwrap_or_default();
        if x.column(j).iter().any(|v| *v != first) {
            kept.push(name);
        } else {
            dropped.push(name);
        }
    }
    let exog = kept;
    let columns = exog_columns(model, &exog, &ctx.names)?;
    let rows = rows_of(x, &columns, 0..x.nrows());
    let data = arima::Data { y, x: &rows };
    let constant = match params.get("constant") {
        None | Some(ParamValue::Null) => None,
        Some(_) => Some(p.flag("constant", false)?),
    };
    let fit = match params.get("order") {
        None | Some(ParamValue::Null) => None,
        Some(ParamValue::String(s)) if s == "auto" => None,
        Some(v) => Some(int_list(model, "order", v, 3)?),
    };
    let fitted = match fit {
        None => {
            let criterion =
                match choice(model, params, "criterion", &["aic", "aicc", "bic"], "aic")? {
                    "aicc" => arima::auto::Criterion::Aicc,
                    "bic" => arima::auto::Criterion::Bic,
                    _ => arima::auto::Criterion::Aic,
                };
            let seasonal = model == ModelType::Sarimax && ctx.season > 1;
            let opts = arima::auto::Options {
                m: if seasonal { ctx.season } else { 1 },
                criterion,
                ..Default::default()
            };
            arima::auto::auto_arima(&data, &opts)
                .map_err(|e| stats_error(model, e))?
                .fit
        }
        Some(o) => {
            let s = match params.get("seasonal_order") {
                None | Some(ParamValue::Null) => vec![0, 0, 0, 0],
                Some(v) => int_list(model, "seasonal_order", v, 4)?,
            };
            let order = arima::Order::sarima(o[0], o[1], o[2], s[0], s[1], s[2], s[3]);
            let constant = constant.unwrap_or(o[1] + s[1] == 0);
            arima::fit(&data, order, constant).map_err(|e| stats_error(model, e))?
        }
    };
    let o = fitted.order;
    let pr = &fitted.params;
    Ok((
        Method::Arima {
            order: [o.p, o.d, o.q],
            seasonal_order: [o.sp, o.sd, o.sq, o.s],
            ar: pr.ar.clone(),
            ma: pr.ma.clone(),
            sar: pr.sar.clone(),
            sma: pr.sma.clone(),
            mean: pr.mean,
            beta: pr.beta.clone(),
            sigma2: pr.sigma2,
            loglike: fitted.llf,
            aic: fitted.aic(),
        },
        (exog, columns, rows),
        dropped,
    ))
}

/// Exponential smoothing (Holt-Winters).
fn fit_ets(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    y: &[f64],
    ctx: &Context,
) -> Result<Method> {
    let p = Params::of(model, params, false)?;
    let trend = choice(model, params, "trend", &["add", "none"], "none")? == "add";
    let damped = p.flag("damped", false)?;
    if damped && !trend {
        return Err(Error::Usage(
            "`ets` parameter `damped: true` damps a trend; add `trend: add`".into(),
        ));
    }
    let m = p.int("seasonal_periods", ctx.season)?;
    let default_season = if m > 1 { "add" } else { "none" };
    let seasonal = match choice(
        model,
        params,
        "seasonal",
        &["add", "mul", "none"],
        default_season,
    )? {
        "add" => Some(ets::Season::Additive),
        "mul" => Some(ets::Season::Multiplicative),
        _ => None,
    };
    if seasonal.is_some() && m < 2 {
        return Err(Error::Usage(
            "`ets` with `seasonal` needs a season of at least 2 rows; set \
             `seasonal_periods` or `forecast.season`"
                .into(),
        ));
    }
    let spec = ets::Spec {
        trend,
        damped,
        season: seasonal.map(|s| (s, m)),
    };
    let f = ets::fit(y, spec).map_err(|e| stats_error(model, e))?;
    Ok(Method::Ets {
        trend,
        damped,
        seasonal: seasonal.map(|s| {
            match s {
                ets::Season::Additive => "add",
                ets::Season::Multiplicative => "mul",
            }
            .to_string()
        }),
        season: m,
        alpha: f.params.alpha,
        beta: f.params.beta,
        gamma: f.params.gamma,
        phi: f.params.phi,
        level: f.params.level,
        slope: f.params.trend,
        initial_season: f.params.season.clone(),
        sse: f.sse,
        aic: f.aic(),
    })
}

impl Forecaster {
    /// Fits a forecaster of family `model` to the series `y`, whose model-matrix rows
    /// are `x`.
    pub fn fit(
        model: ModelType,
        params: &BTreeMap<String, ParamValue>,
        x: &DMatrix<f64>,
        y: &[f64],
        ctx: &Context,
    ) -> Result<Self> {
        let mut constant_exog = Vec::new();
        let (method, exog) = match model {
            ModelType::Arima | ModelType::Sarimax => {
                let (method, exog, dropped) = fit_arima(model, params, x, y, ctx)?;
                constant_exog = dropped;
                (method, exog)
            }
            ModelType::Ets => (
                fit_ets(model, params, y, ctx)?,
                (Vec::new(), Vec::new(), Vec::new()),
            ),
            ModelType::SeasonalNaive => {
                let p = Params::of(model, params, false)?;
                let rule = choice(
                    model,
                    params,
                    "method",
                    &["seasonal_naive", "naive", "drift"],
                    "seasonal_naive",
                )?;
                let season = p.int("season", ctx.season)?;
                if rule == "seasonal_naive" && season < 2 {
                    return Err(Error::Usage(format!(
                        "`seasonal_naive` needs a season of at least 2 rows, and it is \
                         {season}; set `season` (7 for daily data) or `forecast.season`, or \
                         use `method: naive`"
                    )));
                }
                let m = Method::Baseline {
                    rule: rule.to_string(),
                    season,
                };
                let f = Self {
                    method: m.clone(),
                    exog: Vec::new(),
                    exog_columns: Vec::new(),
                    history: Vec::new(),
                    history_exog: Vec::new(),
                    constant_exog: Vec::new(),
                    clock: None,
                    interval: None,
                    base: BaseCache::default(),
                };
                f.forecast_from(y, &[], &[Vec::new()])
                    .map_err(|e| stats_error(model, e))?;
                (m, (Vec::new(), Vec::new(), Vec::new()))
            }
            other => {
                return Err(Error::Runtime(format!(
                    "`{}` is not a statistical forecaster",
                    other.as_str()
                )))
            }
        };
        let (exog, exog_columns, history_exog) = exog;
        Ok(Self {
            method,
            exog,
            exog_columns,
            history: y.to_vec(),
            history_exog,
            constant_exog,
            clock: None,
            interval: None,
            base: BaseCache::default(),
        })
    }

    /// The preprocessing of this forecaster's bundle: only what computes its regressors
    /// (a forecaster reads nothing else, so serving asks for nothing else), with the
    /// regressors' columns renumbered to it.
    pub fn restrict(&mut self, pre: &Preprocessor) -> Preprocessor {
        let feeds = |input: &str| {
            self.exog
                .iter()
                .any(|e| e == input || e.starts_with(&format!("{input}_")))
        };
        let inputs: Vec<_> = pre
            .inputs
            .iter()
            .filter(|i| feeds(&i.name))
            .cloned()
            .collect();
        let outputs: Vec<String> = pre
            .outputs
            .iter()
            .filter(|o| self.exog.contains(o))
            .cloned()
            .collect();
        self.exog_columns = self
            .exog
            .iter()
            .map(|e| outputs.iter().position(|o| o == e).unwrap_or_default())
            .collect();
        Preprocessor {
            schema_version: pre.schema_version,
            steps: pre
                .steps
                .iter()
                .filter(|s| inputs.iter().any(|i| i.name == s.column))
                .cloned()
                .collect(),
            inputs,
            outputs,
        }
    }

    /// A short description: `ARIMA(1,1,1)(0,1,1,7) with 2 regressors`.
    pub fn describe(&self) -> String {
        let mut regressors = match self.exog.len() {
            0 => String::new(),
            1 => " with 1 regressor".into(),
            n => format!(" with {n} regressors"),
        };
        if !self.constant_exog.is_empty() {
            regressors.push_str(&format!(
                " ({} left out: constant in the training rows)",
                self.constant_exog.join(", ")
            ));
        }
        match &self.method {
            Method::Arima {
                order,
                seasonal_order: s,
                mean,
                ..
            } => {
                let seasonal = if s[..3].iter().any(|v| *v > 0) {
                    format!("({},{},{},{})", s[0], s[1], s[2], s[3])
                } else {
                    String::new()
                };
                format!(
                    "ARIMA({},{},{}){seasonal}{}{regressors}",
                    order[0],
                    order[1],
                    order[2],
                    if mean.is_some() {
                        " with a constant"
                    } else {
                        ""
                    }
                )
            }
            Method::Ets {
                trend,
                damped,
                seasonal,
                season,
                ..
            } => format!(
                "exponential smoothing (trend: {}, season: {})",
                match (trend, damped) {
                    (false, _) => "none",
                    (true, false) => "additive",
                    (true, true) => "additive damped",
                },
                seasonal
                    .as_deref()
                    .map_or("none".to_string(), |s| format!("{s} of {season}"))
            ),
            Method::Baseline { rule, season } => match rule.as_str() {
                "seasonal_naive" => format!("seasonal naive (season {season})"),
                other => other.to_string(),
            },
        }
    }

    /// The regressors' values in rows `rows` of a model matrix.
    pub fn exog_rows(&self, x: &DMatrix<f64>, rows: std::ops::Range<usize>) -> Vec<Vec<f64>> {
        rows_of(x, &self.exog_columns, rows)
    }

    /// Forecasts `future.len()` steps after the series `y` (whose regressor rows are
    /// `x`), with the model's estimates; `future` holds the regressors of the steps.
    pub fn forecast_from(
        &self,
        y: &[f64],
        x: &[Vec<f64>],
        future: &[Vec<f64>],
    ) -> Result<Forecast> {
        let h = future.len();
        match &self.method {
            Method::Arima {
                order,
                seasonal_order: s,
                ar,
                ma,
                sar,
                sma,
                mean,
                beta,
                sigma2,
                ..
            } => {
                let o = arima::Order::sarima(order[0], order[1], order[2], s[0], s[1], s[2], s[3]);
                let params = arima::Params {
                    ar: ar.clone(),
                    ma: ma.clone(),
                    sar: sar.clone(),
                    sma: sma.clone(),
                    mean: *mean,
                    beta: beta.clone(),
                    sigma2: *sigma2,
                };
                let data = arima::Data { y, x };
                let f = arima::with_params(&data, o, params)
                    .and_then(|m| m.forecast(future))
                    .map_err(|e| Error::Usage(format!("forecasting: {e}")))?;
                Ok(Forecast {
                    mean: f.mean,
                    var: Some(f.var),
                })
            }
            Method::Ets {
                trend,
                damped,
                seasonal,
                season,
                alpha,
                beta,
                gamma,
                phi,
                level,
                slope,
                initial_season,
                ..
            } => {
                let spec = ets::Spec {
                    trend: *trend,
                    damped: *damped,
                    season: seasonal.as_deref().map(|s| {
                        (
                            if s == "mul" {
                                ets::Season::Multiplicative
                            } else {
                                ets::Season::Additive
                            },
                            *season,
                        )
                    }),
                };
                let params = ets::Params {
                    alpha: *alpha,
                    beta: *beta,
                    gamma: *gamma,
                    phi: *phi,
                    level: *level,
                    trend: *slope,
                    season: initial_season.clone(),
                };
                let f = ets::with_params(y, spec, params)
                    .map_err(|e| Error::Usage(format!("forecasting: {e}")))?;
                Ok(Forecast {
                    mean: f.forecast(h),
                    var: None,
                })
            }
            Method::Baseline { rule, season } => {
                let method = match rule.as_str() {
                    "naive" => baseline::Method::Naive,
                    "drift" => baseline::Method::Drift,
                    _ => baseline::Method::SeasonalNaive(*season),
                };
                let f = baseline::forecast(y, method, h).ok_or_else(|| {
                    Error::Usage(format!(
                        "forecasting: {} values are too few for the {} forecast",
                        y.len(),
                        rule.replace('_', " ")
                    ))
                })?;
                Ok(Forecast {
                    mean: f.mean,
                    var: Some(f.var),
                })
            }
        }
    }

    /// Forecasts the rows of `x` (the model matrix of the steps after the training
    /// series, in order): one row per step.
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
        let future = self.exog_rows(x, 0..x.nrows());
        let f = self.forecast_from(&self.history, &self.history_exog, &future)?;
        Ok(DMatrix::from_vec(f.mean.len(), 1, f.mean))
    }

    /// Forecasts each row of `x` at its step ahead of the series (`steps[i]`, from 1),
    /// with the variances where the model defines them. The forecast is linear in a
    /// step's own regressors (a regression with ARIMA errors: `x β` plus the errors'
    /// forecast, which only the history moves) and its variance does not depend on
    /// them, so rows may be any steps, in any order.
    pub fn forecast_at(&self, x: &DMatrix<f64>, steps: &[usize]) -> Result<Forecast> {
        let h = steps.iter().copied().max().unwrap_or(0);
        let base = self.base(h)?;
        let beta: &[f64] = match &self.method {
            Method::Arima { beta, .. } => beta,
            _ => &[],
        };
        let mean = steps
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                base.mean[k - 1]
                    + self
                        .exog_columns
                        .iter()
                        .zip(beta)
                        .map(|(&j, b)| b * x[(i, j)])
                        .sum::<f64>()
            })
            .collect();
        Ok(Forecast {
            mean,
            var: base.var.map(|v| steps.iter().map(|&k| v[k - 1]).collect()),
        })
    }

    /// Continues the series with more rows (and their regressors' rows of the model
    /// matrix `x`), keeping the estimates: forecasts then start after them.
    pub fn continue_with(
        &mut self,
        y: &[f64],
        x: &DMatrix<f64>,
        rows: std::ops::Range<usize>,
        clock: Option<Clock>,
    ) {
        self.history_exog = self.exog_rows(x, rows.clone());
        self.history = y[rows].to_vec();
        self.clock = clock;
        self.base = BaseCache::default();
    }

    /// At least `h` steps of the forecast without regressors after `history` (from the
    /// cache, or computed for twice the steps asked before).
    fn base(&self, h: usize) -> Result<Forecast> {
        let cached = |f: &Option<Forecast>| f.as_ref().filter(|f| f.mean.len() >= h).cloned();
        if let Some(f) = cached(&self.base.0.read().unwrap_or_else(|e| e.into_inner())) {
            return Ok(f);
        }
        let mut slot = self.base.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = cached(&slot) {
            return Ok(f);
        }
        let before = slot.as_ref().map_or(0, |f| f.mean.len());
        let zeros = vec![vec![0.0; self.exog.len()]; h.max(2 * before).max(1)];
        let f = self.forecast_from(&self.history, &self.history_exog, &zeros)?;
        *slot = Some(f.clone());
        Ok(f)
    }

    /// [`Self::forecast_at`]'s point forecasts (`n × 1`).
    pub fn predict_at(&self, x: &DMatrix<f64>, steps: &[usize]) -> Result<DMatrix<f64>> {
        let f = self.forecast_at(x, steps)?;
        Ok(DMatrix::from_vec(f.mean.len(), 1, f.mean))
    }

    /// Point forecasts and, with `interval` and a model that defines variances, the
    /// interval's bounds: `n × 1` or `n × 3` (forecast, lower, upper). Rows are placed
    /// by `times` with a clock, else they are the steps after the series, in order.
    pub fn predict_with_interval(
        &self,
        x: &DMatrix<f64>,
        times: Option<&[Option<i64>]>,
    ) -> Result<DMatrix<f64>> {
        let steps = match (&self.clock, times) {
            (Some(c), Some(t)) => c.steps(t)?,
            _ => (1..=x.nrows()).collect(),
        };
        let f = self.forecast_at(x, &steps)?;
        let n = f.mean.len();
        match (f.var, self.interval) {
            (Some(var), Some(level)) => {
                let bounds = mlx_stats::arima::Forecast {
                    mean: f.mean.clone(),
                    var,
                }
                .interval(level);
                Ok(DMatrix::from_fn(n, 3, |i, j| match j {
                    0 => f.mean[i],
                    1 => bounds[i].0,
                    _ => bounds[i].1,
                }))
            }
            _ => Ok(DMatrix::from_vec(n, 1, f.mean)),
        }
    }

    /// Whether it is served with prediction intervals.
    pub fn has_interval(&self) -> bool {
        self.interval.is_some() && !matches!(self.method, Method::Ets { .. })
    }

    /// A regression with ARIMA errors: its regressors' columns and coefficients (the
    /// forecast is linear in them).
    pub fn coefficients(&self) -> Option<(&[usize], &[f64])> {
        match &self.method {
            Method::Arima { beta, .. } if !beta.is_empty() => {
                Some((self.exog_columns.as_slice(), beta.as_slice()))
            }
            _ => None,
        }
    }
}

fn exog_columns(model: ModelType, exog: &[String], names: &[String]) -> Result<Vec<usize>> {
    exog.iter()
        .map(|e| {
            names.iter().position(|n| n == e).ok_or_else(|| {
                Error::Usage(format!(
                    "`{}` regressor `{e}` is not a model input; the inputs are: {}",
                    model.as_str(),
                    names.join(", ")
                ))
            })
        })
        .collect()
}

fn rows_of(x: &DMatrix<f64>, columns: &[usize], rows: std::ops::Range<usize>) -> Vec<Vec<f64>> {
    rows.map(|i| columns.iter().map(|&j| x[(i, j)]).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, ParamValue)]) -> BTreeMap<String, ParamValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn ctx(names: &[String]) -> Context {
        Context {
            season: 4,
            horizon: 4,
            strategy: ForecastStrategy::Recursive,
            from_target: Vec::new(),
            names: names.to_vec(),
            default_exog: names.to_vec(),
        }
    }

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let names: Vec<String> = Vec::new();
        let f = Forecaster::fit(
            ModelType::SeasonalNaive,
            &params(&[]),
            &DMatrix::zeros(8, 0),
            &y,
            &ctx(&names),
        )
        .unwrap();
        let p = f.predict(&DMatrix::zeros(6, 0)).unwrap();
        assert_eq!(p.as_slice(), [5.0, 6.0, 7.0, 8.0, 5.0, 6.0]);
        // With a 95% interval: seasonal naive's variance is (⌊(k−1)/m⌋ + 1) σ², σ² the
        // mean squared seasonal difference (here 16: every difference is 4).
        let mut g = f.clone();
        g.interval = Some(0.95);
        let p = g
            .predict_with_interval(&DMatrix::zeros(5, 0), None)
            .unwrap();
        let z = 1.959_963_984_540_054;
        for (k, seasons) in [1.0f64, 1.0, 1.0, 1.0, 2.0].into_iter().enumerate() {
            let half = z * (16.0 * seasons).sqrt();
            assert!((p[(k, 1)] - (p[(k, 0)] - half)).abs() < 1e-9, "{p}");
            assert!((p[(k, 2)] - (p[(k, 0)] + half)).abs() < 1e-9, "{p}");
        }
        // From another origin: the history given.
        let g = f.forecast_from(&y[..5], &[], &vec![vec![]; 2]).unwrap();
        assert_eq!(g.mean, [2.0, 3.0]);
    }

    #[test]
    fn arima_with_a_regressor_recovers_its_coefficient() {
        // y = 3 x + AR(1) noise from a fixed generator; x is a known sequence.
        let mut rng = mlx_stats_free_rng(7);
        let n = 300;
        let x: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64).collect();
        let mut e = 0.0;
        let y: Vec<f64> = x
            .iter()
            .map(|xi| {
                e = 0.5 * e + rng();
                3.0 * xi + 10.0 + e
            })
            .collect();
        let names = vec!["x".to_string()];
        let m = DMatrix::from_vec(n, 1, x);
        let f = Forecaster::fit(
            ModelType::Sarimax,
            &params(&[(
                "order",
                ParamValue::List(vec![
                    ParamValue::Int(1),
                    ParamValue::Int(0),
                    ParamValue::Int(0),
                ]),
            )]),
            &m,
            &y,
            &ctx(&names),
        )
        .unwrap();
        // Placed by step, rows agree with the sequential forecast, in any order; also
        // with differences and a seasonal part.
        let differenced = Forecaster::fit(
            ModelType::Sarimax,
            &params(&[
                (
                    "order",
                    ParamValue::List(vec![
                        ParamValue::Int(1),
                        ParamValue::Int(1),
                        ParamValue::Int(1),
                    ]),
                ),
                (
                    "seasonal_order",
                    ParamValue::List(vec![
                        ParamValue::Int(0),
                        ParamValue::Int(1),
                        ParamValue::Int(1),
                        ParamValue::Int(4),
                    ]),
                ),
            ]),
            &m,
            &y,
            &ctx(&names),
        )
        .unwrap();
        let future = DMatrix::from_fn(6, 1, |i, _| (i % 3) as f64);
        for model in [&f, &differenced] {
            let seq = model.predict(&future).unwrap();
            // A one-step call first: the cached base forecast then has to grow.
            let one = model
                .predict_at(&future.rows(0, 1).into_owned(), &[1])
                .unwrap();
            assert!((one[(0, 0)] - seq[(0, 0)]).abs() < 1e-9);
            let at = model
                .predict_at(&future.select_rows(&[5, 0, 2]), &[6, 1, 3])
                .unwrap();
            for (k, i) in [5, 0, 2].into_iter().enumerate() {
                assert!((at[(k, 0)] - seq[(i, 0)]).abs() < 1e-9, "{at} {seq}");
            }
        }
        let (cols, beta) = f.coefficients().unwrap();
        assert_eq!(cols, [0]);
        assert!((beta[0] - 3.0).abs() < 0.05, "{beta:?}");
        assert!(f
            .describe()
            .starts_with("ARIMA(1,0,0) with a constant with 1 regressor"));
        let e = Forecaster::fit(
            ModelType::Sarimax,
            &params(&[(
                "exog",
                ParamValue::List(vec![ParamValue::String("z".into())]),
            )]),
            &m,
            &y,
            &ctx(&names),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`z` is not a model input") && e.contains(": x"),
            "{e}"
        );
    }

    /// `order: auto` searches as `mlx_stats::arima::auto` does and says what it chose;
    /// `ets` is mlx-stats' exponential smoothing with the season of the context.
    #[test]
    fn auto_orders_and_exponential_smoothing_come_from_mlx_stats() {
        let mut rng = mlx_stats_free_rng(3);
        let mut level = 50.0;
        let y: Vec<f64> = (0..120)
            .map(|t| {
                level += 0.3 * rng();
                level + [3.0, -1.0, -4.0, 2.0][t % 4] + 0.5 * rng()
            })
            .collect();
        let names: Vec<String> = Vec::new();
        let x = DMatrix::zeros(y.len(), 0);
        let auto = Forecaster::fit(
            ModelType::Sarimax,
            &params(&[("order", ParamValue::String("auto".into()))]),
            &x,
            &y,
            &ctx(&names),
        )
        .unwrap();
        let want = mlx_stats::arima::auto::auto_arima(
            &arima::Data {
                y: &y,
                x: &vec![Vec::new(); y.len()],
            },
            &arima::auto::Options {
                m: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let o = want.fit.order;
        let Method::Arima {
            order,
            seasonal_order,
            loglike,
            ..
        } = &auto.method
        else {
            panic!("an ARIMA")
        };
        assert_eq!(*order, [o.p, o.d, o.q]);
        assert_eq!(*seasonal_order, [o.sp, o.sd, o.sq, o.s]);
        assert_eq!(*loglike, want.fit.llf);
        assert!(auto.describe().starts_with("ARIMA("), "{}", auto.describe());

        let hw = Forecaster::fit(ModelType::Ets, &params(&[]), &x, &y, &ctx(&names)).unwrap();
        let spec = ets::Spec {
            trend: false,
            damped: false,
            season: Some((ets::Season::Additive, 4)),
        };
        let want = ets::fit(&y, spec).unwrap().forecast(6);
        assert_eq!(hw.predict(&DMatrix::zeros(6, 0)).unwrap().as_slice(), want);
        assert_eq!(
            hw.describe(),
            "exponential smoothing (trend: none, season: add of 4)"
        );
    }

    /// `y_t − 20 = 0.5 (y_{t−1} − 20)`: the step-`k` model of a direct forecast is
    /// exactly `y_t = 0.5^k y_{t−k} + 20 (1 − 0.5^k)`, so its forecasts from an origin
    /// are the series' own continuation.
    #[test]
    fn direct_models_learn_each_step_ahead() {
        let y: Vec<f64> = (0..30).map(|t| 20.0 + 80.0 * 0.5f64.powi(t)).collect();
        // Row t (from 1) holds lag_1 = y[t − 1]; its target is y[t].
        let x = DMatrix::from_fn(29, 1, |i, _| y[i]);
        let names = vec!["lag_1".to_string()];
        let ctx = Context {
            season: 1,
            horizon: 3,
            strategy: ForecastStrategy::Direct,
            from_target: names.clone(),
            names: names.clone(),
            default_exog: Vec::new(),
        };
        let FittedModel::Direct(d) = fit(
            ModelType::Linear,
            &params(&[]),
            &x.rows(0, 20).into_owned(),
            &y[1..21],
            &ctx,
            0,
        )
        .unwrap() else {
            panic!("a direct model")
        };
        assert_eq!(d.steps.len(), 3);
        // From the origin after y[20] (row 20 of x holds lag_1 = y[20]): y[21..24].
        let got = d.forecast(&x, 20, 3).unwrap();
        for (k, g) in got.iter().enumerate() {
            assert!(
                (g - y[21 + k]).abs() < 1e-9,
                "step {}: {g} vs {}",
                k + 1,
                y[21 + k]
            );
        }
    }

    /// A uniform(-1, 1) generator (no dependency on a random crate's stream).
    fn mlx_stats_free_rng(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
    }
}
