//! End-to-end tests of the `mlx` binary: config checking against the corpus under
//! `tests/config/`, committed schemas and examples, `init`, help texts, exit codes.
//!
//! Regenerate committed generated files with `MLX_UPDATE=1 cargo test -p mlx`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

use mlx_testkit::root;

fn mlx() -> Command {
    mlx_testkit::command("mlx")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// Compares generated text with a committed file, or rewrites it under MLX_UPDATE=1.
fn assert_committed(path: &Path, generated: &str) {
    if std::env::var_os("MLX_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale; regenerate it with `MLX_UPDATE=1 cargo test -p mlx`",
        path.display()
    );
}

mod config {
    use super::*;

    #[test]
    fn accepts_the_design_documents_config_and_every_example() {
        let mut files = yaml_files(&root().join("tests/config/valid"));
        files.extend(yaml_files(&root().join("config/examples")));
        assert!(files.len() >= 5, "corpus missing: {files:?}");
        // A candidate the build cannot train is refused at its key, naming the build that
        // can (README's commands and tests/run.sh build with XGBoost and LightGBM).
        let version = mlx().arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        let backends = version
            .split_once("(backends: ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| list.split(", ").map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_default();
        let built = |b: &str| backends.iter().any(|x| x == b);
        for f in files {
            let shown = mlx()
                .args(["config", "show", "--format", "json", "-c"])
                .arg(&f)
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
            let types: Vec<&str> = v["models"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["type"].as_str().unwrap())
                .collect();
            let missing = ["xgboost", "lightgbm"]
                .into_iter()
                .find(|b| types.contains(b) && !built(b));
            let check = mlx().args(["config", "check"]).arg(&f).assert();
            match missing {
                None => check.success().stderr(predicate::str::contains(": ok (")),
                Some(b) => check.code(2).stderr(
                    predicate::str::contains(format!("this build of mlx has no {b}"))
                        .and(predicate::str::contains("bash scripts/mlx.sh")),
                ),
            };
        }
    }

    #[test]
    fn a_model_the_build_cannot_train_is_refused_by_config_check() {
        let version = mlx().arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        assert!(version.contains("(backends: "), "{version}");
        if version.contains("xgboost") || version.contains("lightgbm") {
            return; // Built with XGBoost: the example above runs it.
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("mlx.yaml");
        std::fs::write(
            &cfg,
            "data: { sources: [{ name: s, uri: a.csv }], target: y }\n\
             pipeline:\n  problem_type: classification\n  model_type: xgboost\n",
        )
        .unwrap();
        mlx()
            .current_dir(dir.path())
            .args(["config", "check"])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("mlx.yaml:4:")
                    .and(predicate::str::contains("pipeline.model_type"))
                    .and(predicate::str::contains("this build of mlx has no xgboost")),
            );
    }

    #[test]
    fn the_design_documents_values_are_read_as_written() {
        let out = mlx()
            .args(["config", "show", "--format", "json", "-c"])
            .arg(root().join("tests/config/valid/design-documents.yaml"))
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["pipeline"]["model_type"], "xgboost");
        assert_eq!(v["training"]["optimizer"], "adam");
        assert_eq!(v["training"]["learning_rate"], 0.001);
        assert_eq!(v["training"]["batch_size"], 32);
        assert_eq!(v["training"]["epochs"], 50);
        assert_eq!(v["evaluation"]["primary_metric"], "f1_score");
        assert_eq!(v["evaluation"]["threshold"], 0.8);
        assert_eq!(v["evaluation"]["direction"], "maximize");
        assert_eq!(v["approval_gate"]["auto_approve"], false);
        assert_eq!(v["approval_gate"]["primary_metric_threshold"], 0.85);
        assert_eq!(v["approval_gate"]["regression_tolerance"], 0.02);
        assert_eq!(v["approval_gate"]["require_human_review"], true);
        assert_eq!(v["approval_gate"]["escalate_on_shap_drift"], true);
        // Defaults that follow from the problem type.
        assert_eq!(v["split"]["strategy"], "stratified");
        assert_eq!(v["models"][0]["type"], "xgboost");
    }

    struct Expect {
        line: u64,
        column: u64,
        key: Option<String>,
        message: String,
        hint: Option<String>,
    }

    /// `# expect: LINE:COL [`key`] message substring [| hint substring]`
    fn expectation(file: &Path) -> Expect {
        let text = std::fs::read_to_string(file).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", file.display()));
        let (pos, rest) = line.split_once(' ').unwrap();
        let (l, c) = pos.split_once(':').unwrap();
        let (body, hint) = match rest.split_once(" | ") {
            Some((b, h)) => (b, Some(h.trim().to_owned())),
            None => (rest, None),
        };
        let (key, message) = match body.strip_prefix('`') {
            Some(r) => {
                let (k, m) = r.split_once('`').unwrap();
                (Some(k.to_owned()), m.trim().to_owned())
            }
            None => (None, body.trim().to_owned()),
        };
        Expect {
            line: l.parse().unwrap(),
            column: c.parse().unwrap(),
            key,
            message,
            hint,
        }
    }

    #[test]
    fn rejects_every_broken_config_with_its_location() {
        let files = yaml_files(&root().join("tests/config/broken"));
        assert!(files.len() >= 30, "corpus shrank: {}", files.len());
        for f in files {
            let e = expectation(&f);
            let out = mlx()
                .args(["config", "check", "--json"])
                .arg(&f)
                .output()
                .unwrap();
            let name = f.display().to_string();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name} must be refused with exit 2"
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let errors = v[0]["errors"].as_array().unwrap().clone();
            let found = errors.iter().any(|d| {
                d["line"] == e.line
                    && d["column"] == e.column
                    && e.key.as_ref().is_none_or(|k| d["key"] == k.as_str())
                    && d["message"].as_str().unwrap().contains(&e.message)
                    && e.hint
                        .as_ref()
                        .is_none_or(|h| d["hint"].as_str().unwrap_or("").contains(h.as_str()))
            });
            assert!(
                found,
                "{name}: expected {}:{} {:?} {:?} {:?}, got {errors:#?}",
                e.line, e.column, e.key, e.message, e.hint
            );
            // Humans get the same as file:line:column on stderr.
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("{name}:{}:{}", e.line, e.column)),
                "{name}: stderr lacks the location:\n{stderr}"
            );
        }
    }

    #[test]
    fn secrets_are_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("mlx.yaml");
        std::fs::write(
            &cfg,
            "data:\n  sources:\n    - name: db\n      uri: postgres://mlx:${DB_PASSWORD}@127.0.0.1/x\n      query: SELECT 1\n    - name: file\n      uri: mysql://root:literal-pw@h/db\n      query: SELECT 2\n  merge: { on: [id] }\n  target: ${API_TOKEN}\ntraining:\n  epochs: ${API_TOKEN}\n",
        )
        .unwrap();
        let run = |args: &[&str]| {
            let out = mlx()
                .args(args)
                .arg("-c")
                .arg(&cfg)
                .env("DB_PASSWORD", "hunter2-db")
                .env("API_TOKEN", "tok-123456")
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.code(), all)
        };
        let (code, text) = run(&["config", "check"]);
        assert_eq!(code, Some(2));
        assert!(
            text.contains("`training.epochs`: expected a whole number, found `***`"),
            "{text}"
        );
        for secret in ["hunter2-db", "tok-123456", "literal-pw"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        std::fs::write(
            &cfg,
            std::fs::read_to_string(&cfg)
                .unwrap()
                .replace("  epochs: ${API_TOKEN}\n", "  epochs: 3\n"),
        )
        .unwrap();
        let (code, text) = run(&["config", "show"]);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.contains("postgres://mlx:***@127.0.0.1/x"), "{text}");
        assert!(text.contains("mysql://root:***@h/db"), "{text}");
        for secret in ["hunter2-db", "tok-123456", "literal-pw"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn interpolation_types_values_after_substitution() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("mlx.yaml");
        std::fs::write(&cfg, "training:\n  epochs: ${MLX_T_EPOCHS:-7}\n  seed: ${MLX_T_SEED}\nregistry:\n  uri: ${MLX_T_REG:-s3://models}/prod\n").unwrap();
        let out = mlx()
            .args(["config", "show", "--json", "-c"])
            .arg(&cfg)
            .env("MLX_T_SEED", "99")
            .env_remove("MLX_T_EPOCHS")
            .env_remove("MLX_T_REG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["training"]["epochs"], 7);
        assert_eq!(v["training"]["seed"], 99);
        assert_eq!(v["registry"]["uri"], "s3://models/prod");
    }

    #[test]
    fn a_missing_config_is_a_usage_error_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        mlx()
            .current_dir(dir.path())
            .args(["config", "check"])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("mlx.yaml: cannot read the config")
                    .and(predicate::str::contains("mlx init")),
            );
    }

    #[test]
    fn committed_schemas_are_current() {
        let out = mlx().args(["config", "schema"]).output().unwrap();
        assert!(out.status.success());
        let schema = String::from_utf8(out.stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(&schema).unwrap();
        assert_eq!(v["title"], "mlx.yaml");
        assert!(v["properties"]["approval_gate"].is_object());
        assert_committed(&root().join("config/mlx.schema.json"), &schema);

        for name in mlx_core::config::CONTRACTS {
            let out = mlx()
                .args(["config", "schema", "--contract", name])
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}");
            let schema = String::from_utf8(out.stdout).unwrap();
            assert!(schema.contains("schema_version"), "{name}");
            assert_committed(
                &root().join(format!("config/schemas/{name}.schema.json")),
                &schema,
            );
        }
    }

    #[test]
    fn committed_config_reference_is_current() {
        let md = mlx_core::config::reference_markdown().unwrap();
        assert!(
            md.contains("| `approval_gate.regression_tolerance` | number | `0.02` |"),
            "{md}"
        );
        assert!(md.contains("| `split.strategy` |"), "{md}");
        assert_committed(&root().join("docs/config-reference.md"), &md);
    }

    #[test]
    fn committed_examples_match_the_init_templates() {
        for (name, _, _) in mlx_core::init::TEMPLATES {
            let text = mlx_core::init::render(name, &format!("example-{}", name.replace('_', "-")))
                .unwrap();
            assert_committed(&root().join(format!("config/examples/{name}.yaml")), &text);
        }
    }
}

