//! The typed schema of `mlx.yaml`.
//!
//! Every section has defaults, so an empty file is a valid config; unknown keys are
//! rejected (`deny_unknown_fields`) so that a typo never silently falls back to a default.
//! Values that depend on the problem type (split strategy, primary metric, metric
//! direction, metric list) are `Option`s here and are filled by [`Config::resolve`],
//! which `mlx config show` prints.
//!
//! This module owns the *shape* of the config only. Parsing, `${VAR}` interpolation,
//! error locations and cross-field rules live in `mlx_core::config`.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole `mlx.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(title = "mlx.yaml", description = "Configuration of an mlx pipeline.")]
pub struct Config {
    /// Project metadata.
    pub project: Project,
    /// Where the data stages run: this machine (Polars, the default) or an Apache Spark
    /// cluster through Spark Connect. Absent means local.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// Where the data comes from and which columns play which role.
    pub data: Data,
    /// Schema, data-quality and drift checks (`mlx-validate`).
    pub validation: Validation,
    /// Feature definitions and stateful transforms (`mlx-features`).
    pub features: Features,
    /// How rows are split into train / validation / test sets.
    pub split: Split,
    /// What kind of problem this is and which model family is the default.
    pub pipeline: Pipeline,
    /// Forecasting (`time_series`): horizon, season and multi-step strategy.
    pub forecast: Forecast,
    /// Candidate models; all are trained on the same split and compared.
    pub models: Vec<ModelSpec>,
    /// Training-loop settings (used by iterative and neural models).
    pub training: Training,
    /// Metrics and the primary metric's threshold (`mlx-eval`).
    pub evaluation: Evaluation,
    /// SHAP explanations (`mlx-shap`).
    pub explain: Explain,
    /// The approval policy (`mlx-gate`).
    pub approval_gate: ApprovalGate,
    /// The model registry (`mlx-promote`).
    pub registry: Registry,
    /// The tracking store: every run, evaluation and gate outcome, kept beyond the
    /// work directory (`mlx runs`, `mlx metrics`).
    pub tracking: Tracking,
    /// `mlx ui`: where it listens and who may decide in it (docs/ui.md).
    pub ui: Ui,
    /// How a promoted model is served (`mlx-serve`).
    pub deploy: Deploy,
    /// Production monitoring and retraining triggers (`mlx-monitor`).
    pub monitoring: Monitoring,
    /// GitHub integration: PR comments, approvals, environments.
    pub github: Github,
    /// When the pipeline runs and how failures are retried (the GitHub workflows of
    /// `mlx init --github` and the DAG of `mlx export airflow`).
    pub orchestration: Orchestration,
}

/// The top-level section names, in file order. Used for "did you mean" hints and for
/// per-section hashing.
pub const SECTIONS: &[&str] = &[
    "project",
    "engine",
    "data",
    "validation",
    "features",
    "split",
    "pipeline",
    "forecast",
    "models",
    "training",
    "evaluation",
    "explain",
    "approval_gate",
    "registry",
    "tracking",
    "ui",
    "deploy",
    "monitoring",
    "github",
    "orchestration",
];

// ---------------------------------------------------------------------------------------
// project

/// Project metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Project {
    /// Short name; also the default registry model name.
    pub name: Option<String>,
    /// Free text shown in reports.
    pub description: Option<String>,
    /// Team or person that owns the model.
    pub owner: Option<String>,
    /// Labels copied into run and registry metadata.
    pub tags: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// engine

/// Where the data stages run (`engine:`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Engine {
    /// `local`: Polars on this machine (the default); `spark`: the Spark cluster at
    /// `remote`, through Spark Connect.
    pub kind: EngineKind,
    /// The Spark Connect server, `sc://HOST:PORT`, with `/;token=${SPARK_TOKEN}` or
    /// `/;use_ssl=true` after it where the server needs them (docs/spark.md).
    pub remote: Option<String>,
    /// Where the stages write on the cluster's storage, as the cluster names it
    /// (`s3a://lake/mlx/ad-sales`, `abfss://...`, `dbfs:/mlx/...`, `/mnt/...`). Each
    /// ingested dataset is a new directory under `<storage>/datasets/`.
    pub storage: Option<String>,
}

/// The engines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Polars on this machine.
    #[default]
    Local,
    /// Apache Spark through Spark Connect.
    Spark,
}

// ---------------------------------------------------------------------------------------
// data

/// Data sources and column roles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Data {
    /// Inputs to `mlx-ingest`, merged into one dataset.
    pub sources: Vec<Source>,
    /// How several sources are joined. Required when there is more than one source.
    pub merge: Option<Merge>,
    /// The column to predict.
    pub target: Option<String>,
    /// The event-time column (required for temporal splits and time series).
    pub time_column: Option<String>,
    /// Columns identifying an entity (store, customer, sensor).
    pub entity_columns: Vec<String>,
    /// Column whose values must not be shared between train and test (group split).
    pub group_column: Option<String>,
    /// Incremental ingest: only rows newer than the last ingested `time_column` value.
    pub append: bool,
    /// Content-addressed data versioning (`mlx-version`).
    pub versioning: Versioning,
}

/// One input of `mlx-ingest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Source {
    /// Name used in error messages and in the stage record.
    pub name: String,
    /// Path, glob, object-store URL (`s3://`, `gs://`, `az://`, `file://`, `https://`)
    /// or database URL (`postgres://`, `mysql://`). With `engine.kind: spark`: a path
    /// as the cluster names it (`s3a://...`, `abfss://...`, `/mnt/...`).
    pub uri: String,
    /// File format; inferred from the extension when absent.
    pub format: Option<SourceFormat>,
    /// SQL query for database sources; with `engine.kind: spark` and no `uri`, a Spark
    /// SQL query over the cluster's catalog.
    pub query: Option<String>,
    /// With `engine.kind: spark`: a table of the cluster's catalog
    /// (`catalog.schema.table`; Delta, Iceberg, Hive or any table its connectors read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Field delimiter for CSV (default `,`; `\t` for TSV).
    pub delimiter: Option<String>,
    /// Whether the first CSV line is a header.
    pub header: Option<bool>,
    /// Strings read as null.
    pub null_values: Vec<String>,
    /// strftime format for date columns.
    pub date_format: Option<String>,
    /// Explicit column types, `column: type` (`int`, `float`, `string`, `bool`, `date`, `datetime`).
    pub dtypes: BTreeMap<String, DType>,
    /// A JSON API read page by page, instead of `uri` (docs/ingest.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSource>,
    /// A Delta Lake table read at a version or a time, instead of `uri`
    /// (docs/ingest.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaSource>,
    /// A Kinesis data stream read up to the time the stage starts, instead of `uri`
    /// (docs/ingest.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinesis: Option<KinesisSource>,
    /// A Kafka topic read up to its high watermarks at the stage's start, instead of
    /// `uri` (docs/ingest.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaSource>,
}

/// A Kafka topic as a source: each record's value a JSON object, a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSource {
    /// Bootstrap brokers, `host:port[,host:port]` (`${KAFKA_BROKERS}`).
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The consumer group whose committed offsets `start: committed` goes on from, and
    /// to which the offsets read are committed [default: `mlx-<source name>`].
    pub group: Option<String>,
    /// Where each partition is read from: `committed` (the group's offsets; the
    /// earliest where it has none), `earliest`, `latest` (the end, so a bounded read
    /// finds nothing and fails saying so), or an RFC 3339 time (the first record at or
    /// after it).
    pub start: String,
    /// The records' format: `json` (an object per record value).
    pub format: String,
    /// A record that is not a JSON object: `fail` the stage naming its topic, partition
    /// and offset, or `skip` it (counted, with a sample, in the record).
    pub bad_records: BadRecords,
    /// Seconds without progress (the broker unreachable, a partition not advancing)
    /// before the read fails.
    pub timeout_seconds: f64,
}

impl Default for KafkaSource {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic: String::new(),
            group: None,
            start: "committed".into(),
            format: "json".into(),
            bad_records: BadRecords::Fail,
            timeout_seconds: 30.0,
        }
    }
}

/// A Kinesis data stream as a source: each record a JSON object, a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KinesisSource {
    /// The stream's name.
    pub stream: String,
    /// The AWS region [default: `AWS_REGION`, then `AWS_DEFAULT_REGION`].
    pub region: Option<String>,
    /// Where each shard is read from: `trim_horizon` (every record the stream retains),
    /// `checkpoint` (after the last record the previous ingest read, as its record
    /// says; every record on the first run), or an RFC 3339 time (records that arrived
    /// at or after it).
    pub start: String,
    /// A record that is not a JSON object: `fail` the stage naming its shard and
    /// sequence number, or `skip` it (counted, with a sample, in the record).
    pub bad_records: BadRecords,
}

impl Default for KinesisSource {
    fn default() -> Self {
        Self {
            stream: String::new(),
            region: None,
            start: "trim_horizon".into(),
            bad_records: BadRecords::Fail,
        }
    }
}

