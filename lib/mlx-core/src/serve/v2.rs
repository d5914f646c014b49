//! The Open Inference Protocol (KServe's V2 protocol, spoken by Triton and Seldon
//! MLServer) on `mlx-serve`: health, server and model metadata, readiness, and
//! inference, with JSON tensors and Triton's binary tensor data extension (what
//! `tritonclient` sends by default). Tensors become records and go through the one
//! scoring path of `/v1/predict` ([`super::http::serve_records`]): the same signature
//! check, online and derived features, deployment routing and prediction log. Errors
//! are the protocol's `{"error": "..."}` with a 4xx status.
//!
//! The tensors of a request are either one per input column (named after it, shape
//! `[n]` or `[n, 1]`), or one `[n, k]` tensor holding the model's `k` inputs in the
//! signature's order, as MLServer's and Triton's tabular models take them.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mlx_contracts::features::{InputColumn, InputKind};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http::{authorize, parse_json, read_body, serve_records, App, Failure, Scoring};
use super::models::{Model, Routing, Variant};

/// The header that splits a body into its JSON part and the binary tensor data after it.
const HEADER_LENGTH: &str = "inference-header-content-length";

/// The `/v2` routes.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route(
            "/v2/health/live",
            get(|| async { Json(json!({ "live": true })) }),
        )
        .route(
            "/v2/health/ready",
            get(|| async { Json(json!({ "ready": true })) }),
        )
        .route("/v2/models/{name}", get(model_metadata))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(version_infer),
        )
}

/// The protocol's error shape.
fn fail(f: Failure) -> Response {
    let (status, message) = f.plain();
    (status, Json(json!({ "error": message }))).into_response()
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "mlx-serve",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
}

/// The model a name (and version) in a path designates: `None` for the deployment's
/// own choice (canary split, live otherwise), or the variant a version pins.
fn resolve(
    routing: &Routing,
    name: &str,
    version: Option<&str>,
) -> Result<Option<Variant>, Failure> {
    let served = routing.live.served_name();
    if name != served {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("no model `{name}` is served here; this server serves `{served}`"),
        ));
    }
    let Some(version) = version else {
        return Ok(None);
    };
    let wanted = version
        .strip_prefix('v')
        .unwrap_or(version)
        .parse::<u64>()
        .ok();
    for (variant, model) in variants(routing) {
        if wanted.is_some() && model.version == wanted {
            return Ok(Some(variant));
        }
    }
    let listed = served_versions(routing);
    Err(Failure::new(
        StatusCode::NOT_FOUND,
        if listed.is_empty() {
            format!("`{served}` is a bundle served without the registry: it has no versions; use /v2/models/{served}/infer")
        } else {
            format!(
                "version `{version}` of `{served}` is not served here; served: {}",
                listed.join(", ")
            )
        },
    ))
}

/// The loaded models with their variants: the live one, then the challenger.
fn variants(routing: &Routing) -> impl Iterator<Item = (Variant, &Arc<Model>)> {
    std::iter::once((Variant::Live, &routing.live))
        .chain(routing.challenger.iter().map(|c| (Variant::Challenger, c)))
}

fn served_versions(routing: &Routing) -> Vec<String> {
    variants(routing)
        .filter_map(|(_, m)| m.version.map(|v| v.to_string()))
        .collect()
}

/// A tensor's datatype in the protocol's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Datatype {
    Bool,
    Int(u8),
    Uint(u8),
    Fp16,
    Bf16,
    Fp32,
    Fp64,
    Bytes,
}

impl Datatype {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BOOL" => Self::Bool,
            "INT8" => Self::Int(1),
            "INT16" => Self::Int(2),
            "INT32" => Self::Int(4),
            "INT64" => Self::Int(8),
            "UINT8" => Self::Uint(1),
            "UINT16" => Self::Uint(2),
            "UINT32" => Self::Uint(4),
            "UINT64" => Self::Uint(8),
            "FP16" => Self::Fp16,
            "BF16" => Self::Bf16,
            "FP32" => Self::Fp32,
            "FP64" => Self::Fp64,
            "BYTES" => Self::Bytes,
            _ => return None,
        })
    }
}

