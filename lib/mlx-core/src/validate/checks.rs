//! Schema and data-quality checks of one dataset against `validation:` in the config
//! (and against the frozen reference's schema).
//!
//! The rules and their messages are written once, over [`Dataset`]: what each check
//! needs to know of the data (a column's missing values, how many values fall outside
//! a range, ...). The local engine answers from a Polars frame ([`Local`]); the Spark
//! engine answers with queries run where the data is (`validate::spark`).

use std::collections::{BTreeMap, BTreeSet};

use mlx_contracts::config::{ColumnRule, DType, OutlierMethod, Validation};
use mlx_contracts::validate::{Check, CheckKind, ColumnKind, Reference};
use mlx_contracts::Status;
use mlx_data::polars::prelude::{DataFrame, DataType};
use mlx_data::{kind_of, Kind};

use crate::error::{Error, Result};

/// One column as the checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnFacts {
    /// Its name.
    pub name: String,
    /// The config type that describes it.
    pub dtype: DType,
    /// Whether it is text proper (a `string` satisfies `dtype: string`).
    pub text: bool,
    /// What it holds.
    pub kind: Kind,
    /// The engine's name of its type, for messages (`str`, `i64`; `string`, `bigint`).
    pub type_name: String,
    /// Nulls, and NaN in float columns.
    pub missing: u64,
}

/// What the checks ask of a dataset. Each answer is exact.
pub trait Dataset {
    /// Its rows.
    fn rows(&self) -> u64;
    /// Its columns, in order.
    fn columns(&self) -> &[ColumnFacts];
    /// The first five non-null values (as text, sorted) outside `allowed` with their
    /// counts, and how many values are outside in all.
    fn outside_allowed(
        &self,
        column: &str,
        allowed: &BTreeSet<&str>,
    ) -> Result<(Vec<(String, u64)>, u64)>;
    /// Of a numeric column's non-NaN values: how many are below `min` and above
    /// `max`, and the smallest and largest value.
    fn out_of_range(&self, column: &str, min: Option<f64>, max: Option<f64>) -> Result<RangeFacts>;
    /// How many non-null values (as text) do not match `re` (anchored), and the first
    /// of them in row order.
    fn pattern_misses(
        &self,
        column: &str,
        re: &regex::Regex,
        pattern: &str,
    ) -> Result<(u64, Option<String>)>;
    /// Whether a non-null value occurs twice.
    fn has_duplicates(&self, column: &str) -> Result<bool>;
    /// The newest value of a temporal column, in milliseconds since the epoch.
    fn max_timestamp_ms(&self, column: &str) -> Result<Option<i64>>;
    /// Of a numeric column's non-NaN values: how many are outliers by `method`, and
    /// how many there are.
    fn outliers(
        &self,
        column: &str,
        method: OutlierMethod,
        threshold: Option<f64>,
    ) -> Result<(u64, u64)>;
}

/// See [`Dataset::out_of_range`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeFacts {
    /// Values below the minimum.
    pub below: u64,
    /// Values above the maximum.
    pub above: u64,
    /// The smallest value (NaN when there is none).
    pub min: f64,
    /// The largest value (NaN when there is none).
    pub max: f64,
}

/// A Polars frame on this machine.
pub struct Local<'a> {
    df: &'a DataFrame,
    columns: Vec<ColumnFacts>,
}

impl<'a> Local<'a> {
    /// The frame's facts.
    pub fn new(df: &'a DataFrame) -> Self {
        let columns = df
            .columns()
            .iter()
            .map(|c| ColumnFacts {
                name: c.name().to_string(),
                dtype: dtype_of(c.dtype()),
                text: matches!(c.dtype(), DataType::String),
                kind: kind_of(c.dtype()),
                type_name: c.dtype().to_string(),
                missing: mlx_data::missing_count(c),
            })
            .collect();
        Local { df, columns }
    }

