//! The Secrets Manager secret of a deployed stack ([`SigningSecret`]): where the signing key is
//! (its PKCS#8, or a KMS key), the MAC secret, and the keys of a rotation in progress.

use std::{collections::BTreeMap, sync::Arc};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde::{Deserialize, Serialize};

use super::{
    KeyError, KeyMaterial, PublicJwk, RemoteKey, RemoteSign, SigningKey, StoredKeys, TokenSigner,
    VerifyingKeys,
};
use crate::crypto::MacKey;

/// A KMS key that signs (`signing: kms`): its ARN, and its public half as `GetPublicKey` gave
/// it when the key was made, so a cold start needs no KMS call to know its JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsKeyRef {
    /// ARN of an `ECC_NIST_P256` / `SIGN_VERIFY` KMS key.
    pub key_arn: String,
    /// Its public key.
    pub public_jwk: PublicJwk,
}

/// Where a signing key is, as the secret records it.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredSigner {
    /// base64 PKCS#8 DER of a P-256 key, in the secret itself (`signing: secret`).
    Pkcs8(String),
    /// A key that never leaves KMS (`signing: kms`).
    Kms(KmsKeyRef),
}

// Hand-written so the private key never reaches a log line through `{:?}`.
impl std::fmt::Debug for StoredSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pkcs8(_) => f.write_str("Pkcs8(..)"),
            Self::Kms(key) => f.debug_tuple("Kms").field(&key.key_arn).finish(),
        }
    }
}

impl StoredSigner {
    /// The public half.
    pub fn public_jwk(&self) -> Result<PublicJwk, KeyError> {
        match self {
            Self::Pkcs8(pkcs8) => Ok(SigningKey::from_pkcs8_base64(pkcs8)?.public_jwk().clone()),
            Self::Kms(key) => Ok(key.public_jwk.clone()),
        }
    }

    /// Its `kid`.
    pub fn kid(&self) -> Result<String, KeyError> {
        Ok(self.public_jwk()?.kid)
    }

    /// The KMS key's ARN, for a KMS key.
    pub fn kms_key_arn(&self) -> Option<&str> {
        match self {
            Self::Kms(key) => Some(&key.key_arn),
            Self::Pkcs8(_) => None,
        }
    }

    fn check(&self) -> Result<(), KeyError> {
        match self {
            Self::Pkcs8(pkcs8) => SigningKey::from_pkcs8_base64(pkcs8).map(drop),
            Self::Kms(key) => {
                // The JWK was derived from KMS's public key when the key was made: it must still
                // be exactly that (coordinates of P-256 size, the `kid` their thumbprint).
                let jwk = &key.public_jwk;
                let invalid = |reason: &str| KeyError::InvalidPublicKey {
                    kid: jwk.kid.clone(),
                    reason: format!("signing_kms_key.public_jwk: {reason}"),
                };
                let coordinate = |c: &str| {
                    URL_SAFE_NO_PAD
                        .decode(c)
                        .ok()
                        .filter(|bytes| bytes.len() == 32)
                        .ok_or_else(|| invalid("a coordinate is not 32 bytes of base64url"))
                };
                let mut point = vec![4];
                point.extend(coordinate(&jwk.x)?);
                point.extend(coordinate(&jwk.y)?);
                if PublicJwk::from_uncompressed_point(&point)? != *jwk {
                    return Err(invalid("not a P-256 ES256 JWK whose kid is its thumbprint"));
                }
                Ok(())
            }
        }
    }
}

