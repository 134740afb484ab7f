//! A stage's metrics over a time window, read back from CloudWatch: the handler's own (namespace
//! `mcpctl`, written as EMF in its log lines; names in `mcpctl_handler::metrics::names`) and the
//! state of the stack's alarms. `mcpctl metrics` prints them, `mcpctl status` sums them up.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::{
    primitives::DateTime,
    types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy},
};
use mcpctl_handler::metrics::{NAMESPACE, names};
use miette::miette;
use serde::Serialize;

/// The time window: `buckets` periods of `period_seconds` ending now.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Window {
    /// Start, epoch seconds (a multiple of the period).
    pub(crate) start: i64,
    /// End, epoch seconds.
    pub(crate) end: i64,
    /// Seconds per bucket (a multiple of 60, as CloudWatch wants).
    pub(crate) period_seconds: i64,
}

impl Window {
    /// About 30 buckets over the last `seconds`, ending at `now` (epoch seconds).
    pub(crate) fn last(seconds: i64, now: i64) -> Self {
        let seconds = seconds.max(60) as u64;
        // CloudWatch keeps 1-minute points for 15 days, 5-minute ones for 63, hourly after.
        let unit = match seconds {
            s if s > 63 * 86_400 => 3600,
            s if s > 15 * 86_400 => 300,
            _ => 60,
        };
        let period = ((seconds / 30).div_ceil(unit).max(1) * unit) as i64;
        let period_seconds = period;
        let end = (now / period_seconds + 1) * period_seconds;
        let buckets = seconds.div_ceil(period as u64) as i64;
        Self {
            start: end - buckets * period_seconds,
            end,
            period_seconds,
        }
    }

    fn buckets(&self) -> usize {
        ((self.end - self.start) / self.period_seconds) as usize
    }
}

/// One metric over the window: the total (or the statistic over the whole window) and a value
/// per bucket.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct Series {
    /// Sum over the window (for latency: the average, or the maximum).
    pub(crate) total: f64,
    /// One value per bucket, oldest first (0 where there was no data).
    pub(crate) points: Vec<f64>,
}

/// A tool's row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ToolRow {
    /// The tool (or `other`).
    pub(crate) tool: String,
    /// Calls.
    pub(crate) calls: Series,
    /// Calls whose result was an error.
    pub(crate) errors: Series,
    /// Mean latency in milliseconds over the window.
    pub(crate) latency_avg_ms: Option<f64>,
    /// Slowest call in milliseconds.
    pub(crate) latency_max_ms: Option<f64>,
}

/// An alarm of the stack and its state.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AlarmRow {
    /// Alarm name.
    pub(crate) name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub(crate) state: String,
    /// Why, as CloudWatch puts it.
    pub(crate) reason: String,
}

/// Everything `mcpctl metrics` shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StageMetrics {
    /// The stack.
    pub(crate) stack: String,
    /// The window.
    pub(crate) window: Window,
    /// Requests to /mcp, all methods.
    pub(crate) mcp_requests: Series,
    /// By MCP method.
    pub(crate) methods: BTreeMap<String, Series>,
    /// By tool.
    pub(crate) tools: Vec<ToolRow>,
    /// OAuth counters with no other dimension, by metric name.
    pub(crate) oauth: BTreeMap<String, Series>,
    /// Tokens issued, by grant type.
    pub(crate) grants: BTreeMap<String, Series>,
    /// Sign-in failures, by reason.
    pub(crate) sign_in_failures: BTreeMap<String, Series>,
    /// client_credentials tokens by machine client.
    pub(crate) machine_clients: BTreeMap<String, Series>,
    /// The stack's alarms.
    pub(crate) alarms: Vec<AlarmRow>,
}

impl StageMetrics {
    /// The alarms now in `ALARM`.
    pub(crate) fn firing(&self) -> impl Iterator<Item = &AlarmRow> {
        self.alarms.iter().filter(|a| a.state == "ALARM")
    }

    /// Tool calls and tool errors over all tools.
    pub(crate) fn tool_totals(&self) -> (f64, f64) {
        self.tools.iter().fold((0.0, 0.0), |(calls, errors), row| {
            (calls + row.calls.total, errors + row.errors.total)
        })
    }
}

/// The OAuth metrics that have only the Stack dimension, in display order.
pub(crate) const OAUTH_COUNTERS: [&str; 7] = [
    names::REGISTRATIONS,
    names::REGISTRATIONS_REFUSED,
    names::AUTHORIZATIONS,
    names::INVALID_GRANTS,
    names::REFRESH_REUSE,
    names::CIMD_FETCH_FAILURES,
    names::TOKEN_REJECTIONS,
];

/// A metric found by ListMetrics: its name and its dimensions other than Stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    name: String,
    dimensions: BTreeMap<String, String>,
}

