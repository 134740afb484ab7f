//! `mcpctl doctor [URL | --stage S]`: checks a server the way each real client discovers and
//! registers with it (the checks are in `crate::doctor`), and names each break, the clients it
//! breaks and the fix. Exit code 0 when nothing failed (warnings do not fail), 1 when a check
//! failed, 2 when the command itself could not run.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use miette::{IntoDiagnostic, miette};
use reqwest::Client;
use serde::Serialize;
use url::Url;

use crate::{
    cli::OutputFormat,
    clients::ClientShape,
    doctor::{self, Finding, Probe, Status},
    operator_client::Registrar,
    project::ProjectArgs,
    target::StageArgs,
};

/// Arguments of `mcpctl doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// The MCP endpoint to check, as clients are given it (e.g. https://mcp.example.com/mcp, or
    /// the URL `mcpctl dev` prints); alternative to --stage.
    #[arg(
        value_name = "URL",
        conflicts_with = "stage",
        required_unless_present = "stage"
    )]
    pub(crate) url: Option<Url>,
    #[command(flatten)]
    pub(crate) target: StageArgs,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
    /// Read the operator's initial access token from this `mcpctl dev --state-dir` (otherwise
    /// the token a local `mcpctl dev` published for its port, or, with --stage, a client written
    /// straight into the stage's table). MCPCTL_INITIAL_ACCESS_TOKEN counts only with --stage or
    /// for `mcpctl dev` on 127.0.0.1, never for another URL: doctor may be pointed at anyone's
    /// server. Without a credential the protocol-eras check is skipped.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Judge the server by this client's rules only (an id from clients.json: claude-code,
    /// claude-ai, chatgpt, cursor, vscode, inspector); default: every client mcpctl knows.
    #[arg(long = "client", value_name = "ID")]
    pub(crate) clients: Vec<String>,
    /// Per-request timeout in seconds (timed requests give up at the longest client budget).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub(crate) timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

/// The report, as `--output json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    mcp_url: String,
    passed: usize,
    warned: usize,
    failed: usize,
    skipped: usize,
    checks: Vec<Finding>,
}

impl Report {
    fn new(mcp_url: String, checks: Vec<Finding>) -> Self {
        let count = |status: Status| checks.iter().filter(|c| c.status == status).count();
        Self {
            mcp_url,
            passed: count(Status::Pass),
            warned: count(Status::Warn),
            failed: count(Status::Fail),
            skipped: count(Status::Skip),
            checks,
        }
    }
}

/// Runs every check against the URL or the stage and prints the report.
pub(crate) async fn run(args: DoctorArgs) -> miette::Result<ExitCode> {
    // A crate made by `mcpctl new` names its stacks in config/<stage>.yaml.
    let mut args = args;
    args.project.fill_stack_name(&mut args.target)?;
    let outputs = args.target.outputs().await?;
    let mcp_url = match (&args.url, &outputs) {
        (Some(url), _) => url.clone(),
        (None, Some(outputs)) => Url::parse(outputs.get("McpUrl")?).into_diagnostic()?,
        (None, None) => {
            return Err(miette!(
                help =
                    "pass the MCP URL (mcpctl doctor https://mcp.example.com/mcp) or --stage STAGE",
                "nothing to check"
            ));
        }
    };
    let registrar = Registrar::find(
        crate::operator_client::Servers::Anyone,
        args.state_dir.as_deref(),
        args.url.as_ref(),
        &args.target,
        outputs,
    )?;
    let clients = chosen(crate::clients::known()?, &args.clients)?;
    let http = Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mcpctl-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
        .into_diagnostic()?;
    let probe = Probe {
        http,
        mcp_url,
        clients: &clients,
        registrar: &registrar,
    };
    let findings = doctor::run(&probe).await;
    let report = Report::new(
        probe.mcp_url.as_str().trim_end_matches('/').to_owned(),
        findings,
    );
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).into_diagnostic()?
        ),
        OutputFormat::Text => print!("{}", text(&report)),
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The clients `ids` names (every one when it names none); an unknown id is an error that lists
/// the known ones.
fn chosen(known: Vec<ClientShape>, ids: &[String]) -> miette::Result<Vec<ClientShape>> {
    if let Some(unknown) = ids.iter().find(|id| !known.iter().any(|c| c.id == **id)) {
        let all: Vec<&str> = known.iter().map(|c| c.id.as_str()).collect();
        return Err(miette!(
            help = format!("pass one of: {}", all.join(", ")),
            "--client `{unknown}` is not a client mcpctl knows"
        ));
    }
    Ok(known
        .into_iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id))
        .collect())
}

