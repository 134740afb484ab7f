//! Storage: one async trait per table (clients, authorization codes, refresh tokens).
//!
//! Methods are named after their semantics so a DynamoDB implementation can make each one a
//! single conditional write: [`AuthCodeStore::take`] is an atomic consume (conditional delete
//! returning the old item), [`RefreshTokenStore::rotate`] marks the old token used and stores
//! its successor in one transaction. Secrets arrive here already hashed; no store ever sees a
//! usable code, token or client secret.
//!
//! A tiny implementation, to show the shape (see [`memory`] for the real one):
//! ```
//! # use mcpctl_handler::store::*;
//! # use std::{collections::HashMap, sync::Mutex};
//! struct OneMap(Mutex<HashMap<String, AuthCodeRecord>>);
//! #[async_trait::async_trait]
//! impl AuthCodeStore for OneMap {
//!     async fn put(&self, code: AuthCodeRecord) -> Result<(), StoreError> {
//!         self.0.lock().unwrap().insert(code.code_hash.clone(), code);
//!         Ok(())
//!     }
//!     async fn take(&self, code_hash: &str, now: u64, family_id: Option<&str>) -> Result<CodeTake, StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         match map.get_mut(code_hash) {
//!             Some(code) if code.used_at.is_some() => Ok(CodeTake::Replayed { family_id: code.family_id.clone() }),
//!             Some(code) if code.expires_at > now => {
//!                 code.used_at = Some(now);
//!                 code.family_id = family_id.map(str::to_owned);
//!                 Ok(CodeTake::Taken(Box::new(code.clone())))
//!             }
//!             _ => Ok(CodeTake::Absent),
//!         }
//!     }
//! }
//! ```

#[cfg(feature = "aws")]
pub mod dynamo;
pub mod memory;
pub mod schema;

use serde::{Deserialize, Serialize};

/// A store failure. Each maps to one HTTP outcome at the edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An item with this key already exists.
    #[error("an item with this key already exists")]
    Conflict,
    /// The backend is throttling or unavailable; retry later.
    #[error("storage is temporarily unavailable: {reason}")]
    Unavailable {
        /// Seconds the client should wait.
        retry_after: u64,
        /// What the backend said (no secrets).
        reason: String,
    },
    /// Anything else.
    #[error("storage error: {0}")]
    Internal(String),
}

/// The registered metadata of a client (RFC 7591 §2), as validated at registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// `code` or nothing.
    pub response_types: Vec<String>,
    /// `none`, `client_secret_basic`, `client_secret_post`.
    pub token_endpoint_auth_method: String,
    /// Space-separated scopes the client may ask for; `None` means any offered scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Human-readable name shown on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Home page of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Contacts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// Software id (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Software version (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// `native` or `web` (SEP-837).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
}

/// Who created a client, which decides what it may do: only an operator's clients may use
/// client_credentials (a token with no person behind it), and only they are "vetted", so an
/// authorization error may redirect to them automatically (RFC 9700 §4.11.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// Anyone, through open Dynamic Client Registration (also every record written before
    /// origins existed: the safe reading).
    #[default]
    Dcr,
    /// A Client ID Metadata Document: the client is whoever controls its URL's host.
    Cimd,
    /// An operator: `mcpctl register-client`, or `/dcr` with an initial access token.
    Operator,
}

impl ClientOrigin {
    /// Whether an operator registered the client.
    pub fn is_operator(self) -> bool {
        self == Self::Operator
    }
}

/// A row of the clients table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Client identifier (partition key).
    pub client_id: String,
    /// SHA-256 of the client secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// SHA-256 of the RFC 7592 registration access token.
    pub registration_token_hash: Option<String>,
    /// Validated metadata.
    pub metadata: ClientMetadata,
    /// Epoch seconds of registration.
    pub issued_at: u64,
    /// Who registered it.
    #[serde(default)]
    pub origin: ClientOrigin,
}

