//! What the gateway forwards to and under which limits, read from the environment the stack sets
//! (docs/stack.md, "Gateway mode") or built by `mcpctl dev --upstream`.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use url::Url;

/// Errors in the gateway's configuration.
#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    /// Both or neither of the two targets.
    #[error(
        "set exactly one of MCP_UPSTREAM_URL and MCP_UPSTREAM_FUNCTION (the stack sets one from `upstream:`)"
    )]
    Target,
    /// The upstream URL is not an http(s) URL.
    #[error("MCP_UPSTREAM_URL `{0}` is not an http:// or https:// URL")]
    Url(String),
    /// A function target without an audience.
    #[error(
        "MCP_UPSTREAM_AUDIENCE is required with MCP_UPSTREAM_FUNCTION (the upstream checks `aud` against it)"
    )]
    Audience,
    /// The upstream is this server itself.
    #[error("the upstream `{0}` is this server's own /mcp: the gateway would call itself")]
    Loop(String),
    /// A number out of range.
    #[error("{name} is `{value}`; expected a whole number from {min} to {max}")]
    Number {
        /// The variable.
        name: &'static str,
        /// What it held.
        value: String,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// `MCP_TOOL_SCOPES` is not a JSON object of strings.
    #[error("MCP_TOOL_SCOPES is not a JSON object of tool name to scope: {0}")]
    ToolScopes(String),
    /// A tool name or scope that cannot be one.
    #[error("{0}")]
    Invalid(String),
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An MCP endpoint reached over HTTP (a server anywhere, or on loopback under `mcpctl dev`).
    Url(Url),
    /// A Lambda function invoked with the Lambda API (API Gateway-shaped events, which the AWS
    /// Lambda Web Adapter and `lambda_http` both read), so it needs no public URL at all.
    Function {
        /// Name or ARN.
        name: String,
        /// The MCP endpoint path on the function's web server.
        path: String,
    },
}

/// The gateway's settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where requests go.
    pub target: Target,
    /// The `aud` of the identity assertion: what the upstream checks.
    pub audience: String,
    /// How long the upstream has to answer (its whole answer, for a POST).
    pub timeout: Duration,
    /// Upstream calls in flight at once in this process; more are answered 503.
    pub max_concurrency: usize,
    /// The largest answer passed back, in bytes.
    pub max_response_bytes: usize,
    /// Only these tools are listed and callable (`None`: all the upstream has).
    pub exposed_tools: Option<BTreeSet<String>>,
    /// The scope each tool needs beyond the MCP scope.
    pub tool_scopes: BTreeMap<String, String>,
    /// Whether `GET /mcp` (the server-to-client SSE stream) is forwarded. A host that buffers
    /// whole responses (Lambda without streaming) cannot carry an open-ended stream.
    pub forward_get: bool,
}

/// Default wait for the upstream: under API Gateway REST's 29 s integration limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(25);
/// Default concurrent upstream calls per process.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
/// Default answer limit: Lambda's 6 MB synchronous response limit.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

impl GatewayConfig {
    /// A gateway to `target` with the defaults; `audience` defaults to the URL for a URL target.
    pub fn new(target: Target, audience: String) -> Self {
        Self {
            target,
            audience,
            timeout: DEFAULT_TIMEOUT,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            exposed_tools: None,
            tool_scopes: BTreeMap::new(),
            forward_get: true,
        }
    }

