//! How `mcpctl dev` hosts the router, optionally in the shape of a deployed API Gateway REST API.
//!
//! With `--emulate-api-gateway` it reproduces the behaviours that break MCP auth discovery:
//! - a path outside the stage prefix gets API Gateway's 403 `Missing Authentication Token`;
//! - a `WWW-Authenticate` header on a proxied (Lambda) response is renamed to
//!   `x-amzn-Remapped-WWW-Authenticate`, so clients never see it;
//! - the deployed stack therefore guards `POST /mcp` with a Lambda TOKEN authorizer whose
//!   `UNAUTHORIZED` gateway response carries the RFC 9728 challenge (gateway responses are not
//!   renamed); the emulation runs the same token verification the authorizer runs;
//! - `/mcp` answers stream through (its integration is `STREAM`: a tool call's progress reaches
//!   the client while it runs), every other route's answer is buffered whole first (`BUFFERED`).
//!
//! In both modes the whole request body is read before routing, as API Gateway does before it
//! invokes the Lambda. Besides fidelity this matters to clients: hyper closes a keep-alive
//! connection whose request body a handler dropped unread (every early refusal does), and a client
//! that reuses that connection sees "server disconnected without sending a response".

use axum::{
    Json, Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use mcpctl_handler::{AppState, http::mcp_guard};

const REMAPPED: HeaderName = HeaderName::from_static("x-amzn-remapped-www-authenticate");

/// API Gateway's payload limit (REST APIs, 10 MB); larger requests never reach the Lambda.
const GATEWAY_MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// `request` with its whole body read, or API Gateway's 413 when it is over the payload limit.
pub(crate) async fn whole_body(request: Request<Body>) -> Result<Request<Body>, Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, GATEWAY_MAX_PAYLOAD).await {
        Ok(bytes) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Err(_) => Err(gateway_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Too Long",
        )),
    }
}

/// `app` (the handler's router, relative to the public URL) as `mcpctl dev` serves it, inside
/// [`super::edge::Edge`], which reads each request's whole body first.
pub(crate) fn host_router(state: AppState, app: Router, base_path: &str, emulate: bool) -> Router {
    let app = if base_path.is_empty() {
        app
    } else {
        Router::new().nest(base_path, app)
    };
    if !emulate {
        // We own the whole origin, so also serve the origin-root well-known forms.
        return if base_path.is_empty() {
            app
        } else {
            app.merge(mcpctl_handler::well_known_root_router(state, base_path))
        };
    }
    super::around(
        app,
        middleware::from_fn_with_state(
            Emulation {
                state,
                base_path: base_path.to_owned(),
            },
            api_gateway,
        ),
    )
}

#[derive(Clone)]
struct Emulation {
    state: AppState,
    base_path: String,
}

fn gateway_response(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Json(serde_json::json!({ "message": message }))).into_response();
    response.headers_mut().insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static("GatewayResponse"),
    );
    response
}

async fn api_gateway(
    State(emulation): State<Emulation>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let base = emulation.base_path.as_str();
    let inside = base.is_empty() || path == base || path.starts_with(&format!("{base}/"));
    if !inside {
        return gateway_response(StatusCode::FORBIDDEN, "Missing Authentication Token");
    }
    let route = &path[base.len()..];
    let streamed = route == "/mcp";
    if streamed && request.method() == Method::POST {
        // The TOKEN authorizer: API Gateway answers 401 itself when the header is missing or the
        // authorizer says Unauthorized; that gateway response carries the challenge unrenamed.
        let valid = mcp_guard::bearer_token(&request)
            .is_some_and(|token| mcp_guard::verify(&emulation.state, token).is_ok());
        if !valid {
            let mut response = gateway_response(StatusCode::UNAUTHORIZED, "Unauthorized");
            if let Ok(value) = HeaderValue::from_str(&mcp_guard::challenge(&emulation.state, None))
            {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            // As the template's UnauthorizedResponse: browser clients may read the challenge.
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("WWW-Authenticate"),
            );
            return response;
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let values: Vec<HeaderValue> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .cloned()
        .collect();
    if !values.is_empty() {
        headers.remove(header::WWW_AUTHENTICATE);
        for value in values {
            headers.append(REMAPPED, value);
        }
    }
    if streamed {
        return response;
    }
    // Every other route's integration is BUFFERED: API Gateway sends nothing before the whole
    // answer is in.
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, GATEWAY_MAX_PAYLOAD).await {
        Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
        Err(_) => gateway_response(StatusCode::BAD_GATEWAY, "Internal server error"),
    }
}
