//! The conformance pack: the fixture tools, resources and prompts the official MCP conformance
//! suite calls by name (`test_simple_text`, `test://static-text`, `test_simple_prompt`, …), so
//! the suite measures real behaviour instead of "unknown tool" errors. Switched on by config
//! (`MCP_CONFORMANCE_PACK`, on in `mcpctl dev`).
//!
//! Client input (elicitation, sampling, roots) is gathered the stateless way, with multi
//! round-trip requests (MRTR, SEP-2322, protocol 2026-07-28): a tool answers with an
//! `InputRequiredResult`, the client retries with `inputResponses` and the echoed `requestState`,
//! which is HMAC-sealed here and bound to the tool and the caller. Older protocol versions only
//! have server-to-client requests for that, which need a session to carry the client's answer
//! back; a stateless server has none, so those fixtures (`test_sampling`, `test_elicitation`, …)
//! are left out, as are resource subscriptions and the tasks extension (SEP-2663, which needs
//! durable task state and work that outlives the request). The baseline files in
//! `tests/harness/baselines/` say so.

#![expect(
    deprecated,
    reason = "logging, sampling and roots are part of every protocol version up to 2025-11-25, which this server serves"
)]

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rmcp::{
    ErrorData, RoleServer,
    handler::server::{
        tool::{InputResponses, RequestState, ToolRouter},
        wrapper::Parameters,
    },
    model::{
        CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock, CreateMessageResult,
        ElicitResult, ElicitationAction, InputRequest, InputRequests, InputRequiredResult,
        InputResponses as ResponseMap, JsonObject, ListRootsResult, LoggingLevel,
        LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
        ResourceContents,
    },
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use aws_lc_rs::hmac;
use mcpctl_handler::Caller;

use crate::Everything;

/// A 1×1 red PNG.
pub(crate) const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A silent WAV header.
pub(crate) const WAV_SILENCE: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

/// How long a sealed `requestState` stays valid.
const STATE_TTL_SECONDS: u64 = 600;

/// The fixture tools.
pub(crate) fn tool_router() -> ToolRouter<Everything> {
    Everything::conformance_router()
}

/// The input schema of `json_schema_2020_12_tool`: `$defs` with an `$anchor`, a `$ref`,
/// composition (`allOf`/`anyOf`) and conditional (`if`/`then`/`else`) keywords (SEP-1613, SEP-2106).
fn schema_2020_12() -> Arc<JsonObject> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// Arguments of `json_schema_2020_12_tool`, as [`schema_2020_12`] describes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ContactInput {
    name: Option<String>,
    address: Option<Address>,
    contact_method: Option<ContactMethod>,
    phone: Option<String>,
    email: Option<String>,
}

/// `$defs.address`.
#[derive(Debug, Deserialize)]
pub(crate) struct Address {
    street: Option<String>,
    city: Option<String>,
}

/// `contactMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ContactMethod {
    Phone,
    Email,
}

/// Arguments of `test_custom_headers`; the annotated ones travel as `Mcp-Param-*` headers too
/// (SEP-2243), and rmcp rejects a request whose headers disagree with the body.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CustomHeadersInput {
    /// Region the request is for; mirrored in the `Mcp-Param-Region` header.
    #[schemars(extend("x-mcp-header" = "Region"))]
    region: String,
    /// Priority; mirrored in the `Mcp-Param-Priority` header when present.
    // Optional, yet typed plain `integer` (no `null`, no default): clients mirror only annotated
    // properties of a single primitive type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64", extend("x-mcp-header" = "Priority"))]
    priority: Option<i64>,
    /// A query that stays in the body only.
    query: Option<String>,
}

