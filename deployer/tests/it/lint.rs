//! Every shipped stage and every test fixture stage passes cfn-lint (no error, no warning) and
//! checkov (no failed check; the only skips are written in the templates next to their resource,
//! each with a reason).
//!
//! The linters live in venvs that `tests/harness/install.sh` builds from pinned lock files; a
//! missing venv fails the test (it never skips silently).

use std::{path::Path, process::Command};

use crate::support::{
    FIXTURE_CONFIG_DIR, fixture_stages, mcpctl, run, scratch_dir, shipped_stages, workspace_root,
};

fn tool(venv: &str, binary: &str) -> std::path::PathBuf {
    let path = workspace_root()
        .join("tests/harness")
        .join(venv)
        .join("bin")
        .join(binary);
    assert!(
        path.exists(),
        "{} is missing: run tests/harness/install.sh",
        path.display()
    );
    path
}

fn render_to(stage: &str, config_dir: &str, dir: &Path) -> std::path::PathBuf {
    let file = dir.join(format!("{stage}.yaml"));
    let out = run(mcpctl()
        .args(["render", "--stage", stage, "--config-dir", config_dir, "-o"])
        .arg(&file));
    assert!(out.status.success(), "{stage}: {}", out.stderr);
    file
}

/// A stage that turns on every optional secret and variable the fixtures leave off (an initial
/// access token, a groups scope, its own redirect schemes), so their conditional statements and
/// variables are linted with their conditions true.
const EVERY_OPTION_STAGE: &str = "\
region: eu-west-1
production: true
oauth:
  initial_access_token_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp-iat-AbCdEf
  redirect_schemes: [cursor, com.example.app]
  refresh_max_lifetime_days: 30
  scopes: [notes:read, notes:write]
identity:
  mode: oidc
  oidc:
    issuer: https://login.example.com
    client_id: mcpctl-lint
    client_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp-oidc-AbCdEf
  groups_scope: groups
