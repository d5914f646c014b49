//! `mlx-promote` end to end: registration by the pipeline, stages, rollback, aliases,
//! deployment state, the audit trail, integrity and schema checks, refusals that leave
//! the registry unchanged, and racing processes (local store, and S3 through moto on
//! loopback) that never lose one another's changes.

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;
use mlx_contracts::registry::RegistryState;
use mlx_testkit::Sandbox;
use predicates::prelude::*;
use serde_json::Value;

const CONFIG: &str = "\
project: { name: churn }
data:
  sources: [{ name: customers, uri: customers.csv }]
  target: churned
  entity_columns: [customer_id]
features:
  transforms:
    - { kind: encode, strategy: onehot, columns: [plan] }
    - { kind: scale, strategy: zscore }
split: { strategy: stratified, train: 0.7, validation: 0.15, test: 0.15 }
pipeline: { problem_type: classification }
models:
  - { name: logistic, type: logistic, params: { C: 1.0 } }
evaluation: { primary_metric: f1_score, threshold: 0.5 }
explain: { enabled: false }
approval_gate: { auto_approve: true, require_human_review: false, regression_tolerance: 0.5 }
registry: { uri: REGISTRY }
";

/// The binary, run in `dir`, with the S3 test server's settings when there is one.
fn std_bin(dir: &Path, name: &str) -> std::process::Command {
    let mut c = mlx_testkit::std_command(name);
    c.current_dir(dir).env("MLX_ACTOR", "erin");
    if let Ok(endpoint) = std::env::var("MLX_TEST_S3_ENDPOINT") {
        c.env("AWS_ENDPOINT", endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
    }
    c
}

fn bin(dir: &Path, name: &str) -> Command {
    Command::from_std(std_bin(dir, name))
}

/// A project whose pipeline registered version 1 and put it in staging.
fn project(registry: &str) -> Sandbox {
    let s = Sandbox::churn(&CONFIG.replace("REGISTRY", registry));
    bin(s.path(), "mlx").args(["run"]).assert().success();
    s
}

fn state(dir: &Path) -> RegistryState {
    let out = bin(dir, "mlx-promote")
        .args(["list", "--json", "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn history(dir: &Path) -> Vec<Value> {
    let out = bin(dir, "mlx-promote")
        .args(["history", "--json", "-q"])
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn promote(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    bin(dir, "mlx-promote").args(args).assert()
}

#[test]
fn stages_rollback_aliases_and_the_audit_trail() {
    let s = project(".mlx/registry");
    let d = s.path();
    let st = state(d);
    assert_eq!(st.versions[&1].stage.as_str(), "staging");
    promote(
        d,
        &["promote", "--version", "staging", "--to", "production"],
    )
    .success();
    // A second candidate: registered, staged by the pipeline, then promoted; the first
    // is archived automatically.
    s.write("mlx.yaml", &s.read("mlx.yaml").replace("C: 1.0", "C: 0.3"));
    bin(d, "mlx").args(["run"]).assert().success();
    promote(
        d,
        &[
            "promote",
            "--version",
            "2",
            "--to",
            "production",
            "--reason",
            "v2",
        ],
    )
    .success();
    let st = state(d);
    assert_eq!(st.production(), Some(2));
    assert_eq!(st.versions[&1].stage.as_str(), "archived");
    assert_eq!(
        st.versions[&1].archived_reason.as_deref(),
        Some("replaced in production by version 2")
    );
    assert_eq!(st.deployment.live, Some(2));
    promote(d, &["rollback", "--reason", "latency"]).success();
    let st = state(d);
    assert_eq!(st.production(), Some(1));
    assert_eq!(st.versions[&2].stage.as_str(), "archived");
    promote(d, &["alias", "set", "champion", "--version", "production"]).success();
    assert_eq!(state(d).aliases["champion"], 1);
    // The trail: every change, who made it, and why.
    let actions: Vec<String> = history(d)
        .iter()
        .map(|h| {
            let t = &h["transition"];
            format!(
                "{} v{} {}",
                t["action"].as_str().unwrap(),
                t["version"],
                t["to"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "register v1 none",
            "promote v1 staging",
            "promote v1 production",
            "register v2 none",
            "promote v2 staging",
            "promote v2 production",
            "rollback v1 production",
            "alias v1 -",
        ]
    );
    let h = history(d);
    assert_eq!(h[5]["transition"]["replaced"], 1);
    assert_eq!(h[5]["transition"]["reason"], "v2");
    assert_eq!(h[5]["transition"]["actor"], "erin");
    assert!(
        h[5]["transition"]["evidence_sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    // The history is a result: stdout, so `| tail -4` works.
    let text = bin(d, "mlx-promote").args(["history"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("rollback  v1    archived -> production (replaces v2)  by erin: latency"),
        "{text}"
    );
}

#[test]
fn refusals_name_the_problem_and_leave_the_registry_unchanged() {
    let s = project(".mlx/registry");
    let d = s.path();
    let revisions = || {
        std::fs::read_dir(d.join(".mlx/registry/churn/state"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count() as u64
    };
    let before = revisions();
    promote(d, &["promote", "--version", "9", "--to", "staging"])
        .code(2)
        .stderr(predicate::str::contains(
            "version 9 of `churn` does not exist; registered: 1 (staging)",
        ));
    promote(d, &["rollback"])
        .code(1)
        .stderr(predicate::str::contains("no version in production"));
    promote(d, &["archive", "--version", "1"])
        .code(2)
        .stderr(predicate::str::contains("needs a reason"));
    promote(d, &["alias", "set", "staging", "--version", "1"])
        .code(2)
        .stderr(predicate::str::contains("names a stage"));
    promote(d, &["deploy", "--strategy", "canary", "--challenger", "1"])
        .code(1)
        .stderr(predicate::str::contains("no production version"));
    promote(d, &["--model", "other", "list"])
        .code(2)
        .stderr(predicate::str::contains("has no model `other` yet"));
    assert_eq!(revisions(), before);
    // A version that skips staging: the policy requires it.
    s.write(
        "mlx.yaml",
        &s.read("mlx.yaml").replace("C: 1.0", "C: 0.3").replace(
            "{ uri: .mlx/registry }",
            "{ uri: .mlx/registry, promote_to: none }",
        ),
    );
    bin(d, "mlx").args(["run"]).assert().success();
    let before = revisions();
    promote(d, &["promote", "--version", "2", "--to", "production"])
        .code(1)
        .stderr(predicate::str::contains(
            "requires staging before production",
        ));
    assert_eq!(revisions(), before);

    // A registry written by a newer mlx is refused, not misread.
    let dir = d.join(".mlx/registry/churn/state");
    let newest = format!("{before:012}.json");
    let text = std::fs::read_to_string(dir.join(&newest)).unwrap();
    let future = text
        .replacen("\"schema_version\": 1", "\"schema_version\": 2", 1)
        .replacen(
            &format!("\"revision\": {before}"),
            &format!("\"revision\": {}", before + 1),
            1,
        );
    std::fs::write(dir.join(format!("{:012}.json", before + 1)), future).unwrap();
    promote(d, &["list"])
        .code(3)
        .stderr(predicate::str::contains("written by a newer mlx"));
    promote(d, &["promote", "--version", "1", "--to", "production"])
        .code(3)
        .stderr(predicate::str::contains("newer mlx"));
    assert_eq!(revisions(), before + 1);
}

#[test]
fn a_tampered_bundle_is_refused() {
    let s = project(".mlx/registry");
    let d = s.path();
    promote(d, &["promote", "--version", "1", "--to", "production"]).success();
    promote(
        d,
        &["fetch", "--version", "production", "--output", "prod.tar"],
    )
    .success();
    assert!(mlx_core::model::bundle::Bundle::load(&d.join("prod.tar")).is_ok());
    let tar = d.join(".mlx/registry/churn/versions/1/bundle.tar");
    let mut bytes = std::fs::read(&tar).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&tar, bytes).unwrap();
    promote(d, &["fetch", "--version", "1", "--output", "again.tar"])
        .code(3)
        .stderr(predicate::str::contains(
            "it was modified or damaged; refusing to use it",
        ));
    assert!(!d.join("again.tar").exists());
    // The gate loads production to compare with it, and refuses just the same.
    let _ = std::fs::remove_dir_all(d.join(".mlx/registry-cache"));
    bin(d, "mlx-gate")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("modified or damaged"));
}

/// A tampered bundle gets no stage from which it would be served: promotion checks
/// it first and changes nothing.
#[test]
fn a_tampered_bundle_is_not_promoted() {
    let s = project(".mlx/registry");
    let d = s.path();
    let tar = d.join(".mlx/registry/churn/versions/1/bundle.tar");
    let mut bytes = std::fs::read(&tar).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&tar, bytes).unwrap();
    let before = state(d).revision;
    // Version 1 is in staging (the pipeline put it there).
    promote(d, &["promote", "--version", "1", "--to", "production"])
        .code(3)
        .stderr(predicate::str::contains("modified or damaged"));
    assert_eq!(state(d).revision, before, "nothing changed");
}

/// Many processes change the same registry at once: each either succeeds or fails with
/// "state changed" (exit 3) having changed nothing, and every success is in the state
/// and the trail.
fn race(d: &Path) {
    let before = state(d).revision;
    let children: Vec<_> = (0..12)
        .map(|i| {
            let mut c = std_bin(d, "mlx-promote");
            c.env("MLX_ACTOR", format!("racer{i}")).args([
                "alias",
                "set",
                &format!("a{i}"),
                "--version",
                "1",
            ]);
            c.stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut won = BTreeSet::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => {
                won.insert(format!("a{i}"));
            }
            Some(3) => assert!(
                String::from_utf8_lossy(&out.stderr).contains("changed while this command ran"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            other => panic!(
                "racer {i}: {other:?} {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    assert!(!won.is_empty());
    let st = state(d);
    let aliases: BTreeSet<String> = st.aliases.keys().cloned().collect();
    assert_eq!(
        aliases, won,
        "every successful change is in the state, and only those"
    );
    assert_eq!(st.revision, before + won.len() as u64);
    let trail: BTreeSet<String> = history(d)
        .iter()
        .filter(|h| h["transition"]["action"] == "alias")
        .map(|h| h["transition"]["alias"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(trail, won);
}

#[test]
fn racing_processes_never_lose_a_change_on_a_local_registry() {
    let s = project(".mlx/registry");
    race(s.path());
}

#[test]
#[ignore = "needs the S3 service: run `bash tests/run.sh`"]
fn racing_processes_never_lose_a_change_on_s3() {
    let bucket =
        std::env::var("MLX_TEST_S3_BUCKET").expect("MLX_TEST_S3_BUCKET (set by tests/run.sh)");
    let s = project(&format!("s3://{bucket}/registry-{}", std::process::id()));
    let d = s.path();
    race(d);
    // The bundle round-trips through S3 with its hash checked.
    promote(d, &["fetch", "--version", "1", "--output", "v1.tar"]).success();
    assert!(mlx_core::model::bundle::Bundle::load(&d.join("v1.tar")).is_ok());
}
