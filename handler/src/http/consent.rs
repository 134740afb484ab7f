//! `/oauth/authorize`: validate the request, then (in dev identity mode) show the consent page
//! or auto-approve, and redirect back with a code.
//!
//! CSRF: the consent form carries a MAC over a random cookie value and the request it approves
//! (double submit, bound to the request), and the cookie is `SameSite=Strict`, so a forged
//! cross-site POST can neither read nor replay a valid token.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use url::Url;

use super::{log::LogFields, pages, signin};
use crate::{
    config::IdentityMode,
    crypto,
    oauth::{
        authorize::{self, AuthorizeError, AuthorizeParams, ValidAuthorization},
        error::OAuthError,
        redirect_uri,
    },
    state::AppState,
    store::{ClientOrigin, UserClaims},
};

const COOKIE: &str = "mcp_consent";

/// The fixed local user of the `dev` identity mode.
pub fn dev_user() -> UserClaims {
    UserClaims {
        sub: "dev-user".into(),
        name: Some("Local Developer".into()),
        email: Some("dev@localhost".into()),
        groups: Vec::new(),
    }
}

pub(super) fn failure(error: AuthorizeError, client_id: Option<&str>) -> Response {
    let mut response = match error {
        AuthorizeError::Redirect(location) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        AuthorizeError::ReturnLink {
            location,
            client_name,
            error,
        } => {
            // An unvetted client: its name is self-chosen and the description may quote its
            // request, so the page says where the link goes rather than whom it is for.
            let destination = Url::parse(&location)
                .map(|u| match u.scheme() {
                    "http" | "https" => u.origin().ascii_serialization(),
                    scheme => format!("{scheme}: (an application on this device)"),
                })
                .unwrap_or_default();
            pages::error_page_with_return(
                StatusCode::BAD_REQUEST,
                "This sign-in request cannot be completed",
                &format!("The application's request was refused ({error})."),
                &format!("{destination} (unverified application: {client_name})"),
                &location,
            )
        }
        AuthorizeError::Page(error) => {
            let status = match &error {
                OAuthError::TemporarilyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut page = pages::error_page(
                status,
                "This sign-in request cannot be completed",
                error.description().unwrap_or_default(),
            );
            LogFields {
                error: Some(error.to_string()),
                ..LogFields::default()
            }
            .attach(&mut page);
            return page;
        }
    };
    LogFields {
        client_id: client_id.map(str::to_owned),
        error: Some("redirected_error".into()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

fn csrf_tag(state: &AppState, cookie: &str, request: &ValidAuthorization) -> String {
    state.keys.mac.sign(&[
        "consent",
        cookie,
        &request.client.client_id,
        &request.redirect_uri,
        &request.code_challenge,
        &request.scope,
        &request.resource,
        request.state.as_deref().unwrap_or(""),
    ])
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The value of cookie `name` (random values we set: at most 64 characters).
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

async fn approve(state: &AppState, request: &ValidAuthorization, status: StatusCode) -> Response {
    issue_code(state, request, dev_user(), status).await
}

/// Issues the code for an approved request and redirects back to the client (`status` 302 after
/// a GET, 303 after the consent form's POST).
pub(super) async fn issue_code(
    state: &AppState,
    request: &ValidAuthorization,
    user: UserClaims,
    status: StatusCode,
) -> Response {
    match authorize::approve(state, request, user).await {
        Ok(location) => {
            crate::metrics::record(crate::metrics::Event::Authorized);
            let mut response = match status {
                StatusCode::SEE_OTHER => Redirect::to(&location).into_response(),
                _ => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            };
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            LogFields {
                client_id: Some(request.client.client_id.clone()),
                ..LogFields::default()
            }
            .attach(&mut response);
            response
        }
        Err(error) => failure(error, Some(&request.client.client_id)),
    }
}

/// `GET /oauth/authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let request = match authorize::validate(&state, &params).await {
        Ok(request) => request,
        Err(error) => return failure(error, params.client_id.as_deref()),
    };
    match state.config.identity {
        IdentityMode::Dev { auto_approve: true } => {
            // Auto-approval hands a code to whoever asks, so only to an application on this
            // machine: a web page elsewhere must not get the dev user's code without a click.
            let loopback = Url::parse(&request.redirect_uri)
                .is_ok_and(|u| u.scheme() == "http" && redirect_uri::is_loopback(&u));
            if !loopback {
                return failure(
                    AuthorizeError::Page(OAuthError::AccessDenied(
                        "--auto-approve only approves applications on this machine (http loopback redirect URIs); restart mcpctl dev without --auto-approve to approve this one on the consent page".into(),
                    )),
                    Some(&request.client.client_id),
                );
            }
            approve(&state, &request, StatusCode::FOUND).await
        }
        IdentityMode::Dev {
            auto_approve: false,
        } => consent(&state, &headers, &request),
        IdentityMode::Oidc(_) => signin::start(&state, &headers, &request).await,
        IdentityMode::Disabled => {
            let error = OAuthError::AccessDenied(
                "interactive sign-in is not configured on this server; use client_credentials"
                    .into(),
            );
            failure(
                authorize::send_back(
                    &state,
                    &request.client,
                    &request.redirect_uri,
                    error,
                    request.state.as_deref(),
                ),
                Some(&request.client.client_id),
            )
        }
    }
}

fn consent(state: &AppState, headers: &HeaderMap, request: &ValidAuthorization) -> Response {
    let (cookie, fresh) = match cookie_value(headers) {
        Some(cookie) => (cookie, false),
        None => match crypto::random_token(24) {
            Ok(cookie) => (cookie, true),
            Err(e) => return failure(AuthorizeError::Page(e.into()), None),
        },
    };
    let tag = csrf_tag(state, &cookie, request);
    let mut hidden: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &request.client.client_id),
        ("redirect_uri", &request.redirect_uri),
        ("code_challenge", &request.code_challenge),
        ("code_challenge_method", "S256"),
        ("scope", &request.scope),
        ("resource", &request.resource),
        ("csrf", &tag),
    ];
    if let Some(client_state) = &request.state {
        hidden.push(("state", client_state));
    }
    let mut response = consent_page(state, request, &dev_user(), &hidden, None);
    if fresh {
        set_cookie(state, &mut response, COOKIE, &cookie, "Strict");
    }
    response
}

/// Sets a 10-minute, HttpOnly cookie scoped to `{base}/oauth` (Secure on https).
pub(super) fn set_cookie(
    state: &AppState,
    response: &mut Response,
    name: &str,
    value: &str,
    same_site: &str,
) {
    let secure = if state.config.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let path = format!(
        "{}/oauth",
        state.config.public_url.path().trim_end_matches('/')
    );
    let cookie =
        format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age=600{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The consent page for `request`, signed in as `user`, submitting `hidden`.
pub(super) fn consent_page(
    state: &AppState,
    request: &ValidAuthorization,
    user: &UserClaims,
    hidden: &[(&str, &str)],
    remember_days: Option<u64>,
) -> Response {
    let redirect = Url::parse(&request.redirect_uri).ok();
    // The full origin, port included: `http://127.0.0.1:8080` and `http://127.0.0.1:9090` are
    // different applications.
    let redirect_origin = redirect
        .as_ref()
        .map(|u| match u.scheme() {
            "http" | "https" => u.origin().ascii_serialization(),
            scheme => format!("{scheme}:"),
        })
        .unwrap_or_default();
    let redirect_target = match redirect.as_ref().map(Url::scheme) {
        Some("http" | "https") => redirect_origin.clone(),
        _ => format!("{redirect_origin} (an application on this device)"),
    };
    let client = &request.client;
    let client_name = client
        .metadata
        .client_name
        .as_deref()
        .unwrap_or(&client.client_id);
    let publisher = match client.origin {
        // The whole document URL: on a shared host (a gist, a raw file host) the host alone
        // would vouch for something its owner never published.
        ClientOrigin::Cimd => format!(
            "published by {} at {}",
            Url::parse(&client.client_id)
                .ok()
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            client.client_id
        ),
        ClientOrigin::Dcr => "unverified application: it named itself".to_owned(),
        ClientOrigin::Operator => "registered by this server's operator".to_owned(),
    };
    let scopes: Vec<&str> = request.scope.split(' ').collect();
    let action = state.config.url("/oauth/authorize");
    let user_label = match (&user.name, &user.email) {
        (Some(name), Some(email)) => format!("{name} ({email})"),
        (Some(name), None) => name.clone(),
        (None, Some(email)) => email.clone(),
        (None, None) => user.sub.clone(),
    };
    let released = released_claims(state, &request.scope, user);
    pages::consent_page(&pages::ConsentView {
        client_name,
        publisher: &publisher,
        redirect_target: &redirect_target,
        redirect_origin: &redirect_origin,
        scopes: &scopes,
        user: &user_label,
        released: &released,
        hidden,
        action: &action,
        remember_days,
    })
}

/// What the tokens of `scope` will say about `user`, for the consent page: the same rule as
/// the token endpoint (`oauth::token`), `name` with `profile`, `email` with `email`, groups
/// with the operator's groups scope.
fn released_claims(state: &AppState, scope: &str, user: &UserClaims) -> Vec<String> {
    let granted = |wanted: &str| scope.split(' ').any(|s| s == wanted);
    let mut released = Vec::new();
    if let Some(name) = user.name.as_deref().filter(|_| granted("profile")) {
        released.push(format!("name ({name})"));
    }
    if let Some(email) = user.email.as_deref().filter(|_| granted("email")) {
        released.push(format!("e-mail ({email})"));
    }
    if let Some(groups_scope) = &state.config.groups_scope
        && granted(groups_scope)
        && !user.groups.is_empty()
    {
        released.push(format!("groups ({})", user.groups.join(", ")));
    }
    released
}

/// `POST /oauth/authorize`: the consent decision.
pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Malformed form",
            "The consent form could not be read.",
        );
    };
    if matches!(state.config.identity, IdentityMode::Oidc(_)) {
        return signin::decide(&state, &headers, &form).await;
    }
    if !matches!(state.config.identity, IdentityMode::Dev { .. }) {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Consent is not available",
            "This server has no local consent step.",
        );
    }
    let params: AuthorizeParams = match serde_json::to_value(&form).and_then(serde_json::from_value)
    {
        Ok(params) => params,
        Err(_) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "Malformed form",
                "The consent form could not be read.",
            );
        }
    };
    let request = match authorize::validate(&state, &params).await {
        Ok(request) => request,
        Err(error) => return failure(error, params.client_id.as_deref()),
    };
    let valid_csrf = match (cookie_value(&headers), form.get("csrf")) {
        (Some(cookie), Some(tag)) => crypto::constant_time_eq(
            csrf_tag(&state, &cookie, &request).as_bytes(),
            tag.as_bytes(),
        ),
        _ => false,
    };
    if !valid_csrf {
        let mut page = pages::error_page(
            StatusCode::FORBIDDEN,
            "This approval could not be verified",
            "The form was not submitted from this server's consent page (missing or invalid CSRF token). Start the sign-in again.",
        );
        LogFields {
            error: Some("csrf_failed".into()),
            ..LogFields::default()
        }
        .attach(&mut page);
        return page;
    }
    match form.get("decision").map(String::as_str) {
        Some("approve") => approve(&state, &request, StatusCode::SEE_OTHER).await,
        _ => {
            let mut response = Redirect::to(&authorize::deny(&state, &request)).into_response();
            LogFields {
                client_id: Some(request.client.client_id.clone()),
                error: Some("access_denied".into()),
                ..LogFields::default()
            }
            .attach(&mut response);
            response
        }
    }
}
