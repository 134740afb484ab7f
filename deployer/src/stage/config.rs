//! `config/<stage>.yaml`: the typed, strict configuration of one stage.
//!
//! Layers, lowest first: the defaults below < the file < `MCPCTL_*` environment variables (one per
//! field, e.g. `MCPCTL_LAMBDA_MEMORY_MB=512`; see [`ENV_FIELDS`]). Unknown keys are errors
//! (`deny_unknown_fields`), and every value is validated after the layers are merged; an error
//! names where the value came from (the file or the variable), the field and the fix.

use std::{
    collections::BTreeMap,
    fmt::Display,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::yaml;

mod mcp_function;
pub(crate) mod server;
#[cfg(feature = "aws")]
mod token_policy;
mod upstream;

pub(crate) use mcp_function::{
    APP_TABLE_ACTIONS, APP_TABLE_PARTITION_KEY, APP_TABLE_SORT_KEY, AppTableConfig, IamStatement,
    McpFunctionConfig, SecretStore,
};
pub(crate) use server::ServerConfig;
#[cfg(feature = "aws")]
pub(crate) use token_policy::TokenPolicy;
pub(crate) use upstream::{
    GATEWAY_FUNCTION_TIMEOUT_SECONDS, Package, UpstreamConfig, UpstreamFunctionConfig,
    WEB_ADAPTER_ACCOUNT, WEB_ADAPTER_VERSION,
};

/// Where the stage files live unless `--config-dir` says otherwise.
pub(crate) const DEFAULT_CONFIG_DIR: &str = "config";

/// Retention periods CloudWatch Logs accepts (`RetentionInDays`).
pub(crate) const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The longest stack name: the function `<stack>-authorizer` must fit Lambda's 64 characters.
const MAX_STACK_NAME: usize = 64 - "-authorizer".len();

/// API Gateway REST integrations give up after 29 seconds; a p99 above that cannot be observed.
const API_MAX_LATENCY_MS: u32 = 29_000;

/// Days a refresh-token family lives at most unless the stage says otherwise (the handler's
/// default too).
const DEFAULT_REFRESH_MAX_LIFETIME_DAYS: u32 = 90;

/// The longest refresh-token family a stage may configure, in days.
const MAX_REFRESH_MAX_LIFETIME_DAYS: u32 = 365;

const SECONDS_PER_DAY: u64 = 86_400;

/// One stage: the values `mcpctl render` turns into template parameters and that `deploy` uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StageConfig {
    /// The `--stage` name this configuration was loaded as (`config/<name>.yaml`). Not a field of
    /// the file: advice printed for the stage (`mcpctl ... --stage <name>`) must name the file.
    #[serde(skip)]
    pub(crate) name: String,
    /// API Gateway stage name, the path prefix of the default URL (`.../<stage>/mcp`).
    /// Default: the `--stage` name.
    pub(crate) stage: String,
    /// Production: tables survive stack deletion and replacement (`Retain`) and have deletion protection.
    pub(crate) production: bool,
    /// CloudFormation stack name. Default: `mcpctl-<stage>`.
    pub(crate) stack_name: String,
    /// AWS region. Default: the region of the AWS profile.
    pub(crate) region: Option<String>,
    /// AWS X-Ray tracing on the API stage and the functions.
    pub(crate) tracing: bool,
    /// Where the access-token signing key lives: the stage's secret, or KMS.
    pub(crate) signing: Signing,
    /// The three Lambda functions.
    pub(crate) lambda: LambdaConfig,
    /// The REST API.
    pub(crate) api: ApiConfig,
    /// The authorization server.
    pub(crate) oauth: OAuthConfig,
    /// CloudWatch alarm thresholds and where they notify.
    pub(crate) alarms: AlarmsConfig,
    /// Who signs users in for the authorization-code flow.
    pub(crate) identity: IdentityConfig,
    /// What the user's own tools need on AWS, granted to the MCP function only.
    pub(crate) mcp_function: McpFunctionConfig,
    /// Gateway mode: the MCP function forwards to this MCP server instead of running tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) upstream: Option<UpstreamConfig>,
    /// The server's name, title, version and instructions (over its own `get_info`).
    #[serde(skip_serializing_if = "is_default")]
    pub(crate) server: ServerConfig,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    value == &T::default()
}

/// Settings shared by the three functions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LambdaConfig {
    /// Memory in MB (128..=10240); CPU scales with it.
    pub(crate) memory_mb: u32,
    /// Timeout in seconds (1..=900).
    pub(crate) timeout_seconds: u32,
    /// CPU architecture of the functions (and of the zip `mcpctl build` makes).
    pub(crate) architecture: Architecture,
    /// Retention of every log group of the stack, in days (a value CloudWatch accepts).
    pub(crate) log_retention_days: u32,
}

/// Where the access-token signing key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Signing {
    /// A P-256 key in the stage's Secrets Manager secret, read by the auth function at start-up.
    #[default]
    Secret,
    /// A P-256 key in AWS KMS: it never leaves KMS, which signs every token (`kms:Sign`).
    Kms,
}

impl Signing {
    /// The name in the stage file.
    #[cfg(feature = "aws")]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Kms => "kms",
        }
    }
}

/// Lambda CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Architecture {
    /// AWS Graviton (cheaper per GB-second).
    #[serde(rename = "arm64")]
    Arm64,
    /// Intel/AMD.
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Architecture {
    /// The name Lambda uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Arm64 => "arm64",
            Self::X86_64 => "x86_64",
        }
    }
}

/// The REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ApiConfig {
    /// Steady-state requests per second for the whole stage.
    pub(crate) throttle_rate: f64,
    /// Burst capacity for the whole stage.
    pub(crate) throttle_burst: u32,
    /// Requests per second on `POST /dcr` and `POST /oauth/token`.
    pub(crate) strict_throttle_rate: f64,
    /// Burst on `POST /dcr` and `POST /oauth/token`.
    pub(crate) strict_throttle_burst: u32,
    /// Browser origins allowed on `/mcp` and for CORS: `scheme://host[:port]`, port `*` for any.
    pub(crate) allowed_origins: Vec<String>,
    /// Serve the API on your own domain, mapped at the root; the issuer becomes `https://<domain>`.
    pub(crate) custom_domain: Option<CustomDomain>,
}

/// A custom domain for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomDomain {
    /// The host name, e.g. `mcp.example.com`.
    pub(crate) domain_name: String,
    /// An ACM certificate for it, in the stack's region.
    pub(crate) certificate_arn: String,
}

/// The authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OAuthConfig {
    /// Access-token lifetime in seconds.
    pub(crate) access_token_ttl_seconds: u64,
    /// Refresh-token lifetime in seconds.
    pub(crate) refresh_token_ttl_seconds: u64,
    /// Open dynamic client registration at `/dcr`.
    pub(crate) registration_open: bool,
    /// Secrets Manager secret whose `SecretString` is the stage's RFC 7591 §3 initial access
    /// token (the token itself, or JSON `{"initial_access_token": "..."}`): whoever holds it may
    /// register clients at `/dcr`, machine clients included. None: operators register machine
    /// clients with `mcpctl register-client --direct` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) initial_access_token_secret_arn: Option<String>,
    /// Private-use redirect URI schemes accepted besides https, loopback http and the
    /// reverse-domain form (`com.example.app:`): the schemes of known MCP clients.
    pub(crate) redirect_schemes: Vec<String>,
    /// Absolute lifetime of a refresh-token family, in days from the sign-in, whatever the
    /// rotations: after it the person signs in again.
    pub(crate) refresh_max_lifetime_days: u32,
    /// Scopes the server offers besides its built-in ones (`mcp`, `openid`, `profile`, `email`),
    /// for the user's tools to check, e.g. `notes:read`. Both the auth and the MCP function get
    /// them as `MCP_SCOPES`.
    pub(crate) scopes: Vec<String>,
}

/// Alarm thresholds: an alarm fires when a 5-minute period reaches its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AlarmsConfig {
    /// E-mail address subscribed to the alarm topic (confirm the subscription mail).
    pub(crate) email: Option<String>,
    /// Function errors (invocation failures) per function.
    pub(crate) lambda_errors: u32,
    /// Throttled invocations per function.
    pub(crate) lambda_throttles: u32,
    /// p99 duration of a function, in milliseconds.
    pub(crate) lambda_duration_p99_ms: u32,
    /// API 5XX responses.
    pub(crate) api_5xx: u32,
    /// p99 API latency, in milliseconds.
    pub(crate) api_latency_p99_ms: u32,
    /// DynamoDB read and write throttle events over the three tables.
    pub(crate) dynamodb_throttles: u32,
    /// DynamoDB system errors (HTTP 500 from DynamoDB) per table.
    pub(crate) dynamodb_system_errors: u32,
    /// Refresh tokens replayed after rotation (a stolen token, or a client that lost a response), each revoking a grant family.
    pub(crate) refresh_reuse: u32,
    /// Clients registered at /dcr (a registration flood).
    pub(crate) registrations: u32,
    /// Token requests refused with invalid_grant (replayed codes, guessed refresh tokens).
    pub(crate) invalid_grants: u32,
    /// Failed sign-ins, all reasons together.
    pub(crate) sign_in_failures: u32,
    /// Client ID Metadata Documents that could not be fetched or were invalid.
    pub(crate) cimd_fetch_failures: u32,
    /// Tool calls whose result was an error, all tools together.
    pub(crate) tool_errors: u32,
}

/// How users sign in before the consent page: the auth function's `MCP_IDENTITY` and `MCP_OIDC_*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct IdentityConfig {
    /// Which identity source signs users in.
    pub(crate) mode: IdentityMode,
    /// The upstream OpenID provider (`mode: oidc` only).
    pub(crate) oidc: Option<OidcConfig>,
    /// The Cognito user pool this stack creates (`mode: cognito` only).
    pub(crate) cognito: Option<CognitoConfig>,
    /// Which upstream ID-token claims carry the user's e-mail, name and groups.
    pub(crate) claims: ClaimsConfig,
    /// Who may sign in (empty lists: anyone the identity source signs in).
    pub(crate) allow: AllowConfig,
    /// Days a user's consent to a client is remembered; 0 asks every time.
    pub(crate) remember_consent_days: u32,
    /// The scope a client asks for to get the user's groups in its tokens and from
    /// `/oauth/userinfo` (oidc and cognito); none: groups are never released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) groups_scope: Option<String>,
}

/// The identity source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum IdentityMode {
    /// No user sign-in: only the client_credentials grant issues tokens.
    #[default]
    None,
    /// A fixed local user approves every request (never in production).
    Dev,
    /// An upstream OpenID Connect provider.
    Oidc,
    /// A Cognito user pool created by the stack, used as an OpenID provider.
    Cognito,
}

impl IdentityMode {
    /// The name in the stage file and the `IdentityMode` template parameter.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Dev => "dev",
            Self::Oidc => "oidc",
            Self::Cognito => "cognito",
        }
    }
}

/// An upstream OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcConfig {
    /// The issuer URL; discovery is `<issuer>/.well-known/openid-configuration`.
    pub(crate) issuer: String,
    /// Our client id at the provider.
    pub(crate) client_id: String,
    /// Secrets Manager secret holding the client secret; none for a public client with PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret_arn: Option<String>,
    /// Scopes requested from the provider; must include `openid`.
    #[serde(default = "default_scopes")]
    pub(crate) scopes: Vec<String>,
}

/// The Cognito user pool of `mode: cognito`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CognitoConfig {
    /// Prefix of the hosted sign-in domain `https://<prefix>.auth.<region>.amazoncognito.com`.
    pub(crate) domain_prefix: String,
}

/// Names of the upstream ID-token claims the server reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ClaimsConfig {
    /// The claim with the user's e-mail address.
    pub(crate) email: String,
    /// The claim with the user's display name.
    pub(crate) name: String,
    /// The claim with the user's groups (Cognito: always `cognito:groups`).
    pub(crate) groups: String,
}

/// Allow-lists applied after sign-in; an empty list allows everyone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AllowConfig {
    /// E-mail domains allowed to sign in, e.g. `example.com`.
    pub(crate) email_domains: Vec<String>,
    /// Groups allowed to sign in: a user needs at least one.
    pub(crate) groups: Vec<String>,
}

/// The scopes a provider gets unless the stage names others.
pub(crate) const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

fn default_scopes() -> Vec<String> {
    DEFAULT_SCOPES.map(str::to_owned).to_vec()
}

/// The groups claim of Cognito ID tokens; the template sets it in `mode: cognito`.
pub(crate) const COGNITO_GROUPS_CLAIM: &str = "cognito:groups";

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            mode: IdentityMode::None,
            oidc: None,
            cognito: None,
            claims: ClaimsConfig::default(),
            allow: AllowConfig::default(),
            remember_consent_days: 30,
            groups_scope: None,
        }
    }
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            email: "email".into(),
            name: "name".into(),
            groups: "groups".into(),
        }
    }
}

