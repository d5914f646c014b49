//! `mlx-serve` over real HTTP on loopback: predictions identical to the batch path,
//! signature checks that answer 4xx naming the field, Prometheus metrics, feedback and
//! the prediction log, bearer tokens, and the registry's deployment state (blue-green
//! switch, sticky canary, shadow) followed without a restart.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlx_contracts::serve::PredictionRecord;
use mlx_testkit::Sandbox;
use serde_json::{json, Value};

const CONFIG: &str = "\
project: { name: churn }
data:
  sources: [{ name: customers, uri: customers.csv }]
  target: churned
  entity_columns: [customer_id]
features:
  derived:
    - { name: income_per_year, kind: expr, expr: income / (tenure_months / 12 + 1) }
  transforms:
    - { kind: encode, strategy: onehot, columns: [plan] }
    - { kind: scale, strategy: zscore }
split: { strategy: stratified, train: 0.7, validation: 0.15, test: 0.15 }
pipeline: { problem_type: classification }
models:
  - { name: logistic, type: logistic, params: { C: 1.0 } }
evaluation: { primary_metric: f1_score, threshold: 0.5 }
explain: { enabled: false }
approval_gate: { auto_approve: true, require_human_review: false, regression_tolerance: 0.5 }
registry: { promote_to: production, require_staging: false }
deploy: { poll_seconds: 1, sticky_key: customer_id }
";

