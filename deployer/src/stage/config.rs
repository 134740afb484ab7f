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

/// One stage: the values `mcpctl render` turns into template parameters and that `deploy` uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StageConfig {
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
    /// The three Lambda functions.
    pub(crate) lambda: LambdaConfig,
    /// The REST API.
    pub(crate) api: ApiConfig,
    /// The authorization server.
    pub(crate) oauth: OAuthConfig,
    /// CloudWatch alarm thresholds and where they notify.
    pub(crate) alarms: AlarmsConfig,
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
/// in upper case with `_` for `.`. Not overridable: `stage` (it names the file: use `--stage`)
/// and `api.custom_domain` (two values that only make sense together: use the file).
pub(crate) const ENV_FIELDS: &[(&str, Setter)] = env_fields! {
    "production" => production;
    "stack_name" => stack_name;
    "region" => region;
    "tracing" => tracing;
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
    "alarms.email" => alarms.email;
    "alarms.lambda_errors" => alarms.lambda_errors;
    "alarms.lambda_throttles" => alarms.lambda_throttles;
    "alarms.lambda_duration_p99_ms" => alarms.lambda_duration_p99_ms;
    "alarms.api_5xx" => alarms.api_5xx;
    "alarms.api_latency_p99_ms" => alarms.api_latency_p99_ms;
    "alarms.dynamodb_throttles" => alarms.dynamodb_throttles;
    "alarms.dynamodb_system_errors" => alarms.dynamodb_system_errors;
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
            stage,
            production: _,
            stack_name,
            region,
            tracing: _,
            lambda,
            api,
            oauth,
            alarms,
        } = self;
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
        oauth.validate()?;
        alarms.validate(lambda.timeout_seconds)
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
    fn validate(&self) -> Result<(), Violation> {
        let Self {
            access_token_ttl_seconds,
            refresh_token_ttl_seconds,
            registration_open: _,
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
            366 * 86_400,
        )
    }
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
        )
    }
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

    /// Every field is either overridable from the environment or deliberately not.
    #[test]
    fn every_field_has_an_environment_variable_or_a_reason() {
        let mut full = StageConfig {
            region: Some("eu-west-1".into()),
            ..StageConfig::default()
        };
        full.alarms.email = Some("ops@example.com".into());
        full.api.custom_domain = Some(CustomDomain {
            domain_name: "mcp.example.com".into(),
            certificate_arn: "arn".into(),
        });
        let mut leaves = Vec::new();
        collect_leaves(&yaml::to_value(&full).unwrap(), String::new(), &mut leaves);
        let mut covered: Vec<String> = ENV_FIELDS
            .iter()
            .map(|(path, _)| (*path).to_owned())
            .collect();
        covered.extend(["stage", "api.custom_domain"].map(str::to_owned));
        covered.sort();
        leaves.sort();
        assert_eq!(leaves, covered);
    }

    fn collect_leaves(value: &yaml::Value, prefix: String, out: &mut Vec<String>) {
        match value {
            yaml::Value::Mapping(mapping) if prefix != "api.custom_domain" => {
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
        assert!(prod.lambda.log_retention_days >= 365);
    }
}
