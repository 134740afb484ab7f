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

pub mod breaking_proxy;

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
        "{} does not exist: run `cargo build -p mcpctl --features aws` (tests/run.sh does) or set MCPCTL_BIN",
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

/// The first line `child` prints on stdout, waiting at most `timeout`; the rest of its stdout is
/// drained so it never blocks on a full pipe. On a timeout the child is killed and the test fails
/// with `what` and `hint`.
fn first_line(child: &mut Child, what: &str, timeout: Duration, hint: &str) -> String {
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
        lines.map_while(Result::ok).for_each(drop);
    });
    match rx.recv_timeout(timeout) {
        Ok(line) if !line.is_empty() => line,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} printed no first line within {} s{hint}",
                timeout.as_secs()
            );
        }
    }
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
        Self::start_with_env(args, &[])
    }

    /// [`DevServer::start`] with extra environment variables (e.g. `MCPCTL_OIDC_CLIENT_SECRET`).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_in(
            &std::env::current_dir().unwrap_or_else(|_| workspace()),
            args,
            env,
        )
    }

    /// [`DevServer::start_with_env`] run from `dir`, as a user runs it inside their crate.
    pub fn start_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["dev", "--output", "json"];
        if !args.contains(&"--port") {
            all.extend(["--port", "0"]);
        }
        all.extend_from_slice(args);
        let mut child = Command::new(mcpctl_bin())
            .current_dir(dir)
            .args(&all)
            .envs(env.iter().copied())
            .env(
                "RUST_LOG",
                std::env::var("MCPCTL_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mcpctl dev: {e}"));
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
        let line = first_line(
            &mut child,
            &format!("mcpctl dev {all:?}"),
            // A server crate is `cargo build`-checked first: a no-op after tests/run.sh's builds,
            // but it waits for cargo's lock while other tests build.
            Duration::from_secs(90),
            "",
        );
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

    /// [`DevServer::logs`] once they contain `needle` (or after 10 s): a request's log line
    /// reaches the reader thread some time after its response reached the client.
    pub fn logs_with(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) || std::time::Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The MCP endpoint URL.
    pub fn mcp_url(&self) -> String {
        self.ready["mcp_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The operator's initial access token (RFC 7591 §3) it printed: machine clients register
    /// with it.
    pub fn operator_token(&self) -> String {
        self.ready["initial_access_token"]
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

/// A real OpenID provider on loopback (npm `oidc-provider`, `tests/harness/upstream-op.mjs`)
/// with one confidential client, accepting `http://127.0.0.1:*/oauth/callback`; stopped by PID
/// when dropped. Accounts: `alice`/`wonderland` (groups mcp-users, admins), `bob`/`builder`.
pub struct UpstreamOp {
    child: Child,
    /// Its issuer URL.
    pub issuer: String,
}

impl UpstreamOp {
    /// The client id registered at the provider.
    pub const CLIENT_ID: &'static str = "mcpctl-dev";
    /// Its secret.
    pub const CLIENT_SECRET: &'static str = "upstream-client-secret";

    /// Starts the provider and waits for its ready line.
    pub fn start() -> Self {
        require_harness();
        let mut child = Command::new("node")
            .args([
                "upstream-op.mjs",
                "--port",
                "0",
                "--client-id",
                Self::CLIENT_ID,
                "--client-secret",
                Self::CLIENT_SECRET,
                "--redirect-uri",
                "http://127.0.0.1:*/oauth/callback",
                "--quiet",
            ])
            .current_dir(harness())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node upstream-op.mjs (install Node.js >= 20 and run tests/harness/install.sh): {e}"));
        let line = first_line(&mut child, "upstream-op.mjs", Duration::from_secs(20), "");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("upstream-op.mjs printed `{line}` instead of its JSON ready line ({e}); run tests/harness/install.sh")
        });
        let issuer = ready["issuer"].as_str().unwrap_or_default().to_owned();
        Self { child, issuer }
    }
}

impl Drop for UpstreamOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `body` as `application/json` to every request on a loopback port, for as long as the
/// test process lives; returns its URL.
pub fn serve_json_forever(body: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// Which real MCP server an [`McpUpstream`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// `tests/harness/upstream-fastmcp.py`: FastMCP 4.2.3 (Python), JWTVerifier over our JWKS.
    FastMcp,
    /// `tests/harness/upstream-ts.mjs`: the TypeScript SDK's McpServer, stateful, jose verifier.
    TypeScript,
}

/// A real MCP server in another language for gateway mode, verifying the gateway's identity
/// assertions with `--issuer` and our JWKS; it records every request's `Authorization` header
/// in a file. Stopped (by PID) when dropped; it also exits when its stdin closes.
pub struct McpUpstream {
    child: Child,
    _lifeline: Option<std::process::ChildStdin>,
    record: PathBuf,
    /// Its MCP endpoint, `http://127.0.0.1:PORT/mcp` (also the audience it expects).
    pub url: String,
}

impl McpUpstream {
    /// Starts `kind` trusting assertions from `issuer` (the gateway's JWKS at
    /// `<issuer>/.well-known/mcpctl-gateway-jwks.json`)
    /// for `audience` (`self`: its own URL), plus `extra` arguments, and waits for its ready line.
    pub fn start(kind: UpstreamKind, issuer: &str, audience: &str, extra: &[&str]) -> Self {
        let jwks = format!(
            "{}/.well-known/mcpctl-gateway-jwks.json",
            issuer.trim_end_matches('/')
        );
        Self::start_with_jwks(kind, issuer, audience, &jwks, extra)
    }

    /// [`McpUpstream::start`] with the JWKS at `jwks` (when the issuer's host is not reachable).
    pub fn start_with_jwks(
        kind: UpstreamKind,
        issuer: &str,
        audience: &str,
        jwks: &str,
        extra: &[&str],
    ) -> Self {
        require_harness();
        let record = std::env::temp_dir().join(format!(
            "mcpctl-upstream-{}-{}.jsonl",
            std::process::id(),
            NEXT_RECORD.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&record);
        let (program, script) = match kind {
            UpstreamKind::FastMcp => (harness().join(".venv/bin/python"), "upstream-fastmcp.py"),
            UpstreamKind::TypeScript => (PathBuf::from("node"), "upstream-ts.mjs"),
        };
        let mut child = Command::new(&program)
            .arg(script)
            .args([
                "--port",
                "0",
                "--issuer",
                issuer,
                "--audience",
                audience,
                "--jwks-url",
                jwks,
            ])
            .arg("--record")
            .arg(&record)
            .args(extra)
            .current_dir(harness())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {script} with {}: {e}; run tests/harness/install.sh",
                    program.display()
                )
            });
        let lifeline = child.stdin.take();
        let line = first_line(
            &mut child,
            script,
            Duration::from_secs(60),
            "; run tests/harness/install.sh",
        );
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("{script} printed `{line}` instead of its ready line ({e})")
        });
        let address = ready["listening"].as_str().unwrap_or_default().to_owned();
        Self {
            child,
            _lifeline: lifeline,
            record,
            url: format!("http://{address}/mcp"),
        }
    }

    /// Every request it received: one JSON object each (method, path, authorization, ...).
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

