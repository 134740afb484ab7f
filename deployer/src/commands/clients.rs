//! `mcpctl clients list|show|delete`: the clients table of a stage, read and changed with your
//! AWS credentials, or the embedded store of a running `mcpctl dev` (`--url`, opened with its
//! operator token). Secrets are stored only as hashes and never printed.

use std::process::ExitCode;

use mcpctl_handler::store::ClientOrigin;
use miette::{IntoDiagnostic, miette};

use crate::{
    cli::OutputFormat,
    dev::{operator_api::ClientView, operator_token},
    project::ProjectArgs,
    target::StageArgs,
};

/// Arguments of `mcpctl clients`.
#[derive(Debug, clap::Args)]
pub(crate) struct ClientsArgs {
    #[command(subcommand)]
    pub(crate) action: ClientsAction,
    #[command(flatten)]
    pub(crate) target: StageArgs,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
    /// A running `mcpctl dev` (its MCP URL, e.g. http://127.0.0.1:8787/mcp) instead of a stage:
    /// its embedded store, opened with the operator token it published.
    #[arg(long, global = true, conflicts_with_all = ["stage", "table_prefix"])]
    pub(crate) url: Option<url::Url>,
    /// With --url: read the operator token from this `mcpctl dev --state-dir`.
    #[arg(long, value_name = "DIR", global = true, requires = "url")]
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// Use the tables `<prefix>-clients|codes|refresh-tokens` (as `mcpctl dev --store dynamodb`
    /// creates them) instead of a stage's.
    #[arg(long, global = true)]
    pub(crate) table_prefix: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub(crate) output: OutputFormat,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClientsAction {
    /// List every registered client (paginated reads of the whole table).
    List,
    /// Show one client.
    Show {
        /// Client id.
        client_id: String,
    },
    /// Delete a client and revoke its refresh tokens.
    Delete {
        /// Client id.
        client_id: String,
    },
}

type Shown = ClientView;

#[cfg(feature = "aws")]
mod table;

fn print_one(shown: &Shown) {
    println!("client_id:    {}", shown.client_id);
    println!(
        "name:         {}",
        shown.client_name.as_deref().unwrap_or("-")
    );
    println!(
        "type:         {} ({})",
        if shown.confidential {
            "confidential"
        } else {
            "public"
        },
        shown.token_endpoint_auth_method
    );
    println!("grant types:  {}", shown.grant_types.join(", "));
    println!(
        "registered:   {}",
        match shown.origin {
            ClientOrigin::Operator => "by an operator",
            ClientOrigin::Cimd => "metadata document (CIMD)",
            ClientOrigin::Dcr => "anonymously (open registration)",
        }
    );
    println!(
        "redirects:    {}",
        if shown.redirect_uris.is_empty() {
            "-".to_owned()
        } else {
            shown.redirect_uris.join(", ")
        }
    );
    println!(
        "scope:        {}",
        shown.scope.as_deref().unwrap_or("(any offered)")
    );
    println!(
        "registered:   {}",
        super::log_format::format_millis(i64::try_from(shown.issued_at).unwrap_or_default() * 1000)
    );
}

pub(crate) async fn run(args: ClientsArgs) -> miette::Result<ExitCode> {
    // A crate made by `mcpctl new` names its stacks in config/<stage>.yaml.
    let mut args = args;
    args.project.fill_stack_name(&mut args.target)?;
    if let Some(url) = &args.url {
        let dev = DevClients::connect(url, args.state_dir.as_deref())?;
        return dev.run(&args.action, args.output).await;
    }
    #[cfg(feature = "aws")]
    return table::run(&args).await;
    #[cfg(not(feature = "aws"))]
    Err(crate::aws_feature::needs_aws(
        if args.table_prefix.is_some() {
            "clients --table-prefix"
        } else {
            "clients --stage"
        },
    ))
}

fn print_list(mut clients: Vec<Shown>, output: OutputFormat) -> miette::Result<()> {
    clients.sort_by_key(|c| c.issued_at);
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&clients).into_diagnostic()?
        ),
        OutputFormat::Text => {
            println!(
                "{:<24}  {:<28}  {:<12}  grant types",
                "client id", "name", "type"
            );
            for c in &clients {
                println!(
                    "{:<24}  {:<28}  {:<12}  {}",
                    c.client_id,
                    c.client_name
                        .as_deref()
                        .unwrap_or("-")
                        .chars()
                        .take(28)
                        .collect::<String>(),
                    if c.confidential {
                        "confidential"
                    } else {
                        "public"
                    },
                    c.grant_types.join(",")
                );
            }
            eprintln!("{} clients", clients.len());
        }
    }
    Ok(())
}

