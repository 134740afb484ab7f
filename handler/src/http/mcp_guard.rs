//! The guard in front of `/mcp`: bearer-token verification (RFC 6750 + RFC 9728 challenge),
//! the MCP scope, the tool scopes (MCP step-up) and the MCP method for the access log. It runs
//! before rmcp sees the request, so an unauthenticated caller never reaches a tool. (The Origin
//! check against DNS rebinding is the origin layer's, around every route.)

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use serde::Deserialize;
use std::{borrow::Cow, collections::BTreeSet, sync::Arc};

use super::log::LogFields;
use crate::{caller::Caller, oauth::jwt, state::AppState, tool_scope::ToolScopes};

/// What the guard needs: the application, and in gateway mode what it checks itself.
#[derive(Clone)]
pub struct GuardState {
    /// The application state.
    pub app: AppState,
    /// Gateway mode: the upstream is not rmcp, so the guard reads each message itself (for the
    /// tool scopes, the allow-list and [`McpMessage`]). `None` for an own server: rmcp parses
    /// the body, once, and its server wrapper checks the tool's scope ([`Dispatched`]).
    pub gateway: Option<GatewayChecks>,
}

/// The checks the guard makes on a message bound for a gateway's upstream.
#[derive(Clone)]
pub struct GatewayChecks {
    /// The scope each upstream tool needs (the stage configuration's).
    pub tools: ToolScopes,
    /// The only tools that may be called (the allow-list); `None`: any.
    pub exposed: Option<Arc<BTreeSet<String>>>,
}

/// The JSON-RPC method and id of a request that is one message, for the handlers behind the
/// guard (the gateway filters `tools/list` answers and puts the id in its errors).
#[derive(Debug, Clone, Default)]
pub struct McpMessage {
    /// The method of a request or notification.
    pub method: Option<String>,
    /// The id of a request.
    pub id: Option<serde_json::Value>,
    /// The tool a `tools/call` names.
    pub tool: Option<String>,
    /// Whether the body was a JSON-RPC batch (an array), which MCP removed in 2025-06-18.
    pub batch: bool,
}

/// The `WWW-Authenticate` challenge for `/mcp` (MCP authorization §Protected Resource Metadata).
pub fn challenge(state: &AppState, error: Option<(&str, &str)>) -> String {
    challenge_for(state, error, &state.config.mcp_scope)
}

/// [`challenge`] naming the scopes a step-up should ask for.
fn challenge_for(state: &AppState, error: Option<(&str, &str)>, scope: &str) -> String {
    let config = &state.config;
    let mut value = String::from("Bearer ");
    if let Some((code, description)) = error {
        value.push_str(&format!(
            r#"error="{code}", error_description="{description}", "#
        ));
    }
    value.push_str(&format!(
        r#"resource_metadata="{}", scope="{}""#,
        config.resource_metadata_url(),
        scope
    ));
    value
}

fn refuse(
    status: StatusCode,
    challenge: Option<String>,
    code: &str,
    description: &str,
) -> Response {
    let body = serde_json::json!({ "error": code, "error_description": description });
    let mut response = (status, Json(body)).into_response();
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    LogFields {
        error: Some(code.to_owned()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

fn jsonrpc_refusal(status: StatusCode, code: i32, message: &str) -> Response {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

/// Reads the bearer token of a request (RFC 6750 §2.1; the scheme is case-insensitive).
pub fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    parse_bearer(value)
}

/// The token of an `Authorization` header value `Bearer <token>` (RFC 6750 §2.1; the scheme is
/// case-insensitive). The Lambda TOKEN authorizer receives the header value alone and uses this too.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Verifies the bearer token of a request against this server's issuer and resource; a token
/// this process verified before skips the signature check (see [`crate::oauth::verified_tokens`]).
pub fn verify(state: &AppState, token: &str) -> Result<jwt::AccessClaims, jwt::TokenError> {
    let now = state.now();
    state.verified_tokens.get_or_verify(token, now, || {
        jwt::verify(
            &state.keys.verifying,
            token,
            &state.config.issuer(),
            &state.config.resource(),
            now,
        )
    })
}

/// The fields of a JSON-RPC message the guard reads: the method, and the tool of a `tools/call`.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<CallParams<'a>>,
    #[serde(default)]
    id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
}

impl Envelope<'_> {
    /// The tool a `tools/call` names.
    fn tool(&self) -> Option<&str> {
        (self.method.as_deref() == Some("tools/call"))
            .then(|| self.params.as_ref()?.name.as_deref())
            .flatten()
    }
}

/// The messages of a body: one object, or a batch (which rmcp answers or refuses; every call
/// in it is checked here all the same).
fn envelopes(bytes: &[u8]) -> Result<Vec<Envelope<'_>>, serde_json::Error> {
    if bytes.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice(bytes)
    } else {
        serde_json::from_slice(bytes).map(|one| vec![one])
    }
}

