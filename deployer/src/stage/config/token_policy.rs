//! "Who can get a token": one sentence derived from the stage configuration, printed by
//! `mcpctl deploy` and `mcpctl status` (and a field of their `--output json`), so whoever deploys
//! sees whom the stage lets in before anyone else finds out.
//!
//! The facts it rests on (the handler's rules, not this module's): people get tokens only
//! through the authorization-code flow, so only when someone can sign in (`identity.mode` dev,
//! oidc or cognito); clients that register themselves at `/dcr` or identify with a Client ID
//! Metadata Document never get `client_credentials`; machine clients come only from an operator
//! (AWS credentials, `--direct`) or from whoever holds the stage's initial access token.

use std::fmt;

use serde::Serialize;

use super::{CognitoConfig, IdentityMode, OidcConfig, StageConfig};

/// Who can get a token from a stage, as facts and as the sentence `Display` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TokenPolicy {
    /// The sentence, without the `Who can get a token: ` prefix `Display` adds.
    pub(crate) summary: String,
    /// `identity.mode`.
    pub(crate) identity_mode: IdentityMode,
    /// Whether a person can get a token at all (someone signs in).
    pub(crate) people: bool,
    /// Where people sign in: the OpenID issuer, or the Cognito hosted sign-in domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sign_in_at: Option<String>,
    /// `identity.allow.email_domains` (empty: no restriction).
    pub(crate) allowed_email_domains: Vec<String>,
    /// `identity.allow.groups` (empty: no restriction).
    pub(crate) allowed_groups: Vec<String>,
    /// `oauth.registration_open`: clients may register themselves at `/dcr`.
    pub(crate) self_registration: bool,
    /// An initial access token secret is configured, so automation holding the token may
    /// register machine clients at `/dcr`.
    pub(crate) initial_access_token: bool,
    /// The command an operator registers a machine client with.
    pub(crate) operator_command: String,
}

impl fmt::Display for TokenPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Who can get a token: {}", self.summary)
    }
}