    /// A gateway to the MCP endpoint at `url`, whose assertions name `url` as their audience.
    pub fn for_url(url: Url) -> Result<Self, GatewayConfigError> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(GatewayConfigError::Url(url.to_string()));
        }
        // Credentials in the URL would be sent on every call and written in the logs.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GatewayConfigError::Invalid(
                "the upstream URL carries a user name or password; the gateway authenticates with its identity assertion instead".into(),
            ));
        }
        let audience = url.to_string();
        Ok(Self::new(Target::Url(url), audience))
    }

    /// Reads the `MCP_UPSTREAM_*` variables through `lookup`: `None` when the stack has no
    /// upstream (the crate's own server is served).
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, GatewayConfigError> {
        let url = lookup("MCP_UPSTREAM_URL").filter(|v| !v.is_empty());
        let function = lookup("MCP_UPSTREAM_FUNCTION").filter(|v| !v.is_empty());
        let mut config = match (url, function) {
            (None, None) => return Ok(None),
            (Some(url), None) => {
                let parsed = Url::parse(&url).map_err(|_| GatewayConfigError::Url(url.clone()))?;
                Self::for_url(parsed)?
            }
            (None, Some(name)) => {
                let path = lookup("MCP_UPSTREAM_PATH").unwrap_or_else(|| "/mcp".into());
                let audience = lookup("MCP_UPSTREAM_AUDIENCE")
                    .filter(|v| !v.is_empty())
                    .ok_or(GatewayConfigError::Audience)?;
                Self::new(Target::Function { name, path }, audience)
            }
            (Some(_), Some(_)) => return Err(GatewayConfigError::Target),
        };
        if let Some(audience) = lookup("MCP_UPSTREAM_AUDIENCE").filter(|v| !v.is_empty()) {
            config.audience = audience;
        }
        if let Some(ms) = number(lookup, "MCP_UPSTREAM_TIMEOUT_MS", 1, 900_000)? {
            config.timeout = Duration::from_millis(ms);
        }
        if let Some(n) = number(lookup, "MCP_UPSTREAM_MAX_CONCURRENCY", 1, 65_536)? {
            config.max_concurrency = n as usize;
        }
        if let Some(n) = number(lookup, "MCP_UPSTREAM_MAX_RESPONSE_BYTES", 1024, 1 << 30)? {
            config.max_response_bytes = n as usize;
        }
        if let Some(tools) = lookup("MCP_UPSTREAM_TOOLS") {
            config.expose(tools.split(',').map(str::trim).filter(|t| !t.is_empty()))?;
        }
        if let Some(json) = lookup("MCP_TOOL_SCOPES").filter(|v| !v.trim().is_empty()) {
            let map: BTreeMap<String, String> = serde_json::from_str(&json)
                .map_err(|e| GatewayConfigError::ToolScopes(e.to_string()))?;
            for (tool, scope) in map {
                config.require_scope(tool, scope)?;
            }
        }
        Ok(Some(config))
    }

    /// Limits the gateway to `tools` (the allow-list).
    pub fn expose<'a>(
        &mut self,
        tools: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), GatewayConfigError> {
        let mut set = BTreeSet::new();
        for tool in tools {
            check_tool_name(tool)?;
            set.insert(tool.to_owned());
        }
        self.exposed_tools = Some(set);
        Ok(())
    }

    /// Makes `tool` need `scope`.
    pub fn require_scope(&mut self, tool: String, scope: String) -> Result<(), GatewayConfigError> {
        check_tool_name(&tool)?;
        let valid_scope = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid_scope {
            return Err(GatewayConfigError::Invalid(format!(
                "the scope `{scope}` of tool `{tool}` is not an OAuth scope token (RFC 6749 §3.3: printable ASCII, no space, `\"` or `\\`)"
            )));
        }
        self.tool_scopes.insert(tool, scope);
        Ok(())
    }

    /// Refuses an upstream that is this server's own `/mcp` (`resource`).
    pub fn check_not_self(&self, resource: &str) -> Result<(), GatewayConfigError> {
        let same = match &self.target {
            Target::Url(url) => {
                url.as_str().trim_end_matches('/') == resource.trim_end_matches('/')
            }
            Target::Function { .. } => false,
        };
        // An assertion whose audience is our own resource would be accepted as an access token.
        if same || self.audience.trim_end_matches('/') == resource.trim_end_matches('/') {
            return Err(GatewayConfigError::Loop(resource.to_owned()));
        }
        Ok(())
    }

    /// What the access log and the ready message call the upstream.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Url(url) => url.to_string(),
            Target::Function { name, path } => format!("lambda:{name}{path}"),
        }
    }
}

