//! The tool list. Each tool is one file under `tools/` with its own
//! `#[tool_router(router = <name>_router)]` block; registering it is adding its name below.

use rmcp::handler::server::tool::ToolRouter;

use super::McpServer;

/// Declares the tool modules and sums their routers.
macro_rules! tools {
    ($($name:ident),+ $(,)?) => {
        $(mod $name;)+

        /// Every tool this server offers (plus the conformance fixtures when switched on).
        pub(crate) fn router(conformance_pack: bool) -> ToolRouter<McpServer> {
            let mut router = ToolRouter::new();
            pastey::paste! { $( router += McpServer::[<$name _router>](); )+ }
            if conformance_pack {
                router += super::conformance::tool_router();
            }
            router
        }
    };
}

tools![echo, add, whoami];
