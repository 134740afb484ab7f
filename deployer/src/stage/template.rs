//! The renderer: CloudFormation fragments (`templates/*.yaml`, loaded as data) plus typed overlays
//! make one template per stage.
//!
//! The fragments are ordinary CloudFormation YAML split by concern. They are merged section by
//! section (a logical id defined twice is an error naming both files), then overlaid in code:
//! - every stage value of [`StageConfig`] becomes the `Default` of a template parameter, so the
//!   rendered template is readable and self-contained and no value is spliced into text;
//! - the three tables get `KeySchema`, `AttributeDefinitions`, `GlobalSecondaryIndexes` and
//!   `TimeToLiveSpecification` from `mcpctl_handler::store::dynamo::schema`, so the store and the stack
//!   cannot drift, and `production` decides their retention and deletion protection;
//! - the MCP function's options (`mcp_function`, `oauth.scopes`: maps, statements, a table) are
//!   added to that function, its role and the stack only when the stage sets them
//!   ([`mcp_function`]);
//! - gateway mode (`upstream:`) gives the MCP function the gateway's variables and grants, guards
//!   GET and DELETE `/mcp` like POST, and adds the upstream function ([`gateway`]);
//! - the API deployment gets a logical id suffixed with a hash of the whole template and depends
//!   on every method, so that any change to the API is really deployed to the stage (a
//!   CloudFormation `AWS::ApiGateway::Deployment` is a snapshot taken only when it is created).

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use mcpctl_handler::store::schema::{self, TableSpec};
use serde::{Deserialize, Serialize};

use super::{
    config::{
        self, AlarmsConfig, AllowConfig, ApiConfig, ClaimsConfig, CognitoConfig, CustomDomain,
        IdentityConfig, LambdaConfig, OAuthConfig, OidcConfig, StageConfig,
    },
    names,
    yaml::{self, Mapping, Value},
};

mod gateway;
mod mcp_function;

/// The fragments built into the binary, in the order their sections are merged.
const EMBEDDED: [(&str, &str); 8] = [
    (
        "parameters.yaml",
        include_str!("../../../templates/parameters.yaml"),
    ),
    (
        "tables.yaml",
        include_str!("../../../templates/tables.yaml"),
    ),
    (
        "functions.yaml",
        include_str!("../../../templates/functions.yaml"),
    ),
    (
        "identity.yaml",
        include_str!("../../../templates/identity.yaml"),
    ),
    ("api.yaml", include_str!("../../../templates/api.yaml")),
    (
        "alarms.yaml",
        include_str!("../../../templates/alarms.yaml"),
    ),
    (
        "dashboard.yaml",
        include_str!("../../../templates/dashboard.yaml"),
    ),
    (
        "outputs.yaml",
        include_str!("../../../templates/outputs.yaml"),
    ),
];

/// The tables whose keys come from the store's schema.
pub(crate) const TABLES: [TableSpec; 3] = [schema::CLIENTS, schema::CODES, schema::REFRESH_TOKENS];

/// Table properties owned by the renderer.
const TABLE_OVERLAY_KEYS: [&str; 5] = [
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "TimeToLiveSpecification",
    "DeletionProtectionEnabled",
];

/// The resource type whose retention and deletion protection the renderer owns, like the tables'.
const USER_POOL_TYPE: &str = "AWS::Cognito::UserPool";

/// Where the fragments come from.
#[derive(Debug, Clone)]
pub(crate) enum TemplateSource {
    /// The `templates/*.yaml` built into mcpctl.
    Embedded,
    /// Every `*.yaml` file of a directory (`--templates DIR`).
    Dir(PathBuf),
}

/// One fragment file.
#[derive(Debug, Clone)]
pub(crate) struct Fragment {
    /// How errors name it, e.g. `templates/api.yaml`.
    pub(crate) name: String,
    /// Its text.
    pub(crate) text: String,
}

/// Errors while building the template; each names the fragment file and the logical id.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum TemplateError {
    /// The `--templates` directory cannot be listed.
    #[error("{dir}: cannot read the template directory: {source}")]
    #[diagnostic(help(
        "pass --templates a directory of CloudFormation *.yaml fragments, or leave it out to use the built-in templates"
    ))]
    ReadDir {
        /// The directory.
        dir: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The `--templates` directory has no fragments.
    #[error("{dir}: no *.yaml template fragments")]
    #[diagnostic(help(
        "pass --templates a directory of CloudFormation *.yaml fragments, or leave it out to use the built-in templates"
    ))]
    NoFragments {
        /// The directory.
        dir: String,
    },
    /// A fragment cannot be read.
    #[error("{file}: cannot read it: {source}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A fragment is not valid YAML or has an unknown key.
    #[error("{file}: {message}")]
    #[diagnostic(help(
        "a fragment has only Parameters, Conditions, Resources and Outputs (the renderer adds AWSTemplateFormatVersion and Description), and each item only the attributes CloudFormation defines"
    ))]
    Parse {
        /// The file.
        file: String,
        /// What is wrong, with the path and line.
        message: String,
    },
    /// Two fragments define the same logical id.
    #[error("{id}: defined in both {first} and {second}")]
    #[diagnostic(help(
        "logical ids are unique across all template fragments; rename or remove one of them"
    ))]
    Duplicate {
        /// The logical id.
        id: String,
        /// Where it was defined first.
        first: String,
        /// Where it was defined again.
        second: String,
    },
    /// A fragment breaks a rule of the renderer.
    #[error("{file}: {id}: {problem}")]
    #[diagnostic(help("{help}"))]
    Invalid {
        /// The file (or `templates` when an item is missing everywhere).
        file: String,
        /// The logical id.
        id: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        help: String,
    },
    /// The template cannot be written as YAML.
    #[error("cannot write the template as YAML: {0}")]
    Serialize(String),
}

/// A CloudFormation `DeletionPolicy` / `UpdateReplacePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Policy {
    /// Delete the resource.
    Delete,
    /// Keep the resource outside the stack.
    Retain,
    /// Keep it unless it was created by the failed operation.
    RetainExceptOnCreate,
    /// Snapshot, then delete.
    Snapshot,
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Parameter {
    /// `String`, `Number`, ...
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// The stage value (set by the renderer) or a fixed default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) default: Option<Value>,
    /// Allowed values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allowed_values: Option<Vec<Value>>,
    /// Regular expression for strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allowed_pattern: Option<String>,
    /// Shortest string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_length: Option<u32>,
    /// Longest string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_length: Option<u32>,
    /// Smallest number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_value: Option<Value>,
    /// Largest number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_value: Option<Value>,
    /// Message when a constraint fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) constraint_description: Option<String>,
    /// Mask the value in the console and API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) no_echo: Option<bool>,
}

/// A resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Resource {
    /// `AWS::Service::Thing`.
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    /// Created only when this condition holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) condition: Option<String>,
    /// Created after these.
    #[serde(
        default,
        deserialize_with = "yaml::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub(crate) depends_on: Vec<String>,
    /// What happens when the stack deletes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) deletion_policy: Option<Policy>,
    /// What happens to the old one when an update replaces it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) update_replace_policy: Option<Policy>,
    /// Free-form metadata (checkov skips live here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<Value>,
    /// The properties.
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub(crate) properties: Mapping,
}

/// A stack output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Output {
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Present only when this condition holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) condition: Option<String>,
    /// The value.
    pub(crate) value: Value,
    /// Cross-stack export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) export: Option<Value>,
}

/// One fragment's content.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FragmentDoc {
    #[serde(default)]
    parameters: IndexMap<String, Parameter>,
    #[serde(default)]
    conditions: IndexMap<String, Value>,
    #[serde(default)]
    resources: IndexMap<String, Resource>,
    #[serde(default)]
    outputs: IndexMap<String, Output>,
}

/// A whole CloudFormation template.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Template {
    /// Always `2010-09-09`.
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub(crate) format_version: String,
    /// One line about the stack.
    pub(crate) description: String,
    /// Parameters.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) parameters: IndexMap<String, Parameter>,
    /// Conditions.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) conditions: IndexMap<String, Value>,
    /// Resources.
    pub(crate) resources: IndexMap<String, Resource>,
    /// Outputs.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) outputs: IndexMap<String, Output>,
    /// Which fragment defined each item, keyed `Section/Id`.
    #[serde(skip)]
    origins: IndexMap<String, String>,
}

/// A rendered stage.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The template as data.
    pub(crate) template: Template,
    /// The template as the YAML text to deploy.
    pub(crate) body: String,
}

/// Most bytes CloudFormation accepts as an inline `TemplateBody`; larger ones go through S3.
pub(crate) const MAX_INLINE_TEMPLATE_BYTES: usize = 51_200;

