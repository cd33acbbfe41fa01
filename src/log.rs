//! Logging: one access line per request on stdout (batched), errors on stderr.

use std::fmt;
use std::io::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::sync::Notify;

/// Flush as soon as this much is buffered...
const FLUSH_BYTES: usize = 32 * 1024;
/// ...and otherwise this long after the first line of a batch.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// The access log: one line per request, written to stdout in batches.
///
/// One `write(2)` per request cost about a fifth of the throughput, so lines
/// are buffered and flushed at 32 KiB or 100 ms after the first line of a
/// batch, whichever comes first (nginx's `access_log ... buffer= flush=` does
/// the same). The server flushes on shutdown; an idle server never wakes up.
pub struct AccessLog {
    buffer: Mutex<Vec<u8>>,
    pending: Notify,
    /// Where full batches go: stdout, except in unit tests.
    sink: fn(&[u8]),
}

impl Default for AccessLog {
    fn default() -> Self {
        Self {
            buffer: Mutex::default(),
            pending: Notify::new(),
            sink: to_stdout,
        }
    }
}

impl AccessLog {
    /// Buffers `METHOD PATH STATUS DURATIONms`, e.g. `GET /api/time 200 0.031ms`.
    pub fn record(&self, method: &Method, path: &str, status: StatusCode, duration: Duration) {
        let micros = duration.as_micros();
        let mut buffer = self.lock();
        let was_empty = buffer.is_empty();
        // Writing to a Vec cannot fail.
        let _ = writeln!(
            buffer,
            "{method} {path} {} {}.{:03}ms",
            status.as_u16(),
            micros / 1000,
            micros % 1000
        );
        if buffer.len() >= FLUSH_BYTES {
            self.write_out(&mut buffer);
        } else if was_empty {
            self.pending.notify_one();
        }
    }

    /// Writes out what is buffered, in one write.
    pub fn flush(&self) {
        self.write_out(&mut self.lock());
    }

    /// Flushes each batch [`FLUSH_INTERVAL`] after its first line; runs until dropped.
    pub async fn flush_periodically(&self) {
        loop {
            self.pending.notified().await;
            tokio::time::sleep(FLUSH_INTERVAL).await;
            self.flush();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves only a partial line behind; keep logging.
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_out(&self, buffer: &mut Vec<u8>) {
        if !buffer.is_empty() {
            (self.sink)(buffer);
            buffer.clear();
        }
    }
}

fn to_stdout(lines: &[u8]) {
    // A closed or full stdout must not take the server down: the error is
    // dropped along with the lines (println! would panic).
    let _ = std::io::stdout().lock().write_all(lines);
}

/// Writes one line to stderr.
pub fn error(message: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "moscow-time: {message}");
}

/// Logs why a connection ended with an error, unless it is just a client
/// hanging up early, which is routine and would only add noise.
pub fn connection_error(err: &hyper::Error) {
    if !err.is_incomplete_message() {
        error(format_args!("connection error: {err}"));
    }
}

/// Writes a start-up or shutdown notice to stdout.
pub fn info(message: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "moscow-time: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_one_line_per_request() {
        let log = AccessLog::default();
        log.record(
            &Method::GET,
            "/api/time",
            StatusCode::OK,
            Duration::from_micros(1500),
        );
        log.record(
            &Method::POST,
            "/",
            StatusCode::METHOD_NOT_ALLOWED,
            Duration::from_nanos(999),
        );
        assert_eq!(
            String::from_utf8(log.lock().clone()).unwrap(),
            "GET /api/time 200 1.500ms\nPOST / 405 0.000ms\n"
        );
    }

    #[test]
    fn flushes_when_the_buffer_is_full() {
        let log = AccessLog {
            sink: |lines| assert!(lines.len() >= FLUSH_BYTES),
            ..AccessLog::default()
        };
        let path = "/".repeat(1000);
        for _ in 0..(FLUSH_BYTES / 1000) {
            log.record(&Method::GET, &path, StatusCode::NOT_FOUND, Duration::ZERO);
        }
        // The record that crossed 32 KiB wrote everything out.
        assert!(log.lock().len() < FLUSH_BYTES, "{}", log.lock().len());
    }
}
