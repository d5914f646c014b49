//! `mlx-promote`: the model registry. Versions (bundle and metadata, immutable), stages
//! `none → staging → production → archived`, named aliases, deployment state for
//! `mlx-serve`, and the audit trail of every change, on any `object_store`.

use std::path::PathBuf;

use mlx_contracts::config::{Config, DeployStrategy, PromoteTarget};
use mlx_contracts::gate::{GateOutcome, Review};
use mlx_contracts::registry::{RegistryState, Stage as RegistryStage};
use mlx_contracts::Status;
use serde_json::json;

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::model::bundle::Bundle;
use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::paths;
use crate::workdir::Workdir;

use crate::registry::{change, current, open, policy, register, resolve, verify_entering};
pub use crate::registry::{state, Policy, Store};

/// The stage.
pub struct Promote;

const SECTIONS: &[&str] = &["approval_gate", "registry"];

const LONG_ABOUT: &str = "\
In a pipeline (no subcommand): registers the candidate the gate judged (its bundle,
metrics, SHAP report, data and config hashes, git commit, gate report and the reviews
in gate/reviews.ndjson) and, when the gate passed or the approvals suffice, promotes
it stage by stage up to `registry.promote_to`. A candidate awaiting review is
registered in stage `none`.

The registry lives at `registry.uri` (a directory, s3://, gs://, az://). Every change
is a new state revision written with a conditional create, so two racing changes never
lose each other: the later one fails with \"state changed\" (exit 3) and changes
nothing. Loading a version checks its bundle's SHA-256.

Examples:
  mlx-promote                                       register the candidate, promote per policy
  mlx-promote --up-to staging                       ... but no further than staging
  mlx-promote list                                  versions, stages, aliases
  mlx-promote promote --version 3 --to staging
  mlx-promote promote --version 3 --to production --reason \"beats v2 on f1\"
  mlx-promote rollback --reason \"p99 latency\"       production back to the version it replaced
  mlx-promote alias set champion --version 3
  mlx-promote deploy --strategy canary --challenger 4 --fraction 0.1
  mlx-promote archive --version 2 --reason \"superseded\"
  mlx-promote history --json | jq '.[] | .transition'
  mlx-promote fetch --version production --output model.tar

Exit codes: 0 done, 1 refused by the policy, 2 bad input, 3 I/O or a concurrent change.";

impl Stage for Promote {
    fn name(&self) -> &'static str {
        "promote"
    }
    fn about(&self) -> &'static str {
        "Register models and move them through staging and production"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        SECTIONS
    }
    fn always_run(&self, _ctx: &Context) -> Option<String> {
        Some("the registry is shared state outside the work directory".into())
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.record_path("gate")]
    }
    fn outputs(&self, _ctx: &Context) -> Vec<PathBuf> {
        Vec::new()
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        pipeline_stage(&ctx.config.config, &ctx.workdir, None)
    }
}

/// The reviews recorded in the work directory's review log.
pub fn logged_reviews(workdir: &Workdir) -> Result<Vec<Review>> {
    let path = workdir.join(paths::GATE_REVIEWS);
    Ok(
        crate::fsutil::read_ndjson(&path, "review", mlx_contracts::gate::REVIEW_VERSION)?
            .unwrap_or_default(),
    )
}

