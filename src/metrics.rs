//! Request counters and a latency histogram, rendered as Prometheus text format 0.0.4.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};

use crate::route::Route;

/// Counter of answered requests, by method, path and status.
const REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram of the time from request head to response.
const REQUEST_DURATION: &str = "http_request_duration_seconds";
/// Gauge: when the process started, in seconds since the Unix epoch.
const PROCESS_START_TIME: &str = "process_start_time_seconds";
/// Pseudo-metric carrying the version as a label; always 1.
const BUILD_INFO: &str = "moscow_time_build_info";
/// Counter of connections closed to make room for new ones, by reason.
const CONNECTIONS_SHED: &str = "moscow_time_connections_shed_total";
/// Counter of connections closed because their response made no progress.
const WRITE_TIMEOUTS: &str = "moscow_time_write_timeouts_total";
/// Gauge: connections open now.
const CONNECTIONS_OPEN: &str = "moscow_time_connections_open";
/// Gauge: keep-alive connections waiting outside hyper now, without its buffers.
const CONNECTIONS_PARKED: &str = "moscow_time_connections_parked";

/// Why a connection was shed: the `reason` label, bounded by the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Accepted, but had not sent a byte.
    Fresh,
    /// Keep-alive, waiting for its next request.
    Idle,
    /// New, and closed at once: every open connection was busy.
    Refused,
}

impl Shed {
    /// Every reason, in `as usize` order.
    pub const ALL: [Shed; 3] = [Shed::Fresh, Shed::Idle, Shed::Refused];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Shed::Fresh => "fresh",
            Shed::Idle => "idle",
            Shed::Refused => "refused",
        }
    }
}

/// `method` label values. Clients can send any method token, so every method
/// we do not serve shares one value and cannot create new series.
const METHODS: [&str; 3] = ["GET", "HEAD", "other"];
/// `status` label values: every status the router and the refusals (see
/// `refusal.rs`) answer with, then `other`.
const STATUSES: [u16; 9] = [200, 400, 404, 405, 414, 431, 501, 503, 505];
/// Upper bounds of the latency buckets, in seconds. Answers take microseconds,
/// so the buckets start at 50 µs; the top ones catch a stalled runtime.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0,
];

const SERIES: usize = METHODS.len() * Route::ALL.len() * (STATUSES.len() + 1);

/// Process-wide request metrics; cheap to update from every connection.
pub struct Metrics {
    start_time: SystemTime,
    requests: [AtomicU64; SERIES],
    /// Per-bucket (not cumulative) counts; the last slot is above every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_sum_ns: AtomicU64,
    shed: [AtomicU64; Shed::ALL.len()],
    write_timeouts: AtomicU64,
    connections_open: AtomicU64,
    connections_parked: AtomicU64,
}

impl Metrics {
    /// Starts the clock for `process_start_time_seconds`.
    pub fn new() -> Self {
        Self {
            start_time: SystemTime::now(),
            requests: [const { AtomicU64::new(0) }; SERIES],
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            duration_sum_ns: AtomicU64::new(0),
            shed: [const { AtomicU64::new(0) }; Shed::ALL.len()],
            write_timeouts: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_parked: AtomicU64::new(0),
        }
    }

    /// Counts one shed connection.
    pub fn record_shed(&self, reason: Shed) {
        self.shed[reason as usize].fetch_add(1, Relaxed);
    }

    /// How many connections were shed for `reason` so far.
    pub fn shed_count(&self, reason: Shed) -> u64 {
        self.shed[reason as usize].load(Relaxed)
    }

    /// Counts one connection closed by the write timeout.
    pub fn record_write_timeout(&self) {
        self.write_timeouts.fetch_add(1, Relaxed);
    }

