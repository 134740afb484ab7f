//! The three functions of the stack, one `bootstrap`.
//!
//! `MCP_HANDLER` picks the role (docs/stack.md, "Function roles"):
//! - `auth` (also when unset): the authorization server (no `/mcp`, and the user's server is
//!   never built here) with the DynamoDB tables and the private key,
//!   read once per container from Secrets Manager (`MCP_SIGNING_KEY_SECRET_ARN`), with the
//!   upstream client secret and the initial access token when the stack names them;
//! - `mcp`: the user's server behind the bearer guard, verify-only (`MCP_JWKS`), no table, no
//!   auth secret, no DynamoDB client of ours; the stage's `mcp_function.secrets` are read here.
//!   Its responses stream (Lambda response streaming behind API Gateway's `STREAM` transfer
//!   mode), so it must be invoked with `InvokeWithResponseStream`;
//! - `authorizer`: the API Gateway TOKEN authorizer of `POST /mcp` (`authorizer`).
//!
//! Everything is built once per container, here, never per request. Routes see `/mcp`, not
//! `/prod/mcp`: see `adapter`.

use std::sync::Arc;

use rmcp::ServerHandler;

use super::{adapter, authorizer, keys};
use crate::verify_only::verify_only_state;
use crate::{
    AppState,
    clock::SystemClock,
    config::{HandlerConfig, IdentityMode},
    gateway::{Gateway, GatewayConfig},
    state::Stores,
    store::{
        dynamo::{self, DynamoStore, TableNames},
        memory::MemoryStore,
    },
};
use lambda_http::Error;

/// The variable that picks the role.
pub(crate) const ROLE_VAR: &str = "MCP_HANDLER";

/// Which of the stack's functions this container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// OAuth, client management and discovery: tables and the signing key.
    Auth,
    /// `POST /mcp`: verify-only.
    Mcp,
    /// The TOKEN authorizer: verify-only.
    Authorizer,
}

