//! The EMF part of an access log line: the `_aws` directive naming the metrics and their
//! dimensions, and their values as top-level fields (the EMF specification,
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).

use serde_json::{Map, Value, json};

use super::{Event, MetricsConfig, NAMESPACE, bounded, names};
use crate::http::log::LogFields;

/// What a request's metrics are made of: what the access log knows about it.
pub(crate) struct RequestFacts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path, relative to the public URL.
    pub route: &'a str,
    /// HTTP status.
    pub status: u16,
    /// Milliseconds from request to response.
    pub latency_ms: f64,
    /// What the handler reported.
    pub fields: &'a LogFields,
    /// Events recorded while it was served.
    pub events: &'a [Event],
}

/// One `CloudWatchMetrics` directive being built: its dimension sets and metric names.
struct Directive {
    dimensions: Vec<Vec<&'static str>>,
    metrics: Vec<(&'static str, &'static str)>,
}

impl Directive {
    fn new(dimensions: &[&[&'static str]]) -> Self {
        Self {
            dimensions: dimensions.iter().map(|set| set.to_vec()).collect(),
            metrics: Vec::new(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "Namespace": NAMESPACE,
            "Dimensions": self.dimensions,
            "Metrics": self.metrics.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
        })
    }
}

/// Adds the request's metrics to its log line (`line`), if it has any. `now_millis`: the EMF
/// timestamp.
pub(crate) fn append(
    line: &mut Map<String, Value>,
    config: &MetricsConfig,
    facts: &RequestFacts<'_>,
    now_millis: i64,
) {
    let mut directives: Vec<Directive> = Vec::new();
    let mut values = Map::new();
    let fields = facts.fields;
    let route = facts.route;
    let is = |suffix: &str| route == suffix || route.ends_with(suffix);
    let mut stack_only = Directive::new(&[&[names::STACK]]);

    // MCP: the requests that got past the bearer guard (they carry the caller's client id).
    if is("/mcp") && facts.method == "POST" && fields.client_id.is_some() {
        let mut methods = Directive::new(&[&[names::STACK, names::MCP_METHOD], &[names::STACK]]);
        methods.metrics.push((names::MCP_REQUESTS, "Count"));
        values.insert(
            names::MCP_METHOD.to_owned(),
            bounded::known_mcp_method(fields.mcp_method.as_deref()).into(),
        );
        count(&mut values, names::MCP_REQUESTS, 1);
        directives.push(methods);
    }
    if let Some(tool) = &fields.tool_dimension {
        let mut tools = Directive::new(&[&[names::STACK, names::TOOL], &[names::STACK]]);
        tools.metrics.extend([
            (names::TOOL_CALLS, "Count"),
            (names::TOOL_ERRORS, "Count"),
            (names::TOOL_LATENCY, "Milliseconds"),
        ]);
        let failed = fields.tool_error || facts.status >= 400 || fields.error.is_some();
        values.insert(names::TOOL.to_owned(), tool.clone().into());
        count(&mut values, names::TOOL_CALLS, 1);
        count(&mut values, names::TOOL_ERRORS, u64::from(failed));
        values.insert(names::TOOL_LATENCY.to_owned(), json!(facts.latency_ms));
        directives.push(tools);
    }
    if fields.error.as_deref() == Some("invalid_token") && (is("/mcp") || is("/oauth/userinfo")) {
        stack_only.metrics.push((names::TOKEN_REJECTIONS, "Count"));
        count(&mut values, names::TOKEN_REJECTIONS, 1);
    }

    // OAuth.
    if is("/dcr") && facts.method == "POST" {
        let name = if facts.status == 201 {
            names::REGISTRATIONS
        } else {
            names::REGISTRATIONS_REFUSED
        };
        stack_only.metrics.push((name, "Count"));
        count(&mut values, name, 1);
    }
    if is("/oauth/token") {
        if let (200, Some(grant)) = (facts.status, fields.grant_type) {
            let machine_client = fields
                .client_id
                .as_deref()
                .filter(|id| grant == "client_credentials" && is_plain_id(id));
            let mut sets: Vec<&[&'static str]> =
                vec![&[names::STACK, names::GRANT_TYPE], &[names::STACK]];
            if let Some(client_id) = machine_client {
                sets.push(&[names::STACK, names::GRANT_TYPE, names::CLIENT_ID]);
                values.insert(names::CLIENT_ID.to_owned(), client_id.into());
            }
            let mut grants = Directive::new(&sets);
            grants.metrics.push((names::TOKEN_GRANTS, "Count"));
            values.insert(names::GRANT_TYPE.to_owned(), grant.into());
            count(&mut values, names::TOKEN_GRANTS, 1);
            directives.push(grants);
        }
        if fields.error.as_deref() == Some("invalid_grant") {
            stack_only.metrics.push((names::INVALID_GRANTS, "Count"));
            count(&mut values, names::INVALID_GRANTS, 1);
        }
    }
    if is("/oauth/callback") && facts.status >= 400 {
        let mut sign_ins = Directive::new(&[&[names::STACK, names::REASON], &[names::STACK]]);
        sign_ins.metrics.push((names::SIGN_IN_FAILURES, "Count"));
        values.insert(
            names::REASON.to_owned(),
            bounded::sign_in_reason(fields.error.as_deref()).into(),
        );
        count(&mut values, names::SIGN_IN_FAILURES, 1);
        directives.push(sign_ins);
    }
    for event in facts.events {
        let name = match event {
            Event::Authorized => names::AUTHORIZATIONS,
            Event::RefreshReuse => names::REFRESH_REUSE,
            Event::CimdFetchFailed => names::CIMD_FETCH_FAILURES,
        };
        if !stack_only.metrics.iter().any(|(n, _)| *n == name) {
            stack_only.metrics.push((name, "Count"));
        }
        let n = values.get(name).and_then(Value::as_u64).unwrap_or(0) + 1;
        count(&mut values, name, n);
    }
    if !stack_only.metrics.is_empty() {
        directives.push(stack_only);
    }
    if directives.is_empty() {
        return;
    }
    values.insert(names::STACK.to_owned(), config.stack.clone().into());
    line.extend(values);
    line.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": now_millis,
            "CloudWatchMetrics": directives.iter().map(Directive::to_json).collect::<Vec<_>>(),
        }),
    );
}

