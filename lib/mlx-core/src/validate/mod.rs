//! `mlx-validate`: schema, data-quality and drift checks of a dataset, the frozen
//! reference (`--freeze`), and the standalone `drift` comparison of two files.
//!
//! Owns `data/reference/` and `reports/validation.{md,html}` in the work directory; it
//! reads the dataset other stages wrote and never modifies it.

pub mod checks;
pub mod reference;
pub mod report;
pub mod spark;

use std::path::{Path, PathBuf};

use mlx_contracts::config::{Drift, DriftMethod, PsiBins};
use mlx_contracts::validate::{
    worst, Check, CheckKind, ColumnDrift, DriftReport, ValidationReport, VALIDATION_REPORT_VERSION,
};
use mlx_contracts::Status;
use mlx_data::polars::prelude::DataFrame;
use mlx_data::{kind_of, Kind};
use rayon::prelude::*;

use crate::drift::{self, column_drift, dataset_drift, ColumnValues, DriftError};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::paths;

/// The `validate` stage.
pub struct Validate;

const LONG_ABOUT: &str = "\
Checks the dataset against `validation:` in mlx.yaml (schema, missing values, ranges,
patterns, uniqueness, row counts, freshness, outliers) and its drift against the frozen
reference. Failed checks exit 1; warnings become data-quality flags the gate reads.
With `engine.kind: spark` the checks and drift are computed on the cluster, where the
ingested dataset is (docs/spark.md).

Examples:
  mlx-validate --freeze                     freeze .mlx/data/raw.parquet as the reference
  mlx-validate                              validate the latest data against it
  mlx-validate --data new.parquet --json    validate another file, print the record
  mlx-validate drift --reference jan.csv --current feb.csv
  mlx-validate drift --reference a.parquet --current b.parquet --method psi --columns price,qty --json

Drift methods: auto (by column type and size), psi, kl, js, wasserstein, ks, chi2, ztest.";

impl Stage for Validate {
    fn name(&self) -> &'static str {
        "validate"
    }
    fn about(&self) -> &'static str {
        "Check schema, data quality and drift against the frozen reference"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        &["engine", "data", "validation"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let mut v = vec![ctx.workdir.join(paths::RAW_DATA)];
        for f in reference::files(&ctx.workdir) {
            if f.exists() {
                v.push(f);
            }
        }
        v
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        report::paths(&ctx.workdir).to_vec()
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        validate(ctx, None, false)
    }
}

