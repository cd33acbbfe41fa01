//! Connections idle for a sweeper tick wait outside hyper (src/server.rs
//! `serve`), counted by `moscow_time_connections_parked`: what hyper had read
//! but not parsed must reach the next request, and a request with a body must
//! keep its connection working.

mod support;

use std::time::Duration;

use moscow_time::config::Config;
use support::{get, start, start_with, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GET: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// A sweeper tick of 500 ms: a connection idle for `PAUSE` has been taken
/// away from hyper, and is still far from its keep-alive timeout.
const KEEPALIVE: Duration = Duration::from_secs(2);
const PAUSE: Duration = Duration::from_millis(1200);

async fn start_parking() -> support::TestServer {
    start_with(Config {
        keepalive_timeout: KEEPALIVE,
        ..Config::default()
    })
    .await
}

async fn connect(server: &support::TestServer) -> TcpStream {
    within("connect", TcpStream::connect(server.addr))
        .await
        .unwrap()
}

/// Reads until `count` answers have arrived in full.
async fn read_answers(stream: &mut TcpStream, count: usize) -> String {
    let mut received = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    let answers = |bytes: &[u8]| String::from_utf8_lossy(bytes).matches("\r\n\r\nok").count();
    while answers(&received) < count {
        let n = within("answers", stream.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "closed after {} answers", answers(&received));
        received.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(received).unwrap()
}

/// Connections parked now, from `/metrics` (asked on a connection of its own).
async fn parked(server: &support::TestServer) -> u64 {
    let metrics = get(server.addr, "/metrics").await.body;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("moscow_time_connections_parked "))
        .unwrap_or_else(|| panic!("no parked gauge in {metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_idle_connection_is_parked_until_its_next_request() {
    let server = start_parking().await;
    let mut stream = connect(&server).await;
    stream.write_all(GET.as_bytes()).await.unwrap();
    read_answers(&mut stream, 1).await;
    // Just answered: still with hyper, which may soon read the next request.
    assert_eq!(parked(&server).await, 0);
    tokio::time::sleep(PAUSE).await;
    assert_eq!(parked(&server).await, 1, "idle for a tick, yet not parked");
    stream.write_all(GET.as_bytes()).await.unwrap();
    assert!(
        read_answers(&mut stream, 1)
            .await
            .starts_with("HTTP/1.1 200 OK")
    );
    assert_eq!(
        parked(&server).await,
        0,
        "served, yet still counted as parked"
    );
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_beyond_one_buffer_are_all_answered() {
    let server = start().await;
    let mut stream = connect(&server).await;
    // 2,000 requests, 68 KB: many times hyper's 8 KiB read buffer, so the
    // connection goes idle with requests read but not parsed, more than once.
    let count = 2000;
    let (mut read, mut write) = stream.split();
    let ((), text) = tokio::join!(
        async { write.write_all(GET.repeat(count).as_bytes()).await.unwrap() },
        async {
            let mut text = Vec::new();
            let mut chunk = vec![0; 64 * 1024];
            while String::from_utf8_lossy(&text).matches("\r\n\r\nok").count() < count {
                let n = within("answers", read.read(&mut chunk)).await.unwrap();
                assert!(n > 0, "closed early");
                text.extend_from_slice(&chunk[..n]);
            }
            String::from_utf8(text).unwrap()
        }
    );
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), count);
    assert!(!text.to_ascii_lowercase().contains("connection: close"));
    server.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_served_again_and_a_split_request_too() {
    let server = start_parking().await;
    let mut stream = connect(&server).await;
    for _ in 0..3 {
        stream.write_all(GET.as_bytes()).await.unwrap();
        let text = read_answers(&mut stream, 1).await;
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        tokio::time::sleep(PAUSE).await;
    }
    // One answer and half of the next request, then the rest later.
    let both = GET.repeat(2);
    let (first, second) = both.split_at(GET.len() + 10);
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(PAUSE).await;
    stream.write_all(second.as_bytes()).await.unwrap();
    assert_eq!(
        read_answers(&mut stream, 2).await.matches("200 OK").count(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_with_a_body_keeps_the_connection_working() {
    let server = start_parking().await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let mut chunk = vec![0; 4096];
    let n = within("405", stream.read(&mut chunk)).await.unwrap();
    assert!(String::from_utf8_lossy(&chunk[..n]).starts_with("HTTP/1.1 405"));
    tokio::time::sleep(PAUSE).await;
    stream.write_all(GET.as_bytes()).await.unwrap();
    let text = read_answers(&mut stream, 1).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    server.stop().await;
}
