//! What `mlx-ingest` reports: the `details` of `ingest.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::FileDigest;

/// Version of [`IngestReport`].
pub const INGEST_REPORT_VERSION: u32 = 1;

/// The sources read and the dataset written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestReport {
    /// See [`INGEST_REPORT_VERSION`].
    pub schema_version: u32,
    /// Per source, in config order.
    pub sources: Vec<SourceReport>,
    /// Rows of the written dataset.
    pub rows: u64,
    /// Columns of the written dataset.
    pub columns: u64,
    /// Column name to type of the written dataset, in column order.
    pub schema: Vec<ColumnType>,
    /// With incremental ingest: rows added by this run (the rest were already there).
    pub appended_rows: Option<u64>,
    /// With incremental ingest: the newest time value before this run.
    pub previous_max_time: Option<String>,
}

/// One source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceReport {
    /// Its name in the config.
    pub name: String,
    /// Its URI as configured (secrets masked).
    pub uri: String,
    /// Files read (a glob may match several), with their SHA-256: the source
    /// fingerprint.
    pub files: Vec<FileDigest>,
    /// Rows read.
    pub rows: u64,
    /// Column name to type, as read (after configured coercion).
    pub schema: Vec<ColumnType>,
}

/// A column and its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnType {
    /// Column name.
    pub name: String,
    /// Polars' name of the type (`i64`, `f64`, `str`, `date`, ...).
    pub dtype: String,
}
