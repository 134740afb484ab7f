//! The overlay of `upstream:` (gateway mode): the MCP function runs mcpctl's gateway, which
//! verifies the client's token, signs a 60-second identity assertion with the stack's signing key
//! and forwards the request to the upstream: an https URL, or `UpstreamFunction`, which this
//! overlay adds with its role, log group and alarms.
//!
//! The variables set here on the MCP function are the contract the handler's gateway reads
//! (`MCP_UPSTREAM_*`, `MCP_TOOL_SCOPES`, `MCP_SIGNING_KEY_SECRET_ARN`), and the ones on the
//! upstream function the contract an upstream server reads (`MCP_GATEWAY_*`). A stage without
//! `upstream:` renders exactly as before.

use super::{
    Output, Parameter, Resource, Template, TemplateError, invalid, mapping,
    mcp_function::{policy, stack_guard_statements, statement},
};
use crate::stage::{
    config::{
        Architecture, Package, StageConfig, UpstreamConfig, UpstreamFunctionConfig,
        WEB_ADAPTER_ACCOUNT, WEB_ADAPTER_VERSION,
    },
    names,
    yaml::{self, Mapping, Value},
};

const MCP_FUNCTION: &str = "McpFunction";
const MCP_ROLE: &str = "McpRole";

/// The upstream server's function, role and log group.
pub(crate) const UPSTREAM_FUNCTION: &str = "UpstreamFunction";
pub(crate) const UPSTREAM_ROLE: &str = "UpstreamRole";
pub(crate) const UPSTREAM_LOG_GROUP: &str = "UpstreamLogGroup";

/// The suffix of the upstream function's name, `<stack>-upstream`.
pub(crate) const UPSTREAM_NAME_SUFFIX: &str = "-upstream";

/// The MCP function's variables (the handler's gateway reads them).
pub(crate) mod variable {
    /// The https URL of an upstream elsewhere (url mode).
    pub(crate) const URL: &str = "MCP_UPSTREAM_URL";
    /// The ARN of the upstream function (function mode).
    pub(crate) const FUNCTION: &str = "MCP_UPSTREAM_FUNCTION";
    /// The MCP endpoint's path on the upstream function's web server (function mode).
    pub(crate) const PATH: &str = "MCP_UPSTREAM_PATH";
    /// The `aud` of the identity assertions: the URL, or `lambda:<function name>`.
    pub(crate) const AUDIENCE: &str = "MCP_UPSTREAM_AUDIENCE";
    /// How long the gateway waits for the upstream, in milliseconds.
    pub(crate) const TIMEOUT_MS: &str = "MCP_UPSTREAM_TIMEOUT_MS";
    /// Concurrent upstream calls per container.
    pub(crate) const MAX_CONCURRENCY: &str = "MCP_UPSTREAM_MAX_CONCURRENCY";
    /// Comma-separated tool allow-list (only when the stage sets one).
    pub(crate) const TOOLS: &str = "MCP_UPSTREAM_TOOLS";
    /// JSON object tool → scope (only when the stage sets one).
    pub(crate) const TOOL_SCOPES: &str = "MCP_TOOL_SCOPES";
    /// The assertion-key secret, which the gateway signs assertions with.
    pub(crate) const ASSERTION_KEY_SECRET_ARN: &str = "MCP_ASSERTION_KEY_SECRET_ARN";
    /// The auth function's copy of the assertion key's public JWKS, which it serves.
    pub(crate) const GATEWAY_JWKS: &str = "MCP_GATEWAY_JWKS";
    /// The upstream function's issuer: the stack's public URL.
    pub(crate) const GATEWAY_ISSUER: &str = "MCP_GATEWAY_ISSUER";
    /// The upstream function's expected audience (= `MCP_UPSTREAM_AUDIENCE`).
    pub(crate) const GATEWAY_AUDIENCE: &str = "MCP_GATEWAY_AUDIENCE";
    /// Where the upstream function fetches the keys that verify assertions.
    pub(crate) const GATEWAY_JWKS_URL: &str = "MCP_GATEWAY_JWKS_URL";
}

/// `/mcp` methods that reach the MCP function without the authorizer outside gateway mode (the
/// function answers 405); a stateful upstream uses them, so in gateway mode they are guarded
/// like POST.
const MCP_STREAM_METHODS: [&str; 2] = ["McpGetMethod", "McpDeleteMethod"];

/// The checkov skips of the upstream function, with why each check does not apply.
const FUNCTION_SKIPS: [(&str, &str); 4] = [
    (
        "CKV_AWS_115",
        "No reserved concurrency: the API stage's throttling and the gateway's upstream.max_concurrency bound it, and reserving it fails in accounts at the default concurrency quota.",
    ),
    (
        "CKV_AWS_116",
        "Invoked synchronously by the gateway (the MCP function) only; a dead-letter queue applies to asynchronous invocations, so it would never receive anything.",
    ),
    (
        "CKV_AWS_117",
        "Reaches AWS over its public endpoints with IAM (upstream.function.iam_statements) and is invoked only through the gateway's role; a VPC would add NAT or endpoint cost and cold-start latency without reducing exposure.",
    ),
    (
        "CKV_AWS_173",
        "The environment holds no secret: the stack's URLs and audience, the web adapter's settings, and upstream.function.environment, which is documented as plain values only (secrets are read at start-up with iam_statements).",
    ),
];

/// Why the upstream's log group has no customer managed key, as for the stack's other groups.
const LOG_GROUP_SKIP: &str = "Encrypted by CloudWatch Logs with its service key, like the stack's other log groups. mcpctl creates no customer managed keys (each costs a monthly fee and needs a key policy someone maintains); the upstream server must not log tokens or secrets, and the gateway never sends it the client's bearer token.";

