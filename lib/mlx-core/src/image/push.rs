//! `mlx image push` (and `mlx image build --push`): an OCI image layout sent to a
//! registry through the OCI distribution API, as `docker push` does:
//!
//! 1. `GET /v2/`: the API is there; a `401` names how to authenticate (`Basic`, or
//!    `Bearer` with a token service, as ghcr.io, Docker Hub, ECR and GitLab do);
//! 2. for each blob (the layer, then the image config): `HEAD` it, and when the registry
//!    lacks it, `POST /v2/<name>/blobs/uploads/` and `PUT` the bytes to the upload
//!    location with `?digest=`, a monolithic upload;
//! 3. `PUT /v2/<name>/manifests/<tag>` with the manifest, whose digest the registry
//!    returns (`Docker-Content-Digest`) and must equal the one built.
//!
//! Credentials come from the environment: `MLX_REGISTRY_USERNAME` and
//! `MLX_REGISTRY_PASSWORD` (a password or an access token), or `MLX_REGISTRY_TOKEN` (a
//! bearer token used as is); else from the file `docker login` or `podman login` wrote
//! (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`; their `auth` entries, not
//! credential helpers). They are never printed. HTTPS is the default, with the
//! system's roots (`SSL_CERT_FILE` names others); `--plain-http` is for a registry on
//! loopback, and sends no credentials anywhere else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where an image goes: `registry/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `ghcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `acme/churn`.
    pub repository: String,
    /// `v3`.
    pub tag: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

impl Reference {
    /// Parses `registry/repository[:tag]` (`config::rules::image_reference`).
    pub fn parse(text: &str) -> Result<Self> {
        let (registry, repository, tag) =
            crate::config::rules::image_reference(text).map_err(|why| {
                Error::Usage(format!(
                    "`{text}` is not an image reference to push to: {why} (write \
                     REGISTRY/REPOSITORY:TAG, as ghcr.io/acme/churn:v3 or \
                     127.0.0.1:5000/churn:v3)"
                ))
            })?;
        Ok(Self {
            registry,
            repository,
            tag,
        })
    }
}

/// How to authenticate.
#[derive(Clone, Default)]
pub struct Credentials {
    basic: Option<(String, String)>,
    token: Option<String>,
    /// Where they came from, for messages (never the values).
    from: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials(from {})", self.from)
    }
}

impl Credentials {
    /// The credentials for `registry`: from the environment, else from the login files
    /// of docker and podman; none when neither has any.
    pub fn lookup(env: &dyn Fn(&str) -> Option<String>, registry: &str) -> Result<Self> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(token) = set("MLX_REGISTRY_TOKEN") {
            return Ok(Self {
                token: Some(token),
                from: "MLX_REGISTRY_TOKEN".into(),
                ..Self::default()
            });
        }
        match (set("MLX_REGISTRY_USERNAME"), set("MLX_REGISTRY_PASSWORD")) {
            (Some(u), Some(p)) => {
                return Ok(Self {
                    basic: Some((u, p)),
                    from: "MLX_REGISTRY_USERNAME and MLX_REGISTRY_PASSWORD".into(),
                    ..Self::default()
                })
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::Usage(
                    "set both MLX_REGISTRY_USERNAME and MLX_REGISTRY_PASSWORD, or neither".into(),
                ))
            }
            (None, None) => {}
        }
        for file in auth_files(env) {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            if let Some(basic) = auth_in(&text, registry, &file)? {
                return Ok(Self {
                    basic: Some(basic),
                    from: file.display().to_string(),
                    ..Self::default()
                });
            }
        }
        Ok(Self {
            from: "nowhere (anonymous)".into(),
            ..Self::default()
        })
    }

    fn is_empty(&self) -> bool {
        self.basic.is_none() && self.token.is_none()
    }
}

/// The login files, in the order podman reads them, then docker's.
fn auth_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(f));
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        files.push(Path::new(&d).join("containers/auth.json"));
    }
    if let Some(d) = env("DOCKER_CONFIG") {
        files.push(Path::new(&d).join("config.json"));
    } else if let Some(h) = env("HOME") {
        files.push(Path::new(&h).join(".docker/config.json"));
    }
    files
}

