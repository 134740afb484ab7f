//! The MCP server handler: capabilities, and the glue from rmcp's requests to our tools,
//! prompts and resources.

#![expect(
    deprecated,
    reason = "logging is part of every protocol version up to 2025-11-25, which this server serves"
)]

use std::{borrow::Cow, sync::Arc};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{prompt::PromptContext, router::prompt::PromptRouter, tool::ToolRouter},
    model::{
        CacheScope, CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams,
        GetPromptResponse, Implementation, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams,
        ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    },
    service::RequestContext,
    tool_handler,
};

use crate::{conformance, prompts, resources};

/// The server: every fixture of the conformance suite. Cloned per request; all state is shared.
#[derive(Clone)]
pub struct Everything {
    pub(crate) tool_router: Arc<ToolRouter<Self>>,
    pub(crate) prompt_router: Arc<PromptRouter<Self>>,
    pub(crate) request_state: Arc<conformance::RequestStateSeal>,
}

impl Everything {
    /// The server with every tool, prompt and resource.
    pub fn new() -> Self {
        Self {
            request_state: Arc::new(conformance::RequestStateSeal::new()),
            tool_router: Arc::new(conformance::tool_router()),
            prompt_router: Arc::new(prompts::router()),
        }
    }
}

impl Default for Everything {
    fn default() -> Self {
        Self::new()
    }
}

// Prompts are routed by hand instead of `#[prompt_handler]`, whose `get_prompt` drops the MRTR
// fields (`inputResponses`, `requestState`) that a prompt asking for client input needs.
#[tool_handler(router = self.tool_router)]
impl ServerHandler for Everything {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_logging()
                .enable_completions()
                .build(),
        )
        .with_server_info(Implementation::new("mcpctl-everything", env!("CARGO_PKG_VERSION")))
        .with_instructions("The MCP conformance suite's fixture server (tools, prompts, resources, completions, MRTR), on mcpctl.")
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [rmcp::model::ProtocolVersion]> {
        Cow::Borrowed(rmcp::model::ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let mut result = ListPromptsResult::with_all_items(self.prompt_router.list_all());
        if context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
        {
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Public);
        }
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        context.extensions.insert(prompts::Continuation {
            input_responses: request.input_responses,
        });
        self.prompt_router
            .get_prompt(PromptContext::new(
                self,
                request.name,
                request.arguments,
                context,
            ))
            .await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&request.uri, &context).map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let values = prompts::complete(
            &request.r#ref,
            &request.argument.name,
            &request.argument.value,
        );
        let info = CompletionInfo::with_all_values(values)
            .map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Stateless: there is no session to remember the level in. Each tool call sends its log
        // notifications on its own response stream; accepting the level keeps clients working.
        Ok(())
    }
}
