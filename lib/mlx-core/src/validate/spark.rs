//! Validation on Spark (`engine.kind: spark`): the checks and the drift statistics
//! computed where the dataset is. Only summaries come to this machine (counts, the
//! values outside a rule, bin counts, the two KS extremes, one Wasserstein sum);
//! the rules, the messages and every statistic's formula are the local engine's
//! (`checks`, `drift`, `mlx-stats`). docs/spark.md says per method what is exact.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use mlx_contracts::config::{DType, DriftMethod, OutlierMethod, PsiBins};
use mlx_contracts::ingest::ClusterDataset;
use mlx_contracts::validate::{
    ColumnDrift, ColumnKind, NumericBaseline, Reference, ReferenceColumn, REFERENCE_VERSION,
};
use mlx_contracts::FileDigest;
use mlx_data::Kind;
use mlx_spark::sql::{double, ident, string};
use mlx_spark::{Cluster, Field, Read, Scalar};

use super::checks::{ColumnFacts, Dataset, RangeFacts};
use crate::drift::{self, NumericSummary};
use crate::error::{Error, Result};

/// A dataset on the cluster, named by a temporary view of the session.
pub struct OnCluster<'c> {
    cluster: &'c Cluster,
    view: String,
    rows: u64,
    columns: Vec<ColumnFacts>,
    spark_types: BTreeMap<String, String>,
    /// Mask secrets and say where in messages.
    what: String,
}

fn spark_err(what: &str, e: mlx_spark::SparkError) -> Error {
    match e {
        mlx_spark::SparkError::Unreachable { .. } | mlx_spark::SparkError::Failed { .. } => {
            Error::Runtime(format!("{what}: {e}"))
        }
        _ => Error::Runtime(format!("{what}: Spark refused a query of mlx's: {e}")),
    }
}

fn facts(f: &Field) -> (DType, bool, Kind) {
    let t = f.spark_type.as_str();
    let kind = match f.kind {
        mlx_spark::Kind::Numeric => Kind::Numeric,
        mlx_spark::Kind::Categorical => Kind::Categorical,
        mlx_spark::Kind::Temporal => Kind::Temporal,
        mlx_spark::Kind::Other => Kind::Other,
    };
    let text = t == "string" || t.starts_with("char") || t.starts_with("varchar");
    let dtype = if f.integer {
        DType::Int
    } else if f.kind == mlx_spark::Kind::Numeric {
        DType::Float
    } else if t == "boolean" {
        DType::Bool
    } else if t == "date" {
        DType::Date
    } else if t.starts_with("timestamp") {
        DType::Datetime
    } else {
        DType::String
    };
    (dtype, text, kind)
}

