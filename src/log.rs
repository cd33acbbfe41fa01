//! Logging: one access line per request on stdout (batched), errors on
//! stderr; as text, or as one JSON object per line with `LOG_FORMAT=json`.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use hyper::{Method, StatusCode};
use tokio::sync::Notify;

use crate::clock::MoscowTime;

/// How every line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `GET /api/time 200 0.031ms`; notices and errors prefixed `moscow-time: `.
    Text,
    /// One JSON object per line: `time`, `level`, `msg`, and for requests
    /// `method`, `path`, `status`, `duration_ms`.
    Json,
}

/// The format of notices and error lines, set once at start-up by [`set_format`].
static JSON_LINES: AtomicBool = AtomicBool::new(false);

/// Writes notices and error lines in `format` from now on.
pub fn set_format(format: LogFormat) {
    JSON_LINES.store(format == LogFormat::Json, Ordering::Relaxed);
}

/// Flush as soon as this much is buffered...
const FLUSH_BYTES: usize = 32 * 1024;
/// ...and otherwise this long after the first line of a batch.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// The access log: one line per request, written to stdout in batches.
///
/// A `write(2)` per request would add a system call to every answer, a
/// large part of the work of one, so lines are buffered and flushed at
/// 32 KiB or 100 ms after the first line of a batch, whichever comes first
/// (nginx's `access_log ... buffer= flush=` does the same). The server
/// flushes on shutdown; an idle server never wakes up.
pub struct AccessLog {
    buffer: Mutex<Vec<u8>>,
    pending: Notify,
    format: LogFormat,
    /// Where full batches go: stdout, except in unit tests.
    sink: fn(&[u8]),
}

impl AccessLog {
    /// An access log writing lines in `format`.
    pub fn new(format: LogFormat) -> Self {
        Self {
            buffer: Mutex::default(),
            pending: Notify::new(),
            format,
            sink: to_stdout,
        }
    }

