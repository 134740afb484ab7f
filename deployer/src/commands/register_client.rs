//! `mcpctl register-client`: registers an OAuth client through the server's `/dcr` endpoint, or
//! with `--direct` straight into the clients table (for stages that close public registration).
//! Input is validated locally with the server's own rules before any call. The secret is printed
//! once and never logged.
//!
//! Machine clients (client_credentials) are the operator's: `--direct` writes them with AWS
//! credentials, and through `/dcr` the request carries the operator's RFC 7591 §3 initial
//! access token (`MCPCTL_INITIAL_ACCESS_TOKEN`, `--state-dir`, or the one a local `mcpctl dev`
//! published). Anonymous registration never gets that grant.

use std::{collections::HashSet, path::PathBuf, process::ExitCode};

use mcpctl_handler::{
    config::HandlerConfig,
    oauth::registration::{self, RegistrationRequest, RegistrationResponse},
    store::ClientOrigin,
};
use miette::{IntoDiagnostic, miette};
use url::Url;

use crate::{
    cli::OutputFormat, dev::operator_token, discovery, project::ProjectArgs, target::StageArgs,
};

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub(crate) enum GrantType {
    /// Users sign in in a browser (MCP clients such as Claude, Cursor, VS Code).
    #[value(alias = "authorization_code")]
    AuthorizationCode,
    /// The client acts for itself with its secret (services, CI); operator only.
    #[value(alias = "client_credentials")]
    ClientCredentials,
    /// Rotating refresh tokens (with authorization_code).
    #[value(alias = "refresh_token")]
    RefreshToken,
}

impl GrantType {
    fn wire(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// Arguments of `mcpctl register-client`.
#[derive(Debug, clap::Args)]
pub(crate) struct RegisterClientArgs {
    /// The server's MCP URL or its issuer (e.g. from `mcpctl dev`); alternative to --stage.
    #[arg(long, conflicts_with = "stage", required_unless_present = "stage")]
    pub(crate) url: Option<Url>,
    /// Read the operator's initial access token from this `mcpctl dev --state-dir` (otherwise
    /// MCPCTL_INITIAL_ACCESS_TOKEN, or the token a local `mcpctl dev` published for its port).
    #[arg(long, value_name = "DIR", conflicts_with = "direct")]
    pub(crate) state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) target: StageArgs,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
    /// Client name shown on the consent page.
    #[arg(long)]
    pub(crate) name: String,
    /// Redirect URI (repeatable): https, http on loopback, or a private-use scheme.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub(crate) redirect_uris: Vec<String>,
    /// Grant type (repeatable). Default: authorization_code + refresh_token with redirect URIs,
    /// client_credentials without.
    #[arg(
        long = "grant-type",
        visible_alias = "grant",
        value_enum,
        value_name = "GRANT"
    )]
    pub(crate) grant_types: Vec<GrantType>,
    /// Space-separated scopes the client may request.
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// A public client (no secret; PKCE only), such as a desktop or CLI app.
    #[arg(long)]
    pub(crate) public: bool,
    /// Write the client straight into the stage's clients table with your AWS credentials
    /// instead of calling /dcr (works when public registration is closed).
    #[arg(long, requires = "stage")]
    pub(crate) direct: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

/// Builds and validates the registration request locally, with the server's rules, as
/// registered by `origin`.
fn request(args: &RegisterClientArgs, origin: ClientOrigin) -> miette::Result<RegistrationRequest> {
    let mut seen = HashSet::new();
    if let Some(duplicate) = args.redirect_uris.iter().find(|u| !seen.insert(u.as_str())) {
        return Err(miette!(
            help = "give each --redirect-uri once",
            "--redirect-uri {duplicate} is repeated"
        ));
    }
    let mut seen = HashSet::new();
    if let Some(duplicate) = args.grant_types.iter().find(|g| !seen.insert(**g)) {
        return Err(miette!(
            help = "give each --grant-type once",
            "--grant-type {} is repeated",
            duplicate.wire()
        ));
    }
    let grant_types: Vec<String> = if args.grant_types.is_empty() {
        if args.redirect_uris.is_empty() {
            vec!["client_credentials".into()]
        } else {
            vec!["authorization_code".into(), "refresh_token".into()]
        }
    } else {
        args.grant_types
            .iter()
            .map(|g| g.wire().to_owned())
            .collect()
    };
    let request = RegistrationRequest {
        redirect_uris: Some(args.redirect_uris.clone()),
        grant_types: Some(grant_types),
        token_endpoint_auth_method: Some(
            if args.public {
                "none"
            } else {
                "client_secret_basic"
            }
            .into(),
        ),
        scope: args.scope.clone(),
        client_name: Some(args.name.clone()),
        ..RegistrationRequest::default()
    };
    // The same validation the server runs, so bad input is refused before any call.
    let config = HandlerConfig::new(Url::parse("https://validation.invalid").into_diagnostic()?);
    let machine = request
        .grant_types
        .as_ref()
        .is_some_and(|g| g.iter().any(|g| g == "client_credentials"));
    if machine && !origin.is_operator() {
        return Err(miette!(
            help = format!(
                "against mcpctl dev: it prints its initial access token at start; export {}=<token>, or pass --state-dir DIR of a dev server started with one. Against a stage: --stage S --direct, or the stage's initial access token in {}",
                operator_token::ENV,
                operator_token::ENV
            ),
            "a client_credentials client is registered by the operator, and no initial access token was found"
        ));
    }
    registration::validate(request.clone(), &config, origin).map_err(|error| {
        miette!(
            help = "see `mcpctl register-client --help`",
            "{}",
            error.description().unwrap_or("invalid client metadata")
        )
    })?;
    Ok(request)
}

