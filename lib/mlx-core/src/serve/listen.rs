//! The accept loop of `mlx-serve`: HTTP/1.1 connections served by hyper, one thread
//! per core each with its own runtime, with the limits a public endpoint needs against
//! slow or hostile clients.
//!
//! - **Header timeout** (`deploy.header_timeout_seconds`): a connection that has not
//!   sent a whole request head in time, new or kept alive, is closed (slowloris: idle
//!   connections with partial headers used to be held forever).
//! - **Body timeout** (`deploy.body_timeout_seconds`): enforced where the body is read
//!   ([`super::http`]); a body shorter than its `Content-Length` gets 408.
//! - **Connection cap** (`deploy.max_connections`, bounded by the open-file limit less
//!   a reserve for logs, models and the registry): past it a new connection is closed
//!   at once, so the process never runs out of descriptors and keeps answering the
//!   connections it holds.
//! - **Graceful stop**: on SIGTERM or Ctrl-C no new connection is accepted and those
//!   in flight finish their request (up to the header timeout plus a second).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Descriptors kept free for everything else the server opens.
const RESERVED_FILES: u64 = 64;

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time to send a request head.
    pub header_timeout: Duration,
    /// Threads serving connections: one per core.
    pub workers: usize,
}

impl Limits {
    /// From `deploy`, bounded by the process's open-file limit.
    pub fn new(max_connections: u64, header_timeout_seconds: u64) -> Self {
        let by_files = open_file_limit().map_or(u64::MAX, |n| n.saturating_sub(RESERVED_FILES));
        Self {
            max_connections: max_connections.min(by_files).max(1) as usize,
            header_timeout: Duration::from_secs(header_timeout_seconds.max(1)),
            workers: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// The soft limit on open files (`/proc/self/limits`), where the system says.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Completes on Ctrl-C, or SIGTERM where there are signals: when a server stops.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Serves `router` on `listener` until `shutdown` completes.
///
/// Connections are accepted here and handed in turn to `limits.workers` threads, each
/// running its own runtime of that one thread; a connection's requests are read, scored
/// and answered on its worker's thread, so no request waits for a hand-over between
/// threads or wakes an idle one (with one shared multi-threaded runtime, those
/// wake-ups were the largest share of a loaded server's time).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut workers = Vec::with_capacity(limits.workers);
    let mut runtimes = Vec::with_capacity(limits.workers);
    for i in 0..limits.workers.max(1) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // A multi-threaded runtime of one worker rather than a current-thread one:
        // the same single thread, but code that blocks inside a request (Polars
        // does, through `block_in_place`) may, as it may on any tokio worker.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("mlx-serve-{i}"))
            .enable_all()
            .build()?;
        let done = rt.spawn(worker(rx, router.clone(), limits));
        runtimes.push((rt, done));
        workers.push(tx);
    }
    tokio::pin!(shutdown);
    let mut turn = 0usize;
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                // Out of descriptors or a connection reset before accept: keep going.
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream); // over the cap: closed at once
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Unregistered from this runtime, registered with the worker's.
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        turn = (turn + 1) % workers.len();
        // A worker's channel closes only when its thread has ended, which it does
        // only after this loop.
        let _ = workers[turn].send((stream, slot, graceful.watcher()));
    }
    drop(listener);
    // The workers stop taking connections, and those in flight finish their request.
    drop(workers);
    let _ = tokio::time::timeout(
        limits.header_timeout + Duration::from_secs(1),
        graceful.shutdown(),
    )
    .await;
    let mut ended = Vec::with_capacity(runtimes.len());
    for (rt, done) in runtimes {
        let _ = done.await;
        ended.push(rt);
    }
    // A runtime is dropped where blocking is allowed.
    let _ = tokio::task::spawn_blocking(move || drop(ended)).await;
    Ok(())
}

/// A connection handed to a worker, with its place under the connection cap and what
/// tells it the server is stopping.
type Handed = (
    std::net::TcpStream,
    tokio::sync::OwnedSemaphorePermit,
    hyper_util::server::graceful::Watcher,
);

/// One worker thread: serves the connections it is handed until the accept loop
/// ends, then lets those in flight finish (up to the header timeout plus a second).
async fn worker(
    mut handed: tokio::sync::mpsc::UnboundedReceiver<Handed>,
    router: axum::Router,
    limits: Limits,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut connections = tokio::task::JoinSet::new();
    while let Some((stream, slot, watcher)) = handed.recv().await {
        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
            continue;
        };
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let conn = watcher.watch(conn);
        connections.spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
        // Those that have ended, so the set holds only live connections.
        while connections.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(limits.header_timeout + Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}