/// What a stream source does with a record it cannot read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BadRecords {
    /// Fail the stage, naming the record.
    #[default]
    Fail,
    /// Leave it out, counted, with a sample in the stage record.
    Skip,
}

/// A Delta Lake table as a source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DeltaSource {
    /// The table's directory (a path, or `file://`).
    pub uri: String,
    /// The table version to read; the latest without it or `timestamp`.
    pub version: Option<u64>,
    /// The table as it was at this time (RFC 3339, `2026-01-31T00:00:00Z`): the last
    /// version committed at or before it.
    pub timestamp: Option<String>,
}

/// A JSON API as a source: its pages' records become the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSource {
    /// The first page's URL (`https://` or `http://`).
    pub url: String,
    /// `get` (the parameters go in the query string) or `post` (in a JSON body).
    pub method: HttpMethod,
    /// Request parameters, `${VAR}` from the environment (`from: ${START_DATE}`).
    pub params: BTreeMap<String, String>,
    /// Request headers (`Authorization: Bearer ${API_TOKEN}`). Values from the
    /// environment, and those of credential headers (`Authorization`, `X-Api-Key`,
    /// `Cookie`, ...), are masked wherever mlx shows the config; none is recorded.
    pub headers: BTreeMap<String, String>,
    /// JSON pointer (RFC 6901) to the list of records in each page: `/data`; empty
    /// when the page itself is the list.
    pub records: String,
    /// How to get the next page, one of `next_link: /links/next`, `offset: {param,
    /// limit_param, limit, start}` or `cursor: {param, pointer}`; without it, one
    /// request.
    pub paginate: Option<Paginate>,
    /// At most this many requests per second.
    pub rate_limit: Option<f64>,
    /// Retries of a request answered 429 or 5xx, or not answered in time: after the
    /// `Retry-After` the API asks for, else after 0.5 s, 1 s, 2 s, ...
    pub retries: u32,
    /// Seconds a request may take, its answer read whole.
    pub timeout_seconds: f64,
    /// More pages than this is an error (a paging loop guard).
    pub max_pages: u64,
}

impl Default for HttpSource {
    fn default() -> Self {
        Self {
            url: String::new(),
            method: HttpMethod::Get,
            params: BTreeMap::new(),
            headers: BTreeMap::new(),
            records: String::new(),
            paginate: None,
            rate_limit: None,
            retries: 3,
            timeout_seconds: 30.0,
            max_pages: 10_000,
        }
    }
}

/// The HTTP methods of an API source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
}

/// How an API source pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Paginate {
    /// JSON pointer to the next page's URL in each page (`/links/next`); the last page
    /// has none there (missing, null or empty).
    NextLink(String),
    /// `offset` and `limit` parameters; the last page has fewer than `limit` records.
    Offset(OffsetPaging),
    /// The cursor each page gives, sent back for the next one; the last page has none.
    Cursor(CursorPaging),
}

/// Offset paging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OffsetPaging {
    /// The parameter carrying the offset.
    pub param: String,
    /// The parameter carrying the page size.
    pub limit_param: String,
    /// Records per page.
    pub limit: u64,
    /// The first offset.
    pub start: u64,
}

impl Default for OffsetPaging {
    fn default() -> Self {
        Self {
            param: "offset".into(),
            limit_param: "limit".into(),
            limit: 100,
            start: 0,
        }
    }
}

/// Cursor paging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CursorPaging {
    /// The parameter the cursor is sent back in (`cursor`).
    pub param: String,
    /// JSON pointer to the next cursor in each page (`/meta/next_cursor`).
    pub pointer: String,
}

impl Default for CursorPaging {
    fn default() -> Self {
        Self {
            param: "cursor".into(),
            pointer: String::new(),
        }
    }
}

/// Supported source formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SourceFormat {
    Csv,
    Tsv,
    Parquet,
    Json,
    Ndjson,
    Avro,
    Sql,
    /// Apache ORC (`engine.kind: spark`).
    Orc,
    /// A Delta Lake table's directory (`engine.kind: spark`, with Delta on the cluster).
    Delta,
}

/// Column data types used by ingest coercion and the validation schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum DType {
    Int,
    Float,
    String,
    Bool,
    Date,
    Datetime,
    Category,
}

/// How sources are joined.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Merge {
    /// Join key columns, present in every source.
    pub on: Vec<String>,
    /// Join type.
    pub how: JoinType,
}

/// Join types for merging sources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum JoinType {
    #[default]
    Inner,
    Left,
    Outer,
}

/// Data versioning settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Versioning {
    /// Remote store for `push` and `pull`: a local directory (outside the work
    /// directory), or `s3://`, `gs://`, `az://`. None by default, as DVC: `push` then
    /// says how to set one.
    pub remote: Option<String>,
    /// Local content-addressed cache.
    pub cache: String,
    /// How `add` puts a file into the cache: `copy` (default; the cached version can
    /// never change, whatever writes to the working file) or `hardlink` (no copy: the
    /// file and the cache object share one read-only inode; an in-place write by root
    /// or by a tool that ignores the read-only bit changes the cached version too, and
    /// that version is lost unless it was pushed).
    pub link: CacheLink,
}

impl Default for Versioning {
    fn default() -> Self {
        Self {
            remote: None,
            cache: ".mlx/cache".into(),
            link: CacheLink::Copy,
        }
    }
}

/// How files enter the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CacheLink {
    /// Hard link, read-only (copy across file systems). Opt-in: an in-place write to
    /// the working file rewrites the cached version.
    Hardlink,
    /// Full copy; the working file stays writable and the cache object cannot change.
    #[default]
    Copy,
}

// ---------------------------------------------------------------------------------------
// validation

/// Validation checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Validation {
    /// Per-column expectations, keyed by column name.
    pub columns: BTreeMap<String, ColumnRule>,
    /// Minimum number of rows.
    pub min_rows: Option<u64>,
    /// Maximum number of rows.
    pub max_rows: Option<u64>,
    /// Maximum age of the newest `time_column` value, e.g. `2d`, `12h`.
    pub max_staleness: Option<String>,
    /// Fail when the overall fraction of missing cells is above this.
    pub max_missing_fraction: f64,
    /// Outlier-rate check.
    pub outliers: Outliers,
    /// Drift against the frozen reference.
    pub drift: Drift,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            columns: BTreeMap::new(),
            min_rows: None,
            max_rows: None,
            max_staleness: None,
            max_missing_fraction: 0.05,
            outliers: Outliers::default(),
            drift: Drift::default(),
        }
    }
}

/// Expectations for one column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnRule {
    /// Expected type.
    pub dtype: Option<DType>,
    /// Whether the column must exist.
    pub required: Option<bool>,
    /// Whether nulls are allowed.
    pub nullable: Option<bool>,
    /// Fail when this column's missing fraction is above this.
    pub max_missing_fraction: Option<f64>,
    /// Allowed categories.
    pub allowed: Vec<String>,
    /// Inclusive lower bound.
    pub min: Option<f64>,
    /// Inclusive upper bound.
    pub max: Option<f64>,
    /// Regular expression every value must match.
    pub pattern: Option<String>,
    /// Values must be unique.
    pub unique: bool,
}

/// Outlier-rate check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Outliers {
    /// Detection method.
    pub method: OutlierMethod,
    /// IQR multiplier (1.5) or z-score cut-off (3).
    pub threshold: Option<f64>,
    /// Warn when a column's outlier fraction is above this.
    pub max_fraction: f64,
}

impl Default for Outliers {
    fn default() -> Self {
        Self {
            method: OutlierMethod::None,
            threshold: None,
            max_fraction: 0.01,
        }
    }
}

/// Outlier detection methods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum OutlierMethod {
    #[default]
    None,
    Iqr,
    Zscore,
}

/// Drift detection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Drift {
    /// Method for every column unless overridden in `columns`.
    pub method: DriftMethod,
    /// Per-column method overrides.
    pub columns: BTreeMap<String, DriftMethod>,
    /// PSI binning.
    pub psi_bins: PsiBins,
    /// Number of bins for quantile binning.
    pub bins: u32,
    /// PSI at or above which a column is "moderate" (warn).
    pub psi_warn: f64,
    /// PSI above which a column has drifted (design documents: 0.25).
    pub psi_fail: f64,
    /// p-value below which a statistical test reports drift.
    pub p_value: f64,
    /// Distance above which KL / JS / Wasserstein report drift.
    pub distance_threshold: f64,
    /// The dataset has drifted when this share of columns has.
    pub dataset_drift_share: f64,
}

impl Default for Drift {
    fn default() -> Self {
        Self {
            method: DriftMethod::Auto,
            columns: BTreeMap::new(),
            psi_bins: PsiBins::Quantile,
            bins: 10,
            psi_warn: 0.1,
            psi_fail: 0.25,
            p_value: 0.05,
            distance_threshold: 0.1,
            dataset_drift_share: 0.5,
        }
    }
}

/// Drift statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum DriftMethod {
    #[default]
    Auto,
    Psi,
    Kl,
    Js,
    Wasserstein,
    Ks,
    Chi2,
    Ztest,
}

