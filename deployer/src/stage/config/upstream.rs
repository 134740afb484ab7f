//! `upstream:`: gateway mode. The stack's authorization server goes in front of an MCP server the
//! user already has (any language): the MCP function (`MCP_HANDLER=mcp`) runs mcpctl's gateway
//! instead of tool code. It verifies the client's bearer token as always, removes it, signs a
//! short identity assertion for the upstream and forwards the request, either to an https URL
//! (`url`) or to a Lambda function the stack creates from a directory or an image (`function`).
//!
//! In gateway mode no tool code runs in the MCP function, so the `mcp_function` options that
//! grant resources to tools (`environment`, `secrets`, `iam_statements`, `table`) are refused:
//! they belong to `upstream.function`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Architecture, IamStatement, Violation, in_range, is_region, mcp_function, violation};

/// The longest the gateway may wait for the upstream, and the longest an upstream function may
/// run: the 29 seconds of a buffered API Gateway answer. `/mcp` itself now streams (900 s), but
/// this bounds the whole upstream exchange, and an upstream function's answer is buffered.
pub(crate) const MAX_UPSTREAM_SECONDS: u32 = 29;

/// The MCP function's timeout in gateway mode when `mcp_function.timeout_seconds` is unset: the
/// longest API Gateway waits, so the gateway's own wait (`upstream.timeout_seconds`) always fits.
pub(crate) const GATEWAY_FUNCTION_TIMEOUT_SECONDS: u32 = MAX_UPSTREAM_SECONDS;

/// The AWS Lambda Web Adapter layer (account of the adapter's publisher), version 25 (0.9.1).
pub(crate) const WEB_ADAPTER_ACCOUNT: &str = "753240598075";
/// The adapter layer's version.
pub(crate) const WEB_ADAPTER_VERSION: u32 = 25;

/// Lambda managed runtimes a zip upstream may use: the ones not deprecated (AWS's runtime
/// lifecycle, the data cfn-lint warns from). Container images bring their own runtime.
pub(crate) const RUNTIMES: [&str; 17] = [
    "nodejs22.x",
    "nodejs24.x",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "java11",
    "java17",
    "java21",
    "java25",
    "java8.al2",
    "dotnet10",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
    "provided.al2023",
    "provided.al2",
];

/// Deprecated runtimes with the runtime to use instead, for a message better than "unknown".
const DEPRECATED_RUNTIMES: [(&str, &str); 12] = [
    ("nodejs16.x", "nodejs24.x"),
    ("nodejs18.x", "nodejs24.x"),
    ("nodejs20.x", "nodejs24.x"),
    ("python3.8", "python3.14"),
    ("python3.9", "python3.14"),
    ("python3.10", "python3.14"),
    ("dotnet6", "dotnet10"),
    ("dotnet8", "dotnet10"),
    ("ruby3.2", "ruby4.0"),
    ("go1.x", "provided.al2023"),
    ("provided", "provided.al2023"),
    ("java8", "java25"),
];

/// Bytes of Lambda's 4 KB environment the upstream function's own variables may take; the stack's
/// (issuer, audience, JWKS URL, the adapter's) need about 512 bytes.
const UPSTREAM_ENVIRONMENT_BUDGET_BYTES: usize = 3072;

/// Bytes of the MCP function's environment the gateway's stage values (the URL, twice, the tool
/// list and the scope map) may take, the share `mcp_function` entries have otherwise.
const GATEWAY_ENVIRONMENT_BUDGET_BYTES: usize = 2048;

/// Variables Lambda sets itself (besides every `AWS_*` one).
const LAMBDA_RESERVED: [&str; 4] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Gateway mode: where the MCP function forwards `/mcp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct UpstreamConfig {
    /// An MCP server reachable over https (exactly one of `url` and `function`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    /// A Lambda function the stack creates for the upstream server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) function: Option<UpstreamFunctionConfig>,
    /// How long the gateway waits for the upstream, in seconds (1..=29).
    pub(crate) timeout_seconds: u32,
    /// Concurrent upstream calls per MCP function container (1..=1024).
    pub(crate) max_concurrency: u32,
    /// The tools exposed (`tools/list` filtered, other `tools/call` refused); none: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tools: Option<Vec<String>>,
    /// Tool name → the scope a token needs to call it (one of `oauth.scopes`).
    pub(crate) tool_scopes: BTreeMap<String, String>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            url: None,
            function: None,
            timeout_seconds: 25,
            max_concurrency: 64,
            tools: None,
            tool_scopes: BTreeMap::new(),
        }
    }
}

/// The upstream function: a directory zipped by mcpctl (`source`) or a container image (`image`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct UpstreamFunctionConfig {
    /// Directory of the server, relative to the project root (the directory holding `config/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    /// A container image URI in ECR (`PackageType: Image`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) image: Option<String>,
    /// Lambda managed runtime (zip only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) runtime: Option<String>,
    /// Handler (zip only); with the web adapter, the start script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) handler: Option<String>,
    /// CPU architecture.
    pub(crate) architecture: Architecture,
    /// Memory in MB (128..=10240).
    pub(crate) memory_mb: u32,
    /// Timeout in seconds (1..=29). Default: `upstream.timeout_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_seconds: Option<u32>,
    /// The port the server listens on (`AWS_LWA_PORT`).
    pub(crate) port: u16,
    /// The MCP endpoint's path on that server.
    pub(crate) path: String,
    /// Run the server behind the AWS Lambda Web Adapter (zip only; default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) web_adapter: Option<bool>,
    /// Another adapter layer version ARN than the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) web_adapter_layer: Option<String>,
    /// Plain environment variables of the upstream function.
    pub(crate) environment: BTreeMap<String, String>,
    /// IAM statements added to the upstream function's role.
    pub(crate) iam_statements: Vec<IamStatement>,
}

