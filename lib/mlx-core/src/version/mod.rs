//! `mlx-version`: data versioning without DVC. Content-addressed storage of files and
//! directories, pointer files for git, push/pull to a remote, checkout, and history
//! through git.
//!
//! As a pipeline stage it versions `<workdir>/data/raw.parquet` and records the
//! dataset hash and the git commit (lineage for every later model).

pub mod store;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use mlx_contracts::version::{Manifest, ManifestEntry, Pointer, PointerKind, POINTER_VERSION};
use mlx_contracts::Status;
use rayon::prelude::*;
use serde_json::json;

use crate::config::LoadedConfig;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::git::git;
use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::paths;
use store::{Cache, Remote};

/// Pointer files end with this.
pub const POINTER_EXT: &str = ".mlx";

/// The `version` stage.
pub struct Version;

const LONG_ABOUT: &str = "\
Versions data by content. `add` stores files or directories in a content-addressed
cache (SHA-256) and writes small PATH.mlx pointer files to commit to git; `push` and
`pull` move objects to and from the remote (`data.versioning.remote`: a directory, or
s3://, gs://, az://); `checkout` restores the data the pointers name, e.g. after
`git checkout dataset-v1.0`. As a pipeline stage it versions data/raw.parquet and
records its hash and the git commit.

Examples:
  mlx-version add data/sales.csv data/images/
  git add data/sales.csv.mlx data/images.mlx .gitignore && git commit -m 'dataset v1'
  mlx-version push
  mlx-version status
  git checkout v1.0 && mlx-version pull
  mlx-version diff v1.0 v2.0
  mlx-version log data/sales.csv
  mlx-version gc --rev main --rev v1.0";

impl Stage for Version {
    fn name(&self) -> &'static str {
        "version"
    }
    fn about(&self) -> &'static str {
        "Version data by content (SHA-256) with pointer files for git"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        &["engine", "data"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        if crate::engine::spark(&ctx.config).is_some() {
            return vec![ctx.workdir.join(paths::CLUSTER_DATA)];
        }
        vec![ctx.workdir.join(paths::RAW_DATA)]
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        if crate::engine::spark(&ctx.config).is_some() {
            return Vec::new();
        }
        vec![pointer_path(&ctx.workdir.join(paths::RAW_DATA))]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        if crate::engine::spark(&ctx.config).is_some() {
            return on_cluster(ctx);
        }
        let data = ctx.workdir.join(paths::RAW_DATA);
        if !data.exists() {
            return Err(Error::Usage(format!(
                "{} does not exist; run `mlx ingest` first",
                data.display()
            )));
        }
        let repo = Repo::from_config(Some(&ctx.config));
        let pointer = repo.add(&data)?;
        repo.cache.save_state()?;
        let commit = git(&["rev-parse", "HEAD"])
            .ok()
            .map(|s| s.trim().to_owned());
        let mut o = Outcome::passed(format!(
            "{} is {} ({} bytes){}",
            data.display(),
            &pointer.sha256[..12],
            pointer.size,
            commit
                .as_deref()
                .map(|c| format!(" at commit {}", &c[..c.len().min(12)]))
                .unwrap_or_default()
        ));
        o.outputs_kv
            .insert("dataset_sha256".into(), pointer.sha256.clone());
        if let Some(c) = &commit {
            o.outputs_kv.insert("git_commit".into(), c.clone());
        }
        o.details = json!({ "dataset": data.display().to_string(), "sha256": pointer.sha256, "size": pointer.size, "git_commit": commit });
        Ok(o)
    }
}

/// The pointer file of a data path.
pub fn pointer_path(data: &Path) -> PathBuf {
    let mut s = data.as_os_str().to_owned();
    s.push(POINTER_EXT);
    PathBuf::from(s)
}

/// The data path of a pointer file (or the path itself if it is data).
fn data_path(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    match s.strip_suffix(POINTER_EXT) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(s.trim_end_matches('/')),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the I/O runtime", e))
}

/// Cache and remote locations.
pub struct Repo {
    /// The local cache.
    pub cache: Cache,
    remote: Option<String>,
}

impl Repo {
    /// From `data.versioning` (defaults when there is no config).
    pub fn from_config(config: Option<&LoadedConfig>) -> Self {
        let v = config
            .map(|c| c.config.data.versioning.clone())
            .unwrap_or_default();
        Self {
            cache: Cache::open(&v.cache, v.link),
            remote: v.remote,
        }
    }

