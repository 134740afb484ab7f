//! `mcpctl`: build, deploy and operate a remote OAuth-protected MCP server on AWS, and run it
//! locally with `mcpctl dev`.

mod artifact;
mod aws;
mod cli;
mod commands;
mod deploy;
mod dev;
mod discovery;
mod project;
mod signals;
mod stack;
mod stage;
mod target;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Unwrapped: CloudFormation's and the SDK's reasons stay whole (greppable in CI logs).
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(2)
        }
    }
}
