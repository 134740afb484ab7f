//! `mcpctl doctor` against `mcpctl dev` (plain, and in API Gateway's shape), and against a
//! rewriting proxy in front of it that breaks one thing at a time: each break must be named by
//! its check, with the fix, and nothing else may fail.

use std::time::{Duration, Instant};

use e2e::{
    DevServer,
    breaking_proxy::{Break, BreakingProxy},
    mcpctl,
};
use serde_json::Value;

fn report(code: Option<i32>, stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("exit {code:?}, not JSON ({e}): {stdout}\n{stderr}"))
}

/// The check `id` of a report.
fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check `{id}` in {report:#}"))
}

fn ids_with(report: &Value, status: &str) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn assert_status(report: &Value, id: &str, status: &str) {
    assert_eq!(check(report, id)["status"], status, "{id}: {report:#}");
}

/// Runs doctor through a proxy that applies `mode` to a fresh `mcpctl dev`, with the dev
/// server's operator token; returns the exit code and the JSON report.
fn doctor_through(mode: Break) -> (Option<i32>, Value) {
    let (listener, public) = BreakingProxy::reserve();
    let server = DevServer::start(&["--public-url", &public]);
    let _proxy = BreakingProxy::start(listener, &server.origin(), mode);
    let url = format!("{public}/mcp");
    let token = server.operator_token();
    let (code, stdout, stderr) = mcpctl(
        &["doctor", &url, "--output", "json"],
        &[("MCPCTL_INITIAL_ACCESS_TOKEN", &token)],
    );
    let report = report(code, &stdout, &stderr);
    assert_eq!(report["mcp_url"], url.as_str());
    (code, report)
}

#[test]
fn doctor_finds_no_failure_on_plain_dev_and_leaves_no_client_behind() {
    let server = DevServer::start(&[]);
    let url = server.mcp_url();
    let (code, stdout, stderr) = mcpctl(&["doctor", &url, "--output", "json"], &[]);
    let report = report(code, &stdout, &stderr);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["failed"], 0, "{report:#}");
    for id in [
        "challenge",
        "prm",
        "issuer",
        "cimd",
        "dcr",
        "custom-domain",
        "cors",
        "latency",
        "protocol-eras",
        "cleanup",
    ] {
        assert_status(&report, id, "pass");
    }
    // Loopback http is fine for local development only.
    let tls = check(&report, "tls");
    assert_eq!(tls["status"], "warn");
    assert!(text(&tls["detail"]).contains("fine for local dev"), "{tls}");
    assert!(text(&tls["fix"]).contains("--public-url"), "{tls}");
    assert!(
        tls["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "claude.ai / Claude Desktop"),
        "{tls}"
    );
    assert_eq!(ids_with(&report, "warn"), vec!["tls".to_owned()]);
    let dcr = text(&check(&report, "dcr")["detail"]);
    for client in [
        "Claude Code",
        "ChatGPT",
        "Cursor",
        "VS Code",
        "MCP Inspector",
    ] {
        assert!(dcr.contains(client), "{dcr}");
    }
    assert!(
        text(&check(&report, "protocol-eras")["detail"]).contains("2026-07-28"),
        "{report:#}"
    );
    assert!(text(&check(&report, "cleanup")["detail"]).contains("deleted the 7 clients"));
    for finding in report["checks"].as_array().unwrap() {
        if finding["status"] == "pass" {
            assert!(finding["fix"].is_null(), "{finding}");
        }
    }
    assert!(check(&report, "challenge")["latency_ms"].as_f64().unwrap() > 0.0);

    // Every client doctor registered is gone again.
    let (code, stdout, stderr) =
        mcpctl(&["clients", "--url", &url, "list", "--output", "json"], &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        serde_json::json!([])
    );

    // For people: the table, then the fixes, then the counts.
    let (code, stdout, _) = mcpctl(&["doctor", &url], &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("check") && stdout.contains("status") && stdout.contains("latency"),
        "{stdout}"
    );
    assert!(stdout.contains("\nfixes:\n- tls [WARN]"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("1 warned, 0 failed, 0 skipped"),
        "{stdout}"
    );
}

#[test]
fn doctor_finds_no_failure_behind_the_emulated_api_gateway() {
    let server = DevServer::start(&["--base-path", "/prod", "--emulate-api-gateway"]);
    let url = server.mcp_url();
    let (code, stdout, stderr) = mcpctl(&["doctor", &url, "--output", "json"], &[]);
    let report = report(code, &stdout, &stderr);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["failed"], 0, "{report:#}");
    // The challenge comes from the authorizer's gateway response, unrenamed.
    assert_status(&report, "challenge", "pass");
    // The RFC 9728 location is outside the stage: API Gateway's own 403.
    let prm = check(&report, "prm");
    assert_eq!(prm["status"], "warn", "{prm}");
    assert!(text(&prm["detail"]).contains("outside the stage"), "{prm}");
    assert!(
        text(&prm["fix"]).contains("api.custom_domain.domain_name"),
        "{prm}"
    );
    // OpenID discovery under the stage is where clients find the issuer.
    let issuer = check(&report, "issuer");
    assert_eq!(issuer["status"], "pass", "{issuer}");
    assert!(text(&issuer["detail"]).contains("/prod/.well-known/openid-configuration"));
    for id in ["cimd", "dcr", "cors", "latency", "protocol-eras", "cleanup"] {
        assert_status(&report, id, "pass");
    }
}