/// The whole stage on `data` [default: the ingested dataset]; `freeze` freezes it as the
/// reference (schema and baseline statistics) instead of comparing with the frozen one.
pub fn validate(ctx: &Context, data: Option<&String>, freeze: bool) -> Result<Outcome> {
    if let Some(engine) = crate::engine::spark(&ctx.config) {
        if let Some(d) = data {
            return Err(Error::Usage(format!(
                "--data {d} is a file on this machine, but `engine.kind: spark` validates the dataset on the cluster; drop --data, or compare two local files with `mlx-validate drift`"
            )));
        }
        return spark::validate(ctx, engine, freeze);
    }
    let data = ctx.workdir.dataset(data)?;
    let df = mlx_data::read_table(&data)?;
    let cfg = &ctx.config.config;
    let frozen = if freeze {
        None
    } else {
        reference::load(&ctx.workdir)?
    };
    if let Some((r, _)) = frozen.as_ref().filter(|(r, _)| r.cluster.is_some()) {
        return Err(Error::Usage(format!(
            "the frozen reference was made on the Spark cluster ({}), and its values are there; validate with `engine.kind: spark`, or freeze a local reference with `mlx-validate --freeze`",
            r.source.path
        )));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut checks = checks::run(
        &checks::Local::new(&df),
        &cfg.validation,
        cfg.data.time_column.as_deref(),
        frozen.as_ref().map(|(r, _)| r),
        now,
    )?;
    let drift = match &frozen {
        Some((r, values)) => Some(drift_against_reference(
            &df,
            r,
            values,
            &cfg.validation.drift,
            &mut checks,
        )?),
        None => None,
    };
    if freeze {
        let r = reference::freeze(&ctx.workdir, &data, &df)?;
        checks.push(frozen_check(&r));
    }
    finish(
        ctx,
        (df.height() as u64, df.width() as u64),
        checks,
        drift,
        freeze,
        data,
    )
}

/// The check that records a freeze.
fn frozen_check(r: &mlx_contracts::validate::Reference) -> Check {
    Check {
        kind: CheckKind::RowCount,
        column: None,
        status: Status::Passed,
        value: Some(r.rows as f64),
        threshold: None,
        message: format!(
            "froze {} columns of {} rows as the reference",
            r.columns.len(),
            r.rows
        ),
    }
}

/// The report, its files and the stage outcome, whichever engine computed the checks.
/// `data` is the dataset as the report names it (a local file, or `data/cluster.json`
/// for a dataset on the cluster).
fn finish(
    ctx: &Context,
    (rows, columns): (u64, u64),
    checks: Vec<Check>,
    drift: Option<DriftReport>,
    freeze: bool,
    data: PathBuf,
) -> Result<Outcome> {
    let report = ValidationReport {
        schema_version: VALIDATION_REPORT_VERSION,
        rows,
        columns,
        checks,
        drift,
    };
    let status = report.status();
    let md = report::write(&ctx.workdir, &report, Some(&data))?;
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Failed)
        .count();
    let warned = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warned)
        .count();
    let mut summary = format!(
        "{} rows × {} columns: {} check{}, {failed} failed, {warned} warned",
        report.rows,
        report.columns,
        report.checks.len(),
        if report.checks.len() == 1 { "" } else { "s" }
    );
    if let Some(d) = &report.drift {
        summary.push_str(&format!(
            "; {} of {} columns drifted",
            d.drifted_columns,
            d.columns.len()
        ));
    }
    if let Some(first) = report.checks.iter().find(|c| c.status == Status::Failed) {
        summary.push_str(&format!(" (first failure: {})", first.message));
    }
    let mut o = Outcome::with_status(status, summary);
    o.outputs_kv.insert("rows".into(), report.rows.to_string());
    o.outputs_kv
        .insert("failed_checks".into(), failed.to_string());
    o.outputs_kv
        .insert("warned_checks".into(), warned.to_string());
    if let Some(d) = &report.drift {
        o.outputs_kv
            .insert("drifted_columns".into(), d.drifted_columns.to_string());
        o.outputs_kv
            .insert("dataset_drift".into(), d.dataset_drift.to_string());
    }
    o.extra_inputs.push(data);
    // A reference frozen on the cluster has no values.parquet.
    o.extra_outputs.extend(
        reference::files(&ctx.workdir)
            .into_iter()
            .filter(|p| freeze && p.exists()),
    );
    o.details = crate::json::value(&report)?;
    o.report_md = Some(md);
    Ok(o)
}

fn parse_method(s: &str) -> DriftMethod {
    match s {
        "psi" => DriftMethod::Psi,
        "kl" => DriftMethod::Kl,
        "js" => DriftMethod::Js,
        "wasserstein" => DriftMethod::Wasserstein,
        "ks" => DriftMethod::Ks,
        "chi2" => DriftMethod::Chi2,
        "ztest" => DriftMethod::Ztest,
        _ => DriftMethod::Auto,
    }
}

/// Values of a column for drift, or `None` for types that are not compared.
pub fn column_values(df: &DataFrame, name: &str, path: &Path) -> Result<Option<ColumnValues>> {
    let col = mlx_data::column(df, name, path).map_err(|e| Error::Usage(e.to_string()))?;
    let err = |e: mlx_data::polars::prelude::PolarsError| {
        Error::Runtime(format!("{}: column `{name}`: {e}", path.display()))
    };
    Ok(match kind_of(col.dtype()) {
        Kind::Numeric => Some(ColumnValues::Numeric(
            mlx_data::numeric_sorted(col).map_err(err)?,
        )),
        Kind::Categorical => Some(ColumnValues::Categorical(
            mlx_data::category_counts(col).map_err(err)?,
        )),
        Kind::Temporal | Kind::Other => None,
    })
}

