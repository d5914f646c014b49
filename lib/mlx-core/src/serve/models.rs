//! Which models answer: a fixed bundle, or the registry's deployment state (live
//! version, canary or shadow challenger), followed while the server runs. A new
//! routing is built off the request path and swapped in whole; requests in flight keep
//! the one they started with.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use mlx_contracts::config::{Config, DeployStrategy};
use mlx_contracts::registry::RegistryState;

use crate::error::{Error, Result};
use crate::model::bundle::Bundle;
use crate::model::scorer::Scorer;
use crate::registry;
use crate::workdir::paths;
use crate::workdir::Workdir;

/// A loaded model.
pub struct Model {
    /// The registered model's name, or the bundle's path.
    pub name: String,
    /// The registry version.
    pub version: Option<u64>,
    /// The training run.
    pub run_id: Option<String>,
    /// Scores records.
    pub scorer: Scorer,
}

impl Model {
    /// The label used in logs and metrics: `v3`, or `bundle`.
    pub fn label(&self) -> String {
        self.version.map_or("bundle".into(), |v| format!("v{v}"))
    }

    /// Its name in the inference protocols' paths: the registered model's, or a fixed
    /// bundle's candidate name.
    pub fn served_name(&self) -> &str {
        if self.version.is_some() {
            &self.name
        } else {
            &self.scorer.bundle.manifest.name
        }
    }
}

/// Which model answers which request.
pub struct Routing {
    /// The strategy.
    pub strategy: DeployStrategy,
    /// Answers requests.
    pub live: Arc<Model>,
    /// Canary: answers a share; shadow: scores everything, answers nothing.
    pub challenger: Option<Arc<Model>>,
    /// Canary share.
    pub fraction: f64,
}

/// A variant of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The live model.
    Live,
    /// The canary challenger.
    Challenger,
}

impl Routing {
    /// Canary: whether `key` (the sticky key's value, else the request id) goes to the
    /// challenger; stable for a key.
    pub fn variant(&self, key: &str) -> Variant {
        if self.strategy != DeployStrategy::Canary || self.challenger.is_none() {
            return Variant::Live;
        }
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let bucket = (h.finish() % 10_000) as f64 / 10_000.0;
        if bucket < self.fraction {
            Variant::Challenger
        } else {
            Variant::Live
        }
    }

    /// The model of a variant.
    pub fn model(&self, v: Variant) -> &Arc<Model> {
        match (v, &self.challenger) {
            (Variant::Challenger, Some(c)) => c,
            _ => &self.live,
        }
    }

    /// The shadow model, under `shadow`.
    pub fn shadow(&self) -> Option<&Arc<Model>> {
        (self.strategy == DeployStrategy::Shadow)
            .then_some(self.challenger.as_ref())
            .flatten()
    }
}

/// Where models come from.
#[derive(Clone)]
pub enum Source {
    /// One bundle, fixed.
    Bundle(PathBuf),
    /// The registry: `which` names the live version (`production` follows the
    /// deployment state; an alias or a number pins one).
    Registry {
        /// The config (registry location).
        cfg: Box<Config>,
        /// Work directory for the verified bundle cache.
        workdir: Workdir,
        /// `production`, an alias, a number.
        which: String,
    },
}

/// What a routing was built from, to tell whether the registry changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    strategy: DeployStrategy,
    live: Option<u64>,
    challenger: Option<u64>,
    fraction: Option<f64>,
}

fn key_of(state: &RegistryState, which: &str) -> Result<Key> {
    if which == "production" {
        let d = &state.deployment;
        let live = d.live.or(state.production()).ok_or_else(|| {
            Error::Usage(format!(
                "`{}` has no production version to serve; promote one, or serve --model \
                 staging, an alias or a version number",
                state.model
            ))
        })?;
        Ok(Key {
            strategy: d.strategy,
            live: Some(live),
            challenger: d.challenger,
            fraction: d.canary_fraction,
        })
    } else {
        Ok(Key {
            strategy: DeployStrategy::Direct,
            live: Some(registry::resolve(state, which)?),
            challenger: None,
            fraction: None,
        })
    }
}