    /// One more connection is open.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
    }

    /// One connection fewer is open.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// Counts a connection as parked for as long as the guard lives.
    pub fn connection_parked(&self) -> Parked<'_> {
        self.connections_parked.fetch_add(1, Relaxed);
        Parked(self)
    }

    /// Counts one answered request and its duration.
    pub fn record(&self, method: &Method, route: Route, status: StatusCode, duration: Duration) {
        self.requests[series(method_index(method), route, status_index(status))]
            .fetch_add(1, Relaxed);
        let seconds = duration.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.duration_sum_ns.fetch_add(nanos, Relaxed);
    }

    /// The metrics in Prometheus text format 0.0.4, in a fixed order.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail, so the results of writeln! are ignored.
        let _ = writeln!(
            out,
            "# HELP {REQUESTS_TOTAL} HTTP requests answered, by method, path and status.\n\
             # TYPE {REQUESTS_TOTAL} counter"
        );
        for (m, method) in METHODS.iter().enumerate() {
            for route in Route::ALL {
                for s in 0..=STATUSES.len() {
                    let count = self.requests[series(m, route, s)].load(Relaxed);
                    if count > 0 {
                        let status = STATUSES.get(s).map_or("other".into(), u16::to_string);
                        let path = route.label();
                        let _ = writeln!(
                            out,
                            "{REQUESTS_TOTAL}{{method=\"{method}\",path=\"{path}\",status=\"{status}\"}} {count}"
                        );
                    }
                }
            }
        }

        let _ = writeln!(
            out,
            "# HELP {REQUEST_DURATION} Time from receiving a request head to the response being ready.\n\
             # TYPE {REQUEST_DURATION} histogram"
        );
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(
                out,
                "{REQUEST_DURATION}_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKETS.len()].load(Relaxed);
        #[allow(
            clippy::cast_precision_loss,
            reason = "a sum of latencies needs no 53-bit precision"
        )]
        let sum = self.duration_sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{REQUEST_DURATION}_bucket{{le=\"+Inf\"}} {cumulative}\n\
             {REQUEST_DURATION}_sum {sum}\n\
             {REQUEST_DURATION}_count {cumulative}"
        );

        let _ = writeln!(
            out,
            "# HELP {CONNECTIONS_SHED} Connections closed to make room at the connection or descriptor limit, by reason.\n\
             # TYPE {CONNECTIONS_SHED} counter"
        );
        for reason in Shed::ALL {
            let _ = writeln!(
                out,
                "{CONNECTIONS_SHED}{{reason=\"{}\"}} {}",
                reason.label(),
                self.shed_count(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP {WRITE_TIMEOUTS} Connections closed because their response made no progress for WRITE_TIMEOUT_MS.\n\
             # TYPE {WRITE_TIMEOUTS} counter\n\
             {WRITE_TIMEOUTS} {}\n\
             # HELP {CONNECTIONS_OPEN} Connections open now.\n\
             # TYPE {CONNECTIONS_OPEN} gauge\n\
             {CONNECTIONS_OPEN} {}\n\
             # HELP {CONNECTIONS_PARKED} Keep-alive connections waiting for their next request without HTTP buffers now.\n\
             # TYPE {CONNECTIONS_PARKED} gauge\n\
             {CONNECTIONS_PARKED} {}",
            self.write_timeouts.load(Relaxed),
            self.connections_open.load(Relaxed),
            self.connections_parked.load(Relaxed)
        );

        let start = self
            .start_time
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let _ = writeln!(
            out,
            "# HELP {PROCESS_START_TIME} Start time of the process since the Unix epoch in seconds.\n\
             # TYPE {PROCESS_START_TIME} gauge\n\
             {PROCESS_START_TIME} {start}"
        );
        let _ = writeln!(
            out,
            "# HELP {BUILD_INFO} Build information about moscow-time; the value is always 1.\n\
             # TYPE {BUILD_INFO} gauge\n\
             {BUILD_INFO}{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A connection counted as parked; dropping it stops counting it.
pub struct Parked<'a>(&'a Metrics);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.connections_parked.fetch_sub(1, Relaxed);
    }
}

fn series(method: usize, route: Route, status: usize) -> usize {
    (method * Route::ALL.len() + route as usize) * (STATUSES.len() + 1) + status
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        _ => 2,
    }
}

fn status_index(status: StatusCode) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status.as_u16())
        .unwrap_or(STATUSES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_request_under_its_labels() {
        let m = Metrics::new();
        let ms = Duration::from_millis(1);
        m.record(&Method::GET, Route::TimeApi, StatusCode::OK, ms);
        m.record(&Method::GET, Route::TimeApi, StatusCode::OK, ms);
        m.record(&Method::HEAD, Route::Page, StatusCode::OK, ms);
        let text = m.render();
        assert!(
            text.contains(r#"http_requests_total{method="GET",path="/api/time",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_requests_total{method="HEAD",path="/",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_sum 0.003\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_bounded() {
        let m = Metrics::new();
        let ms = Duration::from_millis(1);
        for method in ["PURGE", "BREW", "X-ANYTHING"] {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            m.record(&method, Route::Unknown, StatusCode::NOT_FOUND, ms);
        }
        m.record(&Method::GET, Route::Unknown, StatusCode::IM_A_TEAPOT, ms);
        let text = m.render();
        assert!(
            text.contains(r#"http_requests_total{method="other",path="other",status="404"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_requests_total{method="GET",path="other",status="other"} 1"#),
            "{text}"
        );
        assert_eq!(text.matches("http_requests_total{").count(), 2, "{text}");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        m.record(
            &Method::GET,
            Route::Healthz,
            StatusCode::OK,
            Duration::from_micros(10),
        );
        m.record(
            &Method::GET,
            Route::Healthz,
            StatusCode::OK,
            Duration::from_millis(3),
        );
        m.record(
            &Method::GET,
            Route::Healthz,
            StatusCode::OK,
            Duration::from_secs(2),
        );
        let text = m.render();
        for (le, count) in [
            ("0.00005", 1),
            ("0.0025", 1),
            ("0.005", 2),
            ("1", 2),
            ("+Inf", 3),
        ] {
            let line = format!("http_request_duration_seconds_bucket{{le=\"{le}\"}} {count}\n");
            assert!(text.contains(&line), "missing {line:?} in {text}");
        }
    }

    #[test]
    fn build_info_and_start_time_are_present() {
        let text = Metrics::new().render();
        assert!(text.contains(&format!(
            "moscow_time_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        let start: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_start_time_seconds "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(start > 1.7e9, "{start}");
    }
}
