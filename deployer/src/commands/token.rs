//! `mcpctl token`: a bearer token for a running `mcpctl dev` or a deployed stage, for curl and
//! the Inspector. With `--client-id` it is that machine client's client_credentials grant (the
//! secret from `MCPCTL_CLIENT_SECRET`, never a flag). Without, it takes the operator path: a
//! machine client registered for this one grant (with the dev server's initial access token, or
//! with AWS credentials into the stage's table), used once, and deleted again (RFC 7592), so
//! nothing is left behind; the token lives out its normal lifetime.

use std::{process::ExitCode, time::Duration};

use mcpctl_handler::oauth::registration::{RegistrationRequest, RegistrationResponse};
use miette::{IntoDiagnostic, miette};
use reqwest::{Client, StatusCode};
use url::Url;

use crate::{
    cli::OutputFormat, dev::operator_token, discovery, project::ProjectArgs, target::StageArgs,
};

/// The variable holding `--client-id`'s secret.
const SECRET_ENV: &str = "MCPCTL_CLIENT_SECRET";

/// The name the short-lived operator client is registered under (seen in logs while it exists).
const CLIENT_NAME: &str = "mcpctl token (deleted once the token is issued)";

/// Arguments of `mcpctl token`.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {
    /// The server's MCP URL (e.g. http://127.0.0.1:8787/mcp from `mcpctl dev`); alternative to --stage.
    #[arg(long, conflicts_with = "stage", required_unless_present = "stage")]
    pub(crate) url: Option<Url>,
    #[command(flatten)]
    pub(crate) target: StageArgs,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
    /// Ask for this scope (repeatable; default: the server's default scopes).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// Use this existing machine client; its secret is read from MCPCTL_CLIENT_SECRET.
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Read the dev server's initial access token from this `mcpctl dev --state-dir`.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// Output format: text prints only the token (for `$(mcpctl token ...)`), json the whole answer.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Issued {
    access_token: String,
    token_type: String,
    expires_in: u64,
    #[serde(default)]
    scope: Option<String>,
}

