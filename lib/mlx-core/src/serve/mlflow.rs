//! MLflow's scoring API on `mlx-serve`, as `mlflow models serve` answers it: `GET
//! /ping` and `/health`, `GET /version`, and `POST /invocations` with a JSON body in
//! one of MLflow's four forms (`dataframe_split`, `dataframe_records`, `instances`,
//! `inputs`; `params` is accepted and not used) or a `text/csv` body with a header
//! row. The answer is `{"predictions": [...]}`, one value per row: the prediction (a
//! classifier's label), as a pyfunc model's `predict` returns it. Rows go through the
//! one scoring path of `/v1/predict` ([`super::http::serve_records`]); errors are
//! MLflow's `{"error_code", "message"}`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mlx_contracts::features::{InputColumn, InputKind};
use serde_json::{json, Map, Value};

use super::http::{authorize, parse_json, read_body, serve_records, App, Failure, Scoring};

/// The keys of a JSON body, one of which it must have.
const FORMS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// The routes of MLflow's scoring server.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/ping", get(ping))
        .route("/health", get(ping))
        .route("/version", get(|| async { env!("CARGO_PKG_VERSION") }))
        .route("/invocations", post(invocations))
}

/// MLflow's answer to a health check: 200 with a newline.
async fn ping() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "\n").into_response()
}

/// MLflow's error shape, with its error codes.
fn fail(f: Failure) -> Response {
    let (status, message) = f.plain();
    let code = match status {
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::REQUEST_TIMEOUT => "DEADLINE_EXCEEDED",
        StatusCode::PAYLOAD_TOO_LARGE => "RESOURCE_EXHAUSTED",
        StatusCode::NOT_FOUND => "ENDPOINT_NOT_FOUND",
        s if s.is_server_error() => "INTERNAL_ERROR",
        _ => "BAD_REQUEST",
    };
    (
        status,
        Json(json!({ "error_code": code, "message": message })),
    )
        .into_response()
}

async fn invocations(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let answer = async {
        authorize(&app, &parts.headers)?;
        let routing = app.current.get();
        let inputs = &routing.live.scorer.bundle.manifest.signature.inputs;
        let csv = is_csv(&parts.headers)?;
        let bytes = read_body(&app, body).await?;
        let records = if csv {
            csv_records(&bytes, inputs)?
        } else {
            json_records(parse_json(&bytes)?, inputs)?
        };
        let scoring = Scoring {
            routing: Some(routing.clone()),
            ..Scoring::default()
        };
        serve_records(&app, &parts.headers, records, scoring).await
    }
    .await;
    match answer {
        Ok(served) => {
            app.count(started, StatusCode::OK, &served.version);
            let predictions: Vec<Value> = served
                .answers
                .into_iter()
                .map(|mut a| a.output.remove("prediction").unwrap_or(Value::Null))
                .collect();
            Json(json!({ "predictions": predictions })).into_response()
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

/// Whether the body is CSV (`text/csv`) or JSON (`application/json`, the default when
/// no type is sent); other types, other charsets than UTF-8 and other parameters are
/// refused with 415, as MLflow refuses them.
fn is_csv(headers: &HeaderMap) -> Result<bool, Failure> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(false);
    };
    let refuse = |why: String| Failure::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, why);
    let text = value
        .to_str()
        .map_err(|_| refuse("the Content-Type header is not text".into()))?;
    let mut parts = text.split(';').map(str::trim);
    let mime = parts.next().unwrap_or_default().to_ascii_lowercase();
    for p in parts.filter(|p| !p.is_empty()) {
        match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                if !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8") {
                    return Err(refuse(format!(
                        "the scoring server only reads UTF-8; got `{text}`"
                    )));
                }
            }
            _ => {
                return Err(refuse(format!(
                    "unknown Content-Type parameter in `{text}`"
                )))
            }
        }
    }
    match mime.as_str() {
        "application/json" => Ok(false),
        "text/csv" => Ok(true),
        _ => Err(refuse(format!(
            "this server reads application/json and text/csv bodies, got `{text}`"
        ))),
    }
}

