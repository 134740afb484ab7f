//! Forwarding one MCP request upstream and its answer back, with the gateway's limits: the
//! client's token replaced by an identity assertion, a fixed set of headers each way, a deadline,
//! a concurrency cap and a size cap. Upstream failures become JSON-RPC errors a client can read.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{StreamExt, stream::BoxStream};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[cfg(feature = "aws")]
use super::function::FunctionInvoker;
use super::{
    assertion::{self, AssertionClaims},
    config::{GatewayConfig, Target},
    tool_filter,
};
use crate::{
    caller::Caller,
    http::{log::LogFields, mcp_guard::McpMessage},
    keys::SigningKey,
    state::AppState,
};

/// Request headers the upstream gets from the client: content negotiation, SSE resumption, and
/// MCP's own (session, protocol version, and 2026-07-28's `Mcp-Method` and `Mcp-Name`, which
/// [`headers_agree`] checks against the body first). Everything else stays here: `Authorization`
/// and cookies first, and `Mcp-Param-*`, which could name what the guard never checked.
const REQUEST_HEADERS: [HeaderName; 8] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::USER_AGENT,
    HeaderName::from_static("last-event-id"),
    HeaderName::from_static("mcp-session-id"),
    HeaderName::from_static("mcp-protocol-version"),
    HeaderName::from_static(MCP_METHOD),
    HeaderName::from_static(MCP_NAME),
];

const MCP_METHOD: &str = "mcp-method";
const MCP_NAME: &str = "mcp-name";

/// Whether `Mcp-Method` and `Mcp-Name` say what the body says: an upstream (or a proxy before
/// it) that routes on the headers must not be steered to a method or tool the guard never saw.
fn headers_agree(headers: &HeaderMap, method: &Method, message: &McpMessage) -> bool {
    let header = |name: &str| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => value.to_str().map(Some).map_err(|_| ()),
            (Some(_), Some(_)) => Err(()),
        }
    };
    let (Ok(named_method), Ok(named_tool)) = (header(MCP_METHOD), header(MCP_NAME)) else {
        return false;
    };
    if *method != Method::POST {
        return named_method.is_none() && named_tool.is_none();
    }
    named_method.is_none_or(|m| message.method.as_deref() == Some(m))
        && named_tool.is_none_or(|t| message.tool.as_deref().is_none_or(|tool| tool == t))
}

/// Response headers the client gets from the upstream. Not `WWW-Authenticate`: the client's
/// authorization server is this one, whatever the upstream would say.
const RESPONSE_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::RETRY_AFTER,
    HeaderName::from_static("mcp-session-id"),
    HeaderName::from_static("mcp-protocol-version"),
];

/// One request as it goes upstream.
pub struct Exchange {
    /// `POST`, `GET` or `DELETE`.
    pub method: Method,
    /// The forwarded headers and the assertion.
    pub headers: HeaderMap,
    /// The body (empty for `GET` and `DELETE`).
    pub body: Bytes,
}

/// The upstream's answer.
pub struct Upstreamed {
    /// Its status.
    pub status: StatusCode,
    /// Its headers (all of them; [`RESPONSE_HEADERS`] picks what goes on).
    pub headers: HeaderMap,
    body: UpstreamBody,
}

enum UpstreamBody {
    Full(Bytes),
    Stream(BoxStream<'static, Result<Bytes, String>>),
}

impl Upstreamed {
    /// An answer read whole (the function target).
    pub fn buffered(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body: UpstreamBody::Full(body),
        }
    }

    #[cfg(test)]
    pub(crate) fn into_bytes_for_test(self) -> Bytes {
        match self.body {
            UpstreamBody::Full(bytes) => bytes,
            UpstreamBody::Stream(_) => panic!("streamed"),
        }
    }
}

/// Why the upstream gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection, or the Lambda API refused the call.
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    /// No answer before the deadline.
    #[error("the upstream did not answer in time")]
    Timeout,
    /// The function raised an error (`X-Amz-Function-Error`).
    #[error("the upstream function failed ({0})")]
    Crashed(String),
    /// An answer that is not HTTP as expected.
    #[error("the upstream's answer could not be read: {0}")]
    Malformed(String),
}