impl Template {
    /// Gateway mode: the MCP function's variables and grants, the guarded GET and DELETE, and in
    /// function mode the upstream function; a no-op without `upstream:`.
    pub(super) fn overlay_gateway(&mut self, config: &StageConfig) -> Result<(), TemplateError> {
        let Some(upstream) = &config.upstream else {
            return Ok(());
        };
        let issuer = self.issuer()?;
        self.add_gateway_key_parameters();
        let mut grants = vec![allow(
            "AssertionKey",
            "secretsmanager:GetSecretValue",
            yaml::reference(names::parameter::GATEWAY_KEY_SECRET_ARN),
        )];
        self.set_variable(
            "AuthFunction",
            variable::GATEWAY_JWKS,
            yaml::reference(names::parameter::GATEWAY_JWKS_JSON),
        )?;
        let audience = match (&upstream.url, &upstream.function) {
            (Some(url), _) => {
                self.set_variable(MCP_FUNCTION, variable::URL, yaml::string(url.as_str()))?;
                yaml::string(url.as_str())
            }
            (None, Some(function)) => {
                let audience = function_audience();
                self.add_upstream_function(function, &issuer, &audience, upstream.timeout_seconds)?;
                let arn = get_att(UPSTREAM_FUNCTION);
                self.set_variable(MCP_FUNCTION, variable::FUNCTION, arn.clone())?;
                self.set_variable(
                    MCP_FUNCTION,
                    variable::PATH,
                    yaml::string(function.path.as_str()),
                )?;
                grants.push(allow("InvokeUpstream", "lambda:InvokeFunction", arn));
                audience
            }
            (None, None) => {
                return Err(invalid(
                    "config",
                    "upstream",
                    "sets neither url nor function",
                    "the stage configuration refuses this; load it with stage::load",
                ));
            }
        };
        self.set_gateway_variables(upstream, audience)?;
        if config.mcp_function.timeout_seconds.is_none() {
            let timeout = config.mcp_function_timeout();
            self.function(MCP_FUNCTION)?
                .properties
                .insert(yaml::string("Timeout"), Value::from(timeout));
        }
        self.function(MCP_FUNCTION)?.properties.insert(
            yaml::string("Description"),
            yaml::string(
                "mcpctl MCP gateway (/mcp): verifies tokens, then forwards to the upstream with a signed identity assertion",
            ),
        );
        let policies = self.mcp_role_policies()?;
        policies.push(policy("gateway", grants));
        policies.push(policy("stack-guard", stack_guard_statements()));
        if let Some(role) = self.resources.get_mut(MCP_ROLE) {
            role.properties.insert(
                yaml::string("Description"),
                yaml::string(if upstream.function.is_some() {
                    "mcpctl MCP gateway - its log group, the assertion key (identity assertions) and invoking the upstream function"
                } else {
                    "mcpctl MCP gateway - its log group and the assertion key (identity assertions)"
                }),
            );
        }
        self.guard_stream_methods()
    }

    /// The stack's public URL (= the issuer), as the MCP function gets it.
    fn issuer(&mut self) -> Result<Value, TemplateError> {
        let origin = self.origin("Resources", MCP_FUNCTION);
        self.function(MCP_FUNCTION)?
            .properties
            .get("Environment")
            .and_then(|environment| environment.get("Variables"))
            .and_then(|variables| variables.get("MCP_PUBLIC_URL"))
            .cloned()
            .ok_or_else(|| {
                invalid(
                    &origin,
                    MCP_FUNCTION,
                    "has no MCP_PUBLIC_URL, which gateway mode gives the upstream as its issuer",
                    "set Environment.Variables.MCP_PUBLIC_URL to the stack's public URL",
                )
            })
    }

    /// The gateway's own variables on the MCP function.
    fn set_gateway_variables(
        &mut self,
        upstream: &UpstreamConfig,
        audience: Value,
    ) -> Result<(), TemplateError> {
        let mut variables = vec![
            (variable::AUDIENCE, audience),
            (
                variable::TIMEOUT_MS,
                yaml::string((u64::from(upstream.timeout_seconds) * 1000).to_string()),
            ),
            (
                variable::MAX_CONCURRENCY,
                yaml::string(upstream.max_concurrency.to_string()),
            ),
        ];
        if let Some(tools) = upstream.tools_variable() {
            variables.push((variable::TOOLS, yaml::string(tools)));
        }
        if let Some(scopes) = upstream.tool_scopes_json() {
            variables.push((variable::TOOL_SCOPES, yaml::string(scopes)));
        }
        variables.push((
            variable::ASSERTION_KEY_SECRET_ARN,
            yaml::reference(names::parameter::GATEWAY_KEY_SECRET_ARN),
        ));
        for (name, value) in variables {
            self.set_variable(MCP_FUNCTION, name, value)?;
        }
        Ok(())
    }

    /// The two deploy-time parameters of the assertion key, after the signing key's.
    fn add_gateway_key_parameters(&mut self) {
        self.insert_deploy_parameter(
            names::parameter::JWKS_JSON,
            names::parameter::GATEWAY_KEY_SECRET_ARN,
            "ARN of the secret with the gateway's identity-assertion key (created by mcpctl deploy; never the access tokens' key).",
        );
        self.insert_deploy_parameter(
            names::parameter::GATEWAY_KEY_SECRET_ARN,
            names::parameter::GATEWAY_JWKS_JSON,
            "Public JWKS of the assertion key, served at /.well-known/mcpctl-gateway-jwks.json for the upstream.",
        );
    }

    /// A string parameter without a default (`mcpctl deploy` passes it), right after `after`.
    fn insert_deploy_parameter(&mut self, after: &str, name: &str, description: &str) {
        let index = self
            .parameters
            .get_index_of(after)
            .map_or(0, |index| index + 1);
        self.parameters.shift_insert(
            index,
            name.to_owned(),
            Parameter {
                kind: "String".to_owned(),
                description: Some(description.to_owned()),
                default: None,
                allowed_values: None,
                allowed_pattern: None,
                min_length: Some(1),
                max_length: None,
                min_value: None,
                max_value: None,
                constraint_description: None,
                no_echo: None,
            },
        );
    }

