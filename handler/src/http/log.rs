//! One structured JSON line per request: time, level, request id, method, path, status,
//! latency, and the client id, MCP method or grant type when the handler knew them. Handlers
//! report those through [`LogFields`] in the response extensions; nothing secret is ever put there.

use std::time::Instant;

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};

use crate::metrics::MetricsConfig;

/// Per-request facts a handler adds to the access log.
#[derive(Debug, Clone, Default)]
pub struct LogFields {
    /// OAuth client.
    pub client_id: Option<String>,
    /// JSON-RPC method of an MCP request.
    pub mcp_method: Option<String>,
    /// The tool a `tools/call` names.
    pub tool: Option<String>,
    /// The tool's metric dimension: its name when the server has it, else `other`.
    pub tool_dimension: Option<String>,
    /// Whether the tool's result was an error (`isError` or a JSON-RPC error).
    pub tool_error: bool,
    /// Token grant type.
    pub grant_type: Option<&'static str>,
    /// RFC error code of a failed request.
    pub error: Option<String>,
    /// Internal detail of a server error (never shown to clients; no secrets).
    pub detail: Option<String>,
}

impl LogFields {
    /// Attaches the fields to a response, merging with any already there.
    pub fn attach(self, response: &mut Response) {
        let merged = match response.extensions_mut().remove::<LogFields>() {
            Some(existing) => LogFields {
                client_id: self.client_id.or(existing.client_id),
                mcp_method: self.mcp_method.or(existing.mcp_method),
                tool: self.tool.or(existing.tool),
                tool_dimension: self.tool_dimension.or(existing.tool_dimension),
                tool_error: self.tool_error || existing.tool_error,
                grant_type: self.grant_type.or(existing.grant_type),
                error: self.error.or(existing.error),
                detail: self.detail.or(existing.detail),
            },
            None => self,
        };
        response.extensions_mut().insert(merged);
    }
}

/// A request id supplied by the host (the Lambda request id); generated otherwise.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A request id for hosts that supply none (`mcpctl dev`): process id and a counter. Not random
/// on purpose: the first use of the crypto RNG seeds its DRBG, which costs tens of milliseconds
/// of cold start on a request path that otherwise needs no randomness.
fn next_local_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// The response header naming the request, as its log lines do (`mcpctl logs --request-id`):
/// `response.headers()[mcpctl_handler::http::log::REQUEST_ID_HEADER]`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A request id a client may choose (it is echoed in a header and written to the log): short,
/// and of characters that can neither break a header nor forge a log field.
fn is_safe_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware writing the access log line, with the request's metrics when `metrics` is set
/// (crate::metrics), and answering with the request id.
pub async fn access_log(
    State(metrics): State<Option<Arc<MetricsConfig>>>,
    request: Request,
    next: Next,
) -> Response {
    logged(metrics.as_deref(), request, |request| next.run(request)).await
}

