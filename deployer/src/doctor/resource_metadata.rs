//! `prm`: the protected-resource metadata (RFC 9728), where the challenge points and at the
//! §3.1 well-known location derived from the MCP URL (where clients look when the challenge names
//! none). Each copy must say `resource` = the MCP URL exactly (§3.3: clients refuse anything
//! else) and name an authorization server.

use std::time::Instant;

use mcpctl_handler::oauth::discovery::ProtectedResourceMetadata;

use super::{CUSTOM_DOMAIN_FIX, Finding, Probe, challenge, is_execute_api};
use crate::{
    discovery::rfc9728_url,
    probe::{FetchError, fetch_json, ms},
};

/// The check's id.
pub(super) const ID: &str = "prm";

/// The metadata the next checks use.
#[derive(Debug)]
pub(super) struct Found {
    /// The document a client would use (the challenge's, else the well-known one).
    pub(super) document: ProtectedResourceMetadata,
    /// How long fetching it took.
    pub(super) latency_ms: f64,
}

/// One location's answer.
struct Fetched {
    url: String,
    result: Result<ProtectedResourceMetadata, FetchError>,
    latency_ms: f64,
}

async fn fetch(probe: &Probe<'_>, url: String) -> Fetched {
    let start = Instant::now();
    let result = fetch_json(&probe.http, &url).await;
    Fetched {
        url,
        result,
        latency_ms: ms(start.elapsed()),
    }
}

/// What is wrong with a document for this MCP URL, if anything.
fn problem(document: &ProtectedResourceMetadata, mcp_url: &str) -> Option<String> {
    if document.resource.trim_end_matches('/') != mcp_url {
        return Some(format!(
            "its `resource` is {} but the MCP URL is {mcp_url}: clients refuse the document (RFC 9728 §3.3)",
            document.resource
        ));
    }
    if document.authorization_servers.is_empty() {
        return Some(
            "its `authorization_servers` is empty: clients have nowhere to sign in".into(),
        );
    }
    None
}

/// Fetches the metadata where clients look for it and judges each copy.
pub(super) async fn check(
    probe: &Probe<'_>,
    challenge: &challenge::Found,
    findings: &mut Vec<Finding>,
) -> Option<Found> {
    let mcp_url = probe.mcp_url();
    let well_known_url = rfc9728_url(&probe.mcp_url);
    let pointed = match &challenge.resource_metadata {
        Some(url) if *url != well_known_url => Some(fetch(probe, url.clone()).await),
        _ => None,
    };
    let well_known = fetch(probe, well_known_url).await;
    let latency = pointed.as_ref().map_or(0.0, |p| p.latency_ms) + well_known.latency_ms;
    let (finding, found) = judge(probe, mcp_url, pointed, well_known);
    findings.push(finding.timed(latency));
    found
}

