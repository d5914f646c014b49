//! `mlx-ingest` end to end on local files: formats, globs, coercion, joins, incremental
//! ingest, bad input that must leave the previous dataset intact, and `mlx run`.

use std::path::Path;

use assert_cmd::Command;
use mlx_contracts::ingest::IngestReport;
use mlx_contracts::StageRecord;
use mlx_testkit::command_in;
use predicates::prelude::*;

fn bin(d: &Path) -> Command {
    command_in(d, "mlx-ingest")
}

fn write(d: &Path, rel: &str, text: &str) {
    let p = d.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn report(d: &Path) -> (StageRecord, IngestReport) {
    let r = StageRecord::from_json(&std::fs::read_to_string(d.join(".mlx/ingest.json")).unwrap())
        .unwrap();
    let i = serde_json::from_value(r.details.clone()).unwrap();
    (r, i)
}

/// The ingested dataset, read back through `mlx-validate drift --json` would be
/// roundabout; read it with the same library the stages use.
fn raw(d: &Path) -> mlx_data::polars::prelude::DataFrame {
    mlx_data::read_table(&d.join(".mlx/data/raw.parquet")).unwrap()
}

const SALES: &str =
    "date,store,units\n2026-01-01,1,10\n2026-01-02,1,12\n2026-01-03,1,9\n2026-01-04,1,15\n";
const ADS: &str = "{\"date\": \"2026-01-01\", \"ad_spend\": 100.0}\n{\"date\": \"2026-01-02\", \"ad_spend\": 150.5}\n{\"date\": \"2026-01-04\", \"ad_spend\": 80.0}\n";

fn two_sources(d: &Path) {
    write(d, "sales.csv", SALES);
    write(d, "ads.ndjson", ADS);
    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: sales, uri: sales.csv }\n    - { name: ads, uri: ads.ndjson, dtypes: { date: date } }\n  merge: { on: [date], how: left }\n  time_column: date\n",
    );
}

#[test]
fn joins_sources_on_a_key_and_records_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_sources(d);
    bin(d).assert().success().stderr(predicate::str::contains(
        "4 rows × 4 columns from 2 sources",
    ));
    let df = raw(d);
    assert_eq!(df.height(), 4);
    let spend: Vec<Option<f64>> = df
        .column("ad_spend")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        spend,
        vec![Some(100.0), Some(150.5), None, Some(80.0)],
        "a left join keeps every sale"
    );
    assert_eq!(df.column("date").unwrap().dtype().to_string(), "date");
    let (rec, rep) = report(d);
    assert_eq!(rep.rows, 4);
    assert_eq!(rep.sources[0].rows, 4);
    assert_eq!(rep.sources[1].rows, 3);
    // The fingerprint is the file's SHA-256 (`sha256sum sales.csv`).
    let (sha, _) = mlx_core::hash::sha256_file(&d.join("sales.csv")).unwrap();
    assert_eq!(rep.sources[0].files[0].sha256, sha);
    assert_eq!(rec.outputs[0].path, ".mlx/data/raw.parquet");
}

#[test]
fn a_glob_stacks_files_and_coercion_errors_name_source_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "parts/a.csv", "id,x\n1,1.5\n2,2.5\n");
    write(d, "parts/b.csv", "id,x\n3,3.5\n");
    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: parts, uri: 'parts/*.csv', dtypes: { id: float } }\n",
    );
    bin(d).assert().success();
    let df = raw(d);
    assert_eq!(df.height(), 3);
    assert_eq!(
        df.column("id").unwrap().dtype(),
        &mlx_data::polars::prelude::DataType::Float64
    );
    let (_, rep) = report(d);
    assert_eq!(rep.sources[0].files.len(), 2);

    write(d, "parts/c.csv", "id,x\nthree,4.5\n");
    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: parts, uri: 'parts/c.csv', dtypes: { id: int } }\n",
    );
    bin(d).assert().code(3).stderr(
        predicate::str::contains("source `parts`: a value does not convert to its configured type")
            .and(predicate::str::contains("three")),
    );
    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: parts, uri: 'parts/a.csv', dtypes: { nope: int } }\n",
    );
    bin(d).assert().code(2).stderr(predicate::str::contains(
        "`dtypes` names column `nope`, which it does not have (it has: id, x)",
    ));
}

