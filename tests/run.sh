#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned external tools (npm
# packages for the MCP conformance suite and the TypeScript SDK client, a Python venv with the
# Python SDK client), builds the workspace once, checks format and lints, and runs all tests
# (unit, integration, and whole-system tests that start `mcpctl dev` themselves).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is not installed; $2" >&2; exit 2; }
}
need cargo "install Rust with rustup (https://rustup.rs)"
need node "install Node.js 20 or newer"
need npm "install npm (it comes with Node.js)"
need python3 "install Python 3.11 or newer with the venv module"

step() { printf '\n== %s\n' "$*"; }

step "installing the pinned test tools (tests/harness/install.sh)"
tests/harness/install.sh

step "installing the Rust target for Lambda's arm64 build"
rustup target add aarch64-unknown-linux-gnu

step "building the workspace"
# The whole mcpctl (its `aws` feature: the tests deploy into moto) and mcpctl-handler's `aws`
# feature (the Lambda host, through the e2e crate). Every cargo command below passes the same
# features, so nothing is built twice.
FEATURES=(--features mcpctl/aws)
# --workspace includes bench/'s crates (not default members), so the benchmarks always compile.
cargo build --workspace --all-targets --locked "${FEATURES[@]}"
# What `mcpctl dev --manifest-path examples/everything/Cargo.toml` builds (the conformance tests):
# built alone, its dependencies unify different features, so this is a build of its own.
cargo build --locked -p example-everything --bin everything

step "checking format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings
# The default build, `cargo run --release -p mcpctl -- dev`'s: mcpctl and mcpctl-handler without
# AWS (what the tests above do not compile).
cargo clippy --locked -p mcpctl -- -D warnings

step "running the tests"
# A failing test's panic message (it carries the context: stderr, server logs) is what a reader
# needs; a backtrace of test-runner frames would push it out of view.
export RUST_BACKTRACE=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "${FEATURES[@]}"
else
  echo "(cargo-nextest not found; using cargo test)"
  cargo test --workspace --locked --no-fail-fast "${FEATURES[@]}"
fi
# nextest does not run doc tests.
cargo test --workspace --locked --doc "${FEATURES[@]}"

step "all tests passed"
