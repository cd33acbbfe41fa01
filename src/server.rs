//! The accept loop: serves HTTP/1.1 connections until shutdown, then drains them.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket};

use crate::config::Config;
use crate::connections::{Connections, Registration, Signal, Stream, Tracked};
use crate::log::{self, AccessLog};
use crate::refusal::{self, Unparsed};
use crate::route::Route;
use crate::routes::{self, Body};
use crate::state::State;

/// Largest request head (request line and headers) we read; a larger one gets
/// 431, or 414 for a long target (see `refusal.rs`), and the connection is closed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Accept queue length asked of the kernel.
const LISTEN_BACKLOG: u32 = 4096;
/// Pause after an accept error that is not about one connection (such as
/// EMFILE), so a full fd table does not turn the loop into a busy spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Pause after shedding for descriptors, while the shed connections close.
const SHED_PAUSE: Duration = Duration::from_millis(1);
/// Accept errors of the same kind are logged at most this often.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a refused connection is read from after its answer, so
/// that it closes without a reset.
const LINGER: Duration = Duration::from_secs(1);

/// Binds `addr` with a deep accept queue (the kernel caps it at
/// `net.core.somaxconn`, 4096 by default). Under a flood of connections a
/// SYN that finds the queue full is dropped, and its client waits a second
/// to try again; tokio's default queue overflowed under the flood in
/// tests/overload.rs.
///
/// # Errors
/// The address cannot be bound (in use, not local, no permission).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std and tokio do: restart without waiting for TIME_WAIT to pass.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then drains
/// in-flight requests for at most `config.shutdown_grace`.
pub async fn run(listener: TcpListener, config: &Config, shutdown: impl Future<Output = ()>) {
    let state = Arc::new(State::new(AccessLog::new(config.log_format)));
    let connections = Arc::new(Connections::new(Arc::clone(&state), config));
    let http = Arc::new(http1(config));
    let mut shutdown = std::pin::pin!(shutdown);
    let background = [
        tokio::spawn({
            let state = Arc::clone(&state);
            async move { state.access_log.flush_periodically().await }
        }),
        tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.sweep_periodically().await }
        }),
    ];
    let mut last_accept_error: Option<Instant> = None;

    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    let exhausted = is_resource_exhaustion(&err);
                    // A full descriptor table fails every accept: say so once a second.
                    if !exhausted
                        || last_accept_error.is_none_or(|at| at.elapsed() >= ACCEPT_ERROR_LOG_INTERVAL)
                    {
                        log::error(format_args!("accept failed: {err}"));
                        last_accept_error = Some(Instant::now());
                    }
                    if exhausted {
                        // Close the oldest idle connections to free descriptors;
                        // back off only when there are none.
                        let pause = if connections.make_descriptors() { SHED_PAUSE } else { ACCEPT_BACKOFF };
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if !connections.make_room() {
            // At the limit with every connection busy: closing the new one at
            // once tells its client more than leaving it in the backlog.
            connections.refused();
            drop(stream);
            continue;
        }
        // Responses are single writes; do not let Nagle delay them.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(
            stream,
            connections.register(),
            Arc::clone(&http),
            Arc::clone(&state),
            config.header_read_timeout,
        ));
    }

    state.begin_shutdown();
    // Stop accepting new connections.
    drop(listener);
    // Busy connections finish their request; waiting ones serve one more.
    connections.shutdown();
    let drained = async {
        // A last call: a request already on its way on an idle connection
        // is answered, with `Connection: close`.
        let last_call = config.shutdown_last_call.min(config.shutdown_grace);
        if tokio::time::timeout(last_call, connections.drained())
            .await
            .is_err()
        {
            // Then close the ones still waiting: their clients are owed nothing.
            connections.close_waiting();
            connections.drained().await;
        }
    };
    // Wait for them, but never longer than the grace period.
    if tokio::time::timeout(config.shutdown_grace, drained)
        .await
        .is_err()
    {
        let busy = connections.busy();
        if busy > 0 {
            log::error(format_args!(
                "shutdown grace of {} ms expired with {busy} requests unfinished; closing every connection",
                config.shutdown_grace.as_millis()
            ));
        }
    }
    for task in background {
        task.abort();
    }
    state.access_log.flush();
}

