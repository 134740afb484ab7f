//! Sign-in through the upstream OpenID provider (`oidc` identity mode).
//!
//! 1. `GET /oauth/authorize` (validated by `consent`): store the request as a [`PendingSignIn`]
//!    keyed by a random handle, send the browser to the provider with the handle as `state`; the
//!    `nonce` and the PKCE verifier are MACs of the handle, so the table holds nothing usable.
//! 2. `GET /oauth/callback`: take the pending sign-in (single use), check the browser-binding
//!    cookie, exchange the provider's code, verify the ID token, apply the allow-lists; then
//!    either issue our code (consent remembered) or store a consent-stage pending sign-in and
//!    show the consent page.
//! 3. `POST /oauth/authorize`: [`decide`] takes that pending sign-in (CSRF: a MAC over the
//!    cookie and the handle) and issues our code, or sends `access_denied`.
//!
//! The browser-binding cookie (`SameSite=Lax`, so it survives the top-level redirect back from
//! the provider) stops an attacker from completing, in a victim's browser, a sign-in the
//! attacker started.

use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    consent::{consent_page, cookie, failure, issue_code, set_cookie},
    log::LogFields,
    pages,
};
use crate::{
    crypto,
    identity::{claims, upstream::UpstreamError},
    oauth::{
        authorize::{self, AuthorizeError, ValidAuthorization},
        error::OAuthError,
    },
    state::AppState,
    store::{ClientOrigin, ConsentGrant, PendingSignIn, PendingTake, UserClaims},
};

const COOKIE: &str = "mcp_signin";
/// How long a person has to sign in at the provider, and then to decide on the consent page.
const PENDING_TTL: u64 = 600;

