//! The feature store.
//!
//! - **Offline**: each view's rows as versioned Parquet, `<offline>/<view>/<sha256>.parquet`
//!   with its [`ViewVersion`] beside it and `latest.json` naming the newest version.
//!   The dataset hash is the version, so writing the same rows twice is one version.
//!   With `format: delta`, `<offline>/<view>/` is a Delta table ([`crate::lake`]) whose
//!   version is an overwrite commit of that same file; the table's log names the newest
//!   version, and the [`ViewVersion`]s are kept in `<view>/_mlx/` (Delta readers skip
//!   paths that start with `_`).
//! - **Point-in-time join** ([`pit_join`]): for each label row, the latest feature row of
//!   the same entity at or before the label's time, and not older than the TTL, as
//!   Feast's `get_historical_features`.
//! - **Online**: the latest values per entity, in an embedded key-value file (redb, the
//!   default) or Redis (`redis://`). [`OnlineStore`] is the one lookup serving uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use mlx_contracts::features::{OnlineRecord, ViewVersion, ONLINE_RECORD_VERSION, VIEW_VERSION};
use mlx_data::polars::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::lake::{At, Mode, Table};
pub use crate::model::derive::key_text;
use crate::workdir::Workdir;
use mlx_contracts::config::{Config, OfflineFormat};
use mlx_data::any_to_json;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

fn polars(what: &str) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Runtime(format!("{what}: {e}"))
}

// --- offline ---------------------------------------------------------------------------

/// A view's rows with their roles.
#[derive(Debug, Clone)]
pub struct ViewData {
    /// View name.
    pub name: String,
    /// Entity key columns.
    pub entity: Vec<String>,
    /// Event-time column.
    pub timestamp: String,
    /// Feature columns.
    pub features: Vec<String>,
}

/// The offline store: a local directory or an `s3://`, `gs://`, `az://` URL, through
/// `object_store` either way.
pub struct Offline {
    store: Box<dyn ObjectStore>,
    prefix: ObjectPath,
    label: String,
    local: Option<PathBuf>,
    rt: tokio::runtime::Runtime,
    uri: String,
    format: OfflineFormat,
}

/// A view version written to the offline store.
pub struct Written {
    /// The version.
    pub version: ViewVersion,
    /// With `format: delta`, the Delta table version holding it.
    pub delta_version: Option<u64>,
}