impl Default for LambdaConfig {
    fn default() -> Self {
        Self {
            memory_mb: 256,
            timeout_seconds: 10,
            architecture: Architecture::Arm64,
            log_retention_days: 14,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            throttle_rate: 20.0,
            throttle_burst: 40,
            strict_throttle_rate: 2.0,
            strict_throttle_burst: 5,
            allowed_origins: Vec::new(),
            custom_domain: None,
        }
    }
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_seconds: 3600,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            registration_open: true,
            initial_access_token_secret_arn: None,
            // The handler's own default (mcpctl_handler::config::DEFAULT_REDIRECT_SCHEMES), so a stage
            // that leaves the field out behaves like `mcpctl dev`.
            redirect_schemes: mcpctl_handler::config::DEFAULT_REDIRECT_SCHEMES
                .iter()
                .map(|scheme| (*scheme).to_owned())
                .collect(),
            refresh_max_lifetime_days: DEFAULT_REFRESH_MAX_LIFETIME_DAYS,
            scopes: Vec::new(),
        }
    }
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        Self {
            email: None,
            lambda_errors: 1,
            lambda_throttles: 1,
            lambda_duration_p99_ms: 5000,
            api_5xx: 5,
            api_latency_p99_ms: 3000,
            dynamodb_throttles: 1,
            dynamodb_system_errors: 1,
            refresh_reuse: 1,
            registrations: 100,
            invalid_grants: 50,
            sign_in_failures: 20,
            cimd_fetch_failures: 10,
            tool_errors: 10,
        }
    }
}

/// Errors in a stage's configuration: each names the file or variable, the field and the fix.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum ConfigError {
    /// The stage name cannot name a file.
    #[error("--stage `{stage}` is not a stage name")]
    #[diagnostic(help(
        "use letters, digits, `-` and `_`: the stage names its file, config/<stage>.yaml"
    ))]
    BadStageName {
        /// The name given.
        stage: String,
    },
    /// The stage has no file.
    #[error("{path}: not found, so stage `{stage}` is not configured")]
    #[diagnostic(help("{help}"))]
    NotFound {
        /// The file looked for.
        path: String,
        /// The stage.
        stage: String,
        /// Which stages exist and how to add one.
        help: String,
    },
    /// The file exists but cannot be read.
    #[error("{path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    #[diagnostic(help(
        "fix the field named above; config/dev.yaml lists every field with its default and range"
    ))]
    Parse {
        /// The file.
        path: String,
        /// serde's message, with the field path and line.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{origin}: {field}: {problem}; {fix}")]
    #[diagnostic(help("{hint}"))]
    Invalid {
        /// The file or environment variable the value came from.
        origin: String,
        /// Dotted field path, e.g. `lambda.memory_mb`.
        field: String,
        /// What is wrong with the value.
        problem: String,
        /// What to write instead.
        fix: String,
        /// Where to change it.
        hint: String,
    },
}

/// Loads `<config_dir>/<stage>.yaml`, applies the `MCPCTL_*` overrides from `env` (pass
/// [`env_overrides`] outside tests) and validates the result.
pub(crate) fn load(
    config_dir: &Path,
    stage: &str,
    env: &BTreeMap<String, String>,
) -> Result<StageConfig, ConfigError> {
    if !is_stage_name(stage) {
        return Err(ConfigError::BadStageName {
            stage: stage.to_owned(),
        });
    }
    let path = config_dir.join(format!("{stage}.yaml"));
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound {
                help: not_found_help(config_dir, stage),
                path: shown,
                stage: stage.to_owned(),
            });
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: shown,
                source,
            });
        }
    };
    from_yaml(&text, &shown, stage, env)
}

/// Parses a stage file's text; `path` names it in errors.
pub(crate) fn from_yaml(
    text: &str,
    path: &str,
    stage: &str,
    env: &BTreeMap<String, String>,
) -> Result<StageConfig, ConfigError> {
    // An empty file (or one with only comments) means "all defaults".
    let mut config: StageConfig = if text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    }) {
        StageConfig::default()
    } else {
        yaml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            message: error.to_string(),
        })?
    };
    config.name = stage.to_owned();
    if config.stage.is_empty() {
        config.stage = stage.to_owned();
    }
    if config.stack_name.is_empty() {
        config.stack_name = format!("mcpctl-{stage}");
    }
    let overridden = apply_env(&mut config, env)?;
    let origin = |field: &str| match overridden.get(field) {
        Some(name) => (name.clone(), format!("change or unset {name}")),
        None => (path.to_owned(), format!("change `{field}` in {path}")),
    };
    config.validate().map_err(|violation| {
        let (origin, hint) = origin(violation.field);
        ConfigError::Invalid {
            origin,
            field: violation.field.to_owned(),
            problem: violation.problem,
            fix: violation.fix,
            hint,
        }
    })?;
    Ok(config)
}

/// The `MCPCTL_*` variables of the process environment.
pub(crate) fn env_overrides() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("MCPCTL_"))
        .collect()
}

fn is_stage_name(stage: &str) -> bool {
    !stage.is_empty()
        && stage.len() <= 64
        && stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn not_found_help(config_dir: &Path, stage: &str) -> String {
    let mut stages: Vec<String> = std::fs::read_dir(config_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path: PathBuf = entry.path();
            (path.extension()? == "yaml").then_some(())?;
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    stages.sort();
    let dir = config_dir.display();
    if stages.is_empty() {
        format!(
            "no stage files in {dir}: run mcpctl from the project root, pass --config-dir, or create {dir}/{stage}.yaml"
        )
    } else {
        format!(
            "configured stages in {dir}: {}; pick one with --stage, or copy {dir}/{}.yaml to {dir}/{stage}.yaml",
            stages.join(", "),
            stages[0]
        )
    }
}

// ---- environment layer ----

/// A value an environment variable can carry.
trait FromEnv: Sized {
    fn from_env(value: &str) -> Result<Self, String>;
}

fn parse_number<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not {what}"))
}

impl FromEnv for u32 {
    fn from_env(value: &str) -> Result<Self, String> {
        parse_number(value, "a whole number")
    }
}

impl FromEnv for u64 {
    fn from_env(value: &str) -> Result<Self, String> {
        parse_number(value, "a whole number")
    }
}

impl FromEnv for f64 {
    fn from_env(value: &str) -> Result<Self, String> {
        parse_number(value, "a number")
    }
}

impl FromEnv for bool {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("`{other}` is not true or false")),
        }
    }
}

impl FromEnv for String {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value.trim().to_owned())
    }
}

impl FromEnv for Option<String> {
    fn from_env(value: &str) -> Result<Self, String> {
        let value = value.trim();
        Ok((!value.is_empty()).then(|| value.to_owned()))
    }
}

impl FromEnv for Vec<String> {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

impl FromEnv for Architecture {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim() {
            "arm64" => Ok(Self::Arm64),
            "x86_64" => Ok(Self::X86_64),
            other => Err(format!("`{other}` is not arm64 or x86_64")),
        }
    }
}

impl FromEnv for Signing {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim() {
            "secret" => Ok(Self::Secret),
            "kms" => Ok(Self::Kms),
            other => Err(format!("`{other}` is not secret or kms")),
        }
    }
}

impl FromEnv for IdentityMode {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim() {
            "none" => Ok(Self::None),
            "dev" => Ok(Self::Dev),
            "oidc" => Ok(Self::Oidc),
            "cognito" => Ok(Self::Cognito),
            other => Err(format!("`{other}` is not none, dev, oidc or cognito")),
        }
    }
}

type Setter = fn(&mut StageConfig, &str) -> Result<(), String>;

macro_rules! env_fields {
    ($($path:literal => $($field:ident).+;)*) => {
        &[$(($path, |config: &mut StageConfig, value: &str| {
            config.$($field).+ = FromEnv::from_env(value)?;
            Ok(())
        })),*]
    };
}

/// The fields the environment can override, by dotted path; the variable is `MCPCTL_` + the path
/// in upper case with `_` for `.`. Not overridable: `stage` (it names the file: use `--stage`),
/// `api.custom_domain`, `identity.oidc` and `identity.cognito` (blocks whose values only make
/// sense together: use the file), and `mcp_function` and `upstream` (maps, statements, a table,
/// a server's package: use the file).
pub(crate) const ENV_FIELDS: &[(&str, Setter)] = env_fields! {
    "production" => production;
    "stack_name" => stack_name;
    "region" => region;
    "tracing" => tracing;
    "signing" => signing;
    "lambda.memory_mb" => lambda.memory_mb;
    "lambda.timeout_seconds" => lambda.timeout_seconds;
    "lambda.architecture" => lambda.architecture;
    "lambda.log_retention_days" => lambda.log_retention_days;
    "api.throttle_rate" => api.throttle_rate;
    "api.throttle_burst" => api.throttle_burst;
    "api.strict_throttle_rate" => api.strict_throttle_rate;
    "api.strict_throttle_burst" => api.strict_throttle_burst;
    "api.allowed_origins" => api.allowed_origins;
    "oauth.access_token_ttl_seconds" => oauth.access_token_ttl_seconds;
    "oauth.refresh_token_ttl_seconds" => oauth.refresh_token_ttl_seconds;
    "oauth.registration_open" => oauth.registration_open;
    "oauth.initial_access_token_secret_arn" => oauth.initial_access_token_secret_arn;
    "oauth.redirect_schemes" => oauth.redirect_schemes;
    "oauth.refresh_max_lifetime_days" => oauth.refresh_max_lifetime_days;
    "oauth.scopes" => oauth.scopes;
    "alarms.email" => alarms.email;
    "alarms.lambda_errors" => alarms.lambda_errors;
    "alarms.lambda_throttles" => alarms.lambda_throttles;
    "alarms.lambda_duration_p99_ms" => alarms.lambda_duration_p99_ms;
    "alarms.api_5xx" => alarms.api_5xx;
    "alarms.api_latency_p99_ms" => alarms.api_latency_p99_ms;
    "alarms.dynamodb_throttles" => alarms.dynamodb_throttles;
    "alarms.dynamodb_system_errors" => alarms.dynamodb_system_errors;
    "alarms.refresh_reuse" => alarms.refresh_reuse;
    "alarms.registrations" => alarms.registrations;
    "alarms.invalid_grants" => alarms.invalid_grants;
    "alarms.sign_in_failures" => alarms.sign_in_failures;
    "alarms.cimd_fetch_failures" => alarms.cimd_fetch_failures;
    "alarms.tool_errors" => alarms.tool_errors;
    "identity.mode" => identity.mode;
    "identity.claims.email" => identity.claims.email;
    "identity.claims.name" => identity.claims.name;
    "identity.claims.groups" => identity.claims.groups;
    "identity.allow.email_domains" => identity.allow.email_domains;
    "identity.allow.groups" => identity.allow.groups;
    "identity.remember_consent_days" => identity.remember_consent_days;
    "identity.groups_scope" => identity.groups_scope;
};

/// The environment variable overriding the field at `path`.
pub(crate) fn env_name(path: &str) -> String {
    format!("MCPCTL_{}", path.replace('.', "_").to_ascii_uppercase())
}

/// Applies the overrides; returns which fields came from which variable.
fn apply_env(
    config: &mut StageConfig,
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let mut overridden = BTreeMap::new();
    for (path, set) in ENV_FIELDS {
        let name = env_name(path);
        let Some(value) = env.get(&name) else {
            continue;
        };
        set(config, value).map_err(|problem| ConfigError::Invalid {
            origin: name.clone(),
            field: (*path).to_owned(),
            problem,
            fix: format!("set it like the `{path}` field of config/<stage>.yaml"),
            hint: format!("change or unset {name}"),
        })?;
        overridden.insert(*path, name);
    }
    Ok(overridden)
}

// ---- validation ----

/// One invalid value.
#[derive(Debug)]
struct Violation {
    field: &'static str,
    problem: String,
    fix: String,
}

fn violation(field: &'static str, problem: impl Display, fix: impl Display) -> Violation {
    Violation {
        field,
        problem: problem.to_string(),
        fix: fix.to_string(),
    }
}

fn in_range<T: PartialOrd + Display + Copy>(
    field: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), Violation> {
    if value < min {
        Err(violation(
            field,
            format!("{value} is below {min}"),
            format!("use {min}..={max}"),
        ))
    } else if value > max {
        Err(violation(
            field,
            format!("{value} is above {max}"),
            format!("use {min}..={max}"),
        ))
    } else {
        Ok(())
    }
}

