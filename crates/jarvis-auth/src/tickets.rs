//! Single-use connection tickets: a client trades its key for a ticket valid for a few seconds,
//! then presents the ticket in a URL (a WebSocket cannot send headers from a browser). The key
//! itself never appears in a URL, a log of URLs, or a browser's history.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use sha2::{Digest as _, Sha256};

use crate::keys::{AuthError, Principal, Scope};

/// Where tickets live when several instances share them (a database): a ticket issued by one
/// is redeemed by whichever instance the connection reaches. Blocking; only hashes are kept.
pub trait TicketBackend: Send + Sync + std::fmt::Debug {
    /// Records a ticket (its hash) for `principal` (as JSON) until `expires_at_ms`, forgetting
    /// those expired before `now_ms`.
    fn insert(
        &self,
        sha256: &str,
        principal: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), String>;
    /// Takes the ticket with this hash, once: its principal (as JSON) and expiry.
    fn take(&self, sha256: &str) -> Result<Option<(String, i64)>, String>;
    /// Where, for messages (no password).
    fn location(&self) -> String;
}

/// Issued tickets, until redeemed or expired.
///
/// A client holding a key asks for a ticket and puts it in a URL where a key must never go
/// (a WebSocket handshake from a browser); the ticket works once.
///
/// ```
/// use std::time::Duration;
/// use jarvis_auth::{Principal, TicketStore};
///
/// let tickets = TicketStore::new(Duration::from_secs(30));
/// let ticket = tickets.issue(Principal::anonymous())?;
/// assert_eq!(tickets.redeem(&ticket).map(|p| p.key_id), Some("anonymous".to_owned()));
/// assert!(tickets.redeem(&ticket).is_none(), "a ticket is taken once");
/// # Ok::<(), jarvis_auth::AuthError>(())
/// ```
#[derive(Debug)]
pub struct TicketStore {
    ttl: Duration,
    tickets: DashMap<String, (Principal, Instant)>,
    backend: Option<Arc<dyn TicketBackend>>,
}

impl TicketStore {
    /// Tickets live for `ttl`, in this process's memory.
    pub fn new(ttl: Duration) -> TicketStore {
        TicketStore {
            ttl,
            tickets: DashMap::new(),
            backend: None,
        }
    }

    /// Tickets live for `ttl`, in `backend`, shared by every instance using it. Issuing and
    /// redeeming then block: call them off the async executor.
    pub fn with_backend(ttl: Duration, backend: Arc<dyn TicketBackend>) -> TicketStore {
        TicketStore {
            ttl,
            tickets: DashMap::new(),
            backend: Some(backend),
        }
    }

    /// Whether tickets are kept in a shared backend (and issuing or redeeming blocks).
    pub fn is_shared(&self) -> bool {
        self.backend.is_some()
    }

    /// How long a ticket lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new ticket for `principal`.
    pub fn issue(&self, principal: Principal) -> Result<String, AuthError> {
        let now = Instant::now();
        self.tickets.retain(|_, (_, expires)| *expires > now);
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|e| AuthError::Random(e.to_string()))?;
        let ticket: String = random.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(backend) = &self.backend {
            let now_ms = unix_ms();
            let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
            let who = serde_json::json!({
                "key_id": principal.key_id,
                "name": principal.name,
                "scopes": principal.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            });
            backend
                .insert(
                    &digest(&ticket),
                    &who.to_string(),
                    now_ms.saturating_add(ttl_ms),
                    now_ms,
                )
                .map_err(|reason| AuthError::Backend {
                    location: backend.location(),
                    reason,
                })?;
            return Ok(ticket);
        }
        self.tickets
            .insert(ticket.clone(), (principal, now + self.ttl));
        Ok(ticket)
    }

    /// The principal behind `ticket`, once: the ticket is consumed whether or not it expired.
    /// A shared backend that fails refuses the ticket (and says why in the log).
    pub fn redeem(&self, ticket: &str) -> Option<Principal> {
        if let Some(backend) = &self.backend {
            let (who, expires_at) = match backend.take(&digest(ticket)) {
                Ok(found) => found?,
                Err(reason) => {
                    tracing::error!(location = %backend.location(), %reason, "cannot redeem a WebSocket ticket; refused");
                    return None;
                }
            };
            if expires_at <= unix_ms() {
                return None;
            }
            return principal_of(&who);
        }
        let (_, (principal, expires)) = self.tickets.remove(ticket)?;
        (expires > Instant::now()).then_some(principal)
    }

    /// Tickets outstanding.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether none are outstanding.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }
}

fn digest(ticket: &str) -> String {
    Sha256::digest(ticket.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A principal as [`TicketStore::issue`] writes it; `None` (logged) when it does not read back.
fn principal_of(json: &str) -> Option<Principal> {
    let parsed = (|| {
        let value: serde_json::Value = serde_json::from_str(json).ok()?;
        let scopes = value
            .get("scopes")?
            .as_array()?
            .iter()
            .map(|s| s.as_str()?.parse::<Scope>().ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Principal {
            key_id: value.get("key_id")?.as_str()?.to_owned(),
            name: value.get("name")?.as_str()?.to_owned(),
            scopes,
        })
    })();
    if parsed.is_none() {
        tracing::error!("a stored WebSocket ticket does not read back; refused");
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_single_use_and_expire() {
        let store = TicketStore::new(Duration::from_millis(50));
        let t = store.issue(Principal::anonymous()).unwrap();
        assert_eq!(t.len(), 48);
        assert_eq!(store.redeem(&t).unwrap().key_id, "anonymous");
        assert!(store.redeem(&t).is_none(), "single use");
        let late = store.issue(Principal::anonymous()).unwrap();
        std::thread::sleep(Duration::from_millis(80));
        assert!(store.redeem(&late).is_none(), "expired");
        assert!(store.redeem("made-up").is_none());
        assert!(store.is_empty());
    }
}