#[test]
fn doctor_names_a_renamed_challenge() {
    let (code, report) = doctor_through(Break::RenamedChallenge);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(ids_with(&report, "fail"), vec!["challenge".to_owned()]);
    let challenge = check(&report, "challenge");
    assert!(
        text(&challenge["detail"]).contains("x-amzn-Remapped-WWW-Authenticate"),
        "{challenge}"
    );
    assert!(
        text(&challenge["fix"]).contains("UNAUTHORIZED gateway response"),
        "{challenge}"
    );
    assert!(
        text(&challenge["fix"]).contains("UnauthorizedResponse"),
        "{challenge}"
    );
    // The challenge still named the metadata, so the rest was checked and is fine.
    assert_status(&report, "prm", "pass");
    assert_status(&report, "protocol-eras", "pass");
}

#[test]
fn doctor_names_a_wrong_resource() {
    let (code, report) = doctor_through(Break::WrongResource);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(ids_with(&report, "fail"), vec!["prm".to_owned()]);
    let prm = check(&report, "prm");
    assert!(
        text(&prm["detail"]).contains("https://elsewhere.example/mcp"),
        "{prm}"
    );
    assert!(text(&prm["detail"]).contains("RFC 9728 §3.3"), "{prm}");
    assert!(text(&prm["fix"]).contains("--public-url"), "{prm}");
}

#[test]
fn doctor_names_an_issuer_mismatch() {
    let (code, report) = doctor_through(Break::IssuerMismatch);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(ids_with(&report, "fail"), vec!["issuer".to_owned()]);
    let issuer = check(&report, "issuer");
    assert!(text(&issuer["detail"]).contains("/elsewhere"), "{issuer}");
    assert!(
        text(&issuer["detail"]).contains("RFC 8414 §3.3"),
        "{issuer}"
    );
    assert!(text(&issuer["fix"]).contains("`issuer`"), "{issuer}");
}