impl Offline {
    /// Opens the store at `uri` (a local directory is created on first write).
    pub fn open(uri: &str, format: OfflineFormat) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the I/O runtime", e))?;
        let label = crate::config::interpolate::mask(uri, &[]);
        if uri.contains("://") && !uri.starts_with("file://") {
            let (store, prefix) = crate::objects::open_url(uri)
                .map_err(|e| Error::Usage(format!("offline store {e}")))?;
            return Ok(Self {
                store,
                prefix,
                label,
                local: None,
                rt,
                uri: uri.to_string(),
                format,
            });
        }
        let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
        std::fs::create_dir_all(&path).with_path("creating", &path)?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&path)
            .map_err(|e| Error::Runtime(format!("offline store {label}: {e}")))?;
        Ok(Self {
            store: Box::new(store),
            prefix: ObjectPath::default(),
            label,
            local: Some(path),
            rt,
            uri: uri.to_string(),
            format,
        })
    }

    fn path(&self, view: &str, file: &str) -> ObjectPath {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_owned()).collect();
        parts.push(view.to_owned());
        parts.extend(file.split('/').map(str::to_owned));
        ObjectPath::from_iter(parts)
    }

    /// The local file of a version, when the store is a local directory.
    pub fn local_file(&self, view: &str, version: &str) -> Option<PathBuf> {
        self.local
            .as_ref()
            .map(|d| d.join(view).join(format!("{version}.parquet")))
    }

    fn put(&self, path: &ObjectPath, bytes: Vec<u8>) -> Result<()> {
        self.rt
            .block_on(self.store.put(path, bytes.into()))
            .map(|_| ())
            .map_err(|e| {
                Error::Runtime(format!("offline store {}: writing {path}: {e}", self.label))
            })
    }

    fn get(&self, path: &ObjectPath) -> Result<Option<Vec<u8>>> {
        self.rt
            .block_on(async {
                match self.store.get(path).await {
                    Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| {
                Error::Runtime(format!("offline store {}: reading {path}: {e}", self.label))
            })
    }

    /// A view's Delta table.
    fn table(&self, view: &str) -> Result<Table> {
        let uri = match &self.local {
            Some(dir) => dir.join(view).display().to_string(),
            None => format!("{}/{view}", self.uri.trim_end_matches('/')),
        };
        Table::open(&uri, self.local.is_some())
    }

    /// Where a version's [`ViewVersion`] is kept.
    fn meta(&self, view: &str, version: &str) -> ObjectPath {
        match self.format {
            OfflineFormat::Parquet => self.path(view, &format!("{version}.json")),
            OfflineFormat::Delta => self.path(view, &format!("_mlx/{version}.json")),
        }
    }

    /// Writes `df` (the view's key, time and feature columns, sorted by time) as a new
    /// version, or finds the identical one; marks it latest.
    pub fn write(&self, view: &ViewData, df: &DataFrame) -> Result<Written> {
        let mut cols: Vec<Expr> = view.entity.iter().map(|c| col(c.as_str())).collect();
        cols.push(col(view.timestamp.as_str()));
        cols.extend(view.features.iter().map(|c| col(c.as_str())));
        let mut rows = df
            .clone()
            .lazy()
            .select(cols)
            .sort(
                [view.timestamp.as_str()],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .collect()
            .map_err(polars("preparing the view"))?;
        let table = match self.format {
            OfflineFormat::Parquet => None,
            OfflineFormat::Delta => Some(self.table(&view.name)?),
        };
        // The types a Delta table holds (unsigned integers widened, microseconds).
        let schema = if table.is_some() {
            let (delta_rows, schema) = crate::lake::prepare(&rows)
                .map_err(|e| Error::Usage(format!("view `{}`: {e}", view.name)))?;
            rows = delta_rows;
            Some(schema)
        } else {
            None
        };
        let mut bytes = Vec::new();
        mlx_data::write_parquet(&mut rows, &mut bytes).map_err(Error::Runtime)?;
        let (sha, _) = crate::hash::sha256_reader(bytes.as_slice(), |_| {})
            .map_err(|e| Error::io("hashing the view", e))?;
        let version = ViewVersion {
            schema_version: VIEW_VERSION,
            view: view.name.clone(),
            version: sha.clone(),
            entity: view.entity.clone(),
            timestamp: view.timestamp.clone(),
            features: view.features.clone(),
            rows: rows.height() as u64,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let json = crate::json::pretty_bare(&version)?.into_bytes();
        let size = bytes.len() as u64;
        // The data first, then what points at it: a reader never sees a version whose
        // file is missing.
        let file = format!("{sha}.parquet");
        self.put(&self.path(&view.name, &file), bytes)?;
        self.put(&self.meta(&view.name, &sha), json.clone())?;
        let delta_version = match (&table, &schema) {
            (Some(t), Some(schema)) => {
                Some(t.commit_file(&file, size, version.rows, schema, Mode::Overwrite)?)
            }
            _ => {
                self.put(&self.path(&view.name, "latest.json"), json)?;
                None
            }
        };
        Ok(Written {
            version,
            delta_version,
        })
    }

    /// The latest version of a view.
    pub fn latest(&self, view: &str) -> Result<ViewVersion> {
        let p = match self.format {
            OfflineFormat::Parquet => Some(self.path(view, "latest.json")),
            OfflineFormat::Delta => self.latest_delta(view)?,
        };
        let bytes = match &p {
            Some(p) => self.get(p)?,
            None => None,
        };
        let (Some(p), Some(bytes)) = (p, bytes) else {
            return Err(Error::Usage(format!(
                "the offline store {} has no version of view `{view}`; run `mlx-features` first",
                self.label
            )));
        };
        mlx_contracts::parse_versioned(
            &String::from_utf8_lossy(&bytes),
            "feature view version",
            VIEW_VERSION,
        )
        .map_err(|source| Error::Contract {
            path: format!("{}/{p}", self.label),
            source,
        })
    }

    /// Where the [`ViewVersion`] of a view's Delta table's latest version is kept: the
    /// one data file of the version names it.
    fn latest_delta(&self, view: &str) -> Result<Option<ObjectPath>> {
        let table = self.table(view)?;
        let Some(snapshot) = table.snapshot(At::Latest)? else {
            return Ok(None);
        };
        let sha = match snapshot.files.as_slice() {
            [(file, _)] => file
                .strip_suffix(".parquet")
                .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())),
            _ => None,
        };
        match sha {
            Some(sha) => Ok(Some(self.meta(view, sha))),
            None => Err(Error::Runtime(format!(
                "version {} of the Delta table {} has {} data files that mlx-features did not write as one view version (another writer changed the table); rerun `mlx-features` to overwrite it",
                snapshot.version,
                table.label(),
                snapshot.files.len()
            ))),
        }
    }

    /// Reads a version's rows, checking they still have the version's hash.
    pub fn read(&self, version: &ViewVersion) -> Result<DataFrame> {
        let p = self.path(&version.view, &format!("{}.parquet", version.version));
        let bytes = self.get(&p)?.ok_or_else(|| {
            Error::Runtime(format!(
                "the offline store {} lost {p}; rerun `mlx-features` to rewrite it",
                self.label
            ))
        })?;
        let (sha, _) = crate::hash::sha256_reader(bytes.as_slice(), |_| {})
            .map_err(|e| Error::io("hashing the view", e))?;
        if sha != version.version {
            return Err(Error::Runtime(format!(
                "{p} in the offline store {} does not match its version hash (it was \
                 modified); delete it and rerun `mlx-features` to rewrite it",
                self.label
            )));
        }
        ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(polars("reading the view"))
    }
}

// --- point-in-time join ----------------------------------------------------------------

const T: &str = "__mlx_t";
const ROW: &str = "__mlx_row";

/// Joins `features` (keyed by `right_keys` and `right_time`) onto `labels` (keyed by
/// `left_keys` and `left_time`): for each label row the latest feature row of its entity
/// with time `<=` the label's time and, with `ttl_ms`, `>=` the label's time minus the
/// TTL. Label rows keep their order; features without a match are missing.
#[allow(clippy::too_many_arguments)]
pub fn pit_join(
    labels: &DataFrame,
    left_keys: &[String],
    left_time: &str,
    features: &DataFrame,
    right_keys: &[String],
    right_time: &str,
    feature_columns: &[String],
    ttl_ms: Option<i64>,
) -> Result<DataFrame> {
    for f in feature_columns {
        if labels.column(f.as_str()).is_ok() {
            return Err(Error::Usage(format!(
                "the feature `{f}` is already a column of the dataset; rename one of them"
            )));
        }
    }
    crate::model::derive::check_unique_keys(features, right_keys, right_time, "the feature view")?;
    let millis = |c: &str| col(c).dt().timestamp(TimeUnit::Milliseconds).alias(T);
    let left = labels
        .clone()
        .lazy()
        .with_row_index(ROW, None)
        .with_column(millis(left_time))
        .sort(
            [T],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()
        .map_err(polars("reading the label times"))?;
    let mut right_cols: Vec<Expr> = Vec::new();
    for (l, r) in left_keys.iter().zip(right_keys) {
        let dtype = left
            .column(l.as_str())
            .map_err(polars("the label keys"))?
            .dtype()
            .clone();
        right_cols.push(col(r.as_str()).cast(dtype).alias(l.as_str()));
    }
    right_cols.push(millis(right_time));
    right_cols.extend(feature_columns.iter().map(|c| col(c.as_str())));
    let right = features
        .clone()
        .lazy()
        .select(right_cols)
        .sort(
            [T],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()
        .map_err(polars("reading the feature view"))?;
    let joined = left
        .join_asof_by(
            &right,
            T,
            T,
            left_keys.iter().map(String::as_str),
            left_keys.iter().map(String::as_str),
            AsofStrategy::Backward,
            ttl_ms.map(AnyValue::Int64),
            true,
            false,
        )
        .map_err(polars("joining point in time"))?;
    let mut drop: Vec<String> = vec![T.into()];
    if joined.column(&format!("{T}_right")).is_ok() {
        drop.push(format!("{T}_right"));
    }
    joined
        .lazy()
        .sort([ROW], SortMultipleOptions::default())
        .drop(cols(drop.iter().map(String::as_str).chain([ROW])))
        .collect()
        .map_err(polars("joining point in time"))
}

// --- online ----------------------------------------------------------------------------

/// The online store: latest feature values per view and entity.
pub trait OnlineStore {
    /// Writes records (replacing those of the same view and entity) in one batch.
    fn write(&mut self, records: &[OnlineRecord]) -> Result<()>;
    /// Reads the record of an entity.
    fn read(&mut self, view: &str, entity: &[String]) -> Result<Option<OnlineRecord>>;
}

/// The key of a view's entity: the view, then the key values joined by `|` (with `|`
/// and `\` escaped by `\`).
pub fn entity_key(view: &str, entity: &[String]) -> String {
    let values: Vec<String> = entity
        .iter()
        .map(|v| v.replace('\\', "\\\\").replace('|', "\\|"))
        .collect();
    format!("mlx:{view}:{}", values.join("|"))
}

/// Opens the online store named by `uri`: `redis://` / `rediss://`, else a local file.
pub fn open_online(uri: &str) -> Result<Box<dyn OnlineStore + Send>> {
    if uri.starts_with("redis://")
        || uri.starts_with("rediss://")
        || uri.starts_with("redis+unix://")
    {
        return Ok(Box::new(RedisStore::open(uri)?));
    }
    Ok(Box::new(LocalStore::open(Path::new(uri))?))
}

use redb::ReadableDatabase;

const TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("online");

/// The embedded online store: one redb file, one table of JSON records.
pub struct LocalStore {
    db: redb::Database,
}

fn redb_err(path: &Path) -> impl Fn(redb::Error) -> Error + '_ {
    move |e| Error::Runtime(format!("online store {}: {e}", path.display()))
}

impl LocalStore {
    /// Opens or creates the file.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_path("creating", dir)?;
        }
        let db = redb::Database::create(path).map_err(|e| redb_err(path)(e.into()))?;
        Ok(Self { db })
    }
}

