//! The HTTP API of `mlx-serve` (axum): predict, models, health, readiness, Prometheus
//! metrics, feedback, and the OpenAPI description. Every client mistake is a 4xx with a
//! JSON error that names the field; nothing a client sends can make a 500.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use mlx_contracts::serve::{FeedbackRecord, PredictionRecord, PREDICTION_LOG_VERSION};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::{json, Map, Value};

use super::models::{Current, Model, Routing, Variant};
use super::online::Online;
use crate::model::records::Derivation;
use crate::predlog::{Kind, Logger};

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP status code.
    pub status: u16,
    /// The model version that answered (`none` when none did).
    pub version: String,
}

/// Labels of per-version series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    /// The model version.
    pub version: String,
}

/// Labels of the unknown-category counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ColumnLabels {
    /// The input column.
    pub column: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
    predictions: Family<VersionLabels, Histogram>,
    unknown: Family<ColumnLabels, Counter>,
    dropped: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        let predictions = Family::<VersionLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5,
                1e6,
            ])
        });
        let unknown = Family::<ColumnLabels, Counter>::default();
        let dropped = Gauge::default();
        registry.register(
            "mlx_requests",
            "Prediction requests by status and model version",
            requests.clone(),
        );
        registry.register(
            "mlx_request_duration_seconds",
            "Time to answer a prediction request",
            latency.clone(),
        );
        registry.register(
            "mlx_prediction_value",
            "Predicted values (regression) or probabilities of the second class",
            predictions.clone(),
        );
        registry.register(
            "mlx_unknown_categories",
            "Categories unseen in training, sent to the unknown bucket",
            unknown.clone(),
        );
        registry.register(
            "mlx_prediction_log_dropped",
            "Prediction log lines dropped because the log queue was full",
            dropped.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            predictions,
            unknown,
            dropped,
        }
    }

    fn count(&self, status: StatusCode, version: &str) {
        self.requests
            .get_or_create(&RequestLabels {
                status: status.as_u16(),
                version: version.into(),
            })
            .inc();
    }
}

/// What every handler shares.
pub struct App {
    /// The routing in force.
    pub current: Arc<Current>,
    /// The prediction log.
    pub logger: Logger,
    /// Largest accepted body.
    pub max_body: usize,
    /// Time a client has to send a body (`deploy.body_timeout_seconds`).
    pub body_timeout: std::time::Duration,
    /// Bearer token required on `/v1/*`, when set.
    pub token: Option<String>,
    /// The canary's sticky key column.
    pub sticky_key: Option<String>,
    /// Online features for requests that carry entity keys.
    pub online: Option<Mutex<Online>>,
    /// Row-local derived features for records that lack them.
    pub derivation: Option<Derivation>,
    /// Metrics.
    pub metrics: Metrics,
    requests: AtomicU64,
}

impl App {
    /// A new application state.
    pub fn new(
        current: Arc<Current>,
        logger: Logger,
        max_body: usize,
        token: Option<String>,
        sticky_key: Option<String>,
        online: Option<Online>,
        derivation: Option<Derivation>,
    ) -> Self {
        Self {
            derivation,
            current,
            logger,
            max_body,
            body_timeout: std::time::Duration::from_secs(30),
            token,
            sticky_key,
            online: online.map(Mutex::new),
            metrics: Metrics::new(),
            requests: AtomicU64::new(0),
        }
    }
}

/// A JSON error response.
fn error(status: StatusCode, message: impl Into<String>, extra: Value) -> Response {
    let mut body = json!({ "error": message.into(), "status": status.as_u16() });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    (status, Json(body)).into_response()
}

/// What went wrong with a scoring request, before a protocol renders it in its own
/// shape (`/v1`'s `{"error", "status", "field", "record"}`, the Open Inference
/// Protocol's `{"error"}`, MLflow's `{"error_code", "message"}`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    /// The HTTP status.
    pub status: StatusCode,
    /// What is wrong and what to do.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// The record at fault (0-based).
    pub record: Option<usize>,
    /// The version label the request is counted under (`none` unless a model failed).
    pub version: String,
}