fn logged(mut response: Response, error: &str, client_id: Option<&str>) -> Response {
    LogFields {
        error: Some(error.to_owned()),
        client_id: client_id.map(str::to_owned),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

fn nonce(state: &AppState, handle: &str) -> String {
    state.keys.mac.sign(&["oidc-nonce", handle])
}

fn pkce_verifier(state: &AppState, handle: &str) -> String {
    state.keys.mac.sign(&["oidc-pkce", handle])
}

fn consent_csrf(state: &AppState, cookie: &str, handle: &str) -> String {
    state.keys.mac.sign(&["oidc-consent", cookie, handle])
}

fn consent_key(user: &UserClaims, client_id: &str) -> String {
    crypto::hash_secret(&format!("{}\n{client_id}", user.sub))
}

fn pending_for(
    request: &ValidAuthorization,
    handle: &str,
    browser: &str,
    user: Option<UserClaims>,
    now: u64,
) -> PendingSignIn {
    PendingSignIn {
        handle_hash: crypto::hash_secret(handle),
        browser_hash: crypto::hash_secret(browser),
        client_id: request.client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        scope: request.scope.clone(),
        resource: request.resource.clone(),
        state: request.state.clone(),
        user,
        created_at: now,
        expires_at: now + PENDING_TTL,
    }
}

fn unavailable_page(error: &impl std::fmt::Display) -> Response {
    logged(
        pages::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is temporarily unavailable",
            &format!("{error}. Wait a moment and try again."),
        ),
        "temporarily_unavailable",
        None,
    )
}

/// Step 1: send the browser to the provider.
pub(super) async fn start(
    state: &AppState,
    headers: &HeaderMap,
    request: &ValidAuthorization,
) -> Response {
    let Some(upstream) = state.upstream.as_ref() else {
        return unavailable_page(&"no upstream identity provider is configured");
    };
    let browser = match cookie(headers, COOKIE) {
        Some(value) => value,
        None => match crypto::random_token(24) {
            Ok(value) => value,
            Err(e) => return failure(AuthorizeError::Page(e.into()), None),
        },
    };
    let handle = match crypto::random_token(32) {
        Ok(handle) => handle,
        Err(e) => return failure(AuthorizeError::Page(e.into()), None),
    };
    let now = state.now();
    let url = match upstream
        .authorization_url(
            &handle,
            &nonce(state, &handle),
            &pkce_verifier(state, &handle),
            now,
        )
        .await
    {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(%error, "upstream discovery failed");
            return logged(
                pages::error_page(
                    StatusCode::BAD_GATEWAY,
                    "The sign-in provider cannot be reached",
                    &format!(
                        "{error}. Try again in a moment; if it persists, tell the operator of this server."
                    ),
                ),
                "upstream_unavailable",
                Some(&request.client.client_id),
            );
        }
    };
    let pending = pending_for(request, &handle, &browser, None, now);
    if let Err(error) = state.stores.sign_ins.put_pending(pending).await {
        return failure(
            AuthorizeError::Page(OAuthError::from(error)),
            Some(&request.client.client_id),
        );
    }
    let mut response = (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Set again even when the browser sent it: its 10 minutes restart with this sign-in.
    set_cookie(state, &mut response, COOKIE, &browser, "Lax");
    LogFields {
        client_id: Some(request.client.client_id.clone()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

/// The provider's answer at `/oauth/callback` (OpenID Connect Core §3.1.2.5/6, RFC 9207 `iss`).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// Takes the pending sign-in named by `handle`, checks it belongs to this browser and rebuilds
/// the MCP client's request.
async fn resume(
    state: &AppState,
    headers: &HeaderMap,
    handle: &str,
) -> Result<(PendingSignIn, ValidAuthorization), Response> {
    let other_browser = || {
        logged(
            pages::error_page(
                StatusCode::FORBIDDEN,
                "This sign-in was started in another browser",
                "For your safety a sign-in must finish in the browser that started it (with cookies enabled). Start again from your application in this browser.",
            ),
            "signin_browser_mismatch",
            None,
        )
    };
    // Without our cookie this cannot be the browser that started; the hash of a fixed,
    // never-issued value keeps the take below uniform (it can only answer OtherBrowser or Absent).
    let browser_hash = crypto::hash_secret(&cookie(headers, COOKIE).unwrap_or_default());
    let pending = match state
        .stores
        .sign_ins
        .take_pending(&crypto::hash_secret(handle), &browser_hash, state.now())
        .await
    {
        Ok(PendingTake::Taken(pending)) => *pending,
        Ok(PendingTake::OtherBrowser) => return Err(other_browser()),
        Ok(PendingTake::Absent) => {
            return Err(logged(
                pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in has expired or was already used",
                    "Sign-in requests are valid for 10 minutes and only once. Go back to your application and sign in again.",
                ),
                "signin_expired_or_unknown",
                None,
            ));
        }
        Err(error) => return Err(failure(AuthorizeError::Page(error.into()), None)),
    };
    let client = match state.find_client(&pending.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(logged(
                pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "The application is no longer registered",
                    "The application that asked for this sign-in was deleted in the meantime.",
                ),
                "invalid_client",
                Some(&pending.client_id),
            ));
        }
        Err(error) => return Err(failure(AuthorizeError::Page(error), None)),
    };
    let request = ValidAuthorization {
        client,
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
        scope: pending.scope.clone(),
        resource: pending.resource.clone(),
        state: pending.state.clone(),
    };
    Ok((pending, request))
}

fn client_name(request: &ValidAuthorization) -> &str {
    request
        .client
        .metadata
        .client_name
        .as_deref()
        .unwrap_or(&request.client.client_id)
}

/// A page for a failure after the client's redirect URI is trusted, with a link that tells the
/// application (`access_denied`) so it stops waiting.
fn refused(
    state: &AppState,
    request: &ValidAuthorization,
    status: StatusCode,
    title: &str,
    message: &str,
    log_error: &str,
) -> Response {
    let back = authorize::error_redirect(
        state,
        &request.redirect_uri,
        &OAuthError::AccessDenied(message.to_owned()),
        request.state.as_deref(),
    );
    logged(
        pages::error_page_with_return(status, title, message, client_name(request), &back),
        log_error,
        Some(&request.client.client_id),
    )
}

/// Step 2: `GET /oauth/callback`.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let Some(upstream) = state.upstream.as_ref() else {
        return logged(
            pages::error_page(
                StatusCode::NOT_FOUND,
                "No sign-in provider is configured",
                "This server does not sign people in through an upstream provider.",
            ),
            "not_found",
            None,
        );
    };
    let Some(handle) = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
    else {
        return logged(
            pages::error_page(
                StatusCode::BAD_REQUEST,
                "The sign-in response is incomplete",
                "The sign-in provider's answer carries no state, so it cannot be matched to a sign-in request. Start again from your application.",
            ),
            "state_missing",
            None,
        );
    };
    let (_, request) = match resume(&state, &headers, handle).await {
        Ok(resumed) => resumed,
        Err(page) => return page,
    };
    let provider = upstream.settings().issuer.trim_end_matches('/');
    if let Some(iss) = params.iss.as_deref()
        && iss.trim_end_matches('/') != provider
    {
        return refused(
            &state,
            &request,
            StatusCode::BAD_REQUEST,
            "The sign-in answer came from the wrong provider",
            "The answer names a different issuer than the provider this server uses (possible mix-up attack).",
            "issuer_mismatch",
        );
    }
    if let Some(error) = params.error.as_deref() {
        let detail = params
            .error_description
            .as_deref()
            .map(|d| format!(" ({})", plain(d, 200)))
            .unwrap_or_default();
        let error = plain(error, 64);
        return refused(
            &state,
            &request,
            StatusCode::FORBIDDEN,
            "Sign-in was not completed",
            &format!(
                "The sign-in provider answered `{error}`{detail}: the sign-in was cancelled or refused there."
            ),
            "upstream_denied",
        );
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return refused(
            &state,
            &request,
            StatusCode::BAD_REQUEST,
            "The sign-in response is incomplete",
            "The sign-in provider's answer carries no authorization code.",
            "code_missing",
        );
    };
    let now = state.now();
    let identity = match upstream
        .sign_in(
            code,
            &nonce(&state, handle),
            &pkce_verifier(&state, handle),
            now,
        )
        .await
    {
        Ok(identity) => identity,
        Err(error) => {
            tracing::warn!(%error, "upstream sign-in failed");
            let (status, title, log) = match &error {
                UpstreamError::Unavailable { .. } => (
                    StatusCode::BAD_GATEWAY,
                    "The sign-in provider cannot be reached",
                    "upstream_unavailable",
                ),
                UpstreamError::CodeRejected(_) => (
                    StatusCode::BAD_REQUEST,
                    "The sign-in provider did not accept the sign-in",
                    "upstream_code_rejected",
                ),
                UpstreamError::NoIdToken | UpstreamError::InvalidIdToken(_) => (
                    StatusCode::BAD_REQUEST,
                    "Your sign-in could not be verified",
                    "id_token_invalid",
                ),
            };
            return refused(&state, &request, status, title, &error.to_string(), log);
        }
    };
    let settings = upstream.settings();
    let user = match claims::user(settings, &identity) {
        Ok(user) => user,
        Err(not_allowed) => {
            return refused(
                &state,
                &request,
                StatusCode::FORBIDDEN,
                "This account may not use this server",
                &format!(
                    "{not_allowed}. Ask the operator of this server for access, or sign in with another account."
                ),
                "user_not_allowed",
            );
        }
    };

    if settings.remember_consent.is_some() {
        match state
            .stores
            .sign_ins
            .consent(&consent_key(&user, &request.client.client_id), now)
            .await
        {
            // A consent older than a registered client is from an earlier client with this id:
            // it never carries over. (A CIMD client's `issued_at` is its last fetch, and its id
            // is its URL, so the check does not apply to it.)
            Ok(Some(grant))
                if covers(&grant.scope, &request.scope)
                    && (request.client.origin == ClientOrigin::Cimd
                        || grant.granted_at >= request.client.issued_at)
                    && grant
                        .client_id
                        .as_deref()
                        .is_none_or(|c| c == request.client.client_id) =>
            {
                return issue_code(&state, &request, user, StatusCode::FOUND).await;
            }
            Ok(_) => {}
            Err(error) => return failure(AuthorizeError::Page(error.into()), None),
        }
    }

    // The browser cookie was checked in `resume`, so it is present.
    let browser = cookie(&headers, COOKIE).unwrap_or_default();
    let consent_handle = match crypto::random_token(32) {
        Ok(handle) => handle,
        Err(e) => return failure(AuthorizeError::Page(e.into()), None),
    };
    let next = pending_for(&request, &consent_handle, &browser, Some(user.clone()), now);
    if let Err(error) = state.stores.sign_ins.put_pending(next).await {
        return failure(AuthorizeError::Page(error.into()), None);
    }
    let csrf = consent_csrf(&state, &browser, &consent_handle);
    let hidden = [
        ("pending", consent_handle.as_str()),
        ("csrf", csrf.as_str()),
    ];
    let remember_days = settings
        .remember_consent
        .map(|d| d.as_secs().div_ceil(24 * 3600));
    let mut response = consent_page(&state, &request, &user, &hidden, remember_days);
    // The consent stage gets its own 10 minutes; so must the cookie its form is bound to.
    set_cookie(&state, &mut response, COOKIE, &browser, "Lax");
    LogFields {
        client_id: Some(request.client.client_id.clone()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

/// Provider text reduced to what an OAuth `error_description` may carry (RFC 6749 §5.2: printable
/// ASCII without `"` and `\`), since it is echoed into the page and the return link.
fn plain(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| (' '..='~').contains(c) && !matches!(c, '"' | '\\'))
        .take(max)
        .collect()
}

fn covers(granted: &str, requested: &str) -> bool {
    requested
        .split(' ')
        .filter(|s| !s.is_empty())
        .all(|s| granted.split(' ').any(|g| g == s))
}

/// Step 3: the consent form's `POST /oauth/authorize` in the `oidc` mode.
pub(super) async fn decide(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Response {
    let forged = || {
        logged(
            pages::error_page(
                StatusCode::FORBIDDEN,
                "This approval could not be verified",
                "The form was not submitted from this server's consent page in this browser (missing or invalid CSRF token). Start the sign-in again.",
            ),
            "csrf_failed",
            None,
        )
    };
    let (Some(handle), Some(tag), Some(browser)) = (
        form.get("pending")
            .filter(|h| !h.is_empty() && h.len() <= 128),
        form.get("csrf"),
        cookie(headers, COOKIE),
    ) else {
        return forged();
    };
    // Checked before the pending sign-in is consumed, so a forged post cannot burn it.
    if !state
        .keys
        .mac
        .verify(&["oidc-consent", &browser, handle], tag)
    {
        return forged();
    }
    let (pending, request) = match resume(state, headers, handle).await {
        Ok(resumed) => resumed,
        Err(page) => return page,
    };
    let Some(user) = pending.user else {
        return forged();
    };
    if form.get("decision").map(String::as_str) != Some("approve") {
        return logged(
            Redirect::to(&authorize::deny(state, &request)).into_response(),
            "access_denied",
            Some(&request.client.client_id),
        );
    }
    if let (Some(ttl), Some("yes")) = (
        state
            .upstream
            .as_ref()
            .and_then(|u| u.settings().remember_consent),
        form.get("remember").map(String::as_str),
    ) {
        let now = state.now();
        let grant = ConsentGrant {
            key_hash: consent_key(&user, &request.client.client_id),
            client_id: Some(request.client.client_id.clone()),
            scope: request.scope.clone(),
            granted_at: now,
            expires_at: now + ttl.as_secs(),
        };
        // A failure to remember must not cost the person this sign-in.
        if let Err(error) = state.stores.sign_ins.remember_consent(grant).await {
            tracing::warn!(%error, "could not remember the consent");
        }
    }
    issue_code(state, &request, user, StatusCode::SEE_OTHER).await
}
