//! Dynamic Client Registration (RFC 7591): validate the metadata, mint the client id, secret and
//! registration access token, store only their hashes.

use serde::{Deserialize, Serialize};

use super::{error::OAuthError, redirect_uri};
use crate::{
    config::HandlerConfig,
    crypto,
    store::{ClientMetadata, ClientOrigin, ClientRecord},
};

const MAX_REDIRECT_URIS: usize = 10;
const MAX_TEXT: usize = 200;

/// Grant types a client may register.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];
/// Token endpoint authentication methods.
pub const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

/// A registration request as sent. Unknown fields are ignored (RFC 7591 §2); fields of the wrong
/// JSON type are an `invalid_client_metadata` error.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RegistrationRequest {
    /// Redirect URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// Grant types; RFC 7591 default `["authorization_code"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Response types; default `["code"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    /// Auth method; RFC 7591 default `client_secret_basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Requested scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<String>>,
    /// Software id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// `native` or `web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
}

/// The registration response (RFC 7591 §3.2.1, RFC 7592 §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationResponse {
    /// Client id.
    pub client_id: String,
    /// Secret, shown once; absent for public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Epoch seconds.
    pub client_id_issued_at: u64,
    /// 0: the secret does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<u64>,
    /// RFC 7592 access token for reading and deleting this registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    /// RFC 7592 client configuration endpoint.
    pub registration_client_uri: String,
    /// The registered metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// A validated registration ready to store, with the plaintext values to return once.
#[derive(Debug)]
pub struct NewClient {
    /// The row to store (hashes only).
    pub record: ClientRecord,
    /// The response to send (plaintext secrets, once).
    pub response: RegistrationResponse,
}

/// The shortest initial access token (RFC 7591 §3) accepted anywhere: it is all that stands
/// between a stranger and a machine client.
pub const MIN_INITIAL_ACCESS_TOKEN_LENGTH: usize = 32;

/// Checks an operator's initial access token as stored (a stage secret, `mcpctl dev`'s file or
/// environment): at least [`MIN_INITIAL_ACCESS_TOKEN_LENGTH`] printable ASCII characters, since
/// it travels in an `Authorization` header. Returns it trimmed; the error describes the value,
/// never quotes it.
///
/// ```
/// use mcpctl_handler::oauth::registration::check_initial_access_token;
/// assert_eq!(check_initial_access_token(" 0123456789abcdef0123456789abcdef\n"), Ok("0123456789abcdef0123456789abcdef"));
/// assert!(check_initial_access_token("short").is_err());
/// ```
pub fn check_initial_access_token(raw: &str) -> Result<&str, &'static str> {
    let token = raw.trim();
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("holds a token with spaces, control or non-ASCII characters");
    }
    if token.len() < MIN_INITIAL_ACCESS_TOKEN_LENGTH {
        return Err("holds a token shorter than 32 characters");
    }
    Ok(token)
}

fn invalid(description: impl Into<String>) -> OAuthError {
    OAuthError::InvalidClientMetadata(description.into())
}

/// Unicode format characters (general category Cf) that can make a name on the consent page
/// read differently from what it is: bidi overrides and isolates turn a name around,
/// zero-width characters make two different names look alike. Hand-listed, because std has no
/// general-category lookup and these are the Cf code points that render invisibly or reorder.
fn is_format_character(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
        | '\u{2028}' | '\u{2029}' | '\u{3164}' | '\u{FFA0}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}' | '\u{110CD}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

fn text(field: &str, value: Option<String>) -> Result<Option<String>, OAuthError> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT => Err(invalid(format!(
            "{field} is longer than {MAX_TEXT} characters"
        ))),
        Some(v) if v.chars().any(char::is_control) => {
            Err(invalid(format!("{field} contains control characters")))
        }
        Some(v) if v.chars().any(is_format_character) => Err(invalid(format!(
            "{field} contains invisible Unicode format characters (bidi or zero-width); remove them"
        ))),
        other => Ok(other),
    }
}

fn https_url(field: &str, value: Option<String>) -> Result<Option<String>, OAuthError> {
    let Some(value) = text(field, value)? else {
        return Ok(None);
    };
    match url::Url::parse(&value) {
        Ok(url) if url.scheme() == "https" => Ok(Some(value)),
        _ => Err(invalid(format!("{field} must be an https URL"))),
    }
}