/// What the server knows about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// Stable subject identifier.
    pub sub: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Groups the upstream identity provider puts the user in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A row of the authorization-codes table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthCodeRecord {
    /// SHA-256 of the code (partition key).
    pub code_hash: String,
    /// Client the code was issued to.
    pub client_id: String,
    /// Redirect URI of the authorization request (must match at the token endpoint).
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Granted scope.
    pub scope: String,
    /// RFC 8707 resource (the token audience).
    pub resource: String,
    /// The user who approved.
    pub user: UserClaims,
    /// Epoch seconds.
    pub issued_at: u64,
    /// Epoch seconds; also the DynamoDB TTL attribute.
    pub expires_at: u64,
    /// When it was exchanged. A used code is kept until it expires so that a replay is
    /// recognised and revokes what the code issued (RFC 6749 §4.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<u64>,
    /// The refresh-token family the exchange started, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
}

/// The outcome of [`AuthCodeStore::take`].
#[derive(Debug, Clone, PartialEq)]
pub enum CodeTake {
    /// Live and unused: it is now marked used.
    Taken(Box<AuthCodeRecord>),
    /// Already exchanged: a replay. Revoke the family it started.
    Replayed {
        /// The family the first exchange started.
        family_id: Option<String>,
    },
    /// Unknown or expired.
    Absent,
}

/// A row of the refresh-tokens table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token (partition key).
    pub token_hash: String,
    /// All tokens descending from one authorization share a family; reuse revokes it whole.
    pub family_id: String,
    /// Client the token belongs to.
    pub client_id: String,
    /// The user.
    pub user: UserClaims,
    /// Granted scope (a refresh may narrow it, never widen it).
    pub scope: String,
    /// Token audience.
    pub resource: String,
    /// Epoch seconds.
    pub issued_at: u64,
    /// Epoch seconds of the sign-in that started the family: the absolute lifetime counts from
    /// here, across rotations. `None` on rows written before it existed (then `issued_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_started_at: Option<u64>,
    /// Epoch seconds; also the DynamoDB TTL attribute.
    pub expires_at: u64,
    /// When the token was exchanged for its successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<u64>,
    /// Hash of the successor, recorded at rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor_hash: Option<String>,
    /// Revoked (by reuse detection, RFC 7009 revocation or client deletion).
    pub revoked: bool,
}

/// A sign-in in progress with the upstream identity provider, kept server-side between
/// `/oauth/authorize`, `/oauth/callback` and the consent form (short TTL, single use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// SHA-256 of the handle: the upstream `state`, later the consent form's `pending` field.
    pub handle_hash: String,
    /// SHA-256 of the browser-binding cookie: the callback and the consent must come from the
    /// browser that started the sign-in.
    pub browser_hash: String,
    /// The MCP client.
    pub client_id: String,
    /// Its validated redirect URI.
    pub redirect_uri: String,
    /// Its PKCE challenge.
    pub code_challenge: String,
    /// Granted scope.
    pub scope: String,
    /// Token audience.
    pub resource: String,
    /// The client's `state`, returned unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The signed-in user, once the upstream said who it is (the consent stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserClaims>,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds; also the DynamoDB TTL attribute.
    pub expires_at: u64,
}

/// The outcome of [`SignInStore::take_pending`].
#[derive(Debug, Clone, PartialEq)]
pub enum PendingTake {
    /// Taken: it was live and belonged to this browser.
    Taken(Box<PendingSignIn>),
    /// It is live but belongs to another browser; it was left in place.
    OtherBrowser,
    /// Unknown, expired or already taken.
    Absent,
}

/// A remembered consent: this user already approved this client for these scopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentGrant {
    /// SHA-256 of `<user sub>\n<client id>`.
    pub key_hash: String,
    /// The client, so its consents can be forgotten when it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The approved scopes (space-separated).
    pub scope: String,
    /// Epoch seconds.
    pub granted_at: u64,
    /// Epoch seconds; also the DynamoDB TTL attribute.
    pub expires_at: u64,
}

/// How a presented refresh token is looked up: by its hash, within its family. Refresh tokens
/// read `<family_id>.<secret>`, so the family is known without a read, and a store can check
/// the family's revocation in the same strongly consistent operation as the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenKey {
    /// SHA-256 of the whole token.
    pub token_hash: String,
    /// The family named in the token.
    pub family_id: String,
}

