//! A rewriting reverse proxy in front of `mcpctl dev`, for the tests of `mcpctl doctor`: each
//! [`Break`] reproduces one way deployed servers fail real clients in the field (a renamed
//! challenge, a wrong `resource`, a refused redirect scheme, a slow token endpoint, ...), so a
//! test can show that doctor names exactly that break. Everything else passes through unchanged,
//! `Host` included, so the dev server (started with `--public-url` = the proxy) sees the URL
//! clients use.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// One way to break the server behind the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// Pass everything through.
    Nothing,
    /// API Gateway's proxied-response behaviour: `WWW-Authenticate` becomes
    /// `x-amzn-Remapped-WWW-Authenticate`.
    RenamedChallenge,
    /// The protected-resource metadata names another `resource`.
    WrongResource,
    /// The authorization-server metadata names another `issuer` than the PRM's.
    IssuerMismatch,
    /// CIMD advertised, `none` missing from `token_endpoint_auth_methods_supported`.
    CimdWithoutNone,
    /// Registration refuses `cursor://` redirect URIs.
    RefuseCursor,
    /// No CORS headers on any answer.
    NoCors,
    /// The token endpoint sleeps this long before an authorization-code exchange.
    SlowToken(Duration),
    /// A 2025-era server: `server/discover` is refused with a JSON-RPC error.
    Only2025,
}

/// The proxy; stopped when dropped.
pub struct BreakingProxy {
    /// `http://127.0.0.1:PORT`, the proxy's origin.
    pub origin: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

struct Proxy {
    target: String,
    mode: Break,
    http: reqwest::Client,
}

impl BreakingProxy {
    /// A loopback port for the proxy, taken before the server behind it starts (which must be
    /// told the proxy's URL as its public URL); returns the listener and its origin.
    pub fn reserve() -> (std::net::TcpListener, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind the proxy: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        (listener, format!("http://127.0.0.1:{port}"))
    }

    /// Serves on `listener` (from [`BreakingProxy::reserve`]), forwarding to `target`
    /// (`http://127.0.0.1:PORT` of the server) and applying `mode`.
    pub fn start(listener: std::net::TcpListener, target: &str, mode: Break) -> Self {
        let origin = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let proxy = Arc::new(Proxy {
            target: target.trim_end_matches('/').to_owned(),
            mode,
            http,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            runtime.block_on(async move {
                let listener = crate::into_tokio(listener);
                let app = Router::new().fallback(forward).with_state(proxy);
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            // A request still sleeping (the slow token endpoint) must not keep the thread.
            runtime.shutdown_background();
        });
        Self {
            origin,
            stop: Some(stop),
        }
    }
}

impl Drop for BreakingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if let Some(answer) = answer_instead(proxy.mode, &parts.method, &path, &body).await {
        return answer;
    }
    let mut upstream = proxy
        .http
        .request(parts.method.clone(), format!("{}{path}", proxy.target))
        .body(body);
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) {
            upstream = upstream.header(name, value);
        }
    }
    let response = match upstream.send().await {
        Ok(response) => response,
        Err(error) => {
            return (StatusCode::BAD_GATEWAY, format!("proxy: {error}")).into_response();
        }
    };
    let status = response.status();
    let mut headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();
    let bytes = rewrite(proxy.mode, &path, &mut headers, bytes);
    let mut answer = Response::new(Body::from(bytes));
    *answer.status_mut() = status;
    for (name, value) in &headers {
        if !is_hop_by_hop(name) {
            answer.headers_mut().append(name, value.clone());
        }
    }
    answer
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ]
    .contains(name)
}

/// The request-side breaks: an answer given in the server's place (or after a delay).
async fn answer_instead(
    mode: Break,
    method: &Method,
    path: &str,
    body: &Bytes,
) -> Option<Response> {
    let text = String::from_utf8_lossy(body);
    let post = method == Method::POST;
    match mode {
        Break::RefuseCursor if post && path.ends_with("/dcr") && text.contains("cursor://") => {
            Some(json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "invalid_redirect_uri", "error_description": "only https and loopback redirect URIs are allowed"}),
            ))
        }
        Break::SlowToken(delay)
            if post
                && path.ends_with("/oauth/token")
                && text.contains("grant_type=authorization_code") =>
        {
            tokio::time::sleep(delay).await;
            None
        }
        Break::Only2025 if post && path.ends_with("/mcp") => {
            let request: Value = serde_json::from_slice(body).unwrap_or_default();
            (request["method"] == "server/discover").then(|| {
                json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32000,
                        "message": "Bad Request: Unsupported protocol version (supported versions: 2025-11-25, 2025-06-18, 2025-03-26)"}}),
                )
            })
        }
        _ => None,
    }
}

/// The response-side breaks.
fn rewrite(mode: Break, path: &str, headers: &mut HeaderMap, body: Bytes) -> Bytes {
    match mode {
        Break::RenamedChallenge => {
            let values: Vec<HeaderValue> = headers
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .cloned()
                .collect();
            headers.remove(header::WWW_AUTHENTICATE);
            for value in values {
                headers.append(
                    HeaderName::from_static("x-amzn-remapped-www-authenticate"),
                    value,
                );
            }
            body
        }
        Break::NoCors => {
            let names: Vec<HeaderName> = headers
                .keys()
                .filter(|n| n.as_str().starts_with("access-control-"))
                .cloned()
                .collect();
            for name in names {
                headers.remove(name);
            }
            body
        }
        Break::WrongResource if path.contains("/oauth-protected-resource") => {
            edit_json(body, |document| {
                document["resource"] = json!("https://elsewhere.example/mcp");
            })
        }
        Break::IssuerMismatch if is_server_metadata(path) => edit_json(body, |document| {
            let issuer = document["issuer"].as_str().unwrap_or_default().to_owned();
            document["issuer"] = json!(format!("{issuer}/elsewhere"));
        }),
        Break::CimdWithoutNone if is_server_metadata(path) => edit_json(body, |document| {
            if let Some(methods) = document["token_endpoint_auth_methods_supported"].as_array_mut()
            {
                methods.retain(|m| m != "none");
            }
        }),
        _ => body,
    }
}

fn is_server_metadata(path: &str) -> bool {
    path.contains("/oauth-authorization-server") || path.contains("/openid-configuration")
}

fn edit_json(body: Bytes, edit: impl FnOnce(&mut Value)) -> Bytes {
    match serde_json::from_slice::<Value>(&body) {
        Ok(mut document) => {
            edit(&mut document);
            Bytes::from(document.to_string())
        }
        Err(_) => body,
    }
}
