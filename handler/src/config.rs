//! What the handler needs to know about where it runs: its public URL (the issuer), the scopes
//! it offers, token lifetimes, browser origins it trusts, and optional features.
//!
//! On Lambda everything comes from environment variables the CloudFormation template sets
//! ([`HandlerConfig::from_env`]); `mcpctl dev` builds it in code.

use std::time::Duration;

use url::Url;

/// Errors in the handler's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required environment variable is not set.
    #[error(
        "environment variable {0} is not set; the CloudFormation template sets it, so check the function's configuration"
    )]
    Missing(&'static str),
    /// A value could not be parsed.
    #[error("environment variable {name} has an invalid value: {reason}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
}

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which upstream ID-token claims become the user's e-mail, name and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// E-mail claim (default `email`).
    pub email: String,
    /// Display-name claim (default `name`).
    pub name: String,
    /// Groups claim (default `groups`; Cognito uses `cognito:groups`).
    pub groups: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            email: "email".into(),
            name: "name".into(),
            groups: "groups".into(),
        }
    }
}

/// Sign-in through an upstream OpenID provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The provider's issuer identifier exactly as the provider writes it (a trailing slash
    /// matters: discovery compares it byte for byte); its discovery document is
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret at the provider; none for a public client (PKCE only).
    pub client_secret: Option<Secret>,
    /// Scopes asked of the provider; always includes `openid`.
    pub scopes: Vec<String>,
    /// Claim mapping.
    pub claims: ClaimNames,
    /// Only users whose verified e-mail is in one of these domains may sign in (empty: anyone).
    pub allowed_email_domains: Vec<String>,
    /// Only users in one of these upstream groups may sign in (empty: anyone).
    pub allowed_groups: Vec<String>,
    /// How long an approval is remembered per user and client; `None` asks every time.
    pub remember_consent: Option<Duration>,
}

impl OidcSettings {
    /// Settings with the defaults: scopes `openid email profile`, standard claim names, no
    /// allow-lists, consent asked every time.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            claims: ClaimNames::default(),
            allowed_email_domains: Vec::new(),
            allowed_groups: Vec::new(),
            remember_consent: None,
        }
    }
}

/// Who the user is at `/oauth/authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMode {
    /// A fixed local user confirmed on a consent page; `auto_approve` skips the page (scripted tests).
    Dev {
        /// Approve every valid request without showing the consent page.
        auto_approve: bool,
    },
    /// No interactive sign-in: the authorization-code flow answers `access_denied`. Only
    /// client_credentials works. This is the Lambda default until an upstream identity provider is configured.
    Disabled,
    /// Sign-in at an upstream OpenID provider, then our consent page.
    Oidc(Box<OidcSettings>),
}

/// Limits for fetching Client ID Metadata Documents.
#[derive(Debug, Clone)]
pub struct CimdPolicy {
    /// Allow `http://` and loopback/private addresses (only for `mcpctl dev`).
    pub allow_insecure: bool,
    /// Largest document accepted.
    pub max_bytes: usize,
    /// Whole-fetch deadline.
    pub timeout: Duration,
    /// How long a fetched document is reused.
    pub cache_ttl: Duration,
}

impl Default for CimdPolicy {
    fn default() -> Self {
        Self {
            allow_insecure: false,
            max_bytes: 5 * 1024,
            timeout: Duration::from_secs(3),
            cache_ttl: Duration::from_secs(300),
        }
    }
}

/// Private-use redirect schemes of widely used MCP clients that are not in reverse-domain form.
pub const DEFAULT_REDIRECT_SCHEMES: &[&str] = &["cursor", "vscode", "vscode-insiders", "windsurf"];

