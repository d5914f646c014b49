//! `mlx export airflow`: the DAG file parses and runs with Python against a stand-in
//! for Airflow's API (tests/airflow/stub), with one task per stage in order, the
//! schedule and retries from the config, and a monitoring DAG whose retraining trigger
//! follows `mlx monitor`'s exit code.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

const CONFIG: &str = "\
project: { name: ad-sales, owner: forecasting-team }
data:
  sources: [{ name: sales, uri: sales.csv }]
  target: sales
pipeline: { problem_type: regression }
models: [{ name: linear, type: linear }]
explain: { enabled: false }
orchestration:
  schedule: \"0 2 * * 1\"
  retries: 3
  retry_delay_minutes: 10
  alert_emails: [ml-alerts@example.com]
  start_date: 2026-01-05
monitoring: { schedule: \"30 6 * * *\" }
";

fn mlx(dir: &Path) -> Command {
    let mut c = mlx_testkit::std_command("mlx");
    c.current_dir(dir);
    c
}

fn inspect(dag: &Path) -> Value {
    inspect_with(dag, &[])
}

/// As [`inspect`], with environment variables set for the DAG file.
fn inspect_with(dag: &Path, env: &[(&str, &str)]) -> Value {
    let script = mlx_testkit::root().join("tests/airflow/inspect_dag.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dag)
        .envs(env.iter().copied())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_dag_has_a_task_per_stage_in_order_and_a_retraining_trigger() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("mlx.yaml"), CONFIG).unwrap();
    let fake_mlx = d.path().join("fake-mlx");
    std::fs::write(&fake_mlx, "#!/bin/sh\nexit \"$FAKE_RC\"\n").unwrap();
    std::fs::set_permissions(
        &fake_mlx,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = mlx(d.path())
        .args(["export", "airflow", "-o", "dag.py", "--mlx"])
        .arg(&fake_mlx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dags = inspect(&d.path().join("dag.py"));

    let training = &dags["ad_sales_training"];
    let stages = [
        "ingest", "version", "validate", "features", "train", "eval", "gate", "promote",
    ];
    let tasks: Vec<&str> = training["tasks"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(tasks, stages, "shap is disabled in the config");
    let edges: Vec<Value> = stages.windows(2).map(|w| json!([w[0], w[1]])).collect();
    assert_eq!(training["edges"], json!(edges));
    assert_eq!(training["args"]["schedule"], "0 2 * * 1");
    assert_eq!(training["args"]["catchup"], false);
    assert_eq!(training["args"]["start_date"], "2026-01-05 00:00:00");
    let defaults = &training["args"]["default_args"];
    assert_eq!(defaults["owner"], "forecasting-team");
    assert_eq!(defaults["retries"], 3);
    assert_eq!(defaults["retry_delay"]["seconds"], 600.0);
    assert_eq!(defaults["email_on_failure"], true);
    assert_eq!(defaults["email"], json!(["ml-alerts@example.com"]));
    let train = training["tasks"]["train"]["bash_command"].as_str().unwrap();
    assert_eq!(
        train,
        format!(
            "{} train --config mlx.yaml --workdir .mlx",
            fake_mlx.display()
        )
    );
    assert_eq!(
        training["tasks"]["train"]["cwd"],
        d.path().display().to_string()
    );
    // No path of this machine in the DAG (the --mlx given aside): it used to hold the
    // absolute directory of the export, which breaks on any other machine.
    let text = std::fs::read_to_string(d.path().join("dag.py")).unwrap();
    let tmp = d.path().display().to_string();
    assert_eq!(
        text.matches(&tmp).count(),
        text.matches(&fake_mlx.display().to_string()).count(),
        "{text}"
    );

    let monitoring = &dags["ad_sales_monitoring"];
    assert_eq!(monitoring["args"]["schedule"], "30 6 * * *");
    assert_eq!(monitoring["edges"], json!([["monitor", "retrain"]]));
    assert_eq!(
        monitoring["tasks"]["retrain"]["trigger_dag_id"],
        "ad_sales_training"
    );
    let monitor = &monitoring["tasks"]["monitor"];
    assert_eq!(monitor["skip_on_exit_code"], 99);
    // Nothing fired: skipped (so is the trigger); fired: success (the trigger runs);
    // an error stays an error (retried).
    let command = monitor["bash_command"].as_str().unwrap();
    for (rc, want) in [(0, 99), (1, 0), (3, 3)] {
        let status = Command::new("bash")
            .args(["-c", command])
            .current_dir(d.path())
            .env("FAKE_RC", rc.to_string())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(want), "mlx monitor exiting {rc}");
    }
}

/// Exported into `dags/`, the tasks run in the project directory wherever the checkout
/// is, or where the worker's MLX_PROJECT_DIR says.
#[test]
fn the_tasks_find_the_project_from_the_dag_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("mlx.yaml"), CONFIG).unwrap();
    std::fs::create_dir(d.path().join("dags")).unwrap();
    let out = mlx(d.path())
        .args(["export", "airflow", "-o", "dags/ad_sales.py"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The checkout moved to another place: the DAG follows it.
    let moved = tempfile::tempdir().unwrap();
    let project = moved.path().join("checkout");
    std::fs::create_dir_all(project.join("dags")).unwrap();
    std::fs::copy(
        d.path().join("dags/ad_sales.py"),
        project.join("dags/ad_sales.py"),
    )
    .unwrap();
    let dags = inspect(&project.join("dags/ad_sales.py"));
    assert_eq!(
        dags["ad_sales_training"]["tasks"]["train"]["cwd"],
        project.display().to_string()
    );
    let dags = inspect_with(
        &project.join("dags/ad_sales.py"),
        &[("MLX_PROJECT_DIR", "/srv/ad-sales")],
    );
    assert_eq!(
        dags["ad_sales_monitoring"]["tasks"]["monitor"]["cwd"],
        "/srv/ad-sales"
    );
}

#[test]
fn a_schedule_that_is_not_cron_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("mlx.yaml"),
        CONFIG.replace("0 2 * * 1", "0 2 * * 1; rm -rf /"),
    )
    .unwrap();
    let out = mlx(d.path()).args(["export", "airflow"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("orchestration.schedule"), "{err}");
    assert!(err.contains("is not a 5-field cron expression"), "{err}");
}
