//! `mlx ui` (docs/ui.md): one server in the binary that shows the tracking store, the
//! registry and the work directory in a browser, rendered on the server (minijinja
//! templates, SVG charts drawn by [`crate::plots`]; no script, no CDN), and takes the
//! reviewer's decision through the same code as `mlx-gate review`
//! ([`crate::gate::review::record`]).
//!
//! Every answer is a page: an unknown run, a malformed filter or an unreachable store
//! is said in the page with a 4xx or 503 status, never a backtrace.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use mlx_contracts::Config;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::workdir::Workdir;

pub mod auth;
mod pages;

use auth::{Session, Sessions, Tokens};

/// How `mlx ui` starts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Address to listen on [default: `ui.bind`].
    pub bind: Option<String>,
    /// A secrets file of `name=token` lines.
    pub tokens_file: Option<PathBuf>,
}

/// The server's state.
pub struct App {
    cfg: Config,
    workdir: Workdir,
    tokens: Tokens,
    sessions: Sessions,
    templates: minijinja::Environment<'static>,
    /// One decision at a time from this server (the registry itself takes concurrent
    /// writers; this keeps two clicks of one reviewer in order).
    deciding: std::sync::Mutex<()>,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("compare.html", include_str!("templates/compare.html")),
    ("registry.html", include_str!("templates/registry.html")),
    ("review.html", include_str!("templates/review.html")),
    ("monitor.html", include_str!("templates/monitor.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
];
const STYLE: &str = include_str!("templates/style.css");

impl App {
    /// The state of a server over `cfg` and `workdir`, with the reviewers' tokens.
    pub fn new(cfg: Config, workdir: Workdir, tokens: Tokens) -> Result<Self> {
        let mut templates = minijinja::Environment::new();
        for (name, text) in TEMPLATES {
            templates
                .add_template(name, text)
                .map_err(|e| Error::Runtime(format!("the UI's template {name}: {e}")))?;
        }
        Ok(Self {
            cfg,
            workdir,
            tokens,
            sessions: Sessions::default(),
            templates,
            deciding: std::sync::Mutex::new(()),
        })
    }
}

/// The reviewers' tokens: `ui.tokens` (hashes), then `MLX_UI_TOKENS`, then the secrets
/// file (`--tokens-file`, else `MLX_UI_TOKENS_FILE`).
pub fn tokens(cfg: &Config, file: Option<&std::path::Path>) -> Result<Tokens> {
    let mut secrets = Vec::new();
    if let Ok(text) = std::env::var("MLX_UI_TOKENS") {
        secrets.extend(Tokens::parse_secrets(&text, "MLX_UI_TOKENS")?);
    }
    let file = file
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("MLX_UI_TOKENS_FILE").map(PathBuf::from));
    if let Some(f) = file {
        let text = std::fs::read_to_string(&f).map_err(|e| {
            Error::Usage(format!(
                "the tokens file {}: {e}; it holds `name=token` lines",
                f.display()
            ))
        })?;
        secrets.extend(Tokens::parse_secrets(&text, &f.display().to_string())?);
    }
    Tokens::new(&cfg.ui.tokens, &secrets)
}

/// Runs `mlx ui` until Ctrl-C or SIGTERM.
pub fn serve(cfg: Config, workdir: Workdir, options: &Options) -> Result<()> {
    let tokens = tokens(&cfg, options.tokens_file.as_deref())?;
    let bind = options.bind.clone().unwrap_or_else(|| cfg.ui.bind.clone());
    let addr: std::net::SocketAddr = bind.parse().map_err(|_| {
        Error::Usage(format!(
            "--bind `{bind}` is not an address and port: write 127.0.0.1:5000, or \
             0.0.0.0:5000 to serve other machines"
        ))
    })?;
    let app = Arc::new(App::new(cfg, workdir, tokens)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the server runtime", e))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("listening on {addr}"), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listen address", e))?;
        eprintln!(
            "mlx ui: http://{local}/ ({}); {} reviewer token{}; Ctrl-C stops it",
            if local.ip().is_loopback() {
                "loopback only: this machine alone can reach it; --bind 0.0.0.0:PORT serves others"
            } else {
                "reachable from other machines: put it behind a TLS proxy, tokens travel in forms and cookies"
            },
            app.tokens.len(),
            if app.tokens.len() == 1 { "" } else { "s" },
        );
        if app.tokens.is_empty() {
            eprintln!(
                "mlx ui: no reviewer can log in (no ui.tokens, MLX_UI_TOKENS or --tokens-file); \
                 the pages are read-only. `mlx ui token NAME` makes a token"
            );
        }
        let limits = crate::serve::listen::Limits::new(256, 30);
        crate::serve::listen::serve(listener, router(app), limits, crate::serve::listen::stop_signal())
        .await
        .map_err(|e| Error::io("serving", e))
    })
}

