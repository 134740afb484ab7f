//! `challenge`: an unauthenticated `initialize`, as every client sends first, must get 401 with
//! `WWW-Authenticate: Bearer … resource_metadata="…"` (RFC 9728 §5.1, MCP authorization): that
//! header is how a client finds the authorization server. API Gateway renames the header on
//! responses it proxies (`x-amzn-Remapped-WWW-Authenticate`), which clients never read.

use std::time::Instant;

use reqwest::{StatusCode, header};
use serde_json::json;

use super::{Finding, Probe};
use crate::{discovery::resource_metadata, probe::MCP_ACCEPT};

/// The check's id.
pub(super) const ID: &str = "challenge";

/// The header API Gateway moves a proxied `WWW-Authenticate` into.
const REMAPPED: &str = "x-amzn-remapped-www-authenticate";

/// What the challenge gave the later checks.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// The protected-resource metadata URL it named (read from the renamed header too, so the
    /// checks after it still run).
    pub(super) resource_metadata: Option<String>,
    /// How long the request took.
    pub(super) latency_ms: f64,
    /// Whether the server answered at all.
    pub(super) reachable: bool,
}

/// The `initialize` a client sends before it has a token.
pub(super) fn initialize_body() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "mcpctl-doctor", "version": env!("CARGO_PKG_VERSION")}}})
}

/// Sends the unauthenticated `initialize` and judges its challenge.
pub(super) async fn check(probe: &Probe<'_>, findings: &mut Vec<Finding>) -> Found {
    let url = probe.mcp_url();
    let start = Instant::now();
    let response = probe
        .http
        .post(url)
        .header(header::ACCEPT, MCP_ACCEPT)
        .json(&initialize_body())
        .send()
        .await;
    let latency_ms = crate::probe::ms(start.elapsed());
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            findings.push(
                Finding::fail(
                    ID,
                    format!("cannot reach {url}: {error}"),
                    "check the URL (the MCP endpoint, usually ending in /mcp) and that the server is running",
                    probe.everyone(),
                )
                .timed(latency_ms),
            );
            return Found {
                resource_metadata: None,
                latency_ms,
                reachable: false,
            };
        }
    };
    let status = response.status();
    let direct = bearer_challenge(&response, header::WWW_AUTHENTICATE.as_str());
    let renamed = bearer_challenge(&response, REMAPPED);
    let (finding, resource_metadata) = judge(probe, status, direct, renamed);
    findings.push(finding.timed(latency_ms));
    Found {
        resource_metadata,
        latency_ms,
        reachable: true,
    }
}

/// The `Bearer` challenge among the `name` headers (a server may send several schemes).
fn bearer_challenge(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| {
            v.trim_start()
                .get(..6)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(str::to_owned)
}

/// The finding for a 401 (or not) with these challenges, and the metadata URL to go on with.
fn judge(
    probe: &Probe<'_>,
    status: StatusCode,
    direct: Option<String>,
    renamed: Option<String>,
) -> (Finding, Option<String>) {
    let everyone = probe.everyone();
    if status != StatusCode::UNAUTHORIZED {
        return (
            Finding::fail(
                ID,
                format!(
                    "HTTP {status} to `initialize` without a token: clients only start OAuth on a 401"
                ),
                "require a bearer token on POST /mcp and answer its absence with 401 and \
                 `WWW-Authenticate: Bearer resource_metadata=\"<protected resource metadata URL>\"` \
                 (mcpctl-handler does; check that nothing in front of it answers first)",
                everyone,
            ),
            None,
        );
    }
    match (direct, renamed) {
        (Some(challenge), _) => match resource_metadata(&challenge) {
            Some(url) => (
                Finding::pass(ID, format!("401 with resource_metadata=\"{url}\"")),
                Some(url),
            ),
            None => (
                Finding::warn(
                    ID,
                    format!(
                        "the challenge names no resource_metadata ({challenge}): clients must guess the RFC 9728 well-known location"
                    ),
                    "add `resource_metadata=\"<protected resource metadata URL>\"` to the \
                     401's `WWW-Authenticate: Bearer` challenge (RFC 9728 §5.1)",
                    everyone,
                ),
                None,
            ),
        },
        (None, Some(challenge)) => (
            Finding::fail(
                ID,
                format!(
                    "the challenge arrived only as x-amzn-Remapped-WWW-Authenticate: API Gateway \
                     renamed the function's WWW-Authenticate on the proxied 401, and clients \
                     never read the renamed header ({challenge})"
                ),
                "answer the 401 from API Gateway itself, not from the function: guard POST /mcp \
                 with a TOKEN authorizer and set WWW-Authenticate in its UNAUTHORIZED gateway \
                 response (mcpctl's stack template does both: `McpAuthorizer` and \
                 `UnauthorizedResponse` in templates/api.yaml; `mcpctl deploy` creates them)",
                everyone,
            ),
            resource_metadata(&challenge),
        ),
        (None, None) => (
            Finding::fail(
                ID,
                "401 without a WWW-Authenticate Bearer challenge: clients cannot discover the authorization server",
                "send `WWW-Authenticate: Bearer resource_metadata=\"<protected resource metadata \
                 URL>\"` with the 401 (RFC 9728 §5.1); behind a proxy or CDN, check that it \
                 passes the header through",
                everyone,
            ),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Status, tests::with_probe};

    #[test]
    fn each_challenge_shape_gets_its_verdict() {
        with_probe("https://mcp.example.com/mcp", |probe| {
            let good = r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;
            let (finding, url) = judge(probe, StatusCode::UNAUTHORIZED, Some(good.into()), None);
            assert_eq!(finding.status, Status::Pass);
            assert!(url.unwrap().ends_with("/oauth-protected-resource/mcp"));

            let (finding, url) = judge(probe, StatusCode::UNAUTHORIZED, None, Some(good.into()));
            assert_eq!(finding.status, Status::Fail);
            assert!(finding.fix.unwrap().contains("gateway response"));
            assert!(url.is_some(), "the checks after it still run");

            let (finding, _) = judge(probe, StatusCode::UNAUTHORIZED, None, None);
            assert_eq!(finding.status, Status::Fail);
            let realm_only = Some("Bearer realm=\"x\"".to_owned());
            let (finding, _) = judge(probe, StatusCode::UNAUTHORIZED, realm_only, None);
            assert_eq!(finding.status, Status::Warn);
            let (finding, _) = judge(probe, StatusCode::OK, Some(good.into()), None);
            assert_eq!(finding.status, Status::Fail);
            assert_eq!(finding.clients.len(), probe.clients.len());
        });
    }
}
