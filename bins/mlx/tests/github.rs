//! `mlx github` against a fake GitHub API (mlx_testkit::github) that answers with the
//! real response shapes and records every call. Events are real webhook payload shapes
//! (tests/github/events/). Each case asserts the exact calls made, what was recorded in
//! the work directory, and the exit code.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use mlx_contracts::gate::Review;
use mlx_testkit::github::{FakeGitHub, REPO, TOKEN};
use mlx_testkit::Sandbox;
use serde_json::{json, Value};

const HEAD: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const R: &str = "/repos/acme/churn";

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
  - { name: logistic, type: logistic }
evaluation:
  metrics: [accuracy, f1_score, roc_auc]
  primary_metric: f1_score
approval_gate: { primary_metric_threshold: 0.5 }
registry: { promote_to: staging }
";

/// A project where the pipeline ran once and the gate awaits review (shared; each test
/// works on a copy).
fn trained() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let s = Sandbox::churn(CONFIG);
        let out = mlx(s.path()).arg("run").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = s.path().to_path_buf();
        std::mem::forget(s);
        p
    })
}

fn project() -> Sandbox {
    let s = Sandbox::new();
    mlx_testkit::actions::copy_dir(trained(), s.path());
    s
}

fn mlx(dir: &Path) -> std::process::Command {
    let mut c = mlx_testkit::std_command("mlx");
    c.current_dir(dir).env("MLX_AUTHOR", "dana");
    c
}

fn fake() -> FakeGitHub {
    let f = FakeGitHub::start();
    {
        let mut d = f.data();
        d.roles.insert("maint".into(), "maintain".into());
        d.roles.insert("dana".into(), "write".into());
        d.roles.insert("triager".into(), "triage".into());
        d.pulls
            .insert(7, ("dana".into(), HEAD.into(), "march-data".into()));
    }
    f
}

fn event(file: &str) -> Value {
    let p = mlx_testkit::root().join("tests/github/events").join(file);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn comment_by(login: &str, body: &str) -> Value {
    let mut e = event("issue_comment.json");
    e["comment"]["user"]["login"] = json!(login);
    e["sender"]["login"] = json!(login);
    e["comment"]["body"] = json!(body);
    e
}

/// Runs `mlx github ARGS` for an event as GitHub Actions would; returns the output and
/// the step outputs.
fn github(
    dir: &Path,
    f: &FakeGitHub,
    name: &str,
    payload: &Value,
    args: &[&str],
) -> (Output, String) {
    let event_path = dir.join("event.json");
    std::fs::write(&event_path, payload.to_string()).unwrap();
    let outputs = dir.join("outputs.txt");
    std::fs::write(&outputs, "").unwrap();
    let out = mlx(dir)
        .arg("github")
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", f.url())
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_EVENT_NAME", name)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_SHA", "1111111111111111111111111111111111111111")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(TOKEN), "the token leaked: {all}");
    (out, std::fs::read_to_string(outputs).unwrap())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Posts the report comment as the training workflow does, then forgets its calls.
fn reported(dir: &Path, f: &FakeGitHub) {
    let (out, _) = github(
        dir,
        f,
        "pull_request",
        &event("pull_request.json"),
        &["report"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    f.clear_calls();
}

fn reviews(dir: &Path) -> Vec<Review> {
    std::fs::read_to_string(dir.join(".mlx/gate/reviews.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn evidence(dir: &Path) -> String {
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".mlx/gate.json")).unwrap())
            .unwrap();
    rec["details"]["evidence_sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn last_reply(f: &FakeGitHub) -> String {
    let calls = f.calls();
    let c = calls
        .iter()
        .rev()
        .find(|c| c.method == "POST" && c.path == format!("{R}/issues/7/comments"))
        .expect("a reply");
    c.body["body"].as_str().unwrap().to_owned()
}

#[test]
fn the_report_comment_is_posted_then_updated_in_place_with_the_gate_status() {
    let d = project();
    let f = fake();
    let (out, outputs) = github(
        d.path(),
        &f,
        "pull_request",
        &event("pull_request.json"),
        &["report"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("POST {R}/issues/7/comments"),
            format!("POST {R}/statuses/{HEAD}"),
        ]
    );
    let calls = f.calls();
    let body = calls[1].body["body"].as_str().unwrap();
    let ev = evidence(d.path());
    assert!(
        body.starts_with(&format!("<!-- mlx:report evidence={ev} sha={HEAD} -->")),
        "{body}"
    );
    assert!(body.contains("f1_score"), "{body}");
    assert!(body.contains("/mlx approve"), "{body}");
    assert!(body.contains("not the PR's author"), "{body}");
    assert_eq!(calls[2].body["state"], "pending");
    assert_eq!(calls[2].body["context"], "mlx/gate");
    assert!(calls[2].body["description"]
        .as_str()
        .unwrap()
        .starts_with("awaiting review (f1_score 0."));
    assert!(outputs.contains("outcome=pending_review\n"), "{outputs}");
    assert!(
        outputs.contains(&format!("evidence_sha256={ev}\n")),
        "{outputs}"
    );

    // A second run updates the same comment.
    f.clear_calls();
    let (out, _) = github(
        d.path(),
        &f,
        "pull_request",
        &event("pull_request.json"),
        &["report"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = f.data().comments[0]["id"].as_u64().unwrap();
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("PATCH {R}/issues/comments/{id}"),
            format!("POST {R}/statuses/{HEAD}"),
        ]
    );
    assert_eq!(f.data().comments.len(), 1);
}

#[test]
fn a_maintainer_approves_by_comment() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    let (out, outputs) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("maint", "/mlx approve slices checked"),
        &["review"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/maint/permission"),
            format!("GET {R}/pulls/7"),
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("POST {R}/issues/comments/5001/reactions"),
            format!("POST {R}/issues/7/comments"),
        ]
    );
    assert_eq!(f.calls()[3].body, json!({ "content": "+1" }));
    let ev = evidence(d.path());
    assert!(last_reply(&f).starts_with(&format!(
        "@maint approved the model on evidence `{}`",
        &ev[..12]
    )));
    let r = reviews(d.path());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].reviewer, "maint");
    assert_eq!(r[0].notes, "slices checked");
    assert_eq!(r[0].source, "issue_comment");
    assert_eq!(r[0].evidence_sha256, ev);
    assert_eq!(
        r[0].url.as_deref(),
        Some("https://github.com/acme/churn/pull/7#issuecomment-5001")
    );
    assert!(outputs.contains("decision=approve\n"), "{outputs}");
    assert!(outputs.contains(&format!("head_sha={HEAD}\n")), "{outputs}");
}