/// The pipeline stage: register, then promote as far as the policy allows.
pub fn pipeline_stage(
    cfg: &Config,
    workdir: &Workdir,
    up_to: Option<PromoteTarget>,
) -> Result<Outcome> {
    let gate = crate::workdir::read_gate_report(workdir)?;
    if gate.outcome == GateOutcome::Failed {
        return Err(Error::Refused(format!(
            "the gate failed for {} (see reports/gate.md); there is nothing to promote",
            gate.candidate.name
        )));
    }
    let store = open(cfg)?;
    let (n, mut s) = register(&store, cfg, workdir, &gate, logged_reviews(workdir)?)?;
    let policy = policy(cfg);
    let mut targets = match up_to.unwrap_or(cfg.registry.promote_to) {
        PromoteTarget::None => vec![],
        PromoteTarget::Staging => vec![RegistryStage::Staging],
        PromoteTarget::Production if cfg.registry.require_staging => {
            vec![RegistryStage::Staging, RegistryStage::Production]
        }
        PromoteTarget::Production => vec![RegistryStage::Production],
    };
    let stage_now = s.versions[&n].stage;
    if stage_now == RegistryStage::Archived {
        return Err(Error::Refused(format!(
            "the candidate is version {n}, which is archived ({}); it will not be promoted",
            s.versions[&n].archived_reason.as_deref().unwrap_or("")
        )));
    }
    targets.retain(|t| *t > stage_now);
    let mut waiting = None;
    for to in targets {
        if let Err(e) = state::may_enter(&s, n, to, &policy) {
            waiting = Some(e.to_string());
            break;
        }
        let next = state::promote(&s, n, to, &policy, "promoted by the pipeline")?;
        verify_entering(&store, &next)?;
        s = store.commit(Some(&s), next)?;
    }
    let stage = s.versions[&n].stage;
    let mut o = match &waiting {
        Some(why) => Outcome::with_status(
            Status::Warned,
            format!(
                "{} registered as version {n} of `{}` ({}); not promoted: {why}",
                gate.candidate.name,
                store.model(),
                stage.as_str()
            ),
        ),
        None => Outcome::passed(format!(
            "{} is version {n} of `{}`, now in {}",
            gate.candidate.name,
            store.model(),
            stage.as_str()
        )),
    };
    o.outputs_kv.insert("version".into(), n.to_string());
    o.outputs_kv.insert("stage".into(), stage.as_str().into());
    o.outputs_kv.insert("registry".into(), store.label().into());
    o.details = json!({
        "model": store.model(),
        "version": n,
        "stage": stage.as_str(),
        "revision": s.revision,
        "waiting_for": waiting,
    });
    Ok(o)
}

fn deploy_strategy(name: &str) -> DeployStrategy {
    match name {
        "blue_green" => DeployStrategy::BlueGreen,
        "canary" => DeployStrategy::Canary,
        "shadow" => DeployStrategy::Shadow,
        _ => DeployStrategy::Direct,
    }
}

fn stage_named(name: &str) -> RegistryStage {
    match name {
        "staging" => RegistryStage::Staging,
        "production" => RegistryStage::Production,
        "archived" => RegistryStage::Archived,
        _ => RegistryStage::None,
    }
}

fn state_json(s: &RegistryState) -> Result<serde_json::Value> {
    serde_json::to_value(s)
        .map_err(|e| Error::Runtime(format!("cannot serialise the registry state: {e}")))
}

fn done(human: String, json: serde_json::Value) -> Result<Standalone> {
    Ok(Standalone {
        status: Status::Passed,
        human,
        json,
    })
}

fn list_text(s: &RegistryState) -> String {
    let mut out = format!("{} (revision {})\n", s.model, s.revision);
    for (n, v) in s.versions.iter().rev() {
        let aliases: Vec<&str> = s
            .aliases
            .iter()
            .filter(|(_, a)| **a == *n)
            .map(|(k, _)| k.as_str())
            .collect();
        out.push_str(&format!(
            "  v{n:<4} {:<10} gate {:<14} run {}{}\n",
            v.stage.as_str(),
            state::gate_label(v),
            v.run_id,
            if aliases.is_empty() {
                String::new()
            } else {
                format!("  [{}]", aliases.join(", "))
            }
        ));
    }
    let d = &s.deployment;
    out.push_str(&format!(
        "  deployment: {} live {}{}",
        d.strategy.as_str(),
        d.live.map_or("none".into(), |v| format!("v{v}")),
        d.challenger.map_or(String::new(), |c| format!(
            ", challenger v{c}{}",
            d.canary_fraction
                .map_or(String::new(), |f| format!(" at {:.0}%", f * 100.0))
        ))
    ));
    out
}

