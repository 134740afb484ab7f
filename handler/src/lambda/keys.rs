//! Key material at cold start, per role (bin-only: this is where Secrets Manager is called).
//!
//! - `auth` mints tokens, so it needs the private key: from the Secrets Manager secret named by
//!   `MCP_SIGNING_KEY_SECRET_ARN` (the stack), or from `MCP_SIGNING_KEY` + `MCP_MAC_SECRET`
//!   (local runs). The secret's format is [`SigningSecret`], defined once in the library.
//! - `mcp` and `authorizer` only verify: the public keys of `MCP_JWKS`, never the secret.
//! - `auth` also reads, when the stack names them, the upstream OpenID client secret
//!   (`MCP_OIDC_CLIENT_SECRET_ARN`) and the stage's initial access token
//!   (`MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN`), of which it keeps only the hash.
//!
//! The decisions are pure functions of an environment lookup closure, so tests choose the
//! environment without `set_var` (forbidden here by `unsafe_code = "forbid"`).

use crate::{
    keys::KmsSigner,
    keys::{KeyError, KeyMaterial, SigningSecret, StoredKeys, StoredSigner},
    oauth::registration::{MIN_INITIAL_ACCESS_TOKEN_LENGTH, check_initial_access_token},
    verify_only::{JWKS_VAR, MAC_SECRET_VAR, parse_jwks},
};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use lambda_http::Error;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The secret's ARN, set on the auth function by the stack.
pub(crate) const SECRET_ARN_VAR: &str = "MCP_SIGNING_KEY_SECRET_ARN";
/// Base64 PKCS#8 signing key, for local runs only.
pub(crate) const SIGNING_KEY_VAR: &str = "MCP_SIGNING_KEY";

/// Where the auth function's private key comes from.
pub(crate) enum AuthKeySource {
    /// The Secrets Manager secret with this ARN (deployed stacks).
    Secret(String),
    /// `MCP_SIGNING_KEY` + `MCP_MAC_SECRET` (local runs).
    Environment(StoredKeys),
}

// Hand-written so the private key never reaches a log line through `{:?}`.
impl std::fmt::Debug for AuthKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(arn) => f.debug_tuple("Secret").field(arn).finish(),
            Self::Environment(_) => f.write_str("Environment(..)"),
        }
    }
}

