//! What `mlx-serve` writes and `mlx-monitor` reads: one [`PredictionRecord`] per scored
//! record (`predictions-*.ndjson`) and one [`FeedbackRecord`] per actual outcome
//! reported back (`feedback-*.ndjson`), in the prediction log directory.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of [`PredictionRecord`] and [`FeedbackRecord`].
pub const PREDICTION_LOG_VERSION: u32 = 1;

/// One prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictionRecord {
    /// See [`PREDICTION_LOG_VERSION`].
    pub schema_version: u32,
    /// The request's id (`X-Request-Id`, or generated), with `#<i>` for the i-th record
    /// of a batch after the first.
    pub request_id: String,
    /// When it was scored.
    pub at: DateTime<Utc>,
    /// The registered model (or the bundle path).
    pub model: String,
    /// The registry version that scored it.
    pub version: Option<u64>,
    /// `live`, `challenger` (canary) or `shadow` (scored, not returned).
    pub variant: String,
    /// The input record as received (after any online feature lookup).
    pub features: serde_json::Map<String, serde_json::Value>,
    /// `prediction` and, for classifiers, `proba_<class>`.
    pub output: serde_json::Map<String, serde_json::Value>,
}

/// An actual outcome for an earlier prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRecord {
    /// See [`PREDICTION_LOG_VERSION`].
    pub schema_version: u32,
    /// The prediction's request id.
    pub request_id: String,
    /// When the feedback arrived.
    pub at: DateTime<Utc>,
    /// The actual value or class.
    pub actual: serde_json::Value,
}