/// The handler's configuration.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// Public base URL without a trailing slash, e.g. `https://abc.execute-api.us-east-1.amazonaws.com/prod`.
    /// It is the issuer; the MCP resource is `{public_url}/mcp`.
    pub public_url: Url,
    /// Scopes offered; the first is the default granted when a client asks for none.
    pub scopes: Vec<String>,
    /// Scope required to call `/mcp`.
    pub mcp_scope: String,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_token_ttl: Duration,
    /// Authorization-code lifetime (at most 10 minutes, RFC 6749 §4.1.2).
    pub auth_code_ttl: Duration,
    /// A replayed refresh token inside this window gets the same successor (a client lost the response).
    pub refresh_grace: Duration,
    /// Browser origins allowed on `/mcp` and for CORS: `scheme://host[:port]`, port `*` for any.
    pub allowed_origins: Vec<String>,
    /// Host names (with optional port) accepted in the `Host` header of MCP requests; empty accepts any.
    pub allowed_hosts: Vec<String>,
    /// User sign-in.
    pub identity: IdentityMode,
    /// Client ID Metadata Document limits.
    pub cimd: CimdPolicy,
    /// Largest request body accepted by the OAuth endpoints.
    pub max_form_bytes: usize,
    /// Largest MCP request body.
    pub max_mcp_bytes: usize,
    /// Open registration at `/dcr`; when false, clients are created by operators only.
    pub registration_open: bool,
    /// SHA-256 hashes ([`crate::crypto::hash_secret`]) of the RFC 7591 §3 initial access tokens
    /// that authorise operator registrations at `/dcr` (machine clients, and registration while
    /// `registration_open` is false). Empty: no operator registration through `/dcr`.
    pub initial_access_token_hashes: Vec<String>,
    /// Private-use redirect URI schemes allowed besides the RFC 8252 §7.1 reverse-domain form
    /// (`com.example.app:/cb`): the schemes of known MCP clients, such as `cursor`.
    pub redirect_schemes: Vec<String>,
    /// Absolute lifetime of a refresh-token family, from the first sign-in, whatever the
    /// idle TTL and the rotations.
    pub refresh_max_lifetime: Duration,
    /// The scope that releases the user's groups into tokens and `/oauth/userinfo`; `None`:
    /// groups are never released. (`email` needs scope `email`, `name` needs `profile`.)
    pub groups_scope: Option<String>,
    /// Gateway mode: the public JWKS of the key that signs identity assertions, served at
    /// [`GATEWAY_JWKS_PATH`] for the upstream. Never trusted for access tokens here.
    pub gateway_jwks: Option<serde_json::Value>,
    /// The server's name, title, version and instructions from the stage configuration
    /// (`MCP_SERVER_NAME`, `_TITLE`, `_VERSION`, `_INSTRUCTIONS`), over the server's own.
    pub server_identity: crate::mcp::ServerIdentity,
    /// Metrics in the access log lines (EMF, crate::metrics); `None`: none are written.
    pub metrics: Option<crate::metrics::MetricsConfig>,
}

/// The access-token lifetime of a configuration that sets none (`mcpctl dev`).
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Where the gateway's assertion keys are published (apart from `/.well-known/jwks.json`, so
/// nothing that checks access tokens ever loads them).
pub const GATEWAY_JWKS_PATH: &str = "/.well-known/mcpctl-gateway-jwks.json";

impl HandlerConfig {
    /// Defaults for a server reachable at `public_url`.
    pub fn new(public_url: Url) -> Self {
        let host = public_url.host_str().unwrap_or_default().to_owned();
        let mut allowed_hosts = vec![host.clone()];
        if let Some(port) = public_url.port() {
            allowed_hosts.push(format!("{host}:{port}"));
        }
        Self {
            public_url: trim_trailing_slash(public_url),
            scopes: vec![
                "mcp".into(),
                "openid".into(),
                "profile".into(),
                "email".into(),
            ],
            mcp_scope: "mcp".into(),
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            auth_code_ttl: Duration::from_secs(300),
            refresh_grace: Duration::from_secs(30),
            allowed_origins: Vec::new(),
            allowed_hosts,
            identity: IdentityMode::Disabled,
            cimd: CimdPolicy::default(),
            max_form_bytes: 16 * 1024,
            max_mcp_bytes: 1024 * 1024,
            registration_open: true,
            initial_access_token_hashes: Vec::new(),
            redirect_schemes: DEFAULT_REDIRECT_SCHEMES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            refresh_max_lifetime: Duration::from_secs(90 * 24 * 3600),
            groups_scope: None,
            gateway_jwks: None,
            server_identity: crate::mcp::ServerIdentity::default(),
            metrics: None,
        }
    }

    /// Names the scope that releases groups, and offers it.
    pub fn set_groups_scope(&mut self, scope: String) {
        self.offer_scope(scope.clone());
        self.groups_scope = Some(scope);
    }

    /// Offers one more scope (a tool's own, e.g. `notes:write`): in the metadata documents, on
    /// the consent page, and to clients that ask for it.
    pub fn offer_scope(&mut self, scope: String) {
        if !self.scopes.contains(&scope) {
            self.scopes.push(scope);
        }
    }

    /// The issuer identifier: the public URL, byte-exact as in every metadata document.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The canonical MCP resource URI (RFC 8707 audience of every access token).
    pub fn resource(&self) -> String {
        format!("{}/mcp", self.issuer())
    }

    /// An absolute URL for a path relative to the public URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// The protected-resource metadata URL advertised in `WWW-Authenticate`. It lives under the
    /// public URL (not the origin root) so it is reachable behind an API Gateway stage prefix.
    pub fn resource_metadata_url(&self) -> String {
        self.url("/.well-known/oauth-protected-resource/mcp")
    }

