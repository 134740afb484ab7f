//! The checks of `mcpctl doctor`. Remote MCP servers fail in the field at discovery and
//! registration, not in the tools, and each client fails differently; so every check asks the
//! server what one step of a real client's discovery asks, judges the answer by the rules of the
//! clients in `clients.json`, and names the break, the clients it breaks and the fix.
//!
//! One module per check. They run in the order a client meets them (a later check uses what an
//! earlier one found; when it cannot run it is skipped and says which check to fix first), and
//! every client doctor registers is deleted at the end, whatever failed.

mod challenge;
mod cimd;
mod cleanup;
mod cors;
mod issuer;
mod latency;
mod protocol_eras;
mod registration;
mod resource_metadata;
mod transport;

use reqwest::Client;
use serde::Serialize;
use url::Url;

use crate::{clients::ClientShape, operator_client::Registrar};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Every client gets what it needs.
    Pass,
    /// Works, but some client is worse off; the fix says how to improve it.
    Warn,
    /// Some client breaks here.
    Fail,
    /// Not run; the detail says how to make it run.
    Skip,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finding {
    /// Stable id (kebab-case), e.g. `challenge`.
    pub(crate) id: &'static str,
    /// The outcome.
    pub(crate) status: Status,
    /// What was found.
    pub(crate) detail: String,
    /// For a warning or a failure: exactly what to change.
    pub(crate) fix: Option<String>,
    /// The time of the requests the check made.
    pub(crate) latency_ms: Option<f64>,
    /// The clients a warning or failure affects.
    pub(crate) clients: Vec<String>,
}

impl Finding {
    /// A passed check.
    fn pass(id: &'static str, detail: impl Into<String>) -> Self {
        Self {
            id,
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
            latency_ms: None,
            clients: Vec::new(),
        }
    }

    /// A warning for `clients`, with its fix.
    fn warn(
        id: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
        clients: Vec<String>,
    ) -> Self {
        Self {
            status: Status::Warn,
            fix: Some(fix.into()),
            clients,
            ..Self::pass(id, detail)
        }
    }

    /// A failure for `clients`, with its fix.
    fn fail(
        id: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
        clients: Vec<String>,
    ) -> Self {
        Self {
            status: Status::Fail,
            ..Self::warn(id, detail, fix, clients)
        }
    }

    /// A check that did not run; `reason` says how to make it run.
    fn skip(id: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status: Status::Skip,
            ..Self::pass(id, reason)
        }
    }

    /// With the time its requests took.
    fn timed(self, latency_ms: f64) -> Self {
        Self {
            latency_ms: Some(latency_ms),
            ..self
        }
    }
}

/// The order of the report: the checks as the issue lists them, then the cleanup.
const ORDER: &[&str] = &[
    challenge::ID,
    resource_metadata::ID,
    issuer::ID,
    cimd::ID,
    registration::ID,
    transport::TLS_ID,
    transport::CUSTOM_DOMAIN_ID,
    cors::ID,
    latency::ID,
    protocol_eras::ID,
    cleanup::ID,
];

/// What the checks work with.
pub(crate) struct Probe<'a> {
    /// The HTTP client (no redirects, the per-request timeout).
    pub(crate) http: Client,
    /// The MCP endpoint as clients are given it.
    pub(crate) mcp_url: Url,
    /// The clients whose rules the server is judged by.
    pub(crate) clients: &'a [ClientShape],
    /// Who may create a machine client (for the protocol-eras check).
    pub(crate) registrar: &'a Registrar<'a>,
}

impl Probe<'_> {
    /// The MCP URL as a string, without a trailing slash (how `resource` must read).
    fn mcp_url(&self) -> &str {
        self.mcp_url.as_str().trim_end_matches('/')
    }

    /// Every client's name: what a break that stops discovery affects.
    fn everyone(&self) -> Vec<String> {
        crate::clients::names(self.clients)
    }
}

