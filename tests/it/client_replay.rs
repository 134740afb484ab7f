//! `mcpctl smoke-test --as <client>`: each real client's flow, replayed end to end against
//! `mcpctl dev` on both shapes (plain, and behind the emulated API Gateway), and the named break
//! when a server turns a client away.

use e2e::{DevServer, mcpctl};
use serde_json::Value;

const CLIENTS: [&str; 6] = [
    "claude-code",
    "claude-ai",
    "chatgpt",
    "cursor",
    "vscode",
    "inspector",
];

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The rows of `client`, in order.
fn rows<'a>(report: &'a Value, client: &str) -> Vec<&'a Value> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["client"] == client)
        .collect()
}

fn row<'a>(rows: &[&'a Value], step: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["step"] == step)
        .copied()
        .unwrap_or_else(|| {
            panic!(
                "no row `{step}` in {:?}",
                rows.iter().map(|r| &r["step"]).collect::<Vec<_>>()
            )
        })
}

#[test]
fn smoke_test_as_all_replays_every_known_client_against_dev_on_both_shapes() {
    for shape in [
        &["--allow-insecure-cimd"][..],
        &[
            "--allow-insecure-cimd",
            "--base-path",
            "/prod",
            "--emulate-api-gateway",
        ][..],
    ] {
        let server = DevServer::start(shape);
        let (code, stdout, stderr) = mcpctl(
            &[
                "smoke-test",
                "--url",
                &server.mcp_url(),
                "--as",
                "all",
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code, Some(0), "{shape:?}: {stdout}\n{stderr}");
        let report = json(&stdout);
        assert_eq!(report["failed"], 0, "{report}");
        // No token of the replay reaches the report.
        assert!(
            !stdout.contains("eyJ") && !stdout.contains("refresh_token\""),
            "{stdout}"
        );
        for client in CLIENTS {
            let rows = rows(&report, client);
            for step in [
                "discovery (401 challenge, RFC 9728, RFC 8414)",
                "tools/list",
                "refresh (rotating refresh token)",
                "tools/list with the refreshed token",
                "refresh: the spent refresh token mints nothing new",
                "revoke the refresh token (RFC 7009)",
            ] {
                assert_eq!(row(&rows, step)["passed"], true, "{client}: {step}");
            }
            assert_eq!(
                row(&rows, "authorization (code, PKCE S256)")["detail"],
                "approved on the consent page as the dev user",
                "{client}"
            );
            assert!(
                row(&rows, "tools/call")["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("`echo` answered"),
                "{client}"
            );
        }

        // Claude Code: its document, `server/discover` first, then `initialize` anyway, and the
        // 2026-07-28 headers naming the method and the tool.
        let code = rows(&report, "claude-code");
        let steps: Vec<&str> = code.iter().map(|r| r["step"].as_str().unwrap()).collect();
        assert!(
            row(&code, "discovery (401 challenge, RFC 9728, RFC 8414)")["detail"]
                .as_str()
                .unwrap()
                .starts_with("server/discover first"),
            "{steps:?}"
        );
        assert!(
            row(&code, "identity: Client ID Metadata Document")["detail"]
                .as_str()
                .unwrap()
                .contains("a copy served on 127.0.0.1")
        );
        let discover = steps
            .iter()
            .position(|s| *s == "MCP server/discover (2026-07-28)")
            .unwrap();
        let initialize = steps
            .iter()
            .position(|s| *s == "MCP initialize after server/discover (2025-11-25)")
            .unwrap();
        assert!(discover < initialize, "{steps:?}");
        let call = row(&code, "tools/call")["detail"].as_str().unwrap();
        assert!(
            call.contains("Mcp-Method") && call.contains("Mcp-Name"),
            "{call}"
        );
        assert!(
            row(&code, "tools/list")["detail"]
                .as_str()
                .unwrap()
                .ends_with("in 2026-07-28")
        );

        // Cursor registers its own scheme and is deleted again; the inspector is a browser.
        let cursor = rows(&report, "cursor");
        assert!(
            row(
                &cursor,
                "identity: registration (RFC 7591, its redirect URIs)"
            )["detail"]
                .as_str()
                .unwrap()
                .contains("cursor://anysphere.cursor-mcp/oauth/callback")
        );
        assert_eq!(
            row(&cursor, "delete its registration (RFC 7592)")["passed"],
            true
        );
        let inspector = rows(&report, "inspector");
        assert!(
            row(&inspector, "tools/call")["detail"]
                .as_str()
                .unwrap()
                .contains("Origin")
        );
        // The cloud clients are told they cannot reach a laptop.
        assert!(
            row(
                &rows(&report, "claude-ai"),
                "discovery (401 challenge, RFC 9728, RFC 8414)"
            )["detail"]
                .as_str()
                .unwrap()
                .contains("cannot reach this machine")
        );

        // Nothing the replay registered is left behind.
        let (code, listed, stderr) = mcpctl(
            &[
                "clients",
                "list",
                "--url",
                &server.mcp_url(),
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code, Some(0), "{stderr}");
        assert!(!listed.contains("mcpctl smoke-test"), "{listed}");
    }
}

#[test]
fn smoke_test_as_names_the_break_when_a_server_turns_a_client_away() {
    // --auto-approve approves only loopback redirect URIs (Cursor's is `cursor://`), and without
    // --allow-insecure-cimd dev fetches no document from this machine: both are named, with
    // the fix.
    let server = DevServer::start(&["--auto-approve"]);
    let (code, stdout, stderr) = mcpctl(
        &[
            "smoke-test",
            "--url",
            &server.mcp_url(),
            "--as",
            "cursor,vscode",
            "--as",
            "claude-code",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let report = json(&stdout);
    let step = "authorization (code, PKCE S256)";
    let cursor = row(&rows(&report, "cursor"), step);
    assert_eq!(cursor["passed"], false);
    assert!(
        cursor["detail"]
            .as_str()
            .unwrap()
            .contains("--auto-approve only approves applications on this machine"),
        "{cursor}"
    );
    let claude_code = row(&rows(&report, "claude-code"), step);
    assert_eq!(claude_code["passed"], false);
    assert!(
        claude_code["detail"]
            .as_str()
            .unwrap()
            .contains("--allow-insecure-cimd"),
        "{claude_code}"
    );
    // VS Code's first redirect URI is loopback: --auto-approve takes it all the way.
    let vscode = rows(&report, "vscode");
    assert_eq!(
        row(&vscode, step)["detail"],
        "approved without a page (--auto-approve)"
    );
    assert!(vscode.iter().all(|r| r["passed"] == true), "{vscode:?}");
    // The client order is the data file's, whatever the order on the command line.
    let order: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["client"].as_str())
        .fold(Vec::new(), |mut seen, c| {
            if seen.last() != Some(&c) {
                seen.push(c);
            }
            seen
        });
    assert_eq!(order, ["claude-code", "cursor", "vscode"]);
}

#[test]
fn smoke_test_as_an_unknown_client_suggests_the_known_ones() {
    let (code, _, stderr) = mcpctl(
        &[
            "smoke-test",
            "--url",
            "http://127.0.0.1:9/mcp",
            "--as",
            "claude",
        ],
        &[],
    );
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("--as claude: no such client") && stderr.contains("claude-code"),
        "{stderr}"
    );
}