    fn column(&self, name: &str) -> Result<&mlx_data::polars::prelude::Column> {
        self.df.column(name).map_err(data_err)
    }
}

impl Dataset for Local<'_> {
    fn rows(&self) -> u64 {
        self.df.height() as u64
    }
    fn columns(&self) -> &[ColumnFacts] {
        &self.columns
    }
    fn outside_allowed(
        &self,
        column: &str,
        allowed: &BTreeSet<&str>,
    ) -> Result<(Vec<(String, u64)>, u64)> {
        let values = mlx_data::category_counts(self.column(column)?).map_err(data_err)?;
        let bad: Vec<(String, u64)> = values
            .into_iter()
            .filter(|(k, _)| !allowed.contains(k.as_str()))
            .collect();
        let total = bad.iter().map(|(_, n)| *n).sum();
        Ok((bad.into_iter().take(5).collect(), total))
    }
    fn out_of_range(&self, column: &str, min: Option<f64>, max: Option<f64>) -> Result<RangeFacts> {
        let values = mlx_data::numeric_sorted(self.column(column)?).map_err(data_err)?;
        let below = min.map_or(0, |m| values.partition_point(|&x| x < m));
        let above = max.map_or(0, |m| values.len() - values.partition_point(|&x| x <= m));
        Ok(RangeFacts {
            below: below as u64,
            above: above as u64,
            min: values.first().copied().unwrap_or(f64::NAN),
            max: values.last().copied().unwrap_or(f64::NAN),
        })
    }
    fn pattern_misses(
        &self,
        column: &str,
        re: &regex::Regex,
        _pattern: &str,
    ) -> Result<(u64, Option<String>)> {
        let values = mlx_data::text_values(self.column(column)?).map_err(data_err)?;
        let mut bad = values.into_iter().flatten().filter(|s| !re.is_match(s));
        let first = bad.next();
        let n = u64::from(first.is_some()) + bad.count() as u64;
        Ok((n, first))
    }
    fn has_duplicates(&self, column: &str) -> Result<bool> {
        mlx_data::has_duplicates(self.column(column)?).map_err(data_err)
    }
    fn max_timestamp_ms(&self, column: &str) -> Result<Option<i64>> {
        mlx_data::max_timestamp_ms(self.column(column)?).map_err(data_err)
    }
    fn outliers(
        &self,
        column: &str,
        method: OutlierMethod,
        threshold: Option<f64>,
    ) -> Result<(u64, u64)> {
        let values = mlx_data::numeric_sorted(self.column(column)?).map_err(data_err)?;
        Ok((
            outliers(&values, method, threshold) as u64,
            values.len() as u64,
        ))
    }
}

fn check(
    kind: CheckKind,
    column: Option<&str>,
    status: Status,
    value: Option<f64>,
    threshold: Option<f64>,
    message: String,
) -> Check {
    Check {
        kind,
        column: column.map(str::to_owned),
        status,
        value,
        threshold,
        message,
    }
}

/// A check that passes when nothing offends: value = offending count, threshold 0.
fn count_check(
    kind: CheckKind,
    column: &str,
    offending: u64,
    ok: String,
    bad: impl FnOnce() -> String,
) -> Check {
    let passed = offending == 0;
    check(
        kind,
        Some(column),
        if passed {
            Status::Passed
        } else {
            Status::Failed
        },
        Some(offending as f64),
        Some(0.0),
        if passed { ok } else { bad() },
    )
}

/// A check that fails when `value` is above `limit`.
fn limit_check(
    kind: CheckKind,
    column: Option<&str>,
    value: f64,
    limit: f64,
    message: String,
) -> Check {
    check(
        kind,
        column,
        if value > limit {
            Status::Failed
        } else {
            Status::Passed
        },
        Some(value),
        Some(limit),
        message,
    )
}

fn data_err(e: impl std::fmt::Display) -> Error {
    Error::Runtime(e.to_string())
}