#[test]
fn bad_input_fails_clearly_and_keeps_the_previous_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_sources(d);
    bin(d).assert().success();
    let before = std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap();
    let unchanged = || {
        assert_eq!(
            std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap(),
            before,
            "raw.parquet must stay intact"
        )
    };

    std::fs::remove_file(d.join("ads.ndjson")).unwrap();
    bin(d).assert().code(3).stderr(predicate::str::contains(
        "source `ads`: ads.ndjson does not exist",
    ));
    unchanged();

    write(d, "ads.ndjson", ADS);
    write(d, "sales.csv", &SALES.replace("date", "day"));
    bin(d).assert().code(2).stderr(predicate::str::contains(
        "join key `date` is missing from source `sales`",
    ));
    unchanged();

    write(
        d,
        "sales.csv",
        "date,store,units\n2026-01-01,1,10\n2026-01-02,1,12,99,100\n",
    );
    bin(d).assert().code(3).stderr(predicate::str::contains(
        "source `sales`: sales.csv: line 3 has 5 fields but the header has 3 (date, store, units)",
    ));
    unchanged();

    write(d, "sales.csv", "date,store,units\n");
    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: sales, uri: sales.csv }\n",
    );
    bin(d)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("the sources produced no rows"));
    unchanged();

    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: db, uri: 'postgres://mlx:hunter2@127.0.0.1:1/x', query: 'select 1' }\n",
    );
    bin(d).assert().code(3).stderr(
        predicate::str::contains("source `db`: cannot connect")
            .and(predicate::str::contains("hunter2").not()),
    );
    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: a, uri: 'nothing/*.csv' }\n",
    );
    bin(d).assert().code(2).stderr(predicate::str::contains(
        "source `a`: `nothing/*.csv` matches no file",
    ));
    unchanged();
}

#[test]
fn append_adds_only_newer_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_sources(d);
    bin(d).assert().success();
    // January grows by two days; the old days are unchanged.
    write(
        d,
        "sales.csv",
        &format!("{SALES}2026-01-05,1,20\n2026-01-06,1,21\n"),
    );
    bin(d)
        .arg("--append")
        .assert()
        .success()
        .stderr(predicate::str::contains("2 new rows appended"));
    let (_, rep) = report(d);
    assert_eq!(rep.rows, 6);
    assert_eq!(rep.appended_rows, Some(2));
    assert_eq!(rep.previous_max_time.as_deref(), Some("2026-01-04"));
    // Nothing new: nothing added.
    bin(d).arg("--append").assert().success();
    assert_eq!(report(d).1.rows, 6);
}

#[test]
fn mlx_run_ingests_then_validates_and_skips_when_nothing_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_sources(d);
    // One missing ad spend in 16 cells is 6.25%: allow it.
    let cfg = std::fs::read_to_string(d.join("mlx.yaml")).unwrap();
    write(
        d,
        "mlx.yaml",
        &format!("{cfg}validation:\n  max_missing_fraction: 0.1\n"),
    );
    command_in(d, "mlx")
        .args(["run", "--to", "validate"])
        .assert()
        .success();
    assert!(d.join(".mlx/validate.json").exists());
    command_in(d, "mlx")
        .args(["run", "--to", "validate"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("- ingest: up to date")
                .and(predicate::str::contains("- validate: up to date")),
        );
}

/// Puts an object into the test S3 server (moto accepts unsigned requests).
fn s3_put(endpoint: &str, bucket: &str, key: &str, body: &str) {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(conn, "PUT /{bucket}/{key} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// Sources on S3 (moto on loopback, started by tests/run.sh): one object and a glob.
#[test]
#[ignore = "needs the S3 service: run `bash tests/run.sh`"]
fn ingests_objects_and_globs_from_s3() {
    let endpoint =
        std::env::var("MLX_TEST_S3_ENDPOINT").expect("MLX_TEST_S3_ENDPOINT (set by tests/run.sh)");
    let bucket = std::env::var("MLX_TEST_S3_BUCKET").expect("MLX_TEST_S3_BUCKET");
    let prefix = format!("ingest-{}", std::process::id());
    s3_put(
        &endpoint,
        &bucket,
        &format!("{prefix}/sales/2026-01.csv"),
        "date,units\n2026-01-01,10\n2026-01-02,12\n",
    );
    s3_put(
        &endpoint,
        &bucket,
        &format!("{prefix}/sales/2026-02.csv"),
        "date,units\n2026-02-01,7\n",
    );
    s3_put(&endpoint, &bucket, &format!("{prefix}/ads.ndjson"), ADS);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "mlx.yaml",
        &format!(
            "data:\n  sources:\n    - {{ name: sales, uri: 's3://{bucket}/{prefix}/sales/*.csv' }}\n    - {{ name: ads, uri: 's3://{bucket}/{prefix}/ads.ndjson', dtypes: {{ date: date }} }}\n  merge: {{ on: [date], how: left }}\n"
        ),
    );
    bin(d)
        .env("AWS_ENDPOINT", &endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .assert()
        .success();
    let (_, rep) = report(d);
    assert_eq!(rep.rows, 3);
    let files: Vec<&str> = rep.sources[0]
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        files,
        [
            format!("s3://{bucket}/{prefix}/sales/2026-01.csv"),
            format!("s3://{bucket}/{prefix}/sales/2026-02.csv")
        ]
    );
    let spend: Vec<Option<f64>> = raw(d)
        .column("ad_spend")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(spend, vec![Some(100.0), Some(150.5), None]);
}

/// Ingests `tests/fixtures/ingest/sales.csv` from a file and, with the same config
/// otherwise, from a database table loaded with the same rows, and checks that both
/// give the same frame and that the password (from `password_var`) stays out of the
/// record.
fn file_vs_database(db_uri: &str, dtypes: &str, password_var: &str) {
    let fixture = mlx_testkit::root().join("tests/fixtures/ingest/sales.csv");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "mlx.yaml",
        &format!(
            "data:\n  sources:\n    - {{ name: sales, uri: '{}' }}\n",
            fixture.display()
        ),
    );
    bin(d).assert().success();
    let from_file = raw(d);
    write(
        d,
        "mlx.yaml",
        &format!("data:\n  sources:\n    - name: sales\n      uri: '{db_uri}'\n      query: SELECT day, store_id, units, price, promo, channel FROM daily_sales ORDER BY day, store_id\n      dtypes: {dtypes}\n"),
    );
    bin(d).assert().success();
    let record = std::fs::read_to_string(d.join(".mlx/ingest.json")).unwrap();
    let from_db = raw(d);
    assert_eq!(from_db.height(), 240);
    assert!(
        from_file.equals_missing(&from_db),
        "file:\n{from_file}\ndatabase:\n{from_db}"
    );
    let password = std::env::var(password_var)
        .unwrap_or_else(|_| panic!("{password_var} (set by tests/run.sh)"));
    assert!(
        !record.contains(&password),
        "the password leaked into the record"
    );
}

