//! `mcp_function:`: what a user's own MCP tools need on AWS. The tools run in the stack's MCP
//! function (`MCP_HANDLER=mcp`), so this section sizes that function and gives it plain
//! variables, secrets it reads at cold start, extra IAM statements and a DynamoDB table of its
//! own.
//!
//! Everything here reaches the MCP function (its environment, its role) and nothing else: the
//! auth function holds the signing key and the store's tables, the authorizer decides who gets in,
//! and a tool's permissions must widen neither.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::{Violation, in_range, is_region, secret_region, violation, yaml};

/// Variables Lambda sets itself (besides every `AWS_*` one); a function cannot override them.
const LAMBDA_RESERVED: [&str; 4] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Variables the template sets on the MCP function that do not start with `MCP_` or `AWS_`.
const STACK_VARIABLES: [&str; 1] = ["RUST_LOG"];

/// Bytes of the MCP function's environment the stage's own entries may take. Lambda allows
/// 4 KB in all, and the stack's variables (URLs, origins, the JWKS with a retired key during a
/// rotation) need up to about 2 KB of it.
pub(super) const ENVIRONMENT_BUDGET_BYTES: usize = 2048;

/// The DynamoDB actions the app table grants: every item-level request, no table management.
pub(crate) const APP_TABLE_ACTIONS: [&str; 8] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
];

/// The app table's partition key: the signed-in subject (`sub` of the token), so one user's
/// items are one partition.
pub(crate) const APP_TABLE_PARTITION_KEY: &str = "subject";

/// The app table's sort key.
pub(crate) const APP_TABLE_SORT_KEY: &str = "id";

/// The MCP function's resources for the user's tools. Every field is optional; an empty section
/// changes nothing in the template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct McpFunctionConfig {
    /// Memory of the MCP function in MB (128..=10240). Default: `lambda.memory_mb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) memory_mb: Option<u32>,
    /// Timeout of the MCP function in seconds (1..=900: `/mcp` streams, and its integration
    /// waits 900 s). Default: `lambda.timeout_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_seconds: Option<u32>,
    /// Plain environment variables, NAME → value. Not for secrets: anyone who can read the
    /// function's configuration sees them.
    pub(crate) environment: BTreeMap<String, String>,
    /// Secrets the function reads at cold start, NAME → ARN of a Secrets Manager secret or an SSM
    /// parameter. The function gets them as `MCP_APP_SECRETS` and its role may read exactly them.
    pub(crate) secrets: BTreeMap<String, String>,
    /// IAM statements added to the MCP function's role.
    pub(crate) iam_statements: Vec<IamStatement>,
    /// A DynamoDB table for the tools, `<stack>-app-<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) table: Option<AppTableConfig>,
}

/// The tools' table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppTableConfig {
    /// Short name: the table is `<stack>-app-<name>`.
    pub(crate) name: String,
}

/// One IAM policy statement, spelled as IAM spells it so statements can be copied from AWS
/// documentation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IamStatement {
    /// Statement id: letters and digits.
    #[serde(rename = "Sid", default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    /// `Allow` or `Deny`; optional in the type only so that a missing one gets our message.
    #[serde(rename = "Effect", default, skip_serializing_if = "Option::is_none")]
    pub(crate) effect: Option<String>,
    /// One action or a list.
    #[serde(rename = "Action", default, deserialize_with = "yaml::one_or_many")]
    pub(crate) action: Vec<String>,
    /// One resource ARN or a list.
    #[serde(rename = "Resource", default, deserialize_with = "yaml::one_or_many")]
    pub(crate) resource: Vec<String>,
    /// Condition operator → condition key → value or values.
    #[serde(rename = "Condition", default, skip_serializing_if = "Option::is_none")]
    pub(crate) condition: Option<yaml::Mapping>,
    // Accepted by the parser only to be refused with a reason (see `refused_key`): an unknown
    // key error would not say why they are unsafe here.
    #[serde(
        rename = "NotAction",
        default,
        deserialize_with = "present",
        skip_serializing
    )]
    not_action: Option<yaml::Value>,
    #[serde(
        rename = "NotResource",
        default,
        deserialize_with = "present",
        skip_serializing
    )]
    not_resource: Option<yaml::Value>,
    #[serde(
        rename = "Principal",
        default,
        deserialize_with = "present",
        skip_serializing
    )]
    principal: Option<yaml::Value>,
    #[serde(
        rename = "NotPrincipal",
        default,
        deserialize_with = "present",
        skip_serializing
    )]
    not_principal: Option<yaml::Value>,
}