#[test]
fn an_outside_contributor_cannot_approve() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    let (out, _) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("stranger", "/mlx approve"),
        &["review"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/stranger/permission"),
            format!("POST {R}/issues/comments/5001/reactions"),
            format!("POST {R}/issues/7/comments"),
        ]
    );
    assert_eq!(f.calls()[1].body, json!({ "content": "-1" }));
    let reply = last_reply(&f);
    assert!(
        reply.contains("needs `write` permission on acme/churn or more, and you have `read`"),
        "{reply}"
    );
    assert!(reviews(d.path()).is_empty());
    // Triage is below write too.
    f.clear_calls();
    let (out, _) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("triager", "/mlx reject no"),
        &["review"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(last_reply(&f).contains("you have `triage`"));
}

#[test]
fn the_author_cannot_approve_their_own_model() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    let (out, _) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("dana", "/mlx approve"),
        &["review"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/dana/permission"),
            format!("POST {R}/issues/comments/5001/reactions"),
            format!("POST {R}/issues/7/comments"),
        ]
    );
    assert!(
        last_reply(&f).contains("you opened this pull request"),
        "{}",
        last_reply(&f)
    );
    assert!(reviews(d.path()).is_empty());
}

#[test]
fn an_unknown_command_is_answered_and_a_plain_comment_ignored() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    let (out, _) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("maint", "/mlx ship it"),
        &["review"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Permission first: only someone who may decide is answered.
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/maint/permission"),
            format!("POST {R}/issues/comments/5001/reactions"),
            format!("POST {R}/issues/7/comments")
        ]
    );
    assert_eq!(f.calls()[1].body, json!({ "content": "confused" }));
    let reply = last_reply(&f);
    assert!(reply.contains("`/mlx ship` is not a command"), "{reply}");
    assert!(reply.contains("`/mlx reject <reason>`"), "{reply}");

    // An outsider's unknown command, with a mention and an image: not answered at all.
    f.clear_calls();
    let (out, _) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by(
            "stranger",
            "/mlx @org/team ![x](https://evil.example/x.png)",
        ),
        &["review"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [format!("GET {R}/collaborators/stranger/permission")]
    );

    f.clear_calls();
    let (out, outputs) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("maint", "LGTM, nice work"),
        &["review"],
    );
    assert!(out.status.success());
    assert!(f.lines().is_empty(), "{:?}", f.lines());
    assert!(outputs.contains("decision=none\n"));
    assert!(reviews(d.path()).is_empty());
}

#[test]
fn a_decision_on_stale_evidence_is_refused() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    // The comment was written before the report last changed.
    let mut e = comment_by("maint", "/mlx approve");
    e["comment"]["created_at"] = json!("2026-11-26T11:00:00Z");
    let (out, _) = github(d.path(), &f, "issue_comment", &e, &["review"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/maint/permission"),
            format!("GET {R}/pulls/7"),
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("POST {R}/issues/comments/5001/reactions"),
            format!("POST {R}/issues/7/comments"),
        ]
    );
    assert!(
        last_reply(&f).contains("the report changed at 2026-11-26T12:00:01Z after you spoke"),
        "{}",
        last_reply(&f)
    );

    // The report shows other evidence than the training run's work directory holds.
    f.clear_calls();
    {
        let mut data = f.data();
        let old = data.comments[0]["body"]
            .as_str()
            .unwrap()
            .replace(&evidence(d.path()), &"ab".repeat(32));
        data.comments[0]["body"] = json!(old);
    }
    let (out, _) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("maint", "/mlx approve"),
        &["review"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        last_reply(&f).contains("decide on the current evidence"),
        "{}",
        last_reply(&f)
    );

    // A review made on a commit that is no longer the head.
    f.clear_calls();
    let mut r = event("pull_request_review.json");
    r["review"]["commit_id"] = json!("0123456789012345678901234567890123456789");
    let (out, _) = github(d.path(), &f, "pull_request_review", &r, &["review"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/maint/permission"),
            format!("GET {R}/pulls/7"),
            format!("POST {R}/issues/7/comments"),
        ]
    );
    assert!(last_reply(&f)
        .contains("made on commit 012345678901, but the pull request is now at c0ffee00c0ff"));
    assert!(reviews(d.path()).is_empty());
}