/// Whether a column satisfies a configured type.
fn dtype_matches(want: DType, got: &ColumnFacts) -> bool {
    match want {
        DType::Int => got.dtype == DType::Int,
        DType::Float => matches!(got.dtype, DType::Float | DType::Int),
        DType::String => got.text,
        DType::Bool => got.dtype == DType::Bool,
        DType::Date => got.dtype == DType::Date,
        DType::Datetime => got.dtype == DType::Datetime,
        DType::Category => got.text || matches!(got.dtype, DType::Category | DType::Bool),
    }
}

/// The config type that describes a Polars type.
pub fn dtype_of(got: &DataType) -> DType {
    if got.is_integer() {
        DType::Int
    } else if got.is_float() {
        DType::Float
    } else if matches!(got, DataType::Boolean) {
        DType::Bool
    } else if matches!(got, DataType::Date) {
        DType::Date
    } else if matches!(got, DataType::Datetime(..)) {
        DType::Datetime
    } else if matches!(got, DataType::Categorical(..) | DataType::Enum(..)) {
        DType::Category
    } else {
        DType::String
    }
}

pub(crate) fn dtype_name(t: DType) -> &'static str {
    match t {
        DType::Int => "int",
        DType::Float => "float",
        DType::String => "string",
        DType::Bool => "bool",
        DType::Date => "date",
        DType::Datetime => "datetime",
        DType::Category => "category",
    }
}

/// Every configured check, plus the reference schema's required columns and types.
pub fn run(
    ds: &dyn Dataset,
    v: &Validation,
    time_column: Option<&str>,
    reference: Option<&Reference>,
    now_ms: i64,
) -> Result<Vec<Check>> {
    let mut out = Vec::new();
    let rows = ds.rows();
    let by_name: BTreeMap<&str, &ColumnFacts> =
        ds.columns().iter().map(|c| (c.name.as_str(), c)).collect();
    if !row_checks(v, rows, &mut out) {
        return Ok(out);
    }
    if let Some(r) = reference {
        reference_checks(&by_name, r, &mut out);
    }
    // Overall missing cells.
    let total_cells = rows * ds.columns().len() as u64;
    let missing: u64 = ds.columns().iter().map(|c| c.missing).sum();
    let frac = missing as f64 / total_cells.max(1) as f64;
    out.push(limit_check(
        CheckKind::MissingFraction,
        None,
        frac,
        v.max_missing_fraction,
        format!(
            "{:.2}% of all cells are missing (limit {:.2}%)",
            frac * 100.0,
            v.max_missing_fraction * 100.0
        ),
    ));

    for (name, rule) in &v.columns {
        column_checks(ds, &by_name, name, rule, rows, &mut out)?;
    }
    if !freshness_check(ds, &by_name, v, time_column, now_ms, &mut out)? {
        return Ok(out);
    }
    outlier_checks(ds, v, &mut out)?;
    Ok(out)
}

/// The row count against `validation.min_rows` and `max_rows`, and a failure for no
/// rows at all; `false` when there are none (no other check can run).
fn row_checks(v: &Validation, rows: u64, out: &mut Vec<Check>) -> bool {
    if let Some(min) = v.min_rows {
        let ok = rows >= min;
        out.push(check(
            CheckKind::RowCount,
            None,
            if ok { Status::Passed } else { Status::Failed },
            Some(rows as f64),
            Some(min as f64),
            if ok {
                format!("{rows} rows (at least {min} required)")
            } else {
                format!("only {rows} rows; at least {min} are required (validation.min_rows)")
            },
        ));
    }
    if let Some(max) = v.max_rows {
        let ok = rows <= max;
        out.push(check(
            CheckKind::RowCount,
            None,
            if ok { Status::Passed } else { Status::Failed },
            Some(rows as f64),
            Some(max as f64),
            if ok {
                format!("{rows} rows (at most {max} allowed)")
            } else {
                format!("{rows} rows; at most {max} are allowed (validation.max_rows)")
            },
        ));
    }
    if rows == 0 {
        out.push(check(
            CheckKind::RowCount,
            None,
            Status::Failed,
            Some(0.0),
            Some(1.0),
            "the dataset has no rows; check the ingest step and its sources".into(),
        ));
        return false;
    }
    true
}

