//! `mcpctl status`: a stage's stack status, last update, outputs, whether the deployed code is
//! the project's last `mcpctl build` (in its `target/lambda`), and who can get a token from the stage.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::{
    artifact::{self, Arch},
    cli::OutputFormat,
    project::ProjectArgs,
    stage,
    target::AwsArgs,
};

/// Arguments of `mcpctl status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The stage.
    #[arg(long, env = "MCPCTL_STAGE")]
    pub(crate) stage: String,
    /// Directory of the stage configurations (default: the server crate's config/, else ./config).
    #[arg(long, value_name = "DIR", env = "MCPCTL_CONFIG_DIR")]
    pub(crate) config_dir: Option<std::path::PathBuf>,
    /// Compare the deployed code with this zip (default: the last `mcpctl build` of the stage's architecture).
    #[arg(long, value_name = "ZIP")]
    pub(crate) artifact: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    /// Print how to connect only this client (default: every one mcpctl knows).
    #[arg(long, value_enum, value_name = "CLIENT")]
    pub(crate) client: Option<crate::client_snippets::ClientKind>,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

pub(crate) async fn run(args: StatusArgs) -> miette::Result<ExitCode> {
    let (config_dir, project) = args
        .project
        .for_missing(args.config_dir.as_deref(), args.artifact.as_deref())?;
    let config = stage::load(&config_dir, &args.stage, &stage::env_overrides())?;
    let (sdk, stack, identity) = crate::deploy::stage_stack(&config, &args.aws).await?;
    let stack = &stack;
    let stack_name = &config.stack_name;
    let outputs: std::collections::BTreeMap<String, String> = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    let deployed_key = crate::stack::parameter(stack.parameters(), "CodeKey").map(str::to_owned);
    let deployed_hash = deployed_key
        .as_deref()
        .and_then(|k| k.strip_prefix("code/"))
        .and_then(|k| k.strip_suffix(".zip"))
        .map(str::to_owned);
    let arch = Arch::from(config.lambda.architecture);
    let local_zip = match &args.artifact {
        Some(path) => Some(path.clone()),
        None => project.as_ref().map(|p| artifact::zip_path(p, arch)),
    };
    let local_hash = local_zip
        .filter(|p| p.exists())
        .and_then(|p| artifact::describe(&p, arch).ok())
        .map(|a| a.sha256);
    let code = match (&deployed_hash, &local_hash) {
        (Some(deployed), Some(local)) if deployed == local => {
            "up to date with the local build".to_owned()
        }
        (Some(_), Some(_)) => {
            "differs from the local build (deploy with `mcpctl deploy --code-only`)".to_owned()
        }
        (Some(_), None) => "no local build to compare (run `mcpctl build`)".to_owned(),
        (None, _) => "unknown (no CodeKey parameter)".to_owned(),
    };
    let status = stack
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let updated = stack
        .last_updated_time()
        .or(stack.creation_time())
        .and_then(|t| {
            t.fmt(aws_sdk_cloudformation::primitives::DateTimeFormat::DateTime)
                .ok()
        })
        .unwrap_or_default();
    // From the local stage configuration, the one `mcpctl deploy` deploys.
    let token_policy = config.token_policy();
    let server_name = config
        .server
        .name
        .clone()
        .unwrap_or_else(|| stack_name.clone());
    let snippets = outputs
        .get(stage::names::output::MCP_URL)
        .and_then(|url| url::Url::parse(url).ok())
        .map(|url| crate::client_snippets::snippets(args.client, &server_name, &url))
        .unwrap_or_default();
    // The last hour in one line; status still answers when metrics cannot be read.
    let hour = crate::commands::metrics::window_of(crate::commands::logs::Since::Ago(
        std::time::Duration::from_secs(3600),
    ));
    let metrics = crate::stage_metrics::fetch(&sdk, stack_name, hour)
        .await
        .map(|view| summary(&view))
        .map_err(|error| error.to_string());
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "stack_name": stack_name, "status": status, "last_updated": updated, "outputs": outputs,
                "deployed_code_sha256": deployed_hash, "local_code_sha256": local_hash, "code": code,
                "token_policy": token_policy,
                "account": identity.account, "region": identity.region, "caller_arn": identity.arn,
                "server_name": server_name, "clients": snippets,
                "last_hour": match &metrics {
                    Ok(summary) => serde_json::to_value(summary).into_diagnostic()?,
                    Err(error) => serde_json::json!({ "error": error }),
                },
            }))
            .into_diagnostic()?
        ),
        OutputFormat::Text => {
            println!("stack         {stack_name}");
            println!("account       {} ({})", identity.account, identity.arn);
            println!("region        {}", identity.region);
            println!("status        {status}");
            println!("last update   {updated}");
            println!("code          {}: {code}", deployed_hash.as_deref().unwrap_or("-"));
            for (key, value) in &outputs {
                println!("{key:<24}  {value}");
            }
            println!("{token_policy}");
            match &metrics {
                Ok(summary) => println!("{}", summary.line()),
                Err(error) => println!("last hour     metrics unavailable: {error}"),
            }
            if !snippets.is_empty() {
                println!(
                    "\nConnect a client:\n\n{}",
                    crate::client_snippets::render(&snippets).trim_end()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The last hour of a stage, as `status` shows it.
#[derive(Debug, serde::Serialize)]
struct Summary {
    mcp_requests: f64,
    tool_calls: f64,
    tool_errors: f64,
    tokens_issued: f64,
    refresh_reuse: f64,
    alarms_firing: Vec<String>,
}

impl Summary {
    fn line(&self) -> String {
        let firing = if self.alarms_firing.is_empty() {
            "no alarm firing".to_owned()
        } else {
            format!("ALARM: {}", self.alarms_firing.join(", "))
        };
        format!(
            "last hour     {} MCP requests, {} tool calls ({} errors), {} tokens issued, {} refresh reuse; {firing} (mcpctl metrics for more)",
            self.mcp_requests,
            self.tool_calls,
            self.tool_errors,
            self.tokens_issued,
            self.refresh_reuse
        )
    }
}

fn summary(view: &crate::stage_metrics::StageMetrics) -> Summary {
    let (tool_calls, tool_errors) = view.tool_totals();
    Summary {
        mcp_requests: view.mcp_requests.total,
        tool_calls,
        tool_errors,
        tokens_issued: view.grants.values().map(|s| s.total).sum(),
        refresh_reuse: view
            .oauth
            .get(mcpctl_handler::metrics::names::REFRESH_REUSE)
            .map_or(0.0, |s| s.total),
        alarms_firing: view.firing().map(|a| a.name.clone()).collect(),
    }
}
