//! Running the binary.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The workspace root (templates/, config/, tests/harness/).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `mcpctl` run from the workspace root with no `MCPCTL_*` variable inherited.
pub fn mcpctl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpctl"));
    command.current_dir(workspace_root());
    for (name, _) in std::env::vars() {
        if name.starts_with("MCPCTL_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// A fresh scratch directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Output with stdout and stderr as text.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// stderr with miette's wrapping undone: one line, single spaces, no box drawing.
impl Run {
    pub fn message(&self) -> String {
        self.stderr
            .split_whitespace()
            .filter(|word| !matches!(*word, "×" | "│" | "╰─▶" | "├─▶"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    Run {
        status,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// The stage names (`*.yaml` file stems) in `dir`, relative to the workspace root, sorted.
fn stages_in(dir: &str) -> Vec<String> {
    let mut stages: Vec<String> = std::fs::read_dir(workspace_root().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    stages.sort();
    stages
}

/// The stages shipped in config/.
pub fn shipped_stages() -> Vec<String> {
    let stages = stages_in("config");
    assert!(stages.contains(&"dev".to_owned()) && stages.contains(&"prod".to_owned()));
    stages
}

/// Stage files that exist only for tests (`deployer/tests/fixtures/config`), relative to the
/// workspace root, the directory `mcpctl` runs in.
pub const FIXTURE_CONFIG_DIR: &str = "deployer/tests/fixtures/config";

/// The stages of [`FIXTURE_CONFIG_DIR`]: configurations the shipped stages do not cover.
pub fn fixture_stages() -> Vec<String> {
    let stages = stages_in(FIXTURE_CONFIG_DIR);
    assert!(stages.contains(&"cognito".to_owned()) && stages.contains(&"oidc".to_owned()));
    stages
}
