//! The accept loop: serves HTTP/1.1 connections until shutdown, then drains them.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::log::{self, AccessLog};
use crate::metrics::Metrics;
use crate::routes::{self, Body, Route};

/// Largest request head (request line and headers) we read; a larger one gets
/// 431 (or 414 for a long URI) from hyper and the connection is closed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Pause after an accept error that is not about one connection (such as
/// EMFILE), so a full fd table does not turn the loop into a busy spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What every connection shares.
pub struct State {
    /// Request counters for `/metrics`.
    pub metrics: Metrics,
    /// One line per request, on stdout.
    pub access_log: AccessLog,
    ready: AtomicBool,
}

impl State {
    /// A ready server with empty metrics.
    pub fn new() -> Self {
        Self {
            metrics: Metrics::new(),
            access_log: AccessLog::default(),
            ready: AtomicBool::new(true),
        }
    }

    /// True until shutdown begins.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Makes `/readyz` answer 503 from now on.
    pub fn begin_shutdown(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then drains
/// in-flight requests for at most `config.shutdown_grace`.
pub async fn run(listener: TcpListener, config: &Config, shutdown: impl Future<Output = ()>) {
    let state = Arc::new(State::new());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // SECURITY: slowloris guard. Without a timer hyper applies no timeout
        // at all, and a slow client could also hold up the drain.
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let log_flusher = tokio::spawn({
        let state = Arc::clone(&state);
        async move { state.access_log.flush_periodically().await }
    });

    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    log::error(format_args!("accept failed: {err}"));
                    if is_resource_exhaustion(&err) {
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are single writes; do not let Nagle delay them.
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let service = service_fn(move |req| handle(&req, &state));
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                log::connection_error(&err);
            }
        });
    }

    state.begin_shutdown();
    // Stop accepting new connections.
    drop(listener);
    // Ask open connections to finish their current request; idle ones close now.
    let drained = graceful.shutdown();
    // Wait for them, but never longer than the grace period.
    if tokio::time::timeout(config.shutdown_grace, drained)
        .await
        .is_err()
    {
        log::error(format_args!(
            "shutdown grace of {} ms expired; closing the remaining connections",
            config.shutdown_grace.as_millis()
        ));
    }
    log_flusher.abort();
    state.access_log.flush();
}

/// Answers one request, then counts and logs it.
fn handle(req: &Request<Incoming>, state: &State) -> Ready<Result<Response<Body>, Infallible>> {
    let started = Instant::now();
    let route = Route::from_path(req.uri().path());
    let response = routes::respond(req.method(), route, state, SystemTime::now());
    let elapsed = started.elapsed();
    state
        .metrics
        .record(req.method(), route, response.status(), elapsed);
    state
        .access_log
        .record(req.method(), req.uri().path(), response.status(), elapsed);
    ready(Ok(response))
}

/// Accept errors that say the process or system is out of a resource, as
/// opposed to one connection failing (ECONNABORTED, ECONNRESET, ...).
fn is_resource_exhaustion(err: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux.
    matches!(err.raw_os_error(), Some(24 | 23 | 105 | 12))
}
