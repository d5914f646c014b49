//! The model registry: versions (bundle, metadata, gate report, SHAP report, training
//! reference rows), stages, aliases and the deployment, in an object store changed
//! only by create-only conditional writes (`store`), and its rules as pure functions
//! of its state (`state`). `mlx promote` and `mlx gate review` are verbs over it;
//! serve, monitor, eval and shap read from it.

pub mod state;
pub mod store;

use std::path::{Path, PathBuf};

use mlx_contracts::config::Config;
use mlx_contracts::registry::{ModelVersion, RegistryState, Stage as RegistryStage};

use crate::error::{Error, Result};
use crate::workdir::{paths, Workdir};

pub use state::Policy;
pub use store::Store;

/// Opens the registry the config names.
pub fn open(cfg: &Config) -> Result<Store> {
    let model = cfg
        .registry
        .model_name
        .clone()
        .unwrap_or_else(|| "model".into());
    Store::open(&cfg.registry.uri, &model)
}

/// The policy of a config.
pub fn policy(cfg: &Config) -> Policy {
    Policy {
        gate: cfg.approval_gate.clone(),
        registry: cfg.registry.clone(),
    }
}

/// Resolves `N`, a stage name or an alias to a version number.
pub fn resolve(state: &RegistryState, which: &str) -> Result<u64> {
    if let Ok(n) = which.trim_start_matches('v').parse::<u64>() {
        state::get(state, n)?;
        return Ok(n);
    }
    let stage = match which {
        "production" => Some(RegistryStage::Production),
        "staging" => Some(RegistryStage::Staging),
        _ => None,
    };
    if let Some(s) = stage {
        return state
            .in_stage(s)
            .ok_or_else(|| Error::Usage(format!("`{}` has no version in {which}", state.model)));
    }
    if which == "latest" {
        return state
            .versions
            .keys()
            .next_back()
            .copied()
            .ok_or_else(|| Error::Usage(format!("`{}` has no versions", state.model)));
    }
    state.aliases.get(which).copied().ok_or_else(|| {
        Error::Usage(format!(
            "`{which}` is not a version, a stage or an alias of `{}`; aliases: {}",
            state.model,
            if state.aliases.is_empty() {
                "none".to_string()
            } else {
                state.aliases.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        ))
    })
}

/// The current state, or a clear error when nothing is registered.
pub fn current(store: &Store) -> Result<RegistryState> {
    store.state()?.ok_or_else(|| {
        Error::Usage(format!(
            "the registry {} has no model `{}` yet; run `mlx-promote` after `mlx-gate` to \
             register one",
            store.label(),
            store.model()
        ))
    })
}

/// Applies one change to the current state and commits it.
pub fn change(
    store: &Store,
    f: impl FnOnce(&RegistryState) -> Result<RegistryState>,
) -> Result<RegistryState> {
    let base = current(store)?;
    let next = f(&base)?;
    verify_entering(store, &next)?;
    store.commit(Some(&base), next)
}

/// A version entering staging or production (a promotion, a rollback) has its bundle
/// checked against its registration first: a tampered `bundle.tar` never gets a stage
/// from which it would be served.
pub fn verify_entering(store: &Store, next: &RegistryState) -> Result<()> {
    let t = &next.transition;
    match (t.version, t.to) {
        (Some(n), Some(RegistryStage::Staging | RegistryStage::Production)) => {
            store.verify_bundle(n)
        }
        _ => Ok(()),
    }
}

/// Downloads (or reuses a verified copy of) version `n`'s bundle under
/// `<cache>/<model>-v<n>.tar`, and returns its metadata and path.
pub fn fetch(store: &Store, n: u64, cache: &Path) -> Result<(ModelVersion, PathBuf)> {
    let v = store.version(n)?;
    let path = cache.join(format!("{}-v{n}.tar", store.model()));
    let fresh = crate::hash::sha256_file(&path).is_ok_and(|(h, _)| h == v.archive_sha256);
    if !fresh {
        store.fetch_bundle(&v, &path)?;
    }
    Ok((v, path))
}

/// A registry version named by `which` (a number, a stage, `latest` or an alias):
/// its metadata and a verified local copy of its bundle.
pub fn registry_version(
    cfg: &Config,
    workdir: &Workdir,
    which: &str,
) -> Result<(ModelVersion, PathBuf)> {
    let store = open(cfg)?;
    let n = resolve(&current(&store)?, which)?;
    fetch(&store, n, &workdir.join(paths::REGISTRY_CACHE))
}
