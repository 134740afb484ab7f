//! `mcpctl clients` on DynamoDB: a stage's clients table, or `mcpctl dev --store dynamodb`'s
//! (needs the `aws` feature).

use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use mcpctl_handler::store::{
    ClientRecord, ClientStore, RefreshTokenStore, SignInStore,
    dynamo::{DynamoStore, TableNames},
};
use miette::{IntoDiagnostic, miette};

use super::{ClientsAction, ClientsArgs, Shown, print_deleted, print_list, print_show};

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
                help = "name the stage (--stage prod), the tables (--table-prefix mcpctl-dev), or a running dev server (--url http://127.0.0.1:8787/mcp)",
                "which clients? pass --stage, --table-prefix or --url"
            ));
        }
    };
    // `mcpctl dev --store dynamodb`'s tables may live in an emulator without STS: no preflight.
    let sdk = if args.table_prefix.is_some() {
        let aws = &args.target.aws;
        crate::aws::config(aws.profile.as_deref(), aws.region.as_deref()).await
    } else {
        args.target.aws.sdk_config().await?
    };
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    Ok(DynamoStore::new(client, names))
}

/// Lists, shows or deletes on the tables `args` names.
pub(super) async fn run(args: &ClientsArgs) -> miette::Result<ExitCode> {
    let store = store(args).await?;
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
            print_list(clients, args.output)?;
        }
        ClientsAction::Show { client_id } => {
            let record = ClientStore::get(&store, client_id)
                .await
                .map_err(failed)?
                .ok_or_else(|| miette!("no client `{client_id}` in {}", store.tables().clients))?;
            print_show(&Shown::from(record), args.output)?;
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
            print_deleted(client_id, args.output);
        }
    }
    Ok(ExitCode::SUCCESS)
}
