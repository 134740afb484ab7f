//! Metrics of the OAuth traffic and of every tool, in CloudWatch Embedded Metric Format (EMF).
//!
//! No API call is made on the request path: the access log line of each request carries its
//! metrics (an `_aws` directive and the values), and CloudWatch Logs turns them into metrics in
//! the [`NAMESPACE`] namespace, each with the stack's name as the `Stack` dimension. The stack's
//! alarms and dashboard (templates/alarms.yaml, templates/dashboard.yaml) and `mcpctl metrics`
//! read them back by the names in [`names`].
//!
//! Every dimension value comes from a bounded set, so a stranger cannot create metrics (each
//! costs money per month) by sending made-up names: MCP methods outside the specification,
//! tools the server does not have, and unknown sign-in failure reasons are all counted as
//! `other`, and a client id is a dimension only for `client_credentials` grants, which only
//! operator-created clients can get.

mod bounded;
mod emf;
mod events;

pub use bounded::OTHER;
pub(crate) use bounded::tool_dimension;
pub(crate) use emf::{RequestFacts, append};
pub(crate) use events::Event;
pub(crate) use events::{record, scope};

/// The CloudWatch namespace of every metric the handler writes.
pub const NAMESPACE: &str = "mcpctl";

/// The environment variable naming the stack (the `Stack` dimension); the template sets it.
pub const STACK_VAR: &str = "MCP_STACK_NAME";

/// `MCP_METRICS`: `emf` writes metrics, `off` does not; unset, they are written on Lambda only.
pub const METRICS_VAR: &str = "MCP_METRICS";

/// Metric and dimension names, shared with the template's alarms and dashboard and with
/// `mcpctl metrics`.
pub mod names {
    /// Dimension: the stack (every metric has it).
    pub const STACK: &str = "Stack";
    /// Dimension: the MCP method of a request (`tools/call`, `initialize`, ... or `other`).
    pub const MCP_METHOD: &str = "McpMethod";
    /// Dimension: the tool of a `tools/call` (or `other`).
    pub const TOOL: &str = "Tool";
    /// Dimension: the grant type of a token request.
    pub const GRANT_TYPE: &str = "GrantType";
    /// Dimension: why a sign-in failed.
    pub const REASON: &str = "Reason";
    /// Dimension: the client of a `client_credentials` grant (operator-created clients only).
    pub const CLIENT_ID: &str = "ClientId";

    /// Requests to `/mcp` that reached the server, by MCP method.
    pub const MCP_REQUESTS: &str = "McpRequests";
    /// `tools/call` requests, by tool.
    pub const TOOL_CALLS: &str = "ToolCalls";
    /// `tools/call` requests whose result was an error: `isError` or a JSON-RPC error of an own
    /// server; for a gateway, an upstream that failed, timed out or answered an HTTP error (an
    /// upstream's own `isError` is passed through uncounted).
    pub const TOOL_ERRORS: &str = "ToolErrors";
    /// Milliseconds a `tools/call` took, by tool.
    pub const TOOL_LATENCY: &str = "ToolLatency";
    /// Clients registered at `/dcr`.
    pub const REGISTRATIONS: &str = "Registrations";
    /// Registrations refused at `/dcr` (closed registration, bad metadata, rate of strangers).
    pub const REGISTRATIONS_REFUSED: &str = "RegistrationsRefused";
    /// Authorization codes issued (a person approved a client).
    pub const AUTHORIZATIONS: &str = "Authorizations";
    /// Tokens issued at `/oauth/token`, by grant type.
    pub const TOKEN_GRANTS: &str = "TokenGrants";
    /// Token requests refused with `invalid_grant` (bad or replayed codes and refresh tokens).
    pub const INVALID_GRANTS: &str = "InvalidGrants";
    /// Refresh tokens presented again after rotation: the grant family was revoked.
    pub const REFRESH_REUSE: &str = "RefreshReuse";
    /// Client ID Metadata Documents that could not be fetched or were invalid.
    pub const CIMD_FETCH_FAILURES: &str = "CimdFetchFailures";
    /// Sign-ins that failed, by reason.
    pub const SIGN_IN_FAILURES: &str = "SignInFailures";
    /// Bearer tokens refused (`invalid_token`) at `/mcp` and `/oauth/userinfo`.
    pub const TOKEN_REJECTIONS: &str = "TokenRejections";
}

/// Where metrics go and what they are tagged with.
///
/// ```
/// use mcpctl_handler::metrics::MetricsConfig;
///
/// let env = |name: &str| match name {
///     "MCP_METRICS" => Some("emf".to_owned()),
///     "MCP_STACK_NAME" => Some("mcpctl-prod".to_owned()),
///     _ => None,
/// };
/// assert_eq!(MetricsConfig::from_env(env).unwrap().stack, "mcpctl-prod");
/// assert_eq!(MetricsConfig::from_env(|_| None), None); // off outside Lambda
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// The value of the `Stack` dimension.
    pub stack: String,
}

impl MetricsConfig {
    /// From the environment: [`METRICS_VAR`] and [`STACK_VAR`]. On Lambda without a stack name
    /// (a function deployed by hand), the function name stands in for it.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let on_lambda = lookup("AWS_LAMBDA_FUNCTION_NAME").filter(|v| !v.is_empty());
        let wanted = match lookup(METRICS_VAR).as_deref().map(str::trim) {
            Some("emf") => true,
            Some("off") => false,
            _ => on_lambda.is_some(),
        };
        if !wanted {
            return None;
        }
        let stack = lookup(STACK_VAR)
            .filter(|v| !v.trim().is_empty())
            .or(on_lambda)
            .unwrap_or_else(|| "local".to_owned());
        Some(Self { stack })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn metrics_are_on_on_lambda_and_where_asked_for() {
        assert_eq!(MetricsConfig::from_env(env(&[])), None);
        assert_eq!(
            MetricsConfig::from_env(env(&[
                ("AWS_LAMBDA_FUNCTION_NAME", "mcpctl-dev-mcp"),
                (STACK_VAR, "mcpctl-dev")
            ])),
            Some(MetricsConfig {
                stack: "mcpctl-dev".into()
            })
        );
        assert_eq!(
            MetricsConfig::from_env(env(&[("AWS_LAMBDA_FUNCTION_NAME", "fn")]))
                .unwrap()
                .stack,
            "fn"
        );
        assert_eq!(
            MetricsConfig::from_env(env(&[
                ("AWS_LAMBDA_FUNCTION_NAME", "fn"),
                (METRICS_VAR, "off")
            ])),
            None
        );
        assert_eq!(
            MetricsConfig::from_env(env(&[(METRICS_VAR, "emf")]))
                .unwrap()
                .stack,
            "local"
        );
    }
}