impl OnlineStore for LocalStore {
    fn write(&mut self, records: &[OnlineRecord]) -> Result<()> {
        let e = |x: redb::Error| Error::Runtime(format!("writing the online store: {x}"));
        let tx = self.db.begin_write().map_err(|x| e(x.into()))?;
        {
            let mut t = tx.open_table(TABLE).map_err(|x| e(x.into()))?;
            for r in records {
                let value = crate::json::line(r)?;
                t.insert(entity_key(&r.view, &r.entity).as_str(), value.as_bytes())
                    .map_err(|x| e(x.into()))?;
            }
        }
        tx.commit().map_err(|x| e(x.into()))
    }

    fn read(&mut self, view: &str, entity: &[String]) -> Result<Option<OnlineRecord>> {
        let e = |x: redb::Error| Error::Runtime(format!("reading the online store: {x}"));
        let rx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = match rx.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(x) => return Err(e(x.into())),
        };
        let Some(v) = table
            .get(entity_key(view, entity).as_str())
            .map_err(|x| e(x.into()))?
        else {
            return Ok(None);
        };
        parse_record(&String::from_utf8_lossy(v.value())).map(Some)
    }
}

/// The Redis online store: one string key per view and entity, holding the JSON record.
pub struct RedisStore {
    con: redis::Connection,
    uri: String,
}

