//! Settings from the environment: one variable per setting, each with a default.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::log::LogFormat;

/// One environment variable the server reads: the one table `--help` prints
/// and `docs/server.md` copies (a test compares them).
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Every setting, in the order `--help` and the docs list them.
pub const SETTINGS: [Setting; 9] = [
    Setting {
        name: "PORT",
        default: "8080",
        meaning: "TCP port to listen on; 0 picks a free port and logs it",
    },
    Setting {
        name: "HOST",
        default: "0.0.0.0",
        meaning: "IP address to listen on; `::` listens on IPv6 (and IPv4 where the OS allows)",
    },
    Setting {
        name: "HEADER_READ_TIMEOUT_MS",
        default: "5000",
        meaning: "close a connection whose request head takes longer (slowloris guard)",
    },
    Setting {
        name: "SHUTDOWN_GRACE_MS",
        default: "5000",
        meaning: "on SIGTERM/SIGINT, wait this long for in-flight requests, then exit anyway",
    },
    Setting {
        name: "SHUTDOWN_LAST_CALL_MS",
        default: "250",
        meaning: "on SIGTERM/SIGINT, an idle keep-alive connection may still send one last request this long; then idle ones are closed",
    },
    Setting {
        name: "WRITE_TIMEOUT_MS",
        default: "10000",
        meaning: "close a connection whose response makes no progress this long (a client that stopped reading)",
    },
    Setting {
        name: "KEEPALIVE_TIMEOUT_MS",
        default: "5000",
        meaning: "close a keep-alive connection idle this long between requests",
    },
    Setting {
        name: "MAX_CONNECTIONS",
        default: "open-file limit less 1/16",
        meaning: "open connections at most; at the limit the oldest idle ones are shed",
    },
    Setting {
        name: "LOG_FORMAT",
        default: "text",
        meaning: "`text` (METHOD PATH STATUS DURATION) or `json` (every line one JSON object)",
    },
];

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
// Shorter than the 10 s `podman stop` / `docker stop` wait before SIGKILL, so
// we always exit by ourselves with status 0.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
// Long enough for a request its client sent just before the signal, while
// the client cannot know yet that this server is stopping; short enough that
// Ctrl-C and `podman stop` stay quick with a browser tab open.
const DEFAULT_SHUTDOWN_LAST_CALL: Duration = Duration::from_millis(250);
// Long enough for any client that reads at all; a response that makes no
// progress this long is held by a reader that stopped (nginx: send_timeout 60 s).
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Descriptors kept free for the listener, stdio, the runtime's epoll and
/// wake-up descriptors and connections being closed: a 16th of the limit, 32 at least.
const MIN_FD_HEADROOM: u64 = 32;
/// Assumed when `/proc/self/limits` cannot be read: Linux's usual soft limit.
const FALLBACK_FD_LIMIT: u64 = 1024;
/// Longest value accepted for any duration: one hour.
const MAX_MS: u64 = 3_600_000;

/// What the server is told to do, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `HOST`: the address to listen on.
    pub host: IpAddr,
    /// `PORT`: the port to listen on; 0 lets the OS pick one.
    pub port: u16,
    /// `HEADER_READ_TIMEOUT_MS`: the longest a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// `SHUTDOWN_GRACE_MS`: how long a shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// `SHUTDOWN_LAST_CALL_MS`: how long, after shutdown begins, an idle
    /// connection may still send a request before it is closed.
    pub shutdown_last_call: Duration,
    /// `WRITE_TIMEOUT_MS`: the longest a response may make no progress.
    pub write_timeout: Duration,
    /// `KEEPALIVE_TIMEOUT_MS`: the longest a connection may wait idle between requests.
    pub keepalive_timeout: Duration,
    /// `MAX_CONNECTIONS`: `None` derives it from the open-file limit at start.
    pub max_connections: Option<usize>,
    /// `LOG_FORMAT`: text or JSON lines.
    pub log_format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST,
            port: DEFAULT_PORT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            shutdown_last_call: DEFAULT_SHUTDOWN_LAST_CALL,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_connections: None,
            log_format: LogFormat::Text,
        }
    }
}

