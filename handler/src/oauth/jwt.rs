//! Access tokens: ES256 JWTs (RFC 9068 shape) signed with our key and verified on every MCP
//! request. The algorithm is pinned, the `kid` must be ours, and `iss`, `aud`, `exp` and `nbf`
//! are checked against the [`crate::clock::Clock`], never the wall clock directly.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::{SigningKey, TokenSigner, VerifyingKeys};

/// Whether a token speaks for a person or for a machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A person signed in and approved the client (authorization_code, and its refreshes).
    Person,
    /// A client acting for itself (client_credentials): `sub` is the client id. Also what a
    /// token without the claim reads as, so nothing is ever wrongly taken for a person.
    #[default]
    Machine,
}

/// The claims of our access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client for client_credentials.
    pub sub: String,
    /// Audience: the MCP resource URI.
    pub aud: String,
    /// Expiry (epoch seconds).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Person or machine.
    #[serde(default)]
    pub kind: SubjectKind,
    /// Space-separated granted scopes.
    pub scope: String,
    /// User display name, when known and released (scope `profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// User e-mail, when known and released (scope `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's groups at the upstream identity provider, when released (the operator's
    /// groups scope).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl AccessClaims {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// Why a bearer token was refused. Each maps to 401 `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// `alg` is not ES256 (e.g. `none` or HS256).
    #[error("the token's algorithm is not ES256")]
    WrongAlgorithm,
    /// `kid` missing or not one of ours.
    #[error("the token was not signed by a key of this server")]
    UnknownKey,
    /// Signature invalid or claims malformed.
    #[error("the token signature or claims are invalid")]
    Invalid,
    /// Issued by someone else.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// For another resource.
    #[error("the token is not for this resource")]
    WrongAudience,
    /// Expired.
    #[error("the token has expired")]
    Expired,
    /// Not valid yet.
    #[error("the token is not valid yet")]
    NotYetValid,
}

/// Errors signing a token.
#[derive(Debug, thiserror::Error)]
#[error("could not sign the access token: {message}")]
pub struct SignError {
    message: String,
    transient: bool,
}

impl SignError {
    fn new(message: impl ToString) -> Self {
        Self {
            message: message.to_string(),
            transient: false,
        }
    }

    /// Whether a retry may succeed (the remote signer was throttled or briefly unreachable).
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

/// Signs `claims` with `key`.
pub fn sign(key: &SigningKey, claims: &AccessClaims) -> Result<String, SignError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid().to_owned());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, key.encoding_key()).map_err(SignError::new)
}

