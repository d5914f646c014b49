//! What `mlx-shap` writes: each explained run's `runs/<run-id>/shap.json` (the values
//! themselves go to `runs/<run-id>/shap_values.parquet`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::ModelType;

/// Version of [`ShapReport`].
pub const SHAP_REPORT_VERSION: u32 = 1;

/// One run's explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapReport {
    /// See [`SHAP_REPORT_VERSION`].
    pub schema_version: u32,
    /// The run (empty for a bundle explained outside a pipeline).
    pub run_id: String,
    /// The candidate's name.
    pub name: String,
    /// Model family.
    pub model_type: ModelType,
    /// The algorithm: `tree`, `linear`, `kernel_exact` or `permutation`.
    pub method: String,
    /// What the values add up to: `margin` (log-odds / raw scores of boosters and
    /// logistic regression), `probability` (forests' and kernel methods' class
    /// probabilities), `value`, or `regression` (a SARIMAX forecast's regression
    /// component `x β`; the ARIMA errors' forecast comes from the history).
    pub output_space: String,
    /// The explained outputs: class names, or `prediction`.
    pub outputs: Vec<String>,
    /// The model's input features (after preprocessing), in matrix order.
    pub features: Vec<String>,
    /// Rows explained.
    pub rows: u64,
    /// Background rows (linear, kernel and permutation methods).
    pub background_rows: u64,
    /// The expected output per output: what the values start from.
    pub base_values: Vec<f64>,
    /// Largest |base + Σ SHAP − model output| over rows and outputs (additivity).
    pub additivity_max_error: f64,
    /// Features by mean |SHAP| (summed over outputs), largest first.
    pub importance: Vec<Importance>,
    /// The per-row values, relative to the work directory.
    pub values_file: String,
    /// Plots written, relative to the work directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plots: Vec<String>,
    /// Comparison with a baseline explanation (the production model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<ShapShift>,
}

/// A feature's global importance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Importance {
    /// The feature.
    pub feature: String,
    /// Mean |SHAP| over the explained rows, summed over outputs.
    pub mean_abs: f64,
    /// 1 for the most important.
    pub rank: u32,
}

/// How this model's importance profile differs from a baseline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapShift {
    /// The baseline (a run id or a file).
    pub baseline: String,
    /// Spearman rank correlation of the importances over the features both know.
    pub spearman: f64,
    /// L1 distance of the importances normalised to sum 1 (0 to 2).
    pub l1_distance: f64,
    /// The baseline's top features and where they rank now.
    pub rank_changes: Vec<RankChange>,
    /// Whether the shift exceeds `explain.shift` (the gate escalates to a human).
    pub flagged: bool,
    /// Why it was flagged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// A top feature's rank then and now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RankChange {
    /// The feature.
    pub feature: String,
    /// Its rank in the baseline.
    pub baseline_rank: u32,
    /// Its rank now (absent: the model no longer has it).
    pub rank: Option<u32>,
}
