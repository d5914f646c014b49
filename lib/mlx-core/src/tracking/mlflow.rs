//! The MLflow mirror (`tracking.mlflow`, docs/mlflow.md): the tracking store's runs and
//! the registry's versions, copied to an MLflow tracking server through its REST API so
//! that a team's MLflow dashboards and clients see what mlx did.
//!
//! The tracking store stays the record; the mirror follows it. [`sync`] sends what the
//! server lacks and is safe to repeat:
//!
//! - an mlx run is one MLflow run, found by its `mlx.run_id` tag (the id `mlx runs show`
//!   takes), so re-mirroring never makes a second one; two mirrors creating the same run
//!   at once both keep the one with the smallest MLflow id and delete the other;
//! - each entry (training, evaluation, SHAP, gate, monitoring window) is logged once: a
//!   sync writes which entries it sent to `<experiment>/mirror/mlflow-<server>/` of the
//!   tracking store, and MLflow itself ignores a metric logged twice with the same
//!   value, step and time (the times are the entries' own);
//! - a registry version is one MLflow model version, found by its `mlx.version` tag;
//!   stages and aliases become aliases, each revision of the audit trail a version tag.
//!
//! A pipeline stage mirrors after it records ([`mirror_quietly`]): a server that is
//! down, slow or refusing never fails the stage; what it did not take stays queued,
//! `mlx runs show` says so, and the next stage or `mlx tracking sync` sends it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlx_contracts::config::{Config, MlflowMirror, ParamValue};
use mlx_contracts::registry::{RegistryState, Stage as RegistryStage};
use mlx_contracts::tracking::{EntryKind, TrackedRun};
use mlx_contracts::train::HistoryPoint;
use mlx_contracts::Status;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Store;
use crate::config::mask_known;
use crate::error::{Error, Result};

/// MLflow's limits on one `runs/log-batch` call.
const BATCH_METRICS: usize = 1000;
const BATCH_PARAMS: usize = 100;
const BATCH_TAGS: usize = 100;
/// Records of what was sent beyond which a sync merges them into one.
const MERGE_RECORDS_AT: usize = 32;
/// MLflow's limit on a parameter's and a tag's value (characters).
const VALUE_MAX: usize = 6000;

/// Set when a stage of this process found the server unreachable: the stage's later
/// records queue at once instead of waiting again.
static UNREACHABLE: AtomicBool = AtomicBool::new(false);

/// What one [`sync`] sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Synced {
    /// The server (without credentials).
    pub server: String,
    /// The MLflow experiment's id.
    pub experiment_id: String,
    /// MLflow runs created.
    pub runs_created: usize,
    /// Entries logged to their runs.
    pub entries: usize,
    /// Artifacts uploaded.
    pub artifacts: usize,
    /// Model versions created.
    pub versions_created: usize,
    /// Version tags and aliases set or removed.
    pub registry_changes: usize,
    /// Why artifacts were not uploaded (a server that does not serve artifacts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts_skipped: Option<String>,
}

/// Where a run stands in the mirror (`mlx runs show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMirror {
    /// Every entry of the run is on the server, in this MLflow run.
    Mirrored { server: String, run: String },
    /// Some entries are not on the server yet.
    Queued {
        server: String,
        waiting: usize,
        last_error: Option<String>,
    },
}

/// One sync's record of what it sent, `mirror/mlflow-<server>/<time>-<n>.json` in the
/// tracking store's experiment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sent {
    server: String,
    experiment_id: String,
    /// The experiment's creation time: a server reset, or an experiment deleted for
    /// good and made again, has the same name and maybe id, but not this.
    #[serde(default)]
    experiment_created: i64,
    /// Entry id → MLflow run id.
    entries: BTreeMap<String, String>,
}

/// Why the last mirror attempt failed (`pending.json` beside the records).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    at: DateTime<Utc>,
    error: String,
}

/// The server as messages and records name it: the URL without credentials or query.
fn server_label(m: &MlflowMirror) -> String {
    match url::Url::parse(m.uri.trim()) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => mask_known(&m.uri),
    }
}

/// The folder of the tracking store's experiment that records this server's mirror.
fn mirror_dir(m: &MlflowMirror, experiment: &str) -> String {
    let key = format!("{}\n{experiment}", server_label(m));
    let h = crate::config::hex(&Sha256::digest(key.as_bytes()));
    format!("mirror/mlflow-{}", &h[..12])
}

/// The MLflow experiment a config's runs go to.
fn mlflow_experiment(cfg: &Config, m: &MlflowMirror) -> String {
    m.experiment
        .clone()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| super::experiment(cfg))
}

/// Mirrors after a stage recorded: never fails and, when the server is unreachable,
/// waits for it at most once per process. What was not sent stays queued; the warning
/// says how to send it.
pub fn mirror_quietly(cfg: &Config) {
    // With `tracking.enabled: false` the store holds no runs; the registry's changes
    // are still mirrored.
    let Some(m) = &cfg.tracking.mlflow else {
        return;
    };
    let outcome = if UNREACHABLE.load(Ordering::Relaxed) {
        Err(Error::Runtime(
            "it was unreachable earlier in this command".into(),
        ))
    } else {
        sync(cfg)
    };
    match outcome {
        Ok(s) => {
            if let Some(why) = s.artifacts_skipped {
                tracing::warn!("MLflow mirror {}: artifacts not sent: {why}", s.server);
            }
        }
        Err(e) => {
            eprintln!(
                "warning: the MLflow mirror ({}) is behind: {}; the runs are kept in the \
                 tracking store and queued: `mlx tracking sync` sends them",
                server_label(m),
                mask_known(&format!("{e:#}"))
            );
        }
    }
}

