//! The model registry: versions (bundle, metadata, gate report, SHAP report, training
//! reference rows), stages, aliases and the deployment, in an object store changed
//! only by create-only conditional writes (`store`), and its rules as pure functions
//! of its state (`state`), and registration of a gate's candidate (`register`, with
//! its SHAP report and training reference rows). `mlx promote` and `mlx gate review`
//! are verbs over it;
//! serve, monitor, eval and shap read from it.

pub mod state;
pub mod store;

use std::path::{Path, PathBuf};

use chrono::Utc;
use mlx_contracts::config::Config;
use mlx_contracts::gate::{GateReport, Review};
use mlx_contracts::registry::{
    ModelVersion, RegistryState, Stage as RegistryStage, StoredObject, VersionState,
    MODEL_VERSION_VERSION,
};

use crate::error::{Error, IoContext, Result};
use crate::model::bundle::Bundle;
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
    Ok(Store::open(&cfg.registry.uri, &model)?.mirrored_by(cfg))
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

/// Registers the candidate of `gate` (or updates the gate result of the version that
/// holds the same bundle) and returns its number and the new state.
pub fn register(
    store: &Store,
    cfg: &Config,
    workdir: &Workdir,
    gate: &GateReport,
    reviews: Vec<Review>,
) -> Result<(u64, RegistryState)> {
    let c = &gate.candidate;
    let reviews: Vec<Review> = reviews
        .into_iter()
        .filter(|r| r.run_id == c.run_id)
        .collect();
    let base = store.state()?;
    if let Some(base) = &base {
        if let Some((&n, v)) = base
            .versions
            .iter()
            .find(|(_, v)| v.bundle_sha256 == c.bundle_sha256)
        {
            let mut vs = v.clone();
            let new_reviews: Vec<Review> = reviews
                .into_iter()
                .filter(|r| !vs.reviews.contains(r))
                .collect();
            if vs.evidence_sha256.as_deref() == Some(gate.evidence_sha256.as_str())
                && new_reviews.is_empty()
            {
                return Ok((n, base.clone()));
            }
            let mut next = base.clone();
            let mut t = state::transition("gate", Some(n), "");
            if vs.evidence_sha256.as_deref() != Some(gate.evidence_sha256.as_str()) {
                t.reason = format!(
                    "gate ran again: {} on evidence {}",
                    gate.outcome.as_str(),
                    state::short(&gate.evidence_sha256)
                );
                vs.gate = Some(gate.outcome);
                vs.evidence_sha256 = Some(gate.evidence_sha256.clone());
            } else {
                t.action = "review".into();
            }
            vs.reviews.extend(new_reviews);
            t.evidence_sha256 = Some(gate.evidence_sha256.clone());
            next.versions.insert(n, vs);
            next.transition = t;
            return Ok((n, store.commit(Some(base), next)?));
        }
    }
    let dir = workdir.join(&c.bundle);
    let bundle = Bundle::load(&dir)?;
    let tmp = crate::fsutil::temp_in(workdir.root(), ".bundle.", ".tmp")
        .with_path("creating a temporary file in", workdir.root())?;
    let archive_sha256 = crate::model::bundle::pack(&dir, tmp.path())?;
    let archive = std::fs::read(tmp.path()).with_path("reading", tmp.path())?;
    let first = base
        .as_ref()
        .and_then(|b| b.versions.keys().next_back().copied())
        .unwrap_or(0)
        + 1;
    let n = store.claim_version(first, archive.clone())?;
    let reference = reference_rows(cfg, workdir, &bundle)?
        .map(|(rows, parquet)| -> Result<StoredObject> {
            let stored = StoredObject {
                sha256: crate::config::hex(&<sha2::Sha256 as sha2::Digest>::digest(&parquet)),
                size: parquet.len() as u64,
                rows,
            };
            store.write_reference(n, parquet)?;
            Ok(stored)
        })
        .transpose()?;
    let shap_path = workdir.join(format!("runs/{}/shap.json", c.run_id));
    let shap = if shap_path.exists() {
        Some(crate::workdir::read_shap_report(&shap_path)?)
    } else {
        None
    };
    let version = ModelVersion {
        schema_version: MODEL_VERSION_VERSION,
        model: store.model().into(),
        version: n,
        run_id: c.run_id.clone(),
        name: c.name.clone(),
        model_type: c.model_type,
        bundle_sha256: c.bundle_sha256.clone(),
        archive_sha256,
        archive_size: archive.len() as u64,
        metrics: c.metrics.clone(),
        dataset_sha256: bundle.manifest.dataset_sha256.clone(),
        git_commit: bundle.manifest.git_commit.clone(),
        config_sha256: bundle.manifest.config_sha256.clone(),
        config: crate::config::masked_value(cfg)?,
        gate: Some(gate.clone()),
        shap,
        reference,
        registered_at: Utc::now(),
        registered_by: state::actor(),
    };
    store.write_version(&version)?;
    // Registration commutes with other changes, so a lost race is simply retried.
    let mut base = base;
    for _ in 0..50 {
        let mut next = base.clone().unwrap_or_else(|| state::empty(store.model()));
        next.versions.insert(
            n,
            VersionState {
                stage: RegistryStage::None,
                gate: Some(gate.outcome),
                evidence_sha256: Some(gate.evidence_sha256.clone()),
                bundle_sha256: c.bundle_sha256.clone(),
                run_id: c.run_id.clone(),
                reviews: reviews.clone(),
                archived_reason: None,
                images: Vec::new(),
            },
        );
        let mut t = state::transition("register", Some(n), &format!("run {}", c.run_id));
        t.to = Some(RegistryStage::None);
        t.evidence_sha256 = Some(gate.evidence_sha256.clone());
        next.transition = t;
        match store.commit(base.as_ref(), next) {
            Ok(s) => return Ok((n, s)),
            Err(Error::Conflict(_)) => base = store.state()?,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict(format!(
        "the registry state of `{}` kept changing while registering version {n}; run the \
         command again",
        store.model()
    )))
}

/// The training rows of the model in `bundle` (its inputs and its target) as Parquet,
/// with their count: the reference `mlx-monitor` reads from the registry. `None` when the
/// work directory holds no split to take them from.
fn reference_rows(
    cfg: &Config,
    workdir: &Workdir,
    bundle: &Bundle,
) -> Result<Option<(u64, Vec<u8>)>> {
    if !workdir.join(paths::SPLIT).exists() {
        return Ok(None);
    }
    let train = crate::heldout::held_out(cfg, workdir)?.train;
    let mut names: Vec<&str> = bundle
        .manifest
        .signature
        .inputs
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    if !names.contains(&bundle.manifest.target.as_str()) {
        names.push(bundle.manifest.target.as_str());
    }
    names.retain(|n| train.column(n).is_ok());
    let mut rows = train
        .select(names)
        .map_err(|e| Error::Runtime(format!("the reference rows: {e}")))?;
    let mut bytes = Vec::new();
    mlx_data::write_parquet(&mut rows, &mut bytes)
        .map_err(|e| Error::Runtime(format!("writing the reference rows: {e}")))?;
    Ok(Some((rows.height() as u64, bytes)))
}
