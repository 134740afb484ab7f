//! A deployed stage as the other commands see it: the outputs of its CloudFormation stack, read
//! fresh on every run (never from a local file that could go stale).

use std::collections::HashMap;

#[cfg(feature = "aws")]
use aws_config::SdkConfig;
#[cfg(feature = "aws")]
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use miette::miette;

/// The outputs of a stage's stack.
// Without the `aws` feature nothing can read a stack, so none is ever built.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
#[derive(Debug, Clone)]
pub(crate) struct StackOutputs {
    /// Stack name.
    pub(crate) stack_name: String,
    outputs: HashMap<String, String>,
}

/// The value of the parameter `key` among a stack's (or a change set's) `parameters`.
#[cfg(feature = "aws")]
pub(crate) fn parameter<'a>(
    parameters: &'a [aws_sdk_cloudformation::types::Parameter],
    key: &str,
) -> Option<&'a str> {
    parameters
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value())
}

/// The stack name of a stage unless overridden.
pub(crate) fn default_stack_name(stage: &str) -> String {
    format!("mcpctl-{stage}")
}

impl StackOutputs {
    /// Reads the outputs of `stack_name`; each failure is one line saying what to do.
    #[cfg(feature = "aws")]
    pub(crate) async fn load(
        config: &SdkConfig,
        stage: &str,
        stack_name: &str,
    ) -> miette::Result<Self> {
        let client = aws_sdk_cloudformation::Client::new(config);
        let region = config
            .region()
            .map_or_else(|| "(no region)".to_owned(), ToString::to_string);
        let response = client.describe_stacks().stack_name(stack_name).send().await.map_err(|error| {
            let code = match &error {
                SdkError::ServiceError(service) => service.err().code().unwrap_or_default().to_owned(),
                _ => String::new(),
            };
            let message = match &error {
                SdkError::ServiceError(service) => service.err().message().unwrap_or_default().to_owned(),
                other => other.to_string(),
            };
            if message.contains("does not exist") {
                miette!(
                    help = format!("deploy it with `mcpctl deploy --stage {stage}`, or pass --region/--profile if it lives elsewhere"),
                    "stage `{stage}` is not deployed: there is no stack `{stack_name}` in {region}"
                )
            } else if code.contains("AccessDenied") || code.contains("UnauthorizedOperation") {
                miette!(
                    help = "grant cloudformation:DescribeStacks to your identity, or use --profile with one that has it",
                    "not allowed to read stack `{stack_name}`: {message}"
                )
            } else if matches!(error, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
                miette!(help = "check your network, --region and AWS_ENDPOINT_URL", "cannot reach CloudFormation in {region}: {error}")
            } else {
                miette!(help = "check your credentials (--profile) and region (--region)", "cannot read stack `{stack_name}`: {code} {message}")
            }
        })?;
        let stack = response
            .stacks()
            .first()
            .ok_or_else(|| miette!("stack `{stack_name}` was not returned by CloudFormation"))?;
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        Ok(Self {
            stack_name: stack_name.to_owned(),
            outputs,
        })
    }

    /// An output only some stacks have (the upstream function's of gateway mode).
    #[cfg(feature = "aws")]
    pub(crate) fn optional(&self, key: &str) -> Option<&str> {
        self.outputs.get(key).map(String::as_str)
    }

    /// A required output.
    pub(crate) fn get(&self, key: &str) -> miette::Result<&str> {
        self.outputs.get(key).map(String::as_str).ok_or_else(|| {
            miette!(
                help =
                    "the stack predates this version of mcpctl; run `mcpctl deploy` to update it",
                "stack `{}` has no output `{key}`",
                self.stack_name
            )
        })
    }
}