/// Picks the auth function's key source. The secret wins over the environment, so a stack is
/// never served by a key that happens to be lying around in the function's configuration.
pub(crate) fn auth_key_source(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<AuthKeySource, Error> {
    if let Some(arn) = lookup(SECRET_ARN_VAR).filter(|v| !v.trim().is_empty()) {
        return Ok(AuthKeySource::Secret(arn.trim().to_owned()));
    }
    match (lookup(SIGNING_KEY_VAR), lookup(MAC_SECRET_VAR)) {
        (Some(signing_key_pkcs8), Some(mac_secret)) => Ok(AuthKeySource::Environment(StoredKeys {
            signing_key_pkcs8,
            mac_secret,
        })),
        _ => Err(format!(
            "the auth function has no signing key: set {SECRET_ARN_VAR} (the stack does), or \
             {SIGNING_KEY_VAR} + {MAC_SECRET_VAR} for a local run"
        )
        .into()),
    }
}

/// The auth function's keys: the signing key and MAC secret from their source, verifying with
/// the current key, the secret's retired keys and any other key of `MCP_JWKS`.
pub(crate) async fn auth_keys(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<KeyMaterial, Error> {
    let mut keys = match auth_key_source(lookup)? {
        AuthKeySource::Secret(arn) => {
            let client = secrets_client().await;
            let json = fetch_secret(client, &arn, "signing-key secret", SECRET_ARN_VAR).await?;
            let secret =
                SigningSecret::from_json(&json).map_err(|e| format!("secret {arn}: {e}"))?;
            let kms = match secret.signing {
                StoredSigner::Kms(_) => Some(kms_client().await),
                StoredSigner::Pkcs8(_) => None,
            };
            secret
                .key_material_with(|key| {
                    let client = kms.ok_or_else(|| KeyError::SignsInKms(key.key_arn.clone()))?;
                    Ok(Arc::new(KmsSigner::new(client, key.key_arn.clone())))
                })
                .map_err(|e| format!("secret {arn}: {e}"))?
        }
        AuthKeySource::Environment(stored) => KeyMaterial::from_stored(&stored)?,
    };
    if let Some(jwks) = lookup(JWKS_VAR) {
        let published = parse_jwks(&jwks)?;
        let current = keys.signing.as_ref().map(|k| k.kid().to_owned());
        // The verify-only functions know only MCP_JWKS: if it lacks the key this function signs
        // with, every MCP call will be refused. Say so at cold start, where a deploy mismatch
        // (the secret rotated, the stack's JwksJson not) is easy to recognise.
        if let Some(kid) = current
            && !published.iter().any(|jwk| jwk.kid == kid)
        {
            tracing::warn!(
                signing_kid = %kid,
                "MCP_JWKS does not contain the signing key: the MCP function and the authorizer will refuse the tokens this function issues; redeploy so JwksJson matches the secret"
            );
        }
        keys.verifying.extend(published)?;
    }
    Ok(keys)
}

/// The Secrets Manager client: built once per container, at cold start, however many secrets
/// the role reads (the reads run concurrently and share it), with the DynamoDB client's bounded
/// retries and timeouts, so a slow endpoint fails the init instead of hanging it.
/// `AWS_ENDPOINT_URL` (tests: moto) is honoured by the SDK's own configuration loader.
/// The gateway's identity-assertion key (`MCP_ASSERTION_KEY_SECRET_ARN`, a secret of the
/// signing-secret format that holds nothing else of the authorization server's).
pub(crate) const ASSERTION_KEY_SECRET_ARN_VAR: &str = "MCP_ASSERTION_KEY_SECRET_ARN";

/// Reads the assertion key of a gateway-mode MCP function.
pub(crate) async fn assertion_key(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<crate::keys::SigningKey, Error> {
    let arn = lookup(ASSERTION_KEY_SECRET_ARN_VAR).filter(|v| !v.is_empty()).ok_or_else(|| {
        format!("{ASSERTION_KEY_SECRET_ARN_VAR} is not set: a gateway-mode MCP function signs identity assertions with the key the stack keeps in that secret")
    })?;
    let client = secrets_client().await;
    let json = fetch_secret(
        client,
        &arn,
        "assertion-key secret",
        ASSERTION_KEY_SECRET_ARN_VAR,
    )
    .await?;
    SigningSecret::from_json(&json)
        .and_then(|secret| secret.key_material())
        .map_err(|e| format!("secret {arn}: {e}"))?
        .signing
        .and_then(|signer| signer.local().cloned())
        .ok_or_else(|| format!("secret {arn} holds no signing key").into())
}

/// The KMS client of the auth function, built once per container with the same bounded retries
/// and timeouts as the other AWS clients.
pub(crate) async fn kms_client() -> aws_sdk_kms::Client {
    static CLIENT: tokio::sync::OnceCell<aws_sdk_kms::Client> = tokio::sync::OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            let config = crate::store::dynamo::bounded_config_loader().load().await;
            aws_sdk_kms::Client::new(&config)
        })
        .await
        .clone()
}

pub(crate) async fn secrets_client() -> &'static aws_sdk_secretsmanager::Client {
    static CLIENT: OnceCell<aws_sdk_secretsmanager::Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            let config = crate::store::dynamo::bounded_config_loader().load().await;
            aws_sdk_secretsmanager::Client::new(&config)
        })
        .await
}

/// The upstream OpenID client secret's ARN (`oidc` identity with a confidential client).
pub(crate) const OIDC_SECRET_ARN_VAR: &str = "MCP_OIDC_CLIENT_SECRET_ARN";

