//! Browser origins, in one layer: the DNS-rebinding check on `/mcp` and CORS for every route
//! share one read of the `Origin` header and one match against the allow-list.
//! Patterns are `scheme://host[:port]`; port `*` matches any port.
//!
//! Written by hand rather than with tower-http's `CorsLayer`: the allow-list decision is ours
//! (it also refuses `/mcp`), and one pass that sets the few headers our fixed policy needs costs
//! less per request than two layers that each read the request.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use url::Url;

use super::log::LogFields;

/// The request headers a browser client may send (`Access-Control-Allow-Headers`).
const ALLOW_HEADERS: &str = "authorization,content-type,accept,mcp-protocol-version,\
                             mcp-session-id,mcp-method,mcp-name,last-event-id";
/// The response headers a browser client may read (`Access-Control-Expose-Headers`).
const EXPOSE_HEADERS: &str = "www-authenticate,mcp-session-id,mcp-protocol-version,x-request-id";
/// The methods of every route (`Access-Control-Allow-Methods`).
const ALLOW_METHODS: &str = "GET,POST,DELETE,OPTIONS";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECONDS: &str = "600";
/// `Vary` of a preflight answer: it depends on all three request headers.
const PREFLIGHT_VARY: &str =
    "origin, access-control-request-method, access-control-request-headers";

/// One allowed origin, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    scheme: String,
    host: String,
    /// `None`: any port (`:*`).
    port: Option<u16>,
}

/// The allow-list, parsed once per process (a pattern that does not parse allows nothing).
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Arc<[Pattern]>);

impl AllowedOrigins {
    /// Parses `patterns` (`scheme://host[:port]`, port `*` for any).
    pub fn new(patterns: &[String]) -> Self {
        let parsed = patterns
            .iter()
            .filter_map(|pattern| {
                let (base, any_port) = match pattern.strip_suffix(":*") {
                    Some(base) => (base, true),
                    None => (pattern.as_str(), false),
                };
                let url = Url::parse(base).ok()?;
                Some(Pattern {
                    scheme: url.scheme().to_owned(),
                    host: url.host_str()?.to_ascii_lowercase(),
                    port: if any_port {
                        None
                    } else {
                        Some(url.port_or_known_default()?)
                    },
                })
            })
            .collect();
        Self(parsed)
    }

    /// Whether `origin` (an `Origin` header value) matches one of the patterns.
    pub fn allows(&self, origin: &str) -> bool {
        let Ok(url) = Url::parse(origin) else {
            return false;
        };
        let Some(host) = url.host_str() else {
            return false;
        };
        let port = url.port_or_known_default();
        self.0.iter().any(|pattern| {
            pattern.scheme == url.scheme()
                && pattern.host.eq_ignore_ascii_case(host)
                && pattern.port.is_none_or(|p| Some(p) == port)
        })
    }
}

/// Whether `origin` (an `Origin` header value) matches one of `patterns`.
pub fn allowed(patterns: &[String], origin: &str) -> bool {
    AllowedOrigins::new(patterns).allows(origin)
}

/// The layer: answers CORS preflights, refuses `/mcp` to a browser origin the list leaves out
/// (DNS rebinding: a page must not drive a local server with the user's network position), and
/// adds the CORS headers to the answers an allowed origin gets. Requests without `Origin` (every
/// non-browser client) pass through, with only `Vary: origin` added: a shared cache must not
/// hand their answer, which has no CORS headers, to a browser (or the other way round).
pub async fn layer(
    State(origins): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    checked(&origins, request, |request| next.run(request)).await
}

/// [`layer`] around `inner`, for a layer of the crate's own that does more around the same
/// request (one middleware, so one boxed future per request instead of one per job).
pub(crate) async fn checked<F, Fut>(
    origins: &AllowedOrigins,
    request: Request,
    inner: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        let mut response = inner(request).await;
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
        return response;
    };
    let allowed = origin.to_str().is_ok_and(|o| origins.allows(o));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        if allowed {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECONDS),
            );
        }
        return response;
    }
    if !allowed && request.uri().path() == "/mcp" {
        return forbidden_origin();
    }
    let mut response = inner(request).await;
    add_cors(response.headers_mut(), allowed.then_some(origin));
    response
}

/// The CORS headers of an answer to a request that sent `Origin` (`Some` when it is allowed).
fn add_cors(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}

/// The JSON-RPC refusal of `/mcp` to an origin the list leaves out.
fn forbidden_origin() -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32600, "message": "Forbidden: Origin is not allowed" }
    });
    let mut response = (StatusCode::FORBIDDEN, Json(body)).into_response();
    LogFields {
        error: Some("origin_not_allowed".into()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[test]
    fn patterns_match_scheme_host_and_port() {
        let patterns = vec![
            "http://localhost:*".to_owned(),
            "https://app.example.com".to_owned(),
        ];
        assert!(allowed(&patterns, "http://localhost:6274"));
        assert!(allowed(&patterns, "https://app.example.com"));
        assert!(allowed(&patterns, "https://app.example.com:443"));
        assert!(allowed(&patterns, "https://APP.example.com"));
        assert!(!allowed(&patterns, "https://app.example.com:8443"));
        assert!(!allowed(&patterns, "http://app.example.com"));
        assert!(!allowed(&patterns, "http://evil.example.com"));
        assert!(!allowed(&patterns, "http://localhost.evil.com:80"));
        assert!(!allowed(&patterns, "null"));
        assert!(!allowed(&["not a url".to_owned()], "http://localhost"));
    }

    fn app() -> axum::Router {
        let origins = AllowedOrigins::new(&["http://localhost:*".to_owned()]);
        axum::Router::new()
            .route("/mcp", axum::routing::post(|| async { "called" }))
            .route("/oauth/token", axum::routing::post(|| async { "token" }))
            .layer(axum::middleware::from_fn_with_state(origins, layer))
    }

    async fn send(method: Method, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        app()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_unlisted_origin_never_reaches_mcp_but_may_reach_the_rest_without_cors() {
        let refused = send(Method::POST, "/mcp", &[("origin", "http://evil.example")]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let other = send(
            Method::POST,
            "/oauth/token",
            &[("origin", "http://evil.example")],
        )
        .await;
        assert_eq!(other.status(), StatusCode::OK);
        assert!(
            !other
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        assert_eq!(other.headers()[header::VARY], "origin");
    }

    #[tokio::test]
    async fn a_listed_origin_gets_cors_on_answers_and_preflights() {
        let answer = send(Method::POST, "/mcp", &[("origin", "http://localhost:6274")]).await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(
            answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://localhost:6274"
        );
        assert!(
            answer.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
                .to_str()
                .unwrap()
                .contains("www-authenticate")
        );
        let preflight = send(
            Method::OPTIONS,
            "/mcp",
            &[
                ("origin", "http://localhost:6274"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization,mcp-method"),
            ],
        )
        .await;
        assert_eq!(preflight.status(), StatusCode::OK);
        let allow = preflight.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap();
        assert!(
            allow.contains("mcp-method") && allow.contains("mcp-name"),
            "{allow}"
        );
        let unlisted = send(
            Method::OPTIONS,
            "/mcp",
            &[
                ("origin", "http://evil.example"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
        assert!(
            !unlisted
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }

    #[tokio::test]
    async fn requests_without_origin_pass_with_only_vary() {
        let answer = send(Method::POST, "/mcp", &[]).await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()[header::VARY], "origin");
        assert!(
            !answer
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
}