    /// Adds a file or directory; writes its pointer and ignores the data in git.
    pub fn add(&self, path: &Path) -> Result<Pointer> {
        let meta = fs::metadata(path).with_path("reading", path)?;
        self.cache.create()?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "cannot version `{}`: name a file or directory",
                    path.display()
                ))
            })?;
        let pointer = if meta.is_dir() {
            let files = list_files(path)?;
            let full: Vec<PathBuf> = files.iter().map(|rel| path.join(rel)).collect();
            let entries: Vec<ManifestEntry> = files
                .iter()
                .zip(self.cache.add_files(&full)?)
                .map(|(rel, (sha, size))| ManifestEntry {
                    path: rel.replace('\\', "/"),
                    sha256: sha,
                    size,
                })
                .collect();
            let manifest = Manifest {
                schema_version: POINTER_VERSION,
                entries,
            };
            let sha = self.cache.store_bytes(&manifest.to_bytes())?;
            Pointer {
                schema_version: POINTER_VERSION,
                path: name.clone(),
                kind: PointerKind::Directory,
                sha256: sha,
                size: manifest.entries.iter().map(|e| e.size).sum(),
                files: manifest.entries.len() as u64,
            }
        } else {
            let (sha, size) = self.cache.add_file(path)?;
            Pointer {
                schema_version: POINTER_VERSION,
                path: name.clone(),
                kind: PointerKind::File,
                sha256: sha,
                size,
                files: 1,
            }
        };
        let ptr = pointer_path(path);
        let text = pointer.to_json();
        if fs::read_to_string(&ptr).ok().as_deref() != Some(text.as_str()) {
            atomic_write(&ptr, text.as_bytes()).with_path("writing", &ptr)?;
        }
        ignore_in_git(path, &name)?;
        Ok(pointer)
    }

    fn read_pointer(ptr: &Path) -> Result<Pointer> {
        let text = fs::read_to_string(ptr).map_err(|e| {
            Error::io(
                format!(
                    "reading {} (add the data first with `mlx-version add`)",
                    ptr.display()
                ),
                e,
            )
        })?;
        Pointer::from_json(&text).map_err(|source| Error::Contract {
            path: ptr.display().to_string(),
            source,
        })
    }

    /// Pointers named on the command line, or every pointer below the current directory.
    fn pointers(&self, paths: &[PathBuf]) -> Result<Vec<(PathBuf, Pointer)>> {
        let ptrs: Vec<PathBuf> = if paths.is_empty() {
            let mut found = Vec::new();
            find_pointers(Path::new("."), &mut found)?;
            found.sort();
            found
        } else {
            paths.iter().map(|p| pointer_path(&data_path(p))).collect()
        };
        ptrs.into_iter()
            .map(|p| Self::read_pointer(&p).map(|ptr| (data_path(&p), ptr)))
            .collect()
    }

    /// Every object a pointer needs: the file, or the manifest and its files.
    fn objects(&self, p: &Pointer) -> Result<Vec<String>> {
        match p.kind {
            PointerKind::File => Ok(vec![p.sha256.clone()]),
            PointerKind::Directory => {
                let m = self.manifest(&p.sha256)?;
                let mut v = vec![p.sha256.clone()];
                v.extend(m.entries.into_iter().map(|e| e.sha256));
                Ok(v)
            }
        }
    }

    fn manifest(&self, sha: &str) -> Result<Manifest> {
        let bytes = self.cache.read_verified(sha)?;
        Manifest::from_json(&String::from_utf8_lossy(&bytes)).map_err(|source| Error::Contract {
            path: self.cache.object(sha).display().to_string(),
            source,
        })
    }

    /// `mlx-version add`: stores files or directories and writes their pointers.
    pub fn cmd_add(&self, paths: &[PathBuf]) -> Result<Standalone> {
        let mut lines = Vec::new();
        let mut items = Vec::new();
        for p in paths {
            let p = data_path(p);
            let pointer = self.add(&p)?;
            lines.push(format!(
                "added {} ({}, {} bytes, {} file{}) -> {}",
                p.display(),
                &pointer.sha256[..12],
                pointer.size,
                pointer.files,
                if pointer.files == 1 { "" } else { "s" },
                pointer_path(&p).display()
            ));
            items.push(json!({ "path": p.display().to_string(), "pointer": pointer }));
        }
        lines.push(
            "commit the .mlx files and .gitignore; `mlx-version push` uploads the data".into(),
        );
        Ok(Standalone {
            status: Status::Passed,
            human: lines.join("\n"),
            json: json!({ "added": items }),
        })
    }

    /// `mlx-version status`: data that differs from its pointer or is missing from the cache.
    pub fn cmd_status(&self, paths: &[PathBuf]) -> Result<Standalone> {
        let mut lines = Vec::new();
        let mut items = Vec::new();
        let mut dirty = false;
        for (data, p) in self.pointers(paths)? {
            let state = self.working_state(&data, &p)?;
            let cached = self
                .objects(&p)
                .map(|o| o.iter().all(|s| self.cache.has(s)))
                .unwrap_or(false);
            if state != "unchanged" || !cached {
                dirty = true;
            }
            lines.push(format!(
                "{:<10} {}{}",
                state,
                data.display(),
                if cached {
                    ""
                } else {
                    "  (not in the cache: pull)"
                }
            ));
            items.push(json!({ "path": data.display().to_string(), "state": state, "in_cache": cached, "sha256": p.sha256 }));
        }
        if lines.is_empty() {
            lines.push("no .mlx pointers here; version data with `mlx-version add PATH`".into());
        }
        Ok(Standalone {
            status: if dirty {
                Status::Warned
            } else {
                Status::Passed
            },
            human: lines.join("\n"),
            json: json!({ "status": items }),
        })
    }

    fn working_state(&self, data: &Path, p: &Pointer) -> Result<&'static str> {
        if !data.exists() {
            return Ok("missing");
        }
        let same = match p.kind {
            PointerKind::File => data.is_file() && self.cache.hash_file(data)?.0 == p.sha256,
            PointerKind::Directory => {
                if !data.is_dir() {
                    false
                } else {
                    let files = list_files(data)?;
                    let entries: Vec<ManifestEntry> = files
                        .iter()
                        .map(|rel| {
                            self.cache
                                .hash_file(&data.join(rel))
                                .map(|(sha, size)| ManifestEntry {
                                    path: rel.replace('\\', "/"),
                                    sha256: sha,
                                    size,
                                })
                        })
                        .collect::<Result<_>>()?;
                    let m = Manifest {
                        schema_version: POINTER_VERSION,
                        entries,
                    };
                    crate::config::hex(&<sha2::Sha256 as sha2::Digest>::digest(m.to_bytes()))
                        == p.sha256
                }
            }
        };
        Ok(if same { "unchanged" } else { "modified" })
    }

    /// The configured remote, or a usage error saying how to configure one.
    fn remote(&self) -> Result<(Remote, &str)> {
        let uri = self.remote.as_deref().filter(|r| !r.trim().is_empty()).ok_or_else(|| {
            Error::Usage(
                "no remote is configured: set `data.versioning.remote` in mlx.yaml to a directory outside the work directory, or to s3://bucket/prefix, gs://… or az://…".into(),
            )
        })?;
        Ok((Remote::open(uri)?, uri))
    }

    /// `mlx-version push`: uploads the cached objects the remote lacks (`verify`: and re-uploads those whose remote copy is corrupt).
    pub fn cmd_push(&self, paths: &[PathBuf], verify: bool) -> Result<Standalone> {
        let mut wanted = BTreeSet::new();
        for (_, p) in self.pointers(paths)? {
            wanted.extend(self.objects(&p)?);
        }
        let (remote, uri) = self.remote()?;
        let rt = runtime()?;
        let (uploaded, present) = rt.block_on(async {
            let results: Vec<Result<bool>> = futures::stream::iter(wanted.iter())
                .map(|sha| {
                    let remote = &remote;
                    async move {
                        if remote.has(sha).await? && (!verify || remote.verify(sha).await?) {
                            return Ok(false);
                        }
                        remote.upload(&self.cache, sha).await?;
                        Ok(true)
                    }
                })
                .buffer_unordered(8)
                .collect()
                .await;
            let mut up = 0;
            let mut there = 0;
            for r in results {
                if r? {
                    up += 1;
                } else {
                    there += 1;
                }
            }
            Ok::<_, Error>((up, there))
        })?;
        Ok(Standalone {
            status: Status::Passed,
            human: format!(
                "pushed {uploaded} object{} to {uri} ({present} already there{})",
                if uploaded == 1 { "" } else { "s" },
                if verify { ", verified" } else { "" }
            ),
            json: json!({ "uploaded": uploaded, "already_present": present, "remote": uri, "verified": verify }),
        })
    }

    /// `mlx-version pull`: downloads missing objects, then checks out.
    pub fn cmd_pull(&self, paths: &[PathBuf]) -> Result<Standalone> {
        let pointers = self.pointers(paths)?;
        let (remote, uri) = self.remote()?;
        self.cache.create()?;
        let rt = runtime()?;
        // Manifests first (they name the rest), then every object missing or corrupt.
        let mut fetched = 0usize;
        for (_, p) in &pointers {
            if p.kind == PointerKind::Directory && !self.cache.verify(&p.sha256)? {
                rt.block_on(remote.download(&self.cache, &p.sha256))?;
                fetched += 1;
            }
        }
        let mut wanted = BTreeSet::new();
        for (_, p) in &pointers {
            wanted.extend(self.objects(p)?);
        }
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|s| !self.cache.verify(s).unwrap_or(false))
            .collect();
        rt.block_on(async {
            let results: Vec<Result<()>> = futures::stream::iter(missing.iter())
                .map(|sha| remote.download(&self.cache, sha))
                .buffer_unordered(8)
                .collect()
                .await;
            results.into_iter().collect::<Result<Vec<_>>>()
        })?;
        fetched += missing.len();
        let restored = self.checkout(&pointers)?;
        Ok(Standalone {
            status: Status::Passed,
            human: format!(
                "pulled {fetched} object{} from {uri}; restored {restored} path{}",
                if fetched == 1 { "" } else { "s" },
                if restored == 1 { "" } else { "s" }
            ),
            json: json!({ "downloaded": fetched, "restored": restored }),
        })
    }

    /// `mlx-version checkout`: restores data to match the pointers.
    pub fn cmd_checkout(&self, paths: &[PathBuf]) -> Result<Standalone> {
        let pointers = self.pointers(paths)?;
        let restored = self.checkout(&pointers)?;
        Ok(Standalone {
            status: Status::Passed,
            human: format!(
                "restored {restored} path{} to match the pointers",
                if restored == 1 { "" } else { "s" }
            ),
            json: json!({ "restored": restored }),
        })
    }

    /// Restores every pointer whose data is missing or differs; returns how many.
    fn checkout(&self, pointers: &[(PathBuf, Pointer)]) -> Result<usize> {
        let mut restored = 0;
        for (data, p) in pointers {
            if self.working_state(data, p)? == "unchanged" {
                continue;
            }
            match p.kind {
                PointerKind::File => self.cache.restore(&p.sha256, data)?,
                PointerKind::Directory => {
                    let m = self.manifest(&p.sha256)?;
                    fs::create_dir_all(data).with_path("creating", data)?;
                    m.entries
                        .par_iter()
                        .map(|e| {
                            let dest = crate::fsutil::join_inside(data, &e.path)?;
                            let current = dest
                                .is_file()
                                .then(|| self.cache.hash_file(&dest))
                                .transpose()?;
                            if current.is_some_and(|(sha, _)| sha == e.sha256) {
                                return Ok(());
                            }
                            self.cache.restore(&e.sha256, &dest)
                        })
                        .collect::<Result<Vec<_>>>()?;
                }
            }
            restored += 1;
        }
        Ok(restored)
    }

    fn pointer_at(rev: &str, ptr: &Path) -> Result<Option<Pointer>> {
        let rel = ptr.to_string_lossy().trim_start_matches("./").to_owned();
        match git(&["show", &format!("{rev}:./{rel}")]) {
            Ok(text) => Pointer::from_json(&text)
                .map(Some)
                .map_err(|source| Error::Contract {
                    path: format!("{rev}:{rel}"),
                    source,
                }),
            Err(_) => Ok(None),
        }
    }

    /// `mlx-version diff`: pointers compared between two git revisions.
    pub fn cmd_diff(&self, a: &str, b: &str, paths: &[PathBuf]) -> Result<Standalone> {
        for rev in [a, b] {
            git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
                .map_err(|_| Error::Usage(format!("`{rev}` is not a git revision here")))?;
        }
        let ptrs: Vec<PathBuf> = if paths.is_empty() {
            let mut all = BTreeSet::new();
            for rev in [a, b] {
                for line in git(&["ls-tree", "-r", "--name-only", rev])?.lines() {
                    if line.ends_with(POINTER_EXT) {
                        all.insert(PathBuf::from(line));
                    }
                }
            }
            all.into_iter().collect()
        } else {
            paths.iter().map(|p| pointer_path(&data_path(p))).collect()
        };
        let mut lines = Vec::new();
        let mut items = Vec::new();
        for ptr in ptrs {
            let data = data_path(&ptr);
            let (pa, pb) = (Self::pointer_at(a, &ptr)?, Self::pointer_at(b, &ptr)?);
            let mut item = json!({ "path": data.display().to_string() });
            let line = match (&pa, &pb) {
                (None, None) => continue,
                (None, Some(p)) => format!("added     {} ({} bytes)", data.display(), p.size),
                (Some(_), None) => format!("removed   {}", data.display()),
                (Some(x), Some(y)) if x.sha256 == y.sha256 => {
                    format!("unchanged {}", data.display())
                }
                (Some(x), Some(y)) => {
                    let mut s = format!(
                        "modified  {} ({} -> {} bytes)",
                        data.display(),
                        x.size,
                        y.size
                    );
                    if let Some(t) = self.table_diff(&data, x, y)? {
                        s.push_str(&format!("\n          {t}"));
                        item["table"] = json!(t);
                    }
                    s
                }
            };
            item["a"] = json!(pa);
            item["b"] = json!(pb);
            lines.push(line);
            items.push(item);
        }
        Ok(Standalone {
            status: Status::Passed,
            human: lines.join("\n"),
            json: json!({ "a": a, "b": b, "changes": items }),
        })
    }

    /// Schema and row-count changes of a tabular file between two versions in the cache.
    /// Both objects are verified first: a corrupt one is an error, never read.
    fn table_diff(&self, data: &Path, a: &Pointer, b: &Pointer) -> Result<Option<String>> {
        let Ok(format) = mlx_data::Format::of(data) else {
            return Ok(None);
        };
        if a.kind != PointerKind::File || !self.cache.has(&a.sha256) || !self.cache.has(&b.sha256) {
            return Ok(None);
        }
        self.cache.check(&a.sha256)?;
        self.cache.check(&b.sha256)?;
        let read = |sha: &str| mlx_data::read_table_as(&self.cache.object(sha), format).ok();
        let (Some(da), Some(db)) = (read(&a.sha256), read(&b.sha256)) else {
            return Ok(None);
        };
        let sa: Vec<(String, String)> = da
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.dtype().to_string()))
            .collect();
        let sb: Vec<(String, String)> = db
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.dtype().to_string()))
            .collect();
        let mut parts = vec![format!(
            "rows {} -> {} ({:+})",
            da.height(),
            db.height(),
            db.height() as i64 - da.height() as i64
        )];
        for (n, t) in &sb {
            match sa.iter().find(|(m, _)| m == n) {
                None => parts.push(format!("+column {n} ({t})")),
                Some((_, u)) if u != t => parts.push(format!("column {n}: {u} -> {t}")),
                _ => {}
            }
        }
        for (n, _) in &sa {
            if !sb.iter().any(|(m, _)| m == n) {
                parts.push(format!("-column {n}"));
            }
        }
        Ok(Some(parts.join("; ")))
    }

    /// `mlx-version log`: the history of a pointer through git.
    pub fn cmd_log(&self, path: &Path) -> Result<Standalone> {
        let ptr = pointer_path(&data_path(path));
        let out = git(&[
            "log",
            "--format=%H%x09%ad%x09%an%x09%s",
            "--date=short",
            "--",
            &ptr.to_string_lossy(),
        ])?;
        let mut lines = Vec::new();
        let mut items = Vec::new();
        for line in out.lines() {
            let mut f = line.splitn(4, '\t');
            let (commit, date, author, subject) = (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            let p = Self::pointer_at(commit, &ptr)?;
            let what = p.as_ref().map_or("deleted".to_owned(), |p| {
                format!("{} {} bytes", &p.sha256[..12], p.size)
            });
            lines.push(format!(
                "{} {date} {what:<28} {author}: {subject}",
                &commit[..commit.len().min(10)]
            ));
            items.push(json!({ "commit": commit, "date": date, "author": author, "subject": subject, "pointer": p }));
        }
        if lines.is_empty() {
            lines.push(format!(
                "{} has no history in git yet; commit it first",
                ptr.display()
            ));
        }
        Ok(Standalone {
            status: Status::Passed,
            human: lines.join("\n"),
            json: json!({ "log": items }),
        })
    }

    /// `mlx-version gc`: deletes the cache objects no pointer references.
    pub fn cmd_gc(&self, revs: &[String], dry_run: bool) -> Result<Standalone> {
        let mut keep = BTreeSet::new();
        let mut pointers = Vec::new();
        let mut found = Vec::new();
        find_pointers(Path::new("."), &mut found)?;
        for f in found {
            pointers.push(Self::read_pointer(&f)?);
        }
        for rev in revs {
            for line in git(&["ls-tree", "-r", "--name-only", rev])?.lines() {
                if line.ends_with(POINTER_EXT) {
                    if let Some(p) = Self::pointer_at(rev, Path::new(line))? {
                        pointers.push(p);
                    }
                }
            }
        }
        for p in &pointers {
            keep.insert(p.sha256.clone());
            if p.kind == PointerKind::Directory {
                if let Ok(m) = self.manifest(&p.sha256) {
                    keep.extend(m.entries.into_iter().map(|e| e.sha256));
                }
            }
        }
        let (temporaries, temp_bytes) = if dry_run {
            (0, 0)
        } else {
            // Unfinished copies of killed `add`s and pulls.
            let root = self.cache.root();
            crate::fsutil::sweep_stale_temps(root, crate::fsutil::STALE_TEMP)
                .with_path("cleaning", root)?
        };
        let (mut removed, mut bytes) = (0u64, 0u64);
        for (sha, size) in self.cache.objects()? {
            if keep.contains(&sha) {
                continue;
            }
            if !dry_run {
                let p = self.cache.object(&sha);
                fs::remove_file(&p).with_path("removing", &p)?;
            }
            removed += 1;
            bytes += size;
        }
        Ok(Standalone {
            status: Status::Passed,
            human: format!(
                "{} {removed} unreferenced object{} ({bytes} bytes); kept {}{}",
                if dry_run { "would remove" } else { "removed" },
                if removed == 1 { "" } else { "s" },
                keep.len(),
                if temporaries > 0 {
                    format!("; removed {temporaries} temporary file(s) of killed runs ({temp_bytes} bytes)")
                } else {
                    String::new()
                }
            ),
            json: json!({ "removed": removed, "bytes": bytes, "kept": keep.len(), "dry_run": dry_run, "temporaries": temporaries }),
        })
    }
}

