//! DNS-rebinding defence for `mcpctl dev`: every route answers only requests whose `Host` is a
//! loopback name of this server (or the `--public-url` host). A web page that rebinds its own
//! domain to 127.0.0.1 sends its domain as `Host`, so it cannot register clients, read the
//! discovery documents or drive the consent page of a server on the developer's machine.

use std::sync::Arc;

use axum::{
    Json,
    extract::Request,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

/// The accepted `Host` values for a server on `port`, plus `public` (`host[:port]`) if any.
pub(crate) fn allowed_hosts(port: u16, public: Option<&url::Url>) -> Vec<String> {
    // Port-less loopback names too: a rebinding page cannot make a browser send them (its
    // own name is what the browser puts in Host), and some clients omit the port.
    let mut hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .flat_map(|h| [format!("{h}:{port}"), (*h).to_owned()])
        .collect();
    if let Some(url) = public
        && let Some(host) = url.host_str()
    {
        match url.port() {
            Some(p) => hosts.push(format!("{host}:{p}")),
            None => hosts.push(host.to_owned()),
        }
    }
    hosts
}

/// The accepted `Host` values, lower-cased once; [`super::edge::Edge`] checks every request.
#[derive(Debug, Clone)]
pub(crate) struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    /// The list [`allowed_hosts`] made.
    pub(crate) fn new(allowed: Vec<String>) -> Self {
        Self(Arc::new(
            allowed
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        ))
    }

    /// Whether `request`'s `Host` (or its URI's authority) is one of this server's names.
    pub(crate) fn allows(&self, request: &Request) -> bool {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        host.is_some_and(|h| self.0.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// The 403 for a request [`Self::allows`] refused, naming the address to use instead.
    pub(crate) async fn refuse(&self, request: Request) -> Response {
        // Read the body before refusing: hyper closes a keep-alive connection whose request body
        // was left unread, and the client would see a reset instead of this answer.
        let _ = axum::body::to_bytes(request.into_body(), 1 << 20).await;
        (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": format!(
                    "the Host header is not this dev server's ({}); open it as http://{} (DNS rebinding protection)",
                    self.0.join(", "),
                    self.0.first().map_or("127.0.0.1", String::as_str)
                ),
            })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::Request, routing::get};
    use tower::ServiceExt;

    use super::*;
    use crate::dev::edge::Edge;

    async fn status(host: Option<&str>) -> StatusCode {
        let app = Edge::new(
            Router::new().route("/x", get(|| async { "ok" })),
            AllowedHosts::new(allowed_hosts(8787, None)),
        );
        let mut request = Request::get("/x");
        if let Some(host) = host {
            request = request.header(header::HOST, host);
        }
        app.oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn only_loopback_names_of_this_port_pass() {
        for good in [
            "127.0.0.1:8787",
            "localhost:8787",
            "LOCALHOST:8787",
            "[::1]:8787",
            "127.0.0.1",
        ] {
            assert_eq!(status(Some(good)).await, StatusCode::OK, "{good}");
        }
        for bad in [
            "evil.example",
            "evil.example:8787",
            "127.0.0.1:9999",
            "localhost.evil.example:8787",
            "127.0.0.1.evil.example",
        ] {
            assert_eq!(status(Some(bad)).await, StatusCode::FORBIDDEN, "{bad}");
        }
        assert_eq!(status(None).await, StatusCode::FORBIDDEN);
    }
}
