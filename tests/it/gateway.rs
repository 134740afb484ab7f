//! Gateway mode with real servers in other languages: a FastMCP (Python) server and a
//! TypeScript SDK server behind `mcpctl dev --upstream`, reached by the official TypeScript and
//! Python SDK clients through the whole OAuth flow, including a call that streams progress.
//! The upstreams verify the gateway's identity assertion with our JWKS and record every
//! `Authorization` header they get: only assertions, never a client's access token.

use std::time::Duration;

use e2e::{DevServer, McpUpstream, UpstreamKind, counts, require_harness, run_tool_with_env};
use jsonwebtoken::{Algorithm, Validation};
use mcpctl_handler::{gateway::assertion::AssertionClaims, keys::VerifyingKeys};
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// `mcpctl dev` on a port chosen first, so the upstream can be told the issuer before either
/// starts, in front of `kind`.
fn gateway(kind: UpstreamKind, extra: &[&str]) -> (DevServer, McpUpstream) {
    require_harness();
    let port = free_port().to_string();
    let issuer = format!("http://127.0.0.1:{port}");
    let upstream = McpUpstream::start(kind, &issuer, "self", extra);
    let dev = DevServer::start(&[
        "--port",
        &port,
        "--auto-approve",
        "--upstream",
        &upstream.url,
    ]);
    assert_eq!(dev.issuer(), issuer);
    assert_eq!(dev.ready["upstream"]["audience"], upstream.url.as_str());
    (dev, upstream)
}

/// Runs an official SDK client (`program script`, `extra` flags) through the whole flow in both
/// modes, with a call that must stream 3 progress notifications; its pass and fail counts.
fn sdk_client(dev: &DevServer, program: &str, script: &str, extra: &[&str]) -> (u32, u32) {
    let url = dev.mcp_url();
    let token = dev.operator_token();
    let mut args = vec![script, "--url", &url, "--mode", "both"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--tool",
        "echo",
        "--tool-args",
        r#"{"text":"through the gateway"}"#,
        "--progress-tool",
        "count",
        "--progress-args",
        r#"{"steps":3}"#,
        "--min-progress",
        "3",
    ]);
    let run = run_tool_with_env(
        program,
        &args,
        Duration::from_secs(180),
        &[("MCP_INITIAL_ACCESS_TOKEN", token.as_str())],
    );
    run.assert_clean(&format!("{script} through the gateway"));
    counts(run.last_line()).unwrap_or_else(|| panic!("no summary line: {}", run.last_line()))
}

fn typescript_client(dev: &DevServer) -> (u32, u32) {
    sdk_client(dev, "node", "oauth-client-e2e.mjs", &["--expect-jwt"])
}

fn python_client(dev: &DevServer) -> (u32, u32) {
    sdk_client(dev, ".venv/bin/python", "oauth-client-e2e.py", &[])
}

