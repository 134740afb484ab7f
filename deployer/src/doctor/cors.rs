//! `cors`: what a browser-based client (the MCP Inspector) needs. Its preflight of `POST /mcp`
//! must allow its origin and every header it sends, and the answers must expose the headers it
//! reads: `WWW-Authenticate` on the 401 (or it cannot start OAuth) and `Mcp-Session-Id` (or it
//! cannot keep a stateful session). Desktop and cloud clients need none of this.

use reqwest::{Method, Response, header};

use super::{Finding, Probe, challenge::initialize_body};
use crate::{clients::Browser, probe::MCP_ACCEPT};

/// The check's id.
pub(super) const ID: &str = "cors";

/// Runs the preflight and the requests of the first browser client in the data; `token` (the
/// operator's, when there is one) lets the authenticated answer be checked too.
pub(super) async fn check(probe: &Probe<'_>, token: Option<&str>) -> Finding {
    let start = std::time::Instant::now();
    let finding = requests(probe, token).await;
    match finding.status {
        super::Status::Skip => finding,
        _ => finding.timed(crate::probe::ms(start.elapsed())),
    }
}

async fn requests(probe: &Probe<'_>, token: Option<&str>) -> Finding {
    let Some((name, browser)) = probe
        .clients
        .iter()
        .find_map(|c| c.browser.as_ref().map(|b| (c.name.clone(), b)))
    else {
        return Finding::skip(
            ID,
            "not run: none of the clients checked runs in a browser; include one (`--client inspector`, or every client without --client)",
        );
    };
    let url = probe.mcp_url();
    let origin = browser.origin.as_str();
    let allow_fix = format!(
        "allow the origin {origin}: add it to `api.allowed_origins` in config/<stage>.yaml \
         (MCP_ALLOWED_ORIGINS), or pass `mcpctl dev --allow-origin {origin}` (the default \
         allows http://localhost:* and http://127.0.0.1:*)"
    );
    let clients = vec![name.clone()];

    let preflight = probe
        .http
        .request(Method::OPTIONS, url)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            browser.request_headers.join(","),
        )
        .send()
        .await;
    let preflight = match preflight {
        Ok(response) => response,
        Err(error) => {
            return Finding::fail(
                ID,
                format!("the preflight OPTIONS {url} failed: {error}"),
                "answer OPTIONS /mcp (the CORS preflight) without authentication",
                clients,
            );
        }
    };
    if !allows_origin(&preflight, origin) {
        return Finding::warn(
            ID,
            format!(
                "the preflight from {origin} ({name}) got HTTP {} without \
                 Access-Control-Allow-Origin: the browser blocks every request to /mcp",
                preflight.status()
            ),
            allow_fix,
            clients,
        );
    }
    let allowed = listed(&preflight, header::ACCESS_CONTROL_ALLOW_HEADERS);
    let missing: Vec<&String> = browser
        .request_headers
        .iter()
        .filter(|h| !allowed.iter().any(|a| a == *h || a == "*"))
        .collect();
    if !missing.is_empty() {
        return Finding::fail(
            ID,
            format!(
                "the preflight allows {origin} but not the headers {missing:?} ({name} sends them)"
            ),
            format!(
                "add {missing:?} to Access-Control-Allow-Headers on OPTIONS /mcp (mcpctl-handler \
                 allows every MCP header)"
            ),
            clients,
        );
    }

    let challenge = probe
        .http
        .post(url)
        .header(header::ORIGIN, origin)
        .header(header::ACCEPT, MCP_ACCEPT)
        .json(&initialize_body())
        .send()
        .await;
    let challenge = match challenge {
        Ok(response) => response,
        Err(error) => {
            return Finding::fail(
                ID,
                format!("POST {url} from {origin} failed: {error}"),
                "check that the server answers requests with an Origin header",
                clients,
            );
        }
    };
    judge_answers(
        &challenge,
        authenticated(probe, origin, token).await,
        browser,
        &name,
    )
}

/// The authenticated `initialize` from `origin`, when there is a token.
async fn authenticated(probe: &Probe<'_>, origin: &str, token: Option<&str>) -> Option<Response> {
    probe
        .http
        .post(probe.mcp_url())
        .bearer_auth(token?)
        .header(header::ORIGIN, origin)
        .header(header::ACCEPT, MCP_ACCEPT)
        .json(&initialize_body())
        .send()
        .await
        .ok()
}

/// Judges the 401 and (when there is one) the authenticated answer the browser client gets.
fn judge_answers(
    challenge: &Response,
    authenticated: Option<Response>,
    browser: &Browser,
    name: &str,
) -> Finding {
    let origin = browser.origin.as_str();
    let clients = vec![name.to_owned()];
    let gateway_fix = "send Access-Control-Allow-Origin and `Access-Control-Expose-Headers: \
                       WWW-Authenticate, Mcp-Session-Id` on the 401 too (on API Gateway: the \
                       UNAUTHORIZED gateway response's `gatewayresponse.header.Access-Control-*` \
                       parameters, which mcpctl's template sets)";
    if !allows_origin(challenge, origin) {
        return Finding::fail(
            ID,
            format!(
                "the 401 to {origin} carries no Access-Control-Allow-Origin: the browser hides it, \
                 so {name} cannot start OAuth"
            ),
            gateway_fix,
            clients,
        );
    }
    let exposed = listed(challenge, header::ACCESS_CONTROL_EXPOSE_HEADERS);
    if !exposed.iter().any(|h| h == "www-authenticate" || h == "*") {
        return Finding::fail(
            ID,
            format!(
                "the 401 does not expose WWW-Authenticate (Access-Control-Expose-Headers: {exposed:?}): {name} cannot read the challenge"
            ),
            gateway_fix,
            clients,
        );
    }
    // The authenticated answer is the one a session id comes on; without a token, the 401's
    // list is all there is to judge.
    let (answer, what) = match &authenticated {
        Some(response) => (response, "the authenticated answer"),
        None => (
            challenge,
            "the 401 (no operator token to try an authenticated call)",
        ),
    };
    let exposed = listed(answer, header::ACCESS_CONTROL_EXPOSE_HEADERS);
    let unreadable: Vec<&String> = browser
        .reads_headers
        .iter()
        .filter(|h| !exposed.iter().any(|e| e == *h || e == "*"))
        .collect();
    if !allows_origin(answer, origin) || !unreadable.is_empty() {
        return Finding::warn(
            ID,
            format!(
                "{what} to {origin} does not expose {unreadable:?}: {name} cannot keep a stateful session"
            ),
            "add `Mcp-Session-Id` to Access-Control-Expose-Headers on /mcp answers",
            clients,
        );
    }
    Finding::pass(
        ID,
        format!(
            "{origin} ({name}) is allowed; the preflight allows every header it sends; \
             WWW-Authenticate and {:?} are exposed",
            browser.reads_headers
        ),
    )
}

/// Whether `response` lets `origin` read it.
fn allows_origin(response: &Response, origin: &str) -> bool {
    crate::probe::allows_origin(response.headers(), origin)
}

/// The comma-separated values of every `name` header, lower case.
fn listed(response: &Response, name: header::HeaderName) -> Vec<String> {
    crate::probe::listed(response.headers(), name)
}
