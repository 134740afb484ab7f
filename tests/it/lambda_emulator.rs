//! The real `bootstrap` binary under a Lambda runtime emulator: cargo-lambda's Runtime API
//! (`cargo lambda watch --only-lambda-apis`, pinned in `tests/harness/requirements-lambda.lock`)
//! serves three functions, each the workspace's `target/debug/bootstrap` started with exactly the
//! environment `templates/functions.yaml` gives it, with DynamoDB and Secrets Manager in moto.
//!
//! What it proves beyond the in-process router tests: the binary's start-up per role (the
//! `MCP_HANDLER` switch, the signing key read from Secrets Manager at cold start, tables from the
//! environment, a verify-only MCP function that starts without any table variable), the Lambda
//! Runtime API loop, and API Gateway REST (v1) proxy and TOKEN authorizer events end to end,
//! sent through the Lambda Invoke API path (`/2015-03-31/functions/NAME/invocations`) as API
//! Gateway's integration does.
//!
//! Why not plain `cargo lambda watch` (which starts the function itself with `cargo run -p
//! handler`): a single-package build resolves other features than the workspace build (aws-config,
//! aws-sigv4, url, ...), so on a fresh target it would compile most of the handler's dependencies
//! a second time. Starting the binary ourselves also gives each function an environment with
//! nothing inherited, and an honest cold-start time (process start to first response).

use std::{
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use e2e::{Moto, harness, workspace};
use mcpctl_handler::{
    keys::{SigningSecret, VerifyingKeys},
    oauth::jwt::{self, AccessClaims},
    store::dynamo::{TableNames, schema},
};
use serde_json::{Value, json};

const API_ID: &str = "abc123";
const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";
const STAGE: &str = "prod";
const ORIGINS: &str = "http://localhost:*,http://127.0.0.1:*";
/// Cold start included; a debug build starts in well under a second.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
/// cargo-lambda accepts only the workspace's binary names as function names, so each role gets
/// its own emulator serving `bootstrap` (Lambda's own name for a custom runtime's executable).
const FUNCTION: &str = "bootstrap";

pub(crate) fn issuer() -> String {
    format!("https://{HOST}/{STAGE}")
}

/// The environment every function gets (the template's common block).
fn common_env(role: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MCP_HANDLER", role.into()),
        ("MCP_PUBLIC_URL", issuer()),
        ("MCP_ALLOWED_ORIGINS", ORIGINS.into()),
        ("MCP_ALLOWED_HOSTS", HOST.into()),
        ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true".into()),
        ("RUST_LOG", "info".into()),
    ]
}

/// The workspace's `bootstrap` (`cargo build` puts it there), refused when a handler source is
/// newer than it, so the test never exercises a stale binary.
fn bootstrap_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from);
    let bin = target.join("debug/bootstrap");
    let hint = "run `cargo build -p example-hello --bin bootstrap --features mcpctl-handler/aws` (tests/run.sh builds the workspace first)";
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} does not exist: {hint}", bin.display()));
    let mut stack = vec![
        workspace().join("handler/src"),
        workspace().join("handler/Cargo.toml"),
        workspace().join("examples/hello/src"),
        workspace().join("examples/hello/Cargo.toml"),
    ];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if std::fs::metadata(&path).and_then(|m| m.modified()).unwrap() > built {
            panic!("{} is older than {}: {hint}", bin.display(), path.display());
        }
    }
    bin
}

/// Collects a child's stdout and stderr lines.
fn capture(child: &mut Child) -> Arc<Mutex<String>> {
    let output = Arc::new(Mutex::new(String::new()));
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut output) = sink.lock() {
                    output.push_str(&line);
                    output.push('\n');
                }
            }
        });
    }
    output
}

/// cargo-lambda's Lambda Runtime API and Invoke API on a free loopback port, stopped (its process
/// group, by PID) when dropped.
struct RuntimeApi {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
}

