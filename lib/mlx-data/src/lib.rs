//! Tabular data access for mlx, on Polars: reading the file formats mlx accepts and
//! pulling typed column values out of a frame. The only crate that names Polars types
//! in its API, so a Polars upgrade stays local.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub mod sql;

pub use polars;
use polars::prelude::*;

/// Errors reading or interpreting data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The extension does not say which format the file is in.
    #[error("{path}: cannot tell the format from the extension; use .csv, .tsv, .parquet, .json, .ndjson/.jsonl or .avro")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Polars could not parse it.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What went wrong, as Polars says it (for CSV: the line and column).
        message: String,
    },
    /// A requested column is absent.
    #[error("column `{column}` is not in {path} (it has: {available})")]
    MissingColumn {
        /// The column.
        column: String,
        /// The file.
        path: PathBuf,
        /// The columns it has.
        available: String,
    },
}

/// File formats mlx reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header.
    Csv,
    /// Tab-separated values with a header.
    Tsv,
    /// Apache Parquet.
    Parquet,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Avro object container file.
    Avro,
}

impl Format {
    /// The format implied by a path's extension.
    pub fn of(path: &Path) -> Result<Self, DataError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "csv" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            "parquet" | "pq" => Format::Parquet,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "avro" => Format::Avro,
            _ => {
                return Err(DataError::UnknownFormat {
                    path: path.to_path_buf(),
                })
            }
        })
    }
}

/// Reads a whole table; the format comes from the extension.
pub fn read_table(path: &Path) -> Result<DataFrame, DataError> {
    read_table_as(path, Format::of(path)?)
}