#[tool_router(router = conformance_router, vis = "pub(crate)")]
impl Everything {
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
            log(&context, LoggingLevel::Info, message).await?;
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "Logging test completed",
        )]))
    }

    #[tool(
        description = "Logs at debug, info and warning level; from 2026-07-28 only what the request's _meta logLevel asks for"
    )]
    async fn test_logging_tool(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut sent = 0;
        for (level, message) in [
            (LoggingLevel::Debug, "Logging tool: debug detail"),
            (LoggingLevel::Info, "Logging tool: working"),
            (LoggingLevel::Warning, "Logging tool: warning sample"),
        ] {
            if log(&context, level, message).await? {
                sent += 1;
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "Logging tool done: {sent} log message(s) sent"
        ))]))
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
    async fn json_schema_2020_12_tool(
        &self,
        Parameters(input): Parameters<ContactInput>,
    ) -> CallToolResult {
        // Breaking the schema's `anyOf`/`if` rules is an input error the model can correct, so it
        // is a tool execution error (SEP-1303), not a protocol error.
        match contact_card(input) {
            Ok(card) => CallToolResult::success(vec![ContentBlock::text(card)]),
            Err(reason) => CallToolResult::error(vec![ContentBlock::text(reason)]),
        }
    }

    #[tool(
        description = "Echoes its routing parameters; region and priority are sent as Mcp-Param-* headers (SEP-2243)"
    )]
    async fn test_custom_headers(
        &self,
        Parameters(input): Parameters<CustomHeadersInput>,
    ) -> CallToolResult {
        let priority = input
            .priority
            .map_or_else(|| "none".to_owned(), |p| p.to_string());
        let query = input.query.as_deref().unwrap_or("none");
        CallToolResult::success(vec![ContentBlock::text(format!(
            "region={} priority={priority} query={query}",
            input.region
        ))])
    }

    #[tool(
        description = "Needs the client's sampling capability: asks the client's model one question (MRTR), or fails with -32021 if sampling is not declared"
    )]
    async fn test_missing_capability(
        &self,
        context: RequestContext<RoleServer>,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        require(&context, &[Need::Sampling])?;
        match answer::<CreateMessageResult>(responses.as_ref(), "probe")? {
            None => ask(
                [(
                    "probe",
                    sampling("Reply with one word: are you there?", 10)?,
                )],
                None,
            ),
            Some(reply) => complete(format!(
                "The client's model replied: {}",
                sampled_text(&reply)?
            )),
        }
    }

    #[tool(
        description = "Asks for a confirmation mid-call; the question travels as an InputRequiredResult on the response, never as an independent request"
    )]
    async fn test_streaming_elicitation(
        &self,
        context: RequestContext<RoleServer>,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        require(&context, &[Need::Elicitation])?;
        match answer::<ElicitResult>(responses.as_ref(), "confirm")? {
            None => {
                log(&context, LoggingLevel::Info, "Asking the user to confirm").await?;
                ask(
                    [(
                        "confirm",
                        elicitation("Continue with the operation?", "ok", "boolean")?,
                    )],
                    None,
                )
            }
            Some(reply) => {
                let verdict = match accepted(&reply, "ok")? {
                    Some(Value::Bool(true)) => "confirmed",
                    Some(_) => "not confirmed",
                    None => "dismissed",
                };
                complete(format!("Operation {verdict}"))
            }
        }
    }

    #[tool(description = "Asks the user for their name (MRTR elicitation) and greets them")]
    async fn test_input_required_result_elicitation(
        &self,
        context: RequestContext<RoleServer>,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        require(&context, &[Need::Elicitation])?;
        match answer::<ElicitResult>(responses.as_ref(), "user_name")? {
            None => ask([("user_name", ask_name("What is your name?")?)], None),
            Some(reply) => complete(greeting(&reply)?),
        }
    }

    #[tool(
        description = "Asks the client's model a question (MRTR sampling) and returns the answer"
    )]
    async fn test_input_required_result_sampling(
        &self,
        context: RequestContext<RoleServer>,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        require(&context, &[Need::Sampling])?;
        match answer::<CreateMessageResult>(responses.as_ref(), "capital_question")? {
            None => ask(
                [(
                    "capital_question",
                    sampling("What is the capital of France?", 100)?,
                )],
                None,
            ),
            Some(reply) => complete(format!("The model answered: {}", sampled_text(&reply)?)),
        }
    }

    #[tool(description = "Asks the client for its roots (MRTR roots/list) and lists them")]
    async fn test_input_required_result_list_roots(
        &self,
        context: RequestContext<RoleServer>,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        require(&context, &[Need::Roots])?;
        match answer::<ListRootsResult>(responses.as_ref(), "client_roots")? {
            None => ask([("client_roots", roots()?)], None),
            Some(roots) => complete(describe_roots(&roots)),
        }
    }

    #[tool(
        description = "Asks for a confirmation and carries a sealed requestState across the round trip"
    )]
    async fn test_input_required_result_request_state(
        &self,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        sealed_confirmation(
            &self.request_state,
            "test_input_required_result_request_state",
            &context,
            state,
            responses,
        )
    }

    #[tool(
        description = "Like the request-state tool; a requestState that fails verification is rejected"
    )]
    async fn test_input_required_result_tampered_state(
        &self,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        sealed_confirmation(
            &self.request_state,
            "test_input_required_result_tampered_state",
            &context,
            state,
            responses,
        )
    }

    #[tool(
        description = "Asks for a name, a model-written greeting and the client's roots in one round; re-asks whatever is missing"
    )]
    async fn test_input_required_result_multiple_inputs(
        &self,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        const TOOL: &str = "test_input_required_result_multiple_inputs";
        require(&context, &[Need::Elicitation, Need::Sampling, Need::Roots])?;
        let started = match state {
            Some(state) => self.request_state.open::<u64>(TOOL, &context, &state)?,
            None if responses.is_some() => return Err(missing_state()),
            None => self.request_state.now(),
        };
        let responses = responses.as_ref();
        let name = answer::<ElicitResult>(responses, "user_name")?;
        let greeting_text = answer::<CreateMessageResult>(responses, "greeting")?;
        let root_list = answer::<ListRootsResult>(responses, "client_roots")?;
        if let (Some(name), Some(greeting_text), Some(root_list)) =
            (&name, &greeting_text, &root_list)
        {
            return complete(format!(
                "{} The model suggests: {}. {}",
                greeting(name)?,
                sampled_text(greeting_text)?,
                describe_roots(root_list)
            ));
        }
        let mut missing = Vec::new();
        if name.is_none() {
            missing.push(("user_name", ask_name("What is your name?")?));
        }
        if greeting_text.is_none() {
            missing.push(("greeting", sampling("Generate a greeting", 50)?));
        }
        if root_list.is_none() {
            missing.push(("client_roots", roots()?));
        }
        ask(
            missing,
            Some(self.request_state.seal(TOOL, &context, &started)?),
        )
    }

    #[tool(
        description = "Asks for a name, then a favourite colour, in two rounds carried by requestState"
    )]
    async fn test_input_required_result_multi_round(
        &self,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        const TOOL: &str = "test_input_required_result_multi_round";
        require(&context, &[Need::Elicitation])?;
        let round = match state {
            Some(state) => self.request_state.open::<Round>(TOOL, &context, &state)?,
            None if responses.is_some() => return Err(missing_state()),
            None => Round::Name,
        };
        let responses = responses.as_ref();
        let next = match round {
            Round::Name => match answer::<ElicitResult>(responses, "step1")? {
                Some(reply) => match accepted(&reply, "name")? {
                    Some(Value::String(name)) => Round::Color { name },
                    Some(_) => return Err(wrong_type("step1", "name", "a string")),
                    None => return complete("No name was given, so there is nothing to ask next."),
                },
                None => Round::Name,
            },
            Round::Color { name } => match answer::<ElicitResult>(responses, "step2")? {
                Some(reply) => match accepted(&reply, "color")? {
                    Some(Value::String(color)) => {
                        return complete(format!("{name}'s favorite color is {color}."));
                    }
                    Some(_) => return Err(wrong_type("step2", "color", "a string")),
                    None => {
                        return complete(format!(
                            "{name} kept their favorite color to themselves."
                        ));
                    }
                },
                None => Round::Color { name },
            },
        };
        let question = match &next {
            Round::Name => ("step1", ask_name("Step 1: What is your name?")?),
            Round::Color { .. } => (
                "step2",
                elicitation("Step 2: What is your favorite color?", "color", "string")?,
            ),
        };
        ask(
            [question],
            Some(self.request_state.seal(TOOL, &context, &next)?),
        )
    }

    #[tool(
        description = "Gathers context through whichever of elicitation, sampling and roots the client declared, and nothing else"
    )]
    async fn test_input_required_result_capabilities(
        &self,
        context: RequestContext<RoleServer>,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        require(&context, &[])?;
        let declared = context.client_capabilities().unwrap_or_default();
        let responses = responses.as_ref();
        let mut found = Vec::new();
        let mut missing = Vec::new();
        if declared.elicitation.is_some() {
            match answer::<ElicitResult>(responses, "user_name")? {
                Some(reply) => found.push(greeting(&reply)?),
                None => missing.push(("user_name", ask_name("What is your name?")?)),
            }
        }
        if declared.sampling.is_some() {
            match answer::<CreateMessageResult>(responses, "greeting")? {
                Some(reply) => {
                    found.push(format!("The model suggests: {}.", sampled_text(&reply)?))
                }
                None => missing.push(("greeting", sampling("Generate a greeting", 50)?)),
            }
        }
        if declared.roots.is_some() {
            match answer::<ListRootsResult>(responses, "client_roots")? {
                Some(reply) => found.push(describe_roots(&reply)),
                None => missing.push(("client_roots", roots()?)),
            }
        }
        if !missing.is_empty() {
            return ask(missing, None);
        }
        if found.is_empty() {
            return complete(
                "The client declared none of elicitation, sampling and roots, so there was nothing to ask.",
            );
        }
        complete(found.join(" "))
    }
}

