//! `mcpctl completions SHELL` and `mcpctl man`: generated from the command-line definition
//! itself (clap_complete, clap_mangen), so they never drift from the real flags.

use std::{path::PathBuf, process::ExitCode};

use clap::CommandFactory;
use miette::{IntoDiagnostic, WrapErr};

use crate::cli::Cli;

/// Arguments of `mcpctl completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash (`source <(mcpctl completions bash)` in ~/.bashrc), zsh (save as `_mcpctl`
    /// on your $fpath), fish (`mcpctl completions fish > ~/.config/fish/completions/mcpctl.fish`),
    /// powershell (`mcpctl completions powershell | Out-String | Invoke-Expression`) or elvish.
    pub(crate) shell: clap_complete::Shell,
}

/// Arguments of `mcpctl man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write `mcpctl.1` and one page per command (`mcpctl-dev.1`, ...) into this directory
    /// instead of printing `mcpctl.1`.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// Prints the completion script.
pub(crate) fn completions(args: &CompletionsArgs) -> miette::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "mcpctl", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Prints or writes the man pages.
pub(crate) fn man(args: &ManArgs) -> miette::Result<ExitCode> {
    let command = Cli::command();
    match &args.dir {
        None => match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
            // `mcpctl man | head` closes the pipe early: that is not a failure.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.into_diagnostic()?,
        },
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write the man pages into {}", dir.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