/// The metadata of an input or output: its name, datatype and shape (`-1` rows).
fn tensor_meta(name: &str, datatype: &str) -> Value {
    json!({ "name": name, "datatype": datatype, "shape": [-1] })
}

/// An output's datatype: a classifier's label is text, a version an integer, the
/// rest doubles.
fn output_datatype(model: &Model, name: &str) -> &'static str {
    match name {
        "model_version" => "INT64",
        "prediction" if model.scorer.bundle.manifest.classes.is_some() => "BYTES",
        _ => "FP64",
    }
}

/// The outputs a model answers: the signature's, and `model_version` for a registry
/// version (per row: under a canary the rows of one request can meet two versions).
fn output_names(model: &Model) -> Vec<String> {
    let mut names = model.scorer.bundle.manifest.signature.outputs.clone();
    if model.version.is_some() {
        names.push("model_version".into());
    }
    names
}

fn metadata(routing: &Routing, model: &Model, versions: Vec<String>) -> Value {
    let sig = &model.scorer.bundle.manifest.signature;
    let inputs: Vec<Value> = sig
        .inputs
        .iter()
        .map(|i| {
            tensor_meta(
                &i.name,
                match i.kind {
                    InputKind::Numeric => "FP64",
                    InputKind::Categorical => "BYTES",
                },
            )
        })
        .collect();
    let outputs: Vec<Value> = output_names(model)
        .iter()
        .map(|n| tensor_meta(n, output_datatype(model, n)))
        .collect();
    json!({
        "name": routing.live.served_name(),
        "versions": versions,
        "platform": format!("mlx_{}", model.scorer.bundle.manifest.library.name),
        "inputs": inputs,
        "outputs": outputs,
    })
}

async fn model_metadata(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    describe(&app, &headers, &name, None)
}

async fn version_metadata(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    describe(&app, &headers, &name, Some(&version))
}

fn describe(app: &App, headers: &HeaderMap, name: &str, version: Option<&str>) -> Response {
    let routing = app.current.get();
    let answer = authorize(app, headers).and_then(|()| resolve(&routing, name, version));
    match answer {
        Ok(None) => {
            Json(metadata(&routing, &routing.live, served_versions(&routing))).into_response()
        }
        Ok(Some(v)) => {
            let m = routing.model(v);
            Json(metadata(
                &routing,
                m,
                m.version.iter().map(u64::to_string).collect(),
            ))
            .into_response()
        }
        Err(f) => fail(f),
    }
}

async fn model_ready(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    readiness(&app, &name, None)
}

async fn version_ready(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    readiness(&app, &name, Some(&version))
}

/// A served model is ready: the server listens only once its models are loaded.
fn readiness(app: &App, name: &str, version: Option<&str>) -> Response {
    match resolve(&app.current.get(), name, version) {
        Ok(_) => Json(json!({ "name": name, "ready": true })).into_response(),
        Err(f) => fail(f),
    }
}

async fn infer(State(app): State<Arc<App>>, Path(name): Path<String>, req: Request) -> Response {
    inference(app, name, None, req).await
}

async fn version_infer(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
    req: Request,
) -> Response {
    inference(app, name, Some(version), req).await
}

async fn inference(app: Arc<App>, name: String, version: Option<String>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let answer = async {
        authorize(&app, &parts.headers)?;
        let routing = app.current.get();
        let pin = resolve(&routing, &name, version.as_deref())?;
        let bytes = read_body(&app, body).await?;
        let request = InferRequest::decode(&parts.headers, &bytes)?;
        let model = pin.map_or(&routing.live, |v| routing.model(v)).clone();
        let wanted = request.wanted_outputs(output_names(&model))?;
        let id = request.id.clone();
        let records = request.records(&model.scorer.bundle.manifest.signature.inputs)?;
        let scoring = Scoring {
            id,
            routing: Some(routing.clone()),
            pin,
        };
        let served = serve_records(&app, &parts.headers, records, scoring).await?;
        Ok::<_, Failure>((served, wanted, model))
    }
    .await;
    match answer {
        Ok((served, wanted, model)) => {
            app.count(started, StatusCode::OK, &served.version);
            render(&model, served, &wanted)
        }
        Err(f) => {
            // Counted under the status the protocol answers with.
            let version = f.version.clone();
            let response = fail(f);
            app.count(started, response.status(), &version);
            response
        }
    }
}

