//! The content-addressed cache (`<cache>/sha256/ab/cdef…`), the stat cache that makes
//! re-adding unchanged files near-instant, and the remote (any `object_store`).
//!
//! Every object is verified against its hash when it is read from the cache, copied
//! out of it, pushed or pulled: a corrupt object is reported (and re-fetched by
//! `pull`), never silently used.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{atomic_write, AtomicFile};

/// Where the content-addressed objects live.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    link: mlx_contracts::config::CacheLink,
    /// The working directory, once, to make stat-cache keys absolute.
    cwd: PathBuf,
    state: PathBuf,
    stats: std::sync::Arc<Mutex<StatCache>>,
}

/// `(inode, size, mtime ns) -> sha256` per absolute path, so an unchanged file is not
/// re-hashed (DVC's state database, as one JSON file).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct StatCache {
    entries: BTreeMap<String, StatEntry>,
    #[serde(skip)]
    dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct StatEntry {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

/// What identifies an unchanged file: absolute path, inode, size, mtime.
#[derive(PartialEq)]
struct Stamp {
    key: String,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(path: &Path, cwd: &Path) -> Result<Self> {
        let meta = fs::metadata(path).with_path("reading", path)?;
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let ino = 0;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        // Absolute without resolving links or asking for the working directory again.
        let key = cwd.join(path).display().to_string();
        Ok(Self {
            key,
            ino,
            size: meta.len(),
            mtime_ns,
        })
    }
}

/// Streams `r` into `w` while hashing; returns the SHA-256 and the byte count.
pub fn copy_hashing(mut r: impl Read, mut w: impl Write) -> io::Result<(String, u64)> {
    let mut h = Sha256::new();
    // 256 KiB: large enough for throughput, small enough to allocate per file.
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..k]);
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
    Ok((crate::config::hex(&h.finalize()), n))
}

/// Files from this size on are copied and hashed side by side (`add_file`); below it,
/// one pass over a small buffer is faster than a thread.
const OVERLAP_FROM: u64 = 8 << 20;

