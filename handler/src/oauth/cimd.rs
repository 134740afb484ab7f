//! Client ID Metadata Documents (MCP 2025-11-25 §Client ID Metadata Documents): a client id that
//! is an https URL names a JSON document describing the client. We fetch it with strict limits
//! because the URL is attacker-chosen (SSRF): https only, no redirects, no private, loopback or
//! link-local addresses (checked on every resolved address, so DNS cannot smuggle one in),
//! a size cap and a deadline; and cache the result.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use serde::Deserialize;
use url::{Host, Url};

use super::{error::OAuthError, registration};
use crate::{
    config::{CimdPolicy, HandlerConfig},
    store::{ClientOrigin, ClientRecord},
};

/// Fetches, validates and caches metadata documents.
pub struct CimdResolver {
    policy: CimdPolicy,
    config: HandlerConfig,
    // Built on first use: building it parses the system certificate store (~4 ms), which the
    // MCP path, and any cold start that never meets a metadata-URL client, should not pay.
    http: std::sync::OnceLock<Option<reqwest::Client>>,
    cache: Mutex<HashMap<String, (u64, ClientRecord)>>,
}

#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(flatten)]
    metadata: serde_json::Value,
}

/// Whether an address must never be fetched from a public deployment.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64.0.0/10 CGNAT
                || v4.octets()[0] >= 240
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// DNS resolution that drops private addresses, so a public name cannot point us inward.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 443))
                .await?
                .filter(|addr| !is_private(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    format!("{host} resolves only to private or loopback addresses").into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl CimdResolver {
    /// A resolver with the given limits.
    pub fn new(policy: CimdPolicy, config: HandlerConfig) -> Self {
        Self {
            policy,
            config,
            http: std::sync::OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The HTTP client for document fetches.
    fn http(&self) -> Option<&reqwest::Client> {
        self.http
            .get_or_init(|| {
                let mut builder = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(self.policy.timeout)
                    .connect_timeout(self.policy.timeout)
                    .no_proxy()
                    .user_agent("mcpctl-authorization-server");
                if !self.policy.allow_insecure {
                    builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
                }
                // Building the client only fails when the TLS backend cannot initialise; then
                // CIMD is unavailable and every metadata-URL client id is refused clearly.
                builder.build().ok()
            })
            .as_ref()
    }

    /// Whether a client id is a metadata-document URL rather than a registered id.
    pub fn is_metadata_url(client_id: &str) -> bool {
        client_id.starts_with("https://") || client_id.starts_with("http://")
    }

    fn check_url(&self, client_id: &str) -> Result<Url, OAuthError> {
        let bad = |why: &str| {
            OAuthError::InvalidClient(format!("client id metadata document URL: {why}"))
        };
        let url = Url::parse(client_id).map_err(|_| bad("not a valid URL"))?;
        if url.scheme() != "https" && !(self.policy.allow_insecure && url.scheme() == "http") {
            return Err(bad("must use https"));
        }
        if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain a fragment or credentials"));
        }
        if url.path() == "/" || url.path().is_empty() {
            return Err(bad("must contain a path"));
        }
        // The parser normalises dot segments, case and default ports away; a client id that is
        // not already in that form would name a different document than it claims to be.
        if url.as_str() != client_id {
            return Err(bad(
                "must be a normalized URL (no dot segments, default port or upper-case host)",
            ));
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                Some(IpAddr::from([127, 0, 0, 1]))
            }
            _ => None,
        };
        if !self.policy.allow_insecure && literal.is_some_and(is_private) {
            return Err(bad("points to a private or loopback address"));
        }
        Ok(url)
    }

    /// Fetches (or takes from cache) and validates the document at `client_id`.
    pub async fn resolve(&self, client_id: &str, now: u64) -> Result<ClientRecord, OAuthError> {
        let url = self.check_url(client_id)?;
        if let Ok(cache) = self.cache.lock()
            && let Some((expires, record)) = cache.get(client_id)
            && *expires > now
        {
            return Ok(record.clone());
        }
        let body = self.fetch(url).await?;
        let record = self.validate(client_id, &body, now)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 1000 {
                cache.retain(|_, (expires, _)| *expires > now);
            }
            cache.insert(
                client_id.to_owned(),
                (now + self.policy.cache_ttl.as_secs(), record.clone()),
            );
        }
        Ok(record)
    }

    async fn fetch(&self, url: Url) -> Result<Vec<u8>, OAuthError> {
        let unreachable = |why: String| {
            OAuthError::InvalidClient(format!(
                "client id metadata document could not be fetched: {why}"
            ))
        };
        let http = self
            .http()
            .ok_or_else(|| unreachable("HTTP client unavailable".into()))?;
        let mut response = http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(unreachable(format!(
                "HTTP status {}",
                response.status().as_u16()
            )));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.policy.max_bytes as u64)
        {
            return Err(unreachable(format!(
                "larger than {} bytes",
                self.policy.max_bytes
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > self.policy.max_bytes {
                return Err(unreachable(format!(
                    "larger than {} bytes",
                    self.policy.max_bytes
                )));
            }
        }
        Ok(body)
    }

    fn validate(&self, client_id: &str, body: &[u8], now: u64) -> Result<ClientRecord, OAuthError> {
        let bad = |why: String| {
            OAuthError::InvalidClient(format!("client id metadata document is invalid: {why}"))
        };
        let document: Document = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        if document.client_id != client_id {
            return Err(bad(
                "its client_id does not equal the URL it was fetched from".into(),
            ));
        }
        let mut request: registration::RegistrationRequest =
            serde_json::from_value(document.metadata).map_err(|e| bad(e.to_string()))?;
        let method = request
            .token_endpoint_auth_method
            .get_or_insert_with(|| "none".into());
        if method != "none" {
            return Err(bad(format!(
                "token_endpoint_auth_method `{method}` is not supported for metadata documents; use none"
            )));
        }
        if request.grant_types.is_none() {
            request.grant_types = Some(vec!["authorization_code".into(), "refresh_token".into()]);
        }
        let metadata = registration::validate(request, &self.config, ClientOrigin::Cimd)
            .map_err(|e| bad(e.description().unwrap_or("").to_owned()))?;
        Ok(ClientRecord {
            client_id: client_id.to_owned(),
            secret_hash: None,
            registration_token_hash: None,
            metadata,
            issued_at: now,
            origin: ClientOrigin::Cimd,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(allow_insecure: bool) -> CimdResolver {
        let config = HandlerConfig::new(Url::parse("https://as.example").unwrap());
        CimdResolver::new(
            CimdPolicy {
                allow_insecure,
                ..CimdPolicy::default()
            },
            config,
        )
    }

    #[test]
    fn urls_are_checked_before_any_fetch() {
        let r = resolver(false);
        assert!(r.check_url("https://app.example/client.json").is_ok());
        for bad in [
            "http://app.example/client.json",
            "https://app.example/",
            "https://127.0.0.1/client.json",
            "https://10.0.0.8/client.json",
            "https://[::1]/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/client.json",
            "https://app.example/a/../b",
            "https://u:p@app.example/c.json",
        ] {
            assert!(r.check_url(bad).is_err(), "{bad} accepted");
        }
        assert!(
            resolver(true)
                .check_url("http://127.0.0.1:9/client.json")
                .is_ok()
        );
    }

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn documents_must_name_themselves_and_be_public_clients() {
        let r = resolver(false);
        let id = "https://app.example/client.json";
        let ok = serde_json::json!({"client_id": id, "client_name": "App", "redirect_uris": ["http://127.0.0.1/cb"]});
        let record = r.validate(id, ok.to_string().as_bytes(), 1).unwrap();
        assert_eq!(record.metadata.token_endpoint_auth_method, "none");
        let other = serde_json::json!({"client_id": "https://evil.example/c.json", "redirect_uris": ["http://127.0.0.1/cb"]});
        assert!(r.validate(id, other.to_string().as_bytes(), 1).is_err());
        let secret = serde_json::json!({"client_id": id, "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "client_secret_basic"});
        assert!(r.validate(id, secret.to_string().as_bytes(), 1).is_err());
        assert!(r.validate(id, b"not json", 1).is_err());
    }
}
