//! The operations commands (`smoke-test`, `register-client`, `clients`, `logs`) as a user runs
//! them: against `mcpctl dev`, and against a stage whose stack, tables and log groups live in moto.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use e2e::{DevServer, Moto, mcpctl, mcpctl_bin};
use mcpctl_handler::store::dynamo::{TableNames, schema};
use serde_json::Value;

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn smoke_test_passes_against_dev_on_both_shapes() {
    for shape in [
        &["--auto-approve"][..],
        &[
            "--auto-approve",
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
                "--output",
                "json",
                "--repeat",
                "3",
            ],
            &[],
        );
        let report = json(&stdout);
        assert_eq!(code, Some(0), "{shape:?}: {stdout}\n{stderr}");
        assert_eq!(report["failed"], 0, "{report}");
        let steps: Vec<&str> = report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        for expected in [
            "unauthenticated /mcp gets 401 with resource_metadata",
            "protected resource metadata (RFC 9728)",
            "authorization server metadata (RFC 8414)",
            "OpenID configuration",
            "JWKS",
            "anonymous registration gets no client_credentials",
            "register a throwaway machine client (RFC 7591, initial access token)",
            "token (client_credentials, HTTP Basic)",
            "MCP initialize (2025-11-25)",
            "MCP stateless 2026-07-28 (server/discover)",
            "tools/list",
            "tools/call",
            "negative: a bad token gets 401",
            "negative: a wrong-audience token gets 401",
            "delete the throwaway client (RFC 7592)",
        ] {
            assert!(
                steps.contains(&expected),
                "{shape:?}: no step `{expected}` in {steps:?}"
            );
        }
        assert!(
            report["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["latency_ms"].as_f64().is_some())
        );
    }
}

#[test]
fn smoke_test_text_output_is_a_table() {
    let server = DevServer::start(&["--auto-approve"]);
    let (code, stdout, _) = mcpctl(
        &["smoke-test", "--url", &server.mcp_url(), "--repeat", "1"],
        &[],
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("step") && stdout.contains("latency") && stdout.contains(" ok "),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("passed, 0 failed"), "{stdout}");
}

#[test]
fn smoke_test_names_the_broken_step_of_a_misconfigured_server() {
    // The issuer (public URL) is wrong: the challenge points to metadata that does not exist.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let wrong = format!("http://127.0.0.1:{port}/wrong-issuer");
    let server = DevServer::start(&["--port", &port, "--public-url", &wrong]);
    let mcp_url = format!("{}/mcp", server.origin());
    let (code, stdout, _) = mcpctl(&["smoke-test", "--url", &mcp_url, "--output", "json"], &[]);
    assert_eq!(code, Some(1), "{stdout}");
    let report = json(&stdout);
    let failed: Vec<&Value> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["passed"] == false)
        .collect();
    assert_eq!(
        failed[0]["step"], "protected resource metadata (RFC 9728)",
        "{report}"
    );
    assert!(
        failed[0]["detail"].as_str().unwrap().contains("404"),
        "{report}"
    );
}

