//! The paths this server knows: the one list the router and the metrics labels share.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