/// The UI's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { redirect("/runs") }))
        .route("/runs", get(runs))
        .route("/runs/{id}", get(run))
        .route("/compare", get(compare))
        .route("/registry", get(registry))
        .route("/review", get(review).post(decide))
        .route("/monitor", get(monitor))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/artifacts/{sha}", get(artifact))
        .route("/style.css", get(style))
        .fallback(not_found)
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(app)
}

/// What a page handler renders: a template, its context, the status.
pub(crate) struct View {
    template: &'static str,
    context: Value,
    status: StatusCode,
}

impl View {
    pub(crate) fn ok(template: &'static str, context: Value) -> Self {
        Self {
            template,
            context,
            status: StatusCode::OK,
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// The query string's pairs, repeated keys kept (`ids=a&ids=b`).
pub(crate) type Query = Vec<(String, String)>;

pub(crate) fn param<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, v)| k == key && !v.trim().is_empty())
        .map(|(_, v)| v.as_str())
}

fn parse_pairs(text: &str) -> Query {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The session of a request, and the cookie to set when it is new.
fn session(app: &App, headers: &HeaderMap) -> (Session, Option<String>) {
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    match app.sessions.get(cookie) {
        Some(s) => (s, None),
        None => {
            let s = app.sessions.create(None);
            let set = auth::set_cookie(&s);
            (s, Some(set))
        }
    }
}

/// Headers every answer carries (a layer over every route, the router's own 404 and
/// 405 included): no script may run, no other site may frame the pages or receive a
/// form from them. An answer that set its own policy (a stored artifact's) keeps it.
async fn secure_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        ));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// `r` with the session cookie set, when there is one to set.
fn with_cookie(mut r: Response, set_cookie: Option<String>) -> Response {
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The status an error's page gets.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Usage(_) | Error::Config(_) => StatusCode::BAD_REQUEST,
        Error::Refused(_) | Error::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Renders a view (or an error's page) for `session`.
fn render(app: &App, view: Result<View>, session: &Session, cookie: Option<String>) -> Response {
    let view = view.unwrap_or_else(|e| error_view(status_of(&e), &e.to_string()));
    let mut context = view.context;
    if let Value::Object(m) = &mut context {
        m.insert("reviewer".into(), json!(session.reviewer));
        m.insert("csrf".into(), json!(session.csrf));
        m.insert("can_login".into(), json!(!app.tokens.is_empty()));
        m.insert(
            "project".into(),
            json!(crate::tracking::experiment(&app.cfg)),
        );
    }
    let html = app
        .templates
        .get_template(view.template)
        .and_then(|t| t.render(minijinja::value::Serde(&context)));
    let r = match html {
        Ok(html) => (
            view.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("rendering {}: {e:#}", view.template);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "mlx ui could not render this page; the server's log says why\n",
            )
                .into_response()
        }
    };
    with_cookie(r, cookie)
}

pub(crate) fn error_view(status: StatusCode, message: &str) -> View {
    View::ok(
        "error.html",
        json!({"status": status.as_u16(), "reason": status.canonical_reason(), "message": message}),
    )
    .with_status(status)
}

/// Runs a page's reading (blocking: the stores are read synchronously) off the async
/// threads, and renders it.
async fn page(
    app: Arc<App>,
    headers: HeaderMap,
    f: impl FnOnce(&App, &Session) -> Result<View> + Send + 'static,
) -> Response {
    let (s, cookie) = session(&app, &headers);
    let (a, sess) = (app.clone(), s.clone());
    let view = tokio::task::spawn_blocking(move || f(&a, &sess))
        .await
        .unwrap_or_else(|e| {
            tracing::error!("a page's work failed: {e}");
            Err(Error::Runtime(
                "this page failed inside mlx ui; the server's log says why".into(),
            ))
        });
    render(&app, view, &s, cookie)
}

async fn runs(State(app): State<Arc<App>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let q = parse_pairs(q.as_deref().unwrap_or(""));
    page(app, headers, move |a, _| pages::runs(a, &q)).await
}

async fn run(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    page(app, headers, move |a, _| pages::run(a, &id)).await
}

async fn compare(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = parse_pairs(q.as_deref().unwrap_or(""));
    page(app, headers, move |a, _| pages::compare(a, &q)).await
}

async fn registry(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    page(app, headers, |a, _| pages::registry(a)).await
}

async fn review(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    page(app, headers, |a, s| pages::review(a, s, None)).await
}

async fn monitor(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    page(app, headers, |a, _| pages::monitor(a)).await
}

async fn login_form(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = parse_pairs(q.as_deref().unwrap_or(""));
    let next = safe_next(param(&q, "next"));
    page(app, headers, move |_, _| {
        Ok(View::ok("login.html", json!({"next": next, "error": null})))
    })
    .await
}

/// Where a login may send the browser: a path of this server, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/review".into(),
    }
}

