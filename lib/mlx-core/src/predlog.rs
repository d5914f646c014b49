//! The prediction log: every prediction and every feedback, as NDJSON lines in rotating
//! files under `deploy.prediction_log`, written by one background thread in batches
//! (what gathered in 2 ms). The request path only offers a line to a bounded queue;
//! when the queue is full the line is dropped and counted, so logging never slows a
//! request down. `mlx-serve` writes it and `mlx-monitor` reads it, through this module
//! alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

/// Which file family a line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `predictions-*.ndjson`.
    Prediction,
    /// `feedback-*.ndjson`.
    Feedback,
}

/// The sending side, cloned into every request.
#[derive(Clone)]
pub struct Logger {
    tx: mpsc::Sender<(Kind, String)>,
    /// Lines dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
}

impl Logger {
    /// Offers a line without waiting.
    pub fn offer(&self, kind: Kind, line: String) {
        if self.tx.try_send((kind, line)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long the writer waits, after writing all it had, before it looks again. At
/// 30,000 predictions a second that is 60 lines, far below `deploy.log_queue`.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

struct File {
    out: std::io::BufWriter<std::fs::File>,
    bytes: u64,
}

/// Starts the writer on the current runtime; it ends when every [`Logger`] is dropped,
/// after writing what is queued.
pub fn start(
    dir: &Path,
    capacity: usize,
    rotate_bytes: u64,
) -> std::io::Result<(Logger, tokio::task::JoinHandle<()>)> {
    std::fs::create_dir_all(dir)?;
    let (tx, mut rx) = mpsc::channel::<(Kind, String)>(capacity.max(1));
    let dir = dir.to_path_buf();
    let handle = tokio::task::spawn_blocking(move || {
        let mut files: [Option<File>; 2] = [None, None];
        let mut seq = 0u64;
        while let Some((kind, line)) = rx.blocking_recv() {
            let slot = &mut files[kind as usize];
            if slot.as_ref().is_none_or(|f| f.bytes >= rotate_bytes) {
                if let Some(mut f) = slot.take() {
                    let _ = f.out.flush();
                }
                seq += 1;
                match open(&dir, kind, seq) {
                    Ok(f) => *slot = Some(f),
                    Err(e) => {
                        tracing::error!("prediction log {}: {e}", dir.display());
                        continue;
                    }
                }
            }
            let f = slot.as_mut().expect("opened");
            if f.out
                .write_all(line.as_bytes())
                .and_then(|_| f.out.write_all(b"\n"))
                .is_ok()
            {
                f.bytes += line.len() as u64 + 1;
            }
            // Flush when the queue is drained, so readers see whole lines promptly;
            // then let lines gather for a moment, so that a busy server wakes this
            // thread a few hundred times a second rather than once or twice a request
            // (each wake-up took a core from the requests).
            if rx.is_empty() {
                let _ = f.out.flush();
                std::thread::sleep(GATHER);
            }
        }
        for f in files.iter_mut().flatten() {
            let _ = f.out.flush();
        }
    });
    Ok((
        Logger {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        handle,
    ))
}

/// This machine's name as a file-name part: servers that share one log directory
/// (replicas on a shared volume, each pid 1 in its container) never write one file.
fn host() -> String {
    let name = rustix::system::uname();
    let name = name.nodename().to_string_lossy();
    let part: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(63)
        .collect();
    if part.is_empty() {
        "host".into()
    } else {
        part
    }
}

/// A new file of the log: `<kind>-<UTC time>-<host>-<pid>-<seq>.ndjson`, so names sort
/// by the time they were opened.
fn open(dir: &Path, kind: Kind, seq: u64) -> std::io::Result<File> {
    let name = format!(
        "{}-{}-{}-{}-{seq:04}.ndjson",
        match kind {
            Kind::Prediction => "predictions",
            Kind::Feedback => "feedback",
        },
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        host(),
        std::process::id()
    );
    let path: PathBuf = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    Ok(File {
        out: std::io::BufWriter::new(f),
        bytes: 0,
    })
}

/// Every file of a kind under `dir`, oldest first.
pub fn files(dir: &Path, kind: Kind) -> std::io::Result<Vec<PathBuf>> {
    let prefix = match kind {
        Kind::Prediction => "predictions-",
        Kind::Feedback => "feedback-",
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".ndjson"))
        })
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_named_by_time_host_pid_and_sequence() {
        let d = tempfile::tempdir().unwrap();
        drop(open(d.path(), Kind::Prediction, 7).unwrap());
        drop(open(d.path(), Kind::Feedback, 8).unwrap());
        let names: Vec<String> = files(d.path(), Kind::Prediction)
            .unwrap()
            .into_iter()
            .chain(files(d.path(), Kind::Feedback).unwrap())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let host = host();
        assert!(!host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        for (name, kind, seq) in [(&names[0], "predictions", 7), (&names[1], "feedback", 8)] {
            let rest = name.strip_prefix(&format!("{kind}-")).unwrap();
            let (time, rest) = rest.split_at(15);
            assert!(
                chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%S").is_ok(),
                "{name}"
            );
            assert_eq!(
                rest,
                format!("-{host}-{}-{seq:04}.ndjson", std::process::id()),
                "{name}"
            );
        }
    }
}