/// Records that a key was written, whatever its value (even `~`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<yaml::Value>, D::Error> {
    yaml::Value::deserialize(deserializer).map(Some)
}

/// Where a secret of `mcp_function.secrets` lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretStore {
    /// A Secrets Manager secret (`secretsmanager:GetSecretValue`).
    SecretsManager,
    /// An SSM Parameter Store parameter (`ssm:GetParameter`).
    SsmParameter,
}

/// The store and region of a secret ARN, or `None` when it is neither kind.
pub(crate) fn secret_store(arn: &str) -> Option<(SecretStore, &str)> {
    if let Some(region) = secret_region(arn) {
        return Some((SecretStore::SecretsManager, region));
    }
    parameter_region(arn).map(|region| (SecretStore::SsmParameter, region))
}

/// The region of an SSM parameter ARN, `arn:aws:ssm:<region>:<account>:parameter/<name>`.
fn parameter_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let name = resource.strip_prefix("parameter/")?;
    let ok = *prefix == "arn"
        && partition.starts_with("aws")
        && *service == "ssm"
        && is_region(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        // The ARN of the parameter `/a/b` is `parameter/a/b`; IAM matches no `parameter//a/b`.
        && !name.starts_with('/')
        && !name.contains("//")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
    ok.then_some(*region)
}

impl McpFunctionConfig {
    /// The ARNs of one store's secrets, each once, sorted.
    pub(crate) fn secret_arns(&self, store: SecretStore) -> Vec<&str> {
        let mut arns: Vec<&str> = self
            .secrets
            .values()
            .map(String::as_str)
            .filter(|arn| secret_store(arn).is_some_and(|(kind, _)| kind == store))
            .collect();
        arns.sort_unstable();
        arns.dedup();
        arns
    }

    /// `MCP_APP_SECRETS`: the compact JSON object NAME → ARN, or `None` without secrets.
    pub(crate) fn secrets_json(&self) -> Option<String> {
        (!self.secrets.is_empty()).then(|| {
            let object = self
                .secrets
                .iter()
                .map(|(name, arn)| (name.clone(), serde_json::Value::String(arn.clone())))
                .collect();
            serde_json::Value::Object(object).to_string()
        })
    }

    /// Checks every value; `region` is the stage's, when it names one.
    pub(super) fn validate(&self, region: Option<&str>) -> Result<(), Violation> {
        let Self {
            memory_mb,
            timeout_seconds,
            environment,
            secrets,
            iam_statements,
            table,
        } = self;
        if let Some(memory_mb) = memory_mb {
            in_range("mcp_function.memory_mb", *memory_mb, 128, 10240)?;
        }
        if let Some(timeout_seconds) = timeout_seconds {
            check_timeout(*timeout_seconds)?;
        }
        for name in environment.keys() {
            check_variable_name("mcp_function.environment", name)?;
        }
        for (name, arn) in secrets {
            check_variable_name("mcp_function.secrets", name)?;
            if environment.contains_key(name) {
                return Err(violation(
                    "mcp_function.secrets",
                    format!("`{name}` is also in mcp_function.environment"),
                    "give the secret and the variable different names",
                ));
            }
            check_app_secret_arn(name, arn, region)?;
        }
        self.check_environment_size()?;
        validate_statements(
            "mcp_function.iam_statements",
            "the MCP function's role",
            "anyone who can call a tool",
            iam_statements,
        )?;
        if let Some(AppTableConfig { name }) = table {
            check_table_name(name)?;
        }
        Ok(())
    }

