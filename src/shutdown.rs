//! The shutdown signal: SIGTERM (what container runtimes send) or SIGINT (Ctrl-C).

use std::io;

use tokio::signal::unix::{SignalKind, signal as unix_signal};

/// Installs the SIGTERM and SIGINT handlers now and returns a future that
/// resolves when either arrives.
///
/// Installing them before the server starts matters as PID 1: the kernel
/// drops signals that PID 1 has no handler for, so `podman stop` would
/// otherwise wait 10 s and SIGKILL us.
///
/// # Errors
/// If a handler cannot be installed.
pub fn signal() -> io::Result<impl Future<Output = ()>> {
    let mut terminate = unix_signal(SignalKind::terminate())?;
    let mut interrupt = unix_signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
