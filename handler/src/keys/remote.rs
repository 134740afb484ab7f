//! Signing keys held elsewhere (`signing: kms`): the private key never enters this process.
//! The keeper signs the JWS signing input; we only ever see the public half and signatures.
//!
//! AWS KMS speaks DER: signatures as `ECDSA-Sig-Value` (RFC 3279) and public keys as
//! `SubjectPublicKeyInfo`. JOSE wants the raw forms (RFC 7518 §3.4: `r || s`, and the point's
//! coordinates). Both conversions are for one fixed curve and a couple of dozen lines, so they are
//! written here instead of pulling in the curve arithmetic of a full ASN.1 / elliptic-curve crate.

use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{KeyError, PublicJwk, SigningKey};

/// Why a remote key could not sign.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RemoteSignError {
    /// What happened (names the key, never key material).
    pub message: String,
    /// Whether a retry may succeed (throttling, a timeout, the keeper briefly unavailable).
    pub transient: bool,
}

impl RemoteSignError {
    /// A failure that a retry will not fix (a missing key, a denied permission).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
        }
    }

    /// A failure worth retrying shortly.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: true,
        }
    }
}

/// A keeper of a P-256 private key that signs on request (AWS KMS in a deployed stack, see
/// [`super::KmsSigner`]); another keeper (an HSM, a signing service) implements this.
///
/// ```
/// use std::sync::Arc;
/// use aws_lc_rs::{rand::SystemRandom, signature::{self, EcdsaKeyPair, KeyPair}};
/// use mcpctl_handler::keys::{PublicJwk, RemoteKey, RemoteSign, RemoteSignError};
///
/// /// Stands in for a remote keeper: signs with a P-256 key it holds.
/// struct Keeper(EcdsaKeyPair);
///
/// #[async_trait::async_trait]
/// impl RemoteSign for Keeper {
///     async fn sign(&self, input: &[u8]) -> Result<[u8; 64], RemoteSignError> {
///         let signature = self.0.sign(&SystemRandom::new(), input)
///             .map_err(|e| RemoteSignError::transient(e.to_string()))?;
///         signature.as_ref().try_into().map_err(|_| RemoteSignError::permanent("not P-256"))
///     }
/// }
///
/// let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
/// let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
/// let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
/// let public = PublicJwk::from_uncompressed_point(pair.public_key().as_ref()).unwrap();
/// let key = RemoteKey::new(public, Arc::new(Keeper(pair)));
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // Checked against the public key before it is returned.
/// assert_eq!(key.sign(b"header.claims").await.unwrap().len(), 64);
/// # });
/// ```
#[async_trait::async_trait]
pub trait RemoteSign: Send + Sync {
    /// The ES256 signature of `signing_input` (SHA-256 inside the keeper), as `r || s`.
    async fn sign(&self, signing_input: &[u8]) -> Result<[u8; 64], RemoteSignError>;
}

/// A signing key that lives in a remote keeper: its public half, and the way to reach it.
#[derive(Clone)]
pub struct RemoteKey {
    public: PublicJwk,
    /// `public` as an uncompressed SEC1 point, decoded once for checking every signature.
    point: Vec<u8>,
    signer: Arc<dyn RemoteSign>,
}

impl std::fmt::Debug for RemoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl RemoteKey {
    /// The key whose public half is `public`, signing through `signer`.
    pub fn new(public: PublicJwk, signer: Arc<dyn RemoteSign>) -> Self {
        // A JWK that does not decode leaves an empty point: every signature then fails the check
        // in `sign`, loudly, instead of a token going out unverifiable.
        let coordinate = |c: &str| URL_SAFE_NO_PAD.decode(c).unwrap_or_default();
        let mut point = vec![4];
        point.extend(coordinate(&public.x));
        point.extend(coordinate(&public.y));
        Self {
            public,
            point,
            signer,
        }
    }

    /// The key id put in every token header.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// Signs `signing_input` remotely, and checks the signature against the public key before
    /// it is used: a keeper that signs with another key (a secret pointing at the wrong KMS
    /// key) must fail here, not hand out tokens nobody can verify.
    pub async fn sign(&self, signing_input: &[u8]) -> Result<[u8; 64], RemoteSignError> {
        let signature = self.signer.sign(signing_input).await?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(signing_input, &signature)
            .map_err(|_| {
                RemoteSignError::permanent(format!(
                    "the remote signature does not verify with key {}: the secret names a key other than the one that signed",
                    self.public.kid
                ))
            })?;
        Ok(signature)
    }
}

/// What signs access tokens: a key in memory, or one that never leaves its keeper.
#[derive(Clone, Debug)]
pub enum TokenSigner {
    /// A P-256 key in this process (`signing: secret`, `mcpctl dev`).
    Local(SigningKey),
    /// A key in AWS KMS (`signing: kms`).
    Remote(RemoteKey),
}

