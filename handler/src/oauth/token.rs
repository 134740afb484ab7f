//! The token endpoint's grants (OAuth 2.1 §4.1.3, §4.2, §4.3): typed requests in, a
//! [`TokenResponse`] or an [`OAuthError`] out.
//!
//! No grant returns a token before everything it depends on is stored: a refresh token is
//! written (or rotated) first, and only then is the access token signed and returned, so a
//! storage failure never leaves a client holding a refresh token the server does not know.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use super::{
    authorize::resolve_resource,
    error::OAuthError,
    jwt::{self, SubjectKind},
    pkce, scope,
};
use crate::{
    crypto,
    identity::claims,
    state::AppState,
    store::{
        ClientRecord, CodeTake, RefreshTokenKey, RefreshTokenRecord, Rotation, StoreError,
        UserClaims,
    },
};

/// A token request, by `grant_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// Exchange an authorization code.
    AuthorizationCode {
        /// The code.
        code: String,
        /// Must equal the authorization request's.
        redirect_uri: Option<String>,
        /// PKCE verifier.
        code_verifier: Option<String>,
        /// RFC 8707 resource.
        resource: Option<String>,
    },
    /// Rotate a refresh token.
    RefreshToken {
        /// The token.
        refresh_token: String,
        /// Narrowed scope.
        scope: Option<String>,
        /// RFC 8707 resource.
        resource: Option<String>,
    },
    /// A confidential client acting for itself.
    ClientCredentials {
        /// Requested scope.
        scope: Option<String>,
        /// RFC 8707 resource.
        resource: Option<String>,
    },
}

impl TokenRequest {
    /// The wire name of the grant, for logs.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::AuthorizationCode { .. } => "authorization_code",
            Self::RefreshToken { .. } => "refresh_token",
            Self::ClientCredentials { .. } => "client_credentials",
        }
    }

    /// Parses the form fields of a token request.
    pub fn parse(form: &HashMap<String, String>) -> Result<Self, OAuthError> {
        let get = |name: &str| form.get(name).filter(|v| !v.is_empty()).cloned();
        let require = |name: &str| {
            get(name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
        };
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => Ok(Self::AuthorizationCode {
                code: require("code")?,
                redirect_uri: get("redirect_uri"),
                code_verifier: get("code_verifier"),
                resource: get("resource"),
            }),
            Some("refresh_token") => Ok(Self::RefreshToken {
                refresh_token: require("refresh_token")?,
                scope: get("scope"),
                resource: get("resource"),
            }),
            Some("client_credentials") => Ok(Self::ClientCredentials {
                scope: get("scope"),
                resource: get("resource"),
            }),
            Some(other) => Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type `{}` is not supported; use authorization_code, refresh_token or client_credentials",
                other.chars().take(60).collect::<String>()
            ))),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }
}

/// How the client presented itself (RFC 6749 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthentication {
    /// Client id.
    pub client_id: String,
    /// Secret, when one was sent.
    pub secret: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub method: &'static str,
}

impl ClientAuthentication {
    /// Reads client credentials from an `Authorization: Basic` header and/or the form. Using
    /// two methods at once is an error (RFC 6749 §2.3).
    pub fn parse(
        authorization: Option<&str>,
        form: &HashMap<String, String>,
    ) -> Result<Self, OAuthError> {
        let form_id = form.get("client_id").filter(|v| !v.is_empty());
        let form_secret = form.get("client_secret").filter(|v| !v.is_empty());
        if let Some(header) = authorization {
            let encoded = header
                .strip_prefix("Basic ")
                .or_else(|| header.strip_prefix("basic "))
                .ok_or_else(|| {
                    OAuthError::InvalidClient(
                        "unsupported Authorization scheme at the token endpoint; use Basic".into(),
                    )
                })?;
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            let id = form_decode(id)?;
            let secret = form_decode(secret)?;
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not Basic and client_secret together",
                ));
            }
            if form_id.is_some_and(|f| *f != id) {
                return Err(OAuthError::InvalidClient(
                    "client_id in the form differs from the Basic credentials".into(),
                ));
            }
            return Ok(Self {
                client_id: id,
                secret: Some(secret),
                method: "client_secret_basic",
            });
        }
        let client_id = form_id.cloned().ok_or_else(|| {
            OAuthError::InvalidClient(
                "client authentication is required (Basic or client_id)".into(),
            )
        })?;
        Ok(match form_secret {
            Some(secret) => Self {
                client_id,
                secret: Some(secret.clone()),
                method: "client_secret_post",
            },
            None => Self {
                client_id,
                secret: None,
                method: "none",
            },
        })
    }
}