/// The first scope a tool in `messages` needs and `claims` lacks.
fn missing_tool_scope(
    tools: &ToolScopes,
    claims: &jwt::AccessClaims,
    messages: &[Envelope<'_>],
) -> Option<String> {
    messages
        .iter()
        .filter_map(Envelope::tool)
        .filter_map(|tool| tools.required(tool))
        .find(|scope| !claims.has_scope(scope))
}

/// The middleware.
pub async fn guard(State(guard): State<GuardState>, request: Request, next: Next) -> Response {
    let state = &guard.app;
    let Some(token) = bearer_token(&request) else {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            Some(challenge(state, None)),
            "invalid_token",
            "a bearer access token is required",
        );
        // Every client's first request (discovery starts at this 401): logged apart from a
        // presented token that was refused, which is what the TokenRejections metric counts.
        LogFields {
            error: Some("token_missing".into()),
            ..LogFields::default()
        }
        .attach(&mut response);
        return response;
    };
    let claims = match verify(state, token) {
        Ok(claims) => claims,
        Err(error) => {
            let description = error.to_string();
            return refuse(
                StatusCode::UNAUTHORIZED,
                Some(challenge(state, Some(("invalid_token", &description)))),
                "invalid_token",
                &description,
            );
        }
    };
    if !claims.has_scope(&state.config.mcp_scope) {
        let description = format!("the token lacks the `{}` scope", state.config.mcp_scope);
        let mut response = refuse(
            StatusCode::FORBIDDEN,
            Some(challenge(state, Some(("insufficient_scope", &description)))),
            "insufficient_scope",
            &description,
        );
        LogFields {
            client_id: Some(claims.client_id),
            ..LogFields::default()
        }
        .attach(&mut response);
        return response;
    }

    if request.method() != axum::http::Method::POST {
        // GET (the SSE stream) and DELETE (ending a session) carry no JSON-RPC body; only the
        // gateway routes them here.
        let client_id = claims.client_id.clone();
        let mut request = request;
        request.extensions_mut().insert(Caller::from(claims));
        let mut response = next.run(request).await;
        LogFields {
            client_id: Some(client_id),
            ..LogFields::default()
        }
        .attach(&mut response);
        return response;
    }

    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, state.config.max_mcp_bytes);
    let bytes: Bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return jsonrpc_refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                "Request body is too large",
            );
        }
    };
    match &guard.gateway {
        Some(checks) => forwarded(state, checks, claims, parts, bytes, next).await,
        None => served(state, claims, parts, bytes, next).await,
    }
}