/// Without the `aws` feature there is no stage to write to (a `StackOutputs` cannot be read).
#[cfg(not(feature = "aws"))]
pub(crate) async fn register_direct(
    _: &StageArgs,
    _: &crate::stack::StackOutputs,
    _: RegistrationRequest,
) -> miette::Result<RegistrationResponse> {
    Err(crate::aws_feature::needs_aws("register-client --direct"))
}

/// Writes an operator client for `request` straight into the stage's clients table (AWS
/// credentials are the operator's authority), and returns the one-time registration response.
#[cfg(feature = "aws")]
pub(crate) async fn register_direct(
    target: &StageArgs,
    outputs: &crate::stack::StackOutputs,
    request: RegistrationRequest,
) -> miette::Result<RegistrationResponse> {
    use mcpctl_handler::{
        clock::{Clock, SystemClock},
        store::{ClientStore, StoreError, dynamo::DynamoStore},
    };

    let issuer = Url::parse(outputs.get("Issuer")?).into_diagnostic()?;
    let config = HandlerConfig::new(issuer);
    let metadata = registration::validate(request, &config, ClientOrigin::Operator)
        .map_err(|e| miette!("{}", e.description().unwrap_or("invalid client metadata")))?;
    let new = registration::mint(metadata, &config, SystemClock.now(), ClientOrigin::Operator)
        .map_err(|e| miette!("{e}"))?;
    let names = mcpctl_handler::store::dynamo::TableNames {
        clients: outputs.get("ClientsTableName")?.to_owned(),
        codes: outputs.get("CodesTableName")?.to_owned(),
        refresh_tokens: outputs.get("RefreshTokensTableName")?.to_owned(),
    };
    let client = aws_sdk_dynamodb::Client::new(&target.aws.sdk_config().await?);
    let store = std::sync::Arc::new(DynamoStore::new(client, names));
    store.create(new.record).await.map_err(|e| match e {
        StoreError::Conflict => {
            miette!("a client with the generated id already exists; run the command again")
        }
        other => miette!(
            help =
                "check your AWS credentials: --direct needs dynamodb:PutItem on the clients table",
            "cannot write the client: {other}"
        ),
    })?;
    Ok(new.response)
}

/// The MCP URL for `--url`, which may name the MCP endpoint or the issuer.
pub(crate) fn mcp_url_of(url: &Url) -> String {
    let url = url.as_str().trim_end_matches('/');
    if url.ends_with("/mcp") {
        url.to_owned()
    } else {
        format!("{url}/mcp")
    }
}

