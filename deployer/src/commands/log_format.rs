//! Renders the handler's JSON log lines for people: time, level (coloured on a terminal),
//! request id, method and route, status, latency, client, MCP method or grant type, message.
//! Lines that are not ours (Lambda's platform records, panics) are shown as they are.

use std::{io::IsTerminal, time::Duration};

use serde_json::Value;

/// Log levels, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Level {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

impl Level {
    fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_uppercase().as_str() {
            "TRACE" => Some(Self::Trace),
            "DEBUG" => Some(Self::Debug),
            "INFO" => Some(Self::Info),
            "WARN" | "WARNING" => Some(Self::Warn),
            "ERROR" | "FATAL" => Some(Self::Error),
            _ => None,
        }
    }
}

/// Whether to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    color: bool,
}

impl Style {
    /// Colour only on a terminal, and never with `NO_COLOR` set.
    pub(crate) fn for_stdout() -> Self {
        Self {
            color: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A log message, parsed when it is JSON.
pub(crate) enum Parsed {
    /// A JSON object.
    Json(serde_json::Map<String, Value>),
    /// Anything else.
    Text(String),
}

/// Parses one event message.
pub(crate) fn parse(message: &str) -> Parsed {
    match serde_json::from_str::<Value>(message.trim()) {
        Ok(Value::Object(map)) => Parsed::Json(map),
        _ => Parsed::Text(message.trim_end().to_owned()),
    }
}

fn field<'a>(map: &'a serde_json::Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| map.get(*n).filter(|v| !v.is_null()))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The client-side filters of `mcpctl logs`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Wanted<'a> {
    /// This level or more severe.
    pub(crate) level: Option<Level>,
    /// This request id.
    pub(crate) request_id: Option<&'a str>,
    /// This OAuth client.
    pub(crate) client_id: Option<&'a str>,
    /// Calls of this tool.
    pub(crate) tool: Option<&'a str>,
}

/// Whether an event passes the client-side filters. Non-JSON lines pass only when no
/// structured filter is set.
pub(crate) fn matches(parsed: &Parsed, wanted: &Wanted<'_>) -> bool {
    let Wanted {
        level,
        request_id,
        client_id,
        tool,
    } = *wanted;
    let Parsed::Json(map) = parsed else {
        return level.is_none() && request_id.is_none() && client_id.is_none() && tool.is_none();
    };
    if let Some(wanted) = tool
        && field(map, &["tool"]).map(text).as_deref() != Some(wanted)
    {
        return false;
    }
    if let Some(minimum) = level {
        let event_level = field(map, &["level"])
            .and_then(Value::as_str)
            .and_then(Level::parse);
        if event_level.is_none_or(|l| l < minimum) {
            return false;
        }
    }
    if let Some(wanted) = request_id
        && field(map, &["request_id", "requestId", "AWSRequestId"])
            .map(text)
            .as_deref()
            != Some(wanted)
    {
        return false;
    }
    if let Some(wanted) = client_id
        && field(map, &["client_id"]).map(text).as_deref() != Some(wanted)
    {
        return false;
    }
    true
}

/// RFC 3339 with milliseconds, UTC.
pub(crate) fn format_millis(millis: i64) -> String {
    let time =
        std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or_default());
    humantime::format_rfc3339_millis(time).to_string()
}

