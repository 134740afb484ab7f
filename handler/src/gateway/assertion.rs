//! The identity assertion the gateway sends upstream in place of the client's token.
//!
//! MCP forbids passing the client's token on (authorization §Token Passthrough): the upstream
//! would hold a token it could replay against us. Instead it gets a JWT signed with our key
//! (so our JWKS verifies it), for its own audience, living 60 s and never longer than the
//! client's token, which says who is calling. Its `typ` and `aud` keep it from ever being
//! accepted as an access token here.

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use crate::{caller::Caller, crypto, keys::SigningKey, oauth::jwt::SubjectKind};

/// The JOSE `typ` of assertions, distinct from access tokens' `at+jwt`.
pub const ASSERTION_TYPE: &str = "mcpctl-identity+jwt";

/// How long an assertion is good for.
pub const ASSERTION_TTL_SECS: u64 = 60;

/// The claims of an identity assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// Our issuer.
    pub iss: String,
    /// The upstream.
    pub aud: String,
    /// The user, or the client itself for a machine client.
    pub sub: String,
    /// The OAuth client.
    pub client_id: String,
    /// Space-separated scopes the client holds.
    pub scope: String,
    /// Person or machine.
    pub kind: SubjectKind,
    /// Issued at (epoch seconds).
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expiry.
    pub exp: u64,
    /// Unique id, so an upstream can refuse replays if it wants to.
    pub jti: String,
    /// Display name, when released to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail, when released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Groups, when released.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Why an assertion could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    /// Signing or randomness failed.
    #[error("could not sign the identity assertion: {0}")]
    Sign(String),
}

impl AssertionClaims {
    /// The claims for `caller`, issued by `issuer` for `audience` at `now`.
    pub fn for_caller(
        caller: &Caller,
        issuer: &str,
        audience: &str,
        now: u64,
    ) -> Result<Self, AssertionError> {
        let jti = crypto::random_token(16).map_err(|e| AssertionError::Sign(e.to_string()))?;
        Ok(Self {
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
            sub: caller.subject.clone(),
            client_id: caller.client_id.clone(),
            scope: caller.scopes.join(" "),
            kind: caller.kind,
            iat: now,
            nbf: now,
            // Never outlive the token the caller presented.
            exp: (now + ASSERTION_TTL_SECS).min(caller.expires_at.max(now + 1)),
            jti,
            name: caller.name.clone(),
            email: caller.email.clone(),
            groups: caller.groups.clone(),
        })
    }
}

/// Signs `claims` with `key`.
pub fn sign(key: &SigningKey, claims: &AssertionClaims) -> Result<String, AssertionError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid().to_owned());
    header.typ = Some(ASSERTION_TYPE.into());
    jsonwebtoken::encode(&header, claims, key.encoding_key())
        .map_err(|e| AssertionError::Sign(e.to_string()))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    fn caller(expires_at: u64) -> Caller {
        Caller {
            client_id: "client-1".into(),
            kind: SubjectKind::Person,
            subject: "user-1".into(),
            scopes: vec!["mcp".into(), "notes:write".into()],
            name: None,
            email: Some("ada@example.com".into()),
            groups: vec![],
            expires_at,
        }
    }

    #[test]
    fn an_assertion_verifies_with_our_public_key_for_the_upstream_only() {
        let key = SigningKey::generate().unwrap();
        let claims = AssertionClaims::for_caller(
            &caller(10_000),
            "https://as.example",
            "https://up.example/mcp",
            1_000,
        )
        .unwrap();
        assert_eq!(claims.exp, 1_060);
        let token = sign(&key, &claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(ASSERTION_TYPE));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let jwk = key.public_jwk();
        let decoding = DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://up.example/mcp"]);
        validation.validate_exp = false;
        let decoded =
            jsonwebtoken::decode::<AssertionClaims>(&token, &decoding, &validation).unwrap();
        assert_eq!(decoded.claims, claims);
        assert_eq!(decoded.claims.scope, "mcp notes:write");
        validation.set_audience(&["https://as.example/mcp"]);
        assert!(jsonwebtoken::decode::<AssertionClaims>(&token, &decoding, &validation).is_err());
    }

    #[test]
    fn an_assertion_never_outlives_the_callers_token() {
        let claims = AssertionClaims::for_caller(&caller(1_010), "i", "a", 1_000).unwrap();
        assert_eq!(claims.exp, 1_010);
    }
}
