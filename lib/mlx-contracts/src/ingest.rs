//! What `mlx-ingest` reports: the `details` of `ingest.json`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::FileDigest;

/// Version of [`IngestReport`].
pub const INGEST_REPORT_VERSION: u32 = 1;

/// The sources read and the dataset written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestReport {
    /// See [`INGEST_REPORT_VERSION`].
    pub schema_version: u32,
    /// Per source, in config order.
    pub sources: Vec<SourceReport>,
    /// Rows of the written dataset.
    pub rows: u64,
    /// Columns of the written dataset.
    pub columns: u64,
    /// Column name to type of the written dataset, in column order.
    pub schema: Vec<ColumnType>,
    /// With incremental ingest: rows added by this run (the rest were already there).
    pub appended_rows: Option<u64>,
    /// With incremental ingest: the newest time value before this run.
    pub previous_max_time: Option<String>,
    /// With `engine.kind: spark`: the dataset, which stays on the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterDataset>,
}

/// Version of [`ClusterDataset`].
pub const CLUSTER_DATASET_VERSION: u32 = 1;

/// A dataset on the Spark cluster's storage (`<workdir>/data/cluster.json`, written by
/// `mlx-ingest` with `engine.kind: spark` in place of `data/raw.parquet`): what the
/// later stages read, there, instead of a local file. Each ingest writes a new
/// directory, so a location always holds the dataset its record describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterDataset {
    /// See [`CLUSTER_DATASET_VERSION`].
    pub schema_version: u32,
    /// Where it is, as the cluster names it: `<engine.storage>/datasets/<id>`.
    pub location: String,
    /// Its file format on the cluster (`parquet`).
    pub format: String,
    /// Its rows.
    pub rows: u64,
    /// Column name to Spark's type, in column order.
    pub schema: Vec<ColumnType>,
    /// The content fingerprint Spark computed (docs/spark.md#the-fingerprint): SHA-256
    /// over the row count and the sum and XOR of every row's `xxhash64`, so the same
    /// rows give the same fingerprint whatever their order and partitioning.
    pub fingerprint: String,
    /// The Spark version that wrote it.
    pub spark_version: String,
    /// The Spark UI of the session that wrote it, where the server tells.
    pub spark_ui: Option<String>,
    /// When it was written.
    pub written_at: DateTime<Utc>,
}

impl ClusterDataset {
    /// Parses `data/cluster.json`, refusing unknown versions.
    pub fn from_json(text: &str) -> Result<Self, crate::ContractError> {
        crate::parse_versioned(text, "cluster dataset", CLUSTER_DATASET_VERSION)
    }
}

/// One source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceReport {
    /// Its name in the config.
    pub name: String,
    /// Its URI as configured (secrets masked).
    pub uri: String,
    /// Files read (a glob may match several), with their SHA-256: the source
    /// fingerprint.
    pub files: Vec<FileDigest>,
    /// Rows read.
    pub rows: u64,
    /// Column name to type, as read (after configured coercion).
    pub schema: Vec<ColumnType>,
    /// A Delta table's version read (its files are in `files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_version: Option<u64>,
    /// A Kinesis stream's shards as read: where the next `start: checkpoint` goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis: Option<KinesisRead>,
    /// A Kafka topic's partitions as read (the offsets committed to the group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaRead>,
}

/// What an ingest read from a Kafka topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaRead {
    /// The topic.
    pub topic: String,
    /// The consumer group the offsets were committed to.
    pub group: String,
    /// Each partition's range read.
    pub partitions: Vec<PartitionRead>,
    /// Records left out (`bad_records: skip`).
    pub skipped: u64,
    /// Up to five of them: partition, offset and why.
    pub skipped_sample: Vec<String>,
}

/// The offsets read from one partition: `from` up to, not including, `to` (the high
/// watermark when the stage started), committed to the group as `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionRead {
    /// The partition.
    pub partition: i32,
    /// The first offset read.
    pub from: i64,
    /// The offset after the last one read.
    pub to: i64,
    /// Records read.
    pub records: u64,
}

/// Version of [`StreamCheckpoints`].
pub const STREAM_CHECKPOINTS_VERSION: u32 = 1;

/// Where each stream source goes on (`<workdir>/data/checkpoints.json`): written by
/// `mlx-ingest` right after `data/raw.parquet` is in place, so a run that fails or
/// dies before then leaves the previous checkpoints and reads the same records again;
/// a failed run's stage record does not replace them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamCheckpoints {
    /// See [`STREAM_CHECKPOINTS_VERSION`].
    pub schema_version: u32,
    /// By source name: what the last successful ingest read of it.
    pub kinesis: std::collections::BTreeMap<String, KinesisRead>,
}

impl StreamCheckpoints {
    /// Parses `data/checkpoints.json`, refusing unknown versions.
    pub fn from_json(text: &str) -> Result<Self, crate::ContractError> {
        crate::parse_versioned(text, "stream checkpoints", STREAM_CHECKPOINTS_VERSION)
    }
}

/// What an ingest read from a Kinesis stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KinesisRead {
    /// The stream's name.
    pub stream: String,
    /// Records arrived at or before this time (RFC 3339, the stage's start) were read.
    pub until: String,
    /// Each shard: the checkpoint.
    pub shards: Vec<ShardCheckpoint>,
    /// Records left out (`bad_records: skip`).
    pub skipped: u64,
    /// Up to five of them: shard, sequence number and why.
    pub skipped_sample: Vec<String>,
}

/// A shard's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardCheckpoint {
    /// The shard's id.
    pub shard: String,
    /// The sequence number of the last record read (or of the previous checkpoint when
    /// none was read this time); none when nothing was ever read from it.
    pub sequence: Option<String>,
    /// Records read from it this time.
    pub records: u64,
}

/// A column and its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnType {
    /// Column name.
    pub name: String,
    /// Polars' name of the type (`i64`, `f64`, `str`, `date`, ...); Spark's
    /// (`bigint`, `double`, `string`, ...) for a dataset on the cluster.
    pub dtype: String,
}
