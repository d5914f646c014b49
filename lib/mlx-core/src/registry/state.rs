//! The registry's rules: each change is a function from the current state to the next
//! one, or a refusal that says why. Nothing here touches storage.
//!
//! The stages of a version form one state machine (docs/promote.md):
//!
//! | from \\ to | none | staging | production | archived |
//! |---|---|---|---|---|
//! | none | – | gate + approvals | gate + approvals (+ staging first with `require_staging`) | with a reason |
//! | staging | yes | – | gate + approvals | with a reason |
//! | production | refused | refused | – | refused |
//! | archived | refused | refused | refused | – |
//!
//! A live (production) version leaves production only by being replaced (another
//! version promoted to production archives it) or by `rollback`; so what `serve`
//! follows is always a version in production.

use chrono::Utc;
use mlx_contracts::config::{ApprovalGate, DeployStrategy, Registry as RegistryConfig};
use mlx_contracts::gate::{Decision, GateOutcome, Review};
use mlx_contracts::registry::{
    Deployment, PushedImage, RegistryState, Stage, Transition, VersionState, REGISTRY_STATE_VERSION,
};

use crate::error::{Error, Result};

/// The policy a change is held to.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `approval_gate`.
    pub gate: ApprovalGate,
    /// `registry`.
    pub registry: RegistryConfig,
}

/// Who is acting: `MLX_ACTOR`, else `GITHUB_ACTOR`, else `USER`; where none is set
/// (a container), git's identity (`user.email`, else `user.name`) marked as such; else
/// `unknown (set MLX_ACTOR)`.
pub fn actor() -> String {
    actor_from(&|k| std::env::var(k).ok(), &|key| {
        crate::git::git(&["config", "--get", key]).ok()
    })
}

fn actor_from(
    env: &dyn Fn(&str) -> Option<String>,
    git: &dyn Fn(&str) -> Option<String>,
) -> String {
    let set = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(who) = ["MLX_ACTOR", "GITHUB_ACTOR", "USER"]
        .iter()
        .find_map(|k| set(env(k)))
    {
        return who;
    }
    ["user.email", "user.name"]
        .iter()
        .find_map(|k| set(git(k)).map(|who| format!("{who} (git {k})")))
        .unwrap_or_else(|| "unknown (set MLX_ACTOR)".into())
}

/// A transition with the common fields filled.
pub fn transition(action: &str, version: Option<u64>, reason: &str) -> Transition {
    Transition {
        action: action.into(),
        version,
        from: None,
        to: None,
        alias: None,
        replaced: None,
        actor: actor(),
        at: Utc::now(),
        reason: reason.into(),
        evidence_sha256: None,
    }
}

/// The state before anything is registered.
pub fn empty(model: &str) -> RegistryState {
    RegistryState {
        schema_version: REGISTRY_STATE_VERSION,
        model: model.into(),
        revision: 0,
        versions: Default::default(),
        aliases: Default::default(),
        production_history: Vec::new(),
        deployment: Deployment::default(),
        transition: transition("create", None, ""),
    }
}

