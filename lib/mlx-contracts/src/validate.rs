//! What `mlx-validate` writes: the validation report (the `details` of `validate.json`,
//! and the output of `mlx-validate drift --json`) and the frozen reference
//! (`data/reference/reference.json`) that later runs compare against.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{DType, DriftMethod};
use crate::{ContractError, FileDigest, Status};

/// Version of [`ValidationReport`].
pub const VALIDATION_REPORT_VERSION: u32 = 1;
/// Version of [`Reference`].
pub const REFERENCE_VERSION: u32 = 1;

/// Every check of one validation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidationReport {
    /// See [`VALIDATION_REPORT_VERSION`].
    pub schema_version: u32,
    /// Rows of the validated dataset.
    pub rows: u64,
    /// Columns of the validated dataset.
    pub columns: u64,
    /// Each check with its value, threshold and verdict.
    pub checks: Vec<Check>,
    /// Drift against the reference, when there is one.
    pub drift: Option<DriftReport>,
}

impl ValidationReport {
    /// The worst status of any check.
    pub fn status(&self) -> Status {
        worst(self.checks.iter().map(|c| c.status))
    }

    /// Parses a report, refusing unknown versions.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "validation report", VALIDATION_REPORT_VERSION)
    }
}

/// The worst of several statuses (`failed` > `warned` > `passed`).
pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
    statuses
        .into_iter()
        .fold(Status::Passed, |acc, s| match (acc, s) {
            (Status::Failed, _) | (_, Status::Failed) => Status::Failed,
            (Status::Warned, _) | (_, Status::Warned) => Status::Warned,
            _ => Status::Passed,
        })
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// What was checked.
    pub kind: CheckKind,
    /// The column, for column checks.
    pub column: Option<String>,
    /// Verdict; `failed` makes the stage exit 1, `warned` is a data-quality flag the
    /// gate reads.
    pub status: Status,
    /// The measured value (a fraction, a count, a statistic).
    pub value: Option<f64>,
    /// The limit it was compared with.
    pub threshold: Option<f64>,
    /// One sentence a person can act on.
    pub message: String,
}

/// Kinds of checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum CheckKind {
    RequiredColumn,
    Dtype,
    Nullable,
    MissingFraction,
    AllowedValues,
    Range,
    Pattern,
    Unique,
    RowCount,
    Freshness,
    Outliers,
    ColumnDrift,
    DatasetDrift,
}

/// Drift of every compared column and the dataset-level verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftReport {
    /// Per column, in dataset order.
    pub columns: Vec<ColumnDrift>,
    /// How many columns drifted.
    pub drifted_columns: u64,
    /// `drifted_columns / columns`.
    pub drift_share: f64,
    /// The share at which the dataset counts as drifted.
    pub drift_share_threshold: f64,
    /// Whether the dataset drifted.
    pub dataset_drift: bool,
}

/// Whether a column is compared as numbers or as categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Integers and floats.
    Numeric,
    /// Strings, booleans, categories.
    Categorical,
}

/// Drift of one column: the deciding statistic plus every other statistic that applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnDrift {
    /// Column name.
    pub column: String,
    /// How it was compared.
    pub kind: ColumnKind,
    /// The method that decides (after `auto` resolution).
    pub method: DriftMethod,
    /// The deciding value: a p-value for `ks`, `chi2` and `ztest`, else a distance.
    pub value: f64,
    /// Its threshold (drift below it for p-values, at or above it for distances).
    pub threshold: f64,
    /// Whether the column drifted.
    pub drifted: bool,
    /// `warned` for drift or moderate PSI, else `passed`.
    pub status: Status,
    /// Non-null values compared on each side.
    pub reference_count: u64,
    /// Non-null values compared on each side.
    pub current_count: u64,
    /// Every statistic computed, by name (`psi`, `kl`, `js`, `wasserstein`,
    /// `ks_statistic`, `ks_p_value`, `chi2_statistic`, `chi2_p_value`, `ztest_p_value`).
    pub statistics: BTreeMap<String, f64>,
    /// Bins used for PSI/KL/JS (for plots): edges for numeric columns, labels for
    /// categorical ones, with the reference and current proportions.
    pub histogram: Histogram,
}

/// A binned comparison for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    /// Bin labels (`(-inf, 1.5]`, `a`, ...).
    pub labels: Vec<String>,
    /// Reference proportions per bin.
    pub reference: Vec<f64>,
    /// Current proportions per bin.
    pub current: Vec<f64>,
}

/// The frozen reference: inferred schema and baseline statistics of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// See [`REFERENCE_VERSION`].
    pub schema_version: u32,
    /// When `--freeze` ran.
    pub created_at: DateTime<Utc>,
    /// The dataset it was made from.
    pub source: FileDigest,
    /// `values.parquet` beside it: every numeric column sorted, nulls last. Absent
    /// for a reference frozen on Spark, whose values stay on the cluster (`cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<FileDigest>,
    /// With `engine.kind: spark`: the dataset it was frozen from, on the cluster, where
    /// drift reads the reference's values. `source` then holds its location and
    /// fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::ingest::ClusterDataset>,
    /// Its row count.
    pub rows: u64,
    /// Per column, in dataset order.
    pub columns: Vec<ReferenceColumn>,
}

impl Reference {
    /// Parses a reference, refusing unknown versions.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "frozen reference", REFERENCE_VERSION)
    }
}

/// Schema and baseline of one reference column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceColumn {
    /// Column name.
    pub name: String,
    /// Inferred type.
    pub dtype: DType,
    /// How drift is computed for it.
    pub kind: ColumnKind,
    /// Null count in the reference.
    pub nulls: u64,
    /// Numeric baseline.
    pub numeric: Option<NumericBaseline>,
    /// Category counts (categorical columns).
    pub categories: Option<BTreeMap<String, u64>>,
}

/// Numeric baseline of a reference column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NumericBaseline {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Distinct values (capped at 21: only "more than 20" matters).
    pub distinct: u64,
    /// Interior quantile edges for PSI.
    pub quantile_edges: Vec<f64>,
    /// Reference counts per quantile bin.
    pub quantile_counts: Vec<u64>,
}