/// The upstream client secret, when `MCP_OIDC_CLIENT_SECRET_ARN` names one: the secret string
/// itself, or the `client_secret` field of a JSON secret.
pub(crate) async fn oidc_client_secret(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::config::Secret>, Error> {
    let Some(arn) = lookup(OIDC_SECRET_ARN_VAR).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let arn = arn.trim();
    let client = secrets_client().await;
    let raw = fetch_secret(client, arn, "OpenID client secret", OIDC_SECRET_ARN_VAR).await?;
    Ok(Some(crate::config::Secret(
        parse_client_secret(&raw).map_err(|reason| {
            format!("the OpenID client secret {arn} ({OIDC_SECRET_ARN_VAR}) {reason}")
        })?,
    )))
}

/// The stage's initial access token's ARN (RFC 7591 §3; config `oauth.initial_access_token_secret_arn`).
pub(crate) const INITIAL_ACCESS_TOKEN_SECRET_ARN_VAR: &str = "MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN";

/// The hash ([`crate::crypto::hash_secret`]) of the initial access token, when
/// `MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN` names a secret: the secret string itself, or the
/// `initial_access_token` field of a JSON secret. Only the hash leaves this function: the
/// handler compares hashes, so the configuration (and its `Debug`) never holds the token.
pub(crate) async fn initial_access_token_hash(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, Error> {
    let Some(arn) = lookup(INITIAL_ACCESS_TOKEN_SECRET_ARN_VAR).filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let arn = arn.trim();
    let client = secrets_client().await;
    let raw = fetch_secret(
        client,
        arn,
        "initial access token secret",
        INITIAL_ACCESS_TOKEN_SECRET_ARN_VAR,
    )
    .await?;
    let token = parse_initial_access_token(&raw).map_err(|reason| {
        format!(
            "the initial access token secret {arn} ({INITIAL_ACCESS_TOKEN_SECRET_ARN_VAR}) {reason}; \
             store a random token of at least {MIN_INITIAL_ACCESS_TOKEN_LENGTH} printable ASCII \
             characters in it (e.g. `openssl rand -base64 32`), as the secret string or as JSON \
             {{\"initial_access_token\": \"...\"}}"
        )
    })?;
    Ok(Some(crate::crypto::hash_secret(&token)))
}

/// The token of an initial access token secret: the string, or its JSON field. Errors describe
/// the value, never quote it.
fn parse_initial_access_token(raw: &str) -> Result<String, &'static str> {
    let trimmed = raw.trim();
    let token = if trimmed.starts_with('{') {
        serde_json::from_str::<serde_json::Value>(trimmed)
            .ok()
            .and_then(|v| v.get("initial_access_token")?.as_str().map(str::to_owned))
            .ok_or("is JSON without a string `initial_access_token` field")?
    } else {
        trimmed.to_owned()
    };
    check_initial_access_token(&token).map(str::to_owned)
}

fn parse_client_secret(raw: &str) -> Result<String, &'static str> {
    let trimmed = raw.trim();
    let secret = if trimmed.starts_with('{') {
        serde_json::from_str::<serde_json::Value>(trimmed)
            .ok()
            .and_then(|v| v.get("client_secret")?.as_str().map(str::to_owned))
            .ok_or("is JSON without a string `client_secret` field")?
    } else {
        trimmed.to_owned()
    };
    if secret.is_empty() {
        return Err("is empty");
    }
    Ok(secret)
}

/// `GetSecretValue` of the current version; the error names the ARN but never the value.
pub(crate) async fn fetch_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    what: &str,
    variable: &str,
) -> Result<String, Error> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read the {what} {arn} ({variable}): {}; this function's role needs secretsmanager:GetSecretValue on it",
                DisplayErrorContext(&e)
            )
        })?;
    output.secret_string.ok_or_else(|| {
        format!("the {what} {arn} has no SecretString (a binary secret?); store it as a string (docs/stack.md)").into()
    })
}

#[cfg(test)]
mod tests {
    use crate::verify_only::tests::env;

    use super::*;

    #[test]
    fn initial_access_tokens_are_plain_strings_or_a_json_field() {
        let token = "k3J9x2mQ7vLp0sT4wN8bY1cR6dF5hG2a";
        assert_eq!(token.len(), 32);
        assert_eq!(
            parse_initial_access_token(&format!(" {token}\n")).unwrap(),
            token
        );
        assert_eq!(
            parse_initial_access_token(&format!(
                r#"{{"initial_access_token": "{token}", "note": "ci"}}"#
            ))
            .unwrap(),
            token
        );
    }

