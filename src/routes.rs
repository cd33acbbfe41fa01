//! The router: which path answers what, and the headers every answer carries.

use std::fmt;
use std::io::{Cursor, Write as _};
use std::time::SystemTime;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::route::Route;
use crate::state::State;
use crate::{clock, page, refusal};

/// The body type of every response.
pub type Body = Full<Bytes>;

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers `method` on `route` at instant `now`. The one place that checks the
/// method and adds the headers every response carries, so no route can forget.
///
/// The response's headers go into `headers`, emptied first. The server
/// passes the request's own map: hyper hands each connection's map from one
/// response to the next request, so in steady state no request allocates one.
pub fn respond(
    method: &Method,
    route: Route,
    state: &State,
    now: SystemTime,
    headers: HeaderMap,
) -> Response<Body> {
    // A path we do not know is 404 whatever the method; hyper sends no body
    // for HEAD but keeps the headers, Content-Length included.
    let answer = if route == Route::Unknown || method == Method::GET || method == Method::HEAD {
        answer(route, state, now)
    } else {
        text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            .with(header::ALLOW, "GET, HEAD")
    };
    // Shutting down: this answer is the connection's last, and says so;
    // hyper closes the connection after it. The client opens a new one,
    // elsewhere, instead of sending on one that is about to close.
    finish(answer, !state.is_ready(), headers)
}

/// The answer to a request refused before routing, with `status` (see
/// [`crate::refusal`]): a one-line body, the headers every response
/// carries, and `Connection: close`, as nothing after a refused request on
/// its connection can be trusted to be framed as its client meant.
pub fn refuse(status: StatusCode, headers: HeaderMap) -> Response<Body> {
    finish(text(status, refusal::body(status)), true, headers)
}

/// The same answer as [`refuse`], as the bytes the server writes itself
/// for a request head hyper could not parse.
pub fn refusal_bytes(status: StatusCode, now: SystemTime) -> Vec<u8> {
    let body = refusal::body(status);
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {TEXT}\r\nx-content-type-options: nosniff\r\n\
         cache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\
         date: {}\r\n\r\n{body}",
        status.as_str(),
        status.canonical_reason().unwrap_or_default(),
        body.len(),
        clock::http_date(now),
    )
    .into_bytes()
}