/// An inference request as the protocol defines it.
#[derive(Debug, Deserialize)]
struct InferRequest {
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<InputTensor>,
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
    /// Filled from the binary part of the body.
    #[serde(skip)]
    elements: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// An output to answer, and whether as binary tensor data.
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    name: String,
    binary: bool,
}

impl InferRequest {
    /// The request from its body: JSON, or JSON followed by binary tensor data when
    /// `Inference-Header-Content-Length` says where the JSON ends.
    fn decode(headers: &HeaderMap, body: &Bytes) -> Result<Self, Failure> {
        let json_len = match headers.get(HEADER_LENGTH) {
            None => body.len(),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n <= body.len())
                .ok_or_else(|| {
                    Failure::bad(format!(
                        "Inference-Header-Content-Length must be the byte length of the JSON part of the body (at most {})",
                        body.len()
                    ))
                })?,
        };
        let mut request: InferRequest = serde_json::from_value(parse_json(&body[..json_len])?)
            .map_err(|e| {
                Failure::bad(format!(
                    "not an inference request: {e}; send {{\"inputs\": [{{\"name\", \"shape\", \"datatype\", \"data\"}}]}}"
                ))
            })?;
        let mut binary = &body[json_len..];
        let mut seen = std::collections::BTreeSet::new();
        for input in &mut request.inputs {
            if !seen.insert(input.name.clone()) {
                return Err(Failure::bad(format!(
                    "input `{}` is sent twice",
                    input.name
                )));
            }
            input.elements = input.read(&mut binary)?;
        }
        if !binary.is_empty() {
            return Err(Failure::bad(format!(
                "{} bytes of binary tensor data follow the JSON that no input's binary_data_size claims",
                binary.len()
            )));
        }
        if request.inputs.is_empty() {
            return Err(Failure::bad("the request has no inputs"));
        }
        Ok(request)
    }

    /// The rows as records, by either layout (one tensor per column, or one `[n, k]`
    /// tensor in the signature's order).
    /// Each element is moved into its record, not copied.
    fn records(self, sig: &[InputColumn]) -> Result<Vec<Map<String, Value>>, Failure> {
        let names: Vec<&str> = sig.iter().map(|i| i.name.as_str()).collect();
        if let [one] = self.inputs.as_slice() {
            if !names.contains(&one.name.as_str()) && one.shape.len() == 2 {
                let (n, k) = (one.shape[0] as usize, one.shape[1] as usize);
                if k != names.len() {
                    return Err(Failure::bad(format!(
                        "input `{}` has shape {:?}: a [rows, columns] tensor must hold the model's {} inputs in order: {}",
                        one.name,
                        one.shape,
                        names.len(),
                        names.join(", ")
                    )));
                }
                let mut elements = self.inputs.into_iter().flat_map(|t| t.elements);
                let rows = (0..n)
                    .map(|_| {
                        sig.iter()
                            .map(|input| (input.name.clone(), elements.next().expect("n × k")))
                            .collect()
                    })
                    .collect();
                return nonempty(rows);
            }
        }
        let mut n = None;
        for t in &self.inputs {
            let rows = match t.shape.as_slice() {
                [n] | [n, 1] => *n as usize,
                _ => {
                    return Err(Failure::bad(format!(
                        "input `{}` has shape {:?}: send one tensor per input column, shaped [rows] or [rows, 1], or one [rows, {}] tensor holding the inputs in order: {}",
                        t.name,
                        t.shape,
                        names.len(),
                        names.join(", ")
                    )))
                }
            };
            match n {
                Some(m) if m != rows => {
                    return Err(Failure::bad(format!(
                        "input `{}` has {rows} rows, the others {m}: every input tensor needs the same number of rows",
                        t.name
                    )))
                }
                _ => n = Some(rows),
            }
            if let Some(input) = sig.iter().find(|i| i.name == t.name) {
                check_kind(t, input.kind)?;
            }
        }
        let mut columns: Vec<(String, std::vec::IntoIter<Value>)> = self
            .inputs
            .into_iter()
            .map(|t| (t.name, t.elements.into_iter()))
            .collect();
        let rows = (0..n.unwrap_or(0))
            .map(|_| {
                columns
                    .iter_mut()
                    .map(|(name, values)| (name.clone(), values.next().expect("n rows")))
                    .collect()
            })
            .collect();
        nonempty(rows)
    }

    /// The outputs to answer: those asked for (each binary when its own `binary_data`,
    /// else the request's `binary_data_output`, says so), or all of the model's.
    fn wanted_outputs(&self, all: Vec<String>) -> Result<Vec<Wanted>, Failure> {
        let default_binary = flag(&self.parameters, "binary_data_output")?.unwrap_or(false);
        match &self.outputs {
            None => Ok(all
                .into_iter()
                .map(|name| Wanted {
                    name,
                    binary: default_binary,
                })
                .collect()),
            Some(asked) => asked
                .iter()
                .map(|o| {
                    if !all.contains(&o.name) {
                        return Err(Failure::bad(format!(
                            "unknown output `{}`; the model's outputs: {}",
                            o.name,
                            all.join(", ")
                        )));
                    }
                    Ok(Wanted {
                        name: o.name.clone(),
                        binary: flag(&o.parameters, "binary_data")?.unwrap_or(default_binary),
                    })
                })
                .collect(),
        }
    }
}