enum Transport {
    Http {
        client: reqwest::Client,
        url: url::Url,
    },
    #[cfg(feature = "aws")]
    Function(FunctionInvoker),
}

/// The gateway: what `/mcp` forwards through.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

struct Inner {
    config: GatewayConfig,
    /// Signs the identity assertions: a key of its own, never the access tokens' key.
    key: SigningKey,
    limiter: Arc<Semaphore>,
    transport: Transport,
    assertions: AssertionCache,
}

/// Assertions already minted, by the access token they speak for. Reusing one while it has at
/// least [`REUSE_MARGIN_SECS`] left saves an ES256 signature per request here and lets an
/// upstream that caches verified tokens (as most JWT middleware can) skip its check too.
#[derive(Default)]
struct AssertionCache(std::sync::Mutex<std::collections::HashMap<Box<str>, (String, u64)>>);

/// An assertion is reused only while it has this long to live, so the upstream never gets one
/// about to expire in flight.
const REUSE_MARGIN_SECS: u64 = 30;
/// Entries kept before the cache starts over (bounded memory under a flood of tokens).
const ASSERTION_CACHE_ENTRIES: usize = 4096;

impl Gateway {
    /// Connects the gateway for `config` (for a function target this loads the AWS SDK's
    /// configuration, and needs the `aws` feature).
    pub async fn connect(config: GatewayConfig, key: SigningKey) -> Result<Self, crate::Error> {
        let transport = match &config.target {
            Target::Url(url) => Transport::Http {
                client: reqwest::Client::builder()
                    .no_proxy()
                    .connect_timeout(Duration::from_secs(5).min(config.timeout))
                    // Redirects would carry the assertion somewhere the configuration never named.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
                url: url.clone(),
            },
            #[cfg(feature = "aws")]
            Target::Function { name, path } => {
                Transport::Function(FunctionInvoker::new(name.clone(), path.clone()).await)
            }
            #[cfg(not(feature = "aws"))]
            Target::Function { name, .. } => {
                return Err(format!(
                    "the upstream is the Lambda function {name}, and this binary was built without \
                     mcpctl-handler's `aws` feature: build it with `mcpctl build` (which turns it on)"
                )
                .into());
            }
        };
        Ok(Self(Arc::new(Inner {
            limiter: Arc::new(Semaphore::new(config.max_concurrency)),
            config,
            key,
            transport,
            assertions: AssertionCache::default(),
        })))
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }

    /// The assertion for `caller`, who presented the access token `presented`: a cached one
    /// with time to live, or a new one.
    fn assertion_for(
        &self,
        app: &AppState,
        presented: &str,
        caller: &Caller,
    ) -> Result<String, assertion::AssertionError> {
        let now = app.now();
        let cache = &self.0.assertions.0;
        if let Ok(cached) = cache.lock()
            && let Some((token, exp)) = cached.get(presented)
            && *exp >= now + REUSE_MARGIN_SECS
        {
            return Ok(token.clone());
        }
        let claims = AssertionClaims::for_caller(
            caller,
            &app.config.issuer(),
            &self.0.config.audience,
            now,
        )?;
        let token = assertion::sign(&self.0.key, &claims)?;
        if let Ok(mut cached) = cache.lock() {
            if cached.len() >= ASSERTION_CACHE_ENTRIES {
                cached.clear();
            }
            cached.insert(presented.into(), (token.clone(), claims.exp));
        }
        Ok(token)
    }

    async fn send(&self, exchange: Exchange) -> Result<Upstreamed, UpstreamError> {
        match &self.0.transport {
            Transport::Http { client, url } => {
                let sent = client
                    .request(exchange.method, url.clone())
                    .headers(exchange.headers)
                    .body(exchange.body)
                    .send()
                    .await
                    .map_err(|error| UpstreamError::Unreachable(without_url(error)))?;
                let status = sent.status();
                let headers = sent.headers().clone();
                let stream = sent
                    .bytes_stream()
                    .map(|chunk| chunk.map_err(without_url))
                    .boxed();
                Ok(Upstreamed {
                    status,
                    headers,
                    body: UpstreamBody::Stream(stream),
                })
            }
            #[cfg(feature = "aws")]
            Transport::Function(invoker) => invoker.invoke(exchange).await,
        }
    }
}

