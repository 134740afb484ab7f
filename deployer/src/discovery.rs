//! Finds a server's authorization server from its MCP URL, the way an MCP client does: the 401
//! challenge's `resource_metadata` (also under API Gateway's renamed header), then the
//! protected-resource metadata, then the authorization server's metadata; and where the RFCs put
//! those documents.

use mcpctl_handler::oauth::discovery::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use miette::miette;
use reqwest::{Client, StatusCode, header};
use url::Url;

/// What discovery found.
#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    /// RFC 8414 / OIDC document.
    pub(crate) server: AuthorizationServerMetadata,
}

/// `resource_metadata="…"` from a challenge.
pub(crate) fn resource_metadata(challenge: &str) -> Option<String> {
    let start = challenge.find("resource_metadata=\"")? + "resource_metadata=\"".len();
    let end = challenge[start..].find('"')?;
    Some(challenge[start..start + end].to_owned())
}

/// Discovers the authorization server of `mcp_url`.
pub(crate) async fn discover(http: &Client, mcp_url: &str) -> miette::Result<Discovered> {
    let probe = http
        .post(mcp_url)
        .header(header::ACCEPT, crate::probe::MCP_ACCEPT)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}))
        .send()
        .await
        .map_err(|e| {
            miette!(
                help = "check the URL and that the server is running",
                "cannot reach {mcp_url}: {e}"
            )
        })?;
    if probe.status() != StatusCode::UNAUTHORIZED {
        return Err(miette!(
            "{mcp_url} answered HTTP {} without a token; expected 401 with a challenge",
            probe.status()
        ));
    }
    let challenge = [
        header::WWW_AUTHENTICATE.as_str(),
        "x-amzn-remapped-www-authenticate",
    ]
    .iter()
    .find_map(|name| {
        probe
            .headers()
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .and_then(resource_metadata)
    })
    .ok_or_else(|| miette!("{mcp_url} gave no resource_metadata in its 401 challenge"))?;
    let resource: ProtectedResourceMetadata = get(http, &challenge).await?;
    if resource.resource.trim_end_matches('/') != mcp_url.trim_end_matches('/') {
        return Err(miette!(
            help = "the server's public URL is misconfigured (MCP_PUBLIC_URL, or --public-url for mcpctl dev)",
            "{challenge} describes {} but you asked for {mcp_url}",
            resource.resource
        ));
    }
    let issuer = resource
        .authorization_servers
        .first()
        .ok_or_else(|| miette!("{challenge} lists no authorization server"))?
        .trim_end_matches('/')
        .to_owned();
    let server: AuthorizationServerMetadata =
        match get(http, &format!("{issuer}/.well-known/openid-configuration")).await {
            Ok(server) => server,
            Err(_) => {
                get(
                    http,
                    &format!("{issuer}/.well-known/oauth-authorization-server"),
                )
                .await?
            }
        };
    Ok(Discovered { server })
}

async fn get<T: serde::de::DeserializeOwned>(http: &Client, url: &str) -> miette::Result<T> {
    crate::probe::get_json(http, url)
        .await
        .map_err(|message| miette!("{message}"))
}

/// The RFC 8414 §3.1 location of an issuer's metadata: `/.well-known/oauth-authorization-server`
/// inserted between the origin and the issuer's path.
pub(crate) fn rfc8414_url(issuer: &Url) -> String {
    well_known(issuer, "oauth-authorization-server")
}

/// The RFC 9728 §3.1 location of a resource's metadata: `/.well-known/oauth-protected-resource`
/// inserted between the origin and the resource's path (outside an API Gateway stage prefix).
pub(crate) fn rfc9728_url(resource: &Url) -> String {
    well_known(resource, "oauth-protected-resource")
}

fn well_known(url: &Url, name: &str) -> String {
    let path = url.path().trim_end_matches('/');
    format!(
        "{}/.well-known/{name}{path}",
        url.origin().ascii_serialization()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parsing_and_well_known_locations() {
        assert_eq!(
            resource_metadata(r#"Bearer resource_metadata="https://a/prod/.well-known/oauth-protected-resource/mcp", scope="mcp""#).as_deref(),
            Some("https://a/prod/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(resource_metadata("Bearer realm=\"x\""), None);
        assert_eq!(
            rfc8414_url(&Url::parse("https://a.example/prod").unwrap()),
            "https://a.example/.well-known/oauth-authorization-server/prod"
        );
        assert_eq!(
            rfc8414_url(&Url::parse("https://a.example").unwrap()),
            "https://a.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            rfc9728_url(&Url::parse("https://a.example/prod/mcp").unwrap()),
            "https://a.example/.well-known/oauth-protected-resource/prod/mcp"
        );
        assert_eq!(
            rfc9728_url(&Url::parse("http://127.0.0.1:8787/mcp").unwrap()),
            "http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp"
        );
    }
}
