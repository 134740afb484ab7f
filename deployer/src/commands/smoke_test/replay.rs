//! `smoke-test --as CLIENT`: replays the flow of a client in `clients.json` the way that client
//! runs it, end to end, as a public client and a person: discovery from its first request (its
//! headers, its first protocol version), its identity (its Client ID Metadata Document when the
//! server takes one the way it needs, else RFC 7591 registration with its exact redirect URIs),
//! the authorization code with PKCE, the token, MCP in its protocol-version order (Claude Code's
//! `initialize` after a successful `server/discover`), a tool call, and a rotating refresh; each
//! timed phase is judged against the client's documented budget. Whatever it registered is
//! deleted at the end.
//!
//! The person: against `mcpctl dev` on 127.0.0.1 the replay approves the consent page as the dev
//! user (or takes `--auto-approve`'s redirect). Anywhere else a person must sign in at the
//! server's provider, so the replay stops before the code and says so.

use std::time::Instant;

use mcpctl_handler::oauth::{
    discovery::{AuthorizationServerMetadata, ProtectedResourceMetadata},
    registration::{RegistrationRequest, RegistrationResponse},
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use url::Url;

mod documents;
mod session;
mod sign_in;
mod tokens;

pub(super) use documents::Documents;
use session::{headers_for, initialize_params, request};

use super::Check;
use crate::{
    clients::{Budgets, ClientShape},
    discovery::{resource_metadata, rfc8414_url},
    operator_client::delete,
    probe::{MCP_ACCEPT, get_json, listed, ms},
};

/// The loopback port a replayed client "listens" on for `{port}`: the replay reads the
/// redirect's `Location` instead of following it, so nothing needs to listen.
const LOOPBACK_PORT: u16 = 49153;

/// The server name put into `{server}` (Cursor's redirect URI carries it).
const SERVER_NAME: &str = "mcpctl-smoke-test";

/// The server being replayed against.
pub(super) struct Target<'a> {
    /// Its MCP endpoint.
    pub(super) mcp_url: &'a str,
    /// Whether it is `mcpctl dev` on 127.0.0.1, whose consent page the replay may approve as
    /// the dev user.
    pub(super) dev: bool,
    /// Where copies of the clients' metadata documents are served, for a dev server that
    /// cannot reach the vendors' hosts.
    pub(super) documents: Option<&'a Documents>,
}

/// How the replayed client identifies itself.
enum Identity {
    /// Registered (RFC 7591); deleted at the end.
    Registered(Box<RegistrationResponse>),
    /// A Client ID Metadata Document URL.
    Document(String),
}

impl Identity {
    fn client_id(&self) -> &str {
        match self {
            Self::Registered(registration) => &registration.client_id,
            Self::Document(url) => url,
        }
    }
}

/// What discovery found.
struct Discovered {
    metadata: AuthorizationServerMetadata,
    /// The scopes to ask for: the challenge's, else the resource's `scopes_supported`.
    scope: Vec<String>,
}

/// Replays `client`'s whole flow against `target`, recording its rows in `check`.
pub(super) async fn replay(check: &mut Check, client: &ClientShape, target: &Target<'_>) {
    check.client = Some(client.id.clone());
    let discovered = discovery(check, client, target).await;
    if let Some(browser) = &client.browser {
        browser_cors(check, client, browser, target).await;
    }
    if let Some(discovered) = discovered {
        let identity = identify(check, client, target, &discovered.metadata).await;
        if let Some(identity) = &identity {
            authorized(check, client, target, &discovered, identity).await;
            if let Identity::Registered(registration) = identity {
                delete_registration(check, registration, target).await;
            }
        }
    }
    check.client = None;
}

