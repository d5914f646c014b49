//! `mlx ui` in a real browser: Debian's chromium driven by playwright-core
//! (`tests/ui/browser.cjs`, installed by `tests/services/browser.sh`) against the
//! server on loopback, over stores made by running the pipeline. The truth the browser
//! checks the pages against comes from the stages' own files (leaderboard.json,
//! train.json, gate.json, monitor.json), and after the browser is done this test reads
//! the registry and the work directory to see that the decision made in the page is
//! the one recorded. The screenshots go to target/ui-screenshots (docs/ui.md shows
//! the main ones).
//!
//! Needs MLX_TEST_CHROMIUM and MLX_TEST_PLAYWRIGHT (`source tests/services/browser.sh`;
//! tests/run.sh does), so it is ignored in a plain `cargo test`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use predicates::prelude::*;

use mlx_contracts::eval::Leaderboard;
use mlx_contracts::gate::{Decision, GateOutcome, GateReport, Review};
use mlx_contracts::monitor::MonitorReport;
use mlx_contracts::registry::RegistryState;
use mlx_contracts::StageRecord;
use mlx_testkit::Sandbox;
use serde_json::{json, Value};

const CONFIG: &str = "\
project: { name: churn }
data:
  sources: [{ name: customers, uri: customers.csv }]
  target: churned
features:
  transforms:
    - { kind: encode, strategy: onehot, columns: [plan] }
    - { kind: scale, strategy: zscore }
split: { strategy: stratified, train: 0.7, validation: 0.15, test: 0.15 }
pipeline: { problem_type: classification }
models:
  - { name: logistic, type: logistic, params: { C: 1.0 } }
  - { name: logistic_weak, type: logistic, params: { C: 0.05 } }
  - { name: tree, type: decision_tree, params: { max_depth: 3 } }
evaluation:
  metrics: [accuracy, f1_score, roc_auc]
  primary_metric: f1_score
approval_gate:
  primary_metric_threshold: 0.5
  reviewers: [alice, bob]
";

/// A browser-test environment variable, or a panic saying how to get it.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: `source tests/services/browser.sh` first (tests/run.sh does)")
    })
}

fn mlx(dir: &Path, bin: &str) -> assert_cmd::Command {
    let mut c = mlx_testkit::command_in(dir, bin);
    c.env("MLX_AUTHOR", "dana").env("MLX_ACTOR", "ci");
    c
}

fn stdout(c: &mut assert_cmd::Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `mlx ui` on a free loopback port; its address from the line it prints at start.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut child = mlx_testkit::std_command("mlx")
            .current_dir(dir)
            .args(["ui", "--bind", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        // Keep draining its log, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            lines.for_each(|l| eprintln!("mlx ui | {}", l.unwrap_or_default()))
        });
        assert!(first.contains("loopback only"), "{first}");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| mlx_testkit::root().join("target"), PathBuf::from);
    target.join("ui-screenshots")
}

/// Runs the browser's `scenario` against `server` with `expected`, in `dir`.
fn browser(dir: &Path, server: &Server, scenario: &str, expected: &Value) {
    let file = dir.join("expected.json");
    std::fs::write(&file, serde_json::to_string_pretty(expected).unwrap()).unwrap();
    let status = mlx_testkit::program(Path::new("node"))
        .current_dir(dir)
        .arg(mlx_testkit::root().join("tests/ui/browser.cjs"))
        .arg(scenario)
        .env("NODE_PATH", env("MLX_TEST_PLAYWRIGHT"))
        .env("MLX_TEST_CHROMIUM", env("MLX_TEST_CHROMIUM"))
        .env("MLX_UI_URL", &server.url)
        .env("MLX_UI_EXPECTED", &file)
        .env("MLX_UI_SHOTS", shots())
        .env("MLX_AUTHOR", "dana")
        .env("MLX_ACTOR", "ci")
        .status()
        .unwrap();
    assert!(status.success(), "the browser's {scenario} checks failed");
}

fn gate_report(s: &Sandbox) -> GateReport {
    let rec: StageRecord = serde_json::from_str(&s.read(".mlx/gate.json")).unwrap();
    serde_json::from_value(rec.details).unwrap()
}