fn listed(state: &RegistryState) -> String {
    if state.versions.is_empty() {
        "none are registered".into()
    } else {
        format!(
            "registered: {}",
            state
                .versions
                .iter()
                .map(|(n, v)| format!("{n} ({})", v.stage.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// A version that exists.
pub fn get(state: &RegistryState, n: u64) -> Result<&VersionState> {
    state.versions.get(&n).ok_or_else(|| {
        Error::Usage(format!(
            "version {n} of `{}` does not exist; {}",
            state.model,
            listed(state)
        ))
    })
}

/// A version's approvals on its current evidence, its approvals on earlier evidence,
/// and whether a current decision rejected or deferred it.
pub struct Approvals<'a> {
    /// Approvals by distinct reviewers on the current evidence.
    pub current: Vec<&'a Review>,
    /// Decisions made on evidence that has since changed.
    pub stale: Vec<&'a Review>,
    /// The latest reject or defer on the current evidence.
    pub blocking: Option<&'a Review>,
}

/// The gate as a person reads it: the gate's outcome, or for one that asked for
/// review the decision taken on its current evidence (`approved`, `rejected`,
/// `deferred`), else `pending_review`.
pub fn gate_label(v: &VersionState) -> &'static str {
    match v.gate {
        None => "none",
        Some(GateOutcome::PendingReview) => {
            let a = approvals(v);
            match a.blocking.map(|b| b.decision) {
                Some(Decision::Reject) => "rejected",
                Some(_) => "deferred",
                None if a.current.is_empty() => "pending_review",
                None => "approved",
            }
        }
        Some(g) => g.as_str(),
    }
}

/// A canary or shadow deployment whose challenger is gone (archived, rolled back,
/// promoted into production) falls back to serving the live version alone.
fn settle_deployment(next: &mut RegistryState) {
    let d = &mut next.deployment;
    let challenger_ok = d.challenger.is_some_and(|c| {
        Some(c) != d.live
            && next
                .versions
                .get(&c)
                .is_some_and(|v| v.stage != Stage::Archived)
    });
    if !challenger_ok {
        d.challenger = None;
        d.canary_fraction = None;
        if matches!(d.strategy, DeployStrategy::Canary | DeployStrategy::Shadow) {
            d.strategy = DeployStrategy::Direct;
        }
    }
}

/// Sorts a version's reviews by the evidence they were made on.
pub fn approvals(v: &VersionState) -> Approvals<'_> {
    tally(&v.reviews, v.evidence_sha256.as_deref().unwrap_or(""))
}

/// Sorts reviews (oldest first) by whether they were made on `evidence`.
pub fn tally<'a>(reviews: &'a [Review], evidence: &str) -> Approvals<'a> {
    let mut current: Vec<&Review> = Vec::new();
    let mut stale = Vec::new();
    let mut blocking = None;
    for r in reviews {
        if r.evidence_sha256 != evidence {
            stale.push(r);
            continue;
        }
        match r.decision {
            Decision::Approve => {
                // A later decision by the same reviewer replaces theirs.
                current.retain(|c| !c.reviewer.eq_ignore_ascii_case(&r.reviewer));
                blocking =
                    blocking.filter(|b: &&Review| !b.reviewer.eq_ignore_ascii_case(&r.reviewer));
                current.push(r);
            }
            Decision::Reject | Decision::Defer => {
                current.retain(|c| !c.reviewer.eq_ignore_ascii_case(&r.reviewer));
                blocking = Some(r);
            }
        }
    }
    Approvals {
        current,
        stale,
        blocking,
    }
}

/// Whether version `n` may enter `staging` or `production` under the policy: a gate
/// that did not fail and, when the gate asked for one, enough human approvals on the
/// evidence the gate produced.
pub fn may_enter(state: &RegistryState, n: u64, to: Stage, policy: &Policy) -> Result<()> {
    let v = get(state, n)?;
    match v.gate {
        None => {
            return Err(Error::Refused(format!(
                "version {n} has no gate decision; run `mlx-gate` on it and register it again \
                 before promoting to {}",
                to.as_str()
            )))
        }
        Some(GateOutcome::Failed) => {
            return Err(Error::Refused(format!(
                "version {n} failed the approval gate; it cannot be promoted to {} (see \
                 reports/gate.md of its run)",
                to.as_str()
            )))
        }
        _ => {}
    }
    let needs_human = v.gate == Some(GateOutcome::PendingReview);
    if !needs_human {
        return Ok(());
    }
    let a = approvals(v);
    if let Some(b) = a.blocking {
        return Err(Error::Refused(format!(
            "version {n} was {} by {} ({}): it cannot be promoted to {}",
            match b.decision {
                Decision::Reject => "rejected",
                _ => "deferred",
            },
            b.reviewer,
            b.notes,
            to.as_str()
        )));
    }
    let need = policy.gate.min_approvals.max(1) as usize;
    if a.current.len() < need {
        let mut msg = format!(
            "version {n} needs {need} approval{} on its gate evidence {} before {}; it has {}",
            if need == 1 { "" } else { "s" },
            short(v.evidence_sha256.as_deref().unwrap_or("")),
            to.as_str(),
            a.current.len()
        );
        if let Some(s) = a.stale.iter().find(|r| r.decision == Decision::Approve) {
            msg.push_str(&format!(
                "; the approval by {} was made on evidence {}, which has since changed: it \
                 must be reviewed again",
                s.reviewer,
                short(&s.evidence_sha256)
            ));
        }
        msg.push_str("; record one with `mlx-gate review --decision approve --reviewer NAME`");
        return Err(Error::Refused(msg));
    }
    Ok(())
}