/// A form's fields, after the CSRF check: the refusal page when the form does not
/// carry its session's token (a new session's token is new, so it never matches).
fn checked_form(
    app: &App,
    headers: &HeaderMap,
    body: &str,
) -> std::result::Result<(Session, Query), Box<Response>> {
    let (s, cookie) = session(app, headers);
    let form = parse_pairs(body);
    if !auth::csrf_ok(&s, param(&form, "csrf")) {
        let v = error_view(
            StatusCode::FORBIDDEN,
            "this form did not carry its page's security token (CSRF): it was sent from \
             another site, from an old page, or after the server restarted. Open the page \
             again and send the form from there",
        );
        return Err(Box::new(render(app, Ok(v), &s, cookie)));
    }
    Ok((s, form))
}

async fn login(State(app): State<Arc<App>>, headers: HeaderMap, body: String) -> Response {
    let (old, form) = match checked_form(&app, &headers, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let next = safe_next(param(&form, "next"));
    match param(&form, "token").and_then(|t| app.tokens.reviewer(t)) {
        Some(name) => {
            app.sessions.remove(&old.id);
            let s = app.sessions.create(Some(name.clone()));
            tracing::info!("{name} logged in to mlx ui");
            with_cookie(redirect(&next), Some(auth::set_cookie(&s)))
        }
        None => {
            let v = View::ok(
                "login.html",
                json!({"next": next, "error": "that token is not a reviewer's token here \
                        (ui.tokens, MLX_UI_TOKENS or the tokens file)"}),
            )
            .with_status(StatusCode::UNAUTHORIZED);
            render(&app, Ok(v), &old, None)
        }
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, body: String) -> Response {
    match checked_form(&app, &headers, &body) {
        Ok((s, _)) => {
            app.sessions.remove(&s.id);
            with_cookie(redirect("/runs"), Some(auth::clear_cookie()))
        }
        Err(r) => *r,
    }
}

async fn decide(State(app): State<Arc<App>>, headers: HeaderMap, body: String) -> Response {
    let (s, form) = match checked_form(&app, &headers, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let (a, sess) = (app.clone(), s.clone());
    let view = tokio::task::spawn_blocking(move || pages::decide(&a, &sess, &form))
        .await
        .unwrap_or_else(|e| {
            tracing::error!("a decision failed: {e}");
            Err(Error::Runtime(
                "the decision failed inside mlx ui; nothing was recorded; the server's log says why"
                    .into(),
            ))
        });
    render(&app, view, &s, None)
}

async fn artifact(State(app): State<Arc<App>>, Path(sha): Path<String>) -> Response {
    let (a, s) = (app.clone(), sha.clone());
    let got = tokio::task::spawn_blocking(move || pages::artifact(&a, &s)).await;
    match got {
        Ok(Ok(Some((bytes, kind)))) => {
            let mut r = ([(header::CONTENT_TYPE, kind)], bytes).into_response();
            // Stored files are shown, never run: an SVG's script stays inert.
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=86400, immutable"),
            );
            r
        }
        Ok(Ok(None)) => (
            StatusCode::NOT_FOUND,
            format!("no artifact {sha} in the tracking store"),
        )
            .into_response(),
        Ok(Err(e)) => (status_of(&e), e.to_string()).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn not_found(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    page(app, headers, |_, _| {
        Ok(error_view(
            StatusCode::NOT_FOUND,
            "there is no such page: the pages are runs, compare, registry, review and monitor",
        ))
    })
    .await
}
