//! `data.sources[].http`: JSON APIs read page by page from a server this test starts on
//! loopback (axum): next links, offsets and cursors, GET and POST, a 429 with
//! `Retry-After`, a 500 then success, a malformed page, a timeout, an error answer, a
//! next link to another site; credentials that never show; the previous dataset kept
//! whenever a read fails.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mlx_contracts::ingest::IngestReport;
use mlx_contracts::StageRecord;
use mlx_testkit::command_in;
use predicates::prelude::*;
use serde_json::{json, Value};
use sha2::Digest;

const TOKEN: &str = "tok-4f1e9a7c2b";

/// What the server sent and was asked, per route.
#[derive(Default)]
struct Api {
    /// Every answer body sent with 200, in order.
    sent: Mutex<Vec<Vec<u8>>>,
    /// Requests per route.
    hits: Mutex<HashMap<&'static str, usize>>,
    flaky: AtomicUsize,
    /// The port, for absolute next links.
    port: AtomicUsize,
}

impl Api {
    fn hit(&self, route: &'static str) -> usize {
        let mut h = self.hits.lock().unwrap();
        let n = h.entry(route).or_default();
        *n += 1;
        *n
    }
    fn ok(&self, body: Value) -> Response {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.sent.lock().unwrap().push(bytes.clone());
        ([("content-type", "application/json")], bytes).into_response()
    }
}

/// Ad spend per day, 2026-01-01 on, three records a page, pages linked by a relative
/// `links.next`; needs the bearer token and `from`.
async fn spend(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    api.hit("spend");
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (StatusCode::UNAUTHORIZED, "{\"error\": \"bad token\"}").into_response();
    }
    if q.get("from").map(String::as_str) != Some("2026-01-01") {
        return (StatusCode::BAD_REQUEST, "from is required").into_response();
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let days = [(1, 100.0), (2, 150.5), (3, 90.0), (4, 80.0), (5, 120.25)];
    let rows: Vec<Value> = days
        .iter()
        .skip((page - 1) * 3)
        .take(3)
        .map(|(d, s)| json!({"date": format!("2026-01-0{d}"), "ad_spend": s}))
        .collect();
    let next = match page {
        1 => json!("spend?page=2&from=2026-01-01"),
        _ => Value::Null,
    };
    api.ok(json!({"data": rows, "links": {"next": next}}))
}

/// 7 records, offset and limit paging (the last page short).
async fn items(State(api): State<Arc<Api>>, Query(q): Query<HashMap<String, String>>) -> Response {
    api.hit("items");
    let offset: usize = q["offset"].parse().unwrap();
    let limit: usize = q["limit"].parse().unwrap();
    let rows: Vec<Value> = (offset..7.min(offset + limit))
        .map(|i| json!({"id": i, "x": i as f64 / 2.0}))
        .collect();
    api.ok(Value::Array(rows))
}

/// POST with a JSON body; cursor paging.
async fn search(State(api): State<Arc<Api>>, Json(body): Json<Value>) -> Response {
    api.hit("search");
    assert_eq!(body["region"], "north", "{body}");
    let (rows, next) = match body.get("cursor").and_then(Value::as_str) {
        None => (json!([{"id": 1}, {"id": 2}]), json!("c2")),
        Some("c2") => (json!([{"id": 3}]), json!("c3")),
        Some("c3") => (json!([{"id": 4}]), json!("")),
        Some(c) => panic!("unknown cursor {c}"),
    };
    api.ok(json!({"result": {"items": rows}, "meta": {"next_cursor": next}}))
}

/// 429 (`Retry-After: 1`), then 500, then the records.
async fn flaky(State(api): State<Arc<Api>>) -> Response {
    api.hit("flaky");
    match api.flaky.fetch_add(1, Ordering::SeqCst) {
        0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        1 => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        _ => api.ok(json!({"data": [{"id": 1, "v": 2.5}]})),
    }
}

/// A good first page whose next page is not JSON.
async fn broken(State(api): State<Arc<Api>>, Query(q): Query<HashMap<String, String>>) -> Response {
    api.hit("broken");
    if q.contains_key("page") {
        return (
            [("content-type", "application/json")],
            "{\"data\": [{\"id\": 2}",
        )
            .into_response();
    }
    api.ok(json!({"data": [{"id": 1}], "next": "broken?page=2&api_key=k-999"}))
}

async fn slow(State(api): State<Arc<Api>>) -> Response {
    api.hit("slow");
    tokio::time::sleep(Duration::from_secs(3)).await;
    api.ok(json!({"data": [{"id": 1}]}))
}

/// A next link to another origin (the same host by another name).
async fn elsewhere(State(api): State<Arc<Api>>) -> Response {
    api.hit("elsewhere");
    let port = api.port.load(Ordering::SeqCst);
    api.ok(json!({"data": [{"id": 1}], "next": format!("http://localhost:{port}/items?offset=0&limit=2")}))
}