/// Fails a phase that took longer than the client waits; otherwise adds the timing to `detail`.
fn within(
    client: &ClientShape,
    phase: &str,
    budget: fn(&Budgets) -> f64,
    took_ms: f64,
    detail: String,
) -> Result<String, String> {
    match client.budgets_s.as_ref().map(budget) {
        Some(limit) if took_ms >= limit * 1000.0 => Err(format!(
            "{phase} took {took_ms:.1} ms; {} gives up after {limit} s",
            client.name
        )),
        Some(limit) => Ok(format!("{detail} ({took_ms:.1} ms of its {limit} s)")),
        None => Ok(detail),
    }
}

async fn discovery(
    check: &mut Check,
    client: &ClientShape,
    target: &Target<'_>,
) -> Option<Discovered> {
    let http = check.http.clone();
    let mcp_url = target.mcp_url;
    let version = client
        .protocol_versions
        .first()
        .cloned()
        .unwrap_or_default();
    let first = if client.discovers_first() {
        request(client, &version, 1, "server/discover", json!({}))
    } else {
        request(
            client,
            &version,
            1,
            "initialize",
            initialize_params(client, &version),
        )
    };
    let method = first["method"].as_str().unwrap_or_default().to_owned();
    let reach = reach_note(client, mcp_url);
    check
        .step("discovery (401 challenge, RFC 9728, RFC 8414)", async {
            if let Some(Err(refused)) = &reach {
                return Err(refused.clone());
            }
            let start = Instant::now();
            let mut post = http
                .post(mcp_url)
                .header(header::ACCEPT, MCP_ACCEPT)
                .json(&first);
            for (name, value) in headers_for(client, &version, &method, None) {
                post = post.header(name, value);
            }
            let answer = post.send().await.map_err(|e| format!("POST {mcp_url}: {e}"))?;
            if answer.status() != StatusCode::UNAUTHORIZED {
                return Err(format!(
                    "its first request ({method}, no token) got HTTP {}, not 401: it never learns where to sign in",
                    answer.status()
                ));
            }
            let challenge = answer
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| {
                    if answer.headers().contains_key("x-amzn-remapped-www-authenticate") {
                        "the 401's WWW-Authenticate arrives renamed to x-amzn-Remapped-WWW-Authenticate (API Gateway): the client sees no challenge; run `mcpctl doctor` for the fix".to_owned()
                    } else {
                        "the 401 carries no WWW-Authenticate challenge".to_owned()
                    }
                })?;
            let prm_url = resource_metadata(&challenge)
                .ok_or_else(|| format!("the challenge has no resource_metadata: {challenge}"))?;
            let prm: ProtectedResourceMetadata = get_json(&http, &prm_url).await?;
            if prm.resource.trim_end_matches('/') != mcp_url {
                return Err(format!(
                    "the protected resource metadata names {} but the client connected to {mcp_url}",
                    prm.resource
                ));
            }
            let issuer = prm
                .authorization_servers
                .first()
                .and_then(|s| Url::parse(s).ok())
                .ok_or("the protected resource metadata names no authorization server")?;
            let expected = issuer.as_str().trim_end_matches('/').to_owned();
            let metadata: AuthorizationServerMetadata =
                match get_json(&http, &rfc8414_url(&issuer)).await {
                    Ok(metadata) => metadata,
                    Err(first) => get_json(&http, &format!("{expected}/.well-known/openid-configuration"))
                        .await
                        .map_err(|second| format!("{first}; {second}"))?,
                };
            if metadata.issuer != expected {
                return Err(format!(
                    "the metadata's issuer is {} but it was found for {expected} (RFC 8414 §3.3): the client stops",
                    metadata.issuer
                ));
            }
            if !metadata.code_challenge_methods_supported.iter().any(|m| m == "S256") {
                return Err("code_challenge_methods_supported lacks S256: the client refuses to continue".into());
            }
            let took = ms(start.elapsed());
            let mut scope: Vec<String> = challenge_scope(&challenge)
                .map(|s| s.split(' ').map(str::to_owned).collect())
                .unwrap_or_else(|| prm.scopes_supported.clone());
            for extra in &client.scopes {
                if !scope.contains(extra) {
                    scope.push(extra.clone());
                }
            }
            scope.retain(|s| !s.is_empty());
            let mut detail = format!("{method} first, then issuer {expected}");
            if let Some(Ok(note)) = &reach {
                detail.push_str("; ");
                detail.push_str(note);
            }
            let detail = within(client, "discovery", |b| b.discovery, took, detail)?;
            Ok((Discovered { metadata, scope }, detail))
        })
        .await
}