fn nonempty(rows: Vec<Map<String, Value>>) -> Result<Vec<Map<String, Value>>, Failure> {
    if rows.is_empty() {
        Err(Failure::bad("the request has no rows to score"))
    } else {
        Ok(rows)
    }
}

/// A boolean parameter, when given.
fn flag(parameters: &Map<String, Value>, name: &str) -> Result<Option<bool>, Failure> {
    match parameters.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Failure::bad(format!(
            "parameter `{name}` must be true or false, got {other}"
        ))),
    }
}

/// A numeric input column needs a numeric datatype (one `[rows, k]` tensor of mixed
/// columns is BYTES, and its text is checked per value by the signature).
fn check_kind(t: &InputTensor, kind: InputKind) -> Result<(), Failure> {
    if kind == InputKind::Numeric && t.datatype == "BYTES" {
        return Err(Failure::bad(format!(
            "input `{}` is numeric: send it as FP64, FP32, an integer datatype or BOOL, not BYTES",
            t.name
        )));
    }
    Ok(())
}

impl InputTensor {
    /// The tensor's elements, row-major: from `data` (nested lists are flattened), or
    /// from the next `binary_data_size` bytes of the body.
    fn read(&self, binary: &mut &[u8]) -> Result<Vec<Value>, Failure> {
        let datatype = Datatype::parse(&self.datatype).ok_or_else(|| {
            Failure::bad(format!(
                "input `{}` has datatype `{}`; the protocol's datatypes are BOOL, INT8-64, UINT8-64, FP16, BF16, FP32, FP64 and BYTES",
                self.name, self.datatype
            ))
        })?;
        if let Some(bad) = self.shape.iter().find(|&&d| d < 0) {
            return Err(Failure::bad(format!(
                "input `{}` has a negative dimension {bad} in its shape {:?}",
                self.name, self.shape
            )));
        }
        let count = self
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
            .filter(|&c| c <= 1 << 28)
            .ok_or_else(|| {
                Failure::bad(format!(
                    "input `{}` has an impossible shape {:?}",
                    self.name, self.shape
                ))
            })?;
        let size = match self.parameters.get("binary_data_size") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                Failure::bad(format!(
                    "input `{}`: binary_data_size must be a byte count",
                    self.name
                ))
            })? as usize),
        };
        let elements = match (size, &self.data) {
            (Some(_), Some(_)) => {
                return Err(Failure::bad(format!(
                    "input `{}` has both `data` and binary_data_size; send one",
                    self.name
                )))
            }
            (None, None) => {
                return Err(Failure::bad(format!("input `{}` has no `data`", self.name)))
            }
            (None, Some(data)) => {
                let mut out = Vec::with_capacity(count);
                flatten(data, &mut out);
                out.into_iter()
                    .enumerate()
                    .map(|(i, v)| json_element(&self.name, datatype, i, v))
                    .collect::<Result<Vec<_>, _>>()?
            }
            (Some(size), None) => {
                if size > binary.len() {
                    return Err(Failure::bad(format!(
                        "input `{}` claims {size} bytes of binary data, {} are left in the body",
                        self.name,
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                *binary = rest;
                binary_elements(&self.name, datatype, mine)?
            }
        };
        if elements.len() != count {
            return Err(Failure::bad(format!(
                "input `{}` has {} elements, its shape {:?} needs {count}",
                self.name,
                elements.len(),
                self.shape
            )));
        }
        Ok(elements)
    }
}

fn flatten(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other.clone()),
    }
}