/// The first 12 hex digits of a hash.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Moves version `n` to `to`. Into production: the gate and approvals are checked,
/// staging is required first when `registry.require_staging`, and the version it
/// replaces is archived. Into staging: the previous staging version returns to `none`.
pub fn promote(
    state: &RegistryState,
    n: u64,
    to: Stage,
    policy: &Policy,
    reason: &str,
) -> Result<RegistryState> {
    let from = get(state, n)?.stage;
    if from == to {
        return Err(Error::Usage(format!(
            "version {n} is already in {}",
            to.as_str()
        )));
    }
    let mut next = state.clone();
    let mut t = transition("promote", Some(n), reason);
    t.from = Some(from);
    t.to = Some(to);
    match to {
        Stage::Archived => return archive(state, n, reason),
        Stage::None => {
            if from == Stage::Production {
                return Err(Error::Refused(format!(
                    "version {n} is in production; use `mlx-promote rollback` or promote \
                     another version to replace it"
                )));
            }
        }
        Stage::Staging | Stage::Production => {
            if from == Stage::Production {
                return Err(Error::Refused(format!(
                    "version {n} is live in production; it leaves production only when another \
                     version replaces it (`mlx promote promote --version M --to production`) or \
                     by `mlx promote rollback`"
                )));
            }
            if from == Stage::Archived {
                return Err(Error::Refused(format!(
                    "version {n} is archived ({}); archived versions stay archived for the audit \
                     trail: register the bundle again to promote it",
                    state.versions[&n]
                        .archived_reason
                        .as_deref()
                        .unwrap_or("no reason given")
                )));
            }
            if to == Stage::Production && policy.registry.require_staging && from != Stage::Staging
            {
                return Err(Error::Refused(format!(
                    "version {n} is in {}; the policy (registry.require_staging) requires staging \
                     before production: `mlx-promote promote --version {n} --to staging` first",
                    from.as_str()
                )));
            }
            may_enter(state, n, to, policy)?;
            t.evidence_sha256 = state.versions[&n].evidence_sha256.clone();
            if let Some(old) = state.in_stage(to).filter(|o| *o != n) {
                let v = next.versions.get_mut(&old).expect("listed");
                if to == Stage::Production {
                    v.stage = Stage::Archived;
                    v.archived_reason = Some(format!("replaced in production by version {n}"));
                    next.production_history.push(old);
                } else {
                    v.stage = Stage::None;
                }
                t.replaced = Some(old);
            }
            if to == Stage::Production {
                next.deployment.live = Some(n);
            }
        }
    }
    next.versions.get_mut(&n).expect("checked").stage = to;
    settle_deployment(&mut next);
    next.transition = t;
    Ok(next)
}

/// Archives version `n` with a reason.
pub fn archive(state: &RegistryState, n: u64, reason: &str) -> Result<RegistryState> {
    let from = get(state, n)?.stage;
    match from {
        Stage::Archived => {
            return Err(Error::Usage(format!("version {n} is already archived")));
        }
        Stage::Production => {
            return Err(Error::Refused(format!(
                "version {n} is in production; archiving it would leave nothing serving: use \
                 `mlx-promote rollback`, or promote another version first"
            )))
        }
        _ => {}
    }
    if reason.trim().is_empty() {
        return Err(Error::Usage(
            "archiving needs a reason (--reason TEXT); it goes into the audit trail".into(),
        ));
    }
    let mut next = state.clone();
    let v = next.versions.get_mut(&n).expect("checked");
    v.stage = Stage::Archived;
    v.archived_reason = Some(reason.into());
    next.aliases.retain(|_, a| *a != n);
    settle_deployment(&mut next);
    let mut t = transition("archive", Some(n), reason);
    t.from = Some(from);
    t.to = Some(Stage::Archived);
    next.transition = t;
    Ok(next)
}

