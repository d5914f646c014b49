//! A fake GitHub REST API for tests: it answers the endpoints mlx calls with the
//! response shapes GitHub documents, keeps the state they change (comments, reactions,
//! statuses, deployments, issues, dispatches) and records every call, so tests assert
//! exactly what was sent.
//!
//! It runs on 127.0.0.1 in a thread of its own; point `GITHUB_API_URL` at [`FakeGitHub::url`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The token the fake accepts.
pub const TOKEN: &str = "ghs_fake_token_for_tests";
/// The repository the fake serves.
pub const REPO: &str = "acme/churn";

/// One recorded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `GET`, `POST`, `PATCH`.
    pub method: String,
    /// The path below the API root, e.g. `/repos/acme/churn/statuses/abc`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The JSON body (`Null` when none).
    pub body: Value,
}

impl Call {
    /// `"POST /repos/acme/churn/issues/7/comments"`.
    pub fn line(&self) -> String {
        match &self.query {
            Some(q) => format!("{} {}?{q}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// What the fake knows and what it was told.
#[derive(Debug, Default)]
pub struct Data {
    /// Every request, in order (since the last `clear_calls`).
    pub calls: Vec<Call>,
    /// Every request since the fake started, never cleared: what a test checks for
    /// leaks (a canary secret) over a whole story.
    pub history: Vec<Call>,
    /// Repository role of each collaborator (`admin`, `maintain`, `write`, `triage`,
    /// `read`); anyone else reads, as on a public repository.
    pub roles: BTreeMap<String, String>,
    /// Pull requests by number: (author, head sha, head branch).
    pub pulls: BTreeMap<u64, (String, String, String)>,
    /// Issue and PR comments.
    pub comments: Vec<Value>,
    /// Issues (not PRs).
    pub issues: Vec<Value>,
    /// Successful workflow runs: (workflow file, head sha, run id).
    pub runs: Vec<(String, String, u64)>,
    next_id: u64,
    clock: i64,
}

impl Data {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    /// The fake clock, one second a write, from 2026-11-26T12:00:00Z.
    fn now(&mut self) -> String {
        self.clock += 1;
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z").expect("a time")
            + chrono::Duration::seconds(self.clock);
        t.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// A comment, as someone posted it on `issue` (e.g. the report of an earlier run).
    pub fn add_comment(&mut self, issue: u64, user: &str, body: &str) -> u64 {
        let id = self.id();
        let now = self.now();
        self.comments
            .push(comment(id, issue, user, body, &now, &now));
        id
    }
}

type Shared = Arc<Mutex<Data>>;

fn user(login: &str) -> Value {
    json!({ "login": login, "id": login.len() as u64 * 7919, "type": "User",
            "html_url": format!("https://github.com/{login}") })
}

fn comment(id: u64, issue: u64, login: &str, body: &str, created: &str, updated: &str) -> Value {
    json!({
        "id": id,
        "node_id": format!("IC_{id}"),
        "url": format!("https://api.github.com/repos/{REPO}/issues/comments/{id}"),
        "html_url": format!("https://github.com/{REPO}/pull/{issue}#issuecomment-{id}"),
        "issue_url": format!("https://api.github.com/repos/{REPO}/issues/{issue}"),
        "body": body,
        "user": user(login),
        "created_at": created,
        "updated_at": updated,
        "author_association": "MEMBER",
    })
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "message": message,
                     "documentation_url": "https://docs.github.com/rest" })),
    )
        .into_response()
}

/// A running fake.
pub struct FakeGitHub {
    url: String,
    data: Shared,
    _thread: std::thread::JoinHandle<()>,
}

impl FakeGitHub {
    /// Starts a fake on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let data: Shared = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let app = router(data.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Self {
            url,
            data,
            _thread: thread,
        }
    }

    /// The API root, for `GITHUB_API_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The state, to set up or inspect.
    pub fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().expect("fake state")
    }

    /// The recorded calls as `METHOD /path?query` lines.
    pub fn lines(&self) -> Vec<String> {
        self.data().calls.iter().map(Call::line).collect()
    }

    /// The recorded calls.
    pub fn calls(&self) -> Vec<Call> {
        self.data().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.data().calls.clear();
    }
}

