//! The overlay of `mcp_function:` and `oauth.scopes`: what the user's own tools need, added to the
//! MCP function, its role and (for the table) the stack.
//!
//! These are maps, statement lists and an optional table, which template parameters cannot
//! express, so they are overlaid in code as data (never spliced into text), and only when the
//! stage sets them: a stage without them renders byte for byte as before. Nothing here touches
//! the auth function's role or the authorizer; only `MCP_SCOPES` also reaches the auth function,
//! which must offer the scopes it may grant.

use super::{Output, Resource, Template, TemplateError, invalid, mapping, retain_in_production};
use crate::stage::{
    config::{
        APP_TABLE_ACTIONS, APP_TABLE_PARTITION_KEY, APP_TABLE_SORT_KEY, AppTableConfig,
        IamStatement, McpFunctionConfig, SecretStore, StageConfig,
    },
    names,
    yaml::{self, Mapping, Value},
};

/// The function the user's tools run in, and its role.
const MCP_FUNCTION: &str = "McpFunction";
const MCP_ROLE: &str = "McpRole";
/// The authorization server, which offers (and grants) the scopes.
const AUTH_FUNCTION: &str = "AuthFunction";

/// Logical id of the tools' table.
pub(crate) const APP_TABLE: &str = "AppTable";

/// The store table the app table follows in the template, for a reader who looks for the tables.
const TABLE_BEFORE_APP_TABLE: &str = "RefreshTokensTable";

/// Comma-separated scopes offered besides the built-in ones.
pub(crate) const SCOPES_VARIABLE: &str = "MCP_SCOPES";
/// JSON object NAME → ARN of the secrets the MCP function reads at cold start.
pub(crate) const SECRETS_VARIABLE: &str = "MCP_APP_SECRETS";
/// The tools' table name.
pub(crate) const TABLE_VARIABLE: &str = "MCP_APP_TABLE";

/// Why the app table, like the store's tables, has no customer managed key (checkov CKV_AWS_119).
const APP_TABLE_KMS_SKIP: &str = "Encrypted at rest with the AWS managed KMS key (SSESpecification), like the store's tables. mcpctl creates no customer managed keys (each costs a monthly fee and needs a key policy someone maintains); only the MCP function's role may read or write the table.";

impl Template {
    /// Adds the stage's `mcp_function` options and `oauth.scopes`; a no-op when both are unset.
    pub(super) fn overlay_mcp_function(
        &mut self,
        config: &StageConfig,
    ) -> Result<(), TemplateError> {
        let options = &config.mcp_function;
        if !config.oauth.scopes.is_empty() {
            let scopes = yaml::string(config.oauth.scopes.join(","));
            for function in [AUTH_FUNCTION, MCP_FUNCTION] {
                self.set_variable(function, SCOPES_VARIABLE, scopes.clone())?;
            }
        }
        self.size_mcp_function(options)?;
        if let Some(json) = options.secrets_json() {
            self.set_variable(MCP_FUNCTION, SECRETS_VARIABLE, yaml::string(json))?;
        }
        if let Some(table) = &options.table {
            self.add_app_table(table, config.production)?;
            self.set_variable(MCP_FUNCTION, TABLE_VARIABLE, yaml::reference(APP_TABLE))?;
        }
        // In gateway mode the upstream answers `initialize` itself.
        if config.upstream.is_none() {
            for (name, value) in config.server.variables() {
                self.set_variable(MCP_FUNCTION, name, yaml::string(value))?;
            }
        }
        for (name, value) in &options.environment {
            self.set_variable(MCP_FUNCTION, name, yaml::string(value.as_str()))?;
        }
        let policies = role_policies(options);
        if !policies.is_empty() {
            self.mcp_role_policies()?.extend(policies);
            self.describe_mcp_role();
        }
        Ok(())
    }

    /// The role's description says it reaches its log group only; with the tools' grants it
    /// says so instead, for whoever reads the role in the console.
    fn describe_mcp_role(&mut self) {
        if let Some(role) = self.resources.get_mut(MCP_ROLE) {
            role.properties.insert(
                yaml::string("Description"),
                yaml::string(
                    "mcpctl MCP function - its log group, and what the tools need (config mcp_function)",
                ),
            );
        }
    }