/// The frozen reference's schema: every reference column must still be there, with a
/// compatible type.
fn reference_checks(by_name: &BTreeMap<&str, &ColumnFacts>, r: &Reference, out: &mut Vec<Check>) {
    for c in &r.columns {
        match by_name.get(c.name.as_str()) {
            None => out.push(check(
                CheckKind::RequiredColumn,
                Some(&c.name),
                Status::Failed,
                None,
                None,
                format!("column `{}` of the frozen reference is missing; restore it, or re-freeze the reference with `mlx-validate --freeze`", c.name),
            )),
            Some(col) => {
                let compatible = match c.kind {
                    ColumnKind::Numeric => col.kind == Kind::Numeric,
                    ColumnKind::Categorical => col.kind != Kind::Numeric,
                };
                if !compatible {
                    out.push(check(
                        CheckKind::Dtype,
                        Some(&c.name),
                        Status::Failed,
                        None,
                        None,
                        format!("column `{}` was {} in the reference but is {} now; cast it back or re-freeze the reference", c.name, dtype_name(c.dtype), dtype_name(col.dtype)),
                    ));
                }
            }
        }
    }
}

/// One column's rules (`validation.columns.<name>`): presence, type, missing values,
/// then its values.
fn column_checks(
    ds: &dyn Dataset,
    by_name: &BTreeMap<&str, &ColumnFacts>,
    name: &str,
    rule: &ColumnRule,
    rows: u64,
    out: &mut Vec<Check>,
) -> Result<()> {
    let Some(col) = by_name.get(name).copied() else {
        if rule.required != Some(false) {
            let have: Vec<&str> = by_name.keys().copied().collect();
            out.push(check(
                CheckKind::RequiredColumn,
                Some(name),
                Status::Failed,
                None,
                None,
                format!(
                    "column `{name}` is required by validation.columns but missing (the data has: {})",
                    have.join(", ")
                ),
            ));
        }
        return Ok(());
    };
    if let Some(want) = rule.dtype {
        let wrong = u64::from(!dtype_matches(want, col));
        out.push(count_check(
            CheckKind::Dtype,
            name,
            wrong,
            format!("`{name}` is {}", dtype_name(want)),
            || {
                format!(
                    "`{name}` should be {} but is {} ({})",
                    dtype_name(want),
                    dtype_name(col.dtype),
                    col.type_name
                )
            },
        ));
    }
    let col_missing = col.missing;
    if rule.nullable == Some(false) {
        out.push(count_check(
            CheckKind::Nullable,
            name,
            col_missing,
            format!("`{name}` has no missing values"),
            || format!("`{name}` has {col_missing} missing values and must have none"),
        ));
    }
    if let Some(limit) = rule.max_missing_fraction {
        let f = col_missing as f64 / rows as f64;
        out.push(limit_check(
            CheckKind::MissingFraction,
            Some(name),
            f,
            limit,
            format!(
                "{:.2}% of `{name}` is missing (limit {:.2}%)",
                f * 100.0,
                limit * 100.0
            ),
        ));
    }
    value_checks(ds, col, rule, out)
}

