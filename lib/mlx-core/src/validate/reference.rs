//! The frozen reference in `<workdir>/data/reference/`:
//! - `values.parquet`: every numeric column of the reference sorted ascending on its
//!   own, nulls last, so drift against it needs no sort and no re-parse of the source;
//! - `reference.json` ([`Reference`]): the inferred schema, category counts and
//!   baseline statistics (quantile bins, min, max, mean, std). Written last: its
//!   presence means the pair is complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use mlx_contracts::validate::{
    ColumnKind, NumericBaseline, Reference, ReferenceColumn, REFERENCE_VERSION,
};
use mlx_data::polars::prelude::{Column, DataFrame, IntoColumn, NamedFrom, Series};
use mlx_data::{kind_of, Kind};

use super::checks::dtype_of;
use crate::drift::ColumnValues;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::AtomicFile;
use crate::workdir::Workdir;

/// `reference.json` and `values.parquet`.
pub fn files(workdir: &Workdir) -> [PathBuf; 2] {
    [
        workdir.join("data/reference/reference.json"),
        workdir.join("data/reference/values.parquet"),
    ]
}

/// Reference values by column, ready for drift.
pub struct Values {
    numeric: BTreeMap<String, Vec<f64>>,
}

impl Values {
    /// The reference side of a column.
    pub fn get(&self, col: &ReferenceColumn) -> Option<ColumnValues> {
        match col.kind {
            ColumnKind::Numeric => self
                .numeric
                .get(&col.name)
                .cloned()
                .map(ColumnValues::Numeric),
            ColumnKind::Categorical => col.categories.clone().map(ColumnValues::Categorical),
        }
    }
}

fn data_err(path: &Path) -> impl Fn(mlx_data::polars::prelude::PolarsError) -> Error + '_ {
    move |e| Error::Runtime(format!("{}: {e}", path.display()))
}

/// Freezes `df` (read from `source`) as the reference.
pub fn freeze(workdir: &Workdir, source: &Path, df: &DataFrame) -> Result<Reference> {
    let [json_path, values_path] = files(workdir);
    let mut columns = Vec::new();
    let mut sorted_columns: Vec<Column> = Vec::new();
    for col in df.columns() {
        let name = col.name().to_string();
        let kind = match kind_of(col.dtype()) {
            Kind::Numeric => ColumnKind::Numeric,
            Kind::Categorical => ColumnKind::Categorical,
            Kind::Temporal | Kind::Other => continue,
        };
        let nulls = mlx_data::missing_count(col);
        let (numeric, categories) = match kind {
            ColumnKind::Numeric => {
                let v = mlx_data::numeric_sorted(col).map_err(data_err(source))?;
                let baseline = baseline(&v);
                let mut padded: Vec<Option<f64>> = v.into_iter().map(Some).collect();
                padded.resize(df.height(), None);
                sorted_columns.push(Series::new(name.as_str().into(), padded).into_column());
                (baseline, None)
            }
            ColumnKind::Categorical => (
                None,
                Some(mlx_data::category_counts(col).map_err(data_err(source))?),
            ),
        };
        columns.push(ReferenceColumn {
            name,
            dtype: dtype_of(col.dtype()),
            kind,
            nulls,
            numeric,
            categories,
        });
    }
    let mut values_df =
        DataFrame::new(df.height(), sorted_columns).map_err(data_err(&values_path))?;
    let mut f = AtomicFile::create(&values_path).with_path("writing", &values_path)?;
    mlx_data::write_parquet(&mut values_df, &mut f)
        .map_err(|e| Error::Runtime(format!("writing {}: {e}", values_path.display())))?;
    f.commit().with_path("writing", &values_path)?;

    let reference = Reference {
        schema_version: REFERENCE_VERSION,
        created_at: Utc::now(),
        source: crate::hash::digest(source).with_path("hashing", source)?,
        values: Some(crate::hash::digest(&values_path).with_path("hashing", &values_path)?),
        cluster: None,
        rows: df.height() as u64,
        columns,
    };
    let text = crate::json::pretty(&reference)?;
    super::write_text(&json_path, &text)?;
    Ok(reference)
}

/// Writes a reference frozen on the cluster: `reference.json` alone (its values stay
/// on the cluster), and a `values.parquet` of an earlier local freeze removed after.
pub fn write_cluster(workdir: &Workdir, reference: &Reference) -> Result<()> {
    let [json_path, values_path] = files(workdir);
    let text = crate::json::pretty(reference)?;
    super::write_text(&json_path, &text)?;
    match std::fs::remove_file(&values_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", values_path.display()), e))
        }
        _ => Ok(()),
    }
}

fn baseline(sorted: &[f64]) -> Option<NumericBaseline> {
    let (&min, &max) = (sorted.first()?, sorted.last()?);
    let mut distinct = 0u64;
    let mut last = None;
    for &x in sorted {
        if last != Some(x) {
            distinct += 1;
            last = Some(x);
            if distinct > 20 {
                break;
            }
        }
    }
    let edges = mlx_stats::binning::quantile_edges(sorted, 10);
    Some(NumericBaseline {
        min,
        max,
        mean: mlx_stats::sum::np_sum(sorted) / sorted.len() as f64,
        std: mlx_stats::wasserstein::std_population(sorted),
        distinct,
        quantile_counts: mlx_stats::binning::quantile_counts(sorted, &edges),
        quantile_edges: edges,
    })
}

/// Loads the frozen reference, if one exists.
pub fn load(workdir: &Workdir) -> Result<Option<(Reference, Values)>> {
    let [json_path, values_path] = files(workdir);
    let text = match std::fs::read_to_string(&json_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", json_path.display()), e)),
    };
    let reference = Reference::from_json(&text).map_err(|source| Error::Contract {
        path: json_path.display().to_string(),
        source,
    })?;
    if reference.cluster.is_some() {
        // Frozen on Spark: the values are on the cluster.
        return Ok(Some((
            reference,
            Values {
                numeric: BTreeMap::new(),
            },
        )));
    }
    if !values_path.exists() {
        return Err(Error::Runtime(format!(
            "{} is missing beside {}; re-freeze the reference with `mlx-validate --freeze`",
            values_path.display(),
            json_path.display()
        )));
    }
    let df = mlx_data::read_table(&values_path).map_err(|e| Error::Runtime(e.to_string()))?;
    let mut numeric = BTreeMap::new();
    for c in reference
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Numeric)
    {
        let col = mlx_data::column(&df, &c.name, &values_path).map_err(|e| {
            Error::Runtime(format!(
                "{e}; the reference is damaged: re-freeze it with `mlx-validate --freeze`"
            ))
        })?;
        numeric.insert(
            c.name.clone(),
            mlx_data::numeric_sorted(col).map_err(data_err(&values_path))?,
        );
    }
    Ok(Some((reference, Values { numeric })))
}
