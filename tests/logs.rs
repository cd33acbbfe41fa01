//! `LOG_FORMAT=json`: every line the binary writes, access log and errors
//! alike, is one JSON object that a real JSON parser reads.

mod support;

use serde_json::Value;
use support::{get, raw, request, spawn_binary, within};
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
    let mut server = spawn_binary(&[("LOG_FORMAT", "json")]).await;
    let addr = server.addr;
    assert_eq!(get(addr, "/api/time").await.status(), 200);
    assert_eq!(request(addr, "POST", "/").await.status(), 405);
    // A quote and a backslash, percent-encoded as a client must send them,
    // and a raw one that hyper accepts in a path.
    assert_eq!(get(addr, "/a%22b\\c").await.status(), 404);
    // A request hyper rejects: an error line on stderr.
    let _ = raw(addr, b"HELLO\r\n\r\n").await;
    server.signal("TERM").await;
    let mut stdout = String::new();
    within("stdout", server.stdout.read_to_string(&mut stdout))
        .await
        .unwrap();
    let (code, stderr) = server.wait().await;
    assert_eq!(code, Some(0), "{stderr}");

    let lines = objects(&stdout);
    let access: Vec<_> = lines.iter().filter(|o| o["msg"] == "request").collect();
    assert_eq!(access.len(), 3, "{stdout}");
    for (object, (method, path, status)) in access.iter().zip([
        ("GET", "/api/time", 200),
        ("POST", "/", 405),
        ("GET", "/a%22b\\c", 404),
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
async fn text_stays_the_default() {
    let mut server = spawn_binary(&[]).await;
    assert_eq!(get(server.addr, "/healthz").await.status(), 200);
    let line = support::next_line(&mut server.stdout).await;
    assert!(line.starts_with("GET /healthz 200 "), "{line}");
    server.signal("TERM").await;
    let (code, _) = server.wait().await;
    assert_eq!(code, Some(0));
}