    /// Reads the configuration the CloudFormation template gives the function.
    ///
    /// `MCP_PUBLIC_URL` (required), `MCP_ALLOWED_ORIGINS` (comma-separated),
    /// `MCP_ALLOWED_HOSTS` (comma-separated, added to the public URL's host),
    /// `MCP_ACCESS_TOKEN_TTL_SECONDS`, `MCP_REFRESH_TOKEN_TTL_SECONDS`, `MCP_CONFORMANCE_PACK`,
    /// `MCP_REGISTRATION_OPEN`, `MCP_REDIRECT_SCHEMES` (comma-separated; replaces the default
    /// list), `MCP_REFRESH_MAX_LIFETIME_SECONDS`, `MCP_GROUPS_SCOPE`. The initial access token
    /// comes from Secrets Manager (`MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN`), read by the Lambda `main`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let raw =
            std::env::var("MCP_PUBLIC_URL").map_err(|_| ConfigError::Missing("MCP_PUBLIC_URL"))?;
        let public_url = Url::parse(&raw).map_err(|e| ConfigError::Invalid {
            name: "MCP_PUBLIC_URL",
            reason: format!(
                "{e}; expected an absolute https URL such as https://api.example.com/prod"
            ),
        })?;
        let mut config = Self::new(public_url);
        if let Ok(origins) = std::env::var("MCP_ALLOWED_ORIGINS") {
            config.allowed_origins = split_list(&origins);
        }
        if let Ok(hosts) = std::env::var("MCP_ALLOWED_HOSTS") {
            config.allowed_hosts.extend(split_list(&hosts));
        }
        if let Some(seconds) = env_u64("MCP_ACCESS_TOKEN_TTL_SECONDS")? {
            config.access_token_ttl = Duration::from_secs(seconds);
        }
        if let Some(seconds) = env_u64("MCP_REFRESH_TOKEN_TTL_SECONDS")? {
            config.refresh_token_ttl = Duration::from_secs(seconds);
        }
        config.registration_open = env_bool("MCP_REGISTRATION_OPEN")?.unwrap_or(true);
        if let Ok(schemes) = std::env::var("MCP_REDIRECT_SCHEMES") {
            config.redirect_schemes = split_list(&schemes);
        }
        if let Some(seconds) = env_u64("MCP_REFRESH_MAX_LIFETIME_SECONDS")? {
            config.refresh_max_lifetime = Duration::from_secs(seconds);
        }
        // The tools' own scopes (stage config `oauth.scopes`), for the metadata and the guard.
        if let Ok(scopes) = std::env::var("MCP_SCOPES") {
            for scope in split_list(&scopes) {
                if !crate::oauth::scope::is_scope_token(&scope) {
                    return Err(ConfigError::Invalid {
                        name: "MCP_SCOPES",
                        reason: format!(
                            "`{scope}` is not an OAuth scope (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)"
                        ),
                    });
                }
                config.offer_scope(scope);
            }
        }
        if let Ok(scope) = std::env::var("MCP_GROUPS_SCOPE").map(|v| v.trim().to_owned())
            && !scope.is_empty()
        {
            config.set_groups_scope(scope);
        }
        if let Ok(jwks) = std::env::var("MCP_GATEWAY_JWKS")
            && !jwks.trim().is_empty()
        {
            let parsed: serde_json::Value = serde_json::from_str(&jwks)
                .ok()
                .filter(|v: &serde_json::Value| v["keys"].is_array())
                .ok_or(ConfigError::Invalid {
                    name: "MCP_GATEWAY_JWKS",
                    reason: "not a JWKS document ({\"keys\": [...]})".into(),
                })?;
            config.gateway_jwks = Some(parsed);
        }
        config.server_identity = server_identity_from_env();
        config.metrics = crate::metrics::MetricsConfig::from_env(|name| std::env::var(name).ok());
        config.identity = identity_from_env()?;
        Ok(config)
    }
}

/// `MCP_SERVER_NAME`, `MCP_SERVER_TITLE`, `MCP_SERVER_VERSION`, `MCP_SERVER_INSTRUCTIONS`; an
/// empty or blank value is no value.
fn server_identity_from_env() -> crate::mcp::ServerIdentity {
    let read = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    crate::mcp::ServerIdentity {
        name: read("MCP_SERVER_NAME"),
        title: read("MCP_SERVER_TITLE"),
        version: read("MCP_SERVER_VERSION"),
        instructions: read("MCP_SERVER_INSTRUCTIONS"),
    }
}

