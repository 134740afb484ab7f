//! The one mapping from [`OAuthError`] to an HTTP response: RFC 6749 §5.2 JSON bodies, the
//! right status, `WWW-Authenticate` for 401s, `Retry-After` for 503s, `Cache-Control: no-store`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::log::LogFields;
use crate::oauth::error::OAuthError;

/// The HTTP status of an OAuth error.
pub fn status(error: &OAuthError) -> StatusCode {
    match error {
        OAuthError::InvalidClient(_) | OAuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        OAuthError::AccessDenied(_) => StatusCode::FORBIDDEN,
        OAuthError::TemporarilyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.to_string(),
            "error_description": self.description(),
        });
        let mut response = (status(&self), Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match &self {
            OAuthError::InvalidClient(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="mcpctl", charset="UTF-8""#),
                );
            }
            OAuthError::InvalidToken(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            OAuthError::TemporarilyUnavailable { retry_after } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        let detail = match &self {
            OAuthError::ServerError(detail) => Some(detail.clone()),
            _ => None,
        };
        LogFields {
            error: Some(self.to_string()),
            detail,
            ..LogFields::default()
        }
        .attach(&mut response);
        response
    }
}