impl Role {
    /// Reads `MCP_HANDLER` through `lookup`; unset means `auth`, the only role before the stack
    /// had three functions, so an older configuration keeps working.
    pub(crate) fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        match lookup(ROLE_VAR).as_deref() {
            None | Some("auth") => Ok(Self::Auth),
            Some("mcp") => Ok(Self::Mcp),
            Some("authorizer") => Ok(Self::Authorizer),
            Some(other) => Err(format!(
                "{ROLE_VAR} is `{other}`; expected `auth`, `mcp` or `authorizer` (the stack sets it per function)"
            )
            .into()),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Mcp => "mcp",
            Self::Authorizer => "authorizer",
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Serves this container's role until the Lambda runtime stops it.
pub(crate) async fn serve<F, S>(factory: F) -> Result<(), Error>
where
    F: FnOnce() -> S,
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    serve_role(Some(factory)).await
}

/// A server with nothing of its own: the type of a gateway-only crate's (absent) factory.
#[derive(Clone)]
struct NoTools;

impl ServerHandler for NoTools {}

/// [`serve`] for a gateway-only crate: its MCP function must have an upstream.
pub(crate) async fn serve_gateway_only() -> Result<(), Error> {
    serve_role::<fn() -> NoTools, NoTools>(None).await
}

async fn serve_role<F, S>(factory: Option<F>) -> Result<(), Error>
where
    F: FnOnce() -> S,
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let role = Role::from_lookup(&env)?;
    let mut config = HandlerConfig::from_env()?;
    // One line per container: which function this is, for reading a log group that mixes versions.
    tracing::info!(
        role = role.name(),
        version = env!("CARGO_PKG_VERSION"),
        "cold start"
    );
    match role {
        Role::Auth => {
            // Independent reads, so a cold start waits for the slowest one, not their sum.
            let (keys, stores, oidc_secret, initial_access_token) = tokio::join!(
                keys::auth_keys(&env),
                auth_stores(),
                keys::oidc_client_secret(&env),
                keys::initial_access_token_hash(&env)
            );
            if let IdentityMode::Oidc(settings) = &mut config.identity {
                settings.client_secret = oidc_secret?;
            }
            if let Some(hash) = initial_access_token? {
                config.initial_access_token_hashes = vec![hash];
            }
            let state = AppState::new(config, keys?, stores?, Arc::new(SystemClock));
            // API Gateway sends `/mcp` to the MCP function only; here it is a 404.
            lambda_http::run(adapter::service(crate::authorization_router(state))).await
        }
        Role::Mcp => match GatewayConfig::from_lookup(&env)? {
            // Gateway mode: verify-only like any MCP function, plus the assertion key (its own
            // secret: this function never holds the key that signs access tokens).
            Some(mut gateway) => {
                gateway.check_not_self(&config.resource())?;
                // A GET stream would hold the invocation (and its bill) open with no end: the
                // upstream's stateless answers to POST stream through, GET is 405 here.
                gateway.forward_get = false;
                let assertion_key = keys::assertion_key(&env).await?;
                let state = verify_only_state(config)?;
                tracing::info!(upstream = %gateway.describe(), "gateway mode");
                let gateway = Gateway::connect(gateway, assertion_key).await?;
                lambda_http::run_with_streaming_response(adapter::service(crate::gateway_router(
                    state, gateway,
                )))
                .await
            }
            None => {
                let Some(factory) = factory else {
                    return Err("this is a gateway-only crate (mcpctl_handler::run_gateway) but neither MCP_UPSTREAM_URL nor MCP_UPSTREAM_FUNCTION is set: give the stage an `upstream:` section and deploy again".into());
                };
                crate::tool_env::set_secrets(super::app_secrets::load(&env).await?);
                let state = verify_only_state(config)?;
                // Streamed (API Gateway's /mcp integration is `STREAM`), so a long tool call's
                // progress and log notifications reach the client as they happen, and the call
                // may run past API Gateway's 29 s, up to the function's timeout.
                lambda_http::run_with_streaming_response(adapter::service(crate::router(
                    state,
                    factory(),
                )))
                .await
            }
        },
        Role::Authorizer => authorizer::run(verify_only_state(config)?).await,
    }
}

/// The auth function's tables (`MCP_CLIENTS_TABLE`, `MCP_CODES_TABLE`, `MCP_REFRESH_TOKENS_TABLE`).
async fn auth_stores() -> Result<Stores, Error> {
    match TableNames::from_env() {
        Ok(names) => Ok(Stores::dynamo(DynamoStore::new(
            dynamo::client(None).await,
            names,
        ))),
        // Only for running the binary outside a stack (e.g. under a local Lambda emulator
        // without tables): state then lives and dies with the container.
        Err(error) if env("MCP_ALLOW_MEMORY_STORE").is_some() => {
            tracing::warn!(%error, "no DynamoDB tables configured; using the in-memory store");
            Ok(Stores::memory(Arc::new(MemoryStore::new())))
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(value: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            assert_eq!(name, ROLE_VAR);
            value.map(str::to_owned)
        }
    }

    #[test]
    fn the_role_comes_from_mcp_handler_and_defaults_to_auth() {
        assert_eq!(Role::from_lookup(&lookup(None)).unwrap(), Role::Auth);
        for role in [Role::Auth, Role::Mcp, Role::Authorizer] {
            assert_eq!(Role::from_lookup(&lookup(Some(role.name()))).unwrap(), role);
        }
    }

    #[test]
    fn an_unknown_role_is_an_error_naming_the_choices() {
        for bad in ["", "MCP", "authoriser", "auth "] {
            let error = Role::from_lookup(&lookup(Some(bad))).unwrap_err();
            assert!(
                error.to_string().contains("`auth`, `mcp` or `authorizer`"),
                "{error}"
            );
        }
    }
}