impl Config {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// The first variable that is set but invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// Reads the settings through `lookup`, which returns a variable's value if set.
    ///
    /// # Errors
    /// The first variable that is set but invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            port: parse(
                &lookup,
                "PORT",
                defaults.port,
                "a port number from 0 to 65535",
                |v| v.parse().ok(),
            )?,
            host: parse(
                &lookup,
                "HOST",
                defaults.host,
                "an IPv4 or IPv6 address",
                |v| v.parse().ok(),
            )?,
            header_read_timeout: parse(
                &lookup,
                "HEADER_READ_TIMEOUT_MS",
                defaults.header_read_timeout,
                "milliseconds from 1 to 3600000",
                |v| millis(v).filter(|d| !d.is_zero()),
            )?,
            shutdown_grace: parse(
                &lookup,
                "SHUTDOWN_GRACE_MS",
                defaults.shutdown_grace,
                "milliseconds from 0 to 3600000",
                millis,
            )?,
            shutdown_last_call: parse(
                &lookup,
                "SHUTDOWN_LAST_CALL_MS",
                defaults.shutdown_last_call,
                "milliseconds from 0 to 3600000",
                millis,
            )?,
            write_timeout: parse(
                &lookup,
                "WRITE_TIMEOUT_MS",
                defaults.write_timeout,
                "milliseconds from 1 to 3600000",
                |v| millis(v).filter(|d| !d.is_zero()),
            )?,
            keepalive_timeout: parse(
                &lookup,
                "KEEPALIVE_TIMEOUT_MS",
                defaults.keepalive_timeout,
                "milliseconds from 1 to 3600000",
                |v| millis(v).filter(|d| !d.is_zero()),
            )?,
            max_connections: parse(
                &lookup,
                "MAX_CONNECTIONS",
                defaults.max_connections,
                "a number of connections from 1 to 10000000",
                |v| {
                    v.parse()
                        .ok()
                        .filter(|n| (1..=10_000_000).contains(n))
                        .map(Some)
                },
            )?,
            log_format: parse(
                &lookup,
                "LOG_FORMAT",
                defaults.log_format,
                "`text` or `json`",
                log_format,
            )?,
        })
    }

    /// `MAX_CONNECTIONS`, or the default for this process's open-file limit.
    pub fn connection_limit(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| default_connection_limit(open_file_limit()))
    }

    /// The socket address to bind.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// The connections `nofile` descriptors allow, leaving [`MIN_FD_HEADROOM`]
/// or a 16th of them (whichever is more) for everything else.
pub fn default_connection_limit(nofile: u64) -> usize {
    let headroom = (nofile / 16).max(MIN_FD_HEADROOM);
    usize::try_from(nofile.saturating_sub(headroom).max(1)).unwrap_or(usize::MAX)
}

/// This process's soft limit on open files (`ulimit -n`), from
/// `/proc/self/limits`: reading it needs no libc binding.
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            match line.split_whitespace().nth(3)? {
                "unlimited" => Some(u64::MAX),
                soft => soft.parse().ok(),
            }
        })
        .unwrap_or(FALLBACK_FD_LIMIT)
}

/// `LOG_FORMAT` alone: the format of every line, an error about another
/// setting included, before the other settings are read. Text unless it
/// says `json`.
pub fn log_format_from_env() -> LogFormat {
    std::env::var("LOG_FORMAT")
        .ok()
        .as_deref()
        .and_then(log_format)
        .unwrap_or(LogFormat::Text)
}

fn log_format(value: &str) -> Option<LogFormat> {
    match value {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        _ => None,
    }
}

/// Parses variable `name` with `parse_value`, or returns `default` if it is unset.
fn parse<T>(
    lookup: impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    expected: &'static str,
    parse_value: impl Fn(&str) -> Option<T>,
) -> Result<T, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(value) => parse_value(&value).ok_or(ConfigError {
            name,
            value,
            expected,
        }),
    }
}

/// A whole number of milliseconds, at most [`MAX_MS`].
fn millis(value: &str) -> Option<Duration> {
    value
        .parse::<u64>()
        .ok()
        .filter(|&ms| ms <= MAX_MS)
        .map(Duration::from_millis)
}