impl TemplateSource {
    /// The fragments, in merge order: the known concerns first (parameters, tables, functions,
    /// api, alarms, outputs), then any other file by name.
    pub(crate) fn fragments(&self) -> Result<Vec<Fragment>, TemplateError> {
        let mut fragments = match self {
            Self::Embedded => EMBEDDED
                .iter()
                .map(|(name, text)| Fragment {
                    name: format!("templates/{name}"),
                    text: (*text).to_owned(),
                })
                .collect::<Vec<_>>(),
            Self::Dir(dir) => read_dir(dir)?,
        };
        fragments.sort_by_key(|fragment| merge_rank(&fragment.name));
        Ok(fragments)
    }
}

fn merge_rank(name: &str) -> (usize, String) {
    let file = Path::new(name)
        .file_name()
        .map(|file| file.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rank = EMBEDDED
        .iter()
        .position(|(known, _)| *known == file)
        .unwrap_or(EMBEDDED.len());
    (rank, file)
}

fn read_dir(dir: &Path) -> Result<Vec<Fragment>, TemplateError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::ReadDir {
        dir: shown.clone(),
        source,
    })?;
    let mut fragments = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| TemplateError::ReadDir {
                dir: shown.clone(),
                source,
            })?
            .path();
        if path.extension().is_none_or(|extension| extension != "yaml") {
            continue;
        }
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
            file: name.clone(),
            source,
        })?;
        fragments.push(Fragment { name, text });
    }
    if fragments.is_empty() {
        return Err(TemplateError::NoFragments { dir: shown });
    }
    Ok(fragments)
}

/// Renders the template of a stage.
pub(crate) fn render(
    config: &StageConfig,
    source: &TemplateSource,
) -> Result<Rendered, TemplateError> {
    let mut template = Template::merge(&source.fragments()?)?;
    template.check_contract()?;
    template.check_checkov_skips()?;
    template.overlay_parameters(config)?;
    template.overlay_tables(config.production)?;
    template.overlay_mcp_function(config)?;
    template.overlay_gateway(config)?;
    template.overlay_user_pools(config.production)?;
    template.description = format!(
        "mcpctl: remote MCP server with its own OAuth 2.1 authorization server on API Gateway REST + Lambda + DynamoDB (stack {}, stage {}{})",
        config.stack_name,
        config.stage,
        if config.production {
            ", production"
        } else {
            ""
        }
    );
    template.seal_deployment()?;
    let yaml = yaml::to_string(&template).map_err(|e| TemplateError::Serialize(e.to_string()))?;
    let body = format!(
        "# Rendered by `mcpctl render` from templates/*.yaml and the stage configuration of stack {}.\n# Edit those, not this file.\n{yaml}",
        config.stack_name
    );
    Ok(Rendered { template, body })
}

impl Template {
    /// Merges the fragments' sections; a logical id may be defined once.
    fn merge(fragments: &[Fragment]) -> Result<Self, TemplateError> {
        let mut template = Self {
            format_version: "2010-09-09".into(),
            ..Self::default()
        };
        for fragment in fragments {
            let parse_error = |message: String| TemplateError::Parse {
                file: fragment.name.clone(),
                message,
            };
            // Parsing as an untyped value first rejects duplicate keys inside one file.
            let untyped: Value =
                yaml::from_str(&fragment.text).map_err(|e| parse_error(e.to_string()))?;
            if untyped.is_null() {
                continue; // Only comments.
            }
            let doc: FragmentDoc =
                yaml::from_str(&fragment.text).map_err(|e| parse_error(e.to_string()))?;
            let file = fragment.name.as_str();
            template.add("Parameters", file, doc.parameters, |t| &mut t.parameters)?;
            template.add("Conditions", file, doc.conditions, |t| &mut t.conditions)?;
            template.add("Resources", file, doc.resources, |t| &mut t.resources)?;
            template.add("Outputs", file, doc.outputs, |t| &mut t.outputs)?;
        }
        Ok(template)
    }

    fn add<T>(
        &mut self,
        section: &str,
        file: &str,
        items: IndexMap<String, T>,
        target: fn(&mut Self) -> &mut IndexMap<String, T>,
    ) -> Result<(), TemplateError> {
        for (id, item) in items {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(invalid(
                    file,
                    &id,
                    "is not a logical id",
                    "logical ids are letters and digits only",
                ));
            }
            // Parameters and resources share one namespace (both are `!Ref` targets).
            let namespace = if section == "Parameters" {
                "Resources"
            } else {
                section
            };
            for key in [format!("{section}/{id}"), format!("{namespace}/{id}")] {
                if let Some(first) = self.origins.get(&key) {
                    return Err(TemplateError::Duplicate {
                        id,
                        first: first.clone(),
                        second: file.to_owned(),
                    });
                }
            }
            self.origins
                .insert(format!("{namespace}/{id}"), file.to_owned());
            self.origins
                .insert(format!("{section}/{id}"), file.to_owned());
            target(self).insert(id, item);
        }
        Ok(())
    }

    fn origin(&self, section: &str, id: &str) -> String {
        self.origins
            .get(&format!("{section}/{id}"))
            .cloned()
            .unwrap_or_else(|| "templates".to_owned())
    }

    /// The parameters and outputs the other commands rely on are all there.
    fn check_contract(&self) -> Result<(), TemplateError> {
        for name in names::parameter::DEPLOY_TIME {
            let Some(parameter) = self.parameters.get(name) else {
                return Err(invalid(
                    "templates",
                    name,
                    "deploy-time parameter is missing",
                    "declare it (without a Default) in templates/parameters.yaml: mcpctl deploy passes it",
                ));
            };
            if parameter.default.is_some() {
                return Err(invalid(
                    &self.origin("Parameters", name),
                    name,
                    "deploy-time parameter has a Default",
                    "remove the Default: mcpctl deploy passes a fresh value on every deploy",
                ));
            }
        }
        for name in names::output::REQUIRED {
            if !self.outputs.contains_key(name) {
                return Err(invalid(
                    "templates",
                    name,
                    "output is missing",
                    "declare it in templates/outputs.yaml: the other mcpctl commands read it from the stack",
                ));
            }
        }
        Ok(())
    }

    /// Each checkov skip names a check and says why.
    fn check_checkov_skips(&self) -> Result<(), TemplateError> {
        for (id, resource) in &self.resources {
            let Some(skips) = resource
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.get("checkov"))
                .and_then(|checkov| checkov.get("skip"))
            else {
                continue;
            };
            let valid = skips.as_sequence().is_some_and(|skips| {
                skips.iter().all(|skip| {
                    let check = skip.get("id").and_then(Value::as_str).unwrap_or_default();
                    let comment = skip
                        .get("comment")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    check.starts_with("CKV") && comment.trim().len() >= 10
                })
            });
            if !valid {
                return Err(invalid(
                    &self.origin("Resources", id),
                    id,
                    "a checkov skip lacks a check id or a reason",
                    "write each skip as `- id: CKV_AWS_nn` with `comment: <why this check does not apply>`",
                ));
            }
        }
        Ok(())
    }

    /// Sets the `Default` of every stage parameter from the configuration.
    fn overlay_parameters(&mut self, config: &StageConfig) -> Result<(), TemplateError> {
        let values = stage_parameters(config);
        for (name, field, value) in &values {
            let origin = self.origin("Parameters", name);
            let Some(parameter) = self.parameters.get_mut(*name) else {
                return Err(invalid(
                    "templates",
                    name,
                    &format!("parameter for the stage setting `{field}` is missing"),
                    "declare it (without a Default) in templates/parameters.yaml",
                ));
            };
            if parameter.default.is_some() {
                return Err(invalid(
                    &origin,
                    name,
                    &format!("has a Default, but its value comes from the stage setting `{field}`"),
                    "remove the Default and set the value in config/<stage>.yaml",
                ));
            }
            parameter.default = Some(value.clone());
        }
        for (name, parameter) in &self.parameters {
            let known = values.iter().any(|(known, _, _)| known == name)
                || names::parameter::DEPLOY_TIME.contains(&name.as_str());
            if !known && parameter.default.is_none() {
                return Err(invalid(
                    &self.origin("Parameters", name),
                    name,
                    "has no Default, and neither the stage configuration nor mcpctl deploy gives it a value",
                    "give it a Default, or remove it",
                ));
            }
        }
        Ok(())
    }

    /// Gives each table its keys from the store's schema and its protection from `production`.
    fn overlay_tables(&mut self, production: bool) -> Result<(), TemplateError> {
        for spec in TABLES {
            let origin = self.origin("Resources", spec.logical_id);
            let Some(resource) = self.resources.get_mut(spec.logical_id) else {
                return Err(invalid(
                    "templates",
                    spec.logical_id,
                    "table is missing",
                    "declare it in templates/tables.yaml; the renderer adds its keys from mcpctl_handler::store::dynamo::schema",
                ));
            };
            if resource.kind != "AWS::DynamoDB::Table" {
                return Err(invalid(
                    &origin,
                    spec.logical_id,
                    &format!("is a {}, not an AWS::DynamoDB::Table", resource.kind),
                    "this logical id belongs to a table of the store",
                ));
            }
            if let Some(key) = TABLE_OVERLAY_KEYS
                .iter()
                .find(|key| resource.properties.contains_key(**key))
            {
                return Err(invalid(
                    &origin,
                    spec.logical_id,
                    &format!("sets {key}, which the renderer owns"),
                    "remove it: keys, index and TTL come from mcpctl_handler::store::dynamo::schema, deletion protection from `production`",
                ));
            }
            if resource.deletion_policy.is_some() || resource.update_replace_policy.is_some() {
                return Err(invalid(
                    &origin,
                    spec.logical_id,
                    "sets DeletionPolicy or UpdateReplacePolicy, which the renderer owns",
                    "remove them: `production: true` in config/<stage>.yaml retains the tables",
                ));
            }
            retain_in_production(resource, production);
            resource
                .properties
                .extend(table_properties(&spec, production));
        }
        Ok(())
    }

    /// Gives every Cognito user pool the protection of the tables: in production `Retain` and
    /// deletion protection, because deleting a pool deletes its users and their passwords.
    fn overlay_user_pools(&mut self, production: bool) -> Result<(), TemplateError> {
        let ids: Vec<String> = self
            .resources
            .iter()
            .filter(|(_, resource)| resource.kind == USER_POOL_TYPE)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let origin = self.origin("Resources", &id);
            let Some(resource) = self.resources.get_mut(&id) else {
                continue;
            };
            if resource.properties.contains_key("DeletionProtection")
                || resource.deletion_policy.is_some()
                || resource.update_replace_policy.is_some()
            {
                return Err(invalid(
                    &origin,
                    &id,
                    "sets DeletionProtection, DeletionPolicy or UpdateReplacePolicy, which the renderer owns",
                    "remove them: `production: true` in config/<stage>.yaml retains the user pool",
                ));
            }
            retain_in_production(resource, production);
            resource.properties.insert(
                yaml::string("DeletionProtection"),
                yaml::string(if production { "ACTIVE" } else { "INACTIVE" }),
            );
        }
        Ok(())
    }

    /// Names the API deployment after a hash of the template and makes it depend on every method
    /// and gateway response, so each change creates a new deployment of the stage.
    fn seal_deployment(&mut self) -> Result<(), TemplateError> {
        let deployments: Vec<String> = self
            .resources
            .iter()
            .filter(|(_, resource)| resource.kind == "AWS::ApiGateway::Deployment")
            .map(|(id, _)| id.clone())
            .collect();
        let base = match deployments.as_slice() {
            [] => return Ok(()),
            [one] => one.clone(),
            [_, second, ..] => {
                return Err(invalid(
                    &self.origin("Resources", second),
                    second,
                    "is a second AWS::ApiGateway::Deployment",
                    "keep one deployment; the renderer renames it after the API's hash",
                ));
            }
        };
        let origin = self.origin("Resources", &base);
        let members: Vec<String> = self
            .resources
            .iter()
            .filter(|(_, resource)| {
                matches!(
                    resource.kind.as_str(),
                    "AWS::ApiGateway::Method" | "AWS::ApiGateway::GatewayResponse"
                )
            })
            .map(|(id, _)| id.clone())
            .collect();
        let Some((index, _, mut deployment)) = self.resources.shift_remove_full(&base) else {
            return Ok(());
        };
        if !deployment.depends_on.is_empty() {
            return Err(invalid(
                &origin,
                &base,
                "sets DependsOn, which the renderer computes",
                "remove it: the deployment depends on every method and gateway response",
            ));
        }
        let hashed =
            yaml::to_string(&*self).map_err(|e| TemplateError::Serialize(e.to_string()))?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, hashed.as_bytes());
        let suffix: String = digest.as_ref()[..5]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let id = format!("{base}{suffix}");
        deployment.depends_on = members;
        self.resources.shift_insert(index, id.clone(), deployment);

        let mut problem = None;
        for (other, resource) in &mut self.resources {
            for dependency in &mut resource.depends_on {
                if *dependency == base {
                    dependency.clone_from(&id);
                }
            }
            let mut properties = Value::Mapping(std::mem::take(&mut resource.properties));
            if let Err(error) = rename_refs(&mut properties, &base, &id) {
                problem.get_or_insert((other.clone(), error));
            }
            if let Value::Mapping(properties) = properties {
                resource.properties = properties;
            }
        }
        for (other, output) in &mut self.outputs {
            if let Err(error) = rename_refs(&mut output.value, &base, &id) {
                problem.get_or_insert((other.clone(), error));
            }
        }
        match problem {
            Some((other, error)) => Err(invalid(
                &self.origin("Resources", &other),
                &other,
                &error,
                "refer to the API deployment with !Ref only: the renderer renames it",
            )),
            None => Ok(()),
        }
    }
}

