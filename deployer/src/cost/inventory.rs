//! What a stage's stack is made of, as far as the bill goes: its functions (memory and
//! architecture from the stage configuration) and the resources counted in the template
//! `mcpctl deploy` would deploy for it (tables, log groups, alarm metrics, dashboards, secrets).
//! Counting the rendered template rather than restating it keeps the estimate in step with the
//! templates when they change.

use serde::Serialize;

use crate::stage::{
    config::{Architecture, StageConfig},
    names,
    template::Template,
};

/// Which function of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// The authorization server (`<stack>-auth`): OAuth endpoints and discovery.
    Auth,
    /// The MCP server, or the gateway in front of the upstream (`<stack>-mcp`).
    Mcp,
    /// The TOKEN authorizer of POST /mcp (`<stack>-authorizer`).
    Authorizer,
    /// Gateway mode with `upstream.function`: the upstream MCP server on Lambda (`<stack>-upstream`).
    Upstream,
}

impl Role {
    /// The name as printed and in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Mcp => "mcp",
            Self::Authorizer => "authorizer",
            Self::Upstream => "upstream",
        }
    }

    /// The function's name in a stack (`FunctionName` in the templates).
    pub(crate) fn function_name(self, stack: &str) -> String {
        format!("{stack}-{}", self.as_str())
    }
}

/// One Lambda function as billed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Function {
    /// Which one.
    pub(crate) role: Role,
    /// Configured memory, MB.
    pub(crate) memory_mb: u32,
    /// CPU architecture (arm64 is cheaper per GB-second).
    pub(crate) architecture: Architecture,
}

/// Where the gateway's upstream runs, when the stage is a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Gateway {
    /// `upstream.url`: elsewhere; the MCP function waits for it (billed while it waits).
    Url,
    /// `upstream.function`: a function of this stack.
    Function,
}

/// The billable parts of a stage's stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Inventory {
    /// The functions, in [`Role`] order.
    pub(crate) functions: Vec<Function>,
    /// Gateway mode, if the stage is a gateway.
    pub(crate) gateway: Option<Gateway>,
    /// DynamoDB tables (the three OAuth tables, plus `mcp_function.table`).
    pub(crate) tables: u32,
    /// CloudWatch log groups (one per function, API access and execution logs).
    pub(crate) log_groups: u32,
    /// CloudWatch alarms.
    pub(crate) alarms: u32,
    /// Metrics over all alarms: CloudWatch bills a metric-math alarm per metric it reads.
    pub(crate) alarm_metrics: u32,
    /// CloudWatch dashboards.
    pub(crate) dashboards: u32,
    /// Secrets Manager secrets the stage owns (the signing key; the gateway key in gateway mode).
    pub(crate) secrets: u32,
    /// X-Ray tracing on the API stage and the functions.
    pub(crate) tracing: bool,
    /// `signing: kms`: a KMS key signs every access token.
    pub(crate) kms_signing: bool,
    /// Retention of every log group, days.
    pub(crate) log_retention_days: u32,
}

impl Inventory {
    /// The inventory of `config`'s stack, whose rendered template is `template`.
    pub(crate) fn of(config: &StageConfig, template: &Template) -> Self {
        let lambda = &config.lambda;
        let shared = |role| Function {
            role,
            memory_mb: lambda.memory_mb,
            architecture: lambda.architecture,
        };
        let mut functions = vec![
            shared(Role::Auth),
            Function {
                memory_mb: config.mcp_function.memory_mb.unwrap_or(lambda.memory_mb),
                ..shared(Role::Mcp)
            },
            shared(Role::Authorizer),
        ];
        let upstream_function = config.upstream.as_ref().and_then(|u| u.function.as_ref());
        if let Some(function) = upstream_function {
            functions.push(Function {
                role: Role::Upstream,
                memory_mb: function.memory_mb,
                architecture: function.architecture,
            });
        }
        let gateway = config.upstream.as_ref().map(|_| match upstream_function {
            Some(_) => Gateway::Function,
            None => Gateway::Url,
        });
        let mut inventory = Self {
            functions,
            gateway,
            tables: 0,
            log_groups: 0,
            alarms: 0,
            alarm_metrics: 0,
            dashboards: 0,
            // The signing-key secret is created by `mcpctl deploy`, outside the template.
            secrets: 1 + u32::from(
                template
                    .parameters
                    .contains_key(names::parameter::GATEWAY_KEY_SECRET_ARN),
            ),
            tracing: config.tracing,
            kms_signing: config.signing == crate::stage::config::Signing::Kms,
            log_retention_days: lambda.log_retention_days,
        };
        for resource in template.resources.values() {
            if !resource
                .condition
                .as_deref()
                .is_none_or(|c| condition_holds(c, config))
            {
                continue;
            }
            match resource.kind.as_str() {
                "AWS::DynamoDB::Table" => inventory.tables += 1,
                "AWS::Logs::LogGroup" => inventory.log_groups += 1,
                "AWS::CloudWatch::Dashboard" => inventory.dashboards += 1,
                "AWS::CloudWatch::Alarm" => {
                    inventory.alarms += 1;
                    inventory.alarm_metrics += alarm_metrics(&resource.properties);
                }
                _ => {}
            }
        }
        inventory
    }
}

/// The conditions of templates/parameters.yaml that decide whether a billed resource exists,
/// evaluated from the stage configuration the parameters are rendered from. An unknown one
/// counts as true: an estimate should rather include a resource than miss it.
fn condition_holds(condition: &str, config: &StageConfig) -> bool {
    use crate::stage::config::IdentityMode;
    match condition {
        "HasAlarmEmail" => config.alarms.email.is_some(),
        "TracingEnabled" => config.tracing,
        "HasCustomDomain" => config.api.custom_domain.is_some(),
        "IdentityCognito" => config.identity.mode == IdentityMode::Cognito,
        _ => true,
    }
}

/// How many metrics an alarm reads: one, or for a metric-math alarm each `MetricStat` of its
/// `Metrics` (CloudWatch bills those per metric: the throttles alarm over six table metrics
/// costs six alarm metrics).
fn alarm_metrics(properties: &crate::stage::yaml::Mapping) -> u32 {
    match properties.get("Metrics").and_then(|m| m.as_sequence()) {
        Some(queries) => queries
            .iter()
            .filter(|q| q.get("MetricStat").is_some())
            .count()
            .max(1) as u32,
        None => 1,
    }
}
