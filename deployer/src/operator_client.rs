//! The operator's short-lived machine client, shared by `token`, `smoke-test` and `doctor`: who
//! may create it (the operator, never open registration), its client_credentials grant, and its
//! RFC 7592 deletion once it has served.

use std::path::Path;

use mcpctl_handler::oauth::registration::{RegistrationRequest, RegistrationResponse};
use miette::{IntoDiagnostic, miette};
use reqwest::{Client, StatusCode};
use url::Url;

use crate::{dev::operator_token, stack::StackOutputs, target::StageArgs};

/// Whose servers the command is pointed at, which decides where `MCPCTL_INITIAL_ACCESS_TOKEN`
/// may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Servers {
    /// The operator's own (`token`, `smoke-test`): the URL given is the one to register with.
    Own,
    /// Anyone's (`doctor`): the environment token counts only for a stage or loopback dev.
    Anyone,
}

/// Who creates the machine client: always the operator.
pub(crate) enum Registrar<'a> {
    /// `/dcr` with the operator's initial access token (RFC 7591 §3).
    Token(String),
    /// Written into the stage's clients table with the operator's AWS credentials.
    Direct {
        /// The stage.
        target: &'a StageArgs,
        /// Its stack outputs (table names, issuer).
        outputs: StackOutputs,
    },
    /// No operator credential was found.
    Nobody,
}

impl<'a> Registrar<'a> {
    /// The operator credential for the server at `url` (or the stage of `outputs`):
    /// `MCPCTL_INITIAL_ACCESS_TOKEN`, else `state_dir`'s token, else the one a local `mcpctl dev`
    /// published for `url`'s port, else with a stage its table. For [`Servers::Anyone`] the
    /// environment token is used only for a stage or loopback dev.
    pub(crate) fn find(
        servers: Servers,
        state_dir: Option<&Path>,
        url: Option<&Url>,
        target: &'a StageArgs,
        outputs: Option<StackOutputs>,
    ) -> miette::Result<Self> {
        let token = match servers {
            Servers::Own => {
                operator_token::find(state_dir, url.and_then(operator_token::dev_port))?
            }
            Servers::Anyone => operator_token::find_for_own_server(state_dir, url)?,
        };
        Ok(match (token, outputs) {
            (Some(token), _) => Self::Token(token),
            (None, Some(outputs)) => Self::Direct { target, outputs },
            (None, None) => Self::Nobody,
        })
    }

    /// Registers `request` as the operator: at the server's `endpoint` with the token, or
    /// straight into the stage's table.
    pub(crate) async fn register(
        &self,
        http: &Client,
        mcp_url: &str,
        endpoint: Option<&str>,
        request: RegistrationRequest,
    ) -> miette::Result<RegistrationResponse> {
        match self {
            Self::Token(token) => {
                register_with_token(http, mcp_url, endpoint, token, &request).await
            }
            Self::Direct { target, outputs } => {
                crate::commands::register_client::register_direct(target, outputs, request).await
            }
            Self::Nobody => Err(miette!(
                code = "no_operator_credential",
                help = NO_CREDENTIAL_HELP,
                "a machine client needs the operator: no initial access token was found for {mcp_url}"
            )),
        }
    }
}

/// How to give a command the operator credential.
pub(crate) const NO_CREDENTIAL_HELP: &str = "start `mcpctl dev` on that port (it publishes its \
     initial access token), pass --state-dir DIR of a `mcpctl dev`, set \
     MCPCTL_INITIAL_ACCESS_TOKEN, or pass --stage S (AWS credentials write the client into the \
     stage's table)";

