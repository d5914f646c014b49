//! `mlx image build`: an OCI image made by mlx itself, with no Docker daemon and no base
//! image pulled from anywhere.
//!
//! The image is one layer holding exactly what mlx needs to run:
//! - the `mlx` binary at `/usr/local/bin/mlx` and the shared libraries it loads, at
//!   the paths the dynamic loader finds them (as `ldd` lists them; none for a static
//!   binary);
//! - the host's CA certificates (`/etc/ssl/certs/ca-certificates.crt`, `SSL_CERT_FILE`);
//! - `/etc/passwd` and `/etc/group` naming one user and group, `mlx` (65532), which the
//!   image runs as: never root;
//! - the project directory `/srv/mlx` with the config as written (`MLX_CONFIG`), and
//!   its work directory `/srv/mlx/.mlx` declared a volume, so the root file system can be
//!   read-only;
//! - for a serving image, the bundle at `/opt/mlx/bundle.tar`, served by
//!   `mlx serve --bundle` (or, with no bundle, the registry's `deploy.model`).
//!
//! The same inputs give the same image digest: entries are sorted, every time stamp is
//! `SOURCE_DATE_EPOCH` (0 when unset), owners and modes are fixed, and gzip writes no
//! name or time. It is written as an OCI image layout (`oci/`) and as `image.tar`, one
//! archive that is both that layout and a `docker save` archive (`manifest.json`), so
//! `docker load` and `podman load` both read it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub mod push;

use crate::config::LoadedConfig;
use crate::error::{Error, Result};

/// The user and group the image runs as.
pub const USER: u32 = 65532;
/// Where the binary is.
pub const BINARY: &str = "/usr/local/bin/mlx";
/// The project directory: the config, and the work directory beside it.
pub const PROJECT: &str = "/srv/mlx";
/// Where a serving image holds its bundle.
pub const BUNDLE: &str = "/opt/mlx/bundle.tar";
/// The CA certificates.
pub const CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The label naming the registry model of a baked-in version.
const LABEL_MODEL: &str = "dev.mlx.registry-model";
/// The label naming that version.
const LABEL_VERSION: &str = "dev.mlx.version";

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What the image runs.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// `mlx serve`: of this bundle (packed file) baked in, or of the registry's
    /// `deploy.model` when none.
    Serve {
        /// The bundle, and the registry model and version it is (for the image's labels,
        /// and the registry's record of a push).
        bundle: Option<(PathBuf, Option<(String, u64)>)>,
    },
    /// A stage, or `run` for the whole pipeline (a training image).
    Stage(String),
}

/// What the command line chooses.
#[derive(Debug, Clone)]
pub struct Options {
    /// The mlx binary to put in (the running one, by default).
    pub binary: PathBuf,
    /// What the image runs.
    pub purpose: Purpose,
    /// The name the image is loaded as (`mlx/ad-sales:v3`).
    pub tag: String,
    /// Every time stamp in the image (`SOURCE_DATE_EPOCH`).
    pub epoch: u64,
    /// Where the CA certificates are read from.
    pub ca_file: PathBuf,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Built {
    /// The manifest's digest (`sha256:...`): the image's identity.
    pub digest: String,
    /// The layer's compressed size, bytes.
    pub layer_size: u64,
    /// The size of `image.tar`, bytes.
    pub archive_size: u64,
    /// The files in the image, with their sizes (paths without the leading `/`).
    pub files: Vec<(String, u64)>,
    /// `image.tar`.
    pub archive: PathBuf,
    /// The OCI image layout directory.
    pub layout: PathBuf,
}

/// One entry of the layer.
#[derive(Debug, Clone)]
enum Entry {
    Dir { mode: u32, owner: u32 },
    File { from: Source, mode: u32 },
}

#[derive(Debug, Clone)]
enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// The root file system, by path without the leading `/`.
#[derive(Debug, Default)]
struct Tree(BTreeMap<String, Entry>);

impl Tree {
    fn dir(&mut self, path: &str, mode: u32, owner: u32) {
        self.parents(path);
        self.0.insert(
            path.trim_matches('/').to_owned(),
            Entry::Dir { mode, owner },
        );
    }

