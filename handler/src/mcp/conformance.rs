//! The conformance pack: the fixture tools, resources and prompts the official MCP conformance
//! suite calls by name (`test_simple_text`, `test://static-text`, `test_simple_prompt`, …), so
//! the suite measures real behaviour instead of "unknown tool" errors. Switched on by config
//! (`MCP_CONFORMANCE_PACK`, on in `mcpctl dev`).
//!
//! Fixtures that need a server-to-client request (sampling, elicitation) or a long-lived stream
//! (SSE reconnection) are left out: a stateless Lambda cannot serve them, and the baseline files
//! in `tests/harness/baselines/` say so.

#![expect(
    deprecated,
    reason = "logging notifications are part of every protocol version up to 2025-11-25, which this server serves"
)]

use std::sync::Arc;

use rmcp::{
    ErrorData, RoleServer,
    handler::server::tool::ToolRouter,
    model::{
        CallToolResult, ContentBlock, JsonObject, LoggingLevel, LoggingMessageNotificationParam,
        ProgressNotificationParam, ResourceContents,
    },
    service::RequestContext,
    tool, tool_router,
};
use serde_json::json;

use super::McpServer;

/// A 1×1 red PNG.
pub(crate) const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A silent WAV header.
pub(crate) const WAV_SILENCE: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

/// The fixture tools.
pub(crate) fn tool_router() -> ToolRouter<McpServer> {
    McpServer::conformance_router()
}

fn schema_2020_12() -> Arc<JsonObject> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "type": "object",
                "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" }
        },
        "additionalProperties": false
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

#[tool_router(router = conformance_router, vis = "pub(crate)")]
impl McpServer {
    #[tool(description = "Returns simple text content")]
    async fn test_simple_text(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(
            "This is a simple text response for testing.",
        )])
    }

    #[tool(description = "Returns image content")]
    async fn test_image_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::image(PNG_1X1, "image/png")])
    }

    #[tool(description = "Returns audio content")]
    async fn test_audio_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::audio(WAV_SILENCE, "audio/wav")])
    }

    #[tool(description = "Returns embedded resource content")]
    async fn test_embedded_resource(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(ResourceContents::text(
            "This is an embedded resource content.",
            "test://embedded-resource",
        ))])
    }

    #[tool(description = "Returns multiple content types")]
    async fn test_multiple_content_types(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(PNG_1X1, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    r#"{"test":"data","value":123}"#,
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ])
    }

    #[tool(description = "Sends logging notifications during execution")]
    async fn test_tool_with_logging(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        for message in [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ] {
            context
                .peer
                .notify_logging_message(
                    LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(message))
                        .with_logger("conformance"),
                )
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "Logging test completed",
        )]))
    }

    #[tool(description = "Always returns a tool execution error")]
    async fn test_error_handling(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )])
    }

    #[tool(description = "Reports progress notifications")]
    async fn test_tool_with_progress(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(token) = context.meta.get_progress_token() {
            for (progress, message) in [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Complete")] {
                context
                    .peer
                    .notify_progress(
                        ProgressNotificationParam::new(token.clone(), progress)
                            .with_total(100.0)
                            .with_message(message),
                    )
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "Progress test completed",
        )]))
    }

    #[tool(description = "Tool with JSON Schema 2020-12 features", input_schema = schema_2020_12())]
    async fn json_schema_2020_12_tool(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text("JSON Schema 2020-12 tool called")])
    }
}
