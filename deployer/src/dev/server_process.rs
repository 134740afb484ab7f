//! A server crate under `mcpctl dev`: built with cargo, started as its own process on loopback
//! (the library's dev mode, `MCPCTL_DEV_LISTEN`), and reached through a proxy on `/mcp`. The
//! authorization server stays in `mcpctl dev`; the crate's process verifies tokens with the
//! published JWKS, exactly as the MCP function does on Lambda.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, StatusCode, header},
    response::{IntoResponse, Response},
};
use miette::{IntoDiagnostic, WrapErr, miette};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// How long a started server may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The crate to build and run.
#[derive(Debug, Clone)]
pub(crate) struct ServerCrate {
    /// Its `Cargo.toml`.
    pub(crate) manifest: PathBuf,
    /// The package name.
    pub(crate) package: String,
    /// The binary target.
    pub(crate) bin: String,
    /// cargo's target directory for it.
    pub(crate) target_dir: PathBuf,
}

/// What the crate's process must know: where tokens come from and who may call.
#[derive(Debug, Clone)]
pub(crate) struct ProcessEnv {
    /// `MCP_PUBLIC_URL`: the issuer and resource the tokens name.
    pub(crate) public_url: String,
    /// `MCP_JWKS`: the public keys of `mcpctl dev`'s signing key.
    pub(crate) jwks: String,
    /// `MCP_ALLOWED_ORIGINS`.
    pub(crate) allowed_origins: Vec<String>,
    /// `MCP_ALLOWED_HOSTS`.
    pub(crate) allowed_hosts: Vec<String>,
    /// `MCP_SCOPES`.
    pub(crate) scopes: Vec<String>,
    /// `MCP_SERVER_*` from the dev stage's `server:` (the variables the Lambda gets).
    pub(crate) server: Vec<(&'static str, String)>,
}

/// The running process; stopped when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    /// The process's stdin, held open: it exits when this closes (also when mcpctl is killed).
    _lifeline: Option<tokio::process::ChildStdin>,
    /// `http://127.0.0.1:PORT/mcp`.
    pub(crate) mcp_url: String,
}

impl ServerCrate {
    /// `cargo build`s the binary (debug: the fastest to rebuild while writing tools) and returns
    /// its path. cargo's progress goes to stderr, as the user expects from cargo.
    pub(crate) async fn build(&self) -> miette::Result<PathBuf> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--manifest-path"])
            .arg(&self.manifest)
            .args(["--package", &self.package, "--bin", &self.bin])
            .stdout(Stdio::null())
            .status()
            .await
            .into_diagnostic()
            .wrap_err("cannot run cargo: is the Rust toolchain installed and on PATH?")?;
        if !status.success() {
            return Err(miette!(
                help = "fix the compile errors above, then run `mcpctl dev` again",
                "cargo could not build `{}` ({})",
                self.package,
                self.manifest.display()
            ));
        }
        let binary = self.target_dir.join("debug").join(&self.bin);
        if !binary.is_file() {
            return Err(miette!(
                "cargo built `{}` but {} is not there",
                self.package,
                binary.display()
            ));
        }
        Ok(binary)
    }
}

impl ServerProcess {
    /// Starts `binary` in the library's dev mode and waits for its ready line.
    pub(crate) async fn start(binary: &Path, env: &ProcessEnv) -> miette::Result<Self> {
        let mut command = Command::new(binary);
        command
            .env("MCP_HANDLER", "mcp")
            .env("MCP_PUBLIC_URL", &env.public_url)
            .env("MCP_JWKS", &env.jwks)
            .env("MCP_ALLOWED_ORIGINS", env.allowed_origins.join(","))
            .env("MCP_ALLOWED_HOSTS", env.allowed_hosts.join(","))
            // Never inherit a Lambda runtime address or a stage's secrets from this shell.
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("MCP_SIGNING_KEY")
            .env_remove("MCP_MAC_SECRET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // mcpctl's own settings stay with mcpctl: the operator token (which registers machine
        // clients) and the upstream client secret are not the tools' to read.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MCPCTL_") {
                command.env_remove(&name);
            }
        }
        command.env("MCPCTL_DEV_LISTEN", "127.0.0.1:0");
        for name in [
            "MCP_SERVER_NAME",
            "MCP_SERVER_TITLE",
            "MCP_SERVER_VERSION",
            "MCP_SERVER_INSTRUCTIONS",
        ] {
            command.env_remove(name);
        }
        for (name, value) in &env.server {
            command.env(name, value);
        }
        if env.scopes.is_empty() {
            command.env_remove("MCP_SCOPES");
        } else {
            command.env("MCP_SCOPES", env.scopes.join(","));
        }
        let mut child = command
            .spawn()
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot start {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| miette!("the server's stdout was not captured"))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await;
        let line = match ready {
            Ok(Ok(Some(line))) => line,
            Ok(_) => {
                let status = child.wait().await.into_diagnostic()?;
                return Err(miette!(
                    help = "its log above says why; a server crate's main must call mcpctl_handler::run",
                    "{} stopped before it was ready ({status})",
                    binary.display()
                ));
            }
            Err(_) => {
                return Err(miette!(
                    help = "a server crate's main must call mcpctl_handler::run, which prints it",
                    "{} printed no ready line within {} s",
                    binary.display(),
                    READY_TIMEOUT.as_secs()
                ));
            }
        };
        let address = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["listening"].as_str().map(str::to_owned))
            .ok_or_else(|| {
                miette!(
                    "{} printed `{line}` instead of its ready line {{\"listening\":\"IP:PORT\"}}",
                    binary.display()
                )
            })?;
        // Whatever else the server prints on stdout is passed on, so a tool's println! shows.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
            }
        });
        Ok(Self {
            _lifeline: child.stdin.take(),
            child,
            mcp_url: format!("http://{address}/mcp"),
        })
    }

    /// Resolves with a description when the process ends on its own (a crash, or a `main` that
    /// returned). Dropping the future stops the process.
    pub(crate) async fn exited(mut self) -> String {
        let _lifeline = self._lifeline.take();
        match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(error) => error.to_string(),
        }
    }
}

/// Where the proxy forwards to.
#[derive(Clone)]
pub(crate) struct Upstream {
    client: reqwest::Client,
    url: String,
}

impl Upstream {
    /// A proxy target for `mcp_url`.
    pub(crate) fn new(mcp_url: String) -> miette::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .into_diagnostic()?;
        Ok(Self {
            client,
            url: mcp_url,
        })
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), which a proxy never forwards.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let mut forwarded = headers.clone();
    for name in &HOP_BY_HOP {
        forwarded.remove(name);
    }
    forwarded.remove(header::CONTENT_LENGTH);
    forwarded
}

/// `/mcp`: the request as it came (method, headers including `Host` and `Authorization`, body)
/// to the server's process, and its answer streamed back, so SSE responses arrive as sent.
pub(crate) async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // mcpctl dev reads the whole body first (as API Gateway does), so this is in memory already.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return unavailable("the request body could not be read");
    };
    let sent = upstream
        .client
        .request(parts.method, &upstream.url)
        .headers(forwardable(&parts.headers))
        .body(bytes)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(error) => {
            tracing::error!(error = %error, "the server process did not answer");
            return unavailable("the MCP server process is not answering; see its log above");
        }
    };
    let status = answer.status();
    let headers = forwardable(answer.headers());
    let mut response = Response::new(Body::from_stream(answer.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A JSON-RPC error for a request the process never answered.
fn unavailable(message: &str) -> Response {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32603, "message": message } });
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}
