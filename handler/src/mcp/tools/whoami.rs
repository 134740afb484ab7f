//! `whoami`: the verified caller (client, user, scopes), straight from the access token.

use rmcp::{
    ErrorData, RoleServer,
    model::{CallToolResult, ContentBlock},
    service::RequestContext,
    tool, tool_router,
};

use crate::mcp::{McpServer, caller::Caller};

#[tool_router(router = whoami_router, vis = "pub(crate)")]
impl McpServer {
    /// Shows who the access token says the caller is.
    #[tool(
        name = "whoami",
        description = "Show the verified caller: client id, user and scopes",
        annotations(read_only_hint = true)
    )]
    pub(crate) async fn whoami(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = Caller::of(&context).ok_or_else(|| {
            ErrorData::internal_error(
                "the request reached the tool without a verified caller",
                None,
            )
        })?;
        let value = serde_json::to_value(caller)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
        result.structured_content = Some(value);
        Ok(result)
    }
}