impl StageConfig {
    /// Who can get a token from this stage.
    pub(crate) fn token_policy(&self) -> TokenPolicy {
        let identity = &self.identity;
        let allow = &identity.allow;
        let self_registration = self.oauth.registration_open;
        let initial_access_token = self.oauth.initial_access_token_secret_arn.is_some();
        let operator_command = self.operator_command();

        // Client ID Metadata Documents work whether or not /dcr is open.
        let clients = if self_registration {
            "through clients that register themselves or publish a Client ID Metadata Document"
        } else {
            "through clients an operator registers or that publish a Client ID Metadata Document"
        };
        let allowed = |anyone: &str| {
            let mut parts = Vec::new();
            if !allow.email_domains.is_empty() {
                parts.push(format!("e-mail domains {}", allow.email_domains.join(", ")));
            }
            if !allow.groups.is_empty() {
                parts.push(format!("groups {}", allow.groups.join(", ")));
            }
            if parts.is_empty() {
                format!("allowed: {anyone}")
            } else {
                format!("allowed: {}", parts.join("; "))
            }
        };
        let (people, sign_in_at) = match identity.mode {
            IdentityMode::None => {
                let why = if self_registration {
                    "identity.mode `none` signs no one in, so clients that register themselves get no token"
                } else {
                    "identity.mode `none` signs no one in"
                };
                (format!("no person ({why})"), None)
            }
            IdentityMode::Dev => (
                format!(
                    "anyone who reaches the consent page, as the fixed user dev-user without signing in (identity.mode `dev`), {clients}"
                ),
                None,
            ),
            IdentityMode::Oidc => {
                let issuer = identity
                    .oidc
                    .as_ref()
                    .map(|OidcConfig { issuer, .. }| issuer.clone())
                    .unwrap_or_default();
                (
                    format!(
                        "people who sign in at {issuer} ({}), {clients}",
                        allowed("anyone the provider signs in")
                    ),
                    Some(issuer),
                )
            }
            IdentityMode::Cognito => {
                let prefix = identity
                    .cognito
                    .as_ref()
                    .map(|CognitoConfig { domain_prefix }| domain_prefix.as_str())
                    .unwrap_or_default();
                let region = self.region.as_deref().unwrap_or("<region>");
                let domain = format!("https://{prefix}.auth.{region}.amazoncognito.com");
                (
                    format!(
                        "people you invite to the stack's Cognito user pool, who sign in at {domain} ({}), {clients}",
                        allowed("every user of the pool")
                    ),
                    Some(domain),
                )
            }
        };
        let mut summary = format!(
            "{people}; machine clients only when an operator registers them ({operator_command})"
        );
        if initial_access_token {
            summary.push_str(", and automation holding the stage's initial access token");
        }
        TokenPolicy {
            summary,
            identity_mode: identity.mode,
            people: identity.mode != IdentityMode::None,
            sign_in_at,
            allowed_email_domains: allow.email_domains.clone(),
            allowed_groups: allow.groups.clone(),
            self_registration,
            initial_access_token,
            operator_command,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stage::config::from_yaml;

    fn policy_of(stage: &str, text: &str) -> TokenPolicy {
        from_yaml(
            text,
            &format!("config/{stage}.yaml"),
            stage,
            &BTreeMap::new(),
        )
        .unwrap()
        .token_policy()
    }

    const OIDC: &str = "identity:\n  mode: oidc\n  oidc:\n    issuer: https://login.example.com\n    client_id: abc123\n";
    const COGNITO: &str = "region: eu-west-1\nidentity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp-prod\n";
    const MACHINES: &str = "machine clients only when an operator registers them (mcpctl register-client --stage prod --name <name> --grant client_credentials)";
    const TOKEN: &str = ", and automation holding the stage's initial access token";
    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp-iat-AbCdEf";

    #[test]
    fn none_and_closed_is_machine_only() {
        let policy = policy_of(
            "prod",
            "production: true\noauth:\n  registration_open: false\n",
        );
        assert_eq!(
            policy.to_string(),
            format!(
                "Who can get a token: no person (identity.mode `none` signs no one in); {MACHINES}"
            )
        );
        assert!(!policy.people && !policy.self_registration && !policy.initial_access_token);
        assert_eq!(policy.sign_in_at, None);
    }

    #[test]
    fn none_and_open_says_self_registered_clients_get_nothing() {
        let policy = policy_of("prod", "");
        assert_eq!(
            policy.summary,
            format!(
                "no person (identity.mode `none` signs no one in, so clients that register themselves get no token); {MACHINES}"
            )
        );
        assert!(policy.self_registration);
    }

    #[test]
    fn dev_lets_anyone_in_as_the_fixed_user() {
        let policy = policy_of("dev", "identity:\n  mode: dev\n");
        assert_eq!(
            policy.summary,
            "anyone who reaches the consent page, as the fixed user dev-user without signing in (identity.mode `dev`), through clients that register themselves or publish a Client ID Metadata Document; machine clients only when an operator registers them (mcpctl register-client --stage dev --name <name> --grant client_credentials)"
        );
        assert!(policy.people);
    }

    #[test]
    fn oidc_names_the_provider_and_the_allow_lists() {
        let policy = policy_of(
            "prod",
            &format!(
                "{OIDC}  allow:\n    email_domains: [example.com, example.org]\n    groups: [mcp-users]\n"
            ),
        );
        assert_eq!(
            policy.to_string(),
            format!(
                "Who can get a token: people who sign in at https://login.example.com (allowed: e-mail domains example.com, example.org; groups mcp-users), through clients that register themselves or publish a Client ID Metadata Document; {MACHINES}"
            )
        );
        assert_eq!(
            policy.sign_in_at.as_deref(),
            Some("https://login.example.com")
        );
        assert_eq!(policy.allowed_groups, ["mcp-users"]);

        let policy = policy_of("prod", &format!("{OIDC}  allow:\n    groups: [admins]\n"));
        assert!(
            policy.summary.starts_with(
                "people who sign in at https://login.example.com (allowed: groups admins), "
            ),
            "{}",
            policy.summary
        );

        let policy = policy_of(
            "prod",
            &format!("oauth:\n  registration_open: false\n{OIDC}"),
        );
        assert_eq!(
            policy.summary,
            format!(
                "people who sign in at https://login.example.com (allowed: anyone the provider signs in), through clients an operator registers or that publish a Client ID Metadata Document; {MACHINES}"
            )
        );
    }

    #[test]
    fn cognito_names_the_hosted_domain() {
        let policy = policy_of(
            "prod",
            &format!("{COGNITO}  allow:\n    email_domains: [example.com]\n"),
        );
        assert_eq!(
            policy.summary,
            format!(
                "people you invite to the stack's Cognito user pool, who sign in at https://my-mcp-prod.auth.eu-west-1.amazoncognito.com (allowed: e-mail domains example.com), through clients that register themselves or publish a Client ID Metadata Document; {MACHINES}"
            )
        );
        let policy = policy_of(
            "prod",
            "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp-prod\n",
        );
        assert!(
            policy.summary.contains(
                "https://my-mcp-prod.auth.<region>.amazoncognito.com (allowed: every user of the pool)"
            ),
            "{}",
            policy.summary
        );
    }

    #[test]
    fn an_initial_access_token_lets_automation_in_too() {
        let closed = format!(
            "production: true\noauth:\n  registration_open: false\n  initial_access_token_secret_arn: {SECRET}\n"
        );
        let policy = policy_of("prod", &closed);
        assert_eq!(
            policy.summary,
            format!("no person (identity.mode `none` signs no one in); {MACHINES}{TOKEN}")
        );
        assert!(policy.initial_access_token);
        let policy = policy_of(
            "prod",
            &format!("oauth:\n  initial_access_token_secret_arn: {SECRET}\n{OIDC}"),
        );
        assert!(
            policy.summary.ends_with(&format!("{MACHINES}{TOKEN}")),
            "{}",
            policy.summary
        );
    }

    #[test]
    fn the_json_form_carries_the_facts_and_the_sentence() {
        let policy = policy_of(
            "prod",
            &format!("{OIDC}  allow:\n    groups: [mcp-users]\n"),
        );
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(json["identity_mode"], "oidc");
        assert_eq!(json["people"], true);
        assert_eq!(json["sign_in_at"], "https://login.example.com");
        assert_eq!(json["allowed_groups"][0], "mcp-users");
        assert_eq!(json["self_registration"], true);
        assert_eq!(json["initial_access_token"], false);
        assert_eq!(json["summary"], policy.summary);
        assert!(
            json["operator_command"]
                .as_str()
                .unwrap()
                .starts_with("mcpctl register-client --stage prod")
        );
    }
}
