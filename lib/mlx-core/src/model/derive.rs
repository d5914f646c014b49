//! Deterministic features (`features.derived`), computed with Polars expressions.
//!
//! Rows are first ordered by `data.time_column` (stable, so ties keep file order);
//! lags and windows then run per entity (`over`) in that order, like pandas'
//! `groupby().shift()` / `.rolling()` on time-sorted data. Semantics follow pandas:
//! `rolling(7).mean()` needs 7 values (`min_periods` lowers that), time windows are
//! right-closed `(t - w, t]`, `std` is the sample standard deviation.

use std::collections::BTreeSet;
use std::path::Path;

use mlx_contracts::config::{Agg, CalendarPart, FeatureDef, FeatureKind, IncompleteRows};
use mlx_contracts::features::DerivedColumn;
use mlx_data::polars::prelude::*;

use super::expr;
use crate::error::{Error, Result};

/// Which columns play which role.
#[derive(Debug, Clone, Copy)]
pub struct Roles<'a> {
    /// `data.time_column`.
    pub time: Option<&'a str>,
    /// `data.entity_columns` (the default `over`).
    pub entities: &'a [String],
    /// `data.target`.
    pub target: Option<&'a str>,
}

/// The result of [`derive`].
#[derive(Debug)]
pub struct Derived {
    /// The dataset with the derived columns, ordered by time.
    pub df: DataFrame,
    /// Per derived column: its kind and missing count before incomplete rows were handled.
    pub columns: Vec<DerivedColumn>,
    /// Rows dropped by `incomplete_rows: drop`.
    pub dropped: u64,
    /// Leakage warnings.
    pub warnings: Vec<String>,
}

/// A duration written as `<n><unit>`, unit one of `s m h d w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The count.
    pub n: i64,
    /// The unit letter.
    pub unit: char,
}

impl Span {
    /// Parses `7d`, `12h`, `30m`, `45s`, `2w`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        let unit = t.chars().last().unwrap_or(' ');
        let n: Option<i64> = t[..t.len().saturating_sub(unit.len_utf8())].parse().ok();
        match (n, unit) {
            (Some(n), 's' | 'm' | 'h' | 'd' | 'w') if n > 0 => Ok(Self { n, unit }),
            _ => Err(format!(
                "`{text}` is not a duration; write a positive count and a unit: \
                 `30s`, `15m`, `12h`, `7d`, `2w`"
            )),
        }
    }
    /// In milliseconds.
    pub fn millis(self) -> i64 {
        let unit = match self.unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => 7 * 86_400_000,
        };
        self.n * unit
    }
    fn polars(self) -> Duration {
        Duration::parse(&format!("{}{}", self.n, self.unit))
    }
}

/// A rolling window: rows or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last n rows.
    Rows(usize),
    /// The trailing duration.
    Time(Span),
}

impl Window {
    /// Parses `7` (rows) or `7d` (time).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        match text.trim().parse::<usize>() {
            Ok(0) => Err("a window of 0 rows is empty; use 1 or more".into()),
            Ok(n) => Ok(Self::Rows(n)),
            Err(_) => Span::parse(text).map(Self::Time).map_err(|_| {
                format!(
                    "`{text}` is not a window; write a row count (`7`) or a duration (`7d`, `12h`)"
                )
            }),
        }
    }
}

/// Reads holiday dates: the config list plus the file's lines.
pub fn holiday_dates(def: &FeatureDef) -> Result<Vec<chrono::NaiveDate>> {
    let mut texts: Vec<(String, String)> = def
        .dates
        .iter()
        .map(|d| (d.clone(), "`dates`".to_string()))
        .collect();
    if let Some(file) = &def.dates_file {
        let path = Path::new(file);
        let body = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!(
                "feature `{}`: cannot read the holiday file {}: {e}",
                def.name,
                path.display()
            ))
        })?;
        for (i, line) in body.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                texts.push((
                    line.to_string(),
                    format!("{} line {}", path.display(), i + 1),
                ));
            }
        }
    }
    texts
        .into_iter()
        .map(|(t, place)| {
            chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| {
                Error::Usage(format!(
                    "feature `{}`: `{t}` in {place} is not a date; write YYYY-MM-DD",
                    def.name
                ))
            })
        })
        .collect()
}