fn judge(
    probe: &Probe<'_>,
    mcp_url: &str,
    pointed: Option<Fetched>,
    well_known: Fetched,
) -> (Finding, Option<Found>) {
    let everyone = probe.everyone();
    let public_url_fix = format!(
        "`resource` must be exactly the URL clients are given ({mcp_url}): set the server's \
         public URL to match (`mcpctl dev --public-url`, MCP_PUBLIC_URL; a stage derives it from \
         `api.custom_domain.domain_name` or its API URL), or give clients the URL the document names"
    );
    // The copy clients use first: the challenge's when it names one.
    let primary = pointed.as_ref().unwrap_or(&well_known);
    let usable = |fetched: &Fetched| {
        fetched
            .result
            .as_ref()
            .ok()
            .filter(|d| !d.authorization_servers.is_empty())
            .map(|d| Found {
                document: d.clone(),
                latency_ms: fetched.latency_ms,
            })
    };
    // Later checks go on with any copy that names an authorization server, even a wrong one,
    // so one break does not hide the next.
    let found = usable(primary).or_else(|| usable(&well_known));
    let finding = match &primary.result {
        Err(error) => Finding::fail(
            ID,
            format!("no metadata at {}: {}", primary.url, error.message),
            format!(
                "serve the RFC 9728 document at {} (mcpctl-handler serves it at \
                 <public URL>/.well-known/oauth-protected-resource/mcp)",
                primary.url
            ),
            everyone,
        ),
        Ok(document) => match problem(document, mcp_url) {
            Some(problem) => Finding::fail(
                ID,
                format!("the metadata at {} is wrong: {problem}", primary.url),
                public_url_fix,
                everyone,
            ),
            None => match (&pointed, &well_known.result) {
                (None, _) => Finding::pass(
                    ID,
                    format!(
                        "{} names {} for {mcp_url}",
                        primary.url, document.authorization_servers[0]
                    ),
                ),
                (Some(_), Ok(copy)) => match problem(copy, mcp_url) {
                    None => Finding::pass(
                        ID,
                        format!(
                            "{} and the RFC 9728 location {} name {} for {mcp_url}",
                            primary.url, well_known.url, document.authorization_servers[0]
                        ),
                    ),
                    Some(problem) => Finding::fail(
                        ID,
                        format!(
                            "the copy at the RFC 9728 location {} is wrong: {problem}",
                            well_known.url
                        ),
                        public_url_fix,
                        everyone,
                    ),
                },
                (Some(_), Err(error)) => {
                    let gateway = error.from_api_gateway || is_execute_api(&probe.mcp_url);
                    let fix = if gateway {
                        CUSTOM_DOMAIN_FIX.to_owned()
                    } else {
                        format!(
                            "serve the same document at {} too, for clients that do not follow \
                             the challenge's resource_metadata",
                            well_known.url
                        )
                    };
                    let why = if gateway {
                        " (API Gateway answered itself: the location is outside the stage)"
                    } else {
                        ""
                    };
                    Finding::warn(
                        ID,
                        format!(
                            "{} is right, but the RFC 9728 location {} fails: {}{why}; clients \
                             that ignore resource_metadata find nothing",
                            primary.url, well_known.url, error.message
                        ),
                        fix,
                        Vec::new(),
                    )
                }
            },
        },
    };
    (finding, found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Status, tests::with_probe};

    const MCP: &str = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/mcp";

    fn document(resource: &str) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata {
            resource: resource.into(),
            authorization_servers: vec![
                "https://abc.execute-api.eu-west-1.amazonaws.com/prod".into(),
            ],
            scopes_supported: vec!["mcp".into()],
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
        }
    }

    fn fetched(url: &str, result: Result<ProtectedResourceMetadata, FetchError>) -> Fetched {
        Fetched {
            url: url.into(),
            result,
            latency_ms: 1.0,
        }
    }

    #[test]
    fn the_stage_prefixed_default_url_warns_and_a_wrong_resource_fails() {
        with_probe(MCP, |probe| {
            let pointed = fetched(
                "https://abc.execute-api.eu-west-1.amazonaws.com/prod/.well-known/oauth-protected-resource/mcp",
                Ok(document(MCP)),
            );
            let outside = fetched(
                "https://abc.execute-api.eu-west-1.amazonaws.com/.well-known/oauth-protected-resource/prod/mcp",
                Err(FetchError {
                    from_api_gateway: true,
                    message: "HTTP 403".into(),
                }),
            );
            let (finding, found) = judge(probe, MCP, Some(pointed), outside);
            assert_eq!(finding.status, Status::Warn, "{finding:?}");
            assert!(
                finding
                    .fix
                    .unwrap()
                    .contains("api.custom_domain.domain_name")
            );
            assert!(found.is_some());

            let wrong = fetched(
                "https://x/.well-known/oauth-protected-resource/mcp",
                Ok(document("https://elsewhere.example/mcp")),
            );
            let (finding, found) = judge(probe, MCP, None, wrong);
            assert_eq!(finding.status, Status::Fail);
            assert!(
                finding.detail.contains("elsewhere.example"),
                "{}",
                finding.detail
            );
            assert!(finding.fix.unwrap().contains("--public-url"));
            assert!(found.is_some(), "the next checks still run");
        });
    }
}