/// The two steps of `test_input_required_result_multi_round`, sealed into its `requestState`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Round {
    Name,
    Color { name: String },
}

/// A client capability a fixture depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Need {
    /// `elicitation/create`.
    Elicitation,
    /// `sampling/createMessage`.
    Sampling,
    /// `roots/list`.
    Roots,
}

/// Checks that client input can be asked for at all: only through MRTR (2026-07-28 or newer),
/// and only for capabilities the request declares (else `-32021` naming the missing ones).
pub(crate) fn require(
    context: &RequestContext<RoleServer>,
    needs: &[Need],
) -> Result<(), ErrorData> {
    if !context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
    {
        return Err(ErrorData::invalid_request(
            "this tool asks the client for input with an InputRequiredResult (protocol 2026-07-28 or newer); \
             this stateless server has no channel for server-to-client requests on older versions",
            None,
        ));
    }
    let declared = context.client_capabilities().unwrap_or_default();
    let mut missing = serde_json::Map::new();
    for need in needs {
        let (name, present) = match need {
            Need::Elicitation => ("elicitation", declared.elicitation.is_some()),
            Need::Sampling => ("sampling", declared.sampling.is_some()),
            Need::Roots => ("roots", declared.roots.is_some()),
        };
        if !present {
            missing.insert(name.to_owned(), json!({}));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let required: ClientCapabilities = serde_json::from_value(Value::Object(missing))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Err(ErrorData::missing_required_client_capability(required))
}

/// An `InputRequiredResult` asking for `requests`, with an optional sealed state.
pub(crate) fn ask<T: From<InputRequiredResult>>(
    requests: impl IntoIterator<Item = (&'static str, InputRequest)>,
    state: Option<String>,
) -> Result<T, ErrorData> {
    let requests: InputRequests = requests
        .into_iter()
        .map(|(key, request)| (key.to_owned(), request))
        .collect();
    Ok(InputRequiredResult::new(Some(requests), state).into())
}

fn complete(text: impl Into<String>) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
}

fn input_request(request: Value) -> Result<InputRequest, ErrorData> {
    serde_json::from_value(request).map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

/// An `elicitation/create` form asking for one required property of JSON type `kind`.
pub(crate) fn elicitation(
    message: &str,
    property: &str,
    kind: &str,
) -> Result<InputRequest, ErrorData> {
    input_request(json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": { property: { "type": kind } },
                "required": [property]
            }
        }
    }))
}

