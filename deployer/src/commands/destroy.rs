//! `mcpctl destroy`: deletes a stage's stack with progress. Production tables (and their data)
//! and a production Cognito user pool (and its users) survive: the template gives them a Retain
//! policy, and the command says which remain.

use std::process::ExitCode;

use aws_sdk_cloudformation::primitives::DateTime;
use miette::miette;

use crate::{
    cli::OutputFormat,
    deploy::{describe_error, events, ui::Ui},
    project::ProjectArgs,
    stage,
    target::AwsArgs,
};

/// Arguments of `mcpctl destroy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DestroyArgs {
    /// The stage: reads <config-dir>/<stage>.yaml for the stack name.
    #[arg(long, env = "MCPCTL_STAGE")]
    pub(crate) stage: String,
    /// Directory of the stage configurations (default: the server crate's config/, else ./config).
    #[arg(long, value_name = "DIR", env = "MCPCTL_CONFIG_DIR")]
    pub(crate) config_dir: Option<std::path::PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub(crate) yes: bool,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

pub(crate) async fn run(args: DestroyArgs) -> miette::Result<ExitCode> {
    let ui = Ui::detect();
    let config_dir = args.project.config_dir(args.config_dir.as_deref())?;
    let config = stage::load(&config_dir, &args.stage, &stage::env_overrides())?;
    let (sdk, stack, identity) = crate::deploy::stage_stack(&config, &args.aws).await?;
    ui.say(identity.describe(&config.stack_name));
    let stack = &stack;
    let stack_name = &config.stack_name;
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let stack_id = stack.stack_id().unwrap_or(stack_name).to_owned();
    let retained: Vec<String> = if config.production {
        stack
            .outputs()
            .iter()
            .filter(|o| o.output_key().is_some_and(|k| k.ends_with("TableName")))
            .filter_map(|o| o.output_value().map(str::to_owned))
            .collect()
    } else {
        Vec::new()
    };
    let retained_user_pool: Option<String> = if config.production {
        stack
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(stage::names::output::COGNITO_USER_POOL_ID))
            .and_then(|o| o.output_value().map(str::to_owned))
    } else {
        None
    };
    if !args.yes {
        if !ui.interactive {
            return Err(miette!(
                help = "pass --yes to delete without a prompt",
                "not a terminal: cannot ask for confirmation"
            ));
        }
        let question = format!(
            "delete stack {stack_name}{}?",
            match (config.production, &retained_user_pool) {
                (true, Some(_)) => {
                    " (production: the tables and their data, and the user pool and its users, are kept)"
                }
                (true, None) => " (production: the tables and their data are kept)",
                (false, _) => " and all its data",
            }
        );
        if !ui.confirm(&question) {
            ui.say("cancelled");
            return Ok(ExitCode::from(1));
        }
    }
    let since = DateTime::from_secs(
        i64::try_from(mcpctl_handler::clock::Clock::now(
            &mcpctl_handler::clock::SystemClock,
        ))
        .unwrap_or(0)
        .saturating_sub(1),
    );
    cf.delete_stack()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(|e| miette!("cannot delete stack {stack_name}: {}", describe_error(&e)))?;
    let total = u64::try_from(stack.outputs().len()).unwrap_or(0);
    let finished = events::follow(&cf, &stack_id, since, total, &ui).await?;
    if finished.status != "DELETE_COMPLETE" {
        let reason = finished
            .first_failure
            .map(|(l, k, r)| format!("{l} ({k}): {r}"))
            .unwrap_or_default();
        return Err(miette!(
            "deleting {stack_name} ended in {}: {reason}",
            finished.status
        ));
    }
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"stack_name": stack_name, "status": "DELETE_COMPLETE", "retained_tables": retained, "retained_user_pool": retained_user_pool})
        ),
        OutputFormat::Text => {
            println!("deleted stack {stack_name}");
            if !retained.is_empty() {
                println!(
                    "kept (production retention policy): {}",
                    retained.join(", ")
                );
                println!(
                    "delete them with the AWS console or CLI once you no longer need the data"
                );
            }
            if let Some(pool) = &retained_user_pool {
                println!(
                    "kept (production retention policy): Cognito user pool {pool}, with deletion protection on"
                );
                println!(
                    "to delete it and its users, turn deletion protection off in the AWS console or CLI first"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
