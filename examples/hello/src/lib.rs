//! `hello`: the smallest useful MCP server on mcpctl, and the one `mcpctl dev` serves when run
//! outside a server crate. Four tools, each in its own file (`count` reports progress while it
//! runs), written with rmcp's own macros on the public `mcpctl-handler` API only.

mod tools;

use std::sync::Arc;

use rmcp::{
    ServerHandler,
    handler::server::tool::ToolRouter,
    model::{Implementation, ServerCapabilities, ServerConfig},
    tool_handler,
};

/// The hello server. Cloned per request, so its state sits behind an `Arc`.
#[derive(Clone)]
pub struct Hello {
    tool_router: Arc<ToolRouter<Self>>,
}

impl Hello {
    /// The server with all its tools.
    pub fn new() -> Self {
        Self {
            tool_router: Arc::new(
                Self::echo_router()
                    + Self::add_router()
                    + Self::count_router()
                    + Self::whoami_router(),
            ),
        }
    }
}

impl Default for Hello {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Hello {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcpctl-hello", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "A remote MCP server deployed with mcpctl. Call `whoami` to see who you are signed in as.",
            )
    }
}
