//! A Delta Lake table as a source (`data.sources[].delta`), read at a version or a time
//! through delta-rs (`deltalake`): the version's log gives its data files and their
//! partition values; the files are read as any Parquet source is, the partition columns
//! added from the log, and columns a file lacks (added to the table after it was
//! written) are missing values. The version read is recorded next to the files'
//! SHA-256, so a config pinned to a version reads the same rows again.
//!
//! Not read: tables whose rows were deleted through deletion vectors and tables with
//! column mapping (both are refused, saying so), and tables on object storage (refused
//! by the config's rules).

use std::path::PathBuf;

use mlx_contracts::config::{DeltaSource, Source};
use mlx_contracts::record::FileDigest;
use mlx_data::polars::prelude::*;

use crate::error::{Error, Result};

/// A version of a table: its rows, the digests of its data files, the version.
pub(super) fn read(s: &Source, d: &DeltaSource) -> Result<(DataFrame, Vec<FileDigest>, u64)> {
    let fail = |m: String| Error::Runtime(format!("source `{}`: {m}", s.name));
    let dir = PathBuf::from(d.uri.strip_prefix("file://").unwrap_or(&d.uri));
    if !dir.join("_delta_log").is_dir() {
        return Err(fail(format!(
            "{} is not a Delta table (it has no _delta_log directory)",
            dir.display()
        )));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let url = url::Url::from_directory_path(&dir)
        .map_err(|()| fail(format!("{} cannot be a URL", dir.display())))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the I/O runtime", e))?;
    let table = rt.block_on(async {
        match (d.version, d.timestamp.as_deref()) {
            (Some(v), _) => deltalake::open_table_with_version(url.clone(), v).await,
            (None, Some(t)) => deltalake::open_table_with_ds(url.clone(), t).await,
            (None, None) => deltalake::open_table(url.clone()).await,
        }
    });
    let table = match table {
        Ok(t) => t,
        Err(e) => {
            // Say what there is: the latest version.
            let latest = rt
                .block_on(deltalake::open_table(url.clone()))
                .ok()
                .and_then(|t| t.version());
            let wanted = match (d.version, &d.timestamp) {
                (Some(v), _) => format!("version {v}"),
                (None, Some(t)) => format!("the version at {t}"),
                (None, None) => "the latest version".into(),
            };
            let has = latest.map_or(String::new(), |l| format!(" (its versions are 0 to {l})"));
            return Err(fail(format!(
                "{wanted} of the Delta table {} cannot be read{has}: {e}",
                dir.display()
            )));
        }
    };
    let snapshot = table.snapshot().map_err(|e| fail(e.to_string()))?;
    let version = snapshot.version();
    let metadata = snapshot.metadata();
    if metadata
        .configuration()
        .get("delta.columnMapping.mode")
        .is_some_and(|m| m != "none")
    {
        return Err(fail(format!(
            "the Delta table {} uses column mapping, which mlx does not read yet; read it with `engine.kind: spark` (format: delta)",
            dir.display()
        )));
    }
    let partitions: Vec<String> = metadata.partition_columns().to_vec();
    let schema = snapshot.schema();
    let mut files = Vec::new();
    for f in snapshot.log_data().iter() {
        if f.deletion_vector_descriptor().is_some() {
            return Err(fail(format!(
                "version {version} of the Delta table {} has rows deleted through deletion vectors, which mlx does not read yet; read it with `engine.kind: spark` (format: delta)",
                dir.display()
            )));
        }
        let path = f.path().into_owned();
        if path.contains("://") {
            return Err(fail(format!(
                "the Delta table {} names a data file outside it ({path}), which mlx does not read",
                dir.display()
            )));
        }
        files.push((path, f.partition_values_map()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        return Err(fail(format!(
            "version {version} of the Delta table {} has no rows",
            dir.display()
        )));
    }
    let mut frames = Vec::with_capacity(files.len());
    let mut digests = Vec::with_capacity(files.len());
    for (rel, values) in &files {
        let file = dir.join(rel);
        let label = format!("{}@v{version}/{rel}", d.uri.trim_end_matches('/'));
        let mut df = mlx_data::read_table_as(&file, mlx_data::Format::Parquet)
            .map_err(|e| fail(format!("{label}: {e}")))?;
        for column in &partitions {
            let value = values.get(column).cloned().flatten();
            let dtype = partition_type(&schema, column);
            // One value, repeated over the file's rows without a copy per row.
            let col = Series::new(column.as_str().into(), [value])
                .cast(&dtype)
                .map_err(|e| fail(format!("{label}: partition value of `{column}`: {e}")))?
                .into_column()
                .new_from_index(0, df.height());
            df.with_column(col)
                .map_err(|e| fail(format!("{label}: {e}")))?;
        }
        let mut digest = crate::hash::digest(&file).map_err(|e| Error::io(label.clone(), e))?;
        digest.path = label;
        digests.push(digest);
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
