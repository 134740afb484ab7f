//! Handlers of the OAuth and discovery endpoints: parse the HTTP request into the typed inputs
//! of `oauth::*`, call the grant logic, and shape the response.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{log::LogFields, mcp_guard};
use crate::{
    crypto,
    oauth::{
        clients, discovery,
        error::OAuthError,
        registration::{self, RegistrationRequest},
        revoke,
        token::{self, ClientAuthentication, TokenRequest},
    },
    state::AppState,
    store::{ClientOrigin, StoreError},
};

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn with_client(mut response: Response, client_id: &str) -> Response {
    LogFields {
        client_id: Some(client_id.to_owned()),
        ..LogFields::default()
    }
    .attach(&mut response);
    response
}

fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// Parses a form body; a repeated parameter is an error (RFC 6749 §3.1, §3.2).
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    if !content_type_is(headers, "application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the form body is malformed"))?;
    let mut form = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if form.insert(name.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{name}` is repeated"
            )));
        }
    }
    Ok(form)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header_str(headers, header::AUTHORIZATION)?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `POST /dcr` (RFC 7591).
pub async fn dcr_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match register(&state, &headers, &body).await {
        Ok((client_id, response)) => with_client(
            no_store((StatusCode::CREATED, Json(response)).into_response()),
            &client_id,
        ),
        Err(error) => error.into_response(),
    }
}

async fn register(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, registration::RegistrationResponse), OAuthError> {
    let origin = registrar(state, headers)?;
    if !origin.is_operator() && !state.config.registration_open {
        return Err(OAuthError::AccessDenied(
            "open registration is disabled on this server; ask an operator to register the client"
                .into(),
        ));
    }
    if !content_type_is(headers, "application/json") {
        return Err(OAuthError::invalid_request(
            "the registration request must be application/json",
        ));
    }
    let request: RegistrationRequest = serde_json::from_slice(body).map_err(|e| {
        OAuthError::InvalidClientMetadata(format!(
            "the registration request is not valid client metadata: {e}"
        ))
    })?;
    let metadata = registration::validate(request, &state.config, origin)?;
    let new = registration::mint(metadata, &state.config, state.now(), origin)?;
    let client_id = new.record.client_id.clone();
    state
        .stores
        .clients
        .create(new.record)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => OAuthError::ServerError("client id collision".into()),
            other => other.into(),
        })?;
    Ok((client_id, new.response))
}

/// Who is registering: an operator presenting an initial access token (RFC 7591 §3), or
/// anyone. A bearer that is not a valid initial access token is refused (RFC 6750 §3.1)
/// rather than read as anonymous, so automation with a wrong token learns it at once.
fn registrar(state: &AppState, headers: &HeaderMap) -> Result<ClientOrigin, OAuthError> {
    if headers.get(header::AUTHORIZATION).is_none() {
        return Ok(ClientOrigin::Dcr);
    }
    let token = bearer(headers).filter(|t| !t.is_empty()).ok_or_else(|| {
        OAuthError::InvalidToken(
            "registration accepts only a Bearer initial access token in Authorization".into(),
        )
    })?;
    let presented = crypto::hash_secret(token);
    let known = state
        .config
        .initial_access_token_hashes
        .iter()
        .any(|hash| crypto::constant_time_eq(hash.as_bytes(), presented.as_bytes()));
    if known {
        Ok(ClientOrigin::Operator)
    } else {
        Err(OAuthError::InvalidToken(
            "the initial access token is not valid for this server".into(),
        ))
    }
}

/// `GET /clients/{client_id}` (RFC 7592 §2.1).
pub async fn clients_get(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match clients::read(&state, &client_id, bearer(&headers)).await {
        Ok(info) => with_client(no_store(Json(info).into_response()), &client_id),
        Err(error) => error.into_response(),
    }
}

/// `DELETE /clients/{client_id}` (RFC 7592 §2.3).
pub async fn clients_delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match clients::delete(&state, &client_id, bearer(&headers)).await {
        Ok(()) => with_client(StatusCode::NO_CONTENT.into_response(), &client_id),
        Err(error) => error.into_response(),
    }
}

/// `POST /oauth/token`.
pub async fn token_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fields = LogFields::default();
    let result = async {
        let form = parse_form(&headers, &body)?;
        let request = TokenRequest::parse(&form)?;
        fields.grant_type = Some(request.grant_type());
        let auth = ClientAuthentication::parse(header_str(&headers, header::AUTHORIZATION), &form)?;
        fields.client_id = Some(auth.client_id.chars().take(200).collect());
        let client = token::authenticate_for(&state, &auth, &request).await?;
        token::exchange(&state, &client, request).await
    }
    .await;
    let mut response = match result {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(error) => no_store(error.into_response()),
    };
    fields.attach(&mut response);
    response
}

/// `POST /oauth/revoke` (RFC 7009).
pub async fn revoke_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let form = parse_form(&headers, &body)?;
        let token = form
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let auth = ClientAuthentication::parse(header_str(&headers, header::AUTHORIZATION), &form)?;
        let client = token::authenticate(&state, &auth).await?;
        revoke::revoke(&state, &client, token).await?;
        Ok::<_, OAuthError>(client.client_id)
    }
    .await;
    match result {
        Ok(client_id) => with_client(no_store(StatusCode::OK.into_response()), &client_id),
        Err(error) => error.into_response(),
    }
}

/// `GET|POST /oauth/userinfo`: the claims of the access token's subject.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return OAuthError::InvalidToken("a bearer access token is required".into())
            .into_response();
    };
    match mcp_guard::verify(&state, token) {
        Ok(claims) => {
            let mut body = serde_json::json!({ "sub": claims.sub, "client_id": claims.client_id, "kind": claims.kind, "scope": claims.scope });
            if let Some(map) = body.as_object_mut() {
                if let Some(name) = claims.name {
                    map.insert("name".into(), name.into());
                }
                if let Some(email) = claims.email {
                    map.insert("email".into(), email.into());
                }
                if !claims.groups.is_empty() {
                    map.insert("groups".into(), claims.groups.into());
                }
            }
            with_client(no_store(Json(body).into_response()), &claims.client_id)
        }
        Err(error) => OAuthError::InvalidToken(error.to_string()).into_response(),
    }
}

fn document(value: impl serde::Serialize) -> Response {
    let mut response = Json(value).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn authorization_server_metadata(State(state): State<AppState>) -> Response {
    document(discovery::authorization_server_metadata(&state.config))
}

/// `GET /.well-known/openid-configuration`.
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    document(discovery::openid_configuration(&state.config))
}

/// `GET /.well-known/oauth-protected-resource[/mcp]` (RFC 9728).
pub async fn protected_resource_metadata(State(state): State<AppState>) -> Response {
    document(discovery::protected_resource_metadata(&state.config))
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AppState>) -> Response {
    document(state.keys.verifying.jwks())
}

/// `GET /.well-known/mcpctl-gateway-jwks.json`: the keys of the gateway's identity assertions
/// (gateway mode; 404 otherwise).
pub async fn gateway_jwks(State(state): State<AppState>) -> Response {
    match &state.config.gateway_jwks {
        Some(jwks) => document(jwks.clone()),
        None => not_found().await,
    }
}

/// `GET|DELETE /mcp`: this server is stateless and offers no standalone SSE stream.
pub async fn mcp_method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST, OPTIONS")],
        "Method Not Allowed: this MCP endpoint accepts POST only",
    )
        .into_response()
}

/// Anything else.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "not_found", "error_description": "no such endpoint" })),
    )
        .into_response()
}