/// hyper's settings for every connection.
fn http1(config: &Config) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // SECURITY: slowloris guard. Without a timer hyper applies no timeout
        // at all, and a slow client could also hold up the drain. hyper also
        // runs this timer while a keep-alive connection waits for its next request.
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        // A client may shut down its writing side once its request is sent
        // (`printf ... | nc`, many health-check scripts): without this, an
        // EOF read before the answer is written ends the connection unanswered.
        .half_close(true)
        // Head and body in one buffer and one send(2): every body here is a few
        // KiB at most, and one copy costs less than writev's second iovec.
        .writev(false);
    http
}

/// Serves one connection until it ends, times out or is shed.
///
/// hyper keeps an 8 KiB read and an 8 KiB write buffer for as long as it
/// serves a connection, and has no setting to drop them while one is idle.
/// So the task waits for a connection's first byte outside hyper, and once
/// the sweeper finds it idle (response written, nothing read since) for a
/// tick, takes the socket back from hyper (`into_parts`, with any bytes hyper
/// read but had not parsed) and waits outside again; the next request gets
/// a new hyper connection. An idle connection then costs only its task and
/// socket. `moscow_time_connections_parked` counts the connections waiting
/// so. At shutdown a waiting connection is served once more if its request
/// comes within the last call: that answer says `Connection: close`, and
/// hyper closes the connection after it.
async fn serve<S: Stream + Send + 'static>(
    stream: S,
    registration: Registration,
    http: Arc<http1::Builder>,
    state: Arc<State>,
    header_read_timeout: Duration,
) {
    let signal = registration.signal();
    let body_signal = registration.signal();
    let mut io = Tracked::new(stream, registration);
    // A fresh connection must send its first byte within the header timeout.
    let header_timeout = tokio::time::sleep(header_read_timeout);
    if !next_request(&mut io, &signal, Some(header_timeout)).await {
        return;
    }
    let service_state = Arc::clone(&state);
    let mut service = service_fn(move |req: Request<Incoming>| {
        if !req.body().is_end_stream() {
            body_signal.saw_body();
        }
        handle(req, &service_state)
    });
    loop {
        // Boxed so that the task of an idle connection stays small.
        let mut conn = Box::pin(http.serve_connection(TokioIo::new(io), service));
        let mut draining = false;
        let served = loop {
            tokio::select! {
                biased;
                () = signal.notified(), if !draining => {
                    if signal.is_closing() {
                        return;
                    }
                    if signal.is_parked() {
                        // Idle since hyper's last poll: put it aside.
                        break None;
                    }
                    if signal.is_shutting_down() && signal.has_body() {
                        // Finish the request in flight, then close.
                        conn.as_mut().graceful_shutdown();
                        draining = true;
                    }
                    // Busy at shutdown: parked once its answer is written.
                }
                served = conn.as_mut() => break Some(served),
            }
        };
        match served {
            Some(Ok(())) => return,
            Some(Err(err)) => {
                let parts = Pin::into_inner(conn).into_parts();
                let mut io = parts.io.into_inner();
                // hyper could not parse a request head: its bare answer was
                // held back (or, for HTTP/2's preface, it wrote none); ours
                // says why. Boxed: rare, and no connection's task grows for it.
                if io.take_held_refusal() || err.is_parse_version_h2() {
                    let request = Unparsed::read(&parts.read_buf, &err);
                    Box::pin(refuse(io, request, &state)).await;
                } else {
                    log::connection_error(&err);
                }
                return;
            }
            None => {}
        }
        let parts = Pin::into_inner(conn).into_parts();
        io = parts.io.into_inner();
        io.unread(parts.read_buf);
        service = parts.service;
        // Parked until its next byte; the keep-alive sweeper closes it after
        // KEEPALIVE_TIMEOUT_MS.
        let _parked = state.metrics.connection_parked();
        if !next_request(&mut io, &signal, None).await {
            return;
        }
    }
}

/// Waits outside hyper until the connection has a byte to read: false if it
/// is told to close, its client closes it, or `timeout` passes first.
/// Shutdown does not end the wait, the end of its last call does: a request
/// that comes before is served, as the connection's last.
async fn next_request<S: Stream>(
    io: &mut Tracked<S>,
    signal: &Signal,
    timeout: Option<tokio::time::Sleep>,
) -> bool {
    let timeout = async {
        match timeout {
            Some(sleep) => sleep.await,
            None => std::future::pending().await,
        }
    };
    let mut timeout = std::pin::pin!(timeout);
    loop {
        tokio::select! {
            biased;
            () = signal.notified() => if signal.is_closing() { return false },
            more = io.next_bytes() => return more,
            () = &mut timeout => return false,
        }
    }
}

