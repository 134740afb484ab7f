//! `mcpctl logs`: the handler's CloudWatch logs for people. Reads the stage's log groups with
//! FilterLogEvents; `--follow` keeps polling (backing off when idle, never printing an event
//! twice, riding out throttling and transient errors) until Ctrl-C.

use std::{
    collections::{HashSet, VecDeque},
    io::Write,
    process::ExitCode,
    time::Duration,
};

use aws_sdk_cloudwatchlogs::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::FilteredLogEvent,
};
use miette::{IntoDiagnostic, miette};

use super::log_format::{self, Style};
use crate::{cli::OutputFormat, project::ProjectArgs, target::StageArgs};

/// The upstream function's log group output (gateway mode with `upstream.function` only).
const UPSTREAM_LOG_GROUP: &str = crate::stage::names::output::UPSTREAM_LOG_GROUP_NAME;

/// How far back each `--follow` poll re-reads, for events ingested late or out of order.
const LATE_ARRIVAL_WINDOW_MS: i64 = 10_000;

/// Which function's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Function {
    /// The MCP endpoint.
    Mcp,
    /// The OAuth endpoints and discovery documents.
    Auth,
    /// The token authorizer in front of /mcp.
    Authorizer,
    /// The upstream MCP server's function (gateway mode with upstream.function).
    Upstream,
    /// All of them.
    All,
}

/// Arguments of `mcpctl logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    pub(crate) target: StageArgs,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
    /// Read this log group instead of the stage's (repeatable).
    #[arg(
        long = "log-group",
        value_name = "NAME",
        required_unless_present = "stage"
    )]
    pub(crate) log_groups: Vec<String>,
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short)]
    pub(crate) follow: bool,
    /// How far back to start: a duration (30s, 10m, 2h, 1d) or an RFC 3339 time.
    #[arg(long, default_value = "10m", value_parser = parse_since)]
    pub(crate) since: Since,
    /// Only events containing this text (a CloudWatch filter term).
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// Only events at this level or more severe.
    #[arg(long, value_enum)]
    pub(crate) level: Option<log_format::Level>,
    /// Only events of this request id (every response carries it in `x-request-id`).
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// Only events of this OAuth client.
    #[arg(long, visible_alias = "client")]
    pub(crate) client_id: Option<String>,
    /// Only calls of this tool (`tools/call` requests naming it).
    #[arg(long)]
    pub(crate) tool: Option<String>,
    /// Which function's log group.
    #[arg(long, value_enum, default_value_t = Function::All)]
    pub(crate) function: Function,
    /// Also read API Gateway's access log group.
    #[arg(long)]
    pub(crate) access: bool,
    /// `json` prints the raw events, one per line (for jq).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Since {
    /// This long before now.
    Ago(Duration),
    /// Epoch milliseconds.
    At(i64),
}

/// Parses `30s`, `10m`, `2h`, `1d`, or an RFC 3339 timestamp.
pub(crate) fn parse_since(value: &str) -> Result<Since, String> {
    let value = value.trim();
    let units = [
        ("ms", 1u64),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];
    for (suffix, millis) in units {
        if let Some(number) = value.strip_suffix(suffix)
            && let Ok(count) = number.parse::<u64>()
        {
            return Ok(Since::Ago(Duration::from_millis(
                count.saturating_mul(millis),
            )));
        }
    }
    log_format::parse_rfc3339_millis(value)
        .map(Since::At)
        .ok_or_else(|| format!("`{value}` is neither a duration (30s, 10m, 2h, 1d) nor an RFC 3339 time (2026-11-21T07:00:00Z)"))
}

fn now_millis() -> i64 {
    i64::try_from(mcpctl_handler::clock::Clock::now(
        &mcpctl_handler::clock::SystemClock,
    ))
    .unwrap_or(i64::MAX)
    .saturating_mul(1000)
}

/// Remembers printed event ids, forgetting the oldest beyond a bound.
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > 50_000
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// One line a person can act on, for a failed FilterLogEvents.
fn explain<R>(
    group: &str,
    error: &SdkError<impl ProvideErrorMetadata + std::error::Error + 'static, R>,
) -> (bool, String) {
    let code = error.code().unwrap_or_default();
    match code {
        "ResourceNotFoundException" => (
            false,
            format!(
                "log group `{group}` does not exist: the function has not run yet, or the stage is not deployed (`mcpctl deploy`)"
            ),
        ),
        "AccessDeniedException" => (
            false,
            format!(
                "not allowed to read `{group}`: grant logs:FilterLogEvents on it, or use --profile"
            ),
        ),
        "ThrottlingException" | "ServiceUnavailableException" | "LimitExceededException" => (
            true,
            format!("CloudWatch Logs is throttling ({code}); retrying"),
        ),
        _ if matches!(
            error,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        ) =>
        {
            (true, "CloudWatch Logs did not answer; retrying".to_owned())
        }
        _ => (
            false,
            format!(
                "cannot read `{group}`: {code} {}",
                error.message().unwrap_or_default()
            ),
        ),
    }
}

async fn fetch(
    client: &Client,
    group: &str,
    start: i64,
    filter: Option<&str>,
) -> Result<
    Vec<FilteredLogEvent>,
    SdkError<
        aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError,
        aws_sdk_cloudwatchlogs::config::http::HttpResponse,
    >,
