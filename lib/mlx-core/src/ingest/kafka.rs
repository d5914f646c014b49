//! A Kafka topic as a source (`data.sources[].kafka`), read through librdkafka
//! (`rdkafka`): a bounded read of every partition, from its start position up to the
//! high watermark taken when the stage starts, so a run reads a fixed set of records.
//! The offsets read are committed to the consumer group by [`commit`], which the stage
//! calls only after `raw.parquet` is in place: a run that fails or dies before then
//! reads the same records again, so nothing is skipped.
//!
//! Security settings come from the environment (`KAFKA_SECURITY_PROTOCOL`,
//! `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`,
//! `KAFKA_SSL_CA_LOCATION`), never from the config file.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mlx_contracts::config::{KafkaSource, Source};
use mlx_contracts::ingest::{KafkaRead, PartitionRead};
use mlx_contracts::record::FileDigest;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::records::Records;
use crate::error::{Error, Result};

/// The consumer group of a source.
pub(super) fn group(s: &Source, k: &KafkaSource) -> String {
    k.group.clone().unwrap_or_else(|| format!("mlx-{}", s.name))
}

fn consumer(s: &Source, k: &KafkaSource) -> Result<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", k.brokers.trim())
        .set("group.id", group(s, k))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .set("socket.timeout.ms", "10000")
        .set("log_level", "0");
    for (var, key) in [
        ("KAFKA_SECURITY_PROTOCOL", "security.protocol"),
        ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
        ("KAFKA_SASL_USERNAME", "sasl.username"),
        ("KAFKA_SASL_PASSWORD", "sasl.password"),
        ("KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
    ] {
        if let Ok(v) = std::env::var(var) {
            config.set(key, v);
        }
    }
    config.create().map_err(|e| {
        Error::Usage(format!(
            "source `{}`: the Kafka client refused its settings: {e}",
            s.name
        ))
    })
}

/// The records read, as NDJSON in a temporary file (which must outlive the reading),
/// their fingerprint, and the offsets read.
pub(super) fn read(
    s: &Source,
    k: &KafkaSource,
) -> Result<(tempfile::NamedTempFile, FileDigest, KafkaRead)> {
    let topic = k.topic.trim();
    let fail =
        |m: String| Error::Runtime(format!("source `{}`: Kafka topic `{topic}`: {m}", s.name));
    let timeout = Duration::from_secs_f64(k.timeout_seconds.max(0.1));
    let consumer = consumer(s, k)?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| {
        fail(format!(
            "cannot reach the brokers {}: {e}",
            k.brokers.trim()
        ))
    })?;
    let partitions: Vec<i32> = match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            let mut p: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            p.sort_unstable();
            p
        }
        Some(t) => {
            return Err(fail(format!(
                "the brokers do not have it ({:?}); check `kafka.topic` and `kafka.brokers`",
                t.error()
            )))
        }
        None => {
            return Err(fail(
                "the brokers do not have it; check `kafka.topic`".into(),
            ))
        }
    };
    // The bound: each partition's high watermark now.
    let mut ends = BTreeMap::new();
    let mut lows = BTreeMap::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| fail(format!("partition {p}: its offsets cannot be read: {e}")))?;
        lows.insert(p, low);
        ends.insert(p, high);
    }
    let starts =
        start_offsets(&consumer, k, topic, &partitions, &lows, &ends, timeout).map_err(fail)?;
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        if starts[&p] < ends[&p] {
            assignment
                .add_partition_offset(topic, p, Offset::Offset(starts[&p]))
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    let mut rows = Records::new(k.bad_records)?;
    let mut counts: BTreeMap<i32, u64> = BTreeMap::new();
    let mut open: BTreeMap<i32, i64> = partitions
        .iter()
        .filter(|p| starts[p] < ends[p])
        .map(|&p| (p, starts[&p]))
        .collect();
    if !open.is_empty() {
        consumer
            .assign(&assignment)
            .map_err(|e| fail(format!("cannot read it: {e}")))?;
    }
    let mut progress = Instant::now();
    while !open.is_empty() {
        if progress.elapsed() > timeout {
            let at: Vec<String> = open
                .iter()
                .map(|(p, o)| format!("partition {p} at offset {o} of {}", ends[p]))
                .collect();
            return Err(fail(format!(
                "no progress for {} s ({}): the brokers {} are unreachable or not serving; nothing was committed, so the next run reads these records again",
                k.timeout_seconds,
                at.join(", "),
                k.brokers.trim()
            )));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            // Transaction markers and aborted records take offsets without a message.
            if let Ok(positions) = consumer.position() {
                for (p, next) in open.iter_mut() {
                    if let Some(Offset::Offset(o)) =
                        positions.find_partition(topic, *p).map(|e| e.offset())
                    {
                        *next = (*next).max(o);
                    }
                }
            }
            open.retain(|p, next| *next < ends[p]);
            continue;
        };
        let message = message.map_err(|e| fail(format!("reading: {e}")))?;
        progress = Instant::now();
        let (p, offset) = (message.partition(), message.offset());
        if offset >= ends[&p] {
            open.remove(&p);
            continue;
        }
        let bytes = message.payload().unwrap_or_default();
        let kept = rows
            .push(bytes, || format!("partition {p}, offset {offset}"))
            .map_err(|why| {
                fail(format!(
                    "partition {p}, offset {offset}: the record is {why}; fix the producer, or set `kafka.bad_records: skip` to leave such records out (counted in the record); nothing was committed"
                ))
            })?;
        if kept {
            *counts.entry(p).or_default() += 1;
        }
        if offset + 1 >= ends[&p] {
            open.remove(&p);
        } else {
            open.insert(p, offset + 1);
        }
    }
    let read = KafkaRead {
        topic: topic.to_string(),
        group: group(s, k),
        partitions: partitions
            .iter()
            .map(|&p| PartitionRead {
                partition: p,
                from: starts[&p].min(ends[&p]),
                to: ends[&p],
                records: counts.get(&p).copied().unwrap_or(0),
            })
            .collect(),
        skipped: rows.skipped,
        skipped_sample: rows.sample.clone(),
    };
    let (out, digest) = rows.finish(format!("kafka://{topic}"))?;
    Ok((out, digest, read))
}