    /// The MCP function's own memory and timeout, when the stage gives them.
    fn size_mcp_function(&mut self, options: &McpFunctionConfig) -> Result<(), TemplateError> {
        let properties = &mut self.function(MCP_FUNCTION)?.properties;
        if let Some(memory_mb) = options.memory_mb {
            properties.insert(yaml::string("MemorySize"), Value::from(memory_mb));
        }
        if let Some(timeout_seconds) = options.timeout_seconds {
            properties.insert(yaml::string("Timeout"), Value::from(timeout_seconds));
        }
        Ok(())
    }

    pub(super) fn function(&mut self, id: &str) -> Result<&mut Resource, TemplateError> {
        let origin = self.origin("Resources", id);
        match self.resources.get_mut(id) {
            Some(resource) if resource.kind == "AWS::Lambda::Function" => Ok(resource),
            Some(resource) => Err(invalid(
                &origin,
                id,
                &format!("is a {}, not an AWS::Lambda::Function", resource.kind),
                "this logical id belongs to a function of the stack",
            )),
            None => Err(invalid(
                "templates",
                id,
                "function is missing, but the stage configures it (mcp_function, oauth.scopes)",
                "declare it in templates/functions.yaml",
            )),
        }
    }

    /// Adds one variable; a variable the template already sets is an error, never overwritten.
    pub(super) fn set_variable(
        &mut self,
        id: &str,
        name: &str,
        value: Value,
    ) -> Result<(), TemplateError> {
        let origin = self.origin("Resources", id);
        let properties = &mut self.function(id)?.properties;
        let environment = properties
            .entry(yaml::string("Environment"))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        let Some(environment) = environment.as_mapping_mut() else {
            return Err(invalid(
                &origin,
                id,
                "has an Environment that is not a mapping",
                "write Environment: {Variables: {...}}",
            ));
        };
        let variables = environment
            .entry(yaml::string("Variables"))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        let Some(variables) = variables.as_mapping_mut() else {
            return Err(invalid(
                &origin,
                id,
                "has Environment.Variables that is not a mapping",
                "write Variables as NAME: value pairs",
            ));
        };
        if variables.contains_key(name) {
            return Err(invalid(
                &origin,
                id,
                &format!("already sets {name}, which the stage configuration sets"),
                "remove it from the template, or rename the variable in mcp_function.environment",
            ));
        }
        variables.insert(yaml::string(name), value);
        Ok(())
    }

    /// The tools' table (after the store's tables) and its name as an output.
    fn add_app_table(
        &mut self,
        table: &AppTableConfig,
        production: bool,
    ) -> Result<(), TemplateError> {
        if self.resources.contains_key(APP_TABLE)
            || self.outputs.contains_key(names::output::APP_TABLE_NAME)
        {
            let origin = self.origin("Resources", APP_TABLE);
            return Err(invalid(
                &origin,
                APP_TABLE,
                "is defined in the templates, but mcp_function.table adds it",
                "remove it (and its output) from the templates: the renderer adds the table from the stage configuration",
            ));
        }
        let index = self
            .resources
            .get_index_of(TABLE_BEFORE_APP_TABLE)
            .map_or(self.resources.len(), |index| index + 1);
        self.resources
            .shift_insert(index, APP_TABLE.to_owned(), app_table(table, production));
        self.outputs.insert(
            names::output::APP_TABLE_NAME.to_owned(),
            Output {
                description: Some(
                    "The tools' DynamoDB table (config mcp_function.table), MCP_APP_TABLE of the MCP function.".to_owned(),
                ),
                condition: None,
                value: yaml::reference(APP_TABLE),
                export: None,
            },
        );
        Ok(())
    }

    /// The `Policies` list of the MCP function's role.
    pub(super) fn mcp_role_policies(&mut self) -> Result<&mut Vec<Value>, TemplateError> {
        let origin = self.origin("Resources", MCP_ROLE);
        let Some(role) = self
            .resources
            .get_mut(MCP_ROLE)
            .filter(|role| role.kind == "AWS::IAM::Role")
        else {
            return Err(invalid(
                &origin,
                MCP_ROLE,
                "role of the MCP function is missing or not an AWS::IAM::Role, but mcp_function grants it permissions",
                "declare it in templates/functions.yaml",
            ));
        };
        let policies = role
            .properties
            .entry(yaml::string("Policies"))
            .or_insert_with(|| Value::Sequence(Vec::new()));
        match policies {
            Value::Sequence(policies) => Ok(policies),
            _ => Err(invalid(
                &origin,
                MCP_ROLE,
                "has Policies that is not a list",
                "write Policies as a list of {PolicyName, PolicyDocument}",
            )),
        }
    }
}