> {
    let mut events = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut request = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start)
            .set_next_token(next.take());
        if let Some(filter) = filter {
            // A quoted term matches it literally, punctuation included.
            request = request.filter_pattern(format!("\"{}\"", filter.replace('"', "")));
        }
        let page = request.send().await?;
        events.extend(page.events().iter().cloned());
        match page.next_token {
            Some(token) if !token.is_empty() && !page.events().is_empty() => next = Some(token),
            _ => return Ok(events),
        }
    }
}

pub(crate) async fn run(args: LogsArgs) -> miette::Result<ExitCode> {
    // A crate made by `mcpctl new` names its stacks in config/<stage>.yaml.
    let mut args = args;
    args.project.fill_stack_name(&mut args.target)?;
    let mut groups = args.log_groups.clone();
    if let Some(outputs) = args.target.outputs().await? {
        let functions: &[&str] = match args.function {
            Function::Mcp => &["McpLogGroupName"],
            Function::Auth => &["AuthLogGroupName"],
            Function::Authorizer => &["AuthorizerLogGroupName"],
            Function::Upstream => &[UPSTREAM_LOG_GROUP],
            Function::All => &[
                "AuthLogGroupName",
                "McpLogGroupName",
                "AuthorizerLogGroupName",
            ],
        };
        for key in functions {
            if *key == UPSTREAM_LOG_GROUP && outputs.optional(key).is_none() {
                return Err(miette!(
                    help = "the upstream function exists in gateway mode with upstream.function; read the gateway's own logs with --function mcp",
                    "stack `{}` has no upstream function",
                    outputs.stack_name
                ));
            }
            groups.push(outputs.get(key)?.to_owned());
        }
        // Gateway mode with upstream.function: "all" includes the upstream server.
        if args.function == Function::All
            && let Some(group) = outputs.optional(UPSTREAM_LOG_GROUP)
        {
            groups.push(group.to_owned());
        }
        if args.access {
            groups.push(outputs.get("AccessLogGroupName")?.to_owned());
        }
    }
    if groups.is_empty() {
        return Err(miette!(
            help = "pass --stage STAGE or --log-group NAME",
            "no log group to read"
        ));
    }
    let client = Client::new(&args.target.aws.sdk_config().await?);
    let style = Style::for_stdout();
    let mut start = match args.since {
        Since::Ago(ago) => {
            now_millis().saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))
        }
        Since::At(at) => at,
    };
    let mut seen = Seen {
        ids: HashSet::new(),
        order: VecDeque::new(),
    };
    // Events reach CloudWatch out of order (each Lambda container writes its own stream), so each
    // poll re-reads a window before the newest event seen; event ids keep every line unique.
    let mut newest = start;
    let mut idle = Duration::from_secs(1);
    let stdout = std::io::stdout();
    loop {
        let mut batch = Vec::new();
        let mut retry = false;
        for group in &groups {
            match fetch(&client, group, start, args.filter.as_deref()).await {
                Ok(events) => batch.extend(events.into_iter().map(|e| (group.clone(), e))),
                Err(error) => {
                    let (transient, line) = explain(group, &error);
                    if !transient || !args.follow {
                        return Err(miette!("{line}"));
                    }
                    eprintln!("warning: {line}");
                    retry = true;
                }
            }
        }
        batch.sort_by_key(|(_, e)| (e.timestamp.unwrap_or_default(), e.event_id.clone()));
        let mut printed = 0;
        let mut out = stdout.lock();
        for (group, event) in &batch {
            let Some(id) = event.event_id.as_deref() else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            newest = newest.max(event.timestamp.unwrap_or_default());
            let message = event.message.as_deref().unwrap_or_default();
            let parsed = log_format::parse(message);
            let wanted = log_format::Wanted {
                level: args.level,
                request_id: args.request_id.as_deref(),
                client_id: args.client_id.as_deref(),
                tool: args.tool.as_deref(),
            };
            if !log_format::matches(&parsed, &wanted) {
                continue;
            }
            let line = match args.output {
                OutputFormat::Json => serde_json::json!({
                    "log_group": group,
                    "log_stream": event.log_stream_name,
                    "event_id": id,
                    "timestamp": event.timestamp,
                    "message": message,
                })
                .to_string(),
                OutputFormat::Text => {
                    log_format::render(&parsed, event.timestamp.unwrap_or_default(), style)
                }
            };
            if writeln!(out, "{line}").is_err() {
                // stdout closed (e.g. piped into `head`): stop quietly.
                return Ok(ExitCode::SUCCESS);
            }
            printed += 1;
        }
        out.flush().into_diagnostic()?;
        drop(out);
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        start = start.max(newest.saturating_sub(LATE_ARRIVAL_WINDOW_MS));
        idle = if printed > 0 && !retry {
            Duration::from_secs(1)
        } else {
            (idle * 2).min(Duration::from_secs(10))
        };
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            () = crate::signals::interrupted() => return Ok(ExitCode::SUCCESS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_times() {
        assert_eq!(parse_since("10m"), Ok(Since::Ago(Duration::from_secs(600))));
        assert_eq!(parse_since("2h"), Ok(Since::Ago(Duration::from_secs(7200))));
        assert_eq!(parse_since("30s"), Ok(Since::Ago(Duration::from_secs(30))));
        assert_eq!(parse_since("1970-01-01T00:00:01Z"), Ok(Since::At(1000)));
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn seen_events_are_printed_once() {
        let mut seen = Seen {
            ids: HashSet::new(),
            order: VecDeque::new(),
        };
        assert!(seen.insert("a"));
        assert!(!seen.insert("a"));
        assert!(seen.insert("b"));
    }
}