fn ask_name(message: &str) -> Result<InputRequest, ErrorData> {
    elicitation(message, "name", "string")
}

fn sampling(prompt: &str, max_tokens: u32) -> Result<InputRequest, ErrorData> {
    input_request(json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
            "maxTokens": max_tokens
        }
    }))
}

fn roots() -> Result<InputRequest, ErrorData> {
    input_request(json!({ "method": "roots/list", "params": {} }))
}

/// The client's answer under `key`, checked against the result type of the request asked there.
/// `None` when the client did not answer it (the caller asks again); extra keys are ignored.
pub(crate) fn answer<T: DeserializeOwned>(
    responses: Option<&ResponseMap>,
    key: &str,
) -> Result<Option<T>, ErrorData> {
    let Some(value) = responses.and_then(|responses| responses.get(key)) else {
        return Ok(None);
    };
    serde_json::from_value(value.clone())
        .map(Some)
        .map_err(|e| {
            ErrorData::invalid_params(
                format!(
                    "inputResponses.{key} is not a valid response to the request asked there: {e}"
                ),
                None,
            )
        })
}

/// The accepted value of `field`, or `None` when the user declined or cancelled.
pub(crate) fn accepted(reply: &ElicitResult, field: &str) -> Result<Option<Value>, ErrorData> {
    if reply.action != ElicitationAction::Accept {
        return Ok(None);
    }
    reply
        .content
        .as_ref()
        .and_then(|content| content.get(field))
        .cloned()
        .map(Some)
        .ok_or_else(|| {
            ErrorData::invalid_params(
                format!("an accepted elicitation must carry content.{field}"),
                None,
            )
        })
}