/// reqwest's error text without the URL (which names the upstream, not a secret, but is noise
/// in a client-facing message) and with its cause.
fn without_url(error: reqwest::Error) -> String {
    use std::error::Error as _;
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The state of the forwarding handler.
#[derive(Clone)]
pub struct ForwardState {
    /// The application (issuer, signing key, clock).
    pub app: AppState,
    /// The gateway.
    pub gateway: Gateway,
}

/// `POST`, `GET` and `DELETE /mcp` behind the bearer guard: forwards upstream.
pub async fn forward(State(state): State<ForwardState>, request: Request) -> Response {
    let gateway = &state.gateway;
    let config = gateway.config();
    let message = request
        .extensions()
        .get::<McpMessage>()
        .cloned()
        .unwrap_or_default();
    let id = message.id.clone().unwrap_or(Value::Null);
    if !matches!(
        *request.method(),
        Method::POST | Method::GET | Method::DELETE
    ) {
        // HEAD reaches here through axum's GET route.
        return rpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &id,
            -32600,
            "use POST (or GET, DELETE) on /mcp",
            "method_not_allowed",
            None,
        );
    }
    // An allow-list cannot be held on a GET stream: a resumed stream may replay any answer.
    if request.method() == Method::GET && (!config.forward_get || config.exposed_tools.is_some()) {
        return rpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &id,
            -32600,
            "this server offers no GET stream on /mcp; use POST",
            "get_not_forwarded",
            None,
        );
    }
    if message.batch {
        // Batches left MCP in 2025-06-18; refused whole, so an allow-list can never be got round
        // by an answer this gateway would have to take apart.
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &Value::Null,
            -32600,
            "Invalid Request: JSON-RPC batches are not accepted; send one message per request",
            "batch_refused",
            None,
        );
    }
    if !headers_agree(request.headers(), request.method(), &message) {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &id,
            -32600,
            "Invalid Request: Mcp-Method or Mcp-Name does not match the body",
            "header_mismatch",
            None,
        );
    }
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        // The guard always puts the caller there; a router without the guard is a bug.
        return rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &id,
            -32603,
            "internal error",
            "no_caller",
            None,
        );
    };
    let Ok(permit) = gateway.0.limiter.clone().try_acquire_owned() else {
        let mut response = rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &id,
            -32603,
            "the server is busy; retry in a moment",
            "upstream_busy",
            Some(format!(
                "{} upstream calls in flight",
                config.max_concurrency
            )),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let presented = crate::http::mcp_guard::bearer_token(&request).unwrap_or_default();
    let assertion = match gateway.assertion_for(&state.app, presented, &caller) {
        Ok(token) => token,
        Err(error) => return assertion_failure(&id, &error),
    };

    let (parts, body) = request.into_parts();
    let mut headers = HeaderMap::new();
    for name in &REQUEST_HEADERS {
        for value in parts.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {assertion}")) else {
        return rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &id,
            -32603,
            "internal error",
            "assertion_header",
            None,
        );
    };
    headers.insert(header::AUTHORIZATION, bearer);
    // The guard read the body already; this takes it whole again without copying.
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let exchange = Exchange {
        method: parts.method.clone(),
        headers,
        body,
    };

    let deadline = tokio::time::Instant::now() + config.timeout;
    let answer = match tokio::time::timeout_at(deadline, gateway.send(exchange)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => return upstream_failure(&id, &error, config),
        Err(_) => return upstream_failure(&id, &UpstreamError::Timeout, config),
    };
    // A POST's whole answer (an SSE stream of progress and then the result) must arrive before
    // the deadline; a GET stream is open-ended by design and only had to start in time.
    let body_deadline = (parts.method == Method::POST).then_some(deadline);
    shape_answer(answer, &id, &message, config, permit, body_deadline).await
}