pub(crate) async fn run(args: RegisterClientArgs) -> miette::Result<ExitCode> {
    // A crate made by `mcpctl new` names its stacks in config/<stage>.yaml.
    let mut args = args;
    args.project.fill_stack_name(&mut args.target)?;
    let operator_token = if args.direct {
        None
    } else {
        let loopback_port = args
            .url
            .as_ref()
            .and_then(crate::dev::operator_token::dev_port);
        operator_token::find(args.state_dir.as_deref(), loopback_port)?
    };
    // `--stage S --grant client_credentials` with no initial access token: the operator's AWS
    // credentials are the authority, so the client goes straight into the table.
    let machine = args.grant_types.contains(&GrantType::ClientCredentials)
        || (args.grant_types.is_empty() && args.redirect_uris.is_empty());
    let direct =
        args.direct || (args.target.stage.is_some() && machine && operator_token.is_none());
    let origin = if direct || operator_token.is_some() {
        ClientOrigin::Operator
    } else {
        ClientOrigin::Dcr
    };
    let request = request(&args, origin)?;
    let outputs = args.target.outputs().await?;
    let response = if direct {
        let outputs = outputs.ok_or_else(|| miette!("--direct needs --stage"))?;
        register_direct(&args.target, &outputs, request).await?
    } else {
        let mcp_url = match (&args.url, &outputs) {
            (Some(url), _) => mcp_url_of(url),
            (None, Some(outputs)) => outputs.get("McpUrl")?.to_owned(),
            (None, None) => return Err(miette!("pass --url or --stage")),
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .into_diagnostic()?;
        let found = discovery::discover(&http, &mcp_url).await?;
        let endpoint = found.server.registration_endpoint.ok_or_else(|| {
            miette!(
                help = "use --direct with --stage to write the client into the table",
                "the server does not offer dynamic registration"
            )
        })?;
        let body = serde_json::to_value(&request).into_diagnostic()?;
        let mut post = http.post(&endpoint).json(&body);
        // The operator token goes only with a machine-client request, and only to the origin
        // the operator named: the endpoint comes from the server's own metadata.
        if let Some(token) = &operator_token
            && machine
        {
            let server = Url::parse(&mcp_url).into_diagnostic()?;
            if !operator_token::may_send(&endpoint, &server) {
                return Err(miette!(
                    help = "register against the server's own origin over https (or loopback)",
                    "the server advertises registration at {endpoint}, not at its own origin {}; the initial access token is not sent there",
                    server.origin().ascii_serialization()
                ));
            }
            post = post.bearer_auth(token);
        }
        let reply = post
            .send()
            .await
            .map_err(|e| miette!("cannot reach {endpoint}: {e}"))?;
        let status = reply.status();
        if status != reqwest::StatusCode::CREATED {
            let error: serde_json::Value = reply.json().await.unwrap_or_default();
            return Err(miette!(
                "registration refused (HTTP {status}): {} {}",
                error["error"].as_str().unwrap_or("unknown_error"),
                error["error_description"].as_str().unwrap_or("")
            ));
        }
        reply
            .json::<RegistrationResponse>()
            .await
            .map_err(|e| miette!("the server's answer is not an RFC 7591 response: {e}"))?
    };
    print(&response, args.output)?;
    Ok(ExitCode::SUCCESS)
}

fn print(response: &RegistrationResponse, output: OutputFormat) -> miette::Result<()> {
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(response).into_diagnostic()?
        ),
        OutputFormat::Text => {
            println!("client_id:                 {}", response.client_id);
            if let Some(secret) = &response.client_secret {
                println!("client_secret:             {secret}");
            }
            if let Some(token) = &response.registration_access_token {
                println!("registration_access_token: {token}");
            }
            println!(
                "registration_client_uri:   {}",
                response.registration_client_uri
            );
            if response.client_secret.is_some() {
                eprintln!(
                    "\nThe secret is shown only now and stored only as a hash: keep it somewhere safe."
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(redirects: &[&str], grants: &[GrantType], public: bool) -> RegisterClientArgs {
        RegisterClientArgs {
            url: None,
            state_dir: None,
            target: StageArgs {
                stage: None,
                stack_name: None,
                aws: crate::target::AwsArgs {
                    profile: None,
                    region: None,
                },
            },
            project: ProjectArgs::default(),
            name: "Test".into(),
            redirect_uris: redirects.iter().map(|s| (*s).to_owned()).collect(),
            grant_types: grants.to_vec(),
            scope: None,
            public,
            direct: false,
            output: OutputFormat::Text,
        }
    }

    fn request(args: &RegisterClientArgs) -> miette::Result<RegistrationRequest> {
        super::request(args, ClientOrigin::Operator)
    }

    #[test]
    fn machine_clients_need_the_operator() {
        let error = super::request(
            &args(&[], &[GrantType::ClientCredentials], false),
            ClientOrigin::Dcr,
        )
        .unwrap_err();
        assert!(
            format!("{error:?}").contains(operator_token::ENV),
            "{error:?}"
        );
        assert!(
            super::request(
                &args(&["http://127.0.0.1/cb"], &[], true),
                ClientOrigin::Dcr
            )
            .is_ok()
        );
        assert_eq!(
            mcp_url_of(&Url::parse("http://127.0.0.1:8787").unwrap()),
            "http://127.0.0.1:8787/mcp"
        );
        assert_eq!(
            mcp_url_of(&Url::parse("http://127.0.0.1:8787/mcp/").unwrap()),
            "http://127.0.0.1:8787/mcp"
        );
    }

    #[test]
    fn bad_input_is_refused_before_any_call() {
        assert!(request(&args(&["javascript:alert(1)"], &[], true)).is_err());
        assert!(request(&args(&["https://a.example/cb#frag"], &[], true)).is_err());
        assert!(
            request(&args(
                &["https://a.example/cb", "https://a.example/cb"],
                &[],
                true
            ))
            .is_err()
        );
        assert!(
            request(&args(
                &[],
                &[GrantType::ClientCredentials, GrantType::ClientCredentials],
                false
            ))
            .is_err()
        );
        assert!(
            request(&args(&[], &[GrantType::ClientCredentials], true)).is_err(),
            "a public client cannot use client_credentials"
        );
        assert!(
            request(&args(&[], &[GrantType::AuthorizationCode], true)).is_err(),
            "authorization_code needs a redirect URI"
        );
    }

    #[test]
    fn defaults_follow_the_redirect_uris() {
        let with = request(&args(&["http://127.0.0.1/cb"], &[], true)).unwrap();
        assert_eq!(
            with.grant_types.unwrap(),
            vec!["authorization_code", "refresh_token"]
        );
        let without = request(&args(&[], &[], false)).unwrap();
        assert_eq!(without.grant_types.unwrap(), vec!["client_credentials"]);
    }
}