fn wrong_type(key: &str, field: &str, expected: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("inputResponses.{key}.content.{field} must be {expected}"),
        None,
    )
}

fn greeting(reply: &ElicitResult) -> Result<String, ErrorData> {
    match accepted(reply, "name")? {
        Some(Value::String(name)) => Ok(format!("Hello, {name}!")),
        Some(_) => Err(wrong_type("user_name", "name", "a string")),
        None => Ok("Hello, stranger (no name was given)!".to_owned()),
    }
}

fn sampled_text(reply: &CreateMessageResult) -> Result<String, ErrorData> {
    let text: Vec<&str> = reply
        .message
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|text| text.text.as_str())
        .collect();
    if text.is_empty() {
        return Err(ErrorData::invalid_params(
            "the sampling response carries no text content",
            None,
        ));
    }
    Ok(text.join(" "))
}

fn describe_roots(roots: &ListRootsResult) -> String {
    if roots.roots.is_empty() {
        return "The client shares no roots.".to_owned();
    }
    let list: Vec<String> = roots
        .roots
        .iter()
        .map(|root| match &root.name {
            Some(name) => format!("{} ({name})", root.uri),
            None => root.uri.clone(),
        })
        .collect();
    format!("The client shares these roots: {}.", list.join(", "))
}

/// One confirmation round whose `requestState` must come back intact: the shared body of the
/// request-state and tampered-state fixtures (each seals with its own name, so one's state does
/// not open the other).
fn sealed_confirmation(
    seal: &RequestStateSeal,
    tool: &str,
    context: &RequestContext<RoleServer>,
    state: Option<String>,
    responses: Option<ResponseMap>,
) -> Result<CallToolResponse, ErrorData> {
    require(context, &[Need::Elicitation])?;
    let asked_at = match state {
        Some(state) => seal.open::<u64>(tool, context, &state)?,
        None if responses.is_some() => return Err(missing_state()),
        None => seal.now(),
    };
    match answer::<ElicitResult>(responses.as_ref(), "confirm")? {
        None => ask(
            [("confirm", elicitation("Please confirm", "ok", "boolean")?)],
            Some(seal.seal(tool, context, &asked_at)?),
        ),
        Some(reply) => {
            let verdict = match accepted(&reply, "ok")? {
                Some(Value::Bool(true)) => "confirmed",
                Some(Value::Bool(false)) => "not confirmed",
                Some(_) => return Err(wrong_type("confirm", "ok", "a boolean")),
                None => "dismissed",
            };
            complete(format!(
                "state-ok: requestState verified (asked at {asked_at}); {verdict}"
            ))
        }
    }
}

fn missing_state() -> ErrorData {
    ErrorData::invalid_params(
        "inputResponses without the requestState of the previous round",
        None,
    )
}

/// Seals and opens MRTR `requestState` with a key drawn per process: a retry that reaches
/// another instance starts over, which the protocol allows (the state is only an optimisation).
pub(crate) struct RequestStateSeal {
    key: hmac::Key,
}

impl RequestStateSeal {
    /// A seal with a fresh random key.
    pub(crate) fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // Key generation fails only when the OS has no randomness, and then nothing else would
        // work either.
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &now().to_be_bytes()));
        Self { key }
    }

    fn now(&self) -> u64 {
        now()
    }
}

/// What the tag covers: the parts, each followed by a byte that cannot occur in them.
fn tagged_message(parts: &[&str]) -> Vec<u8> {
    let mut message = Vec::new();
    for part in parts {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    message
}

/// Seconds since the epoch.
#[expect(
    clippy::disallowed_methods,
    reason = "the workspace asks for the handler's Clock; an example on the public API reads the wall clock like any user crate"
)]
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a sealed `requestState` carries.
#[derive(Serialize, Deserialize)]
struct Sealed<T> {
    /// Expiry, seconds since the epoch.
    exp: u64,
    data: T,
}