/// PSI binning schemes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PsiBins {
    /// Quantiles of the reference.
    #[default]
    Quantile,
    /// Evidently-compatible equal-width Sturges bins over reference and current combined.
    Sturges,
}

// ---------------------------------------------------------------------------------------
// features

/// Feature engineering, stateful transforms and the feature store (`mlx-features`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Features {
    /// Deterministic features, computed in order (a feature may use an earlier one).
    /// Rows are ordered by `data.time_column` first, so lags and windows follow time.
    pub derived: Vec<FeatureDef>,
    /// Stateful transforms, fitted on the training split only and saved with the model;
    /// applied in order.
    pub transforms: Vec<TransformDef>,
    /// What to do with rows whose lag or window features are missing (the first rows of
    /// each entity).
    pub incomplete_rows: IncompleteRows,
    /// Columns that are not model inputs (free text, leaky columns). The target,
    /// `data.time_column`, `data.entity_columns` and `data.group_column` never are.
    pub exclude: Vec<String>,
    /// Feature store: offline (versioned Parquet) and online (latest values per entity).
    pub store: FeatureStore,
}

/// One derived feature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureDef {
    /// Output column name, e.g. `lag_7`. For `cyclical`, the two outputs are
    /// `<name>_sin` and `<name>_cos`.
    pub name: String,
    /// Kind of feature.
    pub kind: FeatureKind,
    /// Input column (`lag`, `diff`, `rolling`, `expanding`, `group_agg`; the timestamp
    /// for `calendar`, `cyclical`, `holiday`, default `data.time_column`).
    pub column: Option<String>,
    /// Periods for `lag` and `diff` (default 1).
    pub periods: Option<u32>,
    /// Window for `rolling`: rows (`7`) or a duration over `data.time_column`
    /// (`7d`, `12h`, `30m`, `2w`).
    pub window: Option<String>,
    /// Fewest non-missing values a window needs; default: the window's row count for row
    /// windows (as pandas), 1 for time windows and `expanding`.
    pub min_periods: Option<u32>,
    /// Aggregation for `rolling`, `expanding` and `group_agg`.
    pub agg: Option<Agg>,
    /// Compute per entity or group of these columns; default `data.entity_columns`.
    pub over: Option<Vec<String>>,
    /// Calendar part for `calendar` and `cyclical`.
    pub part: Option<CalendarPart>,
    /// Holiday dates (`YYYY-MM-DD`) for `holiday`.
    pub dates: Vec<String>,
    /// File with one holiday date (`YYYY-MM-DD`) per line, for `holiday` (a path as in
    /// `data.sources`). Lines starting with `#` are ignored.
    pub dates_file: Option<String>,
    /// Arithmetic over columns for `expr`: `+ - * /`, parentheses, numbers, column
    /// names and `log`, `exp`, `sqrt`, `abs`, e.g. `price / competitor_price`.
    pub expr: Option<String>,
}

/// Kinds of derived features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// The value `periods` rows earlier (per entity).
    #[default]
    Lag,
    /// The change since `periods` rows earlier (per entity).
    Diff,
    /// A statistic over a trailing window of rows or time (per entity).
    Rolling,
    /// A statistic over all earlier rows, this one included (per entity).
    Expanding,
    /// A calendar part of a timestamp as a number.
    Calendar,
    /// A calendar part as `sin` and `cos` of its angle on the cycle.
    Cyclical,
    /// Whether the date is in the holiday list (true/false).
    Holiday,
    /// A statistic per group joined back to every row of the group.
    GroupAgg,
    /// Arithmetic between columns.
    Expr,
}

impl FeatureKind {
    /// Whether the feature reads earlier rows of its entity in time order (lag, diff,
    /// rolling, expanding): missing on each entity's first rows, and ambiguous when an
    /// entity repeats a timestamp.
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            Self::Lag | Self::Diff | Self::Rolling | Self::Expanding
        )
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lag => "lag",
            Self::Diff => "diff",
            Self::Rolling => "rolling",
            Self::Expanding => "expanding",
            Self::Calendar => "calendar",
            Self::Cyclical => "cyclical",
            Self::Holiday => "holiday",
            Self::GroupAgg => "group_agg",
            Self::Expr => "expr",
        }
    }
}

/// Aggregations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Agg {
    Mean,
    /// Sample standard deviation (ddof 1, as pandas).
    Std,
    Min,
    Max,
    Sum,
    Count,
    Median,
}

/// Calendar parts, numbered as pandas numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalendarPart {
    /// Monday 0 … Sunday 6 (cycle 7).
    DayOfWeek,
    /// 1 … 31 (cycle 31).
    DayOfMonth,
    /// 1 … 366 (cycle 365).
    DayOfYear,
    /// ISO week 1 … 53 (cycle 52).
    Week,
    /// 1 … 12 (cycle 12).
    Month,
    /// 1 … 4 (cycle 4).
    Quarter,
    /// 0 … 23 (cycle 24).
    Hour,
    /// 0 … 59 (cycle 60).
    Minute,
    /// The year (no cycle; `calendar` only).
    Year,
}

impl CalendarPart {
    /// The cycle length used by `cyclical` (None for `year`).
    pub fn period(self) -> Option<f64> {
        Some(match self {
            Self::DayOfWeek => 7.0,
            Self::DayOfMonth => 31.0,
            Self::DayOfYear => 365.0,
            Self::Week => 52.0,
            Self::Month => 12.0,
            Self::Quarter => 4.0,
            Self::Hour => 24.0,
            Self::Minute => 60.0,
            Self::Year => return None,
        })
    }
}

/// One stateful transform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TransformDef {
    /// Transform kind; `strategy` must be one of its strategies.
    pub kind: TransformKind,
    /// Columns it applies to; empty means every numeric input (`scale`, numeric
    /// imputation) or every text input (`encode`, `mode` and `constant` imputation).
    pub columns: Vec<String>,
    /// The strategy: `scale`: minmax, zscore, robust; `impute`: mean, median, mode,
    /// constant, ffill; `encode`: onehot, ordinal, frequency, target.
    pub strategy: Option<TransformStrategy>,
    /// Fill value for `constant` imputation (a number for numeric columns).
    pub fill_value: Option<String>,
    /// Smoothing for `target` encoding: `auto` (empirical Bayes, as scikit-learn) or a
    /// number of pseudo-rows at the global mean.
    pub smooth: Option<String>,
    /// Folds for the out-of-fold `target` encoding of training rows (default 5).
    pub folds: Option<u32>,
}

/// Stateful transform kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum TransformKind {
    #[default]
    Scale,
    Impute,
    Encode,
}

/// Transform strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransformStrategy {
    /// `(x - min) / (max - min)`.
    Minmax,
    /// `(x - mean) / std` (population std, as scikit-learn's `StandardScaler`).
    Zscore,
    /// `(x - median) / IQR` (as scikit-learn's `RobustScaler`).
    Robust,
    /// Training mean.
    Mean,
    /// Training median.
    Median,
    /// Most frequent training value (the smallest on ties, as scikit-learn).
    Mode,
    /// `fill_value`.
    Constant,
    /// The previous value in time order (per entity); the last training value online.
    Ffill,
    /// One 0/1 column per training category plus `<column>__unknown`.
    Onehot,
    /// The category's index in sorted order; unknown categories are -1.
    Ordinal,
    /// The category's share of training rows; unknown categories are 0.
    Frequency,
    /// The smoothed mean target per category, out-of-fold for training rows; unknown
    /// categories get the global mean.
    Target,
}

impl TransformStrategy {
    /// The kind a strategy belongs to.
    pub fn kind(self) -> TransformKind {
        match self {
            Self::Minmax | Self::Zscore | Self::Robust => TransformKind::Scale,
            Self::Mean | Self::Median | Self::Mode | Self::Constant | Self::Ffill => {
                TransformKind::Impute
            }
            Self::Onehot | Self::Ordinal | Self::Frequency | Self::Target => TransformKind::Encode,
        }
    }
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minmax => "minmax",
            Self::Zscore => "zscore",
            Self::Robust => "robust",
            Self::Mean => "mean",
            Self::Median => "median",
            Self::Mode => "mode",
            Self::Constant => "constant",
            Self::Ffill => "ffill",
            Self::Onehot => "onehot",
            Self::Ordinal => "ordinal",
            Self::Frequency => "frequency",
            Self::Target => "target",
        }
    }
}

impl TransformKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scale => "scale",
            Self::Impute => "impute",
            Self::Encode => "encode",
        }
    }
    /// The strategy used when none is given.
    pub fn default_strategy(self) -> TransformStrategy {
        match self {
            Self::Scale => TransformStrategy::Zscore,
            Self::Impute => TransformStrategy::Median,
            Self::Encode => TransformStrategy::Onehot,
        }
    }
}

