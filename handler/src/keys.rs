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
        // Uncompressed SEC1 point: 0x04 || X (32 bytes) || Y (32 bytes).
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(KeyError::InvalidPrivateKey(
                "unexpected public key encoding".into(),
            ));
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = crypto::hash_secret(&thumbprint_input)[..16].to_owned();
        let public = PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            kid: kid.clone(),
            alg: "ES256".into(),
            use_: "sig".into(),
        };
        Ok(Self {
            kid,
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

    /// The JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(|(jwk, _)| jwk).collect::<Vec<_>>() })
    }
}

/// Everything secret or public the server needs about keys.
#[derive(Clone, Debug)]
pub struct KeyMaterial {
    /// The key that signs access tokens; absent on a verify-only (MCP) function.
    pub signing: Option<SigningKey>,
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
            signing: Some(signing),
            verifying,
            mac,
        })
    }
}
