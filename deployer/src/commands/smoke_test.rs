//! `mcpctl smoke-test`: proves a deployment works the way a real MCP client uses it. Each step is
//! a row (step, result, latency); any failure makes the exit code 1. The throwaway client is
//! deleted at the end even when an earlier step failed.
//!
//! Responses are read into the handler's own wire types (`mcpctl_handler::oauth::*`), so the server and
//! this check cannot drift apart.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use mcpctl_handler::{
    keys::SigningKey,
    oauth::{
        discovery::{AuthorizationServerMetadata, ProtectedResourceMetadata},
        jwt::{self, AccessClaims, SubjectKind},
        registration::{RegistrationRequest, RegistrationResponse},
        token::TokenResponse,
    },
};
use miette::{IntoDiagnostic, miette};
use reqwest::{Client, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

mod replay;

use crate::{
    cli::OutputFormat,
    clients::ClientShape,
    discovery::{resource_metadata, rfc8414_url},
    operator_client::{Registrar, delete},
    probe::{McpClient, get_json, meta_2026, ms},
    project::ProjectArgs,
    target::StageArgs,
};

/// Arguments of `mcpctl smoke-test`.
#[derive(Debug, clap::Args)]
pub(crate) struct SmokeTestArgs {
    /// The MCP endpoint to test (e.g. the URL `mcpctl dev` prints); alternative to --stage.
    #[arg(long, conflicts_with = "stage", required_unless_present = "stage")]
    pub(crate) url: Option<Url>,
    #[command(flatten)]
    pub(crate) target: StageArgs,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
    /// Read the operator's initial access token from this `mcpctl dev --state-dir` (otherwise
    /// MCPCTL_INITIAL_ACCESS_TOKEN, the token a local `mcpctl dev` published for its port, or,
    /// with --stage, a client written straight into the stage's table).
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// The tool `tools/call` calls (default: `echo` when the server has one; a server without
    /// it, e.g. a gateway's upstream, needs this to exercise a call).
    #[arg(long, value_name = "NAME")]
    pub(crate) tool: Option<String>,
    /// The arguments of --tool, as a JSON object.
    #[arg(long, value_name = "JSON", requires = "tool", default_value = "{}")]
    pub(crate) tool_args: String,
    /// Replay a real client's flow instead, the way that client runs it (comma-separated or
    /// repeated; `all` for every client mcpctl knows): its registration or metadata document,
    /// headers, protocol-version order, sign-in, token and refresh. Needs no operator
    /// credential: it signs in as a person (the dev user of `mcpctl dev`).
    #[arg(long = "as", value_name = "CLIENT", value_delimiter = ',')]
    pub(crate) as_clients: Vec<String>,
    /// How many calls each MCP step makes (the median latency is reported; a replay with
    /// --as makes each call once).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) repeat: u32,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 15)]
    pub(crate) timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

/// One row of the report.
#[derive(Debug, Serialize)]
struct Step {
    /// The replayed client (`--as`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    step: &'static str,
    passed: bool,
    latency_ms: Option<f64>,
    detail: String,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    mcp_url: String,
    passed: usize,
    failed: usize,
    steps: Vec<Step>,
}

struct Check {
    http: Client,
    /// The client whose flow the next rows belong to (`--as`).
    client: Option<String>,
    steps: Vec<Step>,
    repeat: u32,
    /// `--tool` and its arguments.
    tool: Option<(String, Value)>,
}

type Outcome<T> = Result<(T, String), String>;

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

impl Check {
    /// Runs one step once, records its row, and returns its value.
    async fn step<T, F>(&mut self, name: &'static str, run: F) -> Option<T>
    where
        F: Future<Output = Outcome<T>>,
    {
        let start = Instant::now();
        let result = run.await;
        let latency = Some(ms(start.elapsed()));
        self.record(name, latency, result)
    }

    fn record<T>(
        &mut self,
        name: &'static str,
        latency_ms: Option<f64>,
        result: Outcome<T>,
    ) -> Option<T> {
        match result {
            Ok((value, detail)) => {
                self.steps.push(Step {
                    client: self.client.clone(),
                    step: name,
                    passed: true,
                    latency_ms,
                    detail,
                });
                Some(value)
            }
            Err(detail) => {
                self.steps.push(Step {
                    client: self.client.clone(),
                    step: name,
                    passed: false,
                    latency_ms,
                    detail,
                });
                None
            }
        }
    }

    /// Runs an MCP step `repeat` times; the row shows the median latency and the first call's.
    async fn repeated<T>(
        &mut self,
        name: &'static str,
        call: impl AsyncFn() -> Outcome<T>,
    ) -> Option<T> {
        let mut latencies = Vec::new();
        let mut last = Err("not run".to_owned());
        for _ in 0..self.repeat {
            let start = Instant::now();
            last = call().await;
            latencies.push(ms(start.elapsed()));
            if last.is_err() {
                break;
            }
        }
        let first = latencies.first().copied();
        let median = median(latencies.clone());
        let result = last.map(|(value, detail)| {
            let detail = match (first, latencies.len()) {
                (Some(first), n) if n > 1 => format!("{detail} (first {first} ms, median of {n})"),
                _ => detail,
            };
            (value, detail)
        });
        self.record(name, median, result)
    }
}

/// The clients `--as` names (`all`: every one in `clients.json`), in the file's order.
fn chosen_clients(named: &[String]) -> miette::Result<Vec<ClientShape>> {
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let known = crate::clients::known()?;
    let ids: Vec<&str> = known.iter().map(|c| c.id.as_str()).collect();
    for name in named {
        if name != "all" && !ids.contains(&name.as_str()) {
            let closest = ids
                .iter()
                .min_by_key(|id| strsim::levenshtein(id, name))
                .copied()
                .unwrap_or_default();
            return Err(miette!(
                code = "unknown_client",
                help = format!(
                    "did you mean `{closest}`? Known clients: {}, or `all`",
                    ids.join(", ")
                ),
                "--as {name}: no such client"
            ));
        }
    }
    let all = named.iter().any(|n| n == "all");
    Ok(known
        .into_iter()
        .filter(|c| all || named.contains(&c.id))
        .collect())
}

const THROWAWAY: &str = "mcpctl smoke-test (deleted after the run)";

pub(crate) async fn run(args: SmokeTestArgs) -> miette::Result<ExitCode> {
    // A crate made by `mcpctl new` names its stacks in config/<stage>.yaml.
    let mut args = args;
    args.project.fill_stack_name(&mut args.target)?;
    let outputs = args.target.outputs().await?;
    let mcp_url = match (&args.url, &outputs) {
        (Some(url), _) => url.as_str().trim_end_matches('/').to_owned(),
        (None, Some(outputs)) => outputs.get("McpUrl")?.to_owned(),
        (None, None) => {
            return Err(miette!(
                help = "pass --url URL or --stage STAGE",
                "nothing to test"
            ));
        }
    };
    let replayed = chosen_clients(&args.as_clients)?;
    let http = Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mcpctl-smoke-test/", env!("CARGO_PKG_VERSION")))
        .build()
        .into_diagnostic()?;
    let tool = match &args.tool {
        None => None,
        Some(name) => {
            let arguments: Value = serde_json::from_str(&args.tool_args)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    miette!(
                        help = r#"pass a JSON object, e.g. --tool-args '{"text":"hi"}'"#,
                        "--tool-args `{}` is not a JSON object",
                        args.tool_args
                    )
                })?;
            Some((name.clone(), arguments))
        }
    };
    let mut check = Check {
        http,
        client: None,
        steps: Vec::new(),
        repeat: args.repeat,
        tool,
    };
    if replayed.is_empty() {
        let registrar = Registrar::find(
            crate::operator_client::Servers::Own,
            args.state_dir.as_deref(),
            args.url.as_ref(),
            &args.target,
            outputs,
        )?;
        run_steps(&mut check, &mcp_url, &registrar).await;
    } else {
        let dev = Url::parse(&mcp_url)
            .ok()
            .and_then(|url| crate::dev::operator_token::dev_port(&url))
            .is_some();
        let documents = if dev {
            let shapes: Vec<&ClientShape> = replayed.iter().collect();
            Some(
                replay::Documents::serve(&shapes)
                    .await
                    .map_err(|e| miette!("{e}"))?,
            )
        } else {
            None
        };
        let target = replay::Target {
            mcp_url: &mcp_url,
            dev,
            documents: documents.as_ref(),
        };
        for client in &replayed {
            replay::replay(&mut check, client, &target).await;
        }
    }

    let passed = check.steps.iter().filter(|s| s.passed).count();
    let failed = check.steps.len() - passed;
    let report = Report {
        mcp_url,
        passed,
        failed,
        steps: check.steps,
    };
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).into_diagnostic()?
        ),
        OutputFormat::Text => print_table(&report),
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_table(report: &Report) {
    let label = |s: &Step| match &s.client {
        Some(client) => format!("{client}: {}", s.step),
        None => s.step.to_owned(),
    };
    let width = report
        .steps
        .iter()
        .map(|s| label(s).len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("smoke test of {}\n", report.mcp_url);
    println!(
        "{:<width$}  {:<6}  {:>10}  detail",
        "step", "result", "latency"
    );
    for step in &report.steps {
        let latency = step
            .latency_ms
            .map_or_else(|| "-".to_owned(), |l| format!("{l:.1} ms"));
        let result = if step.passed { "ok" } else { "FAILED" };
        println!(
            "{:<width$}  {:<6}  {:>10}  {}",
            label(step),
            result,
            latency,
            step.detail
        );
    }
    println!("\n{} passed, {} failed", report.passed, report.failed);
}

async fn run_steps(check: &mut Check, mcp_url: &str, registrar: &Registrar<'_>) {
    let http = check.http.clone();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mcpctl-smoke-test", "version": env!("CARGO_PKG_VERSION")}}});

    // 1. Discovery, as a client does it: the 401 challenge first.
    let prm_url = check
        .step("unauthenticated /mcp gets 401 with resource_metadata", async {
            let response = http.post(mcp_url).header(header::ACCEPT, crate::probe::MCP_ACCEPT).json(&initialize).send().await.map_err(|e| e.to_string())?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Err(format!("expected 401, got HTTP {}", response.status()));
            }
            let direct = response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
            let remapped = response.headers().get("x-amzn-remapped-www-authenticate").and_then(|v| v.to_str().ok());
            match (direct, remapped) {
                (Some(challenge), _) => {
                    let url = resource_metadata(challenge).ok_or_else(|| format!("WWW-Authenticate has no resource_metadata: {challenge}"))?;
                    Ok((url.clone(), format!("resource_metadata={url}")))
                }
                (None, Some(challenge)) => {
                    let url = resource_metadata(challenge).ok_or_else(|| format!("challenge has no resource_metadata: {challenge}"))?;
                    Ok((url.clone(), format!("read from x-amzn-Remapped-WWW-Authenticate (API Gateway renamed the header; clients will not see it): {url}")))
                }
                (None, None) => Err("the 401 carries no WWW-Authenticate challenge: clients cannot discover the authorization server".into()),
            }
        })
        .await;

    let prm: Option<ProtectedResourceMetadata> = match prm_url {
        Some(url) => {
            check
                .step("protected resource metadata (RFC 9728)", async {
                    let prm: ProtectedResourceMetadata = get_json(&http, &url).await?;
                    if prm.resource.trim_end_matches('/') != mcp_url {
                        return Err(format!(
                            "resource is {} but the MCP URL is {mcp_url}: clients refuse this",
                            prm.resource
                        ));
                    }
                    if prm.authorization_servers.is_empty() {
                        return Err("authorization_servers is empty".into());
                    }
                    let detail = format!("authorization server {}", prm.authorization_servers[0]);
                    Ok((prm, detail))
                })
                .await
        }
        None => None,
    };
    let issuer = prm
        .as_ref()
        .and_then(|p| Url::parse(&p.authorization_servers[0]).ok());

    let mut metadata: Option<AuthorizationServerMetadata> = None;
    if let Some(issuer) = &issuer {
        let expected = issuer.as_str().trim_end_matches('/').to_owned();
        let rfc8414 = check
            .step("authorization server metadata (RFC 8414)", async {
                let appended = format!("{expected}/.well-known/oauth-authorization-server");
                let inserted = rfc8414_url(issuer);
                let (document, location) = match get_json::<AuthorizationServerMetadata>(&http, &inserted).await {
                    Ok(document) => (document, inserted),
                    Err(first) => match get_json::<AuthorizationServerMetadata>(&http, &appended).await {
                        Ok(document) => (document, format!("{appended} (the RFC 8414 location {inserted} failed: {first})")),
                        Err(second) => return Err(format!("{first}; {second}")),
                    },
                };
                if document.issuer != expected {
                    return Err(format!("issuer is {} but the document was found for {expected}", document.issuer));
                }
                if !document.code_challenge_methods_supported.iter().any(|m| m == "S256") {
                    return Err("code_challenge_methods_supported lacks S256: MCP clients refuse to continue".into());
                }
                Ok((document, location))
            })
            .await;
        let oidc = check
            .step("OpenID configuration", async {
                let url = format!("{expected}/.well-known/openid-configuration");
                let document: AuthorizationServerMetadata = get_json(&http, &url).await?;
                if document.issuer != expected {
                    return Err(format!(
                        "issuer is {} but expected {expected}",
                        document.issuer
                    ));
                }
                let missing: Vec<&str> = [
                    ("jwks_uri", document.jwks_uri.is_none()),
                    (
                        "subject_types_supported",
                        document.subject_types_supported.is_none(),
                    ),
                    (
                        "id_token_signing_alg_values_supported",
                        document.id_token_signing_alg_values_supported.is_none(),
                    ),
                ]
                .iter()
                .filter(|(_, absent)| *absent)
                .map(|(name, _)| *name)
                .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "missing {}: the TypeScript SDK rejects the document",
                        missing.join(", ")
                    ));
                }
                Ok((document, url))
            })
            .await;
        metadata = rfc8414.or(oidc);
    }

    if let Some(jwks_uri) = metadata.as_ref().and_then(|m| m.jwks_uri.clone()) {
        check
            .step("JWKS", async {
                let jwks: Value = get_json(&http, &jwks_uri).await?;
                let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
                if keys.is_empty() {
                    return Err("no keys".into());
                }
                let kids: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{}/{}",
                            k["kid"].as_str().unwrap_or("?"),
                            k["alg"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                Ok(((), kids.join(", ")))
            })
            .await;
    }
    let kid = match metadata.as_ref().and_then(|m| m.jwks_uri.clone()) {
        Some(uri) => get_json::<Value>(&http, &uri)
            .await
            .ok()
            .and_then(|j| j["keys"][0]["kid"].as_str().map(str::to_owned)),
        None => None,
    };

    let Some(metadata) = metadata else { return };

    // 2. Open registration must not hand out machine clients (the secure default).
    if let Some(endpoint) = metadata.registration_endpoint.clone() {
        check
            .step("anonymous registration gets no client_credentials", async {
                let response = http
                    .post(&endpoint)
                    .json(&json!({"client_name": THROWAWAY, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                match response.status() {
                    StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                        Ok(((), format!("refused with HTTP {}", response.status())))
                    }
                    status => Err(format!(
                        "HTTP {status}: a stranger can register a machine client and get a token without a person; upgrade the server"
                    )),
                }
            })
            .await;
    }

    // 3. A throwaway operator client, a token, MCP calls.
    let request = RegistrationRequest {
        client_name: Some(THROWAWAY.into()),
        grant_types: Some(vec!["client_credentials".into()]),
        token_endpoint_auth_method: Some("client_secret_basic".into()),
        ..RegistrationRequest::default()
    };
    let step = match registrar {
        Registrar::Token(_) => {
            "register a throwaway machine client (RFC 7591, initial access token)"
        }
        Registrar::Direct { .. } => "register a throwaway machine client (direct, clients table)",
        Registrar::Nobody => "register a throwaway machine client",
    };
    let registration = match registrar {
        Registrar::Nobody => {
            check.record::<()>(step, None, Err(format!("machine clients are the operator's: pass --stage, or the initial access token ({} or --state-dir; mcpctl dev prints it at start)", crate::dev::operator_token::ENV)));
            None
        }
        registrar => {
            let endpoint = metadata.registration_endpoint.as_deref();
            check
                .step(step, async {
                    let registration = registrar
                        .register(&http, mcp_url, endpoint, request)
                        .await
                        .map_err(|e| e.to_string())?;
                    let detail = format!("client {}", registration.client_id);
                    Ok((registration, detail))
                })
                .await
        }
    };

    if let Some(registration) = &registration {
        let token = check
            .step("token (client_credentials, HTTP Basic)", async {
                let response = http
                    .post(&metadata.token_endpoint)
                    .basic_auth(
                        &registration.client_id,
                        registration.client_secret.as_deref(),
                    )
                    .form(&[("grant_type", "client_credentials"), ("resource", mcp_url)])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                let no_store = response
                    .headers()
                    .get(header::CACHE_CONTROL)
                    .is_some_and(|v| v.as_bytes() == b"no-store");
                if status != StatusCode::OK {
                    return Err(format!(
                        "HTTP {status}: {}",
                        response.text().await.unwrap_or_default()
                    ));
                }
                let tokens: TokenResponse = response
                    .json()
                    .await
                    .map_err(|e| format!("not a token response: {e}"))?;
                if !no_store {
                    return Err("the token response lacks Cache-Control: no-store".into());
                }
                let detail = format!(
                    "{} token, scope `{}`, expires in {} s",
                    tokens.token_type, tokens.scope, tokens.expires_in
                );
                Ok((tokens.access_token, detail))
            })
            .await;

        if let Some(token) = token {
            mcp_steps(check, mcp_url, &token).await;
            negative_steps(
                check,
                mcp_url,
                &metadata,
                registration,
                kid.as_deref(),
                issuer.as_ref(),
            )
            .await;
        }

        // 4. Cleanup, whatever happened above.
        let uri = registration.registration_client_uri.clone();
        check
            .step("delete the throwaway client (RFC 7592)", async {
                delete(&http, registration, mcp_url)
                    .await
                    .map(|()| ((), uri.clone()))
                    .map_err(|e| format!("{e}: the client {uri} is left behind"))
            })
            .await;
    }
}

async fn mcp_steps(check: &mut Check, mcp_url: &str, token: &str) {
    let this = McpClient::new(check.http.clone());
    let version = [("mcp-protocol-version", "2025-11-25")];
    check
        .repeated("MCP initialize (2025-11-25)", async || {
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mcpctl-smoke-test", "version": "1"}}});
            let (status, response) = this.post(mcp_url, token, body, &[]).await?;
            let result: rmcp::model::InitializeResult = serde_json::from_value(response["result"].clone())
                .map_err(|e| format!("HTTP {status}: not an initialize result ({e}): {response}"))?;
            let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let (ack, _) = this.post(mcp_url, token, initialized, &version).await?;
            if ack != StatusCode::ACCEPTED {
                return Err(format!("notifications/initialized answered HTTP {ack}, expected 202"));
            }
            Ok(((), format!("{} {} speaks {}", result.server_info.name, result.server_info.version, result.protocol_version)))
        })
        .await;
    check
        .repeated("MCP stateless 2026-07-28 (server/discover)", async || {
            let body = json!({"jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": {"_meta": meta_2026("mcpctl-smoke-test")}});
            let (status, response) = this.post(mcp_url, token, body, &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "server/discover")]).await?;
            let versions = response["result"]["supportedVersions"].as_array().cloned().unwrap_or_default();
            // A server of the 2025 era (say, an upstream behind a gateway) refuses the version
            // with a JSON-RPC error, and clients fall back: that is a working server.
            if status.is_client_error()
                && let Some(message) = response["error"]["message"].as_str()
            {
                return Ok(((), format!("not spoken (clients fall back to 2025-11-25): {message}")));
            }
            if !versions.iter().any(|v| v == "2026-07-28") {
                return Err(format!("HTTP {status}: server/discover did not offer 2026-07-28: {response}"));
            }
            Ok(((), format!("{} versions offered", versions.len())))
        })
        .await;
    let tools = check
        .repeated("tools/list", async || {
            let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}});
            let (status, response) = this.post(mcp_url, token, body, &version).await?;
            let result: rmcp::model::ListToolsResult =
                serde_json::from_value(response["result"].clone()).map_err(|e| {
                    format!("HTTP {status}: not a tools/list result ({e}): {response}")
                })?;
            let names: Vec<String> = result.tools.iter().map(|t| t.name.to_string()).collect();
            let detail = format!("{} tools", names.len());
            Ok((names, detail))
        })
        .await;
    let Some(tools) = tools else {
        check.steps.push(Step {
            client: None,
            step: "tools/call",
            passed: false,
            latency_ms: None,
            detail: "not run: tools/list failed".into(),
        });
        return;
    };
    let chosen = match &check.tool {
        Some((name, arguments)) => Some((name.clone(), arguments.clone())),
        None if tools.iter().any(|t| t == "echo") => {
            Some(("echo".to_owned(), json!({ "text": "smoke" })))
        }
        None => None,
    };
    let Some((tool, arguments)) = chosen else {
        check.steps.push(Step {
            client: None,
            step: "tools/call",
            passed: true,
            latency_ms: None,
            detail: "not run: the server has no `echo` tool; pass --tool NAME [--tool-args JSON] to call one".into(),
        });
        return;
    };
    let is_echo = check.tool.is_none();
    check
        .repeated("tools/call", async || {
            let body = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
            let (status, response) = this.post(mcp_url, token, body, &version).await?;
            let result = &response["result"];
            let echoed = result["content"][0]["text"].as_str() == Some("smoke");
            if result.is_null() || result["isError"] == true || (is_echo && !echoed) {
                return Err(format!("HTTP {status}: `{tool}` answered {response}"));
            }
            Ok(((), format!("`{tool}` answered")))
        })
        .await;
}