/// Returns production to the version it replaced, archiving the current one.
pub fn rollback(state: &RegistryState, reason: &str) -> Result<RegistryState> {
    let current = state.production().ok_or_else(|| {
        Error::Refused(format!(
            "`{}` has no version in production to roll back",
            state.model
        ))
    })?;
    let previous = *state.production_history.last().ok_or_else(|| {
        Error::Refused(format!(
            "version {current} is the first production version of `{}`; there is nothing to roll \
             back to",
            state.model
        ))
    })?;
    let mut next = state.clone();
    next.production_history.pop();
    let cur = next.versions.get_mut(&current).expect("listed");
    cur.stage = Stage::Archived;
    cur.archived_reason = Some(format!(
        "rolled back{}",
        if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        }
    ));
    let prev = next.versions.get_mut(&previous).expect("listed");
    prev.stage = Stage::Production;
    prev.archived_reason = None;
    next.deployment.live = Some(previous);
    settle_deployment(&mut next);
    let mut t = transition("rollback", Some(previous), reason);
    t.from = Some(Stage::Archived);
    t.to = Some(Stage::Production);
    t.replaced = Some(current);
    next.transition = t;
    Ok(next)
}

/// Points an alias at a version (or, with `None`, removes it).
pub fn alias(state: &RegistryState, name: &str, n: Option<u64>) -> Result<RegistryState> {
    if name.is_empty()
        || name.parse::<u64>().is_ok()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Usage(format!(
            "`{name}` is not a usable alias; use letters, digits, `-` and `_`, not a bare number"
        )));
    }
    if ["none", "staging", "production", "archived", "latest"].contains(&name) {
        return Err(Error::Usage(format!(
            "`{name}` names a stage; pick another alias name"
        )));
    }
    let mut next = state.clone();
    let mut t = match n {
        Some(n) => {
            if get(state, n)?.stage == Stage::Archived {
                return Err(Error::Refused(format!(
                    "version {n} is archived; an alias cannot point at it"
                )));
            }
            next.aliases.insert(name.into(), n);
            transition("alias", Some(n), "")
        }
        None => {
            let old = next
                .aliases
                .remove(name)
                .ok_or_else(|| Error::Usage(format!("`{}` has no alias `{name}`", state.model)))?;
            transition("unalias", Some(old), "")
        }
    };
    t.alias = Some(name.into());
    next.transition = t;
    Ok(next)
}

/// Records how `mlx-serve` routes traffic.
pub fn deploy(
    state: &RegistryState,
    strategy: DeployStrategy,
    challenger: Option<u64>,
    fraction: Option<f64>,
    policy: &Policy,
) -> Result<RegistryState> {
    let live = state.production().ok_or_else(|| {
        Error::Refused(format!(
            "`{}` has no production version; promote one before choosing a deployment",
            state.model
        ))
    })?;
    let mut d = Deployment {
        strategy,
        live: Some(live),
        challenger: None,
        canary_fraction: None,
    };
    match strategy {
        DeployStrategy::Direct | DeployStrategy::BlueGreen => {
            if challenger.is_some() {
                return Err(Error::Usage(format!(
                    "--challenger applies to canary and shadow, not {}",
                    strategy.as_str()
                )));
            }
        }
        DeployStrategy::Canary | DeployStrategy::Shadow => {
            let c = challenger.ok_or_else(|| {
                Error::Usage("canary and shadow need --challenger VERSION".into())
            })?;
            if c == live {
                return Err(Error::Usage(format!(
                    "version {c} is the live version; the challenger must be another"
                )));
            }
            let v = get(state, c)?;
            if v.stage == Stage::Archived {
                return Err(Error::Refused(format!("version {c} is archived")));
            }
            if strategy == DeployStrategy::Canary {
                // Real traffic reaches a canary: it must be allowed into production.
                may_enter(state, c, Stage::Production, policy)?;
                let f = fraction.unwrap_or(0.1);
                if !(f > 0.0 && f < 1.0) {
                    return Err(Error::Usage(format!(
                        "the canary fraction must be between 0 and 1 (exclusive), not {f}"
                    )));
                }
                d.canary_fraction = Some(f);
            }
            d.challenger = Some(c);
        }
    }
    let mut next = state.clone();
    next.deployment = d;
    next.transition = transition("deploy", challenger.or(Some(live)), "");
    Ok(next)
}

