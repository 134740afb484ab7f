//! Where an operations command points: a deployed stage (through its stack outputs) or a plain URL.

#[cfg(feature = "aws")]
use aws_config::SdkConfig;

use crate::stack::StackOutputs;

/// AWS options shared by every command that talks to AWS.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AwsArgs {
    /// AWS profile (as in the AWS CLI).
    #[arg(long, env = "AWS_PROFILE", global = true)]
    pub(crate) profile: Option<String>,
    /// AWS region (as in the AWS CLI).
    #[arg(long, env = "AWS_REGION", global = true)]
    pub(crate) region: Option<String>,
}

impl AwsArgs {
    /// The SDK configuration, checked by the preflight (credentials, region, STS).
    #[cfg(feature = "aws")]
    pub(crate) async fn sdk_config(&self) -> miette::Result<SdkConfig> {
        crate::aws::connect(self.profile.as_deref(), self.region.as_deref())
            .await
            .map(|(sdk, _)| sdk)
    }
}

/// A deployed stage.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StageArgs {
    /// The stage (its stack is `mcpctl-<stage>` unless --stack-name says otherwise).
    #[arg(long, global = true)]
    pub(crate) stage: Option<String>,
    /// The CloudFormation stack of the stage.
    #[arg(long, requires = "stage", global = true)]
    pub(crate) stack_name: Option<String>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
}

impl StageArgs {
    /// Loads the stage's stack outputs; `None` when no stage was given.
    pub(crate) async fn outputs(&self) -> miette::Result<Option<StackOutputs>> {
        let Some(stage) = &self.stage else {
            return Ok(None);
        };
        let stack_name = self
            .stack_name
            .clone()
            .unwrap_or_else(|| crate::stack::default_stack_name(stage));
        #[cfg(feature = "aws")]
        {
            let config = self.aws.sdk_config().await?;
            StackOutputs::load(&config, stage, &stack_name)
                .await
                .map(Some)
        }
        #[cfg(not(feature = "aws"))]
        {
            let _ = stack_name;
            Err(crate::aws_feature::needs_aws(&format!("--stage {stage}")))
        }
    }
}
