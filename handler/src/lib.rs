//! `handler`: a remote MCP server with its own OAuth 2.1 authorization server.
//!
//! Every host (the Lambda `bootstrap`, `mcpctl dev`, the tests) builds an [`AppState`] and serves
//! [`router`]. The grant logic (`oauth`), the MCP server (`mcp`) and the store traits (`store`)
//! know nothing about AWS; only the Lambda `main` does.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod http;
pub mod identity;
pub mod keys;
pub mod mcp;
pub mod oauth;
pub mod state;
pub mod store;

pub use http::routes::{router, well_known_root_router};
pub use state::AppState;