/// Runs every check against `probe`'s server, in a client's order; the findings come back in
/// the report's order.
pub(crate) async fn run(probe: &Probe<'_>) -> Vec<Finding> {
    let mut findings = vec![transport::tls(probe), transport::custom_domain(probe)];
    let challenge = challenge::check(probe, &mut findings).await;
    if !challenge.reachable {
        // Every other request would fail the same way; one failure says it.
        for id in ORDER {
            if !findings.iter().any(|f| f.id == *id) {
                findings.push(Finding::skip(
                    id,
                    "not run: the server cannot be reached (fix `challenge` first)",
                ));
            }
        }
        return in_report_order(findings);
    }
    let resource = resource_metadata::check(probe, &challenge, &mut findings).await;
    let metadata = match &resource {
        Some(resource) => issuer::check(probe, resource, &mut findings).await,
        None => {
            findings.push(Finding::skip(
                issuer::ID,
                "not run: no protected resource metadata names an authorization server (fix `prm` first)",
            ));
            None
        }
    };
    let mut registered = Vec::new();
    let public_client = match &metadata {
        Some(found) => {
            findings.push(cimd::check(probe, &found.document));
            registration::check(probe, &found.document, &mut registered, &mut findings).await
        }
        None => {
            for id in [cimd::ID, registration::ID] {
                findings.push(Finding::skip(
                    id,
                    "not run: no authorization server metadata (fix `issuer` first)",
                ));
            }
            registration::Outcome::default()
        }
    };
    let machine = protocol_eras::machine_token(
        probe,
        metadata.as_ref().map(|m| &m.document),
        &mut registered,
    )
    .await;
    findings.push(cors::check(probe, machine.as_ref().ok().map(String::as_str)).await);
    findings.push(protocol_eras::check(probe, machine).await);
    findings.push(
        latency::check(
            probe,
            latency::Measured {
                discovery_ms: challenge.latency_ms
                    + resource.as_ref().map_or(0.0, |r| r.latency_ms)
                    + metadata.as_ref().map_or(0.0, |m| m.latency_ms),
                discovered: metadata.is_some(),
                registration_ms: public_client.slowest_ms,
            },
            metadata.as_ref().map(|m| &m.document),
            public_client.client.as_ref(),
        )
        .await,
    );
    findings.push(cleanup::delete_all(&probe.http, registered, probe.mcp_url()).await);
    in_report_order(findings)
}

fn in_report_order(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(|f| ORDER.iter().position(|id| *id == f.id));
    findings
}

/// Whether `url` is API Gateway's default host for a REST API (`<id>.execute-api.<region>.
/// amazonaws.com`, `.com.cn` in China), where the stage is the first path segment.
fn is_execute_api(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.contains(".execute-api.")
            && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
    })
}

/// The fix for well-known documents API Gateway's default URL cannot serve.
const CUSTOM_DOMAIN_FIX: &str = "serve the stage on its own domain: set \
     `api.custom_domain.domain_name` and `api.custom_domain.certificate_arn` in \
     config/<stage>.yaml and run `mcpctl deploy --stage <stage>` (the custom domain is mapped at \
     the root, so every well-known location is inside the API)";

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `judge` with a probe of `url` that has the known clients and no operator.
    pub(super) fn with_probe<T>(url: &str, judge: impl FnOnce(&Probe<'_>) -> T) -> T {
        let clients = crate::clients::known().unwrap();
        let registrar = Registrar::Nobody;
        judge(&Probe {
            http: Client::new(),
            mcp_url: Url::parse(url).unwrap(),
            clients: &clients,
            registrar: &registrar,
        })
    }

    #[test]
    fn execute_api_hosts_are_recognised() {
        for (url, expected) in [
            (
                "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/mcp",
                true,
            ),
            (
                "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod/mcp",
                true,
            ),
            ("https://mcp.example.com/mcp", false),
            ("https://execute-api.example.com/mcp", false),
            ("http://127.0.0.1:8787/mcp", false),
        ] {
            assert_eq!(is_execute_api(&Url::parse(url).unwrap()), expected, "{url}");
        }
    }

    #[test]
    fn every_check_has_a_place_in_the_report() {
        let mut ids = ORDER.to_vec();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ORDER.len());
        assert!(
            ORDER
                .iter()
                .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        let warned = Finding::warn("x", "d", "f", vec!["A".into()]).timed(1.5);
        assert_eq!(warned.status, Status::Warn);
        assert_eq!(warned.fix.as_deref(), Some("f"));
        assert_eq!(warned.latency_ms, Some(1.5));
        assert_eq!(
            Finding::fail("x", "d", "f", Vec::new()).status,
            Status::Fail
        );
        assert_eq!(Finding::skip("x", "how").fix, None);
    }
}