fn print_show(shown: &Shown, output: OutputFormat) -> miette::Result<()> {
    match output {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(shown).into_diagnostic()?)
        }
        OutputFormat::Text => print_one(shown),
    }
    Ok(())
}

fn print_deleted(client_id: &str, output: OutputFormat) {
    match output {
        OutputFormat::Json => println!("{}", serde_json::json!({ "deleted": client_id })),
        OutputFormat::Text => {
            println!("deleted client {client_id} and revoked its refresh tokens")
        }
    }
}

/// The clients of a running `mcpctl dev`, through its operator routes.
struct DevClients {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT[/base]/_mcpctl/clients`.
    endpoint: String,
    token: String,
}

impl DevClients {
    fn connect(url: &url::Url, state_dir: Option<&std::path::Path>) -> miette::Result<Self> {
        let Some(port) = operator_token::dev_port(url) else {
            return Err(miette!(
                help = "pass the URL `mcpctl dev` printed (http://127.0.0.1:PORT/mcp); for a deployed stage pass --stage (its table is read with your AWS credentials)",
                "--url {url} is not a local `mcpctl dev` on 127.0.0.1: only that serves its clients, and the operator token goes nowhere else"
            ));
        };
        let port = Some(port);
        let token = operator_token::find(state_dir, port)?.ok_or_else(|| {
            miette!(
                help = format!(
                    "start `mcpctl dev` on that port, or pass --state-dir DIR of the dev server, or set {}",
                    operator_token::ENV
                ),
                "no operator token for the dev server at {url}"
            )
        })?;
        let base = url.as_str().trim_end_matches('/');
        let base = base.strip_suffix("/mcp").unwrap_or(base);
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .into_diagnostic()?,
            endpoint: format!("{base}{}", crate::dev::operator_api::PREFIX),
            token,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str) -> miette::Result<reqwest::Response> {
        let url = format!("{}{path}", self.endpoint);
        let response = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| {
                miette!(
                    help = "start it with `mcpctl dev` (or pass the --url it printed)",
                    "cannot reach the dev server at {url}: {e}"
                )
            })?;
        match response.status() {
            status if status.is_success() => Ok(response),
            reqwest::StatusCode::NOT_FOUND if !path.is_empty() => Err(miette!(
                code = "not_found",
                "no client `{}` in the dev server's store",
                path.trim_start_matches('/')
            )),
            reqwest::StatusCode::UNAUTHORIZED => Err(miette!(
                help =
                    "the token belongs to another dev server: pass its --state-dir, or restart it",
                "the dev server refused the operator token"
            )),
            status => Err(miette!(
                help = "is this a `mcpctl dev` with the embedded store (--store memory)?",
                "the dev server answered HTTP {status} at {url}"
            )),
        }
    }

    async fn run(&self, action: &ClientsAction, output: OutputFormat) -> miette::Result<ExitCode> {
        match action {
            ClientsAction::List => {
                let clients: Vec<Shown> = self
                    .call(reqwest::Method::GET, "")
                    .await?
                    .json()
                    .await
                    .into_diagnostic()?;
                print_list(clients, output)?;
            }
            ClientsAction::Show { client_id } => {
                let shown: Shown = self
                    .call(reqwest::Method::GET, &format!("/{}", encode(client_id)))
                    .await?
                    .json()
                    .await
                    .into_diagnostic()?;
                print_show(&shown, output)?;
            }
            ClientsAction::Delete { client_id } => {
                self.call(reqwest::Method::DELETE, &format!("/{}", encode(client_id)))
                    .await?;
                print_deleted(client_id, output);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A client id as one path segment.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