#[test]
#[ignore = "needs Debian's chromium and playwright-core: tests/services/browser.sh"]
fn a_reviewer_finds_the_runs_and_approves_in_the_browser() {
    let s = Sandbox::churn(CONFIG);
    let d = s.path();
    // alice's token by its hash in the config; mallory's (not a reviewer) in a file.
    let token = |name: &str| -> Value {
        serde_json::from_str(&stdout(mlx(d, "mlx").args(["ui", "token", name, "--json"]))).unwrap()
    };
    let (alice, mallory) = (token("alice"), token("mallory"));
    let config = format!(
        "{CONFIG}ui:\n  tokens:\n    alice: sha256:{}\n",
        alice["sha256"].as_str().unwrap()
    );
    s.write("mlx.yaml", &config);
    s.write(
        "tokens.txt",
        &format!(
            "# mlx ui reviewers\nmallory={}\n",
            mallory["token"].as_str().unwrap()
        ),
    );
    mlx(d, "mlx").arg("run").assert().success();
    let report = gate_report(&s);
    assert_eq!(report.outcome, GateOutcome::PendingReview);

    // The truth: each candidate's held-out primary metric from the leaderboard and its
    // family from train.json; the run ids are the store's.
    let board: Leaderboard = serde_json::from_str(&s.read(".mlx/leaderboard.json")).unwrap();
    let train: StageRecord = serde_json::from_str(&s.read(".mlx/train.json")).unwrap();
    let listed: Value =
        serde_json::from_str(&stdout(mlx(d, "mlx").args(["runs", "list", "--json"]))).unwrap();
    let runs: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap();
            let entry = board.entries.iter().find(|e| e.name == name).unwrap();
            let trained = train.details["runs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap();
            json!({"id": r["id"], "name": name, "model": trained["model_type"],
                   "metric": entry.metrics["f1_score"]})
        })
        .collect();
    assert_eq!(runs.len(), 3);
    let best = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == board.entries[0].name.as_str())
        .unwrap()["id"]
        .clone();
    let bad_filter = "metrics.f1_score >";
    let cli = mlx(d, "mlx")
        .args(["runs", "list", "--filter", bad_filter])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(2));
    let cli_message = String::from_utf8_lossy(&cli.stderr)
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ")
        .trim()
        .to_owned();
    let state = registry(d);
    let version = *state
        .versions
        .iter()
        .find(|(_, v)| v.bundle_sha256 == report.candidate.bundle_sha256)
        .unwrap()
        .0;
    // What the browser runs while alice's page is open: the gate again, under a
    // threshold that changes its evidence.
    let stale = s.write(
        "stale.yaml",
        &config.replace(
            "primary_metric_threshold: 0.5",
            "primary_metric_threshold: 0.45",
        ),
    );
    let gate_bin = assert_cmd::cargo::cargo_bin("mlx-gate");

    let server = Server::start(d, &["--tokens-file", "tokens.txt"]);
    browser(
        d,
        &server,
        "review",
        &json!({
            "runs": runs,
            "best": best,
            "metric_key": format!("{}.f1_score", board.set),
            "sort_key": format!("metrics.{}.f1_score", board.set),
            "filter": "params.model = 'logistic'",
            "filter_model": "logistic",
            "bad_filter": bad_filter,
            "bad_filter_message": cli_message,
            "tokens": {"alice": alice["token"], "mallory": mallory["token"]},
            "restale": [gate_bin, "--config", stale, "--workdir", d.join(".mlx"), "-q"],
            "version": version,
        }),
    );
    drop(server);

    // What the page decided is what `mlx-gate review` would have recorded: alice's
    // approval on the gate's current evidence, in the work directory and the registry;
    // the refused attempts left nothing.
    let now = gate_report(&s);
    assert_ne!(
        now.evidence_sha256, report.evidence_sha256,
        "the gate ran again"
    );
    let reviews: Vec<Review> = s
        .read(".mlx/gate/reviews.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let r = &reviews[0];
    assert_eq!(
        (r.decision, r.reviewer.as_str(), r.source.as_str()),
        (Decision::Approve, "alice", "ui")
    );
    assert_eq!(r.evidence_sha256, now.evidence_sha256);
    assert_eq!(r.notes, "slices look fine");
    let state = registry(d);
    assert_eq!(state.versions[&version].reviews, reviews);
    assert_eq!(state.transition.action, "review");
    assert_eq!(state.transition.actor, "alice");
    // And the approval lets the candidate be promoted, as one from the CLI does.
    mlx(d, "mlx-promote").assert().success();
    assert_eq!(registry(d).versions[&version].stage.as_str(), "staging");
}

fn registry(d: &Path) -> RegistryState {
    let dir = d.join(".mlx/registry/churn/state");
    let newest = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
        })
        .unwrap();
    RegistryState::from_json(&std::fs::read_to_string(newest).unwrap()).unwrap()
}

const DEMAND: &str = "\
project: { name: demand }
data:
  sources: [{ name: history, uri: train.csv }]
  target: y
pipeline: { problem_type: regression }
split: { strategy: random, train: 0.7, validation: 0.15, test: 0.15 }
models:
  - { name: linear, type: linear }
