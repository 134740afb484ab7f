//! `mcpctl-handler`: serve your own [rmcp](https://docs.rs/rmcp) MCP server behind mcpctl's
//! OAuth 2.1 authorization server, on AWS Lambda and under `mcpctl dev`.
//!
//! Write the server with rmcp's own macros; the whole `main` is one call to [`run`]:
//!
//! ```no_run
//! use mcpctl_handler::Caller;
//! use rmcp::{
//!     ServerHandler,
//!     handler::server::{tool::ToolRouter, wrapper::Parameters},
//!     schemars, tool, tool_handler, tool_router,
//! };
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct GreetArgs {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! #[derive(Clone)]
//! struct Server {
//!     tool_router: ToolRouter<Self>,
//! }
//!
//! #[tool_router]
//! impl Server {
//!     fn new() -> Self {
//!         Self { tool_router: Self::tool_router() }
//!     }
//!
//!     /// Greets someone, saying who asked.
//!     #[tool(description = "Greet someone")]
//!     async fn greet(&self, Parameters(args): Parameters<GreetArgs>, caller: Caller) -> String {
//!         format!("Hello, {}! (asked by {})", args.name, caller.subject)
//!     }
//! }
//!
//! #[tool_handler(router = self.tool_router)]
//! impl ServerHandler for Server {}
//!
//! fn main() {
//!     mcpctl_handler::run(Server::new)
//! }
//! ```
//!
//! Everything else stays inside: protocol versions, the bearer guard in front of `/mcp`, the
//! authorization server (DCR, CIMD, PKCE, refresh rotation), discovery, the stores, JSON logs and
//! the Lambda adapter. `mcpctl dev` runs the crate locally; `mcpctl deploy --stage S` ships it.

mod caller;
mod dev_process;
mod entry;
#[cfg(feature = "aws")]
mod lambda;
mod tool_env;
mod tool_scope;
mod verify_only;

pub mod testing;

/// docs/tool-errors.md, whose example runs as a doc test so the guide cannot drift from rmcp.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tool-errors.md")]
struct ToolErrorsGuide;

#[cfg(test)]
mod test_fixture;

pub use caller::{Caller, SubjectKind};
pub use entry::{Error, run, run_gateway, serve};
pub use tool_env::{app_table, secret};
pub use tool_scope::requires_scope;

// The modules below are the hosts' seams (`mcpctl dev`, the tests, the benches), public so the
// mcpctl workspace can reach them; they are not the API a server crate uses, and may change.
#[doc(hidden)]
pub mod clock;
#[doc(hidden)]
pub mod config;
#[doc(hidden)]
pub mod crypto;
#[doc(hidden)]
pub mod gateway;
#[doc(hidden)]
pub mod http;
#[doc(hidden)]
pub mod identity;
#[doc(hidden)]
pub mod keys;
#[doc(hidden)]
pub mod mcp;
pub mod metrics;
#[doc(hidden)]
pub mod oauth;
#[doc(hidden)]
pub mod state;
#[doc(hidden)]
pub mod store;

#[doc(hidden)]
pub use http::routes::{authorization_router, gateway_router, router, well_known_root_router};
#[doc(hidden)]
pub use state::AppState;