/// An own server's request: rmcp parses the body (the only parse), the server wrapper notes what
/// it read and refuses a tool whose scope the token lacks; this answers for it afterwards.
async fn served(
    state: &AppState,
    claims: jwt::AccessClaims,
    mut parts: axum::http::request::Parts,
    bytes: Bytes,
    next: Next,
) -> Response {
    let client_id = claims.client_id.clone();
    let granted = claims.scope.clone();
    let json_body = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        });
    let dispatched = Dispatched::default();
    parts.extensions.insert(Caller::from(claims));
    parts.extensions.insert(dispatched.clone());
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    let noted = dispatched.take();
    if let Some(scope) = &noted.missing_scope {
        return step_up(state, &client_id, &granted, scope);
    }
    // rmcp answers a JSON body it cannot read as a message with a bare 415; JSON-RPC 2.0 §5.1
    // wants -32700 (not JSON) or -32600 (not a request), which clients can read.
    if json_body
        && noted.method.is_none()
        && response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
    {
        return not_a_message(&bytes, client_id);
    }
    let tool_dimension = noted
        .tool
        .as_deref()
        .map(|name| crate::metrics::tool_dimension(name, Some(noted.tool_known)));
    LogFields {
        client_id: Some(client_id),
        mcp_method: noted.method.map(Cow::into_owned),
        tool: noted.tool.map(|t| t.chars().take(64).collect()),
        tool_dimension,
        tool_error: noted.tool_failed,
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

/// The answer to a body that is not one JSON-RPC message: -32700 when it is not JSON at all,
/// else -32600 (a batch, which MCP removed in 2025-06-18, a non-object, a method or tool name
/// that is not a string, a repeated key).
fn not_a_message(bytes: &[u8], client_id: String) -> Response {
    let (code, message, error) = if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err()
    {
        (-32700, "Parse error: the body is not JSON", "parse_error")
    } else {
        (
            -32600,
            "Invalid Request: the body is not a JSON-RPC message",
            "invalid_request",
        )
    };
    let mut response = jsonrpc_refusal(StatusCode::BAD_REQUEST, code, message);
    LogFields {
        client_id: Some(client_id),
        error: Some(error.into()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

/// A gateway's request: the guard reads the message itself (the upstream is not rmcp), checks
/// the allow-list and the tool scopes, and tells the forwarder what it read ([`McpMessage`]).
async fn forwarded(
    state: &AppState,
    checks: &GatewayChecks,
    claims: jwt::AccessClaims,
    mut parts: axum::http::request::Parts,
    bytes: Bytes,
    next: Next,
) -> Response {
    let (mcp_method, tool) = match envelopes(&bytes) {
        Ok(messages) => {
            if let Some(tool) = unexposed_tool(checks.exposed.as_deref(), &messages) {
                return unknown_tool(&claims, &messages, tool);
            }
            if let Some(scope) = missing_tool_scope(&checks.tools, &claims, &messages) {
                return step_up(state, &claims.client_id, &claims.scope, &scope);
            }
            match messages.as_slice() {
                [one] if !bytes.trim_ascii_start().starts_with(b"[") => {
                    parts.extensions.insert(McpMessage {
                        method: one.method.as_deref().map(str::to_owned),
                        id: one.id.clone(),
                        tool: one.tool().map(str::to_owned),
                        batch: false,
                    });
                    (
                        one.method.as_deref().map(|m| m.chars().take(64).collect()),
                        one.tool().map(|t| t.chars().take(64).collect()),
                    )
                }
                _ => {
                    parts.extensions.insert(McpMessage {
                        batch: true,
                        ..McpMessage::default()
                    });
                    (None, None)
                }
            }
        }
        // Not a message the guard can read: refused rather than passed on, because an upstream
        // that reads it differently (the last of two `name` keys) could run a tool the scope
        // check never saw.
        Err(_) => return not_a_message(&bytes, claims.client_id),
    };
    let client_id = claims.client_id.clone();
    parts.extensions.insert(Caller::from(claims));
    let tool_dimension = tool.as_deref().map(|name| {
        let known = match checks.exposed.as_deref() {
            Some(exposed) => Some(exposed.contains(name)),
            None => checks.tools.has(name),
        };
        crate::metrics::tool_dimension(name, known)
    });
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    LogFields {
        client_id: Some(client_id),
        mcp_method,
        tool,
        tool_dimension,
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

/// What rmcp's dispatch read of an own server's request, noted by the server wrapper
/// (`mcp::Identified`) and read by the guard once the answer is back: rmcp runs the handler in a
/// task of its own, so this slot in the request extensions is the way back that needs neither a
/// second parse of the body nor a look into the answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dispatched(Arc<std::sync::Mutex<Noted>>);

/// The facts of one [`Dispatched`].
#[derive(Debug, Default)]
pub(crate) struct Noted {
    /// The JSON-RPC method rmcp dispatched.
    pub(crate) method: Option<Cow<'static, str>>,
    /// The tool a `tools/call` named.
    pub(crate) tool: Option<String>,
    /// Whether the server has that tool.
    pub(crate) tool_known: bool,
    /// Whether the tool's result was an error (`isError`, or a JSON-RPC error).
    pub(crate) tool_failed: bool,
    /// The scope the tool needs and the token lacks: the call was refused before it ran.
    pub(crate) missing_scope: Option<String>,
}

impl Dispatched {
    fn with(&self, change: impl FnOnce(&mut Noted)) {
        change(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Notes the method (the first noted wins: one request, one method).
    pub(crate) fn note_method(&self, method: Cow<'static, str>) {
        self.with(|noted| {
            noted.method.get_or_insert(method);
        });
    }

    /// Notes the tool of a `tools/call`, whether the server has it, and a scope it lacks.
    pub(crate) fn note_tool(&self, name: &str, known: bool, missing_scope: Option<String>) {
        self.with(|noted| {
            noted.tool = Some(name.to_owned());
            noted.tool_known = known;
            noted.missing_scope = missing_scope;
        });
    }

    /// Notes that the tool's result was an error.
    pub(crate) fn set_failed(&self) {
        self.with(|noted| noted.tool_failed = true);
    }

    /// What was noted.
    fn take(&self) -> Noted {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The first tool called in `messages` that the allow-list leaves out.
fn unexposed_tool<'m>(
    exposed: Option<&BTreeSet<String>>,
    messages: &'m [Envelope<'_>],
) -> Option<&'m str> {
    let exposed = exposed?;
    messages
        .iter()
        .filter_map(Envelope::tool)
        .find(|tool| !exposed.contains(*tool))
}

/// The answer to a call of a tool the allow-list leaves out: the one a server gives for a tool
/// it does not have (MCP §Tools, error handling), so the hidden tool's existence is not revealed.
fn unknown_tool(claims: &jwt::AccessClaims, messages: &[Envelope<'_>], tool: &str) -> Response {
    let id = match messages {
        [one] => one.id.clone().unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": -32602, "message": format!("Unknown tool: {}", tool.chars().take(128).collect::<String>()) }
    });
    let mut response = (StatusCode::OK, Json(body)).into_response();
    LogFields {
        client_id: Some(claims.client_id.clone()),
        error: Some("tool_not_exposed".into()),
        mcp_method: Some("tools/call".into()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

/// The MCP step-up answer for a tool whose scope the token lacks: 403 `insufficient_scope`
/// naming every scope the client should hold (what it has plus the missing one), so one new
/// authorization covers the call without losing the scopes it had.
fn step_up(state: &AppState, client_id: &str, granted: &str, missing: &str) -> Response {
    let description = format!("this tool needs the `{missing}` scope");
    let mut wanted: Vec<&str> = granted.split(' ').filter(|s| !s.is_empty()).collect();
    wanted.push(missing);
    let mut response = refuse(
        StatusCode::FORBIDDEN,
        Some(challenge_for(
            state,
            Some(("insufficient_scope", &description)),
            &wanted.join(" "),
        )),
        "insufficient_scope",
        &description,
    );
    LogFields {
        client_id: Some(client_id.to_owned()),
        error: Some("insufficient_scope".into()),
        mcp_method: Some("tools/call".into()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}