/// Reads a table for the named columns: from Parquet only those columns when the file
/// has them all; otherwise (other formats, or a column missing, which the caller reports
/// with the file's columns) the whole table.
pub fn read_columns(path: &Path, columns: &[String]) -> Result<DataFrame, DataError> {
    let format = Format::of(path)?;
    if format == Format::Parquet {
        let file = File::open(path).map_err(|source| DataError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = ParquetReader::new(file);
        let schema = reader.schema().map_err(|e| DataError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let present: Vec<String> = columns
            .iter()
            .filter(|c| schema.contains(c.as_str()))
            .cloned()
            .collect();
        // With one missing, read the whole file so the caller can list its columns.
        if present.len() == columns.len() {
            return reader
                .with_columns(Some(present))
                .finish()
                .map_err(|e| DataError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
        }
    }
    read_table_as(path, format)
}

/// Reads a whole table in a given format (for files without an extension, such as
/// cache objects).
pub fn read_table_as(path: &Path, format: Format) -> Result<DataFrame, DataError> {
    let parse = |e: PolarsError| DataError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let open = || {
        File::open(path).map_err(|source| DataError::Open {
            path: path.to_path_buf(),
            source,
        })
    };
    match format {
        Format::Csv | Format::Tsv => {
            open()?;
            let sep = if format == Format::Tsv { b'\t' } else { b',' };
            CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(10_000))
                .with_parse_options(
                    CsvParseOptions::default()
                        .with_separator(sep)
                        .with_try_parse_dates(true),
                )
                .try_into_reader_with_file_path(Some(path.to_path_buf()))
                .and_then(|r| r.finish())
                .map_err(parse)
        }
        Format::Parquet => ParquetReader::new(open()?).finish().map_err(parse),
        Format::Json => JsonReader::new(open()?)
            .with_json_format(JsonFormat::Json)
            .finish()
            .map_err(parse),
        Format::Ndjson => JsonReader::new(open()?)
            .with_json_format(JsonFormat::JsonLines)
            .finish()
            .map_err(parse),
        Format::Avro => polars::io::avro::AvroReader::new(open()?)
            .finish()
            .map_err(parse),
    }
}

/// Finds the first CSV record whose field count differs from the header's, for an
/// error that names the line: Polars reports ragged lines without one.
pub fn ragged_line(path: &Path, separator: u8) -> Option<String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(true)
        .from_path(path)
        .ok()?;
    let header: Vec<String> = reader.headers().ok()?.iter().map(str::to_owned).collect();
    for record in reader.records() {
        if let Err(e) = record {
            if let csv::ErrorKind::UnequalLengths {
                pos,
                expected_len,
                len,
            } = e.kind()
            {
                let line = pos.as_ref().map_or(0, |p| p.line());
                return Some(format!(
                    "line {line} has {len} fields but the header has {expected_len} ({})",
                    header.join(", ")
                ));
            }
            return Some(e.to_string());
        }
    }
    None
}

/// Writes a frame as Parquet (zstd) to any writer; callers pass an atomic file.
pub fn write_parquet(df: &mut DataFrame, out: impl std::io::Write) -> Result<(), String> {
    ParquetWriter::new(out)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How a column's type is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers and floats.
    Numeric,
    /// Strings, booleans, categoricals.
    Categorical,
    /// Dates and times.
    Temporal,
    /// Anything else (lists, structs, binary): not compared.
    Other,
}

/// The kind of a Polars type.
pub fn kind_of(dtype: &DataType) -> Kind {
    if dtype.is_primitive_numeric() {
        Kind::Numeric
    } else if dtype.is_temporal() {
        Kind::Temporal
    } else if matches!(
        dtype,
        DataType::String | DataType::Boolean | DataType::Categorical(..) | DataType::Enum(..)
    ) {
        Kind::Categorical
    } else {
        Kind::Other
    }
}

/// A column by name, or an error that lists what there is.
pub fn column<'a>(df: &'a DataFrame, name: &str, path: &Path) -> Result<&'a Column, DataError> {
    df.column(name).map_err(|_| DataError::MissingColumn {
        column: name.to_owned(),
        path: path.to_path_buf(),
        available: df
            .get_column_names()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Non-null, non-NaN values as `f64`, sorted ascending.
pub fn numeric_sorted(col: &Column) -> PolarsResult<Vec<f64>> {
    let s = col.as_materialized_series().cast(&DataType::Float64)?;
    let ca = s.f64()?;
    let mut v: Vec<f64> = ca.iter().flatten().filter(|x| !x.is_nan()).collect();
    v.sort_unstable_by(f64::total_cmp);
    Ok(v)
}

/// Count per distinct non-null value, keyed by its text form.
pub fn category_counts(col: &Column) -> PolarsResult<BTreeMap<String, u64>> {
    let s = col.as_materialized_series().cast(&DataType::String)?;
    let ca = s.str()?;
    // Count on borrowed strings; allocate once per distinct value.
    let mut counts: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for v in ca.iter().flatten() {
        *counts.entry(v).or_insert(0) += 1;
    }
    Ok(counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect())
}

/// Non-null values as text (for pattern and allowed-value checks).
pub fn text_values(col: &Column) -> PolarsResult<Vec<Option<String>>> {
    let s = col.as_materialized_series().cast(&DataType::String)?;
    Ok(s.str()?.iter().map(|v| v.map(str::to_owned)).collect())
}

/// Nulls, counting NaN in float columns as missing too.
pub fn missing_count(col: &Column) -> u64 {
    let nulls = col.null_count() as u64;
    let nans = match col.dtype() {
        DataType::Float32 | DataType::Float64 => col
            .as_materialized_series()
            .cast(&DataType::Float64)
            .ok()
            .and_then(|s| {
                s.f64()
                    .ok()
                    .map(|ca| ca.iter().flatten().filter(|x| x.is_nan()).count())
            })
            .unwrap_or(0) as u64,
        _ => 0,
    };
    nulls + nans
}

/// Whether the column has duplicate non-null values.
pub fn has_duplicates(col: &Column) -> PolarsResult<bool> {
    let s = col.as_materialized_series().drop_nulls();
    Ok(s.n_unique()? < s.len())
}

/// Largest value of a temporal column as milliseconds since the epoch (UTC).
pub fn max_timestamp_ms(col: &Column) -> PolarsResult<Option<i64>> {
    let s = col
        .as_materialized_series()
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?;
    let phys = s.to_physical_repr();
    Ok(phys.i64()?.max())
}

/// A Polars value as JSON (NaN as null, dates and times as ISO 8601 text).
pub fn any_to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AnyValue::Null => J::Null,
        AnyValue::Boolean(b) => J::Bool(*b),
        AnyValue::String(s) => J::String((*s).to_owned()),
        AnyValue::StringOwned(s) => J::String(s.to_string()),
        AnyValue::Float32(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(J::Null, J::Number)
        }
        AnyValue::Float64(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        v if v.dtype().is_integer() => v
            .extract::<i64>()
            .map(|i| J::Number(i.into()))
            .unwrap_or_else(|| J::String(v.to_string())),
        other => J::String(other.to_string().trim_matches('"').to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_and_extracts_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "x,c\n3,a\n1,b\n,a\nNaN,\n2.5,a\n").unwrap();
        let df = read_table(&p).unwrap();
        let x = column(&df, "x", &p).unwrap();
        assert_eq!(kind_of(x.dtype()), Kind::Numeric);
        assert_eq!(numeric_sorted(x).unwrap(), vec![1.0, 2.5, 3.0]);
        assert_eq!(missing_count(x), 2);
        let c = column(&df, "c", &p).unwrap();
        assert_eq!(kind_of(c.dtype()), Kind::Categorical);
        assert_eq!(
            category_counts(c).unwrap(),
            BTreeMap::from([("a".into(), 3), ("b".into(), 1)])
        );
        assert!(has_duplicates(c).unwrap());
        let err = column(&df, "y", &p).unwrap_err().to_string();
        assert!(err.contains("it has: x, c"), "{err}");
        assert!(matches!(
            Format::of(Path::new("a.xlsx")),
            Err(DataError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn reads_avro() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.avro");
        let mut df = df!("id" => [1i64, 2, 3], "name" => ["a", "b", "c"]).unwrap();
        polars::io::avro::AvroWriter::new(std::fs::File::create(&p).unwrap())
            .finish(&mut df)
            .unwrap();
        let back = read_table(&p).unwrap();
        assert_eq!(back.shape(), (3, 2));
        assert_eq!(
            numeric_sorted(back.column("id").unwrap()).unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        assert_eq!(
            category_counts(back.column("name").unwrap()).unwrap().len(),
            3
        );
    }
}
