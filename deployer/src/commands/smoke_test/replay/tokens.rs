//! The token part of a replay: the code exchange of a public client (PKCE, RFC 8707
//! resource), the rotating refresh, a spent refresh token that must mint nothing new, and the
//! revocation that tidies up (RFC 7009).

use std::time::Instant;

use mcpctl_handler::oauth::{discovery::AuthorizationServerMetadata, token::TokenResponse};
use reqwest::{StatusCode, header};
use serde_json::Value;

use super::{Check, Identity, Target, sign_in, within};
use crate::{
    clients::{Budgets, ClientShape},
    operator_client::carries_secrets,
    probe::ms,
};

/// What a refresh gave, and what it spent.
pub(super) struct Refreshed {
    /// The new tokens.
    pub(super) tokens: TokenResponse,
    /// The form of the refresh request (with the spent refresh token), to replay it.
    form: Vec<(&'static str, String)>,
}

/// The code exchange.
pub(super) async fn exchange(
    check: &mut Check,
    client: &ClientShape,
    target: &Target<'_>,
    metadata: &AuthorizationServerMetadata,
    request: &sign_in::Request,
    code: &str,
) -> Option<TokenResponse> {
    let http = check.http.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("client_id", request.client_id.as_str()),
        ("code_verifier", request.verifier.as_str()),
        ("resource", target.mcp_url),
    ];
    check
        .step("token (authorization_code, public client)", async {
            token(
                &http,
                client,
                metadata,
                target.mcp_url,
                &form,
                "token",
                |b| b.token,
            )
            .await
        })
        .await
}

/// The refresh, which must rotate the refresh token.
pub(super) async fn refresh(
    check: &mut Check,
    client: &ClientShape,
    target: &Target<'_>,
    metadata: &AuthorizationServerMetadata,
    identity: &Identity,
    tokens: &TokenResponse,
) -> Option<Refreshed> {
    const STEP: &str = "refresh (rotating refresh token)";
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        check.record::<()>(
            STEP,
            None,
            Err(format!(
                "the token response has no refresh token: {} must send the person to sign in again after {} s",
                client.name, tokens.expires_in
            )),
        );
        return None;
    };
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.clone()),
        ("client_id", identity.client_id().to_owned()),
        ("resource", target.mcp_url.to_owned()),
    ];
    let http = check.http.clone();
    let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tokens = check
        .step(STEP, async {
            let (tokens, detail) =
                token(&http, client, metadata, target.mcp_url, &borrowed, "refresh", |b| b.refresh).await?;
            match &tokens.refresh_token {
                Some(next) if *next != refresh_token => Ok((tokens, detail)),
                Some(_) => Err("the refresh token was not rotated (OAuth 2.1 §4.3.1: a public client's refresh token rotates)".into()),
                None => Err("the refresh answer has no new refresh token: the client loses its sign-in at the next expiry".into()),
            }
        })
        .await?;
    Some(Refreshed { tokens, form })
}

/// Replays the refresh that was already answered.
pub(super) async fn replay_spent(
    check: &mut Check,
    target: &Target<'_>,
    metadata: &AuthorizationServerMetadata,
    refreshed: &Refreshed,
) {
    let http = check.http.clone();
    let successor = refreshed.tokens.refresh_token.as_deref();
    check
        .step("refresh: the spent refresh token mints nothing new", async {
            may_send(&metadata.token_endpoint, target.mcp_url)?;
            let answer = http
                .post(&metadata.token_endpoint)
                .form(&refreshed.form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = answer.status();
            let body: Value = answer.json().await.unwrap_or_default();
            // Strict rotation refuses it; a server with a retry window (ours: 30 s, for an
            // answer lost on the way) hands back the same successor. A new token is the bug.
            if status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant" {
                Ok(((), "400 invalid_grant".to_owned()))
            } else if status == StatusCode::OK
                && successor.is_some()
                && body["refresh_token"].as_str() == successor
            {
                Ok((
                    (),
                    "answered with the same successor (a retry inside the grace window)".to_owned(),
                ))
            } else if status == StatusCode::OK {
                // Never the body: it carries live tokens.
                Err("HTTP 200: a refresh token that was already used minted a new one, so a stolen copy is never noticed".into())
            } else {
                Err(format!(
                    "HTTP {status} {}: expected 400 invalid_grant (or the same successor, inside a retry window)",
                    body["error"].as_str().unwrap_or("")
                ))
            }
        })
        .await;
}

