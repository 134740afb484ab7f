//! What a deployed stage measured over a window, for the estimate: per function `AWS/Lambda`
//! `Invocations` (Sum) and `Duration` (Average), the stage's `AWS/ApiGateway` `Count` (Sum),
//! how many metrics the handler writes (namespace mcpctl), and the tables' stored bytes.
//! One GetMetricData call with one period spanning the whole window: CloudWatch's Average over
//! one period is the mean over every invocation, not a mean of bucket means.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::{
    primitives::DateTime,
    types::{Dimension, Metric, MetricDataQuery, MetricStat},
};
use thiserror::Error;

use super::{
    estimate::{FunctionStats, Measurements},
    inventory::Inventory,
};

/// Reading the measurements failed.
#[derive(Debug, Error)]
pub(crate) enum MeasureError {
    /// A CloudWatch call failed.
    #[error("cannot {what}: {reason}")]
    CloudWatch {
        /// What was being read.
        what: &'static str,
        /// CloudWatch's reason.
        reason: String,
    },
}

/// The window of a measurement: `seconds` ending at `end` (epoch seconds), as one period that
/// CloudWatch accepts for data that old (1-minute data is kept 15 days, 5-minute 63, then hourly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Start, epoch seconds.
    pub(crate) start: i64,
    /// End, epoch seconds.
    pub(crate) end: i64,
}

impl Span {
    /// The last `seconds` before `end`, widened to a whole period CloudWatch accepts.
    pub(crate) fn last(seconds: i64, end: i64) -> Self {
        let unit = match seconds {
            s if s > 63 * 86_400 => 3600,
            s if s > 15 * 86_400 => 300,
            _ => 60,
        };
        let period = (seconds.max(60) as u64).div_ceil(unit) * unit;
        Self {
            start: end - period as i64,
            end,
        }
    }

    /// Its length, seconds.
    pub(crate) fn seconds(&self) -> i64 {
        self.end - self.start
    }
}

fn cloudwatch_error(what: &'static str, error: impl std::error::Error + 'static) -> MeasureError {
    MeasureError::CloudWatch {
        what,
        reason: aws_sdk_cloudwatch::error::DisplayErrorContext(error).to_string(),
    }
}

/// One query: an id, a namespace, a metric, dimensions, a statistic.
struct Query {
    id: String,
    namespace: &'static str,
    metric: &'static str,
    dimensions: Vec<(&'static str, String)>,
    stat: &'static str,
}

/// Reads the stage's measurements over `span`; `api_stage` is the config's `stage`, the REST
/// API's stage name (the API is `<stack>-api`).
pub(crate) async fn measure(
    sdk: &SdkConfig,
    stack: &str,
    api_stage: &str,
    inventory: &Inventory,
    span: Span,
) -> Result<Measurements, MeasureError> {
    let client = aws_sdk_cloudwatch::Client::new(sdk);
    let mut queries = Vec::new();
    for (i, function) in inventory.functions.iter().enumerate() {
        let name = function.role.function_name(stack);
        for (metric, stat) in [("Invocations", "Sum"), ("Duration", "Average")] {
            queries.push(Query {
                id: format!("{}{i}", metric.to_lowercase()),
                namespace: "AWS/Lambda",
                metric,
                dimensions: vec![("FunctionName", name.clone())],
                stat,
            });
        }
    }
    queries.push(Query {
        id: "api".into(),
        namespace: "AWS/ApiGateway",
        metric: "Count",
        dimensions: vec![
            ("ApiName", format!("{stack}-api")),
            ("Stage", api_stage.to_owned()),
        ],
        stat: "Sum",
    });
    let values = query(&client, &queries, span).await?;
    let value = |id: &str| values.get(id).copied();
    let mut functions = BTreeMap::new();
    for (i, function) in inventory.functions.iter().enumerate() {
        functions.insert(
            function.role,
            FunctionStats {
                invocations: value(&format!("invocations{i}")).unwrap_or(0.0),
                average_ms: value(&format!("duration{i}")),
            },
        );
    }
    Ok(Measurements {
        observed_seconds: span.seconds() as f64,
        functions,
        api_requests: value("api"),
        custom_metrics: Some(crate::stage_metrics::count(sdk, stack).await.map_err(|e| {
            MeasureError::CloudWatch {
                what: "list the stage's metrics",
                reason: e.to_string(),
            }
        })? as u32),
    })
}

/// GetMetricData with one period over the span: per query id, the statistic over the whole span
/// (none without data).
async fn query(
    client: &aws_sdk_cloudwatch::Client,
    queries: &[Query],
    span: Span,
) -> Result<BTreeMap<String, f64>, MeasureError> {
    let built: Vec<MetricDataQuery> = queries
        .iter()
        .map(|q| {
            MetricDataQuery::builder()
                .id(&q.id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace(q.namespace)
                                .metric_name(q.metric)
                                .set_dimensions(Some(
                                    q.dimensions
                                        .iter()
                                        .map(|(k, v)| {
                                            Dimension::builder().name(*k).value(v).build()
                                        })
                                        .collect(),
                                ))
                                .build(),
                        )
                        .period(span.seconds() as i32)
                        .stat(q.stat)
                        .build(),
                )
                .return_data(true)
                .build()
        })
        .collect();
    let mut points: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut token = None;
    loop {
        let page = client
            .get_metric_data()
            .set_metric_data_queries(Some(built.clone()))
            .start_time(DateTime::from_secs(span.start))
            .end_time(DateTime::from_secs(span.end))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| cloudwatch_error("read the stage's Lambda and API Gateway metrics", e))?;
        for result in page.metric_data_results() {
            points
                .entry(result.id().unwrap_or_default().to_owned())
                .or_default()
                .extend(result.values().iter().copied());
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    // One period, so one value; an emulator or a boundary may split it: sum the sums, and
    // average the averages (the periods are then of about equal weight).
    Ok(queries
        .iter()
        .filter_map(|q| {
            let values = points.get(&q.id).filter(|v| !v.is_empty())?;
            let sum: f64 = values.iter().sum();
            Some((
                q.id.clone(),
                if q.stat == "Average" {
                    sum / values.len() as f64
                } else {
                    sum
                },
            ))
        })
        .collect())
}