impl<'c> OnCluster<'c> {
    /// The dataset at `d.location`, as view `view`; one pass counts its rows and every
    /// column's missing values.
    pub fn open(cluster: &'c Cluster, d: &ClusterDataset, view: &str) -> Result<Self> {
        let what = format!("the dataset at {}", d.location);
        let frame = cluster
            .read(&Read::Path {
                path: d.location.clone(),
                format: d.format.clone(),
                options: BTreeMap::new(),
            })
            .map_err(|e| spark_err(&what, e))?;
        let fields = frame.schema().map_err(|e| spark_err(&what, e))?;
        frame.view(view).map_err(|e| spark_err(&what, e))?;
        let mut select = vec!["count(*)".to_owned()];
        for f in &fields {
            let c = ident(&f.name);
            select.push(if matches!(f.spark_type.as_str(), "double" | "float") {
                format!("count_if({c} IS NULL OR isnan({c}))")
            } else {
                format!("count_if({c} IS NULL)")
            });
        }
        let row = first_row(
            cluster
                .rows(&format!(
                    "SELECT {} FROM {}",
                    select.join(", "),
                    ident(view)
                ))
                .map_err(|e| spark_err(&what, e))?,
        );
        let int = |i: usize| row.get(i).and_then(Scalar::as_i64).unwrap_or(0).max(0) as u64;
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (dtype, text, kind) = facts(f);
                ColumnFacts {
                    name: f.name.clone(),
                    dtype,
                    text,
                    kind,
                    type_name: f.spark_type.clone(),
                    missing: int(i + 1),
                }
            })
            .collect();
        Ok(OnCluster {
            cluster,
            view: view.to_owned(),
            rows: int(0),
            columns,
            spark_types: fields
                .iter()
                .map(|f| (f.name.clone(), f.spark_type.clone()))
                .collect(),
            what,
        })
    }

    fn rows_of(&self, q: &str) -> Result<Vec<Vec<Scalar>>> {
        self.cluster.rows(q).map_err(|e| spark_err(&self.what, e))
    }

    fn one(&self, q: &str) -> Result<Vec<Scalar>> {
        self.rows_of(q).map(first_row)
    }

    /// `SELECT x FROM view WHERE x is a number`: the column as a double, nulls and NaN
    /// left out (what the local engine's sorted values hold).
    fn numbers(&self, column: &str) -> String {
        let c = ident(column);
        format!(
            "(SELECT CAST({c} AS DOUBLE) AS x FROM {} WHERE {c} IS NOT NULL AND NOT isnan(CAST({c} AS DOUBLE)))",
            ident(&self.view)
        )
    }
}

fn first_row(rows: Vec<Vec<Scalar>>) -> Vec<Scalar> {
    rows.into_iter().next().unwrap_or_default()
}

fn f64_at(row: &[Scalar], i: usize) -> f64 {
    row.get(i).and_then(Scalar::as_f64).unwrap_or(f64::NAN)
}

fn u64_at(row: &[Scalar], i: usize) -> u64 {
    row.get(i).and_then(Scalar::as_i64).unwrap_or(0).max(0) as u64
}