/// Handling of rows whose lag or window features are missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteRows {
    /// Drop them (as `dropna()` in the design documents).
    #[default]
    Drop,
    /// Keep them with missing values, for an `impute` transform (fitted on the training
    /// split) to fill.
    Keep,
    /// Fill the missing derived values with 0.
    Zero,
}

/// Feature store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureStore {
    /// Offline store: versioned Parquet per view in a local directory
    /// [default: `<workdir>/feature-store/offline`] or at an `s3://`, `gs://`, `az://`
    /// URL (credentials from `AWS_*`, `GOOGLE_*`, `AZURE_*`).
    pub offline: Option<String>,
    /// How the offline store keeps a view: `parquet` (a content-addressed file per
    /// version) or `delta` (each view a Delta Lake table, each version a commit that
    /// Spark, Databricks, Python's `deltalake` or any Delta reader can read and time
    /// travel).
    pub format: OfflineFormat,
    /// Online store: a local key-value file (embedded default,
    /// `<workdir>/feature-store/online.redb`) or `redis://host:port/db`.
    pub online: Option<String>,
    /// Feature views.
    pub views: Vec<FeatureView>,
}

/// How the offline store keeps a view's versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfflineFormat {
    /// `<offline>/<view>/<sha256>.parquet` per version, `latest.json` naming the newest.
    #[default]
    Parquet,
    /// `<offline>/<view>/` is a Delta table; a new version is an overwrite commit whose
    /// one data file is `<sha256>.parquet`.
    Delta,
}

/// A feature view: features of an entity over time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureView {
    /// View name (a file-name-safe identifier).
    pub name: String,
    /// A table (CSV, Parquet, ...) of feature rows (a path as in `data.sources`). Rows are
    /// joined point-in-time-correct onto the dataset. Without `source`, the view publishes
    /// this dataset's own derived features (for the online store).
    pub source: Option<String>,
    /// Entity key columns; default `data.entity_columns`.
    pub entity: Vec<String>,
    /// Event-time column of the view; default `data.time_column`.
    pub timestamp: Option<String>,
    /// Feature columns; default every column that is not a key or the timestamp.
    pub features: Vec<String>,
    /// How old a feature value may be at a label's time and still be used (`30d`, `12h`);
    /// older values count as missing. Default: no limit.
    pub ttl: Option<String>,
}

// ---------------------------------------------------------------------------------------
// split

/// How rows are split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Split {
    /// Strategy; defaults to `temporal` for time series, `stratified` for
    /// classification and `random` otherwise.
    pub strategy: Option<SplitStrategy>,
    /// Training fraction.
    pub train: f64,
    /// Validation fraction (early stopping, threshold tuning).
    pub validation: f64,
    /// Test fraction (held out for evaluation). The fold strategies hold it out first
    /// and fold the rest; `0` folds every row.
    pub test: f64,
    /// `temporal`: the test set is the last N rows.
    pub test_rows: Option<u64>,
    /// `temporal`: the test set is the last N days.
    pub test_days: Option<u32>,
    /// `temporal`: the test set is every row at or after this date (`YYYY-MM-DD`).
    pub cutoff: Option<String>,
    /// Number of folds (`kfold`, `stratified_kfold`, `group_kfold`) or windows
    /// (`expanding_window`, `sliding_window`).
    pub folds: u32,
    /// Shuffle before splitting (`random`, `stratified`, `group` always shuffle;
    /// `kfold`, `stratified_kfold`, `group_kfold` only when set).
    pub shuffle: bool,
    /// Rows left out between training and the following validation/test rows (time
    /// orders), so lags cannot see across the boundary.
    pub gap: u32,
    /// Rows per validation window for `expanding_window` / `sliding_window`
    /// (default: rows / (folds + 1), as scikit-learn's `TimeSeriesSplit`).
    pub window_rows: Option<u64>,
    /// Training rows per window for `sliding_window` (scikit-learn's `max_train_size`).
    pub max_train_size: Option<u64>,
    /// Seed for shuffling; defaults to `training.seed`.
    pub seed: Option<u64>,
}

impl Default for Split {
    fn default() -> Self {
        Self {
            strategy: None,
            train: 0.7,
            validation: 0.15,
            test: 0.15,
            test_rows: None,
            test_days: None,
            cutoff: None,
            folds: 5,
            shuffle: false,
            gap: 0,
            window_rows: None,
            max_train_size: None,
            seed: None,
        }
    }
}

/// Split strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SplitStrategy {
    Random,
    Stratified,
    Group,
    Temporal,
    Kfold,
    StratifiedKfold,
    GroupKfold,
    ExpandingWindow,
    SlidingWindow,
}

impl SplitStrategy {
    /// Whether the strategy keeps time order (safe for time series).
    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            Self::Temporal | Self::ExpandingWindow | Self::SlidingWindow
        )
    }
    /// Whether the strategy makes cross-validation folds.
    pub fn is_folded(self) -> bool {
        matches!(
            self,
            Self::Kfold
                | Self::StratifiedKfold
                | Self::GroupKfold
                | Self::ExpandingWindow
                | Self::SlidingWindow
        )
    }
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Stratified => "stratified",
            Self::Group => "group",
            Self::Temporal => "temporal",
            Self::Kfold => "kfold",
            Self::StratifiedKfold => "stratified_kfold",
            Self::GroupKfold => "group_kfold",
            Self::ExpandingWindow => "expanding_window",
            Self::SlidingWindow => "sliding_window",
        }
    }
}

// ---------------------------------------------------------------------------------------
// pipeline and models

/// What kind of problem this is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Pipeline {
    /// The problem type; every default follows from it.
    pub problem_type: ProblemType,
    /// Default model family, used when `models` is empty.
    pub model_type: Option<ModelType>,
    /// For `deep_learning`: whether the network predicts a class or a number.
    pub task: Option<Task>,
}

impl Pipeline {
    /// Whether the models forecast one series over time: `time_series`, or
    /// `deep_learning` with `task: forecasting`.
    pub fn forecasts(&self) -> bool {
        self.problem_type == ProblemType::TimeSeries
            || (self.problem_type == ProblemType::DeepLearning
                && self.task == Some(Task::Forecasting))
    }
}

/// Problem types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ProblemType {
    #[default]
    Classification,
    Regression,
    TimeSeries,
    DeepLearning,
}

impl ProblemType {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classification => "classification",
            Self::Regression => "regression",
            Self::TimeSeries => "time_series",
            Self::DeepLearning => "deep_learning",
        }
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Output kind of a deep-learning model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Task {
    Classification,
    Regression,
    Forecasting,
}

/// Model families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ModelType {
    Linear,
    Logistic,
    Ridge,
    Lasso,
    ElasticNet,
    DecisionTree,
    RandomForest,
    GradientBoosting,
    Knn,
    Svm,
    Xgboost,
    Lightgbm,
    Arima,
    Sarimax,
    Ets,
    SeasonalNaive,
    Mlp,
    Cnn1d,
    Lstm,
    Transformer,
}

impl ModelType {
    /// Every family, for help texts.
    pub const ALL: &'static [ModelType] = &[
        ModelType::Linear,
        ModelType::Logistic,
        ModelType::Ridge,
        ModelType::Lasso,
        ModelType::ElasticNet,
        ModelType::DecisionTree,
        ModelType::RandomForest,
        ModelType::GradientBoosting,
        ModelType::Knn,
        ModelType::Svm,
        ModelType::Xgboost,
        ModelType::Lightgbm,
        ModelType::Arima,
        ModelType::Sarimax,
        ModelType::Ets,
        ModelType::SeasonalNaive,
        ModelType::Mlp,
        ModelType::Cnn1d,
        ModelType::Lstm,
        ModelType::Transformer,
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::Linear => "linear",
            ModelType::Logistic => "logistic",
            ModelType::Ridge => "ridge",
            ModelType::Lasso => "lasso",
            ModelType::ElasticNet => "elastic_net",
            ModelType::DecisionTree => "decision_tree",
            ModelType::RandomForest => "random_forest",
            ModelType::GradientBoosting => "gradient_boosting",
            ModelType::Knn => "knn",
            ModelType::Svm => "svm",
            ModelType::Xgboost => "xgboost",
            ModelType::Lightgbm => "lightgbm",
            ModelType::Arima => "arima",
            ModelType::Sarimax => "sarimax",
            ModelType::Ets => "ets",
            ModelType::SeasonalNaive => "seasonal_naive",
            ModelType::Mlp => "mlp",
            ModelType::Cnn1d => "cnn1d",
            ModelType::Lstm => "lstm",
            ModelType::Transformer => "transformer",
        }
    }

    /// Problem types this family can serve.
    pub fn supports(self, problem: ProblemType) -> bool {
        use ModelType::*;
        use ProblemType::*;
        match self {
            Logistic => problem == Classification,
            Linear | Ridge | Lasso | ElasticNet | GradientBoosting => {
                matches!(problem, Regression | TimeSeries)
            }
            DecisionTree | RandomForest | Knn | Svm | Xgboost | Lightgbm => problem != DeepLearning,
            Arima | Sarimax | Ets | SeasonalNaive => problem == TimeSeries,
            Mlp | Cnn1d | Lstm | Transformer => true,
        }
    }
}

