//! The first hour of a new user (issue 16): the AWS preflight with each way it fails, JSON
//! errors from every command, `mcpctl token`, `mcpctl clients` against a running `mcpctl dev`,
//! and the client snippets, all through the real binary.

use std::{path::Path, process::Command};

use e2e::{DevServer, Moto, mcpctl_bin, workspace};
use serde_json::Value;

/// Runs mcpctl from `dir` with nothing of this machine's AWS setup: an empty environment but
/// for PATH and the Rust toolchain, a fresh HOME, no instance metadata, plus `env`.
fn run_clean(
    dir: &Path,
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let real_home = std::env::var("HOME").unwrap_or_default();
    let rustup = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{real_home}/.rustup"));
    let cargo = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{real_home}/.cargo"));
    let output = Command::new(mcpctl_bin())
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUSTUP_HOME", rustup)
        .env("CARGO_HOME", cargo)
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run mcpctl: {e}"));
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A scratch directory (a fresh HOME and a place outside any crate).
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("mcpctl-{name}-"))
        .tempdir()
        .unwrap()
}

/// The JSON error object a failed command printed on stdout.
fn error_of(what: &str, code: i32, stdout: &str, stderr: &str) -> Value {
    assert_ne!(code, 0, "{what}: expected a failure\n{stdout}\n{stderr}");
    let value: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("{what}: stdout is not one JSON document ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    for key in ["error", "message", "hint"] {
        assert!(value.get(key).is_some(), "{what}: no `{key}` in {value}");
    }
    assert!(
        value["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {value}"
    );
    assert!(
        value["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {value}"
    );
    value
}

/// Runs one future to its end (the HTTP calls of a test that is otherwise blocking).
fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn config_dir() -> String {
    workspace().join("config").display().to_string()
}

/// One preflight case: what it is, its environment, extra flags, the error code, a hint word.
type Case = (
    &'static str,
    Vec<(&'static str, String)>,
    Vec<&'static str>,
    &'static str,
    &'static str,
);

#[test]
fn the_preflight_names_each_way_aws_access_fails_before_any_build() {
    let home = scratch("home");
    let cwd = scratch("cwd");
    let config = config_dir();
    let cases: Vec<Case> = vec![
        (
            "no credentials at all",
            vec![("AWS_REGION", "us-east-1".into())],
            vec![],
            "no_credentials",
            "aws configure",
        ),
        (
            "a profile that does not exist",
            vec![("AWS_REGION", "us-east-1".into())],
            vec!["--profile", "nosuch"],
            "unknown_profile",
            "aws configure --profile nosuch",
        ),
        (
            "a typo in the region, no endpoint",
            vec![
                ("AWS_REGION", "us-esat-1".into()),
                ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
                ("AWS_SECRET_ACCESS_KEY", "secret".into()),
            ],
            vec![],
            "unknown_region",
            "us-east-1",
        ),
        (
            "no network (AWS itself is unreachable from here)",
            vec![
                ("AWS_REGION", "eu-west-1".into()),
                ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
                ("AWS_SECRET_ACCESS_KEY", "secret".into()),
            ],
            vec![],
            "network",
            "network",
        ),
        (
            "an endpoint that is not listening",
            vec![
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
                ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
                ("AWS_SECRET_ACCESS_KEY", "secret".into()),
            ],
            vec![],
            "network",
            "AWS_ENDPOINT_URL",
        ),
    ];
    for command in ["deploy", "diff", "status", "destroy"] {
        for (what, env, extra, code, hint) in &cases {
            let mut args = vec![
                command,
                "--stage",
                "dev",
                "--config-dir",
                &config,
                "--output",
                "json",
            ];
            if command == "deploy" || command == "destroy" {
                args.push("--yes");
            }
            args.extend(extra.iter().copied());
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, stdout, stderr) = run_clean(cwd.path(), home.path(), &args, &env);
            let error = error_of(&format!("{command}: {what}"), status, &stdout, &stderr);
            assert_eq!(error["error"], *code, "{command}: {what}: {error}");
            let advice = format!("{} {}", error["message"], error["hint"]);
            assert!(
                advice.contains(hint),
                "{command}: {what}: no `{hint}` in {error}"
            );
            // Failed before the build: nothing was compiled or zipped.
            assert!(!stderr.contains("building"), "{command}: {what}: {stderr}");
        }
    }
}

#[test]
fn an_sso_profile_without_a_live_session_says_to_log_in() {
    let home = scratch("sso");
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    std::fs::write(
        aws.join("config"),
        "[profile work]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap();
    let cwd = scratch("cwd");
    let config = config_dir();
    let args = [
        "status",
        "--stage",
        "dev",
        "--config-dir",
        &config,
        "--profile",
        "work",
        "--output",
        "json",
    ];
    // Never logged in on this machine: no cached token.
    let (status, stdout, stderr) = run_clean(cwd.path(), home.path(), &args, &[]);
    let error = error_of("sso, never logged in", status, &stdout, &stderr);
    assert_eq!(error["error"], "sso_not_logged_in", "{error}");
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("aws sso login --profile work")
    );
    // Logged in once, long ago: the cached token (named by the SHA-1 of the session name, as
    // the AWS CLI writes it) has expired and holds nothing to refresh it with.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b"corp");
    let name: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        aws.join(format!("sso/cache/{name}.json")),
        r#"{"accessToken":"expired","expiresAt":"2020-01-01T00:00:00Z","region":"us-east-1","startUrl":"https://corp.awsapps.com/start"}"#,
    )
    .unwrap();
    let (status, stdout, stderr) = run_clean(cwd.path(), home.path(), &args, &[]);
    let error = error_of("sso, expired", status, &stdout, &stderr);
    assert_eq!(error["error"], "sso_expired", "{error}");
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("aws sso login --profile work")
    );
    // The human form says the same, on stderr, with the code.
    let text_args = &args[..args.len() - 2];
    let (status, stdout, stderr) = run_clean(cwd.path(), home.path(), text_args, &[]);
    assert_eq!(status, 2);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("sso_expired") && stderr.contains("aws sso login --profile work"),
        "{stderr}"
    );
}