/// The Secrets Manager secret of a deployed stack: the only place the private key (or the name
/// of the KMS key that holds it) lives.
///
/// `mcpctl deploy` creates it with [`SigningSecret::to_json`]; the auth function reads it at cold
/// start (`MCP_SIGNING_KEY_SECRET_ARN`) with [`SigningSecret::from_json`]. The JSON document is
/// (docs/stack.md, "Signing key"):
///
/// ```json
/// {"signing_key_pkcs8": "<base64 PKCS#8 DER of the P-256 key>",
///  "mac_secret": "<base64, 32 random bytes>",
///  "previous_jwks": [{"kty": "EC", "crv": "P-256", "x": "..", "y": "..", "kid": "..", "alg": "ES256", "use": "sig"}]}
/// ```
///
/// With `signing: kms`, `signing_kms_key` (`{"key_arn": "...", "public_jwk": {...}}`) takes the
/// place of `signing_key_pkcs8`. `previous_jwks` (optional) holds the public halves of retired
/// signing keys: tokens they signed keep verifying, and the JWKS keeps publishing them, until
/// `previous_until` (`{"<kid>": <epoch seconds>}`: when a retired key's last token expires).
/// Between the two steps of `mcpctl keys rotate`, `next_signing_key_pkcs8` or
/// `next_signing_kms_key` holds a key that is published but does not sign yet.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "Wire", into = "Wire")]
pub struct SigningSecret {
    /// The key that signs.
    pub signing: StoredSigner,
    /// base64 MAC secret.
    pub mac_secret: String,
    /// Public keys of retired signing keys, still accepted for verification.
    pub previous_jwks: Vec<PublicJwk>,
    /// A key `mcpctl keys rotate` made: published in the JWKS (verified) but not signing yet.
    pub next: Option<StoredSigner>,
    /// Until when (epoch seconds) each retired key stays published: when the last token it
    /// signed expires. A retired key without an entry stays until removed by hand.
    pub previous_until: BTreeMap<String, u64>,
    /// KMS keys a rotation replaced that the auth function may still sign with until every
    /// container has moved to the new key; `mcpctl keys rotate` then revokes and deletes them.
    pub retiring_kms_keys: Vec<String>,
}

/// The secret's JSON, field by field (the documented format; older secrets parse unchanged).
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_key_pkcs8: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_kms_key: Option<KmsKeyRef>,
    mac_secret: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous_jwks: Vec<PublicJwk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_signing_key_pkcs8: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_signing_kms_key: Option<KmsKeyRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    previous_until: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retiring_kms_keys: Vec<String>,
}

fn one_of(
    pkcs8: Option<String>,
    kms: Option<KmsKeyRef>,
    fields: &str,
) -> Result<Option<StoredSigner>, String> {
    match (pkcs8, kms) {
        (Some(pkcs8), None) => Ok(Some(StoredSigner::Pkcs8(pkcs8))),
        (None, Some(kms)) => Ok(Some(StoredSigner::Kms(kms))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(format!("{fields}: only one of them may be set")),
    }
}

impl TryFrom<Wire> for SigningSecret {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, String> {
        let fields = "`signing_key_pkcs8` or `signing_kms_key`";
        let signing = one_of(wire.signing_key_pkcs8, wire.signing_kms_key, fields)?
            .ok_or_else(|| format!("missing field {fields}"))?;
        let next = one_of(
            wire.next_signing_key_pkcs8,
            wire.next_signing_kms_key,
            "`next_signing_key_pkcs8` or `next_signing_kms_key`",
        )?;
        Ok(Self {
            signing,
            mac_secret: wire.mac_secret,
            previous_jwks: wire.previous_jwks,
            next,
            previous_until: wire.previous_until,
            retiring_kms_keys: wire.retiring_kms_keys,
        })
    }
}

impl From<SigningSecret> for Wire {
    fn from(secret: SigningSecret) -> Self {
        let split = |signer: Option<StoredSigner>| match signer {
            Some(StoredSigner::Pkcs8(pkcs8)) => (Some(pkcs8), None),
            Some(StoredSigner::Kms(kms)) => (None, Some(kms)),
            None => (None, None),
        };
        let (signing_key_pkcs8, signing_kms_key) = split(Some(secret.signing));
        let (next_signing_key_pkcs8, next_signing_kms_key) = split(secret.next);
        Self {
            signing_key_pkcs8,
            signing_kms_key,
            mac_secret: secret.mac_secret,
            previous_jwks: secret.previous_jwks,
            next_signing_key_pkcs8,
            next_signing_kms_key,
            previous_until: secret.previous_until,
            retiring_kms_keys: secret.retiring_kms_keys,
        }
    }
}

/// Where a key is in its life, as [`SigningSecret::keys_by_state`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// It signs the tokens issued now.
    Signing,
    /// Published ahead of a rotation; it signs once promoted.
    Next,
    /// Retired: it verifies the tokens it signed, until `until` (epoch seconds) if known.
    Retired {
        /// When its last token expires.
        until: Option<u64>,
    },
}

