//! `mcpctl dev`: the handler's router on 127.0.0.1 with the embedded store and the dev identity
//! (consent page for a fixed local user), so anyone can use the server with no AWS account.

use std::{path::Path, process::ExitCode, sync::Arc, time::Duration};

use mcpctl_handler::{
    AppState,
    clock::SystemClock,
    config::{HandlerConfig, IdentityMode, OidcSettings, Secret},
    gateway::GatewayConfig,
    http::log::{LogTarget, init_json_logging},
    keys::KeyMaterial,
    state::Stores,
    store::memory::MemoryStore,
};
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::{
    cli::{DevArgs, IdentityKind, OutputFormat, StoreKind},
    dev::{
        apigw,
        edge::Edge,
        host_guard, operator_api, operator_token,
        server_process::{self, ProcessEnv, ServerCrate, ServerProcess, Upstream},
        state_dir,
    },
    stage::config::{StageConfig, UpstreamConfig},
};

/// Normalises `--base-path`: leading slash, no trailing slash, empty for the root.
fn normalise_base_path(raw: Option<&str>) -> miette::Result<String> {
    let Some(raw) = raw.map(str::trim).filter(|p| !p.is_empty() && *p != "/") else {
        return Ok(String::new());
    };
    let path = format!("/{}", raw.trim_matches('/'));
    let valid = path[1..].split('/').all(|segment| {
        !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    });
    if !valid {
        return Err(miette!(
            help = "use a stage-like prefix such as /prod or /v1/api (letters, digits, - _ .)",
            "--base-path `{raw}` is not a valid path prefix"
        ));
    }
    Ok(path)
}