impl Dataset for OnCluster<'_> {
    fn rows(&self) -> u64 {
        self.rows
    }
    fn columns(&self) -> &[ColumnFacts] {
        &self.columns
    }
    fn outside_allowed(
        &self,
        column: &str,
        allowed: &BTreeSet<&str>,
    ) -> Result<(Vec<(String, u64)>, u64)> {
        let c = ident(column);
        let list: Vec<String> = allowed.iter().map(|a| string(a)).collect();
        let bad = format!(
            "SELECT CAST({c} AS STRING) AS v, count(*) AS n FROM {} WHERE {c} IS NOT NULL AND CAST({c} AS STRING) NOT IN ({}) GROUP BY v",
            ident(&self.view),
            list.join(", ")
        );
        let total = u64_at(
            &self.one(&format!("SELECT coalesce(sum(n), 0) FROM ({bad})"))?,
            0,
        );
        let examples = self
            .rows_of(&format!("{bad} ORDER BY v LIMIT 5"))?
            .into_iter()
            .map(|r| (r[0].as_str().unwrap_or_default().to_owned(), u64_at(&r, 1)))
            .collect();
        Ok((examples, total))
    }
    fn out_of_range(&self, column: &str, min: Option<f64>, max: Option<f64>) -> Result<RangeFacts> {
        let below = min.map_or("0".into(), |m| format!("count_if(x < {})", double(m)));
        let above = max.map_or("0".into(), |m| format!("count_if(x > {})", double(m)));
        let row = self.one(&format!(
            "SELECT {below}, {above}, min(x), max(x) FROM {}",
            self.numbers(column)
        ))?;
        Ok(RangeFacts {
            below: u64_at(&row, 0),
            above: u64_at(&row, 1),
            min: f64_at(&row, 2),
            max: f64_at(&row, 3),
        })
    }
    fn pattern_misses(
        &self,
        column: &str,
        _re: &regex::Regex,
        pattern: &str,
    ) -> Result<(u64, Option<String>)> {
        // Java's regular expressions on the cluster; `\z` is the end of the text, as
        // `$` is in Rust's (Java's `$` also matches before a final newline).
        let c = ident(column);
        let anchored = string(&format!("^(?:{pattern})\\z"));
        let row = self.one(&format!(
            "SELECT count(*), min_by(v, i) FROM (SELECT CAST({c} AS STRING) AS v, monotonically_increasing_id() AS i FROM {} WHERE {c} IS NOT NULL) WHERE NOT (v RLIKE {anchored})",
            ident(&self.view)
        ))?;
        Ok((
            u64_at(&row, 0),
            row.get(1).and_then(|v| v.as_str().map(str::to_owned)),
        ))
    }
    fn has_duplicates(&self, column: &str) -> Result<bool> {
        let c = ident(column);
        let row = self.one(&format!(
            "SELECT count({c}), count(DISTINCT {c}) FROM {}",
            ident(&self.view)
        ))?;
        Ok(u64_at(&row, 1) < u64_at(&row, 0))
    }
    fn max_timestamp_ms(&self, column: &str) -> Result<Option<i64>> {
        let c = ident(column);
        let e = if self.spark_types.get(column).map(String::as_str) == Some("date") {
            format!("unix_date(max({c})) * 86400000")
        } else {
            format!("unix_millis(max(CAST({c} AS TIMESTAMP)))")
        };
        let row = self.one(&format!(
            "SELECT CAST({e} AS BIGINT) FROM {}",
            ident(&self.view)
        ))?;
        Ok(row.first().and_then(Scalar::as_i64))
    }
    fn outliers(
        &self,
        column: &str,
        method: OutlierMethod,
        threshold: Option<f64>,
    ) -> Result<(u64, u64)> {
        let xs = self.numbers(column);
        let (lo, hi, n) = match method {
            OutlierMethod::None => return Ok((0, 0)),
            OutlierMethod::Iqr => {
                let k = threshold.unwrap_or(1.5);
                let row = self.one(&format!("SELECT count(*) FROM {xs}"))?;
                let n = u64_at(&row, 0);
                if n == 0 {
                    return Ok((0, 0));
                }
                let q = self.quantiles(&xs, n, &[0.25, 0.75])?;
                let (q1, q3) = (q[0], q[1]);
                (q1 - k * (q3 - q1), q3 + k * (q3 - q1), n)
            }
            OutlierMethod::Zscore => {
                let t = threshold.unwrap_or(3.0);
                let (n, mean, std) = self.mean_std(&xs)?;
                if n == 0 || std == 0.0 {
                    return Ok((0, n));
                }
                let row = self.one(&format!(
                    "SELECT count_if(abs((x - {}) / {}) > {}) FROM {xs}",
                    double(mean),
                    double(std),
                    double(t)
                ))?;
                return Ok((u64_at(&row, 0), n));
            }
        };
        let row = self.one(&format!(
            "SELECT count_if(x < {}) + count_if(x > {}) FROM {xs}",
            double(lo),
            double(hi)
        ))?;
        Ok((u64_at(&row, 0), n))
    }
}