/// Sends the server everything of the tracking store and the registry it lacks.
pub fn sync(cfg: &Config) -> Result<Synced> {
    let m = cfg.tracking.mlflow.as_ref().ok_or_else(|| {
        Error::Usage(
            "tracking.mlflow is not set, so there is no MLflow server to mirror to; add \
             `tracking: { mlflow: { uri: http://HOST:5000 } }` to mlx.yaml (docs/mlflow.md)"
                .into(),
        )
    })?;
    let store = super::open(cfg)?;
    let dir = mirror_dir(m, store.experiment());
    let outcome = Client::new(m).and_then(|client| {
        let mut mirror = Mirror {
            client,
            store: &store,
            dir: dir.clone(),
            experiment_id: String::new(),
            experiment_created: 0,
            synced: Synced {
                server: server_label(m),
                ..Synced::default()
            },
            sent: BTreeMap::new(),
        };
        let runs = mirror.runs(&mlflow_experiment(cfg, m));
        // What was sent is recorded even when a later call failed.
        mirror.record_sent()?;
        runs?;
        mirror.registry(cfg)?;
        Ok(mirror.synced)
    });
    match &outcome {
        Ok(_) => store.mirror_forget(&format!("{dir}/pending.json"))?,
        Err(e) => {
            let pending = Pending {
                at: Utc::now(),
                error: mask_known(&format!("{e:#}")),
            };
            // Best effort: the error itself is what the caller reports.
            let _ = store.mirror_put(
                &format!("{dir}/pending.json"),
                crate::json::pretty(&pending)?.into_bytes(),
            );
        }
    }
    outcome
}

/// Where `run` stands in the mirror, when the config has one.
pub fn status(cfg: &Config, store: &Store, run: &super::Run) -> Result<Option<RunMirror>> {
    let Some(m) = &cfg.tracking.mlflow else {
        return Ok(None);
    };
    let dir = mirror_dir(m, store.experiment());
    let sent = read_sent(store, &dir, None)?;
    let server = server_label(m);
    let ids: Vec<String> = super::entry_ids(run).collect();
    let waiting = ids.iter().filter(|id| !sent.contains_key(*id)).count();
    if waiting == 0 {
        let mlflow_run = sent.get(&run.entry.id).cloned().unwrap_or_default();
        return Ok(Some(RunMirror::Mirrored {
            server,
            run: mlflow_run,
        }));
    }
    let last_error = store
        .mirror_get(&format!("{dir}/pending.json"))?
        .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
        .map(|p| format!("{}: {}", p.at.format("%Y-%m-%d %H:%M:%S UTC"), p.error));
    Ok(Some(RunMirror::Queued {
        server,
        waiting,
        last_error,
    }))
}

/// Every entry id sent to the server of `dir` (to the experiment `to`, its id and
/// creation time, when given), with its MLflow run.
fn read_sent(
    store: &Store,
    dir: &str,
    to: Option<(&str, i64)>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for key in store.mirror_list(dir)? {
        if !key.ends_with(".json") || key.ends_with("/pending.json") {
            continue;
        }
        let Some(bytes) = store.mirror_get(&key)? else {
            continue;
        };
        // A damaged record only means its entries are sent again (idempotently).
        if let Ok(s) = serde_json::from_slice::<Sent>(&bytes) {
            if to.is_none_or(|(id, created)| {
                s.experiment_id == id && s.experiment_created == created
            }) {
                out.extend(s.entries);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// the REST client

/// MLflow's REST API at one server.
struct Client {
    http: reqwest::Client,
    /// How long a call may take (an upload: more, by its size).
    wait: Duration,
    rt: tokio::runtime::Runtime,
    base: url::Url,
    label: String,
    auth: Option<HeaderValue>,
}

/// An MLflow error answer: its `error_code` and message.
#[derive(Debug)]
struct Refusal {
    code: String,
    message: String,
}

impl Client {
    fn new(m: &MlflowMirror) -> Result<Self> {
        let base = url::Url::parse(m.uri.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "tracking.mlflow.uri `{}` is not an http:// or https:// URL",
                    mask_known(&m.uri)
                ))
            })?;
        let wait = Duration::from_secs_f64(m.timeout_seconds.clamp(0.1, 600.0));
        let http = reqwest::Client::builder()
            .connect_timeout(wait)
            .build()
            .map_err(|e| Error::Runtime(format!("starting the HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(format!("starting the HTTP client: {e}")))?;
        Ok(Self {
            http,
            wait,
            rt,
            base,
            label: server_label(m),
            auth: auth_header()?,
        })
    }

    fn url(&self, path: &str) -> url::Url {
        let mut u = self.base.clone();
        let joined = format!("{}/{path}", u.path().trim_end_matches('/'));
        u.set_path(&joined);
        u
    }

    /// Sends one request; `Ok(Err(_))` is MLflow refusing it in its error shape.
    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<reqwest::Body>,
        content_type: &str,
    ) -> Result<std::result::Result<Value, Refusal>> {
        let url = self.url(path);
        // A server that takes connections but never answers delays a stage by `wait`, not
        // more; an upload gets a further second per MiB.
        let size = body
            .as_ref()
            .and_then(reqwest::Body::as_bytes)
            .map_or(0, <[u8]>::len);
        let wait = self.wait + Duration::from_secs((size >> 20) as u64);
        let mut req = self.http.request(method, url).query(query).timeout(wait);
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, content_type).body(b);
        }
        let out = self.rt.block_on(async {
            let resp = req.send().await?;
            let status = resp.status();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        });
        let (status, bytes) = out.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                UNREACHABLE.store(true, Ordering::Relaxed);
            }
            Error::Runtime(format!(
                "the MLflow server {} did not answer {path}: {}",
                self.label,
                crate::error::chain(&e)
            ))
        })?;
        if status.is_success() {
            return Ok(Ok(if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            }));
        }
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match (field("error_code"), status.as_u16()) {
            (Some(code), _) => Ok(Err(Refusal {
                code,
                message: field("message").unwrap_or_default(),
            })),
            (None, 401 | 403) => Err(Error::Runtime(format!(
                "the MLflow server {} refused the credentials ({status}); set \
                 MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and \
                 MLFLOW_TRACKING_PASSWORD",
                self.label
            ))),
            (None, _) => Err(Error::Runtime(format!(
                "the MLflow server {} answered {path} with {status}: {}",
                self.label,
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).trim()
            ))),
        }
    }

    /// A JSON call that must succeed.
    fn call(&self, method: Method, path: &str, body: &Value) -> Result<Value> {
        self.try_call(method, path, body)?
            .map_err(|r| self.refused(path, &r))
    }

    /// A JSON call MLflow may refuse (`RESOURCE_ALREADY_EXISTS`, ...).
    fn try_call(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<std::result::Result<Value, Refusal>> {
        let api = format!("api/2.0/mlflow/{path}");
        if method == Method::GET {
            let query: Vec<(String, String)> = body
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            (k.clone(), s)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (&**k, &**v)).collect();
            self.send(method, &api, &q, None, "")
        } else {
            let text = serde_json::to_vec(body)
                .map_err(|e| Error::Runtime(format!("encoding an MLflow request: {e}")))?;
            self.send(method, &api, &[], Some(text.into()), "application/json")
        }
    }

    /// What `get` answers, after `create` made it when MLflow had none (another
    /// client making it meanwhile is no error).
    fn get_or_create(&self, get: (&str, Value), create: (&str, Value)) -> Result<Value> {
        match self.try_call(Method::GET, get.0, &get.1)? {
            Ok(v) => return Ok(v),
            Err(r) if r.code == "RESOURCE_DOES_NOT_EXIST" => {}
            Err(r) => return Err(self.refused(get.0, &r)),
        }
        match self.try_call(Method::POST, create.0, &create.1)? {
            Ok(_) => {}
            Err(r) if r.code == "RESOURCE_ALREADY_EXISTS" => {}
            Err(r) => return Err(self.refused(create.0, &r)),
        }
        self.call(Method::GET, get.0, &get.1)
    }

    fn refused(&self, path: &str, r: &Refusal) -> Error {
        Error::Runtime(format!(
            "the MLflow server {} refused {path}: {}: {}",
            self.label, r.code, r.message
        ))
    }

    /// Uploads one artifact through the server's artifact proxy.
    fn put_artifact(&self, artifact_path: &str, bytes: Vec<u8>) -> Result<()> {
        let path = format!("api/2.0/mlflow-artifacts/artifacts/{artifact_path}");
        self.send(
            Method::PUT,
            &path,
            &[],
            Some(bytes.into()),
            "application/octet-stream",
        )?
        .map(|_| ())
        .map_err(|r| self.refused(&path, &r))
    }
}

