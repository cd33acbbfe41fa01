//! `moscow-time healthcheck` against live, missing and unhealthy servers.

mod support;

use std::time::{Duration, Instant};

use support::{command, spawn_binary, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn healthcheck(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = command();
    cmd.arg("healthcheck").envs(env.iter().copied());
    let out = within("healthcheck to finish", cmd.output()).await.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn passes_against_a_running_server_on_port() {
    let server = spawn_binary(&[]).await;
    let port = server.addr.port().to_string();
    let (code, stderr) = healthcheck(&[("PORT", &port)]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    server.signal("TERM").await;
    assert_eq!(server.wait().await.0, Some(0));
}

#[tokio::test]
async fn follows_host_like_the_server() {
    // A specific address, and all IPv6 addresses (the check then uses ::1).
    for host in ["::1", "::"] {
        let server = spawn_binary(&[("HOST", host)]).await;
        let port = server.addr.port().to_string();
        let (code, stderr) = healthcheck(&[("HOST", host), ("PORT", &port)]).await;
        assert_eq!(code, Some(0), "HOST={host}: {stderr}");
        server.signal("TERM").await;
        server.wait().await;
    }
}

#[tokio::test]
async fn fails_with_one_line_when_nothing_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (code, stderr) = healthcheck(&[("PORT", &port)]).await;
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}

#[tokio::test]
async fn fails_on_a_non_200_answer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0; 1024];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            .await;
    });
    let (code, stderr) = healthcheck(&[("PORT", &port)]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("503"), "{stderr}");
}

#[tokio::test]
async fn gives_up_after_two_seconds_on_a_silent_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // Accepts and never answers.
    let silent = tokio::spawn(async move {
        let (_stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let started = Instant::now();
    let (code, stderr) = healthcheck(&[("PORT", &port)]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("timed out"), "{stderr}");
    // Bounded by the 2 s limit, not by the server's silence.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    silent.abort();
}

#[tokio::test]
async fn a_bad_setting_or_port_zero_is_a_configuration_error() {
    // Exit 2, as the server's own: the check did not run, the server may be fine.
    for (env, says) in [
        (&[("PORT", "http")][..], "invalid PORT \"http\""),
        (&[("PORT", "0")], "PORT is 0"),
        (&[("PORT", "8080"), ("HOST", "localhost")], "invalid HOST"),
    ] {
        let (code, stderr) = healthcheck(env).await;
        assert_eq!(code, Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
