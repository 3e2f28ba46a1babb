//! What several instances sharing one store (PostgreSQL) keep there besides tasks: API keys,
//! so that a key created or revoked on one instance holds on every one at once, and WebSocket
//! tickets, so that a ticket issued by one instance is redeemed by whichever the connection
//! reaches behind a load balancer.

use std::sync::Arc;

use jarvis_auth::{KeyBackend, KeyStore, Scope, StoredKey, TicketBackend};
use jarvis_store::{ApiKeyRow, Listener, Store, TicketRow};

/// The channel a key change is announced on; every instance reloads its keys when it hears it.
pub const KEYS_CHANNEL: &str = "jarvis_keys";

/// The API keys: in `shared` — a store several instances share, and its address as shown —
/// when there is one, else in the key file at `keys_path`. Blocking (it reads them).
pub fn open_keys(
    shared: Option<(Arc<dyn Store>, String)>,
    keys_path: &std::path::Path,
) -> Result<KeyStore, jarvis_auth::AuthError> {
    match shared {
        Some((store, location)) => {
            KeyStore::with_backend(Arc::new(StoreKeys::new(store, location)))
        }
        None => KeyStore::open(keys_path),
    }
}

/// API keys in the store.
#[derive(Debug)]
pub struct StoreKeys {
    store: Arc<dyn Store>,
    location: String,
}

impl StoreKeys {
    /// Keys in `store`, at `location` (shown in messages; no password).
    pub fn new(store: Arc<dyn Store>, location: String) -> StoreKeys {
        StoreKeys { store, location }
    }

    fn announce(&self, id: &str) {
        if let Err(e) = self.store.notify(KEYS_CHANNEL, id) {
            tracing::warn!(error = %e, key = id, "cannot tell the other instances of a key change; they see it within a second");
        }
    }
}

impl KeyBackend for StoreKeys {
    fn load(&self) -> Result<Vec<StoredKey>, String> {
        let rows = self.store.load_api_keys().map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|row| {
                let scopes = row
                    .scopes
                    .iter()
                    .map(|s| s.parse::<Scope>().map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(StoredKey {
                    id: row.id,
                    name: row.name,
                    scopes,
                    created_at: u64::try_from(row.created_at).unwrap_or(0),
                    sha256: row.sha256,
                })
            })
            .collect()
    }

    fn insert(&self, key: &StoredKey) -> Result<(), String> {
        self.store
            .insert_api_key(&ApiKeyRow {
                id: key.id.clone(),
                name: key.name.clone(),
                scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
                created_at: i64::try_from(key.created_at).unwrap_or(i64::MAX),
                sha256: key.sha256.clone(),
            })
            .map_err(|e| e.to_string())?;
        self.announce(&key.id);
        Ok(())
    }

    fn delete(&self, id: &str) -> Result<bool, String> {
        let found = self.store.delete_api_key(id).map_err(|e| e.to_string())?;
        if found {
            self.announce(id);
        }
        Ok(found)
    }

    fn location(&self) -> String {
        self.location.clone()
    }
}

/// WebSocket tickets in the store (their hashes).
#[derive(Debug)]
pub struct StoreTickets {
    store: Arc<dyn Store>,
}

impl StoreTickets {
    /// Tickets in `store`.
    pub fn new(store: Arc<dyn Store>) -> StoreTickets {
        StoreTickets { store }
    }
}

impl TicketBackend for StoreTickets {
    fn insert(
        &self,
        sha256: &str,
        principal: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), String> {
        self.store
            .insert_ticket(
                &TicketRow {
                    sha256: sha256.to_owned(),
                    principal: principal.to_owned(),
                    expires_at: expires_at_ms,
                },
                now_ms,
            )
            .map_err(|e| e.to_string())
    }

    fn take(&self, sha256: &str) -> Result<Option<(String, i64)>, String> {
        Ok(self
            .store
            .take_ticket(sha256)
            .map_err(|e| e.to_string())?
            .map(|row| (row.principal, row.expires_at)))
    }

    fn location(&self) -> String {
        "the shared store".into()
    }
}

/// Reloads `keys` whenever another instance announces a change (on the listener's thread).
/// Blocking.
pub fn follow_key_changes(
    store: &Arc<dyn Store>,
    keys: &Arc<KeyStore>,
) -> jarvis_store::Result<Option<Box<dyn Listener>>> {
    let keys = Arc::downgrade(keys);
    store.listen(
        &[KEYS_CHANNEL],
        Box::new(move |_| {
            let Some(keys) = keys.upgrade() else { return };
            if let Err(e) = keys.reload() {
                tracing::error!(error = %e, "cannot reload API keys after a change on another instance; keeping the keys already loaded");
            }
        }),
    )
}
