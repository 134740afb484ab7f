//! Discovery documents: RFC 8414 authorization-server metadata, OpenID Connect discovery (with
//! the fields the TypeScript SDK's schema requires), RFC 9728 protected-resource metadata.
//! The types are shared with `mcpctl smoke-test`, which reads them back, so the two cannot drift.

use serde::{Deserialize, Serialize};

use super::registration::{AUTH_METHODS, GRANT_TYPES};
use crate::config::HandlerConfig;

/// RFC 8414 authorization-server metadata, plus the OpenID Connect fields when served as
/// `openid-configuration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    /// Issuer identifier.
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// RFC 7591 endpoint (absent when registration is closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// RFC 7009 endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// OIDC userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Scopes.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// `code`.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// `query`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    /// Grants.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication methods at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// `S256`.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// Client ID Metadata Documents.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    /// OIDC: subject types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_types_supported: Option<Vec<String>>,
    /// OIDC: ID token algorithms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// OIDC: claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_supported: Option<Vec<String>>,
}

/// RFC 9728 protected-resource metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier (the MCP URL).
    pub resource: String,
    /// Issuers that protect it.
    pub authorization_servers: Vec<String>,
    /// Scopes.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// `header`.
    #[serde(default)]
    pub bearer_methods_supported: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// RFC 8414 metadata.
pub fn authorization_server_metadata(config: &HandlerConfig) -> AuthorizationServerMetadata {
    AuthorizationServerMetadata {
        issuer: config.issuer(),
        authorization_endpoint: config.url("/oauth/authorize"),
        token_endpoint: config.url("/oauth/token"),
        registration_endpoint: config.registration_open.then(|| config.url("/dcr")),
        revocation_endpoint: Some(config.url("/oauth/revoke")),
        userinfo_endpoint: Some(config.url("/oauth/userinfo")),
        jwks_uri: Some(config.url("/.well-known/jwks.json")),
        scopes_supported: config.scopes.clone(),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(GRANT_TYPES),
        token_endpoint_auth_methods_supported: strings(AUTH_METHODS),
        revocation_endpoint_auth_methods_supported: strings(AUTH_METHODS),
        code_challenge_methods_supported: strings(&["S256"]),
        authorization_response_iss_parameter_supported: true,
        client_id_metadata_document_supported: true,
        subject_types_supported: None,
        id_token_signing_alg_values_supported: None,
        claims_supported: None,
    }
}

/// OpenID Connect discovery: the RFC 8414 document plus the OIDC-required fields.
pub fn openid_configuration(config: &HandlerConfig) -> AuthorizationServerMetadata {
    AuthorizationServerMetadata {
        subject_types_supported: Some(strings(&["public"])),
        id_token_signing_alg_values_supported: Some(strings(&["ES256"])),
        claims_supported: Some(strings(&[
            "sub",
            "name",
            "email",
            "groups",
            "client_id",
            "scope",
        ])),
        ..authorization_server_metadata(config)
    }
}

/// RFC 9728 metadata for the MCP resource.
pub fn protected_resource_metadata(config: &HandlerConfig) -> ProtectedResourceMetadata {
    ProtectedResourceMetadata {
        resource: config.resource(),
        authorization_servers: vec![config.issuer()],
        scopes_supported: config.scopes.clone(),
        bearer_methods_supported: strings(&["header"]),
        resource_name: Some("mcpctl MCP server".into()),
    }
}
