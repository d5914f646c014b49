//! `data.sources[].kafka` against librdkafka's mock cluster, a broker speaking Kafka's
//! wire protocol on loopback inside the test process (no Kafka broker can be installed
//! here: docs/streaming.md), with Debian's kcat as the independent client that
//! produces the records: a bounded read up to the high watermarks, the offsets
//! committed to the group only after the dataset is written, `start: committed`
//! reading only what is new, failures (a bad record, a dataset that cannot be
//! written, the broker down) committing nothing, and mistakes named.

mod common;
use common::ids;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use mlx_contracts::ingest::{IngestReport, KafkaRead};
use mlx_contracts::StageRecord;
use mlx_testkit::command_in;
use predicates::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

const TOPIC: &str = "orders";
const GROUP: &str = "mlx-test";

/// Produces `lines` to a partition with kcat.
fn produce(brokers: &str, partition: i32, lines: &[String]) {
    let kcat =
        std::env::var("MLX_TEST_KCAT").expect("MLX_TEST_KCAT: source tests/services/kafka.sh");
    let mut child = std::process::Command::new(kcat)
        .args([
            "-P",
            "-b",
            brokers,
            "-t",
            TOPIC,
            "-p",
            &partition.to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

fn orders(ids: std::ops::Range<i64>) -> Vec<String> {
    ids.map(|i| json!({"id": i, "amount": i as f64 * 1.5, "sku": format!("s{i}")}).to_string())
        .collect()
}

/// The group's committed offset per partition (-1: none).
fn committed(brokers: &str) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", GROUP)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition(TOPIC, 0);
    list.add_partition(TOPIC, 1);
    let got = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap();
    (0..2)
        .map(|p| match got.find_partition(TOPIC, p).unwrap().offset() {
            Offset::Offset(o) => o,
            _ => -1,
        })
        .collect()
}

fn config(d: &Path, brokers: &str, extra: &str) {
    std::fs::write(
        d.join("mlx.yaml"),
        format!(
            "data:\n  sources:\n    - name: orders\n      kafka: {{ brokers: '{brokers}', topic: {TOPIC}, group: {GROUP}, timeout_seconds: 3{extra} }}\n"
        ),
    )
    .unwrap();
}

fn read(d: &Path) -> KafkaRead {
    let r = StageRecord::from_json(&std::fs::read_to_string(d.join(".mlx/ingest.json")).unwrap())
        .unwrap();
    let report: IngestReport = serde_json::from_value(r.details).unwrap();
    report.sources[0].kafka.clone().unwrap()
}

fn ingest(d: &Path) -> Command {
    command_in(d, "mlx-ingest")
}

#[test]
#[ignore = "needs kcat (tests/services/kafka.sh; tests/run.sh sources it)"]
fn offsets_are_committed_after_the_dataset_and_each_record_read_once() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(d, &brokers, "");

    // A new group reads from the earliest offsets, and commits the high watermarks.
    produce(&brokers, 0, &orders(0..4));
    produce(&brokers, 1, &orders(4..6));
    assert_eq!(committed(&brokers), vec![-1, -1]);
    ingest(d).assert().success();
    assert_eq!(ids(d), (0..6).collect::<Vec<_>>());
    let r = read(d);
    assert_eq!((r.topic.as_str(), r.group.as_str()), (TOPIC, GROUP));
    let ranges: Vec<(i32, i64, i64, u64)> = r
        .partitions
        .iter()
        .map(|p| (p.partition, p.from, p.to, p.records))
        .collect();
    assert_eq!(ranges, vec![(0, 0, 4, 4), (1, 0, 2, 2)]);
    assert_eq!(committed(&brokers), vec![4, 2]);

    // Only what is new.
    produce(&brokers, 1, &orders(6..9));
    ingest(d).assert().success();
    assert_eq!(ids(d), vec![6, 7, 8]);
    assert_eq!(committed(&brokers), vec![4, 5]);

    // Nothing new: a clear error; the dataset stays.
    ingest(d).assert().code(3).stderr(predicate::str::contains(
        "the Kafka topic `orders` has no records to read from `start: committed` (partition 0 at offset 4, partition 1 at offset 5; group `mlx-test`)",
    ));
    assert_eq!(ids(d), vec![6, 7, 8]);

    // The dataset cannot be written: the read offsets are not committed, and the
    // next run reads the same records.
    produce(&brokers, 0, &orders(9..11));
    std::fs::remove_file(d.join(".mlx/data/raw.parquet")).unwrap();
    std::fs::create_dir_all(d.join(".mlx/data/raw.parquet/blocked")).unwrap();
    ingest(d).assert().code(3);
    assert_eq!(committed(&brokers), vec![4, 5]);
    std::fs::remove_dir_all(d.join(".mlx/data/raw.parquet")).unwrap();
    ingest(d).assert().success();
    assert_eq!(ids(d), vec![9, 10]);
    assert_eq!(committed(&brokers), vec![6, 5]);

    // A record that is not a JSON object: named, nothing committed; skipped when asked.
    produce(
        &brokers,
        1,
        &["[1, 2]".to_string(), orders(11..12)[0].clone()],
    );
    ingest(d).assert().code(3).stderr(
        predicate::str::contains("Kafka topic `orders`: partition 1, offset 5: the record is a list, not an object of fields")
            .and(predicate::str::contains("nothing was committed")),
    );
    assert_eq!(committed(&brokers), vec![6, 5]);
    config(d, &brokers, ", bad_records: skip");
    ingest(d).assert().success();
    assert_eq!(ids(d), vec![11]);
    let r = read(d);
    assert_eq!(r.skipped, 1);
    assert_eq!(
        r.skipped_sample,
        vec!["partition 1, offset 5: a list, not an object of fields"]
    );
    assert_eq!(committed(&brokers), vec![6, 7]);

    // From the earliest offsets: every good record again; the group moves to the end.
    config(d, &brokers, ", bad_records: skip, start: earliest");
    ingest(d).assert().success();
    assert_eq!(ids(d), (0..12).collect::<Vec<_>>());
}

#[test]
#[ignore = "needs kcat (tests/services/kafka.sh; tests/run.sh sources it)"]
fn a_broker_down_fails_without_writing_and_mistakes_are_named() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    produce(&brokers, 0, &orders(0..3));
    config(d, &brokers, "");

    // The broker stopped (the cluster shut down): the read fails within its timeout,
    // naming the brokers, and writes nothing.
    drop(cluster);
    ingest(d)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("Kafka topic `orders`")
                .and(predicate::str::contains(&brokers)),
        );
    assert!(!d.join(".mlx/data/raw.parquet").exists());
    // Not restarted here: librdkafka's mock cluster aborts the whole test process
    // when a broker cannot bind its old port again (`broker_down`/`broker_up`), and a
    // new cluster has none of the records. That a failed run's records are read again
    // is tested through a dataset that cannot be written, in the test above.

    // An unknown topic, on a cluster that is up.
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    std::fs::write(
        d.join("mlx.yaml"),
        format!("data:\n  sources:\n    - name: orders\n      kafka: {{ brokers: '{brokers}', topic: nope, timeout_seconds: 3 }}\n"),
    )
    .unwrap();
    ingest(d)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("Kafka topic `nope`"));

    // Config mistakes, at their key.
    let refused = |kafka: &str, says: &str| {
        std::fs::write(
            d.join("mlx.yaml"),
            format!("data:\n  sources:\n    - name: orders\n      kafka: {kafka}\n"),
        )
        .unwrap();
        ingest(d)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    };
    refused("{ topic: t }", "`kafka` needs `brokers`");
    refused("{ brokers: 'b:9092' }", "`kafka` needs `topic`");
    refused(
        "{ brokers: 'b:9092', topic: t, start: newest }",
        "`start: newest` is not committed, earliest, latest or an RFC 3339 time",
    );
    refused(
        "{ brokers: 'b:9092', topic: t, format: avro }",
        "Avro records (and schema registries) are not read yet",
    );
}