/// A JSON element checked against its datatype; `null` is a missing value.
fn json_element(input: &str, datatype: Datatype, i: usize, v: Value) -> Result<Value, Failure> {
    let fits = match (&v, datatype) {
        (Value::Null, _) => true,
        (Value::Bool(_), Datatype::Bool) => true,
        (Value::Number(n), Datatype::Int(_)) => n.is_i64(),
        (Value::Number(n), Datatype::Uint(_)) => n.is_u64(),
        (Value::Number(_), Datatype::Fp16 | Datatype::Bf16 | Datatype::Fp32 | Datatype::Fp64) => {
            true
        }
        (Value::String(_), Datatype::Bytes) => true,
        _ => false,
    };
    if fits {
        Ok(v)
    } else {
        Err(Failure::bad(format!(
            "input `{input}` is {} but its element {i} is {v}",
            name_of(datatype)
        )))
    }
}

fn name_of(d: Datatype) -> String {
    match d {
        Datatype::Bool => "BOOL".into(),
        Datatype::Int(b) => format!("INT{}", b * 8),
        Datatype::Uint(b) => format!("UINT{}", b * 8),
        Datatype::Fp16 => "FP16".into(),
        Datatype::Bf16 => "BF16".into(),
        Datatype::Fp32 => "FP32".into(),
        Datatype::Fp64 => "FP64".into(),
        Datatype::Bytes => "BYTES".into(),
    }
}

fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Elements of binary tensor data: little-endian fixed-size values, or for BYTES a
/// 4-byte little-endian length before each element. A NaN is a missing value.
fn binary_elements(input: &str, datatype: Datatype, bytes: &[u8]) -> Result<Vec<Value>, Failure> {
    let width = match datatype {
        Datatype::Bool => 1,
        Datatype::Int(b) | Datatype::Uint(b) => b as usize,
        Datatype::Fp16 | Datatype::Bf16 => 2,
        Datatype::Fp32 => 4,
        Datatype::Fp64 => 8,
        Datatype::Bytes => return byte_strings(input, bytes),
    };
    if !bytes.len().is_multiple_of(width) {
        return Err(Failure::bad(format!(
            "input `{input}`: {} bytes of {} data are not a whole number of {width}-byte elements",
            bytes.len(),
            name_of(datatype)
        )));
    }
    Ok(bytes
        .chunks_exact(width)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(c);
            let raw = u64::from_le_bytes(b);
            match datatype {
                Datatype::Bool => Value::Bool(raw != 0),
                Datatype::Int(w) => {
                    let shift = 64 - 8 * u32::from(w);
                    json!(((raw << shift) as i64) >> shift)
                }
                Datatype::Uint(_) => json!(raw),
                Datatype::Fp16 => float(f64::from(f16_to_f32(raw as u16))),
                Datatype::Bf16 => float(f64::from(f32::from_bits((raw as u32) << 16))),
                Datatype::Fp32 => float(f64::from(f32::from_bits(raw as u32))),
                Datatype::Fp64 => float(f64::from_bits(raw)),
                Datatype::Bytes => unreachable!("handled above"),
            }
        })
        .collect())
}

fn byte_strings(input: &str, mut bytes: &[u8]) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let cut = |what: &str| {
            Failure::bad(format!(
                "input `{input}`: the BYTES data ends inside {what} (element {})",
                out.len()
            ))
        };
        let (len, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| cut("a length"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(cut("an element"));
        }
        let (text, rest) = rest.split_at(len);
        let text = std::str::from_utf8(text).map_err(|_| {
            Failure::bad(format!(
                "input `{input}`: element {} is not UTF-8 text",
                out.len()
            ))
        })?;
        out.push(Value::String(text.to_owned()));
        bytes = rest;
    }
    Ok(out)
}

