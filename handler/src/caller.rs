//! Who is calling: the verified claims of the access token, put in the request extensions by the
//! bearer guard and read by tools through rmcp's access to the HTTP request parts.

use rmcp::{
    ErrorData, RoleServer,
    handler::server::common::{AsRequestContext, FromContextPart},
    service::RequestContext,
};
use serde::Serialize;

use crate::oauth::jwt::AccessClaims;
pub use crate::oauth::jwt::SubjectKind;

/// The verified caller of an MCP request: who signed in, through which client, with which scopes.
///
/// Take it as a tool parameter, like rmcp's own extractors; the bearer guard has already checked
/// the token, so a tool never sees an unauthenticated call:
///
/// ```
/// use mcpctl_handler::Caller;
/// use rmcp::{ServerHandler, handler::server::tool::ToolRouter, tool, tool_handler, tool_router};
///
/// #[derive(Clone)]
/// struct Server {
///     tool_router: ToolRouter<Self>,
/// }
///
/// #[tool_router]
/// impl Server {
///     /// Greets the signed-in user.
///     #[tool(description = "Say hello to the caller")]
///     async fn hello(&self, caller: Caller) -> String {
///         let who = caller.email.as_deref().unwrap_or(&caller.subject);
///         let kind = if caller.is_person() { "person" } else { "machine client" };
///         format!("Hello {who} ({kind}, client {}, scopes {:?})", caller.client_id, caller.scopes)
///     }
/// }
///
/// #[tool_handler(router = self.tool_router)]
/// impl ServerHandler for Server {}
/// # let _ = Server { tool_router: Server::tool_router() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The OAuth client.
    pub client_id: String,
    /// A person, or a machine client acting for itself.
    pub kind: SubjectKind,
    /// The user (or the client itself for client_credentials).
    pub subject: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// User display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// User e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's groups at the upstream identity provider.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Access-token expiry (epoch seconds).
    pub expires_at: u64,
}

impl From<AccessClaims> for Caller {
    fn from(claims: AccessClaims) -> Self {
        Self {
            scopes: claims
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            client_id: claims.client_id,
            kind: claims.kind,
            subject: claims.sub,
            name: claims.name,
            email: claims.email,
            groups: claims.groups,
            expires_at: claims.exp,
        }
    }
}

impl Caller {
    /// Whether a person signed in for this request (not a machine client).
    pub fn is_person(&self) -> bool {
        self.kind == SubjectKind::Person
    }

    /// Whether the access token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }

    /// The caller of the request behind `context`, if it passed the bearer guard (for handlers
    /// that take the whole [`RequestContext`] instead of a `Caller` parameter).
    pub fn of(context: &RequestContext<RoleServer>) -> Option<&Caller> {
        context
            .extensions
            .get::<http::request::Parts>()?
            .extensions
            .get::<Caller>()
    }
}

impl<C: AsRequestContext> FromContextPart<C> for Caller {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        // Only a host that skipped the bearer guard gets here without a caller: a bug, not the
        // client's fault, so an internal error rather than an auth failure.
        Caller::of(context.as_request_context())
            .cloned()
            .ok_or_else(|| {
                ErrorData::internal_error(
                    "the request reached the tool without a verified caller (no bearer guard in front)",
                    None,
                )
            })
    }
}
