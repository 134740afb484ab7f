//! `mcpctl clients list|show|delete`: the clients table of a stage, read and changed with your
//! AWS credentials. Secrets are stored only as hashes and never printed.

use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use mcpctl_handler::store::{
    ClientOrigin, ClientRecord, ClientStore, RefreshTokenStore, SignInStore,
    dynamo::{DynamoStore, TableNames},
};
use miette::{IntoDiagnostic, miette};
use serde::Serialize;

use crate::{cli::OutputFormat, project::ProjectArgs, target::StageArgs};

/// Arguments of `mcpctl clients`.
#[derive(Debug, clap::Args)]
pub(crate) struct ClientsArgs {
    #[command(subcommand)]
    pub(crate) action: ClientsAction,
    #[command(flatten)]
    pub(crate) target: StageArgs,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
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

/// A client as shown: metadata, never hashes.
#[derive(Debug, Serialize)]
struct Shown {
    client_id: String,
    client_name: Option<String>,
    confidential: bool,
    token_endpoint_auth_method: String,
    grant_types: Vec<String>,
    redirect_uris: Vec<String>,
    scope: Option<String>,
    issued_at: u64,
    /// `dcr` (anyone), `cimd` or `operator`.
    origin: ClientOrigin,
}

impl From<ClientRecord> for Shown {
    fn from(record: ClientRecord) -> Self {
        Self {
            confidential: record.secret_hash.is_some(),
            client_id: record.client_id,
            client_name: record.metadata.client_name,
            token_endpoint_auth_method: record.metadata.token_endpoint_auth_method,
            grant_types: record.metadata.grant_types,
            redirect_uris: record.metadata.redirect_uris,
            scope: record.metadata.scope,
            issued_at: record.issued_at,
            origin: record.origin,
        }
    }
}

async fn store(args: &ClientsArgs) -> miette::Result<DynamoStore> {
    if args.table_prefix.is_some() && args.target.stage.is_some() {
        return Err(miette!("pass either --stage or --table-prefix, not both"));
    }
    let names = match (&args.table_prefix, args.target.outputs().await?) {
        (Some(prefix), _) => TableNames::with_prefix(prefix),
        (None, Some(outputs)) => TableNames {
            clients: outputs.get("ClientsTableName")?.to_owned(),
            codes: outputs.get("CodesTableName")?.to_owned(),
            refresh_tokens: outputs.get("RefreshTokensTableName")?.to_owned(),
        },
        (None, None) => {
            return Err(miette!(
                help = "name the stage (--stage prod) or the tables (--table-prefix mcpctl-dev)",
                "which clients table? pass --stage or --table-prefix"
            ));
        }
    };
    let client = aws_sdk_dynamodb::Client::new(&args.target.aws.sdk_config().await);
    Ok(DynamoStore::new(client, names))
}

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
    let store = store(&args).await?;
    let failed = |e: mcpctl_handler::store::StoreError| {
        miette!(
            help = "check your AWS credentials, --region and the stage",
            "{e}"
        )
    };
    match &args.action {
        ClientsAction::List => {
            let mut clients = Vec::new();
            let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
            loop {
                let page = store
                    .client()
                    .scan()
                    .table_name(&store.tables().clients)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| {
                        miette!(
                            help = "check your AWS credentials and that the stage is deployed",
                            "cannot read {}: {}",
                            store.tables().clients,
                            aws_sdk_dynamodb::error::DisplayErrorContext(e)
                        )
                    })?;
                for item in page.items() {
                    let record: ClientRecord =
                        serde_dynamo::aws_sdk_dynamodb_1::from_item(item.clone())
                            .into_diagnostic()?;
                    clients.push(Shown::from(record));
                }
                match page.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
            clients.sort_by_key(|c| c.issued_at);
            match args.output {
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
        }
        ClientsAction::Show { client_id } => {
            let record = ClientStore::get(&store, client_id)
                .await
                .map_err(failed)?
                .ok_or_else(|| miette!("no client `{client_id}` in {}", store.tables().clients))?;
            let shown = Shown::from(record);
            match args.output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&shown).into_diagnostic()?
                ),
                OutputFormat::Text => print_one(&shown),
            }
        }
        ClientsAction::Delete { client_id } => {
            store.revoke_client(client_id).await.map_err(failed)?;
            store.forget_consents(client_id).await.map_err(failed)?;
            if !ClientStore::delete(&store, client_id)
                .await
                .map_err(failed)?
            {
                return Err(miette!(
                    "no client `{client_id}` in {}",
                    store.tables().clients
                ));
            }
            match args.output {
                OutputFormat::Json => println!("{}", serde_json::json!({ "deleted": client_id })),
                OutputFormat::Text => {
                    println!("deleted client {client_id} and revoked its refresh tokens")
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
