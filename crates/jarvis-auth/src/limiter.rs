//! Rate limits: a token bucket per client and class of request.
//!
//! Reads and executions have separate budgets, so a burst of listing cannot starve a workflow
//! trigger and a runaway script cannot launch agents at read speed. Clients are keys when
//! authenticated, IP addresses otherwise. Idle full buckets are pruned so the map stays small.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use jarvis_core::SharedClock;
use serde::{Deserialize, Serialize};

/// Budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether limits apply.
    pub enabled: bool,
    /// Sustained reads per minute per client.
    pub read_per_minute: u32,
    /// How many reads may arrive at once.
    pub read_burst: u32,
    /// Sustained executions per minute per client.
    pub execute_per_minute: u32,
    /// How many executions may arrive at once.
    pub execute_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            read_per_minute: 6_000,
            read_burst: 600,
            execute_per_minute: 60,
            execute_burst: 10,
        }
    }
}

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Reads.
    Read,
    /// Executions and administration.
    Execute,
}

/// The answer for one request, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The burst size.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until one more request is allowed (0 when allowed).
    pub retry_after_secs: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    /// Authenticated clients, by key id.
    /// Per class (`Class::Read`, `Class::Execute`), by key id: a lookup by `&str` finds a
    /// known key without allocating.
    keys: [DashMap<String, Mutex<Bucket>>; 2],
    /// Everyone else, by address (keyed without allocating on the hot path).
    ips: DashMap<(Option<IpAddr>, Class), Mutex<Bucket>>,
    checks: AtomicU64,
    clock: SharedClock,
}

/// Every this many checks, idle full buckets are dropped.
const PRUNE_EVERY: u64 = 4096;

impl RateLimiter {
    /// A limiter with these budgets, on the system clock.
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter::with_clock(config, jarvis_core::system_clock())
    }

    /// A limiter with these budgets whose buckets refill by `clock`.
    pub fn with_clock(config: RateLimitConfig, clock: SharedClock) -> RateLimiter {
        RateLimiter {
            config,
            keys: [DashMap::new(), DashMap::new()],
            ips: DashMap::new(),
            checks: AtomicU64::new(0),
            clock,
        }
    }

    fn budget(&self, class: Class) -> (f64, f64) {
        let (per_minute, burst) = match class {
            Class::Read => (self.config.read_per_minute, self.config.read_burst),
            Class::Execute => (self.config.execute_per_minute, self.config.execute_burst),
        };
        (f64::from(per_minute.max(1)) / 60.0, f64::from(burst.max(1)))
    }

    /// Takes one token for the key `key_id` in `class`, if there is one.
    pub fn check_key(&self, key_id: &str, class: Class) -> Decision {
        if let Some(decision) = self.bypass(class) {
            return decision;
        }
        let keys = &self.keys[match class {
            Class::Read => 0,
            Class::Execute => 1,
        }];
        if let Some(entry) = keys.get(key_id) {
            return self.take(entry.value(), class);
        }
        let entry = keys
            .entry(key_id.to_owned())
            .or_insert_with(|| self.full(class));
        self.take(entry.value(), class)
    }

    /// Takes one token for the client address `ip` in `class`, if there is one.
    pub fn check_ip(&self, ip: Option<IpAddr>, class: Class) -> Decision {
        if let Some(decision) = self.bypass(class) {
            return decision;
        }
        let entry = self
            .ips
            .entry((ip, class))
            .or_insert_with(|| self.full(class));
        self.take(entry.value(), class)
    }

    /// `Some(allowed)` when limits are off; counts checks and prunes now and then.
    fn bypass(&self, class: Class) -> Option<Decision> {
        let (_, burst) = self.budget(class);
        if !self.config.enabled {
            return Some(Decision {
                allowed: true,
                limit: burst as u32,
                remaining: burst as u32,
                reset_secs: 0,
                retry_after_secs: 0,
            });
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        None
    }

    fn full(&self, class: Class) -> Mutex<Bucket> {
        let (_, burst) = self.budget(class);
        Mutex::new(Bucket {
            tokens: burst,
            updated: self.clock.now(),
        })
    }

    fn take(&self, bucket: &Mutex<Bucket>, class: Class) -> Decision {
        let (rate, burst) = self.budget(class);
        let now = self.clock.now();
        let mut bucket = bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let missing = burst - bucket.tokens;
        Decision {
            allowed,
            limit: burst as u32,
            remaining: bucket.tokens.floor() as u32,
            reset_secs: (missing / rate).ceil() as u64,
            retry_after_secs: if allowed {
                0
            } else {
                ((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64
            },
        }
    }

    /// Drops buckets that have been idle long enough to be full again.
    fn prune(&self) {
        let horizon = Duration::from_secs(600);
        let now = self.clock.now();
        let fresh = |bucket: &mut Mutex<Bucket>| {
            bucket
                .get_mut()
                .map(|b| now.saturating_duration_since(b.updated) < horizon)
                .unwrap_or(false)
        };
        for keys in &self.keys {
            keys.retain(|_, bucket| fresh(bucket));
        }
        self.ips.retain(|_, bucket| fresh(bucket));
    }
}

#[cfg(test)]
mod tests {
    use jarvis_core::ManualClock;

    use super::*;

    fn limiter(per_minute: u32, burst: u32, clock: &ManualClock) -> RateLimiter {
        RateLimiter::with_clock(
            RateLimitConfig {
                enabled: true,
                read_per_minute: per_minute,
                read_burst: burst,
                execute_per_minute: 60,
                execute_burst: 1,
            },
            std::sync::Arc::new(clock.clone()),
        )
    }

    #[test]
    fn trips_and_recovers() {
        let clock = ManualClock::new();
        let l = limiter(600, 3, &clock);
        for left in [2, 1, 0] {
            let d = l.check_key("a", Class::Read);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let d = l.check_key("a", Class::Read);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        // Another client and another class have their own buckets.
        assert!(l.check_key("b", Class::Read).allowed);
        assert!(l.check_key("a", Class::Execute).allowed);
        assert!(!l.check_key("a", Class::Execute).allowed);
        // 600 per minute refills one token every 100 ms.
        clock.advance(Duration::from_millis(99));
        assert!(!l.check_key("a", Class::Read).allowed);
        clock.advance(Duration::from_millis(2));
        assert!(l.check_key("a", Class::Read).allowed);
        assert!(!l.check_key("a", Class::Read).allowed);
        // A full minute refills the burst, and no more.
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check_key("a", Class::Read).allowed);
        }
        assert!(!l.check_key("a", Class::Read).allowed);
    }

    #[test]
    fn disabled_allows_everything() {
        let l = RateLimiter::new(RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        });
        assert!((0..10_000).all(|_| l.check_ip(None, Class::Execute).allowed));
    }
}