/// The parts a `requestState` tag binds: the tool, the caller, and the payload.
fn binding<'a>(
    tool: &'a str,
    context: &'a RequestContext<RoleServer>,
    payload: &'a str,
) -> [&'a str; 4] {
    let caller = Caller::of(context);
    [
        tool,
        caller.map_or("", |c| c.client_id.as_str()),
        caller.map_or("", |c| c.subject.as_str()),
        payload,
    ]
}

impl RequestStateSeal {
    /// Seals `data` into an opaque `requestState`: base64url JSON with an expiry, then an HMAC tag
    /// bound to the tool and the caller.
    pub(crate) fn seal<T: Serialize>(
        &self,
        tool: &str,
        context: &RequestContext<RoleServer>,
        data: &T,
    ) -> Result<String, ErrorData> {
        let sealed = Sealed {
            exp: self.now() + STATE_TTL_SECONDS,
            data,
        };
        let json = serde_json::to_vec(&sealed)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let payload = URL_SAFE_NO_PAD.encode(json);
        let message = tagged_message(&binding(tool, context, &payload));
        let tag = URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, &message));
        Ok(format!("{payload}.{tag}"))
    }

    /// Opens a `requestState` made by [`RequestStateSeal::seal`] for the same tool and caller; anything forged,
    /// altered, replayed by someone else or expired is rejected with `-32602`.
    pub(crate) fn open<T: DeserializeOwned>(
        &self,
        tool: &str,
        context: &RequestContext<RoleServer>,
        state: &str,
    ) -> Result<T, ErrorData> {
        let rejected =
            || ErrorData::invalid_params("requestState failed integrity verification", None);
        let (payload, tag) = state.split_once('.').ok_or_else(rejected)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| rejected())?;
        let message = tagged_message(&binding(tool, context, payload));
        hmac::verify(&self.key, &message, &tag).map_err(|_| rejected())?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| rejected())?;
        let sealed: Sealed<T> = serde_json::from_slice(&json).map_err(|_| rejected())?;
        if sealed.exp < self.now() {
            return Err(ErrorData::invalid_params(
                "requestState has expired; start the request again",
                None,
            ));
        }
        Ok(sealed.data)
    }
}

/// The lowest level a request wants logs at: from 2026-07-28 the `_meta` logLevel (none when
/// absent: no logs); before, every level (there is no session to remember `logging/setLevel`).
fn log_threshold(context: &RequestContext<RoleServer>) -> Option<LoggingLevel> {
    if context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
    {
        context.meta.log_level()
    } else {
        Some(LoggingLevel::Debug)
    }
}

/// Sends a log notification if the request asked for this level; returns whether it did.
pub(crate) async fn log(
    context: &RequestContext<RoleServer>,
    level: LoggingLevel,
    message: &str,
) -> Result<bool, ErrorData> {
    let Some(threshold) = log_threshold(context) else {
        return Ok(false);
    };
    if (level as u8) < (threshold as u8) {
        return Ok(false);
    }
    context
        .peer
        .notify_logging_message(
            LoggingMessageNotificationParam::new(level, json!(message)).with_logger("conformance"),
        )
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(true)
}

/// Applies the rules of [`schema_2020_12`] that serde cannot (the `anyOf` and `if`/`then`/`else`)
/// and renders the contact, or says which rule the input breaks.
fn contact_card(input: ContactInput) -> Result<String, &'static str> {
    if input.phone.is_none() && input.email.is_none() {
        return Err("give a phone or an email (allOf/anyOf)");
    }
    let by_phone = input.contact_method == Some(ContactMethod::Phone);
    let (how, value) = match (by_phone, &input.phone, &input.email) {
        (true, Some(phone), _) => ("phone", phone),
        (true, None, _) => return Err("contactMethod is phone, so phone is required (then)"),
        (false, _, Some(email)) => ("email", email),
        (false, _, None) => return Err("email is required unless contactMethod is phone (else)"),
    };
    let name = input.name.as_deref().unwrap_or("someone");
    let address = input
        .address
        .map(|a| {
            let parts: Vec<String> = [a.street, a.city].into_iter().flatten().collect();
            format!(", at {}", parts.join(", "))
        })
        .unwrap_or_default();
    Ok(format!("Contact {name} by {how}: {value}{address}"))
}
