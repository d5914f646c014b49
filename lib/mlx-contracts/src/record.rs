//! The stage record: `<workdir>/<stage>.json`, written by every stage.
//!
//! It is the contract `mlx run` uses to decide whether a stage is up to date, the file
//! CI steps read with `jq`, and the lineage of every artifact (inputs and outputs with
//! their SHA-256). Readers refuse a `schema_version` they do not know.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ContractError;

/// The stage-record format version this build writes and reads.
pub const STAGE_RECORD_VERSION: u32 = 1;

/// What a stage did, written atomically at the end of every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRecord {
    /// Format version of this file; see [`STAGE_RECORD_VERSION`].
    pub schema_version: u32,
    /// The stage name (`ingest`, `train`, ...).
    pub stage: String,
    /// The program that wrote the record.
    pub tool: String,
    /// Its version; a new version invalidates the record for `mlx run`.
    pub tool_version: String,
    /// SHA-256 of the canonical JSON of the config sections the stage reads.
    pub config_hash: String,
    /// Files the stage read.
    pub inputs: Vec<FileDigest>,
    /// Files the stage wrote.
    pub outputs: Vec<FileDigest>,
    /// When the stage started.
    pub started_at: DateTime<Utc>,
    /// When the stage finished.
    pub finished_at: DateTime<Utc>,
    /// Wall-clock seconds.
    pub duration_s: f64,
    /// Outcome.
    pub status: Status,
    /// One human sentence.
    pub summary: String,
    /// Stage-specific details (checks, metrics, counts), typed by each stage's contract.
    #[serde(default)]
    pub details: serde_json::Value,
    /// Key outputs also exported to `$GITHUB_OUTPUT`.
    #[serde(default)]
    pub outputs_kv: BTreeMap<String, String>,
}

impl StageRecord {
    /// Parses a record, refusing unknown schema versions with a typed error before
    /// looking at any other field (so a newer format gives a version error, not a
    /// confusing "unknown field").
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "stage record", STAGE_RECORD_VERSION)
    }

    /// Serialises with a trailing newline (diff-friendly, `jq`-friendly).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Whether the stage succeeded (`passed` or `warned`).
    pub fn succeeded(&self) -> bool {
        self.status != Status::Failed
    }
}

/// A file with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Path as given (relative to the current directory or absolute).
    pub path: String,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Stage outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything passed.
    Passed,
    /// Passed with warnings (data-quality flags the gate reads).
    Warned,
    /// A check said no; the binary exits 1.
    Failed,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Passed => "passed",
            Status::Warned => "warned",
            Status::Failed => "failed",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StageRecord {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        StageRecord {
            schema_version: STAGE_RECORD_VERSION,
            stage: "ingest".into(),
            tool: "mlx".into(),
            tool_version: "0.1.0".into(),
            config_hash: "ab".repeat(32),
            inputs: vec![FileDigest {
                path: "data/a.csv".into(),
                sha256: "cd".repeat(32),
                size: 12,
            }],
            outputs: vec![],
            started_at: t,
            finished_at: t,
            duration_s: 0.5,
            status: Status::Warned,
            summary: "ok".into(),
            details: serde_json::json!({"rows": 3}),
            outputs_kv: BTreeMap::from([("rows".into(), "3".into())]),
        }
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(StageRecord::from_json(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn refuses_unknown_version() {
        let text = sample().to_json().replace(
            "\"schema_version\": 1",
            "\"schema_version\": 99, \"new_field\": true",
        );
        let err = StageRecord::from_json(&text).unwrap_err();
        assert!(matches!(
            err,
            ContractError::UnsupportedVersion {
                found: 99,
                supported: 1,
                ..
            }
        ));
        assert!(err.to_string().contains("newer mlx"), "{err}");
    }

    #[test]
    fn refuses_missing_version() {
        let err = StageRecord::from_json("{\"stage\": \"x\"}").unwrap_err();
        assert!(err.to_string().contains("schema_version"), "{err}");
    }
}
