//! `mlx.yaml`: loading with exact error locations, `${VAR}` interpolation, problem-type
//! defaults, cross-field rules, section hashing and the JSON Schema.
//!
//! The types themselves live in `mlx_contracts::config`; this module must not add
//! fields, only read them.

pub(crate) mod diagnostic;
pub mod interpolate;
mod load;
mod loaded;
mod reference;
pub(crate) mod rules;

pub use diagnostic::{did_you_mean, Diagnostic, Diagnostics};
pub use interpolate::{mask_known, remember_secrets, url_label, Env, ProcessEnv};
pub use load::{load, parse};
pub use loaded::LoadedConfig;
pub use reference::reference_markdown;
pub use rules::{check_build, missing_backend};

use mlx_contracts::config::SECTIONS;
use mlx_contracts::Config;
use sha2::{Digest, Sha256};

/// The JSON Schema of `mlx.yaml`, generated from the types (committed as
/// `config/mlx.schema.json` and checked for staleness by a test).
pub fn schema_json() -> crate::error::Result<String> {
    crate::json::pretty(&schemars::schema_for!(Config))
}

/// The file contracts with a published JSON Schema, by the name `mlx config schema
/// --contract` takes.
pub const CONTRACTS: &[&str] = &[
    "stage-record",
    "validation-report",
    "reference",
    "cluster-dataset",
    "stream-checkpoints",
    "features-report",
    "preprocessor",
    "feature-view-version",
    "online-record",
    "bundle-manifest",
    "run-record",
    "train-report",
    "run-metrics",
    "leaderboard",
    "shap-report",
    "gate-report",
    "review",
    "alert",
    "retrain-request",
    "registry-state",
    "model-version",
    "tracked-run",
    "prediction-record",
    "feedback-record",
    "monitor-report",
];

/// The JSON Schema of a file contract (see [`CONTRACTS`]).
pub fn contract_schema_json(name: &str) -> Option<crate::error::Result<String>> {
    use mlx_contracts::features;
    use mlx_contracts::validate::{Reference, ValidationReport};
    let schema = match name {
        "stage-record" => schemars::schema_for!(mlx_contracts::StageRecord),
        "validation-report" => schemars::schema_for!(ValidationReport),
        "reference" => schemars::schema_for!(Reference),
        "cluster-dataset" => schemars::schema_for!(mlx_contracts::ingest::ClusterDataset),
        "stream-checkpoints" => schemars::schema_for!(mlx_contracts::ingest::StreamCheckpoints),
        "features-report" => schemars::schema_for!(features::FeaturesReport),
        "preprocessor" => schemars::schema_for!(features::Preprocessor),
        "feature-view-version" => schemars::schema_for!(features::ViewVersion),
        "online-record" => schemars::schema_for!(features::OnlineRecord),
        "bundle-manifest" => schemars::schema_for!(mlx_contracts::train::BundleManifest),
        "run-record" => schemars::schema_for!(mlx_contracts::train::RunRecord),
        "train-report" => schemars::schema_for!(mlx_contracts::train::TrainReport),
        "run-metrics" => schemars::schema_for!(mlx_contracts::eval::RunMetrics),
        "leaderboard" => schemars::schema_for!(mlx_contracts::eval::Leaderboard),
        "shap-report" => schemars::schema_for!(mlx_contracts::shap::ShapReport),
        "gate-report" => schemars::schema_for!(mlx_contracts::gate::GateReport),
        "review" => schemars::schema_for!(mlx_contracts::gate::Review),
        "alert" => schemars::schema_for!(mlx_contracts::gate::Alert),
        "retrain-request" => schemars::schema_for!(mlx_contracts::gate::RetrainRequest),
        "registry-state" => schemars::schema_for!(mlx_contracts::registry::RegistryState),
        "model-version" => schemars::schema_for!(mlx_contracts::registry::ModelVersion),
        "tracked-run" => schemars::schema_for!(mlx_contracts::tracking::TrackedRun),
        "prediction-record" => schemars::schema_for!(mlx_contracts::serve::PredictionRecord),
        "feedback-record" => schemars::schema_for!(mlx_contracts::serve::FeedbackRecord),
        "monitor-report" => schemars::schema_for!(mlx_contracts::monitor::MonitorReport),
        _ => return None,
    };
    Some(crate::json::pretty(&schema))
}

/// SHA-256 over the canonical JSON of the named sections of the resolved config, in
/// the order given. A stage's record stores this; when it changes, `mlx run` reruns
/// the stage. Unknown section names are an error of the stage definition, not of the
/// user, so they panic in debug builds.
pub fn section_hash(config: &Config, sections: &[&str]) -> crate::error::Result<String> {
    let value = crate::json::value(config)?;
    let mut h = Sha256::new();
    for s in sections {
        debug_assert!(SECTIONS.contains(s), "unknown config section `{s}`");
        // An optional section left out (`engine:`) hashes as it did before it existed.
        let Some(part) = value.get(*s) else {
            continue;
        };
        h.update(s.as_bytes());
        h.update([0]);
        h.update(part.to_string());
        h.update([0]);
    }
    Ok(hex(&h.finalize()))
}

/// The resolved config as a JSON value with every string masked ([`mask_known`]):
/// what the registry stores with a version and what the gate compares with it. A
/// config's secrets never leave the process, whatever field they were put in.
pub fn masked_value(config: &Config) -> crate::error::Result<serde_json::Value> {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = mask_known(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(config)
        .map_err(|e| crate::error::Error::Runtime(format!("cannot serialise the config: {e}")))?;
    walk(&mut value);
    Ok(value)
}

/// The resolved config as YAML, with secrets masked (`mlx config show`).
pub fn to_yaml(loaded: &LoadedConfig) -> crate::error::Result<String> {
    let text = serde_norway::to_string(&loaded.config).map_err(|e| {
        crate::error::Error::Runtime(format!("cannot serialise the config as YAML: {e}"))
    })?;
    Ok(loaded.mask(&text))
}

/// The resolved config as JSON, with secrets masked.
pub fn to_json(loaded: &LoadedConfig) -> crate::error::Result<String> {
    let text = crate::json::pretty(&loaded.config)?;
    Ok(loaded.mask(&text))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_hash_tracks_only_its_sections() {
        let mut a = Config::default();
        a.resolve();
        let mut b = a.clone();
        b.training.epochs = 7;
        assert_eq!(
            section_hash(&a, &["data", "validation"]).unwrap(),
            section_hash(&b, &["data", "validation"]).unwrap()
        );
        assert_ne!(
            section_hash(&a, &["training"]).unwrap(),
            section_hash(&b, &["training"]).unwrap()
        );
        // Section names are part of the hash: moving content between sections counts.
        assert_ne!(
            section_hash(&a, &["data"]).unwrap(),
            section_hash(&a, &["validation"]).unwrap()
        );
    }
}
