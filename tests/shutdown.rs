//! SIGTERM and SIGINT: stop accepting, fail readiness, drain, exit 0.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{Binary, first_status, read_to_close, spawn_binary, spawn_command, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
async fn in_flight_and_idle_connections_each_get_a_last_answer_with_readyz_503() {
    // A last call long enough for the steps below on a loaded machine.
    let mut server = spawn_binary(&[("SHUTDOWN_LAST_CALL_MS", "5000")]).await;
    let addr = server.addr;

    // An idle keep-alive connection: one request answered, nothing pending.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = within("first answer", idle.read(&mut buf)).await.unwrap();
    assert_eq!(first_status(&String::from_utf8_lossy(&buf[..n])), Some(200));

    // A request in flight: its head is half sent when the signal arrives.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Let the server read the first half before it is told to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.signal("TERM").await;

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

    // The idle connection is still open: its next request is its last.
    idle.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut idle).await;
    assert_eq!(first_status(&answer), Some(503), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");

    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(support::next_line(&mut server.stdout).await);
    }
    assert!(lines[0].starts_with("GET /healthz 200"), "{lines:?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("GET /readyz 503"))
            .count(),
        2,
        "{lines:?}"
    );
    let stderr = assert_clean_exit(server).await;
    assert!(stderr.is_empty(), "{stderr}");
}

/// An idle keep-alive connection: one request answered, nothing pending.
async fn idle_connection(addr: SocketAddr) -> TcpStream {
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut idle).await.map(|h| h.contains(" 200 ")),
        Some(true)
    );
    idle
}

#[tokio::test]
async fn at_shutdown_an_idle_connection_that_sends_nothing_closes_at_the_end_of_the_last_call_the_keepalive_timeout_or_the_grace()
 {
    for (last_call, keepalive, grace) in [
        ("300", "5000", "5000"),
        ("5000", "300", "5000"),
        ("5000", "5000", "300"),
    ] {
        let server = spawn_binary(&[
            ("SHUTDOWN_LAST_CALL_MS", last_call),
            ("KEEPALIVE_TIMEOUT_MS", keepalive),
            ("SHUTDOWN_GRACE_MS", grace),
        ])
        .await;
        let mut idle = idle_connection(server.addr).await;
        server.signal("TERM").await;
        let started = Instant::now();
        assert_eq!(read_to_close(&mut idle).await, "", "nothing more is sent");
        // Well before the others, which are 5 s.
        let closed_after = started.elapsed();
        assert!(
            closed_after < Duration::from_secs(4),
            "closed after {closed_after:?} (SHUTDOWN_LAST_CALL_MS={last_call}, \
             KEEPALIVE_TIMEOUT_MS={keepalive}, SHUTDOWN_GRACE_MS={grace})"
        );
        // An idle client is owed nothing: no error at the end of the grace.
        let stderr = assert_clean_exit(server).await;
        assert!(stderr.is_empty(), "{stderr}");
    }
}

/// Ctrl-C with a few browser tabs open: the idle connections do not hold
/// the process up beyond the last call (the default, 250 ms).
#[tokio::test]
async fn with_20_idle_keepalive_connections_sigterm_exits_within_a_second() {
    let server = spawn_binary(&[]).await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(idle_connection(server.addr).await);
    }
    server.signal("TERM").await;
    let started = Instant::now();
    let stderr = assert_clean_exit(server).await;
    let exited_after = started.elapsed();
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        exited_after < Duration::from_secs(1),
        "exited {exited_after:?} after SIGTERM"
    );
    for mut connection in idle {
        assert_eq!(read_to_close(&mut connection).await, "");
    }
}

/// A client that picks an idle connection from its pool just as the server
/// is told to stop: its request, sent within the last call, is answered
/// (with `Connection: close`), whether the connection was still with hyper
/// or parked outside it.
#[tokio::test]
async fn a_request_sent_within_the_last_call_is_answered() {
    let server = spawn_binary(&[
        ("SHUTDOWN_LAST_CALL_MS", "1500"),
        // Sweeper ticks of 500 ms: parked after one to two of them.
        ("KEEPALIVE_TIMEOUT_MS", "2000"),
    ])
    .await;
    let mut parked = Vec::new();
    for _ in 0..10 {
        parked.push(idle_connection(server.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let metrics = support::get(server.addr, "/metrics").await.body;
    assert!(
        metrics.contains("moscow_time_connections_parked 10\n"),
        "{metrics}"
    );
    let mut with_hyper = Vec::new();
    for _ in 0..10 {
        with_hyper.push(idle_connection(server.addr).await);
    }
    server.signal("TERM").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for connection in parked.iter_mut().chain(&mut with_hyper) {
        connection
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
    }
    for mut connection in parked.into_iter().chain(with_hyper) {
        let answer = read_to_close(&mut connection).await;
        assert_eq!(first_status(&answer), Some(200), "{answer:?}");
        assert!(answer.contains("connection: close"), "{answer}");
    }
    let stderr = assert_clean_exit(server).await;
    assert!(stderr.is_empty(), "{stderr}");
}

/// A pool's connection: GET /healthz back to back until the server answers
/// `Connection: close` (or after `MAX_REQUESTS`). Returns how many were
/// sent and how many of them got no answer (the connection closed or reset
/// under them).
async fn back_to_back(addr: SocketAddr) -> (u32, u32) {
    const MAX_REQUESTS: u32 = 100_000;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for sent in 1..=MAX_REQUESTS {
        if stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .is_err()
        {
            return (sent, 1);
        }
        match within("an answer", read_response(&mut stream)).await {
            Some(head) if head.contains("connection: close") => return (sent, 0),
            Some(_) => {}
            None => return (sent, 1),
        }
    }
    (MAX_REQUESTS, 0)
}

/// One response's head (its body is read and dropped), or None if the
/// connection ends first.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut bytes = Vec::new();
    let mut chunk = [0; 1024];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end + 4]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if bytes.len() >= end + 4 + length {
                return Some(head);
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What a rollout does to an old pod: it is told to stop while its clients
/// send requests back to back on keep-alive connections. Every request gets
/// an answer; each connection's last one says `Connection: close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_back_to_back_requests_leaves_none_unanswered() {
    const CLIENTS: u32 = 16;
    let server = support::start();
    let server = server.await;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(back_to_back(server.addr)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop().await;
    let (mut sent, mut unanswered) = (0, 0);
    for client in clients {
        let (s, u) = within("a client", client).await.unwrap();
        sent += s;
        unanswered += u;
    }
    assert!(sent > CLIENTS, "only {sent} requests sent");
    assert_eq!(
        unanswered, 0,
        "{unanswered} of {sent} requests got no answer"
    );
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
