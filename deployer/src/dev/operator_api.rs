//! The operator's view of a running `mcpctl dev`'s embedded store, for `mcpctl clients --url`:
//! `GET /_mcpctl/clients`, `GET|DELETE /_mcpctl/clients/{id}`. Only `mcpctl dev` mounts it (a
//! Lambda's clients are read from DynamoDB with AWS credentials), and only the operator's
//! initial access token opens it: the same bearer that authorises machine-client registration.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use mcpctl_handler::store::{
    ClientOrigin, ClientRecord, ClientStore, RefreshTokenStore, SignInStore, memory::MemoryStore,
};

/// Where the routes live, under the server's base path.
pub(crate) const PREFIX: &str = "/_mcpctl/clients";

#[derive(Clone)]
struct Api {
    store: Arc<MemoryStore>,
}

/// The routes over `store`, opened by the token whose hash is `token_hash`.
pub(crate) fn router(store: Arc<MemoryStore>, token_hash: String) -> Router {
    Router::new()
        .route(PREFIX, get(list))
        .route(&format!("{PREFIX}/{{client_id}}"), get(show).delete(delete))
        // Every route, once: nothing here answers without the operator token.
        .route_layer(axum::middleware::from_fn_with_state(
            token_hash.into(),
            operator_only,
        ))
        .with_state(Api { store })
}

/// A client as the operator sees it: metadata, never a hash.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ClientView {
    pub(crate) client_id: String,
    pub(crate) client_name: Option<String>,
    pub(crate) confidential: bool,
    pub(crate) token_endpoint_auth_method: String,
    pub(crate) grant_types: Vec<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) scope: Option<String>,
    pub(crate) issued_at: u64,
    pub(crate) origin: ClientOrigin,
}

impl From<ClientRecord> for ClientView {
    fn from(record: ClientRecord) -> Self {
        Self {
            confidential: record.secret_hash.is_some(),
            client_id: record.client_id,
            client_name: record.metadata.client_name,
            token_endpoint_auth_method: record.metadata.token_endpoint_auth_method,
            grant_types: record.metadata.grant_types,
            redirect_uris: record.metadata.redirect_uris,
            scope: record.metadata.scope,
            issued_at: record.issued_at,
            origin: record.origin,
        }
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(serde_json::json!({ "error": code, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(r#"Bearer realm="mcpctl-dev-operator""#),
        );
    }
    response
}

/// Lets through only requests carrying the operator's token; `token_hash` is its hash (never
/// the token).
async fn operator_only(
    State(token_hash): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let operator = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme is case-insensitive (RFC 7235 §2.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, token)| mcpctl_handler::crypto::verify_secret(token.trim(), &token_hash));
    if !operator {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the operator's initial access token is required",
        );
    }
    next.run(request).await
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "operator api: store error");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the store failed",
    )
}

async fn list(State(api): State<Api>) -> Response {
    match api.store.clients() {
        Ok(clients) => Json(
            clients
                .into_iter()
                .map(ClientView::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn show(State(api): State<Api>, Path(client_id): Path<String>) -> Response {
    match ClientStore::get(&*api.store, &client_id).await {
        Ok(Some(record)) => Json(ClientView::from(record)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "not_found", "no such client"),
        Err(e) => internal(e),
    }
}

/// Deletes the client and revokes what it holds, as `mcpctl clients delete` does on a stage.
async fn delete(State(api): State<Api>, Path(client_id): Path<String>) -> Response {
    let store = &api.store;
    let existed = match ClientStore::delete(&**store, &client_id).await {
        Ok(existed) => existed,
        Err(e) => return internal(e),
    };
    if !existed {
        return error(StatusCode::NOT_FOUND, "not_found", "no such client");
    }
    if let Err(e) = store.revoke_client(&client_id).await {
        return internal(e);
    }
    if let Err(e) = store.forget_consents(&client_id).await {
        return internal(e);
    }
    tracing::info!(client_id = %client_id, "the operator deleted a client (mcpctl clients delete)");
    StatusCode::NO_CONTENT.into_response()
}
