//! Pieces of `mcpctl dev` beyond the command itself.

pub(crate) mod apigw;
pub(crate) mod state_dir;
