//! Shared test helpers: an in-process server, the built binary, and clients
//! that speak HTTP over real sockets. Every wait has a time limit.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use moscow_time::config::Config;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// The longest any single step of a test may take before it fails as a hang.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_elapsed| panic!("timed out after {LIMIT:?}: {what}"))
}

/// A server running in this process on `127.0.0.1:<random port>`.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Sends the shutdown signal and waits for `run` to return.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        within("server shutdown", self.task.take().unwrap())
            .await
            .unwrap();
    }
}

/// Starts the server with default settings.
pub async fn start() -> TestServer {
    start_with(Config::default()).await
}

/// Starts the server with `config`, on a random loopback port.
pub async fn start_with(config: Config) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, config)
}

/// Starts the server with `config` on `listener`.
pub fn start_on(listener: tokio::net::TcpListener, config: Config) -> TestServer {
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        moscow_time::server::run(listener, &config, async {
            let _ = stopped.await;
        })
        .await;
    });
    TestServer {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A response read by hyper's own HTTP/1.1 client.
pub struct Reply {
    pub response: Response<()>,
    pub body: String,
}

impl Reply {
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    pub fn header(&self, name: &str) -> &str {
        self.response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

/// One request on a new connection, through hyper's client.
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let mut client = Client::connect(addr).await;
    client.send(method, path).await
}

/// GET `path` on a new connection.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path).await
}

/// A keep-alive HTTP/1.1 connection driven by hyper's client.
pub struct Client {
    sender: http1::SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = within("connect", TcpStream::connect(addr)).await.unwrap();
        let (sender, conn) = within("handshake", http1::handshake(TokioIo::new(stream)))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self { sender, addr }
    }

    pub async fn send(&mut self, method: &str, path: &str) -> Reply {
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header("host", self.addr.to_string())
            .body(Empty::new())
            .unwrap();
        let response = within("response", self.sender.send_request(request))
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = within("body", body.collect()).await.unwrap().to_bytes();
        Reply {
            response: Response::from_parts(parts, ()),
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }
}

/// Writes `bytes` on a new connection and returns everything the server sends
/// until it closes the connection (or [`LIMIT`] passes, which fails the test).
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    // The server may close before reading everything; that is an answer too.
    let _ = stream.write_all(bytes).await;
    read_to_close(&mut stream).await
}

/// Reads until the peer closes; a reset counts as closed.
pub async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = within(
        "server closing the connection",
        stream.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `text`, if there is one.
pub fn first_status(text: &str) -> Option<u16> {
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The built `moscow-time` binary, run as a child process.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: BufReader<ChildStdout>,
}

/// The command for the built binary, with no inherited settings.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moscow-time"));
    for setting in &moscow_time::config::SETTINGS {
        cmd.env_remove(setting.name);
    }
    cmd.kill_on_drop(true);
    cmd
}

/// Starts the binary on `127.0.0.1:0` with extra `env`, and waits for the
/// "listening on" line to learn its address.
pub async fn spawn_binary(env: &[(&str, &str)]) -> Binary {
    let mut cmd = command();
    cmd.env("PORT", "0").env("HOST", "127.0.0.1");
    spawn_command(cmd, env).await
}

/// Starts `cmd` (the binary, possibly wrapped) and waits for its address.
pub async fn spawn_command(mut cmd: Command, env: &[(&str, &str)]) -> Binary {
    cmd.envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let line = next_line(&mut stdout).await;
    let addr = line
        .rsplit_once("listening on http://")
        .unwrap_or_else(|| panic!("no listening line, got {line:?}"))
        .1
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Binary {
        child,
        addr,
        stdout,
    }
}

/// The next line the process writes on stdout.
pub async fn next_line(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    within("a line on stdout", stdout.read_line(&mut line))
        .await
        .unwrap();
    line
}

impl Binary {
    /// Sends `signal` (e.g. `libc`-free: "TERM", "INT") with kill(1).
    pub async fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "kill -s {signal} {pid}");
    }

    /// Waits for the process to exit and returns its code and stderr.
    pub async fn wait(mut self) -> (Option<i32>, String) {
        let status = within("process exit", self.child.wait()).await.unwrap();
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().unwrap();
        within("stderr", pipe.read_to_string(&mut stderr))
            .await
            .unwrap();
        (status.code(), stderr)
    }
}