/// PostgreSQL (started by tests/run.sh): the same rows as the CSV, typed the same, with
/// the password from the environment and never written to the record.
#[test]
#[ignore = "needs PostgreSQL: run `bash tests/run.sh`"]
fn postgres_table_equals_the_csv() {
    file_vs_database(
        "postgres://postgres:${MLX_TEST_PG_PASSWORD}@127.0.0.1:${MLX_TEST_PG_PORT}/sales",
        "{}",
        "MLX_TEST_PG_PASSWORD",
    );
}

/// A wrong PostgreSQL password: the server's own message (not the client's bare
/// "db error"), and never the password.
#[test]
#[ignore = "needs PostgreSQL: run `bash tests/run.sh`"]
fn a_wrong_postgres_password_says_what_the_server_said() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::env::var("MLX_TEST_PG_PORT").expect("MLX_TEST_PG_PORT (set by tests/run.sh)");
    write(
        d,
        "mlx.yaml",
        &format!("data:\n  sources:\n    - {{ name: db, uri: 'postgres://postgres:${{PG_WRONG_PASSWORD}}@127.0.0.1:{port}/sales', query: 'select 1' }}\n"),
    );
    let out = bin(d)
        .env("PG_WRONG_PASSWORD", "not-the-pw-4711")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("password authentication failed for user \"postgres\""),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-pw-4711"), "{stderr}");
}

/// MariaDB (started by tests/run.sh); BOOLEAN is TINYINT(1) there, so `promo` is cast.
#[test]
#[ignore = "needs MariaDB: run `bash tests/run.sh`"]
fn mariadb_table_equals_the_csv() {
    file_vs_database(
        "mysql://mlx:${MLX_TEST_MYSQL_PASSWORD}@127.0.0.1:${MLX_TEST_MYSQL_PORT}/sales",
        "{ promo: bool }",
        "MLX_TEST_MYSQL_PASSWORD",
    );
}

/// One local file takes the streaming path (scan, cast, sink to Parquet in batches);
/// the record and the data must be what the in-memory path gives.
#[test]
fn a_single_file_streams_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "sales.tsv",
        "date\tstore\tunits\n2026-01-01\t1\t10\n2026-01-02\t1\tNA\n",
    );
    write(
        d,
        "mlx.yaml",
        "data:\n  sources:\n    - { name: sales, uri: sales.tsv, null_values: [NA], dtypes: { units: float } }\n",
    );
    bin(d).assert().success();
    let (_, rep) = report(d);
    assert_eq!((rep.rows, rep.columns), (2, 3));
    let types: Vec<(&str, &str)> = rep
        .schema
        .iter()
        .map(|c| (c.name.as_str(), c.dtype.as_str()))
        .collect();
    assert_eq!(
        types,
        [("date", "date"), ("store", "i64"), ("units", "f64")]
    );
    let (sha, _) = mlx_core::hash::sha256_file(&d.join("sales.tsv")).unwrap();
    assert_eq!(rep.sources[0].files[0].sha256, sha);
    let units: Vec<Option<f64>> = raw(d)
        .column("units")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(units, vec![Some(10.0), None]);
    let leftovers = std::fs::read_dir(d.join(".mlx/data")).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left beside raw.parquet");
}
