//! `protocol-eras`: one MCP URL must answer both eras of the protocol. Clients of the 2025 era
//! open with `initialize` (2025-11-25); clients of the 2026-07-28 era send the stateless
//! `server/discover` first and fall back to `initialize` when it is refused (Claude Code's order).
//! This needs a token, so it runs with an operator credential only: a machine client registered
//! for the check and deleted by the cleanup.

use mcpctl_handler::oauth::{
    discovery::AuthorizationServerMetadata,
    registration::{RegistrationRequest, RegistrationResponse},
};
use reqwest::StatusCode;
use serde_json::json;

use super::{Finding, Probe, challenge::initialize_body};
use crate::{
    clients::{ClientShape, names},
    operator_client::{Registrar, carries_secrets, grant},
    probe::{McpClient, meta_2026},
};

/// How to give doctor the operator credential. Unlike `token`, doctor ignores
/// MCPCTL_INITIAL_ACCESS_TOKEN for a URL that is not loopback dev: it may be any server.
const DOCTOR_CREDENTIAL_HELP: &str = "start `mcpctl dev` on that port (it publishes its initial \
     access token), pass --state-dir DIR of a `mcpctl dev`, or check a deployed stage with \
     --stage S (MCPCTL_INITIAL_ACCESS_TOKEN or AWS credentials)";

/// The check's id.
pub(super) const ID: &str = "protocol-eras";

/// A bearer token for the checks that need one, or the finding that says why there is none.
pub(super) type MachineToken = Result<String, Finding>;

/// Registers the operator's machine client (handed to the cleanup) and gets its token.
pub(super) async fn machine_token(
    probe: &Probe<'_>,
    metadata: Option<&AuthorizationServerMetadata>,
    registered: &mut Vec<RegistrationResponse>,
) -> MachineToken {
    if let Registrar::Nobody = probe.registrar {
        return Err(Finding::skip(
            ID,
            format!(
                "not run: calling /mcp needs a token, and no operator credential was found; to run it, {DOCTOR_CREDENTIAL_HELP}"
            ),
        ));
    }
    let Some(metadata) = metadata else {
        return Err(Finding::skip(
            ID,
            "not run: no authorization server metadata to get a token from (fix `issuer` first)",
        ));
    };
    let mcp_url = probe.mcp_url();
    // Checked before a client is registered: its secret goes only to the MCP URL's own origin
    // over https (or to `mcpctl dev` on 127.0.0.1), whatever the metadata names.
    if !carries_secrets(&metadata.token_endpoint, mcp_url) {
        return Err(Finding::fail(
            ID,
            format!(
                "the token endpoint {} is not on {mcp_url}'s origin over https: no client secret is sent there",
                metadata.token_endpoint
            ),
            "serve the token endpoint on the MCP URL's origin over https and name it so in `token_endpoint`",
            probe.everyone(),
        ));
    }
    let request = RegistrationRequest {
        client_name: Some("mcpctl doctor (deleted after the check)".into()),
        grant_types: Some(vec!["client_credentials".into()]),
        token_endpoint_auth_method: Some("client_secret_basic".into()),
        ..RegistrationRequest::default()
    };
    let registration = probe
        .registrar
        .register(
            &probe.http,
            mcp_url,
            metadata.registration_endpoint.as_deref(),
            request,
        )
        .await
        .map_err(|e| credential_refused(probe, &e))?;
    let secret = registration.client_secret.clone();
    let client_id = registration.client_id.clone();
    registered.push(registration);
    let secret = secret.ok_or_else(|| {
        credential_refused(
            probe,
            &miette::miette!("the server registered the machine client without a secret"),
        )
    })?;
    grant(
        &probe.http,
        &metadata.token_endpoint,
        &client_id,
        &secret,
        mcp_url,
        None,
    )
    .await
    .map(|issued| issued.access_token)
    .map_err(|e| credential_refused(probe, &e))
}

fn credential_refused(probe: &Probe<'_>, error: &miette::Report) -> Finding {
    Finding::fail(
        ID,
        format!("the operator's machine client got no token: {error}"),
        error.help().map_or_else(
            || "check the operator credential (the initial access token, or --stage with AWS credentials)".to_owned(),
            |help| help.to_string(),
        ),
        probe.everyone(),
    )
}

/// Calls the MCP URL in both eras with the token, in the orders clients use.
pub(super) async fn check(probe: &Probe<'_>, token: MachineToken) -> Finding {
    let token = match token {
        Ok(token) => token,
        Err(finding) => return finding,
    };
    let url = probe.mcp_url();
    let start = std::time::Instant::now();
    let first = initialize(probe, url, &token).await;
    let discovered = discover(probe, url, &token).await;
    let after = initialize(probe, url, &token).await;
    let latency = crate::probe::ms(start.elapsed());
    judge(probe, first, discovered, after).timed(latency)
}

/// `initialize` at 2025-11-25: the version the server chose.
async fn initialize(probe: &Probe<'_>, url: &str, token: &str) -> Result<String, String> {
    let session = McpClient::new(probe.http.clone());
    let (status, response) = session.post(url, token, initialize_body(), &[]).await?;
    let result: rmcp::model::InitializeResult = serde_json::from_value(response["result"].clone())
        .map_err(|e| format!("HTTP {status}: not an initialize result ({e}): {response}"))?;
    Ok(result.protocol_version.to_string())
}