mod init {
    use super::*;

    /// `mlx init` (and `--template regression`) pointed at data nothing shipped: every
    /// template now writes the data it reads beside the config, and runs as written.
    /// The time-series template reads its sales from PostgreSQL (run by
    /// tests/forecast.rs's `the_full_example_reads_postgres_and_csv`); here its files
    /// are written and its config checks.
    #[test]
    fn every_template_runs_as_written() {
        let version = mlx().arg("--version").output().unwrap();
        let boosters = String::from_utf8_lossy(&version.stdout).contains("xgboost, lightgbm");
        for template in [
            "classification",
            "regression",
            "deep_learning",
            "time_series",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            mlx()
                .current_dir(d)
                .args(["init", "--template", template])
                .assert()
                .success()
                .stderr(predicate::str::contains("sample data the config reads"));
            let check = mlx().current_dir(d).args(["config", "check"]).assert();
            let needs_boosters = ["classification", "regression"].contains(&template);
            if needs_boosters && !boosters {
                check.code(2); // a build without XGBoost and LightGBM says so
                continue;
            }
            check.success();
            if template == "time_series" {
                assert!(
                    d.join("data/ad_spend.csv").exists() && d.join("data/ad_sales.csv").exists()
                );
                continue;
            }
            let out = mlx().current_dir(d).args(["-q", "run"]).output().unwrap();
            assert!(
                out.status.success(),
                "{template}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(d.join(".mlx/leaderboard.json").exists(), "{template}");
        }
        // A user's data is never replaced.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/customers.csv"), "mine\n").unwrap();
        mlx().current_dir(dir.path()).arg("init").assert().success();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("data/customers.csv")).unwrap(),
            "mine\n"
        );
    }

    #[test]
    fn writes_a_valid_config_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("Churn Model");
        mlx()
            .args(["init", "--template", "time_series", "--dir"])
            .arg(&proj)
            .assert()
            .success();
        let text = std::fs::read_to_string(proj.join("mlx.yaml")).unwrap();
        assert!(text.contains("name: churn-model\n"), "{text}");
        assert!(text.contains("problem_type: time_series"));
        mlx()
            .arg("config")
            .arg("check")
            .arg(proj.join("mlx.yaml"))
            .assert()
            .success();

        mlx()
            .args(["init", "--dir"])
            .arg(&proj)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("pass --overwrite-config"));
        assert_eq!(
            std::fs::read_to_string(proj.join("mlx.yaml")).unwrap(),
            text,
            "not overwritten"
        );
        // --force is for workflow files: with or without --github it never replaces
        // the user's mlx.yaml.
        for (args, code) in [
            (&["init", "--force"][..], 2),
            (&["init", "--github", "--force"], 0),
        ] {
            mlx().args(args).arg("--dir").arg(&proj).assert().code(code);
            assert_eq!(
                std::fs::read_to_string(proj.join("mlx.yaml")).unwrap(),
                text,
                "{args:?} replaced mlx.yaml"
            );
        }
        mlx()
            .args(["init", "--overwrite-config", "--name", "x", "--dir"])
            .arg(&proj)
            .assert()
            .success()
            .stderr(predicate::str::contains("mlx.yaml.bak"));
        assert!(std::fs::read_to_string(proj.join("mlx.yaml"))
            .unwrap()
            .contains("problem_type: classification"));
        assert_eq!(
            std::fs::read_to_string(proj.join("mlx.yaml.bak")).unwrap(),
            text
        );
    }

    #[test]
    fn unknown_template_suggests_the_closest() {
        let dir = tempfile::tempdir().unwrap();
        mlx()
            .args(["init", "--template", "timeseries", "--dir"])
            .arg(dir.path())
            .assert()
            .code(2)
            .stderr(predicate::str::contains("did you mean `time_series`?"));
        assert!(!dir.path().join("mlx.yaml").exists());
    }

    #[test]
    fn lists_templates() {
        mlx().args(["init", "--list"]).assert().success().stdout(
            predicate::str::contains("time_series").and(predicate::str::contains("deep_learning")),
        );
    }
}

