//! `whoami`: the verified caller (client, user, scopes), straight from the access token.

use mcpctl_handler::Caller;
use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock},
    tool, tool_router,
};

use crate::Hello;

#[tool_router(router = whoami_router, vis = "pub(crate)")]
impl Hello {
    /// Shows who the access token says the caller is.
    #[tool(
        name = "whoami",
        description = "Show the verified caller: client id, user and scopes",
        annotations(read_only_hint = true)
    )]
    pub(crate) async fn whoami(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
        let value = serde_json::to_value(&caller)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
        result.structured_content = Some(value);
        Ok(result)
    }
}