/// The table resource: billing, recovery and encryption as `templates/tables.yaml` writes the
/// store's tables, the keys, and `production`'s protection as the renderer gives those.
fn app_table(table: &AppTableConfig, production: bool) -> Resource {
    let skip = mapping([
        ("id", yaml::string("CKV_AWS_119")),
        ("comment", yaml::string(APP_TABLE_KMS_SKIP)),
    ]);
    let mut resource = Resource {
        kind: "AWS::DynamoDB::Table".to_owned(),
        condition: None,
        depends_on: Vec::new(),
        deletion_policy: None,
        update_replace_policy: None,
        metadata: Some(mapping([(
            "checkov",
            mapping([("skip", Value::Sequence(vec![skip]))]),
        )])),
        properties: Mapping::new(),
    };
    let name = format!("${{AWS::StackName}}-app-{}", table.name);
    let key = |attribute: &str, kind: &str| {
        mapping([
            ("AttributeName", yaml::string(attribute)),
            ("KeyType", yaml::string(kind)),
        ])
    };
    let attribute = |attribute: &str| {
        mapping([
            ("AttributeName", yaml::string(attribute)),
            ("AttributeType", yaml::string("S")),
        ])
    };
    let properties = &mut resource.properties;
    properties.insert(yaml::string("BillingMode"), yaml::string("PAY_PER_REQUEST"));
    properties.insert(
        yaml::string("PointInTimeRecoverySpecification"),
        mapping([("PointInTimeRecoveryEnabled", Value::Bool(true))]),
    );
    properties.insert(
        yaml::string("SSESpecification"),
        mapping([("SSEEnabled", Value::Bool(true))]),
    );
    properties.insert(
        yaml::string("TableName"),
        yaml::tagged("Sub", yaml::string(name)),
    );
    properties.insert(
        yaml::string("AttributeDefinitions"),
        Value::Sequence(vec![
            attribute(APP_TABLE_PARTITION_KEY),
            attribute(APP_TABLE_SORT_KEY),
        ]),
    );
    properties.insert(
        yaml::string("KeySchema"),
        Value::Sequence(vec![
            key(APP_TABLE_PARTITION_KEY, "HASH"),
            key(APP_TABLE_SORT_KEY, "RANGE"),
        ]),
    );
    properties.insert(
        yaml::string("DeletionProtectionEnabled"),
        Value::Bool(production),
    );
    retain_in_production(&mut resource, production);
    resource
}

/// The inline policies the options add to the MCP function's role, each only when it has a
/// statement: moto (the deploy tests) and IAM refuse an empty policy.
fn role_policies(options: &McpFunctionConfig) -> Vec<Value> {
    let mut policies = Vec::new();
    let secrets = secret_statements(options);
    if !secrets.is_empty() {
        policies.push(policy("app-secrets", secrets));
    }
    if options.table.is_some() {
        policies.push(policy("app-table", vec![table_statement()]));
    }
    if !options.iam_statements.is_empty() {
        let statements = options.iam_statements.iter().map(statement).collect();
        policies.push(policy("app-statements", statements));
    }
    if !policies.is_empty() {
        policies.push(policy("stack-guard", stack_guard_statements()));
    }
    policies
}