fn rate(field: &'static str, value: f64) -> Result<(), Violation> {
    if value.is_finite() && value > 0.0 && value <= 10_000.0 {
        Ok(())
    } else {
        Err(violation(
            field,
            format!("{value} is not a request rate API Gateway accepts"),
            "use a number of requests per second above 0 and at most 10000 (the account default)",
        ))
    }
}

impl StageConfig {
    /// Checks every value; returns the first problem.
    fn validate(&self) -> Result<(), Violation> {
        let Self {
            name: _,
            stage,
            production,
            stack_name,
            region,
            tracing: _,
            signing: _,
            lambda,
            api,
            oauth,
            alarms,
            identity,
            mcp_function,
            upstream,
            server,
        } = self;
        server.validate()?;
        if stage.is_empty()
            || stage.len() > 128
            || !stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(violation(
                "stage",
                format!("`{stage}` is not an API Gateway stage name"),
                "use 1 to 128 letters, digits and `_`",
            ));
        }
        let stack_name_ok = stack_name.len() <= MAX_STACK_NAME
            && stack_name.starts_with(|c: char| c.is_ascii_alphabetic())
            && stack_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !stack_name_ok {
            return Err(violation(
                "stack_name",
                format!("`{stack_name}` is not a usable stack name"),
                format!(
                    "start with a letter, use letters, digits and `-`, at most {MAX_STACK_NAME} characters (function names add `-authorizer`)"
                ),
            ));
        }
        if let Some(region) = region
            && !is_region(region)
        {
            return Err(violation(
                "region",
                format!("`{region}` is not an AWS region name"),
                "use a name such as us-east-1 or eu-west-1, or leave it out to use your profile's region",
            ));
        }
        lambda.validate()?;
        api.validate(region.as_deref())?;
        oauth.validate(region.as_deref())?;
        // One duration threshold serves every function, so it must be reachable by the one
        // that times out first.
        let shortest_timeout = lambda.timeout_seconds.min(self.mcp_function_timeout());
        mcp_function.validate(region.as_deref())?;
        let shared = mcp_function.environment_bytes() + server.environment_bytes();
        if shared > mcp_function::ENVIRONMENT_BUDGET_BYTES {
            return Err(violation(
                "server",
                format!(
                    "with mcp_function's variables and secrets the MCP function's environment takes {shared} bytes, more than the {} of Lambda's 4 KB the stack leaves them",
                    mcp_function::ENVIRONMENT_BUDGET_BYTES
                ),
                "shorten server.instructions (or return them from the server's get_info), or move mcp_function values into a secret",
            ));
        }
        alarms.validate(shortest_timeout)?;
        identity.validate(*production, region.as_deref())?;
        self.validate_scopes()?;
        if let Some(upstream) = upstream {
            let own_hosts: Vec<&str> = api
                .custom_domain
                .iter()
                .map(|domain| domain.domain_name.as_str())
                .collect();
            upstream.validate(&oauth.scopes, &own_hosts, region.as_deref())?;
            self.validate_gateway(upstream)?;
        }
        self.validate_who_gets_in()
    }

    /// The MCP function's timeout: `mcp_function.timeout_seconds`, else in gateway mode the
    /// longest API Gateway waits (so the gateway's wait for the upstream fits), else the shared
    /// `lambda.timeout_seconds`.
    pub(crate) fn mcp_function_timeout(&self) -> u32 {
        match (self.mcp_function.timeout_seconds, &self.upstream) {
            (Some(timeout), _) => timeout,
            (None, Some(_)) => GATEWAY_FUNCTION_TIMEOUT_SECONDS,
            (None, None) => self.lambda.timeout_seconds,
        }
    }

    /// Gateway mode runs no tool code in the MCP function: what `mcp_function` grants tools is
    /// refused (it belongs to `upstream.function`), and the function must outlive the gateway's
    /// wait for the upstream.
    fn validate_gateway(&self, upstream: &UpstreamConfig) -> Result<(), Violation> {
        let McpFunctionConfig {
            memory_mb: _,
            timeout_seconds,
            environment,
            secrets,
            iam_statements,
            table,
        } = &self.mcp_function;
        let refused = [
            (
                "mcp_function.environment",
                !environment.is_empty(),
                "variables for tool code",
                "give them to upstream.function instead (upstream.function.environment), or set them on the server at upstream.url",
            ),
            (
                "mcp_function.secrets",
                !secrets.is_empty(),
                "secrets for tool code",
                "give them to upstream.function instead: an upstream.function.iam_statements entry allowing secretsmanager:GetSecretValue (or ssm:GetParameter) on the ARN, and the ARN in upstream.function.environment",
            ),
            (
                "mcp_function.iam_statements",
                !iam_statements.is_empty(),
                "permissions for tool code",
                "give them to upstream.function instead (upstream.function.iam_statements)",
            ),
            (
                "mcp_function.table",
                table.is_some(),
                "a table for tool code",
                "give them to upstream.function instead: create the table yourself and grant it with upstream.function.iam_statements",
            ),
        ];
        for (field, set, what, fix) in refused {
            if set {
                return Err(violation(
                    field,
                    format!(
                        "grants {what}, but with upstream: (gateway mode) no tool code runs in the MCP function: it only verifies tokens and forwards to the upstream"
                    ),
                    fix,
                ));
            }
        }
        if let Some(timeout) = timeout_seconds
            && *timeout < upstream.timeout_seconds
        {
            return Err(violation(
                "mcp_function.timeout_seconds",
                format!(
                    "{timeout} s would stop the gateway before its wait for the upstream (upstream.timeout_seconds: {}) ends, so the client would get a bare 502",
                    upstream.timeout_seconds
                ),
                format!(
                    "use at least {} (or leave it out: in gateway mode it defaults to {GATEWAY_FUNCTION_TIMEOUT_SECONDS}), or lower upstream.timeout_seconds",
                    upstream.timeout_seconds
                ),
            ));
        }
        Ok(())
    }

    /// `oauth.scopes`: RFC 6749 scope tokens the server does not offer already, and without a
    /// comma, because the functions get the list comma-separated (`MCP_SCOPES`).
    fn validate_scopes(&self) -> Result<(), Violation> {
        let field = "oauth.scopes";
        let builtin = builtin_scopes();
        let mut seen = Vec::new();
        for scope in &self.oauth.scopes {
            if !is_scope_token(scope) {
                return Err(violation(
                    field,
                    format!("`{scope}` is not a scope"),
                    "list scopes as separate items of printable ASCII without spaces, quotes or backslashes, e.g. [notes:read, notes:write]",
                ));
            }
            if scope.contains(',') {
                return Err(violation(
                    field,
                    format!(
                        "`{scope}` has a comma, but the functions get the scopes comma-separated (MCP_SCOPES)"
                    ),
                    "split it into separate scopes, or use another separator such as `:` or `.`",
                ));
            }
            if builtin.contains(scope) {
                return Err(violation(
                    field,
                    format!("`{scope}` is built in: the server always offers it"),
                    format!(
                        "remove it; list only your tools' own scopes (built in: {})",
                        builtin.join(", ")
                    ),
                ));
            }
            if self.identity.groups_scope.as_ref() == Some(scope) {
                return Err(violation(
                    field,
                    format!("`{scope}` is already identity.groups_scope"),
                    "remove it from oauth.scopes: the groups scope is offered as it is",
                ));
            }
            if seen.contains(&scope) {
                return Err(violation(
                    field,
                    format!("`{scope}` is listed twice"),
                    "list each scope once",
                ));
            }
            seen.push(scope);
        }
        Ok(())
    }

    /// A production stage must not let strangers in: with `identity.mode: none` nobody signs in,
    /// so an open `/dcr` would hand a client to anyone who asks and rely on every later check
    /// to keep it harmless. Closed registration makes it a machine-only server whose clients an
    /// operator creates.
    fn validate_who_gets_in(&self) -> Result<(), Violation> {
        if self.production
            && self.identity.mode == IdentityMode::None
            && self.oauth.registration_open
        {
            return Err(violation(
                "oauth.registration_open",
                "open registration with identity.mode `none` in a production stage lets anyone register a client",
                format!(
                    "pick identity.mode `oidc` or `cognito` so a person signs in, or set oauth.registration_open: false for a machine-only server (machine clients: `{}`)",
                    self.operator_command()
                ),
            ));
        }
        Ok(())
    }

    /// The `--stage` name commands are run with (the file's name; the API stage name when the
    /// configuration was built in code).
    pub(crate) fn stage_name(&self) -> &str {
        if self.name.is_empty() {
            &self.stage
        } else {
            &self.name
        }
    }

    /// How an operator registers a machine client for this stage. `--direct` writes it with AWS
    /// credentials, so it works whether or not the stage has an initial access token.
    pub(crate) fn operator_command(&self) -> String {
        format!(
            "mcpctl register-client --stage {} --name <name> --grant client_credentials",
            self.stage_name()
        )
    }
}

impl LambdaConfig {
    fn validate(&self) -> Result<(), Violation> {
        let Self {
            memory_mb,
            timeout_seconds,
            architecture: _,
            log_retention_days,
        } = self;
        in_range("lambda.memory_mb", *memory_mb, 128, 10240)?;
        in_range("lambda.timeout_seconds", *timeout_seconds, 1, 900)?;
        if !LOG_RETENTION_DAYS.contains(log_retention_days) {
            let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
            return Err(violation(
                "lambda.log_retention_days",
                format!("{log_retention_days} is not a retention CloudWatch Logs accepts"),
                format!("use one of {}", allowed.join(", ")),
            ));
        }
        Ok(())
    }
}

