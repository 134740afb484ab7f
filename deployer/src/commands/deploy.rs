//! `mcpctl deploy` and `mcpctl diff`: build → upload → render → change set → show the diff →
//! (deploy only) confirm → execute → follow with progress → outputs and who can get a token.
//! `--code-only` swaps just the function code through the Lambda API (the configuration, and so
//! who can get a token, is not changed by it, so it does not print that line).

use std::{path::PathBuf, process::ExitCode};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::{primitives::DateTime, types::ChangeSetType};
use aws_sdk_lambda::client::Waiters as _;
use miette::{IntoDiagnostic, miette};

use crate::{
    artifact::{self, Arch, Artifact},
    cli::OutputFormat,
    deploy::{
        artifacts,
        changeset::{self, Existing},
        events, signing_secret,
        ui::Ui,
    },
    project::{self, ProjectArgs},
    stage::{self, TemplateSource, names},
    target::AwsArgs,
};

/// Options shared by the commands that deploy or preview a stage.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StageDeployArgs {
    /// The stage: reads <config-dir>/<stage>.yaml.
    #[arg(long, env = "MCPCTL_STAGE")]
    pub(crate) stage: String,
    /// Directory of the stage configurations (default: the server crate's config/, else ./config).
    #[arg(long, value_name = "DIR", env = "MCPCTL_CONFIG_DIR")]
    pub(crate) config_dir: Option<PathBuf>,
    /// Read the template fragments from DIR instead of the ones built into mcpctl.
    #[arg(long, value_name = "DIR", env = "MCPCTL_TEMPLATES")]
    pub(crate) templates: Option<PathBuf>,
    /// Deploy this zip instead of building one.
    #[arg(long, value_name = "ZIP")]
    pub(crate) artifact: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Output format of the result.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

/// Arguments of `mcpctl deploy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    pub(crate) stage: StageDeployArgs,
    /// Do not ask before executing the change set (needed when stdin is not a terminal).
    #[arg(long, short)]
    pub(crate) yes: bool,
    /// Only replace the functions' code (through the Lambda API), in seconds.
    #[arg(long)]
    pub(crate) code_only: bool,
}

/// What a deploy did.
#[derive(Debug, serde::Serialize)]
struct Outcome {
    stack_name: String,
    status: String,
    changes: Vec<changeset::Row>,
    outputs: std::collections::BTreeMap<String, String>,
    code_key: String,
    /// The S3 key of the upstream function's zip (gateway mode with `upstream.function.source`).
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_code_key: Option<String>,
    /// Who can get a token from the stage as deployed (from its configuration).
    token_policy: stage::config::TokenPolicy,
}

struct Prepared {
    config: stage::config::StageConfig,
    sdk: SdkConfig,
    bucket: String,
    code_key: String,
    artifact: Artifact,
    /// The upstream function's zip and its S3 key (gateway mode with `upstream.function.source`).
    upstream: Option<(Artifact, String)>,
}

/// Loads the stage, builds (or takes) the zip and uploads it.
async fn prepare(args: &StageDeployArgs, ui: &Ui) -> miette::Result<Prepared> {
    let (config_dir, project) = args
        .project
        .for_missing(args.config_dir.as_deref(), args.artifact.as_deref())?;
    let config = stage::load(&config_dir, &args.stage, &stage::env_overrides())?;
    let region = args.aws.region.clone().or_else(|| config.region.clone());
    // Before the (long) build: a missing login or a typo in the region shows in a second.
    let (sdk, identity) =
        crate::aws::connect(args.aws.profile.as_deref(), region.as_deref()).await?;
    ui.say(identity.describe(&config.stack_name));
    // First: a mistake in the upstream's directory shows before the (long) cargo build.
    let upstream_zip = artifact::upstream::for_stage(&config, &config_dir, project.as_ref())?;
    if let Some(built) = &upstream_zip {
        ui.say(format!(
            "zipped the upstream server: {} ({} bytes)",
            built.path.display(),
            built.size
        ));
    }
    let arch = Arch::from(config.lambda.architecture);
    let artifact = match &args.artifact {
        Some(path) => artifact::describe(path, arch)?,
        None => {
            let cwd = std::env::current_dir().into_diagnostic()?;
            let project = project.as_ref().ok_or_else(|| project::not_found(&cwd))?;
            artifact::build(project, arch, ui.interactive)?
        }
    };
    let bucket = artifacts::ensure_bucket(&sdk, ui).await?;
    let code_key = artifacts::upload_code(&sdk, &bucket, &artifact, ui).await?;
    let upstream = match upstream_zip {
        Some(built) => {
            let key = artifacts::upload_upstream_code(&sdk, &bucket, &built, ui).await?;
            Some((built, key))
        }
        None => None,
    };
    Ok(Prepared {
        config,
        sdk,
        bucket,
        code_key,
        artifact,
        upstream,
    })
}

