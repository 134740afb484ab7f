//! Client configuration endpoint (RFC 7592): read and delete a registration with the
//! registration access token issued at registration. The secret is never returned.

use serde::Serialize;

use super::error::OAuthError;
use crate::{
    crypto,
    state::AppState,
    store::{ClientMetadata, ClientRecord},
};

/// What `GET /clients/{id}` returns.
#[derive(Debug, Serialize)]
pub struct ClientInformation {
    /// Client id.
    pub client_id: String,
    /// Epoch seconds.
    pub client_id_issued_at: u64,
    /// The configuration endpoint.
    pub registration_client_uri: String,
    /// Metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// Loads the client after checking the registration access token. Unknown clients and wrong
/// tokens give the same answer, so the endpoint cannot be used to probe for client ids.
pub async fn authorize_management(
    state: &AppState,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<ClientRecord, OAuthError> {
    let denied = || {
        OAuthError::InvalidToken(
            "a valid registration access token for this client is required".into(),
        )
    };
    let bearer = bearer.ok_or_else(denied)?;
    let client = state
        .stores
        .clients
        .get(client_id)
        .await?
        .ok_or_else(denied)?;
    match &client.registration_token_hash {
        Some(hash) if crypto::verify_secret(bearer, hash) => Ok(client),
        _ => Err(denied()),
    }
}

/// RFC 7592 §2.1 read.
pub async fn read(
    state: &AppState,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<ClientInformation, OAuthError> {
    let client = authorize_management(state, client_id, bearer).await?;
    Ok(ClientInformation {
        registration_client_uri: state.config.url(&format!("/clients/{}", client.client_id)),
        client_id: client.client_id,
        client_id_issued_at: client.issued_at,
        metadata: client.metadata,
    })
}

/// RFC 7592 §2.3 delete: the client and everything derived from it (refresh tokens, pending
/// codes, remembered consents).
pub async fn delete(
    state: &AppState,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<(), OAuthError> {
    authorize_management(state, client_id, bearer).await?;
    // Revoke first: if deleting the client then fails, no token of it survives anyway.
    state.stores.refresh_tokens.revoke_client(client_id).await?;
    state.stores.sign_ins.forget_consents(client_id).await?;
    state.stores.clients.delete(client_id).await?;
    Ok(())
}
