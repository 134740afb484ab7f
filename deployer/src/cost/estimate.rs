//! The monthly estimate itself, as a pure function of the stack's inventory, what CloudWatch
//! measured (if anything), the calls per month asked for, and a price table; no I/O, so tests
//! drive it with exact numbers.
//!
//! The unit of traffic is the MCP call: one POST /mcp, which is one API Gateway request and one
//! invocation of the MCP function. Everything else is scaled per MCP call, from the measured
//! ratios when the stage had MCP traffic in the window, else from the assumptions below.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    inventory::{Gateway, Inventory, Role},
    prices::Prices,
};
use crate::stage::config::Architecture;

/// Seconds in the month the estimate is for (30 days).
pub(crate) const MONTH_SECONDS: f64 = 30.0 * 86_400.0;

/// MCP calls per month when there is neither a flag nor measured traffic.
pub(crate) const DEFAULT_CALLS_PER_MONTH: u64 = 100_000;

/// Auth-function requests per MCP call, when not measured. A client refreshes its access token
/// about once per token lifetime (an hour by default) and calls many times in between; one OAuth
/// request per hundred calls is a busy client's order of magnitude.
pub(crate) const ASSUMED_AUTH_PER_CALL: f64 = 0.01;

/// Authorizer invocations per MCP call, when not measured: every call a cache miss, an upper
/// bound. API Gateway caches the authorizer's answer per token for 300 s
/// (`AuthorizerResultTtlInSeconds` in templates/api.yaml), so a client calling often with one
/// token invokes it at most once per five minutes.
pub(crate) const ASSUMED_AUTHORIZER_PER_CALL: f64 = 1.0;

/// The `upstream.function` is invoked once for each MCP call the gateway forwards.
pub(crate) const ASSUMED_UPSTREAM_PER_CALL: f64 = 1.0;

/// Average durations (ms) when not measured (a new stage).
/// auth: a refresh grant, three DynamoDB round trips and an ES256 signature;
/// mcp: the token verified in memory (no I/O, handler/src/http/mcp_guard.rs) and an
/// in-process tool; mcp as a gateway to `upstream.url`: billed while it waits for the upstream;
/// authorizer: one ES256 verification, no I/O (handler/src/lambda/authorizer.rs);
/// upstream: a small server behind the Lambda Web Adapter.
pub(crate) fn assumed_duration_ms(role: Role, gateway: Option<Gateway>) -> f64 {
    match (role, gateway) {
        (Role::Auth, _) => 40.0,
        (Role::Mcp, Some(Gateway::Url)) => 250.0,
        (Role::Mcp, Some(Gateway::Function)) => 120.0,
        (Role::Mcp, None) => 15.0,
        (Role::Authorizer, _) => 5.0,
        (Role::Upstream, _) => 100.0,
    }
}

/// DynamoDB request units of one auth-function request, taken as a refresh grant, the
/// steady-state OAuth request (handler/src/oauth/token.rs, handler/src/store/dynamo.rs): a
/// strongly consistent GetItem of the client (1 RRU), TransactGetItems of token + family (2
/// items × 2 RRU: transactional reads cost double), and TransactWriteItems marking the old token,
/// putting its successor and extending the family (3 items × 2 WRU). Items are under 1 KB. Other
/// auth requests (discovery, the authorization page) use fewer units: an upper bound.
/// MCP calls touch no table: the MCP function and the authorizer verify tokens locally.
pub(crate) const RRU_PER_AUTH_REQUEST: f64 = 5.0;
/// See [`RRU_PER_AUTH_REQUEST`].
pub(crate) const WRU_PER_AUTH_REQUEST: f64 = 6.0;

/// Stored bytes of the OAuth tables (clients, codes, refresh tokens) when not measured: a few
/// thousand items under 1 KB each, with TTLs expiring codes and tokens.
pub(crate) const ASSUMED_TABLE_STORAGE_GB: f64 = 0.01;

/// The handler's own metrics (namespace mcpctl, EMF in its access lines) when not measured:
/// McpRequests overall and per method, ToolCalls/ToolErrors/ToolLatency overall and per tool
/// (a handful of tools), the seven OAuth counters, tokens per grant type.
pub(crate) const ASSUMED_CUSTOM_METRICS: u32 = 30;