    /// The stage's share of Lambda's 4 KB environment.
    /// The bytes of Lambda's environment the variables and the secrets' JSON take.
    pub(super) fn environment_bytes(&self) -> usize {
        let variables: usize = self
            .environment
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        let secrets = self
            .secrets_json()
            .map_or(0, |json| "MCP_APP_SECRETS".len() + json.len());
        variables + secrets
    }

    fn check_environment_size(&self) -> Result<(), Violation> {
        let used = self.environment_bytes();
        if used > ENVIRONMENT_BUDGET_BYTES {
            return Err(violation(
                "mcp_function.environment",
                format!(
                    "the variables and the secrets' names and ARNs take {used} bytes, more than the {ENVIRONMENT_BUDGET_BYTES} of Lambda's 4 KB environment the stack leaves them"
                ),
                "move long values into one secret (a JSON secret holds many values) or into the table",
            ));
        }
        Ok(())
    }
}

/// Lambda's range. `POST /mcp` streams with an integration timeout of 900 s (templates/api.yaml),
/// so API Gateway waits as long as any function may run.
fn check_timeout(timeout_seconds: u32) -> Result<(), Violation> {
    in_range("mcp_function.timeout_seconds", timeout_seconds, 1, 900)
}

/// A variable name the MCP function may be given: a POSIX-style name that neither Lambda nor the
/// stack sets, so it can never shadow the handler's configuration.
fn check_variable_name(field: &'static str, name: &str) -> Result<(), Violation> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let (problem, fix) = if !well_formed {
        (
            "is not a variable name",
            "use letters, digits and `_`, not starting with a digit, e.g. NOTES_API_URL",
        )
    } else if name.starts_with("MCP_") {
        (
            "starts with MCP_, the prefix of the stack's own variables",
            "rename it without the MCP_ prefix, e.g. NOTES_API_URL",
        )
    } else if name.starts_with("MCPCTL_") {
        (
            "starts with MCPCTL_, the prefix mcpctl reserves (MCPCTL_DEV_LISTEN would turn the function into a local dev process)",
            "rename it without the MCPCTL_ prefix",
        )
    } else if name.starts_with("AWS_") {
        (
            "starts with AWS_, a prefix Lambda reserves",
            "rename it without the AWS_ prefix; the function already has AWS_REGION",
        )
    } else if LAMBDA_RESERVED.contains(&name) {
        (
            "is reserved by Lambda",
            "rename it (TZ is allowed; _HANDLER, _X_AMZN_TRACE_ID, LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR are not)",
        )
    } else if STACK_VARIABLES.contains(&name) {
        (
            "is set by the stack (the handler's log filter)",
            "rename it",
        )
    } else {
        return Ok(());
    };
    Err(violation(field, format!("`{name}` {problem}"), fix))
}

/// A Secrets Manager secret or SSM parameter ARN, in the stage's region.
fn check_app_secret_arn(name: &str, arn: &str, region: Option<&str>) -> Result<(), Violation> {
    let field = "mcp_function.secrets";
    let Some((_, secret_region)) = secret_store(arn) else {
        let fix = if arn.contains(":parameter//") {
            "write a parameter named /a/b as arn:aws:ssm:<region>:<account>:parameter/a/b (one slash)"
        } else {
            "use arn:aws:secretsmanager:<region>:<account>:secret:<name-with-suffix> (the full ARN, with the 6-character suffix) or arn:aws:ssm:<region>:<account>:parameter/<name>"
        };
        return Err(violation(
            field,
            format!("{name}: `{arn}` is not a Secrets Manager secret or SSM parameter ARN"),
            fix,
        ));
    };
    if let Some(region) = region
        && secret_region != region
    {
        return Err(violation(
            field,
            format!("{name}: the secret is in {secret_region} but the stage deploys to {region}"),
            format!("the MCP function reads secrets in its own region: put the secret in {region}"),
        ));
    }
    Ok(())
}