/// `answer` with the headers every response carries, in `headers`, which is
/// emptied first; `close` adds `Connection: close`.
fn finish(answer: Answer, close: bool, mut headers: HeaderMap) -> Response<Body> {
    headers.clear();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    if let Some((name, value)) = answer.extra {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Every answer is about "now": nothing may be cached.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = headers;
    response
}

/// The answer of a route to GET (and HEAD; any method for an unknown path).
fn answer(route: Route, state: &State, now: SystemTime) -> Answer {
    match route {
        // Human page: the current Moscow time as HTML.
        Route::Page => with_type(StatusCode::OK, HTML, page::render(now)).with(
            header::CONTENT_SECURITY_POLICY,
            page::CONTENT_SECURITY_POLICY,
        ),
        // Machine API: the same instant as JSON.
        Route::TimeApi => with_type(StatusCode::OK, JSON, formatted(clock::time_json(now))),
        // Liveness: the process answers.
        Route::Healthz => text(StatusCode::OK, "ok\n"),
        // Readiness: 503 from the moment shutdown begins, so load balancers
        // stop sending traffic while connections drain.
        Route::Readyz if state.is_ready() => text(StatusCode::OK, "ready\n"),
        Route::Readyz => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        // SECURITY: /metrics has no authentication; it reveals only request
        // counts, latencies, the start time and the version.
        Route::Metrics => with_type(StatusCode::OK, PROMETHEUS, state.metrics.render()),
        Route::Unknown => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// What a route answers, before the headers every response carries.
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    /// The one header some answers add: the page's policy, 405's `Allow`.
    extra: Option<(HeaderName, &'static str)>,
}

impl Answer {
    fn with(self, name: HeaderName, value: &'static str) -> Self {
        Self {
            extra: Some((name, value)),
            ..self
        }
    }
}

/// A short body formatted into one allocation of exactly its length.
/// `format!` guesses the length, often short (a realloc), and
/// `Bytes::from(String)` boxes again when the length is not the capacity:
/// with musl's malloc those two extra calls and their frees cost more than
/// the formatting.
fn formatted(value: impl fmt::Display) -> Bytes {
    // Room for the `/api/time` JSON, at most 130 bytes for any instant.
    let mut buffer = Cursor::new([0; 160]);
    match write!(buffer, "{value}") {
        Ok(()) => {
            let len = usize::try_from(buffer.position()).unwrap_or_default();
            Bytes::copy_from_slice(&buffer.get_ref()[..len])
        }
        Err(_) => value.to_string().into(),
    }
}

fn text(status: StatusCode, body: &'static str) -> Answer {
    with_type(status, TEXT, body)
}

fn with_type(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    Answer {
        status,
        content_type,
        body: body.into(),
        extra: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{AccessLog, LogFormat};
    use http_body_util::BodyExt;

    fn new_state() -> State {
        State::new(AccessLog::new(LogFormat::Text))
    }

    fn get(path: &str, state: &State) -> Response<Body> {
        respond(
            &Method::GET,
            Route::from_path(path),
            state,
            SystemTime::now(),
            HeaderMap::new(),
        )
    }

    async fn body(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn unknown_path_is_404() {
        let state = new_state();
        assert_eq!(get("/nope", &state).status(), StatusCode::NOT_FOUND);
        let post = respond(
            &Method::POST,
            Route::Unknown,
            &state,
            SystemTime::now(),
            HeaderMap::new(),
        );
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn other_methods_on_known_paths_are_405_with_allow() {
        let state = new_state();
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let response = respond(
                &method,
                Route::TimeApi,
                &state,
                SystemTime::now(),
                HeaderMap::new(),
            );
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        }
    }

    #[test]
    fn every_response_carries_the_security_headers() {
        let state = new_state();
        for route in Route::ALL {
            for method in [Method::GET, Method::HEAD, Method::PATCH] {
                let response = respond(&method, route, &state, SystemTime::now(), HeaderMap::new());
                assert_eq!(
                    response.headers()[header::X_CONTENT_TYPE_OPTIONS],
                    "nosniff"
                );
                assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            }
        }
    }

    #[test]
    fn formatted_bodies_of_any_length() {
        for len in [0, 1, 159, 160, 161, 1000] {
            let text = "x".repeat(len);
            assert_eq!(formatted(&text), text.as_bytes(), "{len}");
        }
    }

    #[test]
    fn headers_go_into_the_request_map_in_a_fixed_order() {
        let state = new_state();
        for (method, route, names) in [
            (Method::GET, Route::TimeApi, vec![]),
            (Method::GET, Route::Page, vec!["content-security-policy"]),
            (Method::POST, Route::Healthz, vec!["allow"]),
        ] {
            // As hyper passes it: the request's headers, room for more.
            let mut request = HeaderMap::with_capacity(32);
            request.insert(header::HOST, HeaderValue::from_static("x"));
            let capacity = request.capacity();
            let response = respond(&method, route, &state, SystemTime::now(), request);
            let headers = response.headers();
            assert_eq!(headers.capacity(), capacity, "not the same map");
            let expected: Vec<_> = ["content-type"]
                .into_iter()
                .chain(names)
                .chain(["x-content-type-options", "cache-control"])
                .collect();
            assert_eq!(
                headers.keys().map(HeaderName::as_str).collect::<Vec<_>>(),
                expected
            );
        }
    }

    #[tokio::test]
    async fn page_is_html_with_csp() {
        let response = get("/", &new_state());
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], HTML);
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            page::CONTENT_SECURITY_POLICY
        );
        assert!(body(response).await.starts_with("<!doctype html>"));
    }

    #[tokio::test]
    async fn time_api_is_json() {
        let response = get("/api/time", &new_state());
        assert_eq!(response.headers()[header::CONTENT_TYPE], JSON);
        assert!(
            body(response)
                .await
                .starts_with(r#"{"timezone":"Europe/Moscow""#)
        );
    }

    #[test]
    fn after_shutdown_starts_readyz_is_503_and_every_answer_closes_its_connection() {
        let state = new_state();
        let closes = |state: &State| {
            Route::ALL.map(|route| {
                let answer = respond(
                    &Method::GET,
                    route,
                    state,
                    SystemTime::now(),
                    HeaderMap::new(),
                );
                answer.headers().get(header::CONNECTION) == Some(&HeaderValue::from_static("close"))
            })
        };
        assert_eq!(get("/readyz", &state).status(), StatusCode::OK);
        assert_eq!(closes(&state), [false; Route::ALL.len()]);
        state.begin_shutdown();
        assert_eq!(
            get("/readyz", &state).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Liveness does not change: the process is still healthy while it drains.
        assert_eq!(get("/healthz", &state).status(), StatusCode::OK);
        assert_eq!(closes(&state), [true; Route::ALL.len()]);
    }

    #[tokio::test]
    async fn refusals_close_the_connection_with_a_one_line_body() {
        for status in [StatusCode::BAD_REQUEST, StatusCode::NOT_IMPLEMENTED] {
            let response = refuse(status, HeaderMap::new());
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()[header::CONNECTION], "close");
            assert_eq!(
                response.headers()[header::X_CONTENT_TYPE_OPTIONS],
                "nosniff"
            );
            assert_eq!(body(response).await, refusal::body(status));
        }
    }

    #[test]
    fn refusals_written_as_bytes_carry_the_same_headers_and_body() {
        let status = StatusCode::URI_TOO_LONG;
        let bytes = String::from_utf8(refusal_bytes(status, SystemTime::UNIX_EPOCH)).unwrap();
        let (head, body) = bytes.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("HTTP/1.1 414 URI Too Long"));
        let fields: Vec<(&str, &str)> = lines.map(|l| l.split_once(": ").unwrap()).collect();
        let response = refuse(status, HeaderMap::new());
        for (name, value) in response.headers() {
            assert!(
                fields.contains(&(name.as_str(), value.to_str().unwrap())),
                "{name}"
            );
        }
        assert!(fields.contains(&("content-length", &body.len().to_string())));
        assert!(fields.contains(&("date", "Thu, 01 Jan 1970 00:00:00 GMT")));
        assert_eq!(fields.len(), response.headers().len() + 2, "{head}");
        assert_eq!(body, refusal::body(status));
    }

    #[tokio::test]
    async fn metrics_use_the_prometheus_content_type() {
        let response = get("/metrics", &new_state());
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROMETHEUS);
        assert!(
            body(response)
                .await
                .contains("# TYPE http_requests_total counter")
        );
    }
}