/// The `auths.<registry>.auth` entry of a login file (`base64(user:password)`).
fn auth_in(text: &str, registry: &str, file: &Path) -> Result<Option<(String, String)>> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", file.display()));
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Some(auths) = v.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let entry = auths.iter().find(|(k, _)| {
        let k = k
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k == registry || k.split('/').next() == Some(registry)
    });
    let Some(auth) = entry
        .and_then(|(_, e)| e.get("auth"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            bad(format!(
                "the `auth` of {registry} is not base64 of user:password"
            ))
        })?;
    let (u, p) = decoded
        .split_once(':')
        .ok_or_else(|| bad(format!("the `auth` of {registry} is not user:password")))?;
    Ok(Some((u.to_owned(), p.to_owned())))
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer(BTreeMap<String, String>),
}

/// Parses `Basic realm="x"` or `Bearer realm="https://…",service="…",scope="…"`.
fn challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(',').map_or((after, ""), |(v, n)| (v, n))
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer(params))
}

/// How the push went.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Where, by tag.
    pub reference: Reference,
    /// The manifest's digest, as the registry confirmed it.
    pub digest: String,
    /// Blobs sent.
    pub uploaded: usize,
    /// Blobs the registry had already.
    pub present: usize,
    /// Bytes sent.
    pub bytes: u64,
}

impl Pushed {
    /// The image by digest, `registry/repository@sha256:...`.
    pub fn by_digest(&self) -> String {
        format!(
            "{}/{}@{}",
            self.reference.registry, self.reference.repository, self.digest
        )
    }
}

/// Transport settings.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// `http://` instead of `https://` (a registry on loopback only).
    pub plain_http: bool,
}

/// The image of an OCI layout: its manifest and the blobs it names, read and checked.
struct Image {
    manifest: Vec<u8>,
    digest: String,
    blobs: Vec<(String, PathBuf)>,
}

fn read_layout(layout: &Path) -> Result<Image> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| Error::io(format!("reading {}", p.display()), e));
    let bad = |why: String| {
        Error::Usage(format!(
            "{} is not an OCI image layout mlx can push: {why} (build one with `mlx image build`)",
            layout.display()
        ))
    };
    let index: Value = serde_json::from_slice(&read(&layout.join("index.json"))?)
        .map_err(|e| bad(format!("index.json: {e}")))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let [entry] = manifests.as_slice() else {
        return Err(bad(format!(
            "index.json lists {} manifests, not one",
            manifests.len()
        )));
    };
    let digest = entry["digest"]
        .as_str()
        .ok_or_else(|| bad("index.json's manifest has no digest".into()))?
        .to_owned();
    let blob = |digest: &str| -> Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| bad(format!("`{digest}` is not a sha256 digest")))?;
        Ok(layout.join("blobs/sha256").join(hex))
    };
    let manifest = read(&blob(&digest)?)?;
    let m: Value =
        serde_json::from_slice(&manifest).map_err(|e| bad(format!("the manifest: {e}")))?;
    let mut blobs = Vec::new();
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    for d in layers.iter().chain([&m["config"]]) {
        let d = d["digest"]
            .as_str()
            .ok_or_else(|| bad("the manifest names a blob without a digest".into()))?;
        blobs.push((d.to_owned(), blob(d)?));
    }
    Ok(Image {
        manifest,
        digest,
        blobs,
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::config::hex(&Sha256::digest(bytes)))
}