/// What a browser client needs before it reads any answer: a preflight that allows its origin,
/// `POST` and every header it sends, and a 401 whose challenge it may read.
async fn browser_cors(
    check: &mut Check,
    client: &ClientShape,
    browser: &crate::clients::Browser,
    target: &Target<'_>,
) {
    let http = check.http.clone();
    let mcp_url = target.mcp_url;
    check
        .step("CORS: preflight and the 401 challenge", async {
            let preflight = http
                .request(reqwest::Method::OPTIONS, mcp_url)
                .header(header::ORIGIN, &browser.origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    browser.request_headers.join(","),
                )
                .send()
                .await
                .map_err(|e| format!("OPTIONS {mcp_url}: {e}"))?;
            if !preflight.status().is_success() {
                return Err(format!(
                    "the preflight from {} got HTTP {}: the browser sends nothing",
                    browser.origin,
                    preflight.status()
                ));
            }
            allows_origin(preflight.headers(), &browser.origin)?;
            let methods = listed(preflight.headers(), header::ACCESS_CONTROL_ALLOW_METHODS);
            if !methods.iter().any(|m| m == "post" || m == "*") {
                return Err(format!("the preflight allows methods {methods:?}, not POST"));
            }
            let allowed = listed(preflight.headers(), header::ACCESS_CONTROL_ALLOW_HEADERS);
            let refused: Vec<&str> = browser
                .request_headers
                .iter()
                .filter(|h| !allowed.iter().any(|a| a == *h || a == "*"))
                .map(String::as_str)
                .collect();
            if !refused.is_empty() {
                return Err(format!(
                    "the preflight does not allow {}: the browser refuses to send them",
                    refused.join(", ")
                ));
            }
            let challenge = http
                .post(mcp_url)
                .header(header::ORIGIN, &browser.origin)
                .header(header::ACCEPT, MCP_ACCEPT)
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
                .send()
                .await
                .map_err(|e| format!("POST {mcp_url}: {e}"))?;
            allows_origin(challenge.headers(), &browser.origin)?;
            let exposed = listed(challenge.headers(), header::ACCESS_CONTROL_EXPOSE_HEADERS)
                .iter()
                .any(|h| h == "www-authenticate" || h == "*");
            let reads_challenge = browser.reads_headers.iter().any(|h| h == "www-authenticate");
            if reads_challenge && !exposed {
                return Err(format!(
                    "the 401 does not expose WWW-Authenticate: {} in the browser never learns where to sign in",
                    client.name
                ));
            }
            Ok(((), format!("{} may send {} and read the challenge", browser.origin, browser.request_headers.join(", "))))
        })
        .await;
}

/// An answer's `Access-Control-Allow-Origin` must let `origin` read it.
fn allows_origin(headers: &header::HeaderMap, origin: &str) -> Result<(), String> {
    if crate::probe::allows_origin(headers, origin) {
        return Ok(());
    }
    let allowed = headers
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok());
    Err(format!(
        "Access-Control-Allow-Origin is {allowed:?}: the browser at {origin} may not read the answer"
    ))
}

