//! `dcr`: dynamic client registration (RFC 7591) as each known client does it: a public client
//! (`token_endpoint_auth_method: none`, authorization_code + refresh_token) with the redirect
//! URIs that client really sends (loopback, `cursor://`, claude.ai's and ChatGPT's https
//! callbacks, ...). A refused redirect URI is a client that cannot connect. Every registration is
//! handed to the cleanup, which deletes it (RFC 7592).

use std::time::Instant;

use mcpctl_handler::oauth::{
    discovery::AuthorizationServerMetadata,
    redirect_uri,
    registration::{RegistrationRequest, RegistrationResponse},
};
use reqwest::StatusCode;

use super::{Finding, Probe};
use crate::{
    clients::{ClientShape, names},
    probe::ms,
};

/// The check's id.
pub(super) const ID: &str = "dcr";

/// The loopback port put into `{port}`: the start of the dynamic range, where clients pick theirs.
const LOOPBACK_PORT: u16 = 49152;

/// The server name put into `{server}` (Cursor's redirect URI carries it).
const SERVER_NAME: &str = "mcpctl-doctor";

/// A public client that registered, for the token-endpoint timing.
#[derive(Debug, Clone)]
pub(super) struct PublicClient {
    /// Its id.
    pub(super) client_id: String,
    /// One of its registered redirect URIs.
    pub(super) redirect_uri: String,
}

/// What registration gave the later checks.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// A registered public client.
    pub(super) client: Option<PublicClient>,
    /// The slowest single registration, in milliseconds.
    pub(super) slowest_ms: Option<f64>,
}

/// A refusal: the client, and why.
struct Refused {
    client: String,
    uris: Vec<String>,
    why: String,
}

