//! The upstream OpenID provider: discovery, the authorization redirect (with our own `state`,
//! `nonce` and PKCE), the code exchange and ID-token verification.
//!
//! Built on the `openidconnect` crate, which checks what OpenID Connect Core §3.1.3.7 asks of a
//! relying party: the signature against the provider's JWKS (with the algorithms it announces),
//! `iss` equal to the discovered issuer, our client id in `aud` (and `azp` with several
//! audiences), `exp`, and the `nonce`. Its HTTP goes through our reqwest client (no redirects,
//! bounded time and size), so the process keeps one HTTP and TLS stack.

use std::{sync::OnceLock, time::Duration};

use base64::Engine;
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType},
};
use serde_json::{Map, Value};
use tokio::sync::RwLock;
use url::Url;

use crate::config::{HandlerConfig, OidcSettings};

/// The largest discovery document, JWKS or token response accepted from the provider.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Whole-request deadline towards the provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The provider's metadata and keys are fetched again after this long, or earlier when an ID
/// token names a key we do not have (key rotation), but not more often than [`MIN_REFETCH`].
const METADATA_TTL: u64 = 3600;
const MIN_REFETCH: u64 = 30;

/// Why the upstream step failed. Each becomes a page a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Discovery, JWKS or the token endpoint could not be reached or answered nonsense.
    #[error("the sign-in provider {issuer} could not be reached or answered badly: {reason}")]
    Unavailable {
        /// The configured issuer.
        issuer: String,
        /// What went wrong (no secrets).
        reason: String,
    },
    /// The token endpoint refused our code exchange.
    #[error("the sign-in provider refused the authorization code: {0}")]
    CodeRejected(String),
    /// The token response carried no ID token.
    #[error("the sign-in provider returned no ID token (is `openid` among the scopes?)")]
    NoIdToken,
    /// The ID token failed verification.
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
}

/// The user as the provider vouched for them, after the ID token was verified.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamIdentity {
    /// The provider's issuer identifier.
    pub issuer: String,
    /// The provider's `sub`.
    pub subject: String,
    /// Every claim of the verified ID token.
    pub claims: Map<String, Value>,
}

#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: u64,
}

/// The configured upstream provider; discovery happens on first use and is cached.
pub struct Upstream {
    settings: OidcSettings,
    redirect_uri: String,
    http: OnceLock<reqwest::Client>,
    discovered: RwLock<Option<Discovered>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("issuer", &self.settings.issuer.as_str())
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// A failed request to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpFailure(String);

/// `openidconnect`'s HTTP seam on our reqwest client. A named type with a boxed `Send` future
/// (rather than a closure) keeps the handlers' futures `Send` for axum.
struct Http(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpFailure;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(Upstream::send(&self.0, request))
    }
}

impl Upstream {
    /// The provider of `settings`, answering to our `/oauth/callback`.
    pub fn new(settings: OidcSettings, config: &HandlerConfig) -> Self {
        Self {
            settings,
            redirect_uri: config.url("/oauth/callback"),
            http: OnceLock::new(),
            discovered: RwLock::new(None),
        }
    }

