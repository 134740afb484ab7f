//! `lambda-load`: the MCP function's memory and per-invocation time, measured on the real
//! `bootstrap` the way Lambda runs it: one process, one invocation at a time, fed through the
//! Lambda Runtime API.
//!
//! Usage: `lambda-load --count N --core C --stderr FILE -- BOOTSTRAP`
//!
//! It serves a minimal Runtime API on 127.0.0.1 (`GET …/invocation/next`, `POST …/response`,
//! `…/error`, `…/init/error`), spawns BOOTSTRAP pinned to core C with `MCP_HANDLER=mcp` and a
//! fresh verify-only key (`MCP_JWKS`), and hands it N API Gateway REST proxy events of
//! `POST /mcp` `tools/call` `echo` with a valid access token, each as soon as the last one was
//! answered. Every answer must be a 200 whose body echoes the text, streamed (response-streaming
//! prelude) or buffered. After the last one it reads the process's `VmHWM`, `RssFile` and
//! `RssAnon` from `/proc`, stops it with SIGKILL (a Lambda container is frozen, never asked to
//! exit) and prints a JSON summary on stdout: cold start to the first answer, the latency of the
//! rest (p50/p99, measured from handing out the event to the end of the response body) and the
//! memory figures.
//!
//! Written by hand rather than with cargo-lambda's emulator: that one proxies each invocation
//! through its own HTTP server and watcher, whose cost would be in every figure.
//!
//! The Runtime API side acknowledges every segment at once (`TCP_QUICKACK`): lambda_runtime's
//! client leaves Nagle on (lambda_runtime_api_client 1.1.1 builds a plain `HttpConnector`), so a
//! streamed answer's later chunks wait for the ACK of the first, which a delaying receiver holds
//! for 40 ms. Lambda's own Runtime API is not ours to measure; that stall is left out.