/// Creates the change set for the stage; `None` when nothing would change.
async fn change_set(
    args: &StageDeployArgs,
    prepared: &Prepared,
    ui: &Ui,
) -> miette::Result<(Option<changeset::ChangeSet>, usize)> {
    let name = changeset::new_name();
    let stack_name = prepared.config.stack_name.clone();
    tokio::select! {
        result = create_change_set(args, prepared, ui, &name) => result,
        () = crate::signals::interrupted() => {
            let cf = aws_sdk_cloudformation::Client::new(&prepared.sdk);
            changeset::delete(&cf, &stack_name, &name).await;
            Err(miette!("interrupted; the change set {name} was deleted"))
        }
    }
}

async fn create_change_set(
    args: &StageDeployArgs,
    prepared: &Prepared,
    ui: &Ui,
    name: &str,
) -> miette::Result<(Option<changeset::ChangeSet>, usize)> {
    let source = match &args.templates {
        Some(dir) => TemplateSource::Dir(dir.clone()),
        None => TemplateSource::Embedded,
    };
    let rendered = stage::render(&prepared.config, &source)?;
    let stack_name = &prepared.config.stack_name;
    let cf = aws_sdk_cloudformation::Client::new(&prepared.sdk);
    let kind = match changeset::existing(&cf, stack_name).await? {
        Existing::None => ChangeSetType::Create,
        Existing::Live => ChangeSetType::Update,
        Existing::FailedCreation => {
            ui.say(format!("stack {stack_name} failed its first creation (ROLLBACK_COMPLETE); deleting it before creating it again..."));
            let since = DateTime::from_secs(
                i64::try_from(mcpctl_handler::clock::Clock::now(
                    &mcpctl_handler::clock::SystemClock,
                ))
                .unwrap_or(0),
            );
            cf.delete_stack()
                .stack_name(stack_name)
                .send()
                .await
                .map_err(|e| miette!("{}", crate::deploy::describe_error(&e)))?;
            events::follow(&cf, stack_name, since, 0, ui).await?;
            ChangeSetType::Create
        }
    };
    let signing = prepared.config.signing;
    let (secret, created) = signing_secret::ensure(&prepared.sdk, stack_name, signing).await?;
    if created {
        ui.say(format!(
            "created the signing key secret {}{}",
            signing_secret::secret_name(stack_name),
            match signing {
                stage::config::Signing::Kms => " (the key itself is in KMS)",
                stage::config::Signing::Secret => "",
            }
        ));
    }
    if let Some(held) = secret.elsewhere {
        ui.say(format!(
            "note: config/{}.yaml says signing: {}, but the stage's key is in {}; run `mcpctl keys rotate --stage {}` to move it (tokens already issued keep working)",
            prepared.config.stage_name(),
            signing.as_str(),
            match held {
                stage::config::Signing::Kms => "KMS",
                stage::config::Signing::Secret => "its secret",
            },
            prepared.config.stage_name(),
        ));
    }
    let template_url =
        artifacts::upload_template(&prepared.sdk, &prepared.bucket, stack_name, &rendered.body)
            .await?;
    let mut parameters = vec![
        ("CodeBucket", prepared.bucket.clone()),
        ("CodeKey", prepared.code_key.clone()),
        ("SigningKeySecretArn", secret.arn),
        ("JwksJson", secret.jwks),
        (names::parameter::SIGNING_KMS_KEY_ARNS, secret.kms_key_arns),
    ];
    // Gateway mode: the assertion key, in a secret of its own.
    if rendered
        .template
        .parameters
        .contains_key(names::parameter::GATEWAY_KEY_SECRET_ARN)
    {
        let (gateway, created) = signing_secret::ensure_kind(
            &prepared.sdk,
            stack_name,
            signing_secret::KeySecret::Gateway,
            stage::config::Signing::Secret,
        )
        .await?;
        if created {
            ui.say(format!(
                "created the gateway's assertion key secret {}",
                signing_secret::gateway_secret_name(stack_name)
            ));
        }
        parameters.push((names::parameter::GATEWAY_KEY_SECRET_ARN, gateway.arn));
        parameters.push((names::parameter::GATEWAY_JWKS_JSON, gateway.jwks));
    }
    // Gateway mode with a zipped upstream: the template has the parameter, the zip its key.
    if rendered
        .template
        .parameters
        .contains_key(names::parameter::UPSTREAM_CODE_KEY)
    {
        let key = prepared
            .upstream
            .as_ref()
            .map(|(_, key)| key.clone())
            .ok_or_else(|| {
                miette!(
                    "the template needs {} but no upstream zip was built",
                    names::parameter::UPSTREAM_CODE_KEY
                )
            })?;
        parameters.push((names::parameter::UPSTREAM_CODE_KEY, key));
    }
    if kind == ChangeSetType::Update {
        refuse_own_url(&prepared.sdk, &prepared.config).await?;
    }
    ui.say(format!("creating a change set for stack {stack_name}..."));
    let set = changeset::create(
        &cf,
        name,
        stack_name,
        kind,
        &template_url,
        &parameters,
        &prepared.config.stage,
    )
    .await?;
    Ok((set, rendered.template.resources.len()))
}

