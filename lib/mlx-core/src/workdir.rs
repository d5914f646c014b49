//! The work directory (default `.mlx/`): where stages exchange files and records.

use std::path::{Path, PathBuf};

use mlx_contracts::StageRecord;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;

/// A work directory.
#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// Wraps a path; nothing is created until something is written.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside the work directory.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// The dataset a stage reads: `data` (its `--data FILE`) when given, else what
    /// `mlx-ingest` wrote. A missing file is a usage error saying how to make it.
    pub fn dataset(&self, data: Option<&String>) -> Result<PathBuf> {
        let path = data
            .map(PathBuf::from)
            .unwrap_or_else(|| self.join(crate::ingest::OUTPUT));
        if path.exists() {
            Ok(path)
        } else {
            Err(Error::Usage(format!(
                "{} does not exist; run `mlx ingest` first, or pass --data FILE",
                path.display()
            )))
        }
    }

    /// `<workdir>/<stage>.json`.
    pub fn record_path(&self, stage: &str) -> PathBuf {
        self.root.join(format!("{stage}.json"))
    }

    /// The last record of a stage, if one exists.
    pub fn read_record(&self, stage: &str) -> Result<Option<StageRecord>> {
        let path = self.record_path(stage);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        StageRecord::from_json(&text)
            .map(Some)
            .map_err(|source| Error::Contract {
                path: path.display().to_string(),
                source,
            })
    }

    /// Writes a stage record atomically.
    pub fn write_record(&self, record: &StageRecord) -> Result<PathBuf> {
        let path = self.record_path(&record.stage);
        atomic_write(&path, record.to_json().as_bytes()).with_path("writing", &path)?;
        Ok(path)
    }
}