#[test]
fn register_client_through_dcr_then_a_token_request_works() {
    let server = DevServer::start(&[]);
    let (code, stdout, stderr) = mcpctl(
        &[
            "register-client",
            "--url",
            &server.mcp_url(),
            "--name",
            "ci-bot",
            "--grant-type",
            "client-credentials",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let client = json(&stdout);
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let status = reqwest::blocking_token(&server.issuer(), id, secret);
    assert_eq!(status, 200);

    let (code, stdout, _) = mcpctl(
        &[
            "register-client",
            "--url",
            &server.mcp_url(),
            "--name",
            "app",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--public",
        ],
        &[],
    );
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("client_id:") && !stdout.contains("client_secret:"),
        "{stdout}"
    );
}

#[test]
fn register_client_refuses_bad_input_before_any_call() {
    // The URL is unreachable: the error must be about the input, not the network.
    let unreachable = "http://127.0.0.1:9/mcp";
    for (args, needle) in [
        (
            vec!["--redirect-uri", "javascript:alert(1)"],
            "redirect URI",
        ),
        (vec!["--redirect-uri", "https://a.example/cb#x"], "fragment"),
        (
            vec![
                "--redirect-uri",
                "https://a.example/cb",
                "--redirect-uri",
                "https://a.example/cb",
            ],
            "repeated",
        ),
    ] {
        let mut all = vec!["register-client", "--url", unreachable, "--name", "x"];
        all.extend(args);
        let (code, _, stderr) = mcpctl(&all, &[]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    let (code, _, stderr) = mcpctl(
        &[
            "register-client",
            "--url",
            unreachable,
            "--name",
            "x",
            "--grant-type",
            "password",
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("invalid value 'password'"), "{stderr}");
}

mod reqwest {
    /// A client_credentials token request with HTTP Basic; returns the status.
    pub(super) fn blocking_token(issuer: &str, id: &str, secret: &str) -> u16 {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            ::reqwest::Client::new()
                .post(format!("{issuer}/oauth/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    }
}

/// A stage in moto: the three tables and a stack whose outputs name them and the log groups.
pub(crate) struct MotoStage {
    pub(crate) moto: Moto,
    names: TableNames,
    log_group: String,
}

impl MotoStage {
    pub(crate) async fn deploy(stage: &str) -> Self {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        let names = TableNames::with_prefix(&format!("mcpctl-{stage}"));
        let dynamodb = aws_sdk_dynamodb_client(&config);
        schema::ensure_tables(&dynamodb, &names).await.unwrap();
        let log_group = format!("/aws/lambda/mcpctl-{stage}-auth");
        let template = serde_json::json!({
            "Resources": {
                "AuthLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": log_group, "RetentionInDays": 7}},
                "McpLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": format!("/aws/lambda/mcpctl-{stage}-mcp"), "RetentionInDays": 7}},
            },
            "Outputs": {
                "Issuer": {"Value": "https://api.example.com/prod"},
                "McpUrl": {"Value": "https://api.example.com/prod/mcp"},
                "ClientsTableName": {"Value": names.clients},
                "CodesTableName": {"Value": names.codes},
                "RefreshTokensTableName": {"Value": names.refresh_tokens},
                "AuthLogGroupName": {"Value": {"Ref": "AuthLogGroup"}},
                "McpLogGroupName": {"Value": {"Ref": "McpLogGroup"}},
                "AuthorizerLogGroupName": {"Value": {"Ref": "McpLogGroup"}},
                "AccessLogGroupName": {"Value": {"Ref": "McpLogGroup"}},
            }
        });
        aws_sdk_cloudformation::Client::new(&config)
            .create_stack()
            .stack_name(format!("mcpctl-{stage}"))
            .template_body(template.to_string())
            .send()
            .await
            .unwrap();
        Self {
            moto,
            names,
            log_group,
        }
    }
}

fn aws_sdk_dynamodb_client(config: &aws_config::SdkConfig) -> handler_dynamodb::Client {
    handler_dynamodb::Client::new(config)
}

use aws_sdk_dynamodb as handler_dynamodb;

#[tokio::test]
async fn register_client_direct_then_clients_list_show_delete() {
    let stage = MotoStage::deploy("ops").await;
    let env = stage.moto.env();
    let env = env_refs(&env);
    let (code, stdout, stderr) = mcpctl(
        &[
            // Issue 10's operator command: a machine client for a deployed stage, written with
            // the operator's AWS credentials (no --direct needed for client_credentials).
            "register-client",
            "--stage",
            "ops",
            "--name",
            "batch-job",
            "--grant",
            "client_credentials",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let client = json(&stdout);
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();

    // The client works against a server on the same tables.
    let server = DevServer::start(&[
        "--store",
        "dynamodb",
        "--dynamodb-endpoint",
        &stage.moto.endpoint,
        "--table-prefix",
        "mcpctl-ops",
    ]);
    let token = ::reqwest::Client::new()
        .post(format!("{}/oauth/token", server.issuer()))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = token.status();
    assert_eq!(
        status,
        200,
        "{}\nserver log:\n{}",
        token.text().await.unwrap_or_default(),
        server.logs()
    );

    let (code, stdout, stderr) = mcpctl(
        &["clients", "list", "--stage", "ops", "--output", "json"],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&id) && stdout.contains("batch-job"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""origin": "operator""#),
        "an operator's client says so: {stdout}"
    );
    assert!(
        !stdout.contains(&secret) && !stdout.contains("hash"),
        "never print secrets or hashes: {stdout}"
    );
    let (code, stdout, stderr) = mcpctl(&["clients", "show", &id, "--stage", "ops"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("confidential") && stdout.contains("client_credentials"),
        "{stdout}"
    );
    let (code, _, stderr) = mcpctl(&["clients", "delete", &id, "--stage", "ops"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = mcpctl(&["clients", "show", &id, "--stage", "ops"], &env);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no client"), "{stderr}");
    let _ = stage.names;
}

#[tokio::test]
async fn a_stage_never_deployed_is_one_clear_line() {
    let moto = Moto::start();
    let env = moto.env();
    let env = env_refs(&env);
    for command in [
        vec!["smoke-test", "--stage", "nope"],
        vec!["logs", "--stage", "nope"],
        vec!["clients", "list", "--stage", "nope"],
    ] {
        let (code, _, stderr) = mcpctl(&command, &env);
        assert_eq!(code, Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("stage `nope` is not deployed"),
            "{command:?}: {stderr}"
        );
        assert!(
            stderr.contains("mcpctl deploy --stage nope"),
            "{command:?}: {stderr}"
        );
    }
}

pub(crate) async fn put_events(
    config: &aws_config::SdkConfig,
    group: &str,
    stream: &str,
    messages: &[String],
) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    let _ = logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let now = i64::try_from(mcpctl_handler::clock::Clock::now(
        &mcpctl_handler::clock::SystemClock,
    ))
    .unwrap()
        * 1000;
    let mut request = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    for (i, message) in messages.iter().enumerate() {
        request = request.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now + i64::try_from(i).unwrap())
                .message(message)
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap();
}

fn access_line(request_id: &str, status: u16, client: &str, level: &str) -> String {
    serde_json::json!({
        "timestamp": "2026-11-21T07:00:00.000Z", "level": level, "message": "request", "request_id": request_id,
        "method": "POST", "route": "/mcp", "status": status, "latency_ms": 1.5, "client_id": client, "mcp_method": "tools/call",
        "tool": if client == "alice" { "echo" } else { "add" }
    })
    .to_string()
}

#[tokio::test]
async fn logs_render_filter_and_follow() {
    let stage = MotoStage::deploy("logs").await;
    let config = stage.moto.sdk_config().await;
    put_events(
        &config,
        &stage.log_group,
        "s1",
        &[
            "START RequestId: r-1 Version: $LATEST".to_owned(),
            access_line("r-1", 200, "alice", "INFO"),
            access_line("r-2", 503, "bob", "ERROR"),
        ],
    )
    .await;
    let env = stage.moto.env();
    let env = env_refs(&env);

    let (code, stdout, stderr) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--since",
            "1h",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("START RequestId: r-1"), "{stdout}");
    assert!(
        stdout.contains("POST /mcp  200  1.50ms  client=alice  mcp=tools/call  tool=echo"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 3, "{stdout}");

    let (_, errors, _) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--level",
            "error",
        ],
        &env,
    );
    assert!(
        errors.contains("client=bob")
            && !errors.contains("client=alice")
            && !errors.contains("START"),
        "{errors}"
    );
    let (_, bob, _) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--client-id",
            "bob",
        ],
        &env,
    );
    assert_eq!(bob.lines().count(), 1, "{bob}");
    // `--client` is the same filter; `--tool` keeps the calls of one tool.
    let (_, by_tool, _) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--tool",
            "add",
            "--client",
            "bob",
        ],
        &env,
    );
    assert!(
        by_tool.contains("tool=add") && by_tool.lines().count() == 1,
        "{by_tool}"
    );
    let (_, none, _) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--tool",
            "add",
            "--client",
            "alice",
        ],
        &env,
    );
    assert_eq!(none.lines().count(), 0, "{none}");
    let (_, by_id, _) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--request-id",
            "r-1",
        ],
        &env,
    );
    assert!(
        by_id.contains("client=alice") && by_id.lines().count() == 1,
        "{by_id}"
    );
    let (_, term, _) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--filter",
            "START",
        ],
        &env,
    );
    assert!(
        term.contains("START") && !term.contains("client="),
        "{term}"
    );
    let (_, raw, _) = mcpctl(
        &[
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--output",
            "json",
        ],
        &env,
    );
    let first: Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(first["log_group"], stage.log_group);
    assert!(first["event_id"].is_string() && first["message"].is_string());

    // --follow picks up events written after it started, prints each once, stops on SIGINT.
    let mut child = Command::new(mcpctl_bin())
        .args([
            "logs",
            "--stage",
            "logs",
            "--function",
            "auth",
            "--follow",
            "--since",
            "1h",
        ])
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while lines.len() < 3 {
        lines.push(
            rx.recv_timeout(Duration::from_secs(20))
                .expect("the first events"),
        );
    }
    put_events(
        &config,
        &stage.log_group,
        "s2",
        &[access_line("r-3", 201, "carol", "INFO")],
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !lines.iter().any(|l| l.contains("carol")) && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            lines.push(line);
        }
    }
    // Let it poll a few more times: nothing may be printed twice.
    std::thread::sleep(Duration::from_secs(3));
    while let Ok(line) = rx.try_recv() {
        lines.push(line);
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "stops cleanly on Ctrl-C: {status:?}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("carol")).count(),
        1,
        "{lines:#?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("client=alice")).count(),
        1,
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
}