/// Signs `claims` with `signer`: in memory, or through its keeper (KMS) for a remote key.
pub async fn sign_with(signer: &TokenSigner, claims: &AccessClaims) -> Result<String, SignError> {
    let key = match signer {
        TokenSigner::Local(key) => return sign(key, claims),
        TokenSigner::Remote(key) => key,
    };
    // jsonwebtoken signs only with keys it holds, so the compact JWS (RFC 7515 §7.1) is put
    // together here: the same header and claims `sign` produces, signed by the keeper.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid().to_owned());
    header.typ = Some("at+jwt".into());
    let signing_input = format!("{}.{}", base64url_json(&header)?, base64url_json(claims)?);
    let signature = key
        .sign(signing_input.as_bytes())
        .await
        .map_err(|e| SignError {
            transient: e.transient,
            message: e.message,
        })?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

fn base64url_json(value: &impl Serialize) -> Result<String, SignError> {
    let json = serde_json::to_vec(value).map_err(SignError::new)?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Verifies a bearer token for `audience` issued by `issuer`, at time `now`.
pub fn verify(
    keys: &VerifyingKeys,
    token: &str,
    issuer: &str,
    audience: &str,
    now: u64,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::ES256 {
        return Err(TokenError::WrongAlgorithm);
    }
    // RFC 9068 §4: an access token says `at+jwt`. This also keeps the gateway's identity
    // assertions, signed with the same key, from ever being taken for one.
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(TokenError::Invalid);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or(TokenError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::ES256);
    // Time claims are checked below against the injected clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|_| TokenError::Invalid)?
        .claims;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    if claims.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf > now + 5 {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// Claims of a plain client token issued at `now` for 60 s, for unit tests.
#[cfg(test)]
pub(crate) fn sample_claims(now: u64) -> AccessClaims {
    AccessClaims {
        iss: "https://as".into(),
        sub: "u".into(),
        aud: "https://as/mcp".into(),
        exp: now + 60,
        iat: now,
        nbf: now,
        jti: "j".into(),
        client_id: "c".into(),
        kind: SubjectKind::Person,
        scope: "mcp".into(),
        name: None,
        email: None,
        groups: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::{sample_claims as claims, *};

    fn setup() -> (SigningKey, VerifyingKeys) {
        let key = SigningKey::generate().unwrap();
        let keys = VerifyingKeys::from_jwks(vec![key.public_jwk().clone()]).unwrap();
        (key, keys)
    }

    /// A keeper that signs as KMS does: ASN.1 DER out, converted to `r || s` on our side.
    struct DerKeeper(aws_lc_rs::signature::EcdsaKeyPair);

    #[async_trait::async_trait]
    impl crate::keys::RemoteSign for DerKeeper {
        async fn sign(&self, input: &[u8]) -> Result<[u8; 64], crate::keys::RemoteSignError> {
            let der = self
                .0
                .sign(&aws_lc_rs::rand::SystemRandom::new(), input)
                .map_err(|e| crate::keys::RemoteSignError::permanent(e.to_string()))?;
            crate::keys::p256_signature_from_der(der.as_ref())
        }
    }

    #[tokio::test]
    async fn a_token_signed_by_a_remote_keeper_verifies_like_a_local_one() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let public =
            crate::keys::PublicJwk::from_uncompressed_point(pair.public_key().as_ref()).unwrap();
        let keys = VerifyingKeys::from_jwks(vec![public.clone()]).unwrap();
        let signer = TokenSigner::Remote(crate::keys::RemoteKey::new(
            public.clone(),
            std::sync::Arc::new(DerKeeper(pair)),
        ));
        let mut big = claims(1000);
        // Past KMS's 4 KiB RAW limit: the header and claims still round-trip exactly.
        big.groups = (0..400).map(|i| format!("group-{i}")).collect();
        for claims in [claims(1000), big] {
            let token = sign_with(&signer, &claims).await.unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(public.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(
                verify(&keys, &token, "https://as", "https://as/mcp", 1000).unwrap(),
                claims
            );
        }
        // A local key goes through jsonwebtoken, as before.
        let (key, keys) = setup();
        let token = sign_with(&TokenSigner::Local(key), &claims(1000))
            .await
            .unwrap();
        assert!(verify(&keys, &token, "https://as", "https://as/mcp", 1000).is_ok());
    }

    #[test]
    fn a_good_token_verifies() {
        let (key, keys) = setup();
        let token = sign(&key, &claims(1000)).unwrap();
        assert_eq!(
            verify(&keys, &token, "https://as", "https://as/mcp", 1000).unwrap(),
            claims(1000)
        );
    }

    #[test]
    fn every_tampering_is_refused() {
        let (key, keys) = setup();
        let token = sign(&key, &claims(1000)).unwrap();
        let v = |t: &str, now| verify(&keys, t, "https://as", "https://as/mcp", now);
        assert_eq!(v(&token, 1060), Err(TokenError::Expired));
        assert_eq!(
            verify(&keys, &token, "https://other", "https://as/mcp", 1000),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(
            verify(&keys, &token, "https://as", "https://as/other", 1000),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(v("not-a-jwt", 1000), Err(TokenError::Malformed));

        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // Tampered payload: widen the scope, keep the signature.
        let mut tampered = claims(1000);
        tampered.scope = "mcp admin".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
        assert_eq!(v(&parts.join("."), 1000), Err(TokenError::Invalid));

        // alg none with no signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let none_token = format!("{none_header}.{}.", parts[1]);
        assert!(matches!(
            v(&none_token, 1000),
            Err(TokenError::Malformed | TokenError::WrongAlgorithm)
        ));

        // A token from another key with the same kid is refused.
        let (other, _) = setup();
        let foreign = sign(&other, &claims(1000)).unwrap();
        assert_eq!(v(&foreign, 1000), Err(TokenError::UnknownKey));
    }
}
