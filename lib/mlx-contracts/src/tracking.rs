//! The tracking store's entries (`tracking.uri`, docs/tracking.md), under
//! `<store>/<experiment>/`:
//!
//! - `entries/<id>.json`: one [`TrackedRun`], written once with a create-only write;
//! - `packs/<sha256>.jsonl`: many entries, one [`TrackedRun`] per line, written once;
//!   a pack replaces the loose entries it holds (they are deleted after it is written),
//!   so every entry is in one place or, for a moment, two identical ones;
//! - `objects/<sha256>`: artifacts (histories, trials, plots), by content.
//!
//! There is no index beside the entries: listing reads the entries themselves, so
//! nothing can drift from them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::ParamValue;
use crate::record::Status;
use crate::ContractError;

/// Version of [`TrackedRun`].
pub const TRACKED_RUN_VERSION: u32 = 1;

/// What an entry records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// One candidate's training (`mlx-train`): a run.
    Train,
    /// One candidate's evaluation on held-out rows (`mlx-eval`), about a run.
    Eval,
    /// The SHAP summary of the explained candidate (`mlx-shap`), about a run.
    Shap,
    /// The gate's outcome for its candidate (`mlx-gate`), about a run.
    Gate,
    /// One monitoring window (`mlx-monitor`).
    Monitor,
}

impl EntryKind {
    /// The stage that writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Eval => "eval",
            Self::Shap => "shap",
            Self::Gate => "gate",
            Self::Monitor => "monitor",
        }
    }
}

/// One entry of the tracking store: immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackedRun {
    /// See [`TRACKED_RUN_VERSION`].
    pub schema_version: u32,
    /// 16 hex digits, from the stage execution that wrote it; commands accept any
    /// unique prefix.
    pub id: String,
    /// What it records.
    pub kind: EntryKind,
    /// For entries about a run (eval, shap, gate): the run's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// The training it belongs to (the `id` shared by every run of one `mlx-train`);
    /// absent for a monitoring window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<String>,
    /// The candidate's name (the registered model's, for a monitoring window).
    pub name: String,
    /// The work directory's run id (`runs/<run-id>/`), which registry versions name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Model family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// When the stage started and finished.
    pub started_at: DateTime<Utc>,
    /// When the stage finished.
    pub finished_at: DateTime<Utc>,
    /// The stage's status.
    pub status: Status,
    /// Hyperparameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, ParamValue>,
    /// Metrics by `<set>.<metric>`: `validation.accuracy`, `test.accuracy`,
    /// `cv.accuracy`, `fold.2.accuracy`, `check.<gate check>`, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Tags: `git.commit`, `git.branch`, `git.dirty`, `dataset_sha256`,
    /// `config_sha256`, `bundle_sha256`, `user`, `host`, `github.run`, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Artifacts by name: the SHA-256 of `objects/<sha256>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, String>,
}

impl TrackedRun {
    /// Parses an entry, checking its schema version first.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "tracking entry", TRACKED_RUN_VERSION)
    }
}