fn form_decode(value: &str) -> Result<String, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={value}"))
        .map_err(|_| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
    Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Granted scope.
    pub scope: String,
    /// New refresh token, when the grant issues one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Authenticates the client: confidential clients must present their secret with the method
/// they registered (RFC 7591 §2 `token_endpoint_auth_method`); public clients must not claim
/// one they do not have.
pub async fn authenticate(
    state: &AppState,
    auth: &ClientAuthentication,
) -> Result<ClientRecord, OAuthError> {
    let client = state.find_client(&auth.client_id).await?;
    verify_client(client, auth)
}

fn verify_client(
    client: Option<ClientRecord>,
    auth: &ClientAuthentication,
) -> Result<ClientRecord, OAuthError> {
    let unknown = || OAuthError::InvalidClient("client authentication failed".into());
    let client = client.ok_or_else(unknown)?;
    let registered = client.metadata.token_endpoint_auth_method.as_str();
    if client.secret_hash.is_some() && auth.secret.is_some() && auth.method != registered {
        return Err(OAuthError::InvalidClient(format!(
            "this client is registered with token_endpoint_auth_method {registered}; authenticate with that method"
        )));
    }
    match (&client.secret_hash, &auth.secret) {
        (Some(hash), Some(secret)) if crypto::verify_secret(secret, hash) => Ok(client),
        (None, None) => Ok(client),
        _ => Err(unknown()),
    }
}

/// [`authenticate`] for a token request: a refresh token presented by a client that no longer
/// exists is an `invalid_grant` (RFC 6749 §5.2), so the app signs in again instead of giving up
/// on a client error it cannot fix.
pub async fn authenticate_for(
    state: &AppState,
    auth: &ClientAuthentication,
    request: &TokenRequest,
) -> Result<ClientRecord, OAuthError> {
    let client = state.find_client(&auth.client_id).await?;
    if client.is_none() && matches!(request, TokenRequest::RefreshToken { .. }) {
        return Err(refresh_invalid());
    }
    verify_client(client, auth)
}

fn refresh_invalid() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into())
}