/// Share of invocations that are cold starts, each reading a key secret once (GetSecretValue,
/// handler/src/lambda/keys.rs): the auth function's signing key, the gateway's assertion key.
pub(crate) const ASSUMED_COLD_START_RATE: f64 = 0.01;

/// CloudWatch Logs bills each event with 26 bytes of overhead (the PutLogEvents accounting).
const LOG_EVENT_OVERHEAD_BYTES: f64 = 26.0;
/// Lambda's platform lines per invocation in the JSON log format (LoggingConfig LogFormat JSON in
/// templates/functions.yaml): `platform.start` (~120 B) and `platform.report` (~280 B).
const PLATFORM_LOG_BYTES: f64 = 400.0;
/// Events of [`PLATFORM_LOG_BYTES`].
const PLATFORM_LOG_EVENTS: f64 = 2.0;
/// With X-Ray the report carries the trace and segment ids.
const TRACING_LOG_BYTES: f64 = 80.0;
/// API Gateway's access log line: the 18-field JSON of AccessLogSetting in templates/api.yaml
/// with typical values is ~470 B; user agents vary.
const API_ACCESS_LOG_BYTES: f64 = 500.0;
/// Bytes per GB as CloudWatch Logs and DynamoDB bill them (decimal).
const BYTES_PER_GB: f64 = 1e9;
/// X-Ray's default sampling rule: the first request each second, then 5% of the rest.
const XRAY_RESERVOIR_PER_SECOND: f64 = 1.0;
/// See [`XRAY_RESERVOIR_PER_SECOND`].
const XRAY_FIXED_RATE: f64 = 0.05;

/// The bytes a function writes to its log group per invocation besides Lambda's platform
/// lines: one access line (handler/src/http/log.rs, with EMF metrics: ~700 B) for auth and mcp;
/// one decision line (~250 B) for the authorizer; the upstream server's own, unknown (~200 B).
fn handler_log_bytes(role: Role) -> f64 {
    match role {
        Role::Auth | Role::Mcp => 700.0,
        Role::Authorizer => 250.0,
        Role::Upstream => 200.0,
    }
}

/// Where a figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Basis {
    /// The stage configuration and its template.
    Config,
    /// A command-line flag.
    Flag,
    /// CloudWatch, over the window.
    Measured,
    /// A documented assumption (no data).
    Assumed,
}

impl Basis {
    /// The word printed next to a figure.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Flag => "flag",
            Self::Measured => "measured",
            Self::Assumed => "assumed",
        }
    }
}

/// A number and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Figure {
    /// The value.
    pub(crate) value: f64,
    /// Its basis.
    pub(crate) basis: Basis,
}

impl Figure {
    fn new(value: f64, basis: Basis) -> Self {
        Self { value, basis }
    }
}

/// One function's numbers from CloudWatch over the window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub(crate) struct FunctionStats {
    /// `AWS/Lambda` `Invocations`, Sum.
    pub(crate) invocations: f64,
    /// `AWS/Lambda` `Duration`, Average over the window (ms); none without data.
    pub(crate) average_ms: Option<f64>,
}

/// What CloudWatch said about a deployed stage.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub(crate) struct Measurements {
    /// Seconds the figures cover (the window, or less when the stack is younger).
    pub(crate) observed_seconds: f64,
    /// Per function.
    pub(crate) functions: BTreeMap<Role, FunctionStats>,
    /// `AWS/ApiGateway` `Count`, Sum, for the stage.
    pub(crate) api_requests: Option<f64>,
    /// Metrics of the stage in namespace mcpctl (ListMetrics: those with data in two weeks).
    pub(crate) custom_metrics: Option<u32>,
}

/// A function's part of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FunctionUsage {
    /// Which function.
    pub(crate) role: Role,
    /// Memory, MB.
    pub(crate) memory_mb: u32,
    /// Architecture.
    pub(crate) architecture: Architecture,
    /// Invocations per MCP call.
    pub(crate) invocations_per_call: Figure,
    /// Average duration, ms.
    pub(crate) average_ms: Figure,
    /// Billed ms per invocation: the average rounded up to the millisecond, as Lambda bills.
    pub(crate) billed_ms: f64,
    /// Invocations per month.
    pub(crate) invocations: f64,
    /// GB-seconds per month.
    pub(crate) gb_seconds: f64,
}

