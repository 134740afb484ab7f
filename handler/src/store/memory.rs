//! The embedded store: all three tables in one mutex-guarded map, optionally persisted to a JSON
//! file after every write (`mcpctl dev --state-dir`) so registrations and tokens survive a
//! restart. Each operation holds the lock for its whole read-modify-write, which gives the same
//! atomicity the DynamoDB store gets from conditional writes.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

use serde::{Deserialize, Serialize};

use super::{
    AuthCodeRecord, AuthCodeStore, ClientRecord, ClientStore, CodeTake, ConsentGrant,
    PendingSignIn, PendingTake, RefreshTokenKey, RefreshTokenRecord, RefreshTokenStore, Rotation,
    SignInStore, StoreError,
};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Tables {
    clients: HashMap<String, ClientRecord>,
    codes: HashMap<String, AuthCodeRecord>,
    refresh_tokens: HashMap<String, RefreshTokenRecord>,
    #[serde(default)]
    sign_ins: HashMap<String, PendingSignIn>,
    #[serde(default)]
    consents: HashMap<String, ConsentGrant>,
    /// Families revoked before their first token was stored, with when the mark expires.
    #[serde(default)]
    revoked_families: HashMap<String, u64>,
}

/// In-memory implementation of every store trait.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    file: Option<PathBuf>,
}

impl MemoryStore {
    /// An empty store that lives only in memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store persisted to `file`, loading what is there.
    pub fn persistent(file: &Path) -> Result<Self, StoreError> {
        let tables = match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Internal(format!(
                    "{} is not a valid store snapshot ({e}); move it aside to start empty",
                    file.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tables::default(),
            Err(e) => {
                return Err(StoreError::Internal(format!(
                    "cannot read {}: {e}",
                    file.display()
                )));
            }
        };
        Ok(Self {
            tables: Mutex::new(tables),
            file: Some(file.to_owned()),
        })
    }

    /// Every registered client, ordered by id (what `mcpctl clients list` shows for `mcpctl dev`).
    ///
    /// ```
    /// let store = mcpctl_handler::store::memory::MemoryStore::new();
    /// assert!(store.clients().unwrap().is_empty());
    /// ```
    pub fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let mut clients: Vec<ClientRecord> = self.lock()?.clients.values().cloned().collect();
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(clients)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Tables>, StoreError> {
        self.tables
            .lock()
            .map_err(|_| StoreError::Internal("store lock poisoned".into()))
    }

    /// Writes the snapshot (temp file + rename, so a crash never leaves half a file).
    fn persist(&self, tables: &Tables) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(tables).map_err(|e| StoreError::Internal(e.to_string()))?;
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| StoreError::Internal(format!("cannot write {}: {e}", file.display())))
    }
}

#[async_trait::async_trait]
impl ClientStore for MemoryStore {
    async fn create(&self, client: ClientRecord) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        if tables.clients.contains_key(&client.client_id) {
            return Err(StoreError::Conflict);
        }
        tables.clients.insert(client.client_id.clone(), client);
        self.persist(&tables)
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.lock()?.clients.get(client_id).cloned())
    }

    async fn delete(&self, client_id: &str) -> Result<bool, StoreError> {
        let mut tables = self.lock()?;
        let existed = tables.clients.remove(client_id).is_some();
        if existed {
            self.persist(&tables)?;
        }
        Ok(existed)
    }
}

#[async_trait::async_trait]
impl AuthCodeStore for MemoryStore {
    async fn put(&self, code: AuthCodeRecord) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        if tables.codes.contains_key(&code.code_hash) {
            return Err(StoreError::Conflict);
        }
        tables.codes.insert(code.code_hash.clone(), code);
        self.persist(&tables)
    }

    async fn take(
        &self,
        code_hash: &str,
        now: u64,
        family_id: Option<&str>,
    ) -> Result<CodeTake, StoreError> {
        let mut tables = self.lock()?;
        // Used codes are kept until they expire (to recognise replays); drop the dead ones.
        tables.codes.retain(|_, code| code.expires_at > now);
        let outcome = match tables.codes.get_mut(code_hash) {
            None => return Ok(CodeTake::Absent),
            Some(code) if code.used_at.is_some() => {
                return Ok(CodeTake::Replayed {
                    family_id: code.family_id.clone(),
                });
            }
            Some(code) => {
                code.used_at = Some(now);
                code.family_id = family_id.map(str::to_owned);
                CodeTake::Taken(Box::new(code.clone()))
            }
        };
        self.persist(&tables)?;
        Ok(outcome)
    }
}