impl Cache {
    /// Opens (without creating) a cache directory.
    pub fn open(root: impl Into<PathBuf>, link: mlx_contracts::config::CacheLink) -> Self {
        let root = root.into();
        let state = root.join("state.json");
        let stats = fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Self {
            root,
            link,
            cwd: std::env::current_dir().unwrap_or_default(),
            state,
            stats: std::sync::Arc::new(Mutex::new(stats)),
        }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object path of a hash. Every hash reaches here from a parsed pointer or
    /// manifest (which refuse anything but 64 hex digits) or from the cache's own
    /// listing; anything else would name a path outside the cache.
    pub fn object(&self, sha: &str) -> PathBuf {
        assert!(
            mlx_contracts::version::is_sha256(sha),
            "not a SHA-256: {sha:?}"
        );
        self.root.join("sha256").join(&sha[..2]).join(&sha[2..])
    }

    /// Creates the cache directory, with a `.gitignore` that keeps it out of git
    /// wherever it is configured.
    pub fn create(&self) -> Result<()> {
        let objects = self.root.join("sha256");
        fs::create_dir_all(&objects).with_path("creating", &objects)?;
        crate::fsutil::ignore_everything(&self.root).with_path("writing in", &self.root)
    }

    /// Whether the cache holds an object (not verified).
    pub fn has(&self, sha: &str) -> bool {
        self.object(sha).is_file()
    }

    /// SHA-256 of a working file, from the stat cache when the file is unchanged.
    pub fn hash_file(&self, path: &Path) -> Result<(String, u64)> {
        let stamp = Stamp::of(path, &self.cwd)?;
        if let Some(sha) = self.known(&stamp) {
            return Ok((sha, stamp.size));
        }
        let (sha, n) = crate::hash::sha256_file(path).with_path("hashing", path)?;
        self.remember(stamp, &sha);
        Ok((sha, n))
    }

    /// The hash the stat cache holds for an unchanged file.
    fn known(&self, stamp: &Stamp) -> Option<String> {
        let s = self.stats.lock().ok()?;
        s.entries
            .get(&stamp.key)
            .filter(|e| e.ino == stamp.ino && e.size == stamp.size && e.mtime_ns == stamp.mtime_ns)
            .map(|e| e.sha256.clone())
    }

    fn remember(&self, stamp: Stamp, sha: &str) {
        if let Ok(mut s) = self.stats.lock() {
            let entry = StatEntry {
                ino: stamp.ino,
                size: stamp.size,
                mtime_ns: stamp.mtime_ns,
                sha256: sha.to_owned(),
            };
            s.entries.insert(stamp.key, entry);
            s.dirty = true;
        }
    }

    /// Persists the stat cache if it changed.
    pub fn save_state(&self) -> Result<()> {
        let Ok(s) = self.stats.lock() else {
            return Ok(());
        };
        if !s.dirty {
            return Ok(());
        }
        let text = crate::json::line(&*s)?;
        atomic_write(&self.state, text.as_bytes()).with_path("writing", &self.state)
    }

    /// Hashes a working file and stores it in the cache in one read: the content is
    /// copied into a temporary file beside the objects while it is hashed, then renamed
    /// to its hash. An unchanged file (stat cache) that is already cached is not read.
    pub fn add_file(&self, path: &Path) -> Result<(String, u64)> {
        self.add_one(path, false)
    }

    /// Stores many working files (the files of a versioned directory), in parallel, each
    /// as [`Cache::add_file`] does but without an fsync per object: one flush of the
    /// cache's file system ([`crate::fsutil::sync_filesystem`]) makes them all durable
    /// before this returns, so before any manifest or pointer names them. Where the
    /// platform cannot flush a file system at once, each object is synced as it is
    /// stored.
    pub fn add_files(&self, paths: &[PathBuf]) -> Result<Vec<(String, u64)>> {
        let defer = crate::fsutil::CAN_SYNC_FILESYSTEM;
        let added: Vec<Result<(String, u64)>> =
            paths.par_iter().map(|p| self.add_one(p, defer)).collect();
        if defer {
            // Also after a failure: what was stored stays sound for the next add.
            crate::fsutil::sync_filesystem(&self.root).with_path("syncing", &self.root)?;
        }
        added.into_iter().collect()
    }

    fn add_one(&self, path: &Path, defer_sync: bool) -> Result<(String, u64)> {
        let stamp = Stamp::of(path, &self.cwd)?;
        if let Some(sha) = self.known(&stamp) {
            self.ensure_object(path, &sha)?;
            return Ok((sha, stamp.size));
        }
        if self.link == mlx_contracts::config::CacheLink::Hardlink {
            let (sha, n) = crate::hash::sha256_file(path).with_path("hashing", path)?;
            self.ensure_object(path, &sha)?;
            // Linking and protecting change the inode's ctime only: the stamp holds.
            self.remember(stamp, &sha);
            return Ok((sha, n));
        }
        if stamp.size < OVERLAP_FROM {
            let (sha, n) = self.store_small(path, &stamp, defer_sync)?;
            self.remember(stamp, &sha);
            return Ok((sha, n));
        }
        // The caller (Repo::add) created the cache and its .gitignore once.
        let objects = self.root.join("sha256");
        let mut tmp =
            crate::fsutil::temp_in(&objects, ".add.", ".tmp").with_path("writing in", &objects)?;
        let src = File::open(path).with_path("reading", path)?;
        let (sha, n) = {
            // A large file: the kernel copies it (copy_file_range; a reflink where the
            // file system can) while this thread hashes it from the page cache, so the
            // two overlap on two cores instead of taking turns.
            let copied = std::thread::scope(|s| {
                let dest = tmp.as_file_mut();
                let copier = s.spawn(move || {
                    let mut from = File::open(path)?;
                    io::copy(&mut from, dest)
                });
                let hashed = crate::hash::sha256_reader(src, |_| {});
                let copied = copier
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the copying thread panicked")));
                hashed.and_then(|h| copied.map(|c| (h, c)))
            });
            let ((sha, n), copied) = copied.with_path("copying", path)?;
            // Both reads saw the same bytes only if the file did not change meanwhile.
            if copied != n || Stamp::of(path, &self.cwd)? != stamp {
                return Err(Error::Runtime(format!(
                    "{} changed while it was being added; add it again",
                    path.display()
                )));
            }
            (sha, n)
        };
        let dest = self.object(&sha);
        if !holds(&dest, n) {
            if let Some(dir) = dest.parent() {
                fs::create_dir_all(dir).with_path("creating", dir)?;
            }
            place(tmp, &dest, defer_sync)?;
        } // else already cached: dropping `tmp` discards the copy
        self.remember(stamp, &sha);
        Ok((sha, n))
    }

    /// A small file, read once into memory and hashed, then written beside its object
    /// only when the cache lacks it: no temporary file for content already cached, and
    /// each temporary in its object's own shard directory, so that parallel adds do
    /// not all create and rename in one directory.
    fn store_small(&self, path: &Path, stamp: &Stamp, defer_sync: bool) -> Result<(String, u64)> {
        let mut bytes = Vec::with_capacity(usize::try_from(stamp.size).unwrap_or(0) + 1);
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .with_path("reading", path)?;
        let n = bytes.len() as u64;
        if n != stamp.size {
            return Err(Error::Runtime(format!(
                "{} changed while it was being added; add it again",
                path.display()
            )));
        }
        let sha = crate::config::hex(&Sha256::digest(&bytes));
        let dest = self.object(&sha);
        if holds(&dest, n) {
            return Ok((sha, n));
        }
        let dir = dest.parent().unwrap_or(&self.root);
        let mut tmp = match crate::fsutil::temp_in(dir, ".add.", ".tmp") {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).with_path("creating", dir)?;
                crate::fsutil::temp_in(dir, ".add.", ".tmp")
            }
            other => other,
        }
        .with_path("writing in", dir)?;
        tmp.write_all(&bytes).with_path("writing in", dir)?;
        place(tmp, &dest, defer_sync)?;
        Ok((sha, n))
    }

    /// Makes sure the cache holds `path`'s content (known to hash to `sha`): linked or
    /// copied as configured.
    fn ensure_object(&self, path: &Path, sha: &str) -> Result<()> {
        let dest = self.object(sha);
        if self.link == mlx_contracts::config::CacheLink::Hardlink && self.link_into(path, &dest)? {
            return Ok(());
        }
        self.store_file(path, sha)
    }

    /// Hard-links a working file as a cache object and makes the shared inode read-only
    /// (an in-place edit would otherwise change the cached version too). `false` when
    /// the file system cannot link it (another device), so the caller copies instead.
    fn link_into(&self, path: &Path, dest: &Path) -> Result<bool> {
        // Try first: the object directory usually exists, and an existing object means
        // the content is cached already.
        let mut linked = fs::hard_link(path, dest);
        if linked
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
        {
            if let Some(dir) = dest.parent() {
                fs::create_dir_all(dir).with_path("creating", dir)?;
            }
            linked = fs::hard_link(path, dest);
        }
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(true),
            Err(_) => return Ok(false),
        }
        #[cfg(unix)]
        let perms = std::os::unix::fs::PermissionsExt::from_mode(0o444);
        #[cfg(not(unix))]
        let perms = {
            let mut p = fs::metadata(dest).with_path("reading", dest)?.permissions();
            p.set_readonly(true);
            p
        };
        fs::set_permissions(dest, perms).with_path("protecting", dest)?;
        Ok(true)
    }

    /// Copies a working file into the cache under its hash, unless it is there.
    pub fn store_file(&self, path: &Path, sha: &str) -> Result<()> {
        let dest = self.object(sha);
        if dest.is_file() {
            return Ok(());
        }
        let src = File::open(path).with_path("reading", path)?;
        let mut out = AtomicFile::create(&dest).with_path("writing", &dest)?;
        let (got, _) = copy_hashing(src, &mut out).with_path("copying", path)?;
        if got != sha {
            return Err(Error::Runtime(format!(
                "{} changed while it was being added; add it again",
                path.display()
            )));
        }
        out.commit().with_path("writing", &dest)
    }

    /// Stores bytes (a manifest) under their hash.
    pub fn store_bytes(&self, bytes: &[u8]) -> Result<String> {
        let sha = crate::config::hex(&Sha256::digest(bytes));
        let dest = self.object(&sha);
        if !dest.is_file() {
            atomic_write(&dest, bytes).with_path("writing", &dest)?;
        }
        Ok(sha)
    }

    /// Reads an object whole (manifests), verifying it.
    pub fn read_verified(&self, sha: &str) -> Result<Vec<u8>> {
        let path = self.object(sha);
        let bytes = fs::read(&path).map_err(|e| {
            Error::io(
                format!(
                    "object {sha} is not in the cache {} (run `mlx-version pull`)",
                    self.root.display()
                ),
                e,
            )
        })?;
        let got = crate::config::hex(&Sha256::digest(&bytes));
        if got != sha {
            return Err(corrupt(&path, sha, &got));
        }
        Ok(bytes)
    }

    /// Verifies an object in place: an error naming it when its content does not
    /// match its hash (a missing object is not checked here).
    pub fn check(&self, sha: &str) -> Result<()> {
        let got = self.hash_object(sha)?;
        if got == sha {
            Ok(())
        } else {
            Err(corrupt(&self.object(sha), sha, &got))
        }
    }

    /// Verifies an object in place; `false` when it is missing or corrupt.
    pub fn verify(&self, sha: &str) -> Result<bool> {
        if !self.has(sha) {
            return Ok(false);
        }
        Ok(self.hash_object(sha)? == sha)
    }

    /// What an object's content hashes to.
    fn hash_object(&self, sha: &str) -> Result<String> {
        let path = self.object(sha);
        let (got, _) = crate::hash::sha256_file(&path).with_path("hashing", &path)?;
        Ok(got)
    }

    /// Writes an object to `dest` atomically, verifying it on the way.
    pub fn restore(&self, sha: &str, dest: &Path) -> Result<()> {
        let path = self.object(sha);
        let src = File::open(&path).map_err(|e| {
            Error::io(
                format!(
                    "object {sha} for {} is not in the cache (run `mlx-version pull`)",
                    dest.display()
                ),
                e,
            )
        })?;
        let mut out = AtomicFile::create(dest).with_path("writing", dest)?;
        let (got, _) = copy_hashing(src, &mut out).with_path("reading", &path)?;
        if got != sha {
            return Err(corrupt(&path, sha, &got));
        }
        out.commit().with_path("writing", dest)
    }

    /// Every object hash in the cache, with its size.
    pub fn objects(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let base = self.root.join("sha256");
        let Ok(dirs) = fs::read_dir(&base) else {
            return Ok(out);
        };
        for d in dirs
            .flatten()
            .filter(|d| d.file_type().is_ok_and(|t| t.is_dir()))
        {
            let prefix = d.file_name().to_string_lossy().into_owned();
            for f in fs::read_dir(d.path())
                .with_path("listing", &d.path())?
                .flatten()
            {
                let name = f.file_name().to_string_lossy().into_owned();
                let sha = format!("{prefix}{name}");
                if !mlx_contracts::version::is_sha256(&sha) {
                    continue; // a temporary file of an interrupted write, or not ours
                }
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((sha, size));
            }
        }
        Ok(out)
    }
}