/// The client's view of the upstream's answer.
async fn shape_answer(
    answer: Upstreamed,
    id: &Value,
    message: &McpMessage,
    config: &GatewayConfig,
    permit: OwnedSemaphorePermit,
    deadline: Option<tokio::time::Instant>,
) -> Response {
    let status = answer.status;
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        // Passing this on would send the client to re-authorize with a token that is fine: the
        // upstream refused *our* assertion, which is a setup error on this side.
        return rpc_error(
            StatusCode::BAD_GATEWAY,
            id,
            -32603,
            "the upstream MCP server refused the gateway's identity assertion; its operator must check the issuer, audience and JWKS it verifies with",
            "upstream_refused_assertion",
            Some(format!("upstream status {status}")),
        );
    }
    let content_type = answer
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let readable = content_type.starts_with("application/json")
        || content_type.starts_with("text/event-stream");
    let empty_ok = status == StatusCode::ACCEPTED
        || status == StatusCode::NO_CONTENT
        || (status.is_success() && answer_is_empty(&answer));
    if !readable && !empty_ok {
        let reason = status.canonical_reason().unwrap_or("error");
        let (code, mapped) = if status.is_server_error() {
            (
                StatusCode::BAD_GATEWAY,
                format!(
                    "the upstream MCP server failed ({} {reason})",
                    status.as_u16()
                ),
            )
        } else {
            (
                status,
                format!(
                    "the upstream MCP server answered {} {reason}",
                    status.as_u16()
                ),
            )
        };
        return rpc_error(
            code,
            id,
            if status.is_server_error() {
                -32603
            } else {
                -32600
            },
            &mapped,
            "upstream_status",
            Some(format!(
                "upstream status {status}, content-type `{content_type}`"
            )),
        );
    }
    let declared = answer
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > config.max_response_bytes) {
        // Known too large before a byte is sent: a clear error instead of a cut-off body.
        return too_large(id, config);
    }
    let mut headers = HeaderMap::new();
    for name in &RESPONSE_HEADERS {
        for value in answer.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // Answers speak for one caller: never cached on the way, whatever the upstream says.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let filter = config
        .exposed_tools
        .as_ref()
        .filter(|_| message.method.as_deref() == Some("tools/list"));
    let body = match (answer.body, filter) {
        (UpstreamBody::Full(bytes), None) if bytes.len() > config.max_response_bytes => {
            return too_large(id, config);
        }
        (UpstreamBody::Full(bytes), None) => Body::from(bytes),
        // A JSON answer of known length (the common `tools/call` result) is read whole and sent
        // with its length: no chunked encoding, and no per-chunk stream machinery.
        (UpstreamBody::Stream(stream), None) if declared.is_some() => {
            match collect(
                UpstreamBody::Stream(stream),
                config.max_response_bytes,
                deadline,
            )
            .await
            {
                Ok(bytes) => Body::from(bytes),
                Err(Collect::TooLarge) => return too_large(id, config),
                Err(Collect::Timeout) => {
                    return upstream_failure(id, &UpstreamError::Timeout, config);
                }
                Err(Collect::Broken(detail)) => {
                    return upstream_failure(id, &UpstreamError::Malformed(detail), config);
                }
            }
        }
        (body, Some(exposed)) => {
            // tools/list answers are small: read whole, within the limits, then filtered.
            let bytes = match collect(body, config.max_response_bytes, deadline).await {
                Ok(bytes) => bytes,
                Err(Collect::TooLarge) => return too_large(id, config),
                Err(Collect::Timeout) => {
                    return upstream_failure(id, &UpstreamError::Timeout, config);
                }
                Err(Collect::Broken(detail)) => {
                    return upstream_failure(id, &UpstreamError::Malformed(detail), config);
                }
            };
            headers.remove(header::CONTENT_LENGTH);
            match tool_filter::filter_tools_list(&bytes, &content_type, exposed) {
                Some(filtered) => Body::from(filtered),
                // Fail closed: an answer the filter cannot read might list hidden tools.
                None => {
                    return upstream_failure(
                        id,
                        &UpstreamError::Malformed(
                            "a tools/list answer that is not JSON-RPC".into(),
                        ),
                        config,
                    );
                }
            }
        }
        (UpstreamBody::Stream(stream), None) => {
            Body::from_stream(limited(stream, config.max_response_bytes, deadline, permit))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn answer_is_empty(answer: &Upstreamed) -> bool {
    match &answer.body {
        UpstreamBody::Full(bytes) => bytes.is_empty(),
        UpstreamBody::Stream(_) => answer
            .headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0"),
    }
}

enum Collect {
    TooLarge,
    Timeout,
    Broken(String),
}

async fn collect(
    body: UpstreamBody,
    max: usize,
    deadline: Option<tokio::time::Instant>,
) -> Result<Bytes, Collect> {
    let mut stream = match body {
        UpstreamBody::Full(bytes) if bytes.len() > max => return Err(Collect::TooLarge),
        UpstreamBody::Full(bytes) => return Ok(bytes),
        UpstreamBody::Stream(stream) => stream,
    };
    let read = async {
        let mut all = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Collect::Broken)?;
            if all.len() + chunk.len() > max {
                return Err(Collect::TooLarge);
            }
            all.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(all))
    };
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| Collect::Timeout)?,
        None => read.await,
    }
}

