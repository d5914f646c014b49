//! The MLflow mirror (`tracking.mlflow`, docs/mlflow.md) against a real `mlflow server`
//! (PyPI's mlflow, SQLite backend, artifacts in a folder, on loopback), read back with
//! MLflow's own Python client (tests/clients/mlflow_mirror.py): after the ad-sales and
//! classification examples run, every run, metric (with its step history), param, tag,
//! dataset input and artifact, and every registry version, alias and audit entry, is
//! what mlx recorded. A server stopped in the middle of a pipeline loses nothing and,
//! once `mlx tracking sync` caught up, nothing is there twice.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlx_testkit::{root, Sandbox};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A real `mlflow server` on loopback, its data in `dir`.
struct MlflowServer {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    url: String,
    mlflow: PathBuf,
}

impl MlflowServer {
    fn start(python: &str, dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Self {
            child: None,
            dir: dir.to_owned(),
            port,
            url: format!("http://127.0.0.1:{port}"),
            mlflow: Path::new(python).with_file_name("mlflow"),
        };
        s.restart();
        s
    }

    /// Starts it (again, on the same database and port).
    fn restart(&mut self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(self.dir.join("server.log")).unwrap();
        let child = Command::new(&self.mlflow)
            .args(["server", "--host", "127.0.0.1", "--workers", "1"])
            .args(["--port", &self.port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!(
                "sqlite:///{}",
                self.dir.join("mlflow.db").display()
            ))
            .arg("--artifacts-destination")
            .arg(self.dir.join("artifacts"))
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group: the server runs its workers as children. MLflow 3's
            // job runner (huey consumers, for GenAI jobs) is not needed, and its
            // consumers outlive a killed server.
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .process_group(0)
            .spawn()
            .expect("mlflow server");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(120);
        while !self.healthy() {
            assert!(
                Instant::now() < until,
                "mlflow server did not start: {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn healthy(&self) -> bool {
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
        if c.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200")
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.wait();
        }
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < until, "mlflow server did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .status();
        }
    }
}

fn bin(dir: &Path, name: &str) -> assert_cmd::Command {
    let mut c = mlx_testkit::command_in(dir, name);
    c.env("MLX_ACTOR", "ci")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME");
    c
}

fn json_of(c: &mut assert_cmd::Command) -> Value {
    let out = c.arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An example of config/examples with its data, mirrored to `url`.
fn example(config: &str, data: &[&str], url: &str) -> Sandbox {
    let s = Sandbox::new();
    let examples = root().join("config/examples");
    for f in data {
        s.copy(&examples.join("data").join(f), &format!("data/{f}"));
    }
    let cfg = std::fs::read_to_string(examples.join(config)).unwrap();
    s.write(
        "mlx.yaml",
        &format!("{cfg}\ntracking:\n  mlflow: {{ uri: \"{url}\" }}\n"),
    );
    s
}

/// What MLflow's Python client reads back.
fn read_back(python: &str, url: &str, experiment: &str, model: &str, scratch: &Path) -> Value {
    let script = root().join("tests/clients/mlflow_mirror.py");
    let dest = scratch.join(format!("download-{}", rand_suffix()));
    let out = Command::new(python)
        .arg(script)
        .args([url, experiment, model])
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rand_suffix() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A parameter as MLflow keeps it: the text itself, or compact JSON.
fn param_text(v: &Value) -> String {
    v.as_str()
        .map_or_else(|| serde_json::to_string(v).unwrap(), str::to_owned)
}

/// Every run of the tracking store is one MLflow run holding exactly its records.
fn runs_are_as_recorded(s: &Sandbox, experiment: &str, got: &Value) {
    let d = s.path();
    let list = json_of(bin(d, "mlx").args(["runs", "list", "--limit", "0"]));
    let mine = list.as_array().unwrap();
    let remote = got["runs"].as_array().unwrap();
    assert_eq!(remote.len(), mine.len(), "one MLflow run per mlx run");
    for r in mine {
        let id = r["id"].as_str().unwrap();
        let show = json_of(bin(d, "mlx").args(["runs", "show", id]));
        let hits: Vec<&Value> = remote
            .iter()
            .filter(|x| x["tags"]["mlx.run_id"] == id)
            .collect();
        assert_eq!(hits.len(), 1, "run {id} on the server once");
        let m = hits[0];
        assert_eq!(m["name"], show["name"]);
        assert_eq!(m["status"], "FINISHED");
        assert_eq!(show["mlflow"]["state"], "mirrored", "{}", show["mlflow"]);
        assert_eq!(show["mlflow"]["run"], m["id"]);
        for (k, v) in show["metrics"].as_object().unwrap() {
            assert_eq!(m["metrics"][k].as_f64(), v.as_f64(), "run {id} metric {k}");
            // Each entry's value logged once, however often it was mirrored.
            let points = m["histories"][k].as_array().unwrap();
            let distinct: std::collections::BTreeSet<String> =
                points.iter().map(Value::to_string).collect();
            assert_eq!(
                distinct.len(),
                points.len(),
                "run {id} metric {k}: {points:?}"
            );
        }
        for (k, v) in show["params"].as_object().unwrap() {
            assert_eq!(m["params"][k], param_text(v).as_str(), "run {id} param {k}");
        }
        for (k, v) in show["tags"].as_object().unwrap() {
            assert_eq!(&m["tags"][k], v, "run {id} tag {k}");
        }
        assert_eq!(m["tags"]["mlx.entry.".to_owned() + id], "train");
        let dataset = show["tags"]["dataset_sha256"].as_str().unwrap();
        assert_eq!(m["inputs"][0]["digest"], &dataset[..16]);
        // Artifacts: byte for byte what the store holds, under <kind>/<name>.
        // By path: a later entry's file (a gate run again) replaces an earlier one's.
        let mut artifacts: std::collections::BTreeMap<String, String> = show["artifacts"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (format!("train/{k}"), v.as_str().unwrap().to_owned()))
            .collect();
        for rel in show["related"].as_array().unwrap() {
            let kind = rel["kind"].as_str().unwrap();
            assert_eq!(
                m["tags"][format!("mlx.entry.{}", rel["id"].as_str().unwrap())],
                kind
            );
            for (k, v) in rel["artifacts"].as_object().unwrap() {
                artifacts.insert(format!("{kind}/{k}"), v.as_str().unwrap().to_owned());
            }
        }
        // (A registered run also holds its bundle: the registry's check reads it.)
        assert_eq!(
            m["artifacts"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !k.starts_with("bundle/"))
                .count(),
            artifacts.len(),
            "run {id}: {}",
            m["artifacts"]
        );
        for (path, sha) in &artifacts {
            assert_eq!(
                m["artifacts"][path],
                sha.as_str(),
                "run {id} artifact {path}"
            );
        }
        // The training curve, step by step, from the store's history.json.
        if let Some(sha) = show["artifacts"]["history.json"].as_str() {
            let file = d.join(format!(".mlx/tracking/{experiment}/objects/{sha}"));
            let points: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
            let curve: Vec<(i64, f64)> = m["histories"]["history.train_loss"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
                .collect();
            let want: Vec<(i64, f64)> = points
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["iteration"].as_i64().unwrap(),
                        p["train_loss"].as_f64().unwrap(),
                    )
                })
                .collect();
            assert!(!want.is_empty());
            assert_eq!(curve, want, "run {id}: the training curve");
        }
    }
}

/// Every registry version is one MLflow model version, its bundle the registry's, its
/// stage and aliases MLflow aliases, its audit trail tags.
fn registry_is_as_recorded(s: &Sandbox, model: &str, got: &Value) {
    let d = s.path();
    let state = json_of(bin(d, "mlx-promote").args(["list", "-q"]));
    let history = json_of(bin(d, "mlx-promote").args(["history", "-q"]));
    let m = &got["model"];
    let versions = m["versions"].as_array().unwrap();
    let states = state["versions"].as_object().unwrap();
    assert_eq!(versions.len(), states.len());
    let number_of = |n: &str| -> String {
        let hits: Vec<&Value> = versions
            .iter()
            .filter(|v| v["tags"]["mlx.version"] == n)
            .collect();
        assert_eq!(hits.len(), 1, "version {n} once");
        hits[0]["version"].as_str().unwrap().to_owned()
    };
    for (n, v) in states {
        let mv = versions
            .iter()
            .find(|x| x["version"] == number_of(n).as_str())
            .unwrap();
        assert_eq!(mv["tags"]["mlx.stage"], v["stage"]);
        assert_eq!(mv["tags"]["mlx.bundle_sha256"], v["bundle_sha256"]);
        let run = got["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == mv["run_id"])
            .expect("the version's run");
        assert_eq!(run["tags"]["mlx.workdir_run"], v["run_id"]);
        let tar = std::fs::read(d.join(format!(".mlx/registry/{model}/versions/{n}/bundle.tar")))
            .unwrap();
        assert_eq!(mv["bundle_sha256"], sha256_hex(&tar).as_str());
        let audit = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| {
                h["transition"]["version"].as_u64().map(|x| x.to_string()) == Some(n.clone())
            })
            .count();
        let tags = mv["tags"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("mlx.audit."))
            .count();
        assert!(audit > 0);
        assert_eq!(tags, audit, "version {n}: one tag per audit entry");
    }
    let mut want = serde_json::Map::new();
    for (stage, alias) in [("staging", "staging"), ("production", "production")] {
        if let Some((n, _)) = states.iter().rev().find(|(_, v)| v["stage"] == stage) {
            want.insert(alias.into(), number_of(n).into());
        }
    }
    for (a, n) in state["aliases"].as_object().unwrap() {
        want.insert(a.clone(), number_of(&n.to_string()).into());
    }
    assert_eq!(m["aliases"], Value::Object(want.clone()));
    assert_eq!(m["by_alias"], Value::Object(want));
}

#[test]
#[ignore = "needs mlflow: tests/services/clients.sh (tests/run.sh sources it)"]
fn runs_and_the_registry_are_mirrored_to_a_real_mlflow_server() {
    let python = std::env::var("MLX_TEST_CLIENTS_PYTHON")
        .expect("MLX_TEST_CLIENTS_PYTHON: source tests/services/clients.sh");
    let data = tempfile::tempdir().unwrap();
    let mut server = MlflowServer::start(&python, data.path());

    // The forecasting example: five candidates, an LSTM's training curve, backtest
    // folds, plots, SHAP; its candidate registered and waiting for a review.
    let ad = example(
        "ad-sales.yaml",
        &["ad_sales.csv", "ad_sales_future.csv", "ad_spend.csv"],
        &server.url,
    );
    bin(ad.path(), "mlx").arg("run").assert().success();
    let got = read_back(&python, &server.url, "ad-sales", "ad-sales", data.path());
    runs_are_as_recorded(&ad, "ad-sales", &got);
    registry_is_as_recorded(&ad, "ad-sales", &got);

    // The classification example: approved, staged, promoted, aliased.
    let cl = example("classification.yaml", &["customers.csv"], &server.url);
    let d = cl.path();
    let name = "example-classification";
    bin(d, "mlx").arg("run").assert().success();
    bin(d, "mlx-gate")
        .args(["review", "--decision", "approve", "--reviewer", "alice"])
        .assert()
        .success();
    bin(d, "mlx").arg("run").assert().success();
    bin(d, "mlx-promote")
        .args(["promote", "--version", "1", "--to", "production"])
        .assert()
        .success();
    bin(d, "mlx-promote")
        .args(["alias", "set", "champion", "--version", "production"])
        .assert()
        .success();
    let got = read_back(&python, &server.url, name, name, data.path());
    runs_are_as_recorded(&cl, name, &got);
    registry_is_as_recorded(&cl, name, &got);
    assert_eq!(
        got["model"]["aliases"]["champion"],
        got["model"]["aliases"]["production"]
    );
    // The production version exports with its provenance.
    bin(d, "mlx")
        .args(["export", "model", "--format", "mlflow", "-o", "prod"])
        .assert()
        .success();
    let mlmodel = cl.read("prod/MLmodel");
    for line in [
        "registry_version: '1'",
        "registered_model: example-classification",
    ] {
        assert!(mlmodel.contains(line), "{mlmodel}");
    }

    // A second training; the server goes down after it, in the middle of the pipeline.
    cl.write("mlx.yaml", &cl.read("mlx.yaml").replace("C: 1.0", "C: 0.2"));
    bin(d, "mlx")
        .args(["run", "--to", "train"])
        .assert()
        .success();
    server.stop();
    let started = Instant::now();
    let out = bin(d, "mlx").arg("run").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the MLflow mirror") && stderr.contains("`mlx tracking sync` sends them"),
        "{stderr}"
    );
    let took = started.elapsed();
    let list = json_of(bin(d, "mlx").args(["runs", "list", "--limit", "0"]));
    let newest = list.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let show = json_of(bin(d, "mlx").args(["runs", "show", &newest]));
    assert_eq!(show["mlflow"]["state"], "queued", "{}", show["mlflow"]);
    assert!(show["mlflow"]["last_error"]
        .as_str()
        .unwrap()
        .contains("did not answer"));
    // Sync cannot reach it either, says so and exits 3.
    bin(d, "mlx")
        .args(["tracking", "sync"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("did not answer"));

    server.restart();
    let synced = json_of(bin(d, "mlx").args(["tracking", "sync"]));
    assert!(synced["entries"].as_u64().unwrap() > 0, "{synced}");
    let again = json_of(bin(d, "mlx").args(["tracking", "sync"]));
    for k in [
        "runs_created",
        "entries",
        "artifacts",
        "versions_created",
        "registry_changes",
    ] {
        assert_eq!(again[k], 0, "a second sync sends nothing: {again}");
    }
    let got = read_back(&python, &server.url, name, name, data.path());
    runs_are_as_recorded(&cl, name, &got);
    registry_is_as_recorded(&cl, name, &got);
    eprintln!("the pipeline with its server down took {took:?}");

    // Without a tracking store, the registry is still mirrored: its version gets an
    // MLflow run of its own for the bundle.
    let bare = Sandbox::churn(&format!(
        "project: {{ name: untracked }}
data:
  sources: [{{ name: customers, uri: customers.csv }}]
  target: churned
features:
  exclude: [customer_id]
pipeline: {{ problem_type: classification }}
models:
  - {{ name: logistic, type: logistic }}
evaluation: {{ metrics: [f1_score], primary_metric: f1_score }}
tracking:
  enabled: false
  mlflow: {{ uri: \"{}\" }}
",
        server.url
    ));
    bin(bare.path(), "mlx").arg("run").assert().success();
    let got = read_back(&python, &server.url, "untracked", "untracked", data.path());
    let runs = got["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["tags"]["mlx.kind"], "registered");
    registry_is_as_recorded(&bare, "untracked", &got);
}

/// `mlx export model` of every family it takes, in both formats: the MLflow model
/// loaded by MLflow's own `mlflow.pyfunc.load_model` (tests/clients/mlflow_model.py,
/// with xgboost and lightgbm installed), the ONNX model checked by `onnx.checker` and
/// run by onnxruntime (tests/clients/onnx_model.py). On every row of the features, each
/// answers what `mlx-serve batch` answers for the same bundle: the same class, and
/// probabilities and values to 1e-6 (MLflow) and 1e-5 (ONNX), relative beyond 1 (XGBoost's
/// own predict answers in float32). A binary and a three-class classification and a
/// regression; k-NN is refused in both formats, and nothing is written for it.
#[test]
#[ignore = "needs mlflow and onnxruntime: tests/services/clients.sh (tests/run.sh sources it)"]
fn exported_models_load_in_mlflow_and_onnxruntime_and_predict_as_mlx() {
    let python = std::env::var("MLX_TEST_CLIENTS_PYTHON")
        .expect("MLX_TEST_CLIENTS_PYTHON: source tests/services/clients.sh");
    let boosters: String = [
        (
            mlx_contracts::config::ModelType::Xgboost,
            "  - { name: xgb, type: xgboost, params: { n_estimators: 40, max_depth: 3 } }\n",
        ),
        (
            mlx_contracts::config::ModelType::Lightgbm,
            "  - { name: lgb, type: lightgbm, params: { n_estimators: 40, num_leaves: 8 } }\n",
        ),
    ]
    .into_iter()
    .filter(|(t, _)| mlx_core::config::missing_backend(*t).is_none())
    .map(|(_, m)| m)
    .collect();
    let project = |name: &str, target: &str, encode: &str, models: &str| {
        let (problem, metric) = if target == "income" {
            ("regression", "rmse")
        } else {
            ("classification", "accuracy")
        };
        Sandbox::churn(&format!(
            "project: {{ name: {name} }}
data:
  sources: [{{ name: customers, uri: customers.csv }}]
  target: {target}
features:
  exclude: [customer_id]
  transforms:
    - {{ kind: impute, strategy: median, columns: [age] }}
{encode}    - {{ kind: scale, strategy: zscore, columns: [age, tenure_months] }}
split: {{ strategy: random, train: 0.7, validation: 0.15, test: 0.15 }}
pipeline: {{ problem_type: {problem} }}
models:
{models}{boosters}evaluation: {{ metrics: [{metric}], primary_metric: {metric} }}
"
        ))
    };
    // The classification example (binary, derived features, its own transforms), with
    // the boosters and k-NN added.
    let cl = example(
        "classification.yaml",
        &["customers.csv"],
        "http://127.0.0.1:9",
    );
    let cfg = cl.read("mlx.yaml").replace(
        "\ntracking:\n  mlflow: { uri: \"http://127.0.0.1:9\" }\n",
        "\n",
    );
    let extra = boosters.clone() + "  - { name: knn, type: knn, params: { n_neighbors: 5 } }\n";
    let at = cfg.find("\nmodels:").expect("the example's models") + 1;
    let at = at + cfg[at..].find('\n').unwrap() + 1;
    cl.write("mlx.yaml", &format!("{}{extra}{}", &cfg[..at], &cfg[at..]));
    // Three classes, one-hot encoding.
    let plan = project(
        "plan",
        "plan",
        "    - { kind: encode, strategy: onehot, columns: [churned] }\n",
        "  - { name: logistic, type: logistic, params: { C: 1.0 } }\n  - { name: forest, type: random_forest, params: { n_estimators: 20, max_depth: 6 } }\n",
    );
    // Regression, ordinal and target encoding.
    let income = project(
        "income",
        "income",
        "    - { kind: encode, strategy: ordinal, columns: [plan] }\n    - { kind: encode, strategy: target, columns: [churned] }\n",
        "  - { name: linear, type: linear }\n  - { name: tree, type: decision_tree, params: { max_depth: 5 } }\n  - { name: gbm, type: gradient_boosting, params: { n_estimators: 30, max_depth: 3 } }\n",
    );
    let mut checked = Vec::new();
    for s in [&cl, &plan, &income] {
        checked.extend(exports_agree(&python, s));
    }
    eprintln!("exported and checked: {checked:?}");
    let mut want = vec![
        "forest", "logistic", "forest", "logistic", "linear", "tree", "gbm",
    ];
    for b in ["xgb", "lgb"] {
        if boosters.contains(&format!("name: {b},")) {
            want.extend([b, b, b]);
        }
    }
    let mut got: Vec<&str> = checked.iter().map(String::as_str).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "every family exported and checked");
}

/// Trains the project's candidates and checks both exports of each (see above);
/// returns the candidates checked.
fn exports_agree(python: &str, s: &Sandbox) -> Vec<String> {
    let d = s.path();
    bin(d, "mlx")
        .args(["run", "--to", "train"])
        .assert()
        .success();
    let train: Value = serde_json::from_str(&s.read(".mlx/train.json")).unwrap();
    let mut checked = Vec::new();
    for run in train["details"]["runs"].as_array().unwrap() {
        let name = run["name"].as_str().unwrap();
        let bundle = d.join(".mlx").join(run["bundle"].as_str().unwrap());
        let preds = d.join(format!("mlx-{name}.csv"));
        let export = |format: &str, out: &Path| {
            bin(d, "mlx")
                .args(["export", "model", "--format", format, "--bundle"])
                .arg(&bundle)
                .arg("-o")
                .arg(out)
                .output()
                .unwrap()
        };
        let (dir, file) = (
            d.join(format!("{name}-mlflow")),
            d.join(format!("{name}.onnx")),
        );
        if name == "knn" {
            for (format, out, says) in [
                ("mlflow", &dir, "which an MLflow model cannot carry"),
                (
                    "onnx",
                    &file,
                    "which ONNX's operators cannot score as mlx does",
                ),
            ] {
                let e = export(format, out);
                assert_eq!(e.status.code(), Some(2));
                let err = String::from_utf8_lossy(&e.stderr);
                assert!(err.contains(says), "{err}");
                assert!(!out.exists(), "nothing is written for a refused family");
            }
            continue;
        }
        for (format, out) in [("mlflow", &dir), ("onnx", &file)] {
            let e = export(format, out);
            assert!(
                e.status.success(),
                "{name} {format}: {}",
                String::from_utf8_lossy(&e.stderr)
            );
            // Never over a model already there.
            let again = export(format, out);
            assert_eq!(
                again.status.code(),
                Some(2),
                "{name} {format}: exported over itself"
            );
        }
        bin(d, "mlx-serve")
            .args(["batch", "--bundle"])
            .arg(&bundle)
            .arg("--input")
            .arg(d.join(".mlx/features/features.parquet"))
            .arg("--output")
            .arg(&preds)
            .assert()
            .success();
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
        let want: Vec<&str> = manifest["signature"]["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for (script, model, tolerance) in [
            ("mlflow_model.py", &dir, 1e-6),
            ("onnx_model.py", &file, 1e-5),
        ] {
            let got = run_client(python, script, model, d, &preds);
            let inputs: Vec<&str> = got["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().or_else(|| c["name"].as_str()).unwrap())
                .collect();
            assert_eq!(inputs, want, "{name} {script}: the signature's inputs");
            let library = manifest["library"]["name"].as_str().unwrap();
            if script == "mlflow_model.py" && library != "mlx" {
                assert!(
                    got["flavors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f == library),
                    "{name}: {}",
                    got["flavors"]
                );
            }
            agree(&format!("{name} {script}"), &got, tolerance);
        }
        checked.push(name.to_owned());
    }
    checked
}

/// What a client script prints for `model` over the features and mlx's predictions.
fn run_client(python: &str, script: &str, model: &Path, d: &Path, preds: &Path) -> Value {
    let out = Command::new(python)
        .arg(root().join("tests/clients").join(script))
        .arg(model)
        .arg(d.join(".mlx/features/features.parquet"))
        .arg(preds)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {}: {}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every row: the same class, values within `tolerance` (relative beyond 1).
fn agree(what: &str, got: &Value, tolerance: f64) {
    let (a, b) = (
        got["got"].as_array().unwrap(),
        got["mlx"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 100, "{what}: {} rows", a.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        for (k, v) in y.as_object().unwrap() {
            match v.as_f64() {
                Some(want) => {
                    let have = x[k].as_f64().unwrap();
                    assert!(
                        (have - want).abs() <= tolerance * want.abs().max(1.0),
                        "{what} row {i} {k}: {have} vs {want}"
                    );
                }
                None => assert_eq!(&x[k], v, "{what} row {i} {k}"),
            }
        }
    }
}