    /// GET and DELETE on `/mcp` go through the TOKEN authorizer, like POST.
    fn guard_stream_methods(&mut self) -> Result<(), TemplateError> {
        for id in MCP_STREAM_METHODS {
            let origin = self.origin("Resources", id);
            let Some(method) = self
                .resources
                .get_mut(id)
                .filter(|method| method.kind == "AWS::ApiGateway::Method")
            else {
                return Err(invalid(
                    &origin,
                    id,
                    "is missing or not an AWS::ApiGateway::Method, but gateway mode guards it",
                    "declare GET and DELETE /mcp in templates/api.yaml",
                ));
            };
            method
                .properties
                .insert(yaml::string("AuthorizationType"), yaml::string("CUSTOM"));
            method.properties.insert(
                yaml::string("AuthorizerId"),
                yaml::reference("McpAuthorizer"),
            );
            // Its skip (CKV_AWS_59, a public method) no longer applies.
            method.metadata = None;
        }
        Ok(())
    }

    /// `UpstreamFunction`, its role, log group, alarms, outputs and (zip) code-key parameter.
    fn add_upstream_function(
        &mut self,
        function: &UpstreamFunctionConfig,
        issuer: &Value,
        audience: &Value,
        gateway_timeout: u32,
    ) -> Result<(), TemplateError> {
        for id in [UPSTREAM_FUNCTION, UPSTREAM_ROLE, UPSTREAM_LOG_GROUP] {
            if self.resources.contains_key(id) || self.parameters.contains_key(id) {
                return Err(invalid(
                    &self.origin("Resources", id),
                    id,
                    "is defined in the templates, but upstream.function adds it",
                    "remove it from the templates: the renderer adds the upstream function from the stage configuration",
                ));
            }
        }
        if let Package::Zip { .. } = function.package() {
            self.insert_deploy_parameter(
                names::parameter::CODE_KEY,
                names::parameter::UPSTREAM_CODE_KEY,
                "S3 key of the upstream function's zip (config upstream.function.source); it names the zip's SHA-256.",
            );
        }
        self.insert_after("AuthorizerLogGroup", UPSTREAM_LOG_GROUP, log_group());
        self.insert_after("AuthorizerRole", UPSTREAM_ROLE, role(function));
        self.insert_after(
            "AuthorizerFunction",
            UPSTREAM_FUNCTION,
            upstream_function(function, issuer, audience, gateway_timeout),
        );
        self.insert_after(
            "AuthorizerDurationAlarm",
            "UpstreamThrottlesAlarm",
            alarm(
                "throttles",
                "Throttles",
                "Invocations of the upstream function were throttled by Lambda (the gateway answers 502).",
                "LambdaThrottlesThreshold",
            ),
        );
        self.insert_after(
            "AuthorizerDurationAlarm",
            "UpstreamErrorsAlarm",
            alarm(
                "errors",
                "Errors",
                "The upstream function failed invocations (crashes or timeouts, not HTTP errors).",
                "LambdaErrorsThreshold",
            ),
        );
        // X-Ray, when the stage traces, for the upstream's role too.
        if let Some(roles) = self
            .resources
            .get_mut("XRayPolicy")
            .and_then(|policy| policy.properties.get_mut("Roles"))
            .and_then(Value::as_sequence_mut)
        {
            roles.push(yaml::reference(UPSTREAM_ROLE));
        }
        for (name, value, description) in [
            (
                names::output::UPSTREAM_FUNCTION_NAME,
                UPSTREAM_FUNCTION,
                "The upstream MCP server's function (config upstream.function); only the gateway's role may invoke it.",
            ),
            (
                names::output::UPSTREAM_LOG_GROUP_NAME,
                UPSTREAM_LOG_GROUP,
                "Log group of the upstream function.",
            ),
        ] {
            self.outputs.insert(
                name.to_owned(),
                Output {
                    description: Some(description.to_owned()),
                    condition: None,
                    value: yaml::reference(value),
                    export: None,
                },
            );
        }
        Ok(())
    }

    /// Inserts a resource right after `anchor` (at the end without it), for a reader who looks
    /// for the upstream's resources next to the other functions'.
    fn insert_after(&mut self, anchor: &str, id: &str, resource: Resource) {
        let index = self
            .resources
            .get_index_of(anchor)
            .map_or(self.resources.len(), |index| index + 1);
        self.resources.shift_insert(index, id.to_owned(), resource);
    }
}

/// `lambda:<stack>-upstream`: the audience of assertions for the upstream function. Static (the
/// function's name, not its ARN), so the upstream's own environment can hold it.
fn function_audience() -> Value {
    yaml::tagged(
        "Sub",
        yaml::string(format!("lambda:${{AWS::StackName}}{UPSTREAM_NAME_SUFFIX}")),
    )
}

fn get_att(id: &str) -> Value {
    yaml::tagged("GetAtt", yaml::string(format!("{id}.Arn")))
}

fn allow(sid: &str, action: &str, resource: Value) -> Value {
    mapping([
        ("Sid", yaml::string(sid)),
        ("Effect", yaml::string("Allow")),
        ("Action", yaml::string(action)),
        ("Resource", resource),
    ])
}

/// `value` (a string, `!Sub`, or `!If` of those, as the issuer is written) with `suffix`
/// appended; anything else is joined.
fn with_suffix(value: &Value, suffix: &str) -> Value {
    if let Value::String(text) = value {
        return yaml::string(format!("{text}{suffix}"));
    }
    if let Some((tag, inner)) = yaml::as_tagged(value) {
        match (tag.as_str(), inner) {
            ("Sub", Value::String(text)) => {
                return yaml::tagged("Sub", yaml::string(format!("{text}{suffix}")));
            }
            ("If", Value::Sequence(items)) if items.len() == 3 => {
                return yaml::tagged(
                    "If",
                    Value::Sequence(vec![
                        items[0].clone(),
                        with_suffix(&items[1], suffix),
                        with_suffix(&items[2], suffix),
                    ]),
                );
            }
            _ => {}
        }
    }
    yaml::tagged(
        "Join",
        Value::Sequence(vec![
            yaml::string(""),
            Value::Sequence(vec![value.clone(), yaml::string(suffix)]),
        ]),
    )
}

