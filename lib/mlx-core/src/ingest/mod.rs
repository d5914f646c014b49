//! `mlx-ingest`: reads the sources under `data.sources`, applies the configured type
//! coercion, merges them as `data.merge` says, optionally appends only new rows, and
//! writes `<workdir>/data/raw.parquet` atomically.
//!
//! It reads local files and globs of them (CSV, TSV, Parquet, JSON, NDJSON, Avro),
//! objects (or globs of them) behind `s3://`, `gs://`, `az://`, `http(s)://` URLs,
//! PostgreSQL and MySQL queries, JSON APIs page by page ([`http`]) and Delta Lake
//! tables at a version ([`delta`]).

pub mod delta;
pub mod http;
mod kafka;
mod kinesis;
mod records;
pub mod spark;

use std::path::{Path, PathBuf};

use mlx_contracts::config::{DType, JoinType, Source, SourceFormat};
use mlx_contracts::ingest::{
    ColumnType, IngestReport, SourceReport, StreamCheckpoints, INGEST_REPORT_VERSION,
    STREAM_CHECKPOINTS_VERSION,
};
use mlx_contracts::FileDigest;
use mlx_data::polars::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::AtomicFile;
use crate::stage::{Context, Outcome, Stage};
use crate::workdir::paths;

/// The `ingest` stage.
pub struct Ingest;

const LONG_ABOUT: &str = "\
Reads every source under `data.sources` (files or globs of CSV, TSV, Parquet, JSON,
NDJSON or Avro; local or behind s3://, gs://, az://, https:// URLs; database queries;
JSON APIs read page by page with `http:`; Delta Lake tables at a version with `delta:`;
Kafka topics with `kafka:` and Kinesis streams with `kinesis:`, read up to now and
going on where the last ingest stopped), casts columns as `dtypes` says, joins several
sources on `data.merge.on`, and writes <workdir>/data/raw.parquet. The previous file
stays intact when anything fails; a stream's offsets move on only after it is written.
With `engine.kind: spark` the cluster reads the sources (files on its storage, `table:`
or `query:`) and writes the dataset under `engine.storage`; <workdir>/data/cluster.json
says where (docs/spark.md).

Examples:
  mlx-ingest                         ingest everything the config names
  mlx-ingest --append                add only rows newer than the last ingested time
  KAFKA_BROKERS=b1:9092 mlx-ingest   read new records of `kafka: {brokers: '${KAFKA_BROKERS}', ...}`
  mlx-ingest --json | jq .details.rows";

impl Stage for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }
    fn about(&self) -> &'static str {
        "Read and merge the data sources into data/raw.parquet"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn always_run(&self, ctx: &Context) -> Option<String> {
        if crate::engine::spark(&ctx.config).is_some() {
            return Some("the sources are read on the Spark cluster; their changes are only seen by reading them".into());
        }
        ctx.config
            .config
            .data
            .sources
            .iter()
            .find(|s| !names_files(s) || is_remote(&s.uri) || is_database(&s.uri))
            .map(|s| {
                format!(
                    "source `{}` is remote; its changes are only seen by reading it",
                    s.name
                )
            })
    }
    fn sections(&self) -> &'static [&'static str] {
        &["engine", "data"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        if crate::engine::spark(&ctx.config).is_some() {
            return Vec::new();
        }
        let mut files = Vec::new();
        for s in ctx
            .config
            .config
            .data
            .sources
            .iter()
            .filter(|s| names_files(s))
        {
            files.extend(expand(&s.uri).unwrap_or_default());
        }
        files
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        if crate::engine::spark(&ctx.config).is_some() {
            return vec![ctx.workdir.join(paths::CLUSTER_DATA)];
        }
        vec![ctx.workdir.join(paths::RAW_DATA)]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        ingest(ctx, false)
    }
}

