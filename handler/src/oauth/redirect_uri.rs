//! Redirect URIs: what may be registered (RFC 7591 + OAuth 2.1 §2.3 + RFC 8252) and how a request's
//! URI is matched against the registration (exact, except the port of a loopback IP literal).

use url::{Host, Url};

use super::error::OAuthError;

const MAX_LENGTH: usize = 2000;

/// Schemes refused even when they are in reverse-domain form or an operator lists them in
/// `redirect_schemes`: the authorization server would be the one sending the user's browser (with
/// a fresh authorization code in the URI) to them, so they must not run code, touch local
/// data or hand the code to something other than the registering application.
const FORBIDDEN_SCHEMES: &[&str] = &[
    // Run script or render attacker-supplied content in the browser's context.
    "javascript",
    "vbscript",
    "livescript",
    "data",
    "blob",
    "filesystem",
    "about",
    "view-source",
    "jar",
    "resource",
    "chrome",
    "mhtml",
    "mk",
    "its",
    // Local files and network shares (a `file:`/`smb:` navigation can leak NTLM credentials).
    "file",
    "smb",
    "nfs",
    "afp",
    // Other transports: the code would travel outside TLS-protected HTTP or to no app at all.
    "ftp",
    "ws",
    "wss",
    // OS and app-launch handlers with a history of remote code execution or that dial, message
    // or install on the user's behalf (Android intents, Windows search / help / shell handlers,
    // iOS over-the-air installs); `ms-*` is refused by prefix (ms-msdt, ms-officecmd, ...).
    "intent",
    "android-app",
    "shell",
    "search",
    "search-ms",
    "hcp",
    "itms-services",
    "mailto",
    "tel",
    "sms",
    "callto",
];

/// Whether `scheme` (lower case, as the URL parser gives it) is never a redirect target, whatever
/// an operator lists (stage config validation asks this too).
pub fn is_forbidden_scheme(scheme: &str) -> bool {
    FORBIDDEN_SCHEMES.contains(&scheme) || scheme.starts_with("ms-")
}

/// RFC 8252 §7.1: a private-use scheme should be a reversed domain name the application controls
/// (`com.example.app`), which keeps one application from claiming another's generic scheme.
fn is_reverse_domain(scheme: &str) -> bool {
    scheme.contains('.') && scheme.split('.').all(|label| !label.is_empty())
}

/// Whether `host` is a loopback literal or `localhost`: where plain http is acceptable (the
/// traffic never leaves the machine, RFC 8252 §8.3).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `url` is `http` on a loopback IP literal (`127.0.0.1`, `[::1]`): the only redirect
/// URIs whose port may vary (RFC 8252 §7.3). Not `localhost`: §8.3 advises against it because a
/// name can be resolved elsewhere or listened on by another application's socket family.
pub fn is_loopback_ip_literal(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        }
}

/// Checks one redirect URI for registration and says what is wrong in a fixed sentence (problem
/// and fix) that never contains the URI, so callers may show it for untrusted input.
///
/// Accepted: https with a host; http on loopback; a private-use scheme in reverse-domain form
/// (RFC 8252 §7.1) or listed in `known_schemes` (case-insensitive). Never a scheme from
/// [`FORBIDDEN_SCHEMES`], credentials, a fragment (RFC 6749 §3.1.2), whitespace or controls.
pub fn check(raw: &str, known_schemes: &[String]) -> Result<Url, &'static str> {
    if raw.len() > MAX_LENGTH {
        return Err("longer than 2000 characters; register a shorter URI");
    }
    // The URL parser silently strips tabs, newlines and surrounding spaces, so the stored string
    // (compared byte for byte later) would differ from the URI it was validated as.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters; percent-encode or remove them");
    }
    let url = Url::parse(raw)
        .map_err(|_| "not a valid absolute URI; include the scheme and a valid host")?;
    if url.fragment().is_some() {
        return Err("must not contain a fragment (#, RFC 6749 §3.1.2); remove it");
    }
    // `user:pass@` in a redirect URI only serves to disguise the real host (`https://bank@evil`).
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials (user:password@); remove them");
    }
    let scheme = url.scheme();
    match scheme {
        "https" if url.host().is_none() => Err("https URI without a host; add the host"),
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err("http is allowed only for loopback (127.0.0.1, [::1], localhost); use https"),
        _ if is_forbidden_scheme(scheme) => {
            Err("this scheme is never allowed as a redirect target; use https or an app scheme")
        }
        _ if is_reverse_domain(scheme)
            || known_schemes.iter().any(|k| k.eq_ignore_ascii_case(scheme)) =>
        {
            Ok(url)
        }
        _ => Err(
            "private-use schemes must be in reverse-domain form (com.example.app:/callback, RFC 8252 §7.1); use that, https, or http on loopback",
        ),
    }
}

