//! Command-line types only; their doc comments are the help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Run a remote, OAuth-protected MCP server on AWS: build, deploy, operate, or serve it locally.
#[derive(Debug, Parser)]
#[command(name = "mcpctl", version, propagate_version = true)]
#[cfg_attr(
    not(feature = "aws"),
    command(
        after_help = "This mcpctl was built without AWS support: deploy, diff, destroy, status, \
                      metrics, cost, logs and every --stage need `--features aws` \
                      (cargo install --path deployer --features aws)."
    )
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Output format of commands that report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document, for scripts.
    Json,
}

/// Where `mcpctl dev` keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum StoreKind {
    /// The embedded in-memory store.
    #[default]
    Memory,
    /// DynamoDB tables (the store the Lambda uses).
    Dynamodb,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a server crate to start from: one tool, its test, the dev and prod stages.
    New(crate::commands::new::NewArgs),
    /// Serve the whole server (MCP + OAuth) on 127.0.0.1 with an embedded store; no AWS account needed.
    Dev(Box<DevArgs>),
    /// Show the handler's logs (CloudWatch), rendered for people; --follow to keep tailing.
    #[cfg(feature = "aws")]
    Logs(crate::commands::logs::LogsArgs),
    /// Register an OAuth client (through /dcr, or --direct into the clients table).
    RegisterClient(crate::commands::register_client::RegisterClientArgs),
    /// List, show or delete registered clients (reads the clients table; never prints secrets).
    Clients(crate::commands::clients::ClientsArgs),
    /// Print a bearer token for a running `mcpctl dev` or a stage (operator path: a machine client used once and deleted).
    Token(crate::commands::token::TokenArgs),
    /// Prove a deployment works the way a real client uses it: discovery, registration, token, MCP calls, negative checks.
    SmokeTest(crate::commands::smoke_test::SmokeTestArgs),
    /// Check a server the way each real client discovers and registers with it (Claude, ChatGPT, Cursor, VS Code, the Inspector), and name each break and its fix.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Build the handler for Lambda (provided.al2023) into a reproducible zip.
    Build(crate::commands::build::BuildArgs),
    /// Build, upload and deploy a stage: change set, diff, confirm, execute with live progress.
    #[cfg(feature = "aws")]
    Deploy(crate::commands::deploy::DeployArgs),
    /// Show what a deploy would change (a change set, deleted afterwards).
    #[cfg(feature = "aws")]
    Diff(crate::commands::deploy::DiffArgs),
    /// Delete a stage's stack (production tables are kept).
    #[cfg(feature = "aws")]
    Destroy(crate::commands::destroy::DestroyArgs),
    /// A stage's stack status, outputs, and deployed code vs the local build.
    #[cfg(feature = "aws")]
    Status(crate::commands::status::StatusArgs),
    /// A stage's MCP, tool and OAuth metrics over a window (tables with sparklines), and its alarms.
    #[cfg(feature = "aws")]
    Metrics(crate::commands::metrics::MetricsArgs),
    /// A stage's estimated monthly AWS cost: line items from its configuration, the template and the durations and traffic CloudWatch measured.
    #[cfg(feature = "aws")]
    Cost(crate::commands::cost::CostArgs),
    /// List or rotate the signing keys of a stage (or of `mcpctl dev --state-dir`).
    Keys(crate::commands::keys::KeysArgs),
    /// Print the CloudFormation template for a stage.
    Render(crate::commands::render::RenderArgs),
    /// Print a shell's completion script: `source <(mcpctl completions bash)`.
    Completions(crate::commands::shell::CompletionsArgs),
    /// Print the man page (roff), or write one per command into a directory.
    Man(crate::commands::shell::ManArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8787, env = "MCPCTL_DEV_PORT")]
    pub(crate) port: u16,
    /// Serve everything under this prefix, the way an API Gateway stage does (e.g. /prod).
    #[arg(long, value_name = "PATH")]
    pub(crate) base_path: Option<String>,
    /// Approve every valid authorization request without showing the consent page (scripted tests).
    #[arg(long)]
    pub(crate) auto_approve: bool,
    /// Reproduce API Gateway REST: 403 outside the stage, WWW-Authenticate renamed to
    /// x-amzn-Remapped-WWW-Authenticate on proxied responses, 401 challenges from the authorizer's gateway response.
    #[arg(long)]
    pub(crate) emulate_api_gateway: bool,
    /// Keep signing keys and the store in this directory so tokens and registrations survive a restart.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Browser origins allowed on /mcp and for CORS (scheme://host[:port], port * for any).
    /// Default: http://localhost:* and http://127.0.0.1:*.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub(crate) allow_origins: Vec<String>,
    /// The server crate to serve: its Cargo.toml. Default: the crate around the current directory
    /// (found as cargo finds it), or the built-in hello example outside any server crate.
    #[arg(long, value_name = "PATH")]
    pub(crate) manifest_path: Option<PathBuf>,
    /// Gateway mode: put this authorization server in front of the MCP server at URL, in any
    /// language (e.g. http://127.0.0.1:8000/mcp). It gets requests without the client's token,
    /// with a 60 s identity assertion signed by this server's key instead (docs/gateway.md).
    #[arg(long, value_name = "URL", conflicts_with = "manifest_path")]
    pub(crate) upstream: Option<url::Url>,
    /// Gateway mode: the `aud` of the identity assertions (default: the --upstream URL).
    #[arg(long, value_name = "AUDIENCE", requires = "upstream")]
    pub(crate) upstream_audience: Option<String>,
    /// Gateway mode: list and allow only this upstream tool (repeat for several; default: all).
    #[arg(long = "expose-tool", value_name = "TOOL", requires = "upstream")]
    pub(crate) expose_tools: Vec<String>,
    /// Gateway mode: calling TOOL needs SCOPE, besides the MCP scope (repeat; the scope is offered).
    #[arg(long = "tool-scope", value_name = "TOOL=SCOPE", requires = "upstream")]
    pub(crate) tool_scopes: Vec<String>,
    /// Gateway mode: seconds the upstream has for its whole answer to a POST.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=900), requires = "upstream")]
    pub(crate) upstream_timeout: u64,
    /// Offer one more OAuth scope (a tool's own, e.g. notes:write), besides the stage config's
    /// `oauth.scopes`. Repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// Fetch Client ID Metadata Documents over plain http and from loopback addresses (to test
    /// a CIMD client on this machine). Other private addresses stay refused.
    #[arg(long)]
    pub(crate) allow_insecure_cimd: bool,
    /// Where the three tables live: in memory (optionally persisted with --state-dir) or in DynamoDB.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) store: StoreKind,
    /// DynamoDB endpoint for `--store dynamodb` (moto_server, DynamoDB Local); default: the AWS
    /// endpoint of your configured region. Tables `<prefix>-clients|codes|refresh-tokens` are created if absent.
    #[arg(long, value_name = "URL")]
    pub(crate) dynamodb_endpoint: Option<String>,
    /// Table name prefix for `--store dynamodb`.
    #[arg(long, value_name = "PREFIX", default_value = "mcpctl-dev")]
    pub(crate) table_prefix: String,
    /// The public base URL clients use, when it differs from http://127.0.0.1:PORT (for example
    /// behind a tunnel); the issuer and the MCP resource are derived from it.
    #[arg(long, value_name = "URL")]
    pub(crate) public_url: Option<url::Url>,
    /// How to print the ready message.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    /// Print how to connect only this client (default: every one mcpctl knows).
    #[arg(long, value_enum, value_name = "CLIENT")]
    pub(crate) client: Option<crate::client_snippets::ClientKind>,
    /// Who the user is at /oauth/authorize: `dev` (a fixed local user on a consent page) or
    /// `oidc` (sign-in at an upstream OpenID provider, then the consent page).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) identity: IdentityKind,
    /// The upstream provider's issuer URL, exactly as the provider writes it (`--identity oidc`);
    /// register <public url>/oauth/callback there. The client secret, if any, is read from
    /// MCPCTL_OIDC_CLIENT_SECRET (never a flag: flags show in the process list).
    #[arg(long, value_name = "URL", required_if_eq("identity", "oidc"))]
    pub(crate) oidc_issuer: Option<String>,
    /// Our client id at the upstream provider (`--identity oidc`).
    #[arg(long, value_name = "ID", required_if_eq("identity", "oidc"))]
    pub(crate) oidc_client_id: Option<String>,
    /// Scopes asked of the provider (repeatable; `openid` is always included).
    #[arg(long = "oidc-scope", value_name = "SCOPE", default_values_t = ["openid".to_owned(), "email".to_owned(), "profile".to_owned()])]
    pub(crate) oidc_scopes: Vec<String>,
    /// The ID-token claim holding the user's groups (Cognito: cognito:groups).
    #[arg(long, value_name = "CLAIM", default_value = "groups")]
    pub(crate) oidc_groups_claim: String,
    /// Only admit users with a verified e-mail address in this domain (repeatable).
    #[arg(long = "allow-email-domain", value_name = "DOMAIN")]
    pub(crate) allow_email_domains: Vec<String>,
    /// Only admit users in this upstream group (repeatable).
    #[arg(long = "allow-group", value_name = "GROUP")]
    pub(crate) allow_groups: Vec<String>,
    /// Offer to remember a consent per user and client for this many days (0: ask every time).
    #[arg(long, value_name = "DAYS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=365))]
    pub(crate) remember_consent_days: u64,
}

/// `mcpctl dev --identity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum IdentityKind {
    /// A fixed local user confirmed on the consent page.
    #[default]
    Dev,
    /// Sign-in at an upstream OpenID provider.
    Oidc,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
