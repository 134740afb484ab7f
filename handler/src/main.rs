//! `bootstrap`: the Lambda entry point. Builds the state once per container (keys, stores,
//! config from the environment the CloudFormation template sets) and serves the same router as
//! every other host through `lambda_http` (API Gateway REST proxy events).
//!
//! Routes see `/mcp`, not `/prod/mcp`: see `lambda_adapter`.

mod lambda_adapter;

use std::sync::Arc;

use handler::{
    AppState,
    clock::SystemClock,
    config::HandlerConfig,
    http::log::{LogTarget, init_json_logging},
    keys::{KeyMaterial, StoredKeys, VerifyingKeys},
    state::Stores,
    store::{
        dynamo::{self, DynamoStore, TableNames},
        memory::MemoryStore,
    },
};
use lambda_http::Error;

/// Key material from the environment: `MCP_SIGNING_KEY` (base64 PKCS#8, only on the function
/// that mints tokens) plus `MCP_MAC_SECRET`, or only `MCP_JWKS` (public keys) on a verify-only function.
fn keys_from_env() -> Result<KeyMaterial, Error> {
    let signing = std::env::var("MCP_SIGNING_KEY").ok();
    let mac = std::env::var("MCP_MAC_SECRET").ok();
    if let (Some(signing_key_pkcs8), Some(mac_secret)) = (signing, mac.clone()) {
        return Ok(KeyMaterial::from_stored(&StoredKeys {
            signing_key_pkcs8,
            mac_secret,
        })?);
    }
    let jwks = std::env::var("MCP_JWKS")
        .map_err(|_| "neither MCP_SIGNING_KEY + MCP_MAC_SECRET nor MCP_JWKS is set; the function cannot verify tokens")?;
    let verifying = VerifyingKeys::from_jwks_json(&jwks)?;
    let mac = handler::crypto::MacKey::new(mac.unwrap_or_default().as_bytes());
    Ok(KeyMaterial {
        signing: None,
        verifying,
        mac,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_logging(LogTarget::Stdout);
    let config = HandlerConfig::from_env()?;
    let keys = keys_from_env()?;
    // SDK clients are built once per container, here, never per request.
    let stores = match TableNames::from_env() {
        Ok(names) => {
            let store = Arc::new(DynamoStore::new(dynamo::client(None).await, names));
            Stores {
                clients: store.clone(),
                codes: store.clone(),
                refresh_tokens: store,
            }
        }
        // Only for running the binary outside a stack (e.g. under a local Lambda emulator
        // without tables): state then lives and dies with the container.
        Err(error) if std::env::var_os("MCP_ALLOW_MEMORY_STORE").is_some() => {
            tracing::warn!(%error, "no DynamoDB tables configured; using the in-memory store");
            Stores::memory(Arc::new(MemoryStore::new()))
        }
        Err(error) => return Err(error.into()),
    };
    let state = AppState::new(config, keys, stores, Arc::new(SystemClock));
    lambda_http::run(lambda_adapter::service(handler::router(state))).await
}