/// The rows of a JSON body in one of MLflow's four forms.
fn json_records(body: Value, inputs: &[InputColumn]) -> Result<Vec<Map<String, Value>>, Failure> {
    let Value::Object(mut body) = body else {
        return Err(Failure::bad(format!(
            "the body must be a JSON object with one of the keys {}",
            FORMS.join(", ")
        )));
    };
    let given: Vec<&str> = FORMS
        .into_iter()
        .filter(|k| body.contains_key(*k))
        .collect();
    let [form] = given.as_slice() else {
        let keys: Vec<&String> = body.keys().collect();
        return Err(Failure::bad(format!(
            "the body must have exactly one of the keys {}; it has {keys:?}",
            FORMS.join(", ")
        )));
    };
    let data = body.remove(*form).expect("present");
    let rows = match *form {
        "dataframe_split" => split(data)?,
        "dataframe_records" => match data {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| row_of(v, i, inputs, false))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(Failure::bad(
                    "`dataframe_records` must be a list of objects",
                ))
            }
        },
        // TensorFlow Serving's forms: a list of rows (objects, or values in the
        // signature's order), or `inputs` as named columns.
        _ => match data {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| row_of(v, i, inputs, true))
                .collect::<Result<_, _>>()?,
            // `inputs` as columns: `{"age": [41, 35], "plan": ["pro", "basic"]}`, read
            // as /v1/predict reads `columns`.
            Value::Object(columns) if *form == "inputs" => {
                crate::model::scorer::columnar(Value::Object(columns))
                    .map_err(|m| Failure::bad(format!("`inputs`: {m}")))?
            }
            _ => {
                return Err(Failure::bad(format!(
                    "`{form}` must be a list of rows{}",
                    if *form == "inputs" {
                        ", or an object of columns"
                    } else {
                        ""
                    }
                )))
            }
        },
    };
    if rows.is_empty() {
        return Err(Failure::bad("there are no rows to score"));
    }
    Ok(rows)
}

/// One row: an object, or (`positional`) a list of values in the signature's order.
fn row_of(
    v: Value,
    i: usize,
    inputs: &[InputColumn],
    positional: bool,
) -> Result<Map<String, Value>, Failure> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Array(values) if positional => {
            if values.len() != inputs.len() {
                return Err(Failure::bad(format!(
                    "row {i} has {} values; a row given as a list holds the model's {} inputs in order: {}",
                    values.len(),
                    inputs.len(),
                    names(inputs)
                )));
            }
            Ok(inputs.iter().map(|c| c.name.clone()).zip(values).collect())
        }
        other => Err(Failure::bad(format!(
            "row {i} must be an object of column values{}, got {other}",
            if positional { " or a list of them" } else { "" }
        ))),
    }
}