/// One row of the bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LineItem {
    /// AWS service.
    pub(crate) service: &'static str,
    /// What is billed.
    pub(crate) item: String,
    /// How much per month.
    pub(crate) quantity: f64,
    /// The unit of `quantity`.
    pub(crate) unit: &'static str,
    /// Price in USD per `price_per` units.
    pub(crate) unit_price_usd: f64,

    /// How many units the price is for (1, 10 000, 1 000 000).
    pub(crate) price_per: f64,
    /// USD per month.
    pub(crate) monthly_usd: f64,
    /// The weakest basis of its inputs.
    pub(crate) basis: Basis,
    /// Paid whatever the traffic (resources that exist).
    pub(crate) fixed: bool,
}

/// The whole estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Estimate {
    /// MCP calls per month.
    pub(crate) calls_per_month: Figure,
    /// API Gateway requests per MCP call (MCP calls plus OAuth requests).
    pub(crate) api_requests_per_call: Figure,
    /// Per function.
    pub(crate) functions: Vec<FunctionUsage>,
    /// The bill.
    pub(crate) line_items: Vec<LineItem>,
    /// USD per month.
    pub(crate) total_usd: f64,
    /// The part paid whatever the traffic.
    pub(crate) fixed_usd: f64,
    /// Total per 1000 MCP calls (none for zero calls).
    pub(crate) per_1k_calls_usd: Option<f64>,
    /// What 1000 more MCP calls add (the total without the fixed part).
    pub(crate) marginal_per_1k_calls_usd: Option<f64>,
    /// Every assumption the figures rest on, in words.
    pub(crate) assumptions: Vec<String>,
}

