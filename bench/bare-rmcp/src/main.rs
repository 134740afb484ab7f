//! The baseline for bench/run.sh: a bare rmcp Streamable HTTP server (stateless, JSON responses)
//! with the same three tools as the handler (`echo`, `add`, `whoami`) and the same bearer check
//! (ES256 via jsonwebtoken, `kid` lookup, `iss`, `aud`, `exp`, `nbf`, scope `mcp`), and nothing
//! else: no access log, no body pre-read, no CORS or OAuth routes.
//!
//! Usage: `bare-rmcp PORT JWKS_FILE`. Issuer `http://127.0.0.1:PORT`, resource `…/mcp`
//! (`BARE_ISSUER` and `BARE_AUDIENCE` override them).
//! Runtime: tokio multi-thread with default settings, like `mcpctl`.
//!
//! `BARE_TOKEN_CACHE=1` (what bench/run.sh uses, since the handler has the same cache): remember
//! the claims of tokens whose signature verified (keyed by the whole token, bounded, `exp`/`nbf`
//! still checked on every hit). Without it every request pays the ES256 verification.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post_service,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    service::RequestContext,
    tool, tool_handler, tool_router,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::never::NeverSessionManager,
    },
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: String,
    client_id: String,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    x: String,
    y: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

struct Auth {
    keys: Vec<(String, DecodingKey)>,
    issuer: String,
    audience: String,
    cache: Option<std::sync::Mutex<std::collections::HashMap<String, AccessClaims>>>,
}

const CACHE_MAX: usize = 1024;

#[derive(Debug, Deserialize, JsonSchema)]
struct EchoInput {
    /// The text to send back.
    text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct AddInput {
    /// First addend.
    a: f64,
    /// Second addend.
    b: f64,
}

#[derive(Clone)]
struct Bare {
    tool_router: Arc<ToolRouter<Self>>,
}

#[tool_router]
impl Bare {
    #[tool(
        name = "echo",
        description = "Echo the given text back",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn echo(&self, Parameters(EchoInput { text }): Parameters<EchoInput>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(text)])
    }

    #[tool(
        name = "add",
        description = "Add two numbers",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn add(&self, Parameters(AddInput { a, b }): Parameters<AddInput>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text((a + b).to_string())])
    }

    #[tool(
        name = "whoami",
        description = "Show the verified caller: client id, user and scopes",
        annotations(read_only_hint = true)
    )]
    async fn whoami(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let claims = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<AccessClaims>())
            .ok_or_else(|| ErrorData::internal_error("no verified caller", None))?;
        let value = serde_json::json!({
            "client_id": claims.client_id,
            "subject": claims.sub,
            "scopes": claims.scope.split(' ').collect::<Vec<_>>(),
            "expires_at": claims.exp,
        });
        let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
        result.structured_content = Some(value);
        Ok(result)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bare {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bare-rmcp", "0.0.0"))
    }
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "invalid_token").into_response()
}

async fn guard(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    let Some(token) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return unauthorized();
    };
    let cached = auth
        .cache
        .as_ref()
        .and_then(|c| c.lock().ok().and_then(|c| c.get(token).cloned()));
    let claims = match cached {
        Some(claims) => claims,
        None => match verify_signature(&auth, token) {
            Some(claims) => {
                if let Some(cache) = &auth.cache
                    && let Ok(mut cache) = cache.lock()
                {
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(token.to_owned(), claims.clone());
                }
                claims
            }
            None => return unauthorized(),
        },
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "the baseline is a plain rmcp server: it reads the clock as such a server would"
    )]
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if claims.iss != auth.issuer
        || claims.aud != auth.audience
        || claims.exp <= now
        || claims.nbf > now + 5
    {
        return unauthorized();
    }
    if !claims.scope.split(' ').any(|s| s == "mcp") {
        return (StatusCode::FORBIDDEN, "insufficient_scope").into_response();
    }
    request.extensions_mut().insert(claims);
    next.run(request).await
}

/// Signature check: ES256 pinned, `kid` must be ours (the same steps as mcpctl_handler::oauth::jwt).
fn verify_signature(auth: &Auth, token: &str) -> Option<AccessClaims> {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return None;
    };
    if header.alg != Algorithm::ES256 {
        return None;
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| auth.keys.iter().find(|(k, _)| k == kid))
        .map(|(_, key)| key)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .ok()
        .map(|data| data.claims)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| fail("usage: bare-rmcp PORT JWKS_FILE"));
    let jwks_file = args
        .next()
        .unwrap_or_else(|| fail("usage: bare-rmcp PORT JWKS_FILE"));
    let jwks: Jwks = std::fs::read(&jwks_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| fail("cannot read the JWKS file"));
    let keys = jwks
        .keys
        .into_iter()
        .map(|k| {
            let key = DecodingKey::from_ec_components(&k.x, &k.y)
                .unwrap_or_else(|e| fail(&format!("bad JWK: {e}")));
            (k.kid, key)
        })
        .collect();
    // bench/gateway.sh runs this as an upstream behind `mcpctl dev --upstream`: it then checks
    // the gateway's identity assertions (its issuer, this server's URL as the audience).
    let issuer =
        std::env::var("BARE_ISSUER").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let audience =
        std::env::var("BARE_AUDIENCE").unwrap_or_else(|_| format!("http://127.0.0.1:{port}/mcp"));
    let cache = (std::env::var("BARE_TOKEN_CACHE").as_deref() == Ok("1"))
        .then(|| std::sync::Mutex::new(std::collections::HashMap::new()));
    let auth = Arc::new(Auth {
        cache,
        keys,
        audience,
        issuer,
    });

    let server = Bare {
        tool_router: Arc::new(Bare::tool_router()),
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(["127.0.0.1".to_owned(), format!("127.0.0.1:{port}")]);
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let guarded = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(auth, guard))
        .service(mcp);
    let app = Router::new().route("/mcp", post_service(guarded));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| fail(&format!("cannot listen on {port}: {e}")));
    println!("{{\"mcp_url\":\"http://127.0.0.1:{port}/mcp\"}}");
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .unwrap_or_else(|e| fail(&format!("signal: {e}")));
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        })
        .await;
}

fn fail(message: &str) -> ! {
    eprintln!("bare-rmcp: {message}");
    std::process::exit(2)
}
