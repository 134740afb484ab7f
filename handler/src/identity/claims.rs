//! From the provider's verified ID token to our user: the stable subject (namespaced by issuer,
//! so two providers can never share a user), the mapped claims, and the allow-lists.

use serde_json::{Map, Value};

use super::upstream::UpstreamIdentity;
use crate::{
    config::{IdentityMode, OidcSettings},
    store::UserClaims,
};

/// Why a signed-in user may not use this server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// The allow-list names e-mail domains and the user has no verified address in one.
    #[error("{}", match .email {
        Some(email) => format!("the account {email} is not in a domain allowed to use this server"),
        None => "the account has no verified e-mail address, and this server only admits certain e-mail domains".to_owned(),
    })]
    EmailDomain {
        /// The verified address, when there is one.
        email: Option<String>,
    },
    /// The allow-list names groups and the user is in none of them.
    #[error("the account is not in a group allowed to use this server")]
    Group,
    /// The user signed in through an identity mode or provider this server no longer uses.
    #[error("the account was signed in by an identity provider this server no longer uses")]
    Provider,
}

/// Our user for an upstream identity, or why it is refused.
pub fn user(
    settings: &OidcSettings,
    identity: &UpstreamIdentity,
) -> Result<UserClaims, NotAllowed> {
    let claims = &identity.claims;
    // Only an address the provider vouches for counts: some providers omit `email_verified` for
    // addresses the user typed in ("nOAuth"), which must not pass an e-mail-domain allow-list.
    let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "true");
    let email = string(claims, &settings.claims.email).filter(|_| verified);
    let name = string(claims, &settings.claims.name);
    let mut groups = strings(claims, &settings.claims.groups);
    check_allow_lists(settings, email.as_deref(), &groups)?;
    // Tokens carry at most 64 groups (the allow-list above saw them all).
    groups.truncate(64);
    Ok(UserClaims {
        sub: format!("{}#{}", identity.issuer, identity.subject),
        name,
        email,
        groups,
    })
}

/// Whether a user who signed in earlier may still use this server under the current
/// configuration: checked on every refresh, so tightening an allow-list or changing provider
/// ends existing sign-ins at their next refresh instead of at the family's absolute lifetime.
pub fn still_allowed(identity: &IdentityMode, user: &UserClaims) -> Result<(), NotAllowed> {
    match identity {
        IdentityMode::Dev { .. } => Ok(()),
        IdentityMode::Disabled => Err(NotAllowed::Provider),
        IdentityMode::Oidc(settings) => {
            let ours = user
                .sub
                .strip_prefix(settings.issuer.as_str())
                .is_some_and(|rest| rest.starts_with('#'));
            if !ours {
                return Err(NotAllowed::Provider);
            }
            check_allow_lists(settings, user.email.as_deref(), &user.groups)
        }
    }
}

fn check_allow_lists(
    settings: &OidcSettings,
    email: Option<&str>,
    groups: &[String],
) -> Result<(), NotAllowed> {
    if !settings.allowed_email_domains.is_empty() {
        let domain = email
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, domain)| domain.to_ascii_lowercase());
        let allowed = domain.is_some_and(|d| {
            settings
                .allowed_email_domains
                .iter()
                .any(|a| a.trim_start_matches('@').eq_ignore_ascii_case(&d))
        });
        if !allowed {
            return Err(NotAllowed::EmailDomain {
                email: email.map(str::to_owned),
            });
        }
    }
    if !settings.allowed_groups.is_empty()
        && !groups.iter().any(|g| settings.allowed_groups.contains(g))
    {
        return Err(NotAllowed::Group);
    }
    Ok(())
}

fn string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(256).collect())
}

// Providers send groups as an array of strings, or (some) as one space- or comma-separated string.
fn strings(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(list)) => list
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(claims: Value) -> UpstreamIdentity {
        UpstreamIdentity {
            issuer: "https://idp.example".into(),
            subject: "u-1".into(),
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    fn settings() -> OidcSettings {
        OidcSettings::new("https://idp.example", "client")
    }

    #[test]
    fn subject_is_namespaced_and_claims_are_mapped() {
        let mut settings = settings();
        settings.claims.groups = "cognito:groups".into();
        let user = user(
            &settings,
            &identity(serde_json::json!({"email": "a@example.com", "email_verified": true, "name": "A", "cognito:groups": ["x", "y"]})),
        )
        .unwrap();
        assert_eq!(user.sub, "https://idp.example#u-1");
        assert_eq!(user.email.as_deref(), Some("a@example.com"));
        assert_eq!(user.name.as_deref(), Some("A"));
        assert_eq!(user.groups, vec!["x", "y"]);
    }

    #[test]
    fn allow_lists_need_a_verified_domain_or_a_listed_group() {
        let mut settings = settings();
        settings.allowed_email_domains = vec!["Example.com".into()];
        let ok = identity(serde_json::json!({"email": "a@example.COM", "email_verified": true}));
        assert!(user(&settings, &ok).is_ok());
        let unverified =
            identity(serde_json::json!({"email": "a@example.com", "email_verified": false}));
        assert_eq!(
            user(&settings, &unverified),
            Err(NotAllowed::EmailDomain { email: None })
        );
        let unstated = identity(serde_json::json!({"email": "a@example.com"}));
        assert_eq!(
            user(&settings, &unstated),
            Err(NotAllowed::EmailDomain { email: None }),
            "an address without email_verified is not vouched for"
        );
        let other = identity(serde_json::json!({"email": "a@evil.test", "email_verified": true}));
        assert!(matches!(
            user(&settings, &other),
            Err(NotAllowed::EmailDomain { .. })
        ));

        let mut settings = self::settings();
        settings.allowed_groups = vec!["mcp-users".into()];
        let member = identity(serde_json::json!({"groups": ["admins", "mcp-users"]}));
        assert!(user(&settings, &member).is_ok());
        let outsider = identity(serde_json::json!({"groups": "admins"}));
        assert_eq!(user(&settings, &outsider), Err(NotAllowed::Group));
    }
}
