//! Data versioning contracts: the pointer file committed to git (`PATH.mlx`) and the
//! manifest stored for a versioned directory.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ContractError;

/// Version of [`Pointer`] and [`Manifest`].
pub const POINTER_VERSION: u32 = 1;

/// `PATH.mlx`: names the content of a file or directory by hash. Small, stable
/// (no timestamps: re-adding unchanged data leaves it byte for byte the same) and meant
/// to be committed to git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pointer {
    /// See [`POINTER_VERSION`].
    pub schema_version: u32,
    /// The data's file name, relative to the pointer's directory.
    pub path: String,
    /// File or directory.
    pub kind: PointerKind,
    /// SHA-256 of the file, or of the directory's manifest.
    pub sha256: String,
    /// Bytes (the sum over files for a directory).
    pub size: u64,
    /// Number of files (1 for a file).
    pub files: u64,
}

impl Pointer {
    /// Parses a pointer file, refusing unknown versions.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "pointer file", POINTER_VERSION)
    }

    /// The canonical text of the pointer (pretty JSON, trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// What a pointer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PointerKind {
    /// One file.
    File,
    /// A directory, stored as a manifest of its files.
    Directory,
}

/// The files of a versioned directory, sorted by path; stored in the cache under its
/// own hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// See [`POINTER_VERSION`].
    pub schema_version: u32,
    /// One entry per file.
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Parses a manifest, refusing unknown versions.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        crate::parse_versioned(text, "directory manifest", POINTER_VERSION)
    }

    /// Canonical bytes: the hash of the directory is the SHA-256 of these.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One file of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Path relative to the directory, `/`-separated.
    pub path: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}