// ---------------------------------------------------------------------------------------
// forecast

/// How a `time_series` problem forecasts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Forecast {
    /// Steps (rows) ahead of each forecast. Evaluation forecasts the held-out rows in
    /// blocks of this many, each from the actual values before it (rolling origin);
    /// default: the season length (7 for daily data).
    pub horizon: Option<u32>,
    /// Rows per season (7 for daily data with a weekly cycle, 12 for monthly, 24 for
    /// hourly); default: from the spacing of `data.time_column` (hourly 24, daily 7,
    /// weekly 52, monthly 12, quarterly 4), else 1 (no season).
    pub season: Option<u32>,
    /// How regression models (gradient boosting, forests, linear models) on lag
    /// features forecast several steps: `recursive` (one model; each step's prediction
    /// becomes the next step's lag) or `direct` (one model per step ahead, from the
    /// features known at the forecast origin).
    pub strategy: ForecastStrategy,
    /// Coverage of the prediction intervals served with a forecaster's forecasts
    /// (`prediction_lower`, `prediction_upper`), where the model defines them (ARIMA,
    /// SARIMAX, the baselines); default 0.95.
    pub interval: Option<f64>,
}

/// Multi-step strategies of regression models on lag features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ForecastStrategy {
    #[default]
    Recursive,
    Direct,
}

impl ForecastStrategy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recursive => "recursive",
            Self::Direct => "direct",
        }
    }
}

/// One candidate model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name in the leaderboard; defaults to the type.
    #[serde(default)]
    pub name: Option<String>,
    /// Model family.
    #[serde(rename = "type")]
    pub model_type: ModelType,
    /// Hyperparameters passed to the backend.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
}

/// A hyperparameter value. YAML scalars are typed by the YAML 1.2 core schema:
/// `true`/`false`, integers, floats and `null` become those; anything else is a string.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(missing_docs)]
pub enum ParamValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<ParamValue>),
    Map(BTreeMap<String, ParamValue>),
}

/// The value as compact JSON (`3`, `"rbf"`, `[64, 32]`), as error messages quote it.
impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

impl ParamValue {
    /// Types a plain YAML scalar by the core schema.
    pub fn from_scalar(s: &str) -> Self {
        match s {
            "" | "~" | "null" | "Null" | "NULL" => return Self::Null,
            "true" | "True" | "TRUE" => return Self::Bool(true),
            "false" | "False" | "FALSE" => return Self::Bool(false),
            _ => {}
        }
        if let Ok(i) = s.parse::<i64>() {
            return Self::Int(i);
        }
        let looks_numeric = s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        if looks_numeric {
            if let Ok(f) = s.parse::<f64>() {
                return Self::Float(f);
            }
        }
        match s {
            ".inf" | ".Inf" | "+.inf" => Self::Float(f64::INFINITY),
            "-.inf" | "-.Inf" => Self::Float(f64::NEG_INFINITY),
            ".nan" | ".NaN" => Self::Float(f64::NAN),
            _ => Self::String(s.to_owned()),
        }
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ParamValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar, list or mapping")
            }
            fn visit_unit<E>(self) -> Result<ParamValue, E> {
                Ok(ParamValue::Null)
            }
            fn visit_none<E>(self) -> Result<ParamValue, E> {
                Ok(ParamValue::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<ParamValue, E> {
                Ok(ParamValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<ParamValue, E> {
                Ok(ParamValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ParamValue, E> {
                i64::try_from(v)
                    .map(ParamValue::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<ParamValue, E> {
                Ok(ParamValue::Float(v))
            }
            // The YAML loader hands every scalar over as a string; JSON hands over
            // typed values. Strings are typed here so both agree.
            fn visit_str<E>(self, v: &str) -> Result<ParamValue, E> {
                Ok(ParamValue::from_scalar(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ParamValue, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(ParamValue::List(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ParamValue, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, ParamValue>()? {
                    out.insert(k, v);
                }
                Ok(ParamValue::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// training

/// Training-loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Training {
    /// Optimizer for iterative models.
    pub optimizer: Optimizer,
    /// Learning rate.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: u32,
    /// Maximum number of epochs.
    pub epochs: u32,
    /// Loss function; defaults to the problem type's usual loss.
    pub loss: Option<Loss>,
    /// Early stopping on the validation split.
    pub early_stopping: Option<EarlyStopping>,
    /// Random seed for everything that is random.
    pub seed: u64,
    /// Hyperparameter search.
    pub tuning: Option<Tuning>,
    /// SGD's momentum (networks; 0 for plain SGD).
    pub momentum: f64,
    /// Weight decay: an L2 penalty in the gradient (`sgd`, `adam`, `rmsprop`) or
    /// decoupled decay (`adamw`); default 0, and 0.01 for `adamw` (PyTorch's).
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule, stepped once per epoch.
    pub schedule: Schedule,
    /// Largest global L2 norm of the gradients; larger ones are scaled down to it.
    pub gradient_clip: Option<f64>,
    /// Fraction of the training rows (the last ones) held out to watch the validation
    /// loss when the split has no validation rows.
    pub validation_split: Option<f64>,
    /// Parameters of the losses that have them.
    pub loss_params: LossParams,
    /// Where networks train: `candle` (pure Rust, CPU; the default) or `torch` (libtorch,
    /// for GPUs; needs mlx built with the `torch` feature).
    pub backend: Backend,
    /// The `torch` backend's device: `cpu`, `cuda`, `cuda:N` or `auto` (the first GPU
    /// when there is one).
    pub device: String,
}

impl Default for Training {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::Adam,
            learning_rate: 0.001,
            batch_size: 32,
            epochs: 50,
            loss: None,
            early_stopping: None,
            seed: 42,
            tuning: None,
            momentum: 0.9,
            weight_decay: None,
            schedule: Schedule::default(),
            gradient_clip: None,
            validation_split: None,
            loss_params: LossParams::default(),
            backend: Backend::default(),
            device: "auto".into(),
        }
    }
}

/// The tensor library that trains networks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// candle's CPU tensors: pure Rust, repeatable to the bit with a seed.
    #[default]
    Candle,
    /// libtorch through `tch` (CPU or CUDA), from a PyTorch install.
    Torch,
}

/// A learning-rate schedule (PyTorch's `StepLR`, `ExponentialLR`, `CosineAnnealingLR`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// The rule.
    pub kind: ScheduleKind,
    /// Epochs between decays (`step`).
    pub step_size: u32,
    /// Factor of each decay (`step`, `exponential`).
    pub gamma: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Constant,
            step_size: 10,
            gamma: 0.1,
        }
    }
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// The same rate every epoch.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `step_size` epochs.
    Step,
    /// Multiplied by `gamma` every epoch.
    Exponential,
    /// Half a cosine from the rate down to 0 over the epochs.
    Cosine,
}

/// Parameters of the losses that have them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LossParams {
    /// Focal loss: weight of the positive class (binary; below 0 for none) or of every
    /// class (several classes).
    pub alpha: f64,
    /// Focal loss: focusing exponent.
    pub gamma: f64,
    /// Huber loss: where the quadratic part ends, on the standardised target.
    pub delta: f64,
    /// Contrastive and triplet losses: the margin between embeddings.
    pub margin: f64,
}

impl Default for LossParams {
    fn default() -> Self {
        Self {
            alpha: 0.25,
            gamma: 2.0,
            delta: 1.0,
            margin: 1.0,
        }
    }
}

/// Optimizers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Optimizer {
    Sgd,
    #[default]
    Adam,
    Adamw,
    Rmsprop,
}

/// Loss functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Loss {
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Focal,
    Mse,
    Mae,
    Huber,
    LogCosh,
    Contrastive,
    Triplet,
}

/// Early stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: u32,
    /// Smallest change that counts as improvement.
    pub min_delta: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            patience: 5,
            min_delta: 0.0,
        }
    }
}

/// Hyperparameter search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Tuning {
    /// Search method.
    pub method: TuningMethod,
    /// Number of trials for random search.
    pub trials: u32,
}

/// Search methods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum TuningMethod {
    #[default]
    Grid,
    Random,
}

// ---------------------------------------------------------------------------------------
// evaluation

/// Evaluation settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Evaluation {
    /// Metrics to compute; defaults to the problem type's usual set.
    pub metrics: Vec<Metric>,
    /// The metric that ranks candidates and feeds the gate.
    pub primary_metric: Option<Metric>,
    /// Whether larger or smaller is better; follows from the metric when absent.
    pub direction: Option<Direction>,
    /// Minimum (or maximum, for `minimize`) acceptable primary metric.
    pub threshold: Option<f64>,
    /// Columns whose values each get their own metrics (slices), e.g. `[region, plan]`.
    pub segments: Vec<String>,
    /// Fairness across the groups of a protected attribute (classifiers).
    pub fairness: Option<FairnessCheck>,
    /// Binary classifiers: tune the decision threshold on the validation split for the
    /// primary metric (stored in the bundle and used at serving) instead of 0.5.
    pub tune_threshold: bool,
    /// The season length of MASE's naive forecast (1: the previous value); default:
    /// the forecast's season for time series, else 1.
    pub seasonal_period: Option<u32>,
    /// Write SVG plots (ROC, precision-recall, confusion matrix, calibration,
    /// residuals, forecast) next to each run's metrics.
    pub plots: Option<bool>,
}