impl RuntimeApi {
    fn start() -> Self {
        let bin = harness().join(".venv-lambda/bin");
        let cargo_lambda = bin.join("cargo-lambda");
        assert!(
            cargo_lambda.exists(),
            "{} is missing: run tests/harness/install.sh (tests/run.sh does) to install the pinned cargo-lambda + ziglang (requirements-lambda.lock)",
            cargo_lambda.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let mut child = Command::new(&cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
            .args(["-P", &port.to_string()])
            .current_dir(workspace())
            // cargo-lambda finds Zig through `python3 -m ziglang`: its venv first (FINDINGS §4).
            .env("PATH", path_with(&bin))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so Drop stops it and anything it started.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start cargo lambda watch: {e}"));
        let output = capture(&mut child);
        let mut api = Self {
            child,
            port,
            output,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // An early exit (e.g. the port was taken meanwhile) must not pass for "listening".
            if let Ok(Some(status)) = api.child.try_wait() {
                panic!(
                    "cargo lambda watch exited ({status}) before listening on port {port}:\n{}",
                    api.output()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return api;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "cargo lambda watch did not listen on port {port} within 30 s:\n{}",
            api.output()
        );
    }

    fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Invokes `function` with `event` as the Lambda Invoke API does: the function's result (or
    /// its error document) and whether it is a function error.
    async fn invoke(&self, function: &Function, event: &Value) -> (Value, bool) {
        let response = send_event(function, event).await;
        let status = response.status();
        let error_header = response.headers().contains_key("x-amz-function-error");
        let text = response.text().await.unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{} answered {status} `{text}` ({e})\n{}",
                function.name,
                function.report()
            )
        });
        // Lambda marks a function error with `X-Amz-Function-Error`; cargo-lambda answers the
        // runtime's error document alone (with a 500), so recognise that shape too.
        let function_error = error_header
            || (value.get("errorType").is_some() && value.get("errorMessage").is_some());
        (value, function_error)
    }

    /// Sends an API Gateway REST proxy event; returns status, headers (lower-case names) and body.
    async fn http(
        &self,
        function: &Function,
        method: &str,
        path: &str,
        headers: Value,
        body: Option<&str>,
    ) -> (u16, Value, String) {
        let event = rest_event(method, path, headers, body);
        if function.streamed {
            let streamed = self.stream(function, &event).await;
            let body = streamed.chunks.iter().map(|(_, c)| c.as_str()).collect();
            return (streamed.status, streamed.headers, body);
        }
        let (response, error) = self.invoke(function, &event).await;
        assert!(
            !error,
            "{method} {path}: function error {response}\n{}",
            function.report()
        );
        let status = response["statusCode"].as_u64().unwrap_or_default() as u16;
        let mut headers = serde_json::Map::new();
        for (name, values) in response["multiValueHeaders"]
            .as_object()
            .into_iter()
            .flatten()
        {
            headers.insert(name.to_ascii_lowercase(), values[0].clone());
        }
        for (name, value) in response["headers"].as_object().into_iter().flatten() {
            headers.insert(name.to_ascii_lowercase(), value.clone());
        }
        assert_eq!(response["isBase64Encoded"], false, "{response}");
        let body = response["body"].as_str().unwrap_or_default().to_owned();
        (status, Value::Object(headers), body)
    }

    /// Invokes a streaming function (`run_with_streaming_response`, as API Gateway's `STREAM`
    /// integration does): cargo-lambda answers with the status and headers of the function's
    /// prelude and passes the body on as it is written; each chunk is kept with when it came.
    async fn stream(&self, function: &Function, event: &Value) -> Streamed {
        let start = Instant::now();
        let mut response = send_event(function, event).await;
        let status = response.status().as_u16();
        let mut headers = serde_json::Map::new();
        for (name, value) in response.headers() {
            headers.insert(
                name.as_str().to_owned(),
                Value::from(value.to_str().unwrap_or_default()),
            );
        }
        let mut chunks = Vec::new();
        while let Some(chunk) = response.chunk().await.unwrap_or_else(|e| {
            panic!(
                "reading {}'s stream failed: {e}\n{}",
                function.name,
                function.report()
            )
        }) {
            chunks.push((
                start.elapsed(),
                String::from_utf8_lossy(&chunk).into_owned(),
            ));
        }
        Streamed {
            status,
            headers: Value::Object(headers),
            chunks,
        }
    }
}

/// POSTs `event` to `function`'s Lambda Invoke API path.
async fn send_event(function: &Function, event: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(function.invoke_url())
        .timeout(INVOKE_TIMEOUT)
        .json(event)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "invoking {} failed: {e}\n{}",
                function.name,
                function.report()
            )
        })
}