#[test]
fn keys_aws_does_not_know_are_refused_by_name_and_good_ones_are_shown() {
    // moto checking every request's key, as AWS does: ours is not one it issued.
    let strict = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let home = scratch("home");
    let cwd = scratch("cwd");
    let config = config_dir();
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", strict.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
    ];
    for command in ["status", "diff"] {
        let (status, stdout, stderr) = run_clean(
            cwd.path(),
            home.path(),
            &[
                command,
                "--stage",
                "dev",
                "--config-dir",
                &config,
                "--output",
                "json",
            ],
            &env,
        );
        let error = error_of(command, status, &stdout, &stderr);
        assert_eq!(error["error"], "invalid_credentials", "{command}: {error}");
        assert!(
            error["hint"]
                .as_str()
                .unwrap()
                .contains("AWS_ACCESS_KEY_ID"),
            "{error}"
        );
    }
    drop(strict);

    // A moto that accepts the keys: the preflight passes and names the account; the stage is
    // simply not deployed, which is said with the account and region it looked in.
    let moto = Moto::start();
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let (status, stdout, stderr) = run_clean(
        cwd.path(),
        home.path(),
        &[
            "status",
            "--stage",
            "dev",
            "--config-dir",
            &config,
            "--output",
            "json",
        ],
        &env,
    );
    let error = error_of("status, not deployed", status, &stdout, &stderr);
    assert_eq!(error["error"], "not_deployed", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("123456789012"),
        "{error}"
    );
    let (_, _, stderr) = run_clean(
        cwd.path(),
        home.path(),
        &[
            "destroy",
            "--stage",
            "dev",
            "--config-dir",
            &config,
            "--yes",
        ],
        &env,
    );
    assert!(stderr.contains("not deployed"), "{stderr}");
}

