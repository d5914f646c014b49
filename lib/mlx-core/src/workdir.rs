//! The work directory (default `.mlx/`): where stages exchange files and records.

use std::path::{Path, PathBuf};

use mlx_contracts::gate::GateReport;
use mlx_contracts::shap::{ShapReport, SHAP_REPORT_VERSION};
use mlx_contracts::StageRecord;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{atomic_write, AtomicFile};
use mlx_data::polars::prelude::DataFrame;

/// Every path inside the work directory that one stage writes and another reads: the
/// map of `.mlx/`. A stage names another stage's file only through this module, never
/// through that stage's code.
pub mod paths {
    /// The dataset every later stage reads (ingest).
    pub const RAW_DATA: &str = "data/raw.parquet";
    /// With `engine.kind: spark`, in place of [`RAW_DATA`]: where the dataset is on the
    /// cluster, a `ClusterDataset` (ingest).
    pub const CLUSTER_DATA: &str = "data/cluster.json";
    /// Where each stream source goes on, a `StreamCheckpoints` (ingest).
    pub const CHECKPOINTS: &str = "data/checkpoints.json";
    /// The dataset with derived features, ordered by time (features).
    pub const FEATURES: &str = "features/features.parquet";
    /// The split: a `set` column and one `fold_<k>` column per fold, row-aligned with
    /// [`FEATURES`] (features).
    pub const SPLIT: &str = "features/split.parquet";
    /// The fitted preprocessing, a `Preprocessor` (features).
    pub const PREPROCESSOR: &str = "features/preprocessor.json";
    /// The leaderboard (eval).
    pub const LEADERBOARD: &str = "leaderboard.json";
    /// The evaluation's markdown report (eval).
    pub const EVAL_REPORT: &str = "reports/eval.md";
    /// The SHAP stage's markdown report (shap).
    pub const SHAP_REPORT: &str = "reports/shap.md";
    /// The append-only review log (gate).
    pub const GATE_REVIEWS: &str = "gate/reviews.ndjson";
    /// The gate's markdown summary for reviewers (gate).
    pub const GATE_REPORT: &str = "reports/gate.md";
    /// Written after a rejection (gate review).
    pub const GATE_ALERT: &str = "gate/alert.json";
    /// Written after a deferral (gate review).
    pub const RETRAIN_REQUEST: &str = "gate/retrain-request.json";
    /// Where verified copies of registry bundles are kept (promote, serve, monitor).
    pub const REGISTRY_CACHE: &str = "registry-cache";
    /// The monitor's report (monitor).
    pub const MONITOR_JSON: &str = "monitor/monitor.json";
    /// The monitor's markdown report (monitor).
    pub const MONITOR_REPORT: &str = "reports/monitor.md";
}

/// The lock of a work directory ([`Workdir::lock`]); released when dropped.
#[derive(Debug)]
pub struct WorkdirLock {
    _file: std::fs::File,
}

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
            .unwrap_or_else(|| self.join(paths::RAW_DATA));
        if path.exists() {
            Ok(path)
        } else if data.is_none() && self.join(paths::CLUSTER_DATA).exists() {
            Err(Error::Usage(format!(
                "{} does not exist: the dataset was ingested on the Spark cluster ({}), and this stage does not run on Spark yet (docs/spark.md says which do); pass --data FILE, or ingest with `engine.kind: local`",
                path.display(),
                paths::CLUSTER_DATA
            )))
        } else {
            Err(Error::Usage(format!(
                "{} does not exist; run `mlx ingest` first, or pass --data FILE",
                path.display()
            )))
        }
    }

    /// Creates the work directory (with a `.gitignore` that keeps it out of git) and
    /// takes its lock for as long as the returned guard lives: one run at a time per
    /// work directory, or two runs would mix each other's outputs. The lock is an
    /// advisory lock on `<workdir>/.lock`, released by the operating system when the
    /// process ends, however it ends; a second run is refused with a message naming
    /// the holder.
    pub fn lock(&self, command: &str) -> Result<WorkdirLock> {
        use std::io::{Seek, Write};
        std::fs::create_dir_all(&self.root).with_path("creating", &self.root)?;
        crate::fsutil::ignore_everything(&self.root).with_path("writing in", &self.root)?;
        let path = self.root.join(".lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_path("opening", &path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                return Err(Error::Runtime(format!(
                    "the work directory {} is in use by another mlx ({}); wait for it to finish, or give this run its own --workdir",
                    self.root.display(),
                    if holder.is_empty() { "a process that has not said which" } else { holder }
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("locking {}", path.display()), e))
            }
        }
        let me = format!(
            "pid {} running `{command}` since {}",
            std::process::id(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        file.set_len(0).with_path("writing", &path)?;
        file.rewind().with_path("writing", &path)?;
        file.write_all(me.as_bytes()).with_path("writing", &path)?;
        // Holding the lock, no other run writes here: the temporaries of killed runs
        // (a half-written raw.parquet can be hundreds of MB) go.
        match crate::fsutil::sweep_stale_temps(&self.root, crate::fsutil::STALE_TEMP) {
            Ok((0, _)) => {}
            Ok((n, bytes)) => {
                tracing::info!("removed {n} temporary file(s) of killed runs ({bytes} bytes)")
            }
            Err(e) => tracing::warn!(
                "could not clean temporary files in {}: {e}",
                self.root.display()
            ),
        }
        Ok(WorkdirLock { _file: file })
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

/// The gate report of the work directory (`gate.json`'s details).
pub fn read_gate_report(workdir: &Workdir) -> Result<GateReport> {
    let record = workdir.read_record("gate")?.ok_or_else(|| {
        Error::Usage("there is no gate.json in the work directory; run `mlx-gate` first".into())
    })?;
    if record.details.is_null() {
        return Err(Error::Usage(format!(
            "gate.json holds no verdict (the last gate run ended with: {}); run `mlx-gate` first",
            record.summary
        )));
    }
    GateReport::from_json(&record.details.to_string()).map_err(|source| Error::Contract {
        path: workdir.record_path("gate").display().to_string(),
        source,
    })
}

/// A SHAP report (`runs/<run>/shap.json`, or one stored with a registry version).
pub fn read_shap_report(path: &Path) -> Result<ShapReport> {
    let text = std::fs::read_to_string(path).with_path("reading", path)?;
    mlx_contracts::parse_versioned(&text, "SHAP report", SHAP_REPORT_VERSION).map_err(|source| {
        Error::Contract {
            path: path.display().to_string(),
            source,
        }
    })
}

/// Writes a frame as Parquet atomically, creating its directory first.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_path("creating", dir)?;
    }
    let mut f = AtomicFile::create(path).with_path("writing", path)?;
    mlx_data::write_parquet(df, &mut f).map_err(Error::Runtime)?;
    f.commit().with_path("writing", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_second_is_told_who() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workdir::new(dir.path().join(".mlx"));
        let held = w.lock("mlx run").unwrap();
        let e = w.lock("mlx train").unwrap_err().to_string();
        assert!(
            e.contains(&format!("pid {}", std::process::id())) && e.contains("`mlx run`"),
            "{e}"
        );
        drop(held);
        w.lock("mlx train")
            .expect("free again once the holder is gone");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".mlx/.gitignore"))
                .unwrap()
                .lines()
                .last(),
            Some("*")
        );
    }
}
