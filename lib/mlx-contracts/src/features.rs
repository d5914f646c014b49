//! What `mlx-features` writes: the `details` of `features.json`, the fitted
//! preprocessing pipeline (`features/preprocessor.json`, copied into every model
//! bundle), the split summary and the feature store's records.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{SplitStrategy, TransformStrategy};

/// Version of [`FeaturesReport`].
pub const FEATURES_REPORT_VERSION: u32 = 1;
/// Version of [`Preprocessor`].
pub const PREPROCESSOR_VERSION: u32 = 1;
/// Version of [`ViewVersion`].
pub const VIEW_VERSION: u32 = 1;
/// Version of [`OnlineRecord`].
pub const ONLINE_RECORD_VERSION: u32 = 1;

/// The run of `mlx-features`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeaturesReport {
    /// See [`FEATURES_REPORT_VERSION`].
    pub schema_version: u32,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written to `features/features.parquet`.
    pub rows_out: u64,
    /// Rows dropped because a lag or window feature was missing
    /// (`features.incomplete_rows: drop`).
    pub rows_dropped: u64,
    /// The derived features, in order.
    pub derived: Vec<DerivedColumn>,
    /// Feature views: versions written to the offline store and columns joined.
    pub views: Vec<ViewReport>,
    /// The split.
    pub split: SplitSummary,
    /// Model input columns and what the fitted preprocessing turns them into.
    pub inputs: Vec<String>,
    /// Columns of the model matrix, in order.
    pub outputs: Vec<String>,
    /// Warnings (e.g. a rolling statistic that includes the current row's target).
    pub warnings: Vec<String>,
    /// What was done by default (a text column with no encoder one-hot encoded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One derived column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivedColumn {
    /// Column name.
    pub name: String,
    /// Feature kind (`lag`, `rolling`, ...).
    pub kind: String,
    /// Rows where it is missing, before incomplete rows are handled.
    pub missing: u64,
}

/// One feature view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewReport {
    /// View name.
    pub name: String,
    /// Its version in the offline store: the SHA-256 of its Parquet file.
    pub version: String,
    /// Rows in that version.
    pub rows: u64,
    /// Whether it was joined onto the dataset (views with a `source`).
    pub joined: bool,
    /// Dataset rows for which no feature row was found at or before their time (within
    /// the TTL).
    pub unmatched: u64,
    /// With `features.store.format: delta`: the view's Delta table version holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_version: Option<u64>,
}

/// The split, as written to `features/split.parquet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitSummary {
    /// Strategy used.
    pub strategy: SplitStrategy,
    /// Rows in the training set.
    pub train: u64,
    /// Rows in the validation set.
    pub validation: u64,
    /// Rows in the test set.
    pub test: u64,
    /// Per fold: training and validation rows (fold strategies only).
    pub folds: Vec<FoldSummary>,
    /// Seed used for shuffling.
    pub seed: u64,
}

/// One cross-validation fold or backtest window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FoldSummary {
    /// Training rows.
    pub train: u64,
    /// Validation rows.
    pub validation: u64,
}

/// A fitted preprocessing pipeline: training fits it, every later stage applies it.
/// Applying it to a batch or to one row gives bit-identical values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preprocessor {
    /// See [`PREPROCESSOR_VERSION`].
    pub schema_version: u32,
    /// The columns a caller supplies, with their kind.
    pub inputs: Vec<InputColumn>,
    /// Fitted steps, applied in order.
    pub steps: Vec<FittedStep>,
    /// Columns of the output matrix, in order.
    pub outputs: Vec<String>,
}

/// One input column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputColumn {
    /// Column name.
    pub name: String,
    /// How it is read.
    pub kind: InputKind,
}

/// How an input column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A number (integers and booleans read as floats).
    Numeric,
    /// A category (text; numbers are read by their decimal text).
    Categorical,
}

/// One fitted step. Every step maps one input column to one or more output columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FittedStep {
    /// The column it reads.
    pub column: String,
    /// The strategy.
    pub strategy: TransformStrategy,
    /// Its fitted state.
    pub state: StepState,
}

/// The fitted state of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepState {
    /// `(x - center) / scale`.
    Scale {
        /// Subtracted.
        center: f64,
        /// Divided by (1 when the training spread was 0).
        scale: f64,
    },
    /// Missing numbers become `value`.
    FillNumber {
        /// The fill value.
        value: f64,
    },
    /// Missing categories become `value`.
    FillCategory {
        /// The fill value.
        value: String,
    },
    /// Missing values take the previous value of the same entity in time order; online
    /// (one row, no history) the last training value.
    ForwardFill {
        /// The last training value (none when the column was all missing).
        last: Option<f64>,
    },
    /// One 0/1 column per category, plus one for unknown categories.
    Onehot {
        /// Training categories, sorted.
        categories: Vec<String>,
    },
    /// The category's index among `categories`; unknown is -1.
    Ordinal {
        /// Training categories, sorted.
        categories: Vec<String>,
    },
    /// A number per category (frequency or target encoding); unknown gets `default`.
    Lookup {
        /// Category to value.
        values: BTreeMap<String, f64>,
        /// The value of unknown categories.
        default: f64,
    },
}

/// A version of a feature view in the offline store
/// (`<offline>/<view>/versions/<sha256>.json`, and `<offline>/<view>/latest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewVersion {
    /// See [`VIEW_VERSION`].
    pub schema_version: u32,
    /// View name.
    pub view: String,
    /// SHA-256 of the Parquet file: the version.
    pub version: String,
    /// Entity key columns.
    pub entity: Vec<String>,
    /// Event-time column.
    pub timestamp: String,
    /// Feature columns.
    pub features: Vec<String>,
    /// Rows.
    pub rows: u64,
    /// When it was written (RFC 3339).
    pub created: String,
}

/// What the online store holds per view and entity: the latest feature values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnlineRecord {
    /// See [`ONLINE_RECORD_VERSION`].
    pub schema_version: u32,
    /// View name.
    pub view: String,
    /// The offline version it was materialised from.
    pub version: String,
    /// Entity key values, in the view's key order.
    pub entity: Vec<String>,
    /// Event time of the values (RFC 3339).
    pub event_time: String,
    /// Feature name to value (numbers, text, booleans, null).
    pub features: BTreeMap<String, serde_json::Value>,
}