/// Reads the current key of a registry source.
pub fn current_key(source: &Source) -> Result<Option<Key>> {
    match source {
        Source::Bundle(_) => Ok(None),
        Source::Registry { cfg, which, .. } => {
            let store = registry::open(cfg)?;
            let state = store.state()?.ok_or_else(|| {
                Error::Usage(format!(
                    "the registry {} has no model `{}`; register and promote one first",
                    store.label(),
                    store.model()
                ))
            })?;
            key_of(&state, which).map(Some)
        }
    }
}

/// Builds the routing for `key`, reusing already loaded versions from `previous`.
pub fn load(source: &Source, key: Option<&Key>, previous: Option<&Routing>) -> Result<Routing> {
    match (source, key) {
        (Source::Bundle(path), _) => Ok(Routing {
            strategy: DeployStrategy::Direct,
            live: Arc::new(Model {
                name: path.display().to_string(),
                version: None,
                run_id: None,
                scorer: Scorer::new(Bundle::load(path)?)?,
            }),
            challenger: None,
            fraction: 0.0,
        }),
        (Source::Registry { cfg, workdir, .. }, Some(key)) => {
            let store = registry::open(cfg)?;
            let get = |n: u64| -> Result<Arc<Model>> {
                if let Some(p) = previous {
                    for m in [Some(&p.live), p.challenger.as_ref()].into_iter().flatten() {
                        if m.version == Some(n) {
                            return Ok(m.clone());
                        }
                    }
                }
                let (v, path) = registry::fetch(&store, n, &workdir.join(paths::REGISTRY_CACHE))?;
                Ok(Arc::new(Model {
                    name: store.model().to_string(),
                    version: Some(n),
                    run_id: Some(v.run_id),
                    scorer: Scorer::new(Bundle::load(&path)?)?,
                }))
            };
            let live = get(key.live.expect("registry keys name a live version"))?;
            let challenger = match key.strategy {
                DeployStrategy::Canary | DeployStrategy::Shadow => {
                    key.challenger.map(&get).transpose()?
                }
                _ => None,
            };
            if let Some(c) = &challenger {
                if c.scorer.bundle.manifest.signature.inputs
                    != live.scorer.bundle.manifest.signature.inputs
                {
                    return Err(Error::Usage(format!(
                        "the challenger {} reads other inputs than the live {}; canary and \
                         shadow need the same signature",
                        c.label(),
                        live.label()
                    )));
                }
            }
            Ok(Routing {
                strategy: key.strategy,
                live,
                challenger,
                fraction: key.fraction.unwrap_or(0.0),
            })
        }
        (Source::Registry { .. }, None) => Err(Error::Runtime("no registry state".into())),
    }
}

/// The routing in force, swapped whole.
pub struct Current {
    routing: RwLock<Arc<Routing>>,
    key: RwLock<Option<Key>>,
}

impl Current {
    /// Starts with a routing.
    pub fn new(routing: Routing, key: Option<Key>) -> Self {
        Self {
            routing: RwLock::new(Arc::new(routing)),
            key: RwLock::new(key),
        }
    }

    /// The routing for a request.
    pub fn get(&self) -> Arc<Routing> {
        self.routing.read().expect("not poisoned").clone()
    }

    /// Reloads when the registry's deployment changed; returns whether it did.
    pub fn refresh(&self, source: &Source) -> Result<bool> {
        let key = current_key(source)?;
        if *self.key.read().expect("not poisoned") == key {
            return Ok(false);
        }
        let previous = self.get();
        let next = load(source, key.as_ref(), Some(&previous))?;
        *self.routing.write().expect("not poisoned") = Arc::new(next);
        *self.key.write().expect("not poisoned") = key;
        Ok(true)
    }
}