/// The credentials MLflow's own client reads from the environment.
fn auth_header() -> Result<Option<HeaderValue>> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let value = if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
        format!("Bearer {token}")
    } else if let Some(user) = var("MLFLOW_TRACKING_USERNAME") {
        use base64::Engine;
        let pass = var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default();
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    } else {
        return Ok(None);
    };
    let mut h = HeaderValue::from_str(&value).map_err(|_| {
        Error::Usage(
            "MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) \
             holds a character an HTTP header cannot carry"
                .into(),
        )
    })?;
    h.set_sensitive(true);
    Ok(Some(h))
}

// ---------------------------------------------------------------------------------------
// runs

/// An MLflow run as the mirror needs it.
#[derive(Debug, Clone)]
struct Remote {
    id: String,
    /// Its artifact folder as the artifact proxy names it, when the server proxies
    /// artifacts (`mlflow-artifacts:/<experiment>/<run>/artifacts`).
    artifacts: Option<String>,
    tags: BTreeMap<String, String>,
}

impl Remote {
    fn of(run: &Value) -> Option<Self> {
        let info = run.get("info")?;
        let id = info.get("run_id").and_then(Value::as_str)?.to_owned();
        let artifacts = info
            .get("artifact_uri")
            .and_then(Value::as_str)
            .and_then(|u| u.strip_prefix("mlflow-artifacts:"))
            .map(|p| p.trim_start_matches('/').to_owned());
        let tags = pairs(run.pointer("/data/tags"), "key", "value");
        Some(Self {
            id,
            artifacts,
            tags,
        })
    }
}

struct Mirror<'a> {
    client: Client,
    store: &'a Store,
    dir: String,
    experiment_id: String,
    experiment_created: i64,
    synced: Synced,
    /// Entries sent by this sync.
    sent: BTreeMap<String, String>,
}

