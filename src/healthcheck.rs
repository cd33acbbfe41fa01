//! `moscow-time healthcheck`: a tiny HTTP client for images with no shell and no curl.

use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::config::Config;

/// The whole check, connect to last byte, must fit in this.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The address the check connects to: the server's own port on loopback, or
/// `HOST` itself when the server listens on one specific address.
pub fn target(config: &Config) -> SocketAddr {
    let ip = match config.host {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, config.port)
}

/// GETs `/healthz` at `addr`; `Ok` only on a 200 within [`TIMEOUT`].
///
/// # Errors
/// Why the check failed, as one line.
pub fn check(addr: SocketAddr) -> Result<(), String> {
    let fail = |err: io::Error| match err.kind() {
        // A socket timeout reads as EAGAIN on Linux; say what it means.
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("GET http://{addr}/healthz failed: timed out after 2 s")
        }
        _ => format!("GET http://{addr}/healthz failed: {err}"),
    };
    let deadline = Instant::now() + TIMEOUT;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    };

    let mut stream = TcpStream::connect_timeout(&addr, left().map_err(fail)?).map_err(fail)?;
    stream
        .set_write_timeout(Some(left().map_err(fail)?))
        .map_err(fail)?;
    // One write: a server that answers and closes early must not see half a request.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: moscow-time-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(fail)?;

    // Only the status line matters: read until its end (or 1 KiB).
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        stream
            .set_read_timeout(Some(left().map_err(fail)?))
            .map_err(fail)?;
        match stream.read(&mut buf).map_err(fail)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let status_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    let status_line = status_line.trim_end();
    match status_line.split(' ').nth(1) {
        Some("200") if status_line.starts_with("HTTP/1.") => Ok(()),
        _ if status_line.is_empty() => Err(format!(
            "GET http://{addr}/healthz failed: connection closed without a response"
        )),
        _ => Err(format!(
            "GET http://{addr}/healthz answered {status_line:?}, expected 200"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_loopback_of_the_listening_family() {
        let mut config = Config {
            port: 9000,
            ..Config::default()
        };
        assert_eq!(target(&config).to_string(), "127.0.0.1:9000");
        config.host = "::".parse().unwrap();
        assert_eq!(target(&config).to_string(), "[::1]:9000");
        config.host = "127.0.0.2".parse().unwrap();
        assert_eq!(target(&config).to_string(), "127.0.0.2:9000");
    }

    #[test]
    fn refused_connection_is_a_one_line_error() {
        // Bind then drop a listener to find a port nobody listens on.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = check(addr).unwrap_err();
        assert!(err.contains("refused"), "{err}");
        assert!(!err.contains('\n'));
    }
}
