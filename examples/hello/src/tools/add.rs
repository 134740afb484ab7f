//! `add`: sums two numbers; shows a tool with a typed, validated JSON Schema input.

use rmcp::{
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock},
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::Hello;

/// Input of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct AddInput {
    /// First addend.
    pub(crate) a: f64,
    /// Second addend.
    pub(crate) b: f64,
}

#[tool_router(router = add_router, vis = "pub(crate)")]
impl Hello {
    /// Adds `a` and `b`.
    #[tool(
        name = "add",
        description = "Add two numbers",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    pub(crate) async fn add(
        &self,
        Parameters(AddInput { a, b }): Parameters<AddInput>,
    ) -> CallToolResult {
        let sum = a + b;
        if !sum.is_finite() {
            return CallToolResult::error(vec![ContentBlock::text(
                "the sum is not a finite number",
            )]);
        }
        CallToolResult::success(vec![ContentBlock::text(sum.to_string())])
    }
}
