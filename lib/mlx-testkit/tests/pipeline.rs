//! The runner, stage records, skipping, exit codes, `--json` and GitHub outputs,
//! end to end through the umbrella CLI over the fake stages.

use std::process::Stdio;

use assert_cmd::Command;
use mlx_contracts::{StageRecord, Status};
use mlx_testkit::Sandbox;
use predicates::prelude::*;

const CONFIG: &str = "\
data:
  sources:
    - { name: a, uri: a.txt }
training:
  seed: 1
evaluation:
  threshold: 0.5
";

fn project() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("mlx.yaml", CONFIG);
    sb.write("a.txt", "x\ny\n");
    sb
}

fn mlx(sb: &Sandbox) -> Command {
    mlx_testkit::command_in(sb.path(), "mlx-testkit")
}

fn runs(sb: &Sandbox) -> Vec<String> {
    sb.read(".mlx/runs.log")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn record(sb: &Sandbox, stage: &str) -> StageRecord {
    StageRecord::from_json(&sb.read(&format!(".mlx/{stage}.json"))).unwrap()
}

fn run_and_count(sb: &Sandbox, args: &[&str]) -> Vec<String> {
    let before = runs(sb).len();
    mlx(sb).arg("run").args(args).assert().success();
    runs(sb)[before..].to_vec()
}

#[test]
fn first_run_runs_everything_and_records_it() {
    let sb = project();
    assert_eq!(
        run_and_count(&sb, &[]),
        ["prepare", "fit", "check", "explain"]
    );
    assert_eq!(sb.read(".mlx/prepared.txt"), "X\nY\n");
    let r = record(&sb, "prepare");
    assert_eq!(r.status, Status::Passed);
    assert_eq!(r.summary, "2 lines prepared");
    assert_eq!(r.inputs.len(), 1);
    assert_eq!(r.inputs[0].path, "a.txt");
    // sha256("x\ny\n"), as printed by `printf 'x\ny\n' | sha256sum`.
    assert_eq!(
        r.inputs[0].sha256,
        "09834d488008f5f1ef589a2d7cedc52425bee9dd23b2212e4c1d673c5cbb54e4"
    );
    assert_eq!(r.inputs[0].size, 4);
    assert_eq!(r.outputs[0].path, ".mlx/prepared.txt");
    assert_eq!(r.outputs_kv["lines"], "2");
    assert!(r.finished_at >= r.started_at);
}

#[test]
fn an_unchanged_pipeline_is_skipped_entirely() {
    let sb = project();
    run_and_count(&sb, &[]);
    assert!(run_and_count(&sb, &[]).is_empty());
    mlx(&sb)
        .arg("run")
        .assert()
        .success()
        .stderr(predicate::str::contains("- prepare: up to date"));
}

#[test]
fn a_changed_input_reruns_its_stage_and_what_depends_on_its_output() {
    let sb = project();
    run_and_count(&sb, &[]);
    sb.write("a.txt", "x\ny\nz\n");
    // prepared.txt changes, so fit reruns; model.txt changes (3 lines), so check and
    // explain rerun too.
    assert_eq!(
        run_and_count(&sb, &[]),
        ["prepare", "fit", "check", "explain"]
    );
    // Same size, different content: the hash, not the size, decides. prepared.txt
    // changes, so fit reruns; model.txt comes out identical, so check and explain
    // stay up to date.
    sb.write("a.txt", "x\ny\nq\n");
    assert_eq!(run_and_count(&sb, &[]), ["prepare", "fit"]);
}

#[test]
fn a_changed_config_section_reruns_only_the_stages_that_read_it() {
    let sb = project();
    run_and_count(&sb, &[]);
    // epochs is in `training` (fit reads it) but does not change model.txt.
    sb.write(
        "mlx.yaml",
        &CONFIG.replace("  seed: 1\n", "  seed: 1\n  epochs: 3\n"),
    );
    assert_eq!(run_and_count(&sb, &[]), ["fit"]);
    // A new seed changes model.txt, so check and explain rerun after fit.
    sb.write("mlx.yaml", &CONFIG.replace("seed: 1", "seed: 2"));
    assert_eq!(run_and_count(&sb, &[]), ["fit", "check", "explain"]);
    // A section no stage reads changes nothing.
    sb.write(
        "mlx.yaml",
        &format!(
            "{}project:\n  owner: me\n",
            CONFIG.replace("seed: 1", "seed: 2")
        ),
    );
    assert!(run_and_count(&sb, &[]).is_empty());
}

#[test]
fn force_and_ranges() {
    let sb = project();
    run_and_count(&sb, &[]);
    assert_eq!(
        run_and_count(&sb, &["--force"]),
        ["prepare", "fit", "check", "explain"]
    );
    assert_eq!(
        run_and_count(&sb, &["--force", "--from", "fit", "--to", "check"]),
        ["fit", "check"]
    );
    assert!(run_and_count(&sb, &["--from", "fit"]).is_empty());
    mlx(&sb)
        .args(["run", "--from", "fitt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `fit`?"));
    mlx(&sb)
        .args(["run", "--from", "check", "--to", "prepare"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("comes after"));
}

#[test]
fn a_deleted_or_edited_output_reruns_its_stage() {
    let sb = project();
    run_and_count(&sb, &[]);
    std::fs::remove_file(sb.path().join(".mlx/explain.txt")).unwrap();
    assert_eq!(run_and_count(&sb, &[]), ["explain"]);
    sb.write(".mlx/model.txt", "tampered\n");
    // fit restores model.txt to the same content, so check and explain stay put.
    assert_eq!(run_and_count(&sb, &[]), ["fit"]);
}

#[test]
fn a_new_tool_version_or_unreadable_record_reruns() {
    let sb = project();
    run_and_count(&sb, &[]);
    let p = sb.path().join(".mlx/fit.json");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace("\"tool_version\": \"0.1.0\"", "\"tool_version\": \"0.0.9\""),
    )
    .unwrap();
    mlx(&sb)
        .arg("run")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "fit (tool version changed (0.0.9 -> 0.1.0))",
        ));
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace("\"schema_version\": 1", "\"schema_version\": 7"),
    )
    .unwrap();
    mlx(&sb)
        .arg("run")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "previous record unreadable (stage record has schema_version 7",
        ));
    assert_eq!(record(&sb, "fit").schema_version, 1);
}