impl Mirror<'_> {
    /// Writes what this sync sent as a record of its own; once enough have gathered,
    /// merges them into one (dropping those of an experiment that is gone), so a sync
    /// reads a few records, not one per stage ever run.
    fn record_sent(&self) -> Result<()> {
        if self.sent.is_empty() {
            return Ok(());
        }
        self.write_record(self.sent.clone())?;
        let records: Vec<String> = self
            .store
            .mirror_list(&self.dir)?
            .into_iter()
            .filter(|k| k.ends_with(".json") && !k.ends_with("/pending.json"))
            .collect();
        if records.len() <= MERGE_RECORDS_AT {
            return Ok(());
        }
        // Everything listed is in what this reads (a record merged away meanwhile is in
        // the merged one, which this lists), so deleting the listed ones loses nothing.
        let all = read_sent(
            self.store,
            &self.dir,
            Some((&self.experiment_id, self.experiment_created)),
        )?;
        let merged = self.write_record(all)?;
        for k in records.iter().filter(|k| **k != merged) {
            self.store.mirror_forget(k)?;
        }
        Ok(())
    }

    /// Writes one record of entries sent; returns its name.
    fn write_record(&self, entries: BTreeMap<String, String>) -> Result<String> {
        let record = Sent {
            server: self.synced.server.clone(),
            experiment_id: self.experiment_id.clone(),
            experiment_created: self.experiment_created,
            entries,
        };
        let text = crate::json::pretty(&record)?;
        let name = format!(
            "{}/{}-{}.json",
            self.dir,
            Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            &crate::config::hex(&Sha256::digest(text.as_bytes()))[..8]
        );
        self.store.mirror_put(&name, text.into_bytes())?;
        Ok(name)
    }

    /// The experiment's id and creation time, creating it when missing.
    fn experiment(&mut self, name: &str) -> Result<(String, i64)> {
        let found = self.client.get_or_create(
            (
                "experiments/get-by-name",
                json!({ "experiment_name": name }),
            ),
            ("experiments/create", json!({ "name": name })),
        )?;
        if found
            .pointer("/experiment/lifecycle_stage")
            .and_then(Value::as_str)
            == Some("deleted")
        {
            return Err(Error::Usage(format!(
                "the MLflow experiment `{name}` on {} is deleted; restore it in MLflow \
                 (`mlflow experiments restore`) or set tracking.mlflow.experiment to another \
                 name",
                self.synced.server
            )));
        }
        let created = found
            .pointer("/experiment/creation_time")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0);
        found
            .pointer("/experiment/experiment_id")
            .and_then(Value::as_str)
            .map(|id| (id.to_owned(), created))
            .ok_or_else(|| {
                Error::Runtime(format!(
                    "the MLflow server {} gave experiment `{name}` without an id",
                    self.synced.server
                ))
            })
    }

    /// The active runs tagged `tag = value`, smallest id first.
    fn search(&self, tag: &str, value: &str) -> Result<Vec<Remote>> {
        let body = json!({
            "experiment_ids": [self.experiment_id],
            "filter": format!("tags.`{tag}` = '{value}'"),
            "max_results": 100,
        });
        let v = self.client.call(Method::POST, "runs/search", &body)?;
        let mut out: Vec<Remote> = v
            .get("runs")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().filter_map(Remote::of).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The MLflow run tagged `tag = value`, created (named `name`, started at `start`,
    /// with `tags`) when there is none.
    fn run(
        &mut self,
        (tag, value): (&str, &str),
        name: &str,
        start: DateTime<Utc>,
        tags: &BTreeMap<String, String>,
    ) -> Result<Remote> {
        if let Some(r) = self.search(tag, value)?.into_iter().next() {
            return Ok(r);
        }
        let mut all = tags.clone();
        all.insert(tag.to_owned(), value.to_owned());
        let created = self.client.call(
            Method::POST,
            "runs/create",
            &json!({
                "experiment_id": self.experiment_id,
                "run_name": name,
                "start_time": start.timestamp_millis(),
                "tags": tag_list(&all),
            }),
        )?;
        let mine = created
            .get("run")
            .and_then(Remote::of)
            .ok_or_else(|| Error::Runtime("MLflow created a run without an id".into()))?;
        self.synced.runs_created += 1;
        // Another mirror may have created it at the same moment: all keep the first.
        let found = self.search(tag, value)?;
        match found.first() {
            Some(first) if first.id != mine.id => {
                let _ = self.client.try_call(
                    Method::POST,
                    "runs/delete",
                    &json!({ "run_id": mine.id }),
                )?;
                self.synced.runs_created -= 1;
                Ok(first.clone())
            }
            _ => Ok(mine),
        }
    }

    fn runs(&mut self, experiment: &str) -> Result<()> {
        (self.experiment_id, self.experiment_created) = self.experiment(experiment)?;
        self.synced.experiment_id = self.experiment_id.clone();
        let sent = read_sent(
            self.store,
            &self.dir,
            Some((&self.experiment_id, self.experiment_created)),
        )?;
        let entries = self.store.entries()?;
        let pending: Vec<&TrackedRun> = entries
            .iter()
            .filter(|e| !sent.contains_key(&e.id))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let by_id: BTreeMap<&str, &TrackedRun> =
            entries.iter().map(|e| (e.id.as_str(), e)).collect();
        // Group the pending entries by the run they belong to, the run's own first.
        let mut groups: BTreeMap<&str, Vec<&TrackedRun>> = BTreeMap::new();
        for e in pending {
            let owner = match (e.kind, &e.about) {
                (EntryKind::Train | EntryKind::Monitor, _) => e.id.as_str(),
                (_, Some(a)) if by_id.contains_key(a.as_str()) => a.as_str(),
                // About a run the store no longer holds (`mlx runs gc`): nothing to join.
                _ => continue,
            };
            groups.entry(owner).or_default().push(e);
        }
        for (owner, mut group) in groups {
            group.sort_by_key(|e| (e.kind != EntryKind::Train, e.finished_at));
            let head = by_id[owner];
            let remote = match sent.get(owner) {
                Some(id) => self.known(id)?,
                None => None,
            };
            let mut remote = match remote {
                Some(r) => r,
                None => self.run(
                    ("mlx.run_id", &head.id),
                    &run_name(head),
                    head.started_at,
                    &run_tags(head),
                )?,
            };
            for e in group {
                self.log(&mut remote, head, e)?;
                self.sent.insert(e.id.clone(), remote.id.clone());
            }
        }
        Ok(())
    }

    /// The MLflow run a record named, when the server still has it active.
    fn known(&self, id: &str) -> Result<Option<Remote>> {
        match self
            .client
            .try_call(Method::GET, "runs/get", &json!({ "run_id": id }))?
        {
            Ok(v) => Ok(v
                .get("run")
                .filter(|r| {
                    r.pointer("/info/lifecycle_stage").and_then(Value::as_str) != Some("deleted")
                })
                .and_then(Remote::of)),
            Err(r) if r.code == "RESOURCE_DOES_NOT_EXIST" => Ok(None),
            Err(r) => Err(self.client.refused("runs/get", &r)),
        }
    }

    /// Logs one entry to its MLflow run (whose own entry is `head`): params, metrics
    /// (with their step histories), tags, the dataset, the artifacts, and the run's end.
    fn log(&mut self, remote: &mut Remote, head: &TrackedRun, e: &TrackedRun) -> Result<()> {
        let done = format!("mlx.entry.{}", e.id);
        if remote.tags.contains_key(&done) {
            return Ok(());
        }
        let at = e.finished_at.timestamp_millis();
        let mut metrics: Vec<Value> = e
            .metrics
            .iter()
            .map(|(k, v)| metric(k, *v, at, 0))
            .collect();
        metrics.extend(self.histories(e, at)?);
        let params: Vec<Value> = e
            .params
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": clip(&param_text(v)) }))
            .collect();
        let mut tags = entry_tags(e);
        if e.id != head.id {
            // The run's own tags (its commit, its config hash) stay its own, as
            // `mlx runs show` keeps them.
            tags.retain(|k, _| !head.tags.contains_key(k));
        }
        let (m, p) = (
            chunks(&metrics, BATCH_METRICS),
            chunks(&params, BATCH_PARAMS),
        );
        for i in 0..m.len().max(p.len()) {
            let none: &[Value] = &[];
            self.client.call(
                Method::POST,
                "runs/log-batch",
                &json!({
                    "run_id": remote.id,
                    "metrics": m.get(i).copied().unwrap_or(none),
                    "params": p.get(i).copied().unwrap_or(none),
                }),
            )?;
        }
        if e.kind == EntryKind::Train {
            self.dataset(remote, e)?;
        }
        self.artifacts(remote, e)?;
        if matches!(e.kind, EntryKind::Train | EntryKind::Monitor) {
            let status = if e.status == Status::Failed {
                "FAILED"
            } else {
                "FINISHED"
            };
            self.client.call(
                Method::POST,
                "runs/update",
                &json!({ "run_id": remote.id, "status": status, "end_time": at }),
            )?;
        }
        // Last: the entry's own tag says the entry is whole on the server.
        tags.insert(done.clone(), e.kind.as_str().to_owned());
        let list = tag_list(&tags);
        for chunk in chunks(&list, BATCH_TAGS) {
            self.client.call(
                Method::POST,
                "runs/log-batch",
                &json!({ "run_id": remote.id, "tags": chunk }),
            )?;
        }
        remote.tags.extend(tags);
        self.synced.entries += 1;
        Ok(())
    }

    /// The step histories of a training entry: its per-iteration curve
    /// (`history.train_loss`, `history.validation`, step = iteration) and its
    /// cross-validation folds (`cv.fold_score`, step = fold).
    fn histories(&self, e: &TrackedRun, at: i64) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        if let Some(sha) = e.artifacts.get("history.json") {
            let points: Vec<HistoryPoint> = serde_json::from_slice(&self.store.object(sha)?)
                .map_err(|err| {
                    Error::Runtime(format!(
                        "tracking {}: the history of run {} does not parse: {err}",
                        self.store.label(),
                        e.id
                    ))
                })?;
            for p in &points {
                let step = i64::from(p.iteration);
                out.push(metric("history.train_loss", p.train_loss, at, step));
                if let Some(v) = p.validation {
                    out.push(metric("history.validation", v, at, step));
                }
            }
        }
        for (k, v) in &e.metrics {
            if let Some(fold) = k
                .strip_prefix("cv.fold")
                .and_then(|r| r.strip_suffix(".score"))
                .and_then(|n| n.parse::<i64>().ok())
            {
                out.push(metric("cv.fold_score", *v, at, fold));
            }
        }
        Ok(out)
    }

    /// The dataset the run was trained on, as an MLflow dataset input.
    fn dataset(&self, remote: &Remote, e: &TrackedRun) -> Result<()> {
        let Some(sha) = e.tags.get("dataset_sha256") else {
            return Ok(());
        };
        let source = json!({ "sha256": sha, "tracking": self.store.label() }).to_string();
        self.client.call(
            Method::POST,
            "runs/log-inputs",
            &json!({
                "run_id": remote.id,
                "datasets": [{
                    "dataset": {
                        "name": "features",
                        "digest": &sha[..sha.len().min(16)],
                        "source_type": "mlx",
                        "source": source,
                    },
                    "tags": [{ "key": "mlflow.data.context", "value": "training" }],
                }],
            }),
        )?;
        Ok(())
    }

    /// The entry's artifacts, under `<kind>/<name>` in the run's artifact folder.
    fn artifacts(&mut self, remote: &Remote, e: &TrackedRun) -> Result<()> {
        if e.artifacts.is_empty() {
            return Ok(());
        }
        let Some(root) = &remote.artifacts else {
            self.synced.artifacts_skipped = Some(
                "the server does not proxy artifacts (start it with `--serve-artifacts`, the \
                 default since MLflow 2)"
                    .into(),
            );
            return Ok(());
        };
        for (name, sha) in &e.artifacts {
            let bytes = self.store.object(sha)?;
            self.client
                .put_artifact(&format!("{root}/{}/{name}", e.kind.as_str()), bytes)?;
            self.synced.artifacts += 1;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // the registry

    fn registry(&mut self, cfg: &Config) -> Result<()> {
        let store = crate::registry::open(cfg)?;
        let Some(state) = store.state()? else {
            return Ok(());
        };
        let history = store.history()?;
        let name = store.model().to_owned();
        let model = self.client.get_or_create(
            ("registered-models/get", json!({ "name": name })),
            (
                "registered-models/create",
                json!({
                    "name": name,
                    "description": format!("Mirrored from the mlx registry {}", store.label()),
                }),
            ),
        )?;
        let mut versions = self.versions(&name)?;
        for (&n, v) in &state.versions {
            if versions.contains_key(&n) {
                continue;
            }
            let created = self.create_version(&store, &name, n, v)?;
            versions.insert(n, created);
        }
        let wanted = version_tags(&state, &history);
        for (n, tags) in wanted {
            let Some((number, have)) = versions.get(&n) else {
                continue;
            };
            for (k, val) in tags {
                if have.get(&k) == Some(&val) {
                    continue;
                }
                self.client.call(
                    Method::POST,
                    "model-versions/set-tag",
                    &json!({ "name": name, "version": number, "key": k, "value": clip(&val) }),
                )?;
                self.synced.registry_changes += 1;
            }
        }
        self.aliases(&name, &model, &state, &history, &versions)
    }

    /// The server's versions of `name` by their `mlx.version` tag: MLflow's number and
    /// tags.
    #[allow(clippy::type_complexity)]
    fn versions(&self, name: &str) -> Result<BTreeMap<u64, (String, BTreeMap<String, String>)>> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = json!({
                "filter": format!("name = '{}'", name.replace('\'', "\\'")),
                "max_results": 1000,
            });
            if let Some(t) = &token {
                q["page_token"] = json!(t);
            }
            let v = self.client.call(Method::GET, "model-versions/search", &q)?;
            for mv in v
                .get("model_versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let tags = pairs(mv.get("tags"), "key", "value");
                let ours = tags.get("mlx.version").and_then(|t| t.parse::<u64>().ok());
                let number = mv.get("version").and_then(Value::as_str);
                if let (Some(n), Some(number)) = (ours, number) {
                    out.entry(n).or_insert((number.to_owned(), tags));
                }
            }
            token = v
                .get("next_page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Creates the model version of registry version `n`, its source the bundle
    /// uploaded to its training run (a run of its own when the tracking store does not
    /// hold its training).
    fn create_version(
        &mut self,
        store: &crate::registry::Store,
        name: &str,
        n: u64,
        v: &mlx_contracts::registry::VersionState,
    ) -> Result<(String, BTreeMap<String, String>)> {
        let meta = store.version(n)?;
        let remote = match self
            .search("mlx.workdir_run", &v.run_id)?
            .into_iter()
            .next()
        {
            Some(r) => r,
            None => {
                let mut tags = BTreeMap::new();
                tags.insert("mlx.kind".to_owned(), "registered".to_owned());
                self.run(
                    ("mlx.workdir_run", &v.run_id),
                    &meta.name,
                    meta.registered_at,
                    &tags,
                )?
            }
        };
        if let Some(root) = &remote.artifacts {
            let tmp = tempfile::tempdir()
                .map_err(|e| Error::Runtime(format!("a temporary folder: {e}")))?;
            let tar = tmp.path().join("bundle.tar");
            store.fetch_bundle(&meta, &tar)?;
            let bytes = std::fs::read(&tar)
                .map_err(|e| Error::Runtime(format!("{}: {e}", tar.display())))?;
            self.client
                .put_artifact(&format!("{root}/bundle/bundle.tar"), bytes)?;
            self.synced.artifacts += 1;
        }
        let mut tags = BTreeMap::new();
        tags.insert("mlx.version".to_owned(), n.to_string());
        let created = self.client.call(
            Method::POST,
            "model-versions/create",
            &json!({
                "name": name,
                "source": format!("runs:/{}/bundle", remote.id),
                "run_id": remote.id,
                "tags": tag_list(&tags),
                "description": format!(
                    "mlx registry version {n} of `{name}`: candidate `{}` ({}), bundle {}",
                    meta.name,
                    meta.model_type.as_str(),
                    crate::registry::state::short(&meta.bundle_sha256)
                ),
            }),
        )?;
        let number = created
            .pointer("/model_version/version")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::Runtime("MLflow created a model version without a number".into())
            })?
            .to_owned();
        self.synced.versions_created += 1;
        Ok((number, tags))
    }

    /// Sets the aliases the registry's stages and aliases name, and removes those it
    /// set before that no longer hold (an alias MLflow users made themselves stays).
    fn aliases(
        &mut self,
        name: &str,
        model: &Value,
        state: &RegistryState,
        history: &[RegistryState],
        versions: &BTreeMap<u64, (String, BTreeMap<String, String>)>,
    ) -> Result<()> {
        let have = pairs(
            model.pointer("/registered_model/aliases"),
            "alias",
            "version",
        );
        let want = wanted_aliases(state);
        let ours: BTreeSet<String> = history
            .iter()
            .flat_map(|s| wanted_aliases(s).into_keys())
            .collect();
        for (alias, n) in &want {
            let Some((number, _)) = versions.get(n) else {
                continue;
            };
            if have.get(alias) == Some(number) {
                continue;
            }
            self.client.call(
                Method::POST,
                "registered-models/alias",
                &json!({ "name": name, "alias": alias, "version": number }),
            )?;
            self.synced.registry_changes += 1;
        }
        for alias in have.keys() {
            if ours.contains(alias) && !want.contains_key(alias) {
                self.client.call(
                    Method::DELETE,
                    "registered-models/alias",
                    &json!({ "name": name, "alias": alias }),
                )?;
                self.synced.registry_changes += 1;
            }
        }
        Ok(())
    }
}

/// The aliases a registry state means: `staging` and `production` for the newest version
/// in each stage, then its own aliases.
fn wanted_aliases(state: &RegistryState) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (alias, stage) in [
        ("staging", RegistryStage::Staging),
        ("production", RegistryStage::Production),
    ] {
        if let Some(n) = state.in_stage(stage) {
            out.insert(alias.to_owned(), n);
        }
    }
    out.extend(state.aliases.iter().map(|(a, n)| (a.clone(), *n)));
    out
}