static NEXT_RECORD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Drop for McpUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.record);
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
    run_tool_with_env(program, args, timeout, &[])
}

/// [`run_tool`] with extra environment variables (e.g. `MCP_INITIAL_ACCESS_TOKEN`).
pub fn run_tool_with_env(
    program: &str,
    args: &[&str],
    timeout: Duration,
    env: &[(&str, &str)],
) -> ToolRun {
    let mut command = Command::new("timeout");
    command
        .envs(env.iter().copied())
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
        Self::start_with_env(&[])
    }

    /// [`Moto::start`] with moto settings in its environment, e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0`, with which moto checks every request's access key.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let python = harness().join(".venv-aws/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run tests/harness/install.sh (tests/run.sh does) to install the pinned moto[server]",
            python.display()
        );
        // One request at a time, so conditional writes are atomic as in DynamoDB (see moto_serial.py).
        // Port 0: moto binds a free port itself and prints it, so no other server can take the
        // port between our choosing it and moto listening on it.
        let mut child = Command::new(python)
            .arg(harness().join("moto_serial.py"))
            .args(["127.0.0.1", "0"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
        let hint = ": run tests/harness/moto_serial.py 127.0.0.1 0 by hand to see why";
        let line = first_line(&mut child, "moto_serial.py", Duration::from_secs(30), hint);
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("moto_serial.py printed `{line}` instead of its port{hint}")
        });
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
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
    mcpctl_in(&workspace(), args, env)
}

