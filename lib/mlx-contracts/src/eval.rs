//! What `mlx-eval` writes: each run's metrics (`runs/<run-id>/metrics.json`), the
//! leaderboard (`leaderboard.json`) and the `details` of `eval.json`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Direction, Metric, ModelType};

/// Version of [`RunMetrics`].
pub const RUN_METRICS_VERSION: u32 = 1;
/// Version of [`Leaderboard`].
pub const LEADERBOARD_VERSION: u32 = 1;

/// Every metric of one set of predictions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// Rows scored.
    pub rows: u64,
    /// Metric values by name (`accuracy`, `f1_macro`, `rmse`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// Metrics that are undefined on these rows, with the reason (ROC-AUC when the
    /// truth has one class).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub undefined: BTreeMap<String, String>,
    /// Classifiers: the confusion matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion_matrix: Option<ConfusionMatrix>,
}

/// A confusion matrix with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfusionMatrix {
    /// Class labels, in the order of rows (true) and columns (predicted).
    pub classes: Vec<String>,
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

/// Mean and spread of a metric over cross-validation folds or backtest windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    /// Mean over the folds.
    pub mean: f64,
    /// Sample standard deviation over the folds (0 for one fold).
    pub std: f64,
    /// Smallest fold value.
    pub min: f64,
    /// Largest fold value.
    pub max: f64,
}

/// Metrics of the rows that share one value of a segment column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    /// The segment column.
    pub column: String,
    /// Its value (as text; `null` for missing).
    pub value: String,
    /// The slice's scores.
    pub scores: Scores,
}

/// Fairness of a classifier across the groups of a protected attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fairness {
    /// The protected attribute.
    pub column: String,
    /// The class counted as the favourable outcome.
    pub positive_class: String,
    /// Largest minus smallest selection rate (share predicted positive) across groups.
    pub demographic_parity_difference: f64,
    /// Largest minus smallest true positive rate across groups (groups without actual
    /// positives left out).
    pub equal_opportunity_difference: f64,
    /// Per group.
    pub groups: Vec<GroupRates>,
}

/// One group's rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRates {
    /// The attribute's value.
    pub value: String,
    /// Rows.
    pub rows: u64,
    /// Share predicted positive.
    pub selection_rate: f64,
    /// True positive rate (recall of the positive class); absent without actual positives.
    pub true_positive_rate: Option<f64>,
    /// False positive rate; absent without actual negatives.
    pub false_positive_rate: Option<f64>,
    /// Share of rows predicted wrong.
    pub error_rate: f64,
}

/// One run's evaluation (`runs/<run-id>/metrics.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunMetrics {
    /// See [`RUN_METRICS_VERSION`].
    pub schema_version: u32,
    /// The run.
    pub run_id: String,
    /// The candidate's name.
    pub name: String,
    /// Model family.
    pub model_type: ModelType,
    /// Which rows were scored: `test`, or `validation` when the split has no test rows.
    pub set: String,
    /// The scores on those rows.
    pub scores: Scores,
    /// Binary classifiers: the decision threshold the predictions used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Cross-validated or backtested splits: each metric over the folds (the model
    /// refitted on each fold's training rows with the run's parameters).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub folds: BTreeMap<String, Spread>,
    /// Metrics per value of each `evaluation.segments` column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<Slice>,
    /// Fairness across `evaluation.fairness.protected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness: Option<Fairness>,
    /// Plots written, relative to the work directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plots: Vec<String>,
}

/// The candidates ranked (`leaderboard.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Leaderboard {
    /// See [`LEADERBOARD_VERSION`].
    pub schema_version: u32,
    /// The metric that ranks.
    pub primary_metric: Metric,
    /// Its direction.
    pub direction: Direction,
    /// The rows every candidate was scored on.
    pub set: String,
    /// Best first.
    pub entries: Vec<LeaderboardEntry>,
    /// The production model scored on the same rows: the champion to beat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion: Option<Champion>,
}

/// The production model on the leaderboard's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Champion {
    /// Where its bundle was loaded from.
    pub bundle: String,
    /// Its candidate name.
    pub name: String,
    /// Model family.
    pub model_type: ModelType,
    /// The primary metric.
    pub primary: Option<f64>,
    /// Every metric.
    pub metrics: BTreeMap<String, f64>,
    /// Whether the best candidate scores better on the primary metric (absent when
    /// either is undefined).
    pub beaten: Option<bool>,
}

/// One candidate on the leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardEntry {
    /// 1 for the best.
    pub rank: u32,
    /// The run.
    pub run_id: String,
    /// The candidate's name.
    pub name: String,
    /// Model family.
    pub model_type: ModelType,
    /// The primary metric (absent when undefined on these rows; ranked last).
    pub primary: Option<f64>,
    /// Every metric.
    pub metrics: BTreeMap<String, f64>,
    /// With cross-validation or backtesting folds: each metric's mean and spread over
    /// the folds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub folds: BTreeMap<String, Spread>,
}