    fn file(&mut self, path: &str, from: Source, mode: u32) {
        self.parents(path);
        self.0.insert(
            path.trim_matches('/').to_owned(),
            Entry::File { from, mode },
        );
    }

    /// A shared library at the path the loader opens, as `ldd` shows it (an rpath may
    /// hold `lib/..`): the file goes where that path leads, and every directory the path
    /// passes through before a `..` exists too.
    fn library(&mut self, path: &Path, from: Source) {
        let mut passed = PathBuf::new();
        for c in path.components() {
            if c == std::path::Component::ParentDir {
                self.dir(&lexical(&passed), 0o755, 0);
            }
            passed.push(c);
        }
        self.file(&lexical(path), from, 0o755);
    }

    fn parents(&mut self, path: &str) {
        let path = path.trim_matches('/');
        let mut at = 0;
        while let Some(p) = path[at..].find('/') {
            let parent = &path[..at + p];
            self.0.entry(parent.to_owned()).or_insert(Entry::Dir {
                mode: 0o755,
                owner: 0,
            });
            at += p + 1;
        }
    }
}

/// Builds the image for the config in `config` into `out` (`out/oci/`, `out/image.tar`).
pub fn build(config: &LoadedConfig, opts: &Options, out: &Path) -> Result<Built> {
    std::fs::create_dir_all(out)
        .map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let bundle = match &opts.purpose {
        Purpose::Serve {
            bundle: Some((path, _)),
        } => Some(packed_bundle(path, out)?),
        _ => None,
    };
    let file = config_file(config)?;
    let tree = tree(config, &file, opts, bundle.as_deref())?;
    let oci = out.join("oci");
    if oci.exists() {
        std::fs::remove_dir_all(&oci)
            .map_err(|e| Error::io(format!("emptying {}", oci.display()), e))?;
    }
    let blobs = oci.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)
        .map_err(|e| Error::io(format!("creating {}", blobs.display()), e))?;
    let layer = write_layer(&tree, opts.epoch, &blobs)?;
    let image_config = image_config(config, &file, opts, &layer.diff_id);
    let config_blob = blob(&blobs, &crate::json::line(&image_config)?.into_bytes())?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": config_blob.0, "size": config_blob.1 },
        "layers": [{ "mediaType": OCI_LAYER, "digest": layer.digest, "size": layer.size }],
    });
    let manifest_blob = blob(&blobs, &crate::json::line(&manifest)?.into_bytes())?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_blob.0,
            "size": manifest_blob.1,
            "annotations": {
                "org.opencontainers.image.ref.name": opts.tag,
                "io.containerd.image.name": opts.tag,
            },
        }],
    });
    let files = [
        (
            "oci-layout".to_owned(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".to_owned(),
            crate::json::line(&index)?.into_bytes(),
        ),
        (
            "manifest.json".to_owned(),
            crate::json::line(&json!([{
                "Config": format!("blobs/sha256/{}", hex_of(&config_blob.0)),
                "RepoTags": [opts.tag],
                "Layers": [format!("blobs/sha256/{}", hex_of(&layer.digest))],
            }]))?
            .into_bytes(),
        ),
    ];
    for (name, bytes) in &files {
        let p = oci.join(name);
        crate::fsutil::atomic_write(&p, bytes)
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    }
    let archive = out.join("image.tar");
    let archive_size = write_archive(&oci, &archive, opts.epoch)?;
    Ok(Built {
        digest: manifest_blob.0,
        layer_size: layer.size,
        archive_size,
        files: layer.files,
        archive,
        layout: oci,
    })
}