/// What `mlx-validate drift` compares, and how.
#[derive(Debug, Clone)]
pub struct DriftFiles {
    /// The reference data.
    pub reference: PathBuf,
    /// The current data.
    pub current: PathBuf,
    /// The columns compared [default: every column in both files].
    pub columns: Option<Vec<String>>,
    /// The drift statistic that decides (`auto`, `psi`, `kl`, ...).
    pub method: String,
    /// `quantile` or `sturges`.
    pub psi_bins: String,
    /// The share of drifted columns at which the dataset counts as drifted.
    pub drift_share: f64,
}

/// `mlx-validate drift`: two files compared column by column, without a config.
pub fn drift_files(o: &DriftFiles) -> Result<Standalone> {
    let rpath = o.reference.clone();
    let cpath = o.current.clone();
    for p in [&rpath, &cpath] {
        if !p.exists() {
            return Err(Error::Usage(format!("{} does not exist", p.display())));
        }
    }
    let cfg = Drift {
        method: parse_method(&o.method),
        psi_bins: if o.psi_bins == "sturges" {
            PsiBins::Sturges
        } else {
            PsiBins::Quantile
        },
        dataset_drift_share: o.drift_share,
        ..Drift::default()
    };
    if !(0.0..=1.0).contains(&cfg.dataset_drift_share) {
        return Err(Error::Usage("--drift-share must be between 0 and 1".into()));
    }
    let (rdf, cdf) = (mlx_data::read_table(&rpath)?, mlx_data::read_table(&cpath)?);
    let columns: Vec<String> = match &o.columns {
        Some(cols) => cols
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
        None => rdf
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .filter(|n| cdf.column(n).is_ok())
            .collect(),
    };
    if columns.is_empty() {
        return Err(Error::Usage(format!(
            "{} and {} have no column in common; name the columns with --columns",
            rpath.display(),
            cpath.display()
        )));
    }
    // Columns are independent: compare them on all cores.
    let compared: Vec<Result<Option<ColumnDrift>>> = columns
        .par_iter()
        .map(|name| {
            let (Some(r), Some(c)) = (
                column_values(&rdf, name, &rpath)?,
                column_values(&cdf, name, &cpath)?,
            ) else {
                return Ok(None);
            };
            column_drift(name, &r, &c, cfg.method, &cfg)
                .map(Some)
                .map_err(drift_error)
        })
        .collect();
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    for (name, r) in columns.iter().zip(compared) {
        match r? {
            Some(d) => results.push(d),
            None => skipped.push(name.clone()),
        }
    }
    let report = dataset_drift(results, &cfg);
    let status = if report.dataset_drift {
        Status::Failed
    } else {
        worst(report.columns.iter().map(|c| c.status))
    };
    let mut human = drift_table(&report);
    if !skipped.is_empty() {
        human.push_str(&format!(
            "\nnot compared (dates, times or nested types): {}",
            skipped.join(", ")
        ));
    }
    Ok(Standalone {
        status,
        human,
        json: crate::json::value(&report)?,
    })
}

fn drift_error(e: DriftError) -> Error {
    match e {
        DriftError::Empty { .. } => Error::Runtime(e.to_string()),
        _ => Error::Usage(e.to_string()),
    }
}