impl ApiConfig {
    fn validate(&self, region: Option<&str>) -> Result<(), Violation> {
        let Self {
            throttle_rate,
            throttle_burst,
            strict_throttle_rate,
            strict_throttle_burst,
            allowed_origins,
            custom_domain,
        } = self;
        rate("api.throttle_rate", *throttle_rate)?;
        in_range("api.throttle_burst", *throttle_burst, 1, 5000)?;
        rate("api.strict_throttle_rate", *strict_throttle_rate)?;
        in_range("api.strict_throttle_burst", *strict_throttle_burst, 1, 5000)?;
        if strict_throttle_rate > throttle_rate {
            return Err(violation(
                "api.strict_throttle_rate",
                format!("{strict_throttle_rate} is above api.throttle_rate ({throttle_rate})"),
                "make the limit on /dcr and /oauth/token at most the stage's",
            ));
        }
        if strict_throttle_burst > throttle_burst {
            return Err(violation(
                "api.strict_throttle_burst",
                format!("{strict_throttle_burst} is above api.throttle_burst ({throttle_burst})"),
                "make the burst on /dcr and /oauth/token at most the stage's",
            ));
        }
        for origin in allowed_origins {
            if let Err(problem) = check_origin(origin) {
                return Err(violation(
                    "api.allowed_origins",
                    format!("`{origin}` {problem}"),
                    "write origins as scheme://host[:port] (port * for any), e.g. https://app.example.com or http://localhost:*",
                ));
            }
        }
        if let Some(CustomDomain {
            domain_name,
            certificate_arn,
        }) = custom_domain
        {
            if !is_domain_name(domain_name) {
                return Err(violation(
                    "api.custom_domain.domain_name",
                    format!("`{domain_name}` is not a host name"),
                    "use a lower-case DNS name such as mcp.example.com (no scheme, no path)",
                ));
            }
            let Some(certificate_region) = certificate_region(certificate_arn) else {
                return Err(violation(
                    "api.custom_domain.certificate_arn",
                    format!("`{certificate_arn}` is not an ACM certificate ARN"),
                    "use arn:aws:acm:<region>:<account>:certificate/<id> of a certificate covering the domain",
                ));
            };
            if let Some(region) = region
                && certificate_region != region
            {
                return Err(violation(
                    "api.custom_domain.certificate_arn",
                    format!(
                        "the certificate is in {certificate_region} but the stage deploys to {region}"
                    ),
                    format!(
                        "a regional API needs a certificate in {region}: request or import one there"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl OAuthConfig {
    fn validate(&self, region: Option<&str>) -> Result<(), Violation> {
        let Self {
            access_token_ttl_seconds,
            refresh_token_ttl_seconds,
            registration_open: _,
            initial_access_token_secret_arn,
            redirect_schemes,
            refresh_max_lifetime_days,
            // Checked with identity.groups_scope (StageConfig::validate_scopes).
            scopes: _,
        } = self;
        in_range(
            "oauth.access_token_ttl_seconds",
            *access_token_ttl_seconds,
            60,
            86_400,
        )?;
        in_range(
            "oauth.refresh_token_ttl_seconds",
            *refresh_token_ttl_seconds,
            *access_token_ttl_seconds,
            366 * SECONDS_PER_DAY,
        )?;
        in_range(
            "oauth.refresh_max_lifetime_days",
            *refresh_max_lifetime_days,
            1,
            MAX_REFRESH_MAX_LIFETIME_DAYS,
        )?;
        // Every refresh token would otherwise be cut short by its family's end, so the idle
        // lifetime the stage promises would never be reached.
        let max_lifetime = u64::from(*refresh_max_lifetime_days) * SECONDS_PER_DAY;
        if max_lifetime < *refresh_token_ttl_seconds {
            let needed = refresh_token_ttl_seconds.div_ceil(SECONDS_PER_DAY);
            let fix = if needed <= u64::from(MAX_REFRESH_MAX_LIFETIME_DAYS) {
                format!(
                    "use at least {needed}, or lower oauth.refresh_token_ttl_seconds to at most {max_lifetime}"
                )
            } else {
                format!(
                    "lower oauth.refresh_token_ttl_seconds to at most {max_lifetime}: a family lives at most {MAX_REFRESH_MAX_LIFETIME_DAYS} days"
                )
            };
            return Err(violation(
                "oauth.refresh_max_lifetime_days",
                format!(
                    "{refresh_max_lifetime_days} days is shorter than one refresh token's lifetime, oauth.refresh_token_ttl_seconds {refresh_token_ttl_seconds} (about {needed} days)"
                ),
                fix,
            ));
        }
        if let Some(arn) = initial_access_token_secret_arn {
            check_secret_arn(
                "oauth.initial_access_token_secret_arn",
                arn,
                region,
                "use arn:aws:secretsmanager:<region>:<account>:secret:<name> of the secret holding the initial access token, or leave it out (operators then register machine clients with `mcpctl register-client --direct`)",
            )?;
        }
        let mut seen = Vec::new();
        for scheme in redirect_schemes {
            check_redirect_scheme(scheme)?;
            if seen.contains(&scheme) {
                return Err(violation(
                    "oauth.redirect_schemes",
                    format!("`{scheme}` is listed twice"),
                    "list each scheme once",
                ));
            }
            seen.push(scheme);
        }
        Ok(())
    }
}

/// One entry of `oauth.redirect_schemes`: an RFC 3986 §3.1 scheme in lower case (the URL parser
/// lower-cases what clients send, and the handler compares the list to that), never a
/// dangerous one, and one the handler itself would accept once listed.
fn check_redirect_scheme(scheme: &str) -> Result<(), Violation> {
    let field = "oauth.redirect_schemes";
    let well_formed = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if !well_formed {
        return Err(violation(
            field,
            format!("`{scheme}` is not a URI scheme"),
            "write each scheme in lower case without `:` or `://`: a letter, then letters, digits, `+`, `-` or `.` (e.g. cursor, com.example.app)",
        ));
    }
    if scheme == "https" || scheme == "http" {
        return Err(violation(
            field,
            format!("`{scheme}` is not a private-use scheme"),
            "remove it: https redirect URIs (and http on loopback) are always accepted; the list is for the schemes of native clients such as cursor or vscode",
        ));
    }
    // The handler's own list (`mcpctl_handler::oauth::redirect_uri`): naming it here gives the operator
    // the reason at render time instead of a server that silently ignores the entry.
    if mcpctl_handler::oauth::redirect_uri::is_forbidden_scheme(scheme) {
        return Err(violation(
            field,
            format!(
                "`{scheme}` is refused: a redirect to it could run code, open local files or hand the authorization code to another application"
            ),
            "remove it and list only the private-use schemes of the MCP clients you use (default: cursor, vscode, vscode-insiders, windsurf)",
        ));
    }
    // The handler's own rule, so the deploy-time check can never accept a scheme the server
    // would refuse (its deny-list may grow).
    let listed = [scheme.to_owned()];
    if let Err(why) =
        mcpctl_handler::oauth::redirect_uri::check(&format!("{scheme}:/callback"), &listed)
    {
        return Err(violation(
            field,
            format!("`{scheme}`: the server refuses redirect URIs with this scheme ({why})"),
            "remove it",
        ));
    }
    Ok(())
}

/// A Secrets Manager secret ARN in the stage's region (the functions read secrets in their own).
fn check_secret_arn(
    field: &'static str,
    arn: &str,
    region: Option<&str>,
    fix: &str,
) -> Result<(), Violation> {
    let Some(secret_region) = secret_region(arn) else {
        return Err(violation(
            field,
            format!("`{arn}` is not a Secrets Manager secret ARN"),
            fix,
        ));
    };
    if let Some(region) = region
        && secret_region != region
    {
        return Err(violation(
            field,
            format!("the secret is in {secret_region} but the stage deploys to {region}"),
            format!(
                "the auth function reads secrets in its own region: put the secret in {region}"
            ),
        ));
    }
    Ok(())
}

impl AlarmsConfig {
    fn validate(&self, timeout_seconds: u32) -> Result<(), Violation> {
        let Self {
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
        } = self;
        if let Some(email) = email
            && !is_email(email)
        {
            return Err(violation(
                "alarms.email",
                format!("`{email}` is not an e-mail address"),
                "use one address such as ops@example.com, or leave it out",
            ));
        }
        let count = 1_000_000;
        in_range("alarms.lambda_errors", *lambda_errors, 1, count)?;
        in_range("alarms.lambda_throttles", *lambda_throttles, 1, count)?;
        // A duration above the timeout never happens, so such an alarm could never fire.
        in_range(
            "alarms.lambda_duration_p99_ms",
            *lambda_duration_p99_ms,
            1,
            timeout_seconds * 1000,
        )?;
        in_range("alarms.api_5xx", *api_5xx, 1, count)?;
        in_range(
            "alarms.api_latency_p99_ms",
            *api_latency_p99_ms,
            1,
            API_MAX_LATENCY_MS,
        )?;
        in_range("alarms.dynamodb_throttles", *dynamodb_throttles, 1, count)?;
        in_range(
            "alarms.dynamodb_system_errors",
            *dynamodb_system_errors,
            1,
            count,
        )?;
        in_range("alarms.refresh_reuse", *refresh_reuse, 1, count)?;
        in_range("alarms.registrations", *registrations, 1, count)?;
        in_range("alarms.invalid_grants", *invalid_grants, 1, count)?;
        in_range("alarms.sign_in_failures", *sign_in_failures, 1, count)?;
        in_range("alarms.cimd_fetch_failures", *cimd_fetch_failures, 1, count)?;
        in_range("alarms.tool_errors", *tool_errors, 1, count)?;
        Ok(())
    }
}

impl IdentityConfig {
    fn validate(&self, production: bool, region: Option<&str>) -> Result<(), Violation> {
        let Self {
            mode,
            oidc,
            cognito,
            claims,
            allow,
            remember_consent_days,
            groups_scope,
        } = self;
        // The error names identity.mode, so an MCPCTL_IDENTITY_MODE override is what gets blamed
        // when it leaves a block of the file unused.
        let unused = |block: &str| {
            violation(
                "identity.mode",
                format!(
                    "is `{}`, so the identity.{block} block would be ignored",
                    mode.as_str()
                ),
                format!("set identity.mode: {block}, or remove the identity.{block} block"),
            )
        };
        if oidc.is_some() && *mode != IdentityMode::Oidc {
            return Err(unused("oidc"));
        }
        if cognito.is_some() && *mode != IdentityMode::Cognito {
            return Err(unused("cognito"));
        }
        // The function applies the allow-lists only to users of an upstream provider; accepting
        // them otherwise would promise a restriction that does not exist.
        let upstream = matches!(mode, IdentityMode::Oidc | IdentityMode::Cognito);
        for (field, list) in [
            ("identity.allow.email_domains", &allow.email_domains),
            ("identity.allow.groups", &allow.groups),
        ] {
            if !upstream && !list.is_empty() {
                return Err(violation(
                    field,
                    format!(
                        "restricts who signs in, but identity.mode `{}` has no upstream sign-in to restrict",
                        mode.as_str()
                    ),
                    "leave the allow-lists empty, or set identity.mode: oidc or cognito",
                ));
            }
        }
        if let Some(scope) = groups_scope {
            // Only an upstream provider's users have groups (dev-user has none), so the scope
            // would be offered to clients and release nothing.
            if !upstream {
                return Err(violation(
                    "identity.groups_scope",
                    format!(
                        "releases the user's groups, but identity.mode `{}` signs in no one who has groups",
                        mode.as_str()
                    ),
                    "leave identity.groups_scope out, or set identity.mode: oidc or cognito",
                ));
            }
            if !is_scope_token(scope) {
                return Err(violation(
                    "identity.groups_scope",
                    format!("`{scope}` is not a scope"),
                    "name one scope without spaces, quotes or backslashes, e.g. groups",
                ));
            }
        }
        match mode {
            IdentityMode::None => {}
            IdentityMode::Dev if production => {
                return Err(violation(
                    "identity.mode",
                    "`dev` is refused in a production stage: the dev identity approves every authorization request as one fixed local user (dev-user), without anyone signing in",
                    "use `cognito` (a user pool the stack creates), `oidc` (your identity provider), or `none` (client_credentials only)",
                ));
            }
            IdentityMode::Dev => {}
            IdentityMode::Oidc => {
                let Some(oidc) = oidc else {
                    return Err(violation(
                        "identity.oidc",
                        "is missing, but identity.mode `oidc` signs users in with an upstream OpenID provider",
                        "add identity.oidc with the provider's issuer and our client_id (config/dev.yaml shows the fields)",
                    ));
                };
                oidc.validate(region)?;
            }
            IdentityMode::Cognito => {
                let Some(CognitoConfig { domain_prefix }) = cognito else {
                    return Err(violation(
                        "identity.cognito.domain_prefix",
                        "is missing, but identity.mode `cognito` creates a hosted sign-in domain that needs a prefix",
                        "add identity.cognito.domain_prefix, e.g. my-mcp-prod (unique in the region)",
                    ));
                };
                if let Err(problem) = check_domain_prefix(domain_prefix) {
                    return Err(violation(
                        "identity.cognito.domain_prefix",
                        format!("`{domain_prefix}` {problem}"),
                        "use 1 to 63 lower-case letters, digits and `-`, not starting or ending with `-`, without aws, amazon or cognito",
                    ));
                }
                if claims.groups != ClaimsConfig::default().groups
                    && claims.groups != COGNITO_GROUPS_CLAIM
                {
                    return Err(violation(
                        "identity.claims.groups",
                        format!(
                            "is `{}`, but Cognito puts a user's groups in `{COGNITO_GROUPS_CLAIM}` and the stack sets that itself",
                            claims.groups
                        ),
                        "leave identity.claims.groups out with identity.mode `cognito`",
                    ));
                }
            }
        }
        for (field, claim) in [
            ("identity.claims.email", &claims.email),
            ("identity.claims.name", &claims.name),
            ("identity.claims.groups", &claims.groups),
        ] {
            if claim.is_empty() || claim.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(violation(
                    field,
                    format!("`{claim}` is not a claim name"),
                    "name the ID-token claim without spaces, e.g. email, name or groups",
                ));
            }
        }
        for domain in &allow.email_domains {
            if !is_domain_name(domain) {
                return Err(violation(
                    "identity.allow.email_domains",
                    format!("`{domain}` is not an e-mail domain"),
                    "list lower-case domains such as example.com (no @, no scheme)",
                ));
            }
        }
        for group in &allow.groups {
            if group.is_empty()
                || group.trim() != group
                || group.contains(',')
                || group.chars().any(char::is_control)
            {
                return Err(violation(
                    "identity.allow.groups",
                    format!("`{group}` is not a usable group name"),
                    "list group names without commas or surrounding spaces, e.g. mcp-users",
                ));
            }
        }
        in_range(
            "identity.remember_consent_days",
            *remember_consent_days,
            0,
            365,
        )
    }
}

impl OidcConfig {
    fn validate(&self, region: Option<&str>) -> Result<(), Violation> {
        let Self {
            issuer,
            client_id,
            client_secret_arn,
            scopes,
        } = self;
        if let Err(problem) = check_issuer(issuer) {
            return Err(violation(
                "identity.oidc.issuer",
                format!("`{issuer}` {problem}"),
                "use the provider's issuer exactly as its /.well-known/openid-configuration says, e.g. https://login.example.com (http only on a loopback host)",
            ));
        }
        if client_id.is_empty()
            || client_id
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(violation(
                "identity.oidc.client_id",
                format!("`{client_id}` is not a client id"),
                "use the client id the provider gave this server's registration",
            ));
        }
        if let Some(arn) = client_secret_arn {
            check_secret_arn(
                "identity.oidc.client_secret_arn",
                arn,
                region,
                "use arn:aws:secretsmanager:<region>:<account>:secret:<name> of the secret holding the client secret, or leave it out for a public client (PKCE)",
            )?;
        }
        if let Some(scope) = scopes.iter().find(|scope| !is_scope_token(scope)) {
            return Err(violation(
                "identity.oidc.scopes",
                format!("`{scope}` is not a scope"),
                "list scopes as separate items without spaces or quotes, e.g. [openid, email, profile]",
            ));
        }
        if !scopes.iter().any(|scope| scope == "openid") {
            return Err(violation(
                "identity.oidc.scopes",
                format!("[{}] lacks openid", scopes.join(", ")),
                "include openid: without it the provider returns no ID token",
            ));
        }
        Ok(())
    }
}

/// Checks an issuer: an absolute https URL (http on loopback) without query or fragment.
fn check_issuer(issuer: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(issuer).map_err(|_| "is not a URL")?;
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("has no host"),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("is http on a host that is not loopback"),
        _ => return Err("is not an https URL"),
    }
    // OpenID Connect Discovery 1.0 §3: an issuer has no query or fragment.
    if url.query().is_some() || url.fragment().is_some() {
        return Err("has a query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("has credentials in it");
    }
    Ok(())
}

/// Cognito's rules for a hosted UI domain prefix.
fn check_domain_prefix(prefix: &str) -> Result<(), &'static str> {
    if prefix.is_empty() || prefix.len() > 63 {
        return Err("is not 1 to 63 characters long");
    }
    if !prefix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("has characters other than lower-case letters, digits and `-`");
    }
    if prefix.starts_with('-') || prefix.ends_with('-') {
        return Err("starts or ends with `-`");
    }
    if ["aws", "amazon", "cognito"]
        .iter()
        .any(|reserved| prefix.contains(reserved))
    {
        return Err("contains aws, amazon or cognito, which Cognito reserves");
    }
    Ok(())
}

/// The region of a Secrets Manager secret ARN.
fn secret_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let [prefix, partition, service, region, account, kind, name] = parts.as_slice() else {
        return None;
    };
    let ok = *prefix == "arn"
        && partition.starts_with("aws")
        && *service == "secretsmanager"
        && is_region(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && *kind == "secret"
        && !name.is_empty()
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(*region)
}

/// The scopes the handler always offers (the first, `mcp`, is the one `/mcp` requires). Asked
/// of the handler, so a scope it adds later is refused here too.
fn builtin_scopes() -> Vec<String> {
    // Any URL gives the same scopes; this literal always parses (the scope tests would fail if not).
    url::Url::parse("https://mcp.example.com")
        .map(|url| mcpctl_handler::config::HandlerConfig::new(url).scopes)
        .unwrap_or_default()
}

/// RFC 6749 §3.3 `scope-token`: printable ASCII without space, `"` and `\`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn is_domain_name(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// The region of an ACM certificate ARN.
fn certificate_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let ok = *prefix == "arn"
        && partition.starts_with("aws")
        && *service == "acm"
        && is_region(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty());
    ok.then_some(*region)
}

fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !email.chars().any(|c| c.is_whitespace() || c == ',')
        && !domain.contains('@')
}

/// Checks `scheme://host[:port]` with port `*` allowed, the form the handler matches.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("has no scheme");
    };
    if scheme != "https" && scheme != "http" {
        return Err("is not http or https");
    }
    if rest.contains('/') {
        return Err("has a path (an origin ends after the host and port)");
    }
    if origin.contains(',') || origin.chars().any(char::is_whitespace) {
        return Err("contains a comma or a space");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if host.is_empty() {
        return Err("has no host");
    }
    if let Some(port) = port
        && port != "*"
        && port.parse::<u16>().is_err()
    {
        return Err("has a port that is neither a number nor *");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StageConfig, ConfigError> {
        from_yaml(text, "config/test.yaml", "test", &BTreeMap::new())
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_file_is_all_defaults_named_after_the_stage() {
        let config = parse("# nothing\n").unwrap();
        assert_eq!(config.stage, "test");
        assert_eq!(config.stack_name, "mcpctl-test");
        assert_eq!(config.lambda, LambdaConfig::default());
    }

    #[test]
    fn a_value_below_its_range_names_file_field_and_fix() {
        assert_eq!(
            error("lambda:\n  memory_mb: 100\n"),
            "config/test.yaml: lambda.memory_mb: 100 is below 128; use 128..=10240"
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_path() {
        let message = error("lambda:\n  memroy_mb: 512\n");
        assert!(message.starts_with("config/test.yaml: lambda: unknown field `memroy_mb`"));
        assert!(message.contains("expected one of `memory_mb`"), "{message}");
        let message = error("lamda: {}\n");
        assert!(message.contains("unknown field `lamda`"), "{message}");
    }

    #[test]
    fn wrong_types_and_variants_are_errors() {
        let message = error("lambda:\n  architecture: amd64\n");
        assert!(message.contains("unknown variant `amd64`"), "{message}");
        assert!(message.contains("lambda.architecture"), "{message}");
        let message = error("lambda:\n  timeout_seconds: ten\n");
        assert!(message.contains("lambda.timeout_seconds"), "{message}");
    }

    #[test]
    fn log_retention_must_be_a_cloudwatch_value() {
        let message = error("lambda:\n  log_retention_days: 13\n");
        assert!(
            message.starts_with(
                "config/test.yaml: lambda.log_retention_days: 13 is not a retention CloudWatch Logs accepts; use one of 1, 3, 5, 7, 14,"
            ),
            "{message}"
        );
    }

    #[test]
    fn cross_field_rules() {
        let message = error("api:\n  throttle_rate: 10\n  strict_throttle_rate: 20\n");
        assert!(
            message.contains("api.strict_throttle_rate: 20 is above"),
            "{message}"
        );
        let message =
            error("lambda:\n  timeout_seconds: 3\nalarms:\n  lambda_duration_p99_ms: 5000\n");
        assert_eq!(
            message,
            "config/test.yaml: alarms.lambda_duration_p99_ms: 5000 is above 3000; use 1..=3000"
        );
        let message =
            error("oauth:\n  access_token_ttl_seconds: 7200\n  refresh_token_ttl_seconds: 3600\n");
        assert!(
            message.contains("oauth.refresh_token_ttl_seconds: 3600 is below 7200"),
            "{message}"
        );
    }

    #[test]
    fn origins_domains_and_certificates_are_checked() {
        assert!(
            error("api:\n  allowed_origins: [\"https://a.example.com/\"]\n").contains("has a path")
        );
        assert!(parse("api:\n  allowed_origins: [\"http://localhost:*\", \"https://a.example.com:8443\"]\n").is_ok());
        let message = error(
            "region: eu-west-1\napi:\n  custom_domain:\n    domain_name: mcp.example.com\n    certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n",
        );
        assert!(
            message.contains("the certificate is in us-east-1 but the stage deploys to eu-west-1"),
            "{message}"
        );
        let message = error("api:\n  custom_domain:\n    domain_name: mcp.example.com\n");
        assert!(
            message.contains("missing field `certificate_arn`"),
            "{message}"
        );
        assert!(error("api:\n  custom_domain:\n    domain_name: https://x.com\n    certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n").contains("not a host name"));
    }

    #[test]
    fn environment_overrides_the_file_and_is_named_in_errors() {
        let env = BTreeMap::from([
            ("MCPCTL_LAMBDA_MEMORY_MB".to_owned(), "512".to_owned()),
            (
                "MCPCTL_API_ALLOWED_ORIGINS".to_owned(),
                "https://a.example.com, http://localhost:*".to_owned(),
            ),
        ]);
        let config = from_yaml(
            "lambda:\n  memory_mb: 1024\n",
            "config/test.yaml",
            "test",
            &env,
        )
        .unwrap();
        assert_eq!(config.lambda.memory_mb, 512);
        assert_eq!(
            config.api.allowed_origins,
            ["https://a.example.com", "http://localhost:*"]
        );

        let env = BTreeMap::from([("MCPCTL_LAMBDA_MEMORY_MB".to_owned(), "64".to_owned())]);
        let message = from_yaml("", "config/test.yaml", "test", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "MCPCTL_LAMBDA_MEMORY_MB: lambda.memory_mb: 64 is below 128; use 128..=10240"
        );

        let env = BTreeMap::from([("MCPCTL_PRODUCTION".to_owned(), "yes".to_owned())]);
        let message = from_yaml("", "config/test.yaml", "test", &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("MCPCTL_PRODUCTION: production: `yes` is not true or false"),
            "{message}"
        );
    }

    /// Fields set only in the file (see [`ENV_FIELDS`]).
    const FILE_ONLY: [&str; 6] = [
        "stage",
        "api.custom_domain",
        "identity.oidc",
        "identity.cognito",
        "mcp_function",
        "upstream",
    ];

    /// Every field is either overridable from the environment or deliberately not.
    #[test]
    fn every_field_has_an_environment_variable_or_a_reason() {
        let mut full = StageConfig {
            region: Some("eu-west-1".into()),
            ..StageConfig::default()
        };
        full.alarms.email = Some("ops@example.com".into());
        full.oauth.initial_access_token_secret_arn = Some("arn".into());
        full.identity.groups_scope = Some("groups".into());
        full.api.custom_domain = Some(CustomDomain {
            domain_name: "mcp.example.com".into(),
            certificate_arn: "arn".into(),
        });
        full.identity.oidc = Some(OidcConfig {
            issuer: "https://login.example.com".into(),
            client_id: "abc".into(),
            client_secret_arn: Some("arn".into()),
            scopes: default_scopes(),
        });
        full.identity.cognito = Some(CognitoConfig {
            domain_prefix: "my-mcp".into(),
        });
        full.upstream = Some(UpstreamConfig::default());
        let mut leaves = Vec::new();
        collect_leaves(&yaml::to_value(&full).unwrap(), String::new(), &mut leaves);
        let mut covered: Vec<String> = ENV_FIELDS
            .iter()
            .map(|(path, _)| (*path).to_owned())
            .collect();
        covered.extend(FILE_ONLY.map(str::to_owned));
        covered.sort();
        leaves.sort();
        assert_eq!(leaves, covered);
    }

    fn collect_leaves(value: &yaml::Value, prefix: String, out: &mut Vec<String>) {
        match value {
            yaml::Value::Mapping(mapping) if !FILE_ONLY.contains(&prefix.as_str()) => {
                for (key, value) in mapping {
                    let key = key.as_str().unwrap();
                    let path = if prefix.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    collect_leaves(value, path, out);
                }
            }
            _ => out.push(prefix),
        }
    }

    const OIDC: &str = "identity:\n  mode: oidc\n  oidc:\n    issuer: https://login.example.com\n    client_id: abc123\n";

    #[test]
    fn identity_defaults_to_none_and_parses_every_mode() {
        let config = parse("").unwrap();
        assert_eq!(config.identity, IdentityConfig::default());
        assert_eq!(config.identity.mode, IdentityMode::None);
        assert_eq!(config.identity.remember_consent_days, 30);

        let config = parse(&format!(
            "{OIDC}    client_secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp-oidc-AbCdEf\n    scopes: [openid, email]\n  claims: {{ email: mail, name: display_name, groups: roles }}\n  allow: {{ email_domains: [example.com], groups: [mcp-users] }}\n  remember_consent_days: 0\n"
        ))
        .unwrap();
        let oidc = config.identity.oidc.unwrap();
        assert_eq!(oidc.scopes, ["openid", "email"]);
        assert_eq!(config.identity.claims.groups, "roles");
        assert_eq!(config.identity.allow.email_domains, ["example.com"]);

        let config = parse(OIDC).unwrap();
        assert_eq!(config.identity.oidc.unwrap().scopes, DEFAULT_SCOPES);

        let config =
            parse("identity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp-prod\n")
                .unwrap();
        assert_eq!(config.identity.mode, IdentityMode::Cognito);
        assert!(parse("production: true\nidentity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp-prod\n  claims:\n    groups: cognito:groups\n").is_ok());
    }

    #[test]
    fn the_dev_identity_is_refused_in_production() {
        let message = error("production: true\nidentity:\n  mode: dev\n");
        assert!(
            message.starts_with("config/test.yaml: identity.mode: `dev` is refused in a production stage: the dev identity approves every authorization request as one fixed local user"),
            "{message}"
        );
        assert!(message.contains("use `cognito`"), "{message}");
        assert!(parse("identity:\n  mode: dev\n").is_ok());
        // The mode is blamed, so the variable that set it is named.
        let env = BTreeMap::from([("MCPCTL_IDENTITY_MODE".to_owned(), "dev".to_owned())]);
        let message = from_yaml("production: true\n", "config/test.yaml", "test", &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("MCPCTL_IDENTITY_MODE: identity.mode: `dev` is refused"),
            "{message}"
        );
    }

    #[test]
    fn each_upstream_mode_needs_its_block_and_only_its_block() {
        let message = error("identity:\n  mode: oidc\n");
        assert!(
            message.starts_with(
                "config/test.yaml: identity.oidc: is missing, but identity.mode `oidc`"
            ),
            "{message}"
        );
        let message = error("identity:\n  mode: cognito\n");
        assert!(
            message.starts_with("config/test.yaml: identity.cognito.domain_prefix: is missing"),
            "{message}"
        );
        let message = error("identity:\n  mode: cognito\n  cognito: {}\n");
        assert!(
            message.contains("identity.cognito: missing field `domain_prefix`"),
            "{message}"
        );
        let message = error("identity:\n  cognito:\n    domain_prefix: my-mcp\n");
        assert_eq!(
            message,
            "config/test.yaml: identity.mode: is `none`, so the identity.cognito block would be ignored; set identity.mode: cognito, or remove the identity.cognito block"
        );
        let message = error(&OIDC.replace("mode: oidc", "mode: dev"));
        assert!(
            message
                .contains("identity.mode: is `dev`, so the identity.oidc block would be ignored"),
            "{message}"
        );
        let message =
            error("identity:\n  mode: oidc\n  oidc:\n    issuer: https://login.example.com\n");
        assert!(message.contains("missing field `client_id`"), "{message}");
    }

    #[test]
    fn a_bad_cognito_domain_prefix_is_named() {
        for (prefix, problem) in [
            ("My-Mcp", "has characters other than lower-case letters"),
            ("-mcp", "starts or ends with `-`"),
            ("mcp-", "starts or ends with `-`"),
            ("my-aws-mcp", "contains aws, amazon or cognito"),
            ("mycognitomcp", "contains aws, amazon or cognito"),
            ("amazon", "contains aws, amazon or cognito"),
            ("my_mcp", "has characters other than"),
            ("\"\"", "is not 1 to 63 characters long"),
        ] {
            let message = error(&format!(
                "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: {prefix}\n"
            ));
            assert!(
                message.starts_with("config/test.yaml: identity.cognito.domain_prefix: `")
                    && message.contains(problem),
                "{prefix}: {message}"
            );
        }
        let long = "a".repeat(64);
        let message = error(&format!(
            "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: {long}\n"
        ));
        assert!(
            message.contains("is not 1 to 63 characters long"),
            "{message}"
        );
        assert!(
            parse(&format!(
                "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: {}\n",
                "a".repeat(63)
            ))
            .is_ok()
        );
        let message = error(
            "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp\n  claims:\n    groups: roles\n",
        );
        assert!(
            message.contains("identity.claims.groups: is `roles`, but Cognito puts a user's groups in `cognito:groups`"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_client_secret_arn_is_named() {
        for arn in [
            "arn:aws:ssm:eu-west-1:123456789012:parameter/x",
            "arn:aws:secretsmanager:eu-west-1:1234:secret:x",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:",
            "my-secret",
        ] {
            let message = error(&format!("{OIDC}    client_secret_arn: \"{arn}\"\n"));
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: identity.oidc.client_secret_arn: `{arn}` is not a Secrets Manager secret ARN; use arn:aws:secretsmanager:"
                )),
                "{message}"
            );
        }
        let message = error(&format!(
            "region: eu-west-1\n{OIDC}    client_secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf\n"
        ));
        assert!(
            message.contains("the secret is in us-east-1 but the stage deploys to eu-west-1"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_issuer_is_named() {
        for (issuer, problem) in [
            ("login.example.com", "is not a URL"),
            (
                "http://login.example.com",
                "is http on a host that is not loopback",
            ),
            ("ftp://login.example.com", "is not an https URL"),
            (
                "https://login.example.com/?tenant=1",
                "has a query or fragment",
            ),
            ("https://user:pw@login.example.com", "has credentials in it"),
        ] {
            let message = error(&OIDC.replace("https://login.example.com", issuer));
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: identity.oidc.issuer: `{issuer}` {problem}; use the provider's issuer"
                )),
                "{message}"
            );
        }
        for issuer in [
            "http://localhost:8080/realms/mcp",
            "http://127.0.0.1:9000",
            "http://[::1]:9000",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
        ] {
            assert!(
                parse(&OIDC.replace("https://login.example.com", issuer)).is_ok(),
                "{issuer}"
            );
        }
    }

    #[test]
    fn scopes_claims_allow_lists_and_consent_days_are_checked() {
        let message = error(&format!("{OIDC}    scopes: [email, profile]\n"));
        assert!(
            message.contains("identity.oidc.scopes: [email, profile] lacks openid; include openid"),
            "{message}"
        );
        let message = error(&format!("{OIDC}    scopes: [\"openid email\"]\n"));
        assert!(
            message.contains("identity.oidc.scopes: `openid email` is not a scope"),
            "{message}"
        );
        let message = error("identity:\n  claims:\n    email: \"e mail\"\n");
        assert!(
            message.contains("identity.claims.email: `e mail` is not a claim name"),
            "{message}"
        );
        let message = error(&format!(
            "{OIDC}  allow:\n    email_domains: [\"@example.com\"]\n"
        ));
        assert!(
            message
                .contains("identity.allow.email_domains: `@example.com` is not an e-mail domain"),
            "{message}"
        );
        let message = error(&format!("{OIDC}  allow:\n    groups: [\"a,b\"]\n"));
        assert!(
            message.contains("identity.allow.groups: `a,b` is not a usable group name"),
            "{message}"
        );
        let message = error("identity:\n  mode: dev\n  allow:\n    groups: [mcp-users]\n");
        assert!(
            message.contains("identity.allow.groups: restricts who signs in, but identity.mode `dev` has no upstream sign-in to restrict"),
            "{message}"
        );
        let message = error("identity:\n  allow:\n    email_domains: [example.com]\n");
        assert!(
            message.contains(
                "identity.allow.email_domains: restricts who signs in, but identity.mode `none`"
            ),
            "{message}"
        );
        assert_eq!(
            error("identity:\n  remember_consent_days: 366\n"),
            "config/test.yaml: identity.remember_consent_days: 366 is above 365; use 0..=365"
        );
    }

    #[test]
    fn unknown_keys_under_identity_are_errors() {
        let message = error("identity:\n  mode: none\n  provider: google\n");
        assert!(
            message.starts_with("config/test.yaml: identity: unknown field `provider`"),
            "{message}"
        );
        let message = error(&format!("{OIDC}    client_secret: hunter2\n"));
        assert!(
            message.contains("identity.oidc: unknown field `client_secret`")
                && message.contains("`client_secret_arn`"),
            "{message}"
        );
        let message = error(
            "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp\n    domain: x\n",
        );
        assert!(
            message.contains("identity.cognito: unknown field `domain`"),
            "{message}"
        );
        let message = error("identity:\n  mode: google\n");
        assert!(
            message.contains("identity.mode: unknown variant `google`"),
            "{message}"
        );
        let message = error("identity:\n  allow:\n    domains: [example.com]\n");
        assert!(
            message.contains("identity.allow: unknown field `domains`"),
            "{message}"
        );
    }

    #[test]
    fn identity_scalars_come_from_the_environment() {
        let env = BTreeMap::from([
            ("MCPCTL_IDENTITY_MODE".to_owned(), "cognito".to_owned()),
            (
                "MCPCTL_IDENTITY_ALLOW_EMAIL_DOMAINS".to_owned(),
                "example.com, example.org".to_owned(),
            ),
            (
                "MCPCTL_IDENTITY_REMEMBER_CONSENT_DAYS".to_owned(),
                "0".to_owned(),
            ),
        ]);
        let config = from_yaml(
            "identity:\n  cognito:\n    domain_prefix: my-mcp\n",
            "config/test.yaml",
            "test",
            &env,
        )
        .unwrap();
        assert_eq!(config.identity.mode, IdentityMode::Cognito);
        assert_eq!(
            config.identity.allow.email_domains,
            ["example.com", "example.org"]
        );
        assert_eq!(config.identity.remember_consent_days, 0);
        let env = BTreeMap::from([("MCPCTL_IDENTITY_MODE".to_owned(), "saml".to_owned())]);
        let message = from_yaml("", "config/test.yaml", "test", &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(
                "MCPCTL_IDENTITY_MODE: identity.mode: `saml` is not none, dev, oidc or cognito"
            ),
            "{message}"
        );
        // An override that leaves a block of the file unused blames the variable.
        let env = BTreeMap::from([("MCPCTL_IDENTITY_MODE".to_owned(), "none".to_owned())]);
        let message = from_yaml(OIDC, "config/test.yaml", "test", &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("MCPCTL_IDENTITY_MODE: identity.mode: is `none`, so the identity.oidc block would be ignored"),
            "{message}"
        );
    }

    #[test]
    fn a_production_stage_without_sign_in_refuses_open_registration() {
        let expected = "config/test.yaml: oauth.registration_open: open registration with identity.mode `none` in a production stage lets anyone register a client; pick identity.mode `oidc` or `cognito` so a person signs in, or set oauth.registration_open: false for a machine-only server (machine clients: `mcpctl register-client --stage test --name <name> --grant client_credentials`)";
        // Open is the default, so `production: true` alone is refused.
        assert_eq!(error("production: true\n"), expected);
        assert_eq!(
            error("production: true\noauth:\n  registration_open: true\n"),
            expected
        );
        // Machine-only, people signing in, or not production: all fine.
        assert!(parse("production: true\noauth:\n  registration_open: false\n").is_ok());
        assert!(parse(&format!("production: true\n{OIDC}")).is_ok());
        assert!(parse("production: true\nidentity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp-prod\n").is_ok());
        assert!(parse("oauth:\n  registration_open: true\n").is_ok());
        // The stage named in the advice is the file's, and a variable that opened it is blamed.
        let env = BTreeMap::from([(
            "MCPCTL_OAUTH_REGISTRATION_OPEN".to_owned(),
            "true".to_owned(),
        )]);
        let message = from_yaml(
            "production: true\noauth:\n  registration_open: false\n",
            "config/prod.yaml",
            "prod",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.starts_with("MCPCTL_OAUTH_REGISTRATION_OPEN: oauth.registration_open: open registration with identity.mode `none`")
                && message.contains("`mcpctl register-client --stage prod --name <name> --grant client_credentials`"),
            "{message}"
        );
        // The shipped production stage is closed, so it loads.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        assert!(load(&dir, "prod", &BTreeMap::new()).is_ok());
    }

    #[test]
    fn redirect_schemes_default_to_the_handlers_and_are_checked() {
        let config = parse("").unwrap();
        assert_eq!(
            config.oauth.redirect_schemes,
            mcpctl_handler::config::DEFAULT_REDIRECT_SCHEMES
        );
        let config =
            parse("oauth:\n  redirect_schemes: [cursor, com.example.app, x-my+app-1]\n").unwrap();
        assert_eq!(
            config.oauth.redirect_schemes,
            ["cursor", "com.example.app", "x-my+app-1"]
        );
        let config = parse("oauth:\n  redirect_schemes: []\n").unwrap();
        assert!(config.oauth.redirect_schemes.is_empty());
        for scheme in [
            "javascript",
            "data",
            "file",
            "ms-msdt",
            "ms-officecmd",
            "search-ms",
            "view-source",
            "jar",
            "mailto",
            "intent",
        ] {
            assert_eq!(
                error(&format!("oauth:\n  redirect_schemes: [cursor, {scheme}]\n")),
                format!(
                    "config/test.yaml: oauth.redirect_schemes: `{scheme}` is refused: a redirect to it could run code, open local files or hand the authorization code to another application; remove it and list only the private-use schemes of the MCP clients you use (default: cursor, vscode, vscode-insiders, windsurf)"
                ),
            );
        }
        for scheme in [
            "Cursor",
            "\"cursor:\"",
            "\"cursor://\"",
            "1app",
            "my_app",
            "\"\"",
            "\"a,b\"",
        ] {
            let message = error(&format!("oauth:\n  redirect_schemes: [{scheme}]\n"));
            assert!(
                message.starts_with("config/test.yaml: oauth.redirect_schemes: `")
                    && message.contains("` is not a URI scheme; write each scheme in lower case"),
                "{scheme}: {message}"
            );
        }
        let message = error("oauth:\n  redirect_schemes: [https]\n");
        assert!(
            message.contains("`https` is not a private-use scheme; remove it: https redirect URIs"),
            "{message}"
        );
        let message = error("oauth:\n  redirect_schemes: [cursor, cursor]\n");
        assert!(
            message.contains("oauth.redirect_schemes: `cursor` is listed twice"),
            "{message}"
        );
        // The variable is a comma-separated list, like the handler's MCP_REDIRECT_SCHEMES.
        let env = BTreeMap::from([(
            "MCPCTL_OAUTH_REDIRECT_SCHEMES".to_owned(),
            "cursor, zed".to_owned(),
        )]);
        let config = from_yaml("", "config/test.yaml", "test", &env).unwrap();
        assert_eq!(config.oauth.redirect_schemes, ["cursor", "zed"]);
        let env = BTreeMap::from([(
            "MCPCTL_OAUTH_REDIRECT_SCHEMES".to_owned(),
            "javascript".to_owned(),
        )]);
        let message = from_yaml("", "config/test.yaml", "test", &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(
                "MCPCTL_OAUTH_REDIRECT_SCHEMES: oauth.redirect_schemes: `javascript` is refused"
            ),
            "{message}"
        );
    }

    #[test]
    fn the_refresh_max_lifetime_is_in_range_and_outlives_a_refresh_token() {
        assert_eq!(parse("").unwrap().oauth.refresh_max_lifetime_days, 90);
        assert_eq!(
            error("oauth:\n  refresh_max_lifetime_days: 0\n"),
            "config/test.yaml: oauth.refresh_max_lifetime_days: 0 is below 1; use 1..=365"
        );
        assert_eq!(
            error("oauth:\n  refresh_max_lifetime_days: 366\n"),
            "config/test.yaml: oauth.refresh_max_lifetime_days: 366 is above 365; use 1..=365"
        );
        // The default refresh token lives 30 days.
        assert_eq!(
            error("oauth:\n  refresh_max_lifetime_days: 20\n"),
            "config/test.yaml: oauth.refresh_max_lifetime_days: 20 days is shorter than one refresh token's lifetime, oauth.refresh_token_ttl_seconds 2592000 (about 30 days); use at least 30, or lower oauth.refresh_token_ttl_seconds to at most 1728000"
        );
        assert!(parse("oauth:\n  refresh_max_lifetime_days: 30\n").is_ok());
        assert!(
            parse("oauth:\n  refresh_token_ttl_seconds: 86400\n  refresh_max_lifetime_days: 1\n")
                .is_ok()
        );
        let message =
            error("oauth:\n  refresh_token_ttl_seconds: 90000\n  refresh_max_lifetime_days: 1\n");
        assert!(message.contains("use at least 2, or lower"), "{message}");
        // A refresh token longer than any family may live: only its own lifetime can give.
        let message = error(&format!(
            "oauth:\n  refresh_token_ttl_seconds: {}\n  refresh_max_lifetime_days: 365\n",
            366 * 86_400
        ));
        assert!(
            message.ends_with(
                "lower oauth.refresh_token_ttl_seconds to at most 31536000: a family lives at most 365 days"
            ),
            "{message}"
        );
        let env = BTreeMap::from([(
            "MCPCTL_OAUTH_REFRESH_MAX_LIFETIME_DAYS".to_owned(),
            "45".to_owned(),
        )]);
        let config = from_yaml("", "config/test.yaml", "test", &env).unwrap();
        assert_eq!(config.oauth.refresh_max_lifetime_days, 45);
    }

    #[test]
    fn the_initial_access_token_secret_arn_is_checked_like_the_oidc_one() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp-iat-AbCdEf";
        let config = parse(&format!(
            "region: eu-west-1\noauth:\n  initial_access_token_secret_arn: {arn}\n"
        ))
        .unwrap();
        assert_eq!(
            config.oauth.initial_access_token_secret_arn.as_deref(),
            Some(arn)
        );
        assert_eq!(
            parse("").unwrap().oauth.initial_access_token_secret_arn,
            None
        );
        for bad in [
            "arn:aws:ssm:eu-west-1:123456789012:parameter/x",
            "arn:aws:secretsmanager:eu-west-1:1234:secret:x",
            "my-token",
        ] {
            assert_eq!(
                error(&format!(
                    "oauth:\n  initial_access_token_secret_arn: \"{bad}\"\n"
                )),
                format!(
                    "config/test.yaml: oauth.initial_access_token_secret_arn: `{bad}` is not a Secrets Manager secret ARN; use arn:aws:secretsmanager:<region>:<account>:secret:<name> of the secret holding the initial access token, or leave it out (operators then register machine clients with `mcpctl register-client --direct`)"
                )
            );
        }
        assert_eq!(
            error(&format!(
                "region: us-east-1\noauth:\n  initial_access_token_secret_arn: {arn}\n"
            )),
            "config/test.yaml: oauth.initial_access_token_secret_arn: the secret is in eu-west-1 but the stage deploys to us-east-1; the auth function reads secrets in its own region: put the secret in us-east-1"
        );
        // From the environment; an empty variable removes the file's.
        let env = BTreeMap::from([(
            "MCPCTL_OAUTH_INITIAL_ACCESS_TOKEN_SECRET_ARN".to_owned(),
            arn.to_owned(),
        )]);
        let config = from_yaml("", "config/test.yaml", "test", &env).unwrap();
        assert_eq!(
            config.oauth.initial_access_token_secret_arn.as_deref(),
            Some(arn)
        );
        let env = BTreeMap::from([(
            "MCPCTL_OAUTH_INITIAL_ACCESS_TOKEN_SECRET_ARN".to_owned(),
            String::new(),
        )]);
        let config = from_yaml(
            &format!("oauth:\n  initial_access_token_secret_arn: {arn}\n"),
            "config/test.yaml",
            "test",
            &env,
        )
        .unwrap();
        assert_eq!(config.oauth.initial_access_token_secret_arn, None);
    }

    #[test]
    fn the_groups_scope_needs_an_upstream_provider_and_a_scope_token() {
        let config = parse(&format!("{OIDC}  groups_scope: groups\n")).unwrap();
        assert_eq!(config.identity.groups_scope.as_deref(), Some("groups"));
        assert!(parse("identity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp\n  groups_scope: \"mcp:groups\"\n").is_ok());
        for mode in ["none", "dev"] {
            assert_eq!(
                error(&format!(
                    "identity:\n  mode: {mode}\n  groups_scope: groups\n"
                )),
                format!(
                    "config/test.yaml: identity.groups_scope: releases the user's groups, but identity.mode `{mode}` signs in no one who has groups; leave identity.groups_scope out, or set identity.mode: oidc or cognito"
                )
            );
        }
        for bad in [r#""my groups""#, r#"'a"b'"#, r#""a\\b""#] {
            let message = error(&format!("{OIDC}  groups_scope: {bad}\n"));
            assert!(
                message.starts_with("config/test.yaml: identity.groups_scope: `")
                    && message.contains("` is not a scope; name one scope without spaces"),
                "{bad}: {message}"
            );
        }
        let env = BTreeMap::from([(
            "MCPCTL_IDENTITY_GROUPS_SCOPE".to_owned(),
            "roles".to_owned(),
        )]);
        let config = from_yaml(OIDC, "config/test.yaml", "test", &env).unwrap();
        assert_eq!(config.identity.groups_scope.as_deref(), Some("roles"));
    }

    #[test]
    fn missing_stage_lists_the_configured_ones() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let error = load(&dir, "staging", &BTreeMap::new()).unwrap_err();
        let ConfigError::NotFound { help, .. } = &error else {
            panic!("{error:?}")
        };
        assert!(help.contains("dev, prod"), "{help}");
        assert!(matches!(
            load(&dir, "../etc/passwd", &BTreeMap::new()),
            Err(ConfigError::BadStageName { .. })
        ));
    }

    #[test]
    fn shipped_stages_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let dev = load(&dir, "dev", &BTreeMap::new()).unwrap();
        assert!(!dev.production);
        let prod = load(&dir, "prod", &BTreeMap::new()).unwrap();
        assert!(prod.production);
        assert_eq!(dev.identity.mode, IdentityMode::Dev);
        assert_eq!(prod.identity.mode, IdentityMode::None);
        assert!(prod.lambda.log_retention_days >= 365);
        // The shipped production stage is machine-only until someone picks a way to sign in.
        assert!(!prod.oauth.registration_open);
        #[cfg(feature = "aws")]
        assert!(!prod.token_policy().people);
        assert_eq!(dev.name, "dev");
        assert_eq!(prod.stage_name(), "prod");
    }

    #[test]
    fn extra_scopes_are_scope_tokens_the_server_does_not_offer_already() {
        assert!(parse("").unwrap().oauth.scopes.is_empty());
        let config = parse("oauth:\n  scopes: [notes:read, notes:write, \"x.y/z\"]\n").unwrap();
        assert_eq!(config.oauth.scopes, ["notes:read", "notes:write", "x.y/z"]);
        for (bad, problem) in [
            (
                "\"notes read\"",
                "`notes read` is not a scope; list scopes as separate items",
            ),
            ("\"\"", "`` is not a scope"),
            ("\"a\\\\b\"", "`a\\b` is not a scope"),
            (
                "\"a,b\"",
                "`a,b` has a comma, but the functions get the scopes comma-separated (MCP_SCOPES); split it",
            ),
            (
                "mcp",
                "`mcp` is built in: the server always offers it; remove it; list only your tools' own scopes (built in: mcp, openid, profile, email)",
            ),
            ("email", "`email` is built in"),
        ] {
            let message = error(&format!("oauth:\n  scopes: [{bad}]\n"));
            assert!(
                message.starts_with(&format!("config/test.yaml: oauth.scopes: {problem}")),
                "{bad}: {message}"
            );
        }
        assert_eq!(
            error("oauth:\n  scopes: [notes:read, notes:read]\n"),
            "config/test.yaml: oauth.scopes: `notes:read` is listed twice; list each scope once"
        );
        assert_eq!(
            error(&format!(
                "{OIDC}  groups_scope: groups\noauth:\n  scopes: [groups]\n"
            )),
            "config/test.yaml: oauth.scopes: `groups` is already identity.groups_scope; remove it from oauth.scopes: the groups scope is offered as it is"
        );
        let env = BTreeMap::from([(
            "MCPCTL_OAUTH_SCOPES".to_owned(),
            "notes:read, notes:write".to_owned(),
        )]);
        let config = from_yaml("", "config/test.yaml", "test", &env).unwrap();
        assert_eq!(config.oauth.scopes, ["notes:read", "notes:write"]);
        let env = BTreeMap::from([("MCPCTL_OAUTH_SCOPES".to_owned(), "mcp".to_owned())]);
        let message = from_yaml("", "config/test.yaml", "test", &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("MCPCTL_OAUTH_SCOPES: oauth.scopes: `mcp` is built in"),
            "{message}"
        );
    }

    /// Every `mcp_function` option once (region eu-west-1, as the secrets').
    const MCP_FUNCTION: &str = "\
region: eu-west-1
mcp_function:
  memory_mb: 1024
  timeout_seconds: 20
  environment:
    NOTES_API_URL: https://notes.example.com/api
    TZ: Europe/Berlin
  secrets:
    NOTES_API_KEY: arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-api-key-AbCdEf
    NOTES_SIGNING_KEY: arn:aws:ssm:eu-west-1:123456789012:parameter/notes/signing-key
  iam_statements:
    - Sid: ReadNotesBucket
      Effect: Allow
      Action: s3:GetObject
      Resource: arn:aws:s3:::my-notes-bucket/*
    - Effect: Deny
      Action: [s3:DeleteObject, s3:PutObject]
      Resource: [arn:aws:s3:::my-notes-bucket/archive/*]
      Condition:
        StringNotEquals:
          aws:PrincipalAccount: '123456789012'
  table:
    name: notes
";

    /// A stage with one `mcp_function` field set to `yaml` (the field's lines, indented by two).
    fn mcp_function_error(yaml: &str) -> String {
        error(&format!("region: eu-west-1\nmcp_function:\n{yaml}"))
    }

    #[test]
    fn mcp_function_parses_every_option_and_defaults_to_nothing() {
        let config = parse("").unwrap();
        assert_eq!(config.mcp_function, McpFunctionConfig::default());
        assert_eq!(config.mcp_function_timeout(), 10);
        assert_eq!(config.mcp_function.secrets_json(), None);

        let options = parse(MCP_FUNCTION).unwrap().mcp_function;
        assert_eq!(options.memory_mb, Some(1024));
        assert_eq!(options.timeout_seconds, Some(20));
        assert_eq!(
            options.environment,
            BTreeMap::from([
                (
                    "NOTES_API_URL".to_owned(),
                    "https://notes.example.com/api".to_owned()
                ),
                ("TZ".to_owned(), "Europe/Berlin".to_owned()),
            ])
        );
        assert_eq!(
            options.secrets_json().unwrap(),
            r#"{"NOTES_API_KEY":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-api-key-AbCdEf","NOTES_SIGNING_KEY":"arn:aws:ssm:eu-west-1:123456789012:parameter/notes/signing-key"}"#
        );
        assert_eq!(
            options.secret_arns(SecretStore::SecretsManager),
            ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-api-key-AbCdEf"]
        );
        assert_eq!(
            options.secret_arns(SecretStore::SsmParameter),
            ["arn:aws:ssm:eu-west-1:123456789012:parameter/notes/signing-key"]
        );
        // One action or resource is a list of one.
        let [read, deny] = options.iam_statements.as_slice() else {
            panic!("{:?}", options.iam_statements)
        };
        assert_eq!(read.sid.as_deref(), Some("ReadNotesBucket"));
        assert_eq!(read.action, ["s3:GetObject"]);
        assert_eq!(read.resource, ["arn:aws:s3:::my-notes-bucket/*"]);
        assert_eq!(deny.effect.as_deref(), Some("Deny"));
        assert_eq!(deny.action, ["s3:DeleteObject", "s3:PutObject"]);
        assert!(deny.condition.is_some());
        assert_eq!(options.table.unwrap().name, "notes");
    }

    #[test]
    fn mcp_function_rejects_unknown_keys_with_their_path() {
        let message = mcp_function_error("  memroy_mb: 512\n");
        assert!(
            message.starts_with("config/test.yaml: mcp_function: unknown field `memroy_mb`, expected one of `memory_mb`"),
            "{message}"
        );
        let message = mcp_function_error("  table:\n    name: notes\n    billing: provisioned\n");
        assert!(
            message.contains("mcp_function.table: unknown field `billing`"),
            "{message}"
        );
        let message = mcp_function_error(
            "  iam_statements:\n    - Effect: Allow\n      Actions: [s3:GetObject]\n      Resource: '*'\n",
        );
        assert!(
            message.contains("unknown field `Actions`, expected one of `Sid`, `Effect`, `Action`"),
            "{message}"
        );
        // A scalar is read as its text, as Lambda would pass it; a list is no value.
        let config = parse("mcp_function:\n  environment:\n    PORT: 8080\n").unwrap();
        assert_eq!(config.mcp_function.environment["PORT"], "8080");
        let message = mcp_function_error("  environment:\n    PORTS: [80, 443]\n");
        assert!(
            message.contains("mcp_function.environment.PORTS: invalid type: sequence"),
            "{message}"
        );
    }

    #[test]
    fn mcp_function_memory_and_timeout_are_in_range() {
        assert_eq!(
            mcp_function_error("  memory_mb: 100\n"),
            "config/test.yaml: mcp_function.memory_mb: 100 is below 128; use 128..=10240"
        );
        assert_eq!(
            mcp_function_error("  timeout_seconds: 0\n"),
            "config/test.yaml: mcp_function.timeout_seconds: 0 is below 1; use 1..=900"
        );
        assert_eq!(
            mcp_function_error("  timeout_seconds: 901\n"),
            "config/test.yaml: mcp_function.timeout_seconds: 901 is above 900; use 1..=900"
        );
        // `/mcp` streams: a tool call may run as long as Lambda lets it.
        assert!(parse("mcp_function:\n  timeout_seconds: 900\n").is_ok());
        // The duration alarm serves the MCP function too, so its shorter timeout bounds it.
        assert_eq!(
            error("mcp_function:\n  timeout_seconds: 3\n"),
            "config/test.yaml: alarms.lambda_duration_p99_ms: 5000 is above 3000; use 1..=3000"
        );
    }

    #[test]
    fn mcp_function_variable_names_never_shadow_lambdas_or_the_stacks() {
        for (name, problem) in [
            (
                "1ST",
                "`1ST` is not a variable name; use letters, digits and `_`",
            ),
            ("NOTES-URL", "`NOTES-URL` is not a variable name"),
            (
                "MCP_NOTES",
                "`MCP_NOTES` starts with MCP_, the prefix of the stack's own variables; rename it",
            ),
            (
                "AWS_REGION",
                "`AWS_REGION` starts with AWS_, a prefix Lambda reserves",
            ),
            ("_HANDLER", "`_HANDLER` is reserved by Lambda"),
            (
                "_X_AMZN_TRACE_ID",
                "`_X_AMZN_TRACE_ID` is reserved by Lambda",
            ),
            (
                "LAMBDA_TASK_ROOT",
                "`LAMBDA_TASK_ROOT` is reserved by Lambda",
            ),
            (
                "LAMBDA_RUNTIME_DIR",
                "`LAMBDA_RUNTIME_DIR` is reserved by Lambda",
            ),
            ("RUST_LOG", "`RUST_LOG` is set by the stack"),
            (
                "MCPCTL_DEV_LISTEN",
                "`MCPCTL_DEV_LISTEN` starts with MCPCTL_, the prefix mcpctl reserves",
            ),
        ] {
            let message = mcp_function_error(&format!("  environment:\n    {name}: x\n"));
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: mcp_function.environment: {problem}"
                )),
                "{name}: {message}"
            );
            let message = mcp_function_error(&format!(
                "  secrets:\n    {name}: arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf\n"
            ));
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: mcp_function.secrets: {problem}"
                )),
                "{name}: {message}"
            );
        }
        assert!(
            parse(
                "mcp_function:\n  environment:\n    TZ: UTC\n    _private: x\n    lower_case: y\n"
            )
            .is_ok()
        );
        assert_eq!(
            mcp_function_error(
                "  environment:\n    NOTES_KEY: x\n  secrets:\n    NOTES_KEY: arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf\n"
            ),
            "config/test.yaml: mcp_function.secrets: `NOTES_KEY` is also in mcp_function.environment; give the secret and the variable different names"
        );
    }

    #[test]
    fn mcp_function_secrets_are_secrets_manager_or_ssm_arns_in_the_stage_region() {
        for bad in [
            "arn:aws:s3:::my-bucket/key",
            "arn:aws:secretsmanager:eu-west-1:1234:secret:x",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/",
            "my-secret",
        ] {
            assert_eq!(
                mcp_function_error(&format!("  secrets:\n    NOTES_KEY: \"{bad}\"\n")),
                format!(
                    "config/test.yaml: mcp_function.secrets: NOTES_KEY: `{bad}` is not a Secrets Manager secret or SSM parameter ARN; use arn:aws:secretsmanager:<region>:<account>:secret:<name-with-suffix> (the full ARN, with the 6-character suffix) or arn:aws:ssm:<region>:<account>:parameter/<name>"
                )
            );
        }
        let message = mcp_function_error(
            "  secrets:\n    NOTES_KEY: arn:aws:ssm:eu-west-1:123456789012:parameter//notes/key\n",
        );
        assert!(
            message.ends_with("write a parameter named /a/b as arn:aws:ssm:<region>:<account>:parameter/a/b (one slash)"),
            "{message}"
        );
        assert_eq!(
            error(
                "region: us-east-1\nmcp_function:\n  secrets:\n    NOTES_KEY: arn:aws:ssm:eu-west-1:123456789012:parameter/notes/key\n"
            ),
            "config/test.yaml: mcp_function.secrets: NOTES_KEY: the secret is in eu-west-1 but the stage deploys to us-east-1; the MCP function reads secrets in its own region: put the secret in us-east-1"
        );
        // Without a region the profile's decides, so any region is accepted.
        assert!(
            parse(
                "mcp_function:\n  secrets:\n    A: arn:aws:ssm:us-west-2:123456789012:parameter/a\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn mcp_function_iam_statements_are_checked() {
        let statement = |lines: &str| mcp_function_error(&format!("  iam_statements:\n{lines}"));
        let cases = [
            (
                "    - Action: s3:GetObject\n      Resource: '*'\n",
                "statement 1 has no Effect; add Effect: Allow (or Deny)",
            ),
            (
                "    - Sid: Read\n      Effect: allow\n      Action: s3:GetObject\n      Resource: '*'\n",
                "statement 1 (Sid Read): `allow` is not an Effect; write Effect: Allow or Effect: Deny",
            ),
            (
                "    - Effect: Allow\n      Resource: '*'\n",
                "statement 1 has no Action; add the actions the tools call",
            ),
            (
                "    - Effect: Allow\n      Action: []\n      Resource: '*'\n",
                "statement 1 has no Action",
            ),
            (
                "    - Effect: Allow\n      Action: s3:GetObject\n",
                "statement 1 has no Resource; add the ARNs the actions apply to",
            ),
            (
                "    - Effect: Allow\n      Action: GetObject\n      Resource: '*'\n",
                "statement 1: `GetObject` is not an IAM action; write service:Action",
            ),
            (
                "    - Effect: Allow\n      Action: s3:GetObject\n      Resource: my-bucket\n",
                "statement 1: `my-bucket` is not a resource ARN",
            ),
            (
                "    - Effect: Allow\n      Action: '*'\n      Resource: '*'\n",
                "statement 1 allows every action on every resource (Action * with Resource *): that is administrator access for anyone who can call a tool; name the actions",
            ),
            (
                "    - Effect: Allow\n      Action: [s3:GetObject, '*']\n      Resource: [arn:aws:s3:::b/*, '*']\n",
                "statement 1 allows every action on every resource",
            ),
            (
                "    - Effect: Allow\n      Action: '*'\n      Resource: 'arn:*'\n",
                "statement 1 allows every action on every resource",
            ),
            (
                "    - Effect: Allow\n      Action: '*'\n      Resource: 'arn:aws:*:*:*:*'\n",
                "statement 1 allows every action on every resource",
            ),
            (
                "    - Effect: Deny\n      Action: '*'\n      Resource: '*'\n",
                "statement 1 denies every action on every resource (Action * with Resource *): the function could not even write its logs",
            ),
            (
                "    - Effect: Allow\n      NotAction: iam:*\n      Resource: '*'\n",
                "statement 1 uses NotAction, which allows (or denies) every action except the listed ones",
            ),
            (
                "    - Effect: Allow\n      Action: s3:GetObject\n      NotResource: arn:aws:s3:::b/*\n",
                "statement 1 uses NotResource, which applies to every resource except the listed ones",
            ),
            (
                "    - Effect: Allow\n      Principal: '*'\n      Action: s3:GetObject\n      Resource: '*'\n",
                "statement 1 has a Principal, which belongs in a resource's policy, not in a role's; remove it",
            ),
            (
                "    - Sid: read-notes\n      Effect: Allow\n      Action: s3:GetObject\n      Resource: '*'\n",
                "statement 1 (Sid read-notes): `read-notes` is not a Sid; use letters and digits only",
            ),
            (
                "    - Effect: Allow\n      Action: s3:GetObject\n      Resource: '*'\n      Condition:\n        StringEquals: aws:SourceVpc\n",
                "statement 1 has a Condition that is not operator → key → value(s)",
            ),
            (
                "    - Sid: A\n      Effect: Allow\n      Action: s3:GetObject\n      Resource: '*'\n    - Sid: A\n      Effect: Allow\n      Action: s3:PutObject\n      Resource: arn:aws:s3:::b/*\n",
                "Sid `A` is used twice; give each statement its own Sid, or leave Sid out",
            ),
        ];
        for (lines, problem) in cases {
            let message = statement(lines);
            assert!(
                message.starts_with(&format!(
                    "config/test.yaml: mcp_function.iam_statements: {problem}"
                )),
                "{lines}: {message}"
            );
        }
        // The second statement is the one named.
        let message = statement(
            "    - Effect: Allow\n      Action: s3:GetObject\n      Resource: arn:aws:s3:::b/*\n    - Effect: Allow\n      Action: s3:PutObject\n",
        );
        assert!(message.contains("statement 2 has no Resource"), "{message}");
        // `*` alone is fine for actions that take no resource.
        assert!(parse("mcp_function:\n  iam_statements:\n    - Effect: Allow\n      Action: xray:PutTraceSegments\n      Resource: '*'\n").is_ok());
    }

    #[test]
    fn mcp_function_table_names_are_short_dynamodb_names() {
        assert!(parse("mcp_function:\n  table:\n    name: 0-notes-v2\n").is_ok());
        assert!(
            parse(&format!(
                "mcp_function:\n  table:\n    name: {}\n",
                "a".repeat(31)
            ))
            .is_ok()
        );
        for bad in ["Notes", "-notes", "notes_v2", "\"\"", &"a".repeat(32)] {
            let message = mcp_function_error(&format!("  table:\n    name: {bad}\n"));
            assert!(
                message.starts_with("config/test.yaml: mcp_function.table.name: `")
                    && message.ends_with("` is not a short table name; use 1 to 31 lower-case letters, digits and `-`, starting with a letter or digit, e.g. notes (the table is <stack>-app-notes)"),
                "{bad}: {message}"
            );
        }
        let message = mcp_function_error("  table: {}\n");
        assert!(message.contains("missing field `name`"), "{message}");
    }

    #[test]
    fn mcp_function_entries_fit_lambdas_environment() {
        let long = "x".repeat(1100);
        let message =
            mcp_function_error(&format!("  environment:\n    A: {long}\n    B: {long}\n"));
        assert_eq!(
            message,
            "config/test.yaml: mcp_function.environment: the variables and the secrets' names and ARNs take 2202 bytes, more than the 2048 of Lambda's 4 KB environment the stack leaves them; move long values into one secret (a JSON secret holds many values) or into the table"
        );
    }
}