fn checkov_skips(skips: &[(&str, &str)]) -> Value {
    let skips = skips
        .iter()
        .map(|(id, comment)| {
            mapping([
                ("id", yaml::string(*id)),
                ("comment", yaml::string(*comment)),
            ])
        })
        .collect();
    mapping([("checkov", mapping([("skip", Value::Sequence(skips))]))])
}

fn resource(kind: &str, metadata: Option<Value>, properties: Value) -> Resource {
    Resource {
        kind: kind.to_owned(),
        condition: None,
        depends_on: Vec::new(),
        deletion_policy: None,
        update_replace_policy: None,
        metadata,
        properties: match properties {
            Value::Mapping(properties) => properties,
            _ => Mapping::new(),
        },
    }
}

fn function_name() -> Value {
    yaml::tagged(
        "Sub",
        yaml::string(format!("${{AWS::StackName}}{UPSTREAM_NAME_SUFFIX}")),
    )
}

fn log_group() -> Resource {
    let mut group = resource(
        "AWS::Logs::LogGroup",
        Some(checkov_skips(&[("CKV_AWS_158", LOG_GROUP_SKIP)])),
        mapping([
            (
                "LogGroupName",
                yaml::tagged(
                    "Sub",
                    yaml::string(format!(
                        "/aws/lambda/${{AWS::StackName}}{UPSTREAM_NAME_SUFFIX}"
                    )),
                ),
            ),
            ("RetentionInDays", yaml::reference("LogRetentionDays")),
        ]),
    );
    group.deletion_policy = Some(super::Policy::Delete);
    group.update_replace_policy = Some(super::Policy::Delete);
    group
}

/// The upstream's role: its log group, the stage's statements, and with those the stack guard
/// (whatever the stage grants, the upstream never reaches what mints tokens, nor the gateway).
fn role(function: &UpstreamFunctionConfig) -> Resource {
    let trust = mapping([
        ("Version", yaml::string("2012-10-17")),
        (
            "Statement",
            Value::Sequence(vec![mapping([
                ("Effect", yaml::string("Allow")),
                (
                    "Principal",
                    mapping([("Service", yaml::string("lambda.amazonaws.com"))]),
                ),
                ("Action", yaml::string("sts:AssumeRole")),
            ])]),
        ),
    ]);
    let logs = mapping([
        ("Effect", yaml::string("Allow")),
        (
            "Action",
            Value::Sequence(vec![
                yaml::string("logs:CreateLogStream"),
                yaml::string("logs:PutLogEvents"),
            ]),
        ),
        ("Resource", get_att(UPSTREAM_LOG_GROUP)),
    ]);
    let mut policies = vec![policy("logs", vec![logs])];
    let description = if function.iam_statements.is_empty() {
        "mcpctl upstream function - its log group only"
    } else {
        let statements = function.iam_statements.iter().map(statement).collect();
        policies.push(policy("app-statements", statements));
        let mut guard = stack_guard_statements();
        // The gateway's own function, by name: its ARN would make a cycle (the gateway's
        // environment names the upstream function).
        guard.push(mapping([
            ("Sid", yaml::string("NeverTheGateway")),
            ("Effect", yaml::string("Deny")),
            ("Action", yaml::string("*")),
            (
                "Resource",
                yaml::tagged(
                    "Sub",
                    yaml::string(
                        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-mcp",
                    ),
                ),
            ),
        ]));
        policies.push(policy("stack-guard", guard));
        "mcpctl upstream function - its log group, and what the server needs (config upstream.function.iam_statements)"
    };
    resource(
        "AWS::IAM::Role",
        None,
        mapping([
            ("Description", yaml::string(description)),
            ("AssumeRolePolicyDocument", trust),
            ("Policies", Value::Sequence(policies)),
        ]),
    )
}

/// The web adapter layer: the stage's, or the AWS Lambda Web Adapter for the architecture.
fn adapter_layer(function: &UpstreamFunctionConfig) -> Value {
    match &function.web_adapter_layer {
        Some(layer) => yaml::string(layer.as_str()),
        None => {
            let name = match function.architecture {
                Architecture::Arm64 => "LambdaAdapterLayerArm64",
                Architecture::X86_64 => "LambdaAdapterLayerX86",
            };
            yaml::tagged(
                "Sub",
                yaml::string(format!(
                    "arn:aws:lambda:${{AWS::Region}}:{WEB_ADAPTER_ACCOUNT}:layer:{name}:{WEB_ADAPTER_VERSION}"
                )),
            )
        }
    }
}

