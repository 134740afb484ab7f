//! One module per subcommand, each with a `run`.

pub(crate) mod build;
pub(crate) mod clients;
pub(crate) mod cost;
pub(crate) mod deploy;
pub(crate) mod destroy;
mod dev;
pub(crate) mod keys;
pub(crate) mod log_format;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod new;
pub(crate) mod register_client;
pub(crate) mod render;
pub(crate) mod shell;
pub(crate) mod smoke_test;
pub(crate) mod status;
pub(crate) mod token;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Dispatches to the subcommand.
pub(crate) async fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Dev(args) => dev::run(*args).await,
        Command::Render(args) => render::run(args),
        Command::Build(args) => build::run(args),
        Command::Deploy(args) => deploy::run(args).await,
        Command::Diff(args) => deploy::diff(args).await,
        Command::Destroy(args) => destroy::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Metrics(args) => metrics::run(args).await,
        Command::Cost(args) => cost::run(args).await,
        Command::Keys(args) => keys::run(args).await,
        Command::SmokeTest(args) => smoke_test::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::RegisterClient(args) => register_client::run(args).await,
        Command::Clients(args) => clients::run(args).await,
        Command::Token(args) => token::run(args).await,
        Command::New(args) => new::run(args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
    }
}