/// How long a GET stream may stay silent.
const STREAM_IDLE: Duration = Duration::from_secs(300);

/// The upstream's stream, ended (with a log line) at the size cap or the deadline, and holding
/// the concurrency permit until it ends.
fn limited(
    stream: BoxStream<'static, Result<Bytes, String>>,
    max: usize,
    deadline: Option<tokio::time::Instant>,
    permit: OwnedSemaphorePermit,
) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let state = (stream, 0usize, permit);
    futures_util::stream::unfold(Some(state), move |state| async move {
        let (mut stream, sent, permit) = state?;
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    tracing::warn!(
                        error = "upstream_timeout",
                        "the upstream's streamed answer passed the deadline; ending it"
                    );
                    return None;
                }
            },
            // An open-ended stream that goes quiet this long ends (the client resumes it with
            // Last-Event-ID), so silent streams cannot hold the concurrency permits for ever.
            None => match tokio::time::timeout(STREAM_IDLE, stream.next()).await {
                Ok(next) => next,
                Err(_) => return None,
            },
        };
        match next {
            Some(Ok(chunk)) if sent + chunk.len() > max => {
                tracing::warn!(
                    error = "upstream_too_large",
                    limit = max,
                    "the upstream's answer passed the size limit; ending it"
                );
                None
            }
            Some(Ok(chunk)) => {
                let sent = sent + chunk.len();
                Some((Ok(chunk), Some((stream, sent, permit))))
            }
            Some(Err(detail)) => {
                tracing::warn!(
                    error = "upstream_broken",
                    detail,
                    "the upstream's answer broke off"
                );
                Some((Err(std::io::Error::other(detail)), None))
            }
            None => None,
        }
    })
    .boxed()
}

fn too_large(id: &Value, config: &GatewayConfig) -> Response {
    rpc_error(
        StatusCode::BAD_GATEWAY,
        id,
        -32603,
        "the upstream's answer is larger than this server passes on",
        "upstream_too_large",
        Some(format!("limit {} bytes", config.max_response_bytes)),
    )
}

fn upstream_failure(id: &Value, error: &UpstreamError, config: &GatewayConfig) -> Response {
    let (status, message, code) = match error {
        UpstreamError::Timeout => (
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the upstream MCP server did not answer within {} ms",
                config.timeout.as_millis()
            ),
            "upstream_timeout",
        ),
        UpstreamError::Unreachable(_) => (
            StatusCode::BAD_GATEWAY,
            "the upstream MCP server could not be reached".to_owned(),
            "upstream_unreachable",
        ),
        UpstreamError::Crashed(_) => (
            StatusCode::BAD_GATEWAY,
            "the upstream MCP server failed while answering".to_owned(),
            "upstream_failed",
        ),
        UpstreamError::Malformed(_) => (
            StatusCode::BAD_GATEWAY,
            "the upstream MCP server's answer could not be read".to_owned(),
            "upstream_malformed",
        ),
    };
    rpc_error(
        status,
        id,
        -32603,
        &message,
        code,
        Some(format!("{} ({error})", config.describe())),
    )
}

fn assertion_failure(id: &Value, error: &assertion::AssertionError) -> Response {
    rpc_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        id,
        -32603,
        "internal error",
        "assertion_failed",
        Some(error.to_string()),
    )
}

/// A JSON-RPC error answer, with the log's error code and detail (never a body).
fn rpc_error(
    status: StatusCode,
    id: &Value,
    code: i32,
    message: &str,
    log_code: &str,
    detail: Option<String>,
) -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } });
    let mut response = (status, Json(body)).into_response();
    LogFields {
        error: Some(log_code.to_owned()),
        detail,
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}
