//! The workflows themselves, end to end, on the local runner (mlx_testkit::actions)
//! against the fake GitHub API: the workflows `mlx init --github` writes call this
//! repository's reusable workflows, which call action.yml, which runs mlx.
//!
//! The story: a pull request trains a model and reports; a maintainer comments
//! `/mlx approve`; the model is promoted through the staging and production
//! environments with a deployment each; production traffic changes; the daily monitor
//! fires, opens an alert issue and dispatches retraining; the next firing updates the
//! same issue.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{TimeZone, Utc};
use mlx_testkit::actions::Runner;
use mlx_testkit::files_holding;
use mlx_testkit::github::{FakeGitHub, REPO, TOKEN};
use mlx_testkit::sim::{demand, demand_logs, Lcg};
use serde_json::{json, Value};

const HEAD: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const MAIN: &str = "9999999999999999999999999999999999999999";
const R: &str = "/repos/acme/churn";

fn config(store: &Path) -> String {
    format!(
        "\
project: {{ name: demand, tags: {{ token: \"${{API_TOKEN}}\" }} }}
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
deploy: {{ prediction_log: {0}/predictions }}
monitoring: {{ window_days: 7, wape_threshold: 0.08, metric_degradation: 0.5 }}
",
        store.display()
    )
}

fn mlx(dir: &Path) -> std::process::Command {
    let mut c = mlx_testkit::std_command("mlx");
    c.current_dir(dir).env("API_TOKEN", CANARY);
    c
}