/// Fairness settings: the protected attribute and the bounds the gate enforces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessCheck {
    /// The protected attribute's column (read from the features, whether or not the
    /// model uses it).
    pub protected: String,
    /// The favourable class (default: the second class in sorted order, e.g. `1`).
    #[serde(default)]
    pub positive_class: Option<String>,
    /// Largest demographic parity difference the gate accepts.
    #[serde(default)]
    pub max_demographic_parity_difference: Option<f64>,
    /// Largest equal opportunity difference the gate accepts.
    #[serde(default)]
    pub max_equal_opportunity_difference: Option<f64>,
    /// Smallest ratio of the lowest to the highest selection rate the gate accepts
    /// (the four-fifths rule: 0.8).
    #[serde(default)]
    pub min_disparate_impact: Option<f64>,
}

/// Metric direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Direction {
    Maximize,
    Minimize,
}

/// Evaluation metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Metric {
    Accuracy,
    BalancedAccuracy,
    Precision,
    Recall,
    F1Score,
    PrecisionMacro,
    PrecisionMicro,
    PrecisionWeighted,
    RecallMacro,
    RecallMicro,
    RecallWeighted,
    F1Macro,
    F1Micro,
    F1Weighted,
    RocAuc,
    RocAucOvr,
    RocAucOvrWeighted,
    AveragePrecision,
    PrAuc,
    LogLoss,
    Brier,
    Mcc,
    Mae,
    Mse,
    Rmse,
    Mape,
    Smape,
    Wape,
    Mase,
    R2,
    Bias,
    MedianAe,
    Huber,
    LogCosh,
}

impl Metric {
    /// Every metric, for help texts and suggestions.
    pub const ALL: &'static [Metric] = &[
        Metric::Accuracy,
        Metric::BalancedAccuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::F1Score,
        Metric::PrecisionMacro,
        Metric::PrecisionMicro,
        Metric::PrecisionWeighted,
        Metric::RecallMacro,
        Metric::RecallMicro,
        Metric::RecallWeighted,
        Metric::F1Macro,
        Metric::F1Micro,
        Metric::F1Weighted,
        Metric::RocAuc,
        Metric::RocAucOvr,
        Metric::RocAucOvrWeighted,
        Metric::AveragePrecision,
        Metric::PrAuc,
        Metric::LogLoss,
        Metric::Brier,
        Metric::Mcc,
        Metric::Mae,
        Metric::Mse,
        Metric::Rmse,
        Metric::Mape,
        Metric::Smape,
        Metric::Wape,
        Metric::Mase,
        Metric::R2,
        Metric::Bias,
        Metric::MedianAe,
        Metric::Huber,
        Metric::LogCosh,
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::F1Score => "f1_score",
            Metric::PrecisionMacro => "precision_macro",
            Metric::PrecisionMicro => "precision_micro",
            Metric::PrecisionWeighted => "precision_weighted",
            Metric::RecallMacro => "recall_macro",
            Metric::RecallMicro => "recall_micro",
            Metric::RecallWeighted => "recall_weighted",
            Metric::F1Macro => "f1_macro",
            Metric::F1Micro => "f1_micro",
            Metric::F1Weighted => "f1_weighted",
            Metric::RocAuc => "roc_auc",
            Metric::RocAucOvr => "roc_auc_ovr",
            Metric::RocAucOvrWeighted => "roc_auc_ovr_weighted",
            Metric::AveragePrecision => "average_precision",
            Metric::PrAuc => "pr_auc",
            Metric::LogLoss => "log_loss",
            Metric::Brier => "brier",
            Metric::Mcc => "mcc",
            Metric::Mae => "mae",
            Metric::Mse => "mse",
            Metric::Rmse => "rmse",
            Metric::Mape => "mape",
            Metric::Smape => "smape",
            Metric::Wape => "wape",
            Metric::Mase => "mase",
            Metric::R2 => "r2",
            Metric::Bias => "bias",
            Metric::MedianAe => "median_ae",
            Metric::Huber => "huber",
            Metric::LogCosh => "log_cosh",
        }
    }

    /// Whether the metric depends on the decision threshold of a binary classifier
    /// (those a tuned threshold can optimise).
    pub fn uses_threshold(self) -> bool {
        use Metric::*;
        matches!(
            self,
            Accuracy | BalancedAccuracy | Precision | Recall | F1Score | Mcc
        )
    }

    /// Whether the metric scores class predictions (as opposed to numeric ones).
    pub fn is_classification(self) -> bool {
        use Metric::*;
        matches!(
            self,
            Accuracy
                | BalancedAccuracy
                | Precision
                | Recall
                | F1Score
                | PrecisionMacro
                | PrecisionMicro
                | PrecisionWeighted
                | RecallMacro
                | RecallMicro
                | RecallWeighted
                | F1Macro
                | F1Micro
                | F1Weighted
                | RocAuc
                | RocAucOvr
                | RocAucOvrWeighted
                | AveragePrecision
                | PrAuc
                | LogLoss
                | Brier
                | Mcc
        )
    }

    /// Whether the metric needs a naive-forecast baseline (only time series have one).
    pub fn needs_time_order(self) -> bool {
        self == Metric::Mase
    }

    /// The natural direction. `bias` is minimised in absolute value by the gate.
    pub fn direction(self) -> Direction {
        use Metric::*;
        match self {
            Accuracy | BalancedAccuracy | Precision | Recall | F1Score | PrecisionMacro
            | PrecisionMicro | PrecisionWeighted | RecallMacro | RecallMicro | RecallWeighted
            | F1Macro | F1Micro | F1Weighted | RocAuc | RocAucOvr | RocAucOvrWeighted
            | AveragePrecision | PrAuc | Mcc | R2 => Direction::Maximize,
            LogLoss | Brier | Mae | Mse | Rmse | Mape | Smape | Wape | Mase | Bias | MedianAe
            | Huber | LogCosh => Direction::Minimize,
        }
    }

    /// Whether this metric applies to the problem type (and deep-learning task).
    pub fn applies_to(self, problem: ProblemType, task: Option<Task>) -> bool {
        match problem {
            ProblemType::Classification => self.is_classification(),
            ProblemType::Regression => !self.is_classification() && !self.needs_time_order(),
            ProblemType::TimeSeries => !self.is_classification(),
            ProblemType::DeepLearning => match task {
                Some(Task::Classification) => self.is_classification(),
                Some(Task::Regression) => !self.is_classification() && !self.needs_time_order(),
                Some(Task::Forecasting) => !self.is_classification(),
                None => true,
            },
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// explain

/// SHAP settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Explain {
    /// Whether `mlx-shap` runs in the pipeline.
    pub enabled: bool,
    /// Algorithm; `auto` picks the exact one the model allows.
    pub method: ShapMethod,
    /// Rows explained (a seeded sample when the test set is larger).
    pub max_samples: u32,
    /// Background rows for KernelSHAP / permutation SHAP.
    pub background_samples: u32,
    /// Number of features shown in plots and reports.
    pub top_k: u32,
    /// Permutation SHAP: antithetic permutation pairs per row.
    pub permutations: u32,
    /// Kernel and permutation SHAP: the most model evaluations (rows explained ×
    /// coalitions × background rows); fewer rows (then fewer background rows) are
    /// explained beyond it.
    pub max_evaluations: u64,
    /// The explained row the waterfall and force plots show (index among the rows
    /// explained).
    pub plot_row: u32,
    /// When a change of importance profile against the production model counts as a
    /// SHAP shift.
    pub shift: ShapShiftPolicy,
}

/// Thresholds of a SHAP shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShapShiftPolicy {
    /// Flag when the Spearman correlation of the importances falls below this.
    pub min_spearman: f64,
    /// Flag when the L1 distance of the normalised importances exceeds this (0 to 2).
    pub max_l1: f64,
    /// Flag when one of the baseline's top this-many features leaves the top `top_k`.
    pub top_features: u32,
}

impl Default for ShapShiftPolicy {
    fn default() -> Self {
        Self {
            min_spearman: 0.8,
            max_l1: 0.3,
            top_features: 3,
        }
    }
}

impl Default for Explain {
    fn default() -> Self {
        Self {
            enabled: true,
            method: ShapMethod::Auto,
            max_samples: 1000,
            background_samples: 100,
            top_k: 10,
            permutations: 10,
            max_evaluations: 20_000_000,
            plot_row: 0,
            shift: ShapShiftPolicy::default(),
        }
    }
}

/// SHAP algorithms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ShapMethod {
    #[default]
    Auto,
    Tree,
    Linear,
    Kernel,
    Permutation,
}