// Hand-written so that logging the value (or a `{:?}` in an error) never prints the private key.
impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningSecret")
            .field("signing", &self.signing)
            .field("next", &self.next)
            .field(
                "previous_jwks",
                &self
                    .previous_jwks
                    .iter()
                    .map(|k| &k.kid)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl SigningSecret {
    /// A secret holding `keys` and no retired key.
    pub fn new(keys: StoredKeys) -> Self {
        Self {
            signing: StoredSigner::Pkcs8(keys.signing_key_pkcs8),
            mac_secret: keys.mac_secret,
            previous_jwks: Vec::new(),
            next: None,
            previous_until: BTreeMap::new(),
            retiring_kms_keys: Vec::new(),
        }
    }

    /// A fresh signing key and MAC secret.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self::new(StoredKeys::generate()?))
    }

    /// A fresh MAC secret, signing with `signing` (a KMS key made for the stage).
    pub fn with_signer(signing: StoredSigner) -> Result<Self, KeyError> {
        signing.check()?;
        let mut secret = Self::generate()?;
        secret.signing = signing;
        Ok(secret)
    }

    /// The `kid` of the key that signs.
    pub fn current_kid(&self) -> Result<String, KeyError> {
        self.signing.kid()
    }

    /// The key published ahead of a rotation, generating a PKCS#8 one if there is none yet; its
    /// `kid`.
    pub fn stage_next(&mut self) -> Result<String, KeyError> {
        if let Some(next) = &self.next {
            return next.kid();
        }
        self.stage_next_with(StoredSigner::Pkcs8(
            SigningKey::generate()?.to_pkcs8_base64(),
        ))
    }

    /// Publishes `next` ahead of a rotation (a KMS key the caller made), unless a next key is
    /// already published: an interrupted rotation resumes with that one. The published `kid`.
    pub fn stage_next_with(&mut self, next: StoredSigner) -> Result<String, KeyError> {
        if let Some(existing) = &self.next {
            return existing.kid();
        }
        next.check()?;
        let kid = next.kid()?;
        self.next = Some(next);
        Ok(kid)
    }

    /// Makes the published next key the signing one; the old signing key is retired and stays
    /// published for `verify_for` seconds from `now` (the longest token lifetime). Returns the
    /// retired key (a KMS key can then be scheduled for deletion: it never signs again).
    ///
    /// ```
    /// use mcpctl_handler::keys::{KeyState, SigningSecret};
    ///
    /// let mut secret = SigningSecret::generate().unwrap();
    /// let old = secret.current_kid().unwrap();
    /// let new = secret.stage_next().unwrap(); // publish it first (it verifies, not signs)
    /// secret.promote(1_000, 3_660).unwrap(); // then sign with it
    /// assert_eq!(secret.current_kid().unwrap(), new);
    /// assert_eq!(secret.keys_by_state().unwrap()[1], (old, KeyState::Retired { until: Some(4_660) }));
    /// ```
    pub fn promote(&mut self, now: u64, verify_for: u64) -> Result<StoredSigner, KeyError> {
        let next = self.next.take().ok_or(KeyError::NothingToPromote)?;
        next.check()?;
        let old = std::mem::replace(&mut self.signing, next);
        // Warm containers may sign with it until the stack update that follows replaces them.
        if let Some(arn) = old.kms_key_arn()
            && !self.retiring_kms_keys.iter().any(|a| a == arn)
        {
            self.retiring_kms_keys.push(arn.to_owned());
        }
        let old_public = old.public_jwk()?;
        self.previous_jwks.retain(|jwk| jwk.kid != old_public.kid);
        self.previous_until
            .insert(old_public.kid.clone(), now.saturating_add(verify_for));
        self.previous_jwks.insert(0, old_public);
        Ok(old)
    }

    /// Drops the retired keys whose last token has expired by `now`; their `kid`s.
    pub fn prune(&mut self, now: u64) -> Vec<String> {
        let expired: Vec<String> = self
            .previous_until
            .iter()
            .filter(|(_, until)| **until < now)
            .map(|(kid, _)| kid.clone())
            .collect();
        self.previous_jwks.retain(|jwk| !expired.contains(&jwk.kid));
        self.previous_until.retain(|kid, _| !expired.contains(kid));
        expired
    }

    /// Every key with its state: the signing key, the next one, then the retired ones.
    pub fn keys_by_state(&self) -> Result<Vec<(String, KeyState)>, KeyError> {
        let mut keys = vec![(self.current_kid()?, KeyState::Signing)];
        if let Some(next) = &self.next {
            keys.push((next.kid()?, KeyState::Next));
        }
        keys.extend(self.previous_jwks.iter().map(|jwk| {
            (
                jwk.kid.clone(),
                KeyState::Retired {
                    until: self.previous_until.get(&jwk.kid).copied(),
                },
            )
        }));
        Ok(keys)
    }

    /// The KMS keys the auth function may sign with: the current one, the next one, and the
    /// retiring ones (the stack grants `kms:Sign` on exactly these).
    pub fn kms_key_arns(&self) -> Vec<&str> {
        std::iter::once(&self.signing)
            .chain(self.next.as_ref())
            .filter_map(StoredSigner::kms_key_arn)
            .chain(self.retiring_kms_keys.iter().map(String::as_str))
            .collect()
    }

    /// [`Self::jwks_json`] without the retired keys whose tokens have all expired by `now`.
    pub fn jwks_json_at(&self, now: u64) -> Result<String, KeyError> {
        let mut pruned = self.clone();
        pruned.prune(now);
        pruned.jwks_json()
    }

    /// Parses the secret string as Secrets Manager returns it.
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        let secret: Self =
            serde_json::from_str(json).map_err(|e| KeyError::InvalidSecret(e.to_string()))?;
        // Fail on a bad key here, at cold start, rather than on the first token request.
        secret.signing.check()?;
        if let Some(next) = &secret.next {
            next.check()?;
        }
        secret.verifying_keys()?;
        STANDARD.decode(&secret.mac_secret)?;
        Ok(secret)
    }

    /// The secret string to store (compact JSON).
    pub fn to_json(&self) -> Result<String, KeyError> {
        serde_json::to_string(self).map_err(|e| KeyError::InvalidSecret(e.to_string()))
    }

    /// The public keys to accept: the current one, the next one (published ahead of a rotation)
    /// and the retired ones, in that order.
    pub fn verifying_keys(&self) -> Result<VerifyingKeys, KeyError> {
        let mut jwks = vec![self.signing.public_jwk()?];
        if let Some(next) = &self.next {
            jwks.push(next.public_jwk()?);
        }
        let mut keys = VerifyingKeys::from_jwks(jwks)?;
        keys.extend(self.previous_jwks.clone())?;
        Ok(keys)
    }

    /// [`Self::key_material_with`] for a secret whose key is in it: a KMS-held key is refused,
    /// since nothing here can reach KMS.
    pub fn key_material(&self) -> Result<KeyMaterial, KeyError> {
        self.key_material_with(|key| Err(KeyError::SignsInKms(key.key_arn.clone())))
    }

    /// The signing key (a KMS key reached through `connect`), the MAC key, and the
    /// [`Self::verifying_keys`].
    pub fn key_material_with(
        &self,
        connect: impl FnOnce(&KmsKeyRef) -> Result<Arc<dyn RemoteSign>, KeyError>,
    ) -> Result<KeyMaterial, KeyError> {
        let signing = match &self.signing {
            StoredSigner::Pkcs8(pkcs8) => TokenSigner::Local(SigningKey::from_pkcs8_base64(pkcs8)?),
            StoredSigner::Kms(key) => {
                TokenSigner::Remote(RemoteKey::new(key.public_jwk.clone(), connect(key)?))
            }
        };
        Ok(KeyMaterial {
            signing: Some(signing),
            verifying: self.verifying_keys()?,
            mac: MacKey::new(&STANDARD.decode(&self.mac_secret)?),
        })
    }

    /// The public JWKS (`{"keys":[...]}`, current key first) as compact JSON: the value of
    /// `MCP_JWKS` for the verify-only functions (the stack's `JwksJson` parameter).
    pub fn jwks_json(&self) -> Result<String, KeyError> {
        Ok(self.verifying_keys()?.jwks().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms_key(name: &str) -> KmsKeyRef {
        KmsKeyRef {
            key_arn: format!("arn:aws:kms:eu-west-1:123456789012:key/{name}"),
            public_jwk: SigningKey::generate().unwrap().public_jwk().clone(),
        }
    }

    #[test]
    fn a_kms_secret_names_the_key_holds_no_private_key_and_moves_between_kinds() {
        let kms = kms_key("one");
        let secret = SigningSecret::with_signer(StoredSigner::Kms(kms.clone())).unwrap();
        let json = secret.to_json().unwrap();
        assert!(!json.contains("signing_key_pkcs8"), "{json}");
        let back = SigningSecret::from_json(&json).unwrap();
        assert!(back.signing == StoredSigner::Kms(kms.clone()));
        assert_eq!(back.current_kid().unwrap(), kms.public_jwk.kid);
        assert_eq!(back.kms_key_arns(), [kms.key_arn.as_str()]);
        assert!(matches!(back.key_material(), Err(KeyError::SignsInKms(_))));
        assert_eq!(
            VerifyingKeys::from_jwks_json(&back.jwks_json().unwrap())
                .unwrap()
                .kids()
                .collect::<Vec<_>>(),
            [kms.public_jwk.kid.as_str()]
        );

        // From a key in the secret to a key in KMS, and back, by rotation.
        let mut moving = SigningSecret::generate().unwrap();
        let old = moving.current_kid().unwrap();
        let next = kms_key("two");
        moving
            .stage_next_with(StoredSigner::Kms(next.clone()))
            .unwrap();
        // Both may sign while the rotation is under way: the stack grants both.
        assert_eq!(moving.kms_key_arns(), [next.key_arn.as_str()]);
        let retired = moving.promote(100, 60).unwrap();
        assert!(matches!(retired, StoredSigner::Pkcs8(_)));
        assert_eq!(moving.current_kid().unwrap(), next.public_jwk.kid);
        assert_eq!(
            moving.keys_by_state().unwrap()[1],
            (old, KeyState::Retired { until: Some(160) })
        );
        moving.stage_next().unwrap();
        let retired = moving.promote(200, 60).unwrap();
        assert_eq!(retired.kms_key_arn(), Some(next.key_arn.as_str()));
        // Still granted until the containers moved on; then nothing is.
        assert_eq!(moving.kms_key_arns(), [next.key_arn.as_str()]);
        let back = SigningSecret::from_json(&moving.to_json().unwrap()).unwrap();
        assert_eq!(back.retiring_kms_keys, std::slice::from_ref(&next.key_arn));
        moving.retiring_kms_keys.clear();
        assert!(moving.kms_key_arns().is_empty());
    }

    #[test]
    fn a_secret_with_two_signing_keys_or_none_is_refused() {
        let pkcs8 = SigningKey::generate().unwrap().to_pkcs8_base64();
        let kms = serde_json::to_string(&kms_key("x")).unwrap();
        let both = format!(
            r#"{{"signing_key_pkcs8":"{pkcs8}","signing_kms_key":{kms},"mac_secret":"c2VjcmV0"}}"#
        );
        let error = SigningSecret::from_json(&both).unwrap_err().to_string();
        assert!(error.contains("only one"), "{error}");
        assert!(!error.contains(&pkcs8), "the key is never quoted: {error}");
        let none = SigningSecret::from_json(r#"{"mac_secret":"c2VjcmV0"}"#)
            .unwrap_err()
            .to_string();
        assert!(none.contains("signing_kms_key"), "{none}");
        let wrong_curve = r#"{"signing_kms_key":{"key_arn":"arn:x","public_jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k","alg":"ES256","use":"sig"}},"mac_secret":"c2VjcmV0"}"#;
        assert!(SigningSecret::from_json(wrong_curve).is_err());
    }
}
