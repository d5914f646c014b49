//! `data.sources[].kinesis` against moto's Kinesis on loopback (tests/run.sh starts it):
//! records put by boto3 (tests/services/kinesis.py) read in a bounded read, the
//! checkpoint per shard in the record, `start: checkpoint` reading only what is new, a
//! failed run reading the same records again, bad records failing or skipped, and an
//! unknown stream named.

mod common;
use common::ids;

use std::path::Path;

use assert_cmd::Command;
use mlx_contracts::ingest::{IngestReport, KinesisRead};
use mlx_contracts::StageRecord;
use mlx_testkit::command_in;
use predicates::prelude::*;
use serde_json::{json, Value};

struct Moto {
    endpoint: String,
    python: String,
}

impl Moto {
    fn get() -> Self {
        Self {
            endpoint: std::env::var("MLX_TEST_S3_ENDPOINT")
                .expect("MLX_TEST_S3_ENDPOINT: source tests/services/s3.sh"),
            python: std::env::var("MLX_TEST_SERVICES_PYTHON")
                .expect("MLX_TEST_SERVICES_PYTHON: source tests/services/s3.sh"),
        }
    }

    /// Puts `records` (partition key, data) on `stream`; each one's (shard, sequence).
    fn put(&self, stream: &str, records: &[(&str, String)]) -> Vec<(String, String)> {
        let input: Vec<Value> = records
            .iter()
            .map(|(k, d)| json!({"key": k, "data": d}))
            .collect();
        let mut child = std::process::Command::new(&self.python)
            .arg(mlx_testkit::root().join("tests/services/kinesis.py"))
            .args([&self.endpoint, stream, "2"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&input).unwrap().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let put: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        put.iter()
            .map(|p| {
                (
                    p["shard"].as_str().unwrap().to_string(),
                    p["sequence"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn ingest(&self, d: &Path) -> Command {
        let mut c = command_in(d, "mlx-ingest");
        c.env("AWS_ENDPOINT", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_KINESIS");
        c
    }
}

fn config(d: &Path, kinesis: &str) {
    std::fs::write(
        d.join("mlx.yaml"),
        format!("data:\n  sources:\n    - name: clicks\n      kinesis: {kinesis}\n"),
    )
    .unwrap();
}

fn read(d: &Path) -> KinesisRead {
    let r = StageRecord::from_json(&std::fs::read_to_string(d.join(".mlx/ingest.json")).unwrap())
        .unwrap();
    let report: IngestReport = serde_json::from_value(r.details).unwrap();
    report.sources[0].kinesis.clone().unwrap()
}

fn records(ids: std::ops::Range<i64>) -> Vec<(&'static str, String)> {
    const KEYS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
    ids.map(|i| {
        (
            KEYS[i as usize % 4],
            json!({"id": i, "clicks": i * 10, "page": format!("p{i}")}).to_string(),
        )
    })
    .collect()
}

/// The last sequence number put on each shard, by shard.
fn last_per_shard(put: &[(String, String)]) -> std::collections::BTreeMap<String, String> {
    put.iter().cloned().collect()
}

#[test]
#[ignore = "needs moto's Kinesis (tests/run.sh starts it and sets MLX_TEST_S3_ENDPOINT)"]
fn checkpoints_read_each_record_once() {
    let moto = Moto::get();
    let stream = format!("clicks-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(
        d,
        &format!("{{ stream: {stream}, region: us-east-1, start: checkpoint }}"),
    );

    // First run: every record, the checkpoint per shard the last one put there.
    let first = moto.put(&stream, &records(0..6));
    moto.ingest(d).assert().success();
    assert_eq!(ids(d), (0..6).collect::<Vec<_>>());
    let r = read(d);
    assert_eq!(r.stream, stream);
    assert_eq!(r.shards.iter().map(|s| s.records).sum::<u64>(), 6);
    let last = last_per_shard(&first);
    for s in &r.shards {
        assert_eq!(s.sequence.as_ref(), last.get(&s.shard), "{r:?}");
    }

    // Three more: only they are read.
    let second = moto.put(&stream, &records(6..9));
    moto.ingest(d).assert().success();
    assert_eq!(ids(d), vec![6, 7, 8]);
    let r = read(d);
    assert_eq!(r.shards.iter().map(|s| s.records).sum::<u64>(), 3);
    let mut last = last;
    last.extend(last_per_shard(&second));
    for s in &r.shards {
        assert_eq!(s.sequence.as_ref(), last.get(&s.shard), "{r:?}");
    }

    // Nothing new: a clear error; the dataset and the checkpoints stay.
    let checkpoints = std::fs::read(d.join(".mlx/data/checkpoints.json")).unwrap();
    moto.ingest(d)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "has no records to read after the last ingest's checkpoint",
        ));
    assert_eq!(ids(d), vec![6, 7, 8]);
    assert_eq!(
        std::fs::read(d.join(".mlx/data/checkpoints.json")).unwrap(),
        checkpoints
    );

    // A record that is not a JSON object fails the run, naming it; the failed run
    // moves no checkpoint (its stage record says it failed), so the next one reads the
    // good record again.
    let mut bad = records(9..10);
    bad.push(("alpha", "{not json".to_string()));
    let put = moto.put(&stream, &bad);
    moto.ingest(d).assert().code(3).stderr(
        predicate::str::contains(format!("shard {}, sequence {}", put[1].0, put[1].1))
            .and(predicate::str::contains("the record is not JSON"))
            .and(predicate::str::contains("bad_records: skip")),
    );
    assert_eq!(
        std::fs::read(d.join(".mlx/data/checkpoints.json")).unwrap(),
        checkpoints
    );
    config(
        d,
        &format!("{{ stream: {stream}, region: us-east-1, start: checkpoint, bad_records: skip }}"),
    );
    moto.ingest(d).assert().success();
    assert_eq!(ids(d), vec![9]);
    let r = read(d);
    assert_eq!(r.skipped, 1);
    assert!(r.skipped_sample[0].contains(&put[1].1), "{r:?}");

    // From the trim horizon: every good record the stream holds.
    config(
        d,
        &format!(
            "{{ stream: {stream}, region: us-east-1, start: trim_horizon, bad_records: skip }}"
        ),
    );
    moto.ingest(d).assert().success();
    assert_eq!(ids(d), (0..10).collect::<Vec<_>>());
}

#[test]
#[ignore = "needs moto's Kinesis (tests/run.sh starts it and sets MLX_TEST_S3_ENDPOINT)"]
fn mistakes_are_named() {
    let moto = Moto::get();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(d, "{ stream: no-such-stream, region: us-east-1 }");
    moto.ingest(d).assert().code(3).stderr(
        predicate::str::contains("Kinesis stream `no-such-stream`")
            .and(predicate::str::contains("ResourceNotFoundException"))
            .and(predicate::str::contains(
                "check `kinesis.stream` and the region",
            )),
    );
    moto.ingest(d)
        .env_remove("AWS_ACCESS_KEY_ID")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Kinesis needs credentials"));
    config(d, "{ stream: s, start: yesterday }");
    moto.ingest(d)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`start: yesterday` is not trim_horizon, checkpoint or an RFC 3339 time",
        ));
    config(d, "{ region: us-east-1 }");
    moto.ingest(d)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs the stream's name"));
}
