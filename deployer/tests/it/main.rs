//! Integration tests of the `mcpctl` binary: one test binary, one module per command (link time
//! matters on two cores). Each test runs the built binary with its own arguments, working
//! directory and environment, so tests never touch this process's cwd or env.

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

mod gateway;
mod lint;
mod render;
mod shell;
mod support;
