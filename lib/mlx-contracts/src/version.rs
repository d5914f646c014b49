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
    /// Parses a pointer file, refusing unknown versions, a `sha256` that is not 64
    /// lowercase hex digits and a `path` that is not one plain file name.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        const WHAT: &str = "pointer file";
        let p: Self = crate::parse_versioned(text, WHAT, POINTER_VERSION)?;
        check_sha256(WHAT, "sha256", &p.sha256)?;
        if p.path.contains('/') {
            return Err(malformed(
                WHAT,
                format!("`path` {:?} must be a file name, not a path", p.path),
            ));
        }
        check_relative_path(&p.path).map_err(|m| malformed(WHAT, format!("`path`: {m}")))?;
        Ok(p)
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
    /// Parses a manifest, refusing unknown versions and any entry whose path could
    /// leave the directory (absolute, `..`, empty or `.` parts, a NUL or a backslash)
    /// or whose `sha256` is not 64 lowercase hex digits. A manifest comes from a
    /// remote that others can write: its paths are data, never trusted.
    pub fn from_json(text: &str) -> Result<Self, ContractError> {
        const WHAT: &str = "directory manifest";
        let m: Self = crate::parse_versioned(text, WHAT, POINTER_VERSION)?;
        for (i, e) in m.entries.iter().enumerate() {
            check_relative_path(&e.path)
                .map_err(|msg| malformed(WHAT, format!("entry {i} ({:?}): {msg}", e.path)))?;
            check_sha256(WHAT, &format!("entry {i} sha256"), &e.sha256)?;
        }
        Ok(m)
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

/// Whether `s` is a SHA-256 as mlx writes it: 64 lowercase hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_sha256(what: &'static str, field: &str, s: &str) -> Result<(), ContractError> {
    if is_sha256(s) {
        Ok(())
    } else {
        Err(malformed(
            what,
            format!("`{field}` {s:?} is not a SHA-256 (64 lowercase hex digits)"),
        ))
    }
}

fn malformed(what: &'static str, message: String) -> ContractError {
    ContractError::Malformed { what, message }
}

/// Checks that a `/`-separated path from data stays inside the directory it is
/// joined to: relative, non-empty, no `..`, `.` or empty parts, no backslash (a
/// separator elsewhere), no NUL. Returns what is wrong.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Err("the path is absolute; only paths inside the directory are allowed".into());
    }
    if path.contains('\0') || path.contains('\\') {
        return Err("the path holds a NUL or a backslash".into());
    }
    for part in path.split('/') {
        match part {
            "" => return Err("the path has an empty part (`//` or a trailing `/`)".into()),
            "." | ".." => {
                return Err(format!(
                    "the path has a `{part}` part; only paths inside the directory are allowed"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(path: &str, sha: &str) -> String {
        let (path, sha) = (
            serde_json::to_string(path).unwrap(),
            serde_json::to_string(sha).unwrap(),
        );
        format!(r#"{{"schema_version":1,"entries":[{{"path":{path},"sha256":{sha},"size":1}}]}}"#)
    }

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn manifest_paths_that_leave_the_directory_are_refused() {
        for bad in [
            "../.git/hooks/post-checkout",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "a/",
            "C:x",
            "a\\b",
            "a\0b",
            "",
        ] {
            let e = Manifest::from_json(&manifest(bad, SHA))
                .unwrap_err()
                .to_string();
            assert!(e.contains("entry 0"), "{bad:?}: {e}");
        }
        for good in ["a.csv", "images/cat 1.png", "x/y/z..txt", "..hidden"] {
            Manifest::from_json(&manifest(good, SHA)).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
    }

    #[test]
    fn hashes_must_be_64_lowercase_hex_digits() {
        for bad in [
            "ab/../../mlx.yaml",
            "abc",
            &SHA.to_uppercase(),
            &format!("{}é", &SHA[..62]),
        ] {
            let e = Manifest::from_json(&manifest("a.csv", bad))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a SHA-256"), "{bad:?}: {e}");
            let sha = serde_json::to_string(bad).unwrap();
            let ptr = format!(
                r#"{{"schema_version":1,"path":"a.csv","kind":"file","sha256":{sha},"size":1,"files":1}}"#
            );
            let e = Pointer::from_json(&ptr).unwrap_err().to_string();
            assert!(e.contains("not a SHA-256"), "{bad:?}: {e}");
        }
        assert!(is_sha256(SHA));
    }

    #[test]
    fn a_pointer_path_is_one_file_name() {
        for bad in ["../x.csv", "a/b.csv", "..", ""] {
            let ptr = format!(
                r#"{{"schema_version":1,"path":{bad:?},"kind":"file","sha256":"{SHA}","size":1,"files":1}}"#
            );
            assert!(Pointer::from_json(&ptr).is_err(), "{bad:?}");
        }
    }
}