impl RedisStore {
    /// Connects (5 s timeout).
    pub fn open(uri: &str) -> Result<Self> {
        let e = |x: redis::RedisError| {
            Error::Runtime(format!(
                "cannot connect to the online store {}: {x}; check that Redis runs there",
                crate::config::interpolate::mask(uri, &[])
            ))
        };
        let client = redis::Client::open(uri).map_err(e)?;
        let con = client
            .get_connection_with_timeout(StdDuration::from_secs(5))
            .map_err(e)?;
        Ok(Self {
            con,
            uri: crate::config::interpolate::mask(uri, &[]),
        })
    }
}

impl OnlineStore for RedisStore {
    fn write(&mut self, records: &[OnlineRecord]) -> Result<()> {
        for chunk in records.chunks(10_000) {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for r in chunk {
                let value = crate::json::line(r)?;
                pipe.set(entity_key(&r.view, &r.entity), value).ignore();
            }
            pipe.query::<()>(&mut self.con).map_err(|x| {
                Error::Runtime(format!("writing the online store {}: {x}", self.uri))
            })?;
        }
        Ok(())
    }

    fn read(&mut self, view: &str, entity: &[String]) -> Result<Option<OnlineRecord>> {
        let v: Option<String> = redis::cmd("GET")
            .arg(entity_key(view, entity))
            .query(&mut self.con)
            .map_err(|x| Error::Runtime(format!("reading the online store {}: {x}", self.uri)))?;
        v.map(|s| parse_record(&s)).transpose()
    }
}

