//! Signing keys: ES256 with a `kid`, the JWKS that publishes their public halves, and the MAC
//! secret for derived values.
//!
//! The side that serves `/mcp` needs only [`VerifyingKeys`] (public), so it can run without the
//! private key; the authorization side holds a [`SigningKey`]. Several verifying keys may be
//! live at once so a key can be rotated with an overlap window.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, MacKey};

#[cfg(feature = "aws")]
mod kms;
mod remote;
mod secret;

#[cfg(feature = "aws")]
pub use kms::KmsSigner;
pub use remote::{
    RemoteKey, RemoteSign, RemoteSignError, TokenSigner, p256_jwk_from_spki,
    p256_signature_from_der,
};
pub use secret::{KeyState, KmsKeyRef, SigningSecret, StoredSigner};

/// Errors loading or generating key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The private key bytes are not a P-256 PKCS#8 document.
    #[error("the signing key is not a valid P-256 PKCS#8 key: {0}")]
    InvalidPrivateKey(String),
    /// A JWK could not be turned into a verifying key.
    #[error("the public key `{kid}` is not a valid P-256 JWK: {reason}")]
    InvalidPublicKey {
        /// Key id.
        kid: String,
        /// What was wrong.
        reason: String,
    },
    /// base64 decoding failed.
    #[error("key material is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The random generator failed.
    #[error(transparent)]
    Random(#[from] crypto::RandomError),
    /// The signing-key secret is not the JSON document [`SigningSecret`] describes.
    #[error(
        "the signing-key secret is not valid: {0}; expected JSON {{\"signing_key_pkcs8\": \"<base64>\" (or \"signing_kms_key\": {{\"key_arn\": \"..\", \"public_jwk\": {{..}}}}), \"mac_secret\": \"<base64>\", \"previous_jwks\": [<public JWK>...]}}"
    )]
    InvalidSecret(String),
    /// A rotation was asked to promote a next key that was never published.
    #[error("there is no published next key to promote: run the rotation from its start")]
    NothingToPromote,
    /// The signing key is in KMS and this caller cannot reach it.
    #[error("the signing key is the KMS key {0}: only a function with KMS access can sign with it")]
    SignsInKms(String),
}

/// A public key in JWK form (RFC 7517), as published at the JWKS endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: always `EC`.
    pub kty: String,
    /// Curve: always `P-256`.
    pub crv: String,
    /// base64url X coordinate.
    pub x: String,
    /// base64url Y coordinate.
    pub y: String,
    /// Key id.
    pub kid: String,
    /// Algorithm: always `ES256`.
    pub alg: String,
    /// Use: always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

impl PublicJwk {
    /// The JWK of an uncompressed SEC1 P-256 point (`0x04 || X || Y`); its `kid` is derived from
    /// the key (RFC 7638-style thumbprint), so the same key always gets the same `kid`.
    pub fn from_uncompressed_point(point: &[u8]) -> Result<Self, KeyError> {
        if point.len() != 65 || point[0] != 4 {
            return Err(KeyError::InvalidPrivateKey(
                "unexpected public key encoding".into(),
            ));
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = crypto::hash_secret(&thumbprint_input)[..16].to_owned();
        Ok(Self {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            kid,
            alg: "ES256".into(),
            use_: "sig".into(),
        })
    }
}

/// The private signing key of the authorization server.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public: PublicJwk,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key; its `kid` is derived from the public key (RFC 7638-style thumbprint).
    pub fn generate() -> Result<Self, KeyError> {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?;
        Self::from_pkcs8(document.as_ref())
    }

