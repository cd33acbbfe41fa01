//! moscow-time against nginx, request by request: every request of
//! `tests/conformance/corpus.txt` is sent over a raw TCP socket to the
//! built binary and to nginx (started here, on loopback), and the status
//! class of each answer must be the same, unless [`INTENDED`] lists the
//! request with the reason we answer differently. A listed request that no
//! longer differs fails too, so the table stays true.
//!
//! nginx is Debian's (`apt-get install nginx-light`), at `/usr/sbin/nginx`
//! or where `NGINX` says; without it the test fails, naming it.

mod support;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

const CORPUS: &str = include_str!("conformance/corpus.txt");

/// The requests we answer in another status class than nginx, and why.
const INTENDED: &[(&str, &str)] = &[
    (
        "percent-encoded-path",
        "we match the path as sent; nginx decodes %68 to h first (RFC 3986 6.2.2.2 \
         allows either: it is a normalisation, not a requirement)",
    ),
    (
        "http-1.2",
        "RFC 9110 2.5 says to serve a higher HTTP/1.x minor version as 1.1; hyper's \
         parser knows only 1.0 and 1.1 and gives 400, where nginx serves it",
    ),
    (
        "host-userinfo",
        "RFC 9110 7.2: Host is uri-host [\":\" port], with no userinfo, so we give 400; \
         nginx checks only for separators and control characters",
    ),
    (
        "two-spaces",
        "RFC 9112 3 lets a recipient split the request line on any whitespace, and warns \
         that such leniency is how requests get smuggled; hyper is strict (400), nginx lenient",
    ),
    (
        "h2-preface",
        "its request line names HTTP/2.0, so we answer 505 as to any other major version \
         (RFC 9110 15.6.6); nginx without HTTP/2 gives 400",
    ),
    (
        "header-without-colon",
        "a line that is not a field line makes the message invalid, and RFC 9112 2.2 says a \
         server SHOULD answer 400; nginx skips it (ignore_invalid_headers)",
    ),
    (
        "header-10000",
        "our limit is 16 KiB for the whole head (MAX_HEAD_BYTES), nginx's 8 KiB for each \
         line (large_client_header_buffers); both refuse 20 KiB",
    ),
    (
        "chunk-size-invalid",
        "we answer a GET without reading its body (RFC 9110 allows answering before the \
         request is complete); hyper then finds the bad chunk and closes the connection, \
         where nginx reads the body first and answers 400",
    ),
    (
        "te-and-content-length",
        "RFC 9112 6.3 lets a server either reject it or go by Transfer-Encoding and close \
         the connection after the answer: hyper does the second, nginx the first",
    ),
];

/// The statuses of a refusal before routing (`src/refusal.rs`), which must
/// close the connection.
const REFUSALS: [u16; 5] = [400, 414, 431, 501, 505];

/// Longest silence, once something has arrived, before a connection that
/// stays open is taken as done answering.
const QUIET: Duration = Duration::from_millis(500);
/// Longest any one request's exchange may take.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(4);

/// One request of the corpus.
#[derive(Clone)]
struct Entry {
    name: String,
    rfc: String,
    /// Sent and answered first, then `then` is sent.
    first: Vec<u8>,
    then: Option<Vec<u8>>,
    half_close: bool,
    head: bool,
}

/// What a server answered: the status of each answer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answers {
    statuses: Vec<u16>,
    /// Every answer with a status of [`REFUSALS`] said `Connection: close`.
    refusals_close: bool,
    /// How many answers arrived with all of their body.
    whole: usize,
}

impl Answers {
    /// The status classes, `none` if no answer came: what is compared.
    fn classes(&self) -> String {
        if self.statuses.is_empty() {
            return "none".into();
        }
        let classes: Vec<String> = self
            .statuses
            .iter()
            .map(|s| format!("{}xx", s / 100))
            .collect();
        classes.join(" ")
    }