/// A plain-text table of a drift report.
pub fn drift_table(r: &DriftReport) -> String {
    let width = r
        .columns
        .iter()
        .map(|c| c.column.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut s = format!(
        "{:width$}  {:11}  {:>12}  {:>9}  {:>8}  drifted\n",
        "column", "method", "value", "threshold", "psi"
    );
    for c in &r.columns {
        s.push_str(&format!(
            "{:width$}  {:11}  {:>12.6}  {:>9}  {:>8.4}  {}\n",
            c.column,
            drift::method_name(c.method),
            c.value,
            c.threshold,
            c.statistics.get("psi").copied().unwrap_or(f64::NAN),
            if c.drifted { "yes" } else { "no" }
        ));
    }
    s.push_str(&format!(
        "{} of {} columns drifted ({:.0}%, limit {:.0}%): {}",
        r.drifted_columns,
        r.columns.len(),
        r.drift_share * 100.0,
        r.drift_share_threshold * 100.0,
        if r.dataset_drift {
            "dataset drift"
        } else {
            "no dataset drift"
        }
    ));
    s
}

/// Drift of every reference column present in `df`, recorded as checks too.
fn drift_against_reference(
    df: &DataFrame,
    r: &mlx_contracts::validate::Reference,
    values: &reference::Values,
    cfg: &Drift,
    checks: &mut Vec<Check>,
) -> Result<DriftReport> {
    let here = Path::new("current data");
    type Compared = Result<Option<std::result::Result<ColumnDrift, DriftError>>>;
    let compared: Vec<Compared> = r
        .columns
        .par_iter()
        .map(|col| {
            if df.column(&col.name).is_err() {
                return Ok(None); // already a failed required-column check
            }
            let Some(reference) = values.get(col) else {
                return Ok(None);
            };
            let Some(current) = column_values(df, &col.name, here)? else {
                return Ok(None);
            };
            if std::mem::discriminant(&reference) != std::mem::discriminant(&current) {
                return Ok(None); // already a failed dtype check
            }
            let method = cfg.columns.get(&col.name).copied().unwrap_or(cfg.method);
            Ok(Some(column_drift(
                &col.name, &reference, &current, method, cfg,
            )))
        })
        .collect();
    let compared = compared.into_iter().collect::<Result<Vec<_>>>()?;
    drift_checks(r, compared, cfg, checks)
}

/// Per reference column, what comparing it gave (`None`: not compared, for a reason
/// another check already reports): the drift checks and the dataset's verdict.
fn drift_checks(
    r: &mlx_contracts::validate::Reference,
    compared: Vec<Option<std::result::Result<ColumnDrift, DriftError>>>,
    cfg: &Drift,
    checks: &mut Vec<Check>,
) -> Result<DriftReport> {
    let mut results: Vec<ColumnDrift> = Vec::new();
    for (col, outcome) in r.columns.iter().zip(compared) {
        let Some(outcome) = outcome else {
            continue;
        };
        match outcome {
            Ok(d) => {
                checks.push(Check {
                    kind: CheckKind::ColumnDrift,
                    column: Some(col.name.clone()),
                    status: d.status,
                    value: Some(d.value),
                    threshold: Some(d.threshold),
                    message: format!(
                        "`{}`: {} {:.4} (threshold {}), PSI {:.4}{}",
                        col.name,
                        drift::method_name(d.method),
                        d.value,
                        d.threshold,
                        d.statistics["psi"],
                        if d.drifted { ": drifted" } else { "" }
                    ),
                });
                results.push(d);
            }
            Err(DriftError::Empty { side, .. }) => checks.push(Check {
                kind: CheckKind::ColumnDrift,
                column: Some(col.name.clone()),
                status: Status::Warned,
                value: None,
                threshold: None,
                message: format!(
                    "`{}` has no non-null values in the {side} data; drift not computed",
                    col.name
                ),
            }),
            Err(e) => return Err(drift_error(e)),
        }
    }
    let report = dataset_drift(results, cfg);
    checks.push(Check {
        kind: CheckKind::DatasetDrift,
        column: None,
        status: if report.dataset_drift {
            Status::Failed
        } else {
            Status::Passed
        },
        value: Some(report.drift_share),
        threshold: Some(report.drift_share_threshold),
        message: format!(
            "{} of {} columns drifted ({:.0}%; the dataset drifts at {:.0}%)",
            report.drifted_columns,
            report.columns.len(),
            report.drift_share * 100.0,
            report.drift_share_threshold * 100.0
        ),
    });
    Ok(report)
}

/// Writes text atomically, creating parent directories.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    atomic_write(path, text.as_bytes()).with_path("writing", path)
}