#[async_trait::async_trait]
impl SignInStore for MemoryStore {
    async fn put_pending(&self, pending: PendingSignIn) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        if tables.sign_ins.contains_key(&pending.handle_hash) {
            return Err(StoreError::Conflict);
        }
        let now = pending.created_at;
        // Abandoned sign-ins would otherwise pile up in a long-running dev server.
        tables.sign_ins.retain(|_, p| p.expires_at > now);
        tables.sign_ins.insert(pending.handle_hash.clone(), pending);
        self.persist(&tables)
    }

    async fn take_pending(
        &self,
        handle_hash: &str,
        browser_hash: &str,
        now: u64,
    ) -> Result<PendingTake, StoreError> {
        let mut tables = self.lock()?;
        match tables.sign_ins.get(handle_hash) {
            Some(p) if p.expires_at <= now => Ok(PendingTake::Absent),
            Some(p) if p.browser_hash != browser_hash => Ok(PendingTake::OtherBrowser),
            Some(_) => {
                let taken = tables.sign_ins.remove(handle_hash);
                self.persist(&tables)?;
                Ok(taken.map_or(PendingTake::Absent, |p| PendingTake::Taken(Box::new(p))))
            }
            None => Ok(PendingTake::Absent),
        }
    }

    async fn remember_consent(&self, grant: ConsentGrant) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        tables.consents.insert(grant.key_hash.clone(), grant);
        self.persist(&tables)
    }

    async fn consent(&self, key_hash: &str, now: u64) -> Result<Option<ConsentGrant>, StoreError> {
        Ok(self
            .lock()?
            .consents
            .get(key_hash)
            .filter(|g| g.expires_at > now)
            .cloned())
    }

    async fn forget_consents(&self, client_id: &str) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        tables
            .consents
            .retain(|_, g| g.client_id.as_deref() != Some(client_id));
        self.persist(&tables)
    }
}

fn live(token: &RefreshTokenRecord, now: u64) -> bool {
    !token.revoked && token.expires_at > now
}

fn revoke_family(tables: &mut Tables, family_id: &str) {
    for token in tables.refresh_tokens.values_mut() {
        if token.family_id == family_id {
            token.revoked = true;
        }
    }
}

#[async_trait::async_trait]
impl RefreshTokenStore for MemoryStore {
    async fn put(&self, token: RefreshTokenRecord) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        let now = token.issued_at;
        tables.revoked_families.retain(|_, until| *until > now);
        if tables.refresh_tokens.contains_key(&token.token_hash)
            || tables.revoked_families.contains_key(&token.family_id)
        {
            return Err(StoreError::Conflict);
        }
        tables
            .refresh_tokens
            .insert(token.token_hash.clone(), token);
        self.persist(&tables)
    }

    async fn get(
        &self,
        key: &RefreshTokenKey,
        now: u64,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        Ok(self
            .lock()?
            .refresh_tokens
            .get(&key.token_hash)
            .filter(|t| t.family_id == key.family_id && live(t, now))
            .cloned())
    }

    async fn rotate(
        &self,
        old_key: &RefreshTokenKey,
        successor: RefreshTokenRecord,
        now: u64,
        grace: u64,
    ) -> Result<Rotation, StoreError> {
        let mut tables = self.lock()?;
        let old_hash = old_key.token_hash.as_str();
        let Some(old) = tables.refresh_tokens.get(old_hash).cloned() else {
            return Ok(Rotation::Invalid);
        };
        if !live(&old, now)
            || old.family_id != old_key.family_id
            || successor.family_id != old.family_id
        {
            return Ok(Rotation::Invalid);
        }
        let outcome = match (old.rotated_at, old.successor_hash.as_deref()) {
            (None, _) => {
                if let Some(entry) = tables.refresh_tokens.get_mut(old_hash) {
                    entry.rotated_at = Some(now);
                    entry.successor_hash = Some(successor.token_hash.clone());
                }
                tables
                    .refresh_tokens
                    .insert(successor.token_hash.clone(), successor);
                Rotation::Rotated
            }
            (Some(rotated_at), Some(successor_hash))
                if now.saturating_sub(rotated_at) <= grace
                    && successor_hash == successor.token_hash
                    && tables
                        .refresh_tokens
                        .get(successor_hash)
                        .is_some_and(|s| live(s, now) && s.rotated_at.is_none()) =>
            {
                let scope = tables
                    .refresh_tokens
                    .get(successor_hash)
                    .map(|s| s.scope.clone())
                    .unwrap_or_default();
                return Ok(Rotation::GraceReplay { scope });
            }
            _ => {
                revoke_family(&mut tables, &old.family_id);
                Rotation::ReuseDetected
            }
        };
        self.persist(&tables)?;
        Ok(outcome)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        revoke_family(&mut tables, family_id);
        self.persist(&tables)
    }

    async fn revoke_family_ahead(
        &self,
        family_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        if tables
            .refresh_tokens
            .values()
            .any(|t| t.family_id == family_id)
        {
            revoke_family(&mut tables, family_id);
        } else {
            tables
                .revoked_families
                .insert(family_id.to_owned(), expires_at);
        }
        self.persist(&tables)
    }

    async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        for token in tables.refresh_tokens.values_mut() {
            if token.client_id == client_id {
                token.revoked = true;
            }
        }
        tables.codes.retain(|_, code| code.client_id != client_id);
        self.persist(&tables)
    }
}
