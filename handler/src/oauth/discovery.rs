//! Discovery documents: RFC 8414 authorization-server metadata, OpenID Connect discovery (with
//! the fields the TypeScript SDK's schema requires), RFC 9728 protected-resource metadata.

use serde_json::{Value, json};

use super::registration::{AUTH_METHODS, GRANT_TYPES};
use crate::config::HandlerConfig;

/// RFC 8414 metadata.
pub fn authorization_server_metadata(config: &HandlerConfig) -> Value {
    let mut doc = json!({
        "issuer": config.issuer(),
        "authorization_endpoint": config.url("/oauth/authorize"),
        "token_endpoint": config.url("/oauth/token"),
        "registration_endpoint": config.url("/dcr"),
        "revocation_endpoint": config.url("/oauth/revoke"),
        "userinfo_endpoint": config.url("/oauth/userinfo"),
        "jwks_uri": config.url("/.well-known/jwks.json"),
        "scopes_supported": config.scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
    });
    if !config.registration_open
        && let Some(map) = doc.as_object_mut()
    {
        map.remove("registration_endpoint");
    }
    doc
}

/// OpenID Connect discovery: the RFC 8414 document plus the OIDC-required fields.
pub fn openid_configuration(config: &HandlerConfig) -> Value {
    let mut doc = authorization_server_metadata(config);
    if let Some(map) = doc.as_object_mut() {
        map.insert("subject_types_supported".into(), json!(["public"]));
        map.insert(
            "id_token_signing_alg_values_supported".into(),
            json!(["ES256"]),
        );
        map.insert(
            "claims_supported".into(),
            json!(["sub", "name", "email", "client_id", "scope"]),
        );
    }
    doc
}

/// RFC 9728 metadata for the MCP resource.
pub fn protected_resource_metadata(config: &HandlerConfig) -> Value {
    json!({
        "resource": config.resource(),
        "authorization_servers": [config.issuer()],
        "scopes_supported": config.scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "mcpctl MCP server",
    })
}