impl OnCluster<'_> {
    /// `numpy.quantile` of the numbers `xs` (`n` of them) at each of `qs`, to the bit:
    /// the order statistics each quantile interpolates between are fetched by rank,
    /// and interpolated here with mlx-stats' formula.
    fn quantiles(&self, xs: &str, n: u64, qs: &[f64]) -> Result<Vec<f64>> {
        let mut ranks = BTreeSet::new();
        for &q in qs {
            let v = (n as f64 - 1.0) * q;
            let lo = (v.floor() as u64).min(n - 1);
            ranks.insert(lo);
            ranks.insert((lo + 1).min(n - 1));
        }
        let list: Vec<String> = ranks.iter().map(u64::to_string).collect();
        let rows = self.rows_of(&format!(
            "SELECT i, x FROM (SELECT x, row_number() OVER (ORDER BY x) - 1 AS i FROM {xs}) WHERE i IN ({})",
            list.join(", ")
        ))?;
        let at: BTreeMap<u64, f64> = rows.iter().map(|r| (u64_at(r, 0), f64_at(r, 1))).collect();
        Ok(qs
            .iter()
            .map(|&q| {
                let v = (n as f64 - 1.0) * q;
                let lo = (v.floor() as u64).min(n - 1);
                let hi = (lo + 1).min(n - 1);
                mlx_stats::binning::quantile_sorted(&[at[&lo], at[&hi]], v - v.floor())
            })
            .collect())
    }

    /// Count, mean and population standard deviation (two passes, as numpy).
    fn mean_std(&self, xs: &str) -> Result<(u64, f64, f64)> {
        let row = self.one(&format!("SELECT count(*), sum(x) FROM {xs}"))?;
        let n = u64_at(&row, 0);
        if n == 0 {
            return Ok((0, f64::NAN, f64::NAN));
        }
        let mean = f64_at(&row, 1) / n as f64;
        let row = self.one(&format!(
            "SELECT sum((x - {m}) * (x - {m})) FROM {xs}",
            m = double(mean)
        ))?;
        Ok((n, mean, (f64_at(&row, 0) / n as f64).sqrt()))
    }
}

/// Freezes the dataset as the reference: its schema and baselines computed on the
/// cluster; its values stay there (`Reference.cluster`).
pub fn freeze(ds: &OnCluster<'_>, d: &ClusterDataset) -> Result<Reference> {
    let mut columns = Vec::new();
    for c in ds.columns() {
        let kind = match c.kind {
            Kind::Numeric => ColumnKind::Numeric,
            Kind::Categorical => ColumnKind::Categorical,
            Kind::Temporal | Kind::Other => continue,
        };
        let (numeric, categories) = match kind {
            ColumnKind::Numeric => (baseline(ds, &c.name)?, None),
            ColumnKind::Categorical => (None, Some(category_counts(ds, &c.name)?)),
        };
        columns.push(ReferenceColumn {
            name: c.name.clone(),
            dtype: c.dtype,
            kind,
            nulls: c.missing,
            numeric,
            categories,
        });
    }
    Ok(Reference {
        schema_version: REFERENCE_VERSION,
        created_at: Utc::now(),
        source: FileDigest {
            path: d.location.clone(),
            sha256: d.fingerprint.clone(),
            size: 0,
        },
        values: None,
        cluster: Some(d.clone()),
        rows: ds.rows(),
        columns,
    })
}

fn category_counts(ds: &OnCluster<'_>, column: &str) -> Result<BTreeMap<String, u64>> {
    let c = ident(column);
    Ok(ds
        .rows_of(&format!(
            "SELECT CAST({c} AS STRING), count(*) FROM {} WHERE {c} IS NOT NULL GROUP BY 1",
            ident(&ds.view)
        ))?
        .into_iter()
        .map(|r| (r[0].as_str().unwrap_or_default().to_owned(), u64_at(&r, 1)))
        .collect())
}

/// What `reference::baseline` computes from the sorted values, computed on the
/// cluster: min, max, mean, std, distinct values up to 21, the deciles and their counts.
fn baseline(ds: &OnCluster<'_>, column: &str) -> Result<Option<NumericBaseline>> {
    let xs = ds.numbers(column);
    let row = ds.one(&format!(
        "SELECT min(x), max(x), (SELECT count(*) FROM (SELECT DISTINCT x FROM {xs} LIMIT 21)) FROM {xs}"
    ))?;
    let (n, mean, std) = ds.mean_std(&xs)?;
    if n == 0 {
        return Ok(None);
    }
    let edges = quantile_edges(ds, &xs, n, 10)?;
    Ok(Some(NumericBaseline {
        min: f64_at(&row, 0),
        max: f64_at(&row, 1),
        mean,
        std,
        distinct: u64_at(&row, 2),
        quantile_counts: quantile_counts(ds, &xs, &edges)?,
        quantile_edges: edges,
    }))
}

