//! The tool list. Each tool is one file under `tools/` with its own `#[tool_router]` block;
//! registering it is one line here.

mod add;
mod echo;
mod whoami;

use rmcp::handler::server::tool::ToolRouter;

use super::McpServer;

/// Every tool this server offers.
pub(crate) fn router(conformance_pack: bool) -> ToolRouter<McpServer> {
    let mut router =
        McpServer::echo_router() + McpServer::add_router() + McpServer::whoami_router();
    if conformance_pack {
        router += super::conformance::tool_router();
    }
    router
}
