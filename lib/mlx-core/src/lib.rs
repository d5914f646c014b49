//! The operations of mlx, one module per verb, plus what every stage shares: the
//! config loader, stage records, atomic writes, hashing and the pipeline runner.
//!
//! Nothing here prints to stdout or parses command lines beyond a stage's own flags;
//! that is `mlx-cli`'s job.

pub mod config;
pub mod dag;
pub mod error;
pub mod eval;
pub mod export;
pub mod features;
pub mod forecast;
pub mod fsutil;
pub mod gate;
pub mod hash;
pub mod ingest;
pub mod init;
pub mod markdown;
pub mod monitor;
pub mod neural;
pub mod pipeline;
pub mod progress;
pub mod promote;
pub mod serve;
pub mod shap;
pub mod stage;
pub mod train;
pub mod validate;
pub mod version;
pub mod workdir;

pub use error::{Error, ExitStatus, Result};
pub use stage::{Context, Outcome, Stage, Standalone};
pub use workdir::Workdir;
