//! moscow-time: a tiny HTTP service that shows the current time in Moscow.
//!
//! Layout:
//! - [`config`]: settings from environment variables, with defaults.
//! - [`server`]: the accept loop, connection settings and graceful shutdown.
//! - [`connections`]: what each connection is doing, the connection limit,
//!   shedding, the write and keep-alive timeouts.
//! - [`routes`]: which path answers what; headers every response carries.
//! - [`state`]: what every connection shares (metrics, access log, readiness).
//! - [`route`]: the paths this server knows, shared by the router and the metrics.
//! - [`clock`]: Moscow time as HTML and JSON, from a given instant.
//! - [`metrics`]: request counters and latency histogram in Prometheus format.
//! - [`log`]: access log on stdout, errors on stderr.
//! - [`shutdown`]: SIGTERM / SIGINT.
//! - [`healthcheck`]: the `healthcheck` subcommand's HTTP client.

pub mod clock;
pub mod config;
pub mod connections;
pub mod healthcheck;
pub mod log;
pub mod metrics;
pub mod route;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod state;
