//! The authorization endpoint's logic (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207).
//!
//! Validation happens in two stages, because of open redirects: until the client and the
//! redirect URI are known good, errors are shown on a page ([`AuthorizeError::Page`]); after
//! that they go back to the client by redirect ([`AuthorizeError::Redirect`]).

use serde::{Deserialize, Serialize};
use url::Url;

use super::{error::OAuthError, pkce, redirect_uri, scope};
use crate::{
    crypto,
    state::AppState,
    store::{AuthCodeRecord, ClientRecord, UserClaims},
};

/// The query of an authorization request, as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// Client id (registered id or metadata-document URL).
    pub client_id: Option<String>,
    /// Where to send the answer.
    pub redirect_uri: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
    /// Opaque client state, returned unchanged.
    pub state: Option<String>,
    /// Requested scopes.
    pub scope: Option<String>,
    /// RFC 8707 resource.
    pub resource: Option<String>,
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct ValidAuthorization {
    /// The client.
    pub client: ClientRecord,
    /// The redirect URI as requested (it matched the registration).
    pub redirect_uri: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// Granted scope.
    pub scope: String,
    /// Token audience.
    pub resource: String,
    /// Client state.
    pub state: Option<String>,
}

/// Where an authorization error goes.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    Page(OAuthError),
    /// Send the error to the client's redirect URI.
    Redirect(String),
    /// The redirect URI matched, but the client is not vetted (open DCR, CIMD): show the
    /// error on a page with a link back, never an automatic redirect (RFC 9700 §4.11.2), so
    /// the server cannot be used to bounce people to an attacker's URI without a click.
    ReturnLink {
        /// The error redirect, behind a link.
        location: String,
        /// The application's name.
        client_name: String,
        /// What went wrong.
        error: OAuthError,
    },
}

/// Sends `error` back to a matched redirect URI: by redirect to a client the operator
/// registered, behind a link otherwise.
pub fn send_back(
    state: &AppState,
    client: &ClientRecord,
    redirect: &str,
    error: OAuthError,
    client_state: Option<&str>,
) -> AuthorizeError {
    let location = error_redirect(state, redirect, &error, client_state);
    if client.origin.is_operator() {
        AuthorizeError::Redirect(location)
    } else {
        AuthorizeError::ReturnLink {
            location,
            client_name: client
                .metadata
                .client_name
                .clone()
                .unwrap_or_else(|| client.client_id.clone()),
            error,
        }
    }
}

impl From<OAuthError> for AuthorizeError {
    fn from(error: OAuthError) -> Self {
        Self::Page(error)
    }
}

/// Validates an authorization request.
pub async fn validate(
    state: &AppState,
    params: &AuthorizeParams,
) -> Result<ValidAuthorization, AuthorizeError> {
    let client_id = params
        .client_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
    let client = state.find_client(client_id).await?.ok_or_else(|| {
        OAuthError::InvalidClient(format!(
            "no client is registered with id `{}`",
            short(client_id)
        ))
    })?;

    let registered = &client.metadata.redirect_uris;
    let redirect = match params.redirect_uri.as_deref() {
        Some(requested) => registered
            .iter()
            .any(|r| redirect_uri::matches(r, requested))
            .then(|| requested.to_owned())
            .ok_or_else(|| {
                OAuthError::invalid_request(
                    "redirect_uri does not match any URI registered for this client",
                )
            })?,
        None if registered.len() == 1 => registered[0].clone(),
        None => return Err(OAuthError::invalid_request("redirect_uri is required").into()),
    };

    // Rows registered under older, laxer rules (or a scheme the operator has since removed)
    // must not receive redirects: the registration rules of today apply at every use.
    if let Err(why) = redirect_uri::check(&redirect, &state.config.redirect_schemes) {
        return Err(OAuthError::invalid_request(format!(
            "the registered redirect URI is no longer accepted ({why}); register the client again"
        ))
        .into());
    }

    // From here on the redirect URI is trusted: errors go back to the client.
    let back =
        |error: OAuthError| send_back(state, &client, &redirect, error, params.state.as_deref());
    match params.response_type.as_deref() {
        Some("code") => {}
        Some(other) => {
            return Err(back(OAuthError::UnsupportedResponseType(format!(
                "response_type `{other}` is not supported; use code"
            ))));
        }
        None => {
            return Err(back(OAuthError::invalid_request(
                "response_type is required",
            )));
        }
    }
    if !client
        .metadata
        .grant_types
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err(back(OAuthError::UnauthorizedClient(
            "this client is not registered for the authorization_code grant".into(),
        )));
    }
    let code_challenge = pkce::validate_challenge(
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    )
    .map_err(back)?;
    let config = &state.config;
    // A self-registered client's `scope` is self-declared (it could register again with any
    // offered scope), so it limits nothing; the person's consent, which lists the scopes, does.
    // Holding the client to it would break MCP step-up, where a client answered 403
    // `insufficient_scope` asks for the wider scope in a new authorization without registering
    // again. An operator's client keeps the scope the operator registered.
    let registered_limit = client
        .origin
        .is_operator()
        .then_some(client.metadata.scope.as_deref())
        .flatten();
    let scope = scope::resolve(
        params.scope.as_deref(),
        &config.scopes,
        registered_limit,
        &config.mcp_scope,
    )
    .map_err(back)?;
    let resource = resolve_resource(state, params.resource.as_deref()).map_err(back)?;
    Ok(ValidAuthorization {
        client,
        redirect_uri: redirect,
        code_challenge,
        scope,
        resource,
        state: params.state.clone(),
    })
}

