//! What every connection shares: the metrics, the access log and readiness.
//!
//! Its own module so that the layers only point down: the router and the
//! server use it, and it uses nothing above it.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::log::AccessLog;
use crate::metrics::Metrics;

/// What every connection shares.
pub struct State {
    /// Request and connection counters for `/metrics`.
    pub metrics: Metrics,
    /// One line per request, on stdout.
    pub access_log: AccessLog,
    ready: AtomicBool,
}

impl State {
    /// A ready server with empty metrics, logging to `access_log`.
    pub fn new(access_log: AccessLog) -> Self {
        Self {
            metrics: Metrics::new(),
            access_log,
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
