//! `count`: a long tool call that reports progress while it runs. Each step is one
//! `notifications/progress` on the call's SSE stream, sent when it happens: `mcpctl dev` streams
//! it, and so does the deployed stack (Lambda response streaming behind API Gateway's `STREAM`
//! transfer mode), so a call may also run past API Gateway's 29 seconds, up to the function's
//! timeout.

use std::time::{Duration, Instant};

use rmcp::{
    ErrorData, RoleServer,
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock, ProgressNotificationParam},
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::Hello;

/// The most steps one call may take.
const MAX_STEPS: u32 = 60;
/// The longest wait between two steps, in milliseconds: 60 steps stay within 4 minutes, under
/// API Gateway's 5-minute limit on a stream that sends nothing (a call without a progress
/// token is answered in one piece at the end).
const MAX_INTERVAL_MS: u64 = 4_000;

fn default_interval() -> u64 {
    500
}

/// Input of `count`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CountInput {
    /// How far to count: 1 to 60.
    pub(crate) to: u32,
    /// Milliseconds between two steps: 0 to 4000 (default 500).
    #[serde(default = "default_interval")]
    pub(crate) interval_ms: u64,
}

#[tool_router(router = count_router, vis = "pub(crate)")]
impl Hello {
    /// Counts to `to`, one step every `interval_ms`, with a progress notification per step
    /// when the caller asked for progress (a `progressToken` in the request's `_meta`).
    #[tool(
        name = "count",
        description = "Count from 1 to `to` (at most 60), one step every `interval_ms` milliseconds (default 500, at most 4000), reporting progress at each step; returns how long it took",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    pub(crate) async fn count(
        &self,
        Parameters(CountInput { to, interval_ms }): Parameters<CountInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        // Out-of-range input is the model's to correct, so a tool error (SEP-1303), not a
        // protocol error.
        if !(1..=MAX_STEPS).contains(&to) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "`to` must be 1 to {MAX_STEPS}; got {to}"
            ))]));
        }
        if interval_ms > MAX_INTERVAL_MS {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "`interval_ms` must be at most {MAX_INTERVAL_MS}; got {interval_ms}"
            ))]));
        }
        let token = context.meta.get_progress_token();
        let started = Instant::now();
        for step in 1..=to {
            tokio::time::sleep(Duration::from_millis(interval_ms)).await;
            if let Some(token) = &token {
                context
                    .peer
                    .notify_progress(
                        ProgressNotificationParam::new(token.clone(), f64::from(step))
                            .with_total(f64::from(to))
                            .with_message(format!("counted {step} of {to}")),
                    )
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "counted to {to} in {} ms",
            started.elapsed().as_millis()
        ))]))
    }
}

#[cfg(test)]
mod tests {
    use mcpctl_handler::testing::TestClient;
    use serde_json::{Value, json};

    use crate::Hello;

    /// The result of `count` with `arguments`, as JSON (`Null` when the call itself failed).
    async fn count(arguments: Value) -> Value {
        let client = TestClient::new(Hello::new());
        let result = client.call_tool("count", arguments).await.ok();
        serde_json::to_value(result).unwrap_or_default()
    }

    #[tokio::test]
    async fn out_of_range_input_is_a_tool_error_that_names_the_limit() {
        for (arguments, limit) in [
            (json!({"to": 0}), "`to` must be 1 to 60; got 0"),
            (json!({"to": 61}), "`to` must be 1 to 60; got 61"),
            (
                json!({"to": 1, "interval_ms": 4001}),
                "`interval_ms` must be at most 4000; got 4001",
            ),
        ] {
            let result = count(arguments.clone()).await;
            assert_eq!(result["isError"], true, "{arguments}: {result}");
            assert_eq!(result["content"][0]["text"], limit, "{arguments}");
        }
    }

    #[tokio::test]
    async fn it_counts_to_the_end_without_a_progress_token() {
        let result = count(json!({"to": 3, "interval_ms": 0})).await;
        assert_eq!(result["isError"], false, "{result}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("counted to 3 in "), "{text}");
    }
}
