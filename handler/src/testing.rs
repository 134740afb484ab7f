//! Test a server in-process, through the same bearer guard and rmcp service it runs behind on
//! Lambda, with a token minted for a test user: no network, no sign-in, no AWS.
//!
//! ```
//! use mcpctl_handler::{Caller, testing::TestClient};
//! use rmcp::{ServerHandler, handler::server::tool::ToolRouter, tool, tool_handler, tool_router};
//!
//! #[derive(Clone)]
//! struct Server {
//!     tool_router: ToolRouter<Self>,
//! }
//!
//! #[tool_router]
//! impl Server {
//!     /// Says who is calling.
//!     #[tool(description = "Who am I?")]
//!     async fn me(&self, caller: Caller) -> String {
//!         caller.subject
//!     }
//!
//!     /// Needs a scope the default test token lacks.
//!     #[tool(description = "Admin only", meta = mcpctl_handler::requires_scope("admin"))]
//!     async fn admin(&self) -> String {
//!         "done".into()
//!     }
//! }
//!
//! #[tool_handler(router = self.tool_router)]
//! impl ServerHandler for Server {}
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let client = TestClient::new(Server { tool_router: Server::tool_router() });
//! assert_eq!(client.call_tool_text("me", serde_json::json!({})).await, "test-user");
//!
//! let refused = client.call_tool("admin", serde_json::json!({})).await.unwrap_err();
//! assert_eq!(refused.status(), Some(403));
//! let admin = client.with_scopes(&["admin"]);
//! assert_eq!(admin.call_tool_text("admin", serde_json::json!({})).await, "done");
//! # });
//! ```

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, header},
};
use http_body_util::BodyExt;
use rmcp::{ServerHandler, model::CallToolResult};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{
    AppState,
    clock::{Clock, SystemClock},
    config::{HandlerConfig, IdentityMode},
    keys::KeyMaterial,
    oauth::jwt::{self, AccessClaims, SubjectKind},
    state::Stores,
    store::memory::MemoryStore,
};

/// The host test requests are addressed to.
const TEST_HOST: &str = "127.0.0.1:8787";
/// The public URL of the test server.
const TEST_URL: &str = "http://127.0.0.1:8787";

/// Why a test call failed.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The guard or rmcp refused the HTTP request (401, 403, 4xx).
    #[error("HTTP {status}: {body} (WWW-Authenticate: {challenge:?})")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The `WWW-Authenticate` header, if any.
        challenge: Option<String>,
        /// The response body.
        body: String,
    },
    /// The server answered with a JSON-RPC error.
    #[error("JSON-RPC error {code}: {message}")]
    JsonRpc {
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// The response was not what an MCP server sends.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

impl TestError {
    /// The HTTP status of a refused request.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` challenge of a refused request.
    pub fn challenge(&self) -> Option<&str> {
        match self {
            Self::Http { challenge, .. } => challenge.as_deref(),
            _ => None,
        }
    }
}

/// An MCP client for tests: calls a server's tools as a signed-in test user.
#[derive(Clone)]
pub struct TestClient {
    router: Router,
    state: AppState,
    claims: AccessClaims,
}

impl TestClient {
    /// A client of `server` signed in as person `test-user` through client `test-client`, with
    /// the `mcp` scope.
    pub fn new<S>(server: S) -> Self
    where
        S: ServerHandler + Clone + Send + Sync + 'static,
    {
        let mut config = HandlerConfig::new(url_of(TEST_URL));
        config.identity = IdentityMode::Dev { auto_approve: true };
        config.allowed_hosts = Vec::new();
        let keys = match KeyMaterial::generate() {
            Ok(keys) => keys,
            Err(error) => fail(format!("cannot generate a test signing key: {error}")),
        };
        let state = AppState::new(
            config,
            keys,
            Stores::memory(Arc::new(MemoryStore::new())),
            Arc::new(SystemClock),
        );
        let now = SystemClock.now();
        let claims = AccessClaims {
            iss: state.config.issuer(),
            sub: "test-user".into(),
            aud: state.config.resource(),
            exp: now + 3600,
            iat: now,
            nbf: now,
            jti: "test-token".into(),
            client_id: "test-client".into(),
            kind: SubjectKind::Person,
            scope: state.config.mcp_scope.clone(),
            name: Some("Test User".into()),
            email: Some("test-user@example.com".into()),
            groups: Vec::new(),
        };
        Self {
            router: crate::router(state.clone(), server),
            state,
            claims,
        }
    }

    /// The same client with `scopes` granted too.
    pub fn with_scopes(&self, scopes: &[&str]) -> Self {
        let mut client = self.clone();
        for scope in scopes {
            if !client.claims.has_scope(scope) {
                client.claims.scope.push(' ');
                client.claims.scope.push_str(scope);
            }
        }
        client
    }

    /// The same client acting as a machine client (`client_credentials`): the subject is the
    /// client id, and no name or e-mail.
    pub fn as_machine(&self) -> Self {
        let mut client = self.clone();
        client.claims.kind = SubjectKind::Machine;
        client.claims.sub = client.claims.client_id.clone();
        client.claims.name = None;
        client.claims.email = None;
        client
    }

    /// Calls tool `name` with `arguments` (a JSON object).
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, TestError> {
        let result = self
            .request(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await?;
        serde_json::from_value(result).map_err(|e| TestError::Unexpected(e.to_string()))
    }

    /// Calls tool `name` and returns its text content, panicking (the test fails) on any error,
    /// including a result with `isError`.
    #[expect(
        clippy::panic,
        reason = "a test helper: failing the test is its error path"
    )]
    pub async fn call_tool_text(&self, name: &str, arguments: Value) -> String {
        match self.call_tool(name, arguments).await {
            Ok(result) if result.is_error != Some(true) => text_of(&result),
            Ok(result) => panic!("tool `{name}` reported an error: {}", text_of(&result)),
            Err(error) => panic!("calling tool `{name}` failed: {error}"),
        }
    }

    /// Sends one JSON-RPC request and returns its `result`.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, TestError> {
        let token = jwt::sign(self.signing_key()?, &self.claims)
            .map_err(|e| TestError::Unexpected(e.to_string()))?;
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let request = Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header(header::HOST, TEST_HOST)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .map_err(|e| TestError::Unexpected(e.to_string()))?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| TestError::Unexpected(e.to_string()))?;
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| TestError::Unexpected(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(TestError::Http {
                status: status.as_u16(),
                challenge,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        let mut answer: Value = serde_json::from_slice(&bytes).map_err(|e| {
            TestError::Unexpected(format!("{e}: {}", String::from_utf8_lossy(&bytes)))
        })?;
        if let Some(error) = answer.get("error") {
            return Err(TestError::JsonRpc {
                code: error["code"].as_i64().unwrap_or_default(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(answer["result"].take())
    }

    fn signing_key(&self) -> Result<&crate::keys::SigningKey, TestError> {
        self.state
            .keys
            .signing
            .as_ref()
            .and_then(crate::keys::TokenSigner::local)
            .ok_or_else(|| TestError::Unexpected("the test state has no local signing key".into()))
    }
}

/// The text blocks of a result, joined by newlines.
fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|text| text.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn url_of(value: &str) -> url::Url {
    match url::Url::parse(value) {
        Ok(url) => url,
        Err(error) => fail(format!("bad test URL {value}: {error}")),
    }
}

#[expect(
    clippy::panic,
    reason = "a test helper that cannot set itself up fails the test"
)]
fn fail(message: String) -> ! {
    panic!("{message}")
}