/// What a streamed invocation sent.
pub(crate) struct Streamed {
    /// The status of the function's prelude.
    pub(crate) status: u16,
    /// Its headers (lower-case names).
    pub(crate) headers: Value,
    /// The body, chunk by chunk, each with the time since the invocation was sent.
    pub(crate) chunks: Vec<(Duration, String)>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Usually gone by now ("no such process"): quiet.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// One function instance: a `bootstrap` process polling its own emulator's Runtime API, with
/// exactly `function_env` plus what Lambda itself sets; killed (by PID) when dropped, then its
/// emulator is stopped.
pub(crate) struct Function {
    child: Child,
    name: String,
    /// Whether it answers with a stream (the `mcp` role).
    streamed: bool,
    output: Arc<Mutex<String>>,
    started: Instant,
    // Declared last: dropped after `Drop::drop` has killed the function.
    api: RuntimeApi,
}

impl Function {
    pub(crate) fn start(name: &str, function_env: &[(&'static str, String)]) -> Self {
        Self::start_binary(&bootstrap_bin(), name, function_env)
    }

    /// [`Function::start`] of another crate's `bootstrap`.
    pub(crate) fn start_binary(
        bin: &std::path::Path,
        name: &str,
        function_env: &[(&'static str, String)],
    ) -> Self {
        let api = RuntimeApi::start();
        let mut child = Command::new(bin)
            .env_clear()
            // What the Lambda service sets for a function (region and credentials come with
            // `function_env`).
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                // As cargo-lambda prints it; Lambda itself gives `host:port`.
                format!("http://127.0.0.1:{}/.rt/{FUNCTION}", api.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .envs(function_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start bootstrap ({name}): {e}"));
        let output = capture(&mut child);
        let streamed = function_env
            .iter()
            .any(|(k, v)| *k == "MCP_HANDLER" && v == "mcp");
        Self {
            child,
            name: name.to_owned(),
            streamed,
            output,
            started: Instant::now(),
            api,
        }
    }

    /// See [`RuntimeApi::invoke`].
    async fn invoke(&self, event: &Value) -> (Value, bool) {
        self.api.invoke(self, event).await
    }

    /// See [`RuntimeApi::http`].
    async fn http(
        &self,
        method: &str,
        path: &str,
        headers: Value,
        body: Option<&str>,
    ) -> (u16, Value, String) {
        self.api.http(self, method, path, headers, body).await
    }

    /// `POST /oauth/token` with the form `form`.
    async fn token_request(&self, form: &str) -> (u16, Value, String) {
        self.http(
            "POST",
            "/oauth/token",
            json!({"Content-Type": "application/x-www-form-urlencoded"}),
            Some(form),
        )
        .await
    }

    pub(crate) fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// `tools/call` of `tool` with `arguments`, as a client sends it through API Gateway.
    pub(crate) async fn mcp_call(
        &self,
        token: &str,
        tool: &str,
        arguments: Value,
    ) -> (u16, Value, String) {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": tool, "arguments": arguments } }).to_string();
        self.mcp_request(token, &body).await
    }

    /// `POST /mcp` with a JSON-RPC `body`, as a client sends it through API Gateway.
    pub(crate) async fn mcp_request(&self, token: &str, body: &str) -> (u16, Value, String) {
        let headers = json!({
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Authorization": format!("Bearer {token}"),
            "MCP-Protocol-Version": "2025-11-25"
        });
        self.http("POST", "/mcp", headers, Some(body)).await
    }

    /// A streamed invocation of `method path` (see [`RuntimeApi::stream`]), with each chunk's
    /// arrival time.
    pub(crate) async fn stream_http(
        &self,
        method: &str,
        path: &str,
        headers: Value,
        body: Option<&str>,
    ) -> Streamed {
        self.api
            .stream(self, &rest_event(method, path, headers, body))
            .await
    }

    /// The URL that invokes this function with an event (the Lambda Invoke API path).
    pub(crate) fn invoke_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{FUNCTION}/invocations",
            self.api.port
        )
    }

    /// The Lambda API endpoint that invokes this function (`AWS_ENDPOINT_URL_LAMBDA` for a
    /// caller), under the function name `bootstrap`.
    pub(crate) fn lambda_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.api.port)
    }

    /// Its output once it contains `needle` (or after 10 s): the reader threads see a log line
    /// some time after the invocation it belongs to has answered, or the process has exited.
    fn output_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = self.output();
            if output.contains(needle) || Instant::now() > deadline {
                return output;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its output, and the emulator's, for failure messages.
    fn report(&self) -> String {
        format!(
            "--- {} ---\n{}--- its emulator ---\n{}",
            self.name,
            self.output(),
            self.api.output()
        )
    }

    /// Waits for the process to exit by itself (a failed init), up to `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_with(bin: &std::path::Path) -> std::ffi::OsString {
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// A REST API (v1) proxy event as API Gateway sends it for `/{stage}{path}`.
/// An API Gateway REST proxy event for `{STAGE}{path}` on the emulated API's host.
pub(crate) fn rest_event(method: &str, path: &str, headers: Value, body: Option<&str>) -> Value {
    let mut all = json!({
        "Host": HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        "User-Agent": "lambda-emulator-test"
    });
    for (name, value) in headers.as_object().unwrap() {
        all[name] = value.clone();
    }
    let multi: serde_json::Map<String, Value> = all
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    let resource = if path.starts_with("/.well-known/") {
        "/.well-known/{proxy+}".to_owned()
    } else {
        path.to_owned()
    };
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourceId": "abcdef",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": "ext-1",
            "requestTime": "21/Nov/2026:06:42:00 +0000",
            "path": format!("/{STAGE}{path}"),
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": API_ID,
            "requestTimeEpoch": 1_795_243_320_000_i64,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": { "sourceIp": "203.0.113.7", "userAgent": "lambda-emulator-test" },
            "domainName": HOST,
            "apiId": API_ID
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// Stores `value` as a Secrets Manager secret in moto; returns its ARN. Plain HTTP with a dummy
/// SigV4 header (moto routes on the credential scope and checks no signature), so the test needs
/// no Secrets Manager SDK of its own.
async fn create_secret(moto: &Moto, name: &str, value: &str) -> String {
    let response = reqwest::Client::new()
        .post(&moto.endpoint)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", "secretsmanager.CreateSecret")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body(json!({ "Name": name, "SecretString": value }).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "CreateSecret: {status} {body}");
    body["ARN"].as_str().unwrap().to_owned()
}

/// The claims of `token` if it verifies with the keys of `jwks` for this issuer and resource.
fn verify_with(jwks: &str, token: &str) -> Result<AccessClaims, jwt::TokenError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the token was issued by a separate process on the wall clock"
    )]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let keys = VerifyingKeys::from_jwks_json(jwks).unwrap();
    jwt::verify(&keys, token, &issuer(), &format!("{}/mcp", issuer()), now)
}

fn ms(duration: Duration) -> u128 {
    duration.as_millis()
}

/// The AWS side of a stack in moto: the three tables and the signing-key secret.
pub(crate) struct Stack {
    moto: Moto,
    /// The signing key the stage's secret holds, to mint tokens as the auth function would.
    signing: SigningSecret,
    dynamodb: aws_sdk_dynamodb::Client,
    tables: TableNames,
    secret_arn: String,
    /// The stage's initial access token (RFC 7591 §3), in Secrets Manager like a real stage's.
    initial_access_token_arn: String,
    jwks: String,
}

/// The operator's initial access token the emulated stage accepts at `/dcr`.
const INITIAL_ACCESS_TOKEN: &str = "emulated-stage-initial-access-token-0123456789";

impl Stack {
    pub(crate) async fn create() -> Self {
        let moto = Moto::start();
        Self::create_in(moto, SigningSecret::generate().unwrap()).await
    }

    /// A `signing: kms` stage: the secret names a P-256 KMS key, made and read as `mcpctl
    /// deploy` does; the key's ARN too.
    pub(crate) async fn create_kms() -> (Self, String) {
        let moto = Moto::start();
        let kms = aws_sdk_kms::Client::new(&moto.sdk_config().await);
        let key_arn = kms
            .create_key()
            .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .arn
            .unwrap();
        let spki = kms
            .get_public_key()
            .key_id(&key_arn)
            .send()
            .await
            .unwrap()
            .public_key
            .unwrap();
        let public_jwk = mcpctl_handler::keys::p256_jwk_from_spki(spki.as_ref()).unwrap();
        let secret = SigningSecret::with_signer(mcpctl_handler::keys::StoredSigner::Kms(
            mcpctl_handler::keys::KmsKeyRef {
                key_arn: key_arn.clone(),
                public_jwk,
            },
        ))
        .unwrap();
        (Self::create_in(moto, secret).await, key_arn)
    }

    async fn create_in(moto: Moto, secret: SigningSecret) -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
        let tables = TableNames::with_prefix("mcpctl-emulator");
        schema::ensure_tables(&dynamodb, &tables).await.unwrap();
        // Exactly what `mcpctl deploy` stores: the library's one definition of the format.
        let secret_arn = create_secret(
            &moto,
            "mcpctl/emulator/signing-key",
            &secret.to_json().unwrap(),
        )
        .await;
        let jwks = secret.jwks_json().unwrap();
        let initial_access_token_arn = create_secret(
            &moto,
            "mcpctl/emulator/initial-access-token",
            INITIAL_ACCESS_TOKEN,
        )
        .await;
        Self {
            moto,
            signing: secret,
            dynamodb,
            tables,
            secret_arn,
            initial_access_token_arn,
            jwks,
        }
    }

    /// A Secrets Manager secret holding `value`; its ARN.
    pub(crate) async fn put_secret(&self, name: &str, value: &str) -> String {
        create_secret(&self.moto, name, value).await
    }

    /// An access token for a signed-in person with `scope`, signed with the stage's key.
    pub(crate) fn person_token(&self, scope: &str) -> String {
        let keys = self.signing.key_material().unwrap();
        let now = mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock);
        let claims = AccessClaims {
            iss: issuer(),
            sub: "emulated-user".into(),
            aud: format!("{}/mcp", issuer()),
            exp: now + 600,
            iat: now,
            nbf: now,
            jti: "emulated-token".into(),
            client_id: "emulated-client".into(),
            kind: mcpctl_handler::oauth::jwt::SubjectKind::Person,
            scope: scope.into(),
            name: None,
            email: None,
            groups: Vec::new(),
        };
        jwt::sign(
            keys.signing.as_ref().and_then(|s| s.local()).unwrap(),
            &claims,
        )
        .unwrap()
    }

