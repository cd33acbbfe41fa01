//! `LOG_FORMAT=json`: every line the binary writes, access log and errors
//! alike (a bad setting's too), is one JSON object that a real JSON parser reads.

mod support;

use serde_json::Value;
use support::{command, get, raw, request, spawn_binary, within};
use tokio::io::AsyncReadExt;

/// Parses every line of `text` as one JSON object.
fn objects(text: &str) -> Vec<serde_json::Map<String, Value>> {
    text.lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(object)) => object,
            other => panic!("not a JSON object: {line:?} ({other:?})"),
        })
        .collect()
}

/// An RFC 3339 time with milliseconds and the Moscow offset.
fn assert_time(object: &serde_json::Map<String, Value>) {
    let time = object["time"].as_str().unwrap();
    assert_eq!(time.len(), "2026-11-26T19:04:09.123+03:00".len(), "{time}");
    assert!(
        time.as_bytes()[10] == b'T' && time.ends_with("+03:00"),
        "{time}"
    );
}

#[tokio::test]
async fn json_lines_carry_the_fields_a_log_pipeline_needs() {
    let mut server =
        spawn_binary(&[("LOG_FORMAT", "json"), ("HEADER_READ_TIMEOUT_MS", "200")]).await;
    let addr = server.addr;
    assert_eq!(get(addr, "/api/time").await.status(), 200);
    assert_eq!(request(addr, "POST", "/").await.status(), 405);
    // A quote and a backslash, percent-encoded as a client must send them,
    // and a raw one that hyper accepts in a path.
    assert_eq!(get(addr, "/a%22b\\c").await.status(), 404);
    // A request hyper cannot parse: refused, and logged as any request.
    let _ = raw(addr, b"HELLO\r\n\r\n").await;
    // A head that never ends: an error line on stderr.
    let _ = raw(addr, b"GET / HTTP/1.1\r\n").await;
    server.signal("TERM").await;
    let mut stdout = String::new();
    within("stdout", server.stdout.read_to_string(&mut stdout))
        .await
        .unwrap();
    let (code, stderr) = server.wait().await;
    assert_eq!(code, Some(0), "{stderr}");

    let lines = objects(&stdout);
    let access: Vec<_> = lines.iter().filter(|o| o["msg"] == "request").collect();
    assert_eq!(access.len(), 4, "{stdout}");
    for (object, (method, path, status)) in access.iter().zip([
        ("GET", "/api/time", 200),
        ("POST", "/", 405),
        ("GET", "/a%22b\\c", 404),
        ("HELLO", "-", 400),
    ]) {
        assert_time(object);
        assert_eq!(object["level"], "info");
        assert_eq!(object["method"], method);
        assert_eq!(object["path"], path);
        assert_eq!(object["status"], status);
        assert!(object["duration_ms"].as_f64().unwrap() >= 0.0, "{object:?}");
    }
    // The notices are JSON too (the "listening on" one was read at start-up:
    // the helper found the address in it).
    let notices: Vec<_> = lines.iter().filter(|o| o["msg"] != "request").collect();
    assert_eq!(notices.len(), 1, "{stdout}");
    assert_time(notices[0]);
    assert_eq!(notices[0]["msg"], "stopped");

    let errors = objects(&stderr);
    assert!(!errors.is_empty());
    for object in &errors {
        assert_time(object);
        assert_eq!(object["level"], "error");
        assert!(object["msg"].as_str().unwrap().contains("connection error"));
    }
}

#[tokio::test]
async fn errors_before_serving_are_json_too() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    // Another setting is bad, so the format comes from LOG_FORMAT alone.
    for (args, env, code, says) in [
        (&[][..], &[("PORT", "80a")][..], 2, "invalid PORT \"80a\""),
        (
            &["healthcheck"],
            &[("PORT", "80a")],
            2,
            "invalid PORT \"80a\"",
        ),
        (&["healthcheck"], &[("PORT", "0")], 2, "PORT is 0"),
        (&["healthcheck"], &[("PORT", &free_port)], 1, "refused"),
        (
            &[],
            &[("HOST", "127.0.0.1"), ("PORT", &taken_port)],
            1,
            "failed to bind",
        ),
        (&["serve"], &[], 2, "unexpected argument \"serve\""),
    ] {
        let mut cmd = command();
        cmd.args(args)
            .envs(env.iter().copied())
            .env("LOG_FORMAT", "json");
        let out = within("the command to finish", cmd.output()).await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?} {env:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} {env:?}");
        let lines = objects(&stderr);
        assert_eq!(lines.len(), 1, "{args:?} {env:?}: {stderr}");
        assert_time(&lines[0]);
        assert_eq!(lines[0]["level"], "error");
        let msg = lines[0]["msg"].as_str().unwrap();
        assert!(msg.contains(says), "{args:?} {env:?}: {msg}");
    }
}

#[tokio::test]
async fn text_stays_the_default() {
    let mut server = spawn_binary(&[]).await;
    assert_eq!(get(server.addr, "/healthz").await.status(), 200);
    let line = support::next_line(&mut server.stdout).await;
    assert!(line.starts_with("GET /healthz 200 "), "{line}");
    server.signal("TERM").await;
    let (code, _) = server.wait().await;
    assert_eq!(code, Some(0));
}
