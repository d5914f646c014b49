//! The operations of mlx, one module per verb, over the layers every stage shares: the
//! model layer (`model`), the explainers (`explain`) and the kernel (the config loader,
//! the work directory's map, the stores, stage records, atomic writes, hashing and the
//! pipeline runner). `lib/README.md` is the map; `src/house.rs` keeps it true.
//!
//! Nothing here prints to stdout or parses a command line: a stage's flags are its
//! command line's (`mlx_cli::verbs`), which calls the stage's typed functions.

pub mod config;
pub mod dag;
pub mod drift;
pub mod engine;
pub mod error;
pub mod eval;
pub mod explain;
pub mod export;
pub mod features;
pub mod featurestore;
pub mod fsutil;
pub mod gate;
pub mod git;
pub mod hash;
pub mod heldout;
#[cfg(test)]
mod house;
pub mod image;
pub mod ingest;
pub mod init;
pub mod json;
pub mod lake;
pub mod markdown;
pub mod metric;
pub mod model;
pub mod monitor;
pub mod objects;
pub mod pipeline;
pub mod plots;
pub mod predlog;
pub mod progress;
pub mod promote;
pub mod registry;
pub mod serve;
pub mod shap;
pub mod stage;
pub mod tracking;
pub mod train;
pub mod ui;
pub mod validate;
pub mod version;
pub mod workdir;

pub use error::{Error, ExitStatus, Result};
pub use stage::{Context, Outcome, Stage, Standalone};
pub use workdir::Workdir;

/// The optional model backends this build was compiled with (cargo features), as
/// `mlx --version` lists them.
pub fn backends() -> Vec<&'static str> {
    [
        ("xgboost", cfg!(feature = "xgboost")),
        ("lightgbm", cfg!(feature = "lightgbm")),
        ("torch", cfg!(feature = "torch")),
    ]
    .into_iter()
    .filter_map(|(name, built)| built.then_some(name))
    .collect()
}

/// `mlx --version`'s long form: the version and the backends built in.
pub fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let b = backends();
        format!(
            "{} (backends: {})",
            env!("CARGO_PKG_VERSION"),
            if b.is_empty() {
                "none".to_string()
            } else {
                b.join(", ")
            }
        )
    })
}