    /// `AuthFunction`'s environment (Lambda's region and credentials point at moto).
    fn auth_env(&self) -> Vec<(&'static str, String)> {
        let mut env = common_env("auth");
        env.extend([
            ("MCP_CLIENTS_TABLE", self.tables.clients.clone()),
            ("MCP_CODES_TABLE", self.tables.codes.clone()),
            (
                "MCP_REFRESH_TOKENS_TABLE",
                self.tables.refresh_tokens.clone(),
            ),
            ("MCP_SIGNING_KEY_SECRET_ARN", self.secret_arn.clone()),
            (
                "MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN",
                self.initial_access_token_arn.clone(),
            ),
            ("MCP_JWKS", self.jwks.clone()),
            ("MCP_ACCESS_TOKEN_TTL_SECONDS", "3600".into()),
            ("MCP_REFRESH_TOKEN_TTL_SECONDS", "2592000".into()),
            ("MCP_REGISTRATION_OPEN", "true".into()),
        ]);
        env.extend(self.moto.env());
        env
    }

    /// The public keys, as the stack publishes them.
    pub(crate) fn jwks(&self) -> &str {
        &self.jwks
    }

    /// `McpFunction`'s in gateway mode: verify-only plus the assertion key, in a secret of its
    /// own as `mcpctl deploy` makes it; and that key's public JWKS (what the auth function
    /// serves at /.well-known/mcpctl-gateway-jwks.json).
    pub(crate) async fn gateway_env(&self) -> (Vec<(&'static str, String)>, String) {
        let key = SigningSecret::generate().unwrap();
        let arn = create_secret(
            &self.moto,
            "mcpctl/emulator/gateway-key",
            &key.to_json().unwrap(),
        )
        .await;
        let mut env = self.verify_only_env("mcp");
        env.push(("MCP_ASSERTION_KEY_SECRET_ARN", arn));
        (env, key.jwks_json().unwrap())
    }

    /// `McpFunction`'s or `AuthorizerFunction`'s: `MCP_JWKS` and nothing else of ours.
    pub(crate) fn verify_only_env(&self, role: &str) -> Vec<(&'static str, String)> {
        let mut env = common_env(role);
        env.push(("MCP_JWKS", self.jwks.clone()));
        env.extend(self.moto.env());
        env
    }
}

#[tokio::test]
async fn bootstrap_serves_the_three_roles_under_the_lambda_emulator() {
    let started = Instant::now();
    let stack = Stack::create().await;
    // Each function starts right before its first event, so its cold start is measured alone.
    let auth = Function::start("mcpctl-emulator-auth", &stack.auth_env());
    // ---- auth: discovery; the first invocation waits for the init (GetSecretValue included) ----
    let (status, _, body) = auth
        .http(
            "GET",
            "/.well-known/oauth-authorization-server",
            json!({}),
            None,
        )
        .await;
    let auth_cold = auth.started.elapsed();
    assert_eq!(status, 200, "{body}");
    let metadata: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metadata["issuer"], issuer());
    assert_eq!(
        metadata["token_endpoint"],
        format!("{}/oauth/token", issuer())
    );
    // The JWKS is the secret's: the key was read from Secrets Manager, not generated.
    let (status, _, body) = auth
        .http("GET", "/.well-known/jwks.json", json!({}), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(&stack.jwks).unwrap());

