//! Redirect URIs: what may be registered (RFC 7591 + OAuth 2.1 §2.3 + RFC 8252) and how a request's
//! URI is matched against the registration (exact, except the port of a loopback IP literal).

use url::{Host, Url};

use super::error::OAuthError;

const MAX_LENGTH: usize = 2000;

/// Schemes that can run code or read local data in a browser: never a redirect target.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "about",
    "blob",
    "filesystem",
    "ws",
    "wss",
    "ftp",
];

/// Whether `host` is a loopback literal or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Validates one redirect URI for registration: https, http on loopback, or a private-use
/// scheme (`cursor://…`, `com.example.app:/cb`); absolute, no fragment, no credentials.
pub fn validate_for_registration(raw: &str) -> Result<Url, OAuthError> {
    let bad = |why: &str| {
        OAuthError::InvalidRedirectUri(format!("redirect URI `{}`: {why}", truncate(raw)))
    };
    if raw.len() > MAX_LENGTH {
        return Err(bad("longer than 2000 characters"));
    }
    let url = Url::parse(raw).map_err(|_| bad("not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment (#)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    match url.scheme() {
        "https" if url.host().is_none() => return Err(bad("https URI without a host")),
        "http" if !is_loopback(&url) => {
            return Err(bad(
                "http is allowed only for loopback (127.0.0.1, [::1], localhost); use https",
            ));
        }
        "https" | "http" => {}
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => {
            return Err(bad("this scheme is not allowed"));
        }
        _ => {}
    }
    Ok(url)
}

/// Whether a request's `redirect_uri` matches a registered one: byte-exact, except that for a
/// registered loopback IP literal the port may differ (RFC 8252 §7.3).
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(registered), Ok(requested)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    let loopback_ip = |url: &Url| {
        url.scheme() == "http" && matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
            || url.scheme() == "http"
                && matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
            || url.scheme() == "http" && url.host_str() == Some("localhost")
    };
    if !loopback_ip(&registered) || !loopback_ip(&requested) {
        return false;
    }
    registered.host_str() == requested.host_str()
        && registered.path() == requested.path()
        && registered.query() == requested.query()
        && requested.fragment().is_none()
}

fn truncate(raw: &str) -> String {
    raw.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_https_loopback_and_private_schemes() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "com.example.app:/oauth2redirect",
        ] {
            validate_for_registration(ok).unwrap();
        }
    }

    #[test]
    fn registration_refuses_dangerous_uris() {
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "http://evil.example.com/cb",
            "https://ok.example.com/cb#frag",
            "https://user:pw@ok.example.com/cb",
            "/relative/path",
            "file:///etc/passwd",
        ] {
            assert!(
                validate_for_registration(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn matching_is_exact_except_loopback_port() {
        assert!(matches("https://a.example/cb", "https://a.example/cb"));
        assert!(!matches("https://a.example/cb", "https://a.example/cb/"));
        assert!(!matches(
            "https://a.example/cb",
            "https://a.example:8443/cb"
        ));
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:5555/cb"));
        assert!(matches("http://127.0.0.1:1/cb", "http://127.0.0.1:5555/cb"));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/other"
        ));
        assert!(
            !matches("http://127.0.0.1/cb", "http://127.0.0.2:5555/cb")
                && !matches("http://127.0.0.1/cb", "https://127.0.0.1/cb")
        );
    }
}
