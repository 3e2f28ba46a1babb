//! Single-use connection tickets: a client trades its key for a ticket valid for a few seconds,
//! then presents the ticket in a URL (a WebSocket cannot send headers from a browser). The key
//! itself never appears in a URL, a log of URLs, or a browser's history.

use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::keys::{AuthError, Principal};

/// Issued tickets, until redeemed or expired.
#[derive(Debug)]
pub struct TicketStore {
    ttl: Duration,
    tickets: DashMap<String, (Principal, Instant)>,
}

impl TicketStore {
    /// Tickets live for `ttl`.
    pub fn new(ttl: Duration) -> TicketStore {
        TicketStore {
            ttl,
            tickets: DashMap::new(),
        }
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
        self.tickets
            .insert(ticket.clone(), (principal, now + self.ttl));
        Ok(ticket)
    }

    /// The principal behind `ticket`, once: the ticket is consumed whether or not it expired.
    pub fn redeem(&self, ticket: &str) -> Option<Principal> {
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