fn quantile_edges(ds: &OnCluster<'_>, xs: &str, n: u64, bins: usize) -> Result<Vec<f64>> {
    let qs: Vec<f64> = (1..bins).map(|k| k as f64 / bins as f64).collect();
    let mut edges = ds.quantiles(xs, n, &qs)?;
    edges.dedup();
    Ok(edges)
}

/// Counts per bin as `binning::quantile_counts` forms them (`(e[i-1], e[i]]`).
fn quantile_counts(ds: &OnCluster<'_>, xs: &str, edges: &[f64]) -> Result<Vec<u64>> {
    let mut case = String::from("CASE");
    for (i, e) in edges.iter().enumerate() {
        case.push_str(&format!(" WHEN x <= {} THEN {i}", double(*e)));
    }
    case.push_str(&format!(" ELSE {} END", edges.len()));
    bin_counts(ds, xs, &case, edges.len() + 1)
}

/// Counts per bin as `binning::histogram` forms them (`[e[i], e[i+1])`, the last
/// closed, values outside not counted).
fn histogram_counts(ds: &OnCluster<'_>, xs: &str, edges: &[f64]) -> Result<Vec<u64>> {
    let bins = edges.len().saturating_sub(1);
    if bins == 0 {
        return Ok(Vec::new());
    }
    let mut case = format!(
        "CASE WHEN x < {} OR x > {} THEN NULL WHEN x = {} THEN {}",
        double(edges[0]),
        double(edges[bins]),
        double(edges[bins]),
        bins - 1
    );
    for (i, e) in edges[1..].iter().enumerate() {
        case.push_str(&format!(" WHEN x < {} THEN {i}", double(*e)));
    }
    case.push_str(&format!(" ELSE {} END", bins - 1));
    bin_counts(ds, xs, &case, bins)
}

fn bin_counts(ds: &OnCluster<'_>, xs: &str, case: &str, bins: usize) -> Result<Vec<u64>> {
    let mut counts = vec![0u64; bins];
    for r in ds.rows_of(&format!(
        "SELECT b, count(*) FROM (SELECT {case} AS b FROM {xs}) WHERE b IS NOT NULL GROUP BY b"
    ))? {
        if let Some(i) = r[0].as_i64().and_then(|i| usize::try_from(i).ok()) {
            if i < bins {
                counts[i] = u64_at(&r, 1);
            }
        }
    }
    Ok(counts)
}

/// The count of every value, keyed as the local engine keys numbers; refused past
/// `limit` distinct values (that many bins would not be a comparison).
fn value_counts(ds: &OnCluster<'_>, xs: &str, limit: usize) -> Result<BTreeMap<String, u64>> {
    let rows = ds.rows_of(&format!(
        "SELECT x, count(*) FROM {xs} GROUP BY x LIMIT {}",
        limit + 1
    ))?;
    if rows.len() > limit {
        return Err(Error::Runtime(format!(
            "{}: more than {limit} distinct values to bin by value; use `psi_bins: quantile`",
            ds.what
        )));
    }
    Ok(rows
        .into_iter()
        .map(|r| (drift::value_key(f64_at(&r, 0)), u64_at(&r, 1)))
        .collect())
}