/// Records an image of version `n` pushed to `reference` with `digest`: a push to a
/// reference already recorded (a tag moved) replaces that record.
pub fn image(
    state: &RegistryState,
    n: u64,
    reference: &str,
    digest: &str,
) -> Result<RegistryState> {
    get(state, n)?;
    let mut next = state.clone();
    let t = transition("image", Some(n), &format!("{reference}@{digest}"));
    let images = &mut next.versions.get_mut(&n).expect("checked above").images;
    images.retain(|i| i.reference != reference);
    images.push(PushedImage {
        reference: reference.into(),
        digest: digest.into(),
        pushed_at: t.at,
        pushed_by: t.actor.clone(),
    });
    next.transition = t;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlx_contracts::gate::REVIEW_VERSION;

    #[test]
    fn a_pushed_image_is_recorded_once_per_reference() {
        let s = with(vec![version(GateOutcome::Passed)]);
        let a = image(&s, 1, "ghcr.io/acme/churn:v1", "sha256:aa").unwrap();
        let b = image(&a, 1, "ghcr.io/acme/churn:v1", "sha256:bb").unwrap();
        let c = image(&b, 1, "ghcr.io/acme/churn:latest", "sha256:bb").unwrap();
        let images = &c.versions[&1].images;
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].digest, "sha256:bb");
        assert_eq!(images[0].by_digest(), "ghcr.io/acme/churn@sha256:bb");
        assert_eq!(c.transition.action, "image");
        assert_eq!(c.transition.reason, "ghcr.io/acme/churn:latest@sha256:bb");
        assert!(image(&c, 9, "r:1", "sha256:cc").is_err());
        // A registry on a port: the port is not a tag.
        let p = image(&s, 1, "127.0.0.1:5000/churn", "sha256:dd").unwrap();
        assert_eq!(
            p.versions[&1].images[0].by_digest(),
            "127.0.0.1:5000/churn@sha256:dd"
        );
    }

    fn version(gate: GateOutcome) -> VersionState {
        VersionState {
            stage: Stage::None,
            gate: Some(gate),
            evidence_sha256: Some("e1".into()),
            bundle_sha256: "b".into(),
            run_id: "r".into(),
            reviews: Vec::new(),
            archived_reason: None,
            images: Vec::new(),
        }
    }

    fn review(who: &str, d: Decision, evidence: &str) -> Review {
        Review {
            schema_version: REVIEW_VERSION,
            decision: d,
            reviewer: who.into(),
            notes: "n".into(),
            at: Utc::now(),
            evidence_sha256: evidence.into(),
            run_id: "r".into(),
            source: "cli".into(),
            url: None,
        }
    }

    /// The default policy, with production reachable without staging first.
    fn without_staging() -> Policy {
        let mut policy = Policy::default();
        policy.registry.require_staging = false;
        policy
    }

    fn with(versions: Vec<VersionState>) -> RegistryState {
        let mut s = empty("m");
        for (i, v) in versions.into_iter().enumerate() {
            s.versions.insert(i as u64 + 1, v);
        }
        s
    }

    #[test]
    fn production_needs_staging_a_passing_gate_and_approvals() {
        let policy = Policy::default();
        let s = with(vec![version(GateOutcome::PendingReview)]);
        let e = promote(&s, 1, Stage::Production, &policy, "").unwrap_err();
        assert!(e.to_string().contains("requires staging"), "{e}");
        let e = promote(&s, 1, Stage::Staging, &policy, "").unwrap_err();
        assert!(e.to_string().contains("needs 1 approval"), "{e}");
        let mut s = s;
        s.versions.get_mut(&1).unwrap().reviews = vec![review("ann", Decision::Approve, "e0")];
        let e = promote(&s, 1, Stage::Staging, &policy, "").unwrap_err();
        assert!(e.to_string().contains("has since changed"), "{e}");
        s.versions
            .get_mut(&1)
            .unwrap()
            .reviews
            .push(review("ann", Decision::Approve, "e1"));
        let staged = promote(&s, 1, Stage::Staging, &policy, "").unwrap();
        let live = promote(&staged, 1, Stage::Production, &policy, "").unwrap();
        assert_eq!(live.production(), Some(1));
        assert_eq!(live.deployment.live, Some(1));
        let failed = with(vec![version(GateOutcome::Failed)]);
        let e = promote(&failed, 1, Stage::Staging, &policy, "").unwrap_err();
        assert!(
            matches!(e, Error::Refused(_)) && e.to_string().contains("failed"),
            "{e}"
        );
        let e = promote(&failed, 7, Stage::Staging, &policy, "").unwrap_err();
        assert!(
            e.to_string().contains("version 7 of `m` does not exist"),
            "{e}"
        );
    }

    #[test]
    fn a_later_rejection_blocks_and_a_reviewer_counts_once() {
        let mut policy = Policy::default();
        policy.gate.min_approvals = 2;
        let mut s = with(vec![version(GateOutcome::PendingReview)]);
        let v = s.versions.get_mut(&1).unwrap();
        v.reviews = vec![
            review("ann", Decision::Approve, "e1"),
            review("ANN", Decision::Approve, "e1"),
        ];
        let e = promote(&s, 1, Stage::Staging, &policy, "").unwrap_err();
        assert!(e.to_string().contains("it has 1"), "{e}");
        let v = s.versions.get_mut(&1).unwrap();
        v.reviews.push(review("bob", Decision::Approve, "e1"));
        assert!(promote(&s, 1, Stage::Staging, &policy, "").is_ok());
        let v = s.versions.get_mut(&1).unwrap();
        v.reviews.push(review("cid", Decision::Reject, "e1"));
        let e = promote(&s, 1, Stage::Staging, &policy, "").unwrap_err();
        assert!(e.to_string().contains("rejected by cid"), "{e}");
    }

    #[test]
    fn promotion_archives_the_replaced_version_and_rollback_restores_it() {
        let policy = without_staging();
        let s = with(vec![
            version(GateOutcome::Passed),
            version(GateOutcome::Passed),
        ]);
        let s = promote(&s, 1, Stage::Production, &policy, "").unwrap();
        let s = promote(&s, 2, Stage::Production, &policy, "better").unwrap();
        assert_eq!(s.versions[&1].stage, Stage::Archived);
        assert_eq!(s.transition.replaced, Some(1));
        assert_eq!(s.production_history, vec![1]);
        let r = rollback(&s, "bad latency").unwrap();
        assert_eq!(r.production(), Some(1));
        assert_eq!(r.versions[&2].stage, Stage::Archived);
        assert_eq!(
            r.versions[&2].archived_reason.as_deref(),
            Some("rolled back: bad latency")
        );
        assert_eq!(r.deployment.live, Some(1));
        let e = rollback(&r, "").unwrap_err();
        assert!(e.to_string().contains("nothing to roll back"), "{e}");
        let e = archive(&r, 1, "x").unwrap_err();
        assert!(e.to_string().contains("in production"), "{e}");
    }

    #[test]
    fn a_live_version_leaves_production_only_by_replacement_or_rollback() {
        let policy = without_staging();
        let s = with(vec![version(GateOutcome::Passed)]);
        let s = promote(&s, 1, Stage::Production, &policy, "").unwrap();
        for to in [Stage::Staging, Stage::None, Stage::Archived] {
            let e = promote(&s, 1, to, &policy, "demote")
                .unwrap_err()
                .to_string();
            assert!(e.contains("production"), "{to:?}: {e}");
        }
        assert_eq!(s.production(), Some(1));
        assert_eq!(s.deployment.live, Some(1));
    }

    #[test]
    fn the_actor_falls_back_to_the_git_identity_and_says_so() {
        let none = |_: &str| None;
        let git = |k: &str| (k == "user.email").then(|| "ci@example.com".to_string());
        assert_eq!(actor_from(&none, &git), "ci@example.com (git user.email)");
        assert_eq!(actor_from(&none, &none), "unknown (set MLX_ACTOR)");
        let env = |k: &str| (k == "USER").then(|| "alice".to_string());
        assert_eq!(actor_from(&env, &git), "alice");
        let blank = |_: &str| Some("  ".to_string());
        assert_eq!(actor_from(&blank, &git), "ci@example.com (git user.email)");
    }

    #[test]
    fn aliases_and_deployments_are_checked() {
        let policy = without_staging();
        let s = with(vec![
            version(GateOutcome::Passed),
            version(GateOutcome::Passed),
        ]);
        let s = alias(&s, "champion", Some(1)).unwrap();
        assert_eq!(s.aliases["champion"], 1);
        assert!(alias(&s, "production", Some(1)).is_err());
        assert!(alias(&s, "42", Some(1)).is_err());
        assert!(alias(&s, "x", Some(9)).is_err());
        let s = alias(&s, "champion", None).unwrap();
        assert!(s.aliases.is_empty());
        assert!(deploy(&s, DeployStrategy::Canary, Some(2), None, &policy).is_err());
        let s = promote(&s, 1, Stage::Production, &policy, "").unwrap();
        let c = deploy(&s, DeployStrategy::Canary, Some(2), Some(0.25), &policy).unwrap();
        assert_eq!(c.deployment.challenger, Some(2));
        assert_eq!(c.deployment.canary_fraction, Some(0.25));
        assert!(deploy(&s, DeployStrategy::Canary, Some(2), Some(1.5), &policy).is_err());
        assert!(deploy(&s, DeployStrategy::Shadow, Some(1), None, &policy).is_err());
        assert!(deploy(&s, DeployStrategy::BlueGreen, Some(2), None, &policy).is_err());
    }

    /// The canary's challenger goes to production, then is rolled back: the live
    /// version serves alone again, and nothing says "canary" with no challenger.
    #[test]
    fn a_deployment_never_keeps_a_canary_without_its_challenger() {
        let policy = without_staging();
        let s = with(vec![
            version(GateOutcome::Passed),
            version(GateOutcome::Passed),
        ]);
        let s = promote(&s, 1, Stage::Production, &policy, "").unwrap();
        let s = deploy(&s, DeployStrategy::Canary, Some(2), Some(0.1), &policy).unwrap();
        let s = promote(&s, 2, Stage::Production, &policy, "").unwrap();
        assert_eq!(
            (
                s.deployment.strategy,
                s.deployment.live,
                s.deployment.challenger,
                s.deployment.canary_fraction
            ),
            (DeployStrategy::Direct, Some(2), None, None)
        );
        let s = rollback(&s, "bad canary").unwrap();
        assert_eq!(
            (
                s.deployment.strategy,
                s.deployment.live,
                s.deployment.challenger
            ),
            (DeployStrategy::Direct, Some(1), None)
        );
    }

    #[test]
    fn the_gate_label_shows_the_decision_taken() {
        let mut v = version(GateOutcome::PendingReview);
        v.evidence_sha256 = Some("e1".into());
        assert_eq!(gate_label(&v), "pending_review");
        v.reviews.push(review("alice", Decision::Approve, "e1"));
        assert_eq!(gate_label(&v), "approved");
        v.reviews.push(review("bob", Decision::Reject, "e1"));
        assert_eq!(gate_label(&v), "rejected");
        v.evidence_sha256 = Some("e2".into());
        assert_eq!(
            gate_label(&v),
            "pending_review",
            "stale reviews do not count"
        );
        assert_eq!(gate_label(&version(GateOutcome::Passed)), "passed");
    }
}
