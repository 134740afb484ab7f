//! `echo`: returns its input; the smallest useful end-to-end check of a deployment.

use rmcp::{
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock},
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::Hello;

/// Input of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct EchoInput {
    /// The text to send back.
    pub(crate) text: String,
}

#[tool_router(router = echo_router, vis = "pub(crate)")]
impl Hello {
    /// Sends the text back unchanged.
    #[tool(
        name = "echo",
        description = "Echo the given text back",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    pub(crate) async fn echo(
        &self,
        Parameters(EchoInput { text }): Parameters<EchoInput>,
    ) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(text)])
    }
}