/// Whether the change set still publishes and grants the keys the signing secret names: a
/// `keys rotate` that promoted while this deploy waited for its confirmation would otherwise be
/// undone, leaving the auth function signing with a key it may not use or nobody verifies.
async fn keys_still_current(
    prepared: &Prepared,
    cf: &aws_sdk_cloudformation::Client,
    set_name: &str,
) -> miette::Result<()> {
    let stack_name = &prepared.config.stack_name;
    let (now, _) =
        signing_secret::ensure(&prepared.sdk, stack_name, prepared.config.signing).await?;
    let described = cf
        .describe_change_set()
        .stack_name(stack_name)
        .change_set_name(set_name)
        .send()
        .await
        .map_err(|e| {
            miette!(
                "cannot read the change set: {}",
                crate::deploy::describe_error(&e)
            )
        })?;
    let planned =
        |key: &str| crate::stack::parameter(described.parameters(), key).unwrap_or_default();
    if planned(names::parameter::JWKS_JSON) != now.jwks
        || planned(names::parameter::SIGNING_KMS_KEY_ARNS) != now.kms_key_arns
    {
        return Err(miette!(
            help = "run `mcpctl deploy` again: it reads the keys afresh",
            "the signing keys of {stack_name} changed while this deploy waited (a key rotation?); the change set was deleted and nothing was deployed"
        ));
    }
    Ok(())
}

async fn outputs(
    sdk: &SdkConfig,
    stack_name: &str,
) -> miette::Result<std::collections::BTreeMap<String, String>> {
    let cf = aws_sdk_cloudformation::Client::new(sdk);
    let described = cf
        .describe_stacks()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(|e| miette!("{}", crate::deploy::describe_error(&e)))?;
    Ok(described
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

fn print_outcome(outcome: &Outcome, output: OutputFormat) -> miette::Result<()> {
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(outcome).into_diagnostic()?
        ),
        OutputFormat::Text => {
            for (key, value) in &outcome.outputs {
                println!("{key:<24}  {value}");
            }
            // Last, where it is read: whoever deploys sees whom the stage lets in.
            println!("{}", outcome.token_policy);
        }
    }
    Ok(())
}

