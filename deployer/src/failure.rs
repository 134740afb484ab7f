//! How a failed command reports: miette's report for people on stderr, or with `--output json`
//! one JSON object on stdout (where the command's data would have gone), so a script that reads
//! stdout gets `{"error", "message", "hint"}` instead of nothing.

use std::ffi::OsString;

use crate::cli::{Cli, Command, OutputFormat};

/// The exit code of a command that failed (a check that ran and found problems exits 1).
pub(crate) const EXIT_FAILED: u8 = 2;

impl Cli {
    /// The `--output` the command was given; text for the commands without one.
    pub(crate) fn output(&self) -> OutputFormat {
        match &self.command {
            Command::New(args) => args.output,
            Command::Dev(args) => args.output,
            #[cfg(feature = "aws")]
            Command::Logs(args) => args.output,
            Command::RegisterClient(args) => args.output,
            Command::Clients(args) => args.output,
            Command::SmokeTest(args) => args.output,
            Command::Doctor(args) => args.output,
            Command::Build(args) => args.output,
            #[cfg(feature = "aws")]
            Command::Deploy(args) => args.stage.output,
            #[cfg(feature = "aws")]
            Command::Diff(args) => args.stage.output,
            #[cfg(feature = "aws")]
            Command::Destroy(args) => args.output,
            #[cfg(feature = "aws")]
            Command::Status(args) => args.output,
            #[cfg(feature = "aws")]
            Command::Metrics(args) => args.output,
            #[cfg(feature = "aws")]
            Command::Cost(args) => args.output,
            Command::Keys(args) => args.output,
            Command::Render(args) => args.output,
            Command::Token(args) => args.output,
            Command::Completions(_) | Command::Man(_) => OutputFormat::Text,
        }
    }
}

/// The JSON object of a failure: `error` is a stable code (the diagnostic's, else
/// `<command>_failed`), `message` the whole chain of causes, `hint` what to do.
pub(crate) fn to_json(report: &miette::Report, command: &str) -> serde_json::Value {
    let error = report
        .code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("{}_failed", command.replace('-', "_")));
    let message = report
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    serde_json::json!({
        "error": error,
        "message": message,
        "hint": report.help().map(|h| h.to_string()),
        "command": command,
    })
}

/// Prints a failure the way the command's `--output` asks.
pub(crate) fn print(report: &miette::Report, output: OutputFormat, command: &str) {
    match output {
        OutputFormat::Json => println!("{}", to_json(report, command)),
        OutputFormat::Text => eprintln!("{report:?}"),
    }
}

/// Whether the raw arguments ask for JSON (`--output json` or `--output=json`): a command line
/// clap refuses still owes a JSON caller a JSON answer.
pub(crate) fn args_want_json(args: &[OsString]) -> bool {
    args.windows(2)
        .any(|pair| pair[0] == "--output" && pair[1] == "json")
        || args.iter().any(|a| a == "--output=json")
}

/// The JSON object for a command line clap refused.
pub(crate) fn usage_json(error: &clap::Error) -> serde_json::Value {
    // clap's text without its usage block: "error: ...", then indented details.
    let rendered = error.render().to_string();
    let message = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_owned();
    serde_json::json!({
        "error": "usage",
        "message": message,
        "hint": "run the command with --help to see its arguments",
    })
}

#[cfg(test)]
mod tests {
    use miette::miette;

    #[test]
    fn a_failure_is_one_object_with_code_message_and_hint() {
        let report = miette!(code = "no_region", help = "pass --region", "no AWS region")
            .wrap_err("cannot deploy");
        let json = super::to_json(&report, "deploy");
        assert_eq!(json["error"], "no_region");
        assert_eq!(json["message"], "cannot deploy: no AWS region");
        assert_eq!(json["hint"], "pass --region");
        let plain = super::to_json(&miette!("boom"), "smoke-test");
        assert_eq!(plain["error"], "smoke_test_failed");
        assert!(plain["hint"].is_null());
    }

    #[test]
    fn json_is_seen_in_both_spellings() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(super::args_want_json(&args(&[
            "mcpctl", "status", "--output", "json"
        ])));
        assert!(super::args_want_json(&args(&[
            "mcpctl",
            "status",
            "--output=json"
        ])));
        assert!(!super::args_want_json(&args(&[
            "mcpctl", "status", "--output", "text"
        ])));
    }
}
