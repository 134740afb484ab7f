//! Token revocation (RFC 7009). Refresh tokens are revoked with their whole family. Access
//! tokens are self-contained JWTs checked without a store lookup, so they stay valid until they
//! expire (one hour by default); the endpoint still answers 200 for them as §2.2 requires.

use super::{error::OAuthError, token::refresh_key};
use crate::{state::AppState, store::ClientRecord};

/// Revokes `token` if it is a refresh token of `client`; anything else is a no-op.
pub async fn revoke(
    state: &AppState,
    client: &ClientRecord,
    token: &str,
) -> Result<(), OAuthError> {
    let Some(key) = refresh_key(token) else {
        return Ok(());
    };
    if let Some(record) = state.stores.refresh_tokens.get(&key, state.now()).await?
        && record.client_id == client.client_id
    {
        state
            .stores
            .refresh_tokens
            .revoke_family(&key.family_id)
            .await?;
    }
    Ok(())
}