fn mlx(dir: &Path, bin: &str) -> Command {
    let mut c = mlx_testkit::std_command(bin);
    c.current_dir(dir).env("MLX_ACTOR", "ci");
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project with version 1 in production.
fn project() -> Sandbox {
    let s = Sandbox::churn(CONFIG);
    ok(mlx(s.path(), "mlx").arg("run"));
    s
}

/// A second version (smaller C), promoted as the pipeline's config says.
fn second_version(s: &Sandbox, to_production: bool) {
    let mut text = s.read("mlx.yaml").replace("C: 1.0", "C: 0.3");
    if !to_production {
        text = text.replace("promote_to: production", "promote_to: none");
    }
    s.write("mlx.yaml", &text);
    ok(mlx(s.path(), "mlx").arg("run"));
}

struct Server {
    child: Child,
    url: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(dir: &Path, args: &[&str], token: Option<&str>) -> Self {
        let mut c = mlx(dir, "mlx-serve");
        c.args(["--port", "0"]).args(args).stderr(Stdio::piped());
        if let Some(t) = token {
            c.env("MLX_SERVE_TOKEN", t);
        }
        let mut child = c.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        // Keep draining, so a chatty server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Self {
            child,
            url,
            // A fresh connection per request: a server that answers 413 before reading
            // the whole body closes the connection, and a pooled one would be stale.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// Sends a request and waits for its status and body.
    fn send(&self, request: reqwest::RequestBuilder) -> (u16, String) {
        self.rt.block_on(async {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let (status, text) = self.send(
            self.http
                .post(format!("{}{path}", self.url))
                .body(body.to_string()),
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> String {
        self.send(self.http.get(format!("{}{path}", self.url))).1
    }

    fn stop(mut self) {
        // SIGTERM: a graceful stop that flushes the prediction log.
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Server {
    /// A test that fails before `stop` still ends its server: a server left running
    /// would keep the test harness's output open.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn customers(s: &Sandbox, n: usize) -> Vec<Value> {
    let text = s.read("customers.csv");
    text.lines()
        .skip(1)
        .take(n)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            json!({
                "customer_id": f[0].parse::<i64>().unwrap(),
                "age": f[1].parse::<f64>().unwrap(),
                "tenure_months": f[2].parse::<f64>().unwrap(),
                "income": f[3].parse::<f64>().unwrap(),
                "plan": f[4],
            })
        })
        .collect()
}

fn log_records(dir: &Path) -> Vec<PredictionRecord> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join(".mlx/predictions")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("predictions-")
        {
            for l in std::fs::read_to_string(&p).unwrap().lines() {
                out.push(serde_json::from_str(l).unwrap());
            }
        }
    }
    out
}

#[test]
fn predictions_match_the_batch_path_and_bad_requests_are_named() {
    let s = project();
    let d = s.path();
    let rows = customers(&s, 40);
    let server = Server::start(d, &[], None);
    let (status, body) = server.post("/v1/predict", &json!({ "records": rows }).to_string());
    assert_eq!(status, 200, "{body}");
    let online = body["predictions"].as_array().unwrap().clone();
    // Columnar input gives the same answers.
    let mut columns = serde_json::Map::new();
    for k in ["customer_id", "age", "tenure_months", "income", "plan"] {
        columns.insert(
            k.into(),
            Value::Array(rows.iter().map(|r| r[k].clone()).collect()),
        );
    }
    let (_, col) = server.post("/v1/predict", &json!({ "columns": columns }).to_string());
    for (a, b) in online.iter().zip(col["predictions"].as_array().unwrap()) {
        assert_eq!(a["proba_yes"], b["proba_yes"]);
    }

    // The batch path (polars preprocessing on a frame) scores the same 40 rows.
    let csv: String = s
        .read("customers.csv")
        .lines()
        .take(41)
        .map(|l| format!("{l}\n"))
        .collect();
    s.write("batch.csv", &csv);
    ok(mlx(d, "mlx-serve").args(["batch", "--input", "batch.csv", "--output", "scored.csv"]));
    let scored = s.read("scored.csv");
    let header: Vec<&str> = scored.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (line, p) in scored.lines().skip(1).zip(&online) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[at("prediction")], p["prediction"].as_str().unwrap());
        let batch: f64 = f[at("proba_yes")].parse().unwrap();
        let served = p["proba_yes"].as_f64().unwrap();
        assert!(
            (batch - served).abs() <= 1e-12 * served.abs().max(1.0),
            "{batch} vs {served}"
        );
    }

    // Mistakes: 4xx with a JSON error naming the field; never a 500.
    let mut missing = rows[0].clone();
    missing.as_object_mut().unwrap().remove("age");
    let (status, e) = server.post("/v1/predict", &json!({ "records": [missing] }).to_string());
    assert_eq!((status, e["field"].as_str()), (422, Some("age")), "{e}");
    let mut wrong = rows[0].clone();
    wrong["income"] = json!("lots");
    let (status, e) = server.post("/v1/predict", &json!([rows[1], wrong]).to_string());
    assert_eq!(
        (status, e["field"].as_str(), e["record"].as_u64()),
        (422, Some("income"), Some(1)),
        "{e}"
    );
    assert!(e["error"].as_str().unwrap().contains("must be a number"));
    // A one-record body names record 0 too; text that is no finite number is refused
    // as the JSON literals would be.
    for text in ["inf", "-Infinity", "NaN", "1e400"] {
        let mut odd = rows[0].clone();
        odd["income"] = json!(text);
        let (status, e) = server.post("/v1/predict", &json!({ "records": [odd] }).to_string());
        assert_eq!(
            (status, e["field"].as_str(), e["record"].as_u64()),
            (422, Some("income"), Some(0)),
            "{text}: {e}"
        );
        assert!(e["error"].as_str().unwrap().contains("finite"), "{e}");
    }
    let (status, _) = server.post("/v1/predict", "{\"records\": [");
    assert_eq!(status, 400);
    let (status, e) = server.post("/v1/predict", &"x".repeat(2 << 20));
    assert_eq!(status, 413, "{e}");
    let (status, _) = server.post("/v1/nowhere", "{}");
    assert_eq!(status, 404);
    // An unseen plan goes to the unknown bucket, is answered, and is counted.
    let mut gold = rows[2].clone();
    gold["plan"] = json!("gold");
    let (status, body) = server.post("/v1/predict", &json!([gold]).to_string());
    assert_eq!(status, 200);
    assert_eq!(body["unknown_categories"]["plan"], 1);
    let metrics = server.get("/metrics");
    assert!(
        metrics.contains("mlx_unknown_categories_total{column=\"plan\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mlx_requests_total{status=\"422\",version=\"none\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mlx_requests_total{status=\"200\",version=\"v1\"} 3"),
        "{metrics}"
    );
    let models: Value = serde_json::from_str(&server.get("/v1/models")).unwrap();
    assert_eq!(models["models"][0]["version"], 1);
    assert_eq!(
        models["models"][0]["training_data_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let openapi: Value = serde_json::from_str(&server.get("/openapi.json")).unwrap();
    assert!(openapi["paths"]["/v1/predict"]["post"].is_object());

    // Feedback by request id, and the log of every prediction.
    let id = online[0]["request_id"].as_str().unwrap();
    let (status, _) = server.post(
        "/v1/feedback",
        &json!({ "request_id": id, "actual": "yes" }).to_string(),
    );
    assert_eq!(status, 202);
    let (status, e) = server.post("/v1/feedback", &json!({ "actual": "yes" }).to_string());
    assert_eq!((status, e["field"].as_str()), (422, Some("request_id")));
    server.stop();
    let logged = log_records(d);
    assert_eq!(logged.len(), 40 + 40 + 1);
    let first = logged.iter().find(|r| r.request_id == id).unwrap();
    assert_eq!(first.output["proba_yes"], online[0]["proba_yes"]);
    assert_eq!(first.features["income_per_year"].as_f64().unwrap(), {
        let r = &rows[0];
        r["income"].as_f64().unwrap() / (r["tenure_months"].as_f64().unwrap() / 12.0 + 1.0)
    });
}

#[test]
fn a_bearer_token_guards_the_api() {
    let s = project();
    let server = Server::start(s.path(), &[], Some("s3cret"));
    let rows = customers(&s, 1);
    let (status, _) = server.post("/v1/predict", &json!(rows).to_string());
    assert_eq!(status, 401);
    let (status, _) = server.send(
        server
            .http
            .post(format!("{}/v1/predict", server.url))
            .bearer_auth("s3cret")
            .body(json!(rows).to_string()),
    );
    assert_eq!(status, 200);
    assert_eq!(server.get("/healthz"), "{\"status\":\"ok\"}");
    // The other protocols' scoring and model endpoints need it too, each answering in
    // its own error shape; their health checks answer anyone.
    let (status, e) = server.post("/v2/models/churn/infer", &v2_body(&rows).to_string());
    assert_eq!((status, e["error"].is_string()), (401, true), "{e}");
    let (status, e) = server.post("/invocations", &json!({ "instances": rows }).to_string());
    assert_eq!(
        (status, e["error_code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{e}"
    );
    let (status, _) = server.send(server.http.get(format!("{}/v2/models/churn", server.url)));
    assert_eq!(status, 401);
    assert_eq!(server.get("/v2/health/live"), "{\"live\":true}");
    assert_eq!(server.get("/ping"), "\n");
    server.stop();
}

/// The rows as an Open Inference Protocol request: one tensor per column, the
/// customer id (the canary's sticky key) riding along.
fn v2_body(rows: &[Value]) -> Value {
    let tensor = |name: &str, datatype: &str| {
        json!({
            "name": name,
            "shape": [rows.len()],
            "datatype": datatype,
            "data": rows.iter().map(|r| r[name].clone()).collect::<Vec<_>>(),
        })
    };
    json!({ "inputs": [
        tensor("customer_id", "INT64"),
        tensor("age", "FP64"),
        tensor("tenure_months", "FP64"),
        tensor("income", "FP64"),
        tensor("plan", "BYTES"),
    ] })
}

/// The data of an output tensor of a V2 answer.
fn v2_output<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name} in {answer}"))
}

/// The Open Inference Protocol's health, server and model metadata and readiness:
/// the model's inputs and outputs are its signature's. Returns the inputs.
fn v2_metadata_describes_the_signature(server: &Server) -> Vec<(Value, &'static str)> {
    // Health, the server's and the model's metadata, readiness.
    assert_eq!(server.get("/v2/health/ready"), "{\"ready\":true}");
    let meta: Value = serde_json::from_str(&server.get("/v2")).unwrap();
    assert_eq!(meta["extensions"], json!(["binary_tensor_data"]), "{meta}");
    let model: Value = serde_json::from_str(&server.get("/v2/models/churn")).unwrap();
    let models: Value = serde_json::from_str(&server.get("/v1/models")).unwrap();
    let signature = &models["models"][0]["signature"];
    assert_eq!(
        (&model["name"], &model["versions"]),
        (&json!("churn"), &json!(["1"]))
    );
    let inputs: Vec<(Value, &'static str)> = signature["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].clone(),
                if i["kind"] == "numeric" {
                    "FP64"
                } else {
                    "BYTES"
                },
            )
        })
        .collect();
    let described: Vec<(Value, &str)> = model["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].clone(), i["datatype"].as_str().unwrap()))
        .collect();
    assert_eq!(described, inputs, "{model}");
    let outputs: Vec<(&str, &str)> = model["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["datatype"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outputs,
        [
            ("prediction", "BYTES"),
            ("proba_no", "FP64"),
            ("proba_yes", "FP64"),
            ("model_version", "INT64")
        ],
        "{model}"
    );
    assert_eq!(
        server.get("/v2/models/churn/versions/1/ready"),
        "{\"name\":\"churn\",\"ready\":true}"
    );
    let (status, _) = server.send(
        server
            .http
            .get(format!("{}/v2/models/nope/ready", server.url)),
    );
    assert_eq!(status, 404);

    inputs
}

/// Mistakes in Open Inference Protocol requests: a 4xx in the protocol's shape,
/// naming what is wrong.
fn v2_mistakes_are_named(server: &Server, rows: &[Value]) {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = v2_body(rows);
        f(&mut b);
        b.to_string()
    };
    for (path, body, status, says) in [
        (
            "/v2/models/churn/infer",
            with(&|b| {
                b["inputs"].as_array_mut().unwrap().remove(1);
            }),
            400,
            "`age` is missing (row 0)",
        ),
        (
            "/v2/models/churn/infer",
            with(&|b| {
                b["inputs"][1]["datatype"] = json!("BYTES");
                b["inputs"][1]["data"] = json!(vec!["41"; 25]);
            }),
            400,
            "input `age` is numeric",
        ),
        (
            "/v2/models/churn/infer",
            with(&|b| b["inputs"][1]["shape"] = json!([26])),
            400,
            "its shape [26] needs 26",
        ),
        (
            "/v2/models/churn/infer",
            with(&|b| b["inputs"][1]["data"][3] = json!("x")),
            400,
            "input `age` is FP64 but its element 3 is \"x\"",
        ),
        (
            "/v2/models/churn/infer",
            with(&|b| b["outputs"] = json!([{ "name": "score" }])),
            400,
            "unknown output `score`",
        ),
        (
            "/v2/models/churn/versions/9/infer",
            v2_body(rows).to_string(),
            404,
            "version `9` of `churn` is not served here; served: 1",
        ),
        (
            "/v2/models/other/infer",
            v2_body(rows).to_string(),
            404,
            "no model `other` is served here; this server serves `churn`",
        ),
        ("/v2/models/churn/infer", "{".into(), 400, "not valid JSON"),
    ] {
        let (got, e) = server.post(path, &body);
        assert_eq!(got, status, "{path} {e}");
        assert_eq!(e.as_object().unwrap().len(), 1, "only `error`: {e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{e}");
    }
}

#[test]
fn the_open_inference_protocol_answers_as_v1_does() {
    let s = project();
    let d = s.path();
    let rows = customers(&s, 25);
    let server = Server::start(d, &[], None);
    let (_, v1) = server.post("/v1/predict", &json!(rows).to_string());
    let v1 = v1["predictions"].as_array().unwrap().clone();
    let column = |k: &str| v1.iter().map(|p| p[k].clone()).collect::<Vec<_>>();

    let inputs = v2_metadata_describes_the_signature(&server);

    // Inference: the answers of /v1, value for value, through the deployment's routing
    // or the version named in the path.
    let mut body = v2_body(&rows);
    body["id"] = json!("req-7");
    for path in [
        "/v2/models/churn/infer",
        "/v2/models/churn/versions/1/infer",
    ] {
        let (status, out) = server.post(path, &body.to_string());
        assert_eq!(status, 200, "{out}");
        assert_eq!(
            (&out["model_name"], &out["model_version"], &out["id"]),
            (&json!("churn"), &json!("1"), &json!("req-7"))
        );
        for name in ["prediction", "proba_yes", "proba_no"] {
            let o = v2_output(&out, name);
            assert_eq!(o["shape"], json!([25]));
            assert_eq!(o["data"], Value::Array(column(name)), "{name}");
        }
        assert_eq!(
            v2_output(&out, "model_version")["data"],
            Value::Array(vec![json!(1); 25])
        );
    }
    // Outputs chosen by name; one [rows, inputs] tensor in the signature's order.
    let mut some = v2_body(&rows);
    some["outputs"] = json!([{ "name": "proba_yes" }]);
    let (_, out) = server.post("/v2/models/churn/infer", &some.to_string());
    assert_eq!(out["outputs"].as_array().unwrap().len(), 1, "{out}");
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str().unwrap()).collect();
    let derived = |r: &Value| {
        r["income"].as_f64().unwrap() / (r["tenure_months"].as_f64().unwrap() / 12.0 + 1.0)
    };
    let flat: Vec<Value> = rows
        .iter()
        .flat_map(|r| {
            names.iter().map(move |n| match *n {
                "income_per_year" => json!(derived(r)),
                "plan" => r[*n].clone(),
                _ => json!(r[*n].as_f64().unwrap().to_string()),
            })
        })
        .collect();
    let matrix = json!({ "inputs": [{ "name": "input-0", "shape": [25, names.len()], "datatype": "BYTES",
        "data": flat.iter().map(|v| Value::String(v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect::<Vec<_>>() }] });
    let (status, out) = server.post("/v2/models/churn/infer", &matrix.to_string());
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        v2_output(&out, "prediction")["data"],
        Value::Array(column("prediction"))
    );

    v2_mistakes_are_named(&server, &rows);
    let metrics = server.get("/metrics");
    assert!(
        metrics.contains("mlx_requests_total{status=\"200\",version=\"v1\"} 5"),
        "{metrics}"
    );
    // Requests are counted under the status they were answered with: V2 answers a
    // signature mismatch 400, not /v1's 422.
    assert!(
        metrics.contains("mlx_requests_total{status=\"400\",version=\"none\"} 6")
            && !metrics.contains("status=\"422\""),
        "{metrics}"
    );
    server.stop();
    // Every row answered is in the prediction log under its request id and version.
    let logged = log_records(d);
    let req7: Vec<_> = logged
        .iter()
        .filter(|r| r.request_id.starts_with("req-7"))
        .collect();
    assert_eq!(req7.len(), 2 * 25);
    assert!(req7
        .iter()
        .all(|r| r.version == Some(1) && r.variant == "live"));
    assert!(req7.iter().any(|r| r.request_id == "req-7#24"));
}

#[test]
fn mlflows_scoring_api_answers_as_v1_does() {
    let s = project();
    let rows = customers(&s, 25);
    let server = Server::start(s.path(), &[], None);
    let (_, v1) = server.post("/v1/predict", &json!(rows).to_string());
    let labels: Vec<Value> = v1["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prediction"].clone())
        .collect();
    let want = json!({ "predictions": labels });
    assert_eq!(server.get("/ping"), "\n");
    assert_eq!(server.get("/health"), "\n");

    let columns = ["customer_id", "age", "tenure_months", "income", "plan"];
    let table: Vec<Value> = rows
        .iter()
        .map(|r| Value::Array(columns.iter().map(|c| r[*c].clone()).collect()))
        .collect();
    let by_column: serde_json::Map<String, Value> = columns
        .iter()
        .map(|c| {
            (
                c.to_string(),
                Value::Array(rows.iter().map(|r| r[*c].clone()).collect()),
            )
        })
        .collect();
    for body in [
        json!({ "dataframe_split": { "columns": columns, "data": table } }),
        json!({ "dataframe_records": rows }),
        json!({ "instances": rows, "params": { "unused": 1 } }),
        json!({ "inputs": by_column }),
    ] {
        let (status, out) = server.post("/invocations", &body.to_string());
        assert_eq!((status, &out), (200, &want), "{body}");
    }
    // pandas' to_csv(index=False): a header row, then the rows.
    let csv: String = s
        .read("customers.csv")
        .lines()
        .take(26)
        .map(|l| format!("{l}\n"))
        .collect();
    let (status, text) = server.send(
        server
            .http
            .post(format!("{}/invocations", server.url))
            .header("content-type", "text/csv; charset=utf-8")
            .body(csv),
    );
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()),
        (200, want)
    );

    let mut missing = rows[3].clone();
    missing.as_object_mut().unwrap().remove("age");
    for (content_type, body, status, says) in [
        (
            "application/json",
            json!({ "data": [] }).to_string(),
            400,
            "exactly one of the keys",
        ),
        (
            "application/json",
            json!({ "dataframe_records": [rows[0], missing] }).to_string(),
            400,
            "`age` is missing (row 1)",
        ),
        ("application/json", "[".into(), 400, "not valid JSON"),
        (
            "text/plain",
            "age\n1\n".into(),
            415,
            "reads application/json and text/csv",
        ),
    ] {
        let (got, text) = server.send(
            server
                .http
                .post(format!("{}/invocations", server.url))
                .header("content-type", content_type)
                .body(body.clone()),
        );
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(got, status, "{body}: {e}");
        assert_eq!(e["error_code"], "BAD_REQUEST", "{e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
    }
    server.stop();
}

