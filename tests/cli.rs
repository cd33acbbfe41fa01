//! The built binary's command line, configuration errors and exit codes.

mod support;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Output;

use support::{command, spawn_binary, within};

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command();
    cmd.args(args).envs(env.iter().copied());
    within("the command to finish", cmd.output()).await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn version_prints_name_and_version() {
    for flag in ["--version", "-V"] {
        let out = run(&[flag], &[]).await;
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            text(&out.stdout),
            format!("moscow-time {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[tokio::test]
async fn help_lists_every_variable_with_its_default() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag], &[]).await;
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        assert!(help.contains("healthcheck"), "{help}");
        for setting in &moscow_time::config::SETTINGS {
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(setting.name))
                .unwrap_or_else(|| panic!("{} missing from help:\n{help}", setting.name));
            assert!(
                line.contains(&format!("(default {})", setting.default)),
                "{line}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_arguments_are_a_usage_error() {
    for args in [
        &["serve"][..],
        &["--port", "80"],
        &["-x"],
        &["healthcheck", "now"],
    ] {
        let out = run(args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("unexpected argument"), "{stderr}");
        assert!(stderr.contains("Usage:"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn invalid_settings_exit_2_naming_variable_and_value() {
    for (name, value) in [
        ("PORT", "80a"),
        ("PORT", "70000"),
        ("PORT", ""),
        ("HOST", "localhost"),
        ("HEADER_READ_TIMEOUT_MS", "0"),
        ("SHUTDOWN_GRACE_MS", "soon"),
    ] {
        let out = run(&[], &[(name, value)]).await;
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("invalid {name} {value:?}")),
            "{name}={value}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[tokio::test]
async fn port_in_use_exits_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(&[], &[("HOST", "127.0.0.1"), ("PORT", &port)]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("failed to bind 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn port_zero_logs_the_bound_address() {
    let server = spawn_binary(&[]).await;
    assert_ne!(server.addr.port(), 0);
    assert!(server.addr.ip().is_loopback());
    server.signal("TERM").await;
    assert_eq!(server.wait().await.0, Some(0));
}

#[tokio::test]
async fn listens_on_ipv6() {
    let server = spawn_binary(&[("HOST", "::1")]).await;
    assert!(server.addr.is_ipv6(), "{}", server.addr);
    let reply = support::get(server.addr, "/healthz").await;
    assert_eq!(reply.status(), 200);
    server.signal("TERM").await;
    assert_eq!(server.wait().await.0, Some(0));
}

#[tokio::test]
async fn listens_on_all_ipv6_addresses_and_ipv4_where_dual_stack() {
    let server = spawn_binary(&[("HOST", "::")]).await;
    assert!(server.addr.ip().is_unspecified(), "{}", server.addr);
    let port = server.addr.port();
    let reply = support::get(SocketAddr::from((Ipv6Addr::LOCALHOST, port)), "/healthz").await;
    assert_eq!(reply.status(), 200);
    // Linux accepts IPv4 on an IPv6 socket unless net.ipv6.bindv6only is set.
    let v6_only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
        .is_ok_and(|flag| flag.trim() == "1");
    if !v6_only {
        let reply = support::get(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "/healthz").await;
        assert_eq!(reply.status(), 200);
    }
    server.signal("TERM").await;
    assert_eq!(server.wait().await.0, Some(0));
}

#[tokio::test]
async fn access_log_has_one_line_per_request() {
    let mut server = spawn_binary(&[]).await;
    support::get(server.addr, "/api/time").await;
    support::request(server.addr, "POST", "/healthz").await;
    support::get(server.addr, "/missing").await;
    for expected in [
        "GET /api/time 200 ",
        "POST /healthz 405 ",
        "GET /missing 404 ",
    ] {
        let line = support::next_line(&mut server.stdout).await;
        assert!(
            line.starts_with(expected),
            "{line:?} should start with {expected:?}"
        );
        assert!(line.trim_end().ends_with("ms"), "{line:?} has no duration");
    }
    server.signal("TERM").await;
    assert_eq!(server.wait().await.0, Some(0));
}