#[test]
fn every_command_fails_in_json_when_asked_for_json() {
    let home = scratch("home");
    let cwd = scratch("cwd");
    let dir = cwd.path().display().to_string();
    let no_aws = [("AWS_REGION", "us-east-1")];
    let closed = "http://127.0.0.1:9/mcp";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("new", vec!["new", "Not A Name", "--dir", &dir]),
        (
            "dev",
            vec!["dev", "--upstream", "ftp://example.com/mcp", "--port", "0"],
        ),
        ("logs", vec!["logs"]),
        (
            "register-client",
            vec![
                "register-client",
                "--url",
                closed,
                "--name",
                "x",
                "--redirect-uri",
                "http://127.0.0.1:1/cb",
            ],
        ),
        ("clients", vec!["clients", "list"]),
        ("clients --url", vec!["clients", "--url", closed, "list"]),
        ("smoke-test", vec!["smoke-test", "--stage", "dev"]),
        ("doctor", vec!["doctor", "--stage", "dev"]),
        (
            "build",
            vec!["build", "--manifest-path", "/nonexistent/Cargo.toml"],
        ),
        ("deploy", vec!["deploy", "--stage", "dev", "--yes"]),
        ("diff", vec!["diff", "--stage", "dev"]),
        ("status", vec!["status", "--stage", "dev"]),
        ("destroy", vec!["destroy", "--stage", "dev", "--yes"]),
        ("render", vec!["render", "--stage", "nosuchstage"]),
        ("token", vec!["token", "--url", closed]),
        // A command line clap refuses still answers in JSON.
        ("usage", vec!["status"]),
        ("usage, bad value", vec!["token", "--url", "not a url"]),
    ];
    for (what, mut args) in cases {
        args.extend(["--output", "json"]);
        let (status, stdout, stderr) = run_clean(cwd.path(), home.path(), &args, &no_aws);
        let error = error_of(what, status, &stdout, &stderr);
        if what.starts_with("usage") {
            assert_eq!(error["error"], "usage", "{what}: {error}");
        }
        if what == "usage" {
            assert!(
                error["message"].as_str().unwrap().contains("--stage"),
                "{error}"
            );
        }
        // The report for people stays off stdout.
        assert!(!stdout.contains('×'), "{what}: {stdout}");
    }
    // `render --output json` prints the template itself as CloudFormation JSON.
    let config = config_dir();
    let (status, stdout, stderr) = run_clean(
        cwd.path(),
        home.path(),
        &[
            "render",
            "--stage",
            "prod",
            "--config-dir",
            &config,
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(status, 0, "{stderr}");
    let template: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(template["AWSTemplateFormatVersion"], "2010-09-09");
    assert!(template["Resources"]["McpFunction"]["Properties"]["Role"]["Fn::GetAtt"].is_array());
}

#[test]
fn token_and_clients_work_against_a_running_dev_server() {
    let server = DevServer::start(&["--base-path", "/prod", "--emulate-api-gateway"]);
    let url = server.mcp_url();
    let run = |args: &[&str]| e2e::mcpctl(args, &[]);

    // The operator path: a token without a person, from the operator token the server published.
    let (code, stdout, stderr) = run(&["token", "--url", &url, "--output", "json"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let issued: Value = serde_json::from_str(&stdout).unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(issued["token_type"], "Bearer");
    assert!(issued["expires_in"].as_u64().unwrap() > 0);
    // Text output is the token alone, for $(mcpctl token ...).
    let (code, stdout, _) = run(&["token", "--url", &url]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout.trim().split('.').count(), 3, "{stdout}");
    // The token works at /mcp, and the client that minted it is gone again.
    let http = reqwest::Client::new();
    let listed = block(
        http.post(&url)
            .bearer_auth(&token)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/list")
            .json(
                &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {},
                          "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}}),
            )
            .send(),
    )
    .unwrap();
    assert_eq!(listed.status(), 200);
    // Log correlation: the response names its request, as the log line does, with the tool.
    let call = |request_id: &str| {
        block(
            http.post(&url)
                .bearer_auth(&token)
                .header("Accept", "application/json, text/event-stream")
                .header("MCP-Protocol-Version", "2026-07-28")
                .header("Mcp-Method", "tools/call")
                .header("Mcp-Name", "echo")
                .header("x-request-id", request_id)
                .json(&serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                    "name": "echo", "arguments": {"text": "hi"},
                    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                              "io.modelcontextprotocol/clientCapabilities": {},
                              "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}}))
                .send(),
        )
        .unwrap()
    };
    let echoed = call("trace-42.a");
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a");
    let logs = server.logs_with("trace-42.a");
    let line: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["request_id"] == "trace-42.a")
        .unwrap_or_else(|| panic!("no log line for the request:\n{logs}"));
    assert_eq!(line["tool"], "echo", "{line}");
    assert_eq!(line["mcp_method"], "tools/call");
    // An id that could forge a log field is replaced by one of the server's own.
    let forged = call("x\",\"client_id\":\"admin");
    let replaced = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !replaced.contains('"') && !replaced.is_empty(),
        "{replaced}"
    );
    let (code, stdout, stderr) = run(&["clients", "--url", &url, "list", "--output", "json"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        serde_json::json!([])
    );

    // A registered client shows up, can be shown and deleted, and is gone after.
    let (code, stdout, stderr) = run(&[
        "register-client",
        "--url",
        &url,
        "--name",
        "ci-bot",
        "--grant",
        "client_credentials",
        "--output",
        "json",
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let registered: Value = serde_json::from_str(&stdout).unwrap();
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let (_, stdout, _) = run(&["clients", "--url", &url, "list", "--output", "json"]);
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert_eq!(listed[0]["origin"], "operator");
    assert!(
        !stdout.contains("secret_hash")
            && !stdout.contains(registered["client_secret"].as_str().unwrap())
    );
    let (code, stdout, _) = run(&["clients", "--url", &url, "show", &id, "--output", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["client_name"],
        "ci-bot"
    );
    // --client-id: that client's own grant, its secret from the environment.
    let (code, stdout, stderr) = e2e::mcpctl(
        &[
            "token",
            "--url",
            &url,
            "--client-id",
            &id,
            "--output",
            "json",
        ],
        &[(
            "MCPCTL_CLIENT_SECRET",
            registered["client_secret"].as_str().unwrap(),
        )],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let (code, stdout, _) = e2e::mcpctl(
        &[
            "token",
            "--url",
            &url,
            "--client-id",
            &id,
            "--output",
            "json",
        ],
        &[("MCPCTL_CLIENT_SECRET", "wrong")],
    );
    assert_eq!(code, Some(2));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["error"],
        "token_refused"
    );
    let (code, _, _) = run(&["clients", "--url", &url, "delete", &id, "--output", "json"]);
    assert_eq!(code, Some(0));
    let (code, stdout, _) = run(&["clients", "--url", &url, "show", &id, "--output", "json"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["error"],
        "not_found"
    );

    // Strangers: the operator routes want the operator token, and nothing else opens them.
    let base = url.trim_end_matches("/mcp");
    for bearer in [
        None,
        Some("wrong-token-wrong-token-wrong-token-wrong"),
        Some(token.as_str()),
    ] {
        let mut request = http.get(format!("{base}/_mcpctl/clients"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = block(request.send()).unwrap();
        assert_eq!(response.status(), 401, "bearer {bearer:?}");
    }
    let response = block(
        http.delete(format!("{base}/_mcpctl/clients/anything"))
            .send(),
    )
    .unwrap();
    assert_eq!(response.status(), 401);
    // Only the address dev binds gets the operator token: `localhost` may resolve to [::1],
    // where another local user could listen on the same port.
    let named = url.replace("127.0.0.1", "localhost");
    let (code, stdout, _) = run(&["clients", "--url", &named, "list", "--output", "json"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stdout.contains("127.0.0.1"), "{stdout}");
    // `clients --url` refuses anything but loopback: a stage's clients are read with AWS.
    let (code, stdout, _) = run(&[
        "clients",
        "--url",
        "https://mcp.example.com/mcp",
        "list",
        "--output",
        "json",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        serde_json::from_str::<Value>(&stdout).unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );
}

#[test]
fn dev_prints_how_to_connect_each_client() {
    let all = DevServer::start(&[]);
    let clients = all.ready["clients"].as_array().unwrap();
    let kinds: Vec<&str> = clients
        .iter()
        .map(|c| c["client"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["claude-code", "claude", "cursor", "vscode", "inspector"]
    );
    let url = all.mcp_url();
    let claude_code = clients[0]["text"].as_str().unwrap();
    assert_eq!(
        claude_code,
        format!(
            "claude mcp add --transport http {} {url}",
            all.ready["server_name"].as_str().unwrap()
        )
    );
    let vscode = DevServer::start(&["--client", "vscode"]);
    let only = vscode.ready["clients"].as_array().unwrap();
    assert_eq!(only.len(), 1);
    let config: Value = serde_json::from_str(only[0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(config["servers"].as_object().unwrap().len(), 1);
}