/// Validates metadata into a [`ClientMetadata`] for a client registered by `origin`.
///
/// Only an operator's registration may ask for `client_credentials`: that grant issues a token
/// with no person behind it, so anonymous registration (open DCR, CIMD) offering it would hand
/// anyone on the internet a token.
pub fn validate(
    request: RegistrationRequest,
    config: &HandlerConfig,
    origin: ClientOrigin,
) -> Result<ClientMetadata, OAuthError> {
    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty() {
        return Err(invalid("grant_types must not be empty"));
    }
    for grant in &grant_types {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            return Err(invalid(format!(
                "grant type `{grant}` is not supported; use one of {}",
                GRANT_TYPES.join(", ")
            )));
        }
    }
    if !origin.is_operator() && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(invalid(
            "grant type `client_credentials` is not available through anonymous registration: it issues tokens with no person behind them. Register with authorization_code and refresh_token, or ask an operator for a machine client (mcpctl register-client --grant client_credentials, or /dcr with an initial access token)",
        ));
    }
    let uses_code = grant_types.iter().any(|g| g == "authorization_code");
    let response_types = request.response_types.unwrap_or_else(|| {
        if uses_code {
            vec!["code".into()]
        } else {
            Vec::new()
        }
    });
    for response_type in &response_types {
        if response_type != "code" {
            return Err(invalid(format!(
                "response type `{response_type}` is not supported; only `code`"
            )));
        }
    }
    if uses_code && response_types.is_empty() {
        return Err(invalid(
            "the authorization_code grant needs response type `code`",
        ));
    }

    let method = request
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into());
    if !AUTH_METHODS.contains(&method.as_str()) {
        return Err(invalid(format!(
            "token_endpoint_auth_method `{method}` is not supported; use one of {}",
            AUTH_METHODS.join(", ")
        )));
    }
    if method == "none" && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(invalid(
            "the client_credentials grant needs a confidential client (token_endpoint_auth_method client_secret_basic or client_secret_post)",
        ));
    }

    let redirect_uris = request.redirect_uris.unwrap_or_default();
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    for uri in &redirect_uris {
        redirect_uri::validate_for_registration(uri, &config.redirect_schemes)?;
    }
    if uses_code && redirect_uris.is_empty() {
        return Err(OAuthError::InvalidRedirectUri(
            "the authorization_code grant needs at least one redirect URI".into(),
        ));
    }

    let scope = match request
        .scope
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
    {
        Some(scope) => Some(
            super::scope::resolve(Some(&scope), &config.scopes, None, "").map_err(|e| match e {
                OAuthError::InvalidScope(d) => invalid(d),
                other => other,
            })?,
        ),
        None => None,
    };
    let application_type = text("application_type", request.application_type)?;
    if let Some(kind) = &application_type
        && kind != "native"
        && kind != "web"
    {
        return Err(invalid("application_type must be `native` or `web`"));
    }
    let contacts = request.contacts.unwrap_or_default();
    if contacts.len() > 5 || contacts.iter().any(|c| c.len() > MAX_TEXT) {
        return Err(invalid("at most 5 contacts of at most 200 characters"));
    }

    Ok(ClientMetadata {
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method: method,
        scope,
        client_name: text("client_name", request.client_name)?,
        client_uri: https_url("client_uri", request.client_uri)?,
        logo_uri: https_url("logo_uri", request.logo_uri)?,
        contacts,
        software_id: text("software_id", request.software_id)?,
        software_version: text("software_version", request.software_version)?,
        application_type,
    })
}