impl Failure {
    /// A failure with a status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            record: None,
            version: "none".into(),
        }
    }

    /// A malformed request (400).
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The status and message for a protocol without `/v1`'s field and record keys
    /// (the Open Inference Protocol, MLflow's): a signature mismatch (`/v1`'s 422) is
    /// a 400, as Triton, MLServer and MLflow answer it, and the record goes into the
    /// message.
    pub fn plain(self) -> (StatusCode, String) {
        let status = if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            self.status
        };
        let message = match self.record {
            Some(i) => format!("{} (row {i})", self.message),
            None => self.message,
        };
        (status, message)
    }

    /// `/v1`'s shape.
    fn v1(self) -> Response {
        // A field error always names its record (null when the body had no list).
        let mut extra = Map::new();
        if let Some(f) = self.field {
            extra.insert("field".into(), Value::String(f));
            extra.insert("record".into(), json!(self.record));
        } else if let Some(r) = self.record {
            extra.insert("record".into(), json!(r));
        }
        error(self.status, self.message, Value::Object(extra))
    }
}

/// The router: `/v1`, the Open Inference Protocol (`/v2`, [`super::v2`]) and MLflow's
/// scoring API (`/invocations`, [`super::mlflow`]) over one scoring path.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/predict", post(predict))
        .route("/v1/feedback", post(feedback))
        .route("/v1/models", get(models))
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .merge(super::v2::routes())
        .merge(super::mlflow::routes())
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint; see /openapi.json",
                Value::Null,
            )
        })
        .with_state(app)
}

/// The bearer token, when the server needs one: every scoring and model endpoint
/// (`/v1/*`, `/v2/models/*`, `/invocations`); health endpoints answer anyone.
pub(super) fn authorize(app: &App, headers: &HeaderMap) -> Result<(), Failure> {
    let Some(token) = app.token.as_ref() else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if given.is_some_and(|g| same_token(g, token)) {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        ))
    }
}

/// The credentials of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 9110 section 11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Compares two tokens in time independent of where they differ and of their
/// lengths: the SHA-256 digests of both, compared in constant time.
fn same_token(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// Reads the body up to the limit (`deploy.max_body_bytes`), within
/// `deploy.body_timeout_seconds`.
pub(super) async fn read_body(app: &App, body: Body) -> Result<Bytes, Failure> {
    let read = tokio::time::timeout(app.body_timeout, axum::body::to_bytes(body, app.max_body));
    match read.await {
        Ok(Ok(b)) => Ok(b),
        Err(_) => Err(Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s (deploy.body_timeout_seconds); send it whole, with a Content-Length that matches",
                app.body_timeout.as_secs()
            ),
        )),
        Ok(Err(_)) => Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} bytes (deploy.max_body_bytes); send smaller batches",
                app.max_body
            ),
        )),
    }
}

/// JSON text, or a 400 that says where it is not.
pub(super) fn parse_json(bytes: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::bad(format!("the body is not valid JSON: {e}")))
}

/// Reads the body up to the limit, as JSON.
async fn json_body(app: &App, body: Body) -> Result<Value, Failure> {
    parse_json(&read_body(app, body).await?)
}

/// The request's id: `given` (a protocol's own id field), else the `X-Request-Id`
/// header, else a new one; at most 128 characters.
fn request_id(app: &App, headers: &HeaderMap, given: Option<&str>) -> String {
    given
        .or_else(|| headers.get("x-request-id").and_then(|v| v.to_str().ok()))
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "{:x}-{}",
                Utc::now().timestamp_micros(),
                app.requests.fetch_add(1, Ordering::Relaxed)
            )
        })
}

impl App {
    /// Counts an answered scoring request under its status and version.
    pub(super) fn count(&self, started: Instant, status: StatusCode, version: &str) {
        self.metrics.count(status, version);
        self.metrics
            .latency
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .dropped
            .set(self.logger.dropped.load(Ordering::Relaxed) as i64);
    }
}

