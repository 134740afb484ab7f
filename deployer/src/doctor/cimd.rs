//! `cimd`: Client ID Metadata Documents. A client that has one presents its URL as `client_id`
//! instead of registering, but Claude picks CIMD only when the metadata says
//! `client_id_metadata_document_supported: true` *and* lists `none` in
//! `token_endpoint_auth_methods_supported` (a URL-identified client is public); otherwise it
//! falls back to dynamic registration, a new client per connection.

use mcpctl_handler::oauth::discovery::AuthorizationServerMetadata;

use super::{Finding, Probe};
use crate::clients::{ClientShape, names};

/// The check's id.
pub(super) const ID: &str = "cimd";

/// Judges the metadata's CIMD support for the clients that have a document.
pub(super) fn check(probe: &Probe<'_>, metadata: &AuthorizationServerMetadata) -> Finding {
    let with_document: Vec<&ClientShape> =
        probe.clients.iter().filter(|c| c.cimd.is_some()).collect();
    let documents = with_document
        .iter()
        .filter_map(|c| {
            c.cimd
                .as_ref()
                .map(|d| format!("{} ({})", c.name, d.document))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let none = metadata
        .token_endpoint_auth_methods_supported
        .iter()
        .any(|m| m == "none");
    match (metadata.client_id_metadata_document_supported, none) {
        (true, true) => Finding::pass(
            ID,
            format!("supported, with `none`: {documents} can present their documents"),
        ),
        (true, false) => {
            let strict = with_document
                .iter()
                .copied()
                .filter(|c| c.cimd.as_ref().is_some_and(|d| d.needs_auth_method_none));
            Finding::fail(
                ID,
                format!(
                    "client_id_metadata_document_supported is true, but `none` is not in \
                     token_endpoint_auth_methods_supported ({:?}): Claude takes that as no CIMD \
                     and falls back to registration",
                    metadata.token_endpoint_auth_methods_supported
                ),
                "add `none` to `token_endpoint_auth_methods_supported` (a client identified by \
                 its document URL is public and authenticates with PKCE alone), or stop \
                 advertising `client_id_metadata_document_supported`",
                names(strict),
            )
        }
        (false, _) => Finding::warn(
            ID,
            format!(
                "not advertised: {documents} publish CIMD documents, and here fall back to \
                 dynamic registration (a new client for every connection)"
            ),
            "advertise `client_id_metadata_document_supported: true` with `none` in \
             `token_endpoint_auth_methods_supported`, and accept document URLs as client_id \
             (mcpctl-handler does both)",
            names(with_document),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Status, tests::with_probe};

    fn metadata(cimd: bool, methods: &[&str]) -> AuthorizationServerMetadata {
        let config = mcpctl_handler::config::HandlerConfig::new(
            url::Url::parse("https://mcp.example.com").unwrap(),
        );
        AuthorizationServerMetadata {
            client_id_metadata_document_supported: cimd,
            token_endpoint_auth_methods_supported: methods.iter().map(|m| (*m).into()).collect(),
            ..mcpctl_handler::oauth::discovery::authorization_server_metadata(&config)
        }
    }

    #[test]
    fn claude_needs_none_beside_the_flag() {
        with_probe("https://mcp.example.com/mcp", |probe| {
            let finding = check(probe, &metadata(true, &["none", "client_secret_basic"]));
            assert_eq!(finding.status, Status::Pass);

            let finding = check(probe, &metadata(true, &["client_secret_basic"]));
            assert_eq!(finding.status, Status::Fail);
            assert!(
                finding.clients.iter().any(|c| c.contains("claude.ai")),
                "{:?}",
                finding.clients
            );
            assert!(finding.clients.contains(&"Claude Code".to_owned()));
            assert!(
                !finding.clients.contains(&"ChatGPT".to_owned()),
                "ChatGPT can use none or private_key_jwt"
            );
            assert!(finding.fix.unwrap().contains("`none`"));

            let finding = check(probe, &metadata(false, &["none"]));
            assert_eq!(finding.status, Status::Warn);
            assert!(finding.clients.contains(&"ChatGPT".to_owned()));
        });
    }
}
