//! Crash-safe file writes.
//!
//! Every artifact mlx writes goes through [`atomic_write`] or [`AtomicFile`]: the
//! content goes to a temporary file beside the target (same directory, so the rename
//! stays on one file system), is flushed and fsynced, then renamed over the target,
//! and the directory is fsynced so the rename itself survives a power cut. A reader
//! therefore sees the old file or the new one, never a mix; a writer killed half-way
//! leaves the old file untouched and at most a `.<name>.*.tmp` file behind.
//!
//! Modes: a new file gets the usual `0666` less the umask (as `touch` or `cp` would
//! give it), and a replaced file keeps the mode it had, so a user's `chmod` survives
//! a rewrite. (Temporary files default to `0600`; that is right for secrets, wrong for
//! a workflow or a report a user asked for.)

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written; becomes visible at `path` only on [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed and the target is unchanged.
pub struct AtomicFile {
    target: PathBuf,
    writer: BufWriter<NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path`, creating its parent directories.
    pub fn create(path: &Path) -> io::Result<Self> {
        let dir = parent_dir(path);
        fs::create_dir_all(&dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = temp_in(&dir, &format!(".{name}."), ".tmp")?;
        Ok(Self {
            target: path.to_path_buf(),
            writer: BufWriter::with_capacity(1 << 20, tmp),
        })
    }

    /// Flushes, fsyncs, renames over the target and fsyncs the directory.
    pub fn commit(self) -> io::Result<()> {
        let tmp = self
            .writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        persist(tmp, &self.target)
    }
}

/// A temporary file in `dir` (for a later [`persist`]) created with mode `0666` less
/// the umask.
pub fn temp_in(dir: &Path, prefix: &str, suffix: &str) -> io::Result<NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    b.tempfile_in(dir)
}

/// Fsyncs a temporary file, gives it the mode of the file it replaces (if any), renames
/// it over `target` and fsyncs the directory.
pub fn persist(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    keep_mode(&tmp, target)?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    sync_dir(&parent_dir(target))
}

/// Gives a temporary file the mode of the file it is about to replace, if any.
fn keep_mode(tmp: &NamedTempFile, target: &Path) -> io::Result<()> {
    match fs::metadata(target) {
        Ok(meta) => fs::set_permissions(tmp.path(), meta.permissions()),
        Err(_) => Ok(()),
    }
}

/// Renames a temporary file over `target` (giving it the mode of the file it replaces)
/// without waiting for the disk: the caller stores many objects this way and then makes
/// them durable at once with [`sync_filesystem`], before anything that names them is
/// written. A crash before that sync can lose such an object, never leave a torn one
/// under its name (the rename is atomic) nor a pointer to a missing one.
pub fn persist_unsynced(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    keep_mode(&tmp, target)?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Whether this platform can flush a whole file system at once ([`sync_filesystem`]);
/// where it cannot, callers [`persist`] each file instead of [`persist_unsynced`].
pub const CAN_SYNC_FILESYSTEM: bool = cfg!(target_os = "linux");

/// Flushes every written file and directory entry of the file system holding `dir` to
/// its disk (Linux `syncfs(2)`): after [`persist_unsynced`], one call in place of two
/// fsyncs per file. Elsewhere ([`CAN_SYNC_FILESYSTEM`] false) an error.
pub fn sync_filesystem(dir: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let d = fs::File::open(dir)?;
        rustix::fs::syncfs(&d)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this platform cannot flush a file system at once",
        ))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Writes `bytes` to `path` atomically.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Writes `bytes` to `path` atomically, creating its directory first.
pub fn write_creating(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    atomic_write(path, bytes)
}

/// Writes a contract as pretty JSON with a final newline, atomically, creating its
/// directory first.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    json.push(b'\n');
    write_creating(path, &json)
}

/// `root/rel` for a `/`-separated path that came from data (a manifest, an archive, a
/// registry key): refused unless it stays inside `root`, by its text
/// ([`mlx_contracts::version::check_relative_path`]) and on disk (no part below `root`
/// that exists may be a symbolic link, which could point anywhere).
pub fn join_inside(root: &Path, rel: &str) -> crate::error::Result<PathBuf> {
    let refuse = |why: String| {
        crate::error::Error::Runtime(format!(
            "refusing to write `{rel}` under {}: {why}",
            root.display()
        ))
    };
    mlx_contracts::version::check_relative_path(rel).map_err(refuse)?;
    let mut path = root.to_path_buf();
    for part in rel.split('/') {
        path.push(part);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(refuse(format!(
                "{} is a symbolic link, which could lead outside it",
                path.display()
            )));
        }
    }
    Ok(path)
}

/// How old an unfinished temporary file must be before a sweep removes it: a live
/// writer touches its file continuously, so one this stale belongs to a killed run.
pub const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary files of killed writers below `dir` (`.<name>.*.tmp`, what
/// [`temp_in`] makes here) last modified more than `min_age` ago; returns how many
/// and their bytes. Symbolic links are not followed.
pub fn sweep_stale_temps(dir: &Path, min_age: std::time::Duration) -> io::Result<(u64, u64)> {
    let (mut n, mut bytes) = (0, 0);
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok((0, 0));
    };
    for e in entries.flatten() {
        let ft = e.file_type()?;
        let name = e.file_name().to_string_lossy().into_owned();
        if ft.is_dir() {
            let (k, b) = sweep_stale_temps(&e.path(), min_age)?;
            (n, bytes) = (n + k, bytes + b);
        } else if ft.is_file() && name.starts_with('.') && name.ends_with(".tmp") {
            let meta = e.metadata()?;
            let age = meta.modified().ok().and_then(|m| m.elapsed().ok());
            if age.is_some_and(|a| a >= min_age) {
                fs::remove_file(e.path())?;
                (n, bytes) = (n + 1, bytes + meta.len());
            }
        }
    }
    Ok((n, bytes))
}

/// Writes `dir/.gitignore` holding `*` (unless it exists), so git ignores a
/// directory of mlx's own (the work directory, a cache) wherever it lives.
pub fn ignore_everything(dir: &Path) -> io::Result<()> {
    let gi = dir.join(".gitignore");
    if gi.exists() {
        return Ok(());
    }
    write_creating(
        &gi,
        b"# Written by mlx: this directory holds mlx's own files, never committed.\n*\n",
    )
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Reads an NDJSON file of versioned records (blank lines skipped); `None` when the
/// file does not exist. A bad line is an error naming the file and its line number.
pub fn read_ndjson<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
    version: u32,
) -> crate::error::Result<Option<Vec<T>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(crate::error::Error::io(
                format!("reading {}", path.display()),
                e,
            ))
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            mlx_contracts::parse_versioned(l, what, version).map_err(|source| {
                crate::error::Error::Contract {
                    path: format!("{} line {}", path.display(), i + 1),
                    source,
                }
            })
        })
        .collect::<crate::error::Result<Vec<T>>>()
        .map(Some)
}

/// The components of `path` with `.` and `..` resolved by its text (a `..` above the
/// start is dropped), without a root: what the path names, without touching the disk.
pub fn lexical_parts(path: &Path) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["out.json"]);
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(p).unwrap().permissions()) & 0o777
    }

    /// The umask of this process, read back from a file `File::create` makes (0666 less
    /// the umask): the independent truth the atomic writes must agree with.
    #[cfg(unix)]
    fn umask_default(dir: &Path) -> u32 {
        let probe = dir.join("probe");
        File::create(&probe).unwrap();
        let m = mode(&probe);
        fs::remove_file(&probe).unwrap();
        m
    }

    #[cfg(unix)]
    #[test]
    fn new_files_follow_the_umask_and_replaced_files_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let expected = umask_default(dir.path());
        assert_ne!(expected, 0o600, "the test needs a umask that is not 077");
        let p = dir.path().join("report.md");
        atomic_write(&p, b"one").unwrap();
        assert_eq!(mode(&p), expected, "a new file gets 0666 less the umask");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(mode(&p), 0o640, "a rewrite keeps the file's mode");
        assert_eq!(fs::read(&p).unwrap(), b"two");
    }

    #[test]
    fn a_sweep_removes_only_stale_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("data")).unwrap();
        let old = d.join("data/.raw.parquet.abc123.tmp");
        let fresh = d.join("data/.raw.parquet.def456.tmp");
        let kept = d.join("data/raw.tmp");
        for p in [&old, &fresh, &kept] {
            fs::write(p, b"12345").unwrap();
        }
        let hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for p in [&old, &kept] {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(hours_ago)
                .unwrap();
        }
        assert_eq!(sweep_stale_temps(d, STALE_TEMP).unwrap(), (1, 5));
        assert!(!old.exists() && fresh.exists() && kept.exists());
    }

    #[test]
    fn data_paths_stay_inside_their_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        fs::create_dir_all(&root).unwrap();
        assert_eq!(join_inside(&root, "a/b.csv").unwrap(), root.join("a/b.csv"));
        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(join_inside(&root, bad).is_err(), "{bad}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), root.join("link")).unwrap();
            let e = join_inside(&root, "link/escaped").unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{e}");
        }
    }

    #[test]
    fn an_uncommitted_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        atomic_write(&p, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half of the new con").unwrap();
            // dropped: an error path in the middle of a write
        }
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
