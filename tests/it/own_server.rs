//! A user's own server, end to end, the way the README tells a newcomer to work:
//! `mcpctl new` in a temporary directory, a tool added that needs a scope, the crate's own
//! `cargo test`, then `mcpctl dev` started from inside the crate with no flags, where the official
//! TypeScript SDK client completes OAuth, calls the tools, is refused the scoped tool with 403
//! `insufficient_scope`, steps up and succeeds. The same crate's `bootstrap` then answers
//! `tools/call` under the Lambda runtime emulator (reading its secret from Secrets Manager at cold
//! start), and the crate renders and deploys against moto with its own stage config.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use e2e::{DevServer, Moto, mcpctl_in, require_harness, run_tool_with_env, workspace};
use serde_json::{Value, json};

use crate::lambda_emulator::{Function, Stack};

/// The tools the test adds to the scaffold's `hello`: one that needs `notes:write`, and one that
/// says whether the stage's secret reached the function (never its value).
const ADDED_TOOLS: &str = r#"
    /// Saves a note for the caller; needs `notes:write`.
    #[tool(
        description = "Save a note",
        meta = mcpctl_handler::requires_scope("notes:write")
    )]
    async fn save_note(
        &self,
        Parameters(NoteArgs { text }): Parameters<NoteArgs>,
        caller: Caller,
    ) -> String {
        format!("saved {} bytes for {}", text.len(), caller.subject)
    }

    /// Whether the stage's `GREETING` secret was read at start, and its length.
    #[tool(description = "Report the secret")]
    async fn secret_status(&self) -> String {
        match mcpctl_handler::secret("GREETING") {
            Some(value) => format!("secret GREETING: {} bytes", value.len()),
            None => "secret GREETING: absent".into(),
        }
    }
"#;

const NOTE_ARGS: &str = r#"
/// Input of `save_note`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteArgs {
    /// The note.
    text: String,
}
"#;

/// Where the new crate's builds go: a target directory of its own (its `bootstrap` must not
/// replace the workspace's), seeded from the workspace's debug build so the dependencies the two
/// share (same lockfile, same features) are not compiled again.
fn crate_target_dir() -> PathBuf {
    let workspace_target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from);
    let dir = workspace_target.join("own-server");
    if !dir.join("debug").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        // Hard links: instant, and cargo replaces files rather than writing into them.
        let seeded = Command::new("cp")
            .arg("-al")
            .arg(workspace_target.join("debug"))
            .arg(dir.join("debug"))
            .status()
            .is_ok_and(|s| s.success());
        if seeded {
            let _ = std::fs::remove_file(dir.join("debug/bootstrap"));
        }
    }
    dir
}