/// The report for people: a row per check, then the fixes.
fn text(report: &Report) -> String {
    use std::fmt::Write as _;
    let width = report
        .checks
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("doctor of {}\n\n", report.mcp_url);
    let _ = writeln!(
        out,
        "{:<width$}  {:<6}  {:>10}  detail",
        "check", "status", "latency"
    );
    for check in &report.checks {
        let latency = check
            .latency_ms
            .map_or_else(|| "-".to_owned(), |l| format!("{l:.1} ms"));
        let _ = writeln!(
            out,
            "{:<width$}  {:<6}  {:>10}  {}",
            check.id,
            label(check.status),
            latency,
            check.detail
        );
    }
    let fixes: Vec<&Finding> = report.checks.iter().filter(|c| c.fix.is_some()).collect();
    if !fixes.is_empty() {
        out.push_str("\nfixes:\n");
        for check in fixes {
            let clients = if check.clients.is_empty() {
                String::new()
            } else {
                format!(" (affects {})", check.clients.join(", "))
            };
            let _ = writeln!(
                out,
                "- {} [{}]{clients}: {}",
                check.id,
                label(check.status),
                check.fix.as_deref().unwrap_or_default()
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{} passed, {} warned, {} failed, {} skipped",
        report.passed, report.warned, report.failed, report.skipped
    );
    out
}

/// A status as the table shows it; problems in capitals so they stand out without colour.
fn label(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
        Status::Skip => "skip",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_choose_the_rules_and_unknown_ones_are_refused() {
        let known = crate::clients::known().unwrap();
        assert_eq!(chosen(known.clone(), &[]).unwrap().len(), known.len());
        let cursor = chosen(known.clone(), &["cursor".into()]).unwrap();
        assert_eq!(cursor.len(), 1);
        assert_eq!(cursor[0].name, "Cursor");
        let error = chosen(known, &["netscape".into()]).unwrap_err();
        assert!(error.to_string().contains("`netscape`"), "{error}");
        assert!(error.help().unwrap().to_string().contains("claude-code"));
    }

    #[test]
    fn the_text_report_is_a_table_then_the_fixes() {
        let report = Report::new(
            "http://127.0.0.1:8787/mcp".into(),
            vec![
                Finding {
                    id: "tls",
                    status: Status::Warn,
                    detail: "plain http on loopback".into(),
                    fix: Some("deploy a stage".into()),
                    latency_ms: None,
                    clients: vec!["ChatGPT".into()],
                },
                Finding {
                    id: "challenge",
                    status: Status::Pass,
                    detail: "401".into(),
                    fix: None,
                    latency_ms: Some(1.25),
                    clients: Vec::new(),
                },
            ],
        );
        let text = text(&report);
        assert!(
            text.contains("check      status     latency  detail"),
            "{text}"
        );
        assert!(
            text.contains("challenge  pass        1.2 ms  401")
                || text.contains("challenge  pass        1.3 ms  401"),
            "{text}"
        );
        assert!(
            text.contains("- tls [WARN] (affects ChatGPT): deploy a stage"),
            "{text}"
        );
        assert!(
            text.trim_end()
                .ends_with("1 passed, 1 warned, 0 failed, 0 skipped"),
            "{text}"
        );
    }
}