fn check_table_name(name: &str) -> Result<(), Violation> {
    let ok = name.len() <= 31
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        return Ok(());
    }
    Err(violation(
        "mcp_function.table.name",
        format!("`{name}` is not a short table name"),
        "use 1 to 31 lower-case letters, digits and `-`, starting with a letter or digit, e.g. notes (the table is <stack>-app-notes)",
    ))
}

/// Where a list of statements goes, for the messages: the field, the role that gets them, and
/// who could use what they allow.
#[derive(Debug, Clone, Copy)]
struct Statements {
    field: &'static str,
    role: &'static str,
    who: &'static str,
}

/// Checks the statements of a role's `iam_statements` field (`field`), added to `role`, whose
/// grants reach `who`: each statement, and their Sids.
pub(super) fn validate_statements(
    field: &'static str,
    role: &'static str,
    who: &'static str,
    statements: &[IamStatement],
) -> Result<(), Violation> {
    let to = Statements { field, role, who };
    for (index, statement) in statements.iter().enumerate() {
        statement.validate(to, index)?;
    }
    check_unique_sids(field, statements)
}

fn check_unique_sids(field: &'static str, statements: &[IamStatement]) -> Result<(), Violation> {
    let mut seen = Vec::new();
    for sid in statements.iter().filter_map(|s| s.sid.as_deref()) {
        if seen.contains(&sid) {
            return Err(violation(
                field,
                format!("Sid `{sid}` is used twice"),
                "give each statement its own Sid, or leave Sid out",
            ));
        }
        seen.push(sid);
    }
    Ok(())
}

impl IamStatement {
    /// How errors name the statement: its number from 1, and its Sid when it has one.
    fn label(&self, index: usize) -> String {
        match &self.sid {
            Some(sid) => format!("statement {} (Sid {sid})", index + 1),
            None => format!("statement {}", index + 1),
        }
    }

    fn validate(&self, to: Statements, index: usize) -> Result<(), Violation> {
        let field = to.field;
        let label = self.label(index);
        if let Some((problem, fix)) = self.refused_key(to.role) {
            return Err(violation(field, format!("{label} {problem}"), fix));
        }
        if let Some(sid) = &self.sid
            && (sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(violation(
                field,
                format!("{label}: `{sid}` is not a Sid"),
                "use letters and digits only, e.g. ReadNotesBucket",
            ));
        }
        let allow = match self.effect.as_deref() {
            Some("Allow") => true,
            Some("Deny") => false,
            Some(other) => {
                return Err(violation(
                    field,
                    format!("{label}: `{other}` is not an Effect"),
                    "write Effect: Allow or Effect: Deny, capitalised as IAM spells them",
                ));
            }
            None => {
                return Err(violation(
                    field,
                    format!("{label} has no Effect"),
                    "add Effect: Allow (or Deny)",
                ));
            }
        };
        self.check_actions(field, &label)?;
        self.check_resources(field, &label)?;
        check_wildcards(to, &label, allow, &self.action, &self.resource)?;
        if let Some(condition) = &self.condition {
            check_condition(field, &label, condition)?;
        }
        Ok(())
    }

    /// The keys a role's statement must not have, with the reason.
    fn refused_key(&self, role: &str) -> Option<(&'static str, String)> {
        if self.not_action.is_some() {
            Some((
                "uses NotAction, which allows (or denies) every action except the listed ones, including actions AWS adds later",
                "list the actions the tools need under Action".to_owned(),
            ))
        } else if self.not_resource.is_some() {
            Some((
                "uses NotResource, which applies to every resource except the listed ones",
                "list the resource ARNs the tools need under Resource".to_owned(),
            ))
        } else if self.principal.is_some() || self.not_principal.is_some() {
            Some((
                "has a Principal, which belongs in a resource's policy, not in a role's",
                format!("remove it: the statement applies to {role}"),
            ))
        } else {
            None
        }
    }