/// The drift of one numeric column of `current` against `reference` (both on the
/// cluster), from the summaries [`drift::numeric_drift`] takes.
pub fn numeric_drift(
    reference: &OnCluster<'_>,
    current: &OnCluster<'_>,
    column: &str,
    method: DriftMethod,
    cfg: &mlx_contracts::config::Drift,
) -> Result<std::result::Result<ColumnDrift, drift::DriftError>> {
    let (rx, cx) = (reference.numbers(column), current.numbers(column));
    let row = current.one(&format!(
        "SELECT (SELECT count(*) FROM {rx}), (SELECT count(*) FROM {cx}), \
         (SELECT count(*) FROM (SELECT DISTINCT x FROM (SELECT x FROM {rx} UNION ALL SELECT x FROM {cx}) LIMIT 6)), \
         (SELECT count(*) FROM (SELECT DISTINCT x FROM {rx} LIMIT 21)), \
         least((SELECT min(x) FROM {rx}), (SELECT min(x) FROM {cx})), \
         greatest((SELECT max(x) FROM {rx}), (SELECT max(x) FROM {cx}))"
    ))?;
    let (n, m) = (u64_at(&row, 0), u64_at(&row, 1));
    let (union_distinct, reference_distinct) = (u64_at(&row, 2), u64_at(&row, 3));
    if n == 0 || m == 0 {
        let empty = NumericSummary {
            reference_count: n,
            current_count: m,
            union_distinct,
            reference_distinct,
            by_value: None,
            bins: (Vec::new(), Vec::new(), Vec::new()),
            ks_extremes: (0.0, 0.0),
            wasserstein: 0.0,
            reference_std: 0.0,
        };
        return Ok(drift::numeric_drift(column, &empty, method, cfg));
    }
    let few = method == DriftMethod::Auto && union_distinct <= 5;
    let by_value_bins = cfg.psi_bins == PsiBins::Sturges && reference_distinct <= 20;
    let by_value = if few || by_value_bins {
        Some((
            value_counts(reference, &rx, 100_000)?,
            value_counts(current, &cx, 100_000)?,
        ))
    } else {
        None
    };
    let bins = if few || by_value_bins {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        match cfg.psi_bins {
            PsiBins::Quantile => {
                let edges = quantile_edges(reference, &rx, n, cfg.bins as usize)?;
                let r = quantile_counts(reference, &rx, &edges)?;
                let c = quantile_counts(current, &cx, &edges)?;
                (edges, r, c)
            }
            PsiBins::Sturges => {
                let edges = mlx_stats::binning::sturges_edges_from(
                    f64_at(&row, 4),
                    f64_at(&row, 5),
                    (n + m) as usize,
                );
                let r = histogram_counts(reference, &rx, &edges)?;
                let c = histogram_counts(current, &cx, &edges)?;
                (edges, r, c)
            }
        }
    };
    // The pooled distinct values in order, with each side's cumulative count: the
    // empirical CDFs at every value, as scipy evaluates them.
    let ecdf = current.one(&format!(
        "SELECT max(d), min(d), sum(abs(d) * (nx - x)) FROM (\
           SELECT x, CAST(cr AS DOUBLE) / {n}D - CAST(cc AS DOUBLE) / {m}D AS d, lead(x) OVER (ORDER BY x) AS nx FROM (\
             SELECT x, sum(r) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cr, \
                    sum(c) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cc FROM (\
               SELECT x, sum(r) AS r, sum(c) AS c FROM (\
                 SELECT x, 1 AS r, 0 AS c FROM {rx} UNION ALL SELECT x, 0 AS r, 1 AS c FROM {cx}) GROUP BY x)))"
    ))?;
    let (_, _, std) = reference.mean_std(&rx)?;
    let summary = NumericSummary {
        reference_count: n,
        current_count: m,
        union_distinct,
        reference_distinct,
        by_value,
        bins,
        ks_extremes: (f64_at(&ecdf, 0), f64_at(&ecdf, 1)),
        wasserstein: ecdf.get(2).and_then(Scalar::as_f64).unwrap_or(0.0),
        reference_std: std,
    };
    Ok(drift::numeric_drift(column, &summary, method, cfg))
}

