//! Gateway mode against a recording upstream on loopback: the client's token never leaves, the
//! upstream gets a verifiable identity assertion, Streamable HTTP passes through (JSON, SSE,
//! sessions, GET, DELETE), the policy in front holds, and every upstream failure is a JSON-RPC
//! error a client can read.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response as AxumResponse},
    routing::any,
};
use jsonwebtoken::{Algorithm, Validation};
use mcpctl_handler::gateway::{GatewayConfig, assertion::AssertionClaims};
use serde_json::{Value, json};

use crate::support::{START, TestServer};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn calls_of(&self, tool: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.body["params"]["name"] == tool)
            .count()
    }
}

fn json_answer(id: &Value, result: Value) -> AxumResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string(),
    )
        .into_response()
}

async fn upstream_mcp(
    State(upstream): State<Upstream>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> AxumResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    upstream.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if method == Method::GET {
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n",
        )
            .into_response();
    }
    if method == Method::DELETE {
        return StatusCode::NO_CONTENT.into_response();
    }
    let id = body["id"].clone();
    match (body["method"].as_str(), body["params"]["name"].as_str()) {
        (Some("initialize"), _) => {
            let mut response = json_answer(
                &id,
                json!({ "protocolVersion": "2025-11-25", "capabilities": { "tools": {} }, "serverInfo": { "name": "up", "version": "1" } }),
            );
            response
                .headers_mut()
                .insert("mcp-session-id", "session-1".parse().unwrap());
            // Never passed on: the client's authorization server is the gateway.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer resource_metadata=\"http://elsewhere\""
                    .parse()
                    .unwrap(),
            );
            response
        }
        (Some("tools/list"), _) => {
            let list = json!({ "jsonrpc": "2.0", "id": id, "result": { "tools": [
                { "name": "echo", "inputSchema": { "type": "object" } },
                { "name": "drop_tables", "inputSchema": { "type": "object" } }
            ] } });
            (
                [(header::CONTENT_TYPE, "text/event-stream")],
                format!("event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{{\"level\":\"info\",\"data\":\"listing\"}}}}\n\nevent: message\ndata: {list}\n\n"),
            )
                .into_response()
        }
        (Some("tools/call"), Some("slow")) => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            json_answer(&id, json!({ "content": [] }))
        }
        (Some("tools/call"), Some("html500")) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            "<h1>oops</h1>",
        )
            .into_response(),
        (Some("tools/call"), Some("refuse")) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response(),
        (Some("tools/call"), Some("big")) => json_answer(
            &id,
            json!({ "content": [{ "type": "text", "text": "x".repeat(20_000) }] }),
        ),
        (Some("tools/call"), Some(name)) => json_answer(
            &id,
            json!({ "content": [{ "type": "text", "text": format!("called {name}") }] }),
        ),
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

/// Starts the recording upstream; returns it and its `/mcp` URL.
async fn start_upstream() -> (Upstream, url::Url) {
    let upstream = Upstream::default();
    let app = Router::new()
        .route("/mcp", any(upstream_mcp))
        .with_state(upstream.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        upstream,
        url::Url::parse(&format!("http://{address}/mcp")).unwrap(),
    )
}

async fn gateway_with(adjust: impl FnOnce(&mut GatewayConfig)) -> (TestServer, Upstream, url::Url) {
    let (upstream, url) = start_upstream().await;
    let mut config = GatewayConfig::for_url(url.clone()).unwrap();
    adjust(&mut config);
    (TestServer::gateway(config).await.0, upstream, url)
}

/// A person's access token from the full code flow.
async fn person_token(server: &TestServer) -> String {
    let client = server.register_public().await;
    server.login(&client).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn call(id: u64, tool: &str) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": tool, "arguments": {} } }).to_string()
}