    fn statuses(&self) -> String {
        let statuses: Vec<String> = self.statuses.iter().map(u16::to_string).collect();
        if statuses.is_empty() {
            "none".into()
        } else {
            statuses.join(" ")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_requests_get_the_status_class_nginx_gives_unless_listed_why_not() {
    let corpus = parse_corpus(CORPUS);
    assert!(corpus.len() >= 40, "only {} requests", corpus.len());
    for (name, _) in INTENDED {
        assert!(
            corpus.iter().any(|e| e.name == *name),
            "INTENDED names {name}, which the corpus lacks"
        );
    }

    let nginx = Nginx::start().await;
    let ours = support::spawn_binary(&[]).await;
    let mut exchanges = JoinSet::new();
    for (index, entry) in corpus.iter().enumerate() {
        for (server, addr) in [(0, nginx.addr), (1, ours.addr)] {
            let entry = entry.clone();
            exchanges.spawn(async move { (index, server, exchange(addr, &entry).await) });
        }
    }
    let mut answers = vec![[None, None]; corpus.len()];
    while let Some(done) = exchanges.join_next().await {
        let (index, server, got) = done.unwrap();
        answers[index][server] = Some(got);
    }

    let mut report = String::new();
    let mut failures = Vec::new();
    for (entry, [theirs, ours]) in corpus.iter().zip(answers) {
        let (theirs, ours) = (theirs.unwrap(), ours.unwrap());
        let intended = INTENDED.iter().find(|(name, _)| *name == entry.name);
        let differs = theirs.classes() != ours.classes();
        let verdict = match (differs, intended) {
            (false, None) => "same",
            (true, Some(_)) => "intended",
            (true, None) => {
                failures.push(format!(
                    "DIFFERS {} ({}): nginx {}, moscow-time {}",
                    entry.name,
                    entry.rfc,
                    theirs.statuses(),
                    ours.statuses()
                ));
                "DIFFERS"
            }
            (false, Some(_)) => {
                failures.push(format!(
                    "NO LONGER DIFFERS {}: both {}; take it out of INTENDED",
                    entry.name,
                    ours.statuses()
                ));
                "NO LONGER DIFFERS"
            }
        };
        if !ours.refusals_close {
            failures.push(format!(
                "NO CLOSE {}: a refusal without Connection: close",
                entry.name
            ));
        }
        let _ = writeln!(
            report,
            "{:<32} nginx {:<12} moscow-time {:<12} {verdict:<9} {}",
            entry.name,
            theirs.statuses(),
            ours.statuses(),
            entry.rfc,
        );
    }
    println!("{report}");
    assert!(
        failures.is_empty(),
        "{} of {} requests:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

/// Sends `entry` on a new connection to `addr` and reads the answers.
async fn exchange(addr: SocketAddr, entry: &Entry) -> Answers {
    let deadline = Instant::now() + EXCHANGE_LIMIT;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut received = Vec::new();
    // The server may close before reading everything: its answer counts.
    let _ = stream.write_all(&entry.first).await;
    if let Some(then) = &entry.then {
        // Sent the moment the first answer is in, as a client reusing a
        // keep-alive connection does.
        read_answers(&mut stream, &mut received, deadline, Some(entry.head)).await;
        let _ = stream.write_all(then).await;
    }
    if entry.half_close {
        let _ = stream.shutdown().await;
    }
    read_answers(&mut stream, &mut received, deadline, None).await;
    parse_answers(&received, entry.head)
}

/// Reads until the server closes, falls silent for [`QUIET`] after
/// sending something, or `deadline` passes; or, with `first_of` (whether
/// the answers are to HEAD), as soon as one whole answer is in.
async fn read_answers(
    stream: &mut TcpStream,
    received: &mut Vec<u8>,
    deadline: Instant,
    first_of: Option<bool>,
) {
    let mut chunk = vec![0; 64 * 1024];
    let start = received.len();
    loop {
        if first_of.is_some_and(|head| parse_answers(received, head).whole > 0) {
            return;
        }
        let wait = if received.len() > start {
            QUIET.min(deadline.saturating_duration_since(Instant::now()))
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match timeout(wait, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&chunk[..n]),
            // Closed, reset, silent or out of time.
            _ => return,
        }
    }
}

/// The statuses of the answers in `bytes`, skipping 1xx interim ones. The
/// bodies are sized by Content-Length (the only framing either server uses
/// here), or absent after HEAD.
fn parse_answers(mut bytes: &[u8], head: bool) -> Answers {
    let mut answers = Answers {
        statuses: Vec::new(),
        refusals_close: true,
        whole: 0,
    };
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let text = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        let Some(status) = text
            .strip_prefix("http/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse::<u16>().ok())
        else {
            break;
        };
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
                .map(str::to_owned)
        };
        let length = if head || status < 200 {
            0
        } else {
            field("content-length").map_or(bytes.len(), |l| l.parse().unwrap_or(0))
        };
        let whole = bytes.len() >= end + 4 + length;
        bytes = bytes.get(end + 4 + length..).unwrap_or_default();
        if status >= 200 {
            answers.statuses.push(status);
            answers.whole += usize::from(whole);
            if REFUSALS.contains(&status) && field("connection").as_deref() != Some("close") {
                answers.refusals_close = false;
            }
        }
    }
    answers
}

/// Reads the corpus: see the comment at its top.
fn parse_corpus(text: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix("== ") {
            let mut parts = header.split('|').map(str::trim);
            let name = parts.next().unwrap_or_default().to_owned();
            let rfc = parts.next().unwrap_or_default().to_owned();
            let flags: Vec<&str> = parts
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            assert!(
                rfc.starts_with("RFC "),
                "{name}: no RFC section in {line:?}"
            );
            assert!(
                entries.iter().all(|e| e.name != name),
                "{name} twice in the corpus"
            );
            for flag in &flags {
                assert!(
                    ["half-close", "head"].contains(flag),
                    "{name}: unknown flag {flag}"
                );
            }
            entries.push(Entry {
                name,
                rfc,
                first: Vec::new(),
                then: None,
                half_close: flags.contains(&"half-close"),
                head: flags.contains(&"head"),
            });
            continue;
        }
        let entry = entries
            .last_mut()
            .expect("request text before the first ==");
        if line == "-- then" {
            entry.then = Some(Vec::new());
        } else {
            let bytes = unescape(line);
            match &mut entry.then {
                Some(then) => then.extend(bytes),
                None => entry.first.extend(bytes),
            }
        }
    }
    for entry in &entries {
        assert!(!entry.first.is_empty(), "{}: no request", entry.name);
    }
    entries
}

/// `\r \n \t \0 \\ \xHH` and `{N*TEXT}`.
fn unescape(line: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('r') => out.push(b'\r'),
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('0') => out.push(0),
                Some('\\') => out.push(b'\\'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).expect("\\xHH"));
                }
                other => panic!("unknown escape \\{other:?} in {line:?}"),
            },
            '{' => {
                let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let (count, text) = spec.split_once('*').expect("{N*TEXT}");
                let count: usize = count.parse().expect("{N*TEXT}");
                out.extend(text.repeat(count).bytes());
            }
            c => out.extend(c.to_string().bytes()),
        }
    }
    out
}