#[test]
fn a_decision_before_training_finished_is_answered() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    // The workflow found no finished training run, so nothing was downloaded.
    std::fs::remove_dir_all(d.path().join(".mlx")).unwrap();
    let (out, _) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("maint", "/mlx approve"),
        &["review"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let reply = last_reply(&f);
    assert!(
        reply.contains("there is no finished training run of commit c0ffee00c0ff"),
        "{reply}"
    );
    assert_eq!(
        f.calls()
            .iter()
            .filter(|c| c.path.ends_with("/reactions"))
            .count(),
        1
    );
    assert!(!d.path().join(".mlx/gate/reviews.ndjson").exists());
}

#[test]
fn an_approving_review_is_a_decision() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    let (out, outputs) = github(
        d.path(),
        &f,
        "pull_request_review",
        &event("pull_request_review.json"),
        &["review"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/maint/permission"),
            format!("GET {R}/pulls/7"),
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("POST {R}/issues/7/comments"),
        ]
    );
    let r = reviews(d.path());
    assert_eq!(
        (r[0].reviewer.as_str(), r[0].source.as_str()),
        ("maint", "pull_request_review")
    );
    assert_eq!(r[0].notes, "Slices look fine.");
    assert!(outputs.contains("decision=approve\n"));
}

#[test]
fn a_deferral_dispatches_retraining_with_the_notes() {
    let d = project();
    let f = fake();
    reported(d.path(), &f);
    let (out, outputs) = github(
        d.path(),
        &f,
        "issue_comment",
        &comment_by("maint", "/mlx defer add the March churners @org/team"),
        &["review"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The notes echoed into the reply mention nobody.
    let reply = last_reply(&f);
    assert!(
        reply.contains("add the March churners") && !reply.contains("@org"),
        "{reply}"
    );
    assert_eq!(
        f.lines(),
        [
            format!("GET {R}/collaborators/maint/permission"),
            format!("GET {R}/pulls/7"),
            format!("GET {R}/issues/7/comments?per_page=100&page=1"),
            format!("POST {R}/actions/workflows/mlx-train.yml/dispatches"),
            format!("POST {R}/issues/comments/5001/reactions"),
            format!("POST {R}/issues/7/comments"),
        ]
    );
    assert_eq!(
        f.calls()[3].body,
        json!({ "ref": "march-data", "inputs": { "notes": "add the March churners @org/team", "reason": "deferred by maint on #7" } })
    );
    assert!(outputs.contains("decision=defer\n"));
    assert!(d.path().join(".mlx/gate/retrain-request.json").exists());
}

#[test]
fn deployments_are_recorded_with_their_outcome() {
    let d = project();
    let f = fake();
    let (out, outputs) = github(
        d.path(),
        &f,
        "workflow_call",
        &json!({}),
        &[
            "deployment",
            "--environment",
            "production",
            "--version",
            "3",
            "--ref",
            HEAD,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        f.lines(),
        [
            format!("POST {R}/deployments"),
            format!("POST {R}/deployments/1001/statuses")
        ]
    );
    let calls = f.calls();
    assert_eq!(calls[0].body["environment"], "production");
    assert_eq!(calls[0].body["ref"], HEAD);
    assert_eq!(calls[0].body["payload"]["version"], "3");
    assert_eq!(calls[0].body["production_environment"], true);
    assert_eq!(calls[1].body["state"], "success");
    assert!(outputs.contains("deployment_id=1001\n"));
}

#[test]
fn bad_credentials_and_missing_settings_are_clear_errors() {
    let d = project();
    let f = fake();
    let (out, _) = github(
        d.path(),
        &f,
        "pull_request",
        &event("pull_request.json"),
        &["report"],
    );
    assert!(out.status.success());
    let out = mlx(d.path())
        .args(["github", "report", "--pr", "7", "--sha", HEAD])
        .env("GITHUB_TOKEN", "wrong")
        .env("GITHUB_API_URL", f.url())
        .env("GITHUB_REPOSITORY", REPO)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the token is missing, expired or wrong"),
        "{}",
        stderr(&out)
    );
    let out = mlx(d.path()).args(["github", "report"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("GITHUB_TOKEN is not set"),
        "{}",
        stderr(&out)
    );
}
