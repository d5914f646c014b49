//! The `Stage` trait: what a pipeline stage declares and does.
//!
//! Adding a stage is one module in this crate implementing [`Stage`] (with typed
//! functions for its flags), its command line in `mlx_cli::verbs`, one registration in
//! `mlx_cli::registry`, and one thin package under `bins/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mlx_contracts::{Config, Status};

use crate::config::LoadedConfig;
use crate::error::Result;
use crate::workdir::Workdir;

/// Everything a stage gets to run.
#[derive(Debug, Clone)]
pub struct Context {
    /// The loaded, resolved config.
    pub config: LoadedConfig,
    /// The work directory.
    pub workdir: Workdir,
}

/// What a stage reports back; the runner turns it into the stage record.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `passed`, `warned` or `failed` (exit 1).
    pub status: Status,
    /// One human sentence.
    pub summary: String,
    /// Stage-specific details for the record (its own typed contract, as JSON).
    pub details: serde_json::Value,
    /// Key outputs, exported to `$GITHUB_OUTPUT` inside GitHub Actions.
    pub outputs_kv: BTreeMap<String, String>,
    /// Inputs discovered while running (e.g. the files a glob matched).
    pub extra_inputs: Vec<PathBuf>,
    /// Outputs beyond the declared ones.
    pub extra_outputs: Vec<PathBuf>,
    /// Markdown for `$GITHUB_STEP_SUMMARY` and PR comments.
    pub report_md: Option<String>,
}

impl Outcome {
    /// A passing outcome with a summary.
    pub fn passed(summary: impl Into<String>) -> Self {
        Self::with_status(Status::Passed, summary)
    }

    /// An outcome with the given status.
    pub fn with_status(status: Status, summary: impl Into<String>) -> Self {
        Self {
            status,
            summary: summary.into(),
            details: serde_json::Value::Null,
            outputs_kv: BTreeMap::new(),
            extra_inputs: Vec::new(),
            extra_outputs: Vec::new(),
            report_md: None,
        }
    }
}

/// A pipeline stage.
pub trait Stage: Send + Sync {
    /// The verb: `ingest`, `train`, ... (also the record name and the subcommand).
    fn name(&self) -> &'static str;
    /// One line for `--help` and `mlx dag`.
    fn about(&self) -> &'static str;
    /// Longer help with examples, shown by `--help`.
    fn long_about(&self) -> &'static str {
        ""
    }
    /// Top-level config sections whose content changes this stage's outputs.
    fn sections(&self) -> &'static [&'static str];
    /// Whether the config asks for this stage at all (e.g. `explain.enabled`).
    fn enabled(&self, _config: &Config) -> bool {
        true
    }
    /// Whether `mlx run` chains it (`serve` and `monitor` run on their own).
    fn in_pipeline(&self) -> bool {
        true
    }
    /// A reason to run even when nothing local changed (e.g. the stage reads remote
    /// data whose changes cannot be seen without fetching it).
    fn always_run(&self, _ctx: &Context) -> Option<String> {
        None
    }
    /// Files the stage reads, known before it runs.
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf>;
    /// Files the stage writes (besides its record).
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf>;
    /// Does the work with the config's own settings and no flags. A stage's flags and
    /// its uses beside the pipeline (`mlx-validate drift`, `mlx-promote list`) are its
    /// command line's (`mlx_cli::verbs`), which calls the stage's typed functions.
    fn run(&self, ctx: &Context) -> Result<Outcome>;
}

/// The result of a use of a stage binary beside the pipeline (for shell pipelines, e.g.
/// `mlx-validate drift --reference A --current B`), which writes no stage record.
#[derive(Debug, Clone)]
pub struct Standalone {
    /// Exit status: `failed` exits 1.
    pub status: Status,
    /// What to print for people (stderr).
    pub human: String,
    /// What `--json` prints (stdout).
    pub json: serde_json::Value,
}