/// [`access_log`] around `inner`, for a layer of the crate's own that does more around the same
/// request (one middleware, so one boxed future per request instead of one per job).
pub(crate) async fn logged<F, Fut>(
    metrics: Option<&MetricsConfig>,
    request: Request,
    inner: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = match request.extensions().get::<RequestId>() {
        Some(id) => id.0.clone(),
        None => request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_safe_request_id(v))
            .map(str::to_owned)
            .unwrap_or_else(next_local_id),
    };
    let (mut response, events) = crate::metrics::scope(inner(request)).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let latency_ms = (start.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let status = response.status().as_u16();
    let error_level = status >= 500;
    let enabled = if error_level {
        tracing::enabled!(target: "mcpctl::request", tracing::Level::ERROR)
    } else {
        tracing::enabled!(target: "mcpctl::request", tracing::Level::INFO)
    };
    let Some(target) = LOG_TARGET.get().filter(|_| enabled) else {
        return response;
    };
    let default_fields = LogFields::default();
    let fields = response
        .extensions()
        .get::<LogFields>()
        .unwrap_or(&default_fields);
    let now = chrono::Utc::now();
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut metrics_fields = serde_json::Map::new();
    if let Some(metrics) = metrics {
        crate::metrics::append(
            &mut metrics_fields,
            metrics,
            &crate::metrics::RequestFacts {
                method: method.as_str(),
                route: &path,
                status,
                latency_ms,
                fields,
                events: &events,
            },
            now.timestamp_millis(),
        );
    }
    write_line(
        *target,
        &AccessLine {
            timestamp: &timestamp,
            level: if error_level { "ERROR" } else { "INFO" },
            message: "request",
            request_id: &request_id,
            method: method.as_str(),
            route: &path,
            status,
            latency_ms,
            client_id: fields.client_id.as_deref(),
            mcp_method: fields.mcp_method.as_deref(),
            tool: fields.tool.as_deref(),
            grant_type: fields.grant_type,
            error: fields.error.as_deref(),
            detail: fields.detail.as_deref(),
            metrics: metrics_fields,
        },
    );
    response
}

/// One access-log line. Serialized straight from borrowed fields: the line is written on every
/// request, so it builds no intermediate JSON tree.
#[derive(serde::Serialize)]
struct AccessLine<'a> {
    timestamp: &'a str,
    level: &'static str,
    message: &'static str,
    request_id: &'a str,
    method: &'a str,
    route: &'a str,
    status: u16,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    /// The request's CloudWatch metrics (EMF `_aws` and its values), when metrics are on.
    #[serde(flatten)]
    metrics: serde_json::Map<String, serde_json::Value>,
}

/// Where [`access_log`] writes: set by [`init_json_logging`]; without it there is no access log.
static LOG_TARGET: std::sync::OnceLock<LogTarget> = std::sync::OnceLock::new();

/// Writes one JSON line in a single write, so that lines of concurrent requests never interleave.
// The access line is written here rather than through `tracing`, because an EMF line needs the
// nested `_aws` object, which tracing's JSON fields (strings and numbers) cannot carry.
fn write_line(target: LogTarget, line: &AccessLine<'_>) {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(384);
    if serde_json::to_writer(&mut bytes, line).is_err() {
        return;
    }
    bytes.push(b'\n');
    let _ = match target {
        LogTarget::Stdout => std::io::stdout().lock().write_all(&bytes),
        LogTarget::Stderr => std::io::stderr().lock().write_all(&bytes),
    };
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (Lambda: CloudWatch).
    Stdout,
    /// Standard error (`mcpctl dev`, whose stdout carries data).
    Stderr,
}

/// Installs the JSON log format used on Lambda and by `mcpctl dev` (level from `RUST_LOG`, default
/// info), and turns the access log on.
pub fn init_json_logging(target: LogTarget) {
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};
    let _ = LOG_TARGET.set(target);
    let (filter, refused) = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let format = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(move || -> Box<dyn std::io::Write> {
            match target {
                LogTarget::Stdout => Box::new(std::io::stdout()),
                LogTarget::Stderr => Box::new(std::io::stderr()),
            }
        });
    if tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .try_init()
        .is_ok()
        && let Some(error) = refused
    {
        tracing::warn!(%error, "RUST_LOG is not understood; logging at {DEFAULT_LOG_FILTER}");
    }
}

/// The levels when `RUST_LOG` is unset: rmcp logs every request at info.
const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";

