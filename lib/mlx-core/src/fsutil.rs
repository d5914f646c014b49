//! Crash-safe file writes.
//!
//! Every artifact mlx writes goes through [`atomic_write`] or [`AtomicFile`]: the
//! content goes to a temporary file beside the target (same directory, so the rename
//! stays on one file system), is flushed and fsynced, then renamed over the target,
//! and the directory is fsynced so the rename itself survives a power cut. A reader
//! therefore sees the old file or the new one, never a mix; a writer killed half-way
//! leaves the old file untouched and at most a `.<name>.*.tmp` file behind.

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
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)?;
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
        tmp.as_file().sync_all()?;
        tmp.persist(&self.target).map_err(|e| e.error)?;
        sync_dir(&parent_dir(&self.target))
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
