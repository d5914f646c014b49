//! What `mlx-train` writes: the model bundle's manifest, each run's record, and the
//! `details` of `train.json`.
//!
//! A bundle is a directory `runs/<run-id>/bundle/` holding `manifest.json`
//! ([`BundleManifest`]), `preprocessor.json` (the fitted
//! [`Preprocessor`](crate::features::Preprocessor)) and the model file in its library's
//! own format. Every later stage loads a bundle through one loader, whatever trained it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{ModelType, ParamValue, ProblemType};
use crate::features::InputColumn;

/// Version of [`BundleManifest`].
pub const BUNDLE_VERSION: u32 = 1;
/// Version of [`RunRecord`].
pub const RUN_RECORD_VERSION: u32 = 1;
/// Version of [`TrainReport`].
pub const TRAIN_REPORT_VERSION: u32 = 1;

/// The manifest of a model bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// See [`BUNDLE_VERSION`].
    pub schema_version: u32,
    /// The candidate's name in the config.
    pub name: String,
    /// Problem type.
    pub problem_type: ProblemType,
    /// Model family.
    pub model_type: ModelType,
    /// The library that fitted the model and wrote `model_file`.
    pub library: Library,
    /// The model file, relative to the bundle directory.
    pub model_file: String,
    /// What the bundle reads and returns.
    pub signature: Signature,
    /// Class labels in the order of `predict_proba` columns (classifiers only).
    pub classes: Option<Vec<String>>,
    /// Binary classifiers: the probability of the second class at or above which the
    /// prediction is that class (tuned on the validation split with
    /// `evaluation.tune_threshold`); absent: the most probable class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_threshold: Option<f64>,
    /// The target column.
    pub target: String,
    /// Hyperparameters the model was fitted with.
    pub params: BTreeMap<String, ParamValue>,
    /// SHA-256 of the features file it was trained on.
    pub dataset_sha256: String,
    /// Git commit of the project, when it is a git repository.
    pub git_commit: Option<String>,
    /// SHA-256 of the config sections that shaped the model.
    pub config_sha256: String,
    /// When training finished (RFC 3339). Like the other provenance fields it is not
    /// part of the bundle's content hash.
    pub trained_at: String,
    /// SHA-256 of each other file of the bundle, by name: the bundle's integrity.
    pub files: BTreeMap<String, String>,
}

/// A library and its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Library {
    /// Name (`mlx`, `xgboost`, `lightgbm`).
    pub name: String,
    /// Version.
    pub version: String,
}

/// Input and output columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Input columns with their kinds (as the preprocessor reads them).
    pub inputs: Vec<InputColumn>,
    /// Allowed categories of categorical inputs (those seen in training).
    pub categories: BTreeMap<String, Vec<String>>,
    /// Output columns: `prediction`, and `proba_<class>` for classifiers.
    pub outputs: Vec<String>,
}

/// One candidate's training run (`runs/<run-id>/run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// See [`RUN_RECORD_VERSION`].
    pub schema_version: u32,
    /// The run id: the candidate's name and a hash of what made it.
    pub run_id: String,
    /// Candidate name.
    pub name: String,
    /// Model family.
    pub model_type: ModelType,
    /// Hyperparameters used.
    pub params: BTreeMap<String, ParamValue>,
    /// Per iteration (boosting round, epoch, solver step): the training loss and the
    /// validation metric.
    pub history: Vec<HistoryPoint>,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// Validation metrics of the fitted model (empty without a validation set).
    pub validation: BTreeMap<String, f64>,
    /// Hyperparameter search trials, when `training.tuning` is set.
    pub trials: Vec<Trial>,
    /// Tags: git commit, dataset hash, ...
    pub tags: BTreeMap<String, String>,
    /// The bundle directory, relative to the work directory.
    pub bundle: String,
    /// SHA-256 over the bundle's files: equal for equal config, data and seed.
    pub bundle_sha256: String,
}

/// One point of the training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryPoint {
    /// Iteration, from 1.
    pub iteration: u32,
    /// Training loss (the objective being minimised).
    pub train_loss: f64,
    /// Validation metric, when there is a validation set.
    pub validation: Option<f64>,
}

/// One trial of a hyperparameter search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    /// Parameters tried.
    pub params: BTreeMap<String, ParamValue>,
    /// Mean cross-validated score (the primary metric).
    pub score: f64,
    /// Per-fold scores.
    pub folds: Vec<f64>,
}

/// The `details` of `train.json`: every run of this training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainReport {
    /// See [`TRAIN_REPORT_VERSION`].
    pub schema_version: u32,
    /// The runs (as in each `runs/<run-id>/run.json`), in config order.
    pub runs: Vec<RunRecord>,
    /// Training rows.
    pub train_rows: u64,
    /// Validation rows.
    pub validation_rows: u64,
    /// Model matrix columns.
    pub features: u64,
}
