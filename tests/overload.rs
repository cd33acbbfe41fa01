//! Clients that hold connections without doing their part: readers that stop
//! reading, connections that never speak, floods of them. Each is closed or
//! shed while honest clients keep being served.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moscow_time::config::Config;
use support::{
    Client, first_status, get, raw, read_to_close, spawn_command, start_on, start_with, within,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// A connection whose receive buffer is as small as the kernel allows, so
/// that a client that stops reading blocks the server's writes quickly.
async fn small_window_connection(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    within("connect", socket.connect(addr)).await.unwrap()
}

/// `count` pipelined `GET path` requests, written by a task of their own
/// (the server reads them only as fast as it answers).
fn pipeline(stream: TcpStream, path: &str, count: usize) -> tokio::net::tcp::OwnedReadHalf {
    let (read, mut write) = stream.into_split();
    let requests = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(count);
    tokio::spawn(async move {
        // The server may close first; that is what some tests wait for.
        let _ = write.write_all(requests.as_bytes()).await;
        // Keep the write half open: dropping it would half-close the connection.
        tokio::time::sleep(support::LIMIT * 3).await;
        drop(write);
    });
    read
}

/// The value of the sample `name` (with its labels) in the server's /metrics.
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let text = get(addr, "/metrics").await.body;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

/// Reads a little every 20 ms for `how_long`, or until the server closes
/// (then false): far more often than the write timeout, but slowly enough
/// that the server waits for this client.
async fn read_slowly(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    received: &mut Vec<u8>,
    how_long: Duration,
) -> bool {
    let mut chunk = vec![0; 16 * 1024];
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        let n = within("a slow read", reader.read(&mut chunk))
            .await
            .unwrap_or_else(|err| panic!("{err} after {} bytes", received.len()));
        if n == 0 {
            return false;
        }
        received.extend_from_slice(&chunk[..n]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

const WRITE_TIMEOUTS: &str = "moscow_time_write_timeouts_total";

#[tokio::test]
async fn a_reader_that_stops_is_closed_after_the_write_timeout() {
    let timeout = Duration::from_millis(300);
    let server = start_with(Config {
        write_timeout: timeout,
        ..Config::default()
    })
    .await;
    // 3,000 pipelined pages (about 7 MB of answers), and then it reads nothing.
    let mut slow = pipeline(small_window_connection(server.addr).await, "/", 3000);
    let stopped_reading = Instant::now();

    // Everyone else is served meanwhile.
    for _ in 0..5 {
        assert_eq!(get(server.addr, "/healthz").await.status(), 200);
    }
    within("the write timeout to close the slow reader", async {
        while metric(server.addr, WRITE_TIMEOUTS).await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(stopped_reading.elapsed() >= timeout);
    // Closed: what it reads now ends (with a reset, as it left bytes unread),
    // well short of the 3,000 answers.
    let mut rest = Vec::new();
    let _ = within("the closed connection", slow.read_to_end(&mut rest)).await;
    let answers = String::from_utf8_lossy(&rest)
        .matches("HTTP/1.1 200")
        .count();
    assert!(answers < 3000, "{answers} answers");
    assert_eq!(get(server.addr, "/healthz").await.status(), 200);
    server.stop().await;
}

/// A client that reads slowly but steadily makes progress: the write timeout
/// measures time without progress, not the length of the download, and a
/// graceful shutdown lets the answer in flight finish.
#[tokio::test]
async fn a_slow_but_steady_download_of_metrics_is_not_cut() {
    let timeout = Duration::from_secs(1);
    // The kernel wakes a blocked writer only once half its send buffer is
    // free: with loopback's autotuned megabytes, a client reading 800 KB/s
    // would let the server make progress only every second or so. Accepted
    // sockets inherit the listener's 64 KiB, so progress shows every ~40 ms.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(32 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = start_on(
        socket.listen(1024).unwrap(),
        Config {
            write_timeout: timeout,
            ..Config::default()
        },
    );
    let addr = server.addr;
    // A normal receive window: a tiny one makes loopback TCP itself stall
    // for hundreds of milliseconds between zero-window probes.
    let stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    let mut reader = pipeline(stream, "/metrics", 3000);
    let mut received = Vec::new();
    assert!(
        read_slowly(&mut reader, &mut received, timeout * 5 / 2).await,
        "closed after {} bytes",
        received.len()
    );
    assert_eq!(metric(addr, WRITE_TIMEOUTS).await, 0);

    // Shut down mid-download; the answer being written still completes.
    let stopping = tokio::spawn(server.stop());
    let mut chunk = vec![0; 16 * 1024];
    // NOTE: the server closes with the queued requests unread, so its kernel
    // may answer them with a reset, and a reset discards what this client had
    // not read yet (nginx's lingering_close exists for this; hyper has none).
    // So the end of the download is checked only when no reset came.
    let reset = loop {
        match within("the rest of the download", reader.read(&mut chunk)).await {
            Ok(0) => break false,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(err) => panic!("{err} after {} bytes", received.len()),
        }
    };
    within("shutdown", stopping).await.unwrap();
    let text = String::from_utf8_lossy(&received);
    let answers = text.matches("HTTP/1.1 200 OK").count();
    assert!(answers > 1, "{text}");
    // The drain answers no queued request.
    assert!(
        answers < 3000,
        "the drain should not answer the queued requests"
    );
    // And it cuts none it was writing.
    assert!(
        reset
            || text.ends_with(&format!(
                "moscow_time_build_info{{version=\"{}\"}} 1\n",
                env!("CARGO_PKG_VERSION")
            )),
        "the last answer was cut: {}",
        &text[text.len().saturating_sub(300)..]
    );
}

/// At `MAX_CONNECTIONS`, a new connection makes room by closing the oldest
/// connection that has sent nothing, then the oldest idle keep-alive one; when
/// every connection is busy the new one is refused. Each is counted.
#[tokio::test]
async fn at_the_limit_silent_then_idle_connections_are_shed() {
    let server = start_with(Config {
        max_connections: Some(3),
        // Long enough that only shedding closes anything here.
        header_read_timeout: Duration::from_secs(30),
        ..Config::default()
    })
    .await;
    let addr = server.addr;
    let shed = |reason: &str| format!("moscow_time_connections_shed_total{{reason=\"{reason}\"}}");

    // Three silent connections fill the limit; each new request sheds the oldest.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(within("connect", TcpStream::connect(addr)).await.unwrap());
        // The server registers them in order: keep them apart in time.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = raw(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(first_status(&reply), Some(200), "{reply}");
    assert_eq!(
        read_to_close(&mut silent[0]).await,
        "",
        "the oldest is closed"
    );
    assert!(metric(addr, &shed("fresh")).await >= 1);

    // Keep-alive connections that went idle are shed the same way.
    drop(silent);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(addr).await;
        assert_eq!(client.send("GET", "/healthz").await.status(), 200);
        idle.push(client);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metric(addr, &shed("idle")).await >= 1);

    // Three connections in the middle of a request head are busy: nothing
    // can be shed, so a fourth is closed at once, and counted.
    drop(idle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(refused, "", "a fourth connection must be refused");
    drop(busy);
    let refused_once = format!("{} 1\n", shed("refused"));
    within("the refusal counted", async {
        while !raw(
            addr,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .contains(&refused_once)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    server.stop().await;
}

/// The target of the overload protection: with 256 descriptors and 1,000
/// clients that connect, send nothing and reconnect as soon as they are
/// closed, a client that opens a new connection for `GET /healthz` every
/// 50 ms gets a 200 within 1 s for at least 90 % of its requests over 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_does_not_lock_out_honest_clients() {
    const FLOODERS: usize = 1000;
    const RUN: Duration = Duration::from_secs(20);
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args([
        "-c",
        "ulimit -n 256 && exec \"$0\"",
        env!("CARGO_BIN_EXE_moscow-time"),
    ])
    .env("PORT", "0")
    .env("HOST", "127.0.0.1")
    .kill_on_drop(true);
    // Its access log (about 400 short lines) fits in the stdout pipe.
    let server = spawn_command(cmd, &[]).await;
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = JoinSet::new();
    for _ in 0..FLOODERS {
        let stop = Arc::clone(&stop);
        flood.spawn(async move {
            let mut byte = [0u8; 1];
            while !stop.load(Ordering::Relaxed) {
                // Past the backlog a connect may hang; retry after a while.
                if let Ok(Ok(mut stream)) =
                    tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
                {
                    // Wait, silent, until the server closes it (or the run ends).
                    let _ =
                        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await;
                }
            }
        });
    }
    // Let the flood fill the server first.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut honest = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let started = Instant::now();
    while started.elapsed() < RUN {
        tick.tick().await;
        honest.spawn(async move {
            tokio::time::timeout(
                Duration::from_secs(1),
                raw(
                    addr,
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                ),
            )
            .await
            .is_ok_and(|answer| first_status(&answer) == Some(200))
        });
    }
    let results = honest.join_all().await;
    let shed = metric(addr, "moscow_time_connections_shed_total{reason=\"fresh\"}").await;
    stop.store(true, Ordering::Relaxed);
    flood.abort_all();

    let ok = results.iter().filter(|&&ok| ok).count();
    assert!(
        ok * 10 >= results.len() * 9,
        "only {ok} of {} requests got a 200 within 1 s",
        results.len()
    );
    assert!(shed > 0, "no connection was shed");
    server.signal("TERM").await;
    let (code, stderr) = server.wait().await;
    assert_eq!(code, Some(0), "{stderr}");
    // Shedding is logged with counts, at most once a second.
    let lines = stderr
        .matches("at the limit of 224 connections: shed")
        .count();
    assert!(lines >= 1, "{stderr}");
    assert!(
        u64::try_from(lines).unwrap() <= RUN.as_secs() + 3,
        "{lines} lines: {stderr}"
    );
}