fn parse_record(text: &str) -> Result<OnlineRecord> {
    mlx_contracts::parse_versioned(text, "online store record", ONLINE_RECORD_VERSION).map_err(
        |source| Error::Contract {
            path: "the online store".into(),
            source,
        },
    )
}

/// The latest row per entity of a view version, at or before `as_of` (ms) when given and
/// within `ttl_ms` of it, as online records.
pub fn latest_records(
    version: &ViewVersion,
    df: &DataFrame,
    as_of: Option<i64>,
    ttl_ms: Option<i64>,
) -> Result<Vec<OnlineRecord>> {
    let t = version.timestamp.as_str();
    let millis = col(t).dt().timestamp(TimeUnit::Milliseconds);
    let mut lf = df.clone().lazy();
    if let Some(a) = as_of {
        lf = lf.filter(millis.clone().lt_eq(lit(a)));
        if let Some(ttl) = ttl_ms {
            lf = lf.filter(millis.gt_eq(lit(a - ttl)));
        }
    }
    let keys: Vec<Expr> = version.entity.iter().map(|c| col(c.as_str())).collect();
    let mut aggs = vec![col(t).last()];
    aggs.extend(version.features.iter().map(|f| col(f.as_str()).last()));
    let latest = lf
        .sort(
            [t],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .group_by_stable(keys)
        .agg(aggs)
        .collect()
        .map_err(polars("finding the latest values"))?;
    let columns: Vec<&Column> = latest.columns().iter().collect();
    let n_keys = version.entity.len();
    let mut out = Vec::with_capacity(latest.height());
    for r in 0..latest.height() {
        let get = |i: usize| {
            columns[i]
                .get(r)
                .map_err(polars("reading the latest values"))
        };
        let mut entity = Vec::with_capacity(n_keys);
        for i in 0..n_keys {
            entity.push(key_text(&get(i)?));
        }
        let event_time = match any_to_json(&get(n_keys)?) {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let mut features = BTreeMap::new();
        for (k, f) in version.features.iter().enumerate() {
            features.insert(f.clone(), any_to_json(&get(n_keys + 1 + k)?));
        }
        out.push(OnlineRecord {
            schema_version: ONLINE_RECORD_VERSION,
            view: version.view.clone(),
            version: version.version.clone(),
            entity,
            event_time,
            features,
        });
    }
    Ok(out)
}

/// The offline store's location.
pub fn offline_uri(cfg: &Config, workdir: &Workdir) -> String {
    cfg.features
        .store
        .offline
        .clone()
        .unwrap_or_else(|| workdir.join("feature-store/offline").display().to_string())
}

/// The online store's URI.
pub fn online_uri(cfg: &Config, workdir: &Workdir) -> String {
    cfg.features.store.online.clone().unwrap_or_else(|| {
        workdir
            .join("feature-store/online.redb")
            .display()
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unambiguous() {
        assert_eq!(entity_key("v", &["a|b".into()]), "mlx:v:a\\|b");
        assert_ne!(
            entity_key("v", &["a|b".into()]),
            entity_key("v", &["a".into(), "b".into()])
        );
    }

    #[test]
    fn local_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LocalStore::open(&dir.path().join("online.redb")).unwrap();
        assert_eq!(s.read("v", &["1".into()]).unwrap(), None);
        let r = OnlineRecord {
            schema_version: ONLINE_RECORD_VERSION,
            view: "v".into(),
            version: "abc".into(),
            entity: vec!["1".into()],
            event_time: "2024-01-01T00:00:00".into(),
            features: [("x".to_string(), serde_json::json!(0.1 + 0.2))].into(),
        };
        s.write(std::slice::from_ref(&r)).unwrap();
        let back = s.read("v", &["1".into()]).unwrap().unwrap();
        assert_eq!(back, r);
        // Floats survive bit for bit.
        assert_eq!(
            back.features["x"].as_f64().unwrap().to_bits(),
            (0.1f64 + 0.2).to_bits()
        );
    }
}
