//! One module per subcommand, each with a `run`.

pub(crate) mod build;
pub(crate) mod clients;
#[cfg(feature = "aws")]
pub(crate) mod cost;
#[cfg(feature = "aws")]
pub(crate) mod deploy;
#[cfg(feature = "aws")]
pub(crate) mod destroy;
mod dev;
pub(crate) mod doctor;
pub(crate) mod keys;
// The renderer of `mcpctl logs`; without the `aws` feature only its timestamp format is used.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) mod log_format;
#[cfg(feature = "aws")]
pub(crate) mod logs;
#[cfg(feature = "aws")]
pub(crate) mod metrics;
pub(crate) mod new;
pub(crate) mod register_client;
pub(crate) mod render;
pub(crate) mod shell;
pub(crate) mod smoke_test;
#[cfg(feature = "aws")]
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
        #[cfg(feature = "aws")]
        Command::Deploy(args) => deploy::run(args).await,
        #[cfg(feature = "aws")]
        Command::Diff(args) => deploy::diff(args).await,
        #[cfg(feature = "aws")]
        Command::Destroy(args) => destroy::run(args).await,
        #[cfg(feature = "aws")]
        Command::Status(args) => status::run(args).await,
        #[cfg(feature = "aws")]
        Command::Metrics(args) => metrics::run(args).await,
        #[cfg(feature = "aws")]
        Command::Cost(args) => cost::run(args).await,
        Command::Keys(args) => keys::run(args).await,
        Command::SmokeTest(args) => smoke_test::run(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        #[cfg(feature = "aws")]
        Command::Logs(args) => logs::run(args).await,
        Command::RegisterClient(args) => register_client::run(args).await,
        Command::Clients(args) => clients::run(args).await,
        Command::Token(args) => token::run(args).await,
        Command::New(args) => new::run(args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
    }
}
