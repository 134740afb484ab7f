//! Browser origins: the allow-list shared by the DNS-rebinding check on `/mcp` and by CORS.
//! Patterns are `scheme://host[:port]`; port `*` matches any port.

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use url::Url;

/// Whether `origin` (an `Origin` header value) matches one of `patterns`.
pub fn allowed(patterns: &[String], origin: &str) -> bool {
    let Ok(url) = Url::parse(origin) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let port = url.port_or_known_default();
    patterns.iter().any(|pattern| {
        let (base, any_port) = match pattern.strip_suffix(":*") {
            Some(base) => (base, true),
            None => (pattern.as_str(), false),
        };
        let Ok(allowed) = Url::parse(base) else {
            return false;
        };
        allowed.scheme() == url.scheme()
            && allowed
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(host))
            && (any_port || allowed.port_or_known_default() == port)
    })
}

/// CORS for browser-based clients (the MCP Inspector, web apps). Behind API Gateway's proxy
/// integration only the function can send these headers, so they are set here.
pub fn cors_layer(patterns: Vec<String>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| allowed(&patterns, o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-method"),
            HeaderName::from_static("mcp-name"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static(crate::http::log::REQUEST_ID_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_scheme_host_and_port() {
        let patterns = vec![
            "http://localhost:*".to_owned(),
            "https://app.example.com".to_owned(),
        ];
        assert!(allowed(&patterns, "http://localhost:6274"));
        assert!(allowed(&patterns, "https://app.example.com"));
        assert!(allowed(&patterns, "https://app.example.com:443"));
        assert!(!allowed(&patterns, "https://app.example.com:8443"));
        assert!(!allowed(&patterns, "http://app.example.com"));
        assert!(!allowed(&patterns, "http://evil.example.com"));
        assert!(!allowed(&patterns, "http://localhost.evil.com:80"));
        assert!(!allowed(&patterns, "null"));
    }
}
