//! What `mlx-gate` writes and reads: the gate report (`gate.json`'s `details` and
//! `gate/report.json`), the append-only review log (`gate/reviews.ndjson`, one
//! [`Review`] per line), and what a decision leaves for others to act on: an
//! [`Alert`] after a rejection, a [`RetrainRequest`] after a deferral.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::ModelType;
use crate::ContractError;

/// Version of [`GateReport`].
pub const GATE_REPORT_VERSION: u32 = 1;
/// Version of [`Review`].
pub const REVIEW_VERSION: u32 = 1;
/// Version of [`Alert`] and [`RetrainRequest`].
pub const DECISION_OUTPUT_VERSION: u32 = 1;

/// The gate's verdict on one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateReport {
    /// See [`GATE_REPORT_VERSION`].
    pub schema_version: u32,
    /// The model the gate judged.
    pub candidate: Candidate,
    /// The production model it was compared with, when the registry has one.
    pub production: Option<ProductionRef>,
    /// `passed`, `pending_review` or `failed`.
    pub outcome: GateOutcome,
    /// Every check, in a fixed order; a check without its input is `skipped`.
    pub checks: Vec<GateCheck>,
    /// Why a human must decide (empty when the candidate is auto-approvable or failed).
    pub review_reasons: Vec<String>,
    /// What changed since production: data, config, code.
    pub changes: Vec<Change>,
    /// The candidate's top SHAP features (feature, mean |SHAP|), most important first.
    pub top_features: Vec<(String, f64)>,
    /// SHA-256 of the evidence (candidate, production, checks, changes): a decision
    /// is valid only for the evidence it was made on.
    pub evidence_sha256: String,
    /// When the gate ran (not part of the evidence).
    pub evaluated_at: DateTime<Utc>,
}

impl GateReport {
    /// Parses and version-checks a gate report.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "gate report", GATE_REPORT_VERSION)
    }
}

/// The candidate model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// Its training run.
    pub run_id: String,
    /// Its name in the config.
    pub name: String,
    /// Model family.
    pub model_type: ModelType,
    /// The bundle directory, relative to the work directory.
    pub bundle: String,
    /// SHA-256 of the bundle's manifest (which lists every file's hash).
    pub bundle_sha256: String,
    /// Who produced it (`MLX_AUTHOR`, else `GITHUB_ACTOR`, else `USER`): without
    /// `approval_gate.allow_self_approval` they may not approve it.
    pub author: Option<String>,
    /// Its held-out metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// The registry's production version at the time of the gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductionRef {
    /// Registry version number.
    pub version: u64,
    /// Its training run.
    pub run_id: String,
    /// Its metrics on the candidate's held-out rows.
    pub metrics: BTreeMap<String, f64>,
}

/// The gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// Every check passed and the policy approves without a human.
    Passed,
    /// Every check passed, but a human must decide.
    PendingReview,
    /// A check failed: the candidate may not be promoted.
    Failed,
}

impl GateOutcome {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            GateOutcome::Passed => "passed",
            GateOutcome::PendingReview => "pending_review",
            GateOutcome::Failed => "failed",
        }
    }
}

/// One check of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateCheck {
    /// `primary_metric`, `regression:<metric>`, `baseline:<metric>`, `data_quality`,
    /// `psi`, `shap_shift`, `fairness:<bound>`.
    pub name: String,
    /// The result.
    pub result: CheckResult,
    /// The measured value, when there is one.
    pub value: Option<f64>,
    /// The limit it was held to.
    pub threshold: Option<f64>,
    /// One sentence a reviewer can read.
    pub message: String,
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// Within the policy.
    Passed,
    /// Outside the policy: the gate fails.
    Failed,
    /// Within the policy, but a human must look (SHAP shift with
    /// `escalate_on_shap_drift`, data-quality warnings).
    Escalated,
    /// Its input is missing; the reason is in the message.
    Skipped,
}

impl CheckResult {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckResult::Passed => "passed",
            CheckResult::Failed => "failed",
            CheckResult::Escalated => "escalated",
            CheckResult::Skipped => "skipped",
        }
    }
}

/// One difference between the candidate and production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// `data`, `config` or `code`.
    pub kind: String,
    /// What differs (a config key path, a file).
    pub what: String,
    /// Production's value.
    pub production: Option<String>,
    /// The candidate's value.
    pub candidate: Option<String>,
}

/// A human decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The candidate may be promoted.
    Approve,
    /// The candidate is archived and an alert raised.
    Reject,
    /// Retrain, with the reviewer's notes.
    Defer,
}

impl Decision {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Defer => "defer",
        }
    }
}

/// One decision record of the review log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// See [`REVIEW_VERSION`].
    pub schema_version: u32,
    /// The decision.
    pub decision: Decision,
    /// Who decided.
    pub reviewer: String,
    /// Why.
    pub notes: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The gate evidence the decision was made on.
    pub evidence_sha256: String,
    /// The candidate's run.
    pub run_id: String,
    /// Where it came from: `cli`, `pull_request_review`, `issue_comment`.
    pub source: String,
    /// A link to the review or comment, when it came from GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Raised when a reviewer rejects a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// See [`DECISION_OUTPUT_VERSION`].
    pub schema_version: u32,
    /// `candidate_rejected`.
    pub kind: String,
    /// One line for a notification.
    pub message: String,
    /// The decision behind it.
    pub review: Review,
    /// The registry version the candidate was archived as.
    pub archived_version: Option<u64>,
}

/// Left by a deferral for the orchestrator: retrain, taking the notes into account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrainRequest {
    /// See [`DECISION_OUTPUT_VERSION`].
    pub schema_version: u32,
    /// Why.
    pub reason: String,
    /// The reviewer's notes.
    pub notes: String,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The run that was deferred.
    pub run_id: String,
}