/// Stateful resources (tables, user pools) survive a stack deletion or replacement in production
/// and go with the stack elsewhere.
fn retain_in_production(resource: &mut Resource, production: bool) {
    let policy = if production {
        Policy::Retain
    } else {
        Policy::Delete
    };
    resource.deletion_policy = Some(policy);
    resource.update_replace_policy = Some(policy);
}

fn invalid(file: &str, id: &str, problem: &str, help: &str) -> TemplateError {
    TemplateError::Invalid {
        file: file.to_owned(),
        id: id.to_owned(),
        problem: problem.to_owned(),
        help: help.to_owned(),
    }
}

/// Replaces `!Ref from` (and `{Ref: from}`) by `!Ref to`; other intrinsics naming `from` are errors.
fn rename_refs(value: &mut Value, from: &str, to: &str) -> Result<(), String> {
    if let Some((tag, inner)) = yaml::as_tagged(value) {
        let mentions = |text: &str| {
            text == from
                || text.starts_with(&format!("{from}."))
                || text.contains(&format!("${{{from}}}"))
                || text.contains(&format!("${{{from}."))
        };
        match tag.as_str() {
            "Ref" if inner.as_str() == Some(from) => {
                *value = yaml::reference(to);
                return Ok(());
            }
            "GetAtt" | "Sub"
                if inner.as_str().is_some_and(mentions)
                    || inner
                        .as_sequence()
                        .and_then(|items| items.first())
                        .and_then(Value::as_str)
                        .is_some_and(mentions) =>
            {
                return Err(format!("refers to {from} with !{tag}"));
            }
            _ => {}
        }
    }
    match value {
        Value::Tagged(tagged) => rename_refs(&mut tagged.value, from, to),
        Value::Sequence(items) => items
            .iter_mut()
            .try_for_each(|item| rename_refs(item, from, to)),
        Value::Mapping(mapping) => {
            if mapping.len() == 1 && mapping.get("Ref").and_then(Value::as_str) == Some(from) {
                mapping.insert(yaml::string("Ref"), yaml::string(to));
                return Ok(());
            }
            mapping
                .values_mut()
                .try_for_each(|item| rename_refs(item, from, to))
        }
        _ => Ok(()),
    }
}

/// The table properties that come from the store's schema and `production`.
fn table_properties(spec: &TableSpec, production: bool) -> Mapping {
    let key = |attribute: &str| {
        mapping([
            ("AttributeName", yaml::string(attribute)),
            ("KeyType", yaml::string("HASH")),
        ])
    };
    let mut attributes = vec![spec.partition_key];
    for (_, index_key) in spec.indexes {
        if !attributes.contains(index_key) {
            attributes.push(index_key);
        }
    }
    let mut properties = Mapping::new();
    properties.insert(
        yaml::string("AttributeDefinitions"),
        Value::Sequence(
            attributes
                .iter()
                .map(|attribute| {
                    mapping([
                        ("AttributeName", yaml::string(*attribute)),
                        ("AttributeType", yaml::string("S")),
                    ])
                })
                .collect(),
        ),
    );
    properties.insert(
        yaml::string("KeySchema"),
        Value::Sequence(vec![key(spec.partition_key)]),
    );
    if !spec.indexes.is_empty() {
        let indexes = spec
            .indexes
            .iter()
            .map(|(name, index_key)| {
                mapping([
                    ("IndexName", yaml::string(*name)),
                    ("KeySchema", Value::Sequence(vec![key(index_key)])),
                    (
                        "Projection",
                        mapping([("ProjectionType", yaml::string("KEYS_ONLY"))]),
                    ),
                ])
            })
            .collect();
        properties.insert(
            yaml::string("GlobalSecondaryIndexes"),
            Value::Sequence(indexes),
        );
    }
    if let Some(attribute) = spec.ttl_attribute {
        properties.insert(
            yaml::string("TimeToLiveSpecification"),
            mapping([
                ("AttributeName", yaml::string(attribute)),
                ("Enabled", Value::Bool(true)),
            ]),
        );
    }
    properties.insert(
        yaml::string("DeletionProtectionEnabled"),
        Value::Bool(production),
    );
    properties
}

fn mapping<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Mapping(
        entries
            .into_iter()
            .map(|(key, value)| (yaml::string(key), value))
            .collect(),
    )
}

