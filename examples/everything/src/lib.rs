//! `everything`: the server the official MCP conformance suite checks, with every fixture it
//! calls, as an ordinary user of the public `mcpctl-handler` API. It also shows what the small
//! examples do not: prompts routed by hand for MRTR, resources, completions and log notifications.

mod conformance;
mod prompts;
mod resources;
mod server;

pub use server::Everything;