/// Checks an RFC 8707 `resource`: absent means this server's MCP resource; anything else must be it.
pub fn resolve_resource(state: &AppState, resource: Option<&str>) -> Result<String, OAuthError> {
    let ours = state.config.resource();
    match resource {
        None => Ok(ours),
        Some(requested) if requested.trim_end_matches('/') == ours => Ok(ours),
        Some(requested) => Err(OAuthError::InvalidTarget(format!(
            "resource `{}` is not served here; this server's resource is {ours}",
            short(requested)
        ))),
    }
}

/// Issues a code for an approved request and returns the redirect location.
pub async fn approve(
    state: &AppState,
    request: &ValidAuthorization,
    user: UserClaims,
) -> Result<String, AuthorizeError> {
    let code = crypto::random_token(32).map_err(OAuthError::from)?;
    let now = state.now();
    let record = AuthCodeRecord {
        code_hash: crypto::hash_secret(&code),
        client_id: request.client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        scope: request.scope.clone(),
        resource: request.resource.clone(),
        user,
        issued_at: now,
        expires_at: now + state.config.auth_code_ttl.as_secs(),
        used_at: None,
        family_id: None,
    };
    state.stores.codes.put(record).await.map_err(|e| {
        send_back(
            state,
            &request.client,
            &request.redirect_uri,
            OAuthError::from(e),
            request.state.as_deref(),
        )
    })?;
    Ok(redirect_with(
        state,
        &request.redirect_uri,
        &[("code", &code)],
        request.state.as_deref(),
    ))
}

/// The redirect for a request the user refused.
pub fn deny(state: &AppState, request: &ValidAuthorization) -> String {
    let error = OAuthError::AccessDenied("the user denied the request".into());
    error_redirect(
        state,
        &request.redirect_uri,
        &error,
        request.state.as_deref(),
    )
}

/// The redirect carrying an error back to a trusted redirect URI.
pub fn error_redirect(
    state: &AppState,
    redirect: &str,
    error: &OAuthError,
    client_state: Option<&str>,
) -> String {
    let code = error.to_string();
    let description = error.description().unwrap_or_default().to_owned();
    redirect_with(
        state,
        redirect,
        &[("error", &code), ("error_description", &description)],
        client_state,
    )
}

/// Appends the response parameters, `state` and `iss` (RFC 9207) to the redirect URI, keeping its query.
fn redirect_with(
    state: &AppState,
    redirect: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> String {
    let Ok(mut url) = Url::parse(redirect) else {
        return redirect.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in params {
            query.append_pair(key, value);
        }
        if let Some(client_state) = client_state {
            query.append_pair("state", client_state);
        }
        query.append_pair("iss", &state.config.issuer());
    }
    url.into()
}

fn short(value: &str) -> String {
    value.chars().take(80).collect()
}