fn ok(c: &mut std::process::Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn event(file: &str) -> Value {
    let p = mlx_testkit::root().join("tests/github/events").join(file);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Two weeks of production traffic after the relationship changed, as mlx-serve logs
/// it: the production model's predictions and the actuals as feedback.
fn production_traffic(repo: &Path, store: &Path) {
    let mut rng = Lcg(7);
    let mut live = String::from("x1,x2\n");
    let mut actual = Vec::new();
    for _ in 0..14 * 60 {
        let (x1, x2) = (rng.normal(), rng.normal());
        let _ = writeln!(live, "{x1},{x2}");
        actual.push(demand(x1, x2, rng.normal(), true));
    }
    std::fs::write(repo.join("live.csv"), live).unwrap();
    ok(mlx(repo).args([
        "serve",
        "batch",
        "--input",
        "live.csv",
        "--output",
        "scored.csv",
    ]));
    let scored = std::fs::read_to_string(repo.join("scored.csv")).unwrap();
    std::fs::remove_file(repo.join("live.csv")).unwrap();
    std::fs::remove_file(repo.join("scored.csv")).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
    let (predictions, feedback) = demand_logs(&scored, &actual, start, 60);
    let dir = store.join("predictions");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("predictions-20261101T000000-1-0001.ndjson"),
        predictions,
    )
    .unwrap();
    std::fs::write(dir.join("feedback-20261101T000000-1-0001.ndjson"), feedback).unwrap();
}

/// A repository with training data, `config` and the workflows `mlx init --github`
/// writes, the fake GitHub API, and the runner over both.
struct Setup {
    root: tempfile::TempDir,
    repo: std::path::PathBuf,
    store: std::path::PathBuf,
    fake: FakeGitHub,
    runner: Runner,
}

fn setup(extra_config: &str) -> Setup {
    let root = tempfile::tempdir().unwrap();
    let (repo, store, scratch) = (
        root.path().join("repo"),
        root.path().join("store"),
        root.path().join("runner"),
    );
    std::fs::create_dir_all(&repo).unwrap();
    let mut rng = Lcg(42);
    let mut train = String::from("x1,x2,y\n");
    for _ in 0..1500 {
        let (x1, x2) = (rng.normal(), rng.normal());
        let _ = writeln!(train, "{x1},{x2},{}", demand(x1, x2, rng.normal(), false));
    }
    std::fs::write(repo.join("train.csv"), train).unwrap();
    std::fs::write(repo.join("mlx.yaml"), config(&store) + extra_config).unwrap();
    ok(mlx(&repo).args([
        "init",
        "--github",
        "--ref",
        "0123456789abcdef0123456789abcdef01234567",
    ]));
    let fake = FakeGitHub::start();
    {
        let mut d = fake.data();
        d.roles.insert("maint".into(), "maintain".into());
        d.pulls
            .insert(7, ("dana".into(), HEAD.into(), "march-data".into()));
    }
    let bin = assert_cmd::cargo::cargo_bin("mlx");
    let mut runner = Runner::new(&mlx_testkit::root(), &repo, &scratch, bin.parent().unwrap());
    runner.api_url = fake.url().to_owned();
    runner.token = TOKEN.into();
    runner.repository = REPO.into();
    // A canary secret in the config, through a secret-named variable: nothing the
    // workflows send to GitHub, log or store may hold it.
    runner.env.insert("API_TOKEN".into(), CANARY.into());
    Setup {
        root,
        repo,
        store,
        fake,
        runner,
    }
}

/// Step 1: the pull request trains and reports; the run is then findable.
fn train_pull_request(runner: &mut Runner, fake: &FakeGitHub, logs: &mut String) {
    let train = runner.run(
        ".github/workflows/mlx-train.yml",
        "pull_request",
        event("pull_request.json"),
        HEAD,
    );
    logs.push_str(&train.logs());
    let job = train.job("train/train");
    assert_eq!(job.result, "success", "{}", train.logs());
    assert_eq!(job.outputs["outcome"], "pending_review", "{}", train.logs());
    assert!(job.summary.contains("### mlx run"), "{}", job.summary);
    assert_eq!(
        fake.lines(),
        [
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("POST {R}/issues/7/comments"),
            format!("POST {R}/statuses/{HEAD}"),
        ]
    );
    assert_eq!(fake.calls()[2].body["state"], "pending");
    fake.data()
        .runs
        .push(("mlx-train.yml".into(), HEAD.into(), train.id));
    fake.clear_calls();
}

#[test]
fn a_pull_request_is_trained_approved_promoted_monitored_and_retrained() {
    let Setup {
        root: _root,
        repo,
        store,
        fake,
        mut runner,
    } = setup("");
    let review_wf = std::fs::read_to_string(repo.join(".github/workflows/mlx-review.yml")).unwrap();
    assert!(review_wf.contains(
        "uses: mlx-dev/mlx/.github/workflows/review.yml@0123456789abcdef0123456789abcdef01234567"
    ));
    assert!(
        !review_wf.contains("image.yml") && !review_wf.contains("packages"),
        "no image asked for, none built"
    );
    let mut logs = String::new();

    // 1. The pull request trains and reports.
    train_pull_request(&mut runner, &fake, &mut logs);

    approve_and_promote(&mut runner, &fake, &repo, &mut logs);
    monitor_fires_twice(&mut runner, &fake, &repo, &store, &mut logs);

    // 5. The dispatched retraining runs the train workflow with the reason.
    let dispatch = json!({ "inputs": { "reason": "monitoring: rolling WAPE", "notes": "retrain" }, "repository": { "default_branch": "main" } });
    let retrain = runner.run(
        ".github/workflows/mlx-train.yml",
        "workflow_dispatch",
        dispatch,
        MAIN,
    );
    let job = retrain.job("train/train");
    assert_eq!(job.result, "success", "{}", retrain.logs());
    assert!(
        job.summary
            .contains("### Retraining\n\nmonitoring: rolling WAPE"),
        "{}",
        job.summary
    );
    logs.push_str(&retrain.logs());

    // The canary went nowhere: not to GitHub (comments, statuses, issues, deployments,
    // dispatches), not into a log or job summary, not into the registry or the logs.
    let sent: Vec<String> = fake
        .data()
        .history
        .iter()
        .map(|c| format!("{} {} {}", c.method, c.path, c.body))
        .filter(|c| c.contains(CANARY))
        .collect();
    assert!(sent.is_empty(), "{sent:#?}");
    assert!(!logs.contains(CANARY), "a log holds the canary");
    let stored = files_holding(&store, CANARY.as_bytes());
    assert!(stored.is_empty(), "{stored:?}");
}

/// Step 2: a maintainer approves; the model goes to staging, then production.
fn approve_and_promote(
    runner: &mut Runner,
    fake: &FakeGitHub,
    repo: &Path,
    logs: &mut String,
) -> mlx_testkit::actions::Run {
    let mut comment = event("issue_comment.json");
    comment["comment"]["body"] = json!("/mlx approve");
    let review = runner.run(
        ".github/workflows/mlx-review.yml",
        "issue_comment",
        comment,
        MAIN,
    );
    logs.push_str(&review.logs());
    assert_eq!(
        review.job("review/review").result,
        "success",
        "{}",
        review.logs()
    );
    assert_eq!(review.job("review").outputs["decision"], "approve");
    let staging = review.job("promote/staging");
    assert_eq!(staging.result, "success", "{}", review.logs());
    assert_eq!(staging.environment.as_deref(), Some("staging"));
    let production = review.job("promote/production");
    assert_eq!(production.result, "success", "{}", review.logs());
    assert_eq!(production.environment.as_deref(), Some("production"));
    assert_eq!(review.job("promote").outputs["version"], "1");
    assert_eq!(
        fake.lines(),
        [
            format!("GET {R}/pulls/7"),
            format!("GET {R}/actions/workflows/mlx-train.yml/runs?head_sha={HEAD}&status=success&per_page=1"),
            format!("GET {R}/collaborators/maint/permission"),
            format!("GET {R}/pulls/7"),
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("POST {R}/issues/comments/5001/reactions"),
            format!("POST {R}/issues/7/comments"),
            format!("POST {R}/deployments"),
            format!("POST {R}/deployments/1005/statuses"),
            format!("POST {R}/deployments"),
            format!("POST {R}/deployments/1007/statuses"),
        ]
    );
    let calls = fake.calls();
    assert_eq!(
        (
            calls[7].body["environment"].as_str(),
            calls[7].body["ref"].as_str()
        ),
        (Some("staging"), Some(HEAD))
    );
    assert_eq!(calls[9].body["environment"], "production");
    assert_eq!(calls[9].body["payload"]["version"], "1");
    assert_eq!(calls[10].body["state"], "success");
    let list = ok(mlx(repo).args(["promote", "list", "--json"]));
    assert!(list.contains("\"production\""), "{list}");
    fake.clear_calls();
    review
}

#[test]
#[ignore = "needs an OCI registry: run `bash tests/run.sh` (tests/services/registry.sh)"]
fn a_promotion_to_production_pushes_the_serving_image_and_records_its_digest() {
    let var =
        |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} (tests/services/registry.sh)"));
    let host = var("MLX_TEST_REGISTRY");
    let Setup {
        root: _root,
        repo,
        fake,
        mut runner,
        ..
    } = setup(&format!("github: {{ image: {host}/acme/demand }}\n"));
    let review_wf = std::fs::read_to_string(repo.join(".github/workflows/mlx-review.yml")).unwrap();
    assert!(
        review_wf.contains("uses: mlx-dev/mlx/.github/workflows/image.yml@0123456789abcdef0123456789abcdef01234567"),
        "{review_wf}"
    );
    // A registry of its own: its user as a repository variable, its password as a
    // secret (the template's names), its CA trusted by the runner.
    runner.vars.insert(
        "MLX_REGISTRY_USERNAME".into(),
        var("MLX_TEST_REGISTRY_USERNAME"),
    );
    runner.secrets.insert(
        "MLX_REGISTRY_PASSWORD".into(),
        var("MLX_TEST_REGISTRY_PASSWORD"),
    );
    runner
        .env
        .insert("SSL_CERT_FILE".into(), var("MLX_TEST_REGISTRY_CA"));
    let mut logs = String::new();
    train_pull_request(&mut runner, &fake, &mut logs);
    let review = approve_and_promote(&mut runner, &fake, &repo, &mut logs);

    let job = review.job("image/image");
    assert_eq!(job.result, "success", "{}", review.logs());
    let pushed = review.job("image").outputs["image"].clone();
    let digest = pushed
        .strip_prefix(&format!("{host}/acme/demand@"))
        .unwrap_or_else(|| panic!("pushed `{pushed}`: {}", review.logs()));
    assert!(job.summary.contains(&pushed), "{}", job.summary);
    // The registry version records it.
    let shown: Value = serde_json::from_str(&ok(mlx(&repo).args([
        "promote",
        "show",
        "--version",
        "1",
        "--json",
    ])))
    .unwrap();
    let images = &shown["state"]["images"];
    assert_eq!(images[0]["reference"], format!("{host}/acme/demand:v1"));
    assert_eq!(images[0]["digest"], digest);
    // And the registry serves that manifest under the tag (curl, over TLS, with the
    // credentials).
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "-o",
            "/dev/null",
            "-w",
            "%header{docker-content-digest}",
        ])
        .args(["--cacert", &var("MLX_TEST_REGISTRY_CA")])
        .args([
            "-u",
            &format!(
                "{}:{}",
                var("MLX_TEST_REGISTRY_USERNAME"),
                var("MLX_TEST_REGISTRY_PASSWORD")
            ),
        ])
        .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
        .arg(format!("https://{host}/v2/acme/demand/manifests/v1"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), digest, "{out:?}");
}

