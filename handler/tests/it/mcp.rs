//! The `/mcp` endpoint: bearer protection, scope, Origin, CORS, and malformed JSON-RPC.

use axum::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcpctl_handler::oauth::jwt::{self, AccessClaims, SubjectKind};

use crate::support::*;

const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;

pub(crate) fn claims(server: &TestServer) -> AccessClaims {
    let now = server.clock.now_for_tests();
    AccessClaims {
        iss: BASE.into(),
        sub: "u".into(),
        aud: format!("{BASE}/mcp"),
        exp: now + 60,
        iat: now,
        nbf: now,
        jti: "j".into(),
        client_id: "c".into(),
        kind: SubjectKind::Person,
        scope: "mcp".into(),
        name: None,
        email: None,
        groups: Vec::new(),
    }
}

pub(crate) fn sign(server: &TestServer, claims: &AccessClaims) -> String {
    jwt::sign(
        server
            .state
            .keys
            .signing
            .as_ref()
            .and_then(|s| s.local())
            .unwrap(),
        claims,
    )
    .unwrap()
}

trait NowForTests {
    fn now_for_tests(&self) -> u64;
}
impl NowForTests for mcpctl_handler::clock::ManualClock {
    fn now_for_tests(&self) -> u64 {
        mcpctl_handler::clock::Clock::now(self)
    }
}

fn assert_challenge(response: &Response, error: Option<&str>) {
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        response.text()
    );
    let challenge = response
        .header("www-authenticate")
        .expect("a WWW-Authenticate challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!(
            r#"resource_metadata="{BASE}/.well-known/oauth-protected-resource/mcp""#
        )),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="mcp""#), "{challenge}");
    if let Some(error) = error {
        assert!(
            challenge.contains(&format!(r#"error="{error}""#)),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn valid_token_lists_tools() {
    let server = TestServer::new();
    let token = sign(&server, &claims(&server));
    let response = server.mcp(Some(&token), LIST, &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert!(response.json()["result"]["tools"].as_array().unwrap().len() >= 3);
}

#[tokio::test]
async fn missing_and_bad_tokens_get_401_with_the_challenge() {
    let server = TestServer::new();
    assert_challenge(&server.mcp(None, LIST, &[]).await, None);
    assert_challenge(
        &server.mcp(Some("garbage"), LIST, &[]).await,
        Some("invalid_token"),
    );

    let mut wrong_audience = claims(&server);
    wrong_audience.aud = "https://other.example/mcp".into();
    assert_challenge(
        &server
            .mcp(Some(&sign(&server, &wrong_audience)), LIST, &[])
            .await,
        Some("invalid_token"),
    );

    let mut wrong_issuer = claims(&server);
    wrong_issuer.iss = "https://evil.example".into();
    assert_challenge(
        &server
            .mcp(Some(&sign(&server, &wrong_issuer)), LIST, &[])
            .await,
        Some("invalid_token"),
    );

    // Used while valid (so the process remembers its verification), then expired: refused.
    let expired_token = sign(&server, &claims(&server));
    assert_eq!(
        server.mcp(Some(&expired_token), LIST, &[]).await.status,
        StatusCode::OK
    );
    server.clock.advance(61);
    let response = server.mcp(Some(&expired_token), LIST, &[]).await;
    assert_challenge(&response, Some("invalid_token"));
    assert!(response.text().contains("expired"), "{}", response.text());

    // A remembered token lends nothing to a tampered copy that keeps its signature.
    let good = sign(&server, &claims(&server));
    assert_eq!(
        server.mcp(Some(&good), LIST, &[]).await.status,
        StatusCode::OK
    );
    let parts: Vec<&str> = good.split('.').collect();
    let mut widened = claims(&server);
    widened.client_id = "someone-else".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&widened).unwrap()),
        parts[2]
    );
    assert_challenge(
        &server.mcp(Some(&tampered), LIST, &[]).await,
        Some("invalid_token"),
    );

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    assert_challenge(
        &server.mcp(Some(&alg_none), LIST, &[]).await,
        Some("invalid_token"),
    );

    let hs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"x"}"#);
    let hs = format!("{hs_header}.{}.{}", parts[1], parts[2]);
    assert_challenge(
        &server.mcp(Some(&hs), LIST, &[]).await,
        Some("invalid_token"),
    );
}

#[tokio::test]
async fn token_without_the_mcp_scope_gets_403_insufficient_scope() {
    let server = TestServer::new();
    let mut narrow = claims(&server);
    narrow.scope = "email".into();
    let response = server.mcp(Some(&sign(&server, &narrow)), LIST, &[]).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let challenge = response.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains(r#"scope="mcp""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn foreign_origin_is_refused_before_authentication() {
    let server = TestServer::new();
    let token = sign(&server, &claims(&server));
    let evil = server
        .mcp(Some(&token), LIST, &[("origin", "http://evil.example.com")])
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let ok = server
        .mcp(Some(&token), LIST, &[("origin", "http://localhost:6274")])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:6274")
    );
}

#[tokio::test]
async fn cors_preflight_is_answered_for_allowed_origins() {
    let server = TestServer::new();
    let preflight = server
        .send(
            axum::http::Request::options("/mcp")
                .header("origin", "http://localhost:6274")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type, mcp-protocol-version",
                )
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(
        preflight.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:6274")
    );
    let unauthorized = server
        .mcp(None, LIST, &[("origin", "http://localhost:6274")])
        .await;
    let exposed = unauthorized
        .header("access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("mcp-protocol-version"),
        "{exposed}"
    );
}

