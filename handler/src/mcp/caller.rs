//! Who is calling: the verified claims of the access token, put in the request extensions by the
//! bearer guard and read by tools (`whoami`) through rmcp's access to the HTTP request parts.

use rmcp::RoleServer;
use rmcp::service::RequestContext;
use serde::Serialize;

use crate::oauth::jwt::{AccessClaims, SubjectKind};

/// The verified caller of an MCP request.
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

    /// The caller of the request behind `context`, if it passed the bearer guard.
    pub fn of(context: &RequestContext<RoleServer>) -> Option<&Caller> {
        context
            .extensions
            .get::<http::request::Parts>()?
            .extensions
            .get::<Caller>()
    }
}