    /// Loads a PKCS#8 DER P-256 key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?;
        let public = PublicJwk::from_uncompressed_point(pair.public_key().as_ref())?;
        Ok(Self {
            kid: public.kid.clone(),
            encoding: EncodingKey::from_ec_der(pkcs8),
            public,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// Loads a key from base64 (standard alphabet) PKCS#8 DER.
    pub fn from_pkcs8_base64(encoded: &str) -> Result<Self, KeyError> {
        Self::from_pkcs8(&STANDARD.decode(encoded.trim())?)
    }

    /// The PKCS#8 DER, base64: for persisting a dev key. Never log it.
    pub fn to_pkcs8_base64(&self) -> String {
        STANDARD.encode(&self.pkcs8)
    }

    /// The key id put in every token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// The public keys accepted for token verification, by `kid`.
#[derive(Clone)]
pub struct VerifyingKeys {
    keys: Vec<(PublicJwk, DecodingKey)>,
}

impl std::fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(jwk, _)| &jwk.kid))
            .finish()
    }
}

impl VerifyingKeys {
    /// Builds the set from JWKs.
    pub fn from_jwks(jwks: Vec<PublicJwk>) -> Result<Self, KeyError> {
        let keys = jwks
            .into_iter()
            .map(|jwk| {
                let key = DecodingKey::from_ec_components(&jwk.x, &jwk.y).map_err(|e| {
                    KeyError::InvalidPublicKey {
                        kid: jwk.kid.clone(),
                        reason: e.to_string(),
                    }
                })?;
                Ok((jwk, key))
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(Self { keys })
    }

    /// Parses a JWKS document (`{"keys":[...]}`), e.g. from the `MCP_JWKS` environment variable.
    pub fn from_jwks_json(json: &str) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<PublicJwk>,
        }
        let jwks: Jwks = serde_json::from_str(json).map_err(|e| KeyError::InvalidPublicKey {
            kid: "(jwks)".into(),
            reason: e.to_string(),
        })?;
        Self::from_jwks(jwks.keys)
    }

    /// The key for `kid`, if it is one of ours.
    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys
            .iter()
            .find(|(jwk, _)| jwk.kid == kid)
            .map(|(_, key)| key)
    }

    /// Adds `jwks` whose `kid` is not in the set yet (a key already present is kept as it is).
    pub fn extend(&mut self, jwks: Vec<PublicJwk>) -> Result<(), KeyError> {
        let fresh: Vec<PublicJwk> = jwks
            .into_iter()
            .filter(|jwk| self.get(&jwk.kid).is_none())
            .collect();
        self.keys.extend(Self::from_jwks(fresh)?.keys);
        Ok(())
    }

    /// The key ids, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(jwk, _)| jwk.kid.as_str())
    }

    /// The JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(|(jwk, _)| jwk).collect::<Vec<_>>() })
    }
}

/// Everything secret or public the server needs about keys.
#[derive(Clone, Debug)]
pub struct KeyMaterial {
    /// The key that signs access tokens; absent on a verify-only (MCP) function.
    pub signing: Option<TokenSigner>,
    /// The keys accepted when verifying tokens (includes the signing key's public half).
    pub verifying: VerifyingKeys,
    /// Secret for refresh-token successors and CSRF tokens.
    pub mac: MacKey,
}

/// Key material as persisted by `mcpctl dev --state-dir` (JSON, file mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKeys {
    /// base64 PKCS#8 of the signing key.
    pub signing_key_pkcs8: String,
    /// base64 MAC secret.
    pub mac_secret: String,
}

impl StoredKeys {
    /// A fresh signing key and MAC secret, ready to persist.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self {
            signing_key_pkcs8: SigningKey::generate()?.to_pkcs8_base64(),
            mac_secret: STANDARD.encode(crypto::random_token(32)?),
        })
    }
}