/// Epoch milliseconds of an RFC 3339 time.
pub(crate) fn parse_rfc3339_millis(value: &str) -> Option<i64> {
    let time = humantime::parse_rfc3339_weak(value).ok()?;
    i64::try_from(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()
}

/// One line for people.
pub(crate) fn render(parsed: &Parsed, timestamp_millis: i64, style: Style) -> String {
    let map = match parsed {
        Parsed::Json(map) => map,
        Parsed::Text(line) => {
            return format!(
                "{}  {line}",
                style.paint("2", &format_millis(timestamp_millis))
            );
        }
    };
    let time = field(map, &["timestamp", "time"])
        .and_then(Value::as_str)
        .map_or_else(|| format_millis(timestamp_millis), str::to_owned);
    let level_text = field(map, &["level"])
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_ascii_uppercase();
    let level = match Level::parse(&level_text) {
        Some(Level::Error) => style.paint("31;1", &format!("{level_text:<5}")),
        Some(Level::Warn) => style.paint("33", &format!("{level_text:<5}")),
        Some(Level::Info) => style.paint("32", &format!("{level_text:<5}")),
        _ => style.paint("2", &format!("{level_text:<5}")),
    };
    let mut parts = vec![style.paint("2", &time), level];
    if let Some(id) = field(map, &["request_id", "requestId"]).map(text) {
        parts.push(style.paint(
            "2",
            &format!("[{}]", id.chars().take(12).collect::<String>()),
        ));
    }
    let method = field(map, &["method"]).map(text);
    let route = field(map, &["route"]).map(text);
    if let (Some(method), Some(route)) = (&method, &route) {
        parts.push(format!("{method} {route}"));
    }
    if let Some(status) = field(map, &["status"]).map(text) {
        let painted = match status.parse::<u16>() {
            Ok(500..) => style.paint("31", &status),
            Ok(400..500) => style.paint("33", &status),
            _ => status,
        };
        parts.push(painted);
    }
    if let Some(latency) = field(map, &["latency_ms"]).and_then(Value::as_f64) {
        parts.push(format!("{latency:.2}ms"));
    }
    for (key, label) in [
        ("client_id", "client"),
        ("mcp_method", "mcp"),
        ("tool", "tool"),
        ("grant_type", "grant"),
        ("error", "error"),
        ("detail", "detail"),
    ] {
        if let Some(value) = field(map, &[key]).map(text) {
            parts.push(format!("{label}={value}"));
        }
    }
    let message = field(map, &["message", "msg"])
        .map(text)
        .unwrap_or_default();
    // Our access lines say just "request"; anything else (warnings, platform records) is shown.
    if method.is_none() || message != "request" {
        let rest: serde_json::Map<String, Value> = map
            .iter()
            .filter(|(k, _)| {
                ![
                    "timestamp",
                    "time",
                    "level",
                    "request_id",
                    "requestId",
                    "message",
                    "msg",
                ]
                .contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if method.is_none() && !rest.is_empty() {
            parts.push(
                format!("{message} {}", Value::Object(rest))
                    .trim()
                    .to_owned(),
            );
        } else if !message.is_empty() {
            parts.push(message);
        }
    }
    parts.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS: &str = r#"{"timestamp":"2026-11-21T07:00:00.123Z","level":"INFO","message":"request","request_id":"c6af9ac6-7b61-11e6","method":"POST","route":"/mcp","status":200,"latency_ms":1.234,"client_id":"abc","mcp_method":"tools/call","tool":"echo"}"#;

    #[test]
    fn access_lines_render_every_field() {
        let line = render(&parse(ACCESS), 0, Style { color: false });
        assert_eq!(
            line,
            "2026-11-21T07:00:00.123Z  INFO   [c6af9ac6-7b6]  POST /mcp  200  1.23ms  client=abc  mcp=tools/call  tool=echo"
        );
    }

    #[test]
    fn other_lines_are_kept() {
        let start = render(
            &parse("START RequestId: 1 Version: $LATEST"),
            0,
            Style { color: false },
        );
        assert_eq!(
            start,
            "1970-01-01T00:00:00.000Z  START RequestId: 1 Version: $LATEST"
        );
        let warning = render(
            &parse(
                r#"{"timestamp":"t","level":"WARN","message":"refresh token reuse detected","client_id":"x"}"#,
            ),
            0,
            Style { color: false },
        );
        assert!(
            warning.contains("WARN")
                && warning.contains("refresh token reuse detected")
                && warning.contains("client=x"),
            "{warning}"
        );
    }

    #[test]
    fn filters() {
        let parsed = parse(ACCESS);
        let wanted = |level, request_id, client_id, tool| Wanted {
            level,
            request_id,
            client_id,
            tool,
        };
        assert!(matches(
            &parsed,
            &wanted(Some(Level::Info), None, None, None)
        ));
        assert!(!matches(
            &parsed,
            &wanted(Some(Level::Error), None, None, None)
        ));
        assert!(matches(
            &parsed,
            &wanted(None, Some("c6af9ac6-7b61-11e6"), Some("abc"), Some("echo"))
        ));
        assert!(!matches(&parsed, &wanted(None, None, Some("other"), None)));
        assert!(!matches(&parsed, &wanted(None, None, None, Some("add"))));
        assert!(!matches(
            &parse("plain"),
            &wanted(Some(Level::Info), None, None, None)
        ));
        assert!(!matches(
            &parse("plain"),
            &wanted(None, None, None, Some("echo"))
        ));
        assert!(render(&parsed, 0, Style { color: false }).contains("tool=echo"));
    }
}