/// Validates one redirect URI for registration (see [`check`]); the error names the problem and a
/// truncated copy of the URI.
pub fn validate_for_registration(raw: &str, known_schemes: &[String]) -> Result<Url, OAuthError> {
    check(raw, known_schemes).map_err(|why| {
        OAuthError::InvalidRedirectUri(format!("redirect URI `{}`: {why}", truncate(raw)))
    })
}

/// Whether a request's `redirect_uri` matches a registered one: byte-exact (OAuth 2.1 §2.3.1),
/// except that for a registered http loopback IP literal the port may differ (RFC 8252 §7.3).
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(registered), Ok(requested_url)) = (Url::parse(registered), Url::parse(requested))
    else {
        return false;
    };
    if !is_loopback_ip_literal(&registered) {
        return false;
    }
    // Put the requested port into the registered URI and compare the whole string with what was
    // requested: everything but the port (scheme, host literal, path, query, no fragment or
    // credentials) must then be identical, with no room for normalisation tricks in between.
    let mut expected = registered;
    if expected.set_port(requested_url.port()).is_err() {
        return false;
    }
    expected.as_str() == requested
}

fn truncate(raw: &str) -> String {
    raw.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        crate::config::DEFAULT_REDIRECT_SCHEMES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    #[test]
    fn registration_accepts_https_loopback_and_private_schemes() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "vscode://vscode.github-authentication/did-authenticate",
            "VSCode-Insiders://x/cb",
            "com.example.app:/oauth2redirect",
            "com.example.app://callback",
        ] {
            validate_for_registration(ok, &known()).unwrap();
        }
    }

    #[test]
    fn registration_refuses_dangerous_uris() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "http://evil.example.com/cb",
            "https://ok.example.com/cb#frag",
            "https://ok.example.com/cb#",
            "https://user:pw@ok.example.com/cb",
            "https://user@ok.example.com/cb",
            "/relative/path",
            "file:///etc/passwd",
            "https://ok.example.com/c\nb",
            "https://ok.example.com/c\tb",
            " https://ok.example.com/cb",
        ] {
            assert!(
                validate_for_registration(bad, &known()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn credentials_are_refused_for_every_scheme() {
        for bad in [
            "http://user:pw@127.0.0.1:8080/cb",
            "http://user@localhost/cb",
            "http://127.0.0.1@evil.example/cb",
            "cursor://user:pw@anysphere.cursor-retrieval/cb",
            "com.example.app://token@host/cb",
        ] {
            assert!(
                validate_for_registration(bad, &known()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn private_use_schemes_need_reverse_domain_form_or_a_known_client() {
        for bad in [
            "myapp://callback",
            "evil:/cb",
            "com..example:/cb",
            ".com.example:/cb",
            "com.example.:/cb",
            // A known scheme must match as a whole, not as a prefix.
            "cursorx://cb",
        ] {
            assert!(
                validate_for_registration(bad, &known()).is_err(),
                "{bad} was accepted"
            );
        }
        // Without the default list a known client's scheme is just an unknown scheme.
        assert!(validate_for_registration("cursor://a/cb", &[]).is_err());
        assert!(validate_for_registration("myapp://cb", &["MyApp".to_owned()]).is_ok());
    }

    #[test]
    fn dangerous_handlers_are_refused_even_when_an_operator_lists_them() {
        let mut listed = known();
        for scheme in [
            "ms-msdt",
            "ms-officecmd",
            "ms-settings",
            "search-ms",
            "intent",
            "mailto",
            "tel",
            "sms",
            "shell",
            "vbscript",
            "ws",
            "wss",
            "ftp",
            "view-source",
            "jar",
            "blob",
            "about",
            "chrome",
            "smb",
        ] {
            listed.push(scheme.to_owned());
        }
        for bad in [
            "ms-msdt:/id%20PCWDiagnostic",
            "ms-officecmd:{}",
            "MS-Settings:privacy",
            "ms-cxh://x",
            "search-ms:query=x",
            "search:query=x",
            "intent://scan/#Intent;scheme=zxing;end",
            "intent://scan/",
            "mailto:a@example.com",
            "tel:+15555550100",
            "sms:+15555550100",
            "shell:startup",
            "vbscript:msgbox(1)",
            "ws://127.0.0.1/cb",
            "wss://ok.example/cb",
            "ftp://ok.example/cb",
            "view-source:https://ok.example/",
            "jar:https://ok.example/a.jar!/",
            "blob:https://ok.example/uuid",
            "about:blank",
            "chrome://settings",
            "smb://attacker.example/share",
        ] {
            assert!(
                validate_for_registration(bad, &listed).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn errors_name_the_fix_and_truncate_the_uri() {
        let long = format!("myapp:/{}", "<script>".repeat(100));
        let Err(OAuthError::InvalidRedirectUri(description)) =
            validate_for_registration(&long, &known())
        else {
            panic!("accepted");
        };
        assert!(description.contains("reverse-domain"), "{description}");
        assert!(description.len() < 400, "{description}");
        let Err(OAuthError::InvalidRedirectUri(description)) =
            validate_for_registration("https://u:p@a.example/cb", &known())
        else {
            panic!("accepted");
        };
        assert!(description.contains("credentials"), "{description}");
        // `check` itself never repeats the URI, so it may be shown for untrusted documents.
        let why = check("myapp://PHISHING-TEXT", &known()).unwrap_err();
        assert!(!why.contains("PHISHING"));
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
        assert!(matches("http://127.0.0.1:1/cb", "http://127.0.0.1/cb"));
        assert!(matches("http://[::1]/cb?x=1", "http://[::1]:5555/cb?x=1"));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/other"
        ));
        assert!(
            !matches("http://127.0.0.1/cb", "http://127.0.0.2:5555/cb")
                && !matches("http://127.0.0.1/cb", "https://127.0.0.1/cb")
        );
    }

    #[test]
    fn port_variance_is_only_for_loopback_ip_literals() {
        // `localhost` is a name: exact match only (RFC 8252 §7.3 and §8.3).
        assert!(matches(
            "http://localhost:8080/cb",
            "http://localhost:8080/cb"
        ));
        assert!(!matches("http://localhost/cb", "http://localhost:5555/cb"));
        assert!(!matches(
            "http://localhost:8080/cb",
            "http://localhost:9090/cb"
        ));
        // Nor custom schemes or https, even on a loopback host.
        assert!(!matches(
            "https://127.0.0.1/cb",
            "https://127.0.0.1:5555/cb"
        ));
        assert!(!matches(
            "cursor://127.0.0.1/cb",
            "cursor://127.0.0.1:5555/cb"
        ));
        // A loopback registration does not stretch to another host, family, or scheme.
        assert!(!matches("http://127.0.0.1/cb", "http://[::1]:5555/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://localhost:5555/cb"));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil.example:5555/cb"
        ));
    }

    #[test]
    fn port_variance_leaves_no_room_for_other_differences() {
        let registered = "http://127.0.0.1/cb?a=1";
        for bad in [
            "http://127.0.0.1:5555/cb?a=1#x",
            "http://127.0.0.1:5555/cb?a=2",
            "http://127.0.0.1:5555/cb",
            "http://127.0.0.1:5555/./cb?a=1",
            "http://127.0.0.1:5555/x/../cb?a=1",
            "http://u:p@127.0.0.1:5555/cb?a=1",
            "http://0x7f.0.0.1:5555/cb?a=1",
            "http://127.1:5555/cb?a=1",
            "HTTP://127.0.0.1:5555/cb?a=1",
            "http://127.0.0.1:5555/CB?a=1",
        ] {
            assert!(!matches(registered, bad), "{bad} matched");
        }
        assert!(matches(registered, "http://127.0.0.1:5555/cb?a=1"));
    }
}