/// The tags each registry version carries on the server: its stage, gate outcome and
/// bundle, and one `mlx.audit.<revision>` per change of the audit trail about it.
fn version_tags(
    state: &RegistryState,
    history: &[RegistryState],
) -> BTreeMap<u64, BTreeMap<String, String>> {
    let mut out: BTreeMap<u64, BTreeMap<String, String>> = BTreeMap::new();
    for (&n, v) in &state.versions {
        let tags = out.entry(n).or_default();
        tags.insert("mlx.version".into(), n.to_string());
        tags.insert("mlx.stage".into(), v.stage.as_str().to_owned());
        tags.insert("mlx.bundle_sha256".into(), v.bundle_sha256.clone());
        tags.insert("mlx.workdir_run".into(), v.run_id.clone());
        if let Some(g) = &v.gate {
            tags.insert("mlx.gate".into(), g.as_str().to_owned());
        }
    }
    for s in history {
        let t = &s.transition;
        let Some(n) = t.version else { continue };
        let Some(tags) = out.get_mut(&n) else {
            continue;
        };
        let moved = match (t.from, t.to) {
            (Some(a), Some(b)) if a != b => format!(" {} -> {}", a.as_str(), b.as_str()),
            (None, Some(b)) => format!(" -> {}", b.as_str()),
            _ => String::new(),
        };
        let alias = t
            .alias
            .as_ref()
            .map(|a| format!(" alias {a}"))
            .unwrap_or_default();
        tags.insert(
            format!("mlx.audit.{:06}", s.revision),
            format!(
                "{} {}{moved}{alias} by {}: {}",
                t.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                t.action,
                t.actor,
                t.reason
            ),
        );
    }
    out
}