/// [`mcpctl`] run from `dir` (a user's crate: commands find it as cargo does).
pub fn mcpctl_in(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let output = Command::new(mcpctl_bin())
        .current_dir(dir)
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

/// A loopback proxy in front of an AWS query-protocol endpoint (CloudFormation) that answers
/// chosen actions itself, optionally only once another action has been seen: this is how tests
/// get the errors and failure events real CloudFormation produces and moto does not.
pub struct QueryFaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// One canned answer: for `action` (after `after` was seen, if set), reply `status` + `body`.
#[derive(Clone)]
pub struct CannedReply {
    /// The query `Action` to answer.
    pub action: &'static str,
    /// Only once this action has been forwarded.
    pub after: Option<&'static str>,
    /// HTTP status.
    pub status: u16,
    /// XML body.
    pub body: String,
}

impl QueryFaultProxy {
    /// Starts the proxy on a free port in a background thread with its own runtime.
    pub fn start(target: &str, replies: Vec<CannedReply>) -> Self {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let endpoint = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let state = (target.to_owned(), replies, seen.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
            runtime.block_on(async move {
                let listener = into_tokio(listener);
                let http = reqwest::Client::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (target, replies, seen) = state.clone();
                    let http = http.clone();
                    tokio::spawn(async move {
                        serve_one(stream, &target, &replies, &seen, &http).await
                    });
                }
            });
        });
        Self { endpoint, seen }
    }

    /// The actions seen so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    target: &str,
    replies: &[CannedReply],
    seen: &std::sync::Mutex<Vec<String>>,
    http: &reqwest::Client,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A minimal HTTP/1.1 exchange: the SDK sends one request per connection here (Connection: close below).
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, content_length) = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..pos]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (pos + 4, length);
        }
    };
    while buffer.len() < head_end + content_length {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let body = buffer[head_end..].to_vec();
    let form: Vec<(String, String)> = url_decode_form(&body);
    let action = form
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let canned = {
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        replies
            .iter()
            .find(|r| r.action == action && r.after.is_none_or(|a| seen.iter().any(|s| s == a)))
            .cloned()
    };
    if let Ok(mut list) = seen.lock() {
        list.push(action.clone());
    }
    let (status, content_type, reply) = match canned {
        Some(reply) => (reply.status, "text/xml".to_owned(), reply.body.into_bytes()),
        None => {
            let mut request_line = head.lines().next().unwrap_or_default().split(' ');
            let method =
                reqwest::Method::from_bytes(request_line.next().unwrap_or("POST").as_bytes())
                    .unwrap_or(reqwest::Method::POST);
            let path = request_line.next().unwrap_or("/");
            let mut request = http.request(method, format!("{target}{path}")).body(body);
            for line in head.lines().skip(1) {
                if let Some((name, value)) = line.split_once(':') {
                    let name = name.trim();
                    if !name.eq_ignore_ascii_case("host")
                        && !name.eq_ignore_ascii_case("content-length")
                        && !name.eq_ignore_ascii_case("connection")
                    {
                        request = request.header(name, value.trim());
                    }
                }
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let content_type = response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("text/xml")
                        .to_owned();
                    (
                        status,
                        content_type,
                        response
                            .bytes()
                            .await
                            .map(|b| b.to_vec())
                            .unwrap_or_default(),
                    )
                }
                Err(_) => (502, "text/plain".to_owned(), b"bad gateway".to_vec()),
            }
        }
    };
    let header = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reply.len()
    );
    let _ = stream.write_all(header.as_bytes()).await;
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

/// A bound std listener as a tokio one, for a server that runs in its own runtime (call it
/// inside that runtime).
fn into_tokio(listener: std::net::TcpListener) -> tokio::net::TcpListener {
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| panic!("{e}"))
}

fn url_decode_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
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