    fn check_actions(&self, field: &'static str, label: &str) -> Result<(), Violation> {
        if self.action.is_empty() {
            return Err(violation(
                field,
                format!("{label} has no Action"),
                "add the actions the tools call, e.g. Action: [s3:GetObject]",
            ));
        }
        for action in &self.action {
            if !is_action(action) {
                return Err(violation(
                    field,
                    format!("{label}: `{action}` is not an IAM action"),
                    "write service:Action, e.g. s3:GetObject or s3:Get* (`*` and `?` match)",
                ));
            }
        }
        Ok(())
    }

    fn check_resources(&self, field: &'static str, label: &str) -> Result<(), Violation> {
        if self.resource.is_empty() {
            return Err(violation(
                field,
                format!("{label} has no Resource"),
                "add the ARNs the actions apply to, e.g. Resource: arn:aws:s3:::my-bucket/*",
            ));
        }
        for resource in &self.resource {
            let arn = resource.starts_with("arn:")
                && !resource
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control());
            if resource != "*" && !arn {
                return Err(violation(
                    field,
                    format!("{label}: `{resource}` is not a resource ARN"),
                    "write a full ARN such as arn:aws:s3:::my-bucket/*, or * for actions that take no resource",
                ));
            }
        }
        Ok(())
    }
}

/// `*`, or `service:action` where the action may hold `*` and `?`.
fn is_action(action: &str) -> bool {
    if action == "*" {
        return true;
    }
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?'))
}

/// Every action on every resource: administrator access for Allow, and for Deny a function that
/// could not even write its logs.
fn check_wildcards(
    to: Statements,
    label: &str,
    allow: bool,
    actions: &[String],
    resources: &[String],
) -> Result<(), Violation> {
    let every_action = actions.iter().any(|action| action == "*");
    if !(every_action && resources.iter().any(|r| is_every_resource(r))) {
        return Ok(());
    }
    let (problem, fix) = if allow {
        (
            format!(
                "allows every action on every resource (Action * with Resource *): that is administrator access for {}",
                to.who
            ),
            "name the actions (e.g. s3:GetObject) and the resource ARNs the tools need",
        )
    } else {
        (
            "denies every action on every resource (Action * with Resource *): the function could not even write its logs".to_owned(),
            "name the actions and resources to deny",
        )
    };
    Err(violation(to.field, format!("{label} {problem}"), fix))
}

/// `*`, or an ARN that is wildcards in every part but the partition (`arn:*`, `arn:aws:*:*:*:*`):
/// every resource all the same.
fn is_every_resource(resource: &str) -> bool {
    resource == "*"
        || resource.strip_prefix("arn:").is_some_and(|rest| {
            let mut parts = rest.split(':');
            let partition = parts.next().unwrap_or_default();
            (partition == "*" || partition.starts_with("aws"))
                && parts.all(|part| part == "*" || part.is_empty())
        })
}

/// `Condition`: operator → key → a value or a list of values, written literally (the stage file
/// is not a template, so `!Ref` and friends would reach IAM unevaluated).
fn check_condition(
    field: &'static str,
    label: &str,
    condition: &yaml::Mapping,
) -> Result<(), Violation> {
    let scalar = |value: &yaml::Value| {
        matches!(
            value,
            yaml::Value::String(_) | yaml::Value::Number(_) | yaml::Value::Bool(_)
        )
    };
    let well_formed = !condition.is_empty()
        && condition.iter().all(|(operator, keys)| {
            operator.is_string()
                && keys.as_mapping().is_some_and(|keys| {
                    !keys.is_empty()
                        && keys.iter().all(|(key, value)| {
                            key.is_string()
                                && (scalar(value)
                                    || value.as_sequence().is_some_and(|values| {
                                        !values.is_empty() && values.iter().all(scalar)
                                    }))
                        })
                })
        });
    if well_formed {
        return Ok(());
    }
    Err(violation(
        field,
        format!("{label} has a Condition that is not operator → key → value(s)"),
        "write it as IAM does, e.g. Condition: {StringEquals: {\"aws:ResourceAccount\": \"123456789012\"}}, with literal values",
    ))
}