/// Estimates a month of `inventory` at `calls_per_month` (or the measured rate, or the default).
pub(crate) fn estimate(
    inventory: &Inventory,
    measured: Option<&Measurements>,
    calls_per_month: Option<u64>,
    prices: &Prices,
) -> Estimate {
    let mut notes = Vec::new();
    let stats = |role| measured.and_then(|m| m.functions.get(&role)).copied();
    let mcp = stats(Role::Mcp).filter(|s| s.invocations > 0.0);
    // Ratios per MCP call are measured only over a window with MCP traffic.
    let mcp_invocations = mcp.map(|s| s.invocations);
    let calls = match (calls_per_month, mcp_invocations, measured) {
        (Some(n), _, _) => Figure::new(n as f64, Basis::Flag),
        (None, Some(n), Some(m)) if m.observed_seconds > 0.0 => {
            notes.push(format!(
                "calls per month: {n} MCP function invocations in {} extrapolated to 30 days",
                human_seconds(m.observed_seconds)
            ));
            Figure::new(n * MONTH_SECONDS / m.observed_seconds, Basis::Measured)
        }
        _ => {
            notes.push(format!(
                "calls per month: no MCP traffic measured and no --calls-per-month, so {DEFAULT_CALLS_PER_MONTH} (the default)"
            ));
            Figure::new(DEFAULT_CALLS_PER_MONTH as f64, Basis::Assumed)
        }
    };

    let mut functions = Vec::new();
    for function in &inventory.functions {
        let role = function.role;
        let own = stats(role);
        let per_call = match (role, mcp_invocations, own) {
            (Role::Mcp, _, _) => Figure::new(1.0, Basis::Config),
            (_, Some(mcp), Some(own)) => Figure::new(own.invocations / mcp, Basis::Measured),
            (Role::Auth, ..) => Figure::new(ASSUMED_AUTH_PER_CALL, Basis::Assumed),
            (Role::Authorizer, ..) => Figure::new(ASSUMED_AUTHORIZER_PER_CALL, Basis::Assumed),
            (Role::Upstream, ..) => Figure::new(ASSUMED_UPSTREAM_PER_CALL, Basis::Assumed),
        };
        let average = match own
            .filter(|s| s.invocations > 0.0)
            .and_then(|s| s.average_ms)
        {
            Some(ms) => Figure::new(ms, Basis::Measured),
            None => Figure::new(assumed_duration_ms(role, inventory.gateway), Basis::Assumed),
        };
        let billed_ms = average.value.ceil();
        let invocations = calls.value * per_call.value;
        functions.push(FunctionUsage {
            role,
            memory_mb: function.memory_mb,
            architecture: function.architecture,
            invocations_per_call: per_call,
            average_ms: average,
            billed_ms,
            invocations,
            gb_seconds: invocations * billed_ms / 1000.0 * f64::from(function.memory_mb) / 1024.0,
        });
    }
    if functions
        .iter()
        .any(|f| f.invocations_per_call.basis == Basis::Assumed)
    {
        notes.push(format!(
            "invocations per MCP call where not measured: auth {ASSUMED_AUTH_PER_CALL} (a token refresh per hundred calls), authorizer {ASSUMED_AUTHORIZER_PER_CALL} (every call a cache miss: an upper bound, the result is cached 300 s per token), upstream {ASSUMED_UPSTREAM_PER_CALL}"
        ));
    }
    if functions
        .iter()
        .any(|f| f.average_ms.basis == Basis::Assumed)
    {
        let assumed: Vec<String> = functions
            .iter()
            .filter(|f| f.average_ms.basis == Basis::Assumed)
            .map(|f| format!("{} {} ms", f.role.as_str(), f.average_ms.value))
            .collect();
        notes.push(format!(
            "durations without data: {} (Duration excludes cold-start init, which Lambda also bills)",
            assumed.join(", ")
        ));
    }
    let per_call_of = |role| {
        functions
            .iter()
            .find(|f| f.role == role)
            .map_or(Figure::new(0.0, Basis::Config), |f| f.invocations_per_call)
    };
    let auth = per_call_of(Role::Auth);
    let api_per_call = match (mcp_invocations, measured.and_then(|m| m.api_requests)) {
        (Some(mcp), Some(count)) => Figure::new(count / mcp, Basis::Measured),
        // Every auth-function request comes through the API too.
        _ => Figure::new(1.0 + auth.value, auth.basis.max(Basis::Config)),
    };
    let api_requests = calls.value * api_per_call.value;
    let traffic_basis = |other: Basis| calls.basis.max(other);

    let mut items = Vec::new();
    for f in &functions {
        let price = match f.architecture {
            Architecture::Arm64 => prices.lambda_gb_second_arm64,
            Architecture::X86_64 => prices.lambda_gb_second_x86_64,
        };
        items.push(LineItem {
            service: "Lambda",
            item: format!(
                "{} compute ({}, {} MB, {} ms)",
                f.role.as_str(),
                f.architecture.as_str(),
                f.memory_mb,
                f.billed_ms
            ),
            quantity: f.gb_seconds,
            unit: "GB-s",
            unit_price_usd: price,
            price_per: 1.0,
            monthly_usd: f.gb_seconds * price,
            basis: traffic_basis(f.average_ms.basis.max(f.invocations_per_call.basis)),
            fixed: false,
        });
    }
    let invocations: f64 = functions.iter().map(|f| f.invocations).sum();
    let weakest_per_call = functions
        .iter()
        .map(|f| f.invocations_per_call.basis)
        .max()
        .unwrap_or(Basis::Config);
    items.push(per_million(
        "Lambda",
        "requests (all functions)".into(),
        invocations,
        "requests",
        prices.lambda_per_million_requests,
        traffic_basis(weakest_per_call),
    ));
    items.push(per_million(
        "API Gateway",
        "REST API requests".into(),
        api_requests,
        "requests",
        prices.rest_api_per_million_requests,
        traffic_basis(api_per_call.basis),
    ));
    let auth_requests = calls.value * auth.value;
    items.push(per_million(
        "DynamoDB",
        format!("on-demand reads ({RRU_PER_AUTH_REQUEST} RRU per OAuth request)"),
        auth_requests * RRU_PER_AUTH_REQUEST,
        "RRU",
        prices.dynamodb_per_million_rru,
        traffic_basis(auth.basis),
    ));
    items.push(per_million(
        "DynamoDB",
        format!("on-demand writes ({WRU_PER_AUTH_REQUEST} WRU per OAuth request)"),
        auth_requests * WRU_PER_AUTH_REQUEST,
        "WRU",
        prices.dynamodb_per_million_wru,
        traffic_basis(auth.basis),
    ));
    notes.push(format!(
        "DynamoDB storage: {ASSUMED_TABLE_STORAGE_GB} GB over the {} tables",
        inventory.tables
    ));
    let (storage_gb, storage_basis) = (ASSUMED_TABLE_STORAGE_GB, Basis::Assumed);
    items.push(fixed(
        "DynamoDB",
        format!("storage, {} tables", inventory.tables),
        storage_gb,
        "GB-month",
        prices.dynamodb_storage_gb_month,
        storage_basis,
    ));
    items.push(fixed(
        "DynamoDB",
        "point-in-time recovery".into(),
        storage_gb,
        "GB-month",
        prices.dynamodb_pitr_gb_month,
        storage_basis,
    ));

    // Logs: each function's platform and handler lines, and the API's access log line.
    let tracing_bytes = if inventory.tracing {
        TRACING_LOG_BYTES
    } else {
        0.0
    };
    let function_log_bytes: f64 = functions
        .iter()
        .map(|f| {
            f.invocations
                * (PLATFORM_LOG_BYTES
                    + tracing_bytes
                    + handler_log_bytes(f.role)
                    + (PLATFORM_LOG_EVENTS + 1.0) * LOG_EVENT_OVERHEAD_BYTES)
        })
        .sum();
    let log_gb = (function_log_bytes
        + api_requests * (API_ACCESS_LOG_BYTES + LOG_EVENT_OVERHEAD_BYTES))
        / BYTES_PER_GB;
    // The line sizes are estimates, whatever the traffic's basis.
    let log_basis = Basis::Assumed;
    items.push(LineItem {
        service: "CloudWatch Logs",
        item: "ingestion".into(),
        quantity: log_gb,
        unit: "GB",
        unit_price_usd: prices.logs_ingestion_per_gb,
        price_per: 1.0,
        monthly_usd: log_gb * prices.logs_ingestion_per_gb,
        basis: log_basis,
        fixed: false,
    });
    notes.push(format!(
        "log bytes per invocation: Lambda platform lines {PLATFORM_LOG_BYTES} B{}, access line 700 B (auth, mcp), 250 B (authorizer); API access log {API_ACCESS_LOG_BYTES} B per request; {LOG_EVENT_OVERHEAD_BYTES} B per event",
        if inventory.tracing {
            format!(" + {TRACING_LOG_BYTES} B with tracing")
        } else {
            String::new()
        }
    ));
    // At steady state a log group holds `retention` days of logs (uncompressed: an upper bound).
    let stored_gb = log_gb * f64::from(inventory.log_retention_days) / 30.0;
    items.push(LineItem {
        service: "CloudWatch Logs",
        item: format!(
            "storage ({} days retention, steady state)",
            inventory.log_retention_days
        ),
        quantity: stored_gb,
        unit: "GB-month",
        unit_price_usd: prices.logs_storage_gb_month,
        price_per: 1.0,
        monthly_usd: stored_gb * prices.logs_storage_gb_month,
        basis: log_basis,
        fixed: false,
    });

    items.push(fixed(
        "CloudWatch",
        format!("alarms ({} alarms)", inventory.alarms),
        f64::from(inventory.alarm_metrics),
        "alarm metrics",
        prices.alarm_metric_month,
        Basis::Config,
    ));
    items.push(fixed(
        "CloudWatch",
        "dashboard".into(),
        f64::from(inventory.dashboards),
        "dashboards",
        prices.dashboard_month,
        Basis::Config,
    ));
    let (metrics, metrics_basis) = match measured.and_then(|m| m.custom_metrics).filter(|n| *n > 0)
    {
        Some(n) => (n, Basis::Measured),
        None => {
            notes.push(format!(
                "custom metrics (namespace mcpctl): {ASSUMED_CUSTOM_METRICS}, none measured"
            ));
            (ASSUMED_CUSTOM_METRICS, Basis::Assumed)
        }
    };
    items.push(fixed(
        "CloudWatch",
        "custom metrics (EMF, namespace mcpctl)".into(),
        f64::from(metrics),
        "metrics",
        prices.custom_metric_month,
        metrics_basis,
    ));

    items.push(fixed(
        "Secrets Manager",
        "key secrets".into(),
        f64::from(inventory.secrets),
        "secrets",
        prices.secret_month,
        Basis::Config,
    ));
    // The signing key is read by the auth function, the gateway key by the MCP function.
    let secret_readers: f64 = functions
        .iter()
        .filter(|f| f.role == Role::Auth || (f.role == Role::Mcp && inventory.gateway.is_some()))
        .map(|f| f.invocations)
        .sum();
    items.push(metered(
        "Secrets Manager",
        format!(
            "GetSecretValue at cold starts ({}% of invocations)",
            ASSUMED_COLD_START_RATE * 100.0
        ),
        secret_readers * ASSUMED_COLD_START_RATE,
        "calls",
        (prices.secrets_per_10k_calls, 10_000.0),
        Basis::Assumed,
    ));
    if inventory.kms_signing {
        items.push(fixed(
            "KMS",
            "signing key (signing: kms)".into(),
            1.0,
            "keys",
            prices.kms_key_month,
            Basis::Config,
        ));
        // One kms:Sign per access token; every auth request counted as one (an upper bound:
        // discovery and registrations sign nothing).
        if let Some(auth) = functions.iter().find(|f| f.role == Role::Auth) {
            items.push(metered(
                "KMS",
                "Sign, one per access token (at most one per auth request)".into(),
                auth.invocations,
                "requests",
                (prices.kms_asymmetric_per_10k, 10_000.0),
                traffic_basis(auth.invocations_per_call.basis),
            ));
        }
    }
    if inventory.tracing {
        // Traffic spread evenly over the month, each API request one trace.
        let reservoir = XRAY_RESERVOIR_PER_SECOND * MONTH_SECONDS;
        let traces =
            api_requests.min(reservoir) + XRAY_FIXED_RATE * (api_requests - reservoir).max(0.0);
        items.push(per_million(
            "X-Ray",
            "traces recorded (default sampling: 1/s + 5%)".into(),
            traces,
            "traces",
            prices.xray_per_million_traces,
            traffic_basis(api_per_call.basis),
        ));
    }
    items.push(LineItem {
        service: "SNS",
        item: "alarm topic (e-mail notifications within the free 1000)".into(),
        quantity: 1.0,
        unit: "topics",
        unit_price_usd: 0.0,
        price_per: 1.0,
        monthly_usd: 0.0,
        basis: Basis::Config,
        fixed: true,
    });
    notes.push(
        "list prices, free tier not subtracted; data transfer out and your tools' own AWS use not included".into(),
    );

    let total: f64 = items.iter().map(|i| i.monthly_usd).sum();
    let fixed_usd: f64 = items
        .iter()
        .filter(|i| i.fixed)
        .map(|i| i.monthly_usd)
        .sum();
    let per_1k = |usd: f64| (calls.value > 0.0).then(|| usd / calls.value * 1000.0);
    Estimate {
        calls_per_month: calls,
        api_requests_per_call: api_per_call,
        functions,
        total_usd: total,
        fixed_usd,
        per_1k_calls_usd: per_1k(total),
        marginal_per_1k_calls_usd: per_1k(total - fixed_usd),
        line_items: items,
        assumptions: notes,
    }
}