/// Answers one request, then counts and logs it. Takes the request by value
/// so that its header map can carry the response's headers.
fn handle(req: Request<Incoming>, state: &State) -> Ready<Result<Response<Body>, Infallible>> {
    let started = Instant::now();
    let now = SystemTime::now();
    let (head, _body) = req.into_parts();
    let route = Route::from_path(head.uri.path());
    let response = match refusal::check(head.version, &head.uri, &head.headers) {
        None => routes::respond(&head.method, route, state, now, head.headers),
        Some(status) => routes::refuse(status, head.headers),
    };
    let elapsed = started.elapsed();
    state
        .metrics
        .record(&head.method, route, response.status(), elapsed);
    state.access_log.record(
        &head.method,
        head.uri.path(),
        response.status(),
        elapsed,
        now,
    );
    ready(Ok(response))
}

/// Answers a request hyper could not parse with the refusal that says why,
/// and counts and logs it as any request.
async fn refuse<S: Stream>(mut io: Tracked<S>, request: Unparsed, state: &State) {
    let started = Instant::now();
    let now = SystemTime::now();
    let answer = routes::refusal_bytes(request.status, now);
    let elapsed = started.elapsed();
    let route = Route::from_path(&request.path);
    state
        .metrics
        .record(&request.method, route, request.status, elapsed);
    state
        .access_log
        .record(&request.method, &request.path, request.status, elapsed, now);
    io.close_after(&answer, LINGER).await;
}

/// Accept errors that say the process or system is out of a resource, as
/// opposed to one connection failing (ECONNABORTED, ECONNRESET, ...).
fn is_resource_exhaustion(err: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux.
    matches!(err.raw_os_error(), Some(24 | 23 | 105 | 12))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::pipe::pair;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    /// Reads one `/healthz` answer in full.
    async fn answer(client: &mut DuplexStream) -> String {
        let mut text = Vec::new();
        let mut chunk = [0; 1024];
        while !text.ends_with(b"\r\n\r\nok\n") {
            let n = client.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&text));
            text.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(text).unwrap()
    }

    fn parked(state: &State) -> bool {
        let metrics = state.metrics.render();
        assert!(
            metrics.contains("moscow_time_connections_parked "),
            "{metrics}"
        );
        metrics.contains("moscow_time_connections_parked 1\n")
    }

    /// One connection through hyper, as `run` serves it, on the paused clock:
    /// answered, parked (hyper put aside) after a sweeper tick idle, answered
    /// again; at shutdown, parked, it is answered once more, with
    /// `Connection: close`, and closed.
    #[tokio::test(start_paused = true)]
    async fn a_connection_is_answered_parked_answered_again_and_shut_down() {
        let config = Config {
            keepalive_timeout: Duration::from_secs(4),
            ..Config::default()
        };
        let state = Arc::new(State::new(AccessLog::new(config.log_format)));
        let connections = Arc::new(Connections::new(Arc::clone(&state), &config));
        let sweeper = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.sweep_periodically().await }
        });
        let (pipe, mut client) = pair(4096);
        let task = tokio::spawn(serve(
            pipe,
            connections.register(),
            Arc::new(http1(&config)),
            Arc::clone(&state),
            config.header_read_timeout,
        ));

        client.write_all(GET).await.unwrap();
        assert!(answer(&mut client).await.starts_with("HTTP/1.1 200 OK"));
        assert!(!parked(&state));
        // The sweeper ticks every second here (a quarter of the keep-alive timeout).
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(parked(&state), "idle for two ticks, yet not parked");

        client.write_all(GET).await.unwrap();
        assert!(answer(&mut client).await.starts_with("HTTP/1.1 200 OK"));
        assert!(!parked(&state));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(parked(&state));

        state.begin_shutdown();
        connections.shutdown();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(parked(&state), "shutdown closed a waiting connection");
        client.write_all(GET).await.unwrap();
        let last = answer(&mut client).await;
        assert!(last.starts_with("HTTP/1.1 200 OK"), "{last}");
        assert!(last.contains("connection: close\r\n"), "{last}");
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{rest:?}");
        task.await.unwrap();
        connections.drained().await;
        assert!(!parked(&state));
        sweeper.abort();
    }
}