/// The whole stage; `append` (`--append`) adds only the rows newer than the newest
/// `data.time_column` value already ingested, as `data.append` does.
pub fn ingest(ctx: &Context, append: bool) -> Result<Outcome> {
    let data = &ctx.config.config.data;
    if data.sources.is_empty() {
        return Err(Error::Usage(
            "no `data.sources` in the config; add at least one, e.g. `- {name: sales, uri: data/sales.csv}`".into(),
        ));
    }
    if let Some(engine) = crate::engine::spark(&ctx.config) {
        return spark::ingest(ctx, engine, append);
    }
    let out = ctx.workdir.join(paths::RAW_DATA);
    let append = append || data.append;
    if let Some(done) = stream_single_source(ctx, &out, append && out.exists())? {
        return Ok(done);
    }
    let mut reports = Vec::new();
    let mut frames = Vec::new();
    // Where `kinesis.start: checkpoint` goes on.
    let mut checkpoints = read_checkpoints(&ctx.workdir)?;
    for s in &data.sources {
        let checkpoint = checkpoints.kinesis.get(&s.name);
        let Read {
            df,
            files,
            delta_version,
            kinesis,
            kafka,
        } = read_source(s, checkpoint).map_err(|e| e.masked(|t| ctx.config.mask(t)))?;
        reports.push(SourceReport {
            name: s.name.clone(),
            uri: if let Some(h) = &s.http {
                ctx.config.mask(&crate::config::url_label(&h.url))
            } else if let Some(d) = &s.delta {
                ctx.config.mask(&d.uri)
            } else if let Some(k) = &s.kinesis {
                format!("kinesis://{}", k.stream)
            } else if let Some(k) = &s.kafka {
                format!("kafka://{}", k.topic.trim())
            } else {
                ctx.config.mask(&s.uri)
            },
            files,
            rows: df.height() as u64,
            schema: schema_of(&df),
            delta_version,
            kinesis,
            kafka,
        });
        frames.push((s.name.as_str(), df));
    }
    let mut merged = merge(frames, data.merge.as_ref())?;
    if merged.height() == 0 {
        return Err(Error::Runtime(
            "the sources produced no rows; check the files and the join keys (an inner join of sources with no common key value is empty)".into(),
        ));
    }

    let (mut appended, mut previous_max) = (None, None);
    if append && out.exists() {
        let tc = data.time_column.as_deref().ok_or_else(|| {
            Error::Usage("--append needs `data.time_column` to know which rows are new".into())
        })?;
        let old = mlx_data::read_table(&out).map_err(|e| Error::Runtime(e.to_string()))?;
        let (combined, added, max) = append_new(old, merged, tc)?;
        merged = combined;
        appended = Some(added);
        previous_max = max;
    }
    let mut f = AtomicFile::create(&out).with_path("writing", &out)?;
    mlx_data::write_parquet(&mut merged, &mut f)
        .map_err(|e| Error::Runtime(format!("writing {}: {e}", out.display())))?;
    f.commit().with_path("writing", &out)?;
    // The streams' checkpoints move on only now that the rows are in place.
    let read: Vec<(&String, &mlx_contracts::ingest::KinesisRead)> = reports
        .iter()
        .filter_map(|r| r.kinesis.as_ref().map(|k| (&r.name, k)))
        .collect();
    if !read.is_empty() {
        for (name, k) in read {
            checkpoints.kinesis.insert(name.clone(), k.clone());
        }
        let path = ctx.workdir.join(paths::CHECKPOINTS);
        let text = crate::json::pretty(&checkpoints)?;
        crate::fsutil::atomic_write(&path, text.as_bytes()).with_path("writing", &path)?;
    }
    // Kafka's checkpoints are the group's committed offsets.
    for (s, r) in data.sources.iter().zip(&reports) {
        if let (Some(k), Some(read)) = (&s.kafka, &r.kafka) {
            kafka::commit(s, k, read).map_err(|e| e.masked(|t| ctx.config.mask(t)))?;
        }
    }

    outcome(IngestReport {
        schema_version: INGEST_REPORT_VERSION,
        rows: merged.height() as u64,
        columns: merged.width() as u64,
        schema: schema_of(&merged),
        sources: reports,
        appended_rows: appended,
        previous_max_time: previous_max,
        cluster: None,
    })
}