    /// The settings this provider was built from.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    fn issuer(&self) -> String {
        self.settings.issuer.clone()
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::Unavailable {
            issuer: self.issuer(),
            reason: reason.to_string(),
        }
    }

    // Built on first use: parsing the system certificate store costs milliseconds that the MCP
    // function's cold start should not pay (it never signs anyone in).
    fn http(&self) -> Result<Http, UpstreamError> {
        if let Some(client) = self.http.get() {
            return Ok(Http(client.clone()));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| self.unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http(self.http.get_or_init(|| client).clone()))
    }

    async fn send(
        client: &reqwest::Client,
        request: HttpRequest,
    ) -> Result<HttpResponse, HttpFailure> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| HttpFailure(format!("bad request: {e}")))?;
        let mut response = client
            .execute(request)
            .await
            .map_err(|e| HttpFailure(without_query(&e.to_string())))?;
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HttpFailure(without_query(&e.to_string())))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpFailure(format!(
                    "the response is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|e| HttpFailure(format!("bad response: {e}")))
    }

    async fn metadata(&self, now: u64, refresh: bool) -> Result<Discovered, UpstreamError> {
        if let Some(cached) = self.discovered.read().await.as_ref()
            && now < cached.fetched_at + METADATA_TTL
            && !(refresh && now >= cached.fetched_at + MIN_REFETCH)
        {
            return Ok(cached.clone());
        }
        let mut slot = self.discovered.write().await;
        if let Some(cached) = slot.as_ref()
            && now < cached.fetched_at + MIN_REFETCH
        {
            return Ok(cached.clone());
        }
        let http = self.http()?;
        let issuer = IssuerUrl::new(self.issuer()).map_err(|e| self.unavailable(e))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| self.unavailable(describe_chain(&e)))?;
        let discovered = Discovered {
            metadata,
            fetched_at: now,
        };
        *slot = Some(discovered.clone());
        Ok(discovered)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        UpstreamError,
    > {
        let redirect = RedirectUrl::new(self.redirect_uri.clone()).map_err(|e| {
            self.unavailable(format!(
                "our callback URL {} is invalid: {e}",
                self.redirect_uri
            ))
        })?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.0.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for one sign-in: `state` and `nonce` are ours, PKCE
    /// S256 from `pkce_verifier`.
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
        now: u64,
    ) -> Result<Url, UpstreamError> {
        let discovered = self.metadata(now, false).await?;
        let client = self.client(discovered.metadata)?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            pkce_verifier.into(),
        ));
        let state = state.to_owned();
        let nonce = nonce.to_owned();
        let mut request = client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        );
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.set_pkce_challenge(challenge).url();
        Ok(url)
    }

    /// Exchanges the provider's code (with our PKCE verifier) and verifies the ID token against
    /// `nonce`. Retries verification once with fresh keys when the token names an unknown key.
    pub async fn sign_in(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
        now: u64,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let discovered = self.metadata(now, false).await?;
        let client = self.client(discovered.metadata.clone())?;
        let http = self.http()?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| self.unavailable(format!("the provider has no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&http)
            .await
            .map_err(|e| match &e {
                openidconnect::RequestTokenError::ServerResponse(body) => {
                    UpstreamError::CodeRejected(body.to_string())
                }
                other => self.unavailable(describe_chain(other)),
            })?;
        let id_token = response.id_token().ok_or(UpstreamError::NoIdToken)?;
        let verify = |client: &CoreClient<_, _, _, _, _, _>| {
            let verifier = client.id_token_verifier().set_time_fn(move || {
                chrono::DateTime::from_timestamp(i64::try_from(now).unwrap_or(i64::MAX), 0)
                    .unwrap_or_default()
            });
            id_token
                .claims(&verifier, &Nonce::new(nonce.to_owned()))
                .map(|claims| claims.subject().as_str().to_owned())
        };
        let subject = match verify(&client) {
            Ok(subject) => subject,
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                let fresh = self.metadata(now, true).await?;
                verify(&self.client(fresh.metadata)?)
                    .map_err(|e| UpstreamError::InvalidIdToken(describe_chain(&e)))?
            }
            Err(e) => return Err(UpstreamError::InvalidIdToken(describe_chain(&e))),
        };
        Ok(UpstreamIdentity {
            issuer: self.issuer(),
            subject,
            claims: payload(&id_token.to_string())?,
        })
    }
}

/// The claims of an ID token that has just been verified (so reading its payload is safe): the
/// crate's typed claims hide non-standard ones such as `groups` or `cognito:groups`.
fn payload(token: &str) -> Result<Map<String, Value>, UpstreamError> {
    let invalid = || UpstreamError::InvalidIdToken("the payload is not a JSON object".into());
    let part = token.split('.').nth(1).ok_or_else(invalid)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    without_query(&text)
}

// reqwest errors quote the URL; a token-endpoint URL carries no secrets, but an authorization
// URL would carry state and nonce, so drop any query string defensively.
fn without_query(text: &str) -> String {
    text.split_whitespace()
        .map(|word| match word.split_once('?') {
            Some((head, _)) if head.contains("://") => format!("{head}?…"),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