/// Runs a grant for an authenticated client.
pub async fn exchange(
    state: &AppState,
    client: &ClientRecord,
    request: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let allowed = |grant: &str| client.metadata.grant_types.iter().any(|g| g == grant);
    match request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resource,
        } => {
            if !allowed("authorization_code") {
                return Err(OAuthError::UnauthorizedClient(
                    "this client may not use the authorization_code grant".into(),
                ));
            }
            let now = state.now();
            // The family is named before the code is consumed, and recorded with it, so a
            // replay of the code can revoke what the first exchange issued.
            let family_id = if allowed("refresh_token") {
                Some(crypto::random_token(16)?)
            } else {
                None
            };
            // The code is consumed before any check: a code presented wrongly is burned, so an
            // attacker who steals one gets no second try.
            let record = match state
                .stores
                .codes
                .take(&crypto::hash_secret(&code), now, family_id.as_deref())
                .await?
            {
                CodeTake::Taken(record) => *record,
                CodeTake::Replayed { family_id } => {
                    // RFC 6749 §4.1.2: a code used twice means it leaked; what it issued is
                    // revoked. (Its access token is a self-contained JWT and lives out its TTL.)
                    if let Some(family_id) = family_id {
                        state
                            .stores
                            .refresh_tokens
                            .revoke_family(&family_id)
                            .await?;
                    }
                    tracing::warn!(client_id = %client.client_id, "authorization code replayed; the refresh family it issued is revoked");
                    return Err(OAuthError::InvalidGrant(
                        "the authorization code is invalid, expired or already used".into(),
                    ));
                }
                CodeTake::Absent => {
                    return Err(OAuthError::InvalidGrant(
                        "the authorization code is invalid, expired or already used".into(),
                    ));
                }
            };
            if record.client_id != client.client_id {
                return Err(OAuthError::InvalidGrant(
                    "the authorization code was issued to another client".into(),
                ));
            }
            if redirect_uri.as_deref() != Some(record.redirect_uri.as_str()) {
                return Err(OAuthError::InvalidGrant(
                    "redirect_uri does not match the authorization request".into(),
                ));
            }
            pkce::verify(code_verifier.as_deref(), &record.code_challenge)?;
            if let Some(resource) = resource.as_deref()
                && resolve_resource(state, Some(resource))? != record.resource
            {
                return Err(OAuthError::InvalidTarget(
                    "resource differs from the authorization request".into(),
                ));
            }
            let refresh = match family_id {
                Some(family_id) => {
                    let token = format!("{family_id}.{}", crypto::random_token(32)?);
                    let row = refresh_record(
                        state,
                        &token,
                        family_id,
                        client,
                        &record.user,
                        &record.scope,
                        &record.resource,
                        now,
                        now,
                    );
                    Some((token, row))
                }
                None => None,
            };
            // Signed before the refresh token is stored: a signer that fails (KMS) leaves no
            // grant behind that the client never received.
            let response = issue(
                state,
                client,
                Subject::Person(&record.user),
                record.scope,
                record.resource,
                refresh.as_ref().map(|(token, _)| token.clone()),
                now,
            )
            .await?;
            if let Some((_, row)) = refresh {
                state
                    .stores
                    .refresh_tokens
                    .put(row)
                    .await
                    .map_err(|e| match e {
                        // A replay of this code revoked the family in the meantime.
                        StoreError::Conflict => OAuthError::InvalidGrant(
                            "the authorization code was used twice; sign in again".into(),
                        ),
                        other => other.into(),
                    })?;
            }
            Ok(response)
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope: requested_scope,
            resource,
        } => {
            if !allowed("refresh_token") {
                return Err(OAuthError::UnauthorizedClient(
                    "this client may not use the refresh_token grant".into(),
                ));
            }
            let now = state.now();
            let key = refresh_key(&refresh_token).ok_or_else(refresh_invalid)?;
            let old = state
                .stores
                .refresh_tokens
                .get(&key, now)
                .await?
                .ok_or_else(refresh_invalid)?;
            if old.client_id != client.client_id {
                return Err(OAuthError::InvalidGrant(
                    "the refresh token was issued to another client".into(),
                ));
            }
            let started_at = old.family_started_at.unwrap_or(old.issued_at);
            let ends_at = started_at.saturating_add(state.config.refresh_max_lifetime.as_secs());
            if now >= ends_at {
                return Err(OAuthError::InvalidGrant(format!(
                    "the sign-in behind this refresh token is older than {} days; sign in again",
                    state.config.refresh_max_lifetime.as_secs() / 86_400
                )));
            }
            // The allow-lists of today, not of the day the user signed in.
            if let Err(reason) = claims::still_allowed(&state.config.identity, &old.user) {
                tracing::info!(client_id = %client.client_id, %reason, "refresh refused: the user is no longer allowed");
                return Err(OAuthError::InvalidGrant(format!("{reason}; sign in again")));
            }
            let narrowed = scope::narrow(&old.scope, requested_scope.as_deref())?;
            if let Some(resource) = resource.as_deref()
                && resolve_resource(state, Some(resource))? != old.resource
            {
                return Err(OAuthError::InvalidTarget(
                    "resource differs from the original grant".into(),
                ));
            }
            // The successor is derived from the old token, so a replay inside the grace window
            // can be answered with the same successor although only hashes are stored.
            let successor = format!(
                "{}.{}",
                key.family_id,
                state.keys.mac.sign(&["refresh-successor", &refresh_token])
            );
            let record = refresh_record(
                state,
                &successor,
                old.family_id.clone(),
                client,
                &old.user,
                &narrowed,
                &old.resource,
                now,
                started_at,
            );
            // Signed before the old token is spent: a signer that fails (KMS) leaves the
            // client's refresh token as it was, to try again.
            let signed = issue(
                state,
                client,
                Subject::Person(&old.user),
                narrowed.clone(),
                old.resource.clone(),
                Some(successor.clone()),
                now,
            )
            .await?;
            let scope = match state
                .stores
                .refresh_tokens
                .rotate(&key, record, now, state.config.refresh_grace.as_secs())
                .await?
            {
                Rotation::Rotated => return Ok(signed),
                Rotation::GraceReplay { scope } if scope == narrowed => return Ok(signed),
                // The successor was stored with the scope of the first rotation; a replay that
                // asks for another must not get a token that disagrees with it.
                Rotation::GraceReplay { scope } => scope,
                Rotation::ReuseDetected => {
                    tracing::warn!(client_id = %client.client_id, "refresh token reuse detected; grant family revoked");
                    crate::metrics::record(crate::metrics::Event::RefreshReuse);
                    return Err(refresh_invalid());
                }
                Rotation::Invalid => return Err(refresh_invalid()),
            };
            issue(
                state,
                client,
                Subject::Person(&old.user),
                scope,
                old.resource,
                Some(successor),
                now,
            )
            .await
        }
        TokenRequest::ClientCredentials {
            scope: requested_scope,
            resource,
        } => {
            // Secure by default: a token with no person behind it only for a client an operator
            // created. Anonymous registration never gets this grant (registration.rs); this
            // check also covers rows written before that rule.
            if client.secret_hash.is_none()
                || !allowed("client_credentials")
                || !client.origin.is_operator()
            {
                return Err(OAuthError::UnauthorizedClient(
                    "this client may not use the client_credentials grant; machine clients are registered by an operator (mcpctl register-client --grant client_credentials)".into(),
                ));
            }
            let config = &state.config;
            let granted = scope::resolve(
                requested_scope.as_deref(),
                &config.scopes,
                client.metadata.scope.as_deref(),
                &config.mcp_scope,
            )?;
            let audience = resolve_resource(state, resource.as_deref())?;
            issue(
                state,
                client,
                Subject::Machine,
                granted,
                audience,
                None,
                state.now(),
            )
            .await
        }
    }
}

