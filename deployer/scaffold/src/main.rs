//! An MCP server behind mcpctl's OAuth: `mcpctl dev` serves it locally, `mcpctl deploy` ships it
//! to AWS Lambda. Add a tool by adding a `#[tool]` method below.

use mcpctl_handler::Caller;
use rmcp::{
    ServerHandler,
    handler::server::{tool::ToolRouter, wrapper::Parameters},
    tool, tool_handler, tool_router,
};

#[cfg(test)]
mod tests;

/// Input of `hello`; the doc comments become the tool's JSON schema.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct HelloArgs {
    /// Who to greet.
    name: String,
}

/// The server. Cloned per request, so shared state belongs behind an `Arc`.
#[derive(Clone)]
struct Server {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Server {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// Greets someone; `caller` is who the verified access token says is calling.
    #[tool(description = "Greet someone by name")]
    async fn hello(
        &self,
        Parameters(HelloArgs { name }): Parameters<HelloArgs>,
        caller: Caller,
    ) -> String {
        format!("Hello, {name}! You are signed in as {}.", caller.subject)
    }
}

// Also writes `get_info`: the tools capability, and this crate's name and version.
#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {}

fn main() {
    mcpctl_handler::run(Server::new)
}