/// Registers every known client at the metadata's registration endpoint.
pub(super) async fn check(
    probe: &Probe<'_>,
    metadata: &AuthorizationServerMetadata,
    registered: &mut Vec<RegistrationResponse>,
    findings: &mut Vec<Finding>,
) -> Outcome {
    let Some(endpoint) = metadata.registration_endpoint.clone() else {
        findings.push(no_endpoint(probe, metadata));
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    let mut refused = Vec::new();
    let mut accepted = Vec::new();
    let mut total = 0.0;
    for client in probe.clients {
        let uris = client.redirect_uris_for(LOOPBACK_PORT, SERVER_NAME);
        let start = Instant::now();
        let answer = register(probe, &endpoint, client, &uris).await;
        let latency = ms(start.elapsed());
        total += latency;
        outcome.slowest_ms = Some(outcome.slowest_ms.map_or(latency, |s: f64| s.max(latency)));
        match answer {
            Ok(response) => {
                if outcome.client.is_none()
                    && let Some(uri) = response.metadata.redirect_uris.first()
                {
                    outcome.client = Some(PublicClient {
                        client_id: response.client_id.clone(),
                        redirect_uri: uri.clone(),
                    });
                }
                registered.push(response);
                accepted.push(client.name.clone());
            }
            Err(why) => refused.push(Refused {
                client: client.name.clone(),
                uris,
                why,
            }),
        }
    }
    let finding = if refused.is_empty() {
        Finding::pass(
            ID,
            format!(
                "{endpoint} registered a public client for each of {} (deleted again at the end)",
                accepted.join(", ")
            ),
        )
    } else {
        let detail = refused
            .iter()
            .map(|r| format!("{} ({}): {}", r.client, r.uris.join(" "), r.why))
            .collect::<Vec<_>>()
            .join("; ");
        Finding::fail(
            ID,
            format!("{endpoint} refused {detail}"),
            fix(&refused),
            refused.iter().map(|r| r.client.clone()).collect(),
        )
    };
    findings.push(finding.timed(total));
    outcome
}

/// One client's registration: `Ok` with the server's answer, `Err` with the refusal.
async fn register(
    probe: &Probe<'_>,
    endpoint: &str,
    client: &ClientShape,
    uris: &[String],
) -> Result<RegistrationResponse, String> {
    let request = RegistrationRequest {
        redirect_uris: Some(uris.to_vec()),
        grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
        response_types: Some(vec!["code".into()]),
        token_endpoint_auth_method: Some("none".into()),
        scope: (!client.scopes.is_empty()).then(|| client.scopes.join(" ")),
        client_name: Some(format!(
            "mcpctl doctor as {} (deleted after the check)",
            client.name
        )),
        ..RegistrationRequest::default()
    };
    let response = probe
        .http
        .post(endpoint)
        .json(&request)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status();
    if status != StatusCode::CREATED && status != StatusCode::OK {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        return Err(format!(
            "HTTP {status} {} {}",
            body["error"].as_str().unwrap_or(""),
            body["error_description"].as_str().unwrap_or("")
        )
        .trim_end()
        .to_owned());
    }
    response
        .json::<RegistrationResponse>()
        .await
        .map_err(|e| format!("HTTP {status}, but not an RFC 7591 client information response: {e}"))
}

/// What to change so the refused clients can register, by the kind of redirect URI they send.
fn fix(refused: &[Refused]) -> String {
    let mut fixes: Vec<String> = Vec::new();
    let mut push = |fix: String| {
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    };
    for uri in refused.iter().flat_map(|r| &r.uris) {
        let Ok(url) = url::Url::parse(uri) else {
            continue;
        };
        match url.scheme() {
            "https" => push(format!(
                "accept https redirect URIs such as {uri} at registration (they are exact \
                 callbacks of hosted clients)"
            )),
            "http" if redirect_uri::is_loopback(&url) => push(
                "accept http loopback redirect URIs (localhost, 127.0.0.1) on any port \
                 (RFC 8252 §7.3, §8.3): desktop clients pick a free port"
                    .into(),
            ),
            scheme => push(format!(
                "accept the private-use scheme `{scheme}://` at registration (mcpctl: keep \
                 `{scheme}` in the stage config's `oauth.redirect_schemes`, MCP_REDIRECT_SCHEMES; \
                 it is in the default list)"
            )),
        }
    }
    fixes.join("; ")
}

/// The finding when the metadata names no registration endpoint.
fn no_endpoint(probe: &Probe<'_>, metadata: &AuthorizationServerMetadata) -> Finding {
    let cimd_usable = metadata.client_id_metadata_document_supported
        && metadata
            .token_endpoint_auth_methods_supported
            .iter()
            .any(|m| m == "none");
    let stranded: Vec<&ClientShape> = probe
        .clients
        .iter()
        .filter(|c| !cimd_usable || c.cimd.is_none())
        .collect();
    let fix = "open registration: `oauth.registration_open: true` in config/<stage>.yaml \
               (MCP_REGISTRATION_OPEN), which needs an identity.mode that signs people in";
    let detail = format!(
        "no registration_endpoint in the metadata: {} cannot register",
        names(stranded.iter().copied()).join(", ")
    );
    if cimd_usable {
        Finding::warn(ID, detail, fix, names(stranded))
    } else {
        Finding::fail(ID, detail, fix, names(stranded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(uris: &[&str]) -> Refused {
        Refused {
            client: "c".into(),
            uris: uris.iter().map(|u| (*u).into()).collect(),
            why: "HTTP 400".into(),
        }
    }

    #[test]
    fn the_fix_names_what_each_refused_uri_needs() {
        let fix = fix(&[refused(&[
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "cursor://anysphere.cursor-retrieval/oauth/user-x/callback",
        ])]);
        assert_eq!(fix.matches("oauth.redirect_schemes").count(), 1, "{fix}");
        assert!(fix.contains("`cursor://`"), "{fix}");
        let fix = super::fix(&[
            refused(&["http://localhost:49152/callback"]),
            refused(&["https://claude.ai/api/mcp/auth_callback"]),
        ]);
        assert!(
            fix.contains("loopback") && fix.contains("https://claude.ai"),
            "{fix}"
        );
    }
}
