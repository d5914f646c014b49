//! `data.sources[].delta`: Delta Lake tables written by the Python `deltalake` package
//! (tests/clients/delta_table.py), read by mlx-ingest at every version and at a time,
//! each version's rows equal to what the package reads back; the version in the
//! record; bad versions, paths and settings refused with what is wrong.

use std::path::Path;

use assert_cmd::Command;
use mlx_contracts::ingest::IngestReport;
use mlx_contracts::StageRecord;
use mlx_data::polars::prelude::*;
use mlx_testkit::command_in;
use predicates::prelude::*;
use serde_json::Value;

fn bin(d: &Path) -> Command {
    command_in(d, "mlx-ingest")
}

fn config(d: &Path, delta: &str) {
    std::fs::write(
        d.join("mlx.yaml"),
        format!("data:\n  sources:\n    - name: spend\n      delta: {delta}\n"),
    )
    .unwrap();
}

fn report(d: &Path) -> IngestReport {
    let r = StageRecord::from_json(&std::fs::read_to_string(d.join(".mlx/ingest.json")).unwrap())
        .unwrap();
    serde_json::from_value(r.details).unwrap()
}

/// The ingested rows as JSON objects sorted by date and region, with the columns
/// Python gives (a column the version does not have is absent).
fn rows(d: &Path) -> Vec<Value> {
    let df = mlx_data::read_table(&d.join(".mlx/data/raw.parquet")).unwrap();
    let df = df
        .sort(["date", "region"], SortMultipleOptions::default())
        .unwrap();
    (0..df.height())
        .map(|i| {
            let mut o = serde_json::Map::new();
            for c in df.columns() {
                let v = match c.get(i).unwrap() {
                    AnyValue::Null => Value::Null,
                    AnyValue::String(s) => Value::from(s),
                    AnyValue::StringOwned(s) => Value::from(s.as_str()),
                    AnyValue::Int64(x) => Value::from(x),
                    AnyValue::Float64(x) => Value::from(x),
                    other => panic!("unexpected value {other:?}"),
                };
                o.insert(c.name().to_string(), v);
            }
            Value::Object(o)
        })
        .collect()
}

