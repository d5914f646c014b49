//! A canary secret through every output of a full local run: ingest to promote, a
//! human approval, the registry's listings. The canary reaches the config through a
//! secret-named variable and sits in fields that are copied into runs and registry
//! metadata (`project.tags`), a URL password and a query string; nothing mlx writes
//! or prints may hold it.

use std::fmt::Write as _;
use std::path::Path;

use mlx_testkit::files_holding;
use mlx_testkit::sim::{demand, Lcg};

const CANARY: &str = "canary-s3cr3t-9f4e";

fn mlx(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut c = mlx_testkit::std_command("mlx");
    c.current_dir(dir).args(args);
    c.env("API_TOKEN", CANARY).env("MLX_ACTOR", "ci-bot");
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_secret_never_leaves_the_process() {
    let root = tempfile::tempdir().unwrap();
    let (repo, store) = (root.path().join("repo"), root.path().join("store"));
    std::fs::create_dir_all(&repo).unwrap();
    let mut rng = Lcg(42);
    let mut train = String::from("x1,x2,y\n");
    for _ in 0..400 {
        let (x1, x2) = (rng.normal(), rng.normal());
        let _ = writeln!(train, "{x1},{x2},{}", demand(x1, x2, rng.normal(), false));
    }
    std::fs::write(repo.join("train.csv"), train).unwrap();
    std::fs::write(
        repo.join("mlx.yaml"),
        format!(
            "\
project:
  name: demand
  description: 'source postgres://svc:${{API_TOKEN}}@db.internal/x?password=${{API_TOKEN}}'
  tags: {{ api: '${{API_TOKEN}}', url: 'https://h/x?token=${{API_TOKEN}}' }}
data:
  sources: [{{ name: history, uri: train.csv }}]
  target: y
pipeline: {{ problem_type: regression }}
split: {{ strategy: random, train: 0.7, validation: 0.15, test: 0.15 }}
models:
  - {{ name: linear, type: linear }}
evaluation: {{ primary_metric: rmse, threshold: 10 }}
approval_gate: {{ require_human_review: true, min_approvals: 1 }}
registry: {{ uri: {0}/registry, promote_to: staging }}
",
            store.display()
        ),
    )
    .unwrap();
    let mut printed = String::new();
    for args in [
        &["run"][..],
        &["--json", "run"],
        &[
            "gate",
            "review",
            "--decision",
            "approve",
            "--reviewer",
            "alice",
            "--notes",
            "ok",
        ],
        &["run"],
        &["--json", "promote", "show", "--version", "1"],
        &["promote", "show", "--version", "1"],
        &["--json", "promote", "list"],
        &["promote", "history"],
        &["config", "show"],
        &["--json", "config", "show"],
    ] {
        let (ok, text) = mlx(&repo, args);
        assert!(ok, "{args:?}: {text}");
        printed.push_str(&text);
    }
    assert!(!printed.contains(CANARY), "printed:\n{printed}");
    let leaks = files_holding(root.path(), CANARY.as_bytes());
    // mlx.yaml holds `${API_TOKEN}`, not the value; train.csv is data.
    assert!(leaks.is_empty(), "files holding the secret: {leaks:?}");
    // The registry did record the config, masked.
    let show = mlx(&repo, &["--json", "promote", "show", "--version", "1"]).1;
    assert!(show.contains("***"), "{show}");
}
