//! moscow-time: a tiny HTTP service that shows the current time in Moscow.
//!
//! Layout:
//! - [`config`]: settings from environment variables, with defaults.
//! - [`server`]: the accept loop, connection settings and graceful shutdown.
//! - [`connections`]: what each connection is doing, the connection limit,
//!   shedding, the write and keep-alive timeouts.
//! - [`routes`]: which path answers what; headers every response carries.
//! - [`refusal`]: what is refused before routing, with which status.
//! - [`state`]: what every connection shares (metrics, access log, readiness).
//! - [`route`]: the paths this server knows, shared by the router and the metrics.
//! - [`clock`]: Moscow time from a given instant, and the `/api/time` JSON.
//! - [`page`]: the `/` page and its Content-Security-Policy.
//! - [`metrics`]: request counters and latency histogram in Prometheus format.
//! - [`log`]: access log on stdout, errors on stderr.
//! - [`shutdown`]: SIGTERM / SIGINT.
//! - [`healthcheck`]: the `healthcheck` subcommand's HTTP client.
//! - `memcpy`: on x86-64 musl, a `memcpy`/`memmove` for the small copies a
//!   request makes, in place of musl's microcoded one.

pub mod clock;
pub mod config;
pub mod connections;
pub mod healthcheck;
pub mod log;
#[cfg(target_arch = "x86_64")]
mod memcpy;
pub mod metrics;
pub mod page;
pub mod refusal;
pub mod route;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod state;