/// Every stage parameter: (parameter, configuration field, value). Destructures the whole
/// configuration, so a new field cannot be forgotten here.
fn stage_parameters(config: &StageConfig) -> Vec<(&'static str, &'static str, Value)> {
    let StageConfig {
        stage,
        // Not parameters: `name` is the stage file's name, `production` changes resource
        // attributes (overlay_tables), the stack name and region are where `mcpctl deploy` puts
        // the stack.
        name: _,
        production: _,
        stack_name: _,
        region: _,
        // Not a parameter: `mcpctl deploy` makes the key and passes `SigningKmsKeyArns`.
        signing: _,
        tracing,
        lambda,
        api,
        oauth,
        alarms,
        identity,
        // Not parameters: maps, statements and an optional table, overlaid by
        // `overlay_mcp_function` only when the stage sets them.
        mcp_function: _,
        // Not parameters either: the gateway's resources and variables, overlaid by
        // `overlay_gateway` only in gateway mode (and `UpstreamCodeKey`, deploy-time).
        upstream: _,
        // Not parameters: set variables of the MCP function only, overlaid when given.
        server: _,
    } = config;
    let LambdaConfig {
        memory_mb,
        timeout_seconds,
        architecture,
        log_retention_days,
    } = lambda;
    let ApiConfig {
        throttle_rate,
        throttle_burst,
        strict_throttle_rate,
        strict_throttle_burst,
        allowed_origins,
        custom_domain,
    } = api;
    let OAuthConfig {
        access_token_ttl_seconds,
        refresh_token_ttl_seconds,
        registration_open,
        initial_access_token_secret_arn,
        redirect_schemes,
        refresh_max_lifetime_days,
        // MCP_SCOPES, overlaid with the MCP function's options.
        scopes: _,
    } = oauth;
    let AlarmsConfig {
        email,
        lambda_errors,
        lambda_throttles,
        lambda_duration_p99_ms,
        api_5xx,
        api_latency_p99_ms,
        dynamodb_throttles,
        dynamodb_system_errors,
        refresh_reuse,
        registrations,
        invalid_grants,
        sign_in_failures,
        cimd_fetch_failures,
        tool_errors,
    } = alarms;
    let (domain_name, certificate_arn) = match custom_domain {
        Some(CustomDomain {
            domain_name,
            certificate_arn,
        }) => (domain_name.as_str(), certificate_arn.as_str()),
        None => ("", ""),
    };
    let IdentityConfig {
        mode,
        oidc,
        cognito,
        claims,
        allow,
        remember_consent_days,
        groups_scope,
    } = identity;
    let ClaimsConfig {
        email: email_claim,
        name: name_claim,
        groups: groups_claim,
    } = claims;
    let AllowConfig {
        email_domains,
        groups: allowed_groups,
    } = allow;
    let default_scopes = config::DEFAULT_SCOPES.map(str::to_owned).to_vec();
    let (issuer, client_id, client_secret_arn, scopes) = match oidc {
        Some(OidcConfig {
            issuer,
            client_id,
            client_secret_arn,
            scopes,
        }) => (
            issuer.as_str(),
            client_id.as_str(),
            client_secret_arn.as_deref().unwrap_or_default(),
            scopes,
        ),
        None => ("", "", "", &default_scopes),
    };
    let domain_prefix = cognito
        .as_ref()
        .map(|CognitoConfig { domain_prefix }| domain_prefix.as_str())
        .unwrap_or_default();
    let flag = |value: bool| yaml::string(if value { "true" } else { "false" });
    let email = email.as_deref().unwrap_or_default();
    let initial_access_token_secret_arn = initial_access_token_secret_arn
        .as_deref()
        .unwrap_or_default();
    let groups_scope = groups_scope.as_deref().unwrap_or_default();
    // CloudFormation cannot multiply, and the handler reads seconds.
    let refresh_max_lifetime_seconds = u64::from(*refresh_max_lifetime_days) * 86_400;
    #[rustfmt::skip]
    let values = vec![
        ("StageName", "stage", yaml::string(stage.as_str())),
        ("Tracing", "tracing", flag(*tracing)),
        ("LambdaMemorySize", "lambda.memory_mb", Value::from(*memory_mb)),
        ("LambdaTimeout", "lambda.timeout_seconds", Value::from(*timeout_seconds)),
        ("LambdaArchitecture", "lambda.architecture", yaml::string(architecture.as_str())),
        ("LogRetentionDays", "lambda.log_retention_days", Value::from(*log_retention_days)),
        ("ThrottleRate", "api.throttle_rate", number(*throttle_rate)),
        ("ThrottleBurst", "api.throttle_burst", Value::from(*throttle_burst)),
        ("StrictThrottleRate", "api.strict_throttle_rate", number(*strict_throttle_rate)),
        ("StrictThrottleBurst", "api.strict_throttle_burst", Value::from(*strict_throttle_burst)),
        ("AllowedOrigins", "api.allowed_origins", yaml::string(allowed_origins.join(","))),
        ("CustomDomainName", "api.custom_domain.domain_name", yaml::string(domain_name)),
        ("CustomDomainCertificateArn", "api.custom_domain.certificate_arn", yaml::string(certificate_arn)),
        ("AccessTokenTtlSeconds", "oauth.access_token_ttl_seconds", Value::from(*access_token_ttl_seconds)),
        ("RefreshTokenTtlSeconds", "oauth.refresh_token_ttl_seconds", Value::from(*refresh_token_ttl_seconds)),
        ("RegistrationOpen", "oauth.registration_open", flag(*registration_open)),
        ("InitialAccessTokenSecretArn", "oauth.initial_access_token_secret_arn", yaml::string(initial_access_token_secret_arn)),
        ("RedirectSchemes", "oauth.redirect_schemes", yaml::string(redirect_schemes.join(","))),
        ("RefreshMaxLifetimeSeconds", "oauth.refresh_max_lifetime_days", Value::from(refresh_max_lifetime_seconds)),
        ("AlarmEmail", "alarms.email", yaml::string(email)),
        ("LambdaErrorsThreshold", "alarms.lambda_errors", Value::from(*lambda_errors)),
        ("LambdaThrottlesThreshold", "alarms.lambda_throttles", Value::from(*lambda_throttles)),
        ("LambdaDurationP99Threshold", "alarms.lambda_duration_p99_ms", Value::from(*lambda_duration_p99_ms)),
        ("Api5xxThreshold", "alarms.api_5xx", Value::from(*api_5xx)),
        ("ApiLatencyP99Threshold", "alarms.api_latency_p99_ms", Value::from(*api_latency_p99_ms)),
        ("DynamoDbThrottlesThreshold", "alarms.dynamodb_throttles", Value::from(*dynamodb_throttles)),
        ("DynamoDbSystemErrorsThreshold", "alarms.dynamodb_system_errors", Value::from(*dynamodb_system_errors)),
        ("RefreshReuseThreshold", "alarms.refresh_reuse", Value::from(*refresh_reuse)),
        ("RegistrationsThreshold", "alarms.registrations", Value::from(*registrations)),
        ("InvalidGrantsThreshold", "alarms.invalid_grants", Value::from(*invalid_grants)),
        ("SignInFailuresThreshold", "alarms.sign_in_failures", Value::from(*sign_in_failures)),
        ("CimdFetchFailuresThreshold", "alarms.cimd_fetch_failures", Value::from(*cimd_fetch_failures)),
        ("ToolErrorsThreshold", "alarms.tool_errors", Value::from(*tool_errors)),
        ("IdentityMode", "identity.mode", yaml::string(mode.as_str())),
        ("OidcIssuer", "identity.oidc.issuer", yaml::string(issuer)),
        ("OidcClientId", "identity.oidc.client_id", yaml::string(client_id)),
        ("OidcClientSecretArn", "identity.oidc.client_secret_arn", yaml::string(client_secret_arn)),
        ("OidcScopes", "identity.oidc.scopes", yaml::string(scopes.join(" "))),
        ("OidcClaimEmail", "identity.claims.email", yaml::string(email_claim.as_str())),
        ("OidcClaimName", "identity.claims.name", yaml::string(name_claim.as_str())),
        ("OidcClaimGroups", "identity.claims.groups", yaml::string(groups_claim.as_str())),
        ("AllowedEmailDomains", "identity.allow.email_domains", yaml::string(email_domains.join(","))),
        ("AllowedGroups", "identity.allow.groups", yaml::string(allowed_groups.join(","))),
        ("RememberConsentDays", "identity.remember_consent_days", Value::from(*remember_consent_days)),
        ("CognitoDomainPrefix", "identity.cognito.domain_prefix", yaml::string(domain_prefix)),
        ("GroupsScope", "identity.groups_scope", yaml::string(groups_scope)),
    ];
    values
}

