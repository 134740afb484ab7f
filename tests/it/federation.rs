//! Federated sign-in end to end: a certified OpenID provider on loopback (npm `oidc-provider`)
//! as the upstream, `mcpctl dev --identity oidc`, and a real headless Chromium (JavaScript off)
//! doing what a person does: sign in upstream, read our consent page, approve or deny.

use std::{collections::HashMap, time::Duration};

use e2e::{DevServer, UpstreamOp, counts, require_harness, run_tool};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:33418/callback";

fn oidc_server(op: &UpstreamOp, extra: &[&str]) -> DevServer {
    let mut args = vec![
        "--identity",
        "oidc",
        "--oidc-issuer",
        op.issuer.as_str(),
        "--oidc-client-id",
        UpstreamOp::CLIENT_ID,
    ];
    args.extend_from_slice(extra);
    let server = DevServer::start_with_env(
        &args,
        &[("MCPCTL_OIDC_CLIENT_SECRET", UpstreamOp::CLIENT_SECRET)],
    );
    assert_eq!(server.ready["identity"], "oidc");
    assert_eq!(
        server.ready["oidc_callback"],
        format!("{}/oauth/callback", server.issuer())
    );
    server
}

/// The official TypeScript SDK client: DCR → authorize → upstream sign-in in Chromium → our
/// consent page (checked: CSP, no script, readable without JavaScript) → code → token → MCP
/// `whoami` showing the upstream user → refresh → `whoami` again.
#[test]
fn typescript_client_signs_in_at_the_upstream_provider_in_a_real_browser() {
    require_harness();
    let op = UpstreamOp::start();
    let server = oidc_server(&op, &[]);
    let url = server.mcp_url();
    let run = run_tool(
        "node",
        &[
            "oauth-client-e2e.mjs",
            "--url",
            &url,
            "--mode",
            "auth_code",
            "--expect-jwt",
            "--tool",
            "echo",
            "--tool-args",
            r#"{"text":"hello from a federated user"}"#,
            "--browser",
            "chromium",
            "--login",
            "alice",
            "--password",
            "wonderland",
            "--expect-consent",
            "--expect-whoami-sub",
            "#alice-0001",
        ],
        Duration::from_secs(240),
    );
    run.assert_clean("the TypeScript SDK client signing in through the upstream provider");
    let (passed, failed) =
        counts(run.last_line()).unwrap_or_else(|| panic!("no summary line: {}", run.last_line()));
    assert!(passed >= 50 && failed == 0, "{}", run.last_line());
    assert!(
        !run.output
            .lines()
            .filter(|l| l.contains("whoami"))
            .any(|l| l.contains("alice@example.com")),
        "the SDK asks for the challenge's scope (`mcp`), so no e-mail is released (claims by scope only):\n{}",
        run.output
    );
    assert!(
        run.output.contains(&format!("{}#alice-0001", op.issuer)),
        "whoami shows the subject namespaced by the upstream issuer:\n{}",
        run.output
    );
}

fn register(server: &DevServer) -> String {
    let dcr = format!("{}/dcr", server.issuer());
    let response: Value = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            reqwest::Client::new()
                .post(dcr)
                .json(&serde_json::json!({
                    "client_name": "Federation Test",
                    "redirect_uris": [REDIRECT],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "token_endpoint_auth_method": "none",
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
    response["client_id"].as_str().unwrap().to_owned()
}

fn authorize_url(server: &DevServer, client_id: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", server.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "st-42")
        .append_pair("scope", "mcp");
    url.into()
}

/// One run of `browser-signin.mjs`; its JSON report.
fn browser(url: &str, flags: &[&str]) -> Value {
    let mut args = vec!["browser-signin.mjs", url, "--stop-at", REDIRECT];
    args.extend_from_slice(flags);
    let run = run_tool("node", &args, Duration::from_secs(120));
    let line = run
        .output
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("browser-signin.mjs printed no JSON report:\n{}", run.output));
    serde_json::from_str(line).unwrap()
}

fn query(report: &Value) -> HashMap<String, String> {
    url::Url::parse(report["redirect"].as_str().unwrap_or_default())
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

#[test]
fn a_person_can_deny_cancel_or_be_refused_and_always_sees_why() {
    require_harness();
    let op = UpstreamOp::start();
    let server = oidc_server(&op, &["--allow-group", "mcp-users"]);
    let client = register(&server);

    // Denied on our consent page: back to the application with access_denied and its state.
    let report = browser(
        &authorize_url(&server, &client),
        &[
            "--login",
            "alice",
            "--password",
            "wonderland",
            "--decision",
            "deny",
            "--expect-consent",
        ],
    );
    assert_eq!(report["ok"], true, "{report:#}");
    let answer = query(&report);
    assert_eq!(answer["error"], "access_denied", "{report:#}");
    assert_eq!(answer["state"], "st-42");
    assert_eq!(answer["iss"], server.issuer());
    assert!(
        report["consent"]["frameAncestorsNone"] == true && report["consent"]["scripts"] == 0,
        "{report:#}"
    );

    // Cancelled at the provider: our page says so (and offers the way back).
    let report = browser(&authorize_url(&server, &client), &["--upstream-cancel"]);
    let page = &report["finalPage"];
    assert_eq!(page["status"], 403, "{report:#}");
    assert!(
        page["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Sign-in was not completed"),
        "{report:#}"
    );

    // A wrong password never leaves the provider's login page.
    let report = browser(
        &authorize_url(&server, &client),
        &["--login", "alice", "--password", "not-the-password"],
    );
    assert_eq!(report["ok"], false);
    assert_eq!(report["reason"], "upstream_login_rejected", "{report:#}");

    // Bob signs in fine upstream but is in no allowed group: a page, no code.
    let report = browser(
        &authorize_url(&server, &client),
        &["--login", "bob", "--password", "builder"],
    );
    let page = &report["finalPage"];
    assert_eq!(page["status"], 403, "{report:#}");
    assert!(
        page["text"]
            .as_str()
            .unwrap_or_default()
            .contains("not in a group allowed"),
        "{report:#}"
    );
    assert!(report["code"].is_null());

    // Alice is in mcp-users: she gets a code.
    let report = browser(
        &authorize_url(&server, &client),
        &[
            "--login",
            "alice",
            "--password",
            "wonderland",
            "--expect-consent",
        ],
    );
    assert_eq!(report["ok"], true, "{report:#}");
    assert!(query(&report).contains_key("code"), "{report:#}");
}
