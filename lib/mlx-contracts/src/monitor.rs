//! What `mlx-monitor` writes: the monitoring report (`monitor/monitor.json`), which
//! says whether a retraining trigger fired and why.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::shap::ShapShift;
use crate::ContractError;

/// Version of [`MonitorReport`].
pub const MONITOR_REPORT_VERSION: u32 = 1;

/// One monitoring run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorReport {
    /// See [`MONITOR_REPORT_VERSION`].
    pub schema_version: u32,
    /// The last day included.
    pub as_of: NaiveDate,
    /// The window the triggers look at, in days (ending at `as_of`).
    pub window_days: u32,
    /// The window of the drift statistics (PSI, KL, prediction drift, SHAP shift).
    #[serde(default)]
    pub drift_window_days: u32,
    /// The registered model.
    pub model: String,
    /// The version that made most of the window's predictions.
    pub version: Option<u64>,
    /// Per day: predictions, those with an actual, and the day's metrics.
    pub days: Vec<DayStats>,
    /// Metrics over the window (`wape`, `mae`, `rmse`, `bias` or `accuracy`).
    pub window: BTreeMap<String, f64>,
    /// The model's held-out metrics at registration.
    pub baseline: BTreeMap<String, f64>,
    /// Consecutive days, up to `as_of`, whose mean error had the same sign.
    pub bias_persistence_days: u32,
    /// Per input feature: the window against the training rows.
    pub feature_drift: Vec<FeatureDrift>,
    /// The window's predictions against the model's predictions on the training rows.
    pub prediction_drift: Option<FeatureDrift>,
    /// The SHAP ranking on the window against the one registered with the model.
    pub shap_shift: Option<ShapShift>,
    /// Every trigger, fired or not.
    pub triggers: Vec<Trigger>,
    /// The drift matrix's verdict: `healthy`, `model_aging`, `concept_drift`,
    /// `early_warning`, and for a fired trigger the matrix leaves out, `data_drift` or
    /// `persistent_bias`. `healthy` exactly when no trigger fired and the SHAP ranking
    /// did not change.
    pub diagnosis: String,
    /// What the diagnosis recommends.
    pub recommendation: String,
    /// Whether any trigger fired (the command exits 1).
    pub fired: bool,
}

impl MonitorReport {
    /// Parses and version-checks a report.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "monitoring report", MONITOR_REPORT_VERSION)
    }
}

/// One day of the prediction log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DayStats {
    /// The day (UTC).
    pub date: NaiveDate,
    /// Predictions made.
    pub predictions: u64,
    /// Of those, with a known actual.
    pub labelled: u64,
    /// The day's metrics over the labelled predictions.
    pub metrics: BTreeMap<String, f64>,
    /// The rolling metrics over the window ending that day.
    pub rolling: BTreeMap<String, f64>,
}

/// One distribution compared with its training counterpart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureDrift {
    /// The column (`prediction` for the prediction drift).
    pub column: String,
    /// Population stability index.
    pub psi: f64,
    /// KL divergence on the same bins.
    pub kl: f64,
}

/// A retraining trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// `wape`, `accuracy`, `metric_degradation`, `psi`, `kl`, `prediction_drift`.
    pub name: String,
    /// The measured value.
    pub value: Option<f64>,
    /// The configured limit.
    pub threshold: f64,
    /// Whether it fired.
    pub fired: bool,
    /// One sentence.
    pub message: String,
}