mod help {
    use super::*;

    #[test]
    fn every_command_has_examples() {
        for args in [
            vec!["--help"],
            vec!["run", "--help"],
            vec!["dag", "--help"],
            vec!["init", "--help"],
            vec!["config", "check", "--help"],
            vec!["config", "show", "--help"],
            vec!["config", "schema", "--help"],
            vec!["ingest", "--help"],
            vec!["version", "--help"],
            vec!["validate", "--help"],
            vec!["validate", "drift", "--help"],
        ] {
            mlx()
                .args(&args)
                .assert()
                .success()
                .stdout(predicate::str::contains("Examples:"));
        }
    }

    #[test]
    fn usage_errors_exit_2() {
        mlx().arg("frobnicate").assert().code(2);
        mlx().args(["run", "--no-such-flag"]).assert().code(2);
        mlx().assert().code(2);
    }

    #[test]
    fn run_needs_data_sources_and_dag_lists_the_stages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mlx.yaml"), "").unwrap();
        mlx()
            .current_dir(dir.path())
            .arg("run")
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no `data.sources` in the config"));
        mlx()
            .current_dir(dir.path())
            .arg("dag")
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "1. ingest: Read and merge the data sources",
            ));
    }
}

/// How mlx behaves in a shell: pipes that close early, results on stdout, errors as
/// JSON for machines, and files with the usual permissions.
mod shell {
    use super::*;