/// Pushes the image in the OCI layout `layout` to `to`.
pub fn push(
    layout: &Path,
    to: &Reference,
    creds: &Credentials,
    opts: &PushOptions,
) -> Result<Pushed> {
    let image = read_layout(layout)?;
    if sha256(&image.manifest) != image.digest {
        return Err(Error::Refused(format!(
            "{}: the manifest's bytes do not hash to {}: the layout was changed after it was \
             built; build it again",
            layout.display(),
            image.digest
        )));
    }
    let loopback = {
        let host = to
            .registry
            .rsplit_once(':')
            .map_or(to.registry.as_str(), |(h, _)| h);
        host == "localhost" || host == "[::1]" || host.starts_with("127.")
    };
    if opts.plain_http && !loopback && !creds.is_empty() {
        return Err(Error::Usage(format!(
            "--plain-http would send the credentials from {} to {} unencrypted; push over \
             HTTPS, or to a registry on loopback",
            creds.from, to.registry
        )));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the HTTP client", e))?;
    rt.block_on(async {
        let mut s = Session::new(to, creds, opts)?;
        s.start().await?;
        let (mut uploaded, mut present, mut bytes) = (0, 0, 0);
        for (digest, path) in &image.blobs {
            if s.has_blob(digest).await? {
                present += 1;
                continue;
            }
            let body = std::fs::read(path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if &sha256(&body) != digest {
                return Err(Error::Refused(format!(
                    "{} does not hash to its name: the layout was changed after it was built; \
                     build it again",
                    path.display()
                )));
            }
            bytes += body.len() as u64;
            s.upload(digest, body).await?;
            uploaded += 1;
        }
        let digest = s.put_manifest(&image).await?;
        Ok(Pushed {
            reference: to.clone(),
            digest,
            uploaded,
            present,
            bytes,
        })
    })
}

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

struct Session<'a> {
    client: reqwest::Client,
    base: url::Url,
    to: &'a Reference,
    creds: &'a Credentials,
    /// The `Authorization` header in use.
    auth: Option<String>,
}

impl<'a> Session<'a> {
    fn new(to: &'a Reference, creds: &'a Credentials, opts: &PushOptions) -> Result<Self> {
        let scheme = if opts.plain_http { "http" } else { "https" };
        let base = url::Url::parse(&format!("{scheme}://{}/", to.registry)).map_err(|e| {
            Error::Usage(format!("`{}` is not a registry address: {e}", to.registry))
        })?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(900))
            .user_agent(concat!("mlx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Runtime(format!("starting the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base,
            to,
            creds,
            auth: None,
        })
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.base
            .join(path)
            .map_err(|e| Error::Runtime(format!("{path}: {e}")))
    }

    fn failed(&self, what: &str, e: &reqwest::Error) -> Error {
        let why = crate::error::chain(e);
        Error::Runtime(format!(
            "{what} at {}: {why} (is the registry reachable, and its certificate trusted? \
             SSL_CERT_FILE names other roots; --plain-http for one on loopback without TLS)",
            self.base
        ))
    }

    /// One request, authenticated again once when the registry answers 401.
    async fn send(
        &mut self,
        method: Method,
        url: url::Url,
        body: Option<(&'static str, bytes::Bytes)>,
        what: &str,
    ) -> Result<reqwest::Response> {
        for attempt in 0..2 {
            let mut rb = self.client.request(method.clone(), url.clone());
            if let Some(a) = &self.auth {
                rb = rb.header(AUTHORIZATION, a);
            }
            if let Some((ty, b)) = &body {
                rb = rb.header(CONTENT_TYPE, *ty).body(b.clone());
            }
            let resp = rb.send().await.map_err(|e| self.failed(what, &e))?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if attempt == 0 {
                self.authenticate(resp.headers(), what).await?;
            }
        }
        Err(self.refused(what))
    }

    fn refused(&self, what: &str) -> Error {
        Error::Refused(format!(
            "{what}: {} refused the credentials from {}; check them (a token needs \
             permission to write packages)",
            self.to.registry, self.creds.from
        ))
    }

    /// `GET /v2/`: the API answers, and says how to authenticate.
    async fn start(&mut self) -> Result<()> {
        let url = self.url("v2/")?;
        let resp = self
            .send(Method::GET, url, None, "reaching the registry")
            .await?;
        self.check(resp, "reaching the registry", &[StatusCode::OK])
            .await?;
        Ok(())
    }

    async fn authenticate(&mut self, headers: &HeaderMap, what: &str) -> Result<()> {
        let header = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        match challenge(header) {
            Some(Challenge::Basic) => {
                let (u, p) = self.creds.basic.as_ref().ok_or_else(|| {
                    Error::Usage(format!(
                        "{} asks for a user name and password: set MLX_REGISTRY_USERNAME and \
                         MLX_REGISTRY_PASSWORD (or log in with `podman login` / `docker login`)",
                        self.to.registry
                    ))
                })?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                self.auth = Some(format!("Basic {encoded}"));
            }
            Some(Challenge::Bearer(params)) => {
                if let Some(t) = &self.creds.token {
                    self.auth = Some(format!("Bearer {t}"));
                    return Ok(());
                }
                let token = self.token(&params).await?;
                self.auth = Some(format!("Bearer {token}"));
            }
            None => {
                return Err(Error::Runtime(format!(
                    "{what}: {} answered 401 with a challenge mlx does not speak: `{header}`",
                    self.to.registry
                )))
            }
        }
        Ok(())
    }

    /// A token from the registry's token service for pushing to the repository.
    async fn token(&self, params: &BTreeMap<String, String>) -> Result<String> {
        let realm = params.get("realm").ok_or_else(|| {
            Error::Runtime(format!(
                "{} asks for a bearer token but names no token service (realm)",
                self.to.registry
            ))
        })?;
        let mut url = url::Url::parse(realm)
            .map_err(|e| Error::Runtime(format!("the token service `{realm}`: {e}")))?;
        if url.scheme() != "https" && url.scheme() != self.base.scheme() {
            return Err(Error::Refused(format!(
                "the token service `{realm}` is not HTTPS; mlx sends no credentials there"
            )));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                q.append_pair("service", service);
            }
            q.append_pair(
                "scope",
                &format!("repository:{}:pull,push", self.to.repository),
            );
        }
        let mut rb = self.client.get(url);
        if let Some((u, p)) = &self.creds.basic {
            rb = rb.basic_auth(u, Some(p));
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| self.failed("asking the token service", &e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::Refused(format!(
                "the token service of {} answered {status} for credentials from {}: check them \
                 (a token needs permission to write packages)",
                self.to.registry, self.creds.from
            )));
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|e| self.failed("reading the token", &e))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Runtime("the token service answered without a token".into()))
    }

    /// The response when its status is one of `ok`; else an error with the registry's
    /// own error codes.
    async fn check(
        &self,
        resp: reqwest::Response,
        what: &str,
        ok: &[StatusCode],
    ) -> Result<reqwest::Response> {
        let status = resp.status();
        if ok.contains(&status) {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let errors = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["errors"].as_array().cloned())
            .map(|errs| {
                errs.iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e["code"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| text.chars().take(300).collect());
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                " (credentials from {}: they need permission to push to {})",
                self.creds.from, self.to.repository
            ),
            StatusCode::NOT_FOUND if what == "reaching the registry" => {
                " (is this an OCI registry? it has no /v2/ API)".into()
            }
            _ => String::new(),
        };
        Err(Error::Runtime(format!(
            "{what}: {} answered {status}: {errors}{hint}",
            self.to.registry
        )))
    }

    async fn has_blob(&mut self, digest: &str) -> Result<bool> {
        let url = self.url(&format!("v2/{}/blobs/{digest}", self.to.repository))?;
        let what = format!("checking for blob {digest}");
        let resp = self.send(Method::HEAD, url, None, &what).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self.check(resp, &what, &[]).await.map(|_| false),
        }
    }

    async fn upload(&mut self, digest: &str, body: Vec<u8>) -> Result<()> {
        let what = format!("uploading blob {digest}");
        let url = self.url(&format!("v2/{}/blobs/uploads/", self.to.repository))?;
        let resp = self.send(Method::POST, url, None, &what).await?;
        let resp = self.check(resp, &what, &[StatusCode::ACCEPTED]).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| {
                Error::Runtime(format!("{what}: the registry gave no upload location"))
            })?;
        let mut at = self.url(location)?;
        if at.host_str() != self.base.host_str() {
            return Err(Error::Refused(format!(
                "{what}: the registry sent the upload to another host ({location}); mlx \
                 sends the image only to {}",
                self.to.registry
            )));
        }
        at.query_pairs_mut().append_pair("digest", digest);
        let body = bytes::Bytes::from(body);
        let resp = self
            .send(
                Method::PUT,
                at,
                Some(("application/octet-stream", body)),
                &what,
            )
            .await?;
        let resp = self.check(resp, &what, &[StatusCode::CREATED]).await?;
        confirm(resp.headers(), digest, &what)
    }

    async fn put_manifest(&mut self, image: &Image) -> Result<String> {
        let what = format!("pushing the manifest to {}", self.to);
        let url = self.url(&format!(
            "v2/{}/manifests/{}",
            self.to.repository, self.to.tag
        ))?;
        let body = bytes::Bytes::from(image.manifest.clone());
        let resp = self
            .send(Method::PUT, url, Some((MANIFEST_TYPE, body)), &what)
            .await?;
        let resp = self.check(resp, &what, &[StatusCode::CREATED]).await?;
        confirm(resp.headers(), &image.digest, &what)?;
        Ok(image.digest.clone())
    }
}

