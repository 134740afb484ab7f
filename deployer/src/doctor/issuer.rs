//! `issuer`: the authorization server's metadata, at the RFC 8414 §3.1 location (path inserted
//! after `/.well-known/oauth-authorization-server`) and at OpenID discovery, where clients look
//! for it. Every copy's `issuer` must be exactly the authorization server the protected-resource
//! metadata names (RFC 8414 §3.3, a defence against mix-up attacks: clients refuse a mismatch),
//! and PKCE with S256 must be advertised (MCP clients refuse to go on without it).

use std::time::Instant;

use mcpctl_handler::oauth::discovery::AuthorizationServerMetadata;
use url::Url;

use super::{Finding, Probe, resource_metadata};
use crate::{
    discovery::rfc8414_url,
    probe::{fetch_json, ms},
};

/// The check's id.
pub(super) const ID: &str = "issuer";

/// The metadata the next checks use.
#[derive(Debug)]
pub(super) struct Found {
    /// The document (the RFC 8414 one when both answered).
    pub(super) document: AuthorizationServerMetadata,
    /// How long a client takes to get it: the RFC 8414 request, plus OpenID discovery's when
    /// the first failed.
    pub(super) latency_ms: f64,
}

/// Fetches the metadata of the PRM's first authorization server and judges it.
pub(super) async fn check(
    probe: &Probe<'_>,
    resource: &resource_metadata::Found,
    findings: &mut Vec<Finding>,
) -> Option<Found> {
    let everyone = probe.everyone();
    let issuer = resource.document.authorization_servers[0].clone();
    let Ok(issuer_url) = Url::parse(&issuer) else {
        findings.push(Finding::fail(
            ID,
            format!("the protected resource metadata names `{issuer}`, which is not a URL"),
            "list the authorization server's issuer URL in `authorization_servers`",
            everyone,
        ));
        return None;
    };
    let locations = [
        rfc8414_url(&issuer_url),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ];
    let mut answers = Vec::new();
    for url in locations {
        let start = Instant::now();
        let result = fetch_json::<AuthorizationServerMetadata>(&probe.http, &url).await;
        answers.push((url, result.map_err(|e| e.message), ms(start.elapsed())));
    }
    let latency_ms = match &answers[0].1 {
        Ok(_) => answers[0].2,
        Err(_) => answers[0].2 + answers[1].2,
    };
    let total: f64 = answers.iter().map(|(_, _, ms)| ms).sum();
    let (finding, document) = judge(&issuer, answers, everyone);
    findings.push(finding.timed(total));
    document.map(|document| Found {
        document,
        latency_ms,
    })
}

type Answer = (String, Result<AuthorizationServerMetadata, String>, f64);

fn judge(
    issuer: &str,
    answers: Vec<Answer>,
    everyone: Vec<String>,
) -> (Finding, Option<AuthorizationServerMetadata>) {
    let mismatched: Vec<String> = answers
        .iter()
        .filter_map(|(url, result, _)| match result {
            Ok(document) if document.issuer != issuer => {
                Some(format!("{url} says `{}`", document.issuer))
            }
            _ => None,
        })
        .collect();
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|(_, result, _)| result.as_ref().err().cloned())
        .collect();
    let served: Vec<String> = answers
        .iter()
        .filter(|(_, result, _)| result.is_ok())
        .map(|(url, _, _)| url.clone())
        .collect();
    let locations: Vec<String> = answers.iter().map(|(url, _, _)| url.clone()).collect();
    let document = answers.into_iter().find_map(|(_, result, _)| result.ok());
    let Some(document) = document else {
        let finding = Finding::fail(
            ID,
            format!(
                "no authorization server metadata for {issuer}: {}",
                failed.join("; ")
            ),
            format!(
                "serve RFC 8414 metadata at {} (or OpenID discovery at {}); mcpctl-handler \
                 serves both",
                locations[0], locations[1]
            ),
            everyone,
        );
        return (finding, None);
    };
    let finding = if !mismatched.is_empty() {
        Finding::fail(
            ID,
            format!(
                "the protected resource metadata names the authorization server `{issuer}`, but {} (RFC 8414 §3.3: clients refuse a mismatch)",
                mismatched.join(" and ")
            ),
            format!(
                "make `issuer` in the metadata byte for byte `{issuer}`, the value in \
                 `authorization_servers` (mcpctl derives both from the public URL: \
                 `--public-url`, MCP_PUBLIC_URL; a proxy that rewrites one but not the other \
                 breaks this)"
            ),
            everyone,
        )
    } else if !document
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        Finding::fail(
            ID,
            format!(
                "code_challenge_methods_supported is {:?}: without S256, MCP clients refuse to authorize",
                document.code_challenge_methods_supported
            ),
            "support PKCE with S256 and advertise `code_challenge_methods_supported: [\"S256\"]`",
            everyone,
        )
    } else {
        let missing = if failed.is_empty() {
            String::new()
        } else {
            format!(" (not at: {})", failed.join("; "))
        };
        Finding::pass(
            ID,
            format!(
                "issuer `{issuer}` at {}, PKCE S256{missing}",
                served.join(" and ")
            ),
        )
    };
    (finding, Some(document))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    const ISSUER: &str = "https://mcp.example.com";

    fn metadata(issuer: &str) -> AuthorizationServerMetadata {
        let config = mcpctl_handler::config::HandlerConfig::new(Url::parse(ISSUER).unwrap());
        AuthorizationServerMetadata {
            issuer: issuer.into(),
            ..mcpctl_handler::oauth::discovery::authorization_server_metadata(&config)
        }
    }

    fn answers(first: Result<AuthorizationServerMetadata, String>) -> Vec<Answer> {
        vec![
            (
                format!("{ISSUER}/.well-known/oauth-authorization-server"),
                first,
                1.0,
            ),
            (
                format!("{ISSUER}/.well-known/openid-configuration"),
                Ok(metadata(ISSUER)),
                1.0,
            ),
        ]
    }

    #[test]
    fn the_issuer_must_be_exactly_the_prm_s_authorization_server() {
        let (finding, document) = judge(ISSUER, answers(Ok(metadata(ISSUER))), Vec::new());
        assert_eq!(finding.status, Status::Pass, "{finding:?}");
        assert_eq!(document.unwrap().issuer, ISSUER);

        let (finding, document) = judge(
            ISSUER,
            answers(Ok(metadata("https://mcp.example.com/elsewhere"))),
            Vec::new(),
        );
        assert_eq!(finding.status, Status::Fail);
        assert!(
            finding.detail.contains("RFC 8414 §3.3"),
            "{}",
            finding.detail
        );
        assert!(finding.fix.unwrap().contains("byte for byte"));
        assert!(document.is_some(), "the next checks still run");

        // Only OpenID discovery answers (a stage's default URL): clients find that one.
        let (finding, _) = judge(ISSUER, answers(Err("HTTP 403".into())), Vec::new());
        assert_eq!(finding.status, Status::Pass);
        assert!(
            finding.detail.contains("not at: HTTP 403"),
            "{}",
            finding.detail
        );

        let mut without_pkce = metadata(ISSUER);
        without_pkce.code_challenge_methods_supported = vec!["plain".into()];
        let (finding, _) = judge(ISSUER, answers(Ok(without_pkce)), Vec::new());
        assert_eq!(finding.status, Status::Fail);
        assert!(finding.fix.unwrap().contains("S256"));
    }
}