/// One column's values against its rules: allowed values, range, pattern, uniqueness.
fn value_checks(
    ds: &dyn Dataset,
    col: &ColumnFacts,
    rule: &ColumnRule,
    out: &mut Vec<Check>,
) -> Result<()> {
    let name = col.name.as_str();
    if !rule.allowed.is_empty() {
        let allowed: BTreeSet<&str> = rule.allowed.iter().map(String::as_str).collect();
        let (bad, n_bad) = ds.outside_allowed(name, &allowed)?;
        out.push(count_check(
            CheckKind::AllowedValues,
            name,
            n_bad,
            format!("`{name}` holds only allowed values"),
            || {
                let examples: Vec<String> =
                    bad.iter().map(|(k, n)| format!("`{k}` ({n})")).collect();
                format!(
                    "`{name}` has {n_bad} values outside the allowed list: {}",
                    examples.join(", ")
                )
            },
        ));
    }
    if rule.min.is_some() || rule.max.is_some() {
        let range = format!(
            "[{}, {}]",
            rule.min.map_or("-inf".into(), |m| m.to_string()),
            rule.max.map_or("inf".into(), |m| m.to_string())
        );
        if col.kind != Kind::Numeric {
            out.push(count_check(CheckKind::Range, name, 1, String::new(), || {
                format!(
                    "`{name}` is {}, so its range {range} cannot be checked; fix the values or give it a numeric type in data.sources[].dtypes",
                    col.type_name
                )
            }));
        } else {
            let r = ds.out_of_range(name, rule.min, rule.max)?;
            out.push(count_check(
                CheckKind::Range,
                name,
                r.below + r.above,
                format!("`{name}` is within {range}"),
                || {
                    format!(
                        "`{name}` has {} values outside {range} (observed min {}, max {})",
                        r.below + r.above,
                        r.min,
                        r.max
                    )
                },
            ));
        }
    }
    if let Some(p) = &rule.pattern {
        let re = regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
            Error::Usage(format!(
                "validation.columns.{name}.pattern is not a valid regular expression: {e}"
            ))
        })?;
        let (n_bad, first) = ds.pattern_misses(name, &re, p)?;
        out.push(count_check(
            CheckKind::Pattern,
            name,
            n_bad,
            format!("`{name}` matches `{p}`"),
            || {
                format!(
                    "`{name}` has {n_bad} values not matching `{p}`, e.g. `{}`",
                    first.unwrap_or_default()
                )
            },
        ));
    }
    if rule.unique {
        let dup = u64::from(ds.has_duplicates(name)?);
        out.push(count_check(
            CheckKind::Unique,
            name,
            dup,
            format!("`{name}` is unique"),
            || format!("`{name}` must be unique but has duplicate values"),
        ));
    }
    Ok(())
}

/// The time column's freshness against `validation.max_staleness`; `false` when the
/// time column cannot be read (the checks stop there).
fn freshness_check(
    ds: &dyn Dataset,
    by_name: &BTreeMap<&str, &ColumnFacts>,
    v: &Validation,
    time_column: Option<&str>,
    now_ms: i64,
    out: &mut Vec<Check>,
) -> Result<bool> {
    if let (Some(limit), Some(tc)) = (&v.max_staleness, time_column) {
        let limit_ms = parse_duration_ms(limit).ok_or_else(|| Error::Usage(format!("validation.max_staleness: `{limit}` is not a duration; write e.g. `2d`, `12h`, `30m`")))?;
        let problem = match by_name.get(tc) {
            None => Some(format!("data.time_column `{tc}` is not in the data")),
            Some(col) if col.kind != Kind::Temporal => Some(format!(
                "data.time_column `{tc}` is {}, not a date or datetime; give it a type in data.sources[].dtypes",
                col.type_name
            )),
            Some(_) => None,
        };
        if let Some(message) = problem {
            out.push(check(
                CheckKind::Freshness,
                Some(tc),
                Status::Failed,
                None,
                None,
                message,
            ));
            return Ok(false);
        }
        let newest = ds.max_timestamp_ms(tc)?;
        let age = newest.map(|t| now_ms - t);
        let ok = age.is_some_and(|a| a <= limit_ms);
        out.push(check(
            CheckKind::Freshness,
            Some(tc),
            if ok { Status::Passed } else { Status::Failed },
            age.map(|a| a as f64 / 3_600_000.0),
            Some(limit_ms as f64 / 3_600_000.0),
            match age {
                Some(a) => format!(
                    "the newest `{tc}` is {:.1} hours old (limit {limit})",
                    a as f64 / 3_600_000.0
                ),
                None => format!("`{tc}` has no values"),
            },
        ));
    }
    Ok(true)
}