fn unknown_column(def: &FeatureDef, column: &str, names: &BTreeSet<String>) -> Error {
    // mlx's own helper columns (`__mlx_row`, which keeps the order of served records)
    // are none of the user's business.
    let names: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("__mlx_"))
        .collect();
    let hint = crate::config::did_you_mean(column, names.iter().copied())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    Error::Usage(format!(
        "feature `{}` reads column `{column}`, which the dataset does not have{hint} \
         (columns: {})",
        def.name,
        names.join(", ")
    ))
}

fn agg_expr(agg: Agg, e: Expr) -> Expr {
    match agg {
        Agg::Mean => e.mean(),
        Agg::Std => e.std(1),
        Agg::Min => e.min(),
        Agg::Max => e.max(),
        Agg::Sum => e.sum(),
        Agg::Count => e.count(),
        Agg::Median => e.median(),
    }
}

fn fixed(window: usize, min_periods: usize, agg: Agg) -> RollingOptionsFixedWindow {
    RollingOptionsFixedWindow {
        window_size: window,
        min_periods,
        weights: None,
        center: false,
        fn_params: (agg == Agg::Std).then_some(RollingFnParams::Var(RollingVarParams { ddof: 1 })),
    }
}

fn rolling_rows(e: Expr, agg: Agg, o: RollingOptionsFixedWindow) -> Expr {
    match agg {
        Agg::Mean => e.rolling_mean(o),
        Agg::Std => e.rolling_std(o),
        Agg::Min => e.rolling_min(o),
        Agg::Max => e.rolling_max(o),
        Agg::Sum => e.rolling_sum(o),
        Agg::Median => e.rolling_median(o),
        // Non-missing values in the window; `min_periods` still applies to the window.
        Agg::Count => e.is_not_null().cast(DataType::Float64).rolling_sum(o),
    }
}

fn rolling_time(e: Expr, by: Expr, agg: Agg, span: Span, min_periods: usize) -> Expr {
    let o = RollingOptionsDynamicWindow {
        window_size: span.polars(),
        min_periods,
        closed_window: ClosedWindow::Right,
        fn_params: (agg == Agg::Std).then_some(RollingFnParams::Var(RollingVarParams { ddof: 1 })),
    };
    match agg {
        Agg::Mean => e.rolling_mean_by(by, o),
        Agg::Std => e.rolling_std_by(by, o),
        Agg::Min => e.rolling_min_by(by, o),
        Agg::Max => e.rolling_max_by(by, o),
        Agg::Sum => e.rolling_sum_by(by, o),
        Agg::Median => e.rolling_median_by(by, o),
        Agg::Count => e
            .is_not_null()
            .cast(DataType::Float64)
            .rolling_sum_by(by, o),
    }
}

fn calendar(ts: Expr, part: CalendarPart) -> Expr {
    let dt = ts.dt();
    let e = match part {
        CalendarPart::DayOfWeek => dt.weekday() - lit(1),
        CalendarPart::DayOfMonth => dt.day(),
        CalendarPart::DayOfYear => dt.ordinal_day(),
        CalendarPart::Week => dt.week(),
        CalendarPart::Month => dt.month(),
        CalendarPart::Quarter => dt.quarter(),
        CalendarPart::Hour => dt.hour(),
        CalendarPart::Minute => dt.minute(),
        CalendarPart::Year => dt.year(),
    };
    e.cast(DataType::Int32)
}

fn over(e: Expr, keys: &[String]) -> Result<Expr> {
    if keys.is_empty() {
        return Ok(e);
    }
    let keys: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    e.over(keys).map_err(|err| Error::Runtime(err.to_string()))
}

fn is_temporal(dtype: &DataType) -> bool {
    matches!(dtype, DataType::Date | DataType::Datetime(_, _))
}

