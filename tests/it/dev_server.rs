//! `mcpctl dev` itself: the ready line, the API Gateway emulation, and `--state-dir`.

use std::time::Duration;

use e2e::DevServer;
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A machine client registered with the dev server's operator token, and a token for it.
pub(crate) async fn client_credentials(server: &DevServer) -> (String, String, String) {
    let issuer = &server.issuer();
    let http = client();
    let registration: Value = http
        .post(format!("{issuer}/dcr"))
        .bearer_auth(server.operator_token())
        .json(&serde_json::json!({"client_name": "e2e", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registration["client_id"].as_str().unwrap().to_owned();
    let secret = registration["client_secret"].as_str().unwrap().to_owned();
    let token = token(issuer, &id, &secret).await;
    (id, secret, token)
}

pub(crate) async fn token(issuer: &str, id: &str, secret: &str) -> String {
    let response = client()
        .post(format!("{issuer}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn tools_list(mcp_url: &str, token: &str) -> reqwest::Response {
    client()
        .post(mcp_url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn api_gateway_emulation_reproduces_both_behaviours() {
    let server = DevServer::start(&["--base-path", "/prod", "--emulate-api-gateway"]);
    assert_eq!(server.issuer(), format!("{}/prod", server.origin()));
    let http = client();

    // Outside the stage: API Gateway's 403.
    let root = http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/prod/mcp",
            server.origin()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 403);
    assert_eq!(
        root.json::<Value>().await.unwrap()["message"],
        "Missing Authentication Token"
    );

    // The authorizer's gateway response carries the challenge, unrenamed.
    let unauthenticated = http
        .post(server.mcp_url())
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let challenge = unauthenticated.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            server.issuer()
        )),
        "{challenge}"
    );

    // A proxied (Lambda) response has its WWW-Authenticate renamed.
    let userinfo = http
        .get(format!("{}/oauth/userinfo", server.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    assert!(userinfo.headers().get("www-authenticate").is_none());
    assert!(
        userinfo
            .headers()
            .get("x-amzn-remapped-www-authenticate")
            .is_some()
    );

    // Discovery under the stage works, and the OIDC document is where clients look for it.
    let oidc: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            server.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc["issuer"], server.issuer());
    let (_, _, token) = client_credentials(&server).await;
    assert_eq!(tools_list(&server.mcp_url(), &token).await.status(), 200);
}

#[tokio::test]
async fn without_emulation_a_base_path_also_serves_origin_root_well_knowns() {
    let server = DevServer::start(&["--base-path", "/prod"]);
    let http = client();
    let prm: Value = http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/prod/mcp",
            server.origin()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], server.mcp_url());
    let rfc8414 = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server/prod",
            server.origin()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(rfc8414.status(), 200);
}

#[tokio::test]
async fn state_dir_keeps_keys_and_registrations_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("mcpctl-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let dir_arg = dir.display().to_string();
    let (id, secret, token) = {
        let server = DevServer::start(&["--port", &port, "--state-dir", &dir_arg]);
        client_credentials(&server).await
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "keys.json must be private to its owner");
    }
    let operator_token = std::fs::read_to_string(dir.join("initial-access-token")).unwrap();
    let server = DevServer::start(&["--port", &port, "--state-dir", &dir_arg]);
    assert_eq!(
        server.operator_token(),
        operator_token.trim(),
        "the operator token is kept in --state-dir across restarts"
    );
    assert_eq!(
        tools_list(&server.mcp_url(), &token).await.status(),
        200,
        "a token from before the restart still works"
    );
    let _ = super::dev_server::token(&server.issuer(), &id, &secret).await;
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_and_bad_arguments() {
    let help = std::process::Command::new(e2e::mcpctl_bin())
        .args(["dev", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--port",
        "--base-path",
        "--auto-approve",
        "--emulate-api-gateway",
        "--state-dir",
    ] {
        assert!(text.contains(flag), "dev --help lacks {flag}");
    }
    let bad = std::process::Command::new(e2e::mcpctl_bin())
        .args(["dev", "--base-path", "/a b"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--base-path"));
}

#[tokio::test]
async fn logs_carry_one_json_line_per_request_and_never_a_secret() {
    let server = DevServer::start(&[]);
    let http = client();
    let registration: Value = http
        .post(format!("{}/dcr", server.issuer()))
        .bearer_auth(server.operator_token())
        .json(&serde_json::json!({"client_name": "log-test", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registration["client_id"].as_str().unwrap().to_owned();
    let secret = registration["client_secret"].as_str().unwrap().to_owned();
    let registration_token = registration["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens: Value = http
        .post(format!("{}/oauth/token", server.issuer()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(tools_list(&server.mcp_url(), &token).await.status(), 200);
    let bad = http
        .post(format!("{}/oauth/token", server.issuer()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong-secret-value"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    let logs = server.logs_with("invalid_client");
    for secret_value in [
        &secret,
        &token,
        &registration_token,
        &server.operator_token(),
        &"wrong-secret-value".to_owned(),
    ] {
        assert!(
            !logs.contains(secret_value.as_str()),
            "a secret or token appears in the logs:\n{logs}"
        );
    }
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["message"] == "request")
        .collect();
    let token_line = lines
        .iter()
        .find(|l| l["route"] == "/oauth/token" && l["status"] == 200)
        .unwrap_or_else(|| panic!("no token log line in:\n{logs}"));
    assert_eq!(token_line["grant_type"], "client_credentials");
    assert_eq!(token_line["client_id"], id.as_str());
    for field in ["timestamp", "level", "request_id", "latency_ms"] {
        assert!(
            token_line.get(field).is_some(),
            "{field} missing: {token_line}"
        );
    }
    let mcp_line = lines.iter().find(|l| l["route"] == "/mcp").unwrap();
    assert_eq!(mcp_line["mcp_method"], "tools/list");
    assert_eq!(mcp_line["client_id"], id.as_str());
    let failed = lines
        .iter()
        .find(|l| l["route"] == "/oauth/token" && l["status"] == 401)
        .unwrap();
    assert_eq!(failed["error"], "invalid_client");
}

/// Sends `request` on `stream` and reads one HTTP/1.1 response (head + Content-Length body).
fn exchange(stream: &mut std::net::TcpStream, head: &str, body: &str, pause: Duration) -> String {
    use std::io::{Read, Write};
    stream.write_all(head.as_bytes()).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(pause);
    stream.write_all(body.as_bytes()).unwrap_or_else(|e| {
        panic!("the server closed the connection before the body was sent: {e}")
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).unwrap_or(0);
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if response.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// A refusal sent before the body arrived must not cost the client its keep-alive connection:
/// hyper closes a connection whose request body was dropped unread, and a client that reuses it
/// (httpx writes head and body separately) sees "Server disconnected without sending a response".
/// API Gateway reads the whole body before invoking the Lambda; `mcpctl dev` does the same.
#[test]
fn a_refusal_before_the_body_arrives_keeps_the_connection_usable() {
    for args in [
        &[][..],
        &["--base-path", "/prod", "--emulate-api-gateway"][..],
    ] {
        let server = DevServer::start(args);
        let url = url::Url::parse(&server.mcp_url()).unwrap();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
        let head = format!(
            "POST {} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n",
            url.path(),
            body.len()
        );
        let mut stream =
            std::net::TcpStream::connect(format!("127.0.0.1:{}", server.ready["port"])).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for attempt in 0..3 {
            let response = exchange(&mut stream, &head, body, Duration::from_millis(150));
            assert!(
                response.starts_with("HTTP/1.1 401"),
                "{args:?} attempt {attempt}: the connection was closed or the answer is wrong: {response:?}"
            );
            assert!(
                !response.to_ascii_lowercase().contains("connection: close"),
                "{args:?} attempt {attempt}: {response}"
            );
        }
    }
}

fn authorize_url(server: &DevServer, client_id: &str, redirect_uri: &str) -> url::Url {
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", server.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", &"a".repeat(43))
        .append_pair("code_challenge_method", "S256");
    url
}

/// Issue 10, point 7: what a web page on another origin, or a stranger's client, could try
/// against a dev server on the developer's machine.
#[tokio::test]
async fn the_dev_server_refuses_dns_rebinding_and_unvetted_automation() {
    let server = DevServer::start(&["--auto-approve"]);
    let http = client();
    // DNS rebinding: the attacker's name resolves to 127.0.0.1, the Host header keeps it.
    for path in [
        "/.well-known/oauth-authorization-server",
        "/dcr",
        "/oauth/authorize",
        "/mcp",
    ] {
        let response = http
            .get(format!("{}{path}", server.origin()))
            .header("host", "attacker.example:8787")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path} answered a foreign Host");
    }
    // Anonymous registration gets no machine client; the printed operator token does.
    let anonymous = http
        .post(format!("{}/dcr", server.issuer()))
        .json(&serde_json::json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 400);
    // --auto-approve approves only applications on this machine.
    let remote: Value = http
        .post(format!("{}/dcr", server.issuer()))
        .json(&serde_json::json!({"redirect_uris": ["https://attacker.example/cb"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authorize = http
        .get(authorize_url(
            &server,
            remote["client_id"].as_str().unwrap(),
            "https://attacker.example/cb",
        ))
        .send()
        .await
        .unwrap();
    assert!(
        authorize.headers().get("location").is_none(),
        "no code goes to a remote redirect URI without a click"
    );
    assert_eq!(authorize.status(), 400);
    // CIMD over http (or to loopback) needs --allow-insecure-cimd.
    let cimd = http
        .get(authorize_url(
            &server,
            &format!("{}/.well-known/oauth-authorization-server", server.origin()),
            "http://127.0.0.1:9/cb",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(cimd.status(), 400);
    assert!(cimd.headers().get("location").is_none());
}

/// `mcpctl register-client --url <issuer> --grant client_credentials --output json` against
/// `mcpctl dev`, exactly as the issue writes it: the CLI finds the operator token the server
/// published, and prints the client id and secret.
#[tokio::test]
async fn the_operator_registers_a_machine_client_against_mcpctl_dev() {
    let server = DevServer::start(&[]);
    let issuer = server.issuer();
    let (code, stdout, stderr) = e2e::mcpctl(
        &[
            "register-client",
            "--url",
            &issuer,
            "--name",
            "CI bot",
            "--grant",
            "client_credentials",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let reply: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let id = reply["client_id"].as_str().unwrap();
    let secret = reply["client_secret"].as_str().unwrap();
    let token = token(&issuer, id, secret).await;
    assert_eq!(tools_list(&server.mcp_url(), &token).await.status(), 200);
    // With a wrong token in the environment the server refuses, and the CLI says so.
    let (code, _, stderr) = e2e::mcpctl(
        &[
            "register-client",
            "--url",
            &issuer,
            "--name",
            "x",
            "--grant",
            "client_credentials",
        ],
        &[(
            "MCPCTL_INITIAL_ACCESS_TOKEN",
            "wrong-but-long-enough-0123456789abcdef",
        )],
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("invalid_token"), "{stderr}");
}