    /// `mlx --config ex/mlx.yaml ingest` from another folder failed: the config's paths
    /// were read from the current directory. They are read from the config's, and the
    /// default work directory is the `.mlx` beside it.
    #[test]
    fn paths_in_a_config_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let ex = dir.path().join("ex");
        std::fs::create_dir_all(ex.join("data")).unwrap();
        std::fs::write(ex.join("data/a.csv"), "x,y\n1,2\n3,4\n").unwrap();
        std::fs::write(
            ex.join("mlx.yaml"),
            "data: { sources: [{ name: a, uri: data/a.csv }], target: y }\n",
        )
        .unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        for (cwd, config) in [
            (dir.path(), "ex/mlx.yaml"),
            (elsewhere.as_path(), "../ex/mlx.yaml"),
        ] {
            mlx()
                .current_dir(cwd)
                .args(["--config", config, "ingest"])
                .assert()
                .success();
        }
        assert!(ex.join(".mlx/ingest.json").exists());
        assert!(!dir.path().join(".mlx").exists() && !elsewhere.join(".mlx").exists());
        // `config show` says where the files are read from.
        let out = mlx()
            .current_dir(dir.path())
            .args([
                "--config",
                "ex/mlx.yaml",
                "config",
                "show",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["data"]["sources"][0]["uri"], "ex/data/a.csv");
        // --workdir is taken as given.
        mlx()
            .current_dir(dir.path())
            .args(["--config", "ex/mlx.yaml", "--workdir", "w", "ingest"])
            .assert()
            .success();
        assert!(dir.path().join("w/ingest.json").exists());
    }