/// Files below a directory, relative, sorted, `/`-separated.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in fs::read_dir(dir).with_path("listing", dir)? {
            let e = e.with_path("listing", dir)?;
            let p = e.path();
            let ft = e.file_type().with_path("reading", &p)?;
            if ft.is_dir() {
                walk(base, &p, out)?;
            } else if ft.is_file() {
                let rel = p.strip_prefix(base).unwrap_or(&p);
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn find_pointers(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).with_path("listing", dir)?.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            // `.mlx-src` is where the GitHub workflows check mlx itself out.
            if !matches!(
                name.as_str(),
                ".git" | ".mlx" | ".mlx-src" | "target" | "node_modules"
            ) {
                find_pointers(&p, out)?;
            }
        } else if name.ends_with(POINTER_EXT) {
            out.push(p.strip_prefix("./").map(Path::to_path_buf).unwrap_or(p));
        }
    }
    Ok(())
}

/// Adds `/name` to the `.gitignore` beside the data, once.
fn ignore_in_git(path: &Path, name: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let gi = dir.join(".gitignore");
    let entry = format!("/{name}");
    let text = fs::read_to_string(&gi).unwrap_or_default();
    if text.lines().any(|l| l.trim() == entry) {
        return Ok(());
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&entry);
    new.push('\n');
    atomic_write(&gi, new.as_bytes()).with_path("writing", &gi)
}

/// With `engine.kind: spark`: a dataset on the cluster is an immutable directory that
/// ingest never writes twice, named with its content fingerprint in
/// `data/cluster.json`, so that file is the version's pointer (commit it as the `.dvc`
/// of a local dataset); nothing is copied off the cluster.
fn on_cluster(ctx: &Context) -> Result<Outcome> {
    let d = crate::engine::require_cluster_dataset(&ctx.workdir)?;
    let mut o = Outcome::passed(format!(
        "{} is {} ({} rows) on the cluster; {} is its pointer",
        d.location,
        &d.fingerprint[..12.min(d.fingerprint.len())],
        d.rows,
        paths::CLUSTER_DATA
    ));
    o.outputs_kv
        .insert("dataset_fingerprint".into(), d.fingerprint.clone());
    o.outputs_kv
        .insert("dataset_location".into(), d.location.clone());
    o.details = json!({ "dataset": d.location, "fingerprint": d.fingerprint, "rows": d.rows });
    Ok(o)
}
