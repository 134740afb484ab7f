//! Integration tests of the router through `oneshot`: the OAuth flows end to end, every attack
//! that must fail, the MCP endpoint's guard, and the store contract.

#![allow(
    unreachable_pub,
    reason = "helpers shared between the modules of one test binary"
)]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly by design"
)]

mod cimd;
mod discovery;
mod dynamo;
mod gateway;
mod mcp;
mod oauth_attacks;
mod oauth_flow;
mod oidc;
mod secure_defaults;
mod store_contract;
mod support;
mod tool_scopes;
