//! `mlx image build`: the same inputs give the same image, byte for byte; the image holds
//! mlx, the libraries it loads, CA certificates, a non-root user, the config and the
//! verified bundle, and nothing else of the host; and under podman (installed by
//! tests/run.sh) it serves the same predictions as `mlx serve` here, as user 65532, from
//! a read-only root file system.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mlx_testkit::Sandbox;
use serde_json::{json, Value};
use sha2::Digest;

const CONFIG: &str = "\
project: { name: churn }
data:
  sources: [{ name: customers, uri: customers.csv }]
  target: churned
features:
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
deploy: { port: 8080 }
";

const EPOCH: &str = "1700000000";

fn mlx(dir: &Path) -> Command {
    let mut c = mlx_testkit::std_command("mlx");
    c.current_dir(dir)
        .env("MLX_ACTOR", "ci")
        .env("SOURCE_DATE_EPOCH", EPOCH);
    c
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project whose version 1 is in production.
fn project() -> Sandbox {
    let s = Sandbox::churn(CONFIG);
    ok(mlx(s.path()).arg("run").output().unwrap());
    s
}

fn build(dir: &Path, out: &str, extra: &[&str]) -> String {
    let mut c = mlx(dir);
    c.args(["image", "build", "--output", out]).args(extra);
    ok(c.output().unwrap()).trim().to_owned()
}

/// A path with `..` resolved by its text, without the leading `/` (an rpath may read
/// `lib/../libxgboost.so`).
fn lexical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn json_file(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The image's manifest, config and layer entries (path, size, mode, uid, mtime, bytes
/// for the small ones), read from the OCI layout with every digest checked.
struct Image {
    manifest: Value,
    config: Value,
    entries: Vec<(String, u64, u32, u64, u64, Vec<u8>)>,
}

fn read_image(layout: &Path) -> Image {
    let blob = |digest: &str| {
        let bytes = std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap();
        assert_eq!(
            format!("sha256:{}", sha256(&bytes)),
            digest,
            "a blob is not its digest"
        );
        bytes
    };
    let index = json_file(&layout.join("index.json"));
    let manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    assert_eq!(manifest["layers"][0]["size"], layer.len());
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(&layer[..])
        .read_to_end(&mut tar_bytes)
        .unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        format!("sha256:{}", sha256(&tar_bytes)),
        "the diff id is the uncompressed layer's digest"
    );
    let mut entries = Vec::new();
    for e in tar::Archive::new(&tar_bytes[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        if h.size().unwrap() < 100_000 {
            e.read_to_end(&mut bytes).unwrap();
        }
        entries.push((
            path,
            h.size().unwrap(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.mtime().unwrap(),
            bytes,
        ));
    }
    Image {
        manifest,
        config,
        entries,
    }
}

#[test]
fn the_image_holds_what_mlx_needs_and_the_same_inputs_give_the_same_bytes() {
    let s = project();
    let d = s.path();
    let digest = build(d, "one", &[]);
    assert_eq!(build(d, "two", &[]), digest);
    assert_eq!(
        std::fs::read(d.join("one/image.tar")).unwrap(),
        std::fs::read(d.join("two/image.tar")).unwrap(),
        "two builds of the same inputs differ"
    );
    let index = json_file(&d.join("one/oci/index.json"));
    assert_eq!(index["manifests"][0]["digest"], digest);
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "mlx/churn:v1"
    );
    let docker = json_file(&d.join("one/oci/manifest.json"));
    assert_eq!(docker[0]["RepoTags"], json!(["mlx/churn:v1"]));

    let image = read_image(&d.join("one/oci"));
    assert_eq!(
        image.manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let c = &image.config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], json!(["/usr/local/bin/mlx"]));
    assert_eq!(
        c["Cmd"],
        json!([
            "serve",
            "--host",
            "0.0.0.0",
            "--bundle",
            "/opt/mlx/bundle.tar"
        ])
    );
    assert_eq!(c["Labels"]["dev.mlx.version"], "1");
    assert_eq!(
        c["Healthcheck"]["Test"],
        json!(["CMD", "/usr/local/bin/mlx", "serve", "health"])
    );
    assert_eq!(image.config["created"], "2023-11-14T22:13:20Z");

    let entry = |p: &str| {
        image
            .entries
            .iter()
            .find(|e| e.0.trim_end_matches('/') == p)
            .unwrap_or_else(|| panic!("no {p} in the image"))
    };
    let mlx_bin = std::fs::metadata(assert_cmd::cargo::cargo_bin("mlx"))
        .unwrap()
        .len();
    assert_eq!(entry("usr/local/bin/mlx").1, mlx_bin);
    assert_eq!(entry("usr/local/bin/mlx").2 & 0o777, 0o755);
    assert_eq!(entry("srv/mlx/mlx.yaml").5, CONFIG.as_bytes());
    assert_eq!(
        entry("srv/mlx").3,
        65532,
        "the project directory is the user's"
    );
    assert!(String::from_utf8_lossy(&entry("etc/passwd").5).contains("mlx:x:65532:65532:"));
    let registry_copy = std::fs::read(d.join(".mlx/registry-cache/churn-v1.tar")).unwrap();
    assert_eq!(entry("opt/mlx/bundle.tar").1, registry_copy.len() as u64);
    assert!(entry("etc/ssl/certs/ca-certificates.crt").1 > 0);
    // Every library the binary loads, at the path the loader finds it; nothing else.
    let ldd = Command::new("ldd")
        .arg(assert_cmd::cargo::cargo_bin("mlx"))
        .output()
        .unwrap();
    let libs: Vec<String> = String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|l| l.split(" (").next())
        .map(|l| l.rsplit("=> ").next().unwrap().trim())
        .filter(|l| l.starts_with('/'))
        .map(lexical)
        .collect();
    assert!(!libs.is_empty());
    let files: Vec<&str> = image
        .entries
        .iter()
        .filter(|e| !e.0.ends_with('/'))
        .map(|e| e.0.as_str())
        .collect();
    let mut expected: Vec<String> = libs;
    expected.extend(
        [
            "usr/local/bin/mlx",
            "etc/ssl/certs/ca-certificates.crt",
            "etc/passwd",
            "etc/group",
            "srv/mlx/mlx.yaml",
            "opt/mlx/bundle.tar",
        ]
        .map(String::from),
    );
    expected.sort();
    let mut files: Vec<String> = files.into_iter().map(String::from).collect();
    files.sort();
    assert_eq!(files, expected);
    assert!(
        image.entries.iter().all(|e| e.4 == 1_700_000_000),
        "a time stamp is not the epoch"
    );

    // Another epoch is another image.
    let other = ok(mlx(d)
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .args(["image", "build", "--output", "three"])
        .output()
        .unwrap());
    assert_ne!(other.trim(), digest);
}

