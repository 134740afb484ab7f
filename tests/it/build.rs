//! `mcpctl build`: the arm64 zip for Lambda is under 4.25 MB and byte-for-byte reproducible.

use std::time::Instant;

use e2e::{harness, mcpctl, workspace};
use serde_json::Value;

#[test]
fn arm64_zip_is_small_and_reproducible() {
    let tools = harness().join(".venv-lambda/bin");
    assert!(
        tools.join("cargo-lambda").exists(),
        "cargo-lambda is missing: run tests/harness/install.sh (tests/run.sh does)"
    );
    // cargo-lambda finds Zig through `python3 -m ziglang`, so the venv's bin goes first on PATH.
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    // What a plain `cargo build --profile lambda` leaves: a `bootstrap` file in target/lambda,
    // which cargo-lambda's default output directory would need as a directory.
    let native = target_dir().join("lambda");
    std::fs::create_dir_all(&native).unwrap();
    if !native.join("bootstrap").exists() {
        std::fs::write(native.join("bootstrap"), b"a native lambda-profile build").unwrap();
    }
    let mut hashes = Vec::new();
    for round in 0..2 {
        let start = Instant::now();
        let (code, stdout, stderr) =
            mcpctl(&["build", "--arch", "arm64", "--output", "json"], &env);
        assert_eq!(code, Some(0), "build {round} failed: {stderr}");
        let built: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        let size = built["size"].as_u64().unwrap();
        // The target is 3 MB (bench/RESULTS.md says where the bytes are); this budget
        // catches growth.
        assert!(
            size < 4_250_000,
            "the zip is {size} bytes; the budget is 4.25 MB"
        );
        println!(
            "build {round}: {size} bytes, sha256 {}, {:.1} s",
            built["sha256"],
            start.elapsed().as_secs_f64()
        );
        hashes.push(built["sha256"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        hashes[0], hashes[1],
        "two builds of the same source give the same zip"
    );
}

#[test]
fn missing_tools_are_named() {
    // With an empty PATH cargo itself is gone; with cargo but no cargo-lambda the message names it.
    let cargo_dir = std::path::Path::new(
        &std::env::var("CARGO").unwrap_or_else(|_| "/root/.cargo/bin/cargo".into()),
    )
    .parent()
    .map(|p| p.display().to_string())
    .unwrap_or_default();
    let (code, _, stderr) = mcpctl(
        &["build", "--arch", "arm64"],
        &[("PATH", cargo_dir.as_str())],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cargo-lambda is not installed")
            && stderr.contains("pip install cargo-lambda ziglang"),
        "{stderr}"
    );
}

/// The workspace's target directory, as `mcpctl build` finds it through `cargo metadata`.
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}
