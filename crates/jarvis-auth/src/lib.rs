//! Who may call Jarvis, and how often.
//!
//! - [`KeyStore`]: API keys with scopes. A key is shown once when created; only its SHA-256 is
//!   stored (keys are 160 random bits, so a fast hash is enough — there is nothing to brute-force
//!   that a slow hash would protect), in a JSON file readable by the owner only, written
//!   atomically. Presented keys are compared in constant time. A refresher thread picks up
//!   changes made by another process (`jarvis keys revoke`) within a second.
//! - [`JwtVerifier`]: JWT bearer tokens (HS256, RS256, ES256) for deployments that issue them;
//!   expiry always enforced, scopes from a claim.
//! - [`RateLimiter`]: token buckets per client and class (reads, executions).
//! - [`TicketStore`]: short-lived, single-use tickets, so long-lived keys never travel in URLs.
//!
//! Architecture invariant: knows nothing of HTTP; secrets never appear in `Debug`, logs or errors.
//!
//! Nothing here needs an async runtime: every call is quick and synchronous, and the key
//! store's refresher is a thread of its own.
//!
//! # Example
//!
//! Create a key, check the one a client presents, and keep it within its budget:
//!
//! ```
//! use jarvis_auth::{Class, KeyStore, RateLimitConfig, RateLimiter, Scope};
//!
//! let dir = tempfile::tempdir()?;
//! let keys = KeyStore::open(dir.path().join("keys.json"))?; // created, owner-only, on first write
//!
//! let new = keys.create("ci", &[Scope::Read])?;
//! println!("your key (shown once): {}", new.secret);
//! assert!(!format!("{new:?}").contains(&new.secret)); // never in Debug output
//!
//! let caller = keys.verify(&new.secret).expect("a key just created is valid");
//! assert_eq!(caller.name, "ci");
//! assert!(caller.allows(Scope::Read) && !caller.allows(Scope::Execute));
//! assert!(keys.verify("jv_not_a_key").is_none());
//!
//! let limiter = RateLimiter::new(RateLimitConfig { execute_burst: 2, ..RateLimitConfig::default() });
//! assert!(limiter.check_key(&caller.key_id, Class::Execute).allowed);
//! assert!(limiter.check_key(&caller.key_id, Class::Execute).allowed);
//! let third = limiter.check_key(&caller.key_id, Class::Execute);
//! assert!(!third.allowed && third.retry_after_secs > 0);
//!
//! keys.revoke(&new.info.id)?;
//! assert!(keys.verify(&new.secret).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod jwt;
mod keys;
mod limiter;
mod tickets;

pub use jwt::{JwtConfig, JwtVerifier};
pub use keys::{
    AuthError, KEY_NAME_PATTERN, KeyBackend, KeyInfo, KeyStore, NewKey, Principal, RefresherGuard,
    Scope, StoredKey,
};
pub use limiter::{Class, Decision, RateLimitConfig, RateLimiter};
pub use tickets::{TicketBackend, TicketStore};
