//! A Delta Lake table as a source (`data.sources[].delta`), read at a version or a time
//! through delta-rs ([`crate::lake`]), on a local directory or object storage: the
//! version's log gives its data files and their partition values; the files are read as
//! any Parquet source is, the partition columns added from the log, and columns a file
//! lacks (added to the table after it was written) are missing values. The version read
//! is recorded next to the files' SHA-256, so a config pinned to a version reads the
//! same rows again.
//!
//! Not read: tables whose rows were deleted through deletion vectors and tables with
//! column mapping (both are refused, saying so).

use mlx_contracts::config::{DeltaSource, Source};
use mlx_contracts::record::FileDigest;
use mlx_data::polars::prelude::*;

use crate::error::{Error, Result};
use crate::lake::{At, Table};

/// A version of a table: its rows, the digests of its data files, the version.
pub(super) fn read(s: &Source, d: &DeltaSource) -> Result<(DataFrame, Vec<FileDigest>, u64)> {
    let fail = |m: String| Error::Runtime(format!("source `{}`: {m}", s.name));
    let local = !d.uri.contains("://") || d.uri.starts_with("file://");
    let dir = std::path::PathBuf::from(d.uri.strip_prefix("file://").unwrap_or(&d.uri));
    if local && !dir.join("_delta_log").is_dir() {
        return Err(fail(format!(
            "{} is not a Delta table (it has no _delta_log directory)",
            dir.display()
        )));
    }
    let table = Table::open(&d.uri, false)?;
    let at = match (d.version, d.timestamp.as_deref()) {
        (Some(v), _) => At::Version(v),
        (None, Some(t)) => At::Time(t),
        (None, None) => At::Latest,
    };
    let snapshot = table
        .snapshot(at)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| {
            fail(format!(
                "{} is not a Delta table (it has no _delta_log)",
                table.label()
            ))
        })?;
    let version = snapshot.version;
    let schema = &snapshot.schema;
    if let Some(mode) = snapshot
        .configuration
        .get("delta.columnMapping.mode")
        .filter(|m| *m != "none")
    {
        return Err(fail(format!(
            "the Delta table {} uses column mapping (`{mode}`), which mlx does not read yet; read it with `engine.kind: spark` (format: delta)",
            table.label()
        )));
    }
    if snapshot.deletion_vectors {
        return Err(fail(format!(
            "version {version} of the Delta table {} has rows deleted through deletion vectors, which mlx does not read yet; read it with `engine.kind: spark` (format: delta)",
            table.label()
        )));
    }
    if snapshot.files.is_empty() {
        return Err(fail(format!(
            "version {version} of the Delta table {} has no rows",
            table.label()
        )));
    }
    let mut frames = Vec::with_capacity(snapshot.files.len());
    let mut digests = Vec::with_capacity(snapshot.files.len());
    for (rel, values) in &snapshot.files {
        let label = format!("{}@v{version}/{rel}", table.label().trim_end_matches('/'));
        if rel.contains("://") {
            return Err(fail(format!(
                "the Delta table {} names a data file outside it ({rel}), which mlx does not read",
                table.label()
            )));
        }
        let bytes = table.get(rel)?.ok_or_else(|| {
            fail(format!(
                "{label} is missing: the table's log names a file its directory lacks"
            ))
        })?;
        let (sha256, size) = crate::hash::sha256_reader(bytes.as_slice(), |_| {})
            .map_err(|e| Error::io(label.clone(), e))?;
        let mut df = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|e| fail(format!("{label}: {e}")))?;
        for column in &snapshot.partitions {
            let value = values.get(column).cloned().flatten();
            let dtype = partition_type(schema, column);
            // One value, repeated over the file's rows without a copy per row.
            let col = Series::new(column.as_str().into(), [value])
                .cast(&dtype)
                .map_err(|e| fail(format!("{label}: partition value of `{column}`: {e}")))?
                .into_column()
                .new_from_index(0, df.height());
            df.with_column(col)
                .map_err(|e| fail(format!("{label}: {e}")))?;
        }
        digests.push(FileDigest {
            path: label,
            sha256,
            size,
        });
        frames.push(df);
    }
    let names: Vec<String> = schema.fields().map(|f| f.name().to_string()).collect();
    Ok((stack(frames, &names).map_err(fail)?, digests, version))
}

/// The Polars type of a partition column, from the table's schema.
fn partition_type(schema: &deltalake::kernel::StructType, column: &str) -> DataType {
    use deltalake::kernel::{DataType as D, PrimitiveType as P};
    match schema.field(column).map(|f| f.data_type()) {
        Some(D::Primitive(p)) => match p {
            P::Long | P::Integer | P::Short | P::Byte => DataType::Int64,
            P::Double | P::Float => DataType::Float64,
            P::Boolean => DataType::Boolean,
            P::Date => DataType::Date,
            P::Timestamp | P::TimestampNtz => DataType::Datetime(TimeUnit::Microseconds, None),
            _ => DataType::String,
        },
        _ => DataType::String,
    }
}

/// The files' rows one after another, in the table's column order; a column a file
/// lacks (added to the table after it) is missing there.
fn stack(frames: Vec<DataFrame>, names: &[String]) -> std::result::Result<DataFrame, String> {
    let types: Vec<Option<DataType>> = names
        .iter()
        .map(|n| {
            frames
                .iter()
                .find_map(|f| f.column(n).ok().map(|c| c.dtype().clone()))
        })
        .collect();
    let mut out: Option<DataFrame> = None;
    for df in frames {
        let columns: Vec<Column> = names
            .iter()
            .zip(&types)
            .filter_map(|(n, t)| {
                let t = t.as_ref()?;
                Some(match df.column(n) {
                    Ok(c) => c.clone(),
                    Err(_) => Column::full_null(n.as_str().into(), df.height(), t),
                })
            })
            .collect();
        let df = DataFrame::new_infer_height(columns).map_err(|e| e.to_string())?;
        match out.as_mut() {
            None => out = Some(df),
            Some(o) => {
                o.vstack_mut_owned(df).map_err(|e| {
                    format!("the table's files do not share their columns' types: {e}")
                })?;
            }
        }
    }
    out.ok_or_else(|| "no data files".into())
}