impl TokenSigner {
    /// The key id put in every token header.
    pub fn kid(&self) -> &str {
        match self {
            Self::Local(key) => key.kid(),
            Self::Remote(key) => key.kid(),
        }
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> &PublicJwk {
        match self {
            Self::Local(key) => key.public_jwk(),
            Self::Remote(key) => key.public_jwk(),
        }
    }

    /// The in-memory key, when it is one.
    pub fn local(&self) -> Option<&SigningKey> {
        match self {
            Self::Local(key) => Some(key),
            Self::Remote(_) => None,
        }
    }
}

impl From<SigningKey> for TokenSigner {
    fn from(key: SigningKey) -> Self {
        Self::Local(key)
    }
}

/// `r || s` from a DER `ECDSA-Sig-Value` (`SEQUENCE { INTEGER r, INTEGER s }`) of a P-256
/// signature, as KMS returns it.
pub fn p256_signature_from_der(der: &[u8]) -> Result<[u8; 64], RemoteSignError> {
    let bad = |why: &str| {
        RemoteSignError::permanent(format!("the signature is not a P-256 DER signature: {why}"))
    };
    // Every length here is below 128, so each is one byte (the short form of X.690 §8.1.3).
    let (&tag, rest) = der.split_first().ok_or_else(|| bad("empty"))?;
    let (&len, mut body) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    if tag != 0x30 || usize::from(len) != body.len() {
        return Err(bad("not one SEQUENCE"));
    }
    let mut out = [0u8; 64];
    for half in out.chunks_exact_mut(32) {
        let [0x02, len, rest @ ..] = body else {
            return Err(bad("expected an INTEGER"));
        };
        let len = usize::from(*len);
        if len == 0 || len > 33 || rest.len() < len {
            return Err(bad("bad INTEGER length"));
        }
        let (integer, next) = rest.split_at(len);
        // A positive INTEGER may carry one leading zero byte; none may be negative.
        let integer = match integer {
            [0, tail @ ..] if len == 33 => tail,
            [first, ..] if first & 0x80 != 0 => return Err(bad("negative INTEGER")),
            _ if len == 33 => return Err(bad("INTEGER too long")),
            _ => integer,
        };
        half[32 - integer.len()..].copy_from_slice(integer);
        body = next;
    }
    if !body.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

/// The `SubjectPublicKeyInfo` prefix of every uncompressed P-256 key: `id-ecPublicKey`,
/// `prime256v1`, then a BIT STRING of 66 bytes (no unused bits, then the 65-byte point).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The public JWK of a P-256 key given as DER `SubjectPublicKeyInfo` (KMS `GetPublicKey`).
pub fn p256_jwk_from_spki(der: &[u8]) -> Result<PublicJwk, KeyError> {
    let point = der
        .strip_prefix(&P256_SPKI_PREFIX[..])
        .filter(|point| point.len() == 65)
        .ok_or_else(|| KeyError::InvalidPublicKey {
            kid: "(kms)".into(),
            reason:
                "not an uncompressed P-256 SubjectPublicKeyInfo (is the KMS key ECC_NIST_P256?)"
                    .into(),
        })?;
    PublicJwk::from_uncompressed_point(point)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{
            ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED, EcdsaKeyPair, KeyPair,
            UnparsedPublicKey,
        },
    };

    use super::*;

    #[test]
    fn der_signatures_become_jose_signatures_that_verify() {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref());
        // Enough signatures that short r / s (leading zero stripped) and long ones (a 0x00 pad
        // byte) both turn up.
        for i in 0..200u32 {
            let message = format!("header.claims{i}");
            let der = pair.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
            let fixed = p256_signature_from_der(der.as_ref()).unwrap();
            public.verify(message.as_bytes(), &fixed).unwrap();
        }
    }

    #[test]
    fn malformed_der_signatures_are_refused() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x02, 0x02, 0x00],
            &[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            &[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01],
            &[0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x05, 0x01],
        ] {
            assert!(p256_signature_from_der(bad).is_err(), "{bad:?}");
        }
        let mut too_long = vec![0x30, 0x26, 0x02, 0x22];
        too_long.extend([1u8; 34]);
        too_long.extend([0x02, 0x01, 0x01]);
        assert!(p256_signature_from_der(&too_long).is_err());
    }

    #[test]
    fn a_p256_spki_gives_the_same_jwk_as_the_private_key() {
        let key = SigningKey::generate().unwrap();
        let jwk = key.public_jwk();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.push(4);
        spki.extend(
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &jwk.x)
                .unwrap(),
        );
        spki.extend(
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &jwk.y)
                .unwrap(),
        );
        assert_eq!(&p256_jwk_from_spki(&spki).unwrap(), jwk);
        assert!(p256_jwk_from_spki(&spki[..90]).is_err());
        spki[10] ^= 1;
        assert!(p256_jwk_from_spki(&spki).is_err());
    }
}