/// The outcome of [`RefreshTokenStore::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live and is now replaced by the successor.
    Rotated,
    /// The token was already rotated to exactly this successor within the grace window, and the
    /// successor is still live: answer again with the same successor, with its stored scope
    /// (not what the replay asked for).
    GraceReplay {
        /// The successor's scope.
        scope: String,
    },
    /// The token was already used outside the grace window: its whole family is now revoked.
    ReuseDetected,
    /// Unknown, expired or revoked.
    Invalid,
}

/// The clients table.
#[async_trait::async_trait]
pub trait ClientStore: Send + Sync + 'static {
    /// Stores a new client; [`StoreError::Conflict`] if the id exists.
    async fn create(&self, client: ClientRecord) -> Result<(), StoreError>;
    /// Reads a client.
    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Deletes a client; `false` if it did not exist.
    async fn delete(&self, client_id: &str) -> Result<bool, StoreError>;
}

/// The authorization-codes table.
#[async_trait::async_trait]
pub trait AuthCodeStore: Send + Sync + 'static {
    /// Stores a new code.
    async fn put(&self, code: AuthCodeRecord) -> Result<(), StoreError>;
    /// Atomically marks the code used (recording the refresh-token `family_id` the exchange
    /// will start) and returns it, if it exists, is unused and has not expired at `now`. Of many
    /// concurrent calls with one hash, at most one gets [`CodeTake::Taken`]; the others, and
    /// every later call, get [`CodeTake::Replayed`] until the code expires.
    async fn take(
        &self,
        code_hash: &str,
        now: u64,
        family_id: Option<&str>,
    ) -> Result<CodeTake, StoreError>;
}

/// Sign-in state kept beside the codes (the codes table holds it under distinct key prefixes):
/// pending upstream sign-ins and remembered consents.
#[async_trait::async_trait]
pub trait SignInStore: Send + Sync + 'static {
    /// Stores a pending sign-in; [`StoreError::Conflict`] if the handle exists.
    async fn put_pending(&self, pending: PendingSignIn) -> Result<(), StoreError>;
    /// Atomically removes and returns a live pending sign-in (single use, like a code), but only
    /// for the browser that started it: from another browser it stays, so whoever learns a
    /// `state` cannot cancel someone else's sign-in.
    async fn take_pending(
        &self,
        handle_hash: &str,
        browser_hash: &str,
        now: u64,
    ) -> Result<PendingTake, StoreError>;
    /// Records (or renews) a consent.
    async fn remember_consent(&self, grant: ConsentGrant) -> Result<(), StoreError>;
    /// Reads a live remembered consent.
    async fn consent(&self, key_hash: &str, now: u64) -> Result<Option<ConsentGrant>, StoreError>;
    /// Deletes every remembered consent for a client (on client deletion).
    async fn forget_consents(&self, client_id: &str) -> Result<(), StoreError>;
}

/// The refresh-tokens table.
#[async_trait::async_trait]
pub trait RefreshTokenStore: Send + Sync + 'static {
    /// Stores the first token of a new family (and the family itself).
    async fn put(&self, token: RefreshTokenRecord) -> Result<(), StoreError>;
    /// Reads a live token: present, not expired at `now`, and its family not revoked.
    async fn get(
        &self,
        key: &RefreshTokenKey,
        now: u64,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;
    /// Exchanges the token at `old` for `successor` (same family) atomically: of many concurrent
    /// rotations of one token, exactly one stores a successor. `grace` is the replay window in seconds.
    async fn rotate(
        &self,
        old: &RefreshTokenKey,
        successor: RefreshTokenRecord,
        now: u64,
        grace: u64,
    ) -> Result<Rotation, StoreError>;
    /// Revokes every token of a family (RFC 7009, reuse detection).
    async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError>;
    /// Revokes a family that may not be stored yet (a replayed authorization code, whose first
    /// exchange may still be writing it): a later [`RefreshTokenStore::put`] of that family fails
    /// with [`StoreError::Conflict`]. The mark lives until `expires_at` when the family is new.
    async fn revoke_family_ahead(&self, family_id: &str, expires_at: u64)
    -> Result<(), StoreError>;
    /// Revokes every token of a client (on client deletion).
    async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError>;
}