pub(crate) async fn run(args: DeployArgs) -> miette::Result<ExitCode> {
    let ui = Ui::detect();
    let prepared = prepare(&args.stage, &ui).await?;
    let stack_name = prepared.config.stack_name.clone();
    if args.code_only {
        return code_only(&prepared, &ui, args.stage.output).await;
    }
    let (set, total) = change_set(&args.stage, &prepared, &ui).await?;
    let Some(set) = set else {
        ui.say(format!("no changes: stack {stack_name} is up to date"));
        let outcome = Outcome {
            stack_name: stack_name.clone(),
            status: "NO_CHANGES".into(),
            changes: Vec::new(),
            outputs: outputs(&prepared.sdk, &stack_name).await?,
            token_policy: prepared.config.token_policy(),
            code_key: prepared.code_key,
            upstream_code_key: prepared.upstream.map(|(_, key)| key),
        };
        print_outcome(&outcome, args.stage.output)?;
        return Ok(ExitCode::SUCCESS);
    };
    let cf = aws_sdk_cloudformation::Client::new(&prepared.sdk);
    changeset::print(&set.rows);
    if !args.yes {
        if !ui.interactive {
            changeset::delete(&cf, &stack_name, &set.name).await;
            return Err(miette!(
                help = "pass --yes to deploy without a prompt (CI, pipes)",
                "not a terminal: cannot ask for confirmation"
            ));
        }
        let answer = tokio::select! {
            answer = tokio::task::spawn_blocking(move || Ui::detect().confirm("deploy these changes?")) => answer.unwrap_or(false),
            () = crate::signals::interrupted() => false,
        };
        if !answer {
            changeset::delete(&cf, &stack_name, &set.name).await;
            ui.say("cancelled; the change set was deleted");
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
    if let Err(error) = keys_still_current(&prepared, &cf, &set.name).await {
        changeset::delete(&cf, &stack_name, &set.name).await;
        return Err(error);
    }
    cf.execute_change_set()
        .stack_name(&stack_name)
        .change_set_name(&set.name)
        .send()
        .await
        .map_err(|e| {
            miette!(
                "cannot execute the change set: {}",
                crate::deploy::describe_error(&e)
            )
        })?;
    ui.say(format!("deploying {stack_name}..."));
    let finished = events::follow(
        &cf,
        &stack_name,
        since,
        u64::try_from(total).unwrap_or(0),
        &ui,
    )
    .await?;
    if !finished.succeeded() {
        let reason = match &finished.first_failure {
            Some((logical, kind, reason)) => format!("{logical} ({kind}) failed: {reason}"),
            None => "no resource reported a failure".to_owned(),
        };
        return Err(miette!(
            help = "fix the cause and deploy again; `mcpctl status` shows the stack",
            "the deploy of {stack_name} failed and ended in {}: {reason}",
            finished.status
        ));
    }
    ui.say(format!("{stack_name}: {}", finished.status));
    let outcome = Outcome {
        stack_name: stack_name.clone(),
        status: finished.status,
        changes: set.rows,
        outputs: outputs(&prepared.sdk, &stack_name).await?,
        token_policy: prepared.config.token_policy(),
        code_key: prepared.code_key,
        upstream_code_key: prepared.upstream.map(|(_, key)| key),
    };
    print_outcome(&outcome, args.stage.output)?;
    Ok(ExitCode::SUCCESS)
}

/// `upstream.url` must not be this stack's own API: known once the stack exists (its `ApiUrl`
/// and `Issuer` outputs), so checked on every update (before it, the API's URL is unknown, and a
/// custom domain is checked with the configuration).
async fn refuse_own_url(
    sdk: &SdkConfig,
    config: &stage::config::StageConfig,
) -> miette::Result<()> {
    let Some(url) = config
        .upstream
        .as_ref()
        .and_then(|upstream| upstream.url.as_deref())
    else {
        return Ok(());
    };
    let stack = outputs(sdk, &config.stack_name).await?;
    for key in [names::output::API_URL, names::output::ISSUER] {
        if let Some(own) = stack.get(key)
            && url
                .to_ascii_lowercase()
                .starts_with(&own.trim_end_matches('/').to_ascii_lowercase())
        {
            return Err(miette!(
                help = "point upstream.url at the MCP server the gateway fronts",
                "config/{}.yaml: upstream.url: `{url}` is this stack's own API ({key} {own}): the gateway would forward to itself",
                config.stage_name()
            ));
        }
    }
    Ok(())
}

/// Replaces the code of the stage's functions and waits until each update is active.
async fn code_only(prepared: &Prepared, ui: &Ui, output: OutputFormat) -> miette::Result<ExitCode> {
    let stack = outputs(&prepared.sdk, &prepared.config.stack_name).await?;
    let lambda = aws_sdk_lambda::Client::new(&prepared.sdk);
    let mut updated = Vec::new();
    let main = (prepared.code_key.as_str(), &prepared.artifact);
    let mut functions = vec![
        ("AuthFunctionName", main),
        ("McpFunctionName", main),
        ("AuthorizerFunctionName", main),
    ];
    if let Some((artifact, key)) = &prepared.upstream {
        functions.push((
            names::output::UPSTREAM_FUNCTION_NAME,
            (key.as_str(), artifact),
        ));
    }
    for (key, (code_key, artifact)) in functions {
        let name = stack.get(key).ok_or_else(|| {
            miette!(
                help = "run a full `mcpctl deploy` first",
                "stack {} has no output {key}",
                prepared.config.stack_name
            )
        })?;
        let current = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| {
                miette!(
                    "cannot read function {name}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                )
            })?;
        if current.code_sha256() == Some(artifact.sha256_base64.as_str()) {
            ui.say(format!("{name}: already running this code"));
            continue;
        }
        lambda
            .update_function_code()
            .function_name(name)
            .s3_bucket(&prepared.bucket)
            .s3_key(code_key)
            .send()
            .await
            .map_err(|e| {
                miette!(
                    "cannot update {name}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                )
            })?;
        lambda
            .wait_until_function_updated_v2()
            .function_name(name)
            .wait(std::time::Duration::from_secs(300))
            .await
            .map_err(|e| {
                miette!(
                    "{name} did not become active: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                )
            })?;
        ui.say(format!("{name}: updated"));
        updated.push(name.clone());
    }
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"updated": updated, "code_key": prepared.code_key, "code_sha256": prepared.artifact.sha256})
        ),
        OutputFormat::Text => println!(
            "{} functions updated to {}",
            updated.len(),
            prepared.code_key
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `mcpctl diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(crate) stage: StageDeployArgs,
}

/// `mcpctl diff`: the change set, shown and deleted.
pub(crate) async fn diff(args: DiffArgs) -> miette::Result<ExitCode> {
    let ui = Ui::detect();
    let prepared = prepare(&args.stage, &ui).await?;
    let (set, _) = change_set(&args.stage, &prepared, &ui).await?;
    let rows = match set {
        None => {
            ui.say("no changes");
            Vec::new()
        }
        Some(set) => {
            let cf = aws_sdk_cloudformation::Client::new(&prepared.sdk);
            changeset::delete(&cf, &set.stack_name, &set.name).await;
            if args.stage.output == OutputFormat::Text {
                changeset::print(&set.rows);
            }
            set.rows
        }
    };
    if args.stage.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "stack_name": prepared.config.stack_name, "changes": rows })
            )
            .into_diagnostic()?
        );
    }
    Ok(ExitCode::SUCCESS)
}
