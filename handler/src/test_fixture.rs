//! The server the library's own unit tests serve: one tool, so the tests exercise the hosts
//! (the Lambda adapter, the guard) and not a tool.

use rmcp::{ServerHandler, handler::server::tool::ToolRouter, tool, tool_handler, tool_router};

/// A one-tool server.
#[derive(Clone)]
pub(crate) struct Fixture {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Fixture {
    pub(crate) fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// Answers `pong`.
    #[tool(description = "Answer pong")]
    async fn ping(&self) -> String {
        "pong".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Fixture {}