/// The stage on the cluster: the checks and the drift against the reference frozen
/// there, or (`freeze`) the dataset frozen as the reference.
pub fn validate(
    ctx: &crate::stage::Context,
    engine: &mlx_contracts::config::Engine,
    freeze: bool,
) -> Result<crate::stage::Outcome> {
    use mlx_contracts::validate::Check;

    let d = crate::engine::require_cluster_dataset(&ctx.workdir)?;
    let cfg = &ctx.config.config;
    let frozen = if freeze {
        None
    } else {
        super::reference::load(&ctx.workdir)?.map(|(r, _)| r)
    };
    if let Some(r) = frozen.as_ref().filter(|r| r.cluster.is_none()) {
        return Err(Error::Usage(format!(
            "the frozen reference was made on this machine (from {}); freeze one on the cluster with `mlx-validate --freeze`",
            r.source.path
        )));
    }
    let cluster = crate::engine::connect(&ctx.config, engine)?;
    let current = OnCluster::open(&cluster, &d, "mlx_validate_current")?;
    let mut checks: Vec<Check> = super::checks::run(
        &current,
        &cfg.validation,
        cfg.data.time_column.as_deref(),
        frozen.as_ref(),
        Utc::now().timestamp_millis(),
    )?;
    let drift = match &frozen {
        Some(r) => {
            let at = r.cluster.as_ref().expect("checked above");
            let reference = OnCluster::open(&cluster, at, "mlx_validate_reference")?;
            let mut compared = Vec::new();
            for col in &r.columns {
                compared.push(compare(&reference, &current, col, &cfg.validation.drift)?);
            }
            Some(super::drift_checks(
                r,
                compared,
                &cfg.validation.drift,
                &mut checks,
            )?)
        }
        None => None,
    };
    if freeze {
        let r = self::freeze(&current, &d)?;
        super::reference::write_cluster(&ctx.workdir, &r)?;
        checks.push(super::frozen_check(&r));
    }
    super::finish(
        ctx,
        (current.rows(), current.columns().len() as u64),
        checks,
        drift,
        freeze,
        ctx.workdir.join(crate::workdir::paths::CLUSTER_DATA),
    )
}

/// One reference column against the current data; `None` where another check
/// already reports why it cannot be compared (missing, or of another kind).
fn compare(
    reference: &OnCluster<'_>,
    current: &OnCluster<'_>,
    col: &ReferenceColumn,
    cfg: &mlx_contracts::config::Drift,
) -> Result<Option<std::result::Result<ColumnDrift, drift::DriftError>>> {
    let Some(now) = current.columns().iter().find(|c| c.name == col.name) else {
        return Ok(None);
    };
    let method = cfg.columns.get(&col.name).copied().unwrap_or(cfg.method);
    Ok(match (col.kind, now.kind) {
        (ColumnKind::Categorical, Kind::Categorical) => {
            let r = col.categories.clone().unwrap_or_default();
            let c = category_counts(current, &col.name)?;
            Some(drift::column_drift(
                &col.name,
                &drift::ColumnValues::Categorical(r),
                &drift::ColumnValues::Categorical(c),
                method,
                cfg,
            ))
        }
        (ColumnKind::Numeric, Kind::Numeric) => {
            Some(numeric_drift(reference, current, &col.name, method, cfg)?)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    /// `quantile_sorted` interpolates between two neighbours: given just the pair and
    /// the fraction, it is the same formula, so a quantile from two order statistics
    /// fetched by rank is the whole sample's.
    #[test]
    fn a_quantile_from_its_two_neighbours_is_the_whole_sample_s() {
        let v: Vec<f64> = (0..11).map(|i| f64::from(i) * 0.37 + 0.1).collect();
        for q in [0.1, 0.25, 0.5, 0.75, 0.9, 0.33] {
            let whole = mlx_stats::binning::quantile_sorted(&v, q);
            let idx = (v.len() as f64 - 1.0) * q;
            let lo = idx.floor() as usize;
            let pair = [v[lo], v[(lo + 1).min(v.len() - 1)]];
            let from_pair = mlx_stats::binning::quantile_sorted(&pair, idx - idx.floor());
            assert_eq!(whole.to_bits(), from_pair.to_bits(), "q = {q}");
        }
    }
}