/// Where each partition's read starts.
fn start_offsets(
    consumer: &BaseConsumer,
    k: &KafkaSource,
    topic: &str,
    partitions: &[i32],
    lows: &BTreeMap<i32, i64>,
    ends: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> std::result::Result<BTreeMap<i32, i64>, String> {
    let mut list = TopicPartitionList::new();
    for &p in partitions {
        list.add_partition(topic, p);
    }
    let found = match k.start.trim() {
        "earliest" => return Ok(lows.clone()),
        "latest" => return Ok(ends.clone()),
        "committed" => consumer
            .committed_offsets(list, timeout)
            .map_err(|e| format!("the group's committed offsets cannot be read: {e}"))?,
        time => {
            let t = chrono::DateTime::parse_from_rfc3339(time)
                .map_err(|e| format!("`kafka.start: {time}` is not a time: {e}"))?;
            let mut at = TopicPartitionList::new();
            for &p in partitions {
                at.add_partition_offset(topic, p, Offset::Offset(t.timestamp_millis()))
                    .map_err(|e| e.to_string())?;
            }
            consumer
                .offsets_for_times(at, timeout)
                .map_err(|e| format!("the offsets at {time} cannot be read: {e}"))?
        }
    };
    let mut starts = BTreeMap::new();
    for &p in partitions {
        let offset = match found.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o.clamp(lows[&p], ends[&p]),
            // No committed offset (a new group), or no record at or after the time.
            Some(Offset::End) => ends[&p],
            _ if k.start.trim() == "committed" => lows[&p],
            _ => ends[&p],
        };
        starts.insert(p, offset);
    }
    Ok(starts)
}

/// Commits the offsets read to the group: the stage calls this only after the rows
/// are written.
pub(super) fn commit(s: &Source, k: &KafkaSource, read: &KafkaRead) -> Result<()> {
    let consumer = consumer(s, k)?;
    let mut list = TopicPartitionList::new();
    for p in &read.partitions {
        list.add_partition_offset(&read.topic, p.partition, Offset::Offset(p.to))
            .map_err(|e| Error::Runtime(e.to_string()))?;
    }
    consumer.commit(&list, CommitMode::Sync).map_err(|e| {
        Error::Runtime(format!(
            "source `{}`: the rows are written, but committing the offsets read to group `{}` failed: {e}; the next run with `start: committed` reads these records again",
            s.name, read.group
        ))
    })
}
