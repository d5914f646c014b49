//! Delta Lake tables, through delta-rs (`deltalake`): opened on a local directory or on
//! object storage (`s3://`, `gs://`, `az://`, through the same `object_store` stores as
//! every other store of mlx), read at a version or a time, and written as Delta commits.
//!
//! A write puts one Parquet file into the table, then commits it: an append adds it; an
//! overwrite removes every file the table had and adds it, changing the table's schema
//! when the rows' schema changed (as Spark's `overwriteSchema`). Commits are Delta's
//! optimistic transactions: the log entry is created only if no other writer created
//! that version first (a create-only conditional write, on object storage too), and a
//! writer that lost the race checks for conflicts and tries again. Until the commit,
//! readers see the table as it was; a failed commit leaves only an unreferenced file.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::{Arc, OnceLock};

use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{
    Action, Add, DataType as DeltaType, MetadataExt, PrimitiveType, Remove, StructField,
    StructType, TableFeatures,
};
use deltalake::logstore::{
    default_logstore, logstore_factories, LogStore, LogStoreFactory, StorageConfig,
};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use mlx_data::polars::prelude::*;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use crate::error::{Error, IoContext, Result};

/// How a write changes the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Add the rows to the table's.
    Append,
    /// Replace the table's rows (and schema) with these.
    Overwrite,
}

impl Mode {
    fn save_mode(self) -> SaveMode {
        match self {
            Self::Append => SaveMode::Append,
            Self::Overwrite => SaveMode::Overwrite,
        }
    }
}

/// Which version of a table to open.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    /// The newest.
    Latest,
    /// A version number.
    Version(u64),
    /// The version current at an RFC 3339 time or a date.
    Time(&'a str),
}

/// A version of a table as a list of data files.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The table version.
    pub version: u64,
    /// Its data files: path relative to the table, and partition values.
    pub files: Vec<(String, HashMap<String, Option<String>>)>,
    /// Partition columns.
    pub partitions: Vec<String>,
    /// The table's columns with their Delta types, in order.
    pub schema: StructType,
    /// The table's properties (`delta.*`).
    pub configuration: HashMap<String, String>,
    /// Whether some file has rows deleted through a deletion vector.
    pub deletion_vectors: bool,
}

/// What a write committed.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The version the commit created (the table's previous version when nothing changed).
    pub version: u64,
    /// The data file, relative to the table.
    pub file: String,
    /// Rows written.
    pub rows: u64,
}

/// Rows encoded as a data file.
pub struct Encoded {
    /// The Parquet file.
    pub bytes: Vec<u8>,
    /// Its SHA-256.
    pub sha256: String,
    /// Its columns.
    pub schema: StructType,
    /// Its rows.
    pub rows: u64,
}

/// A Delta table's location: a local directory or an object-storage URL.
pub struct Table {
    url: Url,
    store: Option<Arc<dyn ObjectStore>>,
    label: String,
    rt: tokio::runtime::Runtime,
}

/// Delta commits on object storage use delta-rs's default log store: a commit is a
/// create-only write of the log entry, which S3 (`If-None-Match`), GCS and Azure all
/// honour, so no lock table is needed.
struct ConditionalPut;

impl LogStoreFactory for ConditionalPut {
    fn with_options(
        &self,
        prefixed_store: deltalake::logstore::ObjectStoreRef,
        root_store: deltalake::logstore::ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn register_object_stores() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        for scheme in ["s3://", "gs://", "az://"] {
            if let Ok(url) = Url::parse(scheme) {
                logstore_factories().insert(url, Arc::new(ConditionalPut));
            }
        }
    });
}

