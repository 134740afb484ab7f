//! The server's name, title, version and instructions from the stage configuration
//! (`server:` in config/<stage>.yaml, `MCP_SERVER_*` on Lambda), laid over what the user's
//! [`ServerHandler`] says about itself, in `initialize`, `server/discover` and `get_info`.
//!
//! Written by hand because rmcp has no hook for it: [`Identified`] forwards every
//! [`ServerHandler`] method to the wrapped server, the same list rmcp's own `Box`/`Arc`
//! forwarding uses (`impl_server_handler_for_wrapper!` in rmcp 3.9), and changes only those three.
//! A method rmcp adds later would fall back to its default here: the conformance suite, which
//! runs through this wrapper, is what catches that.
//!
//! It is also where rmcp's one parse of a request reaches the bearer guard ([`Dispatched`]): each
//! method notes its name (the access log's `mcp_method`), and `tools/call` checks the tool's
//! scope against the caller's token before the tool runs, and notes whether the tool failed
//! (the per-tool error metric).

#![allow(deprecated)]

use std::borrow::Cow;

use crate::{Caller, http::mcp_guard::Dispatched, tool_scope::required_scope};

use rmcp::{
    ErrorData as McpError, ServerHandler,
    model::*,
    service::{
        MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
    },
};

/// What the configuration says about the server; `None` keeps the server's own value.
///
/// Set from `MCP_SERVER_*` by [`HandlerConfig::from_env`](crate::config::HandlerConfig::from_env);
/// in code, set [`HandlerConfig::server_identity`](crate::config::HandlerConfig::server_identity):
///
/// ```
/// use mcpctl_handler::{config::HandlerConfig, mcp::ServerIdentity};
///
/// let mut config = HandlerConfig::new("https://mcp.example.com".parse().unwrap());
/// config.server_identity = ServerIdentity {
///     name: Some("notes".into()),
///     instructions: Some("Ask before deleting a note.".into()),
///     ..ServerIdentity::default()
/// };
/// assert_eq!(config.server_identity.name.as_deref(), Some("notes"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerIdentity {
    /// `serverInfo.name`.
    pub name: Option<String>,
    /// `serverInfo.title`.
    pub title: Option<String>,
    /// `serverInfo.version`.
    pub version: Option<String>,
    /// The `instructions` of `initialize` and `server/discover`.
    pub instructions: Option<String>,
}

impl ServerIdentity {
    fn apply(&self, info: &mut Implementation, instructions: &mut Option<String>) {
        if let Some(name) = &self.name {
            info.name = name.clone();
        }
        if let Some(title) = &self.title {
            info.title = Some(title.clone());
        }
        if let Some(version) = &self.version {
            info.version = version.clone();
        }
        if let Some(text) = &self.instructions {
            *instructions = Some(text.clone());
        }
    }
}

/// The user's server with the configured identity laid over its own. [`crate::mcp::service`]
/// wraps every server in it; a server never needs to name it.
///
/// ```
/// use mcpctl_handler::mcp::{Identified, ServerIdentity};
/// use rmcp::ServerHandler;
///
/// #[derive(Clone)]
/// struct Plain;
/// impl ServerHandler for Plain {}
///
/// let named = ServerIdentity { name: Some("notes".into()), ..ServerIdentity::default() };
/// let server = Identified::new(Plain, named);
/// assert_eq!(server.get_info().server_info.name, "notes");
/// ```
#[derive(Debug, Clone)]
pub struct Identified<T> {
    inner: T,
    // Shared: the stateless service clones the server for every request.
    identity: std::sync::Arc<ServerIdentity>,
}

impl<T> Identified<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, identity: ServerIdentity) -> Self {
        Self {
            inner,
            identity: std::sync::Arc::new(identity),
        }
    }
}