/// A rolling window over `x` (the input, shifted by `periods`): a row window, or a time
/// window over `data.time_column`.
fn rolling_window(
    def: &FeatureDef,
    roles: &Roles,
    schema: &Schema,
    x: Expr,
    agg: Agg,
) -> Result<Expr> {
    let window_text = def.window.clone().unwrap_or_default();
    let window = Window::parse(&window_text)
        .map_err(|m| Error::Usage(format!("feature `{}`: {m}", def.name)))?;
    Ok(match window {
        Window::Rows(w) => {
            let mp = def.min_periods.map_or(w, |m| m as usize);
            rolling_rows(x, agg, fixed(w, mp, agg))
        }
        Window::Time(span) => {
            let t = roles.time.ok_or_else(|| {
                Error::Usage(format!(
                    "feature `{}`: a time window needs `data.time_column`",
                    def.name
                ))
            })?;
            let dtype = schema.get(t).cloned().unwrap_or(DataType::Null);
            if !is_temporal(&dtype) {
                return Err(Error::Usage(format!(
                    "feature `{}`: a time window needs `{t}` to be a date or datetime, \
                     but it is {dtype}",
                    def.name
                )));
            }
            let mp = def.min_periods.map_or(1, |m| m as usize);
            rolling_time(x, col(t), agg, span, mp)
        }
    })
}