impl Table {
    /// The table at `uri` (a directory, `file://`, `s3://`, `gs://` or `az://`), which
    /// need not exist yet. A local directory is created when `create` is set.
    pub fn open(uri: &str, create: bool) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the I/O runtime", e))?;
        let label = crate::config::interpolate::mask(uri, &[]);
        if uri.contains("://") && !uri.starts_with("file://") {
            register_object_stores();
            let (store, _) = crate::objects::open_url(uri)?;
            let mut url = Url::parse(uri)
                .map_err(|e| Error::Usage(format!("`{label}` is not a valid URL: {e}")))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            return Ok(Self {
                url,
                store: Some(Arc::from(store)),
                label,
                rt,
            });
        }
        let dir = std::path::PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
        if create {
            std::fs::create_dir_all(&dir).with_path("creating", &dir)?;
        }
        let dir = std::path::absolute(&dir).with_path("resolving", &dir)?;
        let dir = dir.canonicalize().unwrap_or(dir);
        let url = Url::from_directory_path(&dir)
            .map_err(|()| Error::Usage(format!("{} cannot be a URL", dir.display())))?;
        Ok(Self {
            url,
            store: None,
            label,
            rt,
        })
    }

    /// The table's location as the user wrote it, secrets masked.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Runtime(format!("Delta table {}: {what}: {}", self.label, said(e)))
    }

    fn builder(&self) -> Result<DeltaTableBuilder> {
        let b =
            DeltaTableBuilder::from_url(self.url.clone()).map_err(|e| self.fail("opening", e))?;
        Ok(match &self.store {
            Some(s) => b.with_storage_backend(s.clone(), self.url.clone()),
            None => b,
        })
    }

    /// The table at a version; `None` when there is no table at the location.
    pub fn load(&self, at: At<'_>) -> std::result::Result<Option<DeltaTable>, DeltaTableError> {
        let builder = self
            .builder()
            .map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        let builder = match at {
            At::Latest => builder,
            At::Version(v) => builder.with_version(v),
            At::Time(t) => builder.with_datestring(rfc3339(t))?,
        };
        match self.rt.block_on(builder.load()) {
            Ok(table) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) if matches!(at, At::Latest) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A version's data files.
    pub fn snapshot(&self, at: At<'_>) -> Result<Option<Snapshot>> {
        let table = match self.load(at) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(None),
            Err(e) => {
                let latest = self
                    .load(At::Latest)
                    .ok()
                    .flatten()
                    .and_then(|t| t.version());
                let wanted = match at {
                    At::Latest => "the latest version".to_string(),
                    At::Version(v) => format!("version {v}"),
                    At::Time(t) => format!("the version at {t}"),
                };
                let has = latest.map_or(String::new(), |l| format!(" (its versions are 0 to {l})"));
                return Err(Error::Runtime(format!(
                    "{wanted} of the Delta table {} cannot be read{has}: {}",
                    self.label,
                    said(e)
                )));
            }
        };
        let state = table.snapshot().map_err(|e| self.fail("reading", e))?;
        let mut deletion_vectors = false;
        let mut files: Vec<(String, HashMap<String, Option<String>>)> = state
            .log_data()
            .iter()
            .inspect(|f| deletion_vectors |= f.deletion_vector_descriptor().is_some())
            .map(|f| (f.path().into_owned(), f.partition_values_map()))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(Snapshot {
            version: state.version(),
            files,
            partitions: state.metadata().partition_columns().to_vec(),
            schema: state.schema().as_ref().clone(),
            configuration: state.metadata().configuration().clone(),
            deletion_vectors,
        }))
    }

    fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        Ok(self
            .builder()?
            .build_storage()
            .map_err(|e| self.fail("opening", e))?
            .object_store(None))
    }

    /// A file of the table, by its path relative to the table; `None` if missing.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let store = self.store()?;
        let path = ObjectPath::from(rel);
        self.rt
            .block_on(async {
                match store.get(&path).await {
                    Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| self.fail(&format!("reading {rel}"), e))
    }

    /// Writes a file into the table's directory (not into the table: see [`Self::write`]).
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let store = self.store()?;
        self.rt
            .block_on(store.put(&ObjectPath::from(rel), bytes.into()))
            .map(|_| ())
            .map_err(|e| self.fail(&format!("writing {rel}"), e))
    }

    fn delete(&self, rel: &str) {
        if let Ok(store) = self.store() {
            let _ = self.rt.block_on(store.delete(&ObjectPath::from(rel)));
        }
    }

    /// Writes `df` as one Parquet file named by `name` (given the file's SHA-256) and
    /// commits it ([`Self::commit_file`]).
    pub fn write(
        &self,
        df: &DataFrame,
        mode: Mode,
        name: impl Fn(&str) -> String,
    ) -> Result<Committed> {
        let encoded = self.encode(df)?;
        let file = name(&encoded.sha256);
        let size = encoded.bytes.len() as u64;
        self.put(&file, encoded.bytes)?;
        let version = self.commit_file(&file, size, encoded.rows, &encoded.schema, mode);
        if version.is_err() {
            // Nothing refers to the file; a retried write puts it again.
            self.delete(&file);
        }
        Ok(Committed {
            version: version?,
            file,
            rows: encoded.rows,
        })
    }

    /// `df` as the Parquet bytes of a data file of this table ([`prepare`]).
    pub fn encode(&self, df: &DataFrame) -> Result<Encoded> {
        let (mut rows, schema) =
            prepare(df).map_err(|e| Error::Usage(format!("Delta table {}: {e}", self.label)))?;
        let mut bytes = Vec::new();
        mlx_data::write_parquet(&mut rows, &mut bytes).map_err(Error::Runtime)?;
        let (sha256, _) = crate::hash::sha256_reader(bytes.as_slice(), |_| {})
            .map_err(|e| Error::io("hashing the rows", e))?;
        Ok(Encoded {
            bytes,
            sha256,
            schema,
            rows: rows.height() as u64,
        })
    }

    /// Commits a data file already in the table's directory, of `rows` rows and the
    /// columns `schema`: a new version, or the current one when an overwrite would leave
    /// the table as it is (this file its only file, the schema unchanged).
    pub fn commit_file(
        &self,
        file: &str,
        size: u64,
        rows: u64,
        schema: &StructType,
        mode: Mode,
    ) -> Result<u64> {
        if mode == Mode::Overwrite {
            if let Some(s) = self.snapshot(At::Latest)? {
                if s.files.len() == 1 && s.files[0].0 == file && &s.schema == schema {
                    return Ok(s.version);
                }
            }
        }
        let add = Add {
            path: file.to_string(),
            partition_values: HashMap::new(),
            size: size as i64,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: Some(serde_json::json!({ "numRecords": rows }).to_string()),
            ..Default::default()
        };
        self.commit(add, schema, mode)
    }

    /// Commits `add`: creates the table if there is none; otherwise appends, or removes
    /// every current file. Tries again (up to 50 times) when another writer committed
    /// first in a way that conflicts.
    fn commit(&self, add: Add, schema: &StructType, mode: Mode) -> Result<u64> {
        let mut last = None;
        for _ in 0..50 {
            match self.try_commit(add.clone(), schema, mode) {
                Ok(v) => return Ok(v),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Again(e)) => last = Some(e),
            }
        }
        Err(self.fail(
            "committing",
            format!(
                "other writers kept committing first: {}",
                last.map_or(String::new(), |e| e.to_string())
            ),
        ))
    }

    fn try_commit(
        &self,
        add: Add,
        schema: &StructType,
        mode: Mode,
    ) -> std::result::Result<u64, Attempt> {
        let final_ = |what: &str, e: DeltaTableError| Attempt::Final(self.fail(what, e));
        let Some(table) = self.load(At::Latest).map_err(|e| final_("reading", e))? else {
            let create = deltalake::operations::create::CreateBuilder::new()
                .with_log_store(
                    self.builder()
                        .map_err(Attempt::Final)?
                        .build_storage()
                        .map_err(|e| final_("opening", e))?,
                )
                .with_columns(schema.fields().cloned())
                .with_save_mode(SaveMode::ErrorIfExists)
                .with_actions([Action::Add(add)]);
            return match self.rt.block_on(create.into_future()) {
                Ok(t) => Ok(t.version().unwrap_or(0)),
                Err(e @ DeltaTableError::VersionAlreadyExists(_)) => Err(Attempt::Again(e)),
                Err(e) if e.to_string().contains("already exists") => Err(Attempt::Again(e)),
                Err(e) => Err(final_("creating", e)),
            };
        };
        let state = table.snapshot().map_err(|e| final_("reading", e))?;
        let current = state.schema();
        let mut actions = Vec::new();
        if current.as_ref() != schema {
            if mode == Mode::Append {
                return Err(Attempt::Final(Error::Usage(format!(
                    "Delta table {}: the rows' columns ({}) are not the table's ({}); append rows of the table's schema, or overwrite it",
                    self.label,
                    describe(schema),
                    describe(current.as_ref())
                ))));
            }
            let metadata = state
                .metadata()
                .clone()
                .with_schema(schema)
                .map_err(|e| Attempt::Final(self.fail("changing the schema", e)))?;
            if has_ntz(schema) && !has_ntz(current.as_ref()) {
                // Timestamps without a time zone are a table feature the table may lack.
                let upgrade = table
                    .clone()
                    .add_feature()
                    .with_feature(TableFeatures::TimestampWithoutTimezone)
                    .with_allow_protocol_versions_increase(true);
                self.rt
                    .block_on(upgrade.into_future())
                    .map_err(|e| final_("enabling timestamps without a time zone", e))?;
                return Err(Attempt::Again(DeltaTableError::Generic(
                    "the table's protocol was upgraded".into(),
                )));
            }
            actions.push(Action::Metadata(metadata));
        }
        // A path is in at most one action of a commit: a file the table already has is
        // kept rather than removed and added again.
        let present = state.log_data().iter().any(|f| f.path() == add.path);
        if present && mode == Mode::Append {
            return Err(Attempt::Final(self.fail(
                "appending",
                format!("it already has a file named {}", add.path),
            )));
        }
        if mode == Mode::Overwrite {
            let now = chrono::Utc::now().timestamp_millis();
            for f in state.log_data().iter().filter(|f| f.path() != add.path) {
                actions.push(Action::Remove(Remove {
                    path: f.path().into_owned(),
                    data_change: true,
                    deletion_timestamp: Some(now),
                    extended_file_metadata: Some(true),
                    partition_values: Some(f.partition_values_map()),
                    size: Some(f.size()),
                    ..Default::default()
                }));
            }
        }
        if !present {
            actions.push(Action::Add(add));
        }
        let operation = DeltaOperation::Write {
            mode: mode.save_mode(),
            partition_by: None,
            predicate: None,
        };
        // delta-rs lets an overwrite through a concurrent append (it removes only the
        // files it saw, so the appended rows would survive it); as in Spark, an
        // overwrite conflicts with any commit since its snapshot, and is redone here on
        // the new one. Appends use delta-rs's own conflict resolution.
        let retries = match mode {
            Mode::Append => 15,
            Mode::Overwrite => 0,
        };
        let commit = CommitBuilder::default()
            .with_max_retries(retries)
            .with_actions(actions)
            .build(Some(state), table.log_store(), operation);
        match self.rt.block_on(commit.into_future()) {
            Ok(c) => Ok(c.version()),
            Err(
                e
                @ (DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_)),
            ) => Err(Attempt::Again(e)),
            Err(e) => Err(final_("committing", e)),
        }
    }
}