#[test]
fn a_bundle_that_changed_since_training_is_not_baked_in() {
    let s = project();
    let d = s.path();
    let run = std::fs::read_dir(d.join(".mlx/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("bundle").is_dir())
        .expect("a run with a bundle");
    let bundle = run.join("bundle");
    let model_file = std::fs::read_dir(&bundle)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("manifest.json"))
        .expect("a model file");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&model_file)
        .unwrap();
    f.write_all(b" ").unwrap();
    let out = mlx(d)
        .args(["image", "build", "--output", "img", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("modified after training"), "{err}");
    assert!(!d.join("img/image.tar").exists());

    for (args, says) in [
        (vec!["--stage", "deploy"], "is not a stage"),
        (vec!["--version", "7"], "7"),
    ] {
        let out = mlx(d)
            .args(["image", "build"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}"
        );
    }
}

fn podman() -> String {
    std::env::var("MLX_TEST_PODMAN")
        .expect("MLX_TEST_PODMAN (set by tests/run.sh: tests/services/podman.sh)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request on a fresh connection: the status and the JSON body.
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, Value)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |b| b.1);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn wait_ready(port: u16, what: &str) {
    let start = Instant::now();
    loop {
        if matches!(http(port, "GET", "/readyz", ""), Ok((200, _))) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} never got ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn records(s: &Sandbox) -> Value {
    let rows: Vec<Value> = s
        .read("customers.csv")
        .lines()
        .skip(1)
        .take(25)
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
        .collect();
    json!({ "records": rows })
}

/// What a prediction says, without its request id and the registry version (a baked
/// bundle is served as a bundle, whose version is the image's label).
fn answers(body: &Value) -> Vec<Value> {
    body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut p = p.clone();
            let o = p.as_object_mut().unwrap();
            o.remove("request_id");
            o.remove("model_version");
            p
        })
        .collect()
}