// ---------------------------------------------------------------------------------------
// approval gate

/// Approval policy; the first five keys are the design documents'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalGate {
    /// Approve without a human when every check passes.
    pub auto_approve: bool,
    /// The primary metric must beat this (direction aware); defaults to
    /// `evaluation.threshold`.
    pub primary_metric_threshold: Option<f64>,
    /// Largest allowed relative worsening of any tracked metric against production.
    pub regression_tolerance: f64,
    /// A human decision is required before promotion.
    pub require_human_review: bool,
    /// A SHAP ranking shift against production (as `explain.shift` defines it) sends
    /// the candidate to human review.
    pub escalate_on_shap_drift: bool,
    /// Extra per-metric limits: a number (`rmse: 120`, direction from the metric) or a
    /// comparison (`rmse: "< 120"`, `recall: ">= 0.7"`).
    pub metric_baselines: BTreeMap<String, MetricBound>,
    /// Largest allowed PSI of any feature (from `mlx-validate`'s drift report).
    pub max_psi: Option<f64>,
    /// Treat `warned` validation checks as failures (otherwise they send the candidate
    /// to human review).
    pub block_on_data_warnings: bool,
    /// Who may decide; empty: anyone (on GitHub, anyone with
    /// `github.required_permission`).
    pub reviewers: Vec<String>,
    /// Whether the candidate's author may approve it.
    pub allow_self_approval: bool,
    /// Approvals needed before promotion to production.
    pub min_approvals: u32,
}

impl Default for ApprovalGate {
    fn default() -> Self {
        Self {
            auto_approve: false,
            primary_metric_threshold: None,
            regression_tolerance: 0.02,
            require_human_review: true,
            escalate_on_shap_drift: true,
            metric_baselines: BTreeMap::new(),
            max_psi: None,
            block_on_data_warnings: false,
            reviewers: Vec::new(),
            allow_self_approval: false,
            min_approvals: 1,
        }
    }
}

/// A limit on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MetricBound {
    /// The metric must be at least (maximised metrics) or at most (minimised) this.
    Limit(f64),
    /// `< 120`, `<= 120`, `> 0.7` or `>= 0.7`.
    Comparison(String),
}

impl MetricBound {
    /// The comparison operator and the limit; `None` when the text is not a
    /// comparison. A bare number takes its operator from the direction.
    pub fn parse(&self, direction: Direction) -> Option<(&'static str, f64)> {
        let floor = match direction {
            Direction::Maximize => ">=",
            Direction::Minimize => "<=",
        };
        match self {
            MetricBound::Limit(v) => Some((floor, *v)),
            MetricBound::Comparison(text) => {
                let t = text.trim();
                if let Ok(v) = t.parse::<f64>() {
                    return v.is_finite().then_some((floor, v));
                }
                let (op, rest) = ["<=", ">=", "<", ">"]
                    .iter()
                    .find_map(|op| t.strip_prefix(op).map(|r| (*op, r)))?;
                rest.trim().parse().ok().map(|v| (op, v))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// registry and deploy

/// Model registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Registry {
    /// A local directory, or `s3://`, `gs://`, `az://`.
    pub uri: String,
    /// Registered model name; defaults to `project.name`, then `model`.
    pub model_name: Option<String>,
    /// How far `mlx promote` in a pipeline takes an approved candidate (stage by
    /// stage): `none` (register only), `staging` or `production`.
    pub promote_to: PromoteTarget,
    /// Production accepts only versions that are in staging.
    pub require_staging: bool,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            uri: ".mlx/registry".into(),
            model_name: None,
            promote_to: PromoteTarget::Staging,
            require_staging: true,
        }
    }
}

/// The tracking store (docs/tracking.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Tracking {
    /// Record the stages' runs at all.
    pub enabled: bool,
    /// A local directory, or `s3://`, `gs://`, `az://`; written with create-only
    /// writes, so many runners can share one.
    pub uri: String,
    /// The experiment the runs are filed under; defaults to `project.name`, then
    /// `default`.
    pub experiment: Option<String>,
    /// An MLflow tracking server every run and registry change is mirrored to
    /// (docs/mlflow.md); unset: none.
    pub mlflow: Option<MlflowMirror>,
}

impl Default for Tracking {
    fn default() -> Self {
        Self {
            enabled: true,
            uri: ".mlx/tracking".into(),
            experiment: None,
            mlflow: None,
        }
    }
}

/// `tracking.mlflow`: the MLflow server the tracking store and the registry are mirrored
/// to, through its REST API. The token comes from `MLFLOW_TRACKING_TOKEN`, or a user and
/// password from `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`, as MLflow's
/// own client reads them; never from the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MlflowMirror {
    /// The server: `http://` or `https://` (`http://mlflow.internal:5000`).
    pub uri: String,
    /// The MLflow experiment the runs go to (created when missing); defaults to the
    /// tracking store's experiment.
    #[serde(default)]
    pub experiment: Option<String>,
    /// Seconds a pipeline stage waits for the server before it queues its runs for
    /// `mlx tracking sync` and goes on.
    #[serde(default = "default_mirror_timeout")]
    pub timeout_seconds: f64,
}

fn default_mirror_timeout() -> f64 {
    5.0
}

/// `mlx ui` (docs/ui.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Ui {
    /// Address to listen on. Loopback by default: serving others (`0.0.0.0:5000`) is
    /// a choice, best made behind a TLS proxy.
    pub bind: String,
    /// Reviewers who may log in, each with the SHA-256 (hex) of their token, which
    /// `mlx ui token NAME` makes. Only hashes belong here: the tokens themselves are
    /// secrets. Tokens can also come from `MLX_UI_TOKENS` or a secrets file
    /// (`--tokens-file`).
    pub tokens: BTreeMap<String, String>,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:5000".into(),
            tokens: BTreeMap::new(),
        }
    }
}

/// Where the pipeline's promotion stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum PromoteTarget {
    None,
    #[default]
    Staging,
    Production,
}

/// Serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Deploy {
    /// Rollout strategy `mlx-promote deploy` records when `--strategy` is not given
    /// (`mlx-serve` follows what the registry records).
    pub strategy: DeployStrategy,
    /// Share of traffic sent to the challenger under `canary` (the default of
    /// `mlx-promote deploy --fraction`).
    pub canary_fraction: f64,
    /// Column that keeps an entity on one variant under `canary`.
    pub sticky_key: Option<String>,
    /// Listen address of `mlx-serve`.
    pub host: String,
    /// Listen port of `mlx-serve`.
    pub port: u16,
    /// Prediction log written by `mlx-serve` and read by `mlx-monitor`.
    pub prediction_log: String,
    /// The registry version `mlx-serve` serves: `production` (following the registry's
    /// deployment state: live version, canary, shadow), `staging`, an alias or a number.
    pub model: String,
    /// Seconds between checks of the registry for a new deployment.
    pub poll_seconds: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Prediction log lines queued for the writer; beyond, lines are dropped and counted.
    pub log_queue: u64,
    /// A prediction log file is closed and a new one started past this size, in bytes.
    pub log_rotate_bytes: u64,
    /// Environment variable holding the bearer token that `/v1/*` requires (unset or
    /// empty: no authentication).
    pub auth_token_env: String,
    /// Most connections served at once (further ones are closed at once); never more
    /// than the process's open-file limit allows.
    pub max_connections: u64,
    /// Seconds a client has to send a request's headers (on a new or a kept-alive
    /// connection) before the connection is closed.
    pub header_timeout_seconds: u64,
    /// Seconds a client has to send a request's body; a slower or short body gets
    /// 408 and the connection is closed.
    pub body_timeout_seconds: u64,
}

impl Default for Deploy {
    fn default() -> Self {
        Self {
            strategy: DeployStrategy::Direct,
            canary_fraction: 0.1,
            sticky_key: None,
            host: "127.0.0.1".into(),
            port: 8080,
            prediction_log: ".mlx/predictions".into(),
            model: "production".into(),
            poll_seconds: 5,
            max_body_bytes: 1 << 20,
            log_queue: 10_000,
            log_rotate_bytes: 64 << 20,
            auth_token_env: "MLX_SERVE_TOKEN".into(),
            max_connections: 1000,
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
        }
    }
}

/// Rollout strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum DeployStrategy {
    #[default]
    Direct,
    BlueGreen,
    Canary,
    Shadow,
}

impl DeployStrategy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStrategy::Direct => "direct",
            DeployStrategy::BlueGreen => "blue_green",
            DeployStrategy::Canary => "canary",
            DeployStrategy::Shadow => "shadow",
        }
    }
}

// ---------------------------------------------------------------------------------------
// monitoring