/// Every `Authorization` the upstream received is an identity assertion that verifies with the
/// dev server's JWKS for the upstream's own URL; returns their claims.
async fn assertions_seen(dev: &DevServer, upstream: &McpUpstream) -> Vec<AssertionClaims> {
    let jwks = reqwest::get(format!(
        "{}/.well-known/mcpctl-gateway-jwks.json",
        dev.issuer()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let keys = VerifyingKeys::from_jwks_json(&jwks).unwrap();
    let records = upstream.records();
    assert!(!records.is_empty(), "the upstream recorded no request");
    let mut claims = Vec::new();
    for record in &records {
        let Some(bearer) = record["authorization"].as_str() else {
            panic!("a request reached the upstream without the assertion: {record}");
        };
        let token = bearer
            .strip_prefix("Bearer ")
            .unwrap_or_else(|| panic!("{record}"));
        let header = jsonwebtoken::decode_header(token).unwrap();
        // An access token says `at+jwt`: this one would be the client's token passed through.
        assert_eq!(
            header.typ.as_deref(),
            Some("mcpctl-identity+jwt"),
            "{record}"
        );
        let key = keys.get(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[upstream.url.as_str()]);
        validation.set_issuer(&[dev.issuer().as_str()]);
        let decoded = jsonwebtoken::decode::<AssertionClaims>(token, key, &validation)
            .unwrap_or_else(|e| panic!("{record}: {e}"));
        assert_eq!(decoded.claims.exp - decoded.claims.iat, 60);
        claims.push(decoded.claims);
    }
    claims
}

async fn both_clients_through(kind: UpstreamKind, extra: &[&str]) {
    let (dev, upstream) = gateway(kind, extra);
    let (passed, failed) = typescript_client(&dev);
    assert!(
        passed >= 95 && failed == 0,
        "TypeScript client: {passed} passed, {failed} failed"
    );
    let (passed, failed) = python_client(&dev);
    assert!(
        passed >= 15 && failed == 0,
        "Python client: {passed} passed, {failed} failed"
    );
    let claims = assertions_seen(&dev, &upstream).await;
    // Both clients ran the person flow and the machine flow: the upstream knew which was which.
    let people = claims
        .iter()
        .filter(|c| c.kind == mcpctl_handler::SubjectKind::Person)
        .count();
    let machines = claims.len() - people;
    assert!(
        people > 0 && machines > 0,
        "{people} person and {machines} machine assertions"
    );
    assert!(
        claims
            .iter()
            .filter(|c| c.kind == mcpctl_handler::SubjectKind::Person)
            .all(|c| c.sub == "dev-user")
    );
    // `mcpctl smoke-test` passes through the gateway, calling the upstream's echo and a tool named.
    for extra in [
        &[][..],
        &["--tool", "count", "--tool-args", r#"{"steps":1}"#][..],
    ] {
        let url = dev.mcp_url();
        let mut args = vec![
            "smoke-test",
            "--url",
            url.as_str(),
            "--repeat",
            "1",
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = e2e::mcpctl(&args, &[]);
        assert_eq!(code, Some(0), "smoke-test {extra:?}: {stdout}\n{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["failed"], 0, "{report}");
    }
    // No body in the log.
    let logs = dev.logs();
    assert!(
        !logs.contains("through the gateway"),
        "a request body reached the log"
    );
}

#[tokio::test]
async fn sdk_clients_reach_a_fastmcp_server_through_the_gateway() {
    both_clients_through(UpstreamKind::FastMcp, &[]).await;
}

#[tokio::test]
async fn sdk_clients_reach_a_stateful_typescript_server_through_the_gateway() {
    both_clients_through(UpstreamKind::TypeScript, &[]).await;
}

#[tokio::test]
async fn a_hidden_tool_is_neither_listed_nor_called_and_a_scoped_one_needs_its_scope() {
    let port = free_port().to_string();
    let issuer = format!("http://127.0.0.1:{port}");
    let upstream = McpUpstream::start(UpstreamKind::FastMcp, &issuer, "self", &["--stateless"]);
    let dev = DevServer::start(&[
        "--port",
        &port,
        "--auto-approve",
        "--upstream",
        &upstream.url,
        "--expose-tool",
        "echo",
        "--expose-tool",
        "count",
        "--tool-scope",
        "count=counting",
    ]);
    let prm: Value = reqwest::get(format!("{issuer}/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        prm["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "counting"),
        "{prm}"
    );
    let url = dev.mcp_url();
    let token = dev.operator_token();
    // The TS client steps up for `count` (403 insufficient_scope, then a new authorization).
    let run = run_tool_with_env(
        "node",
        &[
            "oauth-client-e2e.mjs",
            "--url",
            &url,
            "--mode",
            "auth_code",
            "--tool",
            "echo",
            "--tool-args",
            r#"{"text":"x"}"#,
            "--step-up-tool",
            "count",
            "--step-up-args",
            r#"{"steps":1}"#,
        ],
        Duration::from_secs(180),
        &[("MCP_INITIAL_ACCESS_TOKEN", token.as_str())],
    );
    run.assert_clean("the TypeScript SDK client stepping up through the gateway");
    let (_, failed) = counts(run.last_line()).unwrap();
    assert_eq!(failed, 0, "{}", run.last_line());
    let logs = dev.logs_with("insufficient_scope");
    assert!(logs.contains("insufficient_scope"), "{logs}");

    // whoami is hidden: not listed, and a call never reaches the upstream.
    let machine = machine_token(&dev, "mcp").await;
    let list = mcp_post(
        &url,
        &machine,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert!(
        list.contains("\"echo\"") && list.contains("\"count\""),
        "{list}"
    );
    assert!(!list.contains("whoami"), "{list}");
    let before = upstream.records().len();
    let hidden = mcp_post(
        &url,
        &machine,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#,
    )
    .await;
    assert!(
        hidden.contains("-32602") && hidden.contains("Unknown tool"),
        "{hidden}"
    );
    assert_eq!(
        upstream.records().len(),
        before,
        "the hidden tool's call reached the upstream"
    );
}

/// A machine client's token: registered with the operator token (RFC 7591 §3), then
/// client_credentials with HTTP Basic.
async fn machine_token(dev: &DevServer, scope: &str) -> String {
    let http = reqwest::Client::new();
    let registered: Value = http
        .post(format!("{}/dcr", dev.issuer()))
        .bearer_auth(dev.operator_token())
        .json(&serde_json::json!({
            "client_name": "gateway test machine",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": scope
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"));
    let secret = registered["client_secret"].as_str().unwrap();
    let token: Value = http
        .post(format!("{}/oauth/token", dev.issuer()))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"))
        .to_owned()
}

/// `POST /mcp` with `body`; the answer's text (JSON or SSE).
async fn mcp_post(url: &str, token: &str, body: &str) -> String {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The JSON-RPC messages of a body that is JSON or SSE, in order.
fn messages(body: &str) -> Vec<Value> {
    if let Ok(one) = serde_json::from_str::<Value>(body) {
        return vec![one];
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// The assertion of the upstream's first `/mcp` request.
fn mcp_records_assertion(app: &McpUpstream) -> String {
    app.records()
        .iter()
        .filter(|r| r["path"] == "/mcp")
        .find_map(|r| {
            r["authorization"]
                .as_str()
                .map(|b| b.trim_start_matches("Bearer ").to_owned())
        })
        .unwrap()
}

/// The real AWS Lambda Web Adapter (crates.io `lambda_web_adapter`, built by install.sh).
fn web_adapter() -> std::path::PathBuf {
    let bin = e2e::harness().join(".lwa/bin/lambda-adapter");
    assert!(
        bin.exists(),
        "{} is missing: run tests/harness/install.sh (tests/run.sh does), which builds the pinned lambda_web_adapter",
        bin.display()
    );
    bin
}

/// The stack's gateway as Lambda runs it: the `bootstrap` MCP function with `upstream.function`,
/// invoking (through the Lambda API) a FastMCP server behind the real Lambda Web Adapter, each
/// under its own runtime emulator. Nothing public in between: the function has no URL.
#[tokio::test]
async fn the_lambda_gateway_invokes_a_fastmcp_function_behind_the_web_adapter() {
    use crate::lambda_emulator::{Function, Stack, issuer};
    require_harness();
    let adapter = web_adapter();
    let stack = Stack::create().await;
    let (mut env, gateway_jwks) = stack.gateway_env().await;
    // The upstream trusts the assertion key only, never the access tokens' JWKS.
    assert_ne!(gateway_jwks, stack.jwks());
    let jwks_url = e2e::serve_json_forever(gateway_jwks);
    let audience = "lambda:mcpctl-emulator-upstream";
    let app = McpUpstream::start_with_jwks(
        UpstreamKind::FastMcp,
        &issuer(),
        audience,
        &jwks_url,
        &["--stateless"],
    );
    let app_port = app
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/mcp")
        .to_owned();
    let upstream = Function::start_binary(
        &adapter,
        "mcpctl-emulator-upstream",
        &[("AWS_LWA_PORT", app_port), ("RUST_LOG", "warn".into())],
    );
    env.extend([
        ("MCP_UPSTREAM_FUNCTION", "bootstrap".to_owned()),
        ("MCP_UPSTREAM_AUDIENCE", audience.to_owned()),
        ("AWS_ENDPOINT_URL_LAMBDA", upstream.lambda_endpoint()),
    ]);
    let gateway = Function::start("mcpctl-emulator-gateway", &env);
    let token = stack.person_token("mcp");

    let (status, _, body) = gateway
        .mcp_call(&token, "whoami", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{body}\n{}", gateway.output());
    let answer = messages(&body).pop().unwrap();
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    let who: Value = serde_json::from_str(text).unwrap();
    assert_eq!(who["sub"], "emulated-user");
    assert_eq!(who["aud"], audience);
    assert_eq!(who["kind"], "person");

    // A streamed call: the progress notifications arrive (buffered by the Lambda host) before the
    // result, in order.
    let call = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"count","arguments":{"steps":3},"_meta":{"progressToken":"p-1"}}}"#;
    let (status, _, body) = gateway.mcp_request(&token, call).await;
    assert_eq!(status, 200, "{body}");
    let all = messages(&body);
    let progress = all
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert_eq!(progress, 3, "{body}");
    assert_eq!(all.last().unwrap()["id"], 5, "{body}");

    // The upstream saw assertions only, never the access token (the web adapter's own readiness
    // check, `GET /`, is the only other request).
    let mcp_records: Vec<Value> = app
        .records()
        .into_iter()
        .filter(|r| r["path"] == "/mcp")
        .collect();
    assert!(mcp_records.len() >= 2, "{mcp_records:?}");
    for record in mcp_records {
        let bearer = record["authorization"]
            .as_str()
            .unwrap_or_else(|| panic!("{record}"));
        assert!(
            !bearer.contains(&token),
            "the client's token reached the upstream"
        );
        let header = jsonwebtoken::decode_header(bearer.trim_start_matches("Bearer ")).unwrap();
        assert_eq!(header.typ.as_deref(), Some("mcpctl-identity+jwt"));
    }

    // An upstream that replays its assertion at the gateway gets 401: the key is not one the
    // stack trusts for access tokens.
    let replayed = mcp_records_assertion(&app);
    let (status, _, body) = gateway
        .mcp_call(&replayed, "whoami", serde_json::json!({}))
        .await;
    assert_eq!(status, 401, "{body}");

    // With the upstream's server gone, the client gets a JSON-RPC error, not a hang or a crash.
    drop(app);
    let (status, _, body) = gateway
        .mcp_call(&token, "echo", serde_json::json!({ "text": "x" }))
        .await;
    assert_eq!(status, 502, "{body}");
    let error = messages(&body).pop().unwrap();
    assert_eq!(error["error"]["code"], -32603, "{error}");
    assert_eq!(error["id"], 1, "{error}");
    drop(upstream);
}

/// `mcpctl new --gateway`: the crate's own FastMCP server runs as its README says, `mcpctl dev`
/// inside the crate puts the gateway in front of it, and a real client signs in and calls its
/// tools (with progress); its stages render the upstream function offline.
#[tokio::test]
async fn a_gateway_crate_from_mcpctl_new_serves_its_fastmcp_server_through_mcpctl_dev() {
    use std::process::{Command, Stdio};
    require_harness();
    let parent = std::env::temp_dir().join(format!("mcpctl-gateway-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).unwrap();
    let repo = e2e::workspace()
        .canonicalize()
        .unwrap()
        .display()
        .to_string();
    let (code, stdout, stderr) = e2e::mcpctl_in(
        &parent,
        &[
            "new",
            "gw-demo",
            "--gateway",
            "--path",
            &repo,
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "mcpctl new --gateway failed: {stderr}");
    let created: Value = serde_json::from_str(&stdout).unwrap();
    let root = std::path::PathBuf::from(created["created"].as_str().unwrap());

    // Without --upstream, `mcpctl dev` says how to run a gateway crate locally.
    let (code, _, stderr) = e2e::mcpctl_in(&root, &["dev", "--port", "0"], &[]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("--upstream http://127.0.0.1:PORT/mcp"),
        "{stderr}"
    );

    // The crate's server, started as its README shows.
    let dev_port = free_port().to_string();
    let app_port = free_port().to_string();
    let issuer = format!("http://127.0.0.1:{dev_port}");
    let upstream_url = format!("http://127.0.0.1:{app_port}/mcp");
    let mut server = Command::new(e2e::harness().join(".venv/bin/python"))
        .arg("server.py")
        .current_dir(root.join("upstream"))
        .env("MCP_GATEWAY_ISSUER", &issuer)
        .env("MCP_GATEWAY_AUDIENCE", &upstream_url)
        .env(
            "MCP_GATEWAY_JWKS_URL",
            format!("{issuer}/.well-known/mcpctl-gateway-jwks.json"),
        )
        .env("PORT", &app_port)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", app_port.parse::<u16>().unwrap())).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "upstream/server.py did not listen on {app_port}"
        );
        assert!(
            server.try_wait().unwrap().is_none(),
            "upstream/server.py exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dev = DevServer::start_in(
        &root,
        &[
            "--port",
            &dev_port,
            "--auto-approve",
            "--upstream",
            &upstream_url,
        ],
        &[],
    );
    let url = dev.mcp_url();
    let run = run_tool_with_env(
        "node",
        &[
            "oauth-client-e2e.mjs",
            "--url",
            &url,
            "--mode",
            "auth_code",
            "--tool",
            "hello",
            "--tool-args",
            "{}",
            "--progress-tool",
            "count",
            "--progress-args",
            r#"{"steps":2}"#,
            "--min-progress",
            "2",
        ],
        Duration::from_secs(180),
        &[],
    );
    let _ = server.kill();
    let _ = server.wait();
    run.assert_clean("the TypeScript SDK client through a gateway crate");
    let (passed, failed) = counts(run.last_line()).unwrap();
    assert!(passed > 0 && failed == 0, "{}", run.last_line());

    // Its stages deploy the server as the upstream function (rendered offline).
    let (code, template, stderr) = e2e::mcpctl_in(&root, &["render", "--stage", "prod"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        template.contains("UpstreamFunction") && template.contains("python3.12"),
        "{template}"
    );
    let _ = std::fs::remove_dir_all(&parent);
}