enum Attempt {
    /// Another writer won; reload and try again.
    Again(DeltaTableError),
    Final(Error),
}

/// An error of delta-rs as one line: its kernel's errors carry a backtrace (with
/// `RUST_BACKTRACE` set) that says nothing to a user.
fn said(e: impl std::fmt::Display) -> String {
    let text = e.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// A date (`2024-05-01`) as the start of its day in UTC; other text as it is.
fn rfc3339(t: &str) -> String {
    if t.len() == 10 && chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok() {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    }
}

fn has_ntz(schema: &StructType) -> bool {
    schema
        .fields()
        .any(|f| f.data_type() == &DeltaType::Primitive(PrimitiveType::TimestampNtz))
}

fn describe(schema: &StructType) -> String {
    schema
        .fields()
        .map(|f| format!("{} {}", f.name(), type_name(f.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_name(t: &DeltaType) -> String {
    match t {
        DeltaType::Primitive(p) => p.to_string(),
        other => format!("{other:?}"),
    }
}

/// The rows as Delta stores them, and their Delta schema: unsigned integers widened to
/// `long`, times in microseconds, categoricals as strings; a type Delta has no match for
/// is an error naming the column.
pub fn prepare(df: &DataFrame) -> std::result::Result<(DataFrame, StructType), String> {
    let mut columns = Vec::with_capacity(df.width());
    let mut fields = Vec::with_capacity(df.width());
    for c in df.columns() {
        let name = c.name().to_string();
        let (delta, cast) = match c.dtype() {
            DataType::Boolean => (PrimitiveType::Boolean, None),
            DataType::Int8 => (PrimitiveType::Byte, None),
            DataType::Int16 => (PrimitiveType::Short, None),
            DataType::Int32 => (PrimitiveType::Integer, None),
            DataType::Int64 => (PrimitiveType::Long, None),
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                (PrimitiveType::Long, Some(DataType::Int64))
            }
            DataType::Float32 => (PrimitiveType::Float, None),
            DataType::Float64 => (PrimitiveType::Double, None),
            DataType::String => (PrimitiveType::String, None),
            DataType::Categorical(..) | DataType::Enum(..) | DataType::Null => {
                (PrimitiveType::String, Some(DataType::String))
            }
            DataType::Binary => (PrimitiveType::Binary, None),
            DataType::Date => (PrimitiveType::Date, None),
            DataType::Datetime(unit, tz) => {
                let to = DataType::Datetime(TimeUnit::Microseconds, tz.clone());
                let cast = (*unit != TimeUnit::Microseconds).then_some(to);
                match tz {
                    Some(_) => (PrimitiveType::Timestamp, cast),
                    None => (PrimitiveType::TimestampNtz, cast),
                }
            }
            other => {
                return Err(format!(
                    "column `{name}` is of type {other}, which a Delta table cannot hold; cast it (to a string, a number or a timestamp) first"
                ))
            }
        };
        let column = match cast {
            Some(to) => c
                .strict_cast(&to)
                .map_err(|e| format!("column `{name}`: {e}"))?,
            None => c.clone(),
        };
        columns.push(column);
        fields.push(StructField::new(name, DeltaType::Primitive(delta), true));
    }
    let rows = DataFrame::new(df.height(), columns).map_err(|e| e.to_string())?;
    let schema = StructType::try_new(fields).map_err(|e| e.to_string())?;
    Ok((rows, schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            "id" => [1u32, 2, 3],
            "x" => [0.5, f64::NAN, -1.0],
            "s" => ["a", "b", "c"],
        )
        .unwrap()
    }

    #[test]
    fn writes_append_and_overwrite_as_versions() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::open(dir.path().join("t").to_str().unwrap(), true).unwrap();
        assert!(t.snapshot(At::Latest).unwrap().is_none());
        let a = t
            .write(&frame(), Mode::Append, |s| format!("part-{s}.parquet"))
            .unwrap();
        assert_eq!((a.version, a.rows), (0, 3));
        let b = t
            .write(&frame().slice(0, 1), Mode::Append, |s| {
                format!("part-{s}.parquet")
            })
            .unwrap();
        assert_eq!(b.version, 1);
        assert_eq!(t.snapshot(At::Latest).unwrap().unwrap().files.len(), 2);
        let c = t
            .write(&frame(), Mode::Overwrite, |s| format!("part-{s}.parquet"))
            .unwrap();
        assert_eq!(c.version, 2);
        let s = t.snapshot(At::Latest).unwrap().unwrap();
        assert_eq!(s.files.len(), 1);
        assert_eq!(s.files[0].0, c.file);
        // The same rows again: no new version.
        let d = t
            .write(&frame(), Mode::Overwrite, |s| format!("part-{s}.parquet"))
            .unwrap();
        assert_eq!(d.version, 2);
        // Time travel: version 1 still has both appended files.
        assert_eq!(t.snapshot(At::Version(1)).unwrap().unwrap().files.len(), 2);
        // The unsigned id became a long.
        assert_eq!(
            s.schema.field("id").unwrap().data_type(),
            &DeltaType::Primitive(PrimitiveType::Long)
        );
    }

    #[test]
    fn an_append_of_other_columns_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::open(dir.path().to_str().unwrap(), true).unwrap();
        t.write(&frame(), Mode::Append, |s| format!("{s}.parquet"))
            .unwrap();
        let other = df!("id" => [1i64], "y" => [2.0]).unwrap();
        let e = t
            .write(&other, Mode::Append, |s| format!("{s}.parquet"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("are not the table's"), "{e}");
        let s = t.snapshot(At::Latest).unwrap().unwrap();
        assert_eq!(s.version, 0);
        // The refused file was removed again.
        let parquet = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count();
        assert_eq!(parquet, 1);
        // An overwrite may change the schema.
        let o = t
            .write(&other, Mode::Overwrite, |s| format!("{s}.parquet"))
            .unwrap();
        assert_eq!(o.version, 1);
        assert!(t
            .snapshot(At::Latest)
            .unwrap()
            .unwrap()
            .schema
            .field("y")
            .is_some());
    }

    /// Writers racing on one table: each commit gets its own version, none is lost.
    #[test]
    fn concurrent_writers_each_commit_a_version() {
        let dir = tempfile::tempdir().unwrap();
        let uri = dir.path().join("t").display().to_string();
        Table::open(&uri, true)
            .unwrap()
            .write(&frame(), Mode::Append, |s| format!("seed-{s}.parquet"))
            .unwrap();
        let versions: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let uri = uri.clone();
                    scope.spawn(move || {
                        let t = Table::open(&uri, true).unwrap();
                        let rows =
                            df!("id" => [i as u32], "x" => [i as f64], "s" => ["w"]).unwrap();
                        let mode = if i % 4 == 3 {
                            Mode::Overwrite
                        } else {
                            Mode::Append
                        };
                        t.write(&rows, mode, |s| format!("w{i}-{s}.parquet"))
                            .unwrap()
                            .version
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=8).collect::<Vec<u64>>(), "{versions:?}");
        // The table is what its last commit left: the files added since the last
        // overwrite, that overwrite's included.
        let t = Table::open(&uri, false).unwrap();
        let last = t.snapshot(At::Latest).unwrap().unwrap();
        assert_eq!(last.version, 8);
        let overwrite_at = (0..8)
            .filter(|i| i % 4 == 3)
            .map(|i| versions[i])
            .max()
            .unwrap();
        let expected = versions.iter().filter(|&&v| v >= overwrite_at).count();
        assert_eq!(last.files.len(), expected, "{versions:?} {:?}", last.files);
    }

    #[test]
    fn types_without_a_delta_match_are_named() {
        let df = df!("d" => [chrono::Duration::seconds(1)]).unwrap();
        let e = prepare(&df).unwrap_err();
        assert!(e.contains("column `d`"), "{e}");
    }
}
