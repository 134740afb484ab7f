//! The `/mcp` service, on rmcp: a stateless Streamable HTTP service answering JSON, serving the
//! user's own [`ServerHandler`], mounted behind the bearer guard.

use std::sync::Arc;

use rmcp::{
    ServerHandler,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::never::NeverSessionManager,
    },
};

mod identity;

pub use identity::{Identified, ServerIdentity};

use crate::state::AppState;

/// The `/mcp` tower service for `server`. The value is cloned per request (a stateless service
/// asks its factory for a server on every request), so a server should hold its state in `Arc`s.
pub fn service<S>(
    state: &AppState,
    server: S,
) -> StreamableHttpService<Identified<S>, NeverSessionManager>
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let config = &state.config;
    let mut http_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(config.max_mcp_bytes);
    // Origins are checked by our own guard (before authentication), so rmcp's check stays off;
    // the Host check guards against DNS rebinding and must list the public host behind API Gateway.
    http_config = if config.allowed_hosts.is_empty() {
        http_config.disable_allowed_hosts()
    } else {
        http_config.with_allowed_hosts(config.allowed_hosts.clone())
    };
    let server = Identified::new(server, config.server_identity.clone());
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        http_config,
    )
}
