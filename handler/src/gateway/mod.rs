//! Gateway mode: this authorization server in front of an MCP server that runs elsewhere, in any
//! language. `/mcp` keeps the bearer guard (token, scopes, the per-tool scope map and the
//! allow-list); what passes goes upstream with the client's token swapped for a short-lived
//! identity assertion (see [`assertion`]).

pub mod assertion;
pub mod config;
pub mod forward;
#[cfg(feature = "aws")]
mod function;
mod tool_filter;

pub use config::{GatewayConfig, GatewayConfigError, Target};
pub use forward::Gateway;
