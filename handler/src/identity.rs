//! Who the user is at `/oauth/authorize`.
//!
//! In the `oidc` identity mode our authorization server keeps issuing its own codes and tokens
//! (with DCR and Client ID Metadata Documents, which upstream providers such as Cognito lack)
//! and delegates only "who is this person" to an upstream OpenID provider: [`upstream`] speaks
//! to it, [`claims`] turns its verified ID token into our user (and applies the allow-lists).
//! The HTTP side (redirects, callback, consent) is in `http::signin`.

pub mod claims;
pub mod upstream;