/// The registry's `Docker-Content-Digest`, when it sends one, equals what was sent.
fn confirm(headers: &HeaderMap, digest: &str, what: &str) -> Result<()> {
    match headers
        .get("docker-content-digest")
        .and_then(|h| h.to_str().ok())
    {
        Some(d) if d != digest => Err(Error::Runtime(format!(
            "{what}: the registry stored {d}, not {digest}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_registry_a_repository_and_a_tag() {
        let r = Reference::parse("ghcr.io/acme/churn:v3").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("ghcr.io", "acme/churn", "v3")
        );
        let r = Reference::parse("127.0.0.1:5000/churn").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "latest")
        );
        assert_eq!(r.to_string(), "127.0.0.1:5000/churn:latest");
        assert!(Reference::parse("localhost/a_b__c/d-e.f:1.0").is_ok());
        let corpus = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile/image/references.txt"),
        )
        .unwrap();
        let cases: Vec<(String, &str)> = corpus
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (reference, says) = l.split_once('\t').expect("reference<TAB>message");
                (reference.replace("\\n", "\n"), says)
            })
            .collect();
        assert!(cases.len() >= 10);
        for (bad, says) in cases {
            let e = Reference::parse(&bad).unwrap_err().to_string();
            assert!(
                e.contains("REGISTRY/REPOSITORY:TAG") && e.contains(says),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn challenges_are_read_as_registries_send_them() {
        assert_eq!(challenge(r#"Basic realm="mlx-ci""#), Some(Challenge::Basic));
        let Some(Challenge::Bearer(p)) = challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/churn:pull""#,
        ) else {
            panic!("not a bearer challenge")
        };
        assert_eq!(p["realm"], "https://ghcr.io/token");
        assert_eq!(p["service"], "ghcr.io");
        assert_eq!(p["scope"], "repository:acme/churn:pull");
        let Some(Challenge::Bearer(p)) = challenge("bearer realm=https://a/t, service=a") else {
            panic!("not a bearer challenge")
        };
        assert_eq!(p["realm"], "https://a/t");
        assert_eq!(p["service"], "a");
        assert_eq!(challenge("Negotiate"), None);
    }

    #[test]
    fn credentials_come_from_the_environment_then_the_login_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        // base64("robot:s3cret")
        std::fs::write(
            &file,
            r#"{"auths":{"https://ghcr.io":{"auth":"cm9ib3Q6czNjcmV0"}}}"#,
        )
        .unwrap();
        let env = |vars: &'static [(&'static str, &'static str)]| {
            let file = file.clone();
            move |k: &str| {
                if k == "REGISTRY_AUTH_FILE" {
                    return Some(file.display().to_string());
                }
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = Credentials::lookup(&env(&[]), "ghcr.io").unwrap();
        assert_eq!(c.basic, Some(("robot".into(), "s3cret".into())));
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = Credentials::lookup(&env(&[]), "quay.io").unwrap();
        assert!(c.is_empty());
        let c = Credentials::lookup(
            &env(&[
                ("MLX_REGISTRY_USERNAME", "u"),
                ("MLX_REGISTRY_PASSWORD", "p"),
            ]),
            "ghcr.io",
        )
        .unwrap();
        assert_eq!(c.basic, Some(("u".into(), "p".into())));
        let c = Credentials::lookup(&env(&[("MLX_REGISTRY_TOKEN", "t")]), "ghcr.io").unwrap();
        assert_eq!(c.token.as_deref(), Some("t"));
        assert!(Credentials::lookup(&env(&[("MLX_REGISTRY_USERNAME", "u")]), "ghcr.io").is_err());
    }
}