/// A number, written without `.0` when it is whole.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && (0.0..=1e15).contains(&value) {
        Value::from(value as u64)
    } else {
        Value::from(value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stage::config::{self, McpFunctionConfig};

    fn stage(name: &str) -> StageConfig {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        config::load(&dir, name, &BTreeMap::new()).unwrap()
    }

    fn rendered(name: &str) -> Rendered {
        render(&stage(name), &TemplateSource::Embedded).unwrap()
    }

    fn body_value(rendered: &Rendered) -> Value {
        yaml::from_str(&rendered.body).unwrap()
    }

    /// Renders dev from the built-in fragments plus or replaced by `extra`, in a scratch directory.
    fn render_with(extra: &[(&str, &str)]) -> Result<Rendered, TemplateError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcpctl-fragments-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in EMBEDDED.iter().chain(extra) {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let result = render(&stage("dev"), &TemplateSource::Dir(dir.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    fn fragment(name: &str) -> &'static str {
        EMBEDDED.iter().find(|(known, _)| *known == name).unwrap().1
    }

    fn render_error(extra: &[(&str, &str)]) -> String {
        render_with(extra).unwrap_err().to_string()
    }

    #[test]
    fn the_body_reads_back_as_the_template() {
        for name in ["dev", "prod"] {
            let rendered = rendered(name);
            assert_eq!(
                body_value(&rendered),
                yaml::to_value(&rendered.template).unwrap()
            );
        }
    }

    #[test]
    fn rendered_tables_match_the_store_schema() {
        for name in ["dev", "prod"] {
            let production = name == "prod";
            let body = body_value(&rendered(name));
            for spec in TABLES {
                let table = &body["Resources"][spec.logical_id];
                let properties = &table["Properties"];
                assert_eq!(table["Type"], "AWS::DynamoDB::Table");
                assert_eq!(
                    properties["KeySchema"][0]["AttributeName"],
                    spec.partition_key
                );
                assert_eq!(properties["KeySchema"][0]["KeyType"], "HASH");
                assert_eq!(properties["KeySchema"].as_sequence().unwrap().len(), 1);
                let mut expected: Vec<&str> = vec![spec.partition_key];
                expected.extend(spec.indexes.iter().map(|(_, key)| *key));
                let defined: Vec<&str> = properties["AttributeDefinitions"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|definition| {
                        assert_eq!(definition["AttributeType"], "S");
                        definition["AttributeName"].as_str().unwrap()
                    })
                    .collect();
                assert_eq!(defined, expected);
                match spec.ttl_attribute {
                    Some(attribute) => {
                        assert_eq!(
                            properties["TimeToLiveSpecification"]["AttributeName"],
                            attribute
                        );
                        assert_eq!(properties["TimeToLiveSpecification"]["Enabled"], true);
                    }
                    None => assert!(properties.get("TimeToLiveSpecification").is_none()),
                }
                let indexes = properties
                    .get("GlobalSecondaryIndexes")
                    .and_then(Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(indexes.len(), spec.indexes.len());
                for ((index, key), rendered) in spec.indexes.iter().zip(&indexes) {
                    assert_eq!(rendered["IndexName"], *index);
                    assert_eq!(rendered["KeySchema"][0]["AttributeName"], *key);
                    assert_eq!(rendered["Projection"]["ProjectionType"], "KEYS_ONLY");
                }
                assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST");
                assert_eq!(properties["SSESpecification"]["SSEEnabled"], true);
                assert_eq!(
                    properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
                    true
                );
                assert_eq!(properties["DeletionProtectionEnabled"], production);
                let policy = if production { "Retain" } else { "Delete" };
                assert_eq!(table["DeletionPolicy"], policy);
                assert_eq!(table["UpdateReplacePolicy"], policy);
            }
        }
    }

    #[test]
    fn every_index_named_in_a_policy_exists_in_the_schema() {
        let body = rendered("dev").body;
        let known: Vec<&str> = TABLES
            .iter()
            .flat_map(|spec| spec.indexes.iter().map(|(name, _)| *name))
            .collect();
        let mut seen = 0;
        for (position, _) in body.match_indices("/index/") {
            let name: String = body[position + "/index/".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert!(known.contains(&name.as_str()), "unknown index {name}");
            seen += 1;
        }
        assert!(seen > 0);
    }

    fn environment(body: &Value, function: &str) -> Vec<String> {
        body["Resources"][function]["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|key| key.as_str().unwrap().to_owned())
            .collect()
    }

    /// The handler's metric names that the alarms and the dashboard use, each checked against
    /// the names the handler writes (a renamed metric would leave an alarm that never fires).
    #[test]
    fn the_dashboard_is_json_and_every_mcpctl_metric_it_and_the_alarms_name_exists() {
        use mcpctl_handler::metrics::{NAMESPACE, names};
        let known = [
            names::MCP_REQUESTS,
            names::TOOL_CALLS,
            names::TOOL_ERRORS,
            names::TOOL_LATENCY,
            names::REGISTRATIONS,
            names::REGISTRATIONS_REFUSED,
            names::AUTHORIZATIONS,
            names::TOKEN_GRANTS,
            names::INVALID_GRANTS,
            names::REFRESH_REUSE,
            names::CIMD_FETCH_FAILURES,
            names::SIGN_IN_FAILURES,
            names::TOKEN_REJECTIONS,
        ];
        let body = body_value(&rendered("prod"));
        let resources = body["Resources"].as_mapping().unwrap();
        let mut alarmed = 0;
        for (_, resource) in resources {
            let properties = &resource["Properties"];
            if resource["Type"] == "AWS::CloudWatch::Alarm" && properties["Namespace"] == NAMESPACE
            {
                let metric = properties["MetricName"].as_str().unwrap();
                assert!(known.contains(&metric), "alarm on unknown metric {metric}");
                assert_eq!(properties["Dimensions"][0]["Name"], names::STACK);
                alarmed += 1;
            }
        }
        assert_eq!(alarmed, 6);
        let sub = match &body["Resources"]["Dashboard"]["Properties"]["DashboardBody"] {
            Value::Tagged(tagged) => tagged.value.as_str().map(str::to_owned),
            other => other["Fn::Sub"].as_str().map(str::to_owned),
        }
        .expect("DashboardBody is a !Sub string");
        // What CloudFormation substitutes, every `${...}`, by a plain word.
        let substituted = regex_lite_sub(&sub);
        let dashboard: serde_json::Value = serde_json::from_str(&substituted)
            .unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}\n{substituted}"));
        let text = dashboard.to_string();
        let mut named = 0;
        for metric in known {
            if text.contains(&format!("MetricName=\\\"{metric}\\\""))
                || text.contains(&format!("\"{metric}\""))
            {
                named += 1;
            }
        }
        assert!(named >= 11, "the dashboard shows {named} of the metrics");
        assert!(dashboard["widgets"].as_array().unwrap().len() >= 10);
    }

    /// `${Name}` and `${Name.Attr}` replaced by `x`.
    fn regex_lite_sub(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            out.push('x');
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn each_function_gets_exactly_the_environment_the_handler_reads() {
        let body = body_value(&rendered("prod"));
        let common = [
            "MCP_HANDLER",
            "MCP_PUBLIC_URL",
            "MCP_ALLOWED_ORIGINS",
            "MCP_ALLOWED_HOSTS",
            "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH",
            "RUST_LOG",
        ];
        let mut auth: Vec<String> = common.map(str::to_owned).to_vec();
        // The Stack dimension of the metrics (the authorizer writes no access log).
        auth.insert(1, mcpctl_handler::metrics::STACK_VAR.to_owned());
        auth.extend(TABLES.map(|spec| spec.env_var.to_owned()));
        auth.extend(
            [
                "MCP_SIGNING_KEY_SECRET_ARN",
                "MCP_JWKS",
                "MCP_ACCESS_TOKEN_TTL_SECONDS",
                "MCP_REFRESH_TOKEN_TTL_SECONDS",
                "MCP_REGISTRATION_OPEN",
                "MCP_REDIRECT_SCHEMES",
                "MCP_REFRESH_MAX_LIFETIME_SECONDS",
                "MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN",
                "MCP_IDENTITY",
                "MCP_OIDC_ISSUER",
                "MCP_OIDC_CLIENT_ID",
                "MCP_OIDC_CLIENT_SECRET_ARN",
                "MCP_OIDC_SCOPES",
                "MCP_OIDC_CLAIM_EMAIL",
                "MCP_OIDC_CLAIM_NAME",
                "MCP_OIDC_CLAIM_GROUPS",
                "MCP_ALLOWED_EMAIL_DOMAINS",
                "MCP_ALLOWED_GROUPS",
                "MCP_REMEMBER_CONSENT_DAYS",
                "MCP_GROUPS_SCOPE",
            ]
            .map(str::to_owned),
        );
        assert_eq!(environment(&body, "AuthFunction"), auth);
        let mut verify_only: Vec<String> = common.map(str::to_owned).to_vec();
        verify_only.push("MCP_JWKS".into());
        assert_eq!(environment(&body, "AuthorizerFunction"), verify_only);
        verify_only.insert(1, mcpctl_handler::metrics::STACK_VAR.to_owned());
        assert_eq!(environment(&body, "McpFunction"), verify_only);
        for (function, handler) in [
            ("AuthFunction", "auth"),
            ("McpFunction", "mcp"),
            ("AuthorizerFunction", "authorizer"),
        ] {
            let variables = &body["Resources"][function]["Properties"]["Environment"]["Variables"];
            assert_eq!(variables["MCP_HANDLER"], handler);
            assert_eq!(variables["AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"], "true");
        }
    }

    #[test]
    fn only_the_auth_role_reaches_tables_and_the_signing_key() {
        let body = rendered("prod").body;
        let roles = body_value(&rendered("prod"));
        for role in ["McpRole", "AuthorizerRole"] {
            let text = yaml::to_string(&roles["Resources"][role]).unwrap();
            assert!(!text.contains("dynamodb:"), "{role}: {text}");
            assert!(!text.contains("secretsmanager:"), "{role}: {text}");
        }
        let auth = yaml::to_string(&roles["Resources"]["AuthRole"]).unwrap();
        assert!(auth.contains("secretsmanager:GetSecretValue"));
        // No wildcard resource except X-Ray's, whose actions take none.
        assert_eq!(body.matches("Resource: '*'").count(), 1);
        let xray = yaml::to_string(&roles["Resources"]["XRayPolicy"]).unwrap();
        assert!(xray.contains("Resource: '*'") && xray.contains("Condition: TracingEnabled"));
    }

    fn rendered_from(text: &str) -> Rendered {
        let config = config::from_yaml(text, "config/test.yaml", "test", &BTreeMap::new()).unwrap();
        render(&config, &TemplateSource::Embedded).unwrap()
    }

    const COGNITO: &str =
        "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp-test\n";

    #[test]
    fn identity_values_become_parameter_defaults() {
        let template = rendered_from(
            "identity:\n  mode: oidc\n  oidc:\n    issuer: https://login.example.com\n    client_id: abc\n    client_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf\n    scopes: [openid, email]\n  allow:\n    email_domains: [example.com, example.org]\n    groups: [mcp-users]\n  remember_consent_days: 7\n",
        )
        .template;
        let default = |name: &str| template.parameters[name].default.clone().unwrap();
        assert_eq!(default("IdentityMode"), "oidc");
        assert_eq!(default("OidcIssuer"), "https://login.example.com");
        assert_eq!(default("OidcClientId"), "abc");
        assert_eq!(
            default("OidcClientSecretArn"),
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"
        );
        assert_eq!(default("OidcScopes"), "openid email");
        assert_eq!(default("OidcClaimGroups"), "groups");
        assert_eq!(default("AllowedEmailDomains"), "example.com,example.org");
        assert_eq!(default("AllowedGroups"), "mcp-users");
        assert_eq!(default("RememberConsentDays"), 7);
        assert_eq!(default("CognitoDomainPrefix"), "");

        let template = rendered("prod").template;
        let default = |name: &str| template.parameters[name].default.clone().unwrap();
        assert_eq!(default("IdentityMode"), "none");
        assert_eq!(default("OidcIssuer"), "");
        assert_eq!(default("OidcClientSecretArn"), "");
        assert_eq!(default("OidcScopes"), "openid email profile");
        assert_eq!(
            rendered("dev").template.parameters["IdentityMode"].default,
            Some(yaml::string("dev"))
        );
    }

    #[test]
    fn the_user_pool_is_retained_and_protected_in_production_only() {
        for (production, policy, protection) in
            [(false, "Delete", "INACTIVE"), (true, "Retain", "ACTIVE")]
        {
            let body = body_value(&rendered_from(&format!(
                "production: {production}\n{COGNITO}"
            )));
            let pool = &body["Resources"]["UserPool"];
            assert_eq!(pool["Condition"], "IdentityCognito");
            assert_eq!(pool["DeletionPolicy"], policy);
            assert_eq!(pool["UpdateReplacePolicy"], policy);
            assert_eq!(pool["Properties"]["DeletionProtection"], protection);
        }
        // Every stage renders the same resources; the condition decides what is created.
        let prod = body_value(&rendered("prod"));
        assert_eq!(prod["Resources"]["UserPool"]["DeletionPolicy"], "Retain");
        assert_eq!(prod["Parameters"]["IdentityMode"]["Default"], "none");
    }

    #[test]
    fn the_cognito_client_is_public_and_calls_back_to_the_public_url() {
        let body = body_value(&rendered_from(COGNITO));
        let client = &body["Resources"]["UserPoolClient"]["Properties"];
        assert_eq!(client["GenerateSecret"], false);
        assert_eq!(client["AllowedOAuthFlows"][0], "code");
        let callback = &client["CallbackURLs"][0];
        let (tag, arguments) = yaml::as_tagged(callback).unwrap();
        assert_eq!(tag, "If");
        assert_eq!(arguments[0], "HasCustomDomain");
        let issuer = &body["Resources"]["AuthFunction"]["Properties"]["Environment"]["Variables"]["MCP_PUBLIC_URL"];
        let (_, issuer) = yaml::as_tagged(issuer).unwrap();
        for branch in [1, 2] {
            let (_, url) = yaml::as_tagged(&arguments[branch]).unwrap();
            let (_, public) = yaml::as_tagged(&issuer[branch]).unwrap();
            assert_eq!(
                url.as_str().unwrap(),
                format!("{}/oauth/callback", public.as_str().unwrap())
            );
        }
    }

    #[test]
    fn the_callback_route_reaches_the_auth_function() {
        let body = body_value(&rendered("prod"));
        let resource = &body["Resources"]["OAuthCallbackResource"]["Properties"];
        assert_eq!(resource["PathPart"], "callback");
        let method = &body["Resources"]["OAuthCallbackGetMethod"]["Properties"];
        assert_eq!(method["HttpMethod"], "GET");
        assert_eq!(method["AuthorizationType"], "NONE");
        let (tag, uri) = yaml::as_tagged(&method["Integration"]["Uri"]).unwrap();
        assert_eq!(tag, "Sub");
        assert!(
            uri.as_str().unwrap().contains("${AuthFunction.Arn}"),
            "{uri:?}"
        );
    }

    #[test]
    fn the_unauthorized_gateway_response_carries_the_rfc_9728_challenge() {
        let body = body_value(&rendered("dev"));
        let response = &body["Resources"]["UnauthorizedResponse"]["Properties"];
        assert_eq!(response["ResponseType"], "UNAUTHORIZED");
        let challenge = &response["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"];
        let (tag, arguments) = yaml::as_tagged(challenge).unwrap();
        assert_eq!(tag, "Sub");
        assert_eq!(
            arguments[0],
            "'Bearer resource_metadata=\"${Issuer}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\"'"
        );
        let authorizer = &body["Resources"]["McpAuthorizer"]["Properties"];
        assert_eq!(authorizer["Type"], "TOKEN");
        assert_eq!(
            authorizer["IdentitySource"],
            "method.request.header.Authorization"
        );
        assert_eq!(authorizer["AuthorizerResultTtlInSeconds"], 300);
    }

    #[test]
    fn stage_values_become_parameter_defaults() {
        let config = stage("prod");
        let template = rendered("prod").template;
        let default = |name: &str| template.parameters[name].default.clone().unwrap();
        assert_eq!(default("StageName"), "prod");
        assert_eq!(default("LambdaMemorySize"), config.lambda.memory_mb);
        assert_eq!(
            default("LogRetentionDays"),
            config.lambda.log_retention_days
        );
        assert_eq!(default("Tracing"), "true");
        assert_eq!(default("CustomDomainName"), "");
        for name in names::parameter::DEPLOY_TIME {
            assert!(template.parameters[name].default.is_none());
        }
    }

    #[test]
    fn the_deployment_is_renamed_after_the_template_and_depends_on_every_method() {
        let dev = rendered("dev").template;
        let (id, deployment) = dev
            .resources
            .iter()
            .find(|(_, resource)| resource.kind == "AWS::ApiGateway::Deployment")
            .unwrap();
        assert!(id.starts_with("ApiDeployment") && id.len() == "ApiDeployment".len() + 10);
        let methods = dev
            .resources
            .values()
            .filter(|resource| resource.kind == "AWS::ApiGateway::Method")
            .count();
        assert_eq!(deployment.depends_on.len(), methods + 1);
        let body = rendered("dev").body;
        assert!(body.contains(&format!("DeploymentId: !Ref {id}")));
        assert!(!body.contains("!Ref ApiDeployment\n"));
        // Same input, same id; another stage, another id.
        assert_eq!(rendered("dev").body, body);
        assert!(!rendered("prod").body.contains(id.as_str()));
    }

    #[test]
    fn a_templates_directory_with_the_same_files_renders_the_same() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let from_dir = render(&stage("dev"), &TemplateSource::Dir(dir)).unwrap();
        assert_eq!(from_dir.body, rendered("dev").body);
    }

    #[test]
    fn a_logical_id_defined_twice_names_both_files() {
        let message = render_error(&[(
            "extra.yaml",
            "Resources:\n  McpRole:\n    Type: AWS::SNS::Topic\n",
        )]);
        assert!(
            message.starts_with("McpRole: defined in both "),
            "{message}"
        );
        assert!(message.contains("functions.yaml and "), "{message}");
        assert!(message.ends_with("extra.yaml"), "{message}");
    }

    #[test]
    fn fragments_cannot_set_what_the_renderer_owns() {
        let tables = fragment("tables.yaml").replace(
            "      BillingMode: PAY_PER_REQUEST\n",
            "      BillingMode: PAY_PER_REQUEST\n      KeySchema: []\n",
        );
        let message = render_error(&[("tables.yaml", &tables)]);
        assert!(
            message.contains("ClientsTable: sets KeySchema, which the renderer owns"),
            "{message}"
        );

        let parameters = fragment("parameters.yaml").replace(
            "    Description: Memory of each function",
            "    Default: 512\n    Description: Memory of each function",
        );
        let message = render_error(&[("parameters.yaml", &parameters)]);
        assert!(message.contains("LambdaMemorySize: has a Default, but its value comes from the stage setting `lambda.memory_mb`"), "{message}");

        let identity = fragment("identity.yaml").replace(
            "      UserPoolTier: ESSENTIALS\n",
            "      UserPoolTier: ESSENTIALS\n      DeletionProtection: ACTIVE\n",
        );
        let message = render_error(&[("identity.yaml", &identity)]);
        assert!(
            message.contains("UserPool: sets DeletionProtection, DeletionPolicy or UpdateReplacePolicy, which the renderer owns"),
            "{message}"
        );
    }

    #[test]
    fn fragments_are_strict() {
        let message = render_error(&[(
            "zz.yaml",
            "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    DependOn: McpRole\n",
        )]);
        assert!(
            message.contains("zz.yaml: Resources.Topic: unknown field `DependOn`"),
            "{message}"
        );
        let message = render_error(&[("zz.yaml", "Mappings: {}\n")]);
        assert!(message.contains("unknown field `Mappings`"), "{message}");
        let message = render_error(&[(
            "zz.yaml",
            "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Metadata:\n      checkov:\n        skip:\n          - id: CKV_AWS_26\n",
        )]);
        assert!(
            message.contains("Topic: a checkov skip lacks a check id or a reason"),
            "{message}"
        );
    }

    #[test]
    fn a_key_defined_twice_in_one_file_is_an_error_and_an_empty_file_is_fine() {
        let message = render_error(&[(
            "zz.yaml",
            "Resources:\n  A:\n    Type: AWS::SNS::Topic\n  A:\n    Type: AWS::SNS::Topic\n",
        )]);
        assert!(
            message.contains("zz.yaml: ") && message.contains("duplicate entry"),
            "{message}"
        );
        assert!(render_with(&[("empty.yaml", "# nothing yet\n")]).is_ok());
    }

    #[test]
    fn missing_contract_items_are_named() {
        let outputs =
            fragment("outputs.yaml").replace("  AlarmTopicArn:\n    Value: !Ref AlarmTopic\n", "");
        let message = render_error(&[("outputs.yaml", &outputs)]);
        assert_eq!(message, "templates: AlarmTopicArn: output is missing");
    }

    /// Every `mcp_function` option and extra scopes, on the shipped dev stage.
    const MCP_OPTIONS: &str = "
region: eu-west-1
mcp_function:
  memory_mb: 1024
  timeout_seconds: 20
  environment:
    NOTES_API_URL: https://notes.example.com/api
    TZ: Europe/Berlin
  secrets:
    NOTES_API_KEY: arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-api-key-AbCdEf
    NOTES_OLD_KEY: arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-old-key-GhIjKl
    NOTES_SIGNING_KEY: arn:aws:ssm:eu-west-1:123456789012:parameter/notes/signing-key
  iam_statements:
    - Sid: ReadNotesBucket
      Effect: Allow
      Action: s3:GetObject
      Resource: arn:aws:s3:::my-notes-bucket/*
    - Effect: Allow
      Action: [kms:Decrypt]
      Resource: arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000
      Condition:
        StringEquals:
          kms:ViaService: secretsmanager.eu-west-1.amazonaws.com
  table:
    name: notes
";

    /// The shipped stage `name` with `extra` appended (a top-level section it does not have).
    fn shipped_with(name: &str, extra: &str) -> Value {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let text = std::fs::read_to_string(dir.join(format!("{name}.yaml"))).unwrap();
        let text = text.replace("oauth:\n", "oauth:\n  scopes: [notes:read, notes:write]\n");
        let config = config::from_yaml(
            &format!("{text}{extra}"),
            &format!("config/{name}.yaml"),
            name,
            &BTreeMap::new(),
        )
        .unwrap();
        body_value(&render(&config, &TemplateSource::Embedded).unwrap())
    }

    fn variables<'a>(body: &'a Value, function: &str) -> &'a Value {
        &body["Resources"][function]["Properties"]["Environment"]["Variables"]
    }

    fn policy_names(body: &Value, role: &str) -> Vec<String> {
        body["Resources"][role]["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|policy| policy["PolicyName"].as_str().unwrap().to_owned())
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

    #[test]
    fn only_the_auth_role_may_sign_with_the_kms_key_and_only_with_the_named_keys() {
        let body = body_value(&rendered("prod"));
        let statements = policy(&body, "AuthRole", "secrets")["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap();
        let kms = statements
            .iter()
            .find_map(|statement| {
                let Value::Tagged(tagged) = statement else {
                    return None;
                };
                let branches = tagged.value.as_sequence()?;
                (branches[0] == "HasKmsSigning").then(|| branches[1].clone())
            })
            .expect("a kms:Sign statement under HasKmsSigning");
        assert_eq!(kms["Action"], "kms:Sign");
        assert_eq!(
            yaml::to_string(&kms["Resource"]).unwrap().trim(),
            "!Split [',', !Ref SigningKmsKeyArns]"
        );
        for role in ["McpRole", "AuthorizerRole"] {
            let text = yaml::to_string(&body["Resources"][role]).unwrap();
            assert!(
                !text.contains("kms:") && !text.contains("SigningKmsKeyArns"),
                "{role}"
            );
        }
        assert!(body["Parameters"]["SigningKmsKeyArns"]["Default"].is_null());
    }

    #[test]
    fn a_stage_without_mcp_function_options_renders_as_before() {
        for name in ["dev", "prod"] {
            let config = stage(name);
            let empty = config::from_yaml(
                &format!(
                    "{}\nmcp_function: {{}}\n",
                    std::fs::read_to_string(
                        Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join(format!("../config/{name}.yaml"))
                    )
                    .unwrap()
                ),
                &format!("config/{name}.yaml"),
                name,
                &BTreeMap::new(),
            )
            .unwrap();
            let body = render(&empty, &TemplateSource::Embedded).unwrap().body;
            assert_eq!(body, rendered(name).body, "{name}");
            assert!(
                !body.contains("AppTable")
                    && !body.contains("MCP_APP_")
                    && !body.contains("MCP_SCOPES")
            );
            assert_eq!(config.mcp_function, McpFunctionConfig::default());
        }
    }

    #[test]
    fn mcp_function_options_reach_the_mcp_function_only() {
        let body = shipped_with("dev", MCP_OPTIONS);
        let mcp = variables(&body, "McpFunction");
        assert_eq!(mcp["MCP_SCOPES"], "notes:read,notes:write");
        assert_eq!(mcp["NOTES_API_URL"], "https://notes.example.com/api");
        assert_eq!(mcp["TZ"], "Europe/Berlin");
        assert_eq!(
            mcp["MCP_APP_SECRETS"],
            r#"{"NOTES_API_KEY":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-api-key-AbCdEf","NOTES_OLD_KEY":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-old-key-GhIjKl","NOTES_SIGNING_KEY":"arn:aws:ssm:eu-west-1:123456789012:parameter/notes/signing-key"}"#
        );
        assert_eq!(mcp["MCP_APP_TABLE"], yaml::reference("AppTable"));
        // The auth function offers the scopes and gets nothing else; the authorizer gets nothing.
        assert_eq!(
            variables(&body, "AuthFunction")["MCP_SCOPES"],
            "notes:read,notes:write"
        );
        for (function, own) in [("AuthFunction", 1), ("AuthorizerFunction", 0)] {
            let plain = variables(&body_value(&rendered("dev")), function)
                .as_mapping()
                .unwrap()
                .len();
            assert_eq!(
                variables(&body, function).as_mapping().unwrap().len(),
                plain + own,
                "{function}"
            );
            for name in ["MCP_APP_SECRETS", "MCP_APP_TABLE", "NOTES_API_URL", "TZ"] {
                assert!(
                    variables(&body, function).get(name).is_none(),
                    "{function}: {name}"
                );
            }
        }
        assert!(
            variables(&body, "AuthorizerFunction")
                .get("MCP_SCOPES")
                .is_none()
        );
        // Memory and timeout are the MCP function's; the others keep the shared parameters.
        let properties = &body["Resources"]["McpFunction"]["Properties"];
        assert_eq!(properties["MemorySize"], 1024);
        assert_eq!(properties["Timeout"], 20);
        for function in ["AuthFunction", "AuthorizerFunction"] {
            let properties = &body["Resources"][function]["Properties"];
            assert_eq!(
                properties["MemorySize"],
                yaml::reference("LambdaMemorySize")
            );
            assert_eq!(properties["Timeout"], yaml::reference("LambdaTimeout"));
        }
    }

    #[test]
    fn the_secrets_policy_names_exactly_the_listed_arns_by_service() {
        let body = shipped_with("dev", MCP_OPTIONS);
        let statements = policy(&body, "McpRole", "app-secrets")["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap()
            .clone();
        let [secrets, parameters] = statements.as_slice() else {
            panic!("{statements:?}")
        };
        assert_eq!(secrets["Sid"], "AppSecrets");
        assert_eq!(secrets["Effect"], "Allow");
        assert_eq!(secrets["Action"], "secretsmanager:GetSecretValue");
        assert_eq!(
            secrets["Resource"],
            Value::Sequence(vec![
                yaml::string(
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-api-key-AbCdEf"
                ),
                yaml::string(
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-old-key-GhIjKl"
                ),
            ])
        );
        assert_eq!(parameters["Sid"], "AppParameters");
        assert_eq!(parameters["Action"], "ssm:GetParameter");
        assert_eq!(
            parameters["Resource"],
            Value::Sequence(vec![yaml::string(
                "arn:aws:ssm:eu-west-1:123456789012:parameter/notes/signing-key"
            )])
        );
        // No key grant by default: a customer managed key is an iam_statements entry.
        let role = yaml::to_string(&body["Resources"]["McpRole"]).unwrap();
        assert_eq!(role.matches("kms:Decrypt").count(), 1, "{role}");
        // Only Secrets Manager secrets: one statement.
        let body = shipped_with(
            "dev",
            "mcp_function:\n  secrets:\n    A: arn:aws:secretsmanager:eu-west-1:123456789012:secret:a-AbCdEf\n",
        );
        let statements = &policy(&body, "McpRole", "app-secrets")["PolicyDocument"]["Statement"];
        assert_eq!(statements.as_sequence().unwrap().len(), 1);
        assert_eq!(statements[0]["Sid"], "AppSecrets");
    }

    #[test]
    fn iam_statements_and_grants_appear_only_on_the_mcp_role() {
        let body = shipped_with("prod", MCP_OPTIONS);
        assert_eq!(
            policy_names(&body, "McpRole"),
            [
                "logs",
                "app-secrets",
                "app-table",
                "app-statements",
                "stack-guard"
            ]
        );
        // Whatever the stage allows, the tools' role is denied what mints tokens.
        let guard = &policy(&body, "McpRole", "stack-guard")["PolicyDocument"]["Statement"][0];
        assert_eq!(guard["Effect"], "Deny");
        assert_eq!(guard["Action"], "*");
        let guarded = yaml::to_string(&guard["Resource"]).unwrap();
        for resource in [
            "SigningKeySecretArn",
            "ClientsTable.Arn",
            "CodesTable.Arn",
            "RefreshTokensTable.Arn",
            "AuthFunction.Arn",
            "AuthorizerFunction.Arn",
        ] {
            assert!(
                guarded.contains(resource),
                "{resource} not denied: {guarded}"
            );
        }
        let statements = &policy(&body, "McpRole", "app-statements")["PolicyDocument"]["Statement"];
        assert_eq!(statements[0]["Sid"], "ReadNotesBucket");
        assert_eq!(statements[0]["Action"], "s3:GetObject");
        assert_eq!(statements[0]["Resource"], "arn:aws:s3:::my-notes-bucket/*");
        assert!(statements[1].get("Sid").is_none());
        assert_eq!(statements[1]["Action"], "kms:Decrypt");
        assert_eq!(
            statements[1]["Condition"]["StringEquals"]["kms:ViaService"],
            "secretsmanager.eu-west-1.amazonaws.com"
        );
        let table = &policy(&body, "McpRole", "app-table")["PolicyDocument"]["Statement"][0];
        assert_eq!(
            table["Action"],
            Value::Sequence(config::APP_TABLE_ACTIONS.map(yaml::string).to_vec())
        );
        assert_eq!(
            table["Resource"],
            yaml::tagged("GetAtt", yaml::string("AppTable.Arn"))
        );
        let plain = body_value(&rendered("prod"));
        for role in ["AuthRole", "AuthorizerRole"] {
            assert_eq!(body["Resources"][role], plain["Resources"][role], "{role}");
            let text = yaml::to_string(&body["Resources"][role]).unwrap();
            // (AuthRole may kms:Sign with the stage's own signing key, never more.)
            for granted in ["s3:", "kms:Decrypt", "ssm:", "AppTable", "notes"] {
                assert!(!text.contains(granted), "{role}: {granted}");
            }
        }
        assert_eq!(
            body["Resources"]["XRayPolicy"],
            plain["Resources"]["XRayPolicy"]
        );
    }

    #[test]
    fn the_app_table_has_its_keys_and_the_store_tables_protection() {
        for (name, production) in [("dev", false), ("prod", true)] {
            let body = shipped_with(name, MCP_OPTIONS);
            let table = &body["Resources"]["AppTable"];
            let properties = &table["Properties"];
            assert_eq!(table["Type"], "AWS::DynamoDB::Table");
            let (tag, table_name) = yaml::as_tagged(&properties["TableName"]).unwrap();
            assert_eq!(
                (tag.as_str(), table_name.as_str()),
                ("Sub", Some("${AWS::StackName}-app-notes"))
            );
            assert_eq!(properties["KeySchema"][0]["AttributeName"], "subject");
            assert_eq!(properties["KeySchema"][0]["KeyType"], "HASH");
            assert_eq!(properties["KeySchema"][1]["AttributeName"], "id");
            assert_eq!(properties["KeySchema"][1]["KeyType"], "RANGE");
            for (index, attribute) in ["subject", "id"].iter().enumerate() {
                assert_eq!(
                    properties["AttributeDefinitions"][index]["AttributeName"],
                    *attribute
                );
                assert_eq!(
                    properties["AttributeDefinitions"][index]["AttributeType"],
                    "S"
                );
            }
            // Exactly what the store's tables get.
            let clients = &body["Resources"]["ClientsTable"];
            for property in [
                "BillingMode",
                "PointInTimeRecoverySpecification",
                "SSESpecification",
                "DeletionProtectionEnabled",
            ] {
                assert_eq!(
                    properties[property], clients["Properties"][property],
                    "{name}: {property}"
                );
            }
            assert_eq!(properties["DeletionProtectionEnabled"], production);
            let policy = if production { "Retain" } else { "Delete" };
            assert_eq!(table["DeletionPolicy"], policy);
            assert_eq!(table["UpdateReplacePolicy"], policy);
            assert_eq!(table["Metadata"]["checkov"]["skip"][0]["id"], "CKV_AWS_119");
            assert_eq!(
                body["Outputs"]["AppTableName"]["Value"],
                yaml::reference("AppTable")
            );
        }
    }

    #[test]
    fn a_template_that_sets_a_configured_variable_is_refused() {
        let functions = fragment("functions.yaml").replace(
            "          MCP_HANDLER: mcp\n",
            "          MCP_HANDLER: mcp\n          TZ: UTC\n",
        );
        let dir = std::env::temp_dir().join(format!("mcpctl-fragments-tz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in EMBEDDED {
            let text = if name == "functions.yaml" {
                functions.as_str()
            } else {
                text
            };
            std::fs::write(dir.join(name), text).unwrap();
        }
        let config = config::from_yaml(
            "mcp_function:\n  environment:\n    TZ: Europe/Berlin\n",
            "config/test.yaml",
            "test",
            &BTreeMap::new(),
        )
        .unwrap();
        let message = render(&config, &TemplateSource::Dir(dir.clone()))
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            message.ends_with(
                "functions.yaml: McpFunction: already sets TZ, which the stage configuration sets"
            ),
            "{message}"
        );
    }

    #[test]
    fn the_server_section_reaches_the_mcp_function_only() {
        let body = body_value(&rendered_from(
            "server:\n  name: notes\n  version: 1.4.0\n  instructions: Ask before deleting.\n",
        ));
        let mcp = variables(&body, "McpFunction");
        assert_eq!(mcp["MCP_SERVER_NAME"], "notes");
        assert_eq!(mcp["MCP_SERVER_VERSION"], "1.4.0");
        assert_eq!(mcp["MCP_SERVER_INSTRUCTIONS"], "Ask before deleting.");
        assert!(mcp.get("MCP_SERVER_TITLE").is_none());
        assert!(
            variables(&body, "AuthFunction")
                .get("MCP_SERVER_NAME")
                .is_none()
        );
        for (text, field) in [
            ("server:\n  name: has space\n", "server.name"),
            ("server:\n  version: \"\"\n", "server.version"),
        ] {
            let error = config::from_yaml(text, "config/test.yaml", "test", &BTreeMap::new())
                .unwrap_err()
                .to_string();
            assert!(error.contains(field), "{text}: {error}");
        }
        let long = format!("server:\n  instructions: {}\n", "x".repeat(1500));
        let error = config::from_yaml(&long, "config/test.yaml", "test", &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("4 KB"), "{error}");
    }
}