/// `RUST_LOG` as per-target levels (`info`, `my_crate=debug,rmcp=warn`), or the default with why
/// it was refused. A static `Targets` filter rather than `EnvFilter`: span and field directives
/// are the only thing lost, and with them the regex engine, about 150 KiB of every function zip.
fn log_filter(value: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    let default = || {
        DEFAULT_LOG_FILTER
            .parse()
            .unwrap_or_else(|_| tracing_subscriber::filter::Targets::new())
    };
    let refuse = |value: &str, why: String| {
        (
            default(),
            Some(format!(
                "`{value}`: {why} (expected `LEVEL` or `TARGET=LEVEL,...`; span and field filters are not supported)"
            )),
        )
    };
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (default(), None);
    };
    // `Targets` reads an empty directive (`info,`) as every target at TRACE, and keeps spaces and
    // span or field filters as part of a target name; so each directive is checked here first.
    let mut directives = Vec::new();
    for directive in value.split(',').map(str::trim) {
        if directive.is_empty() {
            continue;
        }
        if directive.contains(|c: char| c.is_whitespace() || "[]{}".contains(c)) {
            return refuse(value, format!("`{directive}` is not one directive"));
        }
        directives.push(directive);
    }
    if directives.is_empty() {
        return (default(), None);
    }
    match directives.join(",").parse() {
        Ok(filter) => (filter, None),
        Err(error) => refuse(value, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::log_filter;

    fn enabled(filter: &tracing_subscriber::filter::Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn unset_or_blank_rust_log_logs_info_with_rmcp_at_warn() {
        for value in [None, Some(""), Some("  ")] {
            let (filter, refused) = log_filter(value);
            assert!(refused.is_none());
            assert!(enabled(&filter, "mcpctl_handler", Level::INFO));
            assert!(!enabled(&filter, "mcpctl_handler", Level::DEBUG));
            assert!(enabled(&filter, "rmcp::service", Level::WARN));
            assert!(!enabled(&filter, "rmcp::service", Level::INFO));
        }
    }

    #[test]
    fn levels_per_target_are_taken_as_written() {
        let (filter, refused) = log_filter(Some("warn,my_tools=debug"));
        assert!(refused.is_none());
        assert!(enabled(&filter, "my_tools::search", Level::DEBUG));
        assert!(!enabled(&filter, "mcpctl_handler", Level::INFO));
        assert!(enabled(&filter, "mcpctl_handler", Level::WARN));
    }

    #[test]
    fn empty_directives_and_spaces_between_them_change_nothing() {
        for value in [
            "info,",
            ",info",
            "info,,",
            "info, rmcp=warn",
            " info ,rmcp=warn ",
        ] {
            let (filter, refused) = log_filter(Some(value));
            assert!(refused.is_none(), "{value}: {refused:?}");
            assert!(!enabled(&filter, "hyper::proto", Level::DEBUG), "{value}");
            assert!(!enabled(&filter, "rmcp::service", Level::DEBUG), "{value}");
            assert!(enabled(&filter, "mcpctl_handler", Level::INFO), "{value}");
        }
        let (filter, _) = log_filter(Some("info, rmcp=warn"));
        assert!(!enabled(&filter, "rmcp::service", Level::INFO));
        let (filter, refused) = log_filter(Some(","));
        assert!(refused.is_none());
        assert!(!enabled(&filter, "rmcp", Level::INFO));
    }

    #[test]
    fn span_and_field_filters_are_refused_not_ignored() {
        for value in [
            "my_tools[handle]=debug",
            "my_tools[{id}]=debug",
            "my tools=debug",
        ] {
            let (filter, refused) = log_filter(Some(value));
            let why = refused.unwrap_or_else(|| panic!("{value} was accepted"));
            assert!(why.contains("not supported"), "{why}");
            assert!(enabled(&filter, "mcpctl_handler", Level::INFO));
            assert!(!enabled(&filter, "my_tools", Level::DEBUG));
        }
    }

    #[test]
    fn a_value_that_does_not_parse_falls_back_to_the_default_and_says_why() {
        let (filter, refused) = log_filter(Some("rmcp=loud"));
        let why = refused.expect("refused");
        assert!(
            why.contains("`rmcp=loud`") && why.contains("TARGET=LEVEL"),
            "{why}"
        );
        assert!(enabled(&filter, "mcpctl_handler", Level::INFO));
        assert!(!enabled(&filter, "rmcp", Level::INFO));
    }
}