/// Whether `client` can reach `mcp_url` at all: a refusal for an https port it never uses, a
/// note when it connects from its vendor's cloud and the server is on this machine.
fn reach_note(client: &ClientShape, mcp_url: &str) -> Option<Result<String, String>> {
    let url = Url::parse(mcp_url).ok()?;
    if let Some(ports) = &client.https_ports
        && url.scheme() == "https"
        && let Some(port) = url.port_or_known_default()
        && !ports.contains(&port)
    {
        return Some(Err(format!(
            "{} connects to https on port {} only, and this server is on {port}",
            client.name,
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let local = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    (local && client.connects_from == crate::clients::ConnectsFrom::Cloud).then(|| {
        Ok(format!(
            "{} connects from its vendor's cloud and cannot reach this machine: this replays its flow's shape",
            client.name
        ))
    })
}

/// `scope="…"` from a challenge (RFC 6750 §3).
fn challenge_scope(challenge: &str) -> Option<String> {
    let start = challenge.find("scope=\"")? + "scope=\"".len();
    let end = challenge[start..].find('"')?;
    Some(challenge[start..start + end].to_owned())
}

/// The client's identity: its metadata document when the server takes CIMD the way the client
/// needs (Claude: only with `none` among the token endpoint's methods), else a registration.
async fn identify(
    check: &mut Check,
    client: &ClientShape,
    target: &Target<'_>,
    metadata: &AuthorizationServerMetadata,
) -> Option<Identity> {
    let none = metadata
        .token_endpoint_auth_methods_supported
        .iter()
        .any(|m| m == "none");
    let document = client.cimd.as_ref().filter(|cimd| {
        metadata.client_id_metadata_document_supported && (none || !cimd.needs_auth_method_none)
    });
    if let Some(cimd) = document {
        let served = target
            .documents
            .and_then(|documents| documents.url(&client.id));
        let url = match served {
            Some(url) => Some((url.clone(), "a copy served on 127.0.0.1")),
            // A per-app document exists only for a real app.
            None if cimd.document.contains("{app}") => None,
            None => Some((cimd.document.clone(), "the vendor's own")),
        };
        if let Some((url, whose)) = url {
            check.record(
                "identity: Client ID Metadata Document",
                None,
                Ok(((), format!("client_id {url} ({whose}); no registration"))),
            );
            return Some(Identity::Document(url));
        }
    }
    let http = check.http.clone();
    let Some(endpoint) = metadata.registration_endpoint.clone() else {
        check.record::<()>(
            "identity: registration (RFC 7591)",
            None,
            Err(format!(
                "the server offers neither a registration endpoint nor CIMD {}: {} cannot connect",
                if client.cimd.is_some() {
                    "the way it needs"
                } else {
                    "(it has no metadata document)"
                },
                client.name
            )),
        );
        return None;
    };
    let uris = client.redirect_uris_for(LOOPBACK_PORT, SERVER_NAME);
    // A registration that was made but then judged (a secret, over budget) is still deleted.
    let mut created: Option<RegistrationResponse> = None;
    let identity = check
        .step("identity: registration (RFC 7591, its redirect URIs)", async {
            let body = RegistrationRequest {
                client_name: Some(format!("{} (mcpctl smoke-test, deleted after the run)", client.name)),
                redirect_uris: Some(uris.clone()),
                grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
                response_types: Some(vec!["code".into()]),
                token_endpoint_auth_method: Some("none".into()),
                ..RegistrationRequest::default()
            };
            let start = Instant::now();
            let answer = http.post(&endpoint).json(&body).send().await.map_err(|e| format!("POST {endpoint}: {e}"))?;
            let took = ms(start.elapsed());
            let status = answer.status();
            if status != StatusCode::CREATED && status != StatusCode::OK {
                let body: Value = answer.json().await.unwrap_or_default();
                return Err(format!(
                    "HTTP {status} {} {}: {} registers {} and cannot connect",
                    body["error"].as_str().unwrap_or(""),
                    body["error_description"].as_str().unwrap_or(""),
                    client.name,
                    uris.join(" ")
                ));
            }
            let registration: RegistrationResponse = answer
                .json()
                .await
                .map_err(|e| format!("not a registration response: {e}"))?;
            created = Some(registration.clone());
            if registration.client_secret.is_some() {
                return Err("a public client (token_endpoint_auth_method none) was given a client secret".into());
            }
            let detail = format!("client {} for {}", registration.client_id, uris.join(" "));
            let detail = within(client, "registration", |b| b.registration, took, detail)?;
            Ok((Identity::Registered(Box::new(registration)), detail))
        })
        .await;
    if identity.is_none()
        && let Some(registration) = created
    {
        delete_registration(check, &registration, target).await;
    }
    identity
}

/// Deletes a registration the replay made (RFC 7592), naming it when it is left behind.
async fn delete_registration(
    check: &mut Check,
    registration: &RegistrationResponse,
    target: &Target<'_>,
) {
    let uri = registration.registration_client_uri.clone();
    let http = check.http.clone();
    check
        .step("delete its registration (RFC 7592)", async {
            delete(&http, registration, target.mcp_url)
                .await
                .map(|()| ((), uri.clone()))
                .map_err(|e| format!("{e}: the client {uri} is left behind"))
        })
        .await;
}

/// Authorization, token, MCP and refresh, for a client that has an identity.
async fn authorized(
    check: &mut Check,
    client: &ClientShape,
    target: &Target<'_>,
    discovered: &Discovered,
    identity: &Identity,
) {
    let metadata = &discovered.metadata;
    let request = match sign_in::Request::new(client, target, discovered, identity) {
        Ok(request) => request,
        Err(e) => {
            check.record::<()>(sign_in::STEP, None, Err(e));
            return;
        }
    };
    let http = check.http.clone();
    let served_copy =
        matches!(identity, Identity::Document(url) if url.starts_with("http://127.0.0.1:"));
    let code = check
        .step(sign_in::STEP, async {
            sign_in::authorize(&http, target, metadata, &request)
                .await
                .map_err(|e| {
                    if served_copy && e.contains("metadata document") {
                        format!(
                            "{e}; restart `mcpctl dev` with --allow-insecure-cimd, so it may fetch the \
                             copy of the client's document this replay serves on 127.0.0.1 (the \
                             vendor's own needs internet access)"
                        )
                    } else {
                        e
                    }
                })
        })
        .await
        .flatten();
    let Some(code) = code else { return };
    let Some(tokens) = tokens::exchange(check, client, target, metadata, &request, &code).await
    else {
        return;
    };
    let negotiated = session::run(check, client, target, &tokens.access_token).await;
    let Some(refreshed) = tokens::refresh(check, client, target, metadata, identity, &tokens).await
    else {
        return;
    };
    if let Some(version) = negotiated {
        session::list_again(
            check,
            client,
            target,
            &version,
            &refreshed.tokens.access_token,
        )
        .await;
    }
    tokens::replay_spent(check, target, metadata, &refreshed).await;
    tokens::revoke(check, target, metadata, identity, &refreshed.tokens).await;
}

/// A client of `clients.json`, for the tests.
#[cfg(test)]
fn shape(id: &str) -> ClientShape {
    crate::clients::known()
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_fail_a_slow_phase_and_cloud_clients_get_a_reach_note() {
        let claude = shape("claude-ai");
        assert!(within(&claude, "token", |b| b.token, 10_000.0, String::new()).is_err());
        assert!(
            within(&claude, "token", |b| b.token, 20.0, "ok".into())
                .unwrap()
                .contains("of its 10 s")
        );
        assert!(matches!(
            reach_note(&claude, "http://127.0.0.1:8080/mcp"),
            Some(Ok(_))
        ));
        assert!(matches!(
            reach_note(&claude, "https://mcp.example.com:8443/mcp"),
            Some(Err(_))
        ));
        assert!(reach_note(&claude, "https://mcp.example.com/mcp").is_none());
        assert!(reach_note(&shape("cursor"), "http://127.0.0.1:8080/mcp").is_none());
        assert_eq!(
            challenge_scope(r#"Bearer resource_metadata="x", scope="mcp profile""#).as_deref(),
            Some("mcp profile")
        );
    }
}