pub(crate) async fn run(args: TokenArgs) -> miette::Result<ExitCode> {
    // Bad input is refused before any call.
    let scope = (!args.scopes.is_empty()).then(|| args.scopes.join(" "));
    if let Some(bad) = args
        .scopes
        .iter()
        .find(|s| !mcpctl_handler::oauth::scope::is_scope_token(s))
    {
        return Err(miette!(
            help = "a scope is printable ASCII without spaces or quotes, e.g. notes:write",
            "--scope `{bad}` is not an OAuth scope (RFC 6749 §3.3)"
        ));
    }
    let mut args = args;
    args.project.fill_stack_name(&mut args.target)?;
    let outputs = args.target.outputs().await?;
    let mcp_url = match (&args.url, &outputs) {
        (Some(url), _) => super::register_client::mcp_url_of(url),
        (None, Some(outputs)) => outputs.get("McpUrl")?.to_owned(),
        (None, None) => return Err(miette!("pass --url or --stage")),
    };
    let http = Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .into_diagnostic()?;
    let found = discovery::discover(&http, &mcp_url).await?;
    let token_endpoint = found.server.token_endpoint.clone();
    // A client secret goes over https only (or to the dev server on 127.0.0.1).
    if !carries_secrets(&token_endpoint) {
        return Err(miette!(
            help = "the server's metadata must name an https token endpoint",
            "the token endpoint {token_endpoint} is not https; no client secret is sent there"
        ));
    }

    let (issued, client_id) = match &args.client_id {
        Some(client_id) => {
            let secret = std::env::var(SECRET_ENV).map_err(|_| {
                miette!(
                    help = format!(
                        "export {SECRET_ENV}=<the secret printed when the client was registered>"
                    ),
                    "--client-id needs the client's secret in {SECRET_ENV}"
                )
            })?;
            let issued = grant(
                &http,
                &token_endpoint,
                client_id,
                &secret,
                &mcp_url,
                scope.as_deref(),
            )
            .await?;
            (issued, client_id.clone())
        }
        None => {
            let request = RegistrationRequest {
                grant_types: Some(vec!["client_credentials".into()]),
                token_endpoint_auth_method: Some("client_secret_basic".into()),
                client_name: Some(CLIENT_NAME.into()),
                scope: scope.clone(),
                ..RegistrationRequest::default()
            };
            let loopback_port = args
                .url
                .as_ref()
                .and_then(crate::dev::operator_token::dev_port);
            let registration = match (
                operator_token::find(args.state_dir.as_deref(), loopback_port)?,
                &outputs,
            ) {
                (Some(token), _) => {
                    register_with_token(
                        &http,
                        &mcp_url,
                        found.server.registration_endpoint.as_deref(),
                        &token,
                        &request,
                    )
                    .await?
                }
                (None, Some(outputs)) => {
                    super::register_client::register_direct(&args.target, outputs, request).await?
                }
                (None, None) => {
                    return Err(miette!(
                        code = "no_operator_credential",
                        help = format!(
                            "start `mcpctl dev` on that port (it publishes its initial access token), pass --state-dir DIR, set {}, pass --stage S (AWS credentials), or --client-id ID with {SECRET_ENV}",
                            operator_token::ENV
                        ),
                        "a token without a person needs the operator: no initial access token was found for {mcp_url}"
                    ));
                }
            };
            let issued = match registration.client_secret.as_deref() {
                Some(secret) => {
                    grant(
                        &http,
                        &token_endpoint,
                        &registration.client_id,
                        secret,
                        &mcp_url,
                        scope.as_deref(),
                    )
                    .await
                }
                None => Err(miette!("the server registered the client without a secret")),
            };
            // Whatever the grant said, the client goes: it was made for this one call.
            if let Err(error) = delete(&http, &registration).await {
                eprintln!(
                    "warning: the client {} was left behind ({error}); remove it with `mcpctl clients delete {}`",
                    registration.client_id, registration.client_id
                );
            }
            (issued?, registration.client_id)
        }
    };
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "access_token": issued.access_token,
                "token_type": issued.token_type,
                "expires_in": issued.expires_in,
                "scope": issued.scope,
                "mcp_url": mcp_url,
                "issuer": found.server.issuer,
                "client_id": client_id,
            })
        ),
        OutputFormat::Text => {
            println!("{}", issued.access_token);
            eprintln!(
                "bearer token for {mcp_url}, scope `{}`, expires in {} s. For example:\n  curl -H \"Authorization: Bearer $(mcpctl token ...)\" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}' {mcp_url}",
                issued.scope.as_deref().unwrap_or("-"),
                issued.expires_in
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// RFC 7591 registration at the server's own `/dcr`, with the operator's initial access token.
async fn register_with_token(
    http: &Client,
    mcp_url: &str,
    endpoint: Option<&str>,
    token: &str,
    request: &RegistrationRequest,
) -> miette::Result<RegistrationResponse> {
    let endpoint = endpoint.ok_or_else(|| {
        miette!(
            help = "pass --stage to write the client into the table",
            "the server advertises no registration_endpoint"
        )
    })?;
    let server = Url::parse(mcp_url).into_diagnostic()?;
    if !operator_token::may_send(endpoint, &server) {
        return Err(miette!(
            help = "ask for a token from the server's own origin over https (or loopback)",
            "the server advertises registration at {endpoint}, not at its own origin; the initial access token is not sent there"
        ));
    }
    let reply = http
        .post(endpoint)
        .bearer_auth(token)
        .json(request)
        .send()
        .await
        .map_err(|e| miette!("cannot reach {endpoint}: {e}"))?;
    if reply.status() != StatusCode::CREATED {
        let status = reply.status();
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        return Err(miette!(
            help =
                "the initial access token may belong to another dev server: pass its --state-dir",
            "registration refused (HTTP {status}): {} {}",
            body["error"].as_str().unwrap_or("unknown_error"),
            body["error_description"].as_str().unwrap_or("")
        ));
    }
    reply
        .json()
        .await
        .map_err(|e| miette!("the server's answer is not an RFC 7591 response: {e}"))
}

/// The client_credentials grant, with HTTP Basic and the MCP resource (RFC 8707).
async fn grant(
    http: &Client,
    endpoint: &str,
    client_id: &str,
    secret: &str,
    mcp_url: &str,
    scope: Option<&str>,
) -> miette::Result<Issued> {
    let mut form = vec![("grant_type", "client_credentials"), ("resource", mcp_url)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let reply = http
        .post(endpoint)
        .basic_auth(encode(client_id), Some(encode(secret)))
        .form(&form)
        .send()
        .await
        .map_err(|e| miette!("cannot reach the token endpoint {endpoint}: {e}"))?;
    let status = reply.status();
    if status != StatusCode::OK {
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        let error = body["error"].as_str().unwrap_or("unknown_error").to_owned();
        let hint = match error.as_str() {
            "invalid_client" => "check --client-id and MCPCTL_CLIENT_SECRET",
            "invalid_scope" => {
                "ask only for scopes the server offers (`scopes_supported` in its metadata)"
            }
            "unauthorized_client" => {
                "the client may not use client_credentials: register a machine client"
            }
            _ => "see the server's log (`mcpctl logs`)",
        };
        return Err(miette!(
            code = "token_refused",
            help = hint,
            "the token endpoint refused (HTTP {status}): {error} {}",
            body["error_description"].as_str().unwrap_or("")
        ));
    }
    reply
        .json()
        .await
        .map_err(|e| miette!("the token endpoint's answer is not a token response: {e}"))
}

/// Whether a secret may be sent to `endpoint`: https, or plain http to `mcpctl dev` on 127.0.0.1.
fn carries_secrets(endpoint: &str) -> bool {
    Url::parse(endpoint)
        .is_ok_and(|url| url.scheme() == "https" || operator_token::dev_port(&url).is_some())
}

/// RFC 7592 deletion with the registration access token.
async fn delete(http: &Client, registration: &RegistrationResponse) -> Result<(), String> {
    let token = registration
        .registration_access_token
        .as_deref()
        .ok_or("no registration access token was issued")?;
    if !carries_secrets(&registration.registration_client_uri) {
        return Err(format!(
            "the client's management URL {} is not https; the registration access token is not sent there",
            registration.registration_client_uri
        ));
    }
    let reply = http
        .delete(&registration.registration_client_uri)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match reply.status() {
        StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
        status => Err(format!("HTTP {status}")),
    }
}
