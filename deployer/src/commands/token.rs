//! `mcpctl token`: a bearer token for a running `mcpctl dev` or a deployed stage, for curl and
//! the Inspector. With `--client-id` it is that machine client's client_credentials grant (the
//! secret from `MCPCTL_CLIENT_SECRET`, never a flag). Without, it takes the operator path: a
//! machine client registered for this one grant (with the dev server's initial access token, or
//! with AWS credentials into the stage's table), used once, and deleted again (RFC 7592), so
//! nothing is left behind; the token lives out its normal lifetime.

use std::{process::ExitCode, time::Duration};

use mcpctl_handler::oauth::registration::RegistrationRequest;
use miette::{IntoDiagnostic, miette};
use reqwest::Client;
use url::Url;

use crate::{
    cli::OutputFormat,
    dev::operator_token,
    discovery,
    operator_client::{Registrar, check_token_endpoint, delete, grant},
    project::ProjectArgs,
    target::StageArgs,
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
    // Checked before a client is registered: a client secret goes only to the MCP URL's own
    // origin over https (or to the dev server on 127.0.0.1).
    check_token_endpoint(&token_endpoint, &mcp_url)?;

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
            let registrar = Registrar::find(
                crate::operator_client::Servers::Own,
                args.state_dir.as_deref(),
                args.url.as_ref(),
                &args.target,
                outputs,
            )?;
            if let Registrar::Nobody = registrar {
                return Err(miette!(
                    code = "no_operator_credential",
                    help = format!(
                        "start `mcpctl dev` on that port (it publishes its initial access token), pass --state-dir DIR, set {}, pass --stage S (AWS credentials), or --client-id ID with {SECRET_ENV}",
                        operator_token::ENV
                    ),
                    "a token without a person needs the operator: no initial access token was found for {mcp_url}"
                ));
            }
            let registration = registrar
                .register(
                    &http,
                    &mcp_url,
                    found.server.registration_endpoint.as_deref(),
                    request,
                )
                .await?;
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
            if let Err(error) = delete(&http, &registration, &mcp_url).await {
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
