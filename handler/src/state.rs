//! The state every handler shares: configuration, keys, the three stores, the clock and the
//! Client ID Metadata Document resolver. Built once per process (per Lambda container).

use std::{ops::Deref, sync::Arc};

use crate::{
    clock::Clock,
    config::{HandlerConfig, IdentityMode},
    identity::upstream::Upstream,
    keys::KeyMaterial,
    oauth::{cimd::CimdResolver, error::OAuthError, verified_tokens::VerifiedTokens},
    store::{
        AuthCodeStore, ClientRecord, ClientStore, RefreshTokenStore, SignInStore,
        memory::MemoryStore,
    },
};

/// The three tables.
#[derive(Clone)]
pub struct Stores {
    /// Registered clients.
    pub clients: Arc<dyn ClientStore>,
    /// Authorization codes.
    pub codes: Arc<dyn AuthCodeStore>,
    /// Refresh tokens.
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    /// Pending upstream sign-ins and remembered consents (kept in the codes table).
    pub sign_ins: Arc<dyn SignInStore>,
}

impl Stores {
    /// All three tables in one embedded store.
    pub fn memory(store: Arc<MemoryStore>) -> Self {
        Self {
            clients: store.clone(),
            codes: store.clone(),
            refresh_tokens: store.clone(),
            sign_ins: store,
        }
    }

    /// All three tables on DynamoDB.
    #[cfg(feature = "aws")]
    pub fn dynamo(store: crate::store::dynamo::DynamoStore) -> Self {
        let store = Arc::new(store);
        Self {
            clients: store.clone(),
            codes: store.clone(),
            refresh_tokens: store.clone(),
            sign_ins: store,
        }
    }
}

/// Shared, cheaply clonable application state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Configuration.
    pub config: HandlerConfig,
    /// Keys.
    pub keys: KeyMaterial,
    /// Tables.
    pub stores: Stores,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// CIMD fetcher and cache.
    pub cimd: CimdResolver,
    /// The upstream OpenID provider, in the `oidc` identity mode.
    pub upstream: Option<Upstream>,
    /// Access tokens already verified by this process.
    pub verified_tokens: VerifiedTokens,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state.
    pub fn new(
        config: HandlerConfig,
        keys: KeyMaterial,
        stores: Stores,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let cimd = CimdResolver::new(config.cimd.clone(), config.clone());
        let upstream = match &config.identity {
            IdentityMode::Oidc(settings) => Some(Upstream::new((**settings).clone(), &config)),
            _ => None,
        };
        Self(Arc::new(Inner {
            config,
            keys,
            stores,
            clock,
            cimd,
            upstream,
            verified_tokens: VerifiedTokens::default(),
        }))
    }

    /// Current time from the injected clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Looks up a client: a URL `client_id` is a Client ID Metadata Document, anything else a
    /// registered client.
    pub async fn find_client(&self, client_id: &str) -> Result<Option<ClientRecord>, OAuthError> {
        if CimdResolver::is_metadata_url(client_id) {
            return self.cimd.resolve(client_id, self.now()).await.map(Some);
        }
        Ok(self.stores.clients.get(client_id).await?)
    }
}