impl KeyMaterial {
    /// A fresh signing key and MAC secret (in memory only).
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_stored(&StoredKeys::generate()?)
    }

    /// Rebuilds key material from its persisted form.
    pub fn from_stored(stored: &StoredKeys) -> Result<Self, KeyError> {
        let signing = SigningKey::from_pkcs8_base64(&stored.signing_key_pkcs8)?;
        let verifying = VerifyingKeys::from_jwks(vec![signing.public_jwk().clone()])?;
        let mac = MacKey::new(&STANDARD.decode(&stored.mac_secret)?);
        Ok(Self {
            signing: Some(TokenSigner::Local(signing)),
            verifying,
            mac,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_secret_round_trips_with_and_without_previous_keys() {
        let secret = SigningSecret::generate().unwrap();
        let json = secret.to_json().unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        // Exactly the two documented fields: no empty `previous_jwks` written.
        let mut fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, ["mac_secret", "signing_key_pkcs8"]);
        let back = SigningSecret::from_json(&json).unwrap();
        assert!(back.signing == secret.signing);
        assert_eq!(back.mac_secret, secret.mac_secret);

        let retired = SigningKey::generate().unwrap();
        let mut rotated = SigningSecret::generate().unwrap();
        rotated.previous_jwks = vec![retired.public_jwk().clone()];
        let back = SigningSecret::from_json(&rotated.to_json().unwrap()).unwrap();
        assert_eq!(back.previous_jwks, rotated.previous_jwks);
        let material = back.key_material().unwrap();
        let current = material.signing.as_ref().unwrap().kid().to_owned();
        assert_eq!(
            material.verifying.kids().collect::<Vec<_>>(),
            [current.as_str(), retired.kid()]
        );
        // The JWKS for MCP_JWKS parses back to the same two keys.
        let jwks = VerifyingKeys::from_jwks_json(&back.jwks_json().unwrap()).unwrap();
        assert_eq!(
            jwks.kids().collect::<Vec<_>>(),
            [current.as_str(), retired.kid()]
        );
    }

    #[test]
    fn a_rotation_publishes_first_then_signs_and_retires_the_old_key_until_its_tokens_expire() {
        let mut secret = SigningSecret::generate().unwrap();
        let old = secret.current_kid().unwrap();
        let next = secret.stage_next().unwrap();
        // Publishing again is idempotent: an interrupted rotation resumes with the same key.
        assert_eq!(secret.stage_next().unwrap(), next);
        let published = secret.key_material().unwrap();
        assert_eq!(
            published.signing.as_ref().unwrap().kid(),
            old,
            "still signs with the old key"
        );
        assert_eq!(
            published.verifying.kids().collect::<Vec<_>>(),
            [old.as_str(), next.as_str()]
        );

        secret.promote(1000, 3660).unwrap();
        let back = SigningSecret::from_json(&secret.to_json().unwrap()).unwrap();
        let promoted = back.key_material().unwrap();
        assert_eq!(promoted.signing.as_ref().unwrap().kid(), next);
        assert_eq!(
            promoted.verifying.kids().collect::<Vec<_>>(),
            [next.as_str(), old.as_str()]
        );
        assert_eq!(
            back.keys_by_state().unwrap(),
            [
                (next.clone(), KeyState::Signing),
                (old.clone(), KeyState::Retired { until: Some(4660) })
            ]
        );
        // Published until its last token expires, then gone.
        assert!(back.jwks_json_at(4660).unwrap().contains(&old));
        assert!(!back.jwks_json_at(4661).unwrap().contains(&old));
        let mut pruned = back.clone();
        assert_eq!(pruned.prune(4661), std::slice::from_ref(&old));
        assert!(pruned.previous_jwks.is_empty() && pruned.previous_until.is_empty());
        // Nothing to promote without a published next key.
        assert!(pruned.promote(5000, 60).is_err());
    }

    #[test]
    fn a_bad_secret_is_refused_with_the_expected_shape_and_never_printed() {
        let error = SigningSecret::from_json(r#"{"signing_key": "x"}"#).unwrap_err();
        assert!(error.to_string().contains("signing_key_pkcs8"), "{error}");
        let error = SigningSecret::from_json(
            r#"{"signing_key_pkcs8": "bm90IGEga2V5", "mac_secret": "c2VjcmV0"}"#,
        )
        .unwrap_err();
        assert!(matches!(error, KeyError::InvalidPrivateKey(_)), "{error}");
        let secret = SigningSecret::generate().unwrap();
        let debug = format!("{secret:?}");
        let StoredSigner::Pkcs8(pkcs8) = &secret.signing else {
            unreachable!()
        };
        assert!(!debug.contains(pkcs8) && !debug.contains(&secret.mac_secret));
    }
}