/// Who a token speaks for.
enum Subject<'a> {
    /// A signed-in person.
    Person(&'a UserClaims),
    /// The client itself.
    Machine,
}

/// The store key of a presented refresh token (`<family_id>.<secret>`); `None` if malformed.
pub fn refresh_key(token: &str) -> Option<RefreshTokenKey> {
    let (family_id, secret) = token.split_once('.')?;
    let well_formed = |part: &str| {
        !part.is_empty()
            && part.len() <= 128
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (well_formed(family_id) && well_formed(secret)).then(|| RefreshTokenKey {
        token_hash: crypto::hash_secret(token),
        family_id: family_id.to_owned(),
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row of the refresh-token table"
)]
fn refresh_record(
    state: &AppState,
    token: &str,
    family_id: String,
    client: &ClientRecord,
    user: &UserClaims,
    scope: &str,
    resource: &str,
    now: u64,
    family_started_at: u64,
) -> RefreshTokenRecord {
    let idle_end = now + state.config.refresh_token_ttl.as_secs();
    let absolute_end =
        family_started_at.saturating_add(state.config.refresh_max_lifetime.as_secs());
    RefreshTokenRecord {
        token_hash: crypto::hash_secret(token),
        family_id,
        client_id: client.client_id.clone(),
        user: user.clone(),
        scope: scope.to_owned(),
        resource: resource.to_owned(),
        issued_at: now,
        family_started_at: Some(family_started_at),
        expires_at: idle_end.min(absolute_end),
        rotated_at: None,
        successor_hash: None,
        revoked: false,
    }
}

async fn issue(
    state: &AppState,
    client: &ClientRecord,
    subject: Subject<'_>,
    scope: String,
    audience: String,
    refresh_token: Option<String>,
    now: u64,
) -> Result<TokenResponse, OAuthError> {
    let key = state.keys.signing.as_ref().ok_or_else(|| {
        OAuthError::ServerError(
            "this function has no signing key; token requests belong to the authorization function"
                .into(),
        )
    })?;
    let ttl = state.config.access_token_ttl.as_secs();
    let granted = |wanted: &str| scope.split(' ').any(|s| s == wanted);
    let (sub, kind, name, email, groups) = match subject {
        // Identity claims are released by scope only (OpenID Connect Core §5.4); a client's
        // self-chosen name never stands in for a person's.
        Subject::Person(user) => (
            user.sub.clone(),
            SubjectKind::Person,
            user.name.clone().filter(|_| granted("profile")),
            user.email.clone().filter(|_| granted("email")),
            match &state.config.groups_scope {
                Some(groups_scope) if granted(groups_scope) => user.groups.clone(),
                _ => Vec::new(),
            },
        ),
        Subject::Machine => (
            client.client_id.clone(),
            SubjectKind::Machine,
            None,
            None,
            Vec::new(),
        ),
    };
    let claims = jwt::AccessClaims {
        iss: state.config.issuer(),
        sub,
        aud: audience,
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: crypto::random_token(16)?,
        client_id: client.client_id.clone(),
        kind,
        scope: scope.clone(),
        name,
        email,
        groups,
    };
    let access_token = jwt::sign_with(key, &claims).await.map_err(|e| {
        if e.is_transient() {
            // A refresh token is not spent before signing (see the callers), so the client
            // retries as it is; an authorization code is single-use either way.
            tracing::warn!(error = %e, "the signer is busy or unreachable; answering 503");
            OAuthError::TemporarilyUnavailable { retry_after: 1 }
        } else {
            OAuthError::ServerError(e.to_string())
        }
    })?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl,
        scope,
        refresh_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn grant_types_parse_or_fail_with_the_rfc_code() {
        assert!(matches!(
            TokenRequest::parse(&form(&[])),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            TokenRequest::parse(&form(&[("grant_type", "password")])),
            Err(OAuthError::UnsupportedGrantType(_))
        ));
        assert!(matches!(
            TokenRequest::parse(&form(&[("grant_type", "authorization_code")])),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert_eq!(
            TokenRequest::parse(&form(&[
                ("grant_type", "client_credentials"),
                ("scope", "mcp")
            ]))
            .unwrap(),
            TokenRequest::ClientCredentials {
                scope: Some("mcp".into()),
                resource: None
            }
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20id:p%3Ass"));
        let auth = ClientAuthentication::parse(Some(&header), &form(&[])).unwrap();
        assert_eq!(
            auth,
            ClientAuthentication {
                client_id: "my id".into(),
                secret: Some("p:ss".into()),
                method: "client_secret_basic"
            }
        );
        assert!(
            ClientAuthentication::parse(Some(&header), &form(&[("client_secret", "x")])).is_err()
        );
        assert!(ClientAuthentication::parse(Some("Bearer x"), &form(&[])).is_err());
        assert!(ClientAuthentication::parse(None, &form(&[])).is_err());
        assert_eq!(
            ClientAuthentication::parse(None, &form(&[("client_id", "c")]))
                .unwrap()
                .method,
            "none"
        );
    }
}
