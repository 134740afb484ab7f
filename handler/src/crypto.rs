//! The few cryptographic primitives the authorization server needs, all from aws-lc-rs (already
//! linked for TLS): random opaque tokens, SHA-256 hashes for storage at rest, HMAC for derived
//! values, and constant-time comparison.

use aws_lc_rs::{digest, hmac, rand::SecureRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Errors from the system random number generator (which in practice never fails).
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// A new random token of `bytes` bytes, base64url without padding.
pub fn random_token(bytes: usize) -> Result<String, RandomError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| RandomError)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// SHA-256 of `value`, base64url: how codes, refresh tokens, client secrets and registration
/// access tokens are stored. They are 256-bit random values, so a fast unsalted hash is enough:
/// a table dump cannot be brute-forced back into a usable token.
pub fn hash_secret(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, value.as_bytes()))
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Compares a presented secret with a stored hash in constant time.
pub fn verify_secret(presented: &str, stored_hash: &str) -> bool {
    constant_time_eq(hash_secret(presented).as_bytes(), stored_hash.as_bytes())
}

/// A keyed MAC used for derived values (refresh-token successors, CSRF tokens).
#[derive(Clone)]
pub struct MacKey(hmac::Key);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    /// A key from raw secret bytes.
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// HMAC-SHA256 of the parts joined by a separator byte that cannot occur in them, base64url.
    pub fn sign(&self, parts: &[&str]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in parts {
            ctx.update(part.as_bytes());
            ctx.update(&[0u8]);
        }
        URL_SAFE_NO_PAD.encode(ctx.sign())
    }

    /// Checks a value produced by [`MacKey::sign`] in constant time.
    pub fn verify(&self, parts: &[&str], tag: &str) -> bool {
        constant_time_eq(self.sign(parts).as_bytes(), tag.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token(32).unwrap();
        let b = random_token(32).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn secrets_verify_only_against_their_hash() {
        let hash = hash_secret("s3cret");
        assert!(verify_secret("s3cret", &hash));
        assert!(!verify_secret("s3creT", &hash));
        assert_ne!(hash, "s3cret");
    }

    #[test]
    fn mac_binds_every_part() {
        let key = MacKey::new(b"k");
        let tag = key.sign(&["a", "b"]);
        assert!(key.verify(&["a", "b"], &tag));
        assert!(!key.verify(&["ab", ""], &tag));
        assert!(!MacKey::new(b"other").verify(&["a", "b"], &tag));
    }
}