/// Tool names as the MCP specification allows them (2025-11-25 §Tools: 1 to 128 of
/// `A-Z a-z 0-9 _ - .`).
fn check_tool_name(tool: &str) -> Result<(), GatewayConfigError> {
    let ok = (1..=128).contains(&tool.len())
        && tool
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(GatewayConfigError::Invalid(format!(
            "`{tool}` is not a tool name (1 to 128 of A-Z a-z 0-9 _ - .)"
        )))
    }
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, GatewayConfigError> {
    let Some(value) = lookup(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(GatewayConfigError::Number {
            name,
            value,
            min,
            max,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let pairs = pairs.to_vec();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn no_upstream_variables_mean_no_gateway() {
        assert!(GatewayConfig::from_lookup(&lookup(&[])).unwrap().is_none());
    }

    #[test]
    fn a_url_target_is_its_own_audience_and_reads_every_limit() {
        let config = GatewayConfig::from_lookup(&lookup(&[
            ("MCP_UPSTREAM_URL", "https://mcp.example.com/mcp"),
            ("MCP_UPSTREAM_TIMEOUT_MS", "1500"),
            ("MCP_UPSTREAM_MAX_CONCURRENCY", "8"),
            ("MCP_UPSTREAM_TOOLS", "echo, whoami"),
            ("MCP_TOOL_SCOPES", r#"{"save_note":"notes:write"}"#),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.audience, "https://mcp.example.com/mcp");
        assert_eq!(config.timeout, Duration::from_millis(1500));
        assert_eq!(config.max_concurrency, 8);
        assert_eq!(
            config
                .exposed_tools
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["echo", "whoami"]
        );
        assert_eq!(config.tool_scopes["save_note"], "notes:write");
    }

    #[test]
    fn a_function_target_needs_an_audience() {
        let error =
            GatewayConfig::from_lookup(&lookup(&[("MCP_UPSTREAM_FUNCTION", "up")])).unwrap_err();
        assert!(
            error.to_string().contains("MCP_UPSTREAM_AUDIENCE"),
            "{error}"
        );
        let config = GatewayConfig::from_lookup(&lookup(&[
            (
                "MCP_UPSTREAM_FUNCTION",
                "arn:aws:lambda:eu-west-1:1:function:up",
            ),
            ("MCP_UPSTREAM_AUDIENCE", "lambda:up"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            config.target,
            Target::Function {
                name: "arn:aws:lambda:eu-west-1:1:function:up".into(),
                path: "/mcp".into()
            }
        );
    }

    #[test]
    fn bad_settings_name_the_variable() {
        for (pairs, needle) in [
            (
                vec![("MCP_UPSTREAM_URL", "a"), ("MCP_UPSTREAM_FUNCTION", "b")],
                "exactly one",
            ),
            (
                vec![("MCP_UPSTREAM_URL", "ftp://x/mcp")],
                "MCP_UPSTREAM_URL",
            ),
            (
                vec![
                    ("MCP_UPSTREAM_URL", "https://x/mcp"),
                    ("MCP_UPSTREAM_TIMEOUT_MS", "0"),
                ],
                "MCP_UPSTREAM_TIMEOUT_MS",
            ),
            (
                vec![
                    ("MCP_UPSTREAM_URL", "https://x/mcp"),
                    ("MCP_UPSTREAM_TOOLS", "ok,not ok"),
                ],
                "`not ok` is not a tool name",
            ),
            (
                vec![
                    ("MCP_UPSTREAM_URL", "https://x/mcp"),
                    ("MCP_TOOL_SCOPES", "[1]"),
                ],
                "MCP_TOOL_SCOPES",
            ),
            (
                vec![
                    ("MCP_UPSTREAM_URL", "https://x/mcp"),
                    ("MCP_TOOL_SCOPES", r#"{"t":"a b"}"#),
                ],
                "not an OAuth scope token",
            ),
        ] {
            let error = GatewayConfig::from_lookup(&lookup(&pairs)).unwrap_err();
            assert!(error.to_string().contains(needle), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn the_gateway_refuses_to_call_itself() {
        let config =
            GatewayConfig::for_url(Url::parse("https://api.example.com/prod/mcp").unwrap())
                .unwrap();
        assert!(
            config
                .check_not_self("https://api.example.com/prod/mcp")
                .is_err()
        );
        assert!(
            config
                .check_not_self("https://other.example.com/mcp")
                .is_ok()
        );
    }
}