/// The claims of an assertion, verified with the gateway's own JWKS as an upstream fetches it;
/// its key is not one the server trusts for access tokens.
async fn verify_assertion(server: &TestServer, bearer: &str, audience: &str) -> AssertionClaims {
    let token = bearer.strip_prefix("Bearer ").unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("mcpctl-identity+jwt"));
    let kid = header.kid.as_deref().unwrap();
    assert!(
        server.state.keys.verifying.get(kid).is_none(),
        "the assertion was signed with a key that verifies access tokens"
    );
    let published = server
        .get("/.well-known/mcpctl-gateway-jwks.json", &[])
        .await;
    assert_eq!(published.status, StatusCode::OK);
    let keys = mcpctl_handler::keys::VerifyingKeys::from_jwks_json(&published.text()).unwrap();
    let key = keys
        .get(kid)
        .expect("the assertion's kid is in the gateway JWKS");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["http://127.0.0.1:8787"]);
    // The manual clock is in the future of the wall clock; time is checked against it below.
    validation.validate_exp = false;
    jsonwebtoken::decode::<AssertionClaims>(token, key, &validation)
        .expect("the assertion verifies with the gateway JWKS for the upstream's audience")
        .claims
}

#[tokio::test]
async fn the_upstream_gets_a_verifiable_assertion_and_never_the_clients_token() {
    let (server, upstream, url) = gateway_with(|_| {}).await;
    let token = person_token(&server).await;
    let response = server
        .mcp(
            Some(&token),
            &call(7, "echo"),
            &[
                ("cookie", "session=secret-cookie"),
                ("x-forwarded-for", "10.0.0.1"),
                ("mcp-method", "tools/call"),
                ("mcp-param-text", "hi"),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json()["result"]["content"][0]["text"],
        "called echo"
    );

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let headers = &seen[0].headers;
    for (name, value) in headers {
        let value = value.to_str().unwrap();
        assert!(
            !value.contains(&token),
            "the client's token reached the upstream in `{name}`"
        );
    }
    assert!(headers.get(header::COOKIE).is_none());
    assert!(headers.get("x-forwarded-for").is_none());
    assert_eq!(headers["mcp-protocol-version"], "2025-11-25");
    assert_eq!(headers["mcp-method"], "tools/call");
    // Mcp-Param-* could name what the guard never checked: it stays here.
    assert!(headers.get("mcp-param-text").is_none());
    let claims = verify_assertion(
        &server,
        headers[header::AUTHORIZATION].to_str().unwrap(),
        url.as_str(),
    )
    .await;
    assert_eq!(claims.sub, "dev-user");
    assert_eq!(claims.kind, mcpctl_handler::SubjectKind::Person);
    assert_eq!(claims.scope.split(' ').next(), Some("mcp"));
    assert_eq!((claims.iat, claims.exp), (START, START + 60));
    assert!(!claims.client_id.is_empty());
}

#[tokio::test]
async fn an_assertion_is_never_accepted_as_an_access_token() {
    let (server, upstream, url) = gateway_with(|_| {}).await;
    let token = person_token(&server).await;
    server.mcp(Some(&token), &call(1, "echo"), &[]).await;
    let assertion = upstream.seen()[0].headers[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    let replayed = server.mcp(Some(&assertion), &call(2, "echo"), &[]).await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replayed.text()
    );
    assert_eq!(upstream.seen().len(), 1, "the replay reached the upstream");
    let userinfo = server
        .get(
            "/oauth/userinfo",
            &[("authorization", &format!("Bearer {assertion}"))],
        )
        .await;
    assert_eq!(userinfo.status, StatusCode::UNAUTHORIZED);
    // Nor does a gateway accept being pointed at itself, which would make the audience ours.
    let mut looped = GatewayConfig::for_url(url).unwrap();
    looped.audience = "http://127.0.0.1:8787/mcp".into();
    assert!(looped.check_not_self("http://127.0.0.1:8787/mcp").is_err());
}

#[tokio::test]
async fn without_a_valid_token_nothing_reaches_the_upstream() {
    let (server, upstream, _) = gateway_with(|_| {}).await;
    let none = server.mcp(None, &call(1, "echo"), &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .contains("resource_metadata=")
    );
    let forged = server
        .mcp(Some("eyJhbGciOiJub25lIn0.e30."), &call(1, "echo"), &[])
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    for method in ["GET", "DELETE"] {
        let response = server.mcp_method(method, "not-a-token", &[]).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{method}");
    }
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn sessions_sse_get_and_delete_pass_through() {
    let (server, upstream, _) = gateway_with(|_| {}).await;
    let token = person_token(&server).await;
    let init = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } } });
    let response = server.mcp(Some(&token), &init.to_string(), &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("mcp-session-id").as_deref(),
        Some("session-1")
    );
    assert!(
        response.header("www-authenticate").is_none(),
        "the upstream's challenge leaked"
    );

    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string();
    let listed = server
        .mcp(Some(&token), &list, &[("mcp-session-id", "session-1")])
        .await;
    assert_eq!(
        listed.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    let text = listed.text();
    assert!(
        text.contains("notifications/message") && text.contains("drop_tables"),
        "{text}"
    );

    let stream = server
        .mcp_method(
            "GET",
            &token,
            &[("mcp-session-id", "session-1"), ("last-event-id", "41")],
        )
        .await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(stream.text().contains("list_changed"));
    let ended = server
        .mcp_method("DELETE", &token, &[("mcp-session-id", "session-1")])
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);

    let seen = upstream.seen();
    let methods: Vec<&Method> = seen.iter().map(|s| &s.method).collect();
    assert_eq!(
        methods,
        [&Method::POST, &Method::POST, &Method::GET, &Method::DELETE]
    );
    assert_eq!(seen[2].headers["last-event-id"], "41");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.headers["mcp-session-id"] == "session-1")
    );
    assert!(seen.iter().all(|s| {
        s.headers[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .starts_with("Bearer ey")
    }));
}