impl Default for UpstreamFunctionConfig {
    fn default() -> Self {
        Self {
            source: None,
            image: None,
            runtime: None,
            handler: None,
            architecture: Architecture::Arm64,
            memory_mb: 512,
            timeout_seconds: None,
            port: 8080,
            path: "/mcp".to_owned(),
            web_adapter: None,
            web_adapter_layer: None,
            environment: BTreeMap::new(),
            iam_statements: Vec::new(),
        }
    }
}

/// How the upstream function's code is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Package<'a> {
    /// A zip of this directory (relative to the project root).
    Zip {
        /// `source`.
        source: &'a str,
        /// `runtime`.
        runtime: &'a str,
        /// `handler`.
        handler: &'a str,
    },
    /// A container image.
    Image(&'a str),
}

impl UpstreamFunctionConfig {
    /// Zip or image (validated: exactly one).
    pub(crate) fn package(&self) -> Package<'_> {
        match &self.image {
            Some(image) => Package::Image(image),
            None => Package::Zip {
                source: self.source.as_deref().unwrap_or_default(),
                runtime: self.runtime.as_deref().unwrap_or_default(),
                handler: self.handler.as_deref().unwrap_or_default(),
            },
        }
    }

    /// The function runs behind the web adapter layer (zip with `web_adapter` not false).
    pub(crate) fn uses_web_adapter(&self) -> bool {
        self.image.is_none() && self.web_adapter.unwrap_or(true)
    }

    /// The function's timeout: its own, else the gateway's wait.
    pub(crate) fn timeout(&self, gateway: u32) -> u32 {
        self.timeout_seconds.unwrap_or(gateway)
    }
}

impl UpstreamConfig {
    /// `MCP_UPSTREAM_TOOLS`: the allow-list comma-separated.
    pub(crate) fn tools_variable(&self) -> Option<String> {
        self.tools.as_ref().map(|tools| tools.join(","))
    }

    /// `MCP_TOOL_SCOPES`: the compact JSON object tool → scope, or `None` without one.
    pub(crate) fn tool_scopes_json(&self) -> Option<String> {
        (!self.tool_scopes.is_empty()).then(|| {
            let object = self
                .tool_scopes
                .iter()
                .map(|(tool, scope)| (tool.clone(), serde_json::Value::String(scope.clone())))
                .collect();
            serde_json::Value::Object(object).to_string()
        })
    }

    /// Checks every value. `scopes` are the stage's `oauth.scopes`, `own_hosts` the host names
    /// of this stack's own API (its custom domain), `region` the stage's when it names one.
    pub(super) fn validate(
        &self,
        scopes: &[String],
        own_hosts: &[&str],
        region: Option<&str>,
    ) -> Result<(), Violation> {
        let Self {
            url,
            function,
            timeout_seconds,
            max_concurrency,
            tools,
            tool_scopes,
        } = self;
        match (url, function) {
            (Some(_), Some(_)) => {
                return Err(violation(
                    "upstream",
                    "sets both url and function",
                    "keep one: url for a server that runs elsewhere, function for one the stack runs on Lambda",
                ));
            }
            (None, None) => {
                return Err(violation(
                    "upstream",
                    "sets neither url nor function",
                    "add upstream.url (https://...) for a server that runs elsewhere, or upstream.function (source: <dir>, or image: <ECR URI>) for one the stack runs",
                ));
            }
            (Some(url), None) => check_url(url, own_hosts)?,
            (None, Some(function)) => function.validate(region)?,
        }
        in_range(
            "upstream.timeout_seconds",
            *timeout_seconds,
            1,
            MAX_UPSTREAM_SECONDS,
        )?;
        in_range("upstream.max_concurrency", *max_concurrency, 1, 1024)?;
        if let Some(tools) = tools {
            if tools.is_empty() {
                return Err(violation(
                    "upstream.tools",
                    "is an empty list, which would expose no tool",
                    "list the tools to expose, or leave upstream.tools out to expose all of them",
                ));
            }
            let mut seen = Vec::new();
            for tool in tools {
                check_tool_name("upstream.tools", tool)?;
                if seen.contains(&tool) {
                    return Err(violation(
                        "upstream.tools",
                        format!("`{tool}` is listed twice"),
                        "list each tool once",
                    ));
                }
                seen.push(tool);
            }
        }
        for (tool, scope) in tool_scopes {
            check_tool_name("upstream.tool_scopes", tool)?;
            if !scopes.contains(scope) {
                let offered = if scopes.is_empty() {
                    "oauth.scopes is empty".to_owned()
                } else {
                    format!("oauth.scopes is [{}]", scopes.join(", "))
                };
                return Err(violation(
                    "upstream.tool_scopes",
                    format!(
                        "`{tool}` needs scope `{scope}`, which the server does not offer ({offered})"
                    ),
                    format!(
                        "add `{scope}` to oauth.scopes, or give `{tool}` one of the scopes listed there"
                    ),
                ));
            }
            if let Some(tools) = tools
                && !tools.contains(tool)
            {
                return Err(violation(
                    "upstream.tool_scopes",
                    format!("`{tool}` is not in upstream.tools, so no one can call it anyway"),
                    format!("add `{tool}` to upstream.tools, or remove its scope"),
                ));
            }
        }
        self.check_environment_size()
    }

    /// The gateway's share of the MCP function's 4 KB environment.
    fn check_environment_size(&self) -> Result<(), Violation> {
        let url = self.url.as_deref().map_or(0, |url| 2 * url.len());
        let tools = self.tools_variable().map_or(0, |tools| tools.len());
        let scopes = self.tool_scopes_json().map_or(0, |json| json.len());
        let used = url + tools + scopes;
        if used > GATEWAY_ENVIRONMENT_BUDGET_BYTES {
            return Err(violation(
                "upstream.tools",
                format!(
                    "the upstream URL (twice: address and audience), the tool list and the tool scopes take {used} bytes, more than the {GATEWAY_ENVIRONMENT_BUDGET_BYTES} of Lambda's 4 KB environment the stack leaves them"
                ),
                "shorten the lists (tool_scopes only needs the tools that need a scope)",
            ));
        }
        Ok(())
    }
}