/// IEEE 754 half precision to single (exact: every half is a single).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | (((f << shift) & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The response: the wanted outputs, each `[rows]`, as JSON data or as binary tensor
/// data after the JSON.
fn render(model: &Model, served: super::http::Served, wanted: &[Wanted]) -> Response {
    let n = served.answers.len();
    let mut binary = Vec::new();
    let mut outputs = Vec::with_capacity(wanted.len());
    for w in wanted {
        let datatype = output_datatype(model, &w.name);
        let column: Vec<Value> = served
            .answers
            .iter()
            .map(|a| match w.name.as_str() {
                "model_version" => json!(a.model.version),
                name => a.output.get(name).cloned().unwrap_or(Value::Null),
            })
            .collect();
        let mut out = json!({ "name": w.name, "datatype": datatype, "shape": [n] });
        if w.binary {
            let start = binary.len();
            for v in &column {
                match datatype {
                    "BYTES" => {
                        let s = v.as_str().unwrap_or_default();
                        binary.extend_from_slice(&(s.len() as u32).to_le_bytes());
                        binary.extend_from_slice(s.as_bytes());
                    }
                    "INT64" => binary.extend_from_slice(&v.as_i64().unwrap_or(-1).to_le_bytes()),
                    _ => binary.extend_from_slice(&v.as_f64().unwrap_or(f64::NAN).to_le_bytes()),
                }
            }
            out["parameters"] = json!({ "binary_data_size": binary.len() - start });
        } else {
            out["data"] = Value::Array(column);
        }
        outputs.push(out);
    }
    let mut body = json!({
        "model_name": model.served_name(),
        "id": served.id,
        "outputs": outputs,
    });
    let versions: std::collections::BTreeSet<u64> = served
        .answers
        .iter()
        .filter_map(|a| a.model.version)
        .collect();
    if let Some(v) = model.version {
        // One version answered every row, or (under a canary) the live one is named and
        // the rows' own versions are in the `model_version` output.
        let v = if versions.len() == 1 {
            *versions.first().expect("one")
        } else {
            v
        };
        body["model_version"] = Value::String(v.to_string());
    }
    let text = body.to_string();
    if binary.is_empty() && wanted.iter().all(|w| !w.binary) {
        return ([(header::CONTENT_TYPE, "application/json")], text).into_response();
    }
    let length = HeaderValue::from(text.len());
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&binary);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::HeaderName::from_static(HEADER_LENGTH), length),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig() -> Vec<InputColumn> {
        serde_json::from_value(json!([
            { "name": "age", "kind": "numeric" },
            { "name": "plan", "kind": "categorical" }
        ]))
        .unwrap()
    }

    fn decode(body: Value) -> Result<InferRequest, Failure> {
        InferRequest::decode(&HeaderMap::new(), &Bytes::from(body.to_string()))
    }

    fn rows(body: Value) -> Result<Vec<Map<String, Value>>, Failure> {
        decode(body)?.records(&sig())
    }

    #[test]
    fn column_tensors_and_one_matrix_give_the_same_records() {
        let want = vec![
            json!({ "age": 41, "plan": "pro" })
                .as_object()
                .unwrap()
                .clone(),
            json!({ "age": 35.5, "plan": "basic" })
                .as_object()
                .unwrap()
                .clone(),
        ];
        let columns = json!({ "inputs": [
            { "name": "age", "shape": [2], "datatype": "FP64", "data": [41, 35.5] },
            { "name": "plan", "shape": [2, 1], "datatype": "BYTES", "data": [["pro"], ["basic"]] }
        ] });
        let matrix = json!({ "inputs": [
            { "name": "input-0", "shape": [2, 2], "datatype": "BYTES", "data": [41, "pro", 35.5, "basic"] }
        ] });
        assert_eq!(rows(columns).unwrap(), want);
        // The matrix's datatype is BYTES, and its numbers stay numbers: JSON says so.
        let m = json!({ "inputs": [{ "name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[41, 1], [35.5, 2]] }] });
        assert_eq!(rows(m).unwrap()[1]["age"], json!(35.5));
        let f = rows(matrix).unwrap_err();
        assert!(
            f.message.contains("is BYTES but its element 0 is 41"),
            "{}",
            f.message
        );
    }

    #[test]
    fn malformed_tensors_are_bad_requests_that_name_the_input() {
        for (inputs, says) in [
            (
                json!([{ "name": "age", "shape": [3], "datatype": "FP64", "data": [1, 2] }]),
                "input `age` has 2 elements, its shape [3] needs 3",
            ),
            (
                json!([{ "name": "age", "shape": [2], "datatype": "BYTES", "data": ["1", "2"] }]),
                "input `age` is numeric",
            ),
            (
                json!([{ "name": "age", "shape": [1], "datatype": "FP128", "data": [1] }]),
                "datatype `FP128`",
            ),
            (
                json!([{ "name": "age", "shape": [1], "datatype": "INT64", "data": [1.5] }]),
                "is INT64 but its element 0 is 1.5",
            ),
            (
                json!([{ "name": "age", "shape": [1], "datatype": "UINT8", "data": [-1] }]),
                "is UINT8 but its element 0 is -1",
            ),
            (
                json!([{ "name": "age", "shape": [-1], "datatype": "FP64", "data": [1] }]),
                "negative dimension",
            ),
            (
                json!([{ "name": "age", "shape": [1], "datatype": "FP64" }]),
                "has no `data`",
            ),
            (
                json!([{ "name": "age", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6] }]),
                "one tensor per input column",
            ),
            (
                json!([{ "name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3] }]),
                "must hold the model's 2 inputs in order: age, plan",
            ),
            (
                json!([{ "name": "age", "shape": [2], "datatype": "FP64", "data": [1, 2] },
                    { "name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"] }]),
                "input `plan` has 1 rows, the others 2",
            ),
            (
                json!([{ "name": "age", "shape": [1], "datatype": "FP64", "data": [1] },
                    { "name": "age", "shape": [1], "datatype": "FP64", "data": [1] }]),
                "sent twice",
            ),
            (
                json!([{ "name": "age", "shape": [0], "datatype": "FP64", "data": [] }]),
                "no rows to score",
            ),
            (
                json!([{ "name": "age", "shape": [4_294_967_296_i64, 4_294_967_296_i64], "datatype": "FP64", "data": [] }]),
                "impossible shape",
            ),
            (json!([]), "has no inputs"),
            (json!("age"), "not an inference request"),
        ] {
            let f = rows(json!({ "inputs": inputs })).unwrap_err();
            assert_eq!(f.status, StatusCode::BAD_REQUEST, "{inputs}");
            assert!(f.message.contains(says), "{inputs}: {}", f.message);
        }
    }

    #[test]
    fn binary_tensor_data_follows_the_json_in_input_order() {
        let head = json!({ "inputs": [
            { "name": "age", "shape": [2], "datatype": "FP32", "parameters": { "binary_data_size": 8 } },
            { "name": "plan", "shape": [2], "datatype": "BYTES", "parameters": { "binary_data_size": 16 } }
        ] })
        .to_string();
        let mut body = head.clone().into_bytes();
        body.extend_from_slice(&41.5f32.to_le_bytes());
        body.extend_from_slice(&f32::NAN.to_le_bytes());
        for s in ["pro", "basic"] {
            body.extend_from_slice(&(s.len() as u32).to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_LENGTH, HeaderValue::from(head.len()));
        let r = InferRequest::decode(&headers, &Bytes::from(body.clone())).unwrap();
        let rows = r.records(&sig()).unwrap();
        assert_eq!(rows[0]["age"], json!(41.5));
        // A NaN is a missing value, as pandas reads it.
        assert_eq!(rows[1]["age"], Value::Null);
        assert_eq!(rows[1]["plan"], json!("basic"));
        // A header that claims more than the body, bytes no input claims, a cut string.
        for (length, extra, says) in [
            (body.len() + 1, 0, "Inference-Header-Content-Length"),
            (head.len(), 1, "1 bytes of binary tensor data"),
        ] {
            let mut b = body.clone();
            b.extend(std::iter::repeat_n(0u8, extra));
            let mut h = HeaderMap::new();
            h.insert(HEADER_LENGTH, HeaderValue::from(length));
            let f = InferRequest::decode(&h, &Bytes::from(b)).unwrap_err();
            assert!(f.message.contains(says), "{}", f.message);
        }
        let f = byte_strings("plan", &[5, 0, 0, 0, b'a']).unwrap_err();
        assert!(
            f.message.contains("ends inside an element"),
            "{}",
            f.message
        );
        let f = byte_strings("plan", &[1, 0, 0, 0, 0xff]).unwrap_err();
        assert!(f.message.contains("not UTF-8"), "{}", f.message);
    }

    #[test]
    fn every_fixed_width_datatype_reads_little_endian() {
        let read = |d: &str, bytes: &[u8]| {
            binary_elements("x", Datatype::parse(d).unwrap(), bytes).unwrap()
        };
        assert_eq!(read("BOOL", &[0, 1]), vec![json!(false), json!(true)]);
        assert_eq!(read("INT8", &[0xff]), vec![json!(-1)]);
        assert_eq!(read("INT16", &(-300i16).to_le_bytes()), vec![json!(-300)]);
        assert_eq!(
            read("INT32", &(-70_000i32).to_le_bytes()),
            vec![json!(-70_000)]
        );
        assert_eq!(
            read("INT64", &i64::MIN.to_le_bytes()),
            vec![json!(i64::MIN)]
        );
        assert_eq!(
            read("UINT16", &65_535u16.to_le_bytes()),
            vec![json!(65_535)]
        );
        assert_eq!(
            read("UINT64", &u64::MAX.to_le_bytes()),
            vec![json!(u64::MAX)]
        );
        assert_eq!(read("FP64", &0.1f64.to_le_bytes()), vec![json!(0.1)]);
        assert_eq!(read("BF16", &[0x80, 0x3f]), vec![json!(1.0)]);
        // Half precision: 1.0, -2.5, the largest (65504), the smallest subnormal, infinity.
        for (bits, want) in [
            (0x3c00u16, 1.0f32),
            (0xc100, -2.5),
            (0x7bff, 65504.0),
            (0x0001, 5.960_464_5e-8),
        ] {
            assert_eq!(f16_to_f32(bits), want, "{bits:#x}");
        }
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(read("FP16", &0x7e00u16.to_le_bytes()), vec![Value::Null]);
        let f = binary_elements("x", Datatype::Fp64, &[0; 7]).unwrap_err();
        assert!(
            f.message.contains("not a whole number of 8-byte elements"),
            "{}",
            f.message
        );
    }

    #[test]
    fn outputs_are_those_asked_for_binary_as_asked() {
        let all = vec!["prediction".to_string(), "proba_yes".into()];
        let r = decode(json!({ "inputs": [{ "name": "age", "shape": [1], "datatype": "FP64", "data": [1] }],
            "parameters": { "binary_data_output": true },
            "outputs": [{ "name": "proba_yes" }, { "name": "prediction", "parameters": { "binary_data": false } }] }))
        .unwrap();
        assert_eq!(
            r.wanted_outputs(all.clone()).unwrap(),
            vec![
                Wanted {
                    name: "proba_yes".into(),
                    binary: true
                },
                Wanted {
                    name: "prediction".into(),
                    binary: false
                }
            ]
        );
        let r = decode(
            json!({ "inputs": [{ "name": "age", "shape": [1], "datatype": "FP64", "data": [1] }],
            "outputs": [{ "name": "proba_no" }] }),
        )
        .unwrap();
        let f = r.wanted_outputs(all.clone()).unwrap_err();
        assert!(
            f.message
                .contains("unknown output `proba_no`; the model's outputs: prediction, proba_yes"),
            "{}",
            f.message
        );
        let r = decode(
            json!({ "inputs": [{ "name": "age", "shape": [1], "datatype": "FP64", "data": [1] }],
            "parameters": { "binary_data_output": "yes" } }),
        )
        .unwrap();
        assert!(r.wanted_outputs(all).is_err());
    }
}