/// Steps 3 and 4: traffic changes; the monitor fires, opens the alert issue and
/// dispatches training; it fires again the next day and updates the same issue.
fn monitor_fires_twice(
    runner: &mut Runner,
    fake: &FakeGitHub,
    repo: &Path,
    store: &Path,
    logs: &mut String,
) {
    // 3. Traffic changes; the monitor fires, opens the alert issue, dispatches training.
    production_traffic(repo, store);
    let monitor = runner.run(
        ".github/workflows/mlx-monitor.yml",
        "schedule",
        json!({ "schedule": "0 6 * * *", "repository": { "default_branch": "main" } }),
        MAIN,
    );
    logs.push_str(&monitor.logs());
    let job = monitor.job("monitor/monitor");
    assert_eq!(job.result, "success", "{}", monitor.logs());
    assert_eq!(job.outputs["fired"], "true", "{}", monitor.logs());
    assert_eq!(
        fake.lines(),
        [
            format!("GET {R}/issues?labels=mlx-alert&state=open&per_page=100"),
            format!("POST {R}/issues"),
            format!("POST {R}/actions/workflows/mlx-train.yml/dispatches"),
        ]
    );
    let calls = fake.calls();
    assert_eq!(calls[1].body["title"], "mlx: demand needs retraining");
    assert_eq!(calls[1].body["labels"], json!(["mlx-alert"]));
    let report = calls[1].body["body"].as_str().unwrap();
    assert!(report.contains("wape"), "{report}");
    // The runner's work directory is empty: the monitor took the training rows and the
    // SHAP report from the registry, so drift and the SHAP shift are measured, not "—".
    assert!(
        report.contains("## Drift against the training rows") && report.contains("| x1 | "),
        "{report}"
    );
    assert!(report.contains("## SHAP shift of the window"), "{report}");
    assert!(!report.contains("| psi | — |"), "{report}");
    assert_eq!(calls[2].body["ref"], "main");
    assert!(calls[2].body["inputs"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("monitoring: "));
    fake.clear_calls();

    // 4. It fires again the next day: the same issue is updated, training dispatched again.
    let again = runner.run(
        ".github/workflows/mlx-monitor.yml",
        "schedule",
        json!({ "schedule": "0 6 * * *", "repository": { "default_branch": "main" } }),
        MAIN,
    );
    logs.push_str(&again.logs());
    assert_eq!(
        again.job("monitor/monitor").result,
        "success",
        "{}",
        again.logs()
    );
    assert_eq!(
        fake.lines(),
        [
            format!("GET {R}/issues?labels=mlx-alert&state=open&per_page=100"),
            format!("PATCH {R}/issues/101"),
            format!("POST {R}/issues/101/comments"),
            format!("POST {R}/actions/workflows/mlx-train.yml/dispatches"),
        ]
    );
    assert_eq!(fake.data().issues.len(), 1);
}

const CANARY: &str = "canary-gh-7d1c0ffee";
