//! Per-tool scopes: a tool that declares `requires_scope` runs only for a token holding the
//! scope; everything else gets the MCP step-up answer before the tool runs, however the call is
//! dressed up.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use mcpctl_handler::{Caller, testing::TestClient};
use rmcp::{ServerHandler, handler::server::tool::ToolRouter, tool, tool_handler, tool_router};
use serde_json::{Value, json};

/// A server with one free tool and one that needs `notes:write`, counting the scoped tool's runs.
#[derive(Clone)]
struct Notes {
    tool_router: Arc<ToolRouter<Self>>,
    cleared: Arc<AtomicUsize>,
}

#[tool_router]
impl Notes {
    fn new() -> Self {
        Self {
            tool_router: Arc::new(Self::tool_router()),
            cleared: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Free for any caller with the MCP scope.
    #[tool(description = "Read notes")]
    async fn read(&self, caller: Caller) -> String {
        format!("notes of {}", caller.subject)
    }

    /// Needs `notes:write`.
    #[tool(description = "Delete all notes", meta = mcpctl_handler::requires_scope("notes:write"))]
    async fn clear(&self) -> String {
        self.cleared.fetch_add(1, Ordering::SeqCst);
        "cleared".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Notes {}

fn call(name: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": name, "arguments": {} } })
}

#[tokio::test]
async fn a_call_without_the_tools_scope_gets_the_step_up_challenge_and_never_runs() {
    let notes = Notes::new();
    let client = TestClient::new(notes.clone());

    assert_eq!(
        client.call_tool_text("read", json!({})).await,
        "notes of test-user"
    );
    let refused = client.call_tool("clear", json!({})).await.unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");
    let challenge = refused.challenge().unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    // Step-up asks for what the client holds plus what the tool needs.
    assert!(
        challenge.contains(r#"scope="mcp notes:write""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(
            r#"resource_metadata="http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp""#
        ),
        "{challenge}"
    );
    assert_eq!(notes.cleared.load(Ordering::SeqCst), 0);

    let stepped_up = client.with_scopes(&["notes:write"]);
    assert_eq!(
        stepped_up.call_tool_text("clear", json!({})).await,
        "cleared"
    );
    assert_eq!(notes.cleared.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn machine_clients_are_held_to_the_same_scopes() {
    let notes = Notes::new();
    let machine = TestClient::new(notes.clone()).as_machine();
    let refused = machine.call_tool("clear", json!({})).await.unwrap_err();
    assert_eq!(refused.status(), Some(403));
    assert_eq!(notes.cleared.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn tools_list_shows_the_scope_each_tool_needs() {
    let client = TestClient::new(Notes::new());
    let list = client.request("tools/list", json!({})).await.unwrap();
    let tools = list["tools"].as_array().unwrap();
    let clear = tools.iter().find(|t| t["name"] == "clear").unwrap();
    assert_eq!(clear["_meta"]["io.mcpctl/requiredScope"], "notes:write");
    let read = tools.iter().find(|t| t["name"] == "read").unwrap();
    assert!(read.get("_meta").is_none(), "{read}");
}

/// Every shape a stranger might wrap a scoped call in, hoping the guard reads it differently
/// from rmcp: a batch, leading whitespace, escapes in the names, a repeated `name` key, or
/// params that are not an object. (A batch is no message since MCP 2025-06-18: rmcp does not
/// read it, so it is refused as an invalid request before any tool is looked at.)
#[tokio::test]
async fn disguised_calls_of_a_scoped_tool_are_refused_before_the_tool_runs() {
    let notes = Notes::new();
    let server = crate::support::TestServer::serving(notes.clone());
    let token = crate::mcp::sign(&server, &crate::mcp::claims(&server));
    let batch = json!([call("read"), call("clear")]).to_string();
    let spaced = format!(" \n\t{}", call("clear"));
    let escaped = r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"cl\u0065ar","arguments":{}}}"#;
    for (what, body, status) in [
        ("batch", batch.as_str(), 400),
        ("leading whitespace", spaced.as_str(), 403),
        ("escaped names", escaped, 403),
    ] {
        let response = server.mcp(Some(&token), body, &[]).await;
        assert_eq!(
            response.status.as_u16(),
            status,
            "{what}: {}",
            response.text()
        );
    }
    // Params rmcp cannot read as a tool call's: a repeated `name` key or a name that is not a
    // string is a call with invalid params; positional params (MCP's are always an object) make
    // no MCP message at all. Neither is a guess at which tool was meant.
    let repeated = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","name":"clear","arguments":{}}}"#;
    let positional = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["clear"]}"#;
    let named_by_number = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#;
    for (what, body, status, code) in [
        ("repeated name key", repeated, 200, -32602),
        ("a number for a name", named_by_number, 200, -32602),
        ("positional params", positional, 400, -32600),
    ] {
        let response = server.mcp(Some(&token), body, &[]).await;
        assert_eq!(
            response.status.as_u16(),
            status,
            "{what}: {}",
            response.text()
        );
        assert_eq!(response.json()["error"]["code"], code, "{what}");
    }
    assert_eq!(notes.cleared.load(Ordering::SeqCst), 0);
}

/// MCP step-up: a client that registered itself with `scope: mcp` and then meets a tool needing
/// `notes:write` asks for the wider scope in a new authorization, without registering again. Its
/// self-declared registration scope is no limit (the person's consent is), while an operator's
/// client stays within the scope the operator registered.
#[tokio::test]
async fn step_up_widens_a_self_registered_clients_scope_but_not_an_operators() {
    use crate::support::{REDIRECT, TestServer};
    let server = TestServer::with(|config| config.offer_scope("notes:write".into()));
    let metadata = json!({
        "client_name": "Step-up App",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "mcp"
    });
    let stranger = server.register(metadata.clone()).await;
    let tokens = server.login_with_scope(&stranger, "mcp notes:write").await;
    assert_eq!(tokens["scope"], "mcp notes:write", "{tokens}");

    // A scope the server does not offer stays refused.
    let refused = server
        .start_authorization(&stranger.id, &[("scope", "mcp admin"), ("state", "s")])
        .await;
    assert!(
        refused.text().contains("invalid_scope"),
        "{}",
        refused.text()
    );

    let operators = server.register_as_operator(metadata).await;
    let refused = server
        .start_authorization(
            &operators.id,
            &[("scope", "mcp notes:write"), ("state", "s")],
        )
        .await;
    // A trusted client's error goes back to its redirect URI (RFC 6749 §4.1.2.1).
    let location = refused.header("location").unwrap_or_default();
    assert!(
        location.contains("error=invalid_scope"),
        "{location} {}",
        refused.text()
    );
}