/// Hostile and mistaken requests to the other protocols (tests/hostile/serve/
/// protocols.txt) each get a 4xx in their protocol's error shape that says what is
/// wrong: never a 500, never a bare text.
#[test]
fn bad_protocol_requests_are_answered_in_each_protocols_error_shape() {
    let s = project();
    let server = Server::start(s.path(), &[], None);
    let corpus =
        std::fs::read_to_string(mlx_testkit::root().join("tests/hostile/serve/protocols.txt"))
            .unwrap();
    let mut n = 0;
    for line in corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (request, expect) = line.rsplit_once(" => ").unwrap();
        let (status, says) = expect.split_once(' ').unwrap();
        let mut parts = request.splitn(4, ' ');
        let (method, path, content_type, body) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let url = format!("{}{path}", server.url);
        let request = match method {
            "GET" => server.http.get(url),
            _ => server
                .http
                .post(url)
                .header("content-type", content_type)
                .body(body.replace("\\n", "\n")),
        };
        let (got, text) = server.send(request);
        assert_eq!(got, status.parse::<u16>().unwrap(), "{line}: {text}");
        assert!(
            !text.contains("__mlx"),
            "{line}: an internal name leaks: {text}"
        );
        let e: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{line}: {text}"));
        let message = if path.starts_with("/v2") {
            assert_eq!(e.as_object().unwrap().len(), 1, "{line}: {e}");
            &e["error"]
        } else {
            assert!(e["error_code"].is_string(), "{line}: {e}");
            &e["message"]
        };
        assert!(message.as_str().unwrap().contains(says), "{line}: {e}");
        n += 1;
    }
    assert!(n >= 20, "the corpus has {n} requests");
    server.stop();
}

