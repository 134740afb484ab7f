//! The sign-in part of a replay: the authorization request with PKCE (S256), the person's
//! approval where a smoke test may give it (the consent page of `mcpctl dev`, as its fixed dev
//! user), and the code read from the redirect back to the client, with its `state` and `iss`
//! checked (RFC 9207).

use std::collections::HashMap;

use aws_lc_rs::digest;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcpctl_handler::{crypto, oauth::discovery::AuthorizationServerMetadata};
use reqwest::{Client, StatusCode, header};
use url::Url;

use super::{Discovered, Identity, LOOPBACK_PORT, SERVER_NAME, Target};
use crate::{clients::ClientShape, operator_client::carries_secrets};

/// The step's name.
pub(super) const STEP: &str = "authorization (code, PKCE S256)";

/// One authorization request and the secrets the client keeps for the token request.
pub(super) struct Request {
    /// The PKCE verifier (RFC 7636 §4.1).
    pub(super) verifier: String,
    /// The redirect URI it asks to come back to.
    pub(super) redirect_uri: String,
    /// The client's id (registered, or its document's URL).
    pub(super) client_id: String,
    /// The client's `state`.
    state: String,
    /// The query of `GET /authorize`.
    query: Vec<(&'static str, String)>,
}

impl Request {
    /// The request `client` makes after `discovered`, as `identity`: its first redirect URI,
    /// a fresh verifier and state, the discovered scopes and the MCP URL as the resource.
    pub(super) fn new(
        client: &ClientShape,
        target: &Target<'_>,
        discovered: &Discovered,
        identity: &Identity,
    ) -> Result<Self, String> {
        let redirect_uri = client
            .redirect_uris_for(LOOPBACK_PORT, SERVER_NAME)
            .first()
            .cloned()
            .ok_or_else(|| format!("{} has no redirect URI in clients.json", client.id))?;
        let verifier = crypto::random_token(32).map_err(|e| e.to_string())?;
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        let state = crypto::random_token(16).map_err(|e| e.to_string())?;
        let mut query = vec![
            ("response_type", "code".to_owned()),
            ("client_id", identity.client_id().to_owned()),
            ("redirect_uri", redirect_uri.clone()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".to_owned()),
            ("state", state.clone()),
            ("resource", target.mcp_url.to_owned()),
        ];
        if !discovered.scope.is_empty() {
            query.push(("scope", discovered.scope.join(" ")));
        }
        Ok(Self {
            verifier,
            redirect_uri,
            client_id: identity.client_id().to_owned(),
            state,
            query,
        })
    }
}

/// Sends the person to the authorization endpoint and, where a smoke test may, approves: the
/// code, or `None` with the reason when a person must sign in at a provider.
pub(super) async fn authorize(
    http: &Client,
    target: &Target<'_>,
    metadata: &AuthorizationServerMetadata,
    request: &Request,
) -> Result<(Option<String>, String), String> {
    let endpoint = &metadata.authorization_endpoint;
    let mut url =
        Url::parse(endpoint).map_err(|e| format!("authorization_endpoint {endpoint}: {e}"))?;
    url.query_pairs_mut().extend_pairs(&request.query);
    let answer = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {endpoint}: {e}"))?;
    let status = answer.status();
    let (location, how) = match status {
        StatusCode::FOUND | StatusCode::SEE_OTHER => {
            let location = location(&answer)?;
            let back = Url::parse(&location).is_ok_and(|u| back_at(&u, &request.redirect_uri));
            if !back {
                // The origin only: a Location may carry a code.
                let at = Url::parse(&location).map_or_else(
                    |_| "an unparsable Location".to_owned(),
                    |u| u.origin().ascii_serialization(),
                );
                return Ok((None, needs_person(&at)));
            }
            (
                location,
                if target.dev {
                    "approved without a page (--auto-approve)"
                } else {
                    "approved without a page (consent given before)"
                },
            )
        }
        // The dev user is approved only on the dev server's own consent page: metadata that
        // points the authorization endpoint elsewhere gets no approval.
        StatusCode::OK if target.dev && carries_secrets(endpoint, target.mcp_url) => (
            approve_consent_page(http, endpoint, answer).await?,
            "approved on the consent page as the dev user",
        ),
        StatusCode::OK => return Ok((None, needs_person(endpoint))),
        status => {
            return Err(format!(
                "HTTP {status}: {}",
                page_message(&answer.text().await.unwrap_or_default())
            ));
        }
    };
    let code = code_from(&location, &request.redirect_uri, &request.state, metadata)?;
    Ok((Some(code), how.to_owned()))
}

/// The row of a sign-in only a person can do.
fn needs_person(at: &str) -> String {
    format!(
        "not run: a person signs in at {at}, which a smoke test does not do; the steps before \
         this passed, and `mcpctl dev` replays the rest of the flow"
    )
}

/// Submits `mcpctl dev`'s consent page with "approve", the way the dev user's click does:
/// the page's own form and CSRF cookie. Returns the redirect back to the client.
async fn approve_consent_page(
    http: &Client,
    endpoint: &str,
    page: reqwest::Response,
) -> Result<String, String> {
    let cookie = set_cookie(&page);
    let page = page.text().await.map_err(|e| e.to_string())?;
    let mut form = hidden_inputs(&page);
    if form.is_empty() {
        return Err("the authorization endpoint answered 200 without a consent form".into());
    }
    form.push(("decision".into(), "approve".into()));
    let mut post = http.post(endpoint).form(&form);
    if let Some(cookie) = cookie {
        post = post.header(header::COOKIE, cookie);
    }
    let decided = post.send().await.map_err(|e| e.to_string())?;
    if !decided.status().is_redirection() {
        return Err(format!(
            "approving the consent page got HTTP {}: {}",
            decided.status(),
            page_message(&decided.text().await.unwrap_or_default())
        ));
    }
    location(&decided)
}

/// Whether `url` is the redirect URI (query aside).
fn back_at(url: &Url, redirect_uri: &str) -> bool {
    Url::parse(redirect_uri).is_ok_and(|expected| {
        url.scheme() == expected.scheme()
            && url.host_str() == expected.host_str()
            && url.port() == expected.port()
            && url.path() == expected.path()
    })
}

/// The `Location` of a redirect.
fn location(answer: &reqwest::Response) -> Result<String, String> {
    answer
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("HTTP {} without a Location", answer.status()))
}

/// The cookies a response sets, as one `Cookie` header value.
fn set_cookie(answer: &reqwest::Response) -> Option<String> {
    let pairs: Vec<&str> = answer
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

/// The hidden fields of the consent page's form. Written by hand because the page is our own,
/// with one known shape (`<input type="hidden" name="…" value="…">`), which an HTML parser
/// dependency would not make safer.
fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')?;
        Some(html_escape::decode_html_entities(&tag[start..start + end]).into_owned())
    };
    page.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// The error an error page explains (its `<p class="error">`), else the page's start.
fn page_message(page: &str) -> String {
    let message = page
        .split("<p class=\"error\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or(page);
    html_escape::decode_html_entities(message)
        .chars()
        .take(300)
        .collect()
}

/// The code from the redirect back to `redirect_uri`, after checking `state` and `iss`.
fn code_from(
    location: &str,
    redirect_uri: &str,
    state: &str,
    metadata: &AuthorizationServerMetadata,
) -> Result<String, String> {
    // Never the Location itself in a message: it may carry a code.
    let url =
        Url::parse(location).map_err(|e| format!("the redirect's Location is no URL ({e})"))?;
    if !back_at(&url, redirect_uri) {
        return Err(format!(
            "redirected to {} instead of the client's {redirect_uri}",
            url.origin().ascii_serialization()
        ));
    }
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    // RFC 9207 §2.4: a wrong `iss` is refused whether or not the metadata announced it, before
    // anything else in the answer is believed; announced, it must be there.
    let iss = query.get("iss").map(String::as_str);
    if iss.is_some_and(|iss| iss != metadata.issuer)
        || (metadata.authorization_response_iss_parameter_supported && iss.is_none())
    {
        return Err(format!(
            "the redirect's iss is {iss:?}, not the issuer {} (RFC 9207): the client suspects a mix-up attack",
            metadata.issuer
        ));
    }
    if let Some(error) = query.get("error") {
        return Err(format!(
            "the server sent back {error}: {}",
            query.get("error_description").map_or("", String::as_str)
        ));
    }
    if query.get("state").map(String::as_str) != Some(state) {
        return Err("the redirect does not carry the client's state back".into());
    }
    query
        .get("code")
        .cloned()
        .ok_or_else(|| "the redirect carries no code".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_consent_form_is_read_back_with_its_entities_decoded() {
        let page = r#"<form method="post" action="/oauth/authorize"><input type="hidden" name="redirect_uri" value="https://claude.ai/cb?a=1&amp;b=&quot;2&quot;"><input type="hidden" name="csrf" value="t0k"><button name="decision" value="approve">"#;
        assert_eq!(
            hidden_inputs(page),
            vec![
                (
                    "redirect_uri".to_owned(),
                    "https://claude.ai/cb?a=1&b=\"2\"".to_owned()
                ),
                ("csrf".to_owned(), "t0k".to_owned()),
            ]
        );
        assert_eq!(
            page_message(r#"<h1>x</h1><p class="error">bad &amp; wrong</p>"#),
            "bad & wrong"
        );
    }

    #[test]
    fn a_redirect_elsewhere_or_without_state_or_iss_is_refused() {
        let metadata: AuthorizationServerMetadata = serde_json::from_value(json!({
            "issuer": "http://127.0.0.1:1", "authorization_endpoint": "x", "token_endpoint": "y",
            "authorization_response_iss_parameter_supported": true
        }))
        .unwrap();
        let uri = "http://localhost:49153/callback";
        let good = "http://localhost:49153/callback?code=c&state=s&iss=http%3A%2F%2F127.0.0.1%3A1";
        assert_eq!(code_from(good, uri, "s", &metadata).unwrap(), "c");
        assert!(
            code_from(good, uri, "other", &metadata)
                .unwrap_err()
                .contains("state")
        );
        let no_iss = "http://localhost:49153/callback?code=c&state=s";
        assert!(
            code_from(no_iss, uri, "s", &metadata)
                .unwrap_err()
                .contains("RFC 9207")
        );
        let elsewhere = "http://evil.example/callback?code=c&state=s";
        assert!(
            code_from(elsewhere, uri, "s", &metadata)
                .unwrap_err()
                .contains("instead of")
        );
        let quiet: AuthorizationServerMetadata = serde_json::from_value(json!({
            "issuer": "http://127.0.0.1:1", "authorization_endpoint": "x", "token_endpoint": "y"
        }))
        .unwrap();
        let wrong = "http://localhost:49153/callback?code=c&state=s&iss=https%3A%2F%2Fevil.example";
        assert!(
            code_from(wrong, uri, "s", &quiet)
                .unwrap_err()
                .contains("RFC 9207")
        );
        assert_eq!(code_from(no_iss, uri, "s", &quiet).unwrap(), "c");
        assert!(
            !code_from("/callback?code=secret", uri, "s", &quiet)
                .unwrap_err()
                .contains("secret")
        );
        let error = "http://localhost:49153/callback?error=access_denied&state=s&iss=http%3A%2F%2F127.0.0.1%3A1";
        assert!(
            code_from(error, uri, "s", &metadata)
                .unwrap_err()
                .contains("access_denied")
        );
    }
}