#[test]
fn help_and_argument_errors() {
    for (command, flags) in [
        (
            "logs",
            &[
                "--follow",
                "--since",
                "--filter",
                "--level",
                "--request-id",
                "--client-id",
                "--function",
                "--access",
                "--output",
            ][..],
        ),
        (
            "smoke-test",
            &["--url", "--stage", "--profile", "--region", "--output"][..],
        ),
        (
            "register-client",
            &[
                "--name",
                "--redirect-uri",
                "--grant-type",
                "--scope",
                "--public",
                "--direct",
                "--output",
            ][..],
        ),
        ("clients", &["list", "show", "delete", "--stage"][..]),
    ] {
        let (code, stdout, _) = mcpctl(&[command, "--help"], &[]);
        assert_eq!(code, Some(0));
        for flag in flags {
            assert!(stdout.contains(flag), "`{command} --help` lacks {flag}");
        }
    }
    let (code, _, stderr) = mcpctl(&["logs"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--stage") || stderr.contains("--log-group"),
        "{stderr}"
    );
    let (code, _, stderr) = mcpctl(&["logs", "--log-group", "g", "--since", "yesterday"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("neither a duration"), "{stderr}");
    let (code, _, _) = mcpctl(&["smoke-test"], &[]);
    assert_eq!(code, Some(2));
    let (code, _, stderr) = mcpctl(
        &[
            "register-client",
            "--url",
            "http://127.0.0.1:9/mcp",
            "--name",
            "x",
            "--direct",
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--stage"), "{stderr}");
}

#[test]
fn a_missing_log_group_is_one_clear_line() {
    let moto = Moto::start();
    let env = moto.env();
    let env = env_refs(&env);
    let (code, _, stderr) = mcpctl(&["logs", "--log-group", "/aws/lambda/never-ran"], &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("log group `/aws/lambda/never-ran` does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("mcpctl deploy"), "{stderr}");
}
