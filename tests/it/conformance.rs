//! The official MCP conformance suite against `mcpctl dev` serving `examples/everything` (its own
//! process, behind mcpctl's authorization server, as any user's crate): every scenario a
//! stateless server can pass passes; the rest are listed with a reason in `tests/harness/baselines/`.

use std::time::Duration;

use e2e::{DevServer, require_harness, run_tool_with_env, workspace};

fn suite(name: &str, server_args: &[&str]) {
    require_harness();
    let manifest = workspace().join("examples/everything/Cargo.toml");
    let manifest = manifest.display().to_string();
    let mut args = vec!["--manifest-path", manifest.as_str()];
    args.extend_from_slice(server_args);
    let server = DevServer::start(&args);
    let results =
        std::env::temp_dir().join(format!("mcpctl-conformance-{name}-{}", std::process::id()));
    let url = server.mcp_url();
    let results_arg = results.display().to_string();
    let token = server.operator_token();
    let run = run_tool_with_env(
        "./conformance.sh",
        &[name, &url, &results_arg],
        Duration::from_secs(420),
        &[("MCP_INITIAL_ACCESS_TOKEN", token.as_str())],
    );
    run.assert_clean(&format!("conformance suite `{name}`"));
}

#[test]
fn server_suite_0_1_16() {
    suite("server-stable", &["--auto-approve"]);
}

#[test]
fn server_suite_alpha_2025_11_25() {
    suite("server-next-2025-11-25", &["--auto-approve"]);
}

#[test]
fn server_suite_alpha_2026_07_28() {
    suite("server-next-2026-07-28", &["--auto-approve"]);
}

#[test]
fn authorization_suite() {
    suite("authorization", &["--auto-approve"]);
}

#[test]
fn authorization_suite_on_the_api_gateway_shape() {
    suite(
        "authorization",
        &[
            "--auto-approve",
            "--base-path",
            "/prod",
            "--emulate-api-gateway",
        ],
    );
}
