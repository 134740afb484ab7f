//! Client ID Metadata Documents (MCP 2025-11-25 §Client ID Metadata Documents): a client id that
//! is an https URL names a JSON document describing the client. We fetch it with strict limits
//! because the URL is attacker-chosen (SSRF): https only, no redirects, no private, loopback or
//! link-local addresses (checked on every resolved address, so DNS cannot smuggle one in),
//! a size cap and a deadline; and cache the result. `mcpctl dev` (`allow_insecure`) opens http
//! and the loopback addresses only, never the rest of the private space.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use serde::Deserialize;
use url::{Host, Url};

use super::{error::OAuthError, redirect_uri, registration};
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

// A derived struct, not a bare `Value`: it refuses a repeated `client_id` (`Value` keeps the
// last), so the document cannot name one client to us and another to a first-key parser.
#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(flatten)]
    metadata: serde_json::Value,
}

/// Whether an address must never be fetched from a public deployment: anything that is not
/// globally reachable unicast (RFC 6890 special-purpose registries), and every IPv6 form that
/// embeds or tunnels to an IPv4 address, which could smuggle a private IPv4 past the v6 rules.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_private() // 10/8, 172.16/12, 192.168/16 (RFC 1918)
                || v4.is_loopback() // 127/8
                || v4.is_link_local() // 169.254/16, incl. the cloud metadata address
                || a == 0 // 0/8 "this network", incl. 0.0.0.0 (reaches the local host on Linux)
                || v4.is_documentation() // 192.0.2/24, 198.51.100/24, 203.0.113/24
                || a == 100 && (b & 0xc0) == 64 // 100.64/10 CGNAT (RFC 6598)
                || a == 192 && b == 0 && c == 0 // 192.0.0/24 IETF protocol assignments (RFC 6890)
                || a == 192 && b == 88 && c == 99 // 192.88.99/24 6to4 relay anycast (RFC 7526)
                || a == 198 && (b & 0xfe) == 18 // 198.18/15 benchmarking (RFC 2544)
                || v4.is_multicast() // 224/4
                || a >= 240 // 240/4 reserved, incl. the broadcast address
        }
        IpAddr::V6(v6) => {
            // ::ffff:0:0/96 reaches the IPv4 address itself, so the IPv4 rules decide.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // Outside 2000::/3 nothing is global unicast: ::/96 (unspecified, ::1 and the
            // deprecated IPv4-compatible form), 64:ff9b::/96 and 64:ff9b:1::/48 (NAT64, RFC 6052
            // and 8215: a translator would carry us to an embedded IPv4 address), 100::/64
            // (discard), fc00::/7 (unique local), fe80::/10 (link local), fec0::/10 (site local),
            // ff00::/8 (multicast) and the SIIT ::ffff:0:0:0/96 form.
            (s[0] & 0xe000) != 0x2000
                || s[0] == 0x2001 && s[1] < 0x0200 // 2001::/23 IETF protocol assignments, incl. Teredo 2001::/32
                || s[0] == 0x2001 && s[1] == 0x0db8 // 2001:db8::/32 documentation
                || s[0] == 0x2002 // 2002::/16 6to4: embeds an IPv4 address (RFC 3056)
                || s[0] == 0x3fff && (s[1] & 0xf000) == 0 // 3fff::/20 documentation (RFC 9637)
        }
    }
}

/// Whether an address is this machine's loopback (127/8, ::1, or 127/8 mapped into IPv6): the
/// only non-public destination `allow_insecure` opens, for a client served by `mcpctl dev`'s
/// neighbour on the same machine. The rest of the private space (the LAN, the cloud metadata
/// address) stays closed even then, because a developer's laptop is on such networks too.
fn is_loopback_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a document may be fetched from `ip` under the given policy.
fn may_connect(ip: IpAddr, allow_insecure: bool) -> bool {
    !is_private(ip) || allow_insecure && is_loopback_address(ip)
}

/// DNS resolution that drops addresses we must not connect to, so a public name cannot point us
/// inward. IP literals never reach a resolver (the connector parses them), which is why
/// [`CimdResolver::check_url`] applies the same rule to literals.
struct FilteringResolver {
    allow_insecure: bool,
}