#[test]
#[ignore = "needs the deltalake package: tests/services/clients.sh (tests/run.sh sources it)"]
fn every_version_python_wrote_reads_as_python_reads_it() {
    let python = std::env::var("MLX_TEST_CLIENTS_PYTHON")
        .expect("MLX_TEST_CLIENTS_PYTHON: source tests/services/clients.sh");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = d.join("lake/spend");
    let out = std::process::Command::new(python)
        .arg(mlx_testkit::root().join("tests/clients/delta_table.py"))
        .arg(&table)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: Value = serde_json::from_slice(&out.stdout).unwrap();
    let versions = written["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4);

    for v in versions {
        let n = v["version"].as_u64().unwrap();
        config(d, &format!("{{ uri: lake/spend, version: {n} }}"));
        bin(d).assert().success();
        let expected = v["rows"].as_array().unwrap();
        // Python leaves out nothing: a column missing from old rows is null there.
        let got: Vec<Value> = rows(d);
        assert_eq!(got.len(), expected.len(), "version {n}");
        for (g, e) in got.iter().zip(expected) {
            for (k, ev) in e.as_object().unwrap() {
                assert_eq!(&g[k], ev, "version {n}, column {k}: {g} vs {e}");
            }
            assert_eq!(
                g.as_object().unwrap().len(),
                e.as_object().unwrap().len(),
                "{g} vs {e}"
            );
        }
        let r = report(d);
        assert_eq!(r.sources[0].delta_version, Some(n));
        // Each data file, named by the version, with its SHA-256.
        let files = &r.sources[0].files;
        assert!(!files.is_empty());
        assert!(
            files
                .iter()
                .all(|f| f.path.contains(&format!("lake/spend@v{n}/region="))
                    && f.sha256.len() == 64),
            "{files:?}"
        );
    }
    // The latest version without one; the version at a time (just after version 1's
    // commit, a second before version 2's).
    config(d, "{ uri: lake/spend }");
    bin(d).assert().success();
    assert_eq!(report(d).sources[0].delta_version, Some(3));
    let t1 = versions[1]["timestamp_ms"].as_i64().unwrap() + 300;
    let at = chrono::DateTime::from_timestamp_millis(t1)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    config(d, &format!("{{ uri: lake/spend, timestamp: '{at}' }}"));
    bin(d).assert().success();
    assert_eq!(report(d).sources[0].delta_version, Some(1));
    assert_eq!(rows(d).len(), 5);

    // A version the table does not have, and a directory that is no table, fail and
    // keep the dataset.
    let before = std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap();
    config(d, "{ uri: lake/spend, version: 9 }");
    bin(d).assert().code(3).stderr(
        predicate::str::contains("source `spend`: version 9 of the Delta table").and(
            predicate::str::contains("cannot be read (its versions are 0 to 3)"),
        ),
    );
    config(d, "{ uri: lake }");
    bin(d).assert().code(3).stderr(predicate::str::contains(
        "is not a Delta table (it has no _delta_log directory)",
    ));
    assert_eq!(
        std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap(),
        before
    );
}

/// A table on object storage (moto's S3), written there by Python's `deltalake`: read
/// at each version as Python reads it, through the same conditional-write log store.
#[test]
#[ignore = "needs an S3-compatible server and the deltalake package (tests/run.sh)"]
fn a_table_on_s3_reads_as_python_reads_it() {
    let python = std::env::var("MLX_TEST_CLIENTS_PYTHON")
        .expect("MLX_TEST_CLIENTS_PYTHON: source tests/services/clients.sh");
    let endpoint = std::env::var("MLX_TEST_S3_ENDPOINT").expect("MLX_TEST_S3_ENDPOINT");
    let bucket = std::env::var("MLX_TEST_S3_BUCKET").expect("MLX_TEST_S3_BUCKET");
    let env = [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let uri = format!("s3://{bucket}/lake-{}/spend", std::process::id());
    let out = std::process::Command::new(python)
        .arg(mlx_testkit::root().join("tests/clients/delta_table.py"))
        .arg(&uri)
        .envs(env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: Value = serde_json::from_slice(&out.stdout).unwrap();
    for v in written["versions"].as_array().unwrap() {
        let n = v["version"].as_u64().unwrap();
        config(d, &format!("{{ uri: '{uri}', version: {n} }}"));
        bin(d).envs(env).assert().success();
        let expected = v["rows"].as_array().unwrap();
        let got = rows(d);
        assert_eq!(got.len(), expected.len(), "version {n}");
        for (g, e) in got.iter().zip(expected) {
            for (k, ev) in e.as_object().unwrap() {
                assert_eq!(&g[k], ev, "version {n}, column {k}: {g} vs {e}");
            }
        }
        let r = report(d);
        assert_eq!(r.sources[0].delta_version, Some(n));
        assert!(r.sources[0].files[0]
            .path
            .starts_with(&format!("{uri}@v{n}/")));
    }
    // A location with no table is an error naming it, and keeps the dataset.
    let before = std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap();
    config(d, &format!("{{ uri: '{uri}-missing' }}"));
    bin(d)
        .envs(env)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("is not a Delta table"));
    assert_eq!(
        std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap(),
        before
    );
}

/// The cases of tests/hostile/ingest/delta-logs.txt: a log a reader must not trust
/// fails with the table named, exit 3, and reads nothing outside the table.
#[test]
fn hostile_logs_are_refused_and_nothing_outside_is_read() {
    let protocol = r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#;
    let metadata = r#"{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{},"createdTime":0}}"#;
    let corpus =
        std::fs::read_to_string(mlx_testkit::root().join("tests/hostile/ingest/delta-logs.txt"))
            .unwrap();
    let mut cases = 0;
    for line in corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (log, says) = line.rsplit_once(" => ").unwrap();
        let actions: Vec<String> = log
            .split(" | ")
            .map(|a| match a {
                "{P}" => protocol.to_string(),
                "{M}" => metadata.to_string(),
                a if a.starts_with("{ADD ") => {
                    let path = &a[5..a.len() - 1];
                    serde_json::json!({"add": {"path": path, "partitionValues": {}, "size": 1,
                        "modificationTime": 0, "dataChange": true}})
                    .to_string()
                }
                a => a.to_string(),
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let table = d.join("lake/spend");
        std::fs::create_dir_all(table.join("_delta_log")).unwrap();
        std::fs::write(
            table.join("_delta_log/00000000000000000000.json"),
            actions.join("\n") + "\n",
        )
        .unwrap();
        let mut ok = df!("a" => [1i64, 2]).unwrap();
        mlx_data::write_parquet(
            &mut ok,
            std::fs::File::create(table.join("ok.parquet")).unwrap(),
        )
        .unwrap();
        let mut outside = df!("a" => [666i64]).unwrap();
        mlx_data::write_parquet(
            &mut outside,
            std::fs::File::create(d.join("lake/outside.parquet")).unwrap(),
        )
        .unwrap();
        config(d, "{ uri: lake/spend }");
        let out = bin(d).env("RUST_BACKTRACE", "1").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{line}: {stderr}");
        assert!(
            stderr.contains("source `spend`") && stderr.contains(says),
            "{line}: {stderr}"
        );
        assert!(!d.join(".mlx/data/raw.parquet").exists(), "{line}");
        // Said once, in a line: no log of delta-rs's, no backtrace (even with
        // RUST_BACKTRACE=1, set here).
        assert!(stderr.trim().lines().count() <= 2, "{line}: {stderr}");
        cases += 1;
    }
    assert_eq!(cases, 11);
}

/// Settings that cannot work are refused before reading, at their key.
#[test]
fn bad_delta_settings_are_refused_at_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused = |delta: &str, says: &str| {
        config(d, delta);
        bin(d)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    };
    refused(
        "{ uri: lake/spend, version: 1, timestamp: '2026-01-01T00:00:00Z' }",
        "give `version` or `timestamp`, not both",
    );
    refused(
        "{ uri: lake/spend, timestamp: yesterday }",
        "`yesterday` is not an RFC 3339 time",
    );
    refused(
        "{ version: 2 }",
        "`delta` needs the table's directory in `uri`",
    );
}