/// Outlier rates of the numeric columns (`validation.outliers`).
fn outlier_checks(ds: &dyn Dataset, v: &Validation, out: &mut Vec<Check>) -> Result<()> {
    if v.outliers.method != OutlierMethod::None {
        for col in ds.columns() {
            if col.kind != Kind::Numeric {
                continue;
            }
            let (n_out, n) = ds.outliers(&col.name, v.outliers.method, v.outliers.threshold)?;
            if n == 0 {
                continue;
            }
            let f = n_out as f64 / n as f64;
            let name = col.name.clone();
            out.push(check(
                CheckKind::Outliers,
                Some(&name),
                if f > v.outliers.max_fraction {
                    Status::Warned
                } else {
                    Status::Passed
                },
                Some(f),
                Some(v.outliers.max_fraction),
                format!(
                    "{:.2}% of `{name}` are outliers by {} (limit {:.2}%)",
                    f * 100.0,
                    if v.outliers.method == OutlierMethod::Iqr {
                        "IQR"
                    } else {
                        "z-score"
                    },
                    v.outliers.max_fraction * 100.0
                ),
            ));
        }
    }
    Ok(())
}

/// Outliers in a sorted sample: outside `[Q1 - k IQR, Q3 + k IQR]` (quartiles as
/// `numpy.quantile`, `k` default 1.5), or `|x - mean| / std > t` (population std,
/// `t` default 3; none when the std is 0).
pub fn outliers(sorted: &[f64], method: OutlierMethod, threshold: Option<f64>) -> usize {
    match method {
        OutlierMethod::None => 0,
        OutlierMethod::Iqr => {
            let k = threshold.unwrap_or(1.5);
            let q1 = mlx_stats::binning::quantile_sorted(sorted, 0.25);
            let q3 = mlx_stats::binning::quantile_sorted(sorted, 0.75);
            let (lo, hi) = (q1 - k * (q3 - q1), q3 + k * (q3 - q1));
            sorted.partition_point(|&x| x < lo)
                + (sorted.len() - sorted.partition_point(|&x| x <= hi))
        }
        OutlierMethod::Zscore => {
            let t = threshold.unwrap_or(3.0);
            let n = sorted.len() as f64;
            let mean = mlx_stats::sum::np_sum(sorted) / n;
            let std = mlx_stats::wasserstein::std_population(sorted);
            if std == 0.0 {
                0
            } else {
                sorted
                    .iter()
                    .filter(|&&x| ((x - mean) / std).abs() > t)
                    .count()
            }
        }
    }
}

/// `90s`, `30m`, `12h`, `2d`, `1w` in milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "w" => 604_800_000.0,
        _ => return None,
    };
    Some((n * ms) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("2d"), Some(172_800_000));
        assert_eq!(parse_duration_ms("1.5h"), Some(5_400_000));
        assert_eq!(parse_duration_ms("2 days"), None);
        assert_eq!(parse_duration_ms("h"), None);
    }

    #[test]
    fn outlier_rules_by_hand() {
        // Q1 = 2, Q3 = 4 for 1..5; IQR 2; fences -1 and 7.
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 8.0, -2.0];
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        assert_eq!(
            outliers(&s, OutlierMethod::Iqr, None),
            0,
            "quartiles move with the tails"
        );
        let s: Vec<f64> = (0..100)
            .map(|i| if i == 99 { 1000.0 } else { f64::from(i % 10) })
            .collect();
        let mut s2 = s.clone();
        s2.sort_by(f64::total_cmp);
        assert_eq!(outliers(&s2, OutlierMethod::Iqr, None), 1);
        assert_eq!(outliers(&s2, OutlierMethod::Zscore, None), 1);
        assert_eq!(outliers(&[3.0, 3.0], OutlierMethod::Zscore, None), 0);
    }
}