/// `MCP_IDENTITY` (`disabled` | `dev` | `oidc`) and, for `oidc`, `MCP_OIDC_ISSUER`,
/// `MCP_OIDC_CLIENT_ID`, `MCP_OIDC_SCOPES`, `MCP_OIDC_CLAIM_{EMAIL,NAME,GROUPS}`,
/// `MCP_ALLOWED_EMAIL_DOMAINS`, `MCP_ALLOWED_GROUPS`, `MCP_REMEMBER_CONSENT_DAYS`. The client
/// secret comes from Secrets Manager (`MCP_OIDC_CLIENT_SECRET_ARN`), read by the Lambda `main`.
fn identity_from_env() -> Result<IdentityMode, ConfigError> {
    match std::env::var("MCP_IDENTITY").as_deref() {
        Err(_) | Ok("" | "disabled") => Ok(IdentityMode::Disabled),
        Ok("dev") => Ok(IdentityMode::Dev {
            auto_approve: false,
        }),
        Ok("oidc") => {
            let raw = std::env::var("MCP_OIDC_ISSUER")
                .map_err(|_| ConfigError::Missing("MCP_OIDC_ISSUER"))?;
            let issuer = raw.trim().to_owned();
            Url::parse(&issuer).map_err(|e| ConfigError::Invalid {
                name: "MCP_OIDC_ISSUER",
                reason: format!("{e}; expected the provider's issuer URL"),
            })?;
            let client_id = std::env::var("MCP_OIDC_CLIENT_ID")
                .map_err(|_| ConfigError::Missing("MCP_OIDC_CLIENT_ID"))?;
            let mut settings = OidcSettings::new(issuer, client_id);
            if let Ok(scopes) = std::env::var("MCP_OIDC_SCOPES") {
                settings.scopes = scopes.split_whitespace().map(str::to_owned).collect();
                if !settings.scopes.iter().any(|s| s == "openid") {
                    settings.scopes.insert(0, "openid".into());
                }
            }
            for (name, slot) in [
                ("MCP_OIDC_CLAIM_EMAIL", &mut settings.claims.email),
                ("MCP_OIDC_CLAIM_NAME", &mut settings.claims.name),
                ("MCP_OIDC_CLAIM_GROUPS", &mut settings.claims.groups),
            ] {
                if let Ok(value) = std::env::var(name).map(|v| v.trim().to_owned())
                    && !value.is_empty()
                {
                    *slot = value;
                }
            }
            if let Ok(domains) = std::env::var("MCP_ALLOWED_EMAIL_DOMAINS") {
                settings.allowed_email_domains = split_list(&domains);
            }
            if let Ok(groups) = std::env::var("MCP_ALLOWED_GROUPS") {
                settings.allowed_groups = split_list(&groups);
            }
            let days = env_u64("MCP_REMEMBER_CONSENT_DAYS")?.unwrap_or(0);
            if days > 365 {
                return Err(ConfigError::Invalid {
                    name: "MCP_REMEMBER_CONSENT_DAYS",
                    reason: format!("{days} is more than 365 days"),
                });
            }
            settings.remember_consent = (days > 0).then(|| Duration::from_secs(days * 24 * 3600));
            Ok(IdentityMode::Oidc(Box::new(settings)))
        }
        Ok(other) => Err(ConfigError::Invalid {
            name: "MCP_IDENTITY",
            reason: format!("`{other}` is not one of disabled, dev, oidc"),
        }),
    }
}

fn trim_trailing_slash(mut url: Url) -> Url {
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    url
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn env_u64(name: &'static str) -> Result<Option<u64>, ConfigError> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Invalid {
                name,
                reason: format!("`{value}` is not a whole number"),
            }),
        Err(_) => Ok(None),
    }
}

fn env_bool(name: &'static str) -> Result<Option<bool>, ConfigError> {
    match std::env::var(name).as_deref() {
        Ok("true" | "1") => Ok(Some(true)),
        Ok("false" | "0") => Ok(Some(false)),
        Ok(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("`{other}` is not true or false"),
        }),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_resource_follow_the_public_url() {
        let config = HandlerConfig::new(Url::parse("https://api.example.com/prod/").unwrap());
        assert_eq!(config.issuer(), "https://api.example.com/prod");
        assert_eq!(config.resource(), "https://api.example.com/prod/mcp");
        assert_eq!(
            config.resource_metadata_url(),
            "https://api.example.com/prod/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn root_public_url_has_no_trailing_slash() {
        let config = HandlerConfig::new(Url::parse("http://127.0.0.1:8787").unwrap());
        assert_eq!(config.issuer(), "http://127.0.0.1:8787");
        assert_eq!(config.allowed_hosts, vec!["127.0.0.1", "127.0.0.1:8787"]);
    }
}