/// `upstream.url`: an https URL of a server somewhere else, never this stack's own API.
fn check_url(url: &str, own_hosts: &[&str]) -> Result<(), Violation> {
    let field = "upstream.url";
    let bad = |problem: &str, fix: &str| Err(violation(field, format!("`{url}` {problem}"), fix));
    let Ok(parsed) = url::Url::parse(url) else {
        return bad(
            "is not a URL",
            "write the upstream MCP endpoint in full, e.g. https://mcp.example.com/mcp",
        );
    };
    match parsed.scheme() {
        "https" => {}
        "http" => {
            return bad(
                "is http: the gateway would send identity assertions and the users' requests in clear text",
                "serve the upstream over https (a load balancer or API in front of it terminates TLS)",
            );
        }
        _ => {
            return bad(
                "is not an https URL",
                "write the upstream MCP endpoint in full, e.g. https://mcp.example.com/mcp",
            );
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad(
            "has credentials in it, which anyone who can read the function's configuration would see",
            "remove them: the upstream authenticates the gateway by its signed identity assertion",
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return bad(
            "has a query or fragment; the URL is also the assertion's audience, and a query often carries a key",
            "use the endpoint's URL without ?query or #fragment",
        );
    }
    let loopback_or_private = match parsed.host() {
        Some(url::Host::Domain(host)) => {
            if own_hosts.iter().any(|own| own.eq_ignore_ascii_case(host)) {
                return bad(
                    "is this stack's own API (api.custom_domain): the gateway would forward to itself",
                    "point upstream.url at the MCP server the gateway fronts",
                );
            }
            host == "localhost" || host.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return bad("has no host", "write https://<host>/<path>"),
    };
    if loopback_or_private {
        return bad(
            "is a loopback or private address, which a Lambda function outside a VPC cannot reach",
            "use the upstream's public https URL, or run it as upstream.function",
        );
    }
    Ok(())
}

/// A tool name the gateway can match: `[A-Za-z0-9_.-]{1,128}`.
fn check_tool_name(field: &'static str, tool: &str) -> Result<(), Violation> {
    let ok = (1..=128).contains(&tool.len())
        && tool
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        return Ok(());
    }
    Err(violation(
        field,
        format!("`{tool}` is not a tool name"),
        "use 1 to 128 letters, digits, `_`, `.` and `-`, exactly as the upstream's tools/list names the tool",
    ))
}

impl UpstreamFunctionConfig {
    fn validate(&self, region: Option<&str>) -> Result<(), Violation> {
        let Self {
            source,
            image,
            runtime,
            handler,
            architecture: _,
            memory_mb,
            timeout_seconds,
            port,
            path,
            web_adapter,
            web_adapter_layer,
            environment,
            iam_statements,
        } = self;
        match (source, image) {
            (Some(_), Some(_)) => {
                return Err(violation(
                    "upstream.function",
                    "sets both source and image",
                    "keep one: source for a directory mcpctl zips, image for a container image in ECR",
                ));
            }
            (None, None) => {
                return Err(violation(
                    "upstream.function",
                    "sets neither source nor image",
                    "add source: <directory of the server, relative to the project root> (with runtime and handler), or image: <ECR image URI>",
                ));
            }
            (Some(source), None) => {
                check_source(source)?;
                check_runtime(runtime.as_deref())?;
                check_handler(handler.as_deref())?;
                if *web_adapter == Some(false) && web_adapter_layer.is_some() {
                    return Err(violation(
                        "upstream.function.web_adapter_layer",
                        "is set, but web_adapter is false",
                        "remove web_adapter_layer, or set web_adapter: true",
                    ));
                }
                if let Some(layer) = web_adapter_layer {
                    check_layer_arn(layer, region)?;
                }
            }
            (None, Some(image)) => {
                check_image(image, region)?;
                for (field, set) in [
                    ("upstream.function.runtime", runtime.is_some()),
                    ("upstream.function.handler", handler.is_some()),
                ] {
                    if set {
                        return Err(violation(
                            field,
                            "is set, but a container image (upstream.function.image) brings its own runtime and entry point",
                            "remove it, or replace image with source",
                        ));
                    }
                }
                for (field, set) in [
                    ("upstream.function.web_adapter", web_adapter.is_some()),
                    (
                        "upstream.function.web_adapter_layer",
                        web_adapter_layer.is_some(),
                    ),
                ] {
                    if set {
                        return Err(violation(
                            field,
                            "is set, but Lambda adds no layers to a container image",
                            "remove it and copy the adapter into the image (COPY --from=public.ecr.aws/awsguru/aws-lambda-adapter:0.9.1 /lambda-adapter /opt/extensions/lambda-adapter); the stack sets AWS_LWA_PORT from upstream.function.port",
                        ));
                    }
                }
            }
        }
        in_range("upstream.function.memory_mb", *memory_mb, 128, 10240)?;
        if let Some(timeout_seconds) = timeout_seconds {
            in_range(
                "upstream.function.timeout_seconds",
                *timeout_seconds,
                1,
                MAX_UPSTREAM_SECONDS,
            )?;
        }
        if *port == 0 {
            return Err(violation(
                "upstream.function.port",
                "0 is not a port",
                "use the port the server listens on, e.g. 8080",
            ));
        }
        let path_ok = path.starts_with('/')
            && !path.contains(['?', '#'])
            && !path.chars().any(|c| c.is_whitespace() || c.is_control());
        if !path_ok {
            return Err(violation(
                "upstream.function.path",
                format!("`{path}` is not a URL path"),
                "write the MCP endpoint's path on the server, starting with /, e.g. /mcp",
            ));
        }
        for name in environment.keys() {
            check_variable_name(name)?;
        }
        let used: usize = environment
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        if used > UPSTREAM_ENVIRONMENT_BUDGET_BYTES {
            return Err(violation(
                "upstream.function.environment",
                format!(
                    "the variables take {used} bytes, more than the {UPSTREAM_ENVIRONMENT_BUDGET_BYTES} of Lambda's 4 KB environment the stack leaves them"
                ),
                "move long values into a secret the server reads (grant it with iam_statements)",
            ));
        }
        mcp_function::validate_statements(
            "upstream.function.iam_statements",
            "the upstream function's role",
            "anyone who can call a tool of the upstream",
            iam_statements,
        )
    }
}

fn check_source(source: &str) -> Result<(), Violation> {
    let path = std::path::Path::new(source);
    let escapes = path
        .components()
        .any(|part| matches!(part, std::path::Component::ParentDir));
    // `.` would zip the whole project: config/, target/, and whatever secrets sit next to them.
    let root_itself = path
        .components()
        .all(|part| matches!(part, std::path::Component::CurDir));
    if root_itself {
        return Err(violation(
            "upstream.function.source",
            format!("`{source}` is the project root itself"),
            "put the server in a directory of its own, e.g. upstream, and name it here",
        ));
    }
    if source.trim().is_empty() || path.is_absolute() || escapes {
        return Err(violation(
            "upstream.function.source",
            format!("`{source}` is not a directory inside the project"),
            "name the server's directory relative to the project root (the directory holding config/), e.g. upstream",
        ));
    }
    Ok(())
}

fn check_runtime(runtime: Option<&str>) -> Result<(), Violation> {
    let field = "upstream.function.runtime";
    let Some(runtime) = runtime else {
        return Err(violation(
            field,
            "is missing, but a zip (upstream.function.source) runs on a Lambda managed runtime",
            format!("add runtime: one of {}", RUNTIMES.join(", ")),
        ));
    };
    if RUNTIMES.contains(&runtime) {
        return Ok(());
    }
    if let Some((_, successor)) = DEPRECATED_RUNTIMES.iter().find(|(old, _)| *old == runtime) {
        return Err(violation(
            field,
            format!("`{runtime}` is deprecated by AWS Lambda"),
            format!(
                "use {successor} (current runtimes: {})",
                RUNTIMES.join(", ")
            ),
        ));
    }
    Err(violation(
        field,
        format!("`{runtime}` is not a Lambda managed runtime"),
        format!("use one of {}", RUNTIMES.join(", ")),
    ))
}

fn check_handler(handler: Option<&str>) -> Result<(), Violation> {
    let field = "upstream.function.handler";
    match handler {
        None => Err(violation(
            field,
            "is missing, but a zip (upstream.function.source) needs an entry point",
            "with the web adapter (the default) name the start script, e.g. handler: run.sh",
        )),
        Some(handler)
            if handler.is_empty()
                || handler.len() > 128
                || handler.starts_with('/')
                || handler.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Err(violation(
                field,
                format!("`{handler}` is not a handler"),
                "name the start script relative to the source directory, e.g. run.sh (or module.function without the web adapter)",
            ))
        }
        Some(_) => Ok(()),
    }
}

/// `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`, in the stage's region.
fn check_layer_arn(arn: &str, region: Option<&str>) -> Result<(), Violation> {
    let field = "upstream.function.web_adapter_layer";
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = matches!(parts.as_slice(),
        ["arn", partition, "lambda", layer_region, account, "layer", name, version]
            if partition.starts_with("aws")
                && is_region(layer_region)
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                && !version.is_empty()
                && version.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        return Err(violation(
            field,
            format!("`{arn}` is not a layer version ARN"),
            format!(
                "use arn:aws:lambda:<region>:<account>:layer:<name>:<version>, or leave it out for the AWS Lambda Web Adapter (arn:aws:lambda:<region>:{WEB_ADAPTER_ACCOUNT}:layer:LambdaAdapterLayerArm64:{WEB_ADAPTER_VERSION})"
            ),
        ));
    }
    if let Some(region) = region
        && parts[3] != region
    {
        return Err(violation(
            field,
            format!(
                "the layer is in {} but the stage deploys to {region}",
                parts[3]
            ),
            format!("a function uses layers of its own region: use the layer's ARN in {region}"),
        ));
    }
    Ok(())
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/<repository>(:<tag>|@sha256:<digest>)`.
fn check_image(image: &str, region: Option<&str>) -> Result<(), Violation> {
    let field = "upstream.function.image";
    let parsed = image.split_once('/').and_then(|(host, rest)| {
        let mut labels = host.split('.');
        let account = labels.next()?;
        let ok_host = labels.next()? == "dkr"
            && labels.next()? == "ecr"
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit());
        let image_region = labels.next()?;
        let domain: Vec<&str> = labels.collect();
        let ok_domain = domain.first().is_some_and(|d| *d == "amazonaws");
        let repository = rest.split(['@', ':']).next().unwrap_or_default();
        let reference = rest.len() > repository.len();
        let ok_repo = !repository.is_empty()
            && repository
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c));
        (ok_host && ok_domain && ok_repo && reference && is_region(image_region))
            .then_some(image_region)
    });
    let Some(image_region) = parsed else {
        return Err(violation(
            field,
            format!("`{image}` is not an ECR image URI with a tag or digest"),
            "use <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>): Lambda runs images from ECR only",
        ));
    };
    if let Some(region) = region
        && image_region != region
    {
        return Err(violation(
            field,
            format!("the image is in {image_region} but the stage deploys to {region}"),
            format!("Lambda pulls images from its own region: push the image to ECR in {region}"),
        ));
    }
    Ok(())
}

/// A variable the upstream function may be given: never one the stack sets (`MCP_GATEWAY_*`,
/// the adapter's `AWS_*`) or Lambda reserves.
fn check_variable_name(name: &str) -> Result<(), Violation> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let (problem, fix) = if !well_formed {
        (
            "is not a variable name",
            "use letters, digits and `_`, not starting with a digit, e.g. NOTES_API_URL",
        )
    } else if name.starts_with("MCP_GATEWAY_") {
        (
            "starts with MCP_GATEWAY_, the prefix of the variables the stack gives the upstream (issuer, audience, JWKS URL)",
            "rename it without the MCP_GATEWAY_ prefix",
        )
    } else if name.starts_with("AWS_") {
        (
            "starts with AWS_, a prefix Lambda and the web adapter reserve",
            "rename it; the stack sets AWS_LWA_PORT from upstream.function.port and AWS_LAMBDA_EXEC_WRAPPER from web_adapter",
        )
    } else if LAMBDA_RESERVED.contains(&name) {
        (
            "is reserved by Lambda",
            "rename it (TZ is allowed; _HANDLER, _X_AMZN_TRACE_ID, LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR are not)",
        )
    } else {
        return Ok(());
    };
    Err(violation(
        "upstream.function.environment",
        format!("`{name}` {problem}"),
        fix,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stage::config::{ConfigError, StageConfig, from_yaml};

    fn parse(text: &str) -> Result<StageConfig, ConfigError> {
        from_yaml(text, "config/test.yaml", "test", &BTreeMap::new())
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    /// A stage in the region eu-west-1 whose `upstream.function` has `lines` (indented by four)
    /// after a valid zip source.
    fn function_error(lines: &str) -> String {
        error(&format!(
            "region: eu-west-1\nupstream:\n  function:\n    source: upstream\n    runtime: python3.12\n    handler: run.sh\n{lines}"
        ))
    }

    const EVERY_OPTION: &str = "\
region: eu-west-1
oauth:
  scopes: [notes:write]
upstream:
  function:
    source: upstream
    runtime: python3.12
    handler: run.sh
    architecture: x86_64
    memory_mb: 1024
    timeout_seconds: 29
    port: 8000
    path: /api/mcp
    web_adapter: true
    web_adapter_layer: arn:aws:lambda:eu-west-1:123456789012:layer:MyAdapter:3
    environment:
      NOTES_URL: https://notes.example.com
      PORT: 8000
    iam_statements:
      - Effect: Allow
        Action: s3:GetObject
        Resource: arn:aws:s3:::notes/*
  timeout_seconds: 20
  max_concurrency: 16
  tools: [echo, whoami, save_note]
  tool_scopes: {save_note: \"notes:write\"}
";

    #[test]
    fn without_upstream_there_is_no_gateway_and_every_option_parses() {
        let config = parse("").unwrap();
        assert_eq!(config.upstream, None);
        assert_eq!(config.mcp_function_timeout(), 10);

        let config = parse(EVERY_OPTION).unwrap();
        let upstream = config.upstream.clone().unwrap();
        assert_eq!(upstream.timeout_seconds, 20);
        assert_eq!(upstream.max_concurrency, 16);
        assert_eq!(
            upstream.tools_variable().as_deref(),
            Some("echo,whoami,save_note")
        );
        assert_eq!(
            upstream.tool_scopes_json().as_deref(),
            Some(r#"{"save_note":"notes:write"}"#)
        );
        let function = upstream.function.unwrap();
        assert_eq!(
            function.package(),
            Package::Zip {
                source: "upstream",
                runtime: "python3.12",
                handler: "run.sh"
            }
        );
        assert_eq!(function.architecture, Architecture::X86_64);
        assert_eq!((function.memory_mb, function.timeout(20)), (1024, 29));
        assert_eq!((function.port, function.path.as_str()), (8000, "/api/mcp"));
        assert!(function.uses_web_adapter());
        assert_eq!(function.environment["PORT"], "8000");
        assert_eq!(function.iam_statements.len(), 1);
        // Gateway mode: the MCP function waits out the gateway unless told otherwise.
        assert_eq!(config.mcp_function_timeout(), 29);
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let config =
            parse("upstream:\n  function:\n    source: up\n    runtime: nodejs22.x\n    handler: run.sh\n")
                .unwrap();
        let upstream = config.upstream.unwrap();
        assert_eq!(
            (upstream.timeout_seconds, upstream.max_concurrency),
            (25, 64)
        );
        assert_eq!(
            (upstream.tools_variable(), upstream.tool_scopes_json()),
            (None, None)
        );
        let function = upstream.function.unwrap();
        assert_eq!(function.architecture, Architecture::Arm64);
        assert_eq!((function.memory_mb, function.timeout(25)), (512, 25));
        assert_eq!((function.port, function.path.as_str()), (8080, "/mcp"));
        assert!(function.uses_web_adapter());
        let image = parse(
            "upstream:\n  function:\n    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp/server:v1\n",
        )
        .unwrap()
        .upstream
        .unwrap()
        .function
        .unwrap();
        assert_eq!(
            image.package(),
            Package::Image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp/server:v1")
        );
        assert!(!image.uses_web_adapter());
        let url = parse("upstream:\n  url: https://mcp.example.com/v1/mcp\n").unwrap();
        assert_eq!(
            url.upstream.unwrap().url.as_deref(),
            Some("https://mcp.example.com/v1/mcp")
        );
    }

    #[test]
    fn exactly_one_of_url_and_function() {
        assert_eq!(
            error("upstream: {}\n"),
            "config/test.yaml: upstream: sets neither url nor function; add upstream.url (https://...) for a server that runs elsewhere, or upstream.function (source: <dir>, or image: <ECR URI>) for one the stack runs"
        );
        assert!(
            error("upstream:\n  url: https://a.example.com/mcp\n  function:\n    source: up\n")
                .starts_with("config/test.yaml: upstream: sets both url and function; keep one")
        );
        let message = error("upstream:\n  uri: https://a.example.com/mcp\n");
        assert!(
            message.contains("upstream: unknown field `uri`, expected one of `url`, `function`"),
            "{message}"
        );
        let message = error("upstream:\n  function:\n    sauce: up\n");
        assert!(
            message.contains("upstream.function: unknown field `sauce`"),
            "{message}"
        );
    }

    #[test]
    fn the_url_is_https_elsewhere() {
        let url_error = |url: &str| error(&format!("upstream:\n  url: \"{url}\"\n"));
        for (url, problem) in [
            ("mcp.example.com/mcp", "is not a URL"),
            (
                "http://mcp.example.com/mcp",
                "is http: the gateway would send identity assertions and the users' requests in clear text; serve the upstream over https",
            ),
            ("ftp://mcp.example.com/mcp", "is not an https URL"),
            (
                "https://user:pw@mcp.example.com/mcp",
                "has credentials in it",
            ),
            (
                "https://mcp.example.com/mcp?key=abc",
                "has a query or fragment",
            ),
            ("https://mcp.example.com/mcp#x", "has a query or fragment"),
            ("https://localhost/mcp", "is a loopback or private address"),
            ("https://127.0.0.1/mcp", "is a loopback or private address"),
            ("https://10.0.0.5/mcp", "is a loopback or private address"),
        ] {
            let message = url_error(url);
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: upstream.url: `{url}` {problem}"
                )),
                "{url}: {message}"
            );
        }
        // This stack's own API (its custom domain) would loop.
        let message = error(
            "region: eu-west-1\napi:\n  custom_domain:\n    domain_name: mcp.example.com\n    certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/abc\nupstream:\n  url: https://MCP.example.com/mcp\n",
        );
        assert!(
            message.contains("upstream.url: `https://MCP.example.com/mcp` is this stack's own API (api.custom_domain): the gateway would forward to itself"),
            "{message}"
        );
        assert!(parse("upstream:\n  url: https://mcp.example.com:8443/v1/mcp\n").is_ok());
    }

    #[test]
    fn gateway_limits_are_in_range() {
        for (yaml, expected) in [
            (
                "  timeout_seconds: 0\n",
                "upstream.timeout_seconds: 0 is below 1; use 1..=29",
            ),
            (
                "  timeout_seconds: 30\n",
                "upstream.timeout_seconds: 30 is above 29; use 1..=29",
            ),
            (
                "  max_concurrency: 0\n",
                "upstream.max_concurrency: 0 is below 1; use 1..=1024",
            ),
            (
                "  max_concurrency: 1025\n",
                "upstream.max_concurrency: 1025 is above 1024; use 1..=1024",
            ),
        ] {
            assert_eq!(
                error(&format!(
                    "upstream:\n  url: https://mcp.example.com/mcp\n{yaml}"
                )),
                format!("config/test.yaml: {expected}")
            );
        }
    }

    #[test]
    fn tools_and_their_scopes_are_checked() {
        let gateway = |lines: &str| {
            error(&format!(
                "oauth:\n  scopes: [notes:read, notes:write]\nupstream:\n  url: https://mcp.example.com/mcp\n{lines}"
            ))
        };
        assert_eq!(
            gateway("  tools: []\n"),
            "config/test.yaml: upstream.tools: is an empty list, which would expose no tool; list the tools to expose, or leave upstream.tools out to expose all of them"
        );
        assert_eq!(
            gateway("  tools: [echo, 'bad name']\n"),
            "config/test.yaml: upstream.tools: `bad name` is not a tool name; use 1 to 128 letters, digits, `_`, `.` and `-`, exactly as the upstream's tools/list names the tool"
        );
        assert!(
            gateway(&format!("  tools: [{}]\n", "a".repeat(129))).contains("is not a tool name")
        );
        assert!(gateway("  tools: [echo, 'a,b']\n").contains("`a,b` is not a tool name"));
        assert_eq!(
            gateway("  tools: [echo, echo]\n"),
            "config/test.yaml: upstream.tools: `echo` is listed twice; list each tool once"
        );
        assert_eq!(
            gateway("  tool_scopes: {save_note: notes:admin}\n"),
            "config/test.yaml: upstream.tool_scopes: `save_note` needs scope `notes:admin`, which the server does not offer (oauth.scopes is [notes:read, notes:write]); add `notes:admin` to oauth.scopes, or give `save_note` one of the scopes listed there"
        );
        assert!(
            error(
                "upstream:\n  url: https://mcp.example.com/mcp\n  tool_scopes: {save_note: mcp}\n"
            )
            .contains("which the server does not offer (oauth.scopes is empty)")
        );
        assert_eq!(
            gateway("  tools: [echo]\n  tool_scopes: {save_note: notes:write}\n"),
            "config/test.yaml: upstream.tool_scopes: `save_note` is not in upstream.tools, so no one can call it anyway; add `save_note` to upstream.tools, or remove its scope"
        );
        assert!(
            gateway("  tool_scopes: {'x y': notes:write}\n")
                .contains("upstream.tool_scopes: `x y` is not a tool name")
        );
        assert!(
            parse("oauth:\n  scopes: [notes:write]\nupstream:\n  url: https://mcp.example.com/mcp\n  tools: [echo, save_note, a.b-c_d]\n  tool_scopes: {save_note: notes:write}\n")
                .is_ok()
        );
        let many: Vec<String> = (0..200).map(|i| format!("tool_number_{i}")).collect();
        let message = gateway(&format!("  tools: [{}]\n", many.join(", ")));
        assert!(
            message.starts_with("config/test.yaml: upstream.tools: the upstream URL (twice: address and audience), the tool list and the tool scopes take"),
            "{message}"
        );
    }

    #[test]
    fn a_zip_needs_a_source_inside_the_project_a_current_runtime_and_a_handler() {
        let zip = |lines: &str| error(&format!("upstream:\n  function:\n{lines}"));
        assert_eq!(
            zip("    memory_mb: 512\n"),
            "config/test.yaml: upstream.function: sets neither source nor image; add source: <directory of the server, relative to the project root> (with runtime and handler), or image: <ECR image URI>"
        );
        for source in ["/srv/upstream", "../upstream", "''"] {
            assert!(
                zip(&format!(
                    "    source: {source}\n    runtime: python3.12\n    handler: run.sh\n"
                ))
                .contains("upstream.function.source: `"),
                "{source}"
            );
        }
        assert_eq!(
            zip("    source: up\n    handler: run.sh\n"),
            format!(
                "config/test.yaml: upstream.function.runtime: is missing, but a zip (upstream.function.source) runs on a Lambda managed runtime; add runtime: one of {}",
                RUNTIMES.join(", ")
            )
        );
        assert_eq!(
            zip("    source: up\n    runtime: python3.9\n    handler: run.sh\n"),
            format!(
                "config/test.yaml: upstream.function.runtime: `python3.9` is deprecated by AWS Lambda; use python3.14 (current runtimes: {})",
                RUNTIMES.join(", ")
            )
        );
        assert!(
            zip("    source: up\n    runtime: python3\n    handler: run.sh\n")
                .contains("upstream.function.runtime: `python3` is not a Lambda managed runtime; use one of nodejs22.x")
        );
        assert_eq!(
            zip("    source: up\n    runtime: python3.12\n"),
            "config/test.yaml: upstream.function.handler: is missing, but a zip (upstream.function.source) needs an entry point; with the web adapter (the default) name the start script, e.g. handler: run.sh"
        );
        assert!(
            zip("    source: up\n    runtime: python3.12\n    handler: 'run it.sh'\n")
                .contains("upstream.function.handler: `run it.sh` is not a handler")
        );
        for runtime in RUNTIMES {
            assert!(
                parse(&format!("upstream:\n  function:\n    source: up\n    runtime: {runtime}\n    handler: run.sh\n")).is_ok(),
                "{runtime}"
            );
        }
    }

    #[test]
    fn an_image_takes_no_zip_fields() {
        let image = |lines: &str| {
            error(&format!(
                "region: eu-west-1\nupstream:\n  function:\n    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp:v1\n{lines}"
            ))
        };
        for field in ["runtime: python3.12", "handler: run.sh"] {
            let name = field.split(':').next().unwrap();
            assert_eq!(
                image(&format!("    {field}\n")),
                format!(
                    "config/test.yaml: upstream.function.{name}: is set, but a container image (upstream.function.image) brings its own runtime and entry point; remove it, or replace image with source"
                )
            );
        }
        for field in [
            "web_adapter: true",
            "web_adapter_layer: arn:aws:lambda:eu-west-1:123456789012:layer:A:1",
        ] {
            let name = field.split(':').next().unwrap();
            assert!(
                image(&format!("    {field}\n")).starts_with(&format!(
                    "config/test.yaml: upstream.function.{name}: is set, but Lambda adds no layers to a container image; remove it and copy the adapter into the image"
                )),
                "{field}"
            );
        }
        assert!(
            image("    source: up\n")
                .starts_with("config/test.yaml: upstream.function: sets both source and image")
        );
        for bad in [
            "nginx:latest",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp",
            "1234.dkr.ecr.eu-west-1.amazonaws.com/mcp:v1",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/MCP:v1",
        ] {
            let message = error(&format!("upstream:\n  function:\n    image: {bad}\n"));
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: upstream.function.image: `{bad}` is not an ECR image URI with a tag or digest"
                )),
                "{bad}: {message}"
            );
        }
        assert_eq!(
            error(
                "region: us-east-1\nupstream:\n  function:\n    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp@sha256:abc\n"
            ),
            "config/test.yaml: upstream.function.image: the image is in eu-west-1 but the stage deploys to us-east-1; Lambda pulls images from its own region: push the image to ECR in us-east-1"
        );
    }

    #[test]
    fn function_sizes_port_path_and_layer_are_checked() {
        for (lines, expected) in [
            (
                "    memory_mb: 64\n",
                "upstream.function.memory_mb: 64 is below 128; use 128..=10240",
            ),
            (
                "    memory_mb: 10241\n",
                "upstream.function.memory_mb: 10241 is above 10240; use 128..=10240",
            ),
            (
                "    timeout_seconds: 0\n",
                "upstream.function.timeout_seconds: 0 is below 1; use 1..=29",
            ),
            (
                "    timeout_seconds: 30\n",
                "upstream.function.timeout_seconds: 30 is above 29; use 1..=29",
            ),
            (
                "    port: 0\n",
                "upstream.function.port: 0 is not a port; use the port the server listens on, e.g. 8080",
            ),
            (
                "    path: mcp\n",
                "upstream.function.path: `mcp` is not a URL path; write the MCP endpoint's path on the server, starting with /, e.g. /mcp",
            ),
            (
                "    path: /mcp?x=1\n",
                "upstream.function.path: `/mcp?x=1` is not a URL path",
            ),
            (
                "    web_adapter: false\n    web_adapter_layer: arn:aws:lambda:eu-west-1:123456789012:layer:A:1\n",
                "upstream.function.web_adapter_layer: is set, but web_adapter is false; remove web_adapter_layer, or set web_adapter: true",
            ),
            (
                "    web_adapter_layer: arn:aws:lambda:eu-west-1:123456789012:layer:A\n",
                "upstream.function.web_adapter_layer: `arn:aws:lambda:eu-west-1:123456789012:layer:A` is not a layer version ARN",
            ),
            (
                "    web_adapter_layer: arn:aws:lambda:us-east-1:123456789012:layer:A:1\n",
                "upstream.function.web_adapter_layer: the layer is in us-east-1 but the stage deploys to eu-west-1",
            ),
        ] {
            let message = function_error(lines);
            assert!(
                message.starts_with(&format!("config/test.yaml: {expected}")),
                "{lines}: {message}"
            );
        }
        let message = function_error("    port: 70000\n");
        assert!(message.contains("upstream.function.port"), "{message}");
        assert!(
            !parse("upstream:\n  function:\n    source: up\n    runtime: python3.12\n    handler: app.handler\n    web_adapter: false\n")
                .unwrap()
                .upstream
                .unwrap()
                .function
                .unwrap()
                .uses_web_adapter()
        );
    }

    #[test]
    fn upstream_variables_never_shadow_the_stacks_or_lambdas() {
        for (name, problem) in [
            (
                "MCP_GATEWAY_ISSUER",
                "`MCP_GATEWAY_ISSUER` starts with MCP_GATEWAY_, the prefix of the variables the stack gives the upstream",
            ),
            (
                "AWS_LWA_PORT",
                "`AWS_LWA_PORT` starts with AWS_, a prefix Lambda and the web adapter reserve; rename it; the stack sets AWS_LWA_PORT from upstream.function.port",
            ),
            ("_HANDLER", "`_HANDLER` is reserved by Lambda"),
            (
                "LAMBDA_TASK_ROOT",
                "`LAMBDA_TASK_ROOT` is reserved by Lambda",
            ),
            ("1ST", "`1ST` is not a variable name"),
        ] {
            let message = function_error(&format!("    environment:\n      {name}: x\n"));
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: upstream.function.environment: {problem}"
                )),
                "{name}: {message}"
            );
        }
        // The upstream is the user's own server: MCP_* other than MCP_GATEWAY_* is its business.
        assert!(
            parse("upstream:\n  function:\n    source: up\n    runtime: python3.12\n    handler: run.sh\n    environment: {MCP_TRANSPORT: http, TZ: UTC}\n")
                .is_ok()
        );
        let long = "x".repeat(1600);
        let message = function_error(&format!(
            "    environment:\n      A: {long}\n      B: {long}\n"
        ));
        assert!(
            message.starts_with("config/test.yaml: upstream.function.environment: the variables take 3202 bytes, more than the 3072"),
            "{message}"
        );
    }

    #[test]
    fn upstream_iam_statements_follow_the_mcp_function_rules() {
        for (lines, problem) in [
            (
                "      - Effect: Allow\n        Action: '*'\n        Resource: '*'\n",
                "statement 1 allows every action on every resource (Action * with Resource *): that is administrator access for anyone who can call a tool of the upstream",
            ),
            (
                "      - Effect: Allow\n        Principal: '*'\n        Action: s3:GetObject\n        Resource: '*'\n",
                "statement 1 has a Principal, which belongs in a resource's policy, not in a role's; remove it: the statement applies to the upstream function's role",
            ),
            (
                "      - Action: s3:GetObject\n        Resource: '*'\n",
                "statement 1 has no Effect",
            ),
            (
                "      - Sid: A\n        Effect: Allow\n        Action: s3:GetObject\n        Resource: '*'\n      - Sid: A\n        Effect: Allow\n        Action: s3:PutObject\n        Resource: '*'\n",
                "Sid `A` is used twice",
            ),
        ] {
            let message = function_error(&format!("    iam_statements:\n{lines}"));
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: upstream.function.iam_statements: {problem}"
                )),
                "{lines}: {message}"
            );
        }
    }

    #[test]
    fn gateway_mode_refuses_what_mcp_function_grants_tool_code() {
        let gateway = |mcp_function: &str| {
            error(&format!(
                "region: eu-west-1\nupstream:\n  url: https://mcp.example.com/mcp\nmcp_function:\n{mcp_function}"
            ))
        };
        for (lines, field, what, fix) in [
            (
                "  environment: {NOTES_URL: x}\n",
                "mcp_function.environment",
                "variables for tool code",
                "give them to upstream.function instead (upstream.function.environment)",
            ),
            (
                "  secrets: {NOTES_KEY: arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf}\n",
                "mcp_function.secrets",
                "secrets for tool code",
                "give them to upstream.function instead: an upstream.function.iam_statements entry allowing secretsmanager:GetSecretValue",
            ),
            (
                "  iam_statements:\n    - Effect: Allow\n      Action: s3:GetObject\n      Resource: arn:aws:s3:::b/*\n",
                "mcp_function.iam_statements",
                "permissions for tool code",
                "give them to upstream.function instead (upstream.function.iam_statements)",
            ),
            (
                "  table: {name: notes}\n",
                "mcp_function.table",
                "a table for tool code",
                "give them to upstream.function instead: create the table yourself",
            ),
        ] {
            let message = gateway(lines);
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: {field}: grants {what}, but with upstream: (gateway mode) no tool code runs in the MCP function: it only verifies tokens and forwards to the upstream; {fix}"
                )),
                "{field}: {message}"
            );
        }
        // Size and timeout stay the stage's, as long as the function outlives the gateway's wait.
        let config = parse(
            "upstream:\n  url: https://mcp.example.com/mcp\n  timeout_seconds: 20\nmcp_function:\n  memory_mb: 1024\n  timeout_seconds: 20\nalarms:\n  lambda_duration_p99_ms: 5000\n",
        )
        .unwrap();
        assert_eq!(config.mcp_function_timeout(), 20);
        assert_eq!(
            gateway("  timeout_seconds: 10\n"),
            "config/test.yaml: mcp_function.timeout_seconds: 10 s would stop the gateway before its wait for the upstream (upstream.timeout_seconds: 25) ends, so the client would get a bare 502; use at least 25 (or leave it out: in gateway mode it defaults to 29), or lower upstream.timeout_seconds"
        );
    }
}