#[test]
fn a_failed_check_exits_1_stops_the_pipeline_and_reruns_next_time() {
    let sb = project();
    sb.write(
        "mlx.yaml",
        &CONFIG.replace("threshold: 0.5", "threshold: 1.5"),
    );
    mlx(&sb).arg("run").assert().code(1).stderr(
        predicate::str::contains("✘ check")
            .and(predicate::str::contains("threshold 1.5 cannot be met")),
    );
    assert_eq!(runs(&sb), ["prepare", "fit", "check"], "explain never ran");
    assert_eq!(record(&sb, "check").status, Status::Failed);
    // Nothing changed, but a failed stage is never up to date.
    mlx(&sb).arg("run").assert().code(1);
    assert_eq!(runs(&sb).len(), 4);
    // Warned is success.
    sb.write(
        "mlx.yaml",
        &CONFIG.replace("threshold: 0.5", "threshold: 1.0"),
    );
    mlx(&sb).arg("run").assert().success();
    assert_eq!(record(&sb, "check").status, Status::Warned);
}

#[test]
fn a_runtime_error_exits_3_and_records_why() {
    let sb = project();
    std::fs::remove_file(sb.path().join("a.txt")).unwrap();
    mlx(&sb)
        .arg("run")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("a.txt"));
    let r = record(&sb, "prepare");
    assert_eq!(r.status, Status::Failed);
    assert!(r.summary.contains("reading source `a`"), "{}", r.summary);
}

#[test]
fn a_disabled_stage_is_reported_and_not_run() {
    let sb = project();
    sb.write("mlx.yaml", &format!("{CONFIG}explain:\n  enabled: false\n"));
    mlx(&sb)
        .arg("run")
        .assert()
        .success()
        .stderr(predicate::str::contains("explain: disabled in config"));
    assert_eq!(runs(&sb), ["prepare", "fit", "check"]);
}