/// The name the image in `layout` was built as (`--tag`), from its index.
pub fn built_as(layout: &Path) -> Result<String> {
    let index = layout.join("index.json");
    let text = std::fs::read(&index).map_err(|e| {
        Error::io(
            format!(
                "reading {} (build the image first: mlx image build)",
                index.display()
            ),
            e,
        )
    })?;
    let v: Value = serde_json::from_slice(&text).unwrap_or_default();
    v["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} names no tag; name where to push: mlx image push REGISTRY/REPOSITORY:TAG",
                index.display()
            ))
        })
}

/// The registry model and version whose bundle the image in `layout` serves (its
/// labels), if it was built from one.
pub fn built_from(layout: &Path) -> Result<Option<(String, u64)>> {
    let json = |p: &Path| -> Result<Value> {
        let bytes =
            std::fs::read(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
        Ok(serde_json::from_slice(&bytes).unwrap_or_default())
    };
    let blob = |digest: &Value| {
        digest
            .as_str()
            .map(|d| layout.join("blobs/sha256").join(hex_of(d)))
    };
    let index = json(&layout.join("index.json"))?;
    let Some(manifest) = blob(&index["manifests"][0]["digest"]) else {
        return Ok(None);
    };
    let Some(image_config) = blob(&json(&manifest)?["config"]["digest"]) else {
        return Ok(None);
    };
    let labels = &json(&image_config)?["config"]["Labels"];
    let model = labels[LABEL_MODEL].as_str();
    let version = labels[LABEL_VERSION].as_str().and_then(|v| v.parse().ok());
    Ok(model.zip(version).map(|(m, v)| (m.to_owned(), v)))
}

/// Records in the registry that version `version` of `model` was pushed as `pushed`:
/// what `mlx export kubernetes` and a deployment run by digest. `Ok(false)` when the
/// config's registry holds another model.
pub fn record_push(
    config: &mlx_contracts::config::Config,
    model: &str,
    version: u64,
    pushed: &push::Pushed,
) -> Result<bool> {
    let store = crate::registry::open(config)?;
    if store.model() != model {
        return Ok(false);
    }
    let reference = pushed.reference.to_string();
    let same = |i: &mlx_contracts::registry::PushedImage| {
        i.reference == reference && i.digest == pushed.digest
    };
    let state = crate::registry::current(&store)?;
    if state
        .versions
        .get(&version)
        .is_some_and(|v| v.images.iter().any(same))
    {
        // Pushed again as it was: nothing to record.
        return Ok(true);
    }
    crate::registry::change(&store, |s| {
        crate::registry::state::image(s, version, &reference, &pushed.digest)
    })?;
    Ok(true)
}

/// The image last pushed for the production version, by digest: what a deployment
/// runs when none is named.
pub fn production_image(config: &mlx_contracts::config::Config) -> Result<String> {
    let store = crate::registry::open(config)?;
    let state = crate::registry::current(&store)?;
    let n = state.production().ok_or_else(|| {
        Error::Usage(format!(
            "`{}` has no production version, so no image of it; pass --image",
            state.model
        ))
    })?;
    state.versions[&n]
        .images
        .iter()
        .max_by_key(|i| i.pushed_at)
        .map(|i| i.by_digest())
        .ok_or_else(|| {
            Error::Usage(format!(
                "no image of production version {n} was pushed; pass --image, or push one: \
                 mlx image build --tag REGISTRY/REPOSITORY:v{n} --push"
            ))
        })
}

/// The bundle as one packed file, verified: a directory is packed (`out/bundle.tar`), a
/// packed file is checked against its manifest. What the image serves is what training
/// wrote.
fn packed_bundle(path: &Path, out: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let to = out.join("bundle.tar");
        crate::model::bundle::pack(path, &to)?;
        Ok(to)
    } else {
        crate::model::bundle::Bundle::load(path)?;
        Ok(path.to_path_buf())
    }
}