    // ---- auth: DCR, into the table the environment names ----
    let machine = r#"{"client_name":"emulator","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"mcp"}"#;
    let (status, _, body) = auth
        .http(
            "POST",
            "/dcr",
            json!({"Content-Type": "application/json"}),
            Some(machine),
        )
        .await;
    assert_eq!(status, 400, "anonymous DCR gets no machine client: {body}");
    let warm = Instant::now();
    let (status, _, body) = auth
        .http(
            "POST",
            "/dcr",
            json!({"Content-Type": "application/json", "Authorization": format!("Bearer {INITIAL_ACCESS_TOKEN}")}),
            Some(machine),
        )
        .await;
    let auth_dcr = warm.elapsed();
    assert_eq!(status, 201, "{body}");
    let client: Value = serde_json::from_str(&body).unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let client_secret = client["client_secret"].as_str().unwrap();
    let stored = stack
        .dynamodb
        .get_item()
        .table_name(&stack.tables.clients)
        .key(
            "client_id",
            aws_sdk_dynamodb::types::AttributeValue::S(client_id.into()),
        )
        .send()
        .await
        .unwrap();
    assert!(
        stored.item.is_some(),
        "the registered client is not in {}",
        stack.tables.clients
    );

    // ---- auth: client_credentials, signed with the secret's key ----
    let form = format!(
        "grant_type=client_credentials&client_id={client_id}&client_secret={client_secret}&scope=mcp"
    );
    let warm = Instant::now();
    let (status, headers, body) = auth
        .http(
            "POST",
            "/oauth/token",
            json!({"Content-Type": "application/x-www-form-urlencoded"}),
            Some(&form),
        )
        .await;
    let auth_token = warm.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let tokens: Value = serde_json::from_str(&body).unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    // It verifies with the secret's JWKS, whose only key is the secret's signing key.
    let claims = verify_with(&stack.jwks, &token).unwrap();
    assert_eq!(claims.client_id, client_id);
    assert!(claims.has_scope("mcp"), "{}", claims.scope);