/// Triton's client and MLflow's client and helpers (tests/clients/protocols.py) get the
/// answers /v1/predict gives, over every form they write.
#[test]
#[ignore = "needs tritonclient and mlflow: tests/services/clients.sh (tests/run.sh sources it)"]
fn real_clients_of_both_protocols_get_the_answers_of_v1() {
    let python = std::env::var("MLX_TEST_CLIENTS_PYTHON")
        .expect("MLX_TEST_CLIENTS_PYTHON: source tests/services/clients.sh");
    let s = project();
    let rows = customers(&s, 30);
    let server = Server::start(s.path(), &[], None);
    let (_, v1) = server.post("/v1/predict", &json!(rows).to_string());
    let v1 = v1["predictions"].as_array().unwrap().clone();
    let column = |k: &str| v1.iter().map(|p| p[k].clone()).collect::<Vec<_>>();
    let models: Value = serde_json::from_str(&server.get("/v1/models")).unwrap();
    let signature: Vec<&str> = models["models"][0]["signature"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    s.write("rows.json", &json!(rows).to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/protocols.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&server.url)
        .arg("churn")
        .arg(s.path().join("rows.json"))
        .arg(signature.join(","))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["live", "ready", "model_ready"] {
        assert_eq!(got[k], true, "{k}: {got}");
    }
    assert_eq!(got["metadata"]["name"], "churn");
    assert_eq!(got["binary_version"], "1");
    // Binary tensor data both ways: doubles bit for bit, labels as text.
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    for name in ["proba_no", "proba_yes"] {
        assert_eq!(
            floats(&got["binary"][name]),
            floats(&Value::Array(column(name))),
            "{name}"
        );
        assert_eq!(
            got["binary"]["model_version"],
            Value::Array(vec![json!(1); 30])
        );
    }
    assert_eq!(
        got["binary"]["prediction"],
        Value::Array(column("prediction"))
    );
    assert_eq!(got["chosen"].as_object().unwrap().len(), 2, "{got}");
    assert_eq!(
        floats(&got["chosen"]["proba_yes"]),
        floats(&Value::Array(column("proba_yes")))
    );
    assert_eq!(
        got["chosen"]["prediction"],
        Value::Array(column("prediction"))
    );
    assert_eq!(got["wrong_datatype"]["status"], "400", "{got}");
    assert!(
        got["wrong_datatype"]["message"]
            .as_str()
            .unwrap()
            .contains("input `age` is numeric"),
        "{got}"
    );
    // Every payload MLflow's client and helpers write.
    for form in [
        "mlflow_client",
        "dataframe_split",
        "inputs_columns",
        "inputs_records",
        "inputs_ndarray",
        "dataframe_records",
        "instances",
        "csv",
    ] {
        assert_eq!(
            got[form],
            Value::Array(column("prediction")),
            "{form}: {got}"
        );
    }
    server.stop();
}

fn wait_for(server: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let v: Value = serde_json::from_str(&server.get("/v1/models")).unwrap();
        if ok(&v) {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{what}: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_server_follows_the_registry_blue_green_canary_and_shadow() {
    let s = project();
    let d = s.path();
    let server = Server::start(d, &[], None);
    let rows = customers(&s, 300);
    // Version 2 reaches production: the server switches without a restart.
    second_version(&s, true);
    wait_for(&server, "blue-green switch to v2", |v| {
        v["models"][0]["version"] == 2
    });
    let (_, body) = server.post("/v1/predict", &json!(rows[..5]).to_string());
    assert!(body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["model_version"] == 2));

    // Canary: version 1 (archived when replaced) cannot come back, so register a third.
    let text = s
        .read("mlx.yaml")
        .replace("C: 0.3", "C: 0.1")
        .replace("promote_to: production", "promote_to: none");
    s.write("mlx.yaml", &text);
    ok(mlx(d, "mlx").arg("run"));
    ok(mlx(d, "mlx-promote").args([
        "deploy",
        "--strategy",
        "canary",
        "--challenger",
        "3",
        "--fraction",
        "0.3",
    ]));
    wait_for(&server, "canary", |v| v["models"][1]["version"] == 3);
    let versions = |rows: &[Value]| -> BTreeMap<i64, u64> {
        let (status, body) = server.post("/v1/predict", &json!(rows).to_string());
        assert_eq!(status, 200, "{body}");
        rows.iter()
            .zip(body["predictions"].as_array().unwrap())
            .map(|(r, p)| {
                (
                    r["customer_id"].as_i64().unwrap(),
                    p["model_version"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let first = versions(&rows);
    let again = versions(&rows);
    assert_eq!(first, again, "sticky: a customer stays on one variant");
    let to_challenger = first.values().filter(|v| **v == 3).count();
    // 300 customers at 30%: 90 expected; 4.5 standard deviations either side.
    assert!(
        (55..=125).contains(&to_challenger),
        "{to_challenger} of 300 went to the canary"
    );
    // The Open Inference Protocol meets the same split (a customer is sticky whichever
    // protocol asks), and a versioned route sends every row to the version it names.
    let v2 = |path: &str| -> Value {
        let (status, out) = server.post(path, &v2_body(&rows).to_string());
        assert_eq!(status, 200, "{out}");
        out
    };
    let out = v2("/v2/models/churn/infer");
    let per_row: Vec<u64> = first.values().copied().collect();
    let mut by_customer: Vec<(i64, u64)> = rows
        .iter()
        .map(|r| r["customer_id"].as_i64().unwrap())
        .zip(
            v2_output(&out, "model_version")["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap()),
        )
        .collect();
    by_customer.sort_unstable();
    by_customer.dedup();
    assert_eq!(
        by_customer.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        per_row
    );
    assert_eq!(
        out["model_version"], "2",
        "the live version names a split answer"
    );
    let pinned = v2("/v2/models/churn/versions/3/infer");
    assert_eq!(pinned["model_version"], "3");
    assert!(v2_output(&pinned, "model_version")["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v == 3));
    let meta: Value = serde_json::from_str(&server.get("/v2/models/churn")).unwrap();
    assert_eq!(meta["versions"], json!(["2", "3"]));
    let (status, e) = server.post(
        "/v2/models/churn/versions/1/infer",
        &v2_body(&rows).to_string(),
    );
    assert_eq!(
        (status, e["error"].as_str()),
        (
            404,
            Some("version `1` of `churn` is not served here; served: 2, 3")
        )
    );

    // Shadow: only version 2 answers; version 3 scores every record into the log.
    ok(mlx(d, "mlx-promote").args(["deploy", "--strategy", "shadow", "--challenger", "3"]));
    wait_for(&server, "shadow", |v| v["strategy"] == "shadow");
    let (_, body) = server.post("/v1/predict", &json!(rows[..10]).to_string());
    assert!(body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["model_version"] == 2));
    let id = body["request_id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(500));
    server.stop();
    let logged = log_records(d);
    let shadow: Vec<&PredictionRecord> = logged
        .iter()
        .filter(|r| r.variant == "shadow" && r.request_id.starts_with(&id))
        .collect();
    assert_eq!(shadow.len(), 10);
    assert!(shadow.iter().all(|r| r.version == Some(3)));
}

/// What serve loads is checked against the hash recorded at registration, whatever the
/// state says and whatever its cache holds: a registry object replaced after its
/// version entered the deployment is refused, and a server that already runs keeps
/// serving what it verified.
#[test]
fn a_registry_object_that_changed_is_refused_by_serve() {
    let s = project();
    let d = s.path();
    second_version(&s, false);
    ok(mlx(d, "mlx-promote").args([
        "deploy",
        "--strategy",
        "canary",
        "--challenger",
        "2",
        "--fraction",
        "0.5",
    ]));
    // A running server loads both versions, verified.
    let server = Server::start(d, &[], None);
    wait_for(&server, "canary", |v| v["models"][1]["version"] == 2);
    // Version 2's object changes in the registry; the server's cache is emptied.
    let tar = d.join(".mlx/registry/churn/versions/2/bundle.tar");
    let mut bytes = std::fs::read(&tar).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&tar, bytes).unwrap();
    let _ = std::fs::remove_dir_all(d.join(".mlx/registry-cache"));
    // The running server still answers with what it verified.
    let (status, body) = server.post("/v1/predict", &json!(customers(&s, 3)).to_string());
    assert_eq!(status, 200, "{body}");
    server.stop();
    // A new server must load version 2 again, and refuses the changed object.
    let mut child = mlx(d, "mlx-serve")
        .args(["--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("mlx-serve started on a registry object that changed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.contains("modified or damaged; refusing to use it"),
        "{err}"
    );
}

#[test]
fn entity_keys_get_their_features_from_the_online_store() {
    let s = Sandbox::churn(
        &CONFIG
            .replace(
                "  entity_columns: [customer_id]\n",
                "  entity_columns: [customer_id]\n  time_column: signup\n",
            )
            .replace(
                "    - { kind: scale, strategy: zscore }\n",
                "    - { kind: scale, strategy: zscore }\n  store:\n    views:\n      - { name: profile, features: [age, tenure_months, income, plan] }\n",
            ),
    );
    // A signup date per customer: the views' time.
    let csv: String = s
        .read("customers.csv")
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("{l},signup\n"),
            _ => format!("{l},2024-{:02}-{:02}\n", 1 + (i % 12), 1 + (i % 28)),
        })
        .collect();
    s.write("customers.csv", &csv);
    let d = s.path();
    ok(mlx(d, "mlx").arg("run"));
    ok(mlx(d, "mlx-features").arg("materialize"));
    let server = Server::start(d, &[], None);
    let rows = customers(&s, 5);
    let (_, full) = server.post("/v1/predict", &json!(rows).to_string());
    let keys: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "customer_id": r["customer_id"] }))
        .collect();
    let (status, by_key) = server.post("/v1/predict", &json!(keys).to_string());
    assert_eq!(status, 200, "{by_key}");
    for (a, b) in full["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(by_key["predictions"].as_array().unwrap())
    {
        assert_eq!(a["proba_yes"], b["proba_yes"]);
    }
    let (status, e) = server.post(
        "/v1/predict",
        &json!([{ "customer_id": 999_999 }]).to_string(),
    );
    assert_eq!(status, 422);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("no `profile` features for customer_id = 999999"),
        "{e}"
    );
    server.stop();
}

/// Hostile clients, bounded in count and time, all on loopback: connections that send
/// half a request head and wait (slowloris), more of them than the server takes, and
/// a body shorter than its Content-Length. The server closes the first, refuses the
/// excess, answers the last with 408, and `/healthz` keeps answering throughout.
#[test]
fn slow_and_partial_clients_cannot_starve_the_server() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let s = project();
    let d = s.path();
    let cfg = std::fs::read_to_string(d.join("mlx.yaml")).unwrap().replace(
        "deploy: { poll_seconds: 1, sticky_key: customer_id }",
        "deploy: { poll_seconds: 1, sticky_key: customer_id, header_timeout_seconds: 1, body_timeout_seconds: 1, max_connections: 100 }",
    );
    std::fs::write(d.join("mlx.yaml"), cfg).unwrap();
    let server = Server::start(d, &[], None);
    let addr = server.url.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..250)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // /healthz answers while they hang on (within the header timeout and a margin).
    let healthz = || {
        server.rt.block_on(async {
            match server
                .http
                .get(format!("{}/healthz", server.url))
                .send()
                .await
            {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            }
        })
    };
    let healthy = (0..50).any(|_| {
        let ok = healthz();
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(
        healthy,
        "/healthz stopped answering under {} idle connections",
        idle.len()
    );
    // Every half-open connection is closed by the server: end of stream, not a hang.
    for c in &mut idle {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        match c.read(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a half-open connection was kept: {e}"),
        }
    }
    // A body shorter than its Content-Length: 408 after the body timeout.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"records\"")
        .unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(healthz());
    assert!(started.elapsed() < Duration::from_secs(30));
    server.stop();
}

/// `serve batch` applies the checks of `/v1/predict` to every row: text in a numeric
/// column and infinities are refused (they used to be scored into empty
/// probabilities, exit 0); with --skip-invalid the rest is scored, the rejects are
/// written with their reasons, and the exit code is 1.
#[test]
fn batch_refuses_what_the_server_refuses() {
    let s = project();
    let d = s.path();
    let mut lines: Vec<String> = s
        .read("customers.csv")
        .lines()
        .take(6)
        .map(str::to_owned)
        .collect();
    lines[2] = "1,46,60,lots,plus,no".into();
    lines[4] = "3,51,12,-Infinity,basic,no".into();
    s.write("batch.csv", &(lines.join("\n") + "\n"));
    let out = mlx(d, "mlx-serve")
        .args(["batch", "--input", "batch.csv", "--output", "scored.csv"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 of 5 rows")
            && stderr.contains("row 1: `income` must be a number, got \"lots\""),
        "{stderr}"
    );
    assert!(!d.join("scored.csv").exists(), "nothing scored");
    let out = mlx(d, "mlx-serve")
        .args([
            "batch",
            "--input",
            "batch.csv",
            "--output",
            "scored.csv",
            "--skip-invalid",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scored = s.read("scored.csv");
    assert_eq!(scored.lines().count(), 1 + 3, "{scored}");
    assert!(
        scored.lines().skip(1).all(|l| !l.ends_with(',')),
        "{scored}"
    );
    let rejects = s.read("scored.rejects.csv");
    let rows: Vec<&str> = rejects.lines().collect();
    assert_eq!(rows[0], "row,field,reason");
    assert!(
        rows[1].starts_with("1,income,") && rows[1].contains("must be a number"),
        "{rejects}"
    );
    assert!(
        rows[2].starts_with("3,income,") && rows[2].contains("finite"),
        "{rejects}"
    );
}

/// `serve batch --delta`: each run one commit to a Delta table (append adds a file,
/// overwrite replaces them), the predictions those of a CSV output; the mistakes a user
/// can make with it refused before anything is scored.
fn delta_batches(s: &Sandbox) -> (String, std::path::PathBuf) {
    let d = s.path();
    let csv: String = s
        .read("customers.csv")
        .lines()
        .take(21)
        .map(|l| format!("{l}\n"))
        .collect();
    s.write("batch.csv", &csv);
    ok(mlx(d, "mlx-serve").args(["batch", "--input", "batch.csv", "--output", "scored.csv"]));
    let table = d.join("lake/scored");
    let run = |mode: &str| {
        let out = ok(mlx(d, "mlx-serve").args([
            "batch",
            "--input",
            "batch.csv",
            "--output",
            "lake/scored",
            "--delta",
            mode,
            "--json",
        ]));
        let v: Value = serde_json::from_str(&out).unwrap();
        v["delta_version"].as_u64().unwrap()
    };
    assert_eq!(run("append"), 0);
    assert_eq!(run("append"), 1);
    assert_eq!(run("overwrite"), 2);
    (s.read("scored.csv"), table)
}

#[test]
fn batch_predictions_commit_to_a_delta_table() {
    let s = project();
    let d = s.path();
    let (_, table) = delta_batches(&s);
    let log =
        |v: u32| std::fs::read_to_string(table.join(format!("_delta_log/{v:020}.json"))).unwrap();
    let adds = |text: &str| text.matches("{\"add\":").count();
    let removes = |text: &str| text.matches("{\"remove\":").count();
    assert_eq!((adds(&log(0)), removes(&log(0))), (1, 0));
    assert_eq!((adds(&log(1)), removes(&log(1))), (1, 0));
    // The overwrite removes both appended files and adds its own.
    assert_eq!((adds(&log(2)), removes(&log(2))), (1, 2));
    assert!(
        log(0).contains(r#""stats":"{\"numRecords\":20}""#),
        "{}",
        log(0)
    );
    let parts = std::fs::read_dir(&table)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("part-")
        })
        .count();
    assert_eq!(parts, 3, "every version's file kept for time travel");

    let refused = |args: &[&str], says: &str| {
        let out = mlx(d, "mlx-serve")
            .args(["batch", "--input", "batch.csv"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    };
    refused(
        &["--output", "s3://lake/scored"],
        "is a URL: write a local CSV or Parquet file, or a Delta table there with --delta",
    );
    refused(
        &[
            "--output",
            "s3://lake/scored",
            "--delta",
            "append",
            "--skip-invalid",
        ],
        "--skip-invalid writes the rejects beside --output",
    );
    refused(
        &["--output", "lake/scored", "--delta", "upsert"],
        "invalid value 'upsert'",
    );
    // A batch that fails commits nothing: the table keeps its three versions.
    s.write("other.csv", "customer_id,age\n1,40\n");
    let out = mlx(d, "mlx-serve")
        .args([
            "batch",
            "--input",
            "other.csv",
            "--output",
            "lake/scored",
            "--delta",
            "append",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(!table.join("_delta_log/00000000000000000003.json").exists());
}

/// Python's `deltalake` reads the predictions mlx committed, at each version, equal to
/// the CSV output's.
#[test]
#[ignore = "needs the deltalake package: tests/services/clients.sh (tests/run.sh sources it)"]
fn python_reads_the_delta_batch_predictions() {
    let s = project();
    let (scored, table) = delta_batches(&s);
    let python = std::env::var("MLX_TEST_CLIENTS_PYTHON")
        .expect("MLX_TEST_CLIENTS_PYTHON: source tests/services/clients.sh");
    let out = Command::new(python)
        .arg(mlx_testkit::root().join("tests/clients/delta_read.py"))
        .arg(&table)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let versions = v["versions"].as_array().unwrap();
    let rows: Vec<usize> = versions
        .iter()
        .map(|v| v["rows"].as_array().unwrap().len())
        .collect();
    assert_eq!(rows, vec![20, 40, 20]);
    let ops: Vec<&str> = versions
        .iter()
        .map(|v| v["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["CREATE TABLE", "WRITE", "WRITE"]);
    // The latest version's predictions are the CSV output's, row for row.
    let header: Vec<&str> = scored.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (line, row) in scored
        .lines()
        .skip(1)
        .zip(versions[2]["rows"].as_array().unwrap())
    {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[at("prediction")], row["prediction"].as_str().unwrap());
        let p: f64 = f[at("proba_yes")].parse().unwrap();
        assert_eq!(Some(p), row["proba_yes"].as_f64(), "{line}");
    }
}
