//! moscow-time: a tiny HTTP service that shows the current time in Moscow.
//!
//! Layout:
//! - [`config`]: settings from environment variables, with defaults.
//! - [`server`]: the accept loop, connection settings and graceful shutdown.
//! - [`routes`]: which path answers what; headers every response carries.
//! - [`clock`]: Moscow time as HTML and JSON, from a given instant.
//! - [`metrics`]: request counters and latency histogram in Prometheus format.
//! - [`log`]: access log on stdout, errors on stderr.
//! - [`shutdown`]: SIGTERM / SIGINT.
//! - [`healthcheck`]: the `healthcheck` subcommand's HTTP client.

pub mod clock;
pub mod config;
pub mod healthcheck;
pub mod log;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod shutdown;