/// A variable that is set to a value the server cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name, e.g. `PORT`.
    pub name: &'static str,
    /// The value it was set to.
    pub value: String,
    /// What a valid value looks like.
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} {:?}: expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        })
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen_addr().to_string(), "0.0.0.0:8080");
    }

    #[test]
    fn settings_table_matches_the_defaults() {
        let c = Config::default();
        let default_of = |name| SETTINGS.iter().find(|s| s.name == name).unwrap().default;
        assert_eq!(default_of("PORT"), c.port.to_string());
        assert_eq!(default_of("HOST"), c.host.to_string());
        assert_eq!(
            default_of("HEADER_READ_TIMEOUT_MS"),
            c.header_read_timeout.as_millis().to_string()
        );
        assert_eq!(
            default_of("SHUTDOWN_GRACE_MS"),
            c.shutdown_grace.as_millis().to_string()
        );
        assert_eq!(
            default_of("SHUTDOWN_LAST_CALL_MS"),
            c.shutdown_last_call.as_millis().to_string()
        );
        assert_eq!(
            default_of("WRITE_TIMEOUT_MS"),
            c.write_timeout.as_millis().to_string()
        );
        assert_eq!(
            default_of("KEEPALIVE_TIMEOUT_MS"),
            c.keepalive_timeout.as_millis().to_string()
        );
        assert_eq!(c.max_connections, None);
        assert_eq!(default_of("LOG_FORMAT"), "text");
        assert_eq!(c.log_format, LogFormat::Text);
        // Each setting is read: setting it to garbage is an error naming it.
        for setting in &SETTINGS {
            let err = config(&[(setting.name, "garbage")]).unwrap_err();
            assert_eq!(err.name, setting.name);
        }
    }

    #[test]
    fn reads_every_variable() {
        let c = config(&[
            ("PORT", "0"),
            ("HOST", "::"),
            ("HEADER_READ_TIMEOUT_MS", "250"),
            ("SHUTDOWN_GRACE_MS", "0"),
            ("SHUTDOWN_LAST_CALL_MS", "0"),
            ("WRITE_TIMEOUT_MS", "100"),
            ("KEEPALIVE_TIMEOUT_MS", "200"),
            ("MAX_CONNECTIONS", "300"),
            ("LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(c.write_timeout, Duration::from_millis(100));
        assert_eq!(c.keepalive_timeout, Duration::from_millis(200));
        assert_eq!(c.connection_limit(), 300);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.listen_addr().to_string(), "[::]:0");
        assert_eq!(c.header_read_timeout, Duration::from_millis(250));
        assert_eq!(c.shutdown_grace, Duration::ZERO);
        assert_eq!(c.shutdown_last_call, Duration::ZERO);
    }

    #[test]
    fn bad_port_names_variable_and_value() {
        for bad in ["80a", "65536", "-1", "", " 80"] {
            let err = config(&[("PORT", bad)]).unwrap_err();
            assert_eq!(err.name, "PORT");
            assert_eq!(
                err.to_string(),
                format!("invalid PORT {bad:?}: expected a port number from 0 to 65535")
            );
        }
    }

    #[test]
    fn bad_host_is_rejected() {
        for bad in ["localhost", "0.0.0.0:80", "[::]", "256.0.0.1"] {
            let err = config(&[("HOST", bad)]).unwrap_err();
            assert_eq!(err.name, "HOST", "{bad}");
        }
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(
            config(&[("HEADER_READ_TIMEOUT_MS", "0")]).unwrap_err().name,
            "HEADER_READ_TIMEOUT_MS"
        );
        assert_eq!(
            config(&[("SHUTDOWN_GRACE_MS", "3600001")])
                .unwrap_err()
                .name,
            "SHUTDOWN_GRACE_MS"
        );
        assert!(config(&[("SHUTDOWN_GRACE_MS", "3600000")]).is_ok());
    }

    #[test]
    fn connection_limit_leaves_descriptor_headroom() {
        assert_eq!(default_connection_limit(256), 224);
        assert_eq!(default_connection_limit(1024), 960);
        assert_eq!(default_connection_limit(1_048_576), 983_040);
        assert_eq!(default_connection_limit(16), 1);
        // This process's own limit is read from /proc.
        assert!(open_file_limit() >= 16);
        assert!(config(&[]).unwrap().connection_limit() >= 1);
        for bad in ["0", "-1", "ten", "10000001"] {
            assert_eq!(
                config(&[("MAX_CONNECTIONS", bad)]).unwrap_err().name,
                "MAX_CONNECTIONS"
            );
        }
        assert_eq!(
            config(&[("LOG_FORMAT", "JSON")]).unwrap_err().name,
            "LOG_FORMAT"
        );
    }
}
