//! The pieces of `mcpctl deploy`, `diff`, `destroy` and `status`: the artifacts bucket, the
//! signing-key secret, change sets, and following a stack's events with progress.

pub(crate) mod artifacts;
pub(crate) mod changeset;
pub(crate) mod events;
pub(crate) mod kms_key;
pub(crate) mod signing_secret;
pub(crate) mod ui;

use aws_sdk_cloudformation::types::Stack;
use miette::miette;

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

/// One readable line for an SDK error: code and message, never the request.
pub(crate) fn describe_error<
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
>(
    error: &SdkError<E, R>,
) -> String {
    match error {
        SdkError::ServiceError(service) => format!(
            "{}: {}",
            service.err().code().unwrap_or("Error"),
            service.err().message().unwrap_or("(no message)")
        ),
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            "cannot reach AWS (network, --region or AWS_ENDPOINT_URL)".to_owned()
        }
        other => aws_sdk_cloudformation::error::DisplayErrorContext(other).to_string(),
    }
}

/// The stack of a configured stage, with the SDK configuration used to read it and who read it
/// (after the preflight); one clear line when the stage is not deployed.
pub(crate) async fn stage_stack(
    config: &crate::stage::config::StageConfig,
    aws: &crate::target::AwsArgs,
) -> miette::Result<(aws_config::SdkConfig, Stack, crate::aws::Identity)> {
    let region = aws.region.clone().or_else(|| config.region.clone());
    let (sdk, identity) = crate::aws::connect(aws.profile.as_deref(), region.as_deref()).await?;
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let stack_name = &config.stack_name;
    let described = cf
        .describe_stacks()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(|e| {
            let message = describe_error(&e);
            if message.contains("does not exist") {
                miette!(
                    code = "not_deployed",
                    help = format!("deploy it with `mcpctl deploy --stage {}`", config.stage),
                    "stage `{}` is not deployed: there is no stack `{stack_name}` in account {} region {}",
                    config.stage,
                    identity.account,
                    identity.region
                )
            } else {
                miette!(
                    help = "check your credentials (--profile) and region (--region)",
                    "cannot read stack {stack_name}: {message}"
                )
            }
        })?;
    let stack = described
        .stacks()
        .first()
        .cloned()
        .ok_or_else(|| miette!("stack {stack_name} was not returned"))?;
    Ok((sdk, stack, identity))
}