    /// `cargo run -p mlx` builds no `mlx-gate`: the umbrella's messages name its own
    /// subcommands (they used to say "run `mlx-gate` first").
    #[test]
    fn messages_name_commands_the_umbrella_has() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("mlx.yaml"),
            "data: { sources: [{ name: s, uri: a.csv }], target: y }\n\
             models: [{ name: l, type: logistic }]\n",
        )
        .unwrap();
        for (args, says) in [
            (
                &["gate", "review", "--decision", "approve", "--reviewer", "a"][..],
                "`mlx gate`",
            ),
            (&["eval"][..], "`mlx train`"),
        ] {
            let out = mlx().current_dir(d).args(args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(says) && !err.contains("mlx-"),
                "{args:?}: {err}"
            );
        }
        let out = mlx()
            .current_dir(d)
            .args(["--json", "eval"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let e = v["error"].as_str().unwrap();
        assert!(e.contains("`mlx train`") && !e.contains("mlx-"), "{e}");
    }

    /// Runs mlx with its stdout a pipe whose reader is already gone, as in
    /// `mlx config schema | head -0`: the first write fails with EPIPE.
    fn into_a_closed_pipe(args: &[&str], dir: &Path) -> std::process::Output {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = mlx_testkit::std_command("mlx");
        cmd.args(args)
            .current_dir(dir)
            .stdout(writer)
            .stderr(std::process::Stdio::piped());
        cmd.output().unwrap()
    }

    #[test]
    fn a_closed_pipe_ends_the_program_quietly() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("r.csv"), "x\n1\n2\n3\n").unwrap();
        std::fs::write(d.join("c.csv"), "x\n7\n8\n9\n").unwrap();
        for args in [
            &["config", "schema"][..],
            &["init", "--list"],
            &[
                "validate",
                "drift",
                "--reference",
                "r.csv",
                "--current",
                "c.csv",
            ],
            &[
                "validate",
                "drift",
                "--reference",
                "r.csv",
                "--current",
                "c.csv",
                "--json",
            ],
        ] {
            let out = into_a_closed_pipe(args, d);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
                "{args:?}: {stderr}"
            );
            assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        }
    }

    /// `mlx validate drift` of `r.csv` against itself, in `d`.
    fn drift_of_itself(d: &Path) -> std::process::Output {
        mlx()
            .current_dir(d)
            .args([
                "validate",
                "drift",
                "--reference",
                "r.csv",
                "--current",
                "r.csv",
            ])
            .output()
            .unwrap()
    }

    /// A table the user asked for is stdout; with stderr thrown away it is all there.
    #[test]
    fn results_go_to_stdout_and_diagnostics_to_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("r.csv"), "x\n1\n2\n3\n").unwrap();
        let out = drift_of_itself(d);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("column") && stdout.contains("drifted"),
            "{stdout}"
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A column name holding an ANSI escape reaches the terminal escaped, not raw.
    #[test]
    fn escapes_in_data_values_do_not_reach_the_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let name = "x\u{1b}[31m";
        std::fs::write(d.join("r.csv"), format!("{name}\n1\n2\n3\n")).unwrap();
        let out = drift_of_itself(d);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all = [out.stdout, out.stderr].concat();
        assert!(!all.contains(&0x1b), "{}", String::from_utf8_lossy(&all));
        assert!(String::from_utf8_lossy(&all).contains("x\\u{1b}[31m"));
    }

    /// `mlx --json run` that fails still answers in JSON on stdout.
    #[test]
    fn a_failed_json_run_prints_a_json_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mlx.yaml"), "").unwrap();
        let out = mlx()
            .current_dir(dir.path())
            .args(["--json", "run"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["exit_code"], 2);
        assert!(v["error"].as_str().unwrap().contains("data.sources"), "{v}");
    }

    #[cfg(unix)]
    #[test]
    fn files_written_for_the_user_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // What this process's umask gives a new file: the independent truth.
        std::fs::File::create(d.join("probe")).unwrap();
        let expected = mode(&d.join("probe"));
        assert_ne!(expected, 0o600, "the test needs a umask that is not 077");
        mlx()
            .args(["init", "--github", "--dir"])
            .arg(d)
            .assert()
            .success();
        let mut written = vec![d.join("mlx.yaml")];
        written.extend(
            std::fs::read_dir(d.join(".github/workflows"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
        assert!(written.len() >= 3, "{written:?}");
        for p in written {
            assert_eq!(mode(&p), expected, "{}", p.display());
        }
    }
}

/// Every stage the build registers; each has its `bins/mlx-<stage>` binary.
fn stage_names() -> Vec<&'static str> {
    mlx_cli::registry::verbs()
        .iter()
        .map(|v| v.stage().name())
        .collect()
}