use std::{
    collections::HashMap,
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use mcp_bench_tools::bench_token;
use mcpctl_handler::keys::{KeyMaterial, StoredKeys};
use serde_json::{Value, json};
use tokio::sync::Notify;

const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";
const STAGE: &str = "prod";
const ECHO_TEXT: &str = "hello, bench";
/// The 8 NUL bytes that end the JSON prelude of a streamed HTTP integration response.
const PRELUDE_END: [u8; 8] = [0; 8];

struct Args {
    count: usize,
    core: usize,
    stderr: String,
    command: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: lambda-load --count N --core C --stderr FILE -- BOOTSTRAP [ARGS...]";
    let (mut count, mut core, mut stderr) = (5000, 0, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value; {usage}"));
        match arg.as_str() {
            "--count" => count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--core" => core = value()?.parse().map_err(|e| format!("--core: {e}"))?,
            "--stderr" => stderr = Some(value()?),
            "--" => break,
            other => return Err(format!("unknown argument {other}; {usage}")),
        }
    }
    let command: Vec<String> = it.collect();
    if command.is_empty() || count < 2 {
        return Err(usage.into());
    }
    Ok(Args {
        count,
        core,
        stderr: stderr.ok_or(usage)?,
        command,
    })
}

/// What the Runtime API side records.
#[derive(Default)]
struct Record {
    /// When each handed-out invocation started, by request id.
    started: HashMap<String, Instant>,
    /// Seconds from handing out to the end of the answer, in order.
    latencies: Vec<Duration>,
    /// When the first answer was complete.
    first_answer: Option<Instant>,
    failure: Option<String>,
}

struct Shared {
    /// The one event every invocation gets, serialized once.
    event: String,
    /// How many invocations to hand out, and how many were.
    count: usize,
    handed_out: AtomicUsize,
    record: Mutex<Record>,
    answered: Notify,
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lambda-load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run()) {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("lambda-load: {message}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run() -> Result<Value, String> {
    let args = parse_args()?;
    let (jwks, token) = key_and_token()?;
    let shared = Arc::new(Shared {
        event: mcp_event(&token).to_string(),
        count: args.count,
        handed_out: AtomicUsize::new(0),
        record: Mutex::new(Record::default()),
        answered: Notify::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(QuickAckListener(listener), app).await });

    let stderr =
        std::fs::File::create(&args.stderr).map_err(|e| format!("{}: {e}", args.stderr))?;
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench-mcp")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_REGION", "us-east-1")
        .env("MCP_HANDLER", "mcp")
        .env("MCP_PUBLIC_URL", issuer())
        .env("MCP_ALLOWED_HOSTS", HOST)
        .env("MCP_ALLOWED_ORIGINS", "")
        .env("MCP_JWKS", jwks)
        .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        // Lambda's log group reads stdout: the access log goes there, to a file here.
        .stdout(stderr.try_clone().map_err(|e| e.to_string())?)
        .stderr(stderr);
    let core = args.core;
    // SAFETY: the closure only makes the sched_setaffinity syscall, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || pin(core));
    }
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", args.command[0]))?;

    let deadline = Instant::now() + Duration::from_secs(120);
    let outcome = loop {
        {
            let record = shared.record.lock().map_err(|e| e.to_string())?;
            if let Some(failure) = &record.failure {
                break Err(failure.clone());
            }
            if record.latencies.len() >= args.count {
                break Ok(());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!(
                "the bootstrap exited ({status}) before answering; its log: {}",
                args.stderr
            ));
        }
        if Instant::now() > deadline {
            break Err(format!(
                "{} invocations not answered within 120 s",
                args.count
            ));
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), shared.answered.notified()).await;
    };
    let memory = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .map_err(|e| format!("cannot read the bootstrap's /proc status: {e}"));
    let _ = child.kill();
    let _ = child.wait();
    outcome?;
    let status = memory?;

    let record = shared.record.lock().map_err(|e| e.to_string())?;
    let first = record
        .first_answer
        .ok_or("no first answer recorded")?
        .duration_since(spawned);
    // The first invocation carries the cold start; the rest is the warm path.
    let mut warm: Vec<Duration> = record.latencies[1..].to_vec();
    warm.sort();
    let quantile = |q: f64| {
        let index = ((warm.len() as f64 - 1.0) * q).round() as usize;
        warm[index].as_secs_f64() * 1e6
    };
    let total: Duration = warm.iter().sum();
    Ok(json!({
        "invocations": record.latencies.len(),
        "cold_start_to_first_answer_ms": first.as_secs_f64() * 1e3,
        "warm_p50_us": quantile(0.5),
        "warm_p99_us": quantile(0.99),
        "warm_mean_us": total.as_secs_f64() * 1e6 / warm.len() as f64,
        "vm_hwm_kib": status_kib(&status, "VmHWM")?,
        "vm_rss_kib": status_kib(&status, "VmRSS")?,
        "rss_file_kib": status_kib(&status, "RssFile")?,
        "rss_anon_kib": status_kib(&status, "RssAnon")?,
    }))
}

fn pin(core: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn status_kib(status: &str, field: &str) -> Result<u64, String> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or(format!("no {field} in /proc/PID/status"))
}

fn issuer() -> String {
    format!("https://{HOST}/{STAGE}")
}

/// A fresh key pair: its JWKS for the function, and an access token it signed.
fn key_and_token() -> Result<(String, String), String> {
    let stored = StoredKeys::generate().map_err(|e| e.to_string())?;
    let keys = KeyMaterial::from_stored(&stored).map_err(|e| e.to_string())?;
    let now = mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock);
    let (_, token) = bench_token(&keys, &issuer(), now, 3600, format!("bench-{now}"))?;
    Ok((keys.verifying.jwks().to_string(), token))
}

