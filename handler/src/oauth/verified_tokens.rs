//! Access tokens this process has already verified. A client sends the same token on every MCP
//! request for its whole lifetime, and the ES256 signature check is about half of the server's
//! CPU per request; remembering a successful verification skips it on all but the first use.
//!
//! Written by hand because the policy is the point: only successes are remembered (a forged
//! token pays the full check every time), an entry is keyed by the SHA-256 of the *whole* token
//! (so no other string can hit it), and `exp`/`nbf` are checked against the clock on every hit.
//! Our access tokens are self-contained JWTs with nothing to revoke, so a cached verification is
//! exactly as valid as a repeated one. The issuer, audience and keys it was checked against are
//! fixed for the life of the [`crate::state::AppState`] that owns the cache.

use std::{collections::HashMap, sync::RwLock};

use aws_lc_rs::digest;

use super::jwt::{AccessClaims, TokenError};

/// How many tokens a process remembers by default: far more than the clients one Lambda
/// container or `mcpctl dev` serves at once, and only a few hundred KiB when full.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Seconds a token's `nbf` may lie in the future (clock skew), as in [`super::jwt::verify`].
const NBF_LEEWAY: u64 = 5;

/// A bounded map from token hash to the claims its verification produced.
#[derive(Debug)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<[u8; 32], AccessClaims>>,
    capacity: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl VerifiedTokens {
    /// An empty cache holding at most `capacity` tokens (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The claims of `token` at time `now`: from the cache when this token verified before and
    /// is still within `exp`/`nbf`, otherwise from `verify` (remembered when it succeeds).
    pub fn get_or_verify(
        &self,
        token: &str,
        now: u64,
        verify: impl FnOnce() -> Result<AccessClaims, TokenError>,
    ) -> Result<AccessClaims, TokenError> {
        if self.capacity == 0 {
            return verify();
        }
        let key = hash(token);
        let cached = self
            .entries
            .read()
            .ok()
            .and_then(|entries| entries.get(&key).cloned());
        if let Some(claims) = cached {
            if claims.exp <= now {
                self.remove(&key);
                return Err(TokenError::Expired);
            }
            if claims.nbf > now + NBF_LEEWAY {
                return Err(TokenError::NotYetValid);
            }
            return Ok(claims);
        }
        let claims = verify()?;
        self.insert(key, &claims, now);
        Ok(claims)
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, key: [u8; 32], claims: &AccessClaims, now: u64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= self.capacity {
            entries.retain(|_, c| c.exp > now);
        }
        if entries.len() >= self.capacity {
            // Still full of live tokens: start over rather than track recency on every hit;
            // each of them costs one verification to come back.
            entries.clear();
        }
        entries.insert(key, claims.clone());
    }

    fn remove(&self, key: &[u8; 32]) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }
}

fn hash(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::oauth::jwt::sample_claims;

    fn claims(exp: u64, nbf: u64) -> AccessClaims {
        AccessClaims {
            exp,
            nbf,
            iat: nbf,
            ..sample_claims(nbf)
        }
    }

    #[test]
    fn a_verified_token_is_not_verified_again_until_it_expires() {
        let cache = VerifiedTokens::new(8);
        let calls = Cell::new(0);
        let verify = || {
            calls.set(calls.get() + 1);
            Ok(claims(1060, 1000))
        };
        assert_eq!(
            cache.get_or_verify("t", 1000, verify),
            Ok(claims(1060, 1000))
        );
        assert_eq!(
            cache.get_or_verify("t", 1059, verify),
            Ok(claims(1060, 1000))
        );
        assert_eq!(calls.get(), 1);
        assert_eq!(
            cache.get_or_verify("t", 1060, verify),
            Err(TokenError::Expired)
        );
        assert!(cache.is_empty(), "an expired token is forgotten");
    }

    #[test]
    fn only_successes_are_remembered_and_only_for_the_exact_string() {
        let cache = VerifiedTokens::new(8);
        let calls = Cell::new(0);
        let refuse = || {
            calls.set(calls.get() + 1);
            Err(TokenError::Invalid)
        };
        for _ in 0..3 {
            assert_eq!(
                cache.get_or_verify("forged", 1000, refuse),
                Err(TokenError::Invalid)
            );
        }
        assert_eq!(
            calls.get(),
            3,
            "a refused token pays the full check every time"
        );
        assert!(cache.is_empty());

        cache
            .get_or_verify("good", 1000, || Ok(claims(1060, 1000)))
            .unwrap();
        assert_eq!(
            cache.get_or_verify("good ", 1000, refuse),
            Err(TokenError::Invalid),
            "another string is another token"
        );
    }

    #[test]
    fn not_before_is_checked_on_every_hit() {
        let cache = VerifiedTokens::new(8);
        // Verified by a caller whose own check allowed the skew.
        cache
            .get_or_verify("t", 1000, || Ok(claims(2000, 1005)))
            .unwrap();
        assert_eq!(
            cache.get_or_verify("t", 990, || Err(TokenError::Invalid)),
            Err(TokenError::NotYetValid)
        );
        assert!(
            cache
                .get_or_verify("t", 1001, || Err(TokenError::Invalid))
                .is_ok()
        );
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = VerifiedTokens::new(4);
        for i in 0..4 {
            cache
                .get_or_verify(&format!("old-{i}"), 1000, || Ok(claims(1010, 1000)))
                .unwrap();
        }
        // Expired entries make room first.
        cache
            .get_or_verify("new", 1020, || Ok(claims(2000, 1020)))
            .unwrap();
        assert_eq!(cache.len(), 1);
        for i in 0..10 {
            cache
                .get_or_verify(&format!("live-{i}"), 1020, || Ok(claims(2000, 1020)))
                .unwrap();
            assert!(cache.len() <= 4);
        }
    }

    #[test]
    fn capacity_zero_always_verifies() {
        let cache = VerifiedTokens::new(0);
        let calls = Cell::new(0);
        for _ in 0..2 {
            cache
                .get_or_verify("t", 1000, || {
                    calls.set(calls.get() + 1);
                    Ok(claims(1060, 1000))
                })
                .unwrap();
        }
        assert_eq!(calls.get(), 2);
    }
}