/// Mints identifiers and secrets for validated metadata.
pub fn mint(
    metadata: ClientMetadata,
    config: &HandlerConfig,
    now: u64,
    origin: ClientOrigin,
) -> Result<NewClient, OAuthError> {
    let client_id = crypto::random_token(16)?;
    let client_secret = match metadata.token_endpoint_auth_method.as_str() {
        "none" => None,
        _ => Some(crypto::random_token(32)?),
    };
    let registration_token = crypto::random_token(32)?;
    let record = ClientRecord {
        client_id: client_id.clone(),
        secret_hash: client_secret.as_deref().map(crypto::hash_secret),
        registration_token_hash: Some(crypto::hash_secret(&registration_token)),
        metadata: metadata.clone(),
        issued_at: now,
        origin,
    };
    let response = RegistrationResponse {
        registration_client_uri: config.url(&format!("/clients/{client_id}")),
        client_id,
        client_secret_expires_at: client_secret.as_ref().map(|_| 0),
        client_secret,
        client_id_issued_at: now,
        registration_access_token: Some(registration_token),
        metadata,
    };
    Ok(NewClient { record, response })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HandlerConfig {
        HandlerConfig::new(url::Url::parse("http://127.0.0.1:8787").unwrap())
    }

    fn request(json: serde_json::Value) -> RegistrationRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_typical_mcp_client_registers() {
        let metadata = validate(
            request(serde_json::json!({
                "redirect_uris": ["http://127.0.0.1:33418/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "client_name": "Test",
                "application_type": "native",
                "unknown_field": {"tolerated": true}
            })),
            &config(),
            ClientOrigin::Dcr,
        )
        .unwrap();
        let new = mint(metadata, &config(), 10, ClientOrigin::Dcr).unwrap();
        assert!(new.response.client_secret.is_none());
        assert!(new.record.secret_hash.is_none());
        let token = new.response.registration_access_token.clone().unwrap();
        assert_eq!(
            new.record.registration_token_hash,
            Some(crypto::hash_secret(&token))
        );
    }

    #[test]
    fn confidential_clients_get_a_hashed_secret() {
        let metadata = validate(
            request(serde_json::json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"})),
            &config(),
            ClientOrigin::Operator,
        )
        .unwrap();
        assert!(metadata.redirect_uris.is_empty());
        let new = mint(metadata, &config(), 10, ClientOrigin::Operator).unwrap();
        assert_eq!(new.record.origin, ClientOrigin::Operator);
        let secret = new.response.client_secret.unwrap();
        assert!(crypto::verify_secret(
            &secret,
            new.record.secret_hash.as_deref().unwrap()
        ));
        let json = serde_json::to_value(&new.record).unwrap().to_string();
        assert!(
            !json.contains(&secret),
            "the stored record must not contain the secret"
        );
    }

    #[test]
    fn bad_metadata_is_refused() {
        let cases = [
            serde_json::json!({"grant_types": ["implicit"], "redirect_uris": ["https://a/cb"]}),
            serde_json::json!({"grant_types": ["authorization_code"]}),
            serde_json::json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            serde_json::json!({"redirect_uris": ["javascript:alert(1)"]}),
            serde_json::json!({"redirect_uris": ["https://a/cb"], "response_types": ["token"]}),
            serde_json::json!({"redirect_uris": ["https://a/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            serde_json::json!({"redirect_uris": ["https://a/cb"], "scope": "admin"}),
        ];
        for case in cases {
            assert!(
                validate(request(case.clone()), &config(), ClientOrigin::Operator).is_err(),
                "{case} was accepted"
            );
        }
    }

    #[test]
    fn anonymous_registration_never_gets_client_credentials() {
        for origin in [ClientOrigin::Dcr, ClientOrigin::Cimd] {
            for grants in [
                serde_json::json!(["client_credentials"]),
                serde_json::json!(["authorization_code", "client_credentials"]),
            ] {
                let error = validate(
                    request(serde_json::json!({"grant_types": grants, "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"})),
                    &config(),
                    origin,
                )
                .unwrap_err();
                assert!(
                    matches!(&error, OAuthError::InvalidClientMetadata(d) if d.contains("`client_credentials`")),
                    "{error:?}"
                );
            }
        }
    }

    #[test]
    fn names_with_invisible_format_characters_are_refused() {
        for name in [
            "Claude\u{202E}gnp.exe",
            "Cl\u{200B}aude",
            "\u{2066}Admin\u{2069}",
            "A\u{FEFF}",
            "x\u{E0041}",
        ] {
            let error = validate(
                request(serde_json::json!({"redirect_uris": ["https://a.example/cb"], "client_name": name})),
                &config(),
                ClientOrigin::Dcr,
            )
            .unwrap_err();
            assert!(
                matches!(&error, OAuthError::InvalidClientMetadata(d) if d.contains("client_name")),
                "{name:?}: {error:?}"
            );
        }
        assert!(validate(
            request(serde_json::json!({"redirect_uris": ["https://a.example/cb"], "client_name": "Café ☕ 日本"})),
            &config(),
            ClientOrigin::Dcr,
        )
        .is_ok());
    }
}
