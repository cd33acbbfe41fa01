//! The endpoints over a real socket, through hyper's HTTP/1.1 client.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::{Client, first_status, get, raw, request, start};

#[tokio::test]
async fn page_shows_moscow_time_as_html() {
    let server = start().await;
    let reply = get(server.addr, "/").await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert!(
        reply
            .header("content-security-policy")
            .starts_with("default-src 'none'")
    );
    assert_eq!(
        reply.header("content-security-policy"),
        moscow_time::page::CONTENT_SECURITY_POLICY
    );
    assert!(
        reply.body.contains(" Moscow time</title>"),
        "{}",
        reply.body
    );
    // The date and time shown are Moscow's: UTC plus three hours.
    let moscow = moscow_time::clock::MoscowTime::at(SystemTime::now());
    assert!(reply.body.contains(&moscow.date()), "{}", reply.body);
    server.stop().await;
}

#[tokio::test]
async fn time_api_returns_one_consistent_instant() {
    let server = start().await;
    let before = now_ms();
    let reply = get(server.addr, "/api/time").await;
    let after = now_ms();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header("content-type"), "application/json");
    let body = &reply.body;
    assert!(
        body.starts_with(r#"{"timezone":"Europe/Moscow","utc_offset":"+03:00","datetime":""#),
        "{body}"
    );
    let unix_ms: i64 = field(body, r#""unix_ms":"#)
        .trim_end_matches('}')
        .parse()
        .unwrap();
    assert!(
        (before..=after).contains(&unix_ms),
        "{before} <= {unix_ms} <= {after}"
    );
    let datetime = field(body, r#""datetime":""#).split('"').next().unwrap();
    assert_eq!(
        datetime,
        moscow_time::clock::MoscowTime::from_unix_ms(unix_ms).to_string(),
        "datetime and unix_ms must be the same instant"
    );
    assert!(datetime.ends_with("+03:00"));
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let server = start().await;
    let healthz = get(server.addr, "/healthz").await;
    assert_eq!((healthz.status(), healthz.body.as_str()), (200, "ok\n"));
    assert_eq!(get(server.addr, "/readyz").await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn head_has_the_get_headers_and_no_body() {
    let server = start().await;
    for path in ["/", "/api/time", "/healthz", "/readyz", "/metrics"] {
        let get = get(server.addr, path).await;
        let head = request(server.addr, "HEAD", path).await;
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(head.header("content-type"), get.header("content-type"));
        assert_eq!(head.header("x-content-type-options"), "nosniff");
        assert!(head.body.is_empty(), "{path}: {}", head.body);
    }
    // On the wire: the Content-Length of the GET body, and nothing after the head.
    let text = raw(
        server.addr,
        b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.contains("content-length: 3\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn other_methods_get_405_with_allow_on_known_paths() {
    let server = start().await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"] {
        let reply = request(server.addr, method, "/api/time").await;
        assert_eq!(reply.status(), 405, "{method}");
        assert_eq!(reply.header("allow"), "GET, HEAD");
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_get_404_with_nosniff() {
    let server = start().await;
    for path in ["/nope", "/api/time/", "/index.html", "/%00"] {
        let reply = get(server.addr, path).await;
        assert_eq!(reply.status(), 404, "{path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
    }
    assert_eq!(request(server.addr, "POST", "/nope").await.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let server = start().await;
    let mut client = Client::connect(server.addr).await;
    for path in ["/", "/api/time", "/healthz", "/nope", "/metrics"] {
        let reply = client.send("GET", path).await;
        assert!(matches!(reply.status(), 200 | 404), "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = start().await;
    let text = raw(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /nope HTTP/1.1\r\nHost: x\r\n\r\n\
          DELETE /readyz HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "404", "405", "200"], "{text}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_with_bounded_labels() {
    let server = start().await;
    get(server.addr, "/api/time").await;
    get(server.addr, "/api/time").await;
    get(server.addr, "/no/such/path").await;
    get(server.addr, "/another/unknown").await;
    request(server.addr, "PURGE", "/").await;
    let reply = get(server.addr, "/metrics").await;
    assert_eq!(
        reply.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = &reply.body;
    for line in [
        r#"http_requests_total{method="GET",path="/api/time",status="200"} 2"#,
        r#"http_requests_total{method="GET",path="other",status="404"} 2"#,
        r#"http_requests_total{method="other",path="/",status="405"} 1"#,
        "http_request_duration_seconds_count 5",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("no/such"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_pass_promtool_check() {
    let server = start().await;
    get(server.addr, "/").await;
    request(server.addr, "HEAD", "/api/time").await;
    get(server.addr, "/nope").await;
    let text = get(server.addr, "/metrics").await.body;
    server.stop().await;

    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install it (Debian: apt-get install prometheus)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn every_status_carries_nosniff_on_the_wire() {
    let server = start().await;
    for request in [
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ] {
        let text = raw(server.addr, request.as_bytes()).await;
        assert!(first_status(&text).is_some(), "{text}");
        assert!(
            text.contains("x-content-type-options: nosniff\r\n"),
            "{text}"
        );
    }
    server.stop().await;
}

/// Refusals before routing (`src/refusal.rs`) each with the status that
/// says why, a one-line body, `Connection: close`, and a count in the
/// metrics, whether hyper parsed the request or could not.
#[tokio::test]
async fn refusals_have_their_own_status_close_the_connection_and_are_counted() {
    let server = start().await;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
    for (request, status, body) in [
        ("GET /healthz HTTP/1.1\r\n\r\n", 400, "bad request"),
        (
            "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            "bad request",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n",
            400,
            "bad request",
        ),
        (&long_target, 414, "uri too long"),
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "transfer coding not implemented",
        ),
        (
            "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
            505,
            "http version not supported",
        ),
    ] {
        let answer = raw(server.addr, request.as_bytes()).await;
        assert_eq!(first_status(&answer), Some(status), "{answer}");
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(
            answer.contains("x-content-type-options: nosniff\r\n"),
            "{answer}"
        );
        assert!(answer.ends_with(&format!("\r\n\r\n{body}\n")), "{answer}");
    }
    let text = get(server.addr, "/metrics").await.body;
    for line in [
        r#"http_requests_total{method="GET",path="/healthz",status="400"} 3"#,
        r#"http_requests_total{method="GET",path="other",status="414"} 1"#,
        // hyper finds a bad Transfer-Encoding once the head is gone: neither
        // method nor path is known.
        r#"http_requests_total{method="other",path="other",status="501"} 1"#,
        r#"http_requests_total{method="GET",path="/healthz",status="505"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    server.stop().await;
}

fn field<'a>(body: &'a str, key: &str) -> &'a str {
    body.split_once(key)
        .unwrap_or_else(|| panic!("{key} in {body}"))
        .1
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}
