//! `mcpctl metrics`: a stage's MCP, tool and OAuth metrics over a window, as tables with
//! sparklines, and the state of its alarms.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::{
    cli::OutputFormat,
    commands::logs::{Since, parse_since},
    project::ProjectArgs,
    stage,
    stage_metrics::{self, Series, StageMetrics, Window},
    target::AwsArgs,
};

/// Arguments of `mcpctl metrics`.
#[derive(Debug, clap::Args)]
pub(crate) struct MetricsArgs {
    /// The stage.
    #[arg(long, env = "MCPCTL_STAGE")]
    pub(crate) stage: String,
    /// How far back: a duration (30m, 1h, 7d) or an RFC 3339 time.
    #[arg(long, default_value = "1h", value_parser = parse_since)]
    pub(crate) since: Since,
    /// Directory of the stage configurations (default: the server crate's config/, else ./config).
    #[arg(long, value_name = "DIR", env = "MCPCTL_CONFIG_DIR")]
    pub(crate) config_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

/// Seconds from `since` to now.
pub(crate) fn window_of(since: Since) -> Window {
    let now = i64::try_from(mcpctl_handler::clock::Clock::now(
        &mcpctl_handler::clock::SystemClock,
    ))
    .unwrap_or(i64::MAX);
    let seconds = match since {
        Since::Ago(duration) => duration.as_secs() as i64,
        Since::At(millis) => now - millis / 1000,
    };
    Window::last(seconds, now)
}

pub(crate) async fn run(args: MetricsArgs) -> miette::Result<ExitCode> {
    let (config_dir, _) = args.project.for_missing(args.config_dir.as_deref(), None)?;
    let config = stage::load(&config_dir, &args.stage, &stage::env_overrides())?;
    let (sdk, _, _) = crate::deploy::stage_stack(&config, &args.aws).await?;
    let view = stage_metrics::fetch(&sdk, &config.stack_name, window_of(args.since)).await?;
    match args.output {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&view).into_diagnostic()?)
        }
        OutputFormat::Text => print!("{}", render(&view)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Eight levels, scaled to the series' own maximum; a bucket without data is the lowest.
pub(crate) fn sparkline(points: &[f64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = points.iter().copied().fold(0.0, f64::max);
    points
        .iter()
        .map(|value| {
            if max <= 0.0 || *value <= 0.0 {
                LEVELS[0]
            } else {
                LEVELS[((value / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

fn count(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn rows(out: &mut String, title: &str, rows: &[(String, &Series)]) {
    out.push_str(&format!("\n{title}\n"));
    if rows.is_empty() {
        out.push_str("  (none in this window)\n");
        return;
    }
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, series) in rows {
        out.push_str(&format!(
            "  {name:<width$}  {:>8}  {}\n",
            count(series.total),
            sparkline(&series.points)
        ));
    }
}

/// The text view.
pub(crate) fn render(view: &StageMetrics) -> String {
    let minutes = (view.window.end - view.window.start) / 60;
    let mut out = format!(
        "{}: last {} min, {} s per bar\n",
        view.stack, minutes, view.window.period_seconds
    );
    let mut mcp = vec![("all methods".to_owned(), &view.mcp_requests)];
    mcp.extend(view.methods.iter().map(|(k, v)| (k.clone(), v)));
    rows(&mut out, "MCP requests", &mcp);

    out.push_str("\nTools\n");
    if view.tools.is_empty() {
        out.push_str("  (no tool calls in this window)\n");
    } else {
        let width = view
            .tools
            .iter()
            .map(|t| t.tool.len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "  {:<width$}  {:>7}  {:>6}  {:>7}  {:>7}  calls\n",
            "tool", "calls", "errors", "avg ms", "max ms"
        ));
        for tool in &view.tools {
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
            out.push_str(&format!(
                "  {:<width$}  {:>7}  {:>6}  {:>7}  {:>7}  {}\n",
                tool.tool,
                count(tool.calls.total),
                count(tool.errors.total),
                ms(tool.latency_avg_ms),
                ms(tool.latency_max_ms),
                sparkline(&tool.calls.points)
            ));
        }
    }

    let oauth: Vec<(String, &Series)> = stage_metrics::OAUTH_COUNTERS
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), view.oauth.get(*name)?)))
        .collect();
    rows(&mut out, "OAuth", &oauth);
    let grants: Vec<_> = view.grants.iter().map(|(k, v)| (k.clone(), v)).collect();
    rows(&mut out, "Tokens by grant type", &grants);
    let clients: Vec<_> = view
        .machine_clients
        .iter()
        .map(|(k, v)| (k.clone(), v))
        .collect();
    if !clients.is_empty() {
        rows(
            &mut out,
            "client_credentials tokens by machine client",
            &clients,
        );
    }
    let failures: Vec<_> = view
        .sign_in_failures
        .iter()
        .map(|(k, v)| (k.clone(), v))
        .collect();
    rows(&mut out, "Sign-in failures by reason", &failures);

    out.push_str("\nAlarms\n");
    if view.alarms.is_empty() {
        out.push_str("  (none found)\n");
    }
    for alarm in &view.alarms {
        out.push_str(&format!("  {:<17}  {}\n", alarm.state, alarm.name));
        if alarm.state == "ALARM" && !alarm.reason.is_empty() {
            out.push_str(&format!("                     {}\n", alarm.reason));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_series_maximum() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 4.0]), "▁▃▅█");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}
