//! Clients that shut down their writing side once their request is sent, as
//! `printf 'GET / HTTP/1.0\r\n\r\n' | nc HOST PORT` and many health-check
//! scripts do: every complete request is answered, then the connection
//! closes. Each way a request reaches hyper is tried 50 times in a row: a
//! new connection (the server's own first-byte wait), a keep-alive one hyper
//! still holds, and one parked outside hyper (src/server.rs `serve`).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use moscow_time::config::Config;
use support::{first_status, read_to_close, start_with, within};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const TRIES: usize = 50;
const GET_11: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// A sweeper tick of 500 ms: a connection idle for `PAUSE` has been taken
/// away from hyper, and is still far from its keep-alive timeout.
const KEEPALIVE: Duration = Duration::from_secs(2);
const PAUSE: Duration = Duration::from_millis(1200);

async fn connect(addr: SocketAddr) -> TcpStream {
    within("connect", TcpStream::connect(addr)).await.unwrap()
}

/// Sends `request` and shuts down the writing side; returns how many
/// answers arrived, all of them 200, before the server closed.
async fn send_and_half_close(stream: &mut TcpStream, request: &[u8]) -> usize {
    stream.write_all(request).await.unwrap();
    stream.shutdown().await.unwrap();
    let answers = read_to_close(stream).await;
    // HTTP/1.0 requests are answered as HTTP/1.0.
    let count = answers.matches("HTTP/1.").count();
    assert_eq!(answers.matches(" 200 OK\r\n").count(), count, "{answers}");
    count
}

/// Answers one request on a new keep-alive connection, leaving it idle.
async fn idle(addr: SocketAddr) -> TcpStream {
    let mut stream = connect(addr).await;
    stream.write_all(GET_11).await.unwrap();
    let mut head = [0; 1024];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\nok\n") {
        let n = within(
            "first answer",
            tokio::io::AsyncReadExt::read(&mut stream, &mut head),
        )
        .await
        .unwrap();
        assert!(n > 0, "closed");
        got.extend_from_slice(&head[..n]);
    }
    assert_eq!(first_status(&String::from_utf8_lossy(&got)), Some(200));
    stream
}

async fn server() -> support::TestServer {
    start_with(Config {
        keepalive_timeout: KEEPALIVE,
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn new_connections_that_half_close_are_answered() {
    let server = server().await;
    for (request, answers) in [
        (&b"GET / HTTP/1.0\r\n\r\n"[..], 1),
        (GET_11, 1),
        (&[GET_11, GET_11].concat()[..], 2),
    ] {
        let mut answered = 0;
        for _ in 0..TRIES {
            let mut stream = connect(server.addr).await;
            if send_and_half_close(&mut stream, request).await == answers {
                answered += 1;
            }
        }
        assert_eq!(
            answered,
            TRIES,
            "{:?}: {answered} of {TRIES} answered",
            String::from_utf8_lossy(request)
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn keepalive_connections_that_half_close_are_answered() {
    let server = server().await;
    let mut answered = 0;
    for _ in 0..TRIES {
        let mut stream = idle(server.addr).await;
        answered += send_and_half_close(&mut stream, GET_11).await;
    }
    assert_eq!(answered, TRIES, "{answered} of {TRIES} answered");
    server.stop().await;
}

#[tokio::test]
async fn parked_connections_that_half_close_are_answered() {
    let server = server().await;
    let mut parked = Vec::new();
    for _ in 0..TRIES {
        parked.push(idle(server.addr).await);
    }
    tokio::time::sleep(PAUSE).await;
    let metrics = support::get(server.addr, "/metrics").await.body;
    assert!(
        metrics.contains(&format!("moscow_time_connections_parked {TRIES}\n")),
        "{metrics}"
    );
    let mut answered = 0;
    for mut stream in parked {
        answered += send_and_half_close(&mut stream, GET_11).await;
    }
    assert_eq!(answered, TRIES, "{answered} of {TRIES} answered");
    server.stop().await;
}
