//! One module per subcommand, each with a `run`.

mod dev;
pub(crate) mod render;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Dispatches to the subcommand.
pub(crate) async fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Render(args) => render::run(args),
    }
}
