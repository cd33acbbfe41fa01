//! The floor of this stack, for `bench/run.sh`: a bare hyper 1.x HTTP/1 server
//! in the style of hyper's own `examples/hello.rs` that answers every request
//! with 200 "Hello, World!". No routing, no logging, no clock, no timers.
//!
//! It reads `PORT` (default 3000; 0 picks a free port) and binds 127.0.0.1,
//! prints the bound address, and exits on SIGTERM so that its start and stop
//! times are measured the same way as the real server's.
//!
//! For the memory study in `bench/bench.py`, two of hyper's knobs can be set,
//! one at a time: `HELLO_MAX_BUF_SIZE` (bytes, at least 8192) and
//! `HELLO_WRITEV` (`0` flattens writes into one buffer, `1` queues them).

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3000,
    };
    let mut http = http1::Builder::new();
    if let Ok(max) = std::env::var("HELLO_MAX_BUF_SIZE") {
        http.max_buf_size(max.parse()?);
    }
    if let Ok(writev) = std::env::var("HELLO_WRITEV") {
        http.writev(writev == "1");
    }
    let http = std::sync::Arc::new(http);
    let mut sigterm = signal(SignalKind::terminate())?;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("listening on http://{}", listener.local_addr()?);

    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = sigterm.recv() => return Ok(()),
        };
        let http = std::sync::Arc::clone(&http);
        tokio::task::spawn(async move {
            if let Err(err) = http
                .serve_connection(TokioIo::new(tcp), service_fn(hello))
                .await
            {
                eprintln!("error serving connection: {err}");
            }
        });
    }
}