impl reqwest::dns::Resolve for FilteringResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allow_insecure = self.allow_insecure;
        Box::pin(async move {
            // Port 0: the connector then uses the URL's port (or the scheme's default) instead
            // of a port chosen here, which would send plain http to 443.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| may_connect(addr.ip(), allow_insecure))
                .collect();
            if addrs.is_empty() {
                return Err(
                    format!("{host} resolves only to private or reserved addresses").into(),
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
                let builder = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(self.policy.timeout)
                    .connect_timeout(self.policy.timeout)
                    .no_proxy()
                    .user_agent("mcpctl-authorization-server")
                    // Installed in dev too: `allow_insecure` opens loopback, not the LAN.
                    .dns_resolver(Arc::new(FilteringResolver {
                        allow_insecure: self.policy.allow_insecure,
                    }));
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
        if url.scheme() != "https" && url.scheme() != "http" {
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
        // `localhost` counts as the loopback literal it names; other names are checked on every
        // address they resolve to, by `FilteringResolver`.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain("localhost")) => Some(IpAddr::from([127, 0, 0, 1])),
            _ => None,
        };
        let insecure = self.policy.allow_insecure;
        // Plain http only in dev and only to this machine: elsewhere a network attacker could
        // answer with a document of their choosing.
        if url.scheme() == "http" && !(insecure && literal.is_some_and(is_loopback_address)) {
            return Err(bad(if insecure {
                "http is allowed only for loopback (127.0.0.1, [::1], localhost); use https"
            } else {
                "must use https"
            }));
        }
        if literal.is_some_and(|ip| !may_connect(ip, insecure)) {
            return Err(bad(if insecure {
                "points to a private or reserved address; only loopback is allowed in dev"
            } else {
                "points to a private, loopback or reserved address"
            }));
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
        let fetched = self
            .fetch(url)
            .await
            .and_then(|body| self.validate(client_id, &body, now));
        if fetched.is_err() {
            crate::metrics::record(crate::metrics::Event::CimdFetchFailed);
        }
        let record = fetched?;
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

    /// Validates a fetched document. The document is attacker-written and its refusal may be
    /// shown to the user, so no error repeats a value from it (a `client_name` or redirect URI
    /// could carry HTML or phishing text): each names the field and the problem only.
    fn validate(&self, client_id: &str, body: &[u8], now: u64) -> Result<ClientRecord, OAuthError> {
        let bad = |why: String| {
            OAuthError::InvalidClient(format!("client id metadata document is invalid: {why}"))
        };
        let document: Document = serde_json::from_slice(body).map_err(|e| bad(json_error(&e)))?;
        if document.client_id != client_id {
            return Err(bad(
                "its client_id does not equal the URL it was fetched from".into(),
            ));
        }
        let mut request = registration::RegistrationRequest::deserialize(&document.metadata)
            .map_err(|_| bad(wrong_type(&document.metadata)))?;
        let method = request
            .token_endpoint_auth_method
            .get_or_insert_with(|| "none".into());
        if method != "none" {
            return Err(bad(
                "token_endpoint_auth_method must be none: metadata documents describe public clients".into(),
            ));
        }
        if request.grant_types.is_none() {
            request.grant_types = Some(vec!["authorization_code".into(), "refresh_token".into()]);
        }
        self.check_echoed_fields(&request).map_err(bad)?;
        let strings = document_strings(&document.metadata);
        let metadata = registration::validate(request, &self.config, ClientOrigin::Cimd)
            .map_err(|e| bad(self.without_document_values(e.description(), &strings)))?;
        Ok(ClientRecord {
            client_id: client_id.to_owned(),
            secret_hash: None,
            registration_token_hash: None,
            metadata,
            issued_at: now,
            origin: ClientOrigin::Cimd,
        })
    }

    /// Checks, with value-free messages, the fields whose registration errors quote the value.
    fn check_echoed_fields(
        &self,
        request: &registration::RegistrationRequest,
    ) -> Result<(), String> {
        for (i, uri) in request.redirect_uris.iter().flatten().enumerate() {
            redirect_uri::check(uri, &self.config.redirect_schemes)
                .map_err(|why| format!("redirect_uris[{i}]: {why}"))?;
        }
        if request
            .grant_types
            .iter()
            .flatten()
            .any(|g| !registration::GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(
                "grant_types contains an unsupported grant type; use authorization_code and refresh_token".into(),
            );
        }
        if request.response_types.iter().flatten().any(|r| r != "code") {
            return Err("response_types may only contain code".into());
        }
        if request
            .scope
            .iter()
            .flat_map(|s| s.split(' '))
            .any(|s| !s.is_empty() && !self.config.scopes.iter().any(|o| o == s))
        {
            return Err(format!(
                "scope names a scope this server does not offer; offered: {}",
                self.config.scopes.join(" ")
            ));
        }
        Ok(())
    }

    /// A registration error's description, unless it quotes the document: a safety net behind
    /// [`Self::check_echoed_fields`] for messages that may start quoting values later. Values of
    /// one or two characters cannot carry a message, and our own vocabulary (grant types, auth
    /// methods, scopes) is not the document's text even when the document repeats it.
    fn without_document_values(&self, description: Option<&str>, strings: &[&str]) -> String {
        let description = description.unwrap_or("refused");
        let ours = |v: &str| {
            registration::GRANT_TYPES.contains(&v)
                || registration::AUTH_METHODS.contains(&v)
                || ["code", "native", "web"].contains(&v)
                || self.config.scopes.iter().any(|s| s == v)
        };
        let quotes = strings
            .iter()
            .any(|v| v.chars().count() > 2 && !ours(v) && description.contains(*v));
        if quotes {
            "the metadata does not meet the registration rules (RFC 7591 §2); check redirect_uris, grant_types, response_types, scope, contacts and the text fields".into()
        } else {
            description.to_owned()
        }
    }
}

/// JSON field names of a registration request, to name the one of the wrong type. A fixed list,
/// so the name in the error is ours and never a key taken from the document.
const REQUEST_FIELDS: &[&str] = &[
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "client_name",
    "client_uri",
    "logo_uri",
    "contacts",
    "software_id",
    "software_version",
    "application_type",
];

/// Names the field of the wrong JSON type. serde's own message quotes the offending value
/// (`invalid type: string "<a href=…>"`), so it is never passed on.
fn wrong_type(metadata: &serde_json::Value) -> String {
    REQUEST_FIELDS
        .iter()
        .find(|field| {
            metadata.get(**field).is_some_and(|value| {
                let mut alone = serde_json::Map::new();
                alone.insert((**field).to_owned(), value.clone());
                registration::RegistrationRequest::deserialize(&serde_json::Value::Object(alone))
                    .is_err()
            })
        })
        .map_or_else(
            || "a field has the wrong JSON type".to_owned(),
            |field| format!("{field} has the wrong JSON type"),
        )
}

/// A fixed description of a JSON error with its position: serde_json's text can quote the
/// document (`invalid type: string "…"`, `unknown variant`, `duplicate field`).
fn json_error(error: &serde_json::Error) -> String {
    let (line, column) = (error.line(), error.column());
    match error.classify() {
        serde_json::error::Category::Syntax => {
            format!("not valid JSON (syntax error at line {line}, column {column})")
        }
        serde_json::error::Category::Eof => {
            format!("not valid JSON (ends early, at line {line}, column {column})")
        }
        serde_json::error::Category::Io => "could not be read".to_owned(),
        serde_json::error::Category::Data => format!(
            "must be a JSON object with one client_id string (line {line}, column {column})"
        ),
    }
}

/// Every string in a document, for [`CimdResolver::without_document_values`].
fn document_strings(value: &serde_json::Value) -> Vec<&str> {
    let mut strings = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::String(s) => strings.push(s.as_str()),
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    strings
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

    const ID: &str = "https://app.example/client.json";

    /// The description of a refused document, which must not repeat its hostile marker.
    fn refusal(document: &serde_json::Value) -> String {
        refusal_of(document.to_string().as_bytes())
    }

    fn refusal_of(body: &[u8]) -> String {
        let error = resolver(false)
            .validate(ID, body, 1)
            .expect_err("hostile document accepted");
        let description = error.description().unwrap_or_default().to_owned();
        for marker in ["PHISH", "<", ">", "evil"] {
            assert!(
                !description.contains(marker),
                "`{marker}` echoed: {description}"
            );
        }
        description
    }

    #[test]
    fn urls_are_checked_before_any_fetch() {
        let r = resolver(false);
        assert!(r.check_url("https://app.example/client.json").is_ok());
        for bad in [
            "http://app.example/client.json",
            "ftp://app.example/client.json",
            "https://app.example/",
            "https://127.0.0.1/client.json",
            "https://10.0.0.8/client.json",
            "https://[::1]/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/client.json",
            "http://127.0.0.1:9/client.json",
            "https://app.example/a/../b",
            "https://u:p@app.example/c.json",
            "https://[::ffff:a00:1]/client.json",
            "https://[64:ff9b::a00:1]/client.json",
            "https://[2002:a00:1::]/client.json",
        ] {
            assert!(r.check_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn insecure_mode_opens_loopback_only() {
        let r = resolver(true);
        for ok in [
            "http://127.0.0.1:9/client.json",
            "http://127.8.9.10:9/client.json",
            "http://[::1]:9/client.json",
            "http://localhost:9/client.json",
            "https://localhost/client.json",
            "https://app.example/client.json",
        ] {
            assert!(r.check_url(ok).is_ok(), "{ok} refused");
        }
        for bad in [
            // http to anything but loopback: a name could resolve anywhere.
            "http://app.example/client.json",
            "http://localhost.app.example/client.json",
            "http://10.0.0.8/client.json",
            "http://192.168.1.1/client.json",
            "http://169.254.169.254/latest/meta-data",
            // Private literals stay closed over https too.
            "https://10.0.0.8/client.json",
            "https://172.16.0.1/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00:ec2::254]/client.json",
            "https://[fe80::1]/client.json",
            "https://[::ffff:a9fe:a9fe]/client.json",
            "https://0.0.0.0/client.json",
            "https://100.100.100.200/client.json",
        ] {
            assert!(r.check_url(bad).is_err(), "{bad} accepted in dev");
        }
    }

    #[test]
    fn the_resolver_filter_opens_loopback_only_in_insecure_mode() {
        for ip in ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(may_connect(ip, true), "{ip}");
            assert!(!may_connect(ip, false), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "fd00:ec2::254",
            "fe80::1",
            "::",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!may_connect(ip, true), "{ip} open in dev");
            assert!(!may_connect(ip, false), "{ip}");
        }
        assert!(may_connect("8.8.8.8".parse().unwrap(), false));
        assert!(may_connect("2606:4700::1111".parse().unwrap(), true));
    }

    #[tokio::test]
    async fn the_resolver_drops_loopback_unless_insecure() {
        use reqwest::dns::Resolve;
        let name = || "localhost".parse::<reqwest::dns::Name>().unwrap();
        let strict = FilteringResolver {
            allow_insecure: false,
        };
        assert!(strict.resolve(name()).await.is_err());
        let dev = FilteringResolver {
            allow_insecure: true,
        };
        let addrs: Vec<SocketAddr> = dev.resolve(name()).await.unwrap().collect();
        assert!(!addrs.is_empty());
        // Port 0 lets the connector use the URL's port rather than ours.
        assert!(
            addrs
                .iter()
                .all(|a| is_loopback_address(a.ip()) && a.port() == 0),
            "{addrs:?}"
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
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.254",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "2001::1",            // Teredo
            "2001:0:4136:e378::", // Teredo, embedding a server and client IPv4
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:a00:1", // SIIT IPv4-translated
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_ipv4_are_private() {
        for ip in [
            // NAT64 (RFC 6052), even around a public IPv4: the translator would reach inward for
            // 64:ff9b::a9fe:a9fe and we cannot tell which translator answers.
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::808:808",
            "64:ff9b::7f00:1",
            // Local-use NAT64 (RFC 8215).
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
            // 6to4 (RFC 3056).
            "2002:a9fe:a9fe::1",
            "2002:808:808::1",
            // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1).
            "::10.0.0.1",
            "::169.254.169.254",
            "::8.8.8.8",
            "::127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_not_private() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",    // just past CGNAT
            "198.20.0.1",     // just past benchmarking
            "192.0.1.1",      // just past 192.0.0/24
            "172.32.0.1",     // just past 172.16/12
            "::ffff:8.8.8.8", // mapped public IPv4 is that address
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "2001:4860:4860::8888",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn documents_must_name_themselves_and_be_public_clients() {
        let r = resolver(false);
        let ok = serde_json::json!({"client_id": ID, "client_name": "App", "redirect_uris": ["http://127.0.0.1/cb"]});
        let record = r.validate(ID, ok.to_string().as_bytes(), 1).unwrap();
        assert_eq!(record.metadata.token_endpoint_auth_method, "none");
        let other = serde_json::json!({"client_id": "https://evil.example/c.json", "redirect_uris": ["http://127.0.0.1/cb"]});
        assert!(r.validate(ID, other.to_string().as_bytes(), 1).is_err());
        let secret = serde_json::json!({"client_id": ID, "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "client_secret_basic"});
        assert!(r.validate(ID, secret.to_string().as_bytes(), 1).is_err());
        assert!(r.validate(ID, b"not json", 1).is_err());
    }

    #[test]
    fn document_redirect_uris_follow_the_registration_rules() {
        let r = resolver(false);
        let with = |uri: &str| {
            serde_json::json!({"client_id": ID, "redirect_uris": ["https://app.example/cb", uri]})
                .to_string()
        };
        for ok in [
            "cursor://anysphere.cursor-retrieval/cb",
            "com.example.app:/cb",
        ] {
            assert!(r.validate(ID, with(ok).as_bytes(), 1).is_ok(), "{ok}");
        }
        for bad in [
            "myapp://cb",
            "ms-msdt:/id",
            "https://u:p@app.example/cb",
            "http://app.example/cb",
        ] {
            let description = refusal_of(with(bad).as_bytes());
            assert!(description.contains("redirect_uris[1]"), "{description}");
        }
    }

    #[test]
    fn refusals_never_echo_the_document() {
        let phish = "<a href=https://evil.example>PHISH: your account is locked</a>";
        // Each field that a registration error would otherwise quote.
        for (field, value) in [
            (
                "redirect_uris",
                serde_json::json!([format!("javascript:{phish}")]),
            ),
            (
                "redirect_uris",
                serde_json::json!([format!("x-{phish}:/cb")]),
            ),
            ("grant_types", serde_json::json!([phish])),
            ("response_types", serde_json::json!([phish])),
            ("token_endpoint_auth_method", serde_json::json!(phish)),
            ("scope", serde_json::json!(format!("mcp {phish}"))),
            ("client_uri", serde_json::json!(format!("http://{phish}"))),
            ("client_name", serde_json::json!(format!("{phish}\u{202e}"))),
            ("client_name", serde_json::json!(phish.repeat(10))),
            ("application_type", serde_json::json!(phish)),
        ] {
            let mut document =
                serde_json::json!({"client_id": ID, "redirect_uris": ["https://app.example/cb"]});
            document[field] = value;
            let description = refusal(&document);
            assert!(description.contains(field), "{field}: {description}");
        }
    }

    #[test]
    fn type_errors_name_the_field_not_the_value() {
        for (field, value) in [
            ("redirect_uris", serde_json::json!("<b>PHISH</b>")),
            ("client_name", serde_json::json!(["<b>PHISH</b>"])),
            ("scope", serde_json::json!({"<b>PHISH</b>": 1})),
            ("contacts", serde_json::json!("<b>PHISH</b>")),
        ] {
            let mut document =
                serde_json::json!({"client_id": ID, "redirect_uris": ["https://app.example/cb"]});
            document[field] = value;
            let description = refusal(&document);
            assert!(description.contains(field), "{field}: {description}");
        }
    }

    #[test]
    fn json_errors_give_a_position_not_a_snippet() {
        let description = refusal_of(br#"{"client_id": "<b>PHISH</b>" "x"}"#);
        assert!(description.contains("line 1"), "{description}");
        refusal_of(br#"{"client_id": "<b>PHISH</b>"#);
        refusal_of(br#"{"client_id": ["<b>PHISH</b>"]}"#);
        refusal_of(br#"["<b>PHISH</b>"]"#);
        refusal_of(br#"{"client_name": "<b>PHISH</b>"}"#);
        // A second client_id could make two parsers see two different clients.
        refusal_of(
            format!(r#"{{"client_id": "{ID}", "client_id": "https://evil.example/PHISH"}}"#)
                .as_bytes(),
        );
        // The client_id mismatch message names the field, not the value.
        refusal(&serde_json::json!({"client_id": "https://evil.example/<b>PHISH</b>"}));
    }

    #[test]
    fn registration_messages_that_quote_the_document_are_replaced() {
        let r = resolver(false);
        let strings = ["<b>PHISH</b>", "code", "ab"];
        let safe = r.without_document_values(Some("grant type `<b>PHISH</b>` is bad"), &strings);
        assert!(!safe.contains("PHISH"), "{safe}");
        // Our own vocabulary and one- or two-character values do not count as quoting.
        let kept = "the authorization_code grant needs response type `code`; ab";
        assert_eq!(r.without_document_values(Some(kept), &strings), kept);
    }
}