    /// Buffers one line for a request answered at `now`: in text
    /// `METHOD PATH STATUS DURATIONms`, e.g. `GET /api/time 200 0.031ms`.
    pub fn record(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        duration: Duration,
        now: SystemTime,
    ) {
        let duration = Millis(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
        let status = status.as_u16();
        let mut buffer = self.lock();
        let was_empty = buffer.is_empty();
        // Writing to a Vec cannot fail.
        let _ = match self.format {
            LogFormat::Text => writeln!(buffer, "{method} {path} {status} {duration}ms"),
            LogFormat::Json => {
                buffer.extend_from_slice(br#"{"time":""#);
                MoscowTime::at(now).write_rfc3339(&mut buffer);
                writeln!(
                    buffer,
                    r#"","level":"info","msg":"request","method":"{}","path":"{}","status":{status},"duration_ms":{duration}}}"#,
                    JsonStr(method.as_str()),
                    JsonStr(path),
                )
            }
        };
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

/// Writes one error line to stderr.
pub fn error(message: fmt::Arguments<'_>) {
    line(&mut std::io::stderr().lock(), "error", message);
}

/// Writes one warning to stderr: something the server survived, such as shedding.
pub fn warn(message: fmt::Arguments<'_>) {
    line(&mut std::io::stderr().lock(), "warn", message);
}

/// Logs why a connection ended with an error, unless it is just a client
/// hanging up early, which is routine and would only add noise.
pub fn connection_error(err: &hyper::Error) {
    if err.is_incomplete_message() {
        return;
    }
    // hyper's message names the step ("error writing a body"); the cause says why.
    match std::error::Error::source(err) {
        Some(cause) => error(format_args!("connection error: {err}: {cause}")),
        None => error(format_args!("connection error: {err}")),
    }
}

/// Writes a start-up or shutdown notice to stdout.
pub fn info(message: fmt::Arguments<'_>) {
    line(&mut std::io::stdout().lock(), "info", message);
}

/// One notice or error line in the format set by [`set_format`]. A closed
/// stream is ignored: logging must never take the server down.
fn line(out: &mut impl std::io::Write, level: &str, message: fmt::Arguments<'_>) {
    let _ = if JSON_LINES.load(Ordering::Relaxed) {
        let message = message.to_string();
        writeln!(
            out,
            r#"{{"time":"{}","level":"{level}","msg":"{}"}}"#,
            MoscowTime::at(SystemTime::now()),
            JsonStr(&message)
        )
    } else {
        writeln!(out, "moscow-time: {message}")
    };
}

/// A string's contents escaped for a JSON string literal (RFC 8259).
struct JsonStr<'a>(&'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        // Copy runs of plain characters in one go; escape the rest. Every
        // character to escape is ASCII, so a byte search finds them (the
        // bytes of other characters are all 0x80 and above).
        while let Some(at) = rest
            .bytes()
            .position(|b| b == b'"' || b == b'\\' || b < b' ')
        {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '"' => f.write_str("\\\""),
                '\\' => f.write_str("\\\\"),
                '\n' => f.write_str("\\n"),
                '\r' => f.write_str("\\r"),
                '\t' => f.write_str("\\t"),
                _ => write!(f, "\\u{:04x}", u32::from(c)),
            }?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// A duration in microseconds, written as milliseconds with three decimals
/// (`1.500`). Digit by digit: `core::fmt`'s `{:03}` padding and u128
/// arithmetic cost more than the rest of the access line.
struct Millis(u64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // u64::MAX has 20 digits; one more byte for the point.
        let mut out = [0; 21];
        let mut at = out.len();
        let mut rest = self.0;
        for place in 0.. {
            if place == 3 {
                at -= 1;
                out[at] = b'.';
            }
            at -= 1;
            out[at] = b'0' + u8::try_from(rest % 10).map_err(|_| fmt::Error)?;
            rest /= 10;
            if rest == 0 && place >= 3 {
                break;
            }
        }
        f.write_str(std::str::from_utf8(&out[at..]).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_milliseconds_with_three_decimals() {
        for (micros, text) in [
            (0, "0.000"),
            (31, "0.031"),
            (999, "0.999"),
            (1_000, "1.000"),
            (1_500, "1.500"),
            (123_456_789, "123456.789"),
            (u64::MAX, "18446744073709551.615"),
        ] {
            assert_eq!(Millis(micros).to_string(), text);
        }
    }

    #[test]
    fn buffers_one_line_per_request() {
        let log = AccessLog::new(LogFormat::Text);
        log.record(
            &Method::GET,
            "/api/time",
            StatusCode::OK,
            Duration::from_micros(1500),
            SystemTime::now(),
        );
        log.record(
            &Method::POST,
            "/",
            StatusCode::METHOD_NOT_ALLOWED,
            Duration::from_nanos(999),
            SystemTime::now(),
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
            ..AccessLog::new(LogFormat::Text)
        };
        let path = "/".repeat(1000);
        for _ in 0..(FLUSH_BYTES / 1000) {
            log.record(
                &Method::GET,
                &path,
                StatusCode::NOT_FOUND,
                Duration::ZERO,
                SystemTime::now(),
            );
        }
        // The record that crossed 32 KiB wrote everything out.
        assert!(log.lock().len() < FLUSH_BYTES, "{}", log.lock().len());
    }

    #[test]
    fn json_lines_escape_what_json_must() {
        let log = AccessLog::new(LogFormat::Json);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_709_049_123);
        log.record(
            &Method::GET,
            "/a\"b\\c\u{1}",
            StatusCode::NOT_FOUND,
            Duration::from_micros(31),
            at,
        );
        assert_eq!(
            String::from_utf8(log.lock().clone()).unwrap(),
            r#"{"time":"2026-11-26T19:04:09.123+03:00","level":"info","msg":"request","method":"GET","path":"/a\"b\\c\u0001","status":404,"duration_ms":0.031}"#
                .to_owned()
                + "\n"
        );
        assert_eq!(JsonStr("tab\there\n").to_string(), "tab\\there\\n");
        assert_eq!(JsonStr("é\"ü\u{7f}").to_string(), "é\\\"ü\u{7f}");
    }
}