/// Reads the stage's metrics and alarms for `window`.
pub(crate) async fn fetch(
    sdk: &SdkConfig,
    stack: &str,
    window: Window,
) -> miette::Result<StageMetrics> {
    let client = aws_sdk_cloudwatch::Client::new(sdk);
    let found = list(&client, stack).await?;
    let mut queries: Vec<(Found, &'static str)> = Vec::new();
    for metric in &found {
        if metric.name == names::TOOL_LATENCY {
            queries.push((metric.clone(), "Average"));
            queries.push((metric.clone(), "Maximum"));
        } else {
            queries.push((metric.clone(), "Sum"));
        }
    }
    let values = query(&client, stack, &queries, window).await?;
    let mut view = StageMetrics {
        stack: stack.to_owned(),
        window,
        mcp_requests: empty(window),
        methods: BTreeMap::new(),
        tools: Vec::new(),
        oauth: OAUTH_COUNTERS
            .iter()
            .map(|name| ((*name).to_owned(), empty(window)))
            .collect(),
        grants: BTreeMap::new(),
        sign_in_failures: BTreeMap::new(),
        machine_clients: BTreeMap::new(),
        alarms: alarms(&client, stack).await?,
    };
    let mut tools: BTreeMap<String, ToolRow> = BTreeMap::new();
    for ((metric, stat), series) in queries.iter().zip(values) {
        let dims = &metric.dimensions;
        let only = |key: &str| (dims.len() == 1).then(|| dims.get(key).cloned()).flatten();
        match metric.name.as_str() {
            names::MCP_REQUESTS if dims.is_empty() => view.mcp_requests = series,
            names::MCP_REQUESTS => {
                if let Some(method) = only(names::MCP_METHOD) {
                    view.methods.insert(method, series);
                }
            }
            names::TOOL_CALLS | names::TOOL_ERRORS | names::TOOL_LATENCY => {
                let Some(tool) = only(names::TOOL) else {
                    continue;
                };
                let row = tools.entry(tool.clone()).or_insert_with(|| ToolRow {
                    tool,
                    calls: empty(window),
                    errors: empty(window),
                    latency_avg_ms: None,
                    latency_max_ms: None,
                });
                match (metric.name.as_str(), *stat) {
                    (names::TOOL_CALLS, _) => row.calls = series,
                    (names::TOOL_ERRORS, _) => row.errors = series,
                    (_, "Average") => row.latency_avg_ms = Some(series.total),
                    _ => row.latency_max_ms = Some(series.total),
                }
            }
            names::TOKEN_GRANTS => {
                match (dims.get(names::GRANT_TYPE), dims.get(names::CLIENT_ID)) {
                    (Some(grant), None) if dims.len() == 1 => {
                        view.grants.insert(grant.clone(), series);
                    }
                    (Some(_), Some(client)) => {
                        view.machine_clients.insert(client.clone(), series);
                    }
                    _ => {}
                }
            }
            names::SIGN_IN_FAILURES => {
                if let Some(reason) = only(names::REASON) {
                    view.sign_in_failures.insert(reason, series);
                }
            }
            name if dims.is_empty() && OAUTH_COUNTERS.contains(&name) => {
                view.oauth.insert(name.to_owned(), series);
            }
            _ => {}
        }
    }
    view.tools = tools.into_values().collect();
    view.tools.sort_by(|a, b| {
        b.calls
            .total
            .total_cmp(&a.calls.total)
            .then(a.tool.cmp(&b.tool))
    });
    Ok(view)
}

fn empty(window: Window) -> Series {
    Series {
        total: 0.0,
        points: vec![0.0; window.buckets()],
    }
}

fn cloudwatch_error(what: &str, error: impl std::error::Error + 'static) -> miette::Report {
    miette!(
        help = "reading metrics needs cloudwatch:ListMetrics, cloudwatch:GetMetricData and cloudwatch:DescribeAlarms",
        "cannot {what}: {}",
        aws_sdk_cloudwatch::error::DisplayErrorContext(error)
    )
}

/// How many metrics of the namespace the stage has (each a billed custom metric); ListMetrics
/// lists those with data in the last two weeks.
pub(crate) async fn count(sdk: &SdkConfig, stack: &str) -> miette::Result<usize> {
    Ok(list(&aws_sdk_cloudwatch::Client::new(sdk), stack)
        .await?
        .len())
}

/// Every metric of the namespace whose Stack dimension is `stack`.
async fn list(client: &aws_sdk_cloudwatch::Client, stack: &str) -> miette::Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_metrics()
            .namespace(NAMESPACE)
            .dimensions(
                aws_sdk_cloudwatch::types::DimensionFilter::builder()
                    .name(names::STACK)
                    .value(stack)
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| cloudwatch_error("list the stage's metrics", e))?;
        for metric in page.metrics() {
            let mut dimensions: BTreeMap<String, String> = metric
                .dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                .collect();
            // The filter is applied here too: an emulator may ignore it.
            if dimensions.remove(names::STACK).as_deref() != Some(stack) {
                continue;
            }
            if let Some(name) = metric.metric_name() {
                found.push(Found {
                    name: name.to_owned(),
                    dimensions,
                });
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// GetMetricData for every query (500 per call, CloudWatch's limit), one series each.
async fn query(
    client: &aws_sdk_cloudwatch::Client,
    stack: &str,
    queries: &[(Found, &'static str)],
    window: Window,
) -> miette::Result<Vec<Series>> {
    let mut all = Vec::with_capacity(queries.len());
    for (chunk_index, chunk) in queries.chunks(500).enumerate() {
        let built: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(i, (found, stat))| {
                let mut dimensions =
                    vec![Dimension::builder().name(names::STACK).value(stack).build()];
                dimensions.extend(
                    found
                        .dimensions
                        .iter()
                        .map(|(k, v)| Dimension::builder().name(k).value(v).build()),
                );
                MetricDataQuery::builder()
                    .id(format!("q{chunk_index}_{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(
                                Metric::builder()
                                    .namespace(NAMESPACE)
                                    .metric_name(&found.name)
                                    .set_dimensions(Some(dimensions))
                                    .build(),
                            )
                            .period(window.period_seconds as i32)
                            .stat(*stat)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut by_id: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        let mut token = None;
        loop {
            let page = client
                .get_metric_data()
                .set_metric_data_queries(Some(built.clone()))
                .start_time(DateTime::from_secs(window.start))
                .end_time(DateTime::from_secs(window.end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| cloudwatch_error("read the stage's metrics", e))?;
            for result in page.metric_data_results() {
                let points = by_id
                    .entry(result.id().unwrap_or_default().to_owned())
                    .or_default();
                points.extend(
                    result
                        .timestamps()
                        .iter()
                        .map(|t| t.secs())
                        .zip(result.values().iter().copied()),
                );
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        for (i, (_, stat)) in chunk.iter().enumerate() {
            let points = by_id
                .remove(&format!("q{chunk_index}_{i}"))
                .unwrap_or_default();
            all.push(series(window, &points, stat));
        }
    }
    Ok(all)
}

/// Places `(timestamp, value)` points in the window's buckets; the total is the sum, or for
/// `Average` the mean of the buckets with data, for `Maximum` their maximum.
fn series(window: Window, points: &[(i64, f64)], stat: &str) -> Series {
    let mut buckets = vec![0.0; window.buckets()];
    for (time, value) in points {
        let index = (time - window.start) / window.period_seconds;
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) {
            *slot = *value;
        }
    }
    let values = points.iter().map(|(_, v)| *v);
    let total = match stat {
        "Average" if !points.is_empty() => values.sum::<f64>() / points.len() as f64,
        "Maximum" => values.fold(0.0, f64::max),
        "Average" => 0.0,
        _ => values.sum(),
    };
    Series {
        total,
        points: buckets,
    }
}

/// The stack's alarms (their names start with the stack name).
async fn alarms(client: &aws_sdk_cloudwatch::Client, stack: &str) -> miette::Result<Vec<AlarmRow>> {
    let mut rows = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .describe_alarms()
            .alarm_name_prefix(format!("{stack}-"))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| cloudwatch_error("read the stage's alarms", e))?;
        rows.extend(page.metric_alarms().iter().map(|alarm| {
            AlarmRow {
                name: alarm.alarm_name().unwrap_or_default().to_owned(),
                state: alarm
                    .state_value()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: alarm.state_reason().unwrap_or_default().to_owned(),
            }
        }));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_have_about_thirty_whole_minute_buckets() {
        let now = 1_800_000_123;
        let hour = Window::last(3600, now);
        assert_eq!(hour.period_seconds, 120);
        assert_eq!(hour.buckets(), 30);
        assert!(hour.end > now && hour.start <= now - 3600 + 120);
        let day = Window::last(86_400, now);
        assert_eq!(day.period_seconds, 2880);
        assert_eq!(Window::last(10, now).period_seconds, 60);
        assert_eq!(Window::last(30 * 86_400, now).period_seconds % 300, 0);
        assert_eq!(Window::last(90 * 86_400, now).period_seconds % 3600, 0);
    }

    #[test]
    fn points_land_in_their_buckets() {
        let window = Window {
            start: 0,
            end: 600,
            period_seconds: 120,
        };
        let sum = series(window, &[(0, 2.0), (240, 3.0)], "Sum");
        assert_eq!(sum.points, [2.0, 0.0, 3.0, 0.0, 0.0]);
        assert_eq!(sum.total, 5.0);
        assert_eq!(
            series(window, &[(0, 2.0), (240, 4.0)], "Average").total,
            3.0
        );
        assert_eq!(
            series(window, &[(0, 2.0), (240, 4.0)], "Maximum").total,
            4.0
        );
        assert_eq!(series(window, &[], "Average").total, 0.0);
    }
}