fn router(data: Shared) -> Router {
    let r = "/repos/{owner}/{repo}";
    Router::new()
        .route(
            &format!("{r}/collaborators/{{user}}/permission"),
            get(permission),
        )
        .route(&format!("{r}/pulls/{{n}}"), get(pull))
        .route(
            &format!("{r}/issues/{{n}}/comments"),
            get(list_comments).post(create_comment),
        )
        .route(
            &format!("{r}/issues/comments/{{id}}"),
            patch(update_comment),
        )
        .route(
            &format!("{r}/issues/comments/{{id}}/reactions"),
            post(react),
        )
        .route(&format!("{r}/statuses/{{sha}}"), post(status))
        .route(&format!("{r}/deployments"), post(deployment))
        .route(
            &format!("{r}/deployments/{{id}}/statuses"),
            post(deployment_status),
        )
        .route(
            &format!("{r}/actions/workflows/{{wf}}/dispatches"),
            post(dispatch),
        )
        .route(&format!("{r}/actions/workflows/{{wf}}/runs"), get(runs))
        .route(&format!("{r}/issues"), get(list_issues).post(create_issue))
        .route(&format!("{r}/issues/{{n}}"), patch(update_issue))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not Found") })
        .layer(axum::middleware::from_fn_with_state(data.clone(), record))
        .with_state(data)
}

