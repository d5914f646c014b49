//! The model registry's objects (`mlx-promote`), under `<registry>/<model>/`:
//!
//! - `versions/<n>/bundle.tar`: the packed model bundle, written once (its creation
//!   claims the number `n`);
//! - `versions/<n>/reference.parquet`: the training rows the model saw (its inputs and
//!   target), the monitor's reference for drift and SHAP shift, written once;
//! - `versions/<n>/version.json`: a [`ModelVersion`], written once;
//! - `state/<revision>.json`: a [`RegistryState`], one per change, each created with a
//!   conditional write that fails if that revision already exists. The newest revision
//!   is the current state; the sequence of revisions is the audit trail.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{DeployStrategy, ModelType};
use crate::gate::{GateOutcome, GateReport, Review};
use crate::shap::ShapReport;
use crate::ContractError;

/// Version of [`RegistryState`].
pub const REGISTRY_STATE_VERSION: u32 = 1;
/// Version of [`ModelVersion`].
pub const MODEL_VERSION_VERSION: u32 = 1;

/// A registered model version: immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelVersion {
    /// See [`MODEL_VERSION_VERSION`].
    pub schema_version: u32,
    /// Registered model name.
    pub model: String,
    /// Version number (1, 2, ...).
    pub version: u64,
    /// The training run.
    pub run_id: String,
    /// The candidate's name in the config.
    pub name: String,
    /// Model family.
    pub model_type: ModelType,
    /// SHA-256 of the bundle's manifest (the bundle's identity).
    pub bundle_sha256: String,
    /// SHA-256 of `bundle.tar`, checked whenever the version is loaded.
    pub archive_sha256: String,
    /// Size of `bundle.tar` in bytes.
    pub archive_size: u64,
    /// Held-out metrics at registration.
    pub metrics: BTreeMap<String, f64>,
    /// SHA-256 of the features the model was trained on.
    pub dataset_sha256: String,
    /// Git commit of the project at training.
    pub git_commit: Option<String>,
    /// SHA-256 of the config sections that shaped the model.
    pub config_sha256: String,
    /// The resolved config at registration (to show what changed later).
    pub config: serde_json::Value,
    /// The gate report the version was registered with.
    pub gate: Option<GateReport>,
    /// Its SHAP report (the baseline for the next candidate's SHAP shift).
    pub shap: Option<ShapReport>,
    /// The training rows stored beside the bundle (`reference.parquet`): what
    /// `mlx-monitor` compares live traffic with when the work directory is empty, as on a
    /// scheduled CI runner. Versions registered before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<StoredObject>,
    /// When.
    pub registered_at: DateTime<Utc>,
    /// Who.
    pub registered_by: String,
}

/// An object stored with a version, checked against its hash whenever it is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoredObject {
    /// SHA-256 of the object's bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Rows, for a table.
    pub rows: u64,
}

impl ModelVersion {
    /// Parses and version-checks a model version.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "registry model version", MODEL_VERSION_VERSION)
    }
}

/// The registry's state after one change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryState {
    /// See [`REGISTRY_STATE_VERSION`].
    pub schema_version: u32,
    /// Registered model name.
    pub model: String,
    /// This state's number; the next change writes `revision + 1`.
    pub revision: u64,
    /// Every registered version's stage, gate result and reviews.
    pub versions: BTreeMap<u64, VersionState>,
    /// Named aliases (`champion`, `challenger`, any name) and their versions.
    pub aliases: BTreeMap<String, u64>,
    /// Earlier production versions, oldest first (what `rollback` returns to).
    pub production_history: Vec<u64>,
    /// What `mlx-serve` serves.
    pub deployment: Deployment,
    /// The change that produced this revision.
    pub transition: Transition,
}

impl RegistryState {
    /// Parses and version-checks a registry state.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "registry state", REGISTRY_STATE_VERSION)
    }

    /// The version in production.
    pub fn production(&self) -> Option<u64> {
        self.in_stage(Stage::Production)
    }

    /// The newest version in a stage.
    pub fn in_stage(&self, stage: Stage) -> Option<u64> {
        self.versions
            .iter()
            .rev()
            .find(|(_, v)| v.stage == stage)
            .map(|(n, _)| *n)
    }
}

/// One version's mutable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionState {
    /// Its stage.
    pub stage: Stage,
    /// The gate outcome it was registered with.
    pub gate: Option<GateOutcome>,
    /// The evidence hash of that gate report.
    pub evidence_sha256: Option<String>,
    /// SHA-256 of the bundle's manifest.
    pub bundle_sha256: String,
    /// The training run.
    pub run_id: String,
    /// Human decisions about it.
    pub reviews: Vec<Review>,
    /// Why it was archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_reason: Option<String>,
    /// The container images of it pushed to an OCI registry (`mlx image build --push`),
    /// one per reference, the newest push of a reference replacing the older.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PushedImage>,
}

/// A container image serving a version, as pushed to an OCI registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushedImage {
    /// Where it was pushed, by tag (`ghcr.io/acme/churn:v3`).
    pub reference: String,
    /// The manifest's digest (`sha256:...`): `<repository>@<digest>` names exactly it.
    pub digest: String,
    /// When.
    pub pushed_at: DateTime<Utc>,
    /// Who.
    pub pushed_by: String,
}

impl PushedImage {
    /// The image by digest (`ghcr.io/acme/churn@sha256:...`), what a deployment should run.
    pub fn by_digest(&self) -> String {
        let repository = match self.reference.rsplit_once(':') {
            Some((r, tag)) if !tag.contains('/') => r,
            _ => &self.reference,
        };
        format!("{repository}@{}", self.digest)
    }
}

/// Registry stages, as in the design documents.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "none",
            Stage::Staging => "staging",
            Stage::Production => "production",
            Stage::Archived => "archived",
        }
    }
}

/// Deployment state for `mlx-serve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// How traffic is split.
    pub strategy: DeployStrategy,
    /// The version answering requests (blue-green: the live colour); follows
    /// production unless a strategy says otherwise.
    pub live: Option<u64>,
    /// Canary or shadow: the challenger version.
    pub challenger: Option<u64>,
    /// Canary: the challenger's share of traffic.
    pub canary_fraction: Option<f64>,
}

/// One change to the registry: the audit trail's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// `create`, `register`, `promote`, `archive`, `rollback`, `alias`, `unalias`,
    /// `review`, `deploy`, `image`.
    pub action: String,
    /// The version it concerns.
    pub version: Option<u64>,
    /// Its stage before.
    pub from: Option<Stage>,
    /// Its stage after.
    pub to: Option<Stage>,
    /// The alias set or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The version archived or demoted as a consequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<u64>,
    /// Who.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// The gate evidence the change relied on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_sha256: Option<String>,
}