/// nginx on a free loopback port, serving files at the paths moscow-time
/// serves; stopped when dropped.
struct Nginx {
    addr: SocketAddr,
    _child: Child,
    dir: PathBuf,
}

impl Nginx {
    async fn start() -> Self {
        let binary =
            std::env::var_os("NGINX").map_or_else(|| "/usr/sbin/nginx".into(), PathBuf::from);
        assert!(
            binary.is_file(),
            "nginx not found at {}: the conformance test compares with it; \
             apt-get install nginx-light (or set NGINX to its path)",
            binary.display()
        );
        let dir =
            std::env::temp_dir().join(format!("moscow-time-conformance-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, body) in [
            ("www/healthz", "ok\n"),
            ("www/index.html", "<!doctype html>\n"),
            ("www/api/time", "{}\n"),
        ] {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        // A port the OS says is free; nginx binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(dir.join("nginx.conf"), nginx_conf(&dir, port)).unwrap();
        let mut child = Command::new(&binary)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("failed to start {}: {err}", binary.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect(addr).await.is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited at start ({status}): {log}");
            }
            assert!(
                started.elapsed() < support::LIMIT,
                "nginx did not listen on {addr}"
            );
            sleep(Duration::from_millis(20)).await;
        }
        Self {
            addr,
            _child: child,
            dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The bench's tuned nginx (bench/bench.py), one process in the foreground,
/// its defaults kept for everything the corpus tries (buffers, timeouts).
fn nginx_conf(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    format!(
        "daemon off;\n\
         master_process off;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
             access_log off;\n\
             server_tokens off;\n\
             client_body_temp_path {dir}/client_body;\n\
             proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fastcgi;\n\
             uwsgi_temp_path {dir}/uwsgi;\n\
             scgi_temp_path {dir}/scgi;\n\
             types {{ }}\n\
             default_type text/plain;\n\
             server {{\n\
                 listen 127.0.0.1:{port};\n\
                 root {dir}/www;\n\
             }}\n\
         }}\n"
    )
}

#[test]
fn the_corpus_reads_as_its_header_says() {
    let corpus = parse_corpus(
        "# comment\n== a | RFC 1 | half-close head\nGET {3*a}\\r\\n\n\\x01\\0\n-- then\nB\n",
    );
    assert_eq!(corpus.len(), 1);
    let a = &corpus[0];
    assert_eq!((a.name.as_str(), a.rfc.as_str()), ("a", "RFC 1"));
    assert_eq!(a.first, b"GET aaa\r\n\x01\0");
    assert_eq!(a.then.as_deref(), Some(&b"B"[..]));
    assert!(a.half_close && a.head);
}

#[test]
fn answers_are_read_in_order_with_their_bodies_skipped() {
    let bytes = b"HTTP/1.1 100 Continue\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nHTTP\
                  HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let answers = parse_answers(bytes, false);
    assert_eq!(answers.statuses, [200, 400]);
    assert_eq!(answers.whole, 2);
    let partial = parse_answers(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nHT", false);
    assert_eq!((partial.statuses.len(), partial.whole), (1, 0));
    assert_eq!(answers.classes(), "2xx 4xx");
    assert!(answers.refusals_close);
    assert_eq!(parse_answers(b"", false).classes(), "none");
    let unclosed = parse_answers(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert!(!unclosed.refusals_close);
    let not_found = parse_answers(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert!(not_found.refusals_close, "a 404 is no refusal");
}