#[test]
fn doctor_names_cimd_without_the_none_method() {
    let (code, report) = doctor_through(Break::CimdWithoutNone);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(ids_with(&report, "fail"), vec!["cimd".to_owned()]);
    let cimd = check(&report, "cimd");
    let clients: Vec<&str> = cimd["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert!(clients.contains(&"claude.ai / Claude Desktop"), "{cimd}");
    assert!(clients.contains(&"Claude Code"), "{cimd}");
    assert!(
        text(&cimd["fix"]).contains("add `none` to `token_endpoint_auth_methods_supported`"),
        "{cimd}"
    );
}

#[test]
fn doctor_names_a_registration_that_refuses_cursor() {
    let (code, report) = doctor_through(Break::RefuseCursor);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(ids_with(&report, "fail"), vec!["dcr".to_owned()]);
    let dcr = check(&report, "dcr");
    assert_eq!(dcr["clients"], serde_json::json!(["Cursor"]), "{dcr}");
    assert!(
        text(&dcr["detail"]).contains("invalid_redirect_uri"),
        "{dcr}"
    );
    assert!(text(&dcr["fix"]).contains("`cursor://`"), "{dcr}");
    assert!(
        text(&dcr["fix"]).contains("oauth.redirect_schemes"),
        "{dcr}"
    );
    // The clients that did register are deleted all the same.
    let cleanup = check(&report, "cleanup");
    assert_eq!(cleanup["status"], "pass", "{cleanup}");
    assert!(
        text(&cleanup["detail"]).contains("deleted the 6 clients"),
        "{cleanup}"
    );
}

#[test]
fn doctor_warns_about_missing_cors_headers() {
    let (code, report) = doctor_through(Break::NoCors);
    // Desktop clients need no CORS: a warning, not a failure.
    assert_eq!(code, Some(0), "{report:#}");
    assert!(ids_with(&report, "fail").is_empty(), "{report:#}");
    let cors = check(&report, "cors");
    assert_eq!(cors["status"], "warn", "{cors}");
    assert_eq!(cors["clients"], serde_json::json!(["MCP Inspector"]));
    assert!(
        text(&cors["detail"]).contains("http://localhost:6274"),
        "{cors}"
    );
    assert!(text(&cors["fix"]).contains("api.allowed_origins"), "{cors}");
    assert!(
        text(&cors["fix"]).contains("--allow-origin http://localhost:6274"),
        "{cors}"
    );
}

#[test]
fn doctor_fails_a_token_endpoint_slower_than_claude_waits() {
    let start = Instant::now();
    let (code, report) = doctor_through(Break::SlowToken(Duration::from_secs(11)));
    // Doctor gives up at the longest budget (Claude's 10 s) instead of waiting for the answer.
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(ids_with(&report, "fail"), vec!["latency".to_owned()]);
    let latency = check(&report, "latency");
    assert!(
        text(&latency["detail"]).contains("token: no answer within 10"),
        "{latency}"
    );
    let clients: Vec<&str> = latency["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert!(
        clients.contains(&"Claude Code") && clients.contains(&"claude.ai / Claude Desktop"),
        "{latency}"
    );
    assert!(
        text(&latency["fix"]).contains("lambda.memory_mb"),
        "{latency}"
    );
    assert!(
        latency["latency_ms"].as_f64().unwrap() >= 10_000.0,
        "{latency}"
    );
}

#[test]
fn doctor_warns_about_a_server_of_the_2025_era_only() {
    let (code, report) = doctor_through(Break::Only2025);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(ids_with(&report, "fail").is_empty(), "{report:#}");
    let eras = check(&report, "protocol-eras");
    assert_eq!(eras["status"], "warn", "{eras}");
    assert_eq!(eras["clients"], serde_json::json!(["Claude Code"]));
    assert!(
        text(&eras["detail"]).contains("Unsupported protocol version"),
        "{eras}"
    );
    assert!(text(&eras["fix"]).contains("2026-07-28"), "{eras}");
}

#[test]
fn doctor_without_a_credential_skips_only_what_needs_a_token() {
    let (listener, public) = BreakingProxy::reserve();
    let server = DevServer::start(&["--public-url", &public]);
    let _proxy = BreakingProxy::start(listener, &server.origin(), Break::Nothing);
    // No token was published for the proxy's port, and none is given.
    let (code, stdout, stderr) = e2e::mcpctl(
        &["doctor", &format!("{public}/mcp"), "--output", "json"],
        &[],
    );
    let report = report(code, &stdout, &stderr);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(ids_with(&report, "skip"), vec!["protocol-eras".to_owned()]);
    let eras = check(&report, "protocol-eras");
    assert!(
        text(&eras["detail"]).contains("MCPCTL_INITIAL_ACCESS_TOKEN"),
        "{eras}"
    );
    assert!(text(&eras["detail"]).contains("--state-dir"), "{eras}");
    assert_eq!(report["skipped"], 1);
    // Through the transparent proxy everything else is as on plain dev.
    assert_eq!(ids_with(&report, "warn"), vec!["tls".to_owned()]);

    // A server that does not answer is one failure, not one per request.
    let (code, stdout, stderr) = mcpctl(
        &["doctor", "http://127.0.0.1:9/mcp", "--output", "json"],
        &[],
    );
    let unreachable = self::report(code, &stdout, &stderr);
    assert_eq!(code, Some(1), "{unreachable:#}");
    assert_eq!(ids_with(&unreachable, "fail"), vec!["challenge".to_owned()]);
    assert!(text(&check(&unreachable, "challenge")["detail"]).contains("cannot reach"));
    assert!(text(&check(&unreachable, "dcr")["detail"]).contains("fix `challenge` first"));

    // Usage errors exit 2 and say what to pass.
    let (code, _, stderr) = mcpctl(&["doctor"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stdout, _) = mcpctl(
        &[
            "doctor",
            &format!("{public}/mcp"),
            "--client",
            "netscape",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{stdout}");
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert!(text(&error["hint"]).contains("claude-code"), "{error}");
    // One client's rules only: Cursor runs in no browser, so CORS is not checked.
    let (code, stdout, stderr) = mcpctl(
        &[
            "doctor",
            &format!("{public}/mcp"),
            "--client",
            "cursor",
            "--output",
            "json",
        ],
        &[],
    );
    let report = self::report(code, &stdout, &stderr);
    assert_eq!(code, Some(0), "{report:#}");
    assert_status(&report, "cors", "skip");
    assert!(text(&check(&report, "cors")["detail"]).contains("--client inspector"));
    assert_eq!(
        text(&check(&report, "dcr")["detail"])
            .matches("Cursor")
            .count(),
        1
    );
}

#[test]
fn doctor_never_sends_the_environment_token_to_a_server_that_is_not_the_operators() {
    // 127.0.0.2 is loopback to this machine, but not the address `mcpctl dev` binds: to doctor
    // it is anyone's server, the way https://mcp.example.com is.
    let listener = std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.2 (Linux routes 127/8 to lo): {e}"));
    let public = format!("http://{}", listener.local_addr().unwrap());
    let server = DevServer::start(&["--public-url", &public]);
    let _proxy = BreakingProxy::start(listener, &server.origin(), Break::Nothing);
    let token = server.operator_token();
    let (code, stdout, stderr) = mcpctl(
        &["doctor", &format!("{public}/mcp"), "--output", "json"],
        &[("MCPCTL_INITIAL_ACCESS_TOKEN", &token)],
    );
    let report = report(code, &stdout, &stderr);
    // With the token, protocol-eras would register a client at /dcr and run.
    let eras = check(&report, "protocol-eras");
    assert_eq!(eras["status"], "skip", "{report:#}");
    assert!(text(&eras["detail"]).contains("--stage"), "{eras}");
    // (The anonymous DCR clients stay behind: plain http off 127.0.0.1 gets no registration
    // access token either, which `cleanup` reports as a warning.)
}