/// Monitoring and retraining triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Cron schedule of the monitoring workflow.
    pub schedule: String,
    /// Rolling window, in days, for metrics and drift.
    pub window_days: u32,
    /// Retrain when any feature's PSI is above this (design documents: 0.25).
    pub psi_threshold: f64,
    /// Retrain when any feature's KL divergence is above this.
    pub kl_threshold: Option<f64>,
    /// Retrain when the primary metric is worse than the training baseline by this
    /// relative amount.
    pub metric_degradation: f64,
    /// Retrain when rolling WAPE is above this.
    pub wape_threshold: Option<f64>,
    /// Retrain when accuracy is below this.
    pub accuracy_threshold: Option<f64>,
    /// SHAP shift that counts as "changed" in the drift matrix.
    pub shap_shift_threshold: f64,
    /// Whether a changed SHAP ranking (the early warning) fires retraining; `false`
    /// reports it in the diagnosis only.
    pub shap_shift_retrains: bool,
    /// Retrain when the daily mean error (bias) has kept one sign for this many
    /// consecutive days (regressors and forecasters). By chance alone a sign holds for
    /// `n` days with probability 2^(1-n): 10 days is about 0.2%.
    pub bias_days: Option<u32>,
    /// Window, in days, of the drift statistics (PSI, KL, prediction drift, SHAP shift);
    /// default `window_days`. Longer than the metrics' window when a day holds too few
    /// predictions for `min_rows`.
    pub drift_window_days: Option<u32>,
    /// Whether a fired trigger dispatches the training workflow.
    pub retrain: bool,
    /// Labelled predictions the window needs before its metrics can fire a trigger.
    pub min_labelled: u64,
    /// Predictions the window needs before its drift statistics (PSI, KL, prediction
    /// drift) can fire a trigger: over a handful of rows they measure noise.
    pub min_rows: u64,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            schedule: "0 6 * * *".into(),
            window_days: 7,
            psi_threshold: 0.25,
            kl_threshold: None,
            metric_degradation: 0.1,
            wape_threshold: None,
            accuracy_threshold: None,
            shap_shift_threshold: 0.2,
            shap_shift_retrains: true,
            bias_days: None,
            drift_window_days: None,
            retrain: true,
            min_labelled: 30,
            min_rows: 30,
        }
    }
}

// ---------------------------------------------------------------------------------------
// github

/// GitHub integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Github {
    /// Post (and update) a report comment on pull requests.
    pub pr_comment: bool,
    /// Prefix of review commands in PR comments.
    pub command_prefix: String,
    /// Lowest repository permission that may approve.
    pub required_permission: Permission,
    /// Environments whose protection rules form the second human gate.
    pub environments: Environments,
    /// Where the workflows push the serving image of each version promoted to production
    /// (`ghcr.io/acme/churn`, tagged `v<N>`), recording its digest in the registry; none:
    /// no image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Default for Github {
    fn default() -> Self {
        Self {
            pr_comment: true,
            command_prefix: "/mlx".into(),
            required_permission: Permission::Write,
            environments: Environments::default(),
            image: None,
        }
    }
}

/// Repository permission levels, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Permission {
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

/// GitHub environment names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Environments {
    /// Environment guarding promotion to staging.
    pub staging: String,
    /// Environment guarding promotion to production.
    pub production: String,
}

impl Default for Environments {
    fn default() -> Self {
        Self {
            staging: "staging".into(),
            production: "production".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// orchestration

/// Scheduling and retries, for the schedulers mlx writes for (GitHub Actions, Airflow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Orchestration {
    /// Cron schedule of the training pipeline (design documents: every Monday 2 AM).
    pub schedule: String,
    /// Times a failed stage is retried (Airflow `retries`).
    pub retries: u32,
    /// Minutes between retries.
    pub retry_delay_minutes: u32,
    /// Who is emailed when a stage fails (Airflow `email_on_failure`); empty: nobody.
    pub alert_emails: Vec<String>,
    /// First day the schedule applies to (`YYYY-MM-DD`); earlier runs are not caught up.
    pub start_date: chrono::NaiveDate,
}

impl Default for Orchestration {
    fn default() -> Self {
        Self {
            schedule: "0 2 * * 1".into(),
            retries: 2,
            retry_delay_minutes: 5,
            alert_emails: Vec::new(),
            start_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("a valid date"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// resolution of problem-type defaults

impl Config {
    /// Fills every value whose default depends on the problem type. Idempotent.
    pub fn resolve(&mut self) {
        let problem = self.pipeline.problem_type;
        let task = self.pipeline.task;
        let classification = match problem {
            ProblemType::Classification => true,
            ProblemType::DeepLearning => task == Some(Task::Classification),
            _ => false,
        };
        let temporal = self.pipeline.forecasts();

        if self.split.strategy.is_none() {
            self.split.strategy = Some(if temporal {
                SplitStrategy::Temporal
            } else if classification {
                SplitStrategy::Stratified
            } else {
                SplitStrategy::Random
            });
        }
        if self.split.seed.is_none() {
            self.split.seed = Some(self.training.seed);
        }
        if self.pipeline.model_type.is_none() {
            self.pipeline.model_type = Some(match problem {
                ProblemType::Classification | ProblemType::Regression => ModelType::Xgboost,
                ProblemType::TimeSeries => ModelType::Sarimax,
                ProblemType::DeepLearning => ModelType::Mlp,
            });
        }
        if self.models.is_empty() {
            if let Some(t) = self.pipeline.model_type {
                self.models.push(ModelSpec {
                    name: None,
                    model_type: t,
                    params: BTreeMap::new(),
                });
            }
        }
        for m in &mut self.models {
            if m.name.is_none() {
                m.name = Some(m.model_type.as_str().to_owned());
            }
        }
        if self.evaluation.primary_metric.is_none() {
            self.evaluation.primary_metric = Some(if classification {
                Metric::F1Score
            } else if temporal {
                Metric::Wape
            } else {
                Metric::Rmse
            });
        }
        if self.evaluation.metrics.is_empty() {
            self.evaluation.metrics = if classification {
                vec![
                    Metric::Accuracy,
                    Metric::Precision,
                    Metric::Recall,
                    Metric::F1Score,
                    Metric::RocAuc,
                ]
            } else if temporal {
                vec![
                    Metric::Mae,
                    Metric::Rmse,
                    Metric::Mape,
                    Metric::Wape,
                    Metric::Bias,
                    Metric::Mase,
                ]
            } else {
                vec![Metric::Mae, Metric::Rmse, Metric::R2]
            };
        }
        if let Some(primary) = self.evaluation.primary_metric {
            if !self.evaluation.metrics.contains(&primary) {
                self.evaluation.metrics.push(primary);
            }
            if self.evaluation.direction.is_none() {
                self.evaluation.direction = Some(primary.direction());
            }
        }
        // The gate's per-metric limits need those metrics computed.
        for name in self.approval_gate.metric_baselines.keys() {
            if let Some(m) = Metric::ALL.iter().find(|m| m.as_str() == name) {
                if !self.evaluation.metrics.contains(m) {
                    self.evaluation.metrics.push(*m);
                }
            }
        }
        if self.approval_gate.primary_metric_threshold.is_none() {
            self.approval_gate.primary_metric_threshold = self.evaluation.threshold;
        }
        if self.registry.model_name.is_none() {
            self.registry.model_name =
                Some(self.project.name.clone().unwrap_or_else(|| "model".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_typing_follows_the_yaml_core_schema() {
        assert_eq!(ParamValue::from_scalar("3"), ParamValue::Int(3));
        assert_eq!(ParamValue::from_scalar("0.5"), ParamValue::Float(0.5));
        assert_eq!(ParamValue::from_scalar("1e-3"), ParamValue::Float(0.001));
        assert_eq!(ParamValue::from_scalar("true"), ParamValue::Bool(true));
        assert_eq!(ParamValue::from_scalar("~"), ParamValue::Null);
        assert_eq!(
            ParamValue::from_scalar("inf"),
            ParamValue::String("inf".into())
        );
        assert_eq!(
            ParamValue::from_scalar("gbtree"),
            ParamValue::String("gbtree".into())
        );
    }

    #[test]
    fn defaults_follow_the_problem_type() {
        let mut c = Config::default();
        c.pipeline.problem_type = ProblemType::TimeSeries;
        c.resolve();
        assert_eq!(c.split.strategy, Some(SplitStrategy::Temporal));
        assert_eq!(c.evaluation.primary_metric, Some(Metric::Wape));
        assert_eq!(c.evaluation.direction, Some(Direction::Minimize));
        assert_eq!(c.models[0].model_type, ModelType::Sarimax);
        assert_eq!(c.models[0].name.as_deref(), Some("sarimax"));

        let mut c = Config::default();
        c.resolve();
        assert_eq!(c.split.strategy, Some(SplitStrategy::Stratified));
        assert_eq!(c.evaluation.primary_metric, Some(Metric::F1Score));
        assert_eq!(c.evaluation.direction, Some(Direction::Maximize));
        let once = c.clone();
        c.resolve();
        assert_eq!(c, once, "resolve is idempotent");
    }

    #[test]
    fn spellings_match_serde() {
        for m in Metric::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        for m in ModelType::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        use DeployStrategy::*;
        for d in [Direct, BlueGreen, Canary, Shadow] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
    }
}