pub(crate) async fn run(args: DevArgs) -> miette::Result<ExitCode> {
    init_json_logging(LogTarget::Stderr);
    let base_path = normalise_base_path(args.base_path.as_deref())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .into_diagnostic()
        .wrap_err_with(|| {
            format!(
                "cannot listen on 127.0.0.1:{}; pick another --port (0 chooses a free one)",
                args.port
            )
        })?;
    let port = listener.local_addr().into_diagnostic()?.port();
    let public_url = match &args.public_url {
        Some(url) => url.clone(),
        None => {
            url::Url::parse(&format!("http://127.0.0.1:{port}{base_path}")).into_diagnostic()?
        }
    };

    let mut config = HandlerConfig::new(public_url);
    config.identity = identity(&args)?;
    config.cimd.allow_insecure = args.allow_insecure_cimd;
    // MCP_METRICS=emf adds the Lambda's metric fields to the dev log lines (tests read them).
    config.metrics =
        mcpctl_handler::metrics::MetricsConfig::from_env(|name| std::env::var(name).ok());
    config.allowed_origins = if args.allow_origins.is_empty() {
        vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()]
    } else {
        args.allow_origins.clone()
    };
    // One list for rmcp's Host check on /mcp and the guard in front of every route.
    config.allowed_hosts = host_guard::allowed_hosts(port, args.public_url.as_ref());
    let (server_crate, dev_stage) = server_crate(&args)?;
    let stage_upstream = dev_stage.as_ref().and_then(|stage| stage.upstream.as_ref());
    let gateway = gateway_config(&args, &config, stage_upstream)?;
    let server_crate = server_crate.filter(|_| gateway.is_none());
    let stage_server = dev_stage
        .as_ref()
        .map(|stage| stage.server.clone())
        .unwrap_or_default();
    config.server_identity = mcpctl_handler::mcp::ServerIdentity {
        name: stage_server.name.clone(),
        title: stage_server.title.clone(),
        version: stage_server.version.clone(),
        instructions: stage_server.instructions.clone(),
    };
    let server_name = stage_server
        .name
        .clone()
        .or_else(|| server_crate.as_ref().map(|c| c.package.clone()))
        .unwrap_or_else(|| "mcpctl-dev".to_owned());
    for scope in dev_stage
        .map(|stage| stage.oauth.scopes)
        .unwrap_or_default()
    {
        config.offer_scope(scope);
    }
    if let Some(gateway) = &gateway {
        for scope in gateway.tool_scopes.values() {
            config.offer_scope(scope.clone());
        }
    }
    for scope in &args.scopes {
        if !mcpctl_handler::oauth::scope::is_scope_token(scope) {
            return Err(miette!(
                help = "a scope is printable ASCII without spaces, quotes or backslashes, e.g. notes:write",
                "--scope `{scope}` is not an OAuth scope (RFC 6749 §3.3)"
            ));
        }
        config.offer_scope(scope.clone());
    }

    let (keys, memory) = match &args.state_dir {
        Some(dir) => state_dir::load(dir)?,
        None => (
            KeyMaterial::generate()
                .into_diagnostic()
                .wrap_err("cannot generate a signing key")?,
            MemoryStore::new(),
        ),
    };
    let memory = Arc::new(memory);
    let stores = match args.store {
        StoreKind::Memory => Stores::memory(memory.clone()),
        #[cfg(feature = "aws")]
        StoreKind::Dynamodb => {
            dynamodb_stores(args.dynamodb_endpoint.as_deref(), &args.table_prefix).await?
        }
        #[cfg(not(feature = "aws"))]
        StoreKind::Dynamodb => return Err(crate::aws_feature::needs_aws("dev --store dynamodb")),
    };
    let operator_token = operator_token::load_or_create(args.state_dir.as_deref())?;
    config.initial_access_token_hashes = vec![mcpctl_handler::crypto::hash_secret(&operator_token)];
    // Removed again when the server stops (the guard lives until the end of `run`).
    let _published = operator_token::publish(port, &operator_token)?;
    let jwks = keys.verifying.jwks().to_string();
    // The gateway signs its assertions with a key of its own, published apart from the access
    // tokens' JWKS; per run, since an assertion lives 60 s.
    let assertion_key = match &gateway {
        Some(_) => {
            let key = mcpctl_handler::keys::SigningKey::generate()
                .into_diagnostic()
                .wrap_err("cannot generate the gateway's assertion key")?;
            config.gateway_jwks = Some(serde_json::json!({ "keys": [key.public_jwk()] }));
            Some(key)
        }
        None => None,
    };
    let state = AppState::new(config.clone(), keys, stores, Arc::new(SystemClock));
    // Resolves if the server's process ends; dropping it (when `run` ends) stops the process.
    let mut process_exit = None;
    let handler = match (&server_crate, gateway.clone().zip(assertion_key)) {
        (_, Some((gateway, assertion_key))) => {
            let gateway = mcpctl_handler::gateway::Gateway::connect(gateway, assertion_key)
                .await
                .map_err(|e| miette!("cannot set up the HTTP client for --upstream: {e}"))?;
            mcpctl_handler::gateway_router(state.clone(), gateway)
        }
        // No server crate here: serve the hello example in this process.
        (None, None) => mcpctl_handler::router(state.clone(), example_hello::Hello::new()),
        (Some(server_crate), None) => {
            let binary = server_crate.build().await?;
            let env = ProcessEnv {
                public_url: config.issuer(),
                jwks,
                allowed_origins: config.allowed_origins.clone(),
                allowed_hosts: config.allowed_hosts.clone(),
                scopes: config.scopes.clone(),
                server: stage_server
                    .variables()
                    .into_iter()
                    .map(|(name, value)| (name, value.to_owned()))
                    .collect(),
            };
            let process = ServerProcess::start(&binary, &env).await?;
            let upstream = Upstream::new(process.mcp_url.clone())?;
            process_exit = Some(process.exited());
            mcpctl_handler::authorization_router(state.clone()).merge(
                axum::Router::new()
                    .route("/mcp", axum::routing::any(server_process::forward))
                    .with_state(upstream),
            )
        }
    };
    // `mcpctl clients --url` reads the embedded store here (a DynamoDB store is read directly).
    let handler = match args.store {
        StoreKind::Memory => handler.merge(operator_api::router(
            memory,
            mcpctl_handler::crypto::hash_secret(&operator_token),
        )),
        StoreKind::Dynamodb => handler,
    };
    let app = Edge::new(
        apigw::host_router(state, handler, &base_path, args.emulate_api_gateway),
        host_guard::AllowedHosts::new(config.allowed_hosts.clone()),
    );

    print_ready(
        &config,
        &Ready {
            base_path: &base_path,
            port,
            state_dir: args.state_dir.as_deref(),
            emulated: args.emulate_api_gateway,
            operator_token: &operator_token,
            gateway: gateway.as_ref(),
            server_name: &server_name,
            client: args.client,
        },
        args.output,
    );
    let serve = axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(crate::signals::interrupted());
    match process_exit {
        None => serve.await,
        Some(exited) => {
            tokio::select! {
                served = serve => served,
                status = exited => {
                    return Err(miette!(
                        help = "its log above says why; fix it and run `mcpctl dev` again",
                        "the MCP server process stopped ({status})"
                    ));
                }
            }
        }
    }
    .into_diagnostic()
    .wrap_err("the dev server stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

fn identity(args: &DevArgs) -> miette::Result<IdentityMode> {
    match args.identity {
        IdentityKind::Dev => Ok(IdentityMode::Dev {
            auto_approve: args.auto_approve,
        }),
        IdentityKind::Oidc => {
            if args.auto_approve {
                return Err(miette!(
                    help = "drop --auto-approve, or use --identity dev for scripted runs without a provider",
                    "--auto-approve only applies to --identity dev: with oidc the person signs in at the provider and approves on the consent page"
                ));
            }
            let (Some(issuer), Some(client_id)) = (&args.oidc_issuer, &args.oidc_client_id) else {
                return Err(miette!(
                    help = "pass --oidc-issuer URL --oidc-client-id ID (and MCPCTL_OIDC_CLIENT_SECRET for a confidential client)",
                    "--identity oidc needs the upstream provider"
                ));
            };
            url::Url::parse(issuer)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http"))
                .ok_or_else(|| {
                    miette!(
                        help = "pass the provider's issuer, e.g. https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC or http://127.0.0.1:9000",
                        "--oidc-issuer `{issuer}` is not an http(s) URL"
                    )
                })?;
            let mut settings = OidcSettings::new(issuer.clone(), client_id.clone());
            settings.client_secret = std::env::var("MCPCTL_OIDC_CLIENT_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret);
            settings.scopes = args.oidc_scopes.clone();
            if !settings.scopes.iter().any(|s| s == "openid") {
                settings.scopes.insert(0, "openid".into());
            }
            settings.claims.groups = args.oidc_groups_claim.clone();
            settings.allowed_email_domains = args.allow_email_domains.clone();
            settings.allowed_groups = args.allow_groups.clone();
            settings.remember_consent = (args.remember_consent_days > 0)
                .then(|| Duration::from_secs(args.remember_consent_days * 24 * 3600));
            Ok(IdentityMode::Oidc(Box::new(settings)))
        }
    }
}

/// DynamoDB tables `<prefix>-…`, created if absent.
#[cfg(feature = "aws")]
async fn dynamodb_stores(endpoint: Option<&str>, prefix: &str) -> miette::Result<Stores> {
    use mcpctl_handler::store::dynamo::{self, DynamoStore, TableNames, schema};

    let names = TableNames::with_prefix(prefix);
    let client = dynamo::client(endpoint).await;
    let created = schema::ensure_tables(&client, &names).await.map_err(|e| {
        miette!(
            help = "check --dynamodb-endpoint (for example a moto_server on loopback) or your AWS credentials and region",
            "cannot prepare the DynamoDB tables `{prefix}-*`: {e}"
        )
    })?;
    if !created.is_empty() {
        eprintln!("created DynamoDB tables: {}", created.join(", "));
    }
    Ok(Stores::dynamo(DynamoStore::new(client, names)))
}

/// What the ready message reports besides the configuration.
struct Ready<'a> {
    base_path: &'a str,
    port: u16,
    state_dir: Option<&'a Path>,
    emulated: bool,
    operator_token: &'a str,
    gateway: Option<&'a GatewayConfig>,
    /// The server's name in the client snippets.
    server_name: &'a str,
    /// `--client`.
    client: Option<crate::client_snippets::ClientKind>,
}

fn print_ready(config: &HandlerConfig, ready: &Ready<'_>, output: OutputFormat) {
    let Ready {
        base_path,
        port,
        state_dir,
        emulated,
        operator_token,
        gateway,
        server_name,
        client,
    } = *ready;
    // What the upstream verifies assertions with (docs/gateway.md).
    let upstream_json = gateway.map(|g| {
        serde_json::json!({
            "url": g.describe(),
            "issuer": config.issuer(),
            "audience": g.audience,
            "jwks_url": config.url(mcpctl_handler::config::GATEWAY_JWKS_PATH),
            "tools": g.exposed_tools,
            "tool_scopes": g.tool_scopes,
        })
    });
    let snippets = url::Url::parse(&config.resource())
        .map(|url| crate::client_snippets::snippets(client, server_name, &url))
        .unwrap_or_default();
    let callback = config.url("/oauth/callback");
    let (identity, upstream) = match &config.identity {
        IdentityMode::Oidc(settings) => ("oidc", Some(settings.issuer.as_str())),
        IdentityMode::Dev { .. } => ("dev", None),
        IdentityMode::Disabled => ("disabled", None),
    };
    match output {
        OutputFormat::Json => {
            let ready = serde_json::json!({
                "mcp_url": config.resource(),
                "issuer": config.issuer(),
                "port": port,
                "base_path": base_path,
                "emulate_api_gateway": emulated,
                "state_dir": state_dir.map(|d| d.display().to_string()),
                "identity": identity,
                "oidc_issuer": upstream,
                "oidc_callback": upstream.map(|_| &callback),
                "initial_access_token": operator_token,
                "who_can_get_a_token": who_can_get_a_token(config),
                "upstream": upstream_json,
                "server_name": server_name,
                "clients": snippets,
            });
            println!("{ready}");
        }
        OutputFormat::Text => {
            println!("mcpctl dev is serving the MCP server on loopback\n");
            println!("  MCP URL:  {}", config.resource());
            println!("  Issuer:   {}", config.issuer());
            println!(
                "  State:    {}",
                state_dir.map_or_else(
                    || "in memory (lost on exit; use --state-dir to keep it)".to_owned(),
                    |d| d.display().to_string()
                )
            );
            if let Some(issuer) = upstream {
                println!("  Sign-in:  {issuer} (register {callback} as a redirect URI there)");
            }
            if let Some(gateway) = gateway {
                println!(
                    "  Upstream: {} (gateway mode; the client's token is never sent there)",
                    gateway.describe()
                );
                println!(
                    "            it verifies assertions with issuer {}, audience {},\n            JWKS {}",
                    config.issuer(),
                    gateway.audience,
                    config.url(mcpctl_handler::config::GATEWAY_JWKS_PATH)
                );
            }
            if emulated {
                println!(
                    "  Shape:    API Gateway REST emulated (stage prefix, renamed WWW-Authenticate)"
                );
            }
            println!("  Tokens:   {}", who_can_get_a_token(config));
            println!(
                "  Operator: initial access token {operator_token}\n            (for machine clients: mcpctl register-client --url {} --grant client_credentials)",
                config.resource()
            );
            println!(
                "\nConnect a client (one only: --client claude-code|claude|cursor|vscode|inspector):\n\n{}",
                crate::client_snippets::render(&snippets)
            );
            println!("Press Ctrl-C to stop.");
        }
    }
}

/// The one line on who can get a token from this dev server.
fn who_can_get_a_token(config: &HandlerConfig) -> String {
    let people = match &config.identity {
        IdentityMode::Dev { auto_approve: true } => {
            "any application on this machine, approved automatically as dev-user (--auto-approve)"
                .to_owned()
        }
        IdentityMode::Dev { .. } => {
            "applications you approve on the consent page, as the local user dev-user".to_owned()
        }
        IdentityMode::Oidc(settings) => format!(
            "people who sign in at {} and approve the application",
            settings.issuer
        ),
        IdentityMode::Disabled => "nobody signs in".to_owned(),
    };
    format!("{people}; machine clients only when registered with the operator token")
}

/// The gateway `--upstream` asks for (or the dev stage's `upstream.url`), with the dev stage's
/// tool allow-list and scopes unless flags give them, checked: `None` when neither names one.
fn gateway_config(
    args: &DevArgs,
    config: &HandlerConfig,
    stage: Option<&UpstreamConfig>,
) -> miette::Result<Option<GatewayConfig>> {
    let url = match (&args.upstream, stage) {
        (Some(url), _) => url.clone(),
        (None, None) => return Ok(None),
        (None, Some(stage)) => match &stage.url {
            Some(url) => url::Url::parse(url).into_diagnostic()?,
            None => {
                return Err(miette!(
                    help = "start your MCP server on this machine (the crate's README shows how), then run `mcpctl dev --upstream http://127.0.0.1:PORT/mcp`",
                    "config/dev.yaml puts /mcp in front of the server in `upstream.function`, which runs on Lambda only"
                ));
            }
        },
    };
    let mut gateway = GatewayConfig::for_url(url).map_err(|error| {
        miette!(
            help = "pass the upstream's MCP endpoint, e.g. --upstream http://127.0.0.1:8000/mcp",
            "--upstream: {error}"
        )
    })?;
    if let Some(audience) = &args.upstream_audience {
        gateway.audience = audience.clone();
    }
    gateway.timeout = Duration::from_secs(args.upstream_timeout);
    // The dev stage's policy, so `mcpctl dev` refuses what the deployed stage refuses; the flags
    // replace its allow-list and add to its scopes.
    if let Some(stage) = stage {
        if let Some(tools) = stage
            .tools
            .as_ref()
            .filter(|_| args.expose_tools.is_empty())
        {
            gateway
                .expose(tools.iter().map(String::as_str))
                .map_err(|error| miette!("config/dev.yaml upstream.tools: {error}"))?;
        }
        for (tool, scope) in &stage.tool_scopes {
            gateway
                .require_scope(tool.clone(), scope.clone())
                .map_err(|error| miette!("config/dev.yaml upstream.tool_scopes: {error}"))?;
        }
    }
    if !args.expose_tools.is_empty() {
        gateway
            .expose(args.expose_tools.iter().map(String::as_str))
            .map_err(|error| {
                miette!(
                    help = "tool names are 1 to 128 of A-Z a-z 0-9 _ - .",
                    "--expose-tool: {error}"
                )
            })?;
    }
    for pair in &args.tool_scopes {
        let Some((tool, scope)) = pair.split_once('=') else {
            return Err(miette!(
                help = "write it as TOOL=SCOPE, e.g. --tool-scope save_note=notes:write",
                "--tool-scope `{pair}` has no `=`"
            ));
        };
        gateway
            .require_scope(tool.to_owned(), scope.to_owned())
            .map_err(|error| {
                miette!(
                    help = "write it as TOOL=SCOPE, e.g. --tool-scope save_note=notes:write",
                    "--tool-scope: {error}"
                )
            })?;
    }
    gateway
        .check_not_self(&config.resource())
        .map_err(|error| {
            miette!(
                help = "--upstream is the MCP server to put behind this one, on another port",
                "--upstream: {error}"
            )
        })?;
    Ok(Some(gateway))
}

/// What `mcpctl dev` serves: a crate in its own process (`None`: the built-in hello example here,
/// outside any server crate and in the mcpctl repository itself), and the scopes its
/// `config/dev.yaml` offers.
fn server_crate(args: &DevArgs) -> miette::Result<(Option<ServerCrate>, Option<StageConfig>)> {
    if args.manifest_path.is_none()
        && let Some(config_dir) = crate::project::repository_root_config_dir()
    {
        return Ok((None, dev_stage(&config_dir)?));
    }
    let Some(project) = crate::project::Project::find(args.manifest_path.as_deref())? else {
        return Ok((None, None));
    };
    let stage = dev_stage(&project.config_dir)?;
    let server = (!project.builtin).then_some(ServerCrate {
        manifest: project.manifest,
        package: project.package,
        bin: project.bin,
        target_dir: project.target_dir,
    });
    Ok((server, stage))
}

/// `<config_dir>/dev.yaml`, for the scopes it offers (`oauth.scopes`) and its `upstream:`;
/// `None` without the file.
fn dev_stage(config_dir: &Path) -> miette::Result<Option<StageConfig>> {
    if !config_dir.join("dev.yaml").is_file() {
        return Ok(None);
    }
    crate::stage::load(config_dir, "dev", &crate::stage::env_overrides())
        .map(Some)
        .map_err(|error| miette::Report::new(error).wrap_err("cannot read the dev stage"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_normalised() {
        assert_eq!(normalise_base_path(None).unwrap(), "");
        assert_eq!(normalise_base_path(Some("/")).unwrap(), "");
        assert_eq!(normalise_base_path(Some("prod/")).unwrap(), "/prod");
        assert_eq!(normalise_base_path(Some("/v1/api")).unwrap(), "/v1/api");
        assert!(normalise_base_path(Some("/a b")).is_err());
        assert!(normalise_base_path(Some("/a//b")).is_err());
    }
}