#[tokio::test]
async fn the_allow_list_hides_tools_and_refuses_their_calls() {
    let (server, upstream, _) = gateway_with(|g| g.expose(["echo"]).unwrap()).await;
    let token = person_token(&server).await;
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string();
    let text = server.mcp(Some(&token), &list, &[]).await.text();
    assert!(
        text.contains("\"echo\"") && text.contains("notifications/message"),
        "{text}"
    );
    assert!(!text.contains("drop_tables"), "{text}");

    let hidden = server.mcp(Some(&token), &call(9, "drop_tables"), &[]).await;
    assert_eq!(hidden.status, StatusCode::OK);
    assert_eq!(hidden.json()["error"]["code"], -32602);
    assert_eq!(hidden.json()["id"], 9);
    let batch = format!("[{},{}]", call(1, "echo"), call(2, "drop_tables"));
    assert_eq!(
        server.mcp(Some(&token), &batch, &[]).await.json()["error"]["code"],
        -32602
    );
    // A batch that only lists is refused too: its answer could not be filtered safely.
    let listing = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;
    let refused = server.mcp(Some(&token), listing, &[]).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
    assert!(!refused.text().contains("drop_tables"));
    // An allow-list closes the GET stream, which a resumed stream could use to replay a list.
    assert_eq!(
        server.mcp_method("GET", &token, &[]).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(upstream.calls_of("drop_tables"), 0);
    assert_eq!(
        upstream.calls_of("echo"),
        0,
        "a batch with a hidden call went upstream"
    );
}

#[tokio::test]
async fn a_tool_scope_from_the_map_gets_the_step_up_challenge_first() {
    let (server, upstream, _) = gateway_with(|g| {
        g.require_scope("save_note".into(), "notes:write".into())
            .unwrap();
    })
    .await;
    let token = person_token(&server).await;
    let refused = server.mcp(Some(&token), &call(1, "save_note"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains("notes:write"),
        "{challenge}"
    );
    assert_eq!(upstream.calls_of("save_note"), 0);
    assert_eq!(
        server.mcp(Some(&token), &call(2, "echo"), &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn upstream_failures_become_json_rpc_errors_with_the_request_id() {
    let (server, _upstream, _) = gateway_with(|g| {
        g.timeout = Duration::from_millis(500);
        g.max_response_bytes = 10_000;
    })
    .await;
    let token = person_token(&server).await;
    for (tool, status, needle) in [
        (
            "slow",
            StatusCode::GATEWAY_TIMEOUT,
            "did not answer within 500 ms",
        ),
        ("html500", StatusCode::BAD_GATEWAY, "failed (500"),
        (
            "refuse",
            StatusCode::BAD_GATEWAY,
            "refused the gateway's identity assertion",
        ),
        (
            "big",
            StatusCode::BAD_GATEWAY,
            "larger than this server passes on",
        ),
    ] {
        let response = server.mcp(Some(&token), &call(42, tool), &[]).await;
        assert_eq!(response.status, status, "{tool}: {}", response.text());
        let body = response.json();
        assert_eq!(body["id"], 42, "{tool}");
        assert_eq!(body["error"]["code"], -32603, "{tool}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{tool}: {body}"
        );
        assert!(response.header("www-authenticate").is_none(), "{tool}");
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config =
        GatewayConfig::for_url(url::Url::parse(&format!("http://127.0.0.1:{port}/mcp")).unwrap())
            .unwrap();
    let server = TestServer::gateway(config).await.0;
    let token = person_token(&server).await;
    let response = server.mcp(Some(&token), &call(3, "echo"), &[]).await;
    assert_eq!(response.status, StatusCode::BAD_GATEWAY);
    assert_eq!(response.json()["id"], 3);
    assert!(
        response.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
}

#[tokio::test]
async fn calls_past_the_concurrency_limit_are_told_to_retry() {
    let (server, upstream, _) = gateway_with(|g| g.max_concurrency = 1).await;
    let server = Arc::new(server);
    let token = person_token(&server).await;
    let slow = {
        let (server, token) = (server.clone(), token.clone());
        tokio::spawn(async move { server.mcp(Some(&token), &call(1, "slow"), &[]).await })
    };
    while upstream.calls_of("slow") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = server.mcp(Some(&token), &call(2, "echo"), &[]).await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.header("retry-after").as_deref(), Some("1"));
    assert_eq!(busy.json()["id"], 2);
    assert_eq!(slow.await.unwrap().status, StatusCode::OK);
    assert_eq!(
        server.mcp(Some(&token), &call(3, "echo"), &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_host_without_get_streams_answers_405_without_calling_upstream() {
    let (server, upstream, _) = gateway_with(|g| g.forward_get = false).await;
    let token = person_token(&server).await;
    let response = server.mcp_method("GET", &token, &[]).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn an_assertion_is_reused_while_it_has_half_its_life_left_and_never_across_tokens() {
    let (server, upstream, _) = gateway_with(|_| {}).await;
    let token = person_token(&server).await;
    let other = person_token(&server).await;
    let bearer = |i: usize| upstream.seen()[i].headers[header::AUTHORIZATION].clone();
    server.mcp(Some(&token), &call(1, "echo"), &[]).await;
    server.mcp(Some(&token), &call(2, "echo"), &[]).await;
    assert_eq!(bearer(0), bearer(1));
    server.mcp(Some(&other), &call(3, "echo"), &[]).await;
    assert_ne!(
        bearer(1),
        bearer(2),
        "another token got the first token's assertion"
    );
    server.clock.advance(31);
    server.mcp(Some(&token), &call(4, "echo"), &[]).await;
    assert_ne!(
        bearer(0),
        bearer(3),
        "an assertion with under 30 s left was reused"
    );
}

#[tokio::test]
async fn headers_that_disagree_with_the_body_are_refused_before_the_upstream() {
    let (server, upstream, _) = gateway_with(|g| g.expose(["echo"]).unwrap()).await;
    let token = person_token(&server).await;
    for extra in [
        [("mcp-method", "tools/list"), ("mcp-name", "echo")],
        [("mcp-method", "tools/call"), ("mcp-name", "drop_tables")],
    ] {
        let response = server.mcp(Some(&token), &call(1, "echo"), &extra).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{extra:?}: {}",
            response.text()
        );
        assert_eq!(response.json()["error"]["code"], -32600);
    }
    let get = server
        .mcp_method("DELETE", &token, &[("mcp-name", "drop_tables")])
        .await;
    assert_eq!(get.status, StatusCode::BAD_REQUEST);
    assert!(upstream.seen().is_empty());
    let agreeing = server
        .mcp(
            Some(&token),
            &call(2, "echo"),
            &[("mcp-method", "tools/call"), ("mcp-name", "echo")],
        )
        .await;
    assert_eq!(agreeing.status, StatusCode::OK);
    assert_eq!(
        agreeing.header("cache-control").as_deref(),
        Some("no-store")
    );
}

#[tokio::test]
async fn head_is_refused_and_get_and_delete_send_no_body_upstream() {
    let (server, upstream, _) = gateway_with(|_| {}).await;
    let token = person_token(&server).await;
    assert_eq!(
        server.mcp_method("HEAD", &token, &[]).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let request = axum::http::Request::delete("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from("x".repeat(10_000)))
        .unwrap();
    assert_eq!(server.send(request).await.status, StatusCode::NO_CONTENT);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::DELETE);
    assert_eq!(seen[0].body, Value::Null, "a DELETE body went upstream");
}