fn upstream_function(
    function: &UpstreamFunctionConfig,
    issuer: &Value,
    audience: &Value,
    gateway_timeout: u32,
) -> Resource {
    let mut variables = Mapping::new();
    let mut set = |name: &str, value: Value| {
        variables.insert(yaml::string(name), value);
    };
    set(variable::GATEWAY_ISSUER, issuer.clone());
    set(variable::GATEWAY_AUDIENCE, audience.clone());
    set(
        variable::GATEWAY_JWKS_URL,
        with_suffix(issuer, mcpctl_handler::config::GATEWAY_JWKS_PATH),
    );
    if function.uses_web_adapter() {
        set("AWS_LAMBDA_EXEC_WRAPPER", yaml::string("/opt/bootstrap"));
    }
    if function.uses_web_adapter() || function.image.is_some() {
        set("AWS_LWA_PORT", yaml::string(function.port.to_string()));
    }
    for (name, value) in &function.environment {
        set(name, yaml::string(value.as_str()));
    }
    let mut properties = Mapping::new();
    let mut put = |key: &str, value: Value| {
        properties.insert(yaml::string(key), value);
    };
    put("FunctionName", function_name());
    put(
        "Description",
        yaml::string(
            "mcpctl upstream MCP server (config upstream.function); invoked by the gateway only",
        ),
    );
    match function.package() {
        Package::Zip {
            runtime, handler, ..
        } => {
            put("Runtime", yaml::string(runtime));
            put("Handler", yaml::string(handler));
            put(
                "Code",
                mapping([
                    ("S3Bucket", yaml::reference(names::parameter::CODE_BUCKET)),
                    (
                        "S3Key",
                        yaml::reference(names::parameter::UPSTREAM_CODE_KEY),
                    ),
                ]),
            );
            if function.uses_web_adapter() {
                put("Layers", Value::Sequence(vec![adapter_layer(function)]));
            }
        }
        Package::Image(image) => {
            put("PackageType", yaml::string("Image"));
            put("Code", mapping([("ImageUri", yaml::string(image))]));
        }
    }
    put(
        "Architectures",
        Value::Sequence(vec![yaml::string(function.architecture.as_str())]),
    );
    put("MemorySize", Value::from(function.memory_mb));
    put("Timeout", Value::from(function.timeout(gateway_timeout)));
    put("Role", get_att(UPSTREAM_ROLE));
    put(
        "LoggingConfig",
        mapping([
            ("LogFormat", yaml::string("Text")),
            ("LogGroup", yaml::reference(UPSTREAM_LOG_GROUP)),
        ]),
    );
    put(
        "TracingConfig",
        mapping([(
            "Mode",
            yaml::tagged(
                "If",
                Value::Sequence(vec![
                    yaml::string("TracingEnabled"),
                    yaml::string("Active"),
                    yaml::string("PassThrough"),
                ]),
            ),
        )]),
    );
    put(
        "Environment",
        mapping([("Variables", Value::Mapping(variables))]),
    );
    resource(
        "AWS::Lambda::Function",
        Some(checkov_skips(&FUNCTION_SKIPS)),
        Value::Mapping(properties),
    )
}

