//! The typed contracts of mlx: the `mlx.yaml` schema and every file that passes
//! between binaries. Each artifact is defined here once, with `schema_version` first,
//! and is never re-declared elsewhere.
//!
//! This crate has light dependencies on purpose: anything that reads an mlx file
//! (a CI step, a dashboard) can depend on it without pulling in the data engine.

pub mod config;
pub mod eval;
pub mod features;
pub mod gate;
pub mod ingest;
pub mod monitor;
pub mod record;
pub mod registry;
pub mod serve;
pub mod shap;
pub mod tracking;
pub mod train;
pub mod validate;
pub mod version;

pub use config::Config;
pub use record::{FileDigest, StageRecord, Status, STAGE_RECORD_VERSION};

/// Errors reading a contract file.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The file was written by a format this build does not know.
    #[error(
        "{what} has schema_version {found}, but this mlx reads version {supported}; \
         {}",
        if *found > u64::from(*supported) {
            "it was written by a newer mlx: upgrade mlx, or re-run the stage that wrote it"
        } else {
            "it was written by an older mlx: re-run the stage that wrote it"
        }
    )]
    UnsupportedVersion {
        /// Which artifact.
        what: &'static str,
        /// The version in the file.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },
    /// The file is not a valid instance of the contract.
    #[error("{what} is malformed: {message}")]
    Malformed {
        /// Which artifact.
        what: &'static str,
        /// What serde said.
        message: String,
    },
}

/// Parses a versioned contract: checks `schema_version` first (so a newer format gives
/// a version error rather than a confusing "unknown field"), then the whole document.
pub fn parse_versioned<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &'static str,
    supported: u32,
) -> Result<T, ContractError> {
    check_version(text, what, supported)?;
    serde_json::from_str(text).map_err(|e| ContractError::Malformed {
        what,
        message: e.to_string(),
    })
}

/// Reads only `schema_version` from a JSON document and checks it.
pub fn check_version(text: &str, what: &'static str, supported: u32) -> Result<(), ContractError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        schema_version: Option<u64>,
    }
    let probe: Probe = serde_json::from_str(text).map_err(|e| ContractError::Malformed {
        what,
        message: e.to_string(),
    })?;
    match probe.schema_version {
        None => Err(ContractError::Malformed {
            what,
            message: "missing `schema_version`".into(),
        }),
        Some(v) if v == u64::from(supported) => Ok(()),
        Some(found) => Err(ContractError::UnsupportedVersion {
            what,
            found,
            supported,
        }),
    }
}
