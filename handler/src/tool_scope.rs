//! Per-tool scopes: a tool declares the OAuth scope it needs in its `_meta`, and the bearer guard
//! refuses a `tools/call` whose token lacks it with the MCP step-up answer (403
//! `insufficient_scope`), before the tool runs.

use std::sync::Arc;

use rmcp::{
    ServerHandler,
    model::{MetaObject, Tool},
};

/// The `_meta` key that carries a tool's required scope (reverse-DNS, as MCP asks of `_meta`).
pub(crate) const REQUIRED_SCOPE_KEY: &str = "io.mcpctl/requiredScope";

/// The `_meta` of a tool that needs `scope`, for rmcp's `#[tool(meta = ...)]`.
///
/// A call whose token lacks the scope gets HTTP 403 with `WWW-Authenticate: Bearer
/// error="insufficient_scope", scope="..."`, so the client can ask the user for it (step-up).
/// Offer the scope in the stage config (`oauth.scopes`), or `mcpctl dev --scope`.
///
/// The guard finds a tool's scope through `ServerHandler::get_tool`, which `#[tool_handler]`
/// implements from the router. A server that writes `call_tool` by hand must implement
/// `get_tool` too, or its scopes are shown in `tools/list` but never enforced.
///
/// ```
/// use rmcp::{handler::server::tool::ToolRouter, tool, tool_router};
///
/// #[derive(Clone)]
/// struct Notes {
///     tool_router: ToolRouter<Self>,
/// }
///
/// #[tool_router]
/// impl Notes {
///     /// Deletes every note.
///     #[tool(description = "Delete all notes", meta = mcpctl_handler::requires_scope("notes:write"))]
///     async fn clear(&self) -> String {
///         "cleared".into()
///     }
/// }
///
/// let tool = Notes::tool_router().get("clear").cloned().unwrap();
/// assert_eq!(tool.meta.unwrap().0["io.mcpctl/requiredScope"], "notes:write");
/// ```
pub fn requires_scope(scope: &str) -> MetaObject {
    let mut meta = MetaObject::default();
    meta.0.insert(REQUIRED_SCOPE_KEY.to_owned(), scope.into());
    meta
}

/// The scope a tool declared with [`requires_scope`].
pub(crate) fn required_scope(tool: &Tool) -> Option<String> {
    tool.meta
        .as_ref()?
        .0
        .get(REQUIRED_SCOPE_KEY)?
        .as_str()
        .map(str::to_owned)
}

/// A tool name to the scope it needs.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Whether the served server has a tool, by name.
type Known = dyn Fn(&str) -> bool + Send + Sync;

/// Looks up the scope a tool of the served server needs, by tool name.
#[derive(Clone)]
pub struct ToolScopes {
    scope: Arc<Lookup>,
    known: Option<Arc<Known>>,
}

impl ToolScopes {
    /// The tools of `server` (rmcp's `get_tool`, which `#[tool_handler]` answers from the router).
    pub fn of<S>(server: &S) -> Self
    where
        S: ServerHandler + Clone + Send + Sync + 'static,
    {
        let known = server.clone();
        let server = server.clone();
        Self {
            scope: Arc::new(move |name| server.get_tool(name).as_ref().and_then(required_scope)),
            known: Some(Arc::new(move |name| known.get_tool(name).is_some())),
        }
    }

    /// A fixed map of tool name to scope (the gateway's, from the stage configuration).
    pub fn from_map(map: std::collections::BTreeMap<String, String>) -> Self {
        let known = map.clone();
        Self {
            scope: Arc::new(move |name| map.get(name).cloned()),
            known: Some(Arc::new(move |name| known.contains_key(name))),
        }
    }

    /// The scope `tool` needs beyond the MCP scope, if any.
    pub fn required(&self, tool: &str) -> Option<String> {
        (self.scope)(tool)
    }

    /// Whether the server has `tool`; `None` when that cannot be told (a fixed map).
    pub fn has(&self, tool: &str) -> Option<bool> {
        self.known.as_ref().map(|known| known(tool))
    }
}

impl std::fmt::Debug for ToolScopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToolScopes(..)")
    }
}