fn per_million(
    service: &'static str,
    item: String,
    quantity: f64,
    unit: &'static str,
    price: f64,
    basis: Basis,
) -> LineItem {
    metered(service, item, quantity, unit, (price, 1e6), basis)
}

/// A line billed by use: `price` USD per `per` units.
fn metered(
    service: &'static str,
    item: String,
    quantity: f64,
    unit: &'static str,
    (price, per): (f64, f64),
    basis: Basis,
) -> LineItem {
    LineItem {
        service,
        item,
        quantity,
        unit,
        unit_price_usd: price,
        price_per: per,
        monthly_usd: quantity / per * price,
        basis,
        fixed: false,
    }
}

fn fixed(
    service: &'static str,
    item: String,
    quantity: f64,
    unit: &'static str,
    price: f64,
    basis: Basis,
) -> LineItem {
    LineItem {
        service,
        item,
        quantity,
        unit,
        unit_price_usd: price,
        price_per: 1.0,
        monthly_usd: quantity * price,
        basis,
        fixed: true,
    }
}

/// `7 d`, `36 h`, `90 min`.
pub(crate) fn human_seconds(seconds: f64) -> String {
    if seconds >= 2.0 * 86_400.0 && (seconds % 86_400.0) == 0.0 {
        format!("{} d", seconds / 86_400.0)
    } else if seconds >= 7200.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.0} min", seconds / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::inventory::Function;

    fn inventory(architecture: Architecture, tracing: bool) -> Inventory {
        let function = |role| Function {
            role,
            memory_mb: 512,
            architecture,
        };
        Inventory {
            functions: vec![
                function(Role::Auth),
                function(Role::Mcp),
                function(Role::Authorizer),
            ],
            gateway: None,
            tables: 3,
            log_groups: 5,
            alarms: 20,
            alarm_metrics: 33,
            dashboards: 1,
            secrets: 1,
            tracing,
            kms_signing: false,
            log_retention_days: 30,
        }
    }

    fn measured() -> Measurements {
        let stats = |invocations, ms| FunctionStats {
            invocations,
            average_ms: Some(ms),
        };
        Measurements {
            observed_seconds: 7.0 * 86_400.0,
            functions: BTreeMap::from([
                (Role::Auth, stats(70.0, 39.2)),
                (Role::Mcp, stats(7000.0, 11.5)),
                (Role::Authorizer, stats(700.0, 3.1)),
            ]),
            api_requests: Some(7070.0),
            custom_metrics: Some(20),
        }
    }

    fn item<'a>(estimate: &'a Estimate, prefix: &str) -> &'a LineItem {
        estimate
            .line_items
            .iter()
            .find(|i| format!("{} {}", i.service, i.item).starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}"))
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn signing_kms_adds_the_key_and_a_sign_per_token() {
        let plain = estimate(
            &inventory(Architecture::Arm64, false),
            None,
            Some(1_000_000),
            &crate::cost::prices::US_EAST_1,
        );
        assert!(plain.line_items.iter().all(|i| i.service != "KMS"));
        let mut kms_inventory = inventory(Architecture::Arm64, false);
        kms_inventory.kms_signing = true;
        let e = estimate(
            &kms_inventory,
            None,
            Some(1_000_000),
            &crate::cost::prices::US_EAST_1,
        );
        assert!(close(item(&e, "KMS signing key").monthly_usd, 1.0));
        let signs = item(&e, "KMS Sign");
        let tokens = 1_000_000.0 * ASSUMED_AUTH_PER_CALL;
        assert!(close(signs.quantity, tokens));
        assert!(close(signs.monthly_usd, tokens / 10_000.0 * 0.15));
        assert!(close(
            e.total_usd - plain.total_usd,
            1.0 + tokens / 10_000.0 * 0.15
        ));
    }

    #[test]
    fn measured_traffic_is_extrapolated_and_priced_exactly() {
        let e = estimate(
            &inventory(Architecture::Arm64, false),
            Some(&measured()),
            None,
            &crate::cost::prices::US_EAST_1,
        );
        // 7000 calls in 7 days: 30000 in 30.
        assert_eq!(e.calls_per_month, Figure::new(30_000.0, Basis::Measured));
        let mcp = &e.functions[1];
        assert_eq!(mcp.billed_ms, 12.0);
        // 30000 × 0.012 s × 0.5 GB = 180 GB-s.
        assert!(close(mcp.gb_seconds, 180.0), "{}", mcp.gb_seconds);
        assert!(close(
            item(&e, "Lambda mcp").monthly_usd,
            180.0 * 0.000_013_333_4
        ));
        assert_eq!(
            e.functions[2].invocations_per_call,
            Figure::new(0.1, Basis::Measured)
        );
        // 3000 + 300 + 30000 invocations.
        assert!(close(item(&e, "Lambda requests").quantity, 33_300.0));
        assert!(close(
            item(&e, "API Gateway").monthly_usd,
            30_300.0 / 1e6 * 3.5
        ));
        // 300 refresh grants: 1500 RRU, 1800 WRU.
        assert!(close(item(&e, "DynamoDB on-demand reads").quantity, 1500.0));
        assert!(close(
            item(&e, "DynamoDB on-demand writes").monthly_usd,
            1800.0 / 1e6 * 0.625
        ));
        assert!(close(item(&e, "CloudWatch alarms").monthly_usd, 3.3));
        assert!(close(item(&e, "CloudWatch custom").monthly_usd, 6.0));
        // Logs: auth 300 × 1178 B, mcp 30000 × 1178 B, authorizer 3000 × 728 B, API 30300 × 526 B.
        let bytes = 300.0 * 1178.0 + 30_000.0 * 1178.0 + 3000.0 * 728.0 + 30_300.0 * 526.0;
        assert!(close(
            item(&e, "CloudWatch Logs ingestion").quantity,
            bytes / 1e9
        ));
        assert!(!e.line_items.iter().any(|i| i.service == "X-Ray"));
        let total: f64 = e.line_items.iter().map(|i| i.monthly_usd).sum();
        assert!(close(e.total_usd, total));
        assert!(close(
            e.per_1k_calls_usd.unwrap_or_default(),
            total / 30_000.0 * 1000.0
        ));
    }

    #[test]
    fn x86_costs_more_per_gb_second_and_tracing_adds_traces() {
        let prices = &crate::cost::prices::US_EAST_1;
        let arm = estimate(
            &inventory(Architecture::Arm64, false),
            None,
            Some(100_000),
            prices,
        );
        let x86 = estimate(
            &inventory(Architecture::X86_64, true),
            None,
            Some(100_000),
            prices,
        );
        assert_eq!(arm.calls_per_month, Figure::new(100_000.0, Basis::Flag));
        // Assumed 15 ms at 512 MB: 100000 × 0.015 × 0.5 = 750 GB-s.
        assert!(close(item(&arm, "Lambda mcp").quantity, 750.0));
        assert!(close(
            item(&x86, "Lambda mcp").monthly_usd,
            750.0 * 0.000_016_666_7
        ));
        assert_eq!(item(&arm, "Lambda mcp").basis, Basis::Assumed);
        // 101000 API requests, all under the 1/s reservoir.
        assert!(close(
            item(&x86, "X-Ray").monthly_usd,
            101_000.0 / 1e6 * 5.0
        ));
        assert!(!arm.line_items.iter().any(|i| i.service == "X-Ray"));
    }

    #[test]
    fn without_traffic_or_flag_the_default_is_assumed_and_said() {
        let e = estimate(
            &inventory(Architecture::Arm64, false),
            Some(&Measurements {
                observed_seconds: 86_400.0,
                ..Measurements::default()
            }),
            None,
            &crate::cost::prices::US_EAST_1,
        );
        assert_eq!(
            e.calls_per_month,
            Figure::new(DEFAULT_CALLS_PER_MONTH as f64, Basis::Assumed)
        );
        assert!(
            e.assumptions
                .iter()
                .any(|n| n.contains("100000 (the default)"))
        );
        let zero = estimate(
            &inventory(Architecture::Arm64, false),
            None,
            Some(0),
            &crate::cost::prices::US_EAST_1,
        );
        assert_eq!(zero.per_1k_calls_usd, None);
        assert!(close(zero.total_usd, zero.fixed_usd));
    }

    #[test]
    fn a_gateway_to_a_url_waits_for_the_upstream() {
        let mut gateway = inventory(Architecture::Arm64, false);
        gateway.gateway = Some(Gateway::Url);
        gateway.secrets = 2;
        let e = estimate(
            &gateway,
            None,
            Some(10_000),
            &crate::cost::prices::US_EAST_1,
        );
        // 10000 × 0.25 s × 0.5 GB.
        assert!(close(item(&e, "Lambda mcp").quantity, 1250.0));
        assert!(close(item(&e, "Secrets Manager key").monthly_usd, 0.8));
        // Cold starts of auth (100) and the gateway (10000) read a key: 1% of 10100.
        assert!(close(
            item(&e, "Secrets Manager GetSecretValue").quantity,
            101.0
        ));
    }
}
