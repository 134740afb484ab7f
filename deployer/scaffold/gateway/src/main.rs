//! The gateway of {{name}}: mcpctl's OAuth 2.1 authorization server in front of the MCP server in
//! upstream/. It has no tools of its own; the stage's `upstream:` (config/*.yaml) says where
//! `/mcp` goes. Nothing to change here.

fn main() {
    mcpctl_handler::run_gateway()
}