/// Whatever a stage grants its tools (a wildcard copied from an example, `secret:*`), the MCP
/// role never reaches what mints tokens: the signing key and the other auth secrets, the three OAuth tables, and the auth and
/// authorizer functions. An explicit Deny wins over every Allow.
/// The optional secrets get statements of their own under their condition (moto cannot take
/// `AWS::NoValue` inside a Resource list).
pub(super) fn stack_guard_statements() -> Vec<Value> {
    let deny = |sid: &str, resources: Vec<Value>| {
        mapping([
            ("Sid", yaml::string(sid)),
            ("Effect", yaml::string("Deny")),
            ("Action", yaml::string("*")),
            ("Resource", Value::Sequence(resources)),
        ])
    };
    let get_att = |id: &str| yaml::tagged("GetAtt", yaml::string(format!("{id}.Arn")));
    let mut stack = vec![yaml::tagged("Ref", yaml::string("SigningKeySecretArn"))];
    for table in ["ClientsTable", "CodesTable", "RefreshTokensTable"] {
        stack.push(get_att(table));
        stack.push(yaml::tagged(
            "Sub",
            yaml::string(format!("${{{table}.Arn}}/*")),
        ));
    }
    // The function ARNs with and without a qualifier (`:$LATEST`, a version or an alias).
    for function in [AUTH_FUNCTION, "AuthorizerFunction"] {
        stack.push(get_att(function));
        stack.push(yaml::tagged(
            "Sub",
            yaml::string(format!("${{{function}.Arn}}:*")),
        ));
    }
    let optional = |condition: &str, sid: &str, parameter: &str| {
        yaml::tagged(
            "If",
            Value::Sequence(vec![
                yaml::string(condition),
                deny(sid, vec![yaml::tagged("Ref", yaml::string(parameter))]),
                yaml::tagged("Ref", yaml::string("AWS::NoValue")),
            ]),
        )
    };
    vec![
        deny("NeverTheAuthorizationServer", stack),
        optional(
            "HasOidcClientSecret",
            "NeverTheOidcClientSecret",
            "OidcClientSecretArn",
        ),
        optional(
            "HasInitialAccessTokenSecret",
            "NeverTheInitialAccessToken",
            "InitialAccessTokenSecretArn",
        ),
    ]
}

pub(super) fn policy(name: &str, statements: Vec<Value>) -> Value {
    mapping([
        ("PolicyName", yaml::string(name)),
        (
            "PolicyDocument",
            mapping([
                ("Version", yaml::string("2012-10-17")),
                ("Statement", Value::Sequence(statements)),
            ]),
        ),
    ])
}

/// Read access to exactly the listed secrets, one statement per store. No `kms:Decrypt`: the
/// AWS managed keys of Secrets Manager and SSM need none, and a customer managed key is the
/// stage's to grant (an `iam_statements` entry naming the key).
fn secret_statements(options: &McpFunctionConfig) -> Vec<Value> {
    [
        (
            SecretStore::SecretsManager,
            "AppSecrets",
            "secretsmanager:GetSecretValue",
        ),
        (
            SecretStore::SsmParameter,
            "AppParameters",
            "ssm:GetParameter",
        ),
    ]
    .into_iter()
    .filter_map(|(store, sid, action)| {
        let arns = options.secret_arns(store);
        (!arns.is_empty()).then(|| {
            mapping([
                ("Sid", yaml::string(sid)),
                ("Effect", yaml::string("Allow")),
                ("Action", yaml::string(action)),
                (
                    "Resource",
                    Value::Sequence(arns.into_iter().map(yaml::string).collect()),
                ),
            ])
        })
    })
    .collect()
}

/// Item-level access to the tools' table (no index exists, so none is named).
fn table_statement() -> Value {
    mapping([
        ("Sid", yaml::string("AppTable")),
        ("Effect", yaml::string("Allow")),
        (
            "Action",
            Value::Sequence(APP_TABLE_ACTIONS.map(yaml::string).to_vec()),
        ),
        (
            "Resource",
            yaml::tagged("GetAtt", yaml::string(format!("{APP_TABLE}.Arn"))),
        ),
    ])
}

/// One statement of `mcp_function.iam_statements` as IAM reads it (the configuration validated
/// it: an Effect, actions and resources, no NotAction, NotResource or Principal).
pub(super) fn statement(statement: &IamStatement) -> Value {
    let one_or_many = |items: &[String]| match items {
        [one] => yaml::string(one.as_str()),
        many => Value::Sequence(
            many.iter()
                .map(|item| yaml::string(item.as_str()))
                .collect(),
        ),
    };
    let mut out = Mapping::new();
    if let Some(sid) = &statement.sid {
        out.insert(yaml::string("Sid"), yaml::string(sid.as_str()));
    }
    out.insert(
        yaml::string("Effect"),
        // Validated as Allow or Deny; an empty one would fail the deploy, never grant.
        yaml::string(statement.effect.as_deref().unwrap_or_default()),
    );
    out.insert(yaml::string("Action"), one_or_many(&statement.action));
    out.insert(yaml::string("Resource"), one_or_many(&statement.resource));
    if let Some(condition) = &statement.condition {
        out.insert(yaml::string("Condition"), Value::Mapping(condition.clone()));
    }
    Value::Mapping(out)
}