    // ---- mcp: tools/list on the verify-only function (no table variable, no secret) ----
    let mcp = Function::start("mcpctl-emulator-mcp", &stack.verify_only_env("mcp"));
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
    let mcp_headers = json!({
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": format!("Bearer {token}"),
        "MCP-Protocol-Version": "2025-11-25"
    });
    let (status, _, body) = mcp
        .http("POST", "/mcp", mcp_headers.clone(), Some(list))
        .await;
    let mcp_cold = mcp.started.elapsed();
    assert_eq!(status, 200, "{body}");
    let result: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = result["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {result}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"whoami"),
        "{names:?}"
    );
    let warm = Instant::now();
    let (status, _, _) = mcp.http("POST", "/mcp", mcp_headers, Some(list)).await;
    let mcp_warm = warm.elapsed();
    assert_eq!(status, 200);
    // Without a token the function answers the challenge itself (behind API Gateway the
    // authorizer answers first).
    let (status, headers, _) = mcp
        .http(
            "POST",
            "/mcp",
            json!({"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}),
            Some(list),
        )
        .await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].as_str().unwrap();
    assert!(
        challenge.contains(&format!(
            r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
            issuer()
        )),
        "{challenge}"
    );

    // ---- authorizer: a TOKEN event with the token, then with a forged one ----
    let authorizer = Function::start(
        "mcpctl-emulator-authorizer",
        &stack.verify_only_env("authorizer"),
    );
    let method_arn =
        format!("arn:aws:execute-api:us-east-1:123456789012:{API_ID}/{STAGE}/POST/mcp");
    let (policy, error) = authorizer
        .invoke(
            &json!({"type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": method_arn}),
        )
        .await;
    let authorizer_cold = authorizer.started.elapsed();
    assert!(!error, "{policy}\n{}", authorizer.report());
    assert_eq!(policy["principalId"], client_id, "{policy}");
    let statement = &policy["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow", "{policy}");
    assert_eq!(statement["Action"][0], "execute-api:Invoke", "{policy}");
    assert_eq!(
        statement["Resource"][0],
        format!("arn:aws:execute-api:us-east-1:123456789012:{API_ID}/{STAGE}/*/*")
    );
    assert_eq!(policy["context"]["client_id"], client_id);
    assert_eq!(policy["context"]["scope"], "mcp");
    let mut forged = token.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let warm = Instant::now();
    let (refusal, error) = authorizer
        .invoke(
            &json!({"type": "TOKEN", "authorizationToken": format!("Bearer {forged}"), "methodArn": method_arn}),
        )
        .await;
    let authorizer_warm = warm.elapsed();
    assert!(error, "a forged token must be a function error: {refusal}");
    assert_eq!(refusal["errorMessage"], "Unauthorized", "{refusal}");

    // ---- logs: one JSON line per request or decision, never a token or client secret ----
    let auth_log = auth.output_with(r#""route":"/oauth/token","status":200"#);
    let authorizer_log = authorizer.output_with(r#""decision":"unauthorized""#);
    for function in [&auth, &mcp, &authorizer] {
        let log = function.output();
        assert!(
            !log.contains(&token) && !log.contains(&forged) && !log.contains(client_secret),
            "{} logged a secret:\n{log}",
            function.name
        );
        for line in log.lines() {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "{}: not a JSON line: {line}",
                function.name
            );
        }
    }
    assert!(
        auth_log.contains(r#""route":"/oauth/token","status":200"#),
        "{auth_log}"
    );
    assert!(
        authorizer_log.contains(r#""decision":"allow""#)
            && authorizer_log.contains(r#""decision":"unauthorized""#),
        "{authorizer_log}"
    );
    eprintln!(
        "lambda emulator: cold (process start to first response) auth {} ms (incl. GetSecretValue), mcp {} ms, \
         authorizer {} ms; warm auth DCR {} ms, token {} ms, mcp tools/list {} ms, authorizer {} ms; whole test {} ms",
        ms(auth_cold),
        ms(mcp_cold),
        ms(authorizer_cold),
        ms(auth_dcr),
        ms(auth_token),
        ms(mcp_warm),
        ms(authorizer_warm),
        ms(started.elapsed())
    );
}

#[tokio::test]
async fn with_signing_kms_every_token_is_signed_by_kms_and_the_private_key_is_nowhere_else() {
    let (stack, key_arn) = Stack::create_kms().await;
    let stored = stack.signing.to_json().unwrap();
    assert!(
        !stored.contains("signing_key_pkcs8") && stored.contains(&key_arn),
        "the secret names the KMS key and holds no private key: {stored}"
    );
    let kid = stack.signing.current_kid().unwrap();
    let auth = Function::start("mcpctl-emulator-auth", &stack.auth_env());
    let machine = r#"{"client_name":"kms","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"mcp"}"#;
    let (status, _, body) = auth
        .http(
            "POST",
            "/dcr",
            json!({"Content-Type": "application/json", "Authorization": format!("Bearer {INITIAL_ACCESS_TOKEN}")}),
            Some(machine),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let client: Value = serde_json::from_str(&body).unwrap();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=mcp",
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap()
    );
    // Several tokens: each one is a KMS Sign call (the latency is printed for the notes).
    let mut tokens = Vec::new();
    let started = Instant::now();
    const TOKENS: u32 = 10;
    for _ in 0..TOKENS {
        let (status, _, body) = auth.token_request(&form).await;
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        tokens.push(answer["access_token"].as_str().unwrap().to_owned());
    }
    eprintln!(
        "signing: kms under the emulator: {:.1} ms per token request (KMS Sign in moto included)",
        started.elapsed().as_secs_f64() * 1000.0 / f64::from(TOKENS)
    );
    for token in &tokens {
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        // The JWKS holds KMS's public key only: a signature that verifies was made by KMS.
        let claims = verify_with(&stack.jwks, token).unwrap();
        assert!(claims.has_scope("mcp"));
    }
    // The verify-only MCP function takes them like any other token.
    let mcp = Function::start("mcpctl-emulator-mcp", &stack.verify_only_env("mcp"));
    let (status, _, body) = mcp
        .http(
            "POST",
            "/mcp",
            json!({
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "Authorization": format!("Bearer {}", tokens[0]),
                "MCP-Protocol-Version": "2025-11-25"
            }),
            Some(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // KMS out of reach (throttled, timing out) is worth a retry: 503 with Retry-After, and the
    // client's grant untouched.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = stack.auth_env();
    env.push(("AWS_ENDPOINT_URL_KMS", format!("http://127.0.0.1:{closed}")));
    let unreachable = Function::start("mcpctl-emulator-auth-nokms", &env);
    let (status, headers, body) = unreachable.token_request(&form).await;
    assert_eq!(status, 503, "{body}");
    assert!(headers["retry-after"].is_string(), "{headers}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "temporarily_unavailable", "{body}");

    // KMS refusing to sign (here: a key that is not there, as after its deletion) is a
    // server_error, never a token signed some other way.
    let gone = SigningSecret::with_signer(mcpctl_handler::keys::StoredSigner::Kms(
        mcpctl_handler::keys::KmsKeyRef {
            key_arn: "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
                .into(),
            public_jwk: mcpctl_handler::keys::SigningKey::generate()
                .unwrap()
                .public_jwk()
                .clone(),
        },
    ))
    .unwrap();
    let gone_arn = stack
        .put_secret("mcpctl/emulator/gone-key", &gone.to_json().unwrap())
        .await;
    let env: Vec<(&'static str, String)> = stack
        .auth_env()
        .into_iter()
        .map(|(name, value)| match name {
            "MCP_SIGNING_KEY_SECRET_ARN" => (name, gone_arn.clone()),
            "MCP_JWKS" => (name, gone.jwks_json().unwrap()),
            _ => (name, value),
        })
        .collect();
    let broken = Function::start("mcpctl-emulator-auth-gone", &env);
    let (status, _, body) = broken.token_request(&form).await;
    assert_eq!(status, 500, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "server_error", "{body}");
}

#[tokio::test]
async fn a_misconfigured_function_fails_its_init_with_the_cause_in_a_json_line() {
    let stack = Stack::create().await;
    // The secret does not exist: the auth function must not start with some other key.
    let mut env = stack.auth_env();
    for (name, value) in &mut env {
        if *name == "MCP_SIGNING_KEY_SECRET_ARN" {
            *value = stack.secret_arn.replace("signing-key", "missing-key");
        }
    }
    let mut auth = Function::start("mcpctl-broken-auth", &env);
    // A verify-only function without its JWKS.
    let env: Vec<_> = stack
        .verify_only_env("mcp")
        .into_iter()
        .filter(|(name, _)| *name != "MCP_JWKS")
        .collect();
    let mut mcp = Function::start("mcpctl-broken-mcp", &env);
    // An unknown role.
    let mut env = stack.verify_only_env("authorizer");
    env[0].1 = "oauth".into();
    let mut unknown = Function::start("mcpctl-broken-role", &env);
    // A stage's initial access token that is too short to stand between a stranger and a
    // machine client: the auth function refuses to start, and never prints the value.
    let weak_arn = create_secret(&stack.moto, "mcpctl/emulator/weak-token", "short-token").await;
    let mut env = stack.auth_env();
    for (name, value) in &mut env {
        if *name == "MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN" {
            value.clone_from(&weak_arn);
        }
    }
    let mut weak = Function::start("mcpctl-weak-token", &env);
    for (function, cause) in [
        (&mut weak, "shorter than 32 characters"),
        (&mut auth, "cannot read the signing-key secret"),
        (&mut mcp, "MCP_JWKS is not set"),
        (&mut unknown, "MCP_HANDLER is `oauth`"),
    ] {
        let status = function
            .wait_exit(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{} kept running\n{}", function.name, function.report()));
        assert!(!status.success(), "{}", function.report());
        let log = function.output_with("the function could not start");
        let line = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == "the function could not start")
            .unwrap_or_else(|| panic!("no init error line\n{}", function.report()));
        assert_eq!(line["level"], "ERROR");
        assert!(
            line["error"].as_str().unwrap().contains(cause),
            "{} wanted `{cause}`: {line}",
            function.name
        );
        assert!(
            !log.contains("short-token"),
            "a secret value in the log: {log}"
        );
    }
}