impl<T: ServerHandler> ServerHandler for Identified<T> {
    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "ping");
        self.inner.ping(context)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        note(&context.extensions, "initialize");
        let mut result = self.inner.initialize(request, context).await?;
        self.identity
            .apply(&mut result.server_info, &mut result.instructions);
        Ok(result)
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        note(&context.extensions, "server/discover");
        let mut result = self.inner.discover(context).await?;
        let mut info = result
            .server_info()
            .unwrap_or_else(|| self.inner.get_info().server_info);
        self.identity.apply(&mut info, &mut result.instructions);
        result.set_server_info(info);
        Ok(result)
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "completion/complete");
        self.inner.complete(request, context)
    }

    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "logging/setLevel");
        self.inner.set_level(request, context)
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetPromptResponse, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "prompts/get");
        self.inner.get_prompt(request, context)
    }

    fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "prompts/list");
        self.inner.list_prompts(request, context)
    }

    fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "resources/list");
        self.inner.list_resources(request, context)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, McpError>> + MaybeSendFuture + '_
    {
        note(&context.extensions, "resources/templates/list");
        self.inner.list_resource_templates(request, context)
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "resources/read");
        self.inner.read_resource(request, context)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.listen(context)
    }

    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "resources/subscribe");
        self.inner.subscribe(request, context)
    }

    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "resources/unsubscribe");
        self.inner.unsubscribe(request, context)
    }

    fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, McpError>> + MaybeSendFuture + '_ {
        // The one lookup of the tool per call: whether the server has it, and the scope it
        // declared, checked against the caller's token before the tool can run.
        let tool = self.inner.get_tool(&request.name);
        let missing = tool
            .as_ref()
            .and_then(required_scope)
            .filter(|scope| !Caller::of(&context).is_some_and(|caller| caller.has_scope(scope)));
        let dispatched = dispatched_of(&context.extensions);
        if let Some(dispatched) = &dispatched {
            dispatched.note_method(Cow::Borrowed("tools/call"));
            dispatched.note_tool(&request.name, tool.is_some(), missing.clone());
        }
        let call = missing
            .is_none()
            .then(|| self.inner.call_tool(request, context));
        async move {
            let Some(call) = call else {
                // The guard answers 403 insufficient_scope instead (MCP step-up); this error
                // is what a host without the guard in front sends.
                return Err(McpError::invalid_request(
                    "this tool needs a scope the access token lacks",
                    None,
                ));
            };
            let result = call.await;
            let failed = match &result {
                Ok(CallToolResponse::Complete(done)) => done.is_error == Some(true),
                Ok(_) => false,
                Err(_) => true,
            };
            if failed && let Some(dispatched) = dispatched {
                dispatched.set_failed();
            }
            result
        }
    }

    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "tools/list");
        self.inner.list_tools(request, context)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, McpError>> + MaybeSendFuture + '_ {
        note_owned(&context.extensions, &request.method);
        // rmcp reads a request whose params do not fit its method's type (a repeated key, a
        // tool name that is a number, positional params) as a custom request of that name.
        // It is an MCP method with invalid params (JSON-RPC -32602), not an unknown method,
        // and it must not reach a server's own custom-request handler.
        let invalid = MCP_REQUESTS.contains(&request.method.as_str()).then(|| {
            format!(
                "Invalid params: the params of `{}` do not fit it",
                request.method
            )
        });
        let call = invalid
            .is_none()
            .then(|| self.inner.on_custom_request(request, context));
        async move {
            match call {
                Some(call) => call.await,
                None => Err(McpError::invalid_params(invalid.unwrap_or_default(), None)),
            }
        }
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        note(&context.extensions, "notifications/cancelled");
        self.inner.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        note(&context.extensions, "notifications/progress");
        self.inner.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        note(&context.extensions, "notifications/initialized");
        self.inner.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        note(&context.extensions, "notifications/roots/list_changed");
        self.inner.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        note_owned(&context.extensions, &notification.method);
        self.inner.on_custom_notification(notification, context)
    }

    fn get_info(&self) -> ServerConfig {
        let mut info = self.inner.get_info();
        self.identity
            .apply(&mut info.server_info, &mut info.instructions);
        info
    }

    fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "tasks/get");
        self.inner.get_task(request, context)
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "tasks/update");
        self.inner.update_task(request, context)
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "tasks/cancel");
        self.inner.cancel_task(request, context)
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "skills/list");
        self.inner.list_skills(request, context)
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, McpError>> + MaybeSendFuture + '_ {
        note(&context.extensions, "skills/get");
        self.inner.get_skill(request, context)
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, McpError>> + MaybeSendFuture + '_
    {
        note(&context.extensions, "resources/directory/read");
        self.inner.read_resource_directory(request, context)
    }
}

/// The requests of every MCP revision that rmcp dispatches to a method of its own, so that one
/// reaching `on_custom_request` had params rmcp could not read. (Methods a revision removed,
/// such as `initialize` in 2026-07-28, arrive there too and must stay "method not found".)
const MCP_REQUESTS: &[&str] = &[
    "tools/call",
    "tools/list",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "completion/complete",
];

/// The guard's slot of the request behind `extensions` (rmcp puts the HTTP parts there).
fn dispatched_of(extensions: &rmcp::model::Extensions) -> Option<Dispatched> {
    extensions
        .get::<axum::http::request::Parts>()?
        .extensions
        .get::<Dispatched>()
        .cloned()
}

/// Notes the MCP method of the request behind `extensions` for the guard.
fn note(extensions: &rmcp::model::Extensions, method: &'static str) {
    if let Some(dispatched) = dispatched_of(extensions) {
        dispatched.note_method(Cow::Borrowed(method));
    }
}

/// [`note`] for a method named by the client (a custom request or notification).
fn note_owned(extensions: &rmcp::model::Extensions, method: &str) {
    if let Some(dispatched) = dispatched_of(extensions) {
        dispatched.note_method(Cow::Owned(method.chars().take(64).collect()));
    }
}