fn count(values: &mut Map<String, Value>, name: &'static str, n: u64) {
    values.insert(name.to_owned(), Value::from(n));
}

/// A client id that is safe as a dimension value (operator-created ids are UUID-like).
fn is_plain_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emf(
        method: &str,
        route: &str,
        status: u16,
        fields: LogFields,
        events: &[Event],
    ) -> Map<String, Value> {
        let mut line = Map::new();
        append(
            &mut line,
            &MetricsConfig {
                stack: "mcpctl-dev".into(),
            },
            &RequestFacts {
                method,
                route,
                status,
                latency_ms: 12.5,
                fields: &fields,
                events,
            },
            1_700_000_000_000,
        );
        line
    }

    /// Every metric a directive names has a number, and every dimension a string (the EMF rules
    /// CloudWatch enforces: a line breaking them produces no metric at all).
    fn assert_valid(line: &Map<String, Value>) {
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        for directive in directives {
            assert_eq!(directive["Namespace"], NAMESPACE);
            for set in directive["Dimensions"].as_array().unwrap() {
                for dimension in set.as_array().unwrap() {
                    assert!(line[dimension.as_str().unwrap()].is_string(), "{dimension}");
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(
                    line[metric["Name"].as_str().unwrap()].is_number(),
                    "{metric}"
                );
            }
        }
    }

    #[test]
    fn a_tool_call_counts_the_method_the_tool_and_its_latency() {
        let line = emf(
            "POST",
            "/mcp",
            200,
            LogFields {
                client_id: Some("c1".into()),
                mcp_method: Some("tools/call".into()),
                tool: Some("echo".into()),
                tool_dimension: Some("echo".into()),
                tool_error: true,
                ..LogFields::default()
            },
            &[],
        );
        assert_valid(&line);
        assert_eq!(line["McpMethod"], "tools/call");
        assert_eq!(line["Tool"], "echo");
        assert_eq!(line["ToolCalls"], 1);
        assert_eq!(line["ToolErrors"], 1);
        assert_eq!(line["ToolLatency"], 12.5);
        assert_eq!(line["Stack"], "mcpctl-dev");
        // The client id is a log field, never a dimension of MCP metrics.
        assert!(!line.contains_key("ClientId"));
    }

    #[test]
    fn grants_carry_the_client_only_for_client_credentials() {
        let grant = |grant_type| LogFields {
            client_id: Some("machine-1".into()),
            grant_type: Some(grant_type),
            ..LogFields::default()
        };
        let line = emf(
            "POST",
            "/oauth/token",
            200,
            grant("client_credentials"),
            &[],
        );
        assert_valid(&line);
        assert_eq!(line["ClientId"], "machine-1");
        assert_eq!(line["GrantType"], "client_credentials");
        let line = emf("POST", "/oauth/token", 200, grant("refresh_token"), &[]);
        assert_valid(&line);
        assert!(!line.contains_key("ClientId"));
        let line = emf(
            "POST",
            "/oauth/token",
            400,
            LogFields {
                error: Some("invalid_grant".into()),
                ..grant("refresh_token")
            },
            &[Event::RefreshReuse],
        );
        assert_valid(&line);
        assert_eq!(line["InvalidGrants"], 1);
        assert_eq!(line["RefreshReuse"], 1);
        assert!(!line.contains_key("TokenGrants"));
    }

    #[test]
    fn oauth_events_and_refusals_are_counted() {
        let line = emf("POST", "/dcr", 201, LogFields::default(), &[]);
        assert_eq!(line["Registrations"], 1);
        let line = emf("POST", "/dcr", 401, LogFields::default(), &[]);
        assert_eq!(line["RegistrationsRefused"], 1);
        let line = emf(
            "GET",
            "/oauth/callback",
            403,
            LogFields {
                error: Some("user_not_allowed".into()),
                ..LogFields::default()
            },
            &[],
        );
        assert_valid(&line);
        assert_eq!(line["Reason"], "user_not_allowed");
        let line = emf(
            "GET",
            "/oauth/authorize",
            302,
            LogFields::default(),
            &[Event::Authorized],
        );
        assert_valid(&line);
        assert_eq!(line["Authorizations"], 1);
        let line = emf(
            "POST",
            "/mcp",
            401,
            LogFields {
                error: Some("invalid_token".into()),
                ..LogFields::default()
            },
            &[],
        );
        assert_valid(&line);
        assert_eq!(line["TokenRejections"], 1);
        assert!(!line.contains_key("McpRequests"));
    }

    #[test]
    fn a_request_with_nothing_to_count_gets_no_directive() {
        let line = emf(
            "GET",
            "/.well-known/jwks.json",
            200,
            LogFields::default(),
            &[],
        );
        assert!(line.is_empty());
    }
}