/// Whether the date of `t` is one of the feature's holidays.
fn holiday(def: &FeatureDef, t: &str) -> Result<Expr> {
    let days: Vec<i32> = holiday_dates(def)?
        .into_iter()
        .map(|d| {
            (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
        })
        .collect();
    let set = Series::new("holidays".into(), days)
        .cast(&DataType::Date)
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let date = col(t).dt().date();
    Ok(date
        .is_in(lit(set).implode(false), false)
        .fill_null(lit(false)))
}

/// One feature's expression(s): `(output name, expression)`.
fn feature_exprs(
    def: &FeatureDef,
    roles: &Roles,
    schema: &Schema,
    height: usize,
) -> Result<Vec<(String, Expr)>> {
    let names: BTreeSet<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let need = |c: &str| -> Result<()> {
        if names.contains(c) {
            Ok(())
        } else {
            Err(unknown_column(def, c, &names))
        }
    };
    let keys: Vec<String> = def.over.clone().unwrap_or_else(|| roles.entities.to_vec());
    for k in &keys {
        need(k)?;
    }
    let input = || -> Result<String> {
        let c = def
            .column
            .clone()
            .ok_or_else(|| Error::Usage(format!("feature `{}` needs `column`", def.name)))?;
        need(&c)?;
        Ok(c)
    };
    let timestamp = || -> Result<String> {
        let c = def
            .column
            .clone()
            .or_else(|| roles.time.map(str::to_owned))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "feature `{}` needs a timestamp: set `column` or `data.time_column`",
                    def.name
                ))
            })?;
        need(&c)?;
        let dtype = schema.get(c.as_str()).cloned().unwrap_or(DataType::Null);
        if !is_temporal(&dtype) {
            return Err(Error::Usage(format!(
                "feature `{}` reads `{c}` as a timestamp, but it is {dtype}; give the column a \
                 date type (`dtype: datetime` in `data.sources[].schema`)",
                def.name
            )));
        }
        Ok(c)
    };
    let shifted = |c: &str| -> Expr {
        let e = col(c).cast(DataType::Float64);
        match def.periods.unwrap_or(0) {
            0 => e,
            p => e.shift(lit(i64::from(p))),
        }
    };
    let agg = || {
        def.agg
            .ok_or_else(|| Error::Usage(format!("feature `{}` needs `agg`", def.name)))
    };
    let name = def.name.clone();
    let one = |e: Expr| -> Result<Vec<(String, Expr)>> { Ok(vec![(name.clone(), e)]) };
    match def.kind {
        FeatureKind::Lag => {
            let c = input()?;
            let p = i64::from(def.periods.unwrap_or(1));
            one(over(col(c.as_str()).shift(lit(p)), &keys)?)
        }
        FeatureKind::Diff => {
            let c = input()?;
            let p = i64::from(def.periods.unwrap_or(1));
            let x = col(c.as_str()).cast(DataType::Float64);
            one(over(x.clone() - x.shift(lit(p)), &keys)?)
        }
        FeatureKind::Rolling => {
            let c = input()?;
            let agg = agg()?;
            let e = rolling_window(def, roles, schema, shifted(&c), agg)?;
            one(over(e, &keys)?)
        }
        FeatureKind::Expanding => {
            let c = input()?;
            let agg = agg()?;
            // An expanding window is a row window as long as the data.
            let mp = def.min_periods.map_or(1, |m| m as usize);
            let e = rolling_rows(shifted(&c), agg, fixed(height.max(1), mp, agg));
            one(over(e, &keys)?)
        }
        FeatureKind::GroupAgg => {
            let c = input()?;
            if keys.is_empty() {
                return Err(Error::Usage(format!(
                    "feature `{}`: `group_agg` needs `over` (or `data.entity_columns`)",
                    def.name
                )));
            }
            one(over(
                agg_expr(agg()?, col(c.as_str()).cast(DataType::Float64)),
                &keys,
            )?)
        }
        FeatureKind::Calendar => {
            let t = timestamp()?;
            let part = def
                .part
                .ok_or_else(|| Error::Usage(format!("feature `{}` needs `part`", def.name)))?;
            one(calendar(col(t.as_str()), part))
        }
        FeatureKind::Cyclical => {
            let t = timestamp()?;
            let part = def
                .part
                .ok_or_else(|| Error::Usage(format!("feature `{}` needs `part`", def.name)))?;
            let period = part.period().ok_or_else(|| {
                Error::Usage(format!("feature `{}`: `year` has no cycle", def.name))
            })?;
            // As `np.sin(2 * np.pi * x / period)`, one value at a time (see
            // `expr::elementwise`).
            let part_value = calendar(col(t.as_str()), part);
            let angle = move |x: f64| 2.0 * std::f64::consts::PI * x / period;
            Ok(vec![
                (
                    format!("{name}_sin"),
                    expr::elementwise(part_value.clone(), move |x| angle(x).sin()),
                ),
                (
                    format!("{name}_cos"),
                    expr::elementwise(part_value, move |x| angle(x).cos()),
                ),
            ])
        }
        FeatureKind::Holiday => {
            let t = timestamp()?;
            one(holiday(def, &t)?)
        }
        FeatureKind::Expr => {
            let text = def.expr.clone().unwrap_or_default();
            let node = expr::parse(&text)
                .map_err(|m| Error::Usage(format!("feature `{}`: {m}", def.name)))?;
            for c in node.columns() {
                need(&c)?;
            }
            one(node.to_polars())
        }
    }
}

/// The columns a feature reads (besides the time column).
fn reads(def: &FeatureDef, roles: &Roles) -> Vec<String> {
    let mut out: Vec<String> = def.column.iter().cloned().collect();
    out.extend(def.over.clone().unwrap_or_else(|| roles.entities.to_vec()));
    if let Some(e) = def.expr.as_deref().and_then(|e| expr::parse(e).ok()) {
        out.extend(e.columns());
    }
    out
}

const DUPLICATE: &str = "__mlx_duplicate_";