/// Revokes the last refresh token, so the replay leaves no live grant behind.
pub(super) async fn revoke(
    check: &mut Check,
    target: &Target<'_>,
    metadata: &AuthorizationServerMetadata,
    identity: &Identity,
    tokens: &TokenResponse,
) {
    let (Some(endpoint), Some(last)) = (&metadata.revocation_endpoint, &tokens.refresh_token)
    else {
        return;
    };
    let http = check.http.clone();
    let form = [
        ("token", last.as_str()),
        ("token_type_hint", "refresh_token"),
        ("client_id", identity.client_id()),
    ];
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", last.as_str()),
        ("client_id", identity.client_id()),
        ("resource", target.mcp_url),
    ];
    check
        .step("revoke the refresh token (RFC 7009)", async {
            may_send(endpoint, target.mcp_url)?;
            may_send(&metadata.token_endpoint, target.mcp_url)?;
            let answer = http
                .post(endpoint)
                .form(&form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if answer.status() != StatusCode::OK {
                return Err(format!("HTTP {}{}", answer.status(), oauth_error(answer).await));
            }
            // RFC 7009 answers 200 for a token it does not know as well: the token must be dead.
            let after = http
                .post(&metadata.token_endpoint)
                .form(&refresh)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = after.status();
            let error = oauth_error(after).await;
            if status == StatusCode::BAD_REQUEST && error.contains("invalid_grant") {
                Ok(((), "200, and the revoked token is refused (400 invalid_grant)".to_owned()))
            } else {
                Err(format!("revoked (200), but a refresh with it then got HTTP {status}{error}: the token still works"))
            }
        })
        .await;
}

/// Refuses to send a code, verifier or refresh token over plain http anywhere but the dev
/// server's own origin (the endpoint comes from metadata the server chose).
fn may_send(endpoint: &str, mcp_url: &str) -> Result<(), String> {
    if endpoint.starts_with("https://") || carries_secrets(endpoint, mcp_url) {
        Ok(())
    } else {
        Err(format!(
            "not sent: {endpoint} is plain http off the server's own origin, where anyone on the way could take the client's tokens"
        ))
    }
}

/// The OAuth error of a refusal (RFC 6749 §5.2), as ` error: description`; never the rest
/// of the body, which could carry tokens.
async fn oauth_error(answer: reqwest::Response) -> String {
    let body: Value = answer.json().await.unwrap_or_default();
    match (body["error"].as_str(), body["error_description"].as_str()) {
        (Some(error), Some(description)) => format!(" {error}: {description}"),
        (Some(error), None) => format!(" {error}"),
        _ => String::new(),
    }
}

/// A token request of a public client, judged like the client does.
async fn token(
    http: &reqwest::Client,
    client: &ClientShape,
    metadata: &AuthorizationServerMetadata,
    mcp_url: &str,
    form: &[(&str, &str)],
    phase: &str,
    budget: fn(&Budgets) -> f64,
) -> Result<(TokenResponse, String), String> {
    may_send(&metadata.token_endpoint, mcp_url)?;
    let start = Instant::now();
    let answer = http
        .post(&metadata.token_endpoint)
        .form(form)
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", metadata.token_endpoint))?;
    let took = ms(start.elapsed());
    let status = answer.status();
    let no_store = answer
        .headers()
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.as_bytes() == b"no-store");
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}{}", oauth_error(answer).await));
    }
    let tokens: TokenResponse = answer
        .json()
        .await
        .map_err(|e| format!("not a token response: {e}"))?;
    if !no_store {
        return Err("the token response lacks Cache-Control: no-store".into());
    }
    if !tokens.token_type.eq_ignore_ascii_case("bearer") {
        return Err(format!("token_type is {}, not Bearer", tokens.token_type));
    }
    let detail = format!(
        "scope `{}`, expires in {} s{}",
        tokens.scope,
        tokens.expires_in,
        if tokens.refresh_token.is_some() {
            ", with a refresh token"
        } else {
            ""
        }
    );
    let detail = within(client, phase, budget, took, detail)?;
    Ok((tokens, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_over_https_or_to_the_dev_servers_own_origin_only() {
        let dev = "http://127.0.0.1:8787/mcp";
        assert!(may_send("http://127.0.0.1:8787/oauth/token", dev).is_ok());
        assert!(
            may_send(
                "https://auth.example.com/token",
                "https://mcp.example.com/mcp"
            )
            .is_ok()
        );
        assert!(may_send("http://127.0.0.1:9999/oauth/token", dev).is_err());
        assert!(may_send("http://auth.example.com/token", dev).is_err());
    }
}
