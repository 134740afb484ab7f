//! The OAuth 2.1 authorization server: grant logic with no HTTP in it. Handlers in `http/` parse
//! requests into the typed inputs here and map [`error::OAuthError`] to responses in one place.

pub mod authorize;
pub mod cimd;
pub mod clients;
pub mod discovery;
pub mod error;
pub mod jwt;
pub mod pkce;
pub mod redirect_uri;
pub mod registration;
pub mod revoke;
pub mod scope;
pub mod token;
pub mod verified_tokens;
