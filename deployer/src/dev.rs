//! Pieces of `mcpctl dev` beyond the command itself.

pub(crate) mod apigw;
pub(crate) mod host_guard;
pub(crate) mod operator_api;
pub(crate) mod operator_token;
pub(crate) mod server_process;
pub(crate) mod state_dir;
