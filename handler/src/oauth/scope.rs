//! Scope strings (RFC 6749 §3.3): space-separated, order-free sets.

use super::error::OAuthError;

/// Whether `scope` is one RFC 6749 §3.3 scope-token: `%x21 / %x23-5B / %x5D-7E`, at least one.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Resolves the scope of a request: the requested scopes if every one is offered (and allowed
/// for the client), else `invalid_scope`; the default scope when none is requested.
pub fn resolve(
    requested: Option<&str>,
    offered: &[String],
    client_allowed: Option<&str>,
    default: &str,
) -> Result<String, OAuthError> {
    let requested = requested.map(str::trim).filter(|s| !s.is_empty());
    let Some(requested) = requested else {
        return Ok(default.to_owned());
    };
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !offered.iter().any(|o| o == scope) {
            return Err(OAuthError::InvalidScope(format!(
                "scope `{scope}` is not offered by this server"
            )));
        }
        if let Some(allowed) = client_allowed
            && !allowed.split(' ').any(|a| a == scope)
        {
            return Err(OAuthError::InvalidScope(format!(
                "scope `{scope}` was not registered for this client"
            )));
        }
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    Ok(granted.join(" "))
}

/// Narrows `granted` to `requested` on refresh; asking for anything not granted is `invalid_scope`.
pub fn narrow(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(granted.to_owned());
    };
    let mut narrowed: Vec<&str> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !granted.split(' ').any(|g| g == scope) {
            return Err(OAuthError::InvalidScope(format!(
                "scope `{scope}` was not granted; a refresh can only narrow the scope"
            )));
        }
        if !narrowed.contains(&scope) {
            narrowed.push(scope);
        }
    }
    Ok(narrowed.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_defaults_and_rejects_unknown() {
        let offered = vec!["mcp".to_owned(), "email".to_owned()];
        assert_eq!(resolve(None, &offered, None, "mcp").unwrap(), "mcp");
        assert_eq!(
            resolve(Some("email mcp email"), &offered, None, "mcp").unwrap(),
            "email mcp"
        );
        assert!(resolve(Some("admin"), &offered, None, "mcp").is_err());
        assert!(resolve(Some("email"), &offered, Some("mcp"), "mcp").is_err());
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        for good in [
            "mcp",
            "notes:write",
            "a!#[]~",
            "https://api.example.com/read",
        ] {
            assert!(is_scope_token(good), "{good}");
        }
        for bad in ["", "a b", "quo\"te", "back\\slash", "caf\u{e9}", "tab\t"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn narrow_never_widens() {
        assert_eq!(narrow("mcp email", Some("mcp")).unwrap(), "mcp");
        assert_eq!(narrow("mcp", None).unwrap(), "mcp");
        assert!(matches!(
            narrow("mcp", Some("mcp email")),
            Err(OAuthError::InvalidScope(_))
        ));
    }
}
