//! Whole-system test support: start `mcpctl dev` as a real process, and run the pinned external
//! tools (the official MCP conformance suite, the TypeScript and Python SDK clients) against it.
//!
//! Nothing is skipped silently: a missing binary or tool fails the test with the command that
//! provides it.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: failing loudly with a message is its job"
)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `tests/harness`, where the pinned npm and Python tools live.
pub fn harness() -> PathBuf {
    workspace().join("tests/harness")
}

/// The `mcpctl` binary under test (`MCPCTL_BIN`, else the workspace's debug build).
pub fn mcpctl_bin() -> PathBuf {
    let path = std::env::var_os("MCPCTL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| workspace().join("target"), PathBuf::from)
                .join("debug/mcpctl")
        });
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build -p mcpctl` (tests/run.sh does) or set MCPCTL_BIN",
        path.display()
    );
    path
}

/// Fails unless the external tools are installed.
pub fn require_harness() {
    let node_modules = harness().join("node_modules/@modelcontextprotocol/sdk");
    let venv = harness().join(".venv/bin/python");
    assert!(
        node_modules.exists() && venv.exists(),
        "the pinned test tools are not installed: run tests/harness/install.sh (tests/run.sh does it for you)"
    );
}

/// A running `mcpctl dev`, stopped (by its PID) when dropped.
pub struct DevServer {
    child: Child,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    /// The JSON ready line it printed.
    pub ready: Value,
}

impl DevServer {
    /// Starts `mcpctl dev --port 0 --output json` plus `args`, and waits for its ready line.
    pub fn start(args: &[&str]) -> Self {
        let mut all = vec!["dev", "--output", "json"];
        if !args.contains(&"--port") {
            all.extend(["--port", "0"]);
        }
        all.extend_from_slice(args);
        let mut child = Command::new(mcpctl_bin())
            .args(&all)
            .env(
                "RUST_LOG",
                std::env::var("MCPCTL_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mcpctl dev: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut logs) = sink.lock() {
                    logs.push_str(&line);
                    logs.push('\n');
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("mcpctl dev {all:?} printed no ready line within 20 s");
            }
        };
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("mcpctl dev printed `{line}` instead of its JSON ready line: {e}")
        });
        Self { child, logs, ready }
    }

    /// Everything the server logged to stderr so far (one JSON line per request).
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The MCP endpoint URL.
    pub fn mcp_url(&self) -> String {
        self.ready["mcp_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The issuer URL.
    pub fn issuer(&self) -> String {
        self.ready["issuer"].as_str().unwrap_or_default().to_owned()
    }

    /// The origin (`http://127.0.0.1:PORT`).
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.ready["port"])
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The outcome of an external tool.
#[derive(Debug)]
pub struct ToolRun {
    /// Exit code (`None` if killed).
    pub code: Option<i32>,
    /// Captured stdout and stderr.
    pub output: String,
}

impl ToolRun {
    /// The last non-empty line.
    pub fn last_line(&self) -> &str {
        self.output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
    }

    /// Asserts a zero exit and `N passed, 0 failed` (or the runner's equivalent) at the end.
    pub fn assert_clean(&self, what: &str) {
        let tail: Vec<&str> = self
            .output
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let failures: Vec<&str> = self
            .output
            .lines()
            .filter(|l| l.contains("[FAIL]") || l.contains("FAILURE"))
            .take(30)
            .collect();
        assert!(
            self.code == Some(0),
            "{what} exited with {:?}\nfailures:\n{}\n--- last lines ---\n{}",
            self.code,
            failures.join("\n"),
            tail.join("\n")
        );
    }
}

/// Runs `program args` in `tests/harness` with a deadline.
pub fn run_tool(program: &str, args: &[&str], timeout: Duration) -> ToolRun {
    let mut command = Command::new("timeout");
    command
        .arg("--kill-after=10")
        .arg(timeout.as_secs().to_string())
        .arg(program)
        .args(args)
        .current_dir(harness());
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    ToolRun {
        code: output.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Parses `N passed, M failed` from a line.
pub fn counts(line: &str) -> Option<(u32, u32)> {
    let passed = line
        .split(" passed")
        .next()?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()?;
    let failed = line
        .split(" failed")
        .next()?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()?;
    Some((passed, failed))
}

/// A moto server (AWS APIs on loopback) from `tests/harness/.venv-aws`, on a free port, stopped
/// by its PID when dropped. Each test gets its own, so tests never share AWS state.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto and waits until it answers (about a second).
    pub fn start() -> Self {
        let python = harness().join(".venv-aws/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run tests/harness/install.sh (tests/run.sh does) to install the pinned moto[server]",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        // One request at a time, so conditional writes are atomic as in DynamoDB (see moto_serial.py).
        let child = Command::new(python)
            .arg(harness().join("moto_serial.py"))
            .args(["127.0.0.1", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not listen on port {port} within 30 s");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mcpctl ARGS` with `env`, returning (exit code, stdout, stderr).
pub fn mcpctl(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let output = Command::new(mcpctl_bin())
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run mcpctl: {e}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

impl Moto {
    /// Environment pointing the AWS SDK of a child process at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// An SDK configuration for this server (for tests that prepare AWS state).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_parsed() {
        assert_eq!(counts("97 passed, 0 failed"), Some((97, 0)));
        assert_eq!(
            counts("conformance.sh x: 24 passed, 6 failed exit=1 log=/tmp"),
            Some((24, 6))
        );
        assert_eq!(counts("nothing"), None);
    }
}
