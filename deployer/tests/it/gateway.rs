//! Gateway mode through the binary: `render` needs neither AWS nor the upstream's directory (the
//! zip's key is a deploy-time parameter, like the main zip's), and `build --stage` zips the
//! upstream in a project that has no Rust crate at all, reporting it as text and JSON.

use std::os::unix::fs::PermissionsExt;

use crate::support::{mcpctl, run};

const STAGE: &str = "\
upstream:
  function:
    source: upstream
    runtime: python3.12
    handler: run.sh
";

/// A project root with `config/gw.yaml`, and with `upstream/` when `with_source`; outside this
/// repository, whose crates `mcpctl` would otherwise find by walking up.
fn project(name: &str, with_source: bool) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("mcpctl-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(root.join("config/gw.yaml"), STAGE).unwrap();
    if with_source {
        std::fs::create_dir_all(root.join("upstream")).unwrap();
        let script = root.join("upstream/run.sh");
        std::fs::write(&script, "#!/bin/sh\nexec python3 server.py\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join("upstream/server.py"), "print('up')\n").unwrap();
    }
    root
}

#[test]
fn render_of_a_gateway_stage_is_offline_and_leaves_the_zip_key_to_deploy() {
    let root = project("gateway-render", false);
    let out = run(mcpctl()
        .current_dir(&root)
        .args(["render", "--stage", "gw", "--config-dir", "config"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "none"));
    assert!(out.status.success(), "{}", out.stderr);
    let template: serde_yaml::Value = serde_yaml::from_str(&out.stdout).unwrap();
    let parameter = &template["Parameters"]["UpstreamCodeKey"];
    assert_eq!(parameter["Type"], "String");
    assert!(parameter.get("Default").is_none(), "{parameter:?}");
    assert!(out.stdout.contains("S3Key: !Ref UpstreamCodeKey"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn build_with_a_stage_zips_the_upstream_without_a_crate() {
    let root = project("gateway-build", true);
    let out = run(mcpctl()
        .current_dir(&root)
        .args(["build", "--stage", "gw", "--output", "json"]));
    assert!(out.status.success(), "{}", out.stderr);
    let built: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let upstream = &built["upstream"];
    let path = std::path::Path::new(upstream["path"].as_str().unwrap());
    assert_eq!(path, root.join("target/lambda/arm64/mcpctl-upstream.zip"));
    assert_eq!(upstream["size"], std::fs::metadata(path).unwrap().len());
    assert_eq!(upstream["sha256"].as_str().unwrap().len(), 64);
    assert!(
        built.get("sha256").is_none(),
        "no crate, no main zip: {built}"
    );
    assert!(
        out.stderr.contains("built the upstream zip only"),
        "{}",
        out.stderr
    );

    let text = run(mcpctl().current_dir(&root).args(["build", "--stage", "gw"]));
    assert!(text.status.success(), "{}", text.stderr);
    assert!(
        text.stdout.contains(&format!(
            "upstream sha256  {}",
            upstream["sha256"].as_str().unwrap()
        )),
        "the same bytes again: {}",
        text.stdout
    );

    // A missing handler is named with the stage file and the field.
    std::fs::remove_file(root.join("upstream/run.sh")).unwrap();
    let out = run(mcpctl().current_dir(&root).args(["build", "--stage", "gw"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.message()
            .contains("config/gw.yaml: upstream.function.handler: upstream/run.sh does not exist"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(&root).unwrap();
}