    #[test]
    fn a_bad_initial_access_token_is_refused_without_quoting_it() {
        let short = "abcdefghijklmnopqrstuvwxyz01234"; // 31 characters
        for (raw, reason) in [
            (short.to_owned(), "shorter than 32 characters"),
            (
                format!(r#"{{"initial_access_token": "{short}"}}"#),
                "shorter than 32 characters",
            ),
            (String::new(), "shorter than 32 characters"),
            (
                format!(r#"{{"token": "{short}xyz"}}"#),
                "without a string `initial_access_token` field",
            ),
            (
                r#"{"initial_access_token": 12345678901234567890123456789012345}"#.to_owned(),
                "without a string `initial_access_token` field",
            ),
            (
                "{not json but starts like it, long enough to pass".to_owned(),
                "without a string `initial_access_token` field",
            ),
            (
                "abcdefghijklmnop qrstuvwxyz0123456789".to_owned(),
                "spaces, control or non-ASCII",
            ),
            (
                "abcdefghijklmnopqrstuvwxyz0123456789é".to_owned(),
                "spaces, control or non-ASCII",
            ),
        ] {
            let error = parse_initial_access_token(&raw).unwrap_err();
            assert!(error.contains(reason), "{raw}: {error}");
            assert!(!error.contains(short), "{error}");
        }
    }

    #[tokio::test]
    async fn no_initial_access_token_secret_means_no_hash_and_no_call() {
        // Without the variable nothing is fetched, so this needs no Secrets Manager.
        assert_eq!(initial_access_token_hash(&env(&[])).await.unwrap(), None);
        assert_eq!(
            initial_access_token_hash(&env(&[(INITIAL_ACCESS_TOKEN_SECRET_ARN_VAR, "  ")]))
                .await
                .unwrap(),
            None
        );
    }

    #[test]
    fn client_secrets_are_plain_strings_or_a_json_field() {
        assert_eq!(parse_client_secret(" s3cret \n").unwrap(), "s3cret");
        assert_eq!(
            parse_client_secret(r#"{"client_secret": "abc", "other": 1}"#).unwrap(),
            "abc"
        );
        assert!(parse_client_secret(r#"{"secret": "abc"}"#).is_err());
        assert!(parse_client_secret("  ").is_err());
    }

    #[test]
    fn the_secret_wins_over_environment_keys() {
        let stored = StoredKeys::generate().unwrap();
        let lookup = env(&[
            (
                SECRET_ARN_VAR,
                "arn:aws:secretsmanager:us-east-1:1:secret:k",
            ),
            (SIGNING_KEY_VAR, &stored.signing_key_pkcs8),
            (MAC_SECRET_VAR, &stored.mac_secret),
        ]);
        let source = auth_key_source(&lookup).unwrap();
        assert!(
            matches!(&source, AuthKeySource::Secret(arn) if arn == "arn:aws:secretsmanager:us-east-1:1:secret:k"),
            "{source:?}"
        );
        let lookup = env(&[
            (SIGNING_KEY_VAR, &stored.signing_key_pkcs8),
            (MAC_SECRET_VAR, &stored.mac_secret),
        ]);
        let AuthKeySource::Environment(found) = auth_key_source(&lookup).unwrap() else {
            panic!("expected the environment keys")
        };
        assert_eq!(found.signing_key_pkcs8, stored.signing_key_pkcs8);
        assert_eq!(found.mac_secret, stored.mac_secret);
        assert_eq!(
            format!("{:?}", AuthKeySource::Environment(found)),
            "Environment(..)"
        );
    }

    #[test]
    fn an_auth_function_without_a_signing_key_does_not_start() {
        let error = auth_key_source(&env(&[(JWKS_VAR, r#"{"keys":[]}"#)])).unwrap_err();
        assert!(error.to_string().contains(SECRET_ARN_VAR), "{error}");
        // Half a local configuration is no configuration.
        let error = auth_key_source(&env(&[(SIGNING_KEY_VAR, "x")])).unwrap_err();
        assert!(error.to_string().contains(MAC_SECRET_VAR), "{error}");
    }

    #[tokio::test]
    async fn environment_keys_are_merged_with_the_published_jwks() {
        let stored = StoredKeys::generate().unwrap();
        let other = SigningSecret::generate().unwrap();
        let lookup = env(&[
            (SIGNING_KEY_VAR, &stored.signing_key_pkcs8),
            (MAC_SECRET_VAR, &stored.mac_secret),
            (JWKS_VAR, &other.jwks_json().unwrap()),
        ]);
        let keys = auth_keys(&lookup).await.unwrap();
        let signing = keys.signing.as_ref().unwrap().kid().to_owned();
        let other_kid = other
            .key_material()
            .unwrap()
            .signing
            .unwrap()
            .kid()
            .to_owned();
        assert_eq!(
            keys.verifying.kids().collect::<Vec<_>>(),
            [signing.as_str(), other_kid.as_str()]
        );
    }
}