/// A use of `mlx-promote` beside the pipeline: what to do to the registry.
#[derive(Debug, Clone)]
pub enum Action {
    /// Every version, its stage and the aliases.
    List,
    /// One version (a number, a stage or an alias).
    Show {
        /// The version.
        version: String,
    },
    /// Every transition, oldest first.
    History,
    /// A version moved to a stage.
    Promote {
        /// The version.
        version: String,
        /// `staging`, `production` or `archived`.
        to: String,
    },
    /// A version archived.
    Archive {
        /// The version.
        version: String,
    },
    /// Production back to the version before it.
    Rollback,
    /// An alias set to `version`, or removed.
    Alias {
        /// The alias.
        name: String,
        /// Set (`true`) or remove.
        set: bool,
        /// The version it names.
        version: Option<String>,
    },
    /// The deployment strategy `mlx-serve` follows.
    Deploy {
        /// `direct`, `blue_green`, `canary` or `shadow` [default: `deploy.strategy`].
        strategy: Option<String>,
        /// The challenger version.
        challenger: Option<String>,
        /// A canary's share of traffic [default: `deploy.canary_fraction`].
        fraction: Option<f64>,
    },
    /// A version's bundle downloaded and verified.
    Fetch {
        /// The version.
        version: String,
        /// The file written.
        output: PathBuf,
    },
}

/// Which registry an action is on, and why it is done (recorded with a change).
#[derive(Debug, Clone, Default)]
pub struct On {
    /// The registry's URI [default: `registry.uri`].
    pub registry: Option<String>,
    /// The model's name [default: `registry.model_name`].
    pub model: Option<String>,
    /// Why (recorded with the transition).
    pub reason: String,
}

/// `mlx-promote <action>`.
pub fn command(
    config: &dyn Fn() -> Result<Option<LoadedConfig>>,
    on: &On,
    action: &Action,
) -> Result<Standalone> {
    let cfg = config()?.map(|c| c.config).unwrap_or_else(|| {
        let mut c = Config::default();
        c.resolve();
        c
    });
    let uri = on
        .registry
        .clone()
        .unwrap_or_else(|| cfg.registry.uri.clone());
    let model = on
        .model
        .clone()
        .or_else(|| cfg.registry.model_name.clone())
        .unwrap_or_else(|| "model".into());
    let mut store = Store::open(&uri, &model)?;
    // The config's MLflow mirror follows the config's registry, not another one named by
    // --registry or --model.
    if uri == cfg.registry.uri && Some(&model) == cfg.registry.model_name.as_ref() {
        store = store.mirrored_by(&cfg);
    }
    let policy = policy(&cfg);
    let reason = &on.reason;
    let which = |s: &RegistryState, w: Option<&String>| -> Result<Option<u64>> {
        w.map(|w| resolve(s, w)).transpose()
    };
    let committed = |s: RegistryState| {
        let t = &s.transition;
        let v = t.version.map_or("-".into(), |v| format!("v{v}"));
        let what = match (t.action.as_str(), &t.alias) {
            ("alias", Some(a)) => format!("alias `{a}` -> {v}"),
            ("unalias", Some(a)) => format!("removed alias `{a}` (was {v})"),
            (action, _) => format!(
                "{action} {v}{}",
                t.to.map_or(String::new(), |to| format!(" -> {}", to.as_str()))
            ),
        };
        done(format!("{what} (revision {})", s.revision), state_json(&s)?)
    };
    match action {
        Action::List => {
            let s = current(&store)?;
            done(list_text(&s), state_json(&s)?)
        }
        Action::Show { version } => {
            let s = current(&store)?;
            let n = resolve(&s, version)?;
            show(&store, &s, n)
        }
        Action::History => history(&store),
        Action::Promote { version, to } => {
            let to = stage_named(to);
            committed(change(&store, |s| {
                let n = resolve(s, version)?;
                state::promote(s, n, to, &policy, reason)
            })?)
        }
        Action::Archive { version } => committed(change(&store, |s| {
            let n = resolve(s, version)?;
            state::archive(s, n, reason)
        })?),
        Action::Rollback => committed(change(&store, |s| state::rollback(s, reason))?),
        Action::Alias { name, set, version } => committed(change(&store, |s| {
            let n = if *set {
                Some(
                    which(s, version.as_ref())?
                        .ok_or_else(|| Error::Usage("`alias set` needs --version N".into()))?,
                )
            } else {
                None
            };
            state::alias(s, name, n)
        })?),
        Action::Deploy {
            strategy,
            challenger,
            fraction,
        } => {
            let strategy = strategy
                .as_deref()
                .map_or(cfg.deploy.strategy, deploy_strategy);
            let fraction = fraction.or(Some(cfg.deploy.canary_fraction));
            committed(change(&store, |s| {
                let c = which(s, challenger.as_ref())?;
                state::deploy(s, strategy, c, fraction, &policy)
            })?)
        }
        Action::Fetch { version, output } => {
            let s = current(&store)?;
            let n = resolve(&s, version)?;
            let out = output.clone();
            let v = store.version(n)?;
            store.fetch_bundle(&v, &out)?;
            Bundle::load(&out)?;
            done(
                format!(
                    "v{n} -> {} (sha256 {} verified)",
                    out.display(),
                    v.archive_sha256
                ),
                json!({ "version": n, "path": out.display().to_string(), "sha256": v.archive_sha256 }),
            )
        }
    }
}

