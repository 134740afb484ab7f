//! `mcpctl`: build, deploy and operate a remote OAuth-protected MCP server on AWS, and run it
//! locally with `mcpctl dev`.

mod artifact;
#[cfg(feature = "aws")]
mod aws;
mod aws_feature;
mod cli;
mod client_snippets;
mod clients;
mod commands;
#[cfg(feature = "aws")]
mod cost;
#[cfg(feature = "aws")]
mod deploy;
mod dev;
mod discovery;
mod doctor;
mod failure;
mod operator_client;
mod probe;
mod project;
mod signals;
mod stack;
mod stage;
#[cfg(feature = "aws")]
mod stage_metrics;
mod target;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // Unwrapped: CloudFormation's and the SDK's reasons stay whole (greppable in CI logs).
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before clap, which would call the subcommand unknown: say why it is missing, and the fix.
    #[cfg(not(feature = "aws"))]
    if let Some(command) = aws_feature::aws_command_in(&args) {
        let output = if failure::args_want_json(&args) {
            cli::OutputFormat::Json
        } else {
            cli::OutputFormat::Text
        };
        failure::print(&aws_feature::needs_aws(command), output, command);
        return ExitCode::from(failure::EXIT_FAILED);
    }
    let parsed = cli::Cli::command()
        .try_get_matches_from(&args)
        .and_then(|matches| {
            // The subcommand as typed, for the `command` of a JSON failure.
            let name = matches.subcommand_name().unwrap_or("mcpctl").to_owned();
            cli::Cli::from_arg_matches(&matches).map(|cli| (cli, name))
        });
    let (cli, command) = match parsed {
        Ok(parsed) => parsed,
        Err(error)
            if failure::args_want_json(&args)
                && !matches!(
                    error.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) =>
        {
            println!("{}", failure::usage_json(&error));
            return ExitCode::from(failure::EXIT_FAILED);
        }
        Err(error) => error.exit(),
    };
    let output = cli.output();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let report = miette::miette!("cannot start the async runtime: {error}");
            failure::print(&report, output, &command);
            return ExitCode::from(failure::EXIT_FAILED);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(report) => {
            failure::print(&report, output, &command);
            ExitCode::from(failure::EXIT_FAILED)
        }
    }
}