mcp_function:
  memory_mb: 1024
  timeout_seconds: 20
  environment:
    NOTES_API_URL: https://notes.example.com/api
  secrets:
    NOTES_API_KEY: arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-api-key-AbCdEf
    NOTES_SIGNING_KEY: arn:aws:ssm:eu-west-1:123456789012:parameter/notes/signing-key
  iam_statements:
    - Sid: ReadNotesBucket
      Effect: Allow
      Action: s3:GetObject
      Resource: arn:aws:s3:::my-notes-bucket/*
    - Effect: Allow
      Action: kms:Decrypt
      Resource: arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000
      Condition:
        StringEquals:
          kms:ViaService: secretsmanager.eu-west-1.amazonaws.com
  table:
    name: notes
";

/// Gateway mode in front of an https upstream, with a tool allow-list and a tool's scope.
const GATEWAY_URL_STAGE: &str = "\
region: eu-west-1
production: true
tracing: true
oauth:
  registration_open: false
  scopes: [notes:write]
upstream:
  url: https://mcp.example.com/mcp
  timeout_seconds: 20
  max_concurrency: 32
  tools: [echo, save_note]
  tool_scopes: {save_note: \"notes:write\"}
";

/// Gateway mode with an upstream function the stack runs from a zip, with every option that
/// shapes the function, its role and its alarms (the source directory is not read to render).
const GATEWAY_FUNCTION_STAGE: &str = "\
region: eu-west-1
production: true
tracing: true
oauth:
  registration_open: false
upstream:
  function:
    source: upstream
    runtime: python3.12
    handler: run.sh
    memory_mb: 1024
    timeout_seconds: 29
    port: 8000
    path: /mcp
    environment:
      NOTES_URL: https://notes.example.com
    iam_statements:
      - Sid: ReadNotesBucket
        Effect: Allow
        Action: s3:GetObject
        Resource: arn:aws:s3:::my-notes-bucket/*
";

/// Gateway mode with an upstream container image (x86_64).
const GATEWAY_IMAGE_STAGE: &str = "\
region: eu-west-1
upstream:
  function:
    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-server:v1
    architecture: x86_64
";

/// Every template mcpctl deploys: each shipped stage, rendered, the test fixture stages (the
/// identity modes the shipped stages leave out), a stage with every option on, the gateway
/// stages (url, zip function, image), and the bootstrap stack's.
fn shipped_templates(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut templates: Vec<(String, std::path::PathBuf)> = shipped_stages()
        .into_iter()
        .map(|stage| (stage.clone(), render_to(&stage, "config", dir)))
        .collect();
    templates.extend(fixture_stages().into_iter().map(|stage| {
        let file = render_to(&stage, FIXTURE_CONFIG_DIR, dir);
        (format!("{FIXTURE_CONFIG_DIR}/{stage}"), file)
    }));
    let options = dir.join("every-option-config");
    std::fs::create_dir_all(&options).unwrap();
    std::fs::write(options.join("options.yaml"), EVERY_OPTION_STAGE).unwrap();
    templates.push((
        "every-option".to_owned(),
        render_to("options", options.to_str().unwrap(), dir),
    ));
    for (stage, text) in [
        ("gatewayurl", GATEWAY_URL_STAGE),
        ("gatewayfunction", GATEWAY_FUNCTION_STAGE),
        ("gatewayimage", GATEWAY_IMAGE_STAGE),
    ] {
        std::fs::write(options.join(format!("{stage}.yaml")), text).unwrap();
        templates.push((
            stage.to_owned(),
            render_to(stage, options.to_str().unwrap(), dir),
        ));
    }
    templates.push((
        "bootstrap".to_owned(),
        crate::support::workspace_root().join("templates/bootstrap/artifacts.yaml"),
    ));
    templates
}

#[test]
fn shipped_stages_pass_cfn_lint_without_errors_or_warnings() {
    let cfn_lint = tool(".venv-lint", "cfn-lint");
    let dir = scratch_dir("lint-cfn-lint");
    let mut failures = Vec::new();
    for (stage, file) in shipped_templates(&dir) {
        let out = run(Command::new(&cfn_lint).arg("--").arg(&file));
        // Exit code bits: 2 error, 4 warning, 8 informational; anything else is a crash.
        let code = out.status.code().unwrap_or(-1);
        if code & !8 != 0 {
            failures.push(format!(
                "{stage}: cfn-lint exit {code}\n{}{}",
                out.stdout, out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shipped_stages_pass_checkov() {
    let checkov = tool(".venv-checkov", "checkov");
    let dir = scratch_dir("lint-checkov");
    let mut failures = Vec::new();
    for (stage, file) in shipped_templates(&dir) {
        let out = run(Command::new(&checkov)
            .arg("-f")
            .arg(&file)
            .args([
                "--framework",
                "cloudformation",
                "--compact",
                "--quiet",
                "--skip-download",
                "--output",
                "json",
            ])
            .env("BC_SKIP_MAPPING", "TRUE"));
        let report: serde_json::Value = match serde_json::from_str(&out.stdout) {
            Ok(report) => report,
            Err(error) => {
                failures.push(format!(
                    "{stage}: checkov printed no JSON report ({error}), exit {:?}\n{}{}",
                    out.status.code(),
                    out.stdout,
                    out.stderr
                ));
                continue;
            }
        };
        let summary = &report["summary"];
        let failed = &report["results"]["failed_checks"];
        let parsed = summary["parsing_errors"] == 0 && summary["resource_count"].as_u64() > Some(0);
        if !out.status.success() || summary["failed"] != 0 || !parsed {
            let findings: Vec<String> = failed
                .as_array()
                .into_iter()
                .flatten()
                .map(|check| {
                    format!(
                        "  {} {} on {} (lines {})",
                        check["check_id"].as_str().unwrap_or("?"),
                        check["check_name"].as_str().unwrap_or("?"),
                        check["resource"].as_str().unwrap_or("?"),
                        check["file_line_range"]
                    )
                })
                .collect();
            failures.push(format!(
                "{stage}: checkov exit {:?}, summary {summary}\n{}",
                out.status.code(),
                findings.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
