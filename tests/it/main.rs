//! Whole-system tests: `mcpctl dev` as a process, checked by real clients and the official suite.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly by design"
)]

mod build;
mod client_replay;
mod clients;
mod conformance;
mod cost;
mod deploy;
mod dev_server;
mod doctor;
mod federation;
mod first_hour;
mod gateway;
mod gateway_stack;
mod keys;
mod lambda_emulator;
mod metrics;
mod ops;
mod own_server;
mod streaming;