evaluation: { primary_metric: wape, metrics: [wape, rmse], threshold: 0.2 }
approval_gate: { auto_approve: true, require_human_review: false }
registry: { promote_to: production, require_staging: false }
monitoring: { window_days: 7, wape_threshold: 0.08, metric_degradation: 0.5, psi_threshold: 0.25 }
";

#[test]
#[ignore = "needs Debian's chromium and playwright-core: tests/services/browser.sh"]
fn the_monitor_page_shows_every_window_and_the_latest_diagnosis() {
    // Six weekly windows over the simulated deployment, the relationship changed from
    // day 35: the later windows fire.
    let s = mlx_testkit::sim::deployment(DEMAND, 49, 35, 100);
    let d = s.path();
    let mut last = None;
    let mut days = Vec::new();
    for week in 1..=6 {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
            + chrono::Duration::days(7 * week + 1);
        let out = mlx_testkit::std_command("mlx-monitor")
            .current_dir(d)
            .env("MLX_ACTOR", "ci")
            .args(["--as-of", &day.to_string(), "--json", "-q"])
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: MonitorReport = serde_json::from_slice(&out.stdout).unwrap();
        days.push(report.as_of.to_string());
        last = Some(report);
    }
    let last = last.unwrap();
    assert!(last.fired, "the change is caught by the last window");
    days.reverse();
    let server = Server::start(d, &[]);
    browser(
        d,
        &server,
        "monitor",
        &json!({
            "windows": days,
            "diagnosis": regex_escape(&last.diagnosis),
            "fired": last.triggers.iter().filter(|t| t.fired).map(|t| t.name.clone()).collect::<Vec<_>>(),
        }),
    );
}

/// `text` as a JavaScript regular expression matching it literally.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\^$.|?*+()[]{}/".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// One HTTP/1.1 request over a plain socket: (status, headers, body).
fn http(url: &str, request: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    c.write_all(request.replace("HOST", addr).as_bytes())
        .unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// Hostile and mistaken requests (tests/hostile/ui/requests.txt) each get a page that
/// says what is wrong, with the status the corpus expects: never a backtrace, never a
/// 500, never a decision without a session's CSRF token.
#[test]
fn bad_requests_get_a_page_saying_what_is_wrong() {
    let s = Sandbox::churn(CONFIG);
    let server = Server::start(s.path(), &[]);
    let corpus =
        std::fs::read_to_string(mlx_testkit::root().join("tests/hostile/ui/requests.txt")).unwrap();
    let mut n = 0;
    for line in corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (request, expect) = line.split_once(" => ").unwrap();
        let (status, says) = expect.split_once(' ').unwrap_or((expect, ""));
        let mut parts = request.splitn(3, ' ');
        let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
        let body = parts.next().unwrap_or("");
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (got, head, text) = http(&server.url, &raw);
        assert_eq!(got, status.parse::<u16>().unwrap(), "{line}: {text}");
        assert!(
            text.contains(says.trim()),
            "{line}: the page does not say `{says}`: {text}"
        );
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "{line}"
        );
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{line}: {head}"
        );
        assert!(head.contains("x-content-type-options: nosniff"), "{line}");
        n += 1;
    }
    assert!(n >= 10, "the corpus has {n} requests");
    // A visitor's session cookie is HttpOnly and SameSite=Strict.
    let (_, head, _) = http(
        &server.url,
        "GET /runs HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n",
    );
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie"))
        .unwrap();
    assert!(
        cookie.contains("mlx_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

/// Mistakes in how the server is started are refused before it listens (exit 2), and
/// serving beyond loopback is said at start.
#[test]
fn bad_flags_and_token_files_are_refused_and_a_public_bind_is_said() {
    let s = Sandbox::churn(CONFIG);
    let d = s.path();
    mlx(d, "mlx")
        .args(["ui", "--bind", "localhost"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not an address and port"));
    s.write("tokens.txt", "alice:my-secret-token-123456\n");
    mlx(d, "mlx")
        .args(["ui", "--tokens-file", "tokens.txt"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "tokens.txt, line 1: write `name=token`",
        ))
        .stderr(predicates::str::contains("my-secret").not());
    mlx(d, "mlx")
        .args(["ui", "--tokens-file", "missing.txt"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("missing.txt"));
    s.write(
        "mlx.yaml",
        &format!("{CONFIG}ui: {{ tokens: {{ alice: abc }} }}\n"),
    );
    mlx(d, "mlx")
        .arg("ui")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("ui.tokens.alice"));
    mlx(d, "mlx")
        .args(["ui", "token", "a b"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a reviewer name"));
    s.write("mlx.yaml", CONFIG);
    let mut child = mlx_testkit::std_command("mlx")
        .current_dir(d)
        .args(["ui", "--bind", "0.0.0.0:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("reachable from other machines"), "{first}");
}