/// The multi-call install (scripts/install.sh): `mlx` run through a link named
/// `mlx-<stage>` is that stage's own binary, flag for flag and message for message.
#[cfg(unix)]
#[test]
fn mlx_through_a_stage_link_is_that_stage_binary() {
    let d = tempfile::tempdir().unwrap();
    let mlx = assert_cmd::cargo::cargo_bin("mlx");
    for stage in stage_names() {
        let own = assert_cmd::cargo::cargo_bin(format!("mlx-{stage}"));
        let link = d.path().join(format!("mlx-{stage}"));
        std::os::unix::fs::symlink(&mlx, &link).unwrap();
        // --help, and a run that fails on a missing config (its message names the binary).
        for args in [vec!["--help"], vec!["--config", "absent.yaml"]] {
            let run = |bin: &Path| {
                mlx_testkit::program(bin)
                    .args(&args)
                    .current_dir(d.path())
                    .output()
                    .unwrap()
            };
            let (a, b) = (run(&link), run(&own));
            assert_eq!(a.status.code(), b.status.code(), "mlx-{stage} {args:?}");
            assert_eq!(
                String::from_utf8_lossy(&a.stdout),
                String::from_utf8_lossy(&b.stdout),
                "mlx-{stage} {args:?}"
            );
            assert_eq!(
                String::from_utf8_lossy(&a.stderr),
                String::from_utf8_lossy(&b.stderr),
                "mlx-{stage} {args:?}"
            );
        }
        if stage == "ingest" {
            let help = run_help(&link);
            assert!(help.starts_with("Read"), "{help}");
        }
    }
    // Under its own name it is the umbrella.
    let help = run_help(&mlx);
    assert!(
        help.contains("Commands:") && help.contains("ingest"),
        "{help}"
    );
}

#[cfg(unix)]
fn run_help(bin: &Path) -> String {
    let out = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commands a help text lists under `Commands:` (not `help`).
fn listed_commands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line == "Commands:" {
            inside = true;
        } else if inside && !line.starts_with("  ") {
            inside = false;
        } else if inside && !line.starts_with("   ") {
            let name = line.split_whitespace().next().unwrap_or("");
            if !name.is_empty() && name != "help" {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Every binary's `--help` and every (sub)command's, as insta snapshots in
/// `tests/snapshots/`: a changed flag, default or example shows up as a diff to review
/// (`INSTA_UPDATE=always cargo test -p mlx --test cli help` accepts it).
#[test]
fn every_help_text_is_a_snapshot() {
    let bins: Vec<String> = std::iter::once("mlx".to_string())
        .chain(stage_names().iter().map(|s| format!("mlx-{s}")))
        .collect();
    let help = |bin: &str, path: &[String]| -> String {
        let out = mlx_testkit::std_command(bin)
            .args(path)
            .arg("--help")
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert!(out.status.success(), "{bin} {path:?} --help");
        String::from_utf8(out.stdout).unwrap()
    };
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(root().join("bins/mlx/tests/snapshots"));
    settings.bind(|| {
        for bin in &bins {
            let mut todo = vec![Vec::<String>::new()];
            while let Some(path) = todo.pop() {
                let text = help(bin, &path);
                for c in listed_commands(&text) {
                    let mut p = path.clone();
                    p.push(c);
                    todo.push(p);
                }
                // `help-mlx-version` is the binary, `help-mlx__version` the umbrella's verb.
                let name = if path.is_empty() {
                    bin.to_string()
                } else {
                    format!("{bin}__{}", path.join("_"))
                };
                insta::assert_snapshot!(format!("help-{name}"), text);
            }
        }
    });
}

/// Every broken config's whole diagnostic (message, source excerpt, caret, hint) as
/// one insta snapshot, beside the `# expect:` line each file of the corpus carries.
#[test]
fn every_broken_config_message_is_a_snapshot() {
    let dir = root().join("tests/config/broken");
    let mut all = String::new();
    for f in yaml_files(&dir) {
        let out = mlx()
            .args(["config", "check", "--config"])
            .arg(&f)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", f.display());
        let name = f.file_name().unwrap().to_string_lossy();
        let text =
            String::from_utf8_lossy(&out.stderr).replace(&*dir.to_string_lossy(), "[broken]");
        all.push_str(&format!("=== {name}\n{text}\n"));
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(root().join("bins/mlx/tests/snapshots"));
    settings.bind(|| insta::assert_snapshot!("broken-configs", all));
}