/// Checks the token and the repository, and records the call.
async fn record(
    State(data): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let call = Call {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    {
        let mut d = data.lock().expect("fake state");
        d.history.push(call.clone());
        d.calls.push(call);
    }
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") && auth != format!("token {TOKEN}") {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if !parts.uri.path().starts_with(&format!("/repos/{REPO}/")) {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    next.run(req).await
}

type P2 = Path<(String, String, String)>;

async fn permission(State(d): State<Shared>, Path((_, _, login)): P2) -> Response {
    let role = d
        .lock()
        .expect("fake state")
        .roles
        .get(&login)
        .cloned()
        .unwrap_or_else(|| "read".into());
    // The legacy `permission` folds maintain into write and triage into read.
    let permission = match role.as_str() {
        "maintain" => "write",
        "triage" => "read",
        r => r,
    };
    Json(json!({ "permission": permission, "role_name": role, "user": user(&login) }))
        .into_response()
}

fn num(s: &str) -> Option<u64> {
    s.parse().ok()
}

async fn pull(State(d): State<Shared>, Path((_, _, n)): P2) -> Response {
    let d = d.lock().expect("fake state");
    let Some((author, sha, branch)) = num(&n).and_then(|n| d.pulls.get(&n)) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    Json(json!({
        "number": num(&n),
        "state": "open",
        "user": user(author),
        "head": { "sha": sha, "ref": branch, "label": format!("acme:{branch}"),
                  "repo": { "full_name": REPO } },
        "base": { "ref": "main", "repo": { "full_name": REPO } },
        "html_url": format!("https://github.com/{REPO}/pull/{n}"),
    }))
    .into_response()
}

async fn list_comments(
    State(d): State<Shared>,
    Path((_, _, n)): P2,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let d = d.lock().expect("fake state");
    let issue = num(&n).unwrap_or_default();
    let per_page: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let on_issue: Vec<&Value> = d
        .comments
        .iter()
        .filter(|c| {
            c["issue_url"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/issues/{issue}")))
        })
        .collect();
    let page: Vec<&Value> = on_issue
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Json(json!(page)).into_response()
}

async fn create_comment(
    State(d): State<Shared>,
    Path((_, _, n)): P2,
    Json(body): Json<Value>,
) -> Response {
    let mut d = d.lock().expect("fake state");
    let id = d.id();
    let now = d.now();
    let c = comment(
        id,
        num(&n).unwrap_or_default(),
        "github-actions[bot]",
        body["body"].as_str().unwrap_or_default(),
        &now,
        &now,
    );
    d.comments.push(c.clone());
    (StatusCode::CREATED, Json(c)).into_response()
}

async fn update_comment(
    State(d): State<Shared>,
    Path((_, _, id)): P2,
    Json(body): Json<Value>,
) -> Response {
    let mut d = d.lock().expect("fake state");
    let now = d.now();
    let Some(c) = d.comments.iter_mut().find(|c| c["id"].as_u64() == num(&id)) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    c["body"] = body["body"].clone();
    c["updated_at"] = json!(now);
    Json(c.clone()).into_response()
}

async fn react(
    State(d): State<Shared>,
    Path((_, _, _id)): P2,
    Json(body): Json<Value>,
) -> Response {
    let id = d.lock().expect("fake state").id();
    (
        StatusCode::CREATED,
        Json(json!({ "id": id, "content": body["content"], "user": user("github-actions[bot]") })),
    )
        .into_response()
}

async fn status(
    State(d): State<Shared>,
    Path((_, _, sha)): P2,
    Json(body): Json<Value>,
) -> Response {
    let mut d = d.lock().expect("fake state");
    let id = d.id();
    let now = d.now();
    (
        StatusCode::CREATED,
        Json(json!({
            "id": id, "state": body["state"], "context": body["context"],
            "description": body["description"], "target_url": body["target_url"],
            "url": format!("https://api.github.com/repos/{REPO}/statuses/{sha}"),
            "created_at": now, "updated_at": now,
        })),
    )
        .into_response()
}

async fn deployment(State(d): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut d = d.lock().expect("fake state");
    let id = d.id();
    let now = d.now();
    (
        StatusCode::CREATED,
        Json(json!({
            "id": id, "ref": body["ref"], "sha": body["ref"], "task": "deploy",
            "environment": body["environment"], "description": body["description"],
            "payload": body["payload"], "creator": user("github-actions[bot]"),
            "created_at": now, "updated_at": now,
        })),
    )
        .into_response()
}

async fn deployment_status(
    State(d): State<Shared>,
    Path((_, _, id)): P2,
    Json(body): Json<Value>,
) -> Response {
    let sid = d.lock().expect("fake state").id();
    (
        StatusCode::CREATED,
        Json(json!({ "id": sid, "state": body["state"], "environment": body["environment"],
                     "deployment_url": format!("https://api.github.com/repos/{REPO}/deployments/{id}") })),
    )
        .into_response()
}

async fn dispatch(Json(body): Json<Value>) -> Response {
    if body["ref"].as_str().unwrap_or_default().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Required input 'ref' not provided",
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn runs(
    State(d): State<Shared>,
    Path((_, _, wf)): P2,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let d = d.lock().expect("fake state");
    let sha = q.get("head_sha").cloned().unwrap_or_default();
    let mut found: Vec<Value> = d
        .runs
        .iter()
        .filter(|(w, s, _)| *w == wf && (sha.is_empty() || *s == sha))
        .map(|(w, s, id)| {
            json!({ "id": id, "name": "mlx train", "head_sha": s, "path": format!(".github/workflows/{w}"),
                    "status": "completed", "conclusion": "success", "event": "pull_request" })
        })
        .collect();
    found.reverse();
    Json(json!({ "total_count": found.len(), "workflow_runs": found })).into_response()
}

async fn list_issues(
    State(d): State<Shared>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let d = d.lock().expect("fake state");
    let label = q.get("labels").cloned().unwrap_or_default();
    let open: Vec<&Value> = d
        .issues
        .iter()
        .filter(|i| i["state"] == "open")
        .filter(|i| {
            label.is_empty()
                || i["labels"]
                    .as_array()
                    .is_some_and(|ls| ls.iter().any(|l| l["name"] == label.as_str()))
        })
        .collect();
    Json(json!(open)).into_response()
}

async fn create_issue(State(d): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut d = d.lock().expect("fake state");
    let number = 100 + d.issues.len() as u64 + 1;
    let now = d.now();
    let labels: Vec<Value> = body["labels"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|l| json!({ "name": l }))
        .collect();
    let issue = json!({
        "id": d.id(), "number": number, "state": "open", "title": body["title"],
        "body": body["body"], "labels": labels, "user": user("github-actions[bot]"),
        "html_url": format!("https://github.com/{REPO}/issues/{number}"),
        "created_at": now, "updated_at": now,
    });
    d.issues.push(issue.clone());
    (StatusCode::CREATED, Json(issue)).into_response()
}

async fn update_issue(
    State(d): State<Shared>,
    Path((_, _, n)): P2,
    Json(body): Json<Value>,
) -> Response {
    let mut d = d.lock().expect("fake state");
    let Some(i) = d
        .issues
        .iter_mut()
        .find(|i| i["number"].as_u64() == num(&n))
    else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    for k in ["title", "body", "state"] {
        if !body[k].is_null() {
            i[k] = body[k].clone();
        }
    }
    Json(i.clone()).into_response()
}
