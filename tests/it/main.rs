//! Whole-system tests: `mcpctl dev` as a process, checked by real clients and the official suite.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly by design"
)]

mod clients;
mod conformance;
mod dev_server;
mod ops;