#[test]
#[ignore = "needs podman: run `bash tests/run.sh`"]
fn the_image_serves_the_same_predictions_under_podman_as_a_non_root_user() {
    let podman = podman();
    let s = project();
    let d = s.path();
    build(d, "img", &["--tag", "localhost/mlx-test/churn:v1"]);
    let pm = |args: &[&str]| Command::new(&podman).args(args).output().unwrap();
    let loaded = pm(&["load", "-i", &d.join("img/image.tar").to_string_lossy()]);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );

    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let started = pm(&[
        "run",
        "-d",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--network",
        "bridge",
        "-p",
        &publish,
        "localhost/mlx-test/churn:v1",
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let id = String::from_utf8_lossy(&started.stdout).trim().to_owned();
    let _cleanup = scopeguard(&podman, &id);
    let logs = || String::from_utf8_lossy(&pm(&["logs", &id]).stderr).into_owned();
    let start = Instant::now();
    loop {
        if matches!(http(port, "GET", "/readyz", ""), Ok((200, _))) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the container never got ready: {}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "the container answered /readyz {:?} after it started",
        start.elapsed()
    );

    // The same predictions as mlx serve of the same version here.
    let local_port = free_port();
    let local = Killed(
        mlx(d)
            .args(["serve", "--port", &local_port.to_string(), "--model", "1"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_ready(local_port, "mlx serve");
    let body = records(&s).to_string();
    let (status, in_image) = http(port, "POST", "/v1/predict", &body).unwrap();
    assert_eq!(status, 200, "{in_image}");
    let (status, here) = http(local_port, "POST", "/v1/predict", &body).unwrap();
    assert_eq!(status, 200, "{here}");
    assert_eq!(answers(&in_image).len(), 25);
    assert_eq!(answers(&in_image), answers(&here));
    drop(local);

    // Not root: the server's process is user 65532, and its health check passes.
    let pid = String::from_utf8_lossy(&pm(&["inspect", "--format", "{{.State.Pid}}", &id]).stdout)
        .trim()
        .to_owned();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65532"),
        "{uid}"
    );
    let health = pm(&["exec", &id, "/usr/local/bin/mlx", "serve", "health"]);
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    // A read-only root: nothing outside the work directory can be written.
    let write = pm(&[
        "exec",
        &id,
        "/usr/local/bin/mlx",
        "init",
        "--dir",
        "/opt/mlx",
    ]);
    let said = String::from_utf8_lossy(&write.stderr);
    assert!(
        !write.status.success() && said.contains("Read-only file system"),
        "{said}"
    );
}

struct Remove {
    podman: String,
    id: String,
}

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = Command::new(&self.podman)
            .args(["rm", "-f", &self.id])
            .output();
    }
}

fn scopeguard(podman: &str, id: &str) -> Remove {
    Remove {
        podman: podman.into(),
        id: id.into(),
    }
}

/// The registry tests/services/registry.sh started: its address, and the environment
/// that trusts its certificate and holds its credentials.
fn registry() -> (String, Vec<(&'static str, String)>) {
    let var = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k} (set by tests/run.sh: tests/services/registry.sh)"))
    };
    (
        var("MLX_TEST_REGISTRY"),
        vec![
            ("SSL_CERT_FILE", var("MLX_TEST_REGISTRY_CA")),
            ("MLX_REGISTRY_USERNAME", var("MLX_TEST_REGISTRY_USERNAME")),
            ("MLX_REGISTRY_PASSWORD", var("MLX_TEST_REGISTRY_PASSWORD")),
        ],
    )
}

/// Podman pulls `reference` (trusting the CA `ca`, with `creds`), as a client of the
/// registry independent of mlx: the digest it stored.
fn pull(podman: &str, dir: &Path, ca: &str, creds: &str, reference: &str) -> String {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(ca, certs.join("ca.crt")).unwrap();
    let pulled = Command::new(podman)
        .args(["pull", "--quiet", "--creds", creds, "--cert-dir"])
        .arg(&certs)
        .arg(reference)
        .output()
        .unwrap();
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let inspected = Command::new(podman)
        .args(["image", "inspect", "--format", "{{.Digest}}", reference])
        .output()
        .unwrap();
    String::from_utf8_lossy(&inspected.stdout).trim().to_owned()
}

fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
#[ignore = "needs an OCI registry and podman: run `bash tests/run.sh`"]
fn a_pushed_image_is_the_one_built_and_its_digest_is_recorded_for_the_deployment() {
    let (host, env) = registry();
    let s = project();
    let d = s.path();
    let reference = format!("{host}/mlx-test/churn:v1");
    let with_env = |c: &mut Command| {
        for (k, v) in &env {
            c.env(k, v);
        }
    };
    let mut c = mlx(d);
    with_env(&mut c);
    let pushed = ok(c
        .args([
            "image", "build", "--output", "img", "--tag", &reference, "--push",
        ])
        .output()
        .unwrap());
    let index = json_file(&d.join("img/oci/index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(pushed.trim(), format!("{host}/mlx-test/churn@{digest}"));

    // The registry holds exactly the built manifest, and its blobs (read back over
    // HTTPS with curl, an independent client).
    let (ca, user, password) = (&env[0].1, &env[1].1, &env[2].1);
    let creds = format!("{user}:{password}");
    let get = |path: &str| {
        curl(&[
            "--cacert",
            ca,
            "-u",
            &creds,
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &format!("https://{host}/v2/mlx-test/churn/{path}"),
        ])
    };
    let manifest = get("manifests/v1");
    assert_eq!(format!("sha256:{}", sha256(&manifest)), digest);
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(
        format!("sha256:{}", sha256(&get(&format!("blobs/{layer}")))),
        layer
    );

    // Podman pulls it from the registry and runs it.
    let podman = podman();
    assert_eq!(pull(&podman, d, ca, &creds, &reference), digest);
    let version = Command::new(&podman)
        .args(["run", "--rm", "--read-only", &reference, "--version"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("mlx "),
        "{}",
        String::from_utf8_lossy(&version.stderr)
    );

    // The registry version records it (what `mlx export kubernetes` runs by digest
    // when no --image is given: bins/mlx/tests/kubernetes.rs).
    let shown = || -> Value {
        let v: Value = serde_json::from_str(&ok(mlx(d)
            .args(["promote", "show", "--version", "1", "--json"])
            .output()
            .unwrap()))
        .unwrap();
        v["state"]["images"].clone()
    };
    let images = shown();
    assert_eq!(images.as_array().unwrap().len(), 1, "{images}");
    assert_eq!(images[0]["reference"], reference);
    assert_eq!(images[0]["digest"], digest);
    assert_eq!(images[0]["pushed_by"], "ci");

    // `mlx image push --layout img/oci ARGS` with the registry's environment, changed
    // by `set` (None: removed).
    let push = |set: &[(&str, Option<&str>)], args: &[&str]| {
        let mut c = mlx(d);
        with_env(&mut c);
        for (k, v) in set {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.args(["image", "push", "--layout", "img/oci"])
            .args(args)
            .output()
            .unwrap()
    };
    // Pushing again sends nothing new and changes nothing.
    let again = push(&[], &[]);
    assert!(again.status.success(), "{again:?}");
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("0 blob(s) sent (0.0 MB), 2 already there"),
        "{said}"
    );

    // Wrong or missing credentials: a clear refusal, nothing recorded.
    let other = format!("{host}/mlx-test/other:v1");
    let wrong = push(
        &[("MLX_REGISTRY_PASSWORD", Some("not-the-password"))],
        &[&other],
    );
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        said.contains("refused the credentials from MLX_REGISTRY_USERNAME"),
        "{said}"
    );
    assert!(!said.contains("not-the-password"), "{said}");
    let home = d.to_string_lossy();
    let none = push(
        &[
            ("MLX_REGISTRY_USERNAME", None),
            ("MLX_REGISTRY_PASSWORD", None),
            ("HOME", Some(&home)),
        ],
        &[&other],
    );
    assert_eq!(none.status.code(), Some(2), "{none:?}");
    assert!(
        String::from_utf8_lossy(&none.stderr)
            .contains("set MLX_REGISTRY_USERNAME and MLX_REGISTRY_PASSWORD"),
        "{none:?}"
    );
    // An untrusted certificate: refused, saying how to trust it.
    let untrusted = push(&[("SSL_CERT_FILE", None)], &[]);
    assert!(!untrusted.status.success());
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("SSL_CERT_FILE"),
        "{untrusted:?}"
    );
    assert_eq!(shown(), images, "a failed push changed the recorded image");
}

#[test]
#[ignore = "needs an OCI registry and podman: run `bash tests/run.sh`"]
fn a_registry_behind_a_token_service_takes_the_push_with_a_scoped_bearer_token() {
    let (_, env) = registry();
    let host = std::env::var("MLX_TEST_TOKEN_REGISTRY")
        .expect("MLX_TEST_TOKEN_REGISTRY (tests/services/registry.sh)");
    let s = project();
    let d = s.path();
    let reference = format!("{host}/mlx-test/churn:v1");
    let push = |password: &str| {
        let mut c = mlx(d);
        for (k, v) in &env {
            c.env(k, v);
        }
        c.env("MLX_REGISTRY_PASSWORD", password)
            .args([
                "image", "build", "--output", "img", "--tag", &reference, "--push",
            ])
            .output()
            .unwrap()
    };
    // The token service refuses a wrong password: so does mlx, exit 1, not printing it.
    let wrong = push("not-the-password");
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("token service"), "{said}");
    assert!(!said.contains("not-the-password"), "{said}");

    let out = push(&env[2].1);
    let pushed = ok(out);
    let digest = json_file(&d.join("img/oci/index.json"))["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pushed.trim(), format!("{host}/mlx-test/churn@{digest}"));
    // Podman runs the same token exchange itself, and pulls exactly that image.
    let creds = format!("{}:{}", env[1].1, env[2].1);
    assert_eq!(pull(&podman(), d, &env[0].1, &creds, &reference), digest);
}