/// How `server/discover` was answered.
enum Discovered {
    /// It offers 2026-07-28.
    Spoken(usize),
    /// Refused with a JSON-RPC error: a 2025-era server; clients fall back.
    Refused(String),
    /// Anything else: clients cannot tell what happened.
    Broken(String),
}

/// `server/discover` with the headers and `_meta` of a 2026-07-28 client (Claude Code's).
async fn discover(probe: &Probe<'_>, url: &str, token: &str) -> Discovered {
    let shape = probe.clients.iter().find(|c| c.discovers_first());
    let headers = shape.map_or_else(Vec::new, |c| request_headers(c, "server/discover"));
    let extra: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "server/discover",
        "params": {"_meta": meta_2026("mcpctl-doctor")}});
    let session = McpClient::new(probe.http.clone());
    let (status, response) = match session.post(url, token, body, &extra).await {
        Ok(answer) => answer,
        Err(error) => return Discovered::Broken(error),
    };
    let versions = response["result"]["supportedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if versions.iter().any(|v| v == "2026-07-28") {
        return Discovered::Spoken(versions.len());
    }
    match response["error"]["message"].as_str() {
        Some(message) if status.is_client_error() || status == StatusCode::OK => {
            Discovered::Refused(format!("HTTP {status}: {message}"))
        }
        _ => Discovered::Broken(format!("HTTP {status}: {response}")),
    }
}

/// The headers `client` sends on a 2026-07-28 request for `method` (its data, filled in;
/// `Accept` and `Content-Type` are the MCP client's own).
fn request_headers(client: &ClientShape, method: &str) -> Vec<(String, String)> {
    client
        .headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("accept") && !name.eq_ignore_ascii_case("content-type")
        })
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                value
                    .replace("{version}", "2026-07-28")
                    .replace("{method}", method),
            )
        })
        .collect()
}

fn judge(
    probe: &Probe<'_>,
    first: Result<String, String>,
    discovered: Discovered,
    after: Result<String, String>,
) -> Finding {
    let discovering = names(probe.clients.iter().filter(|c| c.discovers_first()));
    let upgrade = "speak MCP 2026-07-28 beside 2025-11-25 on the same URL (mcpctl-handler \
                   does; behind `mcpctl dev --upstream` or a stage's `upstream:`, update the \
                   upstream's MCP SDK)";
    let first = match first {
        Ok(version) => version,
        Err(error) => {
            return Finding::fail(
                ID,
                format!("`initialize` (2025-11-25) with a valid token failed: {error}"),
                "answer `initialize` on POST /mcp (see the server's log: `mcpctl logs`, or the stderr of `mcpctl dev`)",
                probe.everyone(),
            );
        }
    };
    match (discovered, after) {
        (Discovered::Broken(error), _) => Finding::fail(
            ID,
            format!(
                "`initialize` answers {first}, but `server/discover` (2026-07-28) got {error}: not a JSON-RPC error clients can fall back from"
            ),
            format!("answer an unknown method or version with a JSON-RPC error, or {upgrade}"),
            discovering,
        ),
        (_, Err(error)) => Finding::fail(
            ID,
            format!("`initialize` after `server/discover` (Claude Code's order) failed: {error}"),
            "keep `initialize` working after a stateless request (no state may carry over from `server/discover`)",
            discovering,
        ),
        (Discovered::Refused(error), Ok(_)) => Finding::warn(
            ID,
            format!(
                "2025 era only: `initialize` answers {first}; `server/discover` is refused ({error}), so {} fall back to `initialize` (one more round trip)",
                discovering.join(", ")
            ),
            upgrade,
            discovering,
        ),
        (Discovered::Spoken(count), Ok(again)) => Finding::pass(
            ID,
            format!(
                "`initialize` answers {first}; `server/discover` offers 2026-07-28 ({count} versions); `initialize` after it answers {again}"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Status, tests::with_probe};

    #[test]
    fn a_2025_only_server_warns_and_a_broken_discover_fails() {
        with_probe("https://mcp.example.com/mcp", |probe| {
            let ok = || Ok("2025-11-25".to_owned());
            let finding = judge(probe, ok(), Discovered::Spoken(5), ok());
            assert_eq!(finding.status, Status::Pass);
            let finding = judge(
                probe,
                ok(),
                Discovered::Refused("HTTP 400: Unsupported protocol version".into()),
                ok(),
            );
            assert_eq!(finding.status, Status::Warn);
            assert_eq!(finding.clients, vec!["Claude Code".to_owned()]);
            assert!(finding.fix.unwrap().contains("2026-07-28"));
            let finding = judge(
                probe,
                ok(),
                Discovered::Broken("HTTP 502: bad gateway".into()),
                ok(),
            );
            assert_eq!(finding.status, Status::Fail);
            let finding = judge(probe, Err("HTTP 500".into()), Discovered::Spoken(5), ok());
            assert_eq!(finding.status, Status::Fail);
        });
    }

    #[test]
    fn claude_code_s_headers_are_filled_in() {
        let clients = crate::clients::known().unwrap();
        let code = clients.iter().find(|c| c.id == "claude-code").unwrap();
        let headers = request_headers(code, "server/discover");
        assert!(headers.contains(&("mcp-protocol-version".into(), "2026-07-28".into())));
        assert!(headers.contains(&("mcp-method".into(), "server/discover".into())));
        assert!(!headers.iter().any(|(n, _)| n == "accept"));
    }
}
