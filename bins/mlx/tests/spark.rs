//! `engine: {kind: spark}` against a real Spark cluster on loopback (a standalone
//! master, a worker and the Spark Connect server of PyPI's pyspark, started by
//! tests/services/spark.sh; tests/run.sh runs these, a plain `cargo test` skips them).
//!
//! Parity: the same data ingested and validated on the local engine and on Spark gives
//! the same checks, the same messages and the same drift statistics: bit for bit,
//! except the Wasserstein distance, a sum whose order differs (1e-12 relative).

use std::path::Path;
use std::process::{Command, Output};

use mlx_testkit::Sandbox;
use serde_json::Value;

fn remote() -> String {
    std::env::var("MLX_TEST_SPARK_REMOTE")
        .expect("MLX_TEST_SPARK_REMOTE: run under tests/run.sh (tests/services/spark.sh)")
}

fn mlx(dir: &Path) -> Command {
    let mut c = mlx_testkit::std_command("mlx");
    c.current_dir(dir).env("MLX_ACTOR", "ci");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    mlx(dir).args(args).output().expect("mlx runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A deterministic sample: `rows` rows, `shift` moving the continuous columns.
/// Columns: a float with empty cells, an integer with three values (compared as
/// categories), an integer with many values, text, a date, and a column whose name
/// holds a quote, a backtick and a semicolon.
fn sample(rows: usize, shift: f64, seed: u64) -> String {
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut s = String::from("id,x,n,k,plan,day,\"it's `odd`; --\"\n");
    for i in 0..rows {
        let (a, b, c, d) = (next(), next(), next(), next());
        let x = if i % 97 == 13 {
            String::new()
        } else {
            format!("{:.6}", (a + b + c - 1.5) * 10.0 + shift)
        };
        let n = (d * 3.0) as u32;
        let k = ((a * 500.0) as i64) + (shift * 20.0) as i64;
        let plan = ["basic", "plus", "pro"][((b * 2.2) as usize).min(2)];
        let day = format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28);
        let odd = format!("{:.3}", c * 2.0 + shift / 10.0);
        s.push_str(&format!("{i},{x},{n},{k},{plan},{day},{odd}\n"));
    }
    s
}

fn config(engine: &str, source: &str, storage: &Path, bins: &str) -> String {
    let engine = match engine {
        "spark" => format!(
            "engine: {{ kind: spark, remote: \"{}\", storage: \"{}\" }}\n",
            remote(),
            storage.display()
        ),
        _ => String::new(),
    };
    format!(
        "project: {{ name: parity }}
{engine}data:
  sources: [{{ name: sample, uri: {source} }}]
  target: n
validation:
  min_rows: 100
  max_missing_fraction: 0.5
  columns:
    x: {{ dtype: float, min: -12, max: 12, max_missing_fraction: 0.05 }}
    plan: {{ allowed: [basic, plus], pattern: \"[a-z]+\" }}
    id: {{ unique: true, nullable: false }}
    k: {{ dtype: int }}
  outliers: {{ method: zscore, threshold: 2.5, max_fraction: 0.5 }}
  drift: {{ method: auto, psi_bins: {bins} }}
"
    )
}

/// The validation report of `current` against `reference` frozen, on one engine, with
/// quantile bins and then with Sturges bins.
fn validate_both_bins(engine: &str) -> (Value, Value) {
    let s = Sandbox::new();
    s.write("reference.csv", &sample(1500, 0.0, 7));
    s.write("current.csv", &sample(1200, 0.8, 11));
    let storage = s.path().join("lake");
    let dir = s.path();
    // The cluster reads the files, so their paths are absolute.
    let at = |f: &str| s.path().join(f).display().to_string();
    s.write(
        "mlx.yaml",
        &config(engine, &at("reference.csv"), &storage, "quantile"),
    );
    ok(run(dir, &["ingest", "-q"]));
    // The freeze runs the checks too, and some fail by design (exit 1).
    let out = run(dir, &["validate", "--freeze", "-q"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join(".mlx/data/reference/reference.json").exists());
    s.write(
        "mlx.yaml",
        &config(engine, &at("current.csv"), &storage, "quantile"),
    );
    ok(run(dir, &["ingest", "-q"]));
    let details = |out: Output| -> Value {
        // Failed checks exit 1; the record is printed either way.
        let record: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        record["details"].clone()
    };
    let quantile = details(run(dir, &["validate", "--json"]));
    s.write(
        "mlx.yaml",
        &config(engine, &at("current.csv"), &storage, "sturges"),
    );
    let sturges = details(run(dir, &["validate", "--json"]));
    if engine == "spark" {
        // The reference's values stay on the cluster: the local engine refuses it and
        // says how to go on.
        s.write(
            "mlx.yaml",
            &config("local", &at("current.csv"), &storage, "quantile"),
        );
        ok(run(dir, &["ingest", "-q"]));
        let out = run(dir, &["validate"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("frozen reference was made on the Spark cluster"),
            "{err}"
        );
    }
    (quantile, sturges)
}

/// Equal, numbers to the bit, except under a `wasserstein` key (and a column's
/// deciding `value` when Wasserstein decides), 1e-12 relative.
fn same(local: &Value, spark: &Value, path: &str, loose: bool) {
    match (local, spark) {
        (Value::Object(a), Value::Object(b)) => {
            let keys_a: Vec<&String> = a.keys().collect();
            let keys_b: Vec<&String> = b.keys().collect();
            assert_eq!(keys_a, keys_b, "{path}");
            // A drift column decided by Wasserstein, or its check.
            let wasserstein = a.get("method").and_then(Value::as_str) == Some("wasserstein")
                || a.get("message")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.contains("`: wasserstein "));
            for (k, v) in a {
                let loose = loose || k == "wasserstein" || (wasserstein && k == "value");
                same(v, &b[k], &format!("{path}.{k}"), loose);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(x, y, &format!("{path}[{i}]"), loose);
            }
        }
        (Value::Number(x), Value::Number(y)) if loose => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "{path}: {x} vs {y}"
            );
        }
        (a, b) => assert_eq!(a, b, "{path}"),
    }
}

/// A project on the example customers, trained on this machine (`mlx run --to train`):
/// `target`, the transforms and one candidate of `model` (a YAML flow mapping's
/// inside). Returns the sandbox and its bundle.
fn trained(target: &str, problem: &str, transforms: &str, model: &str) -> (Sandbox, String) {
    let s = Sandbox::churn(&format!(
        "project: {{ name: scoring }}
data:
  sources: [{{ name: customers, uri: customers.csv }}]
  target: {target}
  entity_columns: [customer_id]
features:
  transforms: [{transforms}]
split: {{ strategy: random, train: 0.7, validation: 0.15, test: 0.15 }}
pipeline: {{ problem_type: {problem} }}
models:
  - {{ name: candidate, {model} }}
explain: {{ enabled: false }}
"
    ));
    ok(run(s.path(), &["run", "--to", "train", "-q"]));
    let bundle = std::fs::read_dir(s.path().join(".mlx/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("bundle");
    (s, bundle.display().to_string())
}

/// A project's config on the cluster: its source by absolute path (the cluster reads
/// it), and `engine.kind: spark` with storage in the sandbox.
fn on_spark(s: &Sandbox, config: &str) -> String {
    let csv = s.path().join("customers.csv");
    format!(
        "{}engine: {{ kind: spark, remote: \"{}\", storage: \"{}\" }}\n",
        config.replace("uri: customers.csv", &format!("uri: {}", csv.display())),
        remote(),
        s.path().join("lake").display()
    )
}

/// The rows to score: the customers, with some incomes missing (the imputer's and
/// NaN's paths) and a plan the training never saw (the unknown bucket).
fn to_score(s: &Sandbox) -> String {
    let mut out = String::new();
    for (i, line) in s.read("customers.csv").lines().enumerate() {
        let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        if i > 0 && i % 23 == 7 {
            cells[3].clear();
        }
        if i > 0 && i % 41 == 5 {
            cells[4] = "gold".into();
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    s.write("score.csv", &out).display().to_string()
}

/// A table read from Parquet (a file, or the part files of a directory that Spark
/// wrote), its rows in `customer_id` order.
fn scored_rows(path: &Path) -> Vec<serde_json::Map<String, Value>> {
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut f: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        f.sort();
        f
    } else {
        vec![path.to_path_buf()]
    };
    let mut rows = Vec::new();
    for f in files {
        let df = mlx_data::read_table(&f).unwrap();
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        for i in 0..df.height() {
            let mut r = serde_json::Map::new();
            for n in &names {
                let v = df.column(n).unwrap().get(i).unwrap();
                let v = match v {
                    mlx_data::polars::prelude::AnyValue::Null => Value::Null,
                    mlx_data::polars::prelude::AnyValue::String(t) => Value::String(t.into()),
                    mlx_data::polars::prelude::AnyValue::StringOwned(t) => {
                        Value::String(t.to_string())
                    }
                    other => serde_json::json!(other.extract::<f64>().unwrap()),
                };
                r.insert(n.clone(), v);
            }
            rows.push(r);
        }
    }
    rows.sort_by_key(|r| r["customer_id"].as_f64().unwrap() as i64);
    rows
}

/// Scores `score.csv` with the bundle locally and on the cluster; asserts the same
/// columns, rows and classes, and numbers within 1e-12 (of 1 for probabilities).
/// Returns the largest difference seen.
fn score_both(s: &Sandbox, bundle: &str, name: &str) -> f64 {
    let dir = s.path();
    let input = to_score(s);
    let local_config = s.read("mlx.yaml");
    ok(run(
        dir,
        &[
            "serve",
            "batch",
            "--bundle",
            bundle,
            "--input",
            &input,
            "--output",
            "local.parquet",
        ],
    ));
    let lake = dir.join("lake");
    s.write("mlx.yaml", &on_spark(s, &local_config));
    let output = lake.join(format!("scored-{name}"));
    let out = ok(run(
        dir,
        &[
            "serve",
            "batch",
            "--bundle",
            bundle,
            "--input",
            &input,
            "--output",
            output.to_str().unwrap(),
            "--json",
        ],
    ));
    let record: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["rows"], 2000, "{record}");
    assert_eq!(record["engine"], "spark");
    s.write("mlx.yaml", &local_config);
    let local = scored_rows(&dir.join("local.parquet"));
    let spark = scored_rows(&output);
    assert_eq!(local.len(), spark.len());
    let mut worst = 0.0f64;
    for (a, b) in local.iter().zip(&spark) {
        let keys_a: Vec<&String> = a.keys().collect();
        let keys_b: Vec<&String> = b.keys().collect();
        assert_eq!(keys_a, keys_b, "{name}");
        for (k, x) in a {
            let y = &b[k];
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) if k == "prediction" || k.starts_with("proba_") => {
                    let d = (x - y).abs() / x.abs().max(y.abs()).max(1.0);
                    worst = worst.max(d);
                    assert!(
                        d <= 1e-12,
                        "{name} `{k}` of {}: {x} vs {y}",
                        a["customer_id"]
                    );
                }
                _ => assert_eq!(x, y, "{name} `{k}` of {}", a["customer_id"]),
            }
        }
    }
    worst
}

/// Every test here needs the cluster; tests/run.sh runs them in their own step
/// (`--skip on_spark_cluster::` in the others).
mod on_spark_cluster {
    use super::*;

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn batch_scoring_on_spark_predicts_what_the_local_scorer_predicts() {
        // Without an imputer, missing incomes reach the trees (NaN's direction).
        let onehot = "{ kind: encode, strategy: onehot, columns: [plan] }";
        let binary = "{ kind: impute, strategy: mean, columns: [income] }, { kind: encode, strategy: onehot, columns: [plan] }, { kind: scale, strategy: zscore }";
        let cases = [
            ("churned", "classification", binary, "type: logistic", "logistic"),
            ("churned", "classification", onehot, "type: decision_tree, params: { max_depth: 8 }", "tree"),
            ("churned", "classification", binary, "type: random_forest, params: { n_estimators: 15, max_depth: 6 }", "forest"),
            (
                "plan",
                "classification",
                "{ kind: impute, strategy: median, columns: [income] }, { kind: encode, strategy: ordinal, columns: [churned] }, { kind: scale, strategy: robust }",
                "type: logistic",
                "multinomial",
            ),
            (
                "income",
                "regression",
                "{ kind: encode, strategy: frequency, columns: [plan] }, { kind: encode, strategy: target, columns: [churned] }, { kind: scale, strategy: minmax }",
                "type: linear",
                "linear",
            ),
            (
                "income",
                "regression",
                "{ kind: encode, strategy: onehot, columns: [plan, churned] }",
                "type: gradient_boosting, params: { n_estimators: 25, max_depth: 3 }",
                "boosted",
            ),
        ];
        #[allow(unused_mut)] // without the booster features
        let mut cases = cases.to_vec();
        // The boosters' own trees, read from their model files: XGBoost's
        // single-precision comparisons and missing-value directions, LightGBM's.
        #[cfg(feature = "xgboost")]
        cases.extend([
            (
                "churned",
                "classification",
                onehot,
                "type: xgboost, params: { n_estimators: 20, max_depth: 4 }",
                "xgboost",
            ),
            (
                "income",
                "regression",
                "{ kind: encode, strategy: onehot, columns: [plan, churned] }",
                "type: xgboost, params: { n_estimators: 20, max_depth: 4 }",
                "xgboost-regression",
            ),
        ]);
        #[cfg(feature = "lightgbm")]
        cases.extend([
            (
                "churned",
                "classification",
                onehot,
                "type: lightgbm, params: { n_estimators: 20, num_leaves: 15 }",
                "lightgbm",
            ),
            (
                "plan",
                "classification",
                "{ kind: encode, strategy: onehot, columns: [churned] }",
                "type: lightgbm, params: { n_estimators: 10, num_leaves: 7 }",
                "lightgbm-multiclass",
            ),
        ]);
        for (target, problem, transforms, model, name) in cases {
            let (s, bundle) = trained(target, problem, transforms, model);
            let worst = score_both(&s, &bundle, name);
            eprintln!("{name}: largest difference {worst:e}");
        }
    }

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn batch_scoring_on_spark_refuses_what_it_cannot_do_and_overwrites_nothing() {
        let (s, bundle) = trained(
            "churned",
            "classification",
            "{ kind: encode, strategy: onehot, columns: [plan] }",
            "type: logistic",
        );
        let dir = s.path();
        let input = to_score(&s);
        let lake = dir.join("lake");
        let local_config = s.read("mlx.yaml");
        s.write("mlx.yaml", &on_spark(&s, &local_config));
        let output = lake.join("scored");
        let out = output.to_str().unwrap();
        let never = lake.join("never");
        let never = never.to_str().unwrap();
        ok(run(
            dir,
            &[
                "serve", "batch", "--bundle", &bundle, "--input", &input, "--output", out,
            ],
        ));
        let parts = |p: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let before = parts(&output);
        // A column the model reads, missing from the input; a number read as text.
        let without = s.write(
            "no-income.csv",
            &s.read("score.csv").replace("income", "salary"),
        );
        let texty = s.write(
            "texty.csv",
            &s.read("score.csv")
                .replacen("\n1,46,60,", "\n1,46,sixty,", 1),
        );
        let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
            (
                vec!["--input", &input, "--output", out],
                vec!["PATH_ALREADY_EXISTS", "stays as it was"],
            ),
            (
                vec!["--table", "no_such_schema.customers", "--output", never],
                vec![
                    "table `no_such_schema.customers`",
                    "TABLE_OR_VIEW_NOT_FOUND",
                ],
            ),
            (
                vec!["--input", "score.csv", "--output", never],
                vec!["--input `score.csv` is relative"],
            ),
            (
                vec!["--input", &input, "--output", "scored"],
                vec!["--output `scored` is relative"],
            ),
            (
                vec!["--input", &input, "--output", never, "--log"],
                vec!["--log is not available with `engine.kind: spark`"],
            ),
            (
                vec!["--input", without.to_str().unwrap(), "--output", never],
                vec!["has no column `income`, which the model reads; its columns: customer_id, age, tenure_months, salary"],
            ),
            (
                vec!["--input", texty.to_str().unwrap(), "--output", never],
                vec![
                    "`tenure_months` of",
                    "is string on the cluster, but the model reads it as a number",
                ],
            ),
        ];
        for (args, needles) in cases {
            let mut all = vec!["serve", "batch", "--bundle", &bundle];
            all.extend(&args);
            let got = run(dir, &all);
            let err = String::from_utf8_lossy(&got.stderr);
            assert_eq!(got.status.code(), Some(2), "{args:?}: {err}");
            for n in needles {
                assert!(err.contains(n), "{args:?}: `{n}` not in {err}");
            }
        }
        assert_eq!(parts(&output), before, "the first output is untouched");
        assert!(
            !Path::new(never).exists(),
            "nothing written where a refusal was"
        );
        // A model that is not an expression.
        let (k, knn) = trained(
            "churned",
            "classification",
            "{ kind: encode, strategy: onehot, columns: [plan] }, { kind: scale, strategy: zscore }",
            "type: knn",
        );
        let config = k.read("mlx.yaml");
        k.write("mlx.yaml", &on_spark(&k, &config));
        let input = to_score(&k);
        let got = run(
            k.path(),
            &[
                "serve", "batch", "--bundle", &knn, "--input", &input, "--output", never,
            ],
        );
        let err = String::from_utf8_lossy(&got.stderr);
        assert_eq!(got.status.code(), Some(2), "{err}");
        assert!(
            err.contains("a knn model keeps its training rows, so it is not compiled to Spark SQL"),
            "{err}"
        );
    }

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn validation_on_spark_gives_the_local_engine_s_checks_and_drift_statistics() {
        let (local_q, local_s) = validate_both_bins("local");
        let (spark_q, spark_s) = validate_both_bins("spark");
        // The data is built to exercise every path: failed checks with examples, and
        // each way of deciding drift.
        let checks = local_q["checks"].as_array().unwrap();
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c["status"] == "failed")
            .map(|c| c["kind"].as_str().unwrap())
            .collect();
        assert!(failed.contains(&"allowed_values"), "{failed:?}");
        assert!(failed.contains(&"range"), "{failed:?}");
        let methods: Vec<&str> = local_q["drift"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["method"].as_str().unwrap())
            .collect();
        assert_eq!(
            methods,
            ["wasserstein", "wasserstein", "js", "wasserstein", "js", "wasserstein"],
            "id, x, n (three values: as categories), k, plan, the odd name (1500 reference rows: distances, not tests)"
        );
        let x = &local_q["drift"]["columns"][1];
        assert_eq!(x["column"], "x");
        assert!(x["drifted"].as_bool().unwrap(), "x moved by 0.8: {x}");
        same(&local_q, &spark_q, "quantile", false);
        same(&local_s, &spark_s, "sturges", false);
    }

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn an_ingest_on_spark_records_where_the_data_is_and_a_fingerprint_of_its_content() {
        let s = Sandbox::new();
        let csv = s.write("sample.csv", &sample(400, 0.0, 3));
        let storage = s.path().join("lake");
        s.write(
            "mlx.yaml",
            &config("spark", &csv.display().to_string(), &storage, "quantile"),
        );
        let dir = s.path();
        let first: Value = serde_json::from_str(&ok(run(dir, &["ingest", "--json"]))).unwrap();
        let d = &first["details"]["cluster"];
        assert_eq!(first["details"]["rows"], 400);
        assert_eq!(d["rows"], 400);
        let location = d["location"].as_str().unwrap();
        assert!(
            location.starts_with(&format!("{}/datasets/", storage.display())),
            "{location}"
        );
        assert!(Path::new(location).join("_SUCCESS").exists());
        let names: Vec<&str> = d["schema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["id", "x", "n", "k", "plan", "day", "it's `odd`; --"]
        );
        let types: Vec<&str> = d["schema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["dtype"].as_str().unwrap())
            .collect();
        assert_eq!(types[1], "double");
        assert_eq!(types[5], "date");
        assert!(d["spark_ui"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"));
        // The pointer file the later stages read is the record's dataset.
        let pointer: Value = serde_json::from_str(&s.read(".mlx/data/cluster.json")).unwrap();
        assert_eq!(&pointer, d);
        // The same rows again: a new directory, the same fingerprint.
        let again: Value = serde_json::from_str(&ok(run(dir, &["ingest", "--json"]))).unwrap();
        let d2 = &again["details"]["cluster"];
        assert_ne!(d2["location"], d["location"]);
        assert_eq!(d2["fingerprint"], d["fingerprint"]);
        // One value changed: another fingerprint.
        let mut text = sample(400, 0.0, 3);
        text = text.replacen("\n0,", "\n1000,", 1);
        s.write("sample.csv", &text);
        let changed: Value = serde_json::from_str(&ok(run(dir, &["ingest", "--json"]))).unwrap();
        assert_ne!(
            changed["details"]["cluster"]["fingerprint"],
            d["fingerprint"]
        );
        // Versioning a dataset on the cluster records its pointer; nothing is copied.
        let v: Value = serde_json::from_str(&ok(run(dir, &["version", "--json"]))).unwrap();
        assert_eq!(
            v["details"]["fingerprint"],
            changed["details"]["cluster"]["fingerprint"]
        );
        assert!(!dir.join(".mlx/cache").exists());
        // A stage that does not run on Spark yet says so, and what to do.
        let out = run(dir, &["features"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("does not run on Spark yet"), "{err}");
    }

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn what_the_cluster_refuses_is_a_located_error_and_the_last_dataset_stays() {
        let s = Sandbox::new();
        let csv = s.write("sample.csv", &sample(200, 0.0, 5));
        let storage = s.path().join("lake");
        let dir = s.path();
        s.write(
            "mlx.yaml",
            &config("spark", &csv.display().to_string(), &storage, "quantile"),
        );
        ok(run(dir, &["ingest", "-q"]));
        let before = s.read(".mlx/data/cluster.json");
        let with_source = |source: &str| {
            format!(
                "project: {{ name: bad }}\nengine: {{ kind: spark, remote: \"{}\", storage: \"{}\" }}\ndata:\n  sources: [{source}]\n",
                remote(),
                storage.display()
            )
        };
        let cases = [
            (
                "{ name: sales, table: no_such_schema.no_such_table }",
                2,
                vec!["source `sales`", "TABLE_OR_VIEW_NOT_FOUND", "catalog"],
            ),
            (
                "{ name: sales, query: \"SELECT nope FROM range(3)\" }",
                2,
                vec!["source `sales`", "UNRESOLVED_COLUMN", "nope"],
            ),
            (
                "{ name: sales, query: \"SELEC 1\" }",
                2,
                vec!["source `sales`", "PARSE_SYNTAX_ERROR"],
            ),
            (
                "{ name: sales, uri: sample.csv, dtypes: { missing_column: int } }",
                2,
                vec!["`dtypes` names column `missing_column`", "it has: id, x"],
            ),
            (
                "{ name: sales, uri: sample.csv, dtypes: { plan: int } }",
                2,
                vec![
                    "source `sales`",
                    "CAST_INVALID_INPUT",
                    "fix the data or `dtypes`",
                ],
            ),
            (
                "{ name: sales, uri: /no/such/file.csv }",
                2,
                vec!["source `sales`", "PATH_NOT_FOUND", "cluster's storage"],
            ),
            (
                "{ name: sales, uri: relative/file.csv }",
                2,
                vec!["data.sources[0].uri", "absolute"],
            ),
        ];
        for (source, code, needles) in cases {
            // The cluster reads relative paths from its own working directory.
            let source = source.replace(
                "uri: sample.csv",
                &format!("uri: {}", s.path().join("sample.csv").display()),
            );
            s.write("mlx.yaml", &with_source(&source));
            let out = run(dir, &["ingest"]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{source}: {err}");
            for n in needles {
                assert!(err.contains(n), "{source}: `{n}` not in {err}");
            }
            assert!(!err.contains("\tat org.apache"), "no JVM stack: {err}");
            assert_eq!(s.read(".mlx/data/cluster.json"), before, "{source}");
        }
        // A server that is not there: a clear error at once, nothing changed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        s.write(
            "mlx.yaml",
            &format!(
                "project: {{ name: bad }}\nengine: {{ kind: spark, remote: \"sc://127.0.0.1:{port}/;token=s3cr3t-t0ken\", storage: \"{}\" }}\ndata:\n  sources: [{{ name: sales, table: t }}]\n",
                storage.display()
            ),
        );
        let started = std::time::Instant::now();
        let out = run(dir, &["ingest"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains("cannot be reached"), "{err}");
        assert!(!err.contains("s3cr3t-t0ken"), "the token is masked: {err}");
        assert!(
            started.elapsed().as_secs() < 30,
            "at once, not after the client's retries"
        );
        assert_eq!(s.read(".mlx/data/cluster.json"), before);
    }

    #[test]
    #[ignore = "needs the Spark cluster of tests/services/spark.sh"]
    fn a_worker_killed_mid_ingest_costs_retries_not_the_result() {
        let pids = std::env::var("MLX_TEST_SPARK_WORKER_PIDS").unwrap_or_default();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        assert!(
            pids.len() >= 2,
            "tests/run.sh starts two workers (MLX_SPARK_WORKERS=2)"
        );
        let s = Sandbox::new();
        // Eight files: eight tasks, spread over both workers' executors.
        for f in 0..8 {
            s.write(
                &format!("parts/part-{f}.csv"),
                &sample(40_000, 0.0, 100 + f),
            );
        }
        let storage = s.path().join("lake");
        let parts = s.path().join("parts");
        let cfg = format!(
            "project: {{ name: faults }}\nengine: {{ kind: spark, remote: \"{}\", storage: \"{}\" }}\ndata:\n  sources: [{{ name: parts, uri: \"{}\", format: csv }}]\n",
            remote(),
            storage.display(),
            parts.display()
        );
        s.write("mlx.yaml", &cfg);
        let dir = s.path();
        let clean: Value = serde_json::from_str(&ok(run(dir, &["ingest", "--json"]))).unwrap();
        let clean = &clean["details"]["cluster"];
        assert_eq!(clean["rows"], 320_000);
        // Again, and kill a worker and its executor as soon as tasks write.
        let datasets = storage.join("datasets");
        let before: Vec<_> = std::fs::read_dir(&datasets)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        let child = mlx(dir)
            .args(["ingest", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let mut killed = false;
        while started.elapsed().as_secs() < 120 {
            let writing = std::fs::read_dir(&datasets)
                .unwrap()
                .flatten()
                .any(|e| !before.contains(&e.path()) && e.path().join("_temporary").exists());
            if writing {
                let worker = pids[0];
                let children = Command::new("pgrep").args(["-P", worker]).output().unwrap();
                for pid in String::from_utf8_lossy(&children.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
                let _ = Command::new("kill").args(["-9", worker]).status();
                killed = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(killed, "the job never started writing");
        let out = child.wait_with_output().unwrap();
        let faulted: Value = serde_json::from_str(&ok(out)).unwrap();
        let faulted = &faulted["details"]["cluster"];
        assert_eq!(
            faulted["fingerprint"], clean["fingerprint"],
            "the same rows, through Spark's retries"
        );
        assert_eq!(faulted["rows"], 320_000);
        let location = Path::new(faulted["location"].as_str().unwrap());
        assert!(location.join("_SUCCESS").exists());
        assert!(
            !location.join("_temporary").exists(),
            "no partial output left visible"
        );
    }
}