async fn negative_steps(
    check: &mut Check,
    mcp_url: &str,
    metadata: &AuthorizationServerMetadata,
    registration: &RegistrationResponse,
    kid: Option<&str>,
    issuer: Option<&Url>,
) {
    let http = check.http.clone();
    let this = McpClient::new(http.clone());
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}});
    check
        .step("negative: a bad token gets 401", async {
            let (status, _) = this
                .post(mcp_url, "not-a-valid-token", list.clone(), &[])
                .await?;
            if status == StatusCode::UNAUTHORIZED {
                Ok(((), "401".into()))
            } else {
                Err(format!(
                    "HTTP {status}: a garbage token was not refused with 401"
                ))
            }
        })
        .await;
    check
        .step("negative: a wrong-audience token gets 401", async {
            // A token shaped like the server's (its issuer and key id) for another audience,
            // signed by a key the server does not trust: the MCP endpoint must refuse it.
            let key = SigningKey::generate().map_err(|e| e.to_string())?;
            let now = mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock);
            let claims = AccessClaims {
                iss: issuer
                    .map(|i| i.as_str().trim_end_matches('/').to_owned())
                    .unwrap_or_default(),
                sub: "smoke-test".into(),
                aud: "https://audience.invalid/mcp".into(),
                exp: now + 300,
                iat: now,
                nbf: now,
                jti: "smoke".into(),
                client_id: registration.client_id.clone(),
                kind: SubjectKind::Machine,
                scope: "mcp".into(),
                name: None,
                email: None,
                groups: Vec::new(),
            };
            let mut token = jwt::sign(&key, &claims).map_err(|e| e.to_string())?;
            if let Some(kid) = kid {
                token = with_kid(&token, kid);
            }
            let (status, _) = this.post(mcp_url, &token, list.clone(), &[]).await?;
            if status == StatusCode::UNAUTHORIZED {
                Ok(((), "401".into()))
            } else {
                Err(format!(
                    "HTTP {status}: a token for another audience was accepted"
                ))
            }
        })
        .await;
    check
        .step(
            "negative: no token is minted for a foreign resource",
            async {
                let response = http
                    .post(&metadata.token_endpoint)
                    .basic_auth(
                        &registration.client_id,
                        registration.client_secret.as_deref(),
                    )
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("resource", "https://audience.invalid/mcp"),
                    ])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                let body: Value = response.json().await.unwrap_or_default();
                if status == StatusCode::BAD_REQUEST && body["error"] == "invalid_target" {
                    Ok(((), "400 invalid_target".into()))
                } else {
                    Err(format!("HTTP {status} {body}: expected 400 invalid_target"))
                }
            },
        )
        .await;
}

/// Replaces the `kid` in a JWT header (the signature no longer matches, which is the point).
fn with_kid(token: &str, kid: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let Some(header) = parts
        .first()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
    {
        let mut header = header;
        header["kid"] = json!(kid);
        parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(vec![5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(Vec::new()), None);
    }
}
