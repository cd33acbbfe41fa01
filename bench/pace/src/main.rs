//! pace: HTTP/1.1 GETs at a constant rate over keep-alive connections, each
//! request's latency measured from when it was due, not from when it was sent.
//!
//!   pace ADDR PATH RATE SECONDS CONNECTIONS     e.g. pace 127.0.0.1:8080 /api/time 80000 4 64
//!
//! Prints one JSON object: the rate asked and achieved, the answers, the
//! errors and the latency percentiles in milliseconds.
//!
//! Why not oha: on one core oha tops out near 110k requests/s, below the
//! rates the bench asks for, and a generator that falls behind reports its
//! own backlog as the server's latency. This one is a single thread spinning
//! on epoll (mio) and the clock, with no runtime or HTTP client in between;
//! on the same core it drives well past the servers' saturation.
//!
//! Request k is due at start + k / RATE, whether or not a connection is free
//! (the coordinated-omission correction of wrk2 and oha): a server that
//! stalls is charged for every request that waited behind the stall. Each
//! connection has at most one request in flight. Requests due within SECONDS
//! are all answered before it stops, so a backlog is counted, not dropped.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// How long past SECONDS the last answers may take before pace gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

struct Args {
    addr: SocketAddr,
    path: String,
    rate: f64,
    seconds: f64,
    connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, path, rate, seconds, connections] = args.as_slice() else {
        return Err("usage: pace ADDR PATH RATE SECONDS CONNECTIONS".into());
    };
    let number = |name: &str, value: &str| {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0)
            .ok_or(format!("{name} must be a positive number, not {value:?}"))
    };
    Ok(Args {
        addr: addr.parse().map_err(|e| format!("ADDR {addr:?}: {e}"))?,
        path: path.clone(),
        rate: number("RATE", rate)?,
        seconds: number("SECONDS", seconds)?,
        connections: connections.parse().ok().filter(|c| *c > 0).ok_or(format!(
            "CONNECTIONS must be a positive integer, not {connections:?}"
        ))?,
    })
}

/// One keep-alive connection and the request it has in flight.
struct Connection {
    stream: TcpStream,
    /// When the request in flight was due; None when the connection is free.
    due: Option<Instant>,
    /// Bytes of the answer read so far.
    buffer: Vec<u8>,
}

impl Connection {
    fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream: TcpStream::from_std(stream),
            due: None,
            buffer: Vec::with_capacity(4096),
        })
    }
}

/// The first complete HTTP/1.1 response in `bytes`, or None while it is
/// incomplete. Bodies are framed by Content-Length, as every server measured
/// here frames them.
fn complete_response(bytes: &[u8]) -> Option<Result<Response, String>> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let header = |wanted: &str| {
        head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case(wanted).then(|| value.trim())
        })
    };
    let ok = head.starts_with("HTTP/1.1 2");
    let last = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    match header("content-length").map(str::parse::<usize>) {
        Some(Ok(length)) => (bytes.len() >= head_end + length).then_some(Ok(Response {
            length: head_end + length,
            ok,
            last,
        })),
        _ => Some(Err(format!(
            "a response without a valid Content-Length: {head:?}"
        ))),
    }
}

/// A complete response, as pace reads it.
#[derive(Debug, PartialEq)]
struct Response {
    /// Head and body, in bytes.
    length: usize,
    /// A 2xx status.
    ok: bool,
    /// `Connection: close`: the server closes the connection after it, so
    /// no request may follow on it (RFC 9112, 9.6).
    last: bool,
}

/// The latency below which a share `q` of the sorted `latencies` fall.
fn percentile(latencies: &[Duration], q: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::MAX;
    }
    let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
    latencies[rank - 1]
}

