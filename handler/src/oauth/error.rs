//! OAuth errors as the RFCs name them. `Display` writes the wire code; the HTTP status and
//! headers are chosen once, in `http::error`.

use crate::store::StoreError;

/// An OAuth protocol error (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 8707 §2, RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// Missing or malformed parameter.
    #[error("invalid_request")]
    InvalidRequest(String),
    /// Client authentication failed (401).
    #[error("invalid_client")]
    InvalidClient(String),
    /// Code or refresh token invalid, expired, revoked, or issued to another client.
    #[error("invalid_grant")]
    InvalidGrant(String),
    /// The client may not use this grant or response type.
    #[error("unauthorized_client")]
    UnauthorizedClient(String),
    /// Unknown `grant_type`.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType(String),
    /// Unknown `response_type`.
    #[error("unsupported_response_type")]
    UnsupportedResponseType(String),
    /// Scope unknown, not allowed, or wider than granted.
    #[error("invalid_scope")]
    InvalidScope(String),
    /// `resource` is not this server's MCP resource (RFC 8707).
    #[error("invalid_target")]
    InvalidTarget(String),
    /// The user or policy refused.
    #[error("access_denied")]
    AccessDenied(String),
    /// Registration metadata rejected (RFC 7591).
    #[error("invalid_client_metadata")]
    InvalidClientMetadata(String),
    /// A redirect URI rejected at registration (RFC 7591).
    #[error("invalid_redirect_uri")]
    InvalidRedirectUri(String),
    /// A bearer token (registration access token, access token) is missing or invalid (401).
    #[error("invalid_token")]
    InvalidToken(String),
    /// Storage is throttled or unavailable; retry after the given seconds (503).
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Unexpected failure; the detail is logged, never sent (500).
    #[error("server_error")]
    ServerError(String),
}

impl OAuthError {
    /// The human-readable description sent as `error_description` (never internals).
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidClient(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::UnsupportedResponseType(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::AccessDenied(d)
            | Self::InvalidClientMetadata(d)
            | Self::InvalidRedirectUri(d)
            | Self::InvalidToken(d) => Some(d),
            Self::TemporarilyUnavailable { .. } => Some("the server is busy; retry shortly"),
            Self::ServerError(_) => Some("internal error"),
        }
    }

    /// Shorthand for an `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::InvalidRequest(description.into())
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { retry_after, .. } => {
                Self::TemporarilyUnavailable { retry_after }
            }
            StoreError::Conflict => Self::ServerError("unexpected key conflict in storage".into()),
            StoreError::Internal(detail) => Self::ServerError(detail),
        }
    }
}

impl From<crate::crypto::RandomError> for OAuthError {
    fn from(error: crate::crypto::RandomError) -> Self {
        Self::ServerError(error.to_string())
    }
}