/// What kind of JSON value `v` is, in a message.
fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `data/checkpoints.json`, or none yet.
fn read_checkpoints(workdir: &crate::workdir::Workdir) -> Result<StreamCheckpoints> {
    let path = workdir.join(paths::CHECKPOINTS);
    match std::fs::read_to_string(&path) {
        Ok(text) => StreamCheckpoints::from_json(&text).map_err(|source| Error::Contract {
            path: path.display().to_string(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StreamCheckpoints {
            schema_version: STREAM_CHECKPOINTS_VERSION,
            ..Default::default()
        }),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// The stage outcome for a written dataset.
fn outcome(report: IngestReport) -> Result<Outcome> {
    {
        let appended = report.appended_rows;
        let mut summary = format!(
            "{} rows × {} columns from {} source{}",
            report.rows,
            report.columns,
            report.sources.len(),
            if report.sources.len() == 1 { "" } else { "s" }
        );
        if let Some(n) = appended {
            summary.push_str(&format!(", {n} new rows appended"));
        }
        let mut o = Outcome::passed(summary);
        o.outputs_kv.insert("rows".into(), report.rows.to_string());
        o.outputs_kv
            .insert("columns".into(), report.columns.to_string());
        o.details = crate::json::value(&report)?;
        Ok(o)
    }
}

/// The streaming path, for the common case of one local CSV/TSV/Parquet source with no
/// incremental append: Polars' streaming engine scans, casts and writes the Parquet
/// file in batches, so memory stays bounded for files larger than RAM. Returns `None`
/// when the case does not apply (several sources, globs, remote, databases, JSON).
fn stream_single_source(ctx: &Context, out: &Path, appending: bool) -> Result<Option<Outcome>> {
    let data = &ctx.config.config.data;
    let [s] = data.sources.as_slice() else {
        return Ok(None);
    };
    if appending
        || !names_files(s)
        || is_remote(&s.uri)
        || is_database(&s.uri)
        || s.uri.contains(['*', '?', '['])
    {
        return Ok(None);
    }
    let path = PathBuf::from(s.uri.strip_prefix("file://").unwrap_or(&s.uri));
    let Ok(format) = source_format(s, &path) else {
        return Ok(None); // the in-memory path reports the problem
    };
    if !matches!(
        format,
        SourceFormat::Csv | SourceFormat::Tsv | SourceFormat::Parquet
    ) {
        return Ok(None);
    }
    if !path.exists() {
        return Err(Error::Runtime(format!(
            "source `{}`: {} does not exist",
            s.name,
            path.display()
        )));
    }
    let label = path.display().to_string();
    let pl_path = PlRefPath::new(path.to_string_lossy().as_ref());
    let sep_byte = csv_separator(s, format);
    let lf = match format {
        SourceFormat::Csv | SourceFormat::Tsv => LazyCsvReader::new(pl_path)
            .with_has_header(s.header.unwrap_or(true))
            .with_infer_schema_length(Some(10_000))
            .with_separator(sep_byte)
            .with_null_values(null_values(s))
            .with_try_parse_dates(s.date_format.is_none())
            .finish(),
        SourceFormat::Parquet => LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default()),
        _ => return Ok(None),
    };
    let fail = |e: PolarsError| match (format, mlx_data::ragged_line(&path, sep_byte)) {
        (SourceFormat::Csv | SourceFormat::Tsv, Some(line)) => {
            Error::Runtime(format!("source `{}`: {label}: {line}", s.name))
        }
        _ => Error::Runtime(format!("source `{}`: {label}: {e}", s.name)),
    };
    let mut lf = lf.map_err(fail)?;
    let schema = lf.collect_schema().map_err(fail)?;
    let names: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let exprs = coercions(s, &names, |c| {
        schema.get(c).is_some_and(|t| *t == DataType::String)
    })?;
    if !exprs.is_empty() {
        lf = lf.with_columns(exprs);
    }
    let dir = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_path("creating", dir)?;
    let tmp = crate::fsutil::temp_in(dir, ".raw.parquet.", ".tmp").with_path("writing in", dir)?;
    let target = SinkTarget::Path(PlRefPath::new(tmp.path().to_string_lossy().as_ref()));
    let options = ParquetWriteOptions {
        compression: ParquetCompression::Zstd(None),
        ..Default::default()
    };
    lf.sink(SinkDestination::File { target }, FileWriteFormat::Parquet(Arc::new(options)), UnifiedSinkArgs::default())
        .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
        .map_err(|e| {
            let msg = e.to_string();
            if msg.contains("conversion from") || msg.contains("strict") {
                Error::Runtime(format!("source `{}`: a value does not convert to its configured type: {msg}; fix the data or `dtypes`", s.name))
            } else {
                fail(e)
            }
        })?;
    let mut reader =
        ParquetReader::new(std::fs::File::open(tmp.path()).with_path("reading", tmp.path())?);
    let rows = reader
        .num_rows()
        .map_err(|e| Error::Runtime(e.to_string()))? as u64;
    if rows == 0 {
        return Err(Error::Runtime(
            "the sources produced no rows; check the files".into(),
        ));
    }
    let written = reader.schema().map_err(|e| Error::Runtime(e.to_string()))?;
    let schema: Vec<ColumnType> = written
        .iter()
        .map(|(name, field)| ColumnType {
            name: name.to_string(),
            dtype: DataType::from_arrow_field(field).to_string(),
        })
        .collect();
    crate::fsutil::persist(tmp, out).with_path("writing", out)?;
    let mut digest = crate::hash::digest(&path).with_path("hashing", &path)?;
    digest.path = label;
    Ok(Some(outcome(IngestReport {
        schema_version: INGEST_REPORT_VERSION,
        rows,
        columns: schema.len() as u64,
        sources: vec![SourceReport {
            name: s.name.clone(),
            uri: ctx.config.mask(&s.uri),
            files: vec![digest],
            rows,
            schema: schema.clone(),
            delta_version: None,
            kinesis: None,
            kafka: None,
        }],
        schema,
        appended_rows: None,
        previous_max_time: None,
        cluster: None,
    })?))
}

fn csv_separator(s: &Source, format: SourceFormat) -> u8 {
    let default_sep = if format == SourceFormat::Tsv {
        "\t"
    } else {
        ","
    };
    let sep = s
        .delimiter
        .as_deref()
        .unwrap_or(default_sep)
        .replace("\\t", "\t");
    sep.bytes().next().unwrap_or(b',')
}

fn null_values(s: &Source) -> Option<NullValues> {
    (!s.null_values.is_empty())
        .then(|| NullValues::AllColumns(s.null_values.iter().map(|v| v.as_str().into()).collect()))
}

fn schema_of(df: &DataFrame) -> Vec<ColumnType> {
    df.columns()
        .iter()
        .map(|c| ColumnType {
            name: c.name().to_string(),
            dtype: c.dtype().to_string(),
        })
        .collect()
}

const REMOTE: &[&str] = &["s3://", "gs://", "az://", "abfs://", "http://", "https://"];
const DATABASES: &[&str] = &[
    "postgres://",
    "postgresql://",
    "redshift://",
    "mysql://",
    "mariadb://",
];

/// Whether a source names files (or objects, or a database) in `uri`, rather than an
/// API (`http`), a Delta table (`delta`) or a stream (`kinesis`, `kafka`).
fn names_files(s: &Source) -> bool {
    s.http.is_none() && s.delta.is_none() && s.kinesis.is_none() && s.kafka.is_none()
}

/// Whether a source URI is read through `object_store` rather than the file system.
pub fn is_remote(uri: &str) -> bool {
    REMOTE.iter().any(|p| uri.starts_with(p))
}

/// Whether a source is a database query.
pub fn is_database(uri: &str) -> bool {
    DATABASES.iter().any(|p| uri.starts_with(p))
}

/// Runs a database source's query; returns the frame and a fingerprint of the result
/// (SHA-256 of its CSV form, so the same rows give the same fingerprint).
fn read_database(s: &Source) -> Result<(DataFrame, FileDigest)> {
    let query = s.query.as_deref().ok_or_else(|| {
        Error::Usage(format!(
            "source `{}`: a database source needs `query`",
            s.name
        ))
    })?;
    let (scheme, rest) = s.uri.split_once("://").unwrap_or(("", ""));
    let result = match scheme {
        "postgres" | "postgresql" | "redshift" => {
            mlx_data::sql::read_postgres(&format!("postgres://{rest}"), query)
        }
        _ => mlx_data::sql::read_mysql(&format!("mysql://{rest}"), query),
    };
    let mut df = result.map_err(|e| Error::Runtime(format!("source `{}`: {e}", s.name)))?;
    let mut hasher = HashWriter::default();
    CsvWriter::new(&mut hasher)
        .finish(&mut df)
        .map_err(|e| Error::Runtime(format!("source `{}`: {e}", s.name)))?;
    let size = hasher.bytes;
    let digest = FileDigest {
        path: format!("{scheme}://…?query"),
        sha256: hasher.hex(),
        size,
    };
    Ok((df, digest))
}

/// Counts and hashes what is written to it.
#[derive(Default)]
struct HashWriter {
    sha: sha2::Sha256,
    bytes: u64,
}

impl HashWriter {
    fn hex(self) -> String {
        crate::config::hex(&sha2::Digest::finalize(self.sha))
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.sha, buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The local files a source URI names: a path, a `file://` path, or a glob.
pub fn expand(uri: &str) -> Result<Vec<PathBuf>> {
    if is_remote(uri) || is_database(uri) {
        return Ok(Vec::new());
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if path.contains(['*', '?', '[']) {
        let mut files: Vec<PathBuf> = glob::glob(path)
            .map_err(|e| Error::Usage(format!("`{uri}` is not a valid glob: {e}")))?
            .filter_map(std::result::Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Usage(format!("`{uri}` matches no file")));
        }
        return Ok(files);
    }
    Ok(vec![PathBuf::from(path)])
}

/// Downloads the objects a URL names (the object, or those matching a glob in its
/// path) into a temporary directory, keeping their file names (and so their formats).
/// Returns the directory (which must outlive the reading) and `(local file, URL)` pairs.
fn fetch(uri: &str) -> Result<(tempfile::TempDir, Vec<(PathBuf, String)>)> {
    use futures::{StreamExt, TryStreamExt};
    use object_store::ObjectStoreExt;
    let (store, path) = crate::objects::open_url(uri)?;
    let key = path.to_string();
    let base = uri[..uri.len() - key.len()]
        .trim_end_matches('/')
        .to_owned();
    let tmp = tempfile::tempdir().map_err(|e| Error::io("creating a download directory", e))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the I/O runtime", e))?;
    let err = |e: object_store::Error| Error::Runtime(format!("`{uri}`: {e}"));
    let keys: Vec<String> = if key.contains(['*', '?', '[']) {
        let pattern = glob::Pattern::new(&key)
            .map_err(|e| Error::Usage(format!("`{uri}` is not a valid glob: {e}")))?;
        let fixed = key[..key.find(['*', '?', '[']).unwrap_or(key.len())]
            .rsplit_once('/')
            .map_or("", |(d, _)| d)
            .to_owned();
        let prefix = (!fixed.is_empty()).then(|| object_store::path::Path::from(fixed.as_str()));
        let mut found: Vec<String> = rt
            .block_on(
                store
                    .list(prefix.as_ref())
                    .map_ok(|m| m.location.to_string())
                    .try_collect::<Vec<_>>(),
            )
            .map_err(err)?
            .into_iter()
            .filter(|k| pattern.matches(k))
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(Error::Usage(format!("`{uri}` matches no object")));
        }
        found
    } else {
        vec![key]
    };
    let mut files = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let name = k.rsplit('/').next().unwrap_or("data");
        let local = tmp.path().join(format!("{i:05}-{name}"));
        let mut out = std::fs::File::create(&local).with_path("writing", &local)?;
        rt.block_on(async {
            let mut stream = store
                .get(&object_store::path::Path::from(k.as_str()))
                .await
                .map_err(err)?
                .into_stream();
            while let Some(chunk) = stream.next().await {
                std::io::Write::write_all(&mut out, &chunk.map_err(err)?)
                    .with_path("writing", &local)?;
            }
            Ok::<_, Error>(())
        })?;
        files.push((local, format!("{base}/{k}")));
    }
    Ok((tmp, files))
}

/// A source's rows, the digests of what was read, and a Delta table's version.
/// What a source gave.
struct Read {
    df: DataFrame,
    files: Vec<FileDigest>,
    delta_version: Option<u64>,
    kinesis: Option<mlx_contracts::ingest::KinesisRead>,
    kafka: Option<mlx_contracts::ingest::KafkaRead>,
}

impl Read {
    fn rows(df: DataFrame, files: Vec<FileDigest>) -> Self {
        Self {
            df,
            files,
            delta_version: None,
            kinesis: None,
            kafka: None,
        }
    }
}

/// One source's rows; `checkpoint`: what the previous ingest read of it, for a
/// stream's `start: checkpoint`.
fn read_source(
    s: &Source,
    checkpoint: Option<&mlx_contracts::ingest::KinesisRead>,
) -> Result<Read> {
    if let Some(h) = &s.http {
        let (file, digest) = http::fetch(s, h)?;
        let label = digest.path.clone();
        let df = read_file(s, file.path(), &label)?;
        return Ok(Read::rows(coerce(df, s)?, vec![digest]));
    }
    if let Some(d) = &s.delta {
        let (df, digests, version) = delta::read(s, d)?;
        let mut read = Read::rows(coerce(df, s)?, digests);
        read.delta_version = Some(version);
        return Ok(read);
    }
    if let Some(k) = &s.kinesis {
        let (file, digest, shards) = kinesis::read(s, k, checkpoint)?;
        if digest.size == 0 {
            return Err(Error::Runtime(format!(
                "source `{}`: the Kinesis stream `{}` has no records to read{} (the bound is the records that arrived by {})",
                s.name,
                k.stream,
                if k.start == "checkpoint" && checkpoint.is_some() { " after the last ingest's checkpoint" } else { "" },
                shards.until
            )));
        }
        let label = digest.path.clone();
        let df = read_file(s, file.path(), &label)?;
        let mut read = Read::rows(coerce(df, s)?, vec![digest]);
        read.kinesis = Some(shards);
        return Ok(read);
    }
    if let Some(k) = &s.kafka {
        let (file, digest, offsets) = kafka::read(s, k)?;
        if digest.size == 0 {
            let range: Vec<String> = offsets
                .partitions
                .iter()
                .map(|p| format!("partition {} at offset {}", p.partition, p.to))
                .collect();
            return Err(Error::Runtime(format!(
                "source `{}`: the Kafka topic `{}` has no records to read from `start: {}` ({}; group `{}`)",
                s.name,
                offsets.topic,
                k.start.trim(),
                range.join(", "),
                offsets.group
            )));
        }
        let label = digest.path.clone();
        let df = read_file(s, file.path(), &label)?;
        let mut read = Read::rows(coerce(df, s)?, vec![digest]);
        read.kafka = Some(offsets);
        return Ok(read);
    }
    if is_database(&s.uri) || s.format == Some(SourceFormat::Sql) {
        let (df, digest) = read_database(s)?;
        return Ok(Read::rows(coerce(df, s)?, vec![digest]));
    }
    let named = |e: Error| match e {
        Error::Usage(m) => Error::Usage(format!("source `{}`: {m}", s.name)),
        Error::Runtime(m) => Error::Runtime(format!("source `{}`: {m}", s.name)),
        other => other,
    };
    let (_downloads, files): (Option<tempfile::TempDir>, Vec<(PathBuf, String)>) =
        if is_remote(&s.uri) {
            let (dir, files) = fetch(&s.uri).map_err(named)?;
            (Some(dir), files)
        } else {
            let files = expand(&s.uri).map_err(named)?;
            (
                None,
                files
                    .into_iter()
                    .map(|f| {
                        let label = f.display().to_string();
                        (f, label)
                    })
                    .collect(),
            )
        };
    let mut frames = Vec::new();
    let mut digests = Vec::new();
    for (f, label) in &files {
        if !f.exists() {
            return Err(Error::Runtime(format!(
                "source `{}`: {label} does not exist",
                s.name
            )));
        }
        frames.push(read_file(s, f, label)?);
        let mut d = crate::hash::digest(f).with_path("hashing", f)?;
        d.path = label.clone();
        digests.push(d);
    }
    let mut df = frames.remove(0);
    for (other, (_, label)) in frames.into_iter().zip(&files[1..]) {
        df.vstack_mut_owned(other).map_err(|e| {
            Error::Runtime(format!(
                "source `{}`: {label} does not have the columns and types of {}: {e}",
                s.name, files[0].1
            ))
        })?;
    }
    Ok(Read::rows(coerce(df, s)?, digests))
}

/// The configured format, or the one the file's extension implies.
fn source_format(s: &Source, path: &Path) -> Result<SourceFormat> {
    if let Some(f) = s.format {
        return Ok(f);
    }
    Ok(match mlx_data::Format::of(path) {
        Ok(mlx_data::Format::Csv) => SourceFormat::Csv,
        Ok(mlx_data::Format::Tsv) => SourceFormat::Tsv,
        Ok(mlx_data::Format::Parquet) => SourceFormat::Parquet,
        Ok(mlx_data::Format::Json) => SourceFormat::Json,
        Ok(mlx_data::Format::Ndjson) => SourceFormat::Ndjson,
        Ok(mlx_data::Format::Avro) => SourceFormat::Avro,
        Err(e) => {
            return Err(Error::Usage(format!(
                "source `{}`: {e}; or set `format:`",
                s.name
            )))
        }
    })
}

fn read_file(s: &Source, path: &Path, label: &str) -> Result<DataFrame> {
    let format = source_format(s, path)?;
    let parse = |e: PolarsError| Error::Runtime(format!("source `{}`: {label}: {e}", s.name));
    match format {
        SourceFormat::Csv | SourceFormat::Tsv => {
            let sep_byte = csv_separator(s, format);
            let nulls = null_values(s);
            CsvReadOptions::default()
                .with_has_header(s.header.unwrap_or(true))
                .with_infer_schema_length(Some(10_000))
                .with_parse_options(
                    CsvParseOptions::default()
                        .with_separator(sep_byte)
                        .with_null_values(nulls)
                        .with_try_parse_dates(s.date_format.is_none()),
                )
                .try_into_reader_with_file_path(Some(path.to_path_buf()))
                .and_then(|r| r.finish())
                .map_err(|e| match mlx_data::ragged_line(path, sep_byte) {
                    Some(line) => Error::Runtime(format!("source `{}`: {label}: {line}", s.name)),
                    None => parse(e),
                })
        }
        other => {
            let f = match other {
                SourceFormat::Parquet => mlx_data::Format::Parquet,
                SourceFormat::Json => mlx_data::Format::Json,
                SourceFormat::Ndjson => mlx_data::Format::Ndjson,
                // SQL sources never reach here (read_source handles them).
                _ => mlx_data::Format::Avro,
            };
            mlx_data::read_table_as(path, f).map_err(|e| {
                let msg = e.to_string().replace(&format!("{}: ", path.display()), "");
                Error::Runtime(format!("source `{}`: {label}: {msg}", s.name))
            })
        }
    }
}

/// Casts the configured columns; a value that does not convert is an error naming the
/// source, the column and the offending values.
fn coerce(df: DataFrame, s: &Source) -> Result<DataFrame> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let exprs = coercions(s, &names, |c| {
        matches!(
            df.column(c).map(|c| c.dtype().clone()),
            Ok(DataType::String)
        )
    })?;
    if exprs.is_empty() {
        return Ok(df);
    }
    df.lazy().with_columns(exprs).collect().map_err(|e| {
        Error::Runtime(format!(
            "source `{}`: a value does not convert to its configured type: {e}; fix the data or `dtypes`",
            s.name
        ))
    })
}

/// The cast expressions for a source's `dtypes`, given its column names and which of
/// them are text (text dates are parsed with `date_format`).
fn coercions(s: &Source, names: &[String], is_text: impl Fn(&str) -> bool) -> Result<Vec<Expr>> {
    let mut exprs = Vec::new();
    for (column, dtype) in &s.dtypes {
        if !names.iter().any(|n| n == column) {
            return Err(Error::Usage(format!(
                "source `{}`: `dtypes` names column `{column}`, which it does not have (it has: {})",
                s.name,
                names.join(", ")
            )));
        }
        let c = col(column.as_str());
        let opts = || StrptimeOptions {
            format: s.date_format.as_deref().map(Into::into),
            strict: true,
            exact: true,
            cache: true,
        };
        let e = match dtype {
            DType::Date if is_text(column) => c.str().to_date(opts()),
            DType::Datetime if is_text(column) => {
                c.str()
                    .to_datetime(Some(TimeUnit::Milliseconds), None, opts(), lit("raise"))
            }
            other => c.strict_cast(polars_type(*other)),
        };
        exprs.push(e.alias(column.as_str()));
    }
    Ok(exprs)
}

fn polars_type(t: DType) -> DataType {
    match t {
        DType::Int => DataType::Int64,
        DType::Float => DataType::Float64,
        DType::String | DType::Category => DataType::String,
        DType::Bool => DataType::Boolean,
        DType::Date => DataType::Date,
        DType::Datetime => DataType::Datetime(TimeUnit::Milliseconds, None),
    }
}

/// Joins the sources left to right on `merge.on`.
fn merge(
    mut frames: Vec<(&str, DataFrame)>,
    merge: Option<&mlx_contracts::config::Merge>,
) -> Result<DataFrame> {
    let (first_name, mut acc) = frames.remove(0);
    let Some(m) = merge else {
        return Ok(acc);
    };
    if frames.is_empty() {
        return Ok(acc);
    }
    let mut left_name = first_name.to_owned();
    for (name, df) in frames {
        for key in &m.on {
            for (side, frame) in [(left_name.as_str(), &acc), (name, &df)] {
                if frame.column(key).is_err() {
                    return Err(Error::Usage(format!(
                        "join key `{key}` is missing from source `{side}`; rename the column there or change `data.merge.on`"
                    )));
                }
            }
            let (lt, rt) = (
                acc.column(key).map(|c| c.dtype().clone()),
                df.column(key).map(|c| c.dtype().clone()),
            );
            if let (Ok(lt), Ok(rt)) = (lt, rt) {
                if lt != rt {
                    return Err(Error::Usage(format!(
                        "join key `{key}` is {lt} in `{left_name}` but {rt} in `{name}`; give it one type with `dtypes` in both sources"
                    )));
                }
            }
        }
        let keys: Vec<Expr> = m.on.iter().map(|k| col(k.as_str())).collect();
        let how = match m.how {
            JoinType::Inner => mlx_data::polars::prelude::JoinType::Inner,
            JoinType::Left => mlx_data::polars::prelude::JoinType::Left,
            JoinType::Outer => mlx_data::polars::prelude::JoinType::Full,
        };
        let args = JoinArgs::new(how).with_coalesce(JoinCoalesce::CoalesceColumns);
        acc = acc
            .lazy()
            .join(df.lazy(), keys.clone(), keys, args)
            .collect()
            .map_err(|e| Error::Runtime(format!("joining `{left_name}` with `{name}`: {e}")))?;
        left_name = format!("{left_name}+{name}");
    }
    Ok(acc)
}

/// Keeps the rows of `new` whose time is after the newest time in `old`, and stacks
/// them under `old`.
fn append_new(
    mut old: DataFrame,
    new: DataFrame,
    time_column: &str,
) -> Result<(DataFrame, u64, Option<String>)> {
    let time_of = |df: &DataFrame, side: &str| -> Result<Vec<Option<f64>>> {
        let c = df.column(time_column).map_err(|_| {
            Error::Usage(format!(
                "data.time_column `{time_column}` is not in the {side} data"
            ))
        })?;
        let s = c
            .as_materialized_series()
            .to_physical_repr()
            .cast(&DataType::Float64)
            .map_err(|e| Error::Runtime(e.to_string()))?;
        Ok(s.f64()
            .map_err(|e| Error::Runtime(e.to_string()))?
            .iter()
            .collect())
    };
    let old_max = time_of(&old, "ingested")?
        .into_iter()
        .flatten()
        .fold(f64::NEG_INFINITY, f64::max);
    let previous = old
        .column(time_column)
        .ok()
        .and_then(|c| c.as_materialized_series().max_reduce().ok())
        .map(|s| s.value().to_string());
    let mask: BooleanChunked = time_of(&new, "new")?
        .into_iter()
        .map(|t| Some(t.is_some_and(|t| t > old_max)))
        .collect();
    let fresh = new
        .filter(&mask)
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let added = fresh.height() as u64;
    old.vstack_mut_owned(fresh).map_err(|e| {
        Error::Runtime(format!(
            "the new data does not have the columns and types of the ingested data ({e}); run without --append to re-ingest everything"
        ))
    })?;
    Ok((old, added, previous))
}