async fn predict(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let served = async {
        authorize(&app, &parts.headers)?;
        let records =
            crate::model::scorer::records(json_body(&app, body).await?).map_err(Failure::bad)?;
        serve_records(&app, &parts.headers, records, Scoring::default()).await
    }
    .await;
    match served {
        Ok(s) => {
            app.count(started, StatusCode::OK, &s.version);
            let predictions: Vec<Value> = s
                .answers
                .into_iter()
                .map(|a| {
                    let mut p = a.output;
                    p.insert("request_id".into(), Value::String(a.request_id));
                    p.insert("model_version".into(), json!(a.model.version));
                    Value::Object(p)
                })
                .collect();
            let body = json!({
                "request_id": s.id,
                "model": s.model,
                "predictions": predictions,
                "unknown_categories": s.unknown,
            });
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(f) => {
            app.count(started, f.status, &f.version);
            f.v1()
        }
    }
}

/// How a protocol asks for its records to be scored.
#[derive(Default)]
pub(super) struct Scoring {
    /// The protocol's own request id (the Open Inference Protocol's `id`).
    pub id: Option<String>,
    /// The routing to use (fetched by a handler that checked a model name against it).
    pub routing: Option<Arc<Routing>>,
    /// Every record to this variant (a versioned route), instead of the canary's split.
    pub pin: Option<Variant>,
}

/// One record's answer.
pub(super) struct Answer {
    /// `<id>` for the first record, `<id>#<i>` for the others.
    pub request_id: String,
    /// The model that answered.
    pub model: Arc<Model>,
    /// `prediction`, and `proba_<class>` or the interval.
    pub output: Map<String, Value>,
}

/// A scored request.
pub(super) struct Served {
    /// The request id.
    pub id: String,
    /// The live model's name.
    pub model: String,
    /// One per record, in order.
    pub answers: Vec<Answer>,
    /// Unseen categories met, by column.
    pub unknown: BTreeMap<String, u64>,
    /// The version label the request is counted under.
    pub version: String,
}

/// The one scoring path of every protocol: online features for records that carry
/// entity keys, row-local derived features, the signature check, the deployment's
/// routing (canary per sticky key, or a pinned variant), scoring, the prediction log,
/// the shadow, and the prediction metrics.
pub(super) async fn serve_records(
    app: &Arc<App>,
    headers: &HeaderMap,
    mut records: Vec<Map<String, Value>>,
    how: Scoring,
) -> Result<Served, Failure> {
    let routing = how.routing.unwrap_or_else(|| app.current.get());
    if let Some(online) = &app.online {
        let inputs = &routing.live.scorer.bundle.manifest.signature.inputs;
        let mut online = online.lock().expect("not poisoned");
        for (i, r) in records.iter_mut().enumerate() {
            if let Err(m) = online.fill(r, inputs) {
                let mut f = Failure::new(StatusCode::UNPROCESSABLE_ENTITY, m);
                f.record = Some(i);
                return Err(f);
            }
        }
    }
    if let Some(d) = &app.derivation {
        d.apply(&mut records)
            .map_err(|m| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, m))?;
    }
    let checked = match how.pin {
        Some(v) => routing.model(v),
        None => &routing.live,
    };
    if let Err(e) = checked.scorer.check(&records) {
        let mut f = Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{}` {}", e.field, e.message),
        );
        f.field = Some(e.field);
        f.record = e.record;
        return Err(f);
    }
    let id = request_id(app, headers, how.id.as_deref());
    // Canary: each record goes to a variant by its sticky key (else the request id).
    let variants: Vec<Variant> = records
        .iter()
        .map(|r| {
            how.pin.unwrap_or_else(|| {
                let key = app
                    .sticky_key
                    .as_ref()
                    .and_then(|k| r.get(k))
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| id.clone());
                routing.variant(&key)
            })
        })
        .collect();
    let heavy = records.len() > 64;
    let (scored, records) = {
        let (r, variants) = (routing.clone(), variants.clone());
        let work = move || score_variants(&r, &records, &variants).map(|s| (s, records));
        let r = if heavy {
            tokio::task::spawn_blocking(work)
                .await
                .unwrap_or_else(|e| Err(crate::error::Error::Runtime(e.to_string())))
        } else {
            work()
        };
        r.map_err(|e| {
            // The records passed the signature check, so this is the model's fault.
            let mut f = Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
            f.version = routing.live.label();
            f
        })?
    };
    let now = Utc::now();
    let mut unknown: BTreeMap<String, u64> = BTreeMap::new();
    let mut answers = Vec::with_capacity(records.len());
    for (i, (model, out, u, value)) in scored.into_iter().enumerate() {
        for (k, n) in u {
            *unknown.entry(k).or_insert(0) += n;
        }
        app.metrics
            .predictions
            .get_or_create(&VersionLabels {
                version: model.label(),
            })
            .observe(value);
        let rid = if i == 0 {
            id.clone()
        } else {
            format!("{id}#{i}")
        };
        log(
            app,
            &rid,
            now,
            &model,
            variant_name(variants[i]),
            &records[i],
            &out,
        );
        answers.push(Answer {
            request_id: rid,
            model,
            output: out,
        });
    }
    for (k, n) in &unknown {
        app.metrics
            .unknown
            .get_or_create(&ColumnLabels { column: k.clone() })
            .inc_by(*n);
    }
    let shadow = routing
        .shadow()
        .filter(|_| how.pin != Some(Variant::Challenger));
    if let Some(shadow) = shadow.cloned() {
        let app = app.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            if let Ok(s) = shadow.scorer.score(&records) {
                for (i, out) in s.outputs.iter().enumerate() {
                    let rid = if i == 0 {
                        id.clone()
                    } else {
                        format!("{id}#{i}")
                    };
                    log(&app, &rid, now, &shadow, "shadow", &records[i], out);
                }
            }
        });
    }
    Ok(Served {
        id,
        model: routing.live.name.clone(),
        answers,
        unknown,
        version: routing.live.label(),
    })
}

type ScoredRecord = (Arc<Model>, Map<String, Value>, BTreeMap<String, u64>, f64);

/// Scores records, each with its variant's model, in input order.
fn score_variants(
    routing: &Routing,
    records: &[Map<String, Value>],
    variants: &[Variant],
) -> crate::error::Result<Vec<ScoredRecord>> {
    if variants.iter().all(|v| *v == variants[0]) {
        // One variant (always, outside a canary): no regrouping, no copies.
        let model = routing.model(variants[0]);
        let s = model.scorer.score(records)?;
        let mut unknown = Some(s.unknown);
        return Ok(s
            .outputs
            .into_iter()
            .zip(s.values)
            .map(|(o, v)| (model.clone(), o, unknown.take().unwrap_or_default(), v))
            .collect());
    }
    let mut out: Vec<Option<ScoredRecord>> = vec![None; records.len()];
    for v in [Variant::Live, Variant::Challenger] {
        let idx: Vec<usize> = (0..records.len()).filter(|&i| variants[i] == v).collect();
        if idx.is_empty() {
            continue;
        }
        let model = routing.model(v);
        let batch: Vec<Map<String, Value>> = idx.iter().map(|&i| records[i].clone()).collect();
        let s = model.scorer.score(&batch)?;
        for (j, &i) in idx.iter().enumerate() {
            // Unknown categories are counted once per batch, on its first record.
            let u = if j == 0 {
                s.unknown.clone()
            } else {
                BTreeMap::new()
            };
            out[i] = Some((model.clone(), s.outputs[j].clone(), u, s.values[j]));
        }
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every record scored"))
        .collect())
}

fn variant_name(v: Variant) -> &'static str {
    match v {
        Variant::Live => "live",
        Variant::Challenger => "challenger",
    }
}

fn log(
    app: &App,
    request_id: &str,
    at: chrono::DateTime<Utc>,
    model: &Model,
    variant: &str,
    features: &Map<String, Value>,
    output: &Map<String, Value>,
) {
    let record = PredictionRecord {
        schema_version: PREDICTION_LOG_VERSION,
        request_id: request_id.into(),
        at,
        model: model.name.clone(),
        version: model.version,
        variant: variant.into(),
        features: features.clone(),
        output: output.clone(),
    };
    if let Ok(line) = serde_json::to_string(&record) {
        app.logger.offer(Kind::Prediction, line);
    }
}

async fn feedback(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(f) = authorize(&app, &parts.headers) {
        return f.v1();
    }
    let value = match json_body(&app, body).await {
        Ok(v) => v,
        Err(f) => return f.v1(),
    };
    let items = match value {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("feedback") {
            Some(Value::Array(a)) => a,
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "`feedback` must be a list",
                    Value::Null,
                )
            }
            None => vec![Value::Object(o)],
        },
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body must be {\"request_id\": ..., \"actual\": ...} or a list of them",
                Value::Null,
            )
        }
    };
    let now = Utc::now();
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = item.get("request_id").and_then(Value::as_str);
        let actual = item.get("actual").filter(|v| !v.is_null());
        match (id, actual) {
            (Some(id), Some(actual)) if !id.is_empty() => lines.push(FeedbackRecord {
                schema_version: PREDICTION_LOG_VERSION,
                request_id: id.into(),
                at: now,
                actual: actual.clone(),
            }),
            (None, _) | (Some(""), _) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "`request_id` is missing (a string from a /v1/predict answer)",
                    json!({ "field": "request_id", "record": i }),
                )
            }
            _ => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "`actual` is missing",
                    json!({ "field": "actual", "record": i }),
                )
            }
        }
    }
    let n = lines.len();
    for l in lines {
        if let Ok(text) = serde_json::to_string(&l) {
            app.logger.offer(Kind::Feedback, text);
        }
    }
    (StatusCode::ACCEPTED, Json(json!({ "accepted": n }))).into_response()
}

fn describe(m: &Model, role: &str) -> Value {
    let b = &m.scorer.bundle.manifest;
    json!({
        "role": role,
        "name": m.name,
        "version": m.version,
        "run_id": m.run_id,
        "model_type": b.model_type,
        "signature": b.signature,
        "classes": b.classes,
        "training_data_sha256": b.dataset_sha256,
        "trained_at": b.trained_at,
    })
}

async fn models(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(f) = authorize(&app, &headers) {
        return f.v1();
    }
    let r = app.current.get();
    let mut list = vec![describe(&r.live, "live")];
    if let Some(c) = &r.challenger {
        list.push(describe(
            c,
            if r.strategy == mlx_contracts::config::DeployStrategy::Shadow {
                "shadow"
            } else {
                "challenger"
            },
        ));
    }
    Json(json!({
        "strategy": r.strategy,
        "canary_fraction": r.challenger.as_ref().map(|_| r.fraction),
        "models": list,
    }))
    .into_response()
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    let r = app.current.get();
    Json(json!({ "status": "ready", "version": r.live.version })).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &app.metrics.registry).is_err() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding metrics",
            Value::Null,
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The OpenAPI 3.1 description.
pub fn openapi() -> Value {
    let err = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let v2_err = json!({ "description": "error", "content": { "application/json": { "schema": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } } } } });
    let mlflow_err = json!({ "description": "error", "content": { "application/json": { "schema": { "type": "object", "required": ["error_code", "message"], "properties": { "error_code": { "type": "string" }, "message": { "type": "string" } } } } } });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "mlx-serve", "version": env!("CARGO_PKG_VERSION") },
        "paths": {
            "/v1/predict": { "post": {
                "summary": "Score records",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [
                    { "type": "object", "required": ["records"], "properties": { "records": { "type": "array", "items": { "type": "object" } } } },
                    { "type": "object", "required": ["columns"], "properties": { "columns": { "type": "object", "additionalProperties": { "type": "array" } } } },
                    { "type": "array", "items": { "type": "object" } }
                ] } } } },
                "parameters": [ { "name": "X-Request-Id", "in": "header", "required": false, "schema": { "type": "string" } } ],
                "responses": {
                    "200": { "description": "predictions, one per record", "content": { "application/json": { "schema": { "type": "object", "properties": {
                        "request_id": { "type": "string" }, "model": { "type": "string" },
                        "predictions": { "type": "array", "items": { "type": "object" } },
                        "unknown_categories": { "type": "object", "additionalProperties": { "type": "integer" } } } } } } },
                    "400": err, "401": err, "413": err, "422": err
                }
            } },
            "/v1/feedback": { "post": {
                "summary": "Report actual outcomes by request id",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [
                    { "$ref": "#/components/schemas/Feedback" },
                    { "type": "array", "items": { "$ref": "#/components/schemas/Feedback" } }
                ] } } } },
                "responses": { "202": { "description": "accepted" }, "400": err, "401": err, "413": err, "422": err }
            } },
            "/v1/models": { "get": { "summary": "The models answering: name, version, signature, training data hash", "responses": { "200": { "description": "models" }, "401": err } } },
            "/healthz": { "get": { "summary": "Liveness", "responses": { "200": { "description": "alive" } } } },
            "/readyz": { "get": { "summary": "Readiness: a model is loaded", "responses": { "200": { "description": "ready" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text exposition" } } } },
            "/v2/models/{name}/infer": { "post": {
                "summary": "Open Inference Protocol (KServe V2): score tensors, JSON or binary tensor data (docs/serve.md)",
                "parameters": [ { "name": "name", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "responses": { "200": { "description": "output tensors" }, "400": v2_err, "401": v2_err, "404": v2_err, "413": v2_err }
            } },
            "/v2/models/{name}/versions/{version}/infer": { "post": {
                "summary": "Open Inference Protocol: score tensors with one served version",
                "parameters": [
                    { "name": "name", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "version", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "responses": { "200": { "description": "output tensors" }, "400": v2_err, "401": v2_err, "404": v2_err, "413": v2_err }
            } },
            "/v2/models/{name}": { "get": {
                "summary": "Open Inference Protocol: the model's inputs and outputs",
                "parameters": [ { "name": "name", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "responses": { "200": { "description": "model metadata" }, "401": v2_err, "404": v2_err }
            } },
            "/v2/health/live": { "get": { "summary": "Open Inference Protocol: liveness", "responses": { "200": { "description": "live" } } } },
            "/v2/health/ready": { "get": { "summary": "Open Inference Protocol: readiness", "responses": { "200": { "description": "ready" } } } },
            "/invocations": { "post": {
                "summary": "MLflow's scoring API: dataframe_split, dataframe_records, instances or inputs as JSON, or text/csv",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } }, "text/csv": { "schema": { "type": "string" } } } },
                "responses": { "200": { "description": "{\"predictions\": [...]}" }, "400": mlflow_err, "401": mlflow_err, "413": mlflow_err, "415": mlflow_err }
            } },
            "/ping": { "get": { "summary": "MLflow's health check", "responses": { "200": { "description": "healthy" } } } }
        },
        "components": { "schemas": {
            "Error": { "type": "object", "required": ["error", "status"], "properties": {
                "error": { "type": "string" }, "status": { "type": "integer" },
                "field": { "type": "string" }, "record": { "type": ["integer", "null"] } } },
            "Feedback": { "type": "object", "required": ["request_id", "actual"], "properties": {
                "request_id": { "type": "string" }, "actual": {} } }
        } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_exact() {
        for header in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER  s3cret ",
            "Bearer\ts3cret",
        ] {
            assert_eq!(bearer(header), Some("s3cret"), "{header:?}");
        }
        for header in ["Basic s3cret", "Bearers3cret", "s3cret", ""] {
            assert!(
                bearer(header).is_none_or(|t| !same_token(t, "s3cret")),
                "{header:?}"
            );
        }
        assert!(same_token("s3cret", "s3cret"));
        for wrong in ["s3cre", "s3cret!", "S3CRET", ""] {
            assert!(!same_token(wrong, "s3cret"), "{wrong:?}");
        }
    }
}