/// `mcpctl new notes-demo` in a fresh temporary directory, plus the added tools and the scope in
/// the crate's `config/dev.yaml`.
fn scaffold() -> PathBuf {
    let parent = std::env::temp_dir().join(format!("mcpctl-own-server-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).unwrap();
    let repo = workspace().canonicalize().unwrap().display().to_string();
    let (code, stdout, stderr) = mcpctl_in(
        &parent,
        &["new", "notes-demo", "--path", &repo, "--output", "json"],
        &[],
    );
    assert_eq!(code, Some(0), "mcpctl new failed: {stderr}");
    let created: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let root = PathBuf::from(created["created"].as_str().unwrap());
    assert_eq!(root, parent.join("notes-demo"));
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "src/tests.rs",
        "config/dev.yaml",
        "config/prod.yaml",
        "README.md",
    ] {
        assert!(root.join(file).is_file(), "mcpctl new did not write {file}");
    }

    let main = root.join("src/main.rs");
    let source = std::fs::read_to_string(&main).unwrap();
    let anchor = "#[tool_router]\nimpl Server {";
    assert!(
        source.contains(anchor),
        "the scaffold's main.rs changed shape:\n{source}"
    );
    let source = source.replacen(anchor, &format!("{NOTE_ARGS}\n{anchor}\n{ADDED_TOOLS}"), 1);
    std::fs::write(&main, source).unwrap();

    let dev = root.join("config/dev.yaml");
    let config = std::fs::read_to_string(&dev).unwrap();
    assert!(config.contains("\noauth:\n"), "{config}");
    let config = config.replacen("\noauth:\n", "\noauth:\n  scopes:\n    - notes:write\n", 1);
    std::fs::write(&dev, config).unwrap();
    root
}

fn cargo(root: &Path, args: &[&str], target: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(args)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(
        output.status.success(),
        "cargo {args:?} in the new crate failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crate_from_mcpctl_new_runs_under_dev_lambda_and_deploys() {
    require_harness();
    let root = scaffold();
    let target = crate_target_dir();
    let target_env = target.display().to_string();

    // The scaffold's own test calls its tool in-process, and passes.
    cargo(&root, &["test", "--offline", "--quiet"], &target);
    cargo(
        &root,
        &["build", "--offline", "--bin", "bootstrap"],
        &target,
    );

    // ---- mcpctl dev from inside the crate, no flags: the TypeScript SDK client ----
    {
        let server = DevServer::start_in(
            &root,
            &["--auto-approve"],
            &[("CARGO_TARGET_DIR", target_env.as_str())],
        );
        let url = server.mcp_url();
        let token = server.operator_token();
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
                r#"{"name":"Ada"}"#,
                "--step-up-tool",
                "save_note",
                "--step-up-args",
                r#"{"text":"buy milk"}"#,
            ],
            Duration::from_secs(180),
            &[("MCP_INITIAL_ACCESS_TOKEN", token.as_str())],
        );
        run.assert_clean("the TypeScript SDK client against the new crate");
        for line in [
            r#"[PASS] [auth_code] step-up: 403 WWW-Authenticate error="insufficient_scope""#,
            "[PASS] [auth_code] step-up: 403 challenge names the required scope",
            "[PASS] [auth_code] step-up: tool call after re-authorization",
        ] {
            assert!(
                run.output.contains(line),
                "missing `{line}`:\n{}",
                run.output
            );
        }
        assert!(
            run.output.contains("notes:write"),
            "the step-up never asked for notes:write:\n{}",
            run.output
        );
        // The tools ran in the crate's own process, which logs its requests on mcpctl dev's stderr.
        let logs = server.logs_with("save_note");
        assert!(logs.contains(r#""error":"insufficient_scope""#), "{logs}");
    }

    // ---- the crate's bootstrap under the Lambda runtime emulator, MCP role ----
    // With the Lambda host, as `mcpctl build` builds it (`mcpctl dev` built it without).
    cargo(
        &root,
        &[
            "build",
            "--offline",
            "--bin",
            "bootstrap",
            "--features",
            "mcpctl-handler/aws",
        ],
        &target,
    );
    {
        let stack = Stack::create().await;
        let secret_arn = stack
            .put_secret("notes-demo-greeting", "hello from the stage")
            .await;
        let mut env = stack.verify_only_env("mcp");
        env.push((
            "MCP_APP_SECRETS",
            json!({ "GREETING": secret_arn }).to_string(),
        ));
        env.push(("MCP_SCOPES", "notes:write".into()));
        let function =
            Function::start_binary(&target.join("debug/bootstrap"), "notes-demo-mcp", &env);
        let token = stack.person_token("mcp");
        for (tool, expected) in [
            ("hello", "Hello, Ada!"),
            ("secret_status", "secret GREETING: 20 bytes"),
        ] {
            let (status, _, body) = function
                .mcp_call(&token, tool, json!({ "name": "Ada" }))
                .await;
            assert_eq!(status, 200, "{tool}: {body}");
            assert!(body.contains(expected), "{tool}: {body}");
        }
        let (status, headers, body) = function
            .mcp_call(&token, "save_note", json!({ "text": "x" }))
            .await;
        assert_eq!(status, 403, "{body}");
        let challenge = headers["www-authenticate"].as_str().unwrap_or_default();
        assert!(challenge.contains("notes:write"), "{challenge}");
        let token = stack.person_token("mcp notes:write");
        let (status, _, body) = function
            .mcp_call(&token, "save_note", json!({ "text": "x" }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("saved 1 bytes"), "{body}");
        assert!(
            !function.output().contains("hello from the stage"),
            "the secret's value reached the log"
        );
    }

    // ---- render and deploy the crate's own stage against moto ----
    let moto = Moto::start();
    let moto_env = moto.env();
    let env: Vec<(&str, &str)> = moto_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, template, stderr) = mcpctl_in(&root, &["render", "--stage", "dev"], &env);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        template.contains("notes:write"),
        "MCP_SCOPES is not in the template"
    );
    let zip = crate::deploy::zip_of(&std::fs::read(target.join("debug/bootstrap")).unwrap());
    let zip_arg = zip.display().to_string();
    let (code, stdout, stderr) = mcpctl_in(
        &root,
        &[
            "deploy",
            "--stage",
            "dev",
            "--artifact",
            &zip_arg,
            "--yes",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "deploy failed: {stderr}");
    let deployed: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(deployed["status"], "CREATE_COMPLETE", "{deployed}");
    let mcp_function = deployed["outputs"]["McpFunctionName"].as_str().unwrap();
    assert!(mcp_function.starts_with("notes-demo-dev"), "{deployed}");
    let config = moto.sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let function = lambda
        .get_function_configuration()
        .function_name(mcp_function)
        .send()
        .await
        .unwrap();
    let variables = function.environment().and_then(|e| e.variables()).unwrap();
    assert_eq!(
        variables.get("MCP_HANDLER").map(String::as_str),
        Some("mcp")
    );
    assert!(
        variables
            .get("MCP_SCOPES")
            .is_some_and(|s| s.contains("notes:write")),
        "{variables:?}"
    );
    // status and diff find the crate's stack the same way, with no flags.
    let (code, stdout, stderr) = mcpctl_in(
        &root,
        &["status", "--stage", "dev", "--output", "json"],
        &env,
    );
    assert_eq!(code, Some(0), "status failed: {stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(status["status"], "CREATE_COMPLETE", "{status}");
    assert_eq!(
        status["outputs"]["McpFunctionName"], mcp_function,
        "{status}"
    );
    let (code, stdout, stderr) = mcpctl_in(
        &root,
        &[
            "diff",
            "--stage",
            "dev",
            "--artifact",
            &zip_arg,
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "diff failed: {stderr}");
    let diff: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(diff["changes"], json!([]), "{diff}");
    let _ = std::fs::remove_dir_all(root.parent().unwrap());
}