/// What goes into the image.
fn tree(config: &LoadedConfig, file: &str, opts: &Options, bundle: Option<&Path>) -> Result<Tree> {
    let mut t = Tree::default();
    t.file(BINARY, Source::Path(opts.binary.clone()), 0o755);
    for lib in shared_libraries(&opts.binary)? {
        t.library(&lib, Source::Path(lib.clone()));
    }
    if !opts.ca_file.is_file() {
        return Err(Error::Usage(format!(
            "{} is missing: the image needs CA certificates to reach object stores over \
             TLS; install them (Debian: apt-get install ca-certificates) or pass --ca-file",
            opts.ca_file.display()
        )));
    }
    t.file(CA_FILE, Source::Path(opts.ca_file.clone()), 0o644);
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nmlx:x:{USER}:{USER}:mlx:{PROJECT}:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nmlx:x:{USER}:\n");
    t.file("etc/passwd", Source::Bytes(passwd.into_bytes()), 0o644);
    t.file("etc/group", Source::Bytes(group.into_bytes()), 0o644);
    t.dir("tmp", 0o1777, 0);
    t.dir(PROJECT, 0o755, USER);
    for v in volumes(config) {
        t.dir(&v, 0o755, USER);
    }
    t.file(
        &format!("{PROJECT}/{file}"),
        Source::Bytes(config.source.clone().into_bytes()),
        0o644,
    );
    if let Some(bundle) = bundle {
        t.file(BUNDLE, Source::Path(bundle.to_path_buf()), 0o644);
    }
    Ok(t)
}

/// The config's file name in the image (as in the Kubernetes ConfigMap).
fn config_file(config: &LoadedConfig) -> Result<String> {
    if config.source.is_empty() {
        return Err(Error::Usage(format!(
            "{} is empty or missing: the image carries the config, so build from one",
            config.path.display()
        )));
    }
    crate::export::kubernetes::config_file_name(&config.path)
}

/// The directories a container writes, declared volumes so its root can be read-only:
/// the work directory, and the prediction log's directory where it lies outside it
/// (`deploy.prediction_log: /var/log/mlx`, or relative to the project).
fn volumes(config: &LoadedConfig) -> Vec<String> {
    let work = format!("{PROJECT}/.mlx");
    let log = Path::new(PROJECT).join(&config.config.deploy.prediction_log);
    let log = format!("/{}", lexical(&log));
    let mut v = vec![work.clone()];
    if !log.starts_with(&format!("{work}/")) && log != work && log != PROJECT && log != "/" {
        v.push(log);
    }
    v
}

/// `path` with `.` and `..` resolved by its text, `/`-separated.
fn lexical(path: &Path) -> String {
    crate::fsutil::lexical_parts(path).join("/")
}

/// The shared libraries `binary` loads, as the dynamic loader resolves them here
/// (`ldd`), the loader itself included; none for a static binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| Error::io("running ldd (Debian: libc-bin)", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if text.contains("not a dynamic executable") || err.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(Error::Runtime(format!(
            "ldd {}: {}",
            binary.display(),
            err.trim()
        )));
    }
    parse_ldd(&text).map_err(|lib| {
        Error::Runtime(format!(
            "{} needs {lib}, which the loader does not find here: install it, or build \
             mlx statically",
            binary.display()
        ))
    })
}

/// The absolute paths of `ldd`'s output; `Err(name)` for a library it did not find.
fn parse_ldd(text: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim) {
        let (name, rest) = match line.split_once(" => ") {
            Some((n, r)) => (n, r),
            None => (line, line),
        };
        if rest.starts_with("not found") {
            return Err(name.to_owned());
        }
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, or the loader
        // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
        let path = rest.split(" (").next().unwrap_or_default();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    libs.sort();
    libs.dedup();
    Ok(libs)
}