/// The run's name on the server: the candidate's (a monitoring window's says so).
fn run_name(head: &TrackedRun) -> String {
    match head.kind {
        EntryKind::Monitor => format!("monitor {}", head.name),
        _ => head.name.clone(),
    }
}

/// The tags a run is created with: what finds it again, and what MLflow's UI shows.
fn run_tags(head: &TrackedRun) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    t.insert("mlx.kind".to_owned(), head.kind.as_str().to_owned());
    if let Some(r) = &head.run_id {
        t.insert("mlx.workdir_run".to_owned(), r.clone());
    }
    t
}

/// An entry's tags on the server: its own (MLflow tags are strings, as they are in
/// mlx), and what MLflow's UI reads (`mlflow.source.git.commit`, `mlflow.user`).
fn entry_tags(e: &TrackedRun) -> BTreeMap<String, String> {
    let mut t: BTreeMap<String, String> =
        e.tags.iter().map(|(k, v)| (k.clone(), clip(v))).collect();
    if matches!(e.kind, EntryKind::Train | EntryKind::Monitor) {
        if let Some(c) = e.tags.get("git.commit") {
            t.insert("mlflow.source.git.commit".into(), c.clone());
        }
        if let Some(u) = e.tags.get("user") {
            t.insert("mlflow.user".into(), u.clone());
        }
        if let Some(m) = &e.model_type {
            t.insert("mlx.model_type".into(), m.clone());
        }
        if let Some(tr) = &e.training {
            t.insert("mlx.training".into(), tr.clone());
        }
        t.insert("mlx.tool_version".into(), env!("CARGO_PKG_VERSION").into());
    }
    t
}