/// `mlx-promote show`: one version, its provenance and its state.
fn show(store: &Store, s: &RegistryState, n: u64) -> Result<Standalone> {
    let v = store.version(n)?;
    let vs = &s.versions[&n];
    let mut human = format!(
        "v{n} {} ({}), stage {}, gate {}, {} review(s)\n  bundle sha256 {}\n  data \
         sha256 {}\n  git {}\n  registered {} by {}",
        v.name,
        v.model_type.as_str(),
        vs.stage.as_str(),
        vs.gate.map_or("none", |g| g.as_str()),
        vs.reviews.len(),
        v.bundle_sha256,
        v.dataset_sha256,
        v.git_commit.as_deref().unwrap_or("unknown"),
        v.registered_at.to_rfc3339(),
        v.registered_by
    );
    for i in &vs.images {
        human.push_str(&format!(
            "\n  image {} ({}), pushed {} by {}",
            i.by_digest(),
            i.reference,
            i.pushed_at.to_rfc3339(),
            i.pushed_by
        ));
    }
    done(human, json!({ "version": v, "state": vs }))
}

/// `mlx-promote history`: every transition of the registry, oldest first.
fn history(store: &Store) -> Result<Standalone> {
    let all = store.history()?;
    let mut human = String::new();
    for s in &all {
        let t = &s.transition;
        human.push_str(&format!(
            "{:>4}  {}  {:<9} v{:<4} {}{}  by {}{}{}\n",
            s.revision,
            t.at.format("%Y-%m-%d %H:%M:%S"),
            t.action,
            t.version.map_or("-".into(), |v| v.to_string()),
            match (t.from, t.to) {
                (Some(f), Some(to)) => format!("{} -> {}", f.as_str(), to.as_str()),
                (None, Some(to)) => to.as_str().to_string(),
                _ => t.alias.clone().unwrap_or_default(),
            },
            t.replaced
                .map_or(String::new(), |r| format!(" (replaces v{r})")),
            t.actor,
            if t.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", t.reason)
            },
            t.evidence_sha256
                .as_deref()
                .map_or(String::new(), |e| format!(
                    " [evidence {}]",
                    state::short(e)
                ))
        ));
    }
    let trail: Vec<_> = all
        .iter()
        .map(|s| json!({ "revision": s.revision, "transition": s.transition }))
        .collect();
    done(human.trim_end().to_string(), json!(trail))
}
