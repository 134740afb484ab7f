//! Resources: a server-info document and an echo template, plus the conformance fixtures.

use rmcp::{
    ErrorData, RoleServer,
    model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate},
    service::RequestContext,
};

use super::conformance::PNG_1X1;

const SERVER_INFO: &str = "mcpctl://server/info";

/// Static resources.
pub(crate) fn list() -> Vec<Resource> {
    vec![
        Resource::new(SERVER_INFO, "server-info")
            .with_description("What this server is and which protocol versions it speaks")
            .with_mime_type("application/json"),
        Resource::new("test://static-text", "Static Text Resource")
            .with_description("A static text resource for testing")
            .with_mime_type("text/plain"),
        Resource::new("test://static-binary", "Static Binary Resource")
            .with_description("A static binary resource (image) for testing")
            .with_mime_type("image/png"),
    ]
}

/// Resource templates.
pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("mcpctl://echo/{message}", "echo")
            .with_description("Echoes the message in the URI")
            .with_mime_type("text/plain"),
        ResourceTemplate::new("test://template/{id}/data", "Resource Template")
            .with_description("A resource template with parameter substitution")
            .with_mime_type("application/json"),
    ]
}

/// Reads a resource by URI.
pub(crate) fn read(
    uri: &str,
    context: &RequestContext<RoleServer>,
) -> Result<ReadResourceResult, ErrorData> {
    let contents = if uri == SERVER_INFO {
        let info = serde_json::json!({
            "name": "mcpctl-everything",
            "version": env!("CARGO_PKG_VERSION"),
            "protocol_versions": rmcp::model::ProtocolVersion::KNOWN_VERSIONS.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
            "transport": "streamable-http (stateless, JSON responses)",
        });
        ResourceContents::text(info.to_string(), uri).with_mime_type("application/json")
    } else if let Some(message) = uri.strip_prefix("mcpctl://echo/") {
        ResourceContents::text(message, uri)
    } else if uri == "test://static-text" {
        ResourceContents::text("This is the content of the static text resource.", uri)
    } else if uri == "test://static-binary" {
        ResourceContents::blob(PNG_1X1, uri).with_mime_type("image/png")
    } else if let Some(id) = uri
        .strip_prefix("test://template/")
        .and_then(|rest| rest.strip_suffix("/data"))
    {
        let body = serde_json::json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
        ResourceContents::text(body.to_string(), uri).with_mime_type("application/json")
    } else {
        return Err(not_found(uri, context));
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// -32002 before 2026-07-28, -32602 from it on (the revision folded resource-not-found into invalid params).
fn not_found(uri: &str, context: &RequestContext<RoleServer>) -> ErrorData {
    let message = format!(
        "resource not found: {}",
        uri.chars().take(200).collect::<String>()
    );
    let data = Some(serde_json::json!({ "uri": uri }));
    if context
        .protocol_version()
        .is_some_and(|v| v >= rmcp::model::ProtocolVersion::V_2026_07_28)
    {
        ErrorData::invalid_params(message, data)
    } else {
        ErrorData::resource_not_found(message, data)
    }
}
