//! `mlx-serve`: an HTTP server (axum on tokio) for the registry's models, following
//! its deployment state (blue-green, canary, shadow) without a restart, with a
//! prediction log for `mlx-monitor`; and `mlx-serve batch` for files.

mod batch;
pub mod http;
pub(crate) mod listen;
mod mlflow;
pub mod models;
pub mod online;
mod spark;
mod v2;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlx_contracts::config::Config;
use mlx_contracts::Status;
use mlx_data::polars::prelude::*;
use serde_json::json;

use crate::config::LoadedConfig;
use crate::error::{Error, IoContext, Result};
use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::Workdir;
use models::{Current, Source};

/// The command (not a pipeline stage: it serves until stopped).
pub struct Serve;

const LONG_ABOUT: &str = "\
Serves the registry's model over HTTP: `deploy.model` (default `production`, which
follows the deployment state `mlx-promote deploy` records: the live version, a canary
challenger with its share of traffic, sticky per `deploy.sticky_key`, or a shadow that
scores every request without answering), or a bundle with --bundle. Registry changes
are picked up every `deploy.poll_seconds` without a restart; requests in flight finish
on the model they started with.

Endpoints: POST /v1/predict ({\"records\": [...]}, a list, or {\"columns\": {...}}),
POST /v1/feedback ({\"request_id\", \"actual\"}), GET /v1/models, /healthz, /readyz,
/metrics (Prometheus), /openapi.json. The same model answers two other protocols:
the Open Inference Protocol of KServe, Triton and MLServer (/v2/health/live|ready,
/v2/models/NAME[/versions/N] metadata, /ready and POST /infer, JSON or binary
tensors) and MLflow's scoring API (/ping, /health, POST /invocations with
dataframe_split, dataframe_records, instances, inputs or a text/csv body), each with
its own error shape. Requests are checked against the bundle's signature (a missing
field, a wrong type, a body over `deploy.max_body_bytes`: a 4xx error naming it);
unseen categories go to the unknown bucket and are counted. Records that carry
entity keys instead of features get them from the online feature store. With the
variable named by `deploy.auth_token_env` (MLX_SERVE_TOKEN) set, /v1/*, /v2/models/*
and /invocations need `Authorization: Bearer <token>`. Every prediction and feedback
is logged to NDJSON files under `deploy.prediction_log` by a background writer.

Examples:
  mlx-serve                                          serve production on deploy.host:port
  mlx-serve --port 9000 --model champion             serve an alias
  mlx-serve --bundle .mlx/runs/forest-1a2b/bundle    serve a bundle, no registry
  curl -s localhost:8080/v1/predict -d '{\"records\": [{\"age\": 41, \"plan\": \"pro\"}]}'
  curl -s localhost:8080/v2/models/churn/infer -d @tensors.json     Open Inference Protocol
  curl -s localhost:8080/invocations -H 'Content-Type: text/csv' --data-binary @new.csv
  mlx-serve batch --input new.csv --output scored.parquet
  mlx-serve batch --input today.csv --output s3://lake/scored --delta append   a Delta commit
  mlx-serve batch --table lake.customers --output s3a://lake/scored/   on Spark (engine.kind: spark)
  mlx-serve health --port 9000                       exit 0 when it answers /healthz

Exit codes: 0 stopped cleanly, 2 a config or input problem, 3 I/O (e.g. the port is taken).";

impl Stage for Serve {
    fn name(&self) -> &'static str {
        "serve"
    }
    fn about(&self) -> &'static str {
        "Serve models over HTTP with canary, blue-green and shadow; score files in batch"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        &["deploy", "registry", "features"]
    }
    fn in_pipeline(&self) -> bool {
        false
    }
    fn inputs(&self, _ctx: &Context) -> Vec<PathBuf> {
        Vec::new()
    }
    fn outputs(&self, _ctx: &Context) -> Vec<PathBuf> {
        Vec::new()
    }
    fn run(&self, _ctx: &Context) -> Result<Outcome> {
        Err(Error::Usage(
            "`serve` is not a pipeline stage; run `mlx-serve`".into(),
        ))
    }
}

/// What `mlx-serve` serves, where, and `mlx-serve batch`'s file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A bundle (directory or packed file) instead of the registry.
    pub bundle: Option<PathBuf>,
    /// The registry version: production, staging, an alias or a number [default:
    /// `deploy.model`].
    pub model: Option<String>,
    /// The listen address [default: `deploy.host`].
    pub host: Option<String>,
    /// The listen port; 0 picks a free one [default: `deploy.port`].
    pub port: Option<u16>,
    /// `mlx-serve batch`: score a file instead of serving.
    pub batch: Option<Batch>,
    /// `mlx-serve health`: ask the server on this machine instead of serving.
    pub health: bool,
}

/// `mlx-serve batch`: a file scored with the same bundle and pipeline.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// CSV or Parquet (with `engine.kind: spark`, any files the cluster reads; empty
    /// with `table`).
    pub input: PathBuf,
    /// With `engine.kind: spark`: a table of the cluster's catalog instead of files.
    pub table: Option<String>,
    /// CSV or Parquet, by extension: the input columns and the predictions (with
    /// `engine.kind: spark`, a new Parquet directory the cluster writes).
    pub output: PathBuf,
    /// Also append the predictions to the prediction log.
    pub log: bool,
    /// Score the valid rows and write the rejected ones to `<output stem>.rejects.csv`.
    pub skip_invalid: bool,
    /// With `log`: each row logged as scored at this column's date or time.
    pub at_column: Option<String>,
    /// Write `output` as a Delta table (a directory or an object-storage URL), appending
    /// to it or overwriting it in one commit.
    pub delta: Option<crate::lake::Mode>,
}

/// `mlx-serve`: serves until stopped, or scores a file (`batch`).
pub fn run(
    config: &dyn Fn() -> Result<Option<LoadedConfig>>,
    workdir: &Workdir,
    o: &Options,
) -> Result<Standalone> {
    let loaded = config()?;
    let cfg = loaded
        .as_ref()
        .map(|c| c.config.clone())
        .unwrap_or_else(|| {
            let mut c = Config::default();
            c.resolve();
            c
        });
    if o.health {
        return Ok(health(o.port.unwrap_or(cfg.deploy.port)));
    }
    let source = source(o, &cfg, workdir);
    match &o.batch {
        Some(b) => match loaded.as_ref().and_then(|l| crate::engine::spark(l).map(|e| (l, e))) {
            Some(_) if b.delta.is_some() => Err(Error::Usage(
                "--delta writes the predictions from this machine; with `engine.kind: spark` the cluster writes --output as Parquet (drop --delta, or score locally with `engine.kind: local`)".into(),
            )),
            Some((l, e)) => spark::batch(l, e, &source, b),
            None if b.table.is_some() => Err(Error::Usage(
                "--table names a table of a Spark cluster's catalog; set `engine.kind: spark` (docs/spark.md), or score a file with --input".into(),
            )),
            None => batch(&cfg, &source, b),
        },
        None => serve(&cfg, workdir, source, o).map(|_| Standalone {
            status: Status::Passed,
            human: "stopped".into(),
            json: json!({ "stopped": true }),
        }),
    }
}

/// `mlx-serve health`: whether the server on this machine answers `GET /healthz` with
/// 200 within two seconds; the health check of `mlx image build`'s images, which hold no
/// HTTP client of their own. Unhealthy exits 1.
pub fn health(port: u16) -> Standalone {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let limit = Duration::from_secs(2);
    let ask = || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, limit)?;
        s.set_read_timeout(Some(limit))?;
        s.set_write_timeout(Some(limit))?;
        s.write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut head = Vec::new();
        s.take(4096).read_to_end(&mut head)?;
        Ok(String::from_utf8_lossy(&head).into_owned())
    };
    let (healthy, human) = match ask() {
        Ok(a) if a.starts_with("HTTP/1.1 200") || a.starts_with("HTTP/1.0 200") => {
            (true, format!("healthy: {addr} answers /healthz"))
        }
        Ok(a) => (
            false,
            format!(
                "unhealthy: /healthz on {addr} answered `{}`",
                a.lines().next().unwrap_or_default()
            ),
        ),
        Err(e) => (false, format!("unhealthy: {addr}: {e}")),
    };
    Standalone {
        status: if healthy {
            Status::Passed
        } else {
            Status::Failed
        },
        human,
        json: json!({ "healthy": healthy, "port": port }),
    }
}

fn source(o: &Options, cfg: &Config, workdir: &Workdir) -> Source {
    match &o.bundle {
        Some(b) => Source::Bundle(b.clone()),
        None => Source::Registry {
            cfg: Box::new(cfg.clone()),
            workdir: workdir.clone(),
            which: o.model.clone().unwrap_or_else(|| cfg.deploy.model.clone()),
        },
    }
}

fn serve(cfg: &Config, workdir: &Workdir, source: Source, o: &Options) -> Result<()> {
    let key = models::current_key(&source)?;
    let routing = models::load(&source, key.as_ref(), None)?;
    let current = Arc::new(Current::new(routing, key));
    let host = o.host.clone().unwrap_or_else(|| cfg.deploy.host.clone());
    let port = o.port.unwrap_or(cfg.deploy.port);
    let token = std::env::var(&cfg.deploy.auth_token_env)
        .ok()
        .filter(|t| !t.is_empty());
    let online = online::Online::open(cfg, workdir)?;
    // This thread accepts connections, polls the registry and stops the server; the
    // requests are served by one thread per core (`listen::serve`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the server runtime", e))?;
    let log_dir = PathBuf::from(&cfg.deploy.prediction_log);
    rt.block_on(async move {
        let (logger, writer) = crate::predlog::start(
            &log_dir,
            cfg.deploy.log_queue as usize,
            cfg.deploy.log_rotate_bytes.max(1),
        )
        .with_path("creating the prediction log in", &log_dir)?;
        let mut app = http::App::new(
            current.clone(),
            logger,
            cfg.deploy.max_body_bytes as usize,
            token,
            cfg.deploy.sticky_key.clone(),
            online,
            crate::model::records::Derivation::new(cfg),
        );
        app.body_timeout = Duration::from_secs(cfg.deploy.body_timeout_seconds.max(1));
        let app = Arc::new(app);
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .map_err(|e| Error::io(format!("listening on {host}:{port}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listen address", e))?;
        let r = current.get();
        eprintln!(
            "mlx-serve: {} {} on http://{addr} (strategy {:?})",
            r.live.name,
            r.live.label(),
            r.strategy
        );
        if matches!(source, Source::Registry { .. }) {
            let (current, source) = (current.clone(), source.clone());
            let every = Duration::from_secs(cfg.deploy.poll_seconds.max(1));
            tokio::spawn(async move {
                let mut last_error = String::new();
                loop {
                    tokio::time::sleep(every).await;
                    let (c, s) = (current.clone(), source.clone());
                    match tokio::task::spawn_blocking(move || c.refresh(&s)).await {
                        Ok(Ok(false)) => last_error.clear(),
                        Ok(Ok(true)) => {
                            last_error.clear();
                            let r = current.get();
                            eprintln!(
                                "mlx-serve: now {} (strategy {:?}{})",
                                r.live.label(),
                                r.strategy,
                                r.challenger.as_ref().map_or(String::new(), |c| format!(
                                    ", challenger {}",
                                    c.label()
                                ))
                            );
                        }
                        // Said once per distinct problem, not every poll.
                        Ok(Err(e)) if e.to_string() != last_error => {
                            last_error = e.to_string();
                            eprintln!("mlx-serve: keeping the current models: {e}");
                        }
                        _ => {}
                    }
                }
            });
        }
        let limits = listen::Limits::new(
            cfg.deploy.max_connections,
            cfg.deploy.header_timeout_seconds,
        );
        let served = listen::serve(
            listener,
            http::router(app.clone()),
            limits,
            listen::stop_signal(),
        )
        .await;
        // Flush the log: the writer ends when the last sender is gone.
        drop(app);
        let _ = writer.await;
        served.map_err(|e| Error::io("serving", e))
    })
}

/// `mlx-serve batch`.
fn batch(cfg: &Config, source: &Source, b: &Batch) -> Result<Standalone> {
    let derivation = crate::model::records::Derivation::new(cfg);
    let input = b.input.clone();
    let output = b.output.clone();
    let key = models::current_key(source)?;
    let routing = models::load(source, key.as_ref(), None)?;
    let model = &routing.live;
    let on_object_storage = output.to_string_lossy().contains("://");
    if on_object_storage && b.delta.is_none() {
        return Err(Error::Usage(format!(
            "--output {} is a URL: write a local CSV or Parquet file, or a Delta table there with --delta append|overwrite",
            crate::config::interpolate::mask(&output.to_string_lossy(), &[])
        )));
    }
    if on_object_storage && b.skip_invalid {
        return Err(Error::Usage(
            "--skip-invalid writes the rejects beside --output, which must then be on this machine's file system; write the Delta table to a local directory, or fix the rows".into(),
        ));
    }
    let df = mlx_data::read_table(&input)?;
    let df = match derivation {
        Some(d) => d.apply_frame(df).map_err(Error::Usage)?.0,
        None => df,
    };
    // The checks of /v1/predict, on every row.
    let inputs = &model.scorer.bundle.manifest.signature.inputs;
    let rejects = batch::check(&df, inputs)?;
    let skip = b.skip_invalid;
    if !rejects.is_empty() && !skip {
        let shown: Vec<String> = rejects
            .iter()
            .take(5)
            .map(|r| format!("row {}: `{}` {}", r.row, r.field, r.reason))
            .collect();
        return Err(Error::Refused(format!(
            "{} of {} rows of {} are not valid inputs, so nothing was scored: {}{}; fix them, or pass --skip-invalid to score the rest and write the rejects beside the output",
            rejects.len(),
            df.height(),
            input.display(),
            shown.join("; "),
            if rejects.len() > shown.len() { "; …" } else { "" }
        )));
    }
    let rejects_path = (!rejects.is_empty()).then(|| {
        output.with_file_name(format!(
            "{}.rejects.csv",
            output
                .file_stem()
                .map_or("output".into(), |s| s.to_string_lossy())
        ))
    });
    let mut df = batch::accepted(&df, inputs, &rejects)?;
    let scored = model.scorer.score_frame(&df)?;
    let logged = if b.log {
        let at = b.at_column.as_deref();
        Some(log_batch(cfg, model, &df, &scored, at)?)
    } else {
        None
    };
    for c in scored.columns() {
        df.with_column(c.clone())
            .map_err(|e| Error::Runtime(format!("adding `{}`: {e}", c.name())))?;
    }
    let delta_version = match b.delta {
        Some(mode) => Some(write_delta(&output, &df, mode)?),
        None => {
            write_table(&output, &mut df)?;
            None
        }
    };
    if let Some(p) = &rejects_path {
        write_table(p, &mut batch::rejects_frame(&rejects)?)?;
    }
    Ok(Standalone {
        status: if rejects.is_empty() {
            Status::Passed
        } else {
            Status::Failed
        },
        human: format!(
            "{} rows of {} scored by {} {} into {}{}{}{}",
            df.height(),
            input.display(),
            model.name,
            model.label(),
            crate::config::interpolate::mask(&output.to_string_lossy(), &[]),
            delta_version.map_or(String::new(), |v| format!(" (Delta table version {v})")),
            logged.map_or(String::new(), |p| format!(", logged to {}", p.display())),
            rejects_path.as_ref().map_or(String::new(), |p| format!(
                "; {} rows rejected, with their reasons in {}",
                rejects.len(),
                p.display()
            ))
        ),
        json: json!({
            "rows": df.height(),
            "output": crate::config::interpolate::mask(&output.to_string_lossy(), &[]),
            "delta_version": delta_version,
            "version": model.version,
            "rejected": rejects.len(),
            "rejects": rejects_path.map(|p| p.display().to_string()),
        }),
    })
}

/// Appends a batch's predictions to the prediction log, as one new file: each row's
/// input and output, scored now or at the time in column `at`.
fn log_batch(
    cfg: &Config,
    model: &models::Model,
    df: &DataFrame,
    scored: &DataFrame,
    at: Option<&str>,
) -> Result<PathBuf> {
    use mlx_contracts::serve::{PredictionRecord, PREDICTION_LOG_VERSION};
    let now = chrono::Utc::now();
    let times = match at {
        Some(name) => {
            let c = df.column(name).map_err(|_| {
                Error::Usage(format!("--at-column: the input has no column `{name}`"))
            })?;
            let t = crate::model::forecast::times_ms(c).ok_or_else(|| {
                Error::Usage(format!(
                    "--at-column: `{name}` must hold dates or times, and it is {}",
                    c.dtype()
                ))
            })?;
            t.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    v.and_then(chrono::DateTime::from_timestamp_millis)
                        .ok_or_else(|| {
                            Error::Usage(format!("--at-column: `{name}` is missing on row {i}"))
                        })
                })
                .collect::<Result<Vec<_>>>()?
        }
        None => vec![now; df.height()],
    };
    let json_row = |frame: &DataFrame, i: usize| -> serde_json::Map<String, serde_json::Value> {
        frame
            .columns()
            .iter()
            .map(|c| {
                let v = c
                    .get(i)
                    .map_or(serde_json::Value::Null, |v| mlx_data::any_to_json(&v));
                (c.name().to_string(), v)
            })
            .collect()
    };
    let stamp = now.format("%Y%m%dT%H%M%S%3f");
    let mut text = String::new();
    for (i, at) in times.into_iter().enumerate() {
        let record = PredictionRecord {
            schema_version: PREDICTION_LOG_VERSION,
            request_id: format!("batch-{stamp}-{i}"),
            at,
            model: model.name.clone(),
            version: model.version,
            variant: "live".into(),
            features: json_row(df, i),
            output: json_row(scored, i),
        };
        text.push_str(&crate::json::line(&record)?);
        text.push('\n');
    }
    let dir = PathBuf::from(&cfg.deploy.prediction_log);
    std::fs::create_dir_all(&dir).with_path("creating the prediction log in", &dir)?;
    let path = dir.join(format!("predictions-{stamp}-batch.ndjson"));
    crate::fsutil::atomic_write(&path, text.as_bytes()).with_path("writing", &path)?;
    Ok(path)
}

/// Commits the scored rows to the Delta table at `output`; returns the table version.
fn write_delta(output: &Path, df: &DataFrame, mode: crate::lake::Mode) -> Result<u64> {
    let table = crate::lake::Table::open(&output.to_string_lossy(), true)?;
    // Unique per write, so two appends of the same rows are two files.
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%6fZ");
    let written = table.write(df, mode, |sha| {
        format!("part-{stamp}-{}.parquet", &sha[..16])
    })?;
    Ok(written.version)
}

fn write_table(path: &Path, df: &mut DataFrame) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => crate::workdir::write_parquet(path, df),
        Some("csv") => {
            let mut out = crate::fsutil::AtomicFile::create(path).with_path("writing", path)?;
            CsvWriter::new(&mut out)
                .finish(df)
                .map_err(|e| Error::Runtime(format!("writing {}: {e}", path.display())))?;
            out.commit().with_path("writing", path)
        }
        _ => Err(Error::Usage(format!(
            "{}: the output must end in .csv or .parquet",
            path.display()
        ))),
    }
}
