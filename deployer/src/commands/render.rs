//! `mcpctl render`: the CloudFormation template of a stage. (Being built: see issue 3.)

use std::process::ExitCode;

/// Arguments of `mcpctl render`.
#[derive(Debug, clap::Args)]
pub(crate) struct RenderArgs {
    /// Stage: reads config/<stage>.yaml.
    #[arg(long, default_value = "dev")]
    pub(crate) stage: String,
}

pub(crate) fn run(args: RenderArgs) -> miette::Result<ExitCode> {
    Err(miette::miette!(
        "render for stage `{}` is not implemented yet",
        args.stage
    ))
}