#[tokio::test]
async fn get_and_delete_answer_405() {
    let server = TestServer::new();
    assert_eq!(
        server.get("/mcp", &[]).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn malformed_json_rpc_gets_json_rpc_errors() {
    let server = TestServer::new();
    let token = sign(&server, &claims(&server));
    let parse_error = server.mcp(Some(&token), "{not json", &[]).await;
    assert!(
        parse_error.status.is_client_error(),
        "{}",
        parse_error.status
    );
    let unknown = server
        .mcp(
            Some(&token),
            r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#,
            &[],
        )
        .await;
    assert_eq!(unknown.json()["error"]["code"], -32601);
    let unknown_tool = server
        .mcp(
            Some(&token),
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope"}}"#,
            &[],
        )
        .await;
    assert!(
        unknown_tool.json().get("error").is_some()
            || unknown_tool.json()["result"]["isError"] == true,
        "{}",
        unknown_tool.text()
    );
    let bad_args = server.mcp(Some(&token), r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"add","arguments":{"a":"x"}}}"#, &[]).await;
    let body = bad_args.json();
    assert!(
        body.get("error").is_some() || body["result"]["isError"] == true,
        "{body}"
    );
}

#[tokio::test]
async fn oversized_mcp_body_is_413() {
    let server = TestServer::with(|c| c.max_mcp_bytes = 1024);
    let token = sign(&server, &claims(&server));
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(4096)
    );
    assert_eq!(
        server.mcp(Some(&token), &big, &[]).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn stateless_2026_07_28_discover_and_call() {
    let server = TestServer::new();
    let token = sign(&server, &claims(&server));
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}"#;
    let discover = server
        .mcp(
            Some(&token),
            &format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{{{meta}}}}}"#
            ),
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "server/discover"),
            ],
        )
        .await;
    assert_eq!(discover.status, StatusCode::OK, "{}", discover.text());
    let versions = discover.json()["result"]["supportedVersions"].clone();
    assert!(
        versions.to_string().contains("2026-07-28"),
        "{}",
        discover.text()
    );
    let call = server
        .mcp(
            Some(&token),
            &format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"stateless"}},{meta}}}}}"#),
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "echo")],
        )
        .await;
    assert_eq!(call.status, StatusCode::OK, "{}", call.text());
    assert_eq!(call.json()["result"]["content"][0]["text"], "stateless");
}

#[tokio::test]
async fn every_handshake_version_negotiates_through_initialize() {
    let server = TestServer::new();
    let token = sign(&server, &claims(&server));
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        );
        let response = server
            .mcp(Some(&token), &body, &[("mcp-protocol-version", version)])
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{version}: {}",
            response.text()
        );
        let result = &response.json()["result"];
        assert_eq!(result["protocolVersion"], version);
        // The served server's own identity and capabilities (the hello example: tools only).
        assert_eq!(result["serverInfo"]["name"], "mcpctl-hello");
        assert!(
            result["capabilities"].get("tools").is_some(),
            "{version} lacks tools"
        );
        assert!(
            response.header("mcp-session-id").is_none(),
            "stateless: no session id"
        );
    }
    let unsupported = server
        .mcp(
            Some(&token),
            LIST,
            &[("mcp-protocol-version", "1999-01-01")],
        )
        .await;
    assert_eq!(unsupported.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_configured_name_version_and_instructions_reach_both_eras() {
    let server = TestServer::with(|c| {
        c.server_identity = mcpctl_handler::mcp::ServerIdentity {
            name: Some("notes".into()),
            title: Some("Team notes".into()),
            version: Some("1.4.0".into()),
            instructions: Some("Ask before deleting a note.".into()),
        }
    });
    let token = sign(&server, &claims(&server));
    let initialize = server
        .mcp(
            Some(&token),
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
            &[("mcp-protocol-version", "2025-11-25")],
        )
        .await;
    assert_eq!(initialize.status, StatusCode::OK, "{}", initialize.text());
    let result = &initialize.json()["result"];
    assert_eq!(result["serverInfo"]["name"], "notes", "{result}");
    assert_eq!(result["serverInfo"]["title"], "Team notes");
    assert_eq!(result["serverInfo"]["version"], "1.4.0");
    assert_eq!(result["instructions"], "Ask before deleting a note.");
    // The tools still come from the server underneath.
    assert!(result["capabilities"]["tools"].is_object(), "{result}");

    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}"#;
    let discover = server
        .mcp(
            Some(&token),
            &format!(
                r#"{{"jsonrpc":"2.0","id":2,"method":"server/discover","params":{{{meta}}}}}"#
            ),
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "server/discover"),
            ],
        )
        .await;
    assert_eq!(discover.status, StatusCode::OK, "{}", discover.text());
    let result = &discover.json()["result"];
    assert_eq!(
        result["instructions"], "Ask before deleting a note.",
        "{result}"
    );
    let info = &result["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert_eq!(info["name"], "notes", "{result}");
    assert_eq!(info["version"], "1.4.0");

    // Nothing configured: the server's own identity goes out unchanged.
    let plain = TestServer::new();
    let token = sign(&plain, &claims(&plain));
    let initialize = plain
        .mcp(
            Some(&token),
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
            &[("mcp-protocol-version", "2025-11-25")],
        )
        .await;
    assert_ne!(initialize.json()["result"]["serverInfo"]["name"], "notes");
}