/// Computes `defs` on `df` (a `dates_file` is read relative to the working directory).
///
/// Lags and windows need one row per entity and time (otherwise they depend on file
/// order): a duplicated pair is an error. Features that do not read each other are
/// evaluated in one Polars context, so window expressions over the same keys share
/// their grouping (and the duplicate check rides on it).
pub fn derive(
    df: DataFrame,
    defs: &[FeatureDef],
    roles: &Roles,
    incomplete: IncompleteRows,
) -> Result<Derived> {
    let polars = |e: PolarsError| Error::Runtime(format!("computing features: {e}"));
    let height = df.height();
    let mut lf = df.lazy();
    let time = match roles.time {
        Some(t) if lf.collect_schema().map_err(polars)?.get(t).is_some() => Some(t),
        _ => None,
    };
    if let Some(t) = time {
        lf = lf.sort(
            [t],
            SortMultipleOptions::default().with_maintain_order(true),
        );
    }
    let mut columns = Vec::new();
    let mut history = Vec::new();
    let mut warnings = Vec::new();
    let mut pending: Vec<Expr> = Vec::new();
    let mut pending_names: BTreeSet<String> = BTreeSet::new();
    let mut checked: Vec<Vec<String>> = Vec::new();
    for def in defs {
        if reads(def, roles).iter().any(|c| pending_names.contains(c)) {
            lf = lf.with_columns(std::mem::take(&mut pending));
            pending_names.clear();
        }
        let schema = lf.collect_schema().map_err(polars)?;
        let exprs = feature_exprs(def, roles, &schema, height)?;
        for (name, _) in &exprs {
            if schema.get(name.as_str()).is_some() || pending_names.contains(name) {
                return Err(Error::Usage(format!(
                    "feature `{}` would overwrite the existing column `{name}`; rename the feature",
                    def.name
                )));
            }
            if def.kind.is_ordered() {
                history.push((name.clone(), def));
            }
            columns.push(DerivedColumn {
                name: name.clone(),
                kind: def.kind.as_str().to_string(),
                missing: 0,
            });
        }
        if let (Some(t), true) = (time, def.kind.is_ordered()) {
            // In time order, a row whose entity's previous row has the same time is a
            // duplicated (entity, time) pair.
            let keys = def.over.clone().unwrap_or_else(|| roles.entities.to_vec());
            if !checked.contains(&keys) {
                let dup = over(col(t).shift(lit(1)), &keys)?.eq(col(t));
                pending.push(dup.alias(format!("{DUPLICATE}{}", checked.len())));
                checked.push(keys);
            }
        }
        if matches!(def.kind, FeatureKind::Rolling | FeatureKind::Expanding)
            && def.periods.unwrap_or(0) == 0
            && def.column.is_some()
            && def.column.as_deref() == roles.target
        {
            warnings.push(format!(
                "feature `{}` includes the current row's target `{}`, so the model sees the \
                 label it predicts; set `periods: 1` to use earlier rows only",
                def.name,
                def.column.as_deref().unwrap_or_default()
            ));
        }
        for (n, e) in exprs {
            pending.push(e.alias(n.as_str()));
            pending_names.insert(n);
        }
    }
    if !pending.is_empty() {
        lf = lf.with_columns(pending);
    }
    let mut df = lf.collect().map_err(polars)?;
    drop_duplicate_flags(&mut df, &checked, time.unwrap_or_default())?;
    for c in &mut columns {
        c.missing = df
            .column(c.name.as_str())
            .map(|s| s.null_count() as u64)
            .unwrap_or(0);
    }
    // A window longer than every entity's history leaves the feature empty everywhere.
    for (name, def) in &history {
        let missing = columns
            .iter()
            .find(|c| &c.name == name)
            .map_or(0, |c| c.missing);
        if height > 0 && missing as usize == height {
            let keys = def.over.clone().unwrap_or_else(|| roles.entities.to_vec());
            let longest = longest_group(&df, &keys).map_err(polars)?;
            return Err(Error::Usage(format!(
                "feature `{name}` is missing on every row: its window (`periods`/`window`/\
                 `min_periods`) needs more rows than the longest {} has ({longest}); shorten \
                 the window or lower `min_periods`",
                if keys.is_empty() {
                    "dataset"
                } else {
                    "entity history"
                }
            )));
        }
    }
    let names: Vec<String> = history.iter().map(|(n, _)| n.clone()).collect();
    let (df, dropped) = incomplete_rows(df, &names, incomplete)?;
    Ok(Derived {
        df,
        columns,
        dropped,
        warnings,
    })
}

