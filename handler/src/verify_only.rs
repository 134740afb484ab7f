//! The state of a process that only verifies tokens: the MCP function, the authorizer and a
//! server crate's process under `mcpctl dev`. It needs no AWS client, so it is built with or
//! without the `aws` feature.

use std::sync::Arc;

use serde::Deserialize;

use crate::{
    AppState,
    clock::SystemClock,
    config::HandlerConfig,
    crypto::MacKey,
    entry::Error,
    keys::{KeyMaterial, PublicJwk, VerifyingKeys},
    state::Stores,
    store::memory::MemoryStore,
};

/// Base64 MAC secret, for local runs only.
pub(crate) const MAC_SECRET_VAR: &str = "MCP_MAC_SECRET";
/// The public JWKS document (`{"keys":[...]}`), set on every function by the stack.
pub(crate) const JWKS_VAR: &str = "MCP_JWKS";

/// The state of a function that only verifies tokens. It gets the in-memory store, never a
/// DynamoDB client: `/mcp` and the authorizer read no table (0 DynamoDB requests per MCP call,
/// docs/storage.md), and their roles could not reach one anyway.
pub(crate) fn verify_only_state(config: HandlerConfig) -> Result<AppState, Error> {
    let keys = verify_only_keys(&|name: &str| std::env::var(name).ok())?;
    Ok(AppState::new(
        config,
        keys,
        Stores::memory(Arc::new(MemoryStore::new())),
        Arc::new(SystemClock),
    ))
}

/// Keys of a verify-only function (`mcp`, `authorizer`): the public keys of `MCP_JWKS`.
///
/// The MAC key seals MRTR `requestState` on the MCP side. It comes from `MCP_MAC_SECRET` when
/// that is set and non-empty (local runs); the stack never sets it (the MCP role may not read the
/// signing-key secret), so a deployed function seals with a random key drawn per container.
pub(crate) fn verify_only_keys(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<KeyMaterial, Error> {
    let jwks = lookup(JWKS_VAR).ok_or_else(|| {
        format!(
            "{JWKS_VAR} is not set: a verify-only function needs the public JWKS (the stack sets it from the JwksJson parameter)"
        )
    })?;
    let verifying = VerifyingKeys::from_jwks(parse_jwks(&jwks)?)?;
    if verifying.kids().next().is_none() {
        return Err(format!("{JWKS_VAR} has no key: no token could ever be accepted").into());
    }
    // Verify-only functions get no secret. Their MAC key only seals MRTR request state (the
    // conformance fixtures); a random per-container key keeps that unforgeable, at the price of a
    // retry that lands on another container starting over.
    let mac = match lookup(MAC_SECRET_VAR) {
        Some(secret) if !secret.is_empty() => MacKey::new(secret.as_bytes()),
        _ => MacKey::new(crate::crypto::random_token(32)?.as_bytes()),
    };
    Ok(KeyMaterial {
        signing: None,
        verifying,
        mac,
    })
}

/// The keys of a JWKS document (`MCP_JWKS`).
pub(crate) fn parse_jwks(json: &str) -> Result<Vec<PublicJwk>, Error> {
    #[derive(Deserialize)]
    struct Jwks {
        keys: Vec<PublicJwk>,
    }
    let jwks: Jwks = serde_json::from_str(json).map_err(|e| {
        format!("{JWKS_VAR} is not a JWKS document ({{\"keys\":[...]}} of P-256 public keys): {e}")
    })?;
    Ok(jwks.keys)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::keys::SigningSecret;

    /// An environment lookup of `pairs` only, for the key decisions' tests.
    pub(crate) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn secret_json_round_trips_into_the_keys_each_role_uses() {
        let mut secret = SigningSecret::generate().unwrap();
        let retired = SigningSecret::generate().unwrap();
        secret.previous_jwks = retired
            .key_material()
            .unwrap()
            .signing
            .map(|k| vec![k.public_jwk().clone()])
            .unwrap();
        let json = secret.to_json().unwrap();
        let auth = SigningSecret::from_json(&json)
            .unwrap()
            .key_material()
            .unwrap();
        let verify_only =
            verify_only_keys(&env(&[(JWKS_VAR, &secret.jwks_json().unwrap())])).unwrap();
        assert!(verify_only.signing.is_none());
        assert_eq!(
            auth.verifying.kids().collect::<Vec<_>>(),
            verify_only.verifying.kids().collect::<Vec<_>>()
        );
        assert_eq!(auth.verifying.kids().count(), 2);
    }

    #[test]
    fn a_verify_only_function_needs_a_non_empty_jwks() {
        let error = verify_only_keys(&env(&[])).unwrap_err();
        assert!(error.to_string().contains(JWKS_VAR), "{error}");
        let error = verify_only_keys(&env(&[(JWKS_VAR, r#"{"keys":[]}"#)])).unwrap_err();
        assert!(error.to_string().contains("no key"), "{error}");
        let error = verify_only_keys(&env(&[(JWKS_VAR, "nope")])).unwrap_err();
        assert!(error.to_string().contains("JWKS document"), "{error}");
    }
}