/// Whether the object at `dest` is there with `n` bytes. An object of another size
/// under its name is one a crash cut short before its flush (a rename can reach the
/// disk before the data): it is replaced.
fn holds(dest: &Path, n: u64) -> bool {
    fs::metadata(dest).is_ok_and(|m| m.is_file() && m.len() == n)
}

/// Renames a finished temporary copy to its object path: synced now, or (`defer_sync`)
/// left for the one flush of [`Cache::add_files`].
fn place(tmp: tempfile::NamedTempFile, dest: &Path, defer_sync: bool) -> Result<()> {
    if defer_sync {
        crate::fsutil::persist_unsynced(tmp, dest)
    } else {
        crate::fsutil::persist(tmp, dest)
    }
    .with_path("writing", dest)
}

fn corrupt(path: &Path, want: &str, got: &str) -> Error {
    Error::Runtime(format!(
        "cache object {} is corrupt (its content hashes to {got}, not {want}); delete it and run `mlx-version pull` to fetch it again",
        path.display()
    ))
}

/// A remote store: a local directory or an `s3://`, `gs://`, `az://` URL.
pub struct Remote {
    store: Box<dyn ObjectStore>,
    prefix: ObjectPath,
    label: String,
}

impl Remote {
    /// Opens a remote. Credentials and endpoints come from the usual environment
    /// variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    pub fn open(uri: &str) -> Result<Self> {
        let label = uri.to_owned();
        let is_url = uri.contains("://") && !uri.starts_with("file://");
        if !is_url {
            let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
            fs::create_dir_all(&path).with_path("creating", &path)?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&path)
                .map_err(|e| Error::Runtime(format!("remote {uri}: {e}")))?;
            return Ok(Self {
                store: Box::new(store),
                prefix: ObjectPath::default(),
                label,
            });
        }
        let (store, prefix) =
            crate::objects::open_url(uri).map_err(|e| Error::Usage(format!("remote {e}")))?;
        Ok(Self {
            store,
            prefix,
            label,
        })
    }

    fn path(&self, sha: &str) -> ObjectPath {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_owned()).collect();
        parts.extend([
            "sha256".to_owned(),
            sha[..2].to_owned(),
            sha[2..].to_owned(),
        ]);
        ObjectPath::from_iter(parts)
    }

    /// Whether the remote has an object.
    pub async fn has(&self, sha: &str) -> Result<bool> {
        match self.store.head(&self.path(sha)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::Runtime(format!("remote {}: {e}", self.label))),
        }
    }

    /// Uploads a verified cache object (multipart above 16 MiB).
    pub async fn upload(&self, cache: &Cache, sha: &str) -> Result<()> {
        let src = cache.object(sha);
        let (got, size) = crate::hash::sha256_file(&src).with_path("hashing", &src)?;
        if got != sha {
            return Err(corrupt(&src, sha, &got));
        }
        let err = |e: object_store::Error| {
            Error::Runtime(format!("remote {}: uploading {sha}: {e}", self.label))
        };
        let dest = self.path(sha);
        if size <= 16 << 20 {
            let bytes = fs::read(&src).with_path("reading", &src)?;
            self.store.put(&dest, bytes.into()).await.map_err(err)?;
        } else {
            let upload = self.store.put_multipart(&dest).await.map_err(err)?;
            let mut w = WriteMultipart::new(upload);
            let mut f = File::open(&src).with_path("reading", &src)?;
            let mut buf = vec![0u8; 8 << 20];
            loop {
                let n = f.read(&mut buf).with_path("reading", &src)?;
                if n == 0 {
                    break;
                }
                w.write(&buf[..n]);
            }
            w.finish().await.map_err(err)?;
        }
        Ok(())
    }

    /// Whether the remote's copy of an object hashes to its name (streamed, not kept).
    pub async fn verify(&self, sha: &str) -> Result<bool> {
        let err = |e: object_store::Error| {
            Error::Runtime(format!("remote {}: reading {sha}: {e}", self.label))
        };
        let got = self.store.get(&self.path(sha)).await.map_err(err)?;
        let mut h = Sha256::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            h.update(&chunk.map_err(err)?);
        }
        Ok(crate::config::hex(&h.finalize()) == sha)
    }

    /// Downloads an object into the cache, verifying it before it becomes visible.
    pub async fn download(&self, cache: &Cache, sha: &str) -> Result<()> {
        let err = |e: object_store::Error| {
            Error::Runtime(format!("remote {}: downloading {sha}: {e}", self.label))
        };
        let got = self.store.get(&self.path(sha)).await.map_err(err)?;
        let dest = cache.object(sha);
        let mut out = AtomicFile::create(&dest).with_path("writing", &dest)?;
        let mut h = Sha256::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(err)?;
            h.update(&chunk);
            out.write_all(&chunk).with_path("writing", &dest)?;
        }
        let hash = crate::config::hex(&h.finalize());
        if hash != sha {
            return Err(Error::Runtime(format!(
                "remote {} holds a corrupt copy of {sha} (it hashes to {hash}); repair it from a machine that has a good copy with `mlx version push --verify` (or `mlx-version push --verify`)",
                self.label
            )));
        }
        out.commit().with_path("writing", &dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlx_contracts::config::CacheLink;

    #[test]
    fn a_directory_add_stores_every_file_and_mends_an_object_a_crash_cut_short() {
        let d = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..64)
            .map(|i| {
                let p = d.path().join(format!("f{i}.txt"));
                fs::write(&p, format!("row {i}\n").repeat(i + 1)).unwrap();
                p
            })
            .collect();
        let root = d.path().join("cache");
        let cache = Cache::open(&root, CacheLink::Copy);
        cache.create().unwrap();
        let added = cache.add_files(&files).unwrap();
        assert_eq!(added.len(), files.len());
        for (p, (sha, size)) in files.iter().zip(&added) {
            let want = fs::read(p).unwrap();
            assert_eq!(*size, want.len() as u64);
            assert_eq!(*sha, crate::config::hex(&Sha256::digest(&want)));
            assert_eq!(fs::read(cache.object(sha)).unwrap(), want);
        }
        // A crash between an object's rename and the flush can leave it empty under its
        // name; the next add (no stat cache: a new process) stores it again.
        let (sha, _) = &added[9];
        let obj = cache.object(sha);
        let mut perms = fs::metadata(&obj).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&obj, perms).unwrap();
        fs::write(&obj, b"").unwrap();
        let again = Cache::open(&root, CacheLink::Copy);
        assert_eq!(again.add_files(&files).unwrap(), added);
        assert_eq!(fs::read(&obj).unwrap(), fs::read(&files[9]).unwrap());
    }
}