fn run(args: &Args) -> Result<String, String> {
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", args.path, args.addr).into_bytes();
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut connections = Vec::with_capacity(args.connections);
    for token in 0..args.connections {
        let mut connection =
            Connection::open(args.addr).map_err(|e| format!("connect {}: {e}", args.addr))?;
        poll.registry()
            .register(&mut connection.stream, Token(token), Interest::READABLE)
            .map_err(|e| e.to_string())?;
        connections.push(connection);
    }
    let mut free: Vec<usize> = (0..args.connections).rev().collect();
    let mut waiting: VecDeque<Instant> = VecDeque::new(); // due, no connection free yet
    let total = (args.rate * args.seconds).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut latencies: Vec<Duration> = Vec::with_capacity(total as usize);
    let (mut issued, mut errors) = (0u64, 0u64);
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let due_of = |k: u64| start + interval.mul_f64(k as f64);
    let mut last_answer = start;

    while latencies.len() as u64 + errors < total {
        let now = Instant::now();
        if now > due_of(total) + DRAIN_LIMIT {
            return Err(format!(
                "{} requests still unanswered {DRAIN_LIMIT:?} after the end",
                total - latencies.len() as u64 - errors
            ));
        }
        while issued < total && due_of(issued) <= now {
            waiting.push_back(due_of(issued));
            issued += 1;
        }
        while !waiting.is_empty() && !free.is_empty() {
            let token = free.pop().unwrap();
            let connection = &mut connections[token];
            // A few dozen bytes into an empty socket buffer: all or an error.
            match connection.stream.write(&request) {
                Ok(n) if n == request.len() => {
                    connection.due = waiting.pop_front();
                }
                Ok(n) => return Err(format!("short write of {n} bytes")),
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        // Spin while a request is due within 2 ms: epoll_wait's timeout is
        // in whole milliseconds.
        let timeout = if issued < total {
            let until_due = due_of(issued).saturating_duration_since(Instant::now());
            if until_due > Duration::from_millis(2) {
                until_due - Duration::from_millis(1)
            } else {
                Duration::ZERO
            }
        } else {
            Duration::from_millis(1)
        };
        poll.poll(&mut events, Some(timeout))
            .map_err(|e| format!("epoll: {e}"))?;
        for event in &events {
            let token = event.token().0;
            let connection = &mut connections[token];
            let mut closed = false;
            loop {
                let len = connection.buffer.len();
                connection.buffer.resize(len + 4096, 0);
                match connection.stream.read(&mut connection.buffer[len..]) {
                    Ok(0) => {
                        connection.buffer.truncate(len);
                        closed = true;
                        break;
                    }
                    Ok(n) => connection.buffer.truncate(len + n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        connection.buffer.truncate(len);
                        break;
                    }
                    // A reset ends the connection as a close does: its request
                    // in flight, if any, is an error, not the end of the run.
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                        connection.buffer.truncate(len);
                        closed = true;
                        break;
                    }
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
            match complete_response(&connection.buffer) {
                Some(Ok(Response { length, ok, last })) => {
                    let Some(due) = connection.due.take() else {
                        return Err("an answer nobody asked for".into());
                    };
                    last_answer = Instant::now();
                    if ok {
                        latencies.push(last_answer - due)
                    } else {
                        errors += 1
                    }
                    connection.buffer.drain(..length);
                    if last {
                        closed = true;
                    } else {
                        free.push(token);
                    }
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
            if closed {
                // The server closed the connection or said it would: its
                // request, if any, is an error, and a new connection takes
                // its place.
                if connection.due.take().is_some() {
                    errors += 1;
                } else {
                    free.retain(|t| *t != token);
                }
                poll.registry()
                    .deregister(&mut connection.stream)
                    .map_err(|e| e.to_string())?;
                *connection = Connection::open(args.addr).map_err(|e| format!("reconnect: {e}"))?;
                poll.registry()
                    .register(&mut connection.stream, Token(token), Interest::READABLE)
                    .map_err(|e| e.to_string())?;
                free.push(token);
            }
        }
    }

    latencies.sort_unstable();
    let elapsed = (last_answer - start).as_secs_f64();
    Ok(format!(
        "{{\"rate\": {}, \"achieved\": {:.1}, \"answered\": {}, \"errors\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"p999_ms\": {:.3}, \"max_ms\": {:.3}}}",
        args.rate,
        latencies.len() as f64 / elapsed,
        latencies.len(),
        errors,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 0.999)),
        ms(percentile(&latencies, 1.0)),
    ))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pace: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_complete_once_its_body_is_in() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(complete_response(&response[..20]), None);
        assert_eq!(complete_response(&response[..response.len() - 1]), None);
        let answer = |length, ok, last| Some(Ok(Response { length, ok, last }));
        assert_eq!(
            complete_response(response),
            answer(response.len(), true, false)
        );
        let two = [
            &response[..],
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: Close\r\n\r\n",
        ]
        .concat();
        assert_eq!(complete_response(&two), answer(response.len(), true, false));
        assert_eq!(
            complete_response(&two[response.len()..]),
            answer(two.len() - response.len(), false, true)
        );
        assert!(matches!(
            complete_response(b"HTTP/1.1 200 OK\r\n\r\n"),
            Some(Err(_))
        ));
    }

    #[test]
    fn percentiles_are_ranks_of_the_sorted_latencies() {
        let latencies: Vec<Duration> = (1..=1000).map(Duration::from_micros).collect();
        assert_eq!(percentile(&latencies, 0.5), Duration::from_micros(500));
        assert_eq!(percentile(&latencies, 0.99), Duration::from_micros(990));
        assert_eq!(percentile(&latencies, 0.999), Duration::from_micros(999));
        assert_eq!(percentile(&latencies, 1.0), Duration::from_micros(1000));
    }
}
