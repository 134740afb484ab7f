//! The official TypeScript and Python SDK clients do the whole OAuth flow against `mcpctl dev`:
//! discovery, registration, PKCE authorize, token, tools/list, tools/call, refresh, negatives,
//! and client_credentials with HTTP Basic.

use std::time::Duration;

use e2e::{DevServer, counts, require_harness, run_tool_with_env};

const ECHO_ARGS: &str = r#"{"text":"hello from the e2e test"}"#;

fn typescript(server: &DevServer, extra: &[&str]) {
    let url = server.mcp_url();
    let mut args = vec![
        "oauth-client-e2e.mjs",
        "--url",
        &url,
        "--mode",
        "both",
        "--expect-jwt",
        "--tool",
        "echo",
        "--tool-args",
        ECHO_ARGS,
    ];
    args.extend_from_slice(extra);
    let token = server.operator_token();
    let env = [("MCP_INITIAL_ACCESS_TOKEN", token.as_str())];
    let run = run_tool_with_env("node", &args, Duration::from_secs(180), &env);
    run.assert_clean("the TypeScript SDK client");
    let (passed, failed) =
        counts(run.last_line()).unwrap_or_else(|| panic!("no summary line: {}", run.last_line()));
    assert!(passed >= 90 && failed == 0, "{}", run.last_line());
}

fn python(server: &DevServer, extra: &[&str]) {
    let url = server.mcp_url();
    let mut args = vec![
        "oauth-client-e2e.py",
        "--url",
        &url,
        "--mode",
        "both",
        "--tool",
        "echo",
        "--tool-args",
        ECHO_ARGS,
    ];
    args.extend_from_slice(extra);
    let token = server.operator_token();
    let env = [("MCP_INITIAL_ACCESS_TOKEN", token.as_str())];
    let run = run_tool_with_env(".venv/bin/python", &args, Duration::from_secs(180), &env);
    run.assert_clean("the Python SDK client");
    let (passed, failed) =
        counts(run.last_line()).unwrap_or_else(|| panic!("no summary line: {}", run.last_line()));
    assert!(passed >= 14 && failed == 0, "{}", run.last_line());
}

#[test]
fn typescript_client_full_flow() {
    require_harness();
    typescript(&DevServer::start(&["--auto-approve"]), &[]);
}

#[test]
fn typescript_client_through_the_consent_page() {
    require_harness();
    typescript(&DevServer::start(&[]), &["--consent-submit"]);
}

#[test]
fn typescript_client_on_the_api_gateway_shape() {
    require_harness();
    typescript(
        &DevServer::start(&[
            "--auto-approve",
            "--base-path",
            "/prod",
            "--emulate-api-gateway",
        ]),
        &[],
    );
}

#[test]
fn python_client_full_flow() {
    require_harness();
    python(&DevServer::start(&["--auto-approve"]), &[]);
}

#[test]
fn python_client_on_the_api_gateway_shape() {
    require_harness();
    python(
        &DevServer::start(&[
            "--auto-approve",
            "--base-path",
            "/prod",
            "--emulate-api-gateway",
        ]),
        &[],
    );
}

#[test]
fn typescript_client_on_the_dynamodb_store() {
    require_harness();
    let moto = e2e::Moto::start();
    let server = DevServer::start(&[
        "--auto-approve",
        "--store",
        "dynamodb",
        "--dynamodb-endpoint",
        &moto.endpoint,
    ]);
    typescript(&server, &[]);
}

#[test]
fn python_client_on_the_dynamodb_store() {
    require_harness();
    let moto = e2e::Moto::start();
    let server = DevServer::start(&[
        "--auto-approve",
        "--store",
        "dynamodb",
        "--dynamodb-endpoint",
        &moto.endpoint,
    ]);
    python(&server, &[]);
}