/// RFC 7591 registration at the server's own `/dcr`, with the operator's initial access token.
async fn register_with_token(
    http: &Client,
    mcp_url: &str,
    endpoint: Option<&str>,
    token: &str,
    request: &RegistrationRequest,
) -> miette::Result<RegistrationResponse> {
    let endpoint = endpoint.ok_or_else(|| {
        miette!(
            help = "pass --stage to write the client into the table",
            "the server advertises no registration_endpoint"
        )
    })?;
    let server = Url::parse(mcp_url).into_diagnostic()?;
    if !operator_token::may_send(endpoint, &server) {
        return Err(miette!(
            help = "use the server's own origin over https (or loopback)",
            "the server advertises registration at {endpoint}, not at its own origin over https or loopback; the initial access token is not sent there"
        ));
    }
    let reply = http
        .post(endpoint)
        .bearer_auth(token)
        .json(request)
        .send()
        .await
        .map_err(|e| miette!("cannot reach {endpoint}: {e}"))?;
    if reply.status() != StatusCode::CREATED {
        let status = reply.status();
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        return Err(miette!(
            help =
                "the initial access token may belong to another dev server: pass its --state-dir",
            "registration refused (HTTP {status}): {} {}",
            body["error"].as_str().unwrap_or("unknown_error"),
            body["error_description"].as_str().unwrap_or("")
        ));
    }
    reply
        .json()
        .await
        .map_err(|e| miette!("the server's answer is not an RFC 7591 response: {e}"))
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub(crate) struct Issued {
    /// The bearer token.
    pub(crate) access_token: String,
    /// `Bearer`.
    pub(crate) token_type: String,
    /// Seconds it lives.
    pub(crate) expires_in: u64,
    /// What it grants.
    #[serde(default)]
    pub(crate) scope: Option<String>,
}

/// The client_credentials grant, with HTTP Basic and the MCP resource (RFC 8707).
pub(crate) async fn grant(
    http: &Client,
    endpoint: &str,
    client_id: &str,
    secret: &str,
    mcp_url: &str,
    scope: Option<&str>,
) -> miette::Result<Issued> {
    check_token_endpoint(endpoint, mcp_url)?;
    let mut form = vec![("grant_type", "client_credentials"), ("resource", mcp_url)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let reply = http
        .post(endpoint)
        .basic_auth(encode(client_id), Some(encode(secret)))
        .form(&form)
        .send()
        .await
        .map_err(|e| miette!("cannot reach the token endpoint {endpoint}: {e}"))?;
    let status = reply.status();
    if status != StatusCode::OK {
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        let error = body["error"].as_str().unwrap_or("unknown_error").to_owned();
        let hint = match error.as_str() {
            "invalid_client" => "check --client-id and MCPCTL_CLIENT_SECRET",
            "invalid_scope" => {
                "ask only for scopes the server offers (`scopes_supported` in its metadata)"
            }
            "unauthorized_client" => {
                "the client may not use client_credentials: register a machine client"
            }
            _ => "see the server's log (`mcpctl logs`)",
        };
        return Err(miette!(
            code = "token_refused",
            help = hint,
            "the token endpoint refused (HTTP {status}): {error} {}",
            body["error_description"].as_str().unwrap_or("")
        ));
    }
    reply
        .json()
        .await
        .map_err(|e| miette!("the token endpoint's answer is not a token response: {e}"))
}

/// The error for a token endpoint a client secret must not go to (see [`carries_secrets`]).
pub(crate) fn check_token_endpoint(endpoint: &str, mcp_url: &str) -> miette::Result<()> {
    if carries_secrets(endpoint, mcp_url) {
        return Ok(());
    }
    Err(miette!(
        help = "the server's metadata must name a token endpoint on its own origin over https",
        "the token endpoint {endpoint} is not on {mcp_url}'s origin over https; no client secret is sent there"
    ))
}

/// Whether a secret (a client secret, a registration access token) may be sent to `endpoint`:
/// only on the origin of the MCP URL being served (`mcp_url`), over https or to `mcpctl dev` on
/// 127.0.0.1. The endpoint comes from metadata the server chose, which must not be able to
/// send the secret anywhere else.
pub(crate) fn carries_secrets(endpoint: &str, mcp_url: &str) -> bool {
    Url::parse(mcp_url).is_ok_and(|server| operator_token::may_send(endpoint, &server))
}

/// RFC 7592 deletion with the registration access token, at the client's management URL when
/// that is on `mcp_url`'s origin.
pub(crate) async fn delete(
    http: &Client,
    registration: &RegistrationResponse,
    mcp_url: &str,
) -> Result<(), String> {
    let token = registration
        .registration_access_token
        .as_deref()
        .ok_or("no registration access token was issued")?;
    if !carries_secrets(&registration.registration_client_uri, mcp_url) {
        return Err(format!(
            "the client's management URL {} is not on the server's origin over https; the registration access token is not sent there",
            registration.registration_client_uri
        ));
    }
    let reply = http
        .delete(&registration.registration_client_uri)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match reply.status() {
        StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
        status => Err(format!("HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::carries_secrets;

    #[test]
    fn secrets_stay_on_the_served_origin() {
        let mcp = "https://mcp.example.com/prod/mcp";
        assert!(carries_secrets(
            "https://mcp.example.com/prod/oauth/token",
            mcp
        ));
        // Metadata the server chose cannot point the secret at another host or at plain http.
        assert!(!carries_secrets(
            "https://collector.example/oauth/token",
            mcp
        ));
        assert!(!carries_secrets(
            "http://mcp.example.com/prod/oauth/token",
            mcp
        ));
        assert!(!carries_secrets(
            "https://mcp.example.com:8443/oauth/token",
            mcp
        ));
        let dev = "http://127.0.0.1:8787/mcp";
        assert!(carries_secrets("http://127.0.0.1:8787/oauth/token", dev));
        assert!(!carries_secrets("http://127.0.0.1:9999/oauth/token", dev));
        assert!(!carries_secrets(
            "https://mcp.example.com/oauth/token",
            "not a url"
        ));
    }
}
