//! The MCP server, on rmcp: a stateless Streamable HTTP service answering JSON, mounted at
//! `/mcp` behind the bearer guard. Tools live in `tools/`, one file each.

pub mod caller;
pub mod conformance;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod tools;

use std::sync::Arc;

use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::never::NeverSessionManager,
};

use crate::state::AppState;
pub use server::McpServer;

/// The `/mcp` tower service. The server value is built once and cloned per request (cheap: it
/// holds `Arc`s), because a stateless service asks its factory for a server on every request.
pub fn service(state: &AppState) -> StreamableHttpService<McpServer, NeverSessionManager> {
    let config = &state.config;
    let server = McpServer::new(config, &state.keys.mac, state.clock.clone());
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
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        http_config,
    )
}