async fn always_busy(State(api): State<Arc<Api>>) -> Response {
    api.hit("busy");
    (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response()
}

/// The answers of tests/hostile/ingest/api-answers.txt: `(status, Retry-After, body,
/// what the error says)`.
fn hostile() -> Vec<(u16, Option<String>, String, String)> {
    let text =
        std::fs::read_to_string(mlx_testkit::root().join("tests/hostile/ingest/api-answers.txt"))
            .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (answer, says) = l.rsplit_once(" => ").unwrap();
            let mut parts = answer.splitn(3, ' ');
            let status = parts.next().unwrap().parse().unwrap();
            let wait = Some(parts.next().unwrap())
                .filter(|w| *w != "-")
                .map(String::from);
            let body = parts.next().unwrap_or("").to_owned();
            (status, wait, body, says.to_owned())
        })
        .collect()
}

async fn hostile_answer(axum::extract::Path(n): axum::extract::Path<usize>) -> Response {
    let (status, wait, body, _) = hostile().swap_remove(n);
    let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
    if let Some(w) = wait {
        r.headers_mut().insert("retry-after", w.parse().unwrap());
    }
    r
}

/// Starts the API on a loopback port of its own thread; its base URL.
fn serve() -> (String, Arc<Api>) {
    let api = Arc::new(Api::default());
    let app = Router::new()
        .route("/v1/spend", get(spend))
        .route("/v1/items", get(items))
        .route("/v1/search", post(search))
        .route("/v1/flaky", get(flaky))
        .route("/v1/broken", get(broken))
        .route("/v1/slow", get(slow))
        .route("/v1/elsewhere", get(elsewhere))
        .route("/v1/busy", get(always_busy))
        .route("/v1/hostile/{n}", get(hostile_answer))
        .with_state(api.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    api.port.store(port as usize, Ordering::SeqCst);
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://127.0.0.1:{port}/v1"), api)
}

fn bin(d: &Path) -> Command {
    let mut c = command_in(d, "mlx-ingest");
    c.env("MARKETING_API", TOKEN).env("START", "2026-01-01");
    c
}

fn config(d: &Path, sources: &str, rest: &str) {
    std::fs::write(
        d.join("mlx.yaml"),
        format!("data:\n  sources:\n{sources}{rest}"),
    )
    .unwrap();
}

fn report(d: &Path) -> (StageRecord, IngestReport) {
    let r = StageRecord::from_json(&std::fs::read_to_string(d.join(".mlx/ingest.json")).unwrap())
        .unwrap();
    let i = serde_json::from_value(r.details.clone()).unwrap();
    (r, i)
}

fn raw(d: &Path) -> mlx_data::polars::prelude::DataFrame {
    mlx_data::read_table(&d.join(".mlx/data/raw.parquet")).unwrap()
}

fn floats(df: &mlx_data::polars::prelude::DataFrame, c: &str) -> Vec<Option<f64>> {
    df.column(c).unwrap().f64().unwrap().iter().collect()
}

/// The design documents' worked example: sales from a file, ad spend from the
/// marketing API (two pages, a bearer token and a date parameter from the
/// environment), merged on the date.
#[test]
fn an_api_source_pages_and_merges_with_a_file() {
    let (base, api) = serve();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("sales.csv"),
        "date,units\n2026-01-01,10\n2026-01-02,12\n2026-01-03,9\n2026-01-04,15\n2026-01-05,11\n2026-01-06,8\n",
    )
    .unwrap();
    let sources = format!(
        "    - {{ name: sales, uri: sales.csv }}\n    - name: ads\n      dtypes: {{ date: date }}\n      http:\n        url: {base}/spend\n        params: {{ from: \"${{START}}\" }}\n        headers: {{ Authorization: \"Bearer ${{MARKETING_API}}\", X-Api-Key: literal-key-123, Accept: application/json }}\n        records: /data\n        paginate: {{ next_link: /links/next }}\n"
    );
    config(
        d,
        &sources,
        "  merge: { on: [date], how: left }\n  time_column: date\n",
    );
    let out = bin(d).assert().success().get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("6 rows × 3 columns from 2 sources"),
        "{stderr}"
    );
    let df = raw(d);
    assert_eq!(
        floats(&df, "ad_spend"),
        vec![
            Some(100.0),
            Some(150.5),
            Some(90.0),
            Some(80.0),
            Some(120.25),
            None
        ]
    );
    assert_eq!(api.hits.lock().unwrap()["spend"], 2);

    // The fingerprint is the SHA-256 of the answers' bytes, in order.
    let (record, details) = report(d);
    let ads = &details.sources[1];
    let sent = api.sent.lock().unwrap().concat();
    assert_eq!(ads.files.len(), 1);
    assert_eq!(
        ads.files[0].sha256,
        format!("{:x}", sha2::Sha256::digest(&sent))
    );
    assert_eq!(ads.files[0].size, sent.len() as u64);
    assert_eq!(ads.uri, format!("{base}/spend"));
    assert_eq!(ads.rows, 5);

    // The token is nowhere: not in the record, what was printed, or the shown config.
    let text = serde_json::to_string(&record).unwrap();
    assert!(!text.contains(TOKEN) && !stderr.contains(TOKEN));
    let shown = command_in(d, "mlx")
        .args(["config", "show"])
        .env("MARKETING_API", TOKEN)
        .env("START", "2026-01-01")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let shown = String::from_utf8_lossy(&shown);
    // The variable's name does not say it is secret: the header does. A credential
    // header written in the file is masked too; others are shown.
    assert!(
        shown.contains("Authorization") && !shown.contains(TOKEN),
        "{shown}"
    );
    assert!(
        !shown.contains("literal-key-123") && shown.contains("application/json"),
        "{shown}"
    );

    // `mlx run` reads the API again every time: its changes cannot be seen otherwise.
    let plan = command_in(d, "mlx")
        .args(["run", "--to", "ingest", "--dry-run"])
        .env("MARKETING_API", TOKEN)
        .env("START", "2026-01-01")
        .assert()
        .success()
        .get_output()
        .clone();
    let plan = format!(
        "{}{}",
        String::from_utf8_lossy(&plan.stdout),
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        plan.contains("source `ads` is remote; its changes are only seen by reading it"),
        "{plan}"
    );

    // The same answers give the same fingerprint; a wrong token is a clear error.
    bin(d).assert().success();
    assert_eq!(report(d).1.sources[1].files[0].sha256, ads.files[0].sha256);
    bin(d)
        .env("MARKETING_API", "wrong")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "source `ads`: page 1 ({base}/spend): the API answered 401 Unauthorized: {{\"error\": \"bad token\"}}"
        )));
}