/// An alarm on one Lambda metric of the upstream function, like the other functions' alarms.
fn alarm(suffix: &str, metric: &str, description: &str, threshold: &str) -> Resource {
    resource(
        "AWS::CloudWatch::Alarm",
        None,
        mapping([
            (
                "AlarmName",
                yaml::tagged(
                    "Sub",
                    yaml::string(format!("${{AWS::StackName}}-upstream-{suffix}")),
                ),
            ),
            ("AlarmDescription", yaml::string(description)),
            ("Namespace", yaml::string("AWS/Lambda")),
            ("MetricName", yaml::string(metric)),
            (
                "Dimensions",
                Value::Sequence(vec![mapping([
                    ("Name", yaml::string("FunctionName")),
                    ("Value", yaml::reference(UPSTREAM_FUNCTION)),
                ])]),
            ),
            ("Statistic", yaml::string("Sum")),
            ("Period", Value::from(300)),
            ("EvaluationPeriods", Value::from(1)),
            ("Threshold", yaml::reference(threshold)),
            (
                "ComparisonOperator",
                yaml::string("GreaterThanOrEqualToThreshold"),
            ),
            ("TreatMissingData", yaml::string("notBreaching")),
            (
                "AlarmActions",
                Value::Sequence(vec![yaml::reference("AlarmTopic")]),
            ),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stage::{
        config,
        template::{TemplateSource, render},
    };

    fn body(text: &str) -> Value {
        let config = config::from_yaml(text, "config/test.yaml", "test", &BTreeMap::new()).unwrap();
        yaml::from_str(&render(&config, &TemplateSource::Embedded).unwrap().body).unwrap()
    }

    fn plain() -> Value {
        body("region: eu-west-1\noauth:\n  scopes: [notes:write]\n")
    }

    const URL: &str = "region: eu-west-1\noauth:\n  scopes: [notes:write]\nupstream:\n  url: https://mcp.example.com/v1/mcp\n  timeout_seconds: 20\n  max_concurrency: 32\n  tools: [echo, save_note]\n  tool_scopes: {save_note: notes:write}\n";

    const FUNCTION: &str = "region: eu-west-1\noauth:\n  scopes: [notes:write]\nupstream:\n  function:\n    source: upstream\n    runtime: python3.12\n    handler: run.sh\n    port: 8000\n    path: /api/mcp\n    memory_mb: 1024\n    environment: {GREETING: hello}\n    iam_statements:\n      - Sid: ReadNotes\n        Effect: Allow\n        Action: s3:GetObject\n        Resource: arn:aws:s3:::notes/*\n";

    fn variables(body: &Value, function: &str) -> Mapping {
        body["Resources"][function]["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap()
            .clone()
    }

    /// The variables `body` sets on `function` beyond those of `plain`.
    fn added(body: &Value, plain: &Value, function: &str) -> Vec<(String, Value)> {
        let before = variables(plain, function);
        variables(body, function)
            .into_iter()
            .filter(|(name, _)| !before.contains_key(name))
            .map(|(name, value)| (name.as_str().unwrap().to_owned(), value))
            .collect()
    }

    fn policy<'a>(body: &'a Value, role: &str, name: &str) -> &'a Value {
        body["Resources"][role]["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|policy| policy["PolicyName"] == name)
            .unwrap_or_else(|| panic!("{role} has no policy {name}"))
    }

    fn policy_names(body: &Value, role: &str) -> Vec<String> {
        body["Resources"][role]["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|policy| policy["PolicyName"].as_str().unwrap().to_owned())
            .collect()
    }

    fn sub(text: &str) -> Value {
        yaml::tagged("Sub", yaml::string(text))
    }

    #[test]
    fn url_mode_gives_the_mcp_function_exactly_the_gateway_contract() {
        let body = body(URL);
        let plain = plain();
        assert_eq!(
            added(&body, &plain, MCP_FUNCTION),
            [
                (
                    "MCP_UPSTREAM_URL".to_owned(),
                    yaml::string("https://mcp.example.com/v1/mcp")
                ),
                (
                    "MCP_UPSTREAM_AUDIENCE".to_owned(),
                    yaml::string("https://mcp.example.com/v1/mcp")
                ),
                ("MCP_UPSTREAM_TIMEOUT_MS".to_owned(), yaml::string("20000")),
                (
                    "MCP_UPSTREAM_MAX_CONCURRENCY".to_owned(),
                    yaml::string("32")
                ),
                (
                    "MCP_UPSTREAM_TOOLS".to_owned(),
                    yaml::string("echo,save_note")
                ),
                (
                    "MCP_TOOL_SCOPES".to_owned(),
                    yaml::string(r#"{"save_note":"notes:write"}"#)
                ),
                (
                    "MCP_ASSERTION_KEY_SECRET_ARN".to_owned(),
                    yaml::reference("GatewayKeySecretArn")
                ),
            ]
        );
        // No upstream function, and the other functions are untouched.
        for id in [UPSTREAM_FUNCTION, UPSTREAM_ROLE, UPSTREAM_LOG_GROUP] {
            assert!(body["Resources"].get(id).is_none(), "{id}");
        }
        assert!(body["Parameters"].get("UpstreamCodeKey").is_none());
        for id in ["AuthorizerFunction", "AuthRole", "AuthorizerRole"] {
            assert_eq!(body["Resources"][id], plain["Resources"][id], "{id}");
        }
        // The auth function gains only the assertion key's public JWKS, which it serves.
        assert_eq!(
            added(&body, &plain, "AuthFunction"),
            [(
                "MCP_GATEWAY_JWKS".to_owned(),
                yaml::reference("GatewayJwksJson")
            )]
        );
        // The MCP function waits out the gateway: API Gateway's 29 s.
        assert_eq!(body["Resources"][MCP_FUNCTION]["Properties"]["Timeout"], 29);
        let grants = &policy(&body, MCP_ROLE, "gateway")["PolicyDocument"]["Statement"];
        assert_eq!(
            grants.as_sequence().unwrap().as_slice(),
            [allow(
                "AssertionKey",
                "secretsmanager:GetSecretValue",
                yaml::reference("GatewayKeySecretArn")
            )]
        );
        assert!(
            !yaml::to_string(&body["Resources"][MCP_ROLE])
                .unwrap()
                .contains("kms:")
        );
    }

    #[test]
    fn without_upstream_nothing_of_the_gateway_is_rendered() {
        let text = yaml::to_string(&plain()).unwrap();
        for needle in [
            "MCP_UPSTREAM",
            "MCP_GATEWAY",
            "MCP_TOOL_SCOPES",
            "UpstreamFunction",
            "UpstreamRole",
            "UpstreamCodeKey",
            "PolicyName: gateway",
        ] {
            assert!(!text.contains(needle), "{needle}");
        }
    }

    #[test]
    fn function_mode_names_the_function_and_its_audience_statically() {
        let body = body(FUNCTION);
        let plain = plain();
        let audience = sub("lambda:${AWS::StackName}-upstream");
        assert_eq!(
            added(&body, &plain, MCP_FUNCTION),
            [
                (
                    "MCP_UPSTREAM_FUNCTION".to_owned(),
                    get_att(UPSTREAM_FUNCTION)
                ),
                ("MCP_UPSTREAM_PATH".to_owned(), yaml::string("/api/mcp")),
                ("MCP_UPSTREAM_AUDIENCE".to_owned(), audience.clone()),
                ("MCP_UPSTREAM_TIMEOUT_MS".to_owned(), yaml::string("25000")),
                (
                    "MCP_UPSTREAM_MAX_CONCURRENCY".to_owned(),
                    yaml::string("64")
                ),
                (
                    "MCP_ASSERTION_KEY_SECRET_ARN".to_owned(),
                    yaml::reference("GatewayKeySecretArn")
                ),
            ]
        );
        let function = &body["Resources"][UPSTREAM_FUNCTION];
        let properties = &function["Properties"];
        assert_eq!(function["Type"], "AWS::Lambda::Function");
        assert_eq!(
            properties["FunctionName"],
            sub("${AWS::StackName}-upstream")
        );
        assert_eq!(properties["Runtime"], "python3.12");
        assert_eq!(properties["Handler"], "run.sh");
        assert_eq!(
            properties["Code"]["S3Bucket"],
            yaml::reference("CodeBucket")
        );
        assert_eq!(
            properties["Code"]["S3Key"],
            yaml::reference("UpstreamCodeKey")
        );
        assert_eq!(
            properties["Layers"][0],
            sub("arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:25")
        );
        assert_eq!(properties["Architectures"][0], "arm64");
        assert_eq!(properties["MemorySize"], 1024);
        assert_eq!(properties["Timeout"], 25);
        assert_eq!(properties["Role"], get_att(UPSTREAM_ROLE));
        assert_eq!(
            properties["LoggingConfig"]["LogGroup"],
            yaml::reference(UPSTREAM_LOG_GROUP)
        );
        // The upstream's contract: issuer, audience, JWKS URL, the adapter, then the stage's.
        let issuer = variables(&body, MCP_FUNCTION)["MCP_PUBLIC_URL"].clone();
        let jwks = yaml::tagged(
            "If",
            Value::Sequence(vec![
                yaml::string("HasCustomDomain"),
                sub("https://${CustomDomainName}/.well-known/mcpctl-gateway-jwks.json"),
                sub(
                    "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}/.well-known/mcpctl-gateway-jwks.json",
                ),
            ]),
        );
        let expected: Mapping = [
            ("MCP_GATEWAY_ISSUER", issuer),
            ("MCP_GATEWAY_AUDIENCE", audience),
            ("MCP_GATEWAY_JWKS_URL", jwks),
            ("AWS_LAMBDA_EXEC_WRAPPER", yaml::string("/opt/bootstrap")),
            ("AWS_LWA_PORT", yaml::string("8000")),
            ("GREETING", yaml::string("hello")),
        ]
        .into_iter()
        .map(|(name, value)| (yaml::string(name), value))
        .collect();
        assert_eq!(variables(&body, UPSTREAM_FUNCTION), expected);
        assert_eq!(body["Parameters"]["UpstreamCodeKey"]["Type"], "String");
        assert!(
            body["Parameters"]["UpstreamCodeKey"]
                .get("Default")
                .is_none()
        );
        assert_eq!(
            body["Outputs"]["UpstreamFunctionName"]["Value"],
            yaml::reference(UPSTREAM_FUNCTION)
        );
    }

    #[test]
    fn only_the_gateways_role_may_invoke_the_upstream_and_read_the_assertion_key() {
        let body = body(FUNCTION);
        assert_eq!(
            policy_names(&body, MCP_ROLE),
            ["logs", "gateway", "stack-guard"]
        );
        let grants = &policy(&body, MCP_ROLE, "gateway")["PolicyDocument"]["Statement"];
        assert_eq!(
            grants.as_sequence().unwrap().as_slice(),
            [
                allow(
                    "AssertionKey",
                    "secretsmanager:GetSecretValue",
                    yaml::reference("GatewayKeySecretArn")
                ),
                allow(
                    "InvokeUpstream",
                    "lambda:InvokeFunction",
                    get_att(UPSTREAM_FUNCTION)
                ),
            ]
        );
        // The guard denies the access tokens' signing key, the tables and the other functions.
        let guard = &policy(&body, MCP_ROLE, "stack-guard")["PolicyDocument"]["Statement"][0];
        let guarded = yaml::to_string(&guard["Resource"]).unwrap();
        assert!(guarded.contains("SigningKeySecretArn"), "{guarded}");
        // The auth function serves the assertion key's public JWKS; both are deploy parameters.
        assert_eq!(
            variables(&body, "AuthFunction")["MCP_GATEWAY_JWKS"],
            yaml::reference("GatewayJwksJson")
        );
        for parameter in ["GatewayKeySecretArn", "GatewayJwksJson"] {
            assert_eq!(
                body["Parameters"][parameter]["Type"], "String",
                "{parameter}"
            );
        }
        for resource in [
            "ClientsTable.Arn",
            "CodesTable.Arn",
            "RefreshTokensTable.Arn",
            "AuthFunction.Arn",
            "AuthorizerFunction.Arn",
        ] {
            assert!(guarded.contains(resource), "{resource}: {guarded}");
        }
        // Nobody else may invoke it: no resource policy, no function URL, no public grant.
        let text = yaml::to_string(&body).unwrap();
        for resource in body["Resources"].as_mapping().unwrap().values() {
            let kind = resource["Type"].as_str().unwrap();
            assert_ne!(kind, "AWS::Lambda::Url");
            if kind == "AWS::Lambda::Permission" {
                assert_ne!(
                    resource["Properties"]["FunctionName"],
                    get_att(UPSTREAM_FUNCTION)
                );
            }
        }
        assert_eq!(
            text.matches("lambda:InvokeFunction").count(),
            4,
            "the three API permissions and the gateway's grant"
        );
        // The upstream's own role: its log group, its statements, and the stack guard (the
        // signing key included) plus the gateway function by name.
        assert_eq!(
            policy_names(&body, UPSTREAM_ROLE),
            ["logs", "app-statements", "stack-guard"]
        );
        let logs = &policy(&body, UPSTREAM_ROLE, "logs")["PolicyDocument"]["Statement"][0];
        assert_eq!(logs["Resource"], get_att(UPSTREAM_LOG_GROUP));
        let statements =
            &policy(&body, UPSTREAM_ROLE, "app-statements")["PolicyDocument"]["Statement"];
        assert_eq!(statements[0]["Sid"], "ReadNotes");
        let guard = yaml::to_string(&policy(&body, UPSTREAM_ROLE, "stack-guard")).unwrap();
        assert!(
            guard.contains("SigningKeySecretArn")
                && guard.contains("function:${AWS::StackName}-mcp"),
            "{guard}"
        );
        // Without statements the role reaches its log group only.
        let bare = super::tests::body(&FUNCTION.replace("    iam_statements:\n      - Sid: ReadNotes\n        Effect: Allow\n        Action: s3:GetObject\n        Resource: arn:aws:s3:::notes/*\n", ""));
        assert_eq!(policy_names(&bare, UPSTREAM_ROLE), ["logs"]);
        // X-Ray, when traced, for the upstream too.
        let roles = &body["Resources"]["XRayPolicy"]["Properties"]["Roles"];
        assert!(
            roles
                .as_sequence()
                .unwrap()
                .contains(&yaml::reference(UPSTREAM_ROLE))
        );
    }

    #[test]
    fn the_upstream_has_a_log_group_and_alarms_like_the_other_functions() {
        let body = body(FUNCTION);
        let group = &body["Resources"][UPSTREAM_LOG_GROUP];
        let mcp_group = &body["Resources"]["McpLogGroup"];
        assert_eq!(
            group["Properties"]["LogGroupName"],
            sub("/aws/lambda/${AWS::StackName}-upstream")
        );
        assert_eq!(
            group["Properties"]["RetentionInDays"],
            mcp_group["Properties"]["RetentionInDays"]
        );
        assert_eq!(group["DeletionPolicy"], mcp_group["DeletionPolicy"]);
        assert_eq!(group["Metadata"]["checkov"]["skip"][0]["id"], "CKV_AWS_158");
        for (id, metric, threshold, like) in [
            (
                "UpstreamErrorsAlarm",
                "Errors",
                "LambdaErrorsThreshold",
                "McpErrorsAlarm",
            ),
            (
                "UpstreamThrottlesAlarm",
                "Throttles",
                "LambdaThrottlesThreshold",
                "McpThrottlesAlarm",
            ),
        ] {
            let alarm = &body["Resources"][id]["Properties"];
            let like = &body["Resources"][like]["Properties"];
            assert_eq!(alarm["MetricName"], metric);
            assert_eq!(alarm["Threshold"], yaml::reference(threshold));
            assert_eq!(
                alarm["Dimensions"][0]["Value"],
                yaml::reference(UPSTREAM_FUNCTION)
            );
            for key in [
                "Namespace",
                "Statistic",
                "Period",
                "EvaluationPeriods",
                "ComparisonOperator",
                "TreatMissingData",
                "AlarmActions",
            ] {
                assert_eq!(alarm[key], like[key], "{id}: {key}");
            }
        }
        let skips: Vec<&str> = body["Resources"][UPSTREAM_FUNCTION]["Metadata"]["checkov"]["skip"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|skip| skip["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            skips,
            ["CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"]
        );
    }

    #[test]
    fn get_and_delete_on_mcp_go_through_the_authorizer_in_gateway_mode() {
        let plain = plain();
        for text in [URL, FUNCTION] {
            let body = body(text);
            for id in MCP_STREAM_METHODS.into_iter().chain(["McpPostMethod"]) {
                let method = &body["Resources"][id];
                assert_eq!(method["Properties"]["AuthorizationType"], "CUSTOM", "{id}");
                assert_eq!(
                    method["Properties"]["AuthorizerId"],
                    yaml::reference("McpAuthorizer"),
                    "{id}"
                );
                assert_eq!(
                    method["Properties"]["Integration"],
                    plain["Resources"][id]["Properties"]["Integration"],
                    "{id}: still the MCP function"
                );
                assert!(method.get("Metadata").is_none(), "{id}");
            }
            assert_eq!(
                body["Resources"]["McpOptionsMethod"],
                plain["Resources"]["McpOptionsMethod"]
            );
        }
        for id in MCP_STREAM_METHODS {
            assert_eq!(
                plain["Resources"][id]["Properties"]["AuthorizationType"],
                "NONE"
            );
        }
    }

    #[test]
    fn images_x86_and_the_layer_override_render_as_configured() {
        let image = body(
            "region: eu-west-1\nupstream:\n  function:\n    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp:v1\n    architecture: x86_64\n    timeout_seconds: 15\n",
        );
        let properties = &image["Resources"][UPSTREAM_FUNCTION]["Properties"];
        assert_eq!(properties["PackageType"], "Image");
        assert_eq!(
            properties["Code"],
            mapping([(
                "ImageUri",
                yaml::string("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp:v1")
            )])
        );
        for absent in ["Runtime", "Handler", "Layers"] {
            assert!(properties.get(absent).is_none(), "{absent}");
        }
        assert_eq!(properties["Architectures"][0], "x86_64");
        assert_eq!(properties["Timeout"], 15);
        let variables = variables(&image, UPSTREAM_FUNCTION);
        assert_eq!(variables["AWS_LWA_PORT"], "8080");
        assert!(variables.get("AWS_LAMBDA_EXEC_WRAPPER").is_none());
        assert!(image["Parameters"].get("UpstreamCodeKey").is_none());

        let x86 = body(
            "region: eu-west-1\nupstream:\n  function:\n    source: up\n    runtime: nodejs22.x\n    handler: run.sh\n    architecture: x86_64\n",
        );
        assert_eq!(
            x86["Resources"][UPSTREAM_FUNCTION]["Properties"]["Layers"][0],
            sub("arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerX86:25")
        );
        let layer = body(
            "region: eu-west-1\nupstream:\n  function:\n    source: up\n    runtime: nodejs22.x\n    handler: run.sh\n    web_adapter_layer: arn:aws:lambda:eu-west-1:123456789012:layer:Mine:7\n",
        );
        assert_eq!(
            layer["Resources"][UPSTREAM_FUNCTION]["Properties"]["Layers"][0],
            "arn:aws:lambda:eu-west-1:123456789012:layer:Mine:7"
        );
        let own = body(
            "region: eu-west-1\nupstream:\n  function:\n    source: up\n    runtime: python3.12\n    handler: app.handler\n    web_adapter: false\n",
        );
        let properties = &own["Resources"][UPSTREAM_FUNCTION]["Properties"];
        assert!(properties.get("Layers").is_none());
        let variables = properties["Environment"]["Variables"].as_mapping().unwrap();
        assert!(
            variables.get("AWS_LAMBDA_EXEC_WRAPPER").is_none()
                && variables.get("AWS_LWA_PORT").is_none()
        );
    }

    #[test]
    fn the_mcp_functions_own_timeout_stays_when_set() {
        let body = body(
            "upstream:\n  url: https://mcp.example.com/mcp\n  timeout_seconds: 10\nmcp_function:\n  timeout_seconds: 12\n  memory_mb: 1024\n",
        );
        let properties = &body["Resources"][MCP_FUNCTION]["Properties"];
        assert_eq!(
            (
                properties["Timeout"].clone(),
                properties["MemorySize"].clone()
            ),
            (Value::from(12), Value::from(1024))
        );
    }

    #[test]
    fn a_suffix_is_added_to_any_issuer_shape() {
        assert_eq!(
            with_suffix(&yaml::string("https://a"), "/x"),
            yaml::string("https://a/x")
        );
        assert_eq!(
            with_suffix(&sub("https://${D}"), "/x"),
            sub("https://${D}/x")
        );
        let other = yaml::reference("Issuer");
        assert_eq!(
            with_suffix(&other, "/x"),
            yaml::tagged(
                "Join",
                Value::Sequence(vec![
                    yaml::string(""),
                    Value::Sequence(vec![other.clone(), yaml::string("/x")])
                ])
            )
        );
    }
}