fn metric(key: &str, value: f64, at: i64, step: i64) -> Value {
    // JSON has no NaN or infinities; MLflow's protobuf reader takes them as strings.
    let v = if value.is_nan() {
        json!("NaN")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(value)
    };
    json!({ "key": key, "value": v, "timestamp": at, "step": step })
}

/// A parameter as MLflow keeps it: a string (the text itself, or compact JSON).
fn param_text(v: &ParamValue) -> String {
    match v {
        ParamValue::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value cut to MLflow's limit, on a character boundary.
fn clip(v: &str) -> String {
    match v.char_indices().nth(VALUE_MAX) {
        Some((at, _)) => v[..at].to_owned(),
        None => v.to_owned(),
    }
}

/// MLflow's list of `{key, value}` objects (tags, aliases) as a map; entries that are
/// not two strings are skipped.
fn pairs(list: Option<&Value>, key: &str, value: &str) -> BTreeMap<String, String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.get(key)?.as_str()?.to_owned(),
                t.get(value)?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Value> {
    tags.iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect()
}

/// `items` in chunks of at most `n`; one empty chunk for no items.
fn chunks(items: &[Value], n: usize) -> Vec<&[Value]> {
    if items.is_empty() {
        return vec![&[]];
    }
    items.chunks(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror_to(uri: &str) -> MlflowMirror {
        MlflowMirror {
            uri: uri.into(),
            experiment: None,
            timeout_seconds: 0.5,
        }
    }

    #[test]
    fn values_take_the_shape_mlflow_keeps() {
        assert_eq!(metric("a", 0.25, 7, 2)["value"], 0.25);
        assert_eq!(metric("a", f64::NAN, 7, 2)["value"], "NaN");
        assert_eq!(metric("a", f64::INFINITY, 7, 2)["value"], "Infinity");
        assert_eq!(metric("a", f64::NEG_INFINITY, 7, 2)["value"], "-Infinity");
        assert_eq!(metric("a", 1.0, 7, 2)["step"], 2);
        assert_eq!(param_text(&ParamValue::String("rbf".into())), "rbf");
        assert_eq!(param_text(&ParamValue::Int(3)), "3");
        assert_eq!(
            param_text(&ParamValue::List(vec![
                ParamValue::Int(64),
                ParamValue::Int(32)
            ])),
            "[64,32]"
        );
        // Cut at MLflow's limit, on a character boundary.
        let long = "é".repeat(VALUE_MAX + 10);
        assert_eq!(clip(&long).chars().count(), VALUE_MAX);
        assert_eq!(clip("short"), "short");
        let items: Vec<Value> = (0..2500).map(|i| json!(i)).collect();
        let c = chunks(&items, BATCH_METRICS);
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        assert_eq!(chunks(&[], 5).len(), 1);
    }

    #[test]
    fn the_server_is_named_without_credentials() {
        let m = mirror_to("https://bob:hunter2@mlflow.example:5000/base/?token=abc");
        assert_eq!(server_label(&m), "https://mlflow.example:5000/base");
        // One record folder per server and experiment.
        assert_eq!(mirror_dir(&m, "a"), mirror_dir(&m, "a"));
        assert_ne!(mirror_dir(&m, "a"), mirror_dir(&m, "b"));
        assert_ne!(
            mirror_dir(&m, "a"),
            mirror_dir(&mirror_to("http://other:5000"), "a")
        );
    }

    fn entry(id: &str) -> TrackedRun {
        let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        TrackedRun {
            schema_version: mlx_contracts::tracking::TRACKED_RUN_VERSION,
            id: id.into(),
            kind: EntryKind::Train,
            about: None,
            training: Some("0011223344556677".into()),
            name: "forest".into(),
            run_id: Some("forest-1".into()),
            model_type: Some("random_forest".into()),
            started_at: at,
            finished_at: at,
            status: Status::Passed,
            params: BTreeMap::new(),
            metrics: BTreeMap::from([("test.f1".to_owned(), 0.5)]),
            tags: BTreeMap::new(),
            artifacts: BTreeMap::new(),
        }
    }

    /// A server that takes the connection and never answers holds a stage up for
    /// `timeout_seconds`, not longer; the run stays queued with the reason.
    #[test]
    fn a_server_that_never_answers_is_given_up_on_and_the_runs_stay_queued() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.project.name = Some("p".into());
        cfg.tracking.uri = dir.path().display().to_string();
        cfg.tracking.mlflow = Some(mirror_to(&format!("http://{addr}")));
        let store = super::super::open(&cfg).unwrap();
        store.append(&[entry("00112233445566aa")]).unwrap();
        let started = std::time::Instant::now();
        let err = sync(&cfg).unwrap_err().to_string();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(err.contains("did not answer"), "{err}");
        let runs = super::super::runs(store.entries().unwrap());
        match status(&cfg, &store, &runs[0]).unwrap() {
            Some(RunMirror::Queued {
                waiting,
                last_error: Some(e),
                ..
            }) => {
                assert_eq!(waiting, 1);
                assert!(e.contains("did not answer"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        drop(listener);
    }

    /// Records of what was sent are merged once enough gathered; nothing is lost, and
    /// a record of another experiment (a server reset) is dropped with the merge.
    #[test]
    fn records_of_what_was_sent_are_merged_without_losing_any() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().display().to_string(), "p").unwrap();
        let m = mirror_to("http://127.0.0.1:9");
        let mut mirror = Mirror {
            client: Client::new(&m).unwrap(),
            store: &store,
            dir: mirror_dir(&m, "p"),
            experiment_id: "0".into(),
            experiment_created: 1,
            synced: Synced::default(),
            sent: BTreeMap::from([("stale".to_owned(), "r".to_owned())]),
        };
        mirror.record_sent().unwrap();
        mirror.experiment_id = "1".into();
        for i in 0..(MERGE_RECORDS_AT + 8) {
            mirror.sent = BTreeMap::from([(format!("e{i}"), format!("r{i}"))]);
            mirror.record_sent().unwrap();
        }
        let records = store.mirror_list(&mirror.dir).unwrap().len();
        assert!(records <= MERGE_RECORDS_AT, "{records}");
        let sent = read_sent(&store, &mirror.dir, Some(("1", 1))).unwrap();
        assert_eq!(sent.len(), MERGE_RECORDS_AT + 8);
        assert_eq!(sent["e3"], "r3");
        assert!(!read_sent(&store, &mirror.dir, None)
            .unwrap()
            .contains_key("stale"));
    }

    #[test]
    fn sync_without_a_server_says_what_to_add() {
        let err = sync(&Config::default()).unwrap_err().to_string();
        assert!(err.contains("tracking.mlflow is not set"), "{err}");
    }

    fn corpus(name: &str) -> Vec<(String, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/hostile/tracking")
            .join(name);
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (a, b) = l.rsplit_once('\t').expect("a tab before the words");
                (a.to_owned(), b.to_owned())
            })
            .collect()
    }

    /// Every value of tests/hostile/tracking/mlflow-config.txt is refused when the
    /// config loads, with its words.
    #[test]
    fn hostile_mirror_configs_are_refused_with_their_words() {
        let cases = corpus("mlflow-config.txt");
        assert!(cases.len() >= 15);
        for (yaml, words) in cases {
            let text = format!("tracking:\n  mlflow: {yaml}\n");
            let env = std::collections::HashMap::<String, String>::new();
            let err = match crate::config::parse(std::path::Path::new("mlx.yaml"), &text, &env) {
                Ok(_) => panic!("{yaml}: accepted"),
                // As every binary prints it: masked.
                Err(d) => mask_known(&d.to_string()),
            };
            assert!(err.contains(&words), "{yaml}: {err}");
            assert!(
                !err.contains("hunter2"),
                "{yaml}: the password is shown: {err}"
            );
        }
    }

    /// Answers every request with `status` and `body`, as long as the test runs.
    fn answering(status: u16, body: String) -> std::net::SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { return };
                let mut buf = [0u8; 65536];
                let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = c.read(&mut buf);
                let _ = write!(
                    c,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    /// Every answer of tests/hostile/tracking/mlflow-answers.txt fails the sync with its
    /// words, and the run stays queued.
    #[test]
    fn hostile_server_answers_fail_the_sync_with_their_words() {
        let cases = corpus("mlflow-answers.txt");
        assert!(cases.len() >= 10);
        for (answer, words) in cases {
            let (code, body) = answer.split_once('\t').unwrap();
            let addr = answering(code.parse().unwrap(), body.to_owned());
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = Config::default();
            cfg.project.name = Some("p".into());
            cfg.tracking.uri = dir.path().display().to_string();
            cfg.tracking.mlflow = Some(mirror_to(&format!("http://{addr}")));
            let store = super::super::open(&cfg).unwrap();
            store.append(&[entry("00112233445566aa")]).unwrap();
            let err = sync(&cfg).unwrap_err().to_string();
            assert!(err.contains(&words), "{answer}: {err}");
            let runs = super::super::runs(store.entries().unwrap());
            assert!(
                matches!(
                    status(&cfg, &store, &runs[0]).unwrap(),
                    Some(RunMirror::Queued { waiting: 1, .. })
                ),
                "{answer}"
            );
        }
    }
}
