//! SIGTERM and SIGINT: stop accepting, fail readiness, drain, exit 0.

mod support;

use std::time::Duration;

use support::{Binary, first_status, read_to_close, spawn_binary, spawn_command, within};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn assert_clean_exit(server: Binary) -> String {
    let (code, stderr) = server.wait().await;
    assert_eq!(code, Some(0), "{stderr}");
    stderr
}

#[tokio::test]
async fn sigterm_and_sigint_stop_an_idle_server_with_0() {
    for signal in ["TERM", "INT"] {
        let server = spawn_binary(&[]).await;
        server.signal(signal).await;
        let stderr = assert_clean_exit(server).await;
        assert!(stderr.is_empty(), "SIG{signal}: {stderr}");
    }
}

#[tokio::test]
async fn in_flight_request_finishes_and_sees_readyz_503() {
    let mut server = spawn_binary(&[]).await;
    let addr = server.addr;

    // An idle keep-alive connection: one request answered, nothing pending.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = within(
        "first answer",
        tokio::io::AsyncReadExt::read(&mut idle, &mut buf),
    )
    .await
    .unwrap();
    assert_eq!(first_status(&String::from_utf8_lossy(&buf[..n])), Some(200));

    // A request in flight: its head is half sent when the signal arrives.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Let the server read the first half before it is told to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.signal("TERM").await;

    // The idle connection is closed at once, without an answer.
    assert_eq!(read_to_close(&mut idle).await, "");
    // New connections are refused once the listener is gone.
    within("listener closed", async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // The in-flight request completes, and readiness has already flipped.
    busy.write_all(b"\r\n").await.unwrap();
    let answer = read_to_close(&mut busy).await;
    assert_eq!(first_status(&answer), Some(503), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");

    assert!(
        support::next_line(&mut server.stdout)
            .await
            .starts_with("GET /healthz 200")
    );
    assert!(
        support::next_line(&mut server.stdout)
            .await
            .starts_with("GET /readyz 503")
    );
    assert_clean_exit(server).await;
}

#[tokio::test]
async fn a_client_that_never_finishes_is_cut_off_after_the_grace_period() {
    let server = spawn_binary(&[
        ("SHUTDOWN_GRACE_MS", "300"),
        // Longer than the grace, so only the grace can end the wait.
        ("HEADER_READ_TIMEOUT_MS", "60000"),
    ])
    .await;
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.signal("TERM").await;
    let stderr = assert_clean_exit(server).await;
    assert!(
        stderr.contains("shutdown grace of 300 ms expired"),
        "{stderr}"
    );
}

/// As PID 1 in its own PID namespace (as in a container), the kernel ignores
/// any signal the process has no handler for; ours must still stop us.
#[tokio::test]
async fn stops_on_sigterm_as_pid_1() {
    let mut cmd = tokio::process::Command::new("unshare");
    cmd.args([
        "--pid",
        "--fork",
        "--kill-child",
        env!("CARGO_BIN_EXE_moscow-time"),
    ])
    .env("PORT", "0")
    .env("HOST", "127.0.0.1")
    .kill_on_drop(true);
    let server = spawn_command(cmd, &[]).await;
    // unshare forks the server as its child; signal the child directly.
    let unshare = server.child.id().unwrap();
    let children =
        std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap();
    let pid = children
        .split_whitespace()
        .next()
        .expect("the forked server");
    let ns_pid = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ns_pid = ns_pid.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(
        ns_pid.ends_with("\t1"),
        "not PID 1 in its namespace: {ns_pid}"
    );

    let status = tokio::process::Command::new("kill")
        .args(["-s", "TERM", pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert_clean_exit(server).await;
}
