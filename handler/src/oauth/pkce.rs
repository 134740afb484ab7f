//! PKCE (RFC 7636) with S256 only, as OAuth 2.1 and MCP require.

use aws_lc_rs::digest;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::error::OAuthError;
use crate::crypto::constant_time_eq;

/// Checks an authorization request's challenge: present, S256, and 43 base64url characters.
pub fn validate_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<String, OAuthError> {
    let challenge = challenge.filter(|c| !c.is_empty()).ok_or_else(|| {
        OAuthError::invalid_request("code_challenge is required (PKCE with S256)")
    })?;
    match method {
        Some("S256") => {}
        Some("plain") => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method plain is not allowed; use S256",
            ));
        }
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "unsupported code_challenge_method `{other}`; use S256"
            )));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method is required and must be S256",
            ));
        }
    }
    if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
        return Err(OAuthError::invalid_request(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        ));
    }
    Ok(challenge.to_owned())
}

/// Checks a token request's verifier against the stored challenge (RFC 7636 §4.6).
pub fn verify(verifier: Option<&str>, challenge: &str) -> Result<(), OAuthError> {
    let verifier =
        verifier.ok_or_else(|| OAuthError::invalid_request("code_verifier is required"))?;
    let well_formed = (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved);
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    if well_formed && constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
        Ok(())
    } else {
        Err(OAuthError::InvalidGrant(
            "code_verifier does not match the code_challenge".into(),
        ))
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_unreserved(b: u8) -> bool {
    is_base64url(b) || b == b'.' || b == b'~'
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_example_verifies() {
        assert_eq!(
            validate_challenge(Some(CHALLENGE), Some("S256")).unwrap(),
            CHALLENGE
        );
        verify(Some(VERIFIER), CHALLENGE).unwrap();
    }

    #[test]
    fn plain_missing_and_wrong_verifiers_are_refused() {
        assert!(validate_challenge(Some(CHALLENGE), Some("plain")).is_err());
        assert!(validate_challenge(None, Some("S256")).is_err());
        assert!(validate_challenge(Some(CHALLENGE), None).is_err());
        assert!(validate_challenge(Some("short"), Some("S256")).is_err());
        assert!(matches!(
            verify(Some(&VERIFIER.replace('d', "e")), CHALLENGE),
            Err(OAuthError::InvalidGrant(_))
        ));
        assert!(verify(None, CHALLENGE).is_err());
        assert!(verify(Some(CHALLENGE), CHALLENGE).is_err());
    }
}