#[test]
fn dry_run_changes_nothing() {
    let sb = project();
    mlx(&sb)
        .args(["run", "--dry-run"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "> prepare: would run (no previous run)",
        ));
    assert!(runs(&sb).is_empty());
    assert!(!sb.path().join(".mlx/prepare.json").exists());
}

#[test]
fn json_output_is_data_on_stdout() {
    let sb = project();
    let out = mlx(&sb).args(["run", "--json", "-q"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "-q keeps stderr empty: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(v[0]["stage"], "prepare");
    assert_eq!(v[0]["action"], "ran");
    assert_eq!(v[0]["record"]["schema_version"], 1);
    let out = mlx(&sb).args(["run", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[2]["action"], "skipped");
    assert_eq!(v[2]["status"], "passed");

    // A single stage prints its record.
    let out = mlx(&sb).args(["prepare", "--json"]).output().unwrap();
    let r = StageRecord::from_json(std::str::from_utf8(&out.stdout).unwrap()).unwrap();
    assert_eq!(r.stage, "prepare");
}

#[test]
fn a_stage_runs_alone_with_its_own_flags_and_env_config() {
    let sb = project();
    std::fs::rename(sb.path().join("mlx.yaml"), sb.path().join("other.yaml")).unwrap();
    mlx(&sb)
        .args(["prepare", "--suffix", "!", "--workdir", "wd"])
        .env("MLX_CONFIG", "other.yaml")
        .assert()
        .success();
    assert_eq!(sb.read("wd/prepared.txt"), "X!\nY!\n");
    mlx(&sb)
        .args(["prepare", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:").and(predicate::str::contains("--suffix")));
}

#[test]
fn github_actions_outputs_and_summary() {
    let sb = project();
    let out = sb.path().join("gh_out");
    let sum = sb.path().join("gh_sum");
    mlx(&sb)
        .arg("run")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &out)
        .env("GITHUB_STEP_SUMMARY", &sum)
        .assert()
        .success();
    let outputs = std::fs::read_to_string(&out).unwrap();
    assert!(outputs.contains("lines=2\n"), "{outputs}");
    assert!(outputs.contains("prepare_status=passed\n"), "{outputs}");
    assert!(outputs.contains("check_status=passed\n"), "{outputs}");
    let summary = std::fs::read_to_string(&sum).unwrap();
    assert!(
        summary.contains("| 0.5 | passed |"),
        "the stage's own report: {summary}"
    );
    assert!(summary.contains("### mlx run"), "{summary}");
    assert!(
        summary.contains("| fit | ✔ passed: model written |"),
        "{summary}"
    );

    // Outside Actions nothing is written.
    std::fs::remove_file(&out).unwrap();
    mlx(&sb)
        .args(["run", "--force"])
        .env("GITHUB_OUTPUT", &out)
        .assert()
        .success();
    assert!(!out.exists());
}

#[test]
fn dag_lists_stages_with_their_files() {
    let sb = project();
    mlx(&sb).arg("dag").assert().success().stdout(
        predicate::str::contains("2. fit: Fake: write a model file")
            .and(predicate::str::contains("reads:  .mlx/prepared.txt")),
    );
    mlx(&sb)
        .args(["dag", "--format", "mermaid"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("prepare --> fit")
                .and(predicate::str::contains("fit --> check"))
                .and(predicate::str::contains("prepare --> check").not()),
        );
}

#[test]
fn a_bad_config_stops_before_any_stage() {
    let sb = project();
    sb.write("mlx.yaml", "trainng: {}\n");
    mlx(&sb)
        .arg("run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mlx.yaml:1:1"));
    assert!(runs(&sb).is_empty());
}

#[test]
fn a_writer_killed_mid_write_leaves_the_old_file_intact() {
    let sb = project();
    let target = sb.path().join("record.json");
    std::fs::write(&target, "old complete content\n").unwrap();
    let mut child = mlx_testkit::std_command("mlx-testkit")
        .arg("__slow-write")
        .arg(&target)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "half-way\n");
    child.kill().unwrap(); // SIGKILL: no destructors, no cleanup
    child.wait().unwrap();
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "old complete content\n"
    );
    // The partial temporary file is beside it, never at the target's name.
    let leftovers: Vec<String> = std::fs::read_dir(sb.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".record.json."))
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(leftovers[0].ends_with(".tmp"));
}
