//! Logging: one access line per request on stdout, errors on stderr.

use std::fmt;
use std::io::Write as _;
use std::time::Duration;

use hyper::{Method, StatusCode};

/// Writes `METHOD PATH STATUS DURATIONms` to stdout, e.g. `GET /api/time 200 0.031ms`.
pub fn access(method: &Method, path: &str, status: StatusCode, duration: Duration) {
    let micros = duration.as_micros();
    // A closed or full stdout must not take the server down: the write result is
    // ignored (println! would panic).
    let _ = writeln!(
        std::io::stdout().lock(),
        "{method} {path} {} {}.{:03}ms",
        status.as_u16(),
        micros / 1000,
        micros % 1000
    );
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