/// Offsets (GET) and cursors (POST with a JSON body), and the rate limit between
/// requests.
#[test]
fn offsets_and_cursors_page_to_the_end() {
    let (base, api) = serve();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(
        d,
        &format!("    - name: items\n      http: {{ url: {base}/items, rate_limit: 10, paginate: {{ offset: {{ limit: 3 }} }} }}\n"),
        "",
    );
    let started = Instant::now();
    bin(d).assert().success();
    // Three pages (3 + 3 + 1), at most ten requests a second: at least 0.2 s.
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(api.hits.lock().unwrap()["items"], 3);
    let df = raw(d);
    let ids: Vec<Option<i64>> = df.column("id").unwrap().i64().unwrap().iter().collect();
    assert_eq!(ids, (0..7).map(Some).collect::<Vec<_>>());
    assert_eq!(floats(&df, "x")[5], Some(2.5));

    config(
        d,
        &format!("    - name: found\n      http:\n        url: {base}/search\n        method: post\n        params: {{ region: north }}\n        records: /result/items\n        paginate: {{ cursor: {{ param: cursor, pointer: /meta/next_cursor }} }}\n"),
        "",
    );
    bin(d).assert().success();
    let ids: Vec<Option<i64>> = raw(d).column("id").unwrap().i64().unwrap().iter().collect();
    assert_eq!(ids, vec![Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(api.hits.lock().unwrap()["search"], 3);
}

/// A 429 waits its `Retry-After`, a 500 is retried after a backoff; an API that stays
/// down, a malformed page, a timeout and a next link to another site fail with what is
/// wrong, and the previous dataset stays.
#[test]
fn failures_are_retried_or_named_and_keep_the_previous_dataset() {
    let (base, api) = serve();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = |path: &str, extra: &str| {
        format!("    - name: api\n      http: {{ url: {base}/{path}, records: /data{extra} }}\n")
    };
    config(d, &source("flaky", ""), "");
    let started = Instant::now();
    bin(d).assert().success();
    // 1 s asked by Retry-After, then 0.5 s of backoff after the 500.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(api.hits.lock().unwrap()["flaky"], 3);
    assert_eq!(floats(&raw(d), "v"), vec![Some(2.5)]);
    let before = std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap();
    let unchanged = || {
        assert_eq!(
            std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap(),
            before
        );
    };

    config(d, &source("busy", ", retries: 1"), "");
    bin(d).assert().code(3).stderr(predicate::str::contains(format!(
        "source `api`: page 1 ({base}/busy): the API answered 503 Service Unavailable after 2 tries (http.retries: 1): maintenance"
    )));
    unchanged();

    // The malformed page's URL is named without its query (which holds a key).
    config(d, &source("broken", ", paginate: { next_link: /next }"), "");
    let out = bin(d).assert().code(3).get_output().stderr.clone();
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains(&format!(
            "source `api`: page 2 ({base}/broken): the answer is not JSON: EOF while parsing"
        )),
        "{out}"
    );
    assert!(!out.contains("k-999"), "{out}");
    unchanged();

    config(d, &source("slow", ", timeout_seconds: 0.3, retries: 1"), "");
    bin(d).assert().code(3).stderr(predicate::str::contains(format!(
        "source `api`: page 1 ({base}/slow): no whole answer within 0.3 s (http.timeout_seconds) after 2 tries (http.retries: 1)"
    )));
    unchanged();

    config(
        d,
        &source("elsewhere", ", paginate: { next_link: /next }"),
        "",
    );
    let port = api.port.load(Ordering::SeqCst);
    bin(d).assert().code(3).stderr(predicate::str::contains(format!(
        "the next link goes to http://localhost:{port}, another site than http.url's; mlx sends the source's headers only to http://127.0.0.1:{port}"
    )));
    unchanged();

    config(
        d,
        &source("items?offset=0&limit=5", "").replace("records: /data", "records: /rows"),
        "",
    );
    bin(d).assert().code(3).stderr(predicate::str::contains(
        "the answer has no `/rows` (http.records)",
    ));
    unchanged();

    // Nothing answers on a closed port.
    config(
        d,
        "    - name: api\n      http: { url: 'http://127.0.0.1:9/x', retries: 0 }\n",
        "",
    );
    bin(d).assert().code(3).stderr(predicate::str::contains(
        "source `api`: page 1 (http://127.0.0.1:9/x): the server could not be reached after 1 tries (http.retries: 0)",
    ));
    unchanged();
}

/// Settings that cannot work are refused before any request, each at its key.
#[test]
fn bad_settings_are_refused_at_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused = |sources: &str, rest: &str, says: &str| {
        config(d, sources, rest);
        bin(d)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    };
    refused(
        "    - { name: a, uri: a.csv, http: { url: 'https://api.example.com/x' } }\n",
        "",
        "source `a` has `http` and also `uri`: a source reads one thing",
    );
    refused(
        "    - { name: a, http: { url: 'ftp://example.com/x' } }\n",
        "",
        "data.sources[0].http.url",
    );
    refused(
        "    - { name: a, http: { url: 'https://api.example.com/x', records: data } }\n",
        "",
        "source `a`: `data` is not a JSON pointer",
    );
    refused(
        "    - { name: a, http: { url: 'https://api.example.com/x', paginate: { cursor: { param: c } } } }\n",
        "",
        "data.sources[0].http.paginate.cursor.pointer",
    );
    refused(
        "    - { name: a, http: { url: 'https://api.example.com/x', rate_limit: 0 } }\n",
        "",
        "`rate_limit` is requests per second, more than 0",
    );
    refused(
        "    - { name: a, format: csv, http: { url: 'https://api.example.com/x' } }\n",
        "",
        "`format`, `delimiter` and `header` are for files",
    );
    refused(
        "    - { name: a, http: { url: 'https://api.example.com/x', paginate: { next_link: /n, offset: {} } } }\n",
        "",
        "data.sources[0].http.paginate",
    );
    refused(
        "    - { name: a, http: { url: 'https://api.example.com/x' } }\n",
        "engine: { kind: spark, remote: 'sc://127.0.0.1:15002', storage: /tmp/lake }\n",
        "an HTTP API is read on this machine",
    );
}

/// Every answer of the hostile corpus fails the ingest with what is wrong, and keeps
/// the previous dataset.
#[test]
fn hostile_answers_are_refused_with_what_is_wrong() {
    let (base, _api) = serve();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(
        d,
        &format!("    - name: api\n      http: {{ url: {base}/items, paginate: {{ offset: {{ limit: 10 }} }} }}\n"),
        "",
    );
    bin(d).assert().success();
    let before = std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap();
    let corpus = hostile();
    assert!(
        corpus.len() >= 15,
        "the corpus has {} answers",
        corpus.len()
    );
    for (n, (status, _, body, says)) in corpus.iter().enumerate() {
        config(
            d,
            &format!("    - name: api\n      http: {{ url: {base}/hostile/{n}, records: /data, retries: 0, paginate: {{ next_link: /next }} }}\n"),
            "",
        );
        let out = bin(d).assert().code(3).get_output().stderr.clone();
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains(says.as_str()), "{status} {body}: {out}");
        assert!(out.contains("source `api`: "), "{out}");
        assert_eq!(
            std::fs::read(d.join(".mlx/data/raw.parquet")).unwrap(),
            before
        );
    }
}
