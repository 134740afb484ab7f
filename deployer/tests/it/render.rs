//! `mcpctl render`: snapshots of every shipped stage, `-o FILE`, and the errors of bad input.

use crate::support::{mcpctl, run, scratch_dir, shipped_stages};

#[test]
fn shipped_stages_render_as_their_snapshots() {
    for stage in shipped_stages() {
        let out = run(mcpctl().args(["render", "--stage", &stage]));
        assert!(out.status.success(), "{stage}: {}", out.stderr);
        insta::assert_snapshot!(stage.clone(), out.stdout);
    }
}

#[test]
fn output_file_gets_the_template_and_stdout_stays_empty() {
    let dir = scratch_dir("render-output-file");
    let file = dir.join("dev.yaml");
    let out = run(mcpctl().args(["render", "--stage", "dev", "-o"]).arg(&file));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(out.message().contains("wrote "), "{}", out.stderr);
    let printed = run(mcpctl().args(["render", "--stage", "dev"])).stdout;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), printed);
}

/// Renders `text` as `config/<stage>.yaml` of a scratch config directory.
fn render_config(name: &str, text: &str) -> crate::support::Run {
    let dir = scratch_dir(name);
    std::fs::write(dir.join("bad.yaml"), text).unwrap();
    run(mcpctl()
        .args(["render", "--stage", "bad", "--config-dir"])
        .arg(&dir))
}

#[test]
fn an_unknown_key_names_file_field_and_choices() {
    let out = render_config("render-unknown-key", "lambda:\n  memroy_mb: 512\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message()
            .contains("bad.yaml: lambda: unknown field `memroy_mb`, expected one of `memory_mb`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_value_names_file_field_and_fix() {
    let out = render_config("render-bad-value", "lambda:\n  memory_mb: 100\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message()
            .contains("bad.yaml: lambda.memory_mb: 100 is below 128; use 128..=10240"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_stage_lists_the_configured_ones() {
    let out = run(mcpctl().args(["render", "--stage", "staging"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains("config/staging.yaml: not found"),
        "{}",
        out.stderr
    );
    assert!(
        out.message()
            .contains("configured stages in config: dev, prod"),
        "{}",
        out.stderr
    );
}

#[test]
fn environment_overrides_the_file_and_is_named_in_errors() {
    let out = run(mcpctl()
        .args(["render", "--stage", "dev"])
        .env("MCPCTL_LAMBDA_MEMORY_MB", "1024"));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains(
        "Description: Memory of each function in MB (config lambda.memory_mb).\n    Default: 1024\n"
    ));

    let out = run(mcpctl()
        .args(["render", "--stage", "dev"])
        .env("MCPCTL_LAMBDA_ARCHITECTURE", "amd64"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains(
            "MCPCTL_LAMBDA_ARCHITECTURE: lambda.architecture: `amd64` is not arm64 or x86_64"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_templates_directory_with_a_duplicate_id_names_both_files() {
    let dir = scratch_dir("render-duplicate-id");
    for entry in std::fs::read_dir(crate::support::workspace_root().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.join("extra.yaml"),
        "Resources:\n  AlarmTopic:\n    Type: AWS::SNS::Topic\n",
    )
    .unwrap();
    let out = run(mcpctl().args(["render", "--templates"]).arg(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains("AlarmTopic: defined in both "),
        "{}",
        out.stderr
    );
    assert!(out.message().contains("alarms.yaml and "), "{}", out.stderr);
}
