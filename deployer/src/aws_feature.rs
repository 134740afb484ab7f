//! What a `mcpctl` built without the `aws` feature says when asked for something that talks to
//! AWS. That build exists so `cargo run --release -p mcpctl -- dev` compiles from clean in minutes
//! (the AWS SDK crates are most of the full build); everything local works in it.

/// The subcommands that exist only with the `aws` feature.
#[cfg(any(test, not(feature = "aws")))]
pub(crate) const AWS_COMMANDS: &[&str] = &[
    "deploy", "diff", "destroy", "status", "metrics", "cost", "logs",
];

/// The error for `what` (a subcommand, or a flag such as `--stage dev`) in a build without AWS.
#[cfg(any(test, not(feature = "aws")))]
pub(crate) fn needs_aws(what: &str) -> miette::Report {
    miette::miette!(
        help = "build mcpctl with AWS support: `cargo install --path deployer --features aws` in \
                an mcpctl checkout (or `cargo install mcpctl --features aws`), or run it as \
                `cargo run --release -p mcpctl --features aws -- ...`",
        "`{what}` talks to AWS, and this mcpctl was built without its `aws` feature (the build \
         that serves `mcpctl dev`, `new`, `render` and `build` without linking the AWS SDK)"
    )
}

/// The AWS-only subcommand `args` asks for, if any: the first argument that is not a flag.
/// Global flags come after the subcommand in mcpctl, so the first word is the subcommand.
#[cfg(any(test, not(feature = "aws")))]
pub(crate) fn aws_command_in(args: &[std::ffi::OsString]) -> Option<&'static str> {
    let word = args
        .iter()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))?;
    AWS_COMMANDS.iter().copied().find(|c| word == *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<std::ffi::OsString> {
        words.iter().map(Into::into).collect()
    }

    #[test]
    fn the_aws_subcommand_is_the_first_word() {
        assert_eq!(
            aws_command_in(&args(&["mcpctl", "deploy", "--stage", "dev"])),
            Some("deploy")
        );
        assert_eq!(aws_command_in(&args(&["mcpctl", "--help"])), None);
        assert_eq!(
            aws_command_in(&args(&["mcpctl", "dev", "--port", "0"])),
            None
        );
        // A stage named like a command is not the command.
        assert_eq!(
            aws_command_in(&args(&["mcpctl", "smoke-test", "--stage", "logs"])),
            None
        );
    }

    #[test]
    fn the_error_names_what_was_asked_and_the_fix() {
        let report = needs_aws("logs");
        let help = report.help().map(|h| h.to_string()).unwrap_or_default();
        assert!(
            report.to_string().contains("`logs` talks to AWS"),
            "{report}"
        );
        assert!(help.contains("--features aws"), "{help}");
    }

    #[test]
    fn every_aws_command_is_a_real_subcommand() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        for name in AWS_COMMANDS {
            // With the feature the command exists; without it, it must not (so clap cannot
            // swallow it before the clear error).
            assert_eq!(
                cli.find_subcommand(name).is_some(),
                cfg!(feature = "aws"),
                "{name}"
            );
        }
    }
}