fn image_config(config: &LoadedConfig, file: &str, opts: &Options, diff_id: &str) -> Value {
    let cfg = &config.config;
    let (cmd, mut labels) = match &opts.purpose {
        Purpose::Serve {
            bundle: Some((_, version)),
        } => {
            let mut l = json!({ "dev.mlx.purpose": "serve", "dev.mlx.bundle": BUNDLE });
            if let Some((model, v)) = version {
                l[LABEL_MODEL] = json!(model);
                l[LABEL_VERSION] = json!(v.to_string());
            }
            (vec!["serve", "--host", "0.0.0.0", "--bundle", BUNDLE], l)
        }
        Purpose::Serve { bundle: None } => (
            vec!["serve", "--host", "0.0.0.0"],
            json!({ "dev.mlx.purpose": "serve", "dev.mlx.model": cfg.deploy.model }),
        ),
        Purpose::Stage(stage) => (vec![stage.as_str()], json!({ "dev.mlx.purpose": stage })),
    };
    labels["org.opencontainers.image.title"] = json!(opts.tag);
    labels["dev.mlx.config-sha256"] = json!(crate::config::hex(&Sha256::digest(
        config.source.as_bytes()
    )));
    let serving = matches!(opts.purpose, Purpose::Serve { .. });
    let mut c = json!({
        "User": format!("{USER}:{USER}"),
        "Entrypoint": [BINARY],
        "Cmd": cmd,
        "Env": [
            "PATH=/usr/local/bin",
            format!("MLX_CONFIG={PROJECT}/{file}"),
            format!("SSL_CERT_FILE={CA_FILE}"),
        ],
        "WorkingDir": PROJECT,
        "Volumes": volumes(config)
            .into_iter()
            .map(|v| (v, json!({})))
            .collect::<serde_json::Map<_, _>>(),
        "Labels": labels,
    });
    if serving {
        c["ExposedPorts"] = json!({ format!("{}/tcp", cfg.deploy.port): {} });
        // Docker's health check (podman honours it too); OCI defines none.
        c["Healthcheck"] = json!({
            "Test": ["CMD", BINARY, "serve", "health"],
            "Interval": 10_000_000_000u64,
            "Timeout": 3_000_000_000u64,
            "StartPeriod": 60_000_000_000u64,
            "Retries": 3,
        });
    }
    let created = chrono::DateTime::from_timestamp(i64::try_from(opts.epoch).unwrap_or(0), 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "created": created,
        "architecture": architecture(),
        "os": "linux",
        "config": c,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "created_by": format!("mlx image build ({})", env!("CARGO_PKG_VERSION")) }],
    })
}

fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    fn digest(&self) -> String {
        format!(
            "sha256:{}",
            crate::config::hex(&self.hash.clone().finalize())
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Layer {
    digest: String,
    diff_id: String,
    size: u64,
    files: Vec<(String, u64)>,
}

fn header(size: u64, mode: u32, owner: u32, epoch: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(u64::from(owner));
    h.set_gid(u64::from(owner));
    h.set_mtime(epoch);
    h
}

/// The layer: a tar of `tree`, gzipped, hashed before (the diff id) and after (the
/// digest) compression, written to `blobs/<digest>`.
fn write_layer(tree: &Tree, epoch: u64, blobs: &Path) -> Result<Layer> {
    let io = |what: &str, e: std::io::Error| Error::io(what.to_owned(), e);
    let tmp =
        crate::fsutil::temp_in(blobs, ".layer", ".tmp").map_err(|e| io("creating the layer", e))?;
    let file = tmp.reopen().map_err(|e| io("opening the layer", e))?;
    let gz = flate2::GzBuilder::new().mtime(0).write(
        Hashing::new(std::io::BufWriter::new(file)),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(Hashing::new(gz));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut files = Vec::new();
    for (path, entry) in &tree.0 {
        match entry {
            Entry::Dir { mode, owner } => {
                let mut h = header(0, *mode, *owner, epoch, true);
                tar.append_data(&mut h, format!("{path}/"), std::io::empty())
                    .map_err(|e| io(&format!("writing {path} into the layer"), e))?;
            }
            Entry::File { from, mode } => {
                let (size, reader): (u64, Box<dyn Read>) = match from {
                    Source::Bytes(b) => (b.len() as u64, Box::new(std::io::Cursor::new(b.clone()))),
                    Source::Path(p) => {
                        let f = std::fs::File::open(p)
                            .map_err(|e| io(&format!("reading {}", p.display()), e))?;
                        let size = f
                            .metadata()
                            .map_err(|e| io(&format!("reading {}", p.display()), e))?
                            .len();
                        (size, Box::new(f))
                    }
                };
                let mut h = header(size, *mode, 0, epoch, false);
                tar.append_data(&mut h, path, reader)
                    .map_err(|e| io(&format!("writing {path} into the layer"), e))?;
                files.push((path.clone(), size));
            }
        }
    }
    let inner = tar.into_inner().map_err(|e| io("finishing the layer", e))?;
    let diff_id = inner.digest();
    let gz = inner.inner;
    let mut compressed = gz.finish().map_err(|e| io("compressing the layer", e))?;
    compressed.flush().map_err(|e| io("writing the layer", e))?;
    let digest = compressed.digest();
    let size = compressed.bytes;
    drop(compressed);
    let target = blobs.join(hex_of(&digest));
    crate::fsutil::persist(tmp, &target).map_err(|e| io("writing the layer", e))?;
    Ok(Layer {
        digest,
        diff_id,
        size,
        files,
    })
}

fn hex_of(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// Writes `bytes` as a blob; returns its digest and size.
fn blob(blobs: &Path, bytes: &[u8]) -> Result<(String, u64)> {
    let digest = format!("sha256:{}", crate::config::hex(&Sha256::digest(bytes)));
    let p = blobs.join(hex_of(&digest));
    crate::fsutil::atomic_write(&p, bytes)
        .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    Ok((digest, bytes.len() as u64))
}

/// `image.tar`: the layout's files in a fixed order with fixed headers.
fn write_archive(layout: &Path, archive: &Path, epoch: u64) -> Result<u64> {
    let io = |e: std::io::Error| Error::io(format!("writing {}", archive.display()), e);
    let dir = archive.parent().unwrap_or(Path::new("."));
    let tmp = crate::fsutil::temp_in(dir, ".image", ".tmp").map_err(io)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.reopen().map_err(io)?));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut names: Vec<String> = ["oci-layout", "index.json", "manifest.json"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut blobs: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .map_err(io)?
        .filter_map(|e| e.ok())
        .map(|e| format!("blobs/sha256/{}", e.file_name().to_string_lossy()))
        .collect();
    blobs.sort();
    for d in ["blobs/", "blobs/sha256/"] {
        let mut h = header(0, 0o755, 0, epoch, true);
        tar.append_data(&mut h, d, std::io::empty()).map_err(io)?;
    }
    names.extend(blobs);
    for name in &names {
        let f = std::fs::File::open(layout.join(name)).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        let mut h = header(size, 0o644, 0, epoch, false);
        tar.append_data(&mut h, name, f).map_err(io)?;
    }
    let mut w = tar.into_inner().map_err(io)?;
    w.flush().map_err(io)?;
    drop(w);
    crate::fsutil::persist(tmp, archive).map_err(io)?;
    std::fs::metadata(archive).map(|m| m.len()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_every_library_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert_eq!(
            parse_ldd("\tlibxgboost.so => not found\n").unwrap_err(),
            "libxgboost.so"
        );
    }

    #[test]
    fn a_library_path_through_dot_dot_is_placed_where_it_leads() {
        assert_eq!(
            lexical(Path::new("/c/xgboost/lib/../lib64/./libxgboost.so")),
            "c/xgboost/lib64/libxgboost.so"
        );
        let mut t = Tree::default();
        t.library(
            Path::new("/c/xgboost/lib/../libxgboost.so"),
            Source::Bytes(vec![]),
        );
        let paths: Vec<&str> = t.0.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            ["c", "c/xgboost", "c/xgboost/lib", "c/xgboost/libxgboost.so"]
        );
    }

    struct NoEnv;
    impl crate::config::interpolate::Env for NoEnv {
        fn get(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn loaded(yaml: &str) -> LoadedConfig {
        crate::config::parse(Path::new("mlx.yaml"), yaml, &NoEnv).unwrap()
    }

    #[test]
    fn the_prediction_log_outside_the_work_directory_is_a_volume_too() {
        let base = "data: { sources: [{ name: d, uri: d.csv }], target: y }\n\
                    pipeline: { problem_type: regression }\n\
                    models: [{ name: m, type: linear }]\n";
        let with = |log: &str| {
            let yaml = match log {
                "" => base.to_owned(),
                l => format!("{base}deploy: {{ prediction_log: \"{l}\" }}\n"),
            };
            volumes(&loaded(&yaml))
        };
        assert_eq!(with(""), ["/srv/mlx/.mlx"]);
        assert_eq!(with(".mlx/logs"), ["/srv/mlx/.mlx"]);
        assert_eq!(
            with("predictions"),
            ["/srv/mlx/.mlx", "/srv/mlx/predictions"]
        );
        assert_eq!(with("/var/log/mlx"), ["/srv/mlx/.mlx", "/var/log/mlx"]);
        assert_eq!(with("../logs"), ["/srv/mlx/.mlx", "/srv/logs"]);
    }

    #[test]
    fn a_deployment_runs_the_production_version_s_newest_image_by_digest() {
        use mlx_contracts::registry::{Stage, VersionState};
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "data: {{ sources: [{{ name: d, uri: d.csv }}], target: y }}\n\
             pipeline: {{ problem_type: regression }}\n\
             models: [{{ name: m, type: linear }}]\n\
             registry: {{ uri: {}, model_name: churn }}\n",
            dir.path().display()
        );
        let cfg = loaded(&yaml).config;
        let store = crate::registry::open(&cfg).unwrap();
        let mut s = crate::registry::state::empty("churn");
        s.versions.insert(
            1,
            VersionState {
                stage: Stage::Staging,
                gate: None,
                evidence_sha256: None,
                bundle_sha256: "b".into(),
                run_id: "r".into(),
                reviews: Vec::new(),
                archived_reason: None,
                images: Vec::new(),
            },
        );
        let s = store.commit(None, s).unwrap();
        let e = production_image(&cfg).unwrap_err().to_string();
        assert!(e.contains("no production version"), "{e}");
        let mut p = s.clone();
        p.versions.get_mut(&1).unwrap().stage = Stage::Production;
        let s = store.commit(Some(&s), p).unwrap();
        let e = production_image(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("no image of production version 1 was pushed"),
            "{e}"
        );
        let a = crate::registry::state::image(&s, 1, "ghcr.io/acme/churn:v1", "sha256:aa").unwrap();
        let a = store.commit(Some(&s), a).unwrap();
        let b =
            crate::registry::state::image(&a, 1, "127.0.0.1:5000/churn:v1", "sha256:bb").unwrap();
        store.commit(Some(&a), b).unwrap();
        assert_eq!(
            production_image(&cfg).unwrap(),
            "127.0.0.1:5000/churn@sha256:bb"
        );
    }

    #[test]
    fn every_parent_directory_is_in_the_tree() {
        let mut t = Tree::default();
        t.file("/usr/local/bin/mlx", Source::Bytes(vec![]), 0o755);
        let paths: Vec<&str> = t.0.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            ["usr", "usr/local", "usr/local/bin", "usr/local/bin/mlx"]
        );
    }
}