/// Fails on a duplicated (entity, time) pair, which the flag columns `checked` (one per
/// set of keys) mark; drops the flags.
fn drop_duplicate_flags(df: &mut DataFrame, checked: &[Vec<String>], t: &str) -> Result<()> {
    let polars = |e: PolarsError| Error::Runtime(format!("computing features: {e}"));
    for (i, keys) in checked.iter().enumerate() {
        let name = format!("{DUPLICATE}{i}");
        let flags = df
            .column(&name)
            .map_err(polars)?
            .bool()
            .map_err(polars)?
            .clone();
        let n = flags.sum().unwrap_or(0);
        if n > 0 {
            let row = flags.iter().position(|v| v == Some(true)).unwrap_or(0);
            let example: Vec<String> = keys
                .iter()
                .map(String::as_str)
                .chain([t])
                .map(|c| {
                    df.column(c)
                        .and_then(|c| c.get(row))
                        .map(|v| key_text(&v))
                        .unwrap_or_default()
                })
                .collect();
            return Err(Error::Runtime(format!(
                "the dataset has {n} rows repeating the ({}, {t}) of an earlier row, e.g. ({}); \
                 lags and windows need one row per entity and time: remove the duplicates \
                 (keep the latest version of each row) and rerun",
                keys.join(", "),
                example.join(", ")
            )));
        }
        df.drop_in_place(&name).map_err(polars)?;
    }
    Ok(())
}

/// Rows missing a lag or window feature, kept, dropped or zero-filled
/// (`features.incomplete_rows`); returns the rows and how many were dropped.
fn incomplete_rows(
    mut df: DataFrame,
    names: &[String],
    incomplete: IncompleteRows,
) -> Result<(DataFrame, u64)> {
    let polars = |e: PolarsError| Error::Runtime(format!("computing features: {e}"));
    let mut dropped = 0;
    if !names.is_empty() {
        match incomplete {
            IncompleteRows::Keep => {}
            IncompleteRows::Drop => {
                let mask = names
                    .iter()
                    .map(|n| col(n.as_str()).is_not_null())
                    .reduce(|a, b| a.and(b))
                    .unwrap_or(lit(true));
                let before = df.height();
                df = df.lazy().filter(mask).collect().map_err(polars)?;
                dropped = (before - df.height()) as u64;
            }
            IncompleteRows::Zero => {
                df = df
                    .lazy()
                    .with_columns(
                        names
                            .iter()
                            .map(|n| col(n.as_str()).fill_null(lit(0)))
                            .collect::<Vec<_>>(),
                    )
                    .collect()
                    .map_err(polars)?;
            }
        }
    }
    Ok((df, dropped))
}

fn longest_group(df: &DataFrame, keys: &[String]) -> PolarsResult<u64> {
    if keys.is_empty() {
        return Ok(df.height() as u64);
    }
    let counts = df
        .clone()
        .lazy()
        .group_by(keys.iter().map(|k| col(k.as_str())).collect::<Vec<_>>())
        .agg([len().alias("__n")])
        .select([col("__n").max()])
        .collect()?;
    let v = counts.column("__n")?.get(0)?;
    Ok(v.extract::<u64>().unwrap_or(0))
}

/// Fails when two rows share an entity key and a timestamp: lags and point-in-time joins
/// would then depend on file order.
pub fn check_unique_keys(df: &DataFrame, keys: &[String], time: &str, what: &str) -> Result<()> {
    let mut cols: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    cols.push(col(time));
    let dup = df
        .clone()
        .lazy()
        .group_by(cols)
        .agg([len().alias("__n")])
        .filter(col("__n").gt(lit(1)))
        .collect()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    if dup.height() == 0 {
        return Ok(());
    }
    let row = dup
        .get_row(0)
        .map(|r| {
            r.0.iter()
                .take(keys.len() + 1)
                .map(key_text)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Err(Error::Runtime(format!(
        "{what} has {} duplicated ({}, {time}) pairs, e.g. ({row}); each entity may have one \
         row per timestamp: remove the duplicates (keep the latest version of each row) and rerun",
        dup.height(),
        keys.join(", ")
    )))
}
/// An entity key value as the text used in online keys.
pub fn key_text(v: &AnyValue) -> String {
    match mlx_data::any_to_json(v) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}
