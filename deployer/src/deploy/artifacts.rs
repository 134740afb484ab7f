//! The artifacts bucket (created on first use by the `mcpctl-bootstrap` stack: private, encrypted,
//! versioned, with a lifecycle rule) and uploads keyed by content hash, skipped when present.

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::StackStatus;
use miette::{IntoDiagnostic, miette};

use super::{describe_error, ui::Ui};
use crate::artifact::Artifact;

/// The bootstrap stack's name.
pub(crate) const BOOTSTRAP_STACK: &str = "mcpctl-bootstrap";
const BOOTSTRAP_TEMPLATE: &str = include_str!("../../../templates/bootstrap/artifacts.yaml");

fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    // Path-style addressing for custom endpoints (moto, LocalStack): `bucket.localhost` does not resolve.
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// The artifacts bucket, creating the bootstrap stack the first time.
pub(crate) async fn ensure_bucket(config: &SdkConfig, ui: &Ui) -> miette::Result<String> {
    let cf = aws_sdk_cloudformation::Client::new(config);
    let existing = cf
        .describe_stacks()
        .stack_name(BOOTSTRAP_STACK)
        .send()
        .await;
    let stack = match existing {
        Ok(output) => output.stacks.and_then(|s| s.into_iter().next()),
        Err(error) if describe_error(&error).contains("does not exist") => None,
        Err(error) => {
            return Err(miette!(
                help = "check your credentials and region",
                "cannot read the {BOOTSTRAP_STACK} stack: {}",
                describe_error(&error)
            ));
        }
    };
    let stack = match stack {
        Some(stack)
            if stack.stack_status() == Some(&StackStatus::CreateComplete)
                || stack.stack_status() == Some(&StackStatus::UpdateComplete) =>
        {
            stack
        }
        Some(stack) => {
            return Err(miette!(
                help = format!(
                    "inspect it with `aws cloudformation describe-stack-events --stack-name {BOOTSTRAP_STACK}`, delete it if it failed, and run again"
                ),
                "the {BOOTSTRAP_STACK} stack is in state {}",
                stack
                    .stack_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default()
            ));
        }
        None => {
            ui.say(format!("creating the artifacts bucket (stack {BOOTSTRAP_STACK}, once per account and region)..."));
            cf.create_stack()
                .stack_name(BOOTSTRAP_STACK)
                .template_body(BOOTSTRAP_TEMPLATE)
                .tags(
                    aws_sdk_cloudformation::types::Tag::builder()
                        .key("mcpctl:purpose")
                        .value("artifacts")
                        .build(),
                )
                .send()
                .await
                .map_err(|e| {
                    miette!(
                        "cannot create the {BOOTSTRAP_STACK} stack: {}",
                        describe_error(&e)
                    )
                })?;
            let mut stack = None;
            for _ in 0..300 {
                let output = cf
                    .describe_stacks()
                    .stack_name(BOOTSTRAP_STACK)
                    .send()
                    .await
                    .map_err(|e| miette!("{}", describe_error(&e)))?;
                let current = output.stacks.and_then(|s| s.into_iter().next());
                match current.as_ref().and_then(|s| s.stack_status()) {
                    Some(StackStatus::CreateComplete) => {
                        stack = current;
                        break;
                    }
                    Some(StackStatus::CreateInProgress) => {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await
                    }
                    other => return Err(miette!("the {BOOTSTRAP_STACK} stack failed: {other:?}")),
                }
            }
            stack.ok_or_else(|| {
                miette!("the {BOOTSTRAP_STACK} stack did not finish within 10 minutes")
            })?
        }
    };
    stack
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("ArtifactsBucketName"))
        .and_then(|o| o.output_value())
        .map(str::to_owned)
        .ok_or_else(|| miette!("the {BOOTSTRAP_STACK} stack has no ArtifactsBucketName output"))
}

/// Uploads `bytes` to `key` unless an object is already there (keys are content hashes).
pub(crate) async fn upload_if_absent(
    config: &SdkConfig,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
) -> miette::Result<bool> {
    let s3 = s3_client(config);
    if s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
    {
        return Ok(false);
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .map_err(|e| {
            miette!(
                "cannot upload s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
    Ok(true)
}

/// Uploads the Lambda zip; returns its key.
pub(crate) async fn upload_code(
    config: &SdkConfig,
    bucket: &str,
    artifact: &Artifact,
    ui: &Ui,
) -> miette::Result<String> {
    upload_zip(
        config,
        bucket,
        format!("code/{}.zip", artifact.sha256),
        artifact,
        ui,
    )
    .await
}

/// Uploads the upstream function's zip next to the main one, keyed by its own hash (an
/// unchanged upstream keeps its key, so its function is not updated); returns the key.
pub(crate) async fn upload_upstream_code(
    config: &SdkConfig,
    bucket: &str,
    artifact: &Artifact,
    ui: &Ui,
) -> miette::Result<String> {
    upload_zip(config, bucket, upstream_code_key(artifact), artifact, ui).await
}

/// Uploads `artifact` as `key` unless it is there already, saying which; returns the key.
async fn upload_zip(
    config: &SdkConfig,
    bucket: &str,
    key: String,
    artifact: &Artifact,
    ui: &Ui,
) -> miette::Result<String> {
    let bytes = std::fs::read(&artifact.path).into_diagnostic()?;
    let started = std::time::Instant::now();
    if upload_if_absent(config, bucket, &key, bytes).await? {
        ui.say(format!(
            "uploaded s3://{bucket}/{key} ({} bytes, {:.1} MB/s)",
            artifact.size,
            artifact.size as f64 / 1e6 / started.elapsed().as_secs_f64().max(0.001)
        ));
    } else {
        ui.say(format!("s3://{bucket}/{key} is already uploaded"));
    }
    Ok(key)
}

/// `code/upstream-<sha256>.zip`.
pub(crate) fn upstream_code_key(artifact: &Artifact) -> String {
    format!("code/upstream-{}.zip", artifact.sha256)
}

/// Uploads a template (too large to send inline); returns its URL for CloudFormation.
pub(crate) async fn upload_template(
    config: &SdkConfig,
    bucket: &str,
    stack_name: &str,
    body: &str,
) -> miette::Result<String> {
    let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = format!("templates/{stack_name}/{hash}.yaml");
    upload_if_absent(config, bucket, &key, body.as_bytes().to_vec()).await?;
    // The virtual-hosted global form is the one CloudFormation (and moto) resolve everywhere.
    Ok(format!("https://{bucket}.s3.amazonaws.com/{key}"))
}
