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
