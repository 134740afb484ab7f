//! `mcpctl cost`: a stage's monthly AWS cost, estimated from its configuration, the template it
//! deploys and the durations and traffic CloudWatch measured over a window (default 7 days).
//! A stage that is not deployed (or `--no-measure`) is estimated from the configuration alone,
//! with every duration and ratio assumed and marked so: an estimate before the first deploy is
//! the point of the command. AWS errors other than "not deployed" fail, with the fix.

use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};
use serde::Serialize;

use crate::{
    cli::OutputFormat,
    commands::logs::{Since, parse_since},
    cost::{
        estimate::{self, Estimate, Figure, Measurements},
        inventory::Inventory,
        measure::{self, Span},
        prices,
    },
    project::ProjectArgs,
    stage::{self, TemplateSource},
    target::AwsArgs,
};

/// CloudWatch keeps metrics 15 months (455 days).
const MAX_WINDOW_SECONDS: i64 = 455 * 86_400;

/// Arguments of `mcpctl cost`.
#[derive(Debug, clap::Args)]
pub(crate) struct CostArgs {
    /// The stage.
    #[arg(long, env = "MCPCTL_STAGE")]
    pub(crate) stage: String,
    /// MCP calls (POST /mcp requests) per month to estimate for. Default: the measured rate over
    /// --since, extrapolated to 30 days; without traffic, 100000.
    #[arg(long, value_name = "N", value_parser = parse_calls, allow_hyphen_values = true)]
    pub(crate) calls_per_month: Option<u64>,
    /// The window measured: a duration (24h, 7d, 30d) or an RFC 3339 time, at least a minute.
    #[arg(long, default_value = "7d", value_parser = parse_window, allow_hyphen_values = true)]
    pub(crate) since: Since,
    /// Estimate from the configuration alone: no AWS access, every duration and ratio assumed.
    #[arg(long)]
    pub(crate) no_measure: bool,
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

/// `--calls-per-month`: a whole number, 0 or more (`_` and `,` may group digits).
pub(crate) fn parse_calls(value: &str) -> Result<u64, String> {
    let trimmed = value.trim();
    if trimmed.starts_with('-') {
        return Err(format!(
            "`{trimmed}` is negative; give the MCP calls per month as a whole number, 0 or more (e.g. 100000)"
        ));
    }
    let digits: String = trimmed
        .chars()
        .filter(|c| !matches!(c, '_' | ','))
        .collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{trimmed}` is not a number of calls; give a whole number, 0 or more (e.g. 100000)"
        ));
    }
    digits
        .parse()
        .map_err(|_| format!("`{trimmed}` is too large; give at most {}", u64::MAX))
}

/// `--since`: a window of at least a minute, at most the 15 months CloudWatch keeps.
pub(crate) fn parse_window(value: &str) -> Result<Since, String> {
    if value.trim().parse::<f64>().is_ok() {
        return Err(format!(
            "`{}` has no unit; give a duration of at least a minute, e.g. 24h or 7d",
            value.trim()
        ));
    }
    let since = parse_since(value)?;
    let seconds = window_seconds(since, now());
    if seconds < 60 {
        return Err(format!(
            "`{}` is {}; measure over at least a minute (e.g. 24h or 7d)",
            value.trim(),
            if seconds <= 0 {
                "an empty window (or in the future)"
            } else {
                "shorter than a minute"
            }
        ));
    }
    if seconds > MAX_WINDOW_SECONDS {
        return Err(format!(
            "`{}` is longer than the 15 months CloudWatch keeps metrics; use at most 455d",
            value.trim()
        ));
    }
    Ok(since)
}

fn now() -> i64 {
    i64::try_from(mcpctl_handler::clock::Clock::now(
        &mcpctl_handler::clock::SystemClock,
    ))
    .unwrap_or(i64::MAX)
}

fn window_seconds(since: Since, now: i64) -> i64 {
    match since {
        Since::Ago(duration) => i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        Since::At(millis) => now - millis / 1000,
    }
}

/// Whether and how the stage was measured.
#[derive(Debug, Serialize)]
struct Measured {
    /// Whether the stack exists (none: not asked, `--no-measure`).
    deployed: Option<bool>,
    /// The account's region, when AWS was asked.
    region: Option<String>,
    /// The window asked for, seconds.
    window_seconds: Option<i64>,
    /// The seconds the measurements cover (the window, or the stack's age if younger).
    observed_seconds: Option<i64>,
    /// What CloudWatch said.
    measurements: Option<Measurements>,
}

/// The JSON document.
#[derive(Debug, Serialize)]
struct Report<'a> {
    stack: &'a str,
    stage: &'a str,
    #[serde(flatten)]
    measured: &'a Measured,
    inventory: &'a Inventory,
    #[serde(flatten)]
    estimate: &'a Estimate,
    prices_source: &'static str,
    prices: prices::Prices,
}

pub(crate) async fn run(args: CostArgs) -> miette::Result<ExitCode> {
    let (config_dir, _) = args.project.for_missing(args.config_dir.as_deref(), None)?;
    let config = stage::load(&config_dir, &args.stage, &stage::env_overrides())?;
    let rendered = stage::render(&config, &TemplateSource::Embedded)?;
    let inventory = Inventory::of(&config, &rendered.template);
    let mut notes = Vec::new();
    let measured = if args.no_measure {
        notes.push("not measured (--no-measure): durations and ratios assumed".to_owned());
        Measured {
            deployed: None,
            region: None,
            window_seconds: None,
            observed_seconds: None,
            measurements: None,
        }
    } else {
        measure_stage(&config, &args, &inventory, &mut notes).await?
    };
    if let Some(region) = measured
        .region
        .as_deref()
        .or(config.region.as_deref())
        .filter(|r| *r != "us-east-1")
    {
        notes.push(format!(
            "priced at us-east-1 list prices; the stage is in {region}, whose prices differ"
        ));
    }
    let mut estimate = estimate::estimate(
        &inventory,
        measured.measurements.as_ref(),
        args.calls_per_month,
        &prices::US_EAST_1,
    );
    notes.append(&mut estimate.assumptions);
    estimate.assumptions = notes;
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Report {
                stack: &config.stack_name,
                stage: &config.name,
                measured: &measured,
                inventory: &inventory,
                estimate: &estimate,
                prices_source: prices::SOURCE,
                prices: prices::US_EAST_1,
            })
            .into_diagnostic()?
        ),
        OutputFormat::Text => print!("{}", render(&config.stack_name, &config.name, &estimate)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the stack and its metrics; a stage that is not deployed gives no measurements and a note.
async fn measure_stage(
    config: &stage::config::StageConfig,
    args: &CostArgs,
    inventory: &Inventory,
    notes: &mut Vec<String>,
) -> miette::Result<Measured> {
    let window = window_seconds(args.since, now());
    let (sdk, stack, identity) = match crate::deploy::stage_stack(config, &args.aws).await {
        Ok(found) => found,
        Err(error)
            if error
                .code()
                .is_some_and(|c| c.to_string() == "not_deployed") =>
        {
            notes.push(format!(
                "{error}: estimated from the configuration alone (durations and ratios assumed)"
            ));
            return Ok(Measured {
                deployed: Some(false),
                region: None,
                window_seconds: Some(window),
                observed_seconds: None,
                measurements: None,
            });
        }
        Err(error) => {
            let help = error
                .help()
                .map_or_else(String::new, |help| format!("{help}; "));
            return Err(miette!(
                help = format!("{help}or estimate from the configuration alone with --no-measure"),
                "cannot measure the stage: {error}"
            ));
        }
    };
    // A stack younger than the window was measured only since it exists: extrapolating over the
    // whole window would understate its traffic.
    let age = stack
        .creation_time()
        .map(|created| now() - created.secs())
        .filter(|age| *age > 0);
    let observed = age.map_or(window, |age| window.min(age.max(60)));
    if observed < window {
        notes.push(format!(
            "the stack is {}, younger than the window: measured over its lifetime",
            estimate::human_seconds(observed as f64)
        ));
    }
    let span = Span::last(observed, now());
    let measurements = measure::measure(&sdk, &config.stack_name, &config.stage, inventory, span)
        .await
        .map_err(|error| {
            miette!(
                help = "reading the measurements needs cloudwatch:GetMetricData and cloudwatch:ListMetrics; or estimate from the configuration alone with --no-measure",
                "{error}"
            )
        })?;
    Ok(Measured {
        deployed: Some(true),
        region: Some(identity.region),
        window_seconds: Some(window),
        observed_seconds: Some(span.seconds()),
        measurements: Some(measurements),
    })
}

/// A quantity, readable: whole above 100, else up to four decimals.
fn number(value: f64) -> String {
    if value == 0.0 {
        "0".to_owned()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// A price without trailing zeros: `$0.20`, `$0.0000133334`.
fn price(value: f64) -> String {
    let text = format!("{value:.10}");
    let text = text.trim_end_matches('0');
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    format!("${whole}.{fraction:0<2}")
}

fn per(amount: f64) -> &'static str {
    if amount == 1e6 {
        "1M "
    } else if amount == 1e4 {
        "10k "
    } else {
        ""
    }
}

fn figure(figure: &Figure) -> String {
    format!("{} ({})", number(figure.value), figure.basis.as_str())
}

/// The text view.
pub(crate) fn render(stack: &str, stage: &str, estimate: &Estimate) -> String {
    let mut out = format!(
        "{stack} (stage {stage}): estimated monthly cost at {} MCP calls per month ({})\n\n",
        number(estimate.calls_per_month.value),
        estimate.calls_per_month.basis.as_str()
    );
    let rows: Vec<[String; 6]> = estimate
        .line_items
        .iter()
        .map(|item| {
            [
                item.service.to_owned(),
                item.item.clone(),
                format!("{} {}", number(item.quantity), item.unit),
                format!(
                    "{}/{}{}",
                    price(item.unit_price_usd),
                    per(item.price_per),
                    item.unit
                ),
                format!("{:.4}", item.monthly_usd),
                item.basis.as_str().to_owned(),
            ]
        })
        .collect();
    let header = [
        "service",
        "item",
        "quantity",
        "unit price",
        "USD/month",
        "basis",
    ]
    .map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 6]| {
        format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        )
    };
    out.push_str(&line(&header));
    for row in &rows {
        out.push_str(&line(row));
    }
    let label_width = widths[0] + widths[1] + widths[2] + widths[3] + 6;
    out.push_str(&format!(
        "{:<label_width$}  {:>w4$}\n",
        "total",
        format!("{:.2}", estimate.total_usd),
        w4 = widths[4]
    ));
    match (
        estimate.per_1k_calls_usd,
        estimate.marginal_per_1k_calls_usd,
    ) {
        (Some(per_1k), Some(marginal)) => out.push_str(&format!(
            "per 1000 MCP calls: ${per_1k:.4} (${marginal:.4} above the ${:.2} paid whatever the traffic)\n",
            estimate.fixed_usd
        )),
        _ => out.push_str(&format!(
            "no calls: ${:.2} paid whatever the traffic\n",
            estimate.fixed_usd
        )),
    }
    out.push_str("\nFunctions (per MCP call, average duration, invocations per month)\n");
    for f in &estimate.functions {
        out.push_str(&format!(
            "  {:<10}  {:>18} per call  {:>18} ms  {:>10}\n",
            f.role.as_str(),
            figure(&f.invocations_per_call),
            figure(&f.average_ms),
            number(f.invocations)
        ));
    }
    out.push_str(&format!(
        "  API requests per MCP call: {}\n",
        figure(&estimate.api_requests_per_call)
    ));
    out.push_str("\nAssumptions\n");
    for note in &estimate.assumptions {
        out.push_str(&format!("  - {note}\n"));
    }
    out.push_str(&format!("\nPrices: {}\n", prices::SOURCE));
    out
}
