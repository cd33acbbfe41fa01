//! The router: which path answers what, and the headers every answer carries.

use std::time::SystemTime;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::server::State;
use crate::{clock, page};

/// The paths this server knows. Also the `path` metrics label, so the number
/// of label values is bounded by the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Page,
    TimeApi,
    Healthz,
    Readyz,
    Metrics,
    Unknown,
}

impl Route {
    /// Every route, in `as usize` order.
    pub const ALL: [Route; 6] = [
        Route::Page,
        Route::TimeApi,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Unknown,
    ];

    /// Resolves a request path; anything unknown is [`Route::Unknown`].
    pub fn from_path(path: &str) -> Self {
        match path {
            "/" => Route::Page,
            "/api/time" => Route::TimeApi,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            _ => Route::Unknown,
        }
    }

    /// The `path` label: the path itself, or `other` for unknown paths.
    pub fn label(self) -> &'static str {
        match self {
            Route::Page => "/",
            Route::TimeApi => "/api/time",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Unknown => "other",
        }
    }
}

/// The body type of every response.
pub type Body = Full<Bytes>;

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers `method` on `route` at instant `now`. The one place that checks the
/// method and adds the headers every response carries, so no route can forget.
pub fn respond(method: &Method, route: Route, state: &State, now: SystemTime) -> Response<Body> {
    let mut response = if route == Route::Unknown {
        text(StatusCode::NOT_FOUND, "not found\n")
    } else if method == Method::GET || method == Method::HEAD {
        // hyper sends no body for HEAD but keeps the headers, Content-Length included.
        answer(route, state, now)
    } else {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Every answer is about "now": nothing may be cached.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The answer of a known route to GET (and HEAD).
fn answer(route: Route, state: &State, now: SystemTime) -> Response<Body> {
    match route {
        // Human page: the current Moscow time as HTML.
        Route::Page => {
            let mut response = with_type(StatusCode::OK, HTML, page::render(now));
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
            );
            response
        }
        // Machine API: the same instant as JSON.
        Route::TimeApi => with_type(StatusCode::OK, JSON, clock::time_json(now)),
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

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    with_type(status, TEXT, body)
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn get(path: &str, state: &State) -> Response<Body> {
        respond(
            &Method::GET,
            Route::from_path(path),
            state,
            SystemTime::now(),
        )
    }

    async fn body(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn paths_resolve_to_routes_and_labels() {
        for route in Route::ALL {
            if route != Route::Unknown {
                assert_eq!(Route::from_path(route.label()), route);
            }
        }
        for unknown in [
            "/index.html",
            "/api/time/",
            "/API/TIME",
            "//",
            "",
            "/healthz?x",
        ] {
            assert_eq!(Route::from_path(unknown), Route::Unknown, "{unknown}");
        }
    }

    #[test]
    fn unknown_path_is_404() {
        let state = State::new();
        assert_eq!(get("/nope", &state).status(), StatusCode::NOT_FOUND);
        let post = respond(&Method::POST, Route::Unknown, &state, SystemTime::now());
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn other_methods_on_known_paths_are_405_with_allow() {
        let state = State::new();
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let response = respond(&method, Route::TimeApi, &state, SystemTime::now());
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        }
    }

    #[test]
    fn every_response_carries_the_security_headers() {
        let state = State::new();
        for route in Route::ALL {
            for method in [Method::GET, Method::HEAD, Method::PATCH] {
                let response = respond(&method, route, &state, SystemTime::now());
                assert_eq!(
                    response.headers()[header::X_CONTENT_TYPE_OPTIONS],
                    "nosniff"
                );
                assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            }
        }
    }

    #[tokio::test]
    async fn page_is_html_with_csp() {
        let response = get("/", &State::new());
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
        let response = get("/api/time", &State::new());
        assert_eq!(response.headers()[header::CONTENT_TYPE], JSON);
        assert!(
            body(response)
                .await
                .starts_with(r#"{"timezone":"Europe/Moscow""#)
        );
    }

    #[test]
    fn readyz_is_503_after_shutdown_starts() {
        let state = State::new();
        assert_eq!(get("/readyz", &state).status(), StatusCode::OK);
        state.begin_shutdown();
        assert_eq!(
            get("/readyz", &state).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Liveness does not change: the process is still healthy while it drains.
        assert_eq!(get("/healthz", &state).status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_use_the_prometheus_content_type() {
        let response = get("/metrics", &State::new());
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROMETHEUS);
        assert!(
            body(response)
                .await
                .contains("# TYPE http_requests_total counter")
        );
    }
}