/// API Gateway's REST proxy event for `POST /{STAGE}/mcp` `tools/call` `echo`.
fn mcp_event(token: &str) -> Value {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "text": ECHO_TEXT } }
    })
    .to_string();
    let headers = json!({
        "Host": HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        "Authorization": format!("Bearer {token}"),
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    });
    let multi: serde_json::Map<String, Value> = headers
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    json!({
        "resource": "/mcp",
        "path": "/mcp",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourceId": "abcdef",
            "resourcePath": "/mcp",
            "httpMethod": "POST",
            "requestTime": "08/Dec/2026:02:00:00 +0000",
            "path": format!("/{STAGE}/mcp"),
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1_796_436_000_000_i64,
            "requestId": "bench-request",
            "identity": { "sourceIp": "203.0.113.7", "userAgent": "lambda-load" },
            "domainName": HOST,
            "apiId": "abc123"
        },
        "body": body,
        "isBase64Encoded": false
    })
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let n = shared.handed_out.fetch_add(1, Ordering::Relaxed);
    if n >= shared.count {
        // Every invocation was handed out: hold the poll, as Lambda does for an idle container.
        std::future::pending::<()>().await;
    }
    let id = format!("bench-{n}");
    let now = mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock);
    let deadline = (now + 30) * 1000;
    if let Ok(mut record) = shared.record.lock() {
        record.started.insert(id.clone(), Instant::now());
    }
    (
        [
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench-mcp".into(),
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000".into(),
            ),
            ("Content-Type", "application/json".into()),
        ],
        shared.event.clone(),
    )
        .into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let ended = Instant::now();
    let streamed = headers
        .get("Lambda-Runtime-Function-Response-Mode")
        .is_some_and(|mode| mode == "streaming");
    let verdict = judge(&body, streamed);
    if let Ok(mut record) = shared.record.lock() {
        match (verdict, record.started.remove(&id)) {
            (Ok(()), Some(started)) => {
                record.latencies.push(ended - started);
                record.first_answer.get_or_insert(ended);
            }
            (Ok(()), None) => {
                record.failure = Some(format!("an answer to unknown invocation {id}"))
            }
            (Err(why), _) => {
                record
                    .failure
                    .get_or_insert(format!("invocation {id}: {why}"));
            }
        }
    }
    shared.answered.notify_one();
    StatusCode::ACCEPTED
}

/// A 200 whose body echoes the text: streamed as `prelude JSON, 8 NULs, body`, or buffered as an
/// API Gateway proxy response.
fn judge(body: &[u8], streamed: bool) -> Result<(), String> {
    let (status, payload) = if streamed {
        let end = body
            .windows(PRELUDE_END.len())
            .position(|w| w == PRELUDE_END)
            .ok_or("a streamed answer without its prelude")?;
        let prelude: Value = serde_json::from_slice(&body[..end])
            .map_err(|e| format!("the streaming prelude is not JSON: {e}"))?;
        (
            prelude["statusCode"].as_u64(),
            String::from_utf8_lossy(&body[end + PRELUDE_END.len()..]).into_owned(),
        )
    } else {
        let answer: Value =
            serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
        (
            answer["statusCode"].as_u64(),
            answer["body"].as_str().unwrap_or_default().to_owned(),
        )
    };
    if status != Some(200) || !payload.contains(ECHO_TEXT) {
        return Err(format!("status {status:?}, body {payload}"));
    }
    Ok(())
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    failed(&shared, format!("invocation {id} failed"), &body)
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    failed(&shared, "the function failed to start".into(), &body)
}

/// Records what the function reported as the run's failure, and wakes the run.
fn failed(shared: &Shared, what: String, body: &[u8]) -> StatusCode {
    if let Ok(mut record) = shared.record.lock() {
        record.failure = Some(format!("{what}: {}", String::from_utf8_lossy(body)));
    }
    shared.answered.notify_one();
    StatusCode::ACCEPTED
}

/// A listener whose connections acknowledge at once (see the module doc).
struct QuickAckListener(tokio::net::TcpListener);

impl axum::serve::Listener for QuickAckListener {
    type Io = QuickAck;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((stream, address)) = self.0.accept().await {
                let _ = stream.set_nodelay(true);
                return (QuickAck(stream), address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream that re-arms `TCP_QUICKACK` before every read (Linux clears it after a while).
struct QuickAck(tokio::net::TcpStream);

impl QuickAck {
    fn arm(&self) {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on the stream's own open descriptor with a c_int option value.
        unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.arm();
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