fn names(inputs: &[InputColumn]) -> String {
    inputs
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// pandas' `split` orient: `{"columns": [...], "data": [[...], ...]}` (`index` is
/// ignored).
fn split(data: Value) -> Result<Vec<Map<String, Value>>, Failure> {
    let shape = "`dataframe_split` must be {\"columns\": [names], \"data\": [[row], ...]}";
    let Value::Object(mut o) = data else {
        return Err(Failure::bad(shape));
    };
    let columns: Vec<String> = match o.remove("columns") {
        Some(Value::Array(c)) => c
            .into_iter()
            .map(|c| match c {
                Value::String(s) => Ok(s),
                other => Err(Failure::bad(format!(
                    "`dataframe_split.columns` must be names, got {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(Failure::bad(shape)),
    };
    let Some(Value::Array(data)) = o.remove("data") else {
        return Err(Failure::bad(shape));
    };
    data.into_iter()
        .enumerate()
        .map(|(i, row)| match row {
            Value::Array(values) if values.len() == columns.len() => {
                Ok(columns.iter().cloned().zip(values).collect())
            }
            Value::Array(values) => Err(Failure::bad(format!(
                "`dataframe_split.data` row {i} has {} values for {} columns",
                values.len(),
                columns.len()
            ))),
            other => Err(Failure::bad(format!(
                "`dataframe_split.data` row {i} must be a list, got {other}"
            ))),
        })
        .collect()
}

/// The rows of a CSV body with a header row (pandas' `to_csv(index=False)`): an
/// empty field is missing, a numeric input's field a number.
fn csv_records(bytes: &[u8], inputs: &[InputColumn]) -> Result<Vec<Map<String, Value>>, Failure> {
    let bad = |e: csv::Error| Failure::bad(format!("the body is not valid CSV: {e}"));
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(bad)?
        .iter()
        .map(str::to_owned)
        .collect();
    let numeric: Vec<bool> = header
        .iter()
        .map(|h| {
            inputs
                .iter()
                .any(|c| &c.name == h && c.kind == InputKind::Numeric)
        })
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(bad)?;
        rows.push(
            header
                .iter()
                .zip(&numeric)
                .zip(record.iter())
                .map(|((name, &numeric), field)| {
                    let v = if field.is_empty() {
                        Value::Null
                    } else if let Some(x) = numeric
                        .then(|| crate::model::transform::parse_finite(field))
                        .flatten()
                    {
                        json!(x)
                    } else {
                        Value::String(field.to_owned())
                    };
                    (name.clone(), v)
                })
                .collect(),
        );
    }
    if rows.is_empty() {
        return Err(Failure::bad(
            "the CSV body has a header but no rows to score",
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<InputColumn> {
        serde_json::from_value(json!([
            { "name": "age", "kind": "numeric" },
            { "name": "plan", "kind": "categorical" }
        ]))
        .unwrap()
    }

    fn rows(body: Value) -> Result<Vec<Map<String, Value>>, Failure> {
        json_records(body, &inputs())
    }

    #[test]
    fn the_four_json_forms_give_the_same_rows() {
        let want = vec![
            json!({ "age": 41, "plan": "pro" })
                .as_object()
                .unwrap()
                .clone(),
            json!({ "age": 35, "plan": "basic" })
                .as_object()
                .unwrap()
                .clone(),
        ];
        let split = json!({ "dataframe_split": { "columns": ["age", "plan"], "index": [0, 1],
            "data": [[41, "pro"], [35, "basic"]] } });
        let records = json!({ "dataframe_records": [{ "age": 41, "plan": "pro" }, { "age": 35, "plan": "basic" }] });
        let instances =
            json!({ "instances": [{ "age": 41, "plan": "pro" }, { "age": 35, "plan": "basic" }] });
        let positional = json!({ "instances": [[41, "pro"], [35, "basic"]], "params": { "x": 1 } });
        let inputs = json!({ "inputs": { "age": [41, 35], "plan": ["pro", "basic"] } });
        for body in [split, records, instances, positional, inputs] {
            assert_eq!(rows(body.clone()).unwrap(), want, "{body}");
        }
    }

    #[test]
    fn a_malformed_body_is_a_bad_request_that_says_what_is_expected() {
        for (body, says) in [
            (json!([1, 2]), "must be a JSON object"),
            (json!({ "data": [] }), "exactly one of the keys"),
            (
                json!({ "instances": [], "inputs": [] }),
                "exactly one of the keys",
            ),
            (
                json!({ "dataframe_split": { "columns": ["age"], "data": [[1, 2]] } }),
                "row 0 has 2 values for 1 columns",
            ),
            (json!({ "dataframe_split": [] }), "must be {\"columns\""),
            (
                json!({ "dataframe_records": [1] }),
                "row 0 must be an object",
            ),
            (
                json!({ "instances": [[1]] }),
                "holds the model's 2 inputs in order: age, plan",
            ),
            (
                json!({ "inputs": { "age": [1, 2], "plan": ["a"] } }),
                "must be equally long",
            ),
            (json!({ "instances": {} }), "must be a list of rows"),
            (json!({ "dataframe_records": [] }), "no rows to score"),
        ] {
            let f = rows(body.clone()).unwrap_err();
            assert_eq!(f.status, StatusCode::BAD_REQUEST, "{body}");
            assert!(f.message.contains(says), "{body}: {}", f.message);
        }
    }

    #[test]
    fn csv_fields_are_numbers_for_numeric_inputs_and_empty_is_missing() {
        let rows = csv_records(b"age,plan\n41,pro\n,007\n", &inputs()).unwrap();
        assert_eq!(rows[0]["age"], json!(41.0));
        assert_eq!(rows[0]["plan"], json!("pro"));
        assert_eq!(rows[1]["age"], Value::Null);
        // A category that looks like a number stays text, as training read it.
        assert_eq!(rows[1]["plan"], json!("007"));
        let f = csv_records(b"age,plan\n41\n", &inputs()).unwrap_err();
        assert!(f.message.contains("not valid CSV"), "{}", f.message);
        let f = csv_records(b"age,plan\n", &inputs()).unwrap_err();
        assert!(f.message.contains("no rows"), "{}", f.message);
    }

    #[test]
    fn content_types_other_than_json_and_csv_in_utf8_are_refused() {
        let with = |t: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, t.parse().unwrap());
            is_csv(&h)
        };
        assert_eq!(is_csv(&HeaderMap::new()), Ok(false));
        assert_eq!(with("application/json"), Ok(false));
        assert_eq!(with("application/json; charset=UTF-8"), Ok(false));
        assert_eq!(with("text/csv"), Ok(true));
        for t in [
            "text/plain",
            "text/csv; charset=latin-1",
            "application/json; format=pandas-split",
        ] {
            assert_eq!(
                with(t).unwrap_err().status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{t}"
            );
        }
    }
}
