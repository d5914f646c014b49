//! The accept loop of `mlx-serve`: HTTP/1.1 connections served by hyper with the
//! limits a public endpoint needs against slow or hostile clients.
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
}

impl Limits {
    /// From `deploy`, bounded by the process's open-file limit.
    pub fn new(max_connections: u64, header_timeout_seconds: u64) -> Self {
        let by_files = open_file_limit().map_or(u64::MAX, |n| n.saturating_sub(RESERVED_FILES));
        Self {
            max_connections: max_connections.min(by_files).max(1) as usize,
            header_timeout: Duration::from_secs(header_timeout_seconds.max(1)),
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
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
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
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(
        limits.header_timeout + Duration::from_secs(1),
        graceful.shutdown(),
    )
    .await;
    Ok(())
}
