//! A bounded in-memory cache of rendered responses, invalidated by catalog generation.
//!
//! The HTTP layer renders a GET response once per catalog generation and serves the bytes from
//! here until the catalog changes: an edited file is never served stale, because every entry
//! records the generation it was rendered from and a lookup with a newer generation is a miss.
//! The cache is bounded by entry count and by bytes, and a TTL guards against anything the
//! generation does not capture.
//!
//! Eviction is segmented, so that a long tail of answers asked once (every distinct search)
//! never pushes out the pages everyone asks for: an entry starts on probation and is protected
//! from its first hit. Room is made by dropping probation entries oldest first; only when none
//! is left does eviction take the least recently used of a small sample of the rest, as Redis
//! does, so that it never scans the whole map.
//!
//! Architecture invariant: knows nothing of HTTP or of the catalog; keys, payloads and
//! generations are opaque to it.
//!
//! # Example
//!
//! Render an answer once per generation of whatever it is rendered from, and serve the stored
//! bytes (with their ETag) until that changes:
//!
//! ```
//! use jarvis_cache::{CacheConfig, ResponseCache};
//!
//! let cache = ResponseCache::new(CacheConfig { max_entries: 1_000, ..CacheConfig::default() });
//!
//! let render = |path: &str, generation: u64| format!("{path} at {generation}").into_bytes();
//! let answer = |path: &str, generation: u64| match cache.get(path, generation) {
//!     Some(entry) => entry,
//!     None => cache.insert(path, generation, render(path, generation)),
//! };
//!
//! let first = answer("/agents", 1);
//! let again = answer("/agents", 1); // the same bytes, not rendered again
//! assert_eq!(first.etag, again.etag);
//! answer("/skills", 1);
//!
//! // The source changed: generation 1's entries are never served again…
//! let newer = answer("/agents", 2);
//! assert_eq!(&*newer.payload, b"/agents at 2");
//! // …and those not asked for since can be dropped at once.
//! cache.invalidate_before(2);
//!
//! let stats = cache.stats();
//! assert_eq!((stats.hits, stats.misses, stats.entries), (1, 3, 1));
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

/// Cache limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Whether responses are cached at all.
    pub enabled: bool,
    /// The most entries held.
    pub max_entries: usize,
    /// The most payload bytes held.
    pub max_bytes: usize,
    /// Entries older than this are not served, whatever their generation (seconds).
    pub ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
            ttl_secs: 300,
        }
    }
}

/// A cached payload and what it was rendered from.
#[derive(Debug)]
pub struct Entry {
    /// The catalog generation the payload was rendered from.
    pub generation: u64,
    /// The payload.
    pub payload: Arc<[u8]>,
    /// A strong validator of the payload.
    pub etag: Arc<str>,
    created: Instant,
    /// Milliseconds since the cache was created, at the last hit: the eviction order.
    last_used: AtomicU64,
    /// Whether it has been asked for again since it was stored.
    protected: AtomicBool,
}

/// Counters, as served at `/api/v2/cache/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Entries held now.
    pub entries: usize,
    /// Payload bytes held now.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that were not.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_rate: f64,
    /// Entries removed to stay within the limits.
    pub evictions: u64,
    /// Entries dropped because the catalog changed or the TTL ran out.
    pub invalidations: u64,
    /// The configured entry limit.
    pub max_entries: usize,
    /// The configured byte limit.
    pub max_bytes: usize,
}

/// The cache. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct ResponseCache {
    config: CacheConfig,
    map: DashMap<Box<str>, Arc<Entry>>,
    bytes: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
    epoch: Instant,
    /// Entries not yet asked for again, oldest first (some may since have been promoted,
    /// replaced or dropped: eviction skips those).
    probation: Mutex<VecDeque<(Box<str>, Weak<Entry>)>>,
}

/// How many entries eviction samples to find the least recently used.
const EVICTION_SAMPLE: usize = 16;

impl ResponseCache {
    /// An empty cache with these limits.
    pub fn new(config: CacheConfig) -> ResponseCache {
        ResponseCache {
            config,
            map: DashMap::new(),
            bytes: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            epoch: Instant::now(),
            probation: Mutex::new(VecDeque::new()),
        }
    }

    /// The entry for `key` rendered from `generation`, if held and fresh.
    pub fn get(&self, key: &str, generation: u64) -> Option<Arc<Entry>> {
        if !self.config.enabled {
            return None;
        }
        let found = self.map.get(key).map(|e| Arc::clone(e.value()));
        match found {
            Some(entry) if entry.generation == generation && !self.expired(&entry) => {
                entry.last_used.store(self.now_ms(), Ordering::Relaxed);
                entry.protected.store(true, Ordering::Relaxed);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry)
            }
            Some(stale) => {
                self.remove_if_same(key, &stale);
                self.invalidations.fetch_add(1, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores `payload` for `key`, evicting as needed. Returns the stored entry, or a detached
    /// one (served once, not kept) when caching is off or the payload alone exceeds the limit.
    pub fn insert(&self, key: &str, generation: u64, payload: Vec<u8>) -> Arc<Entry> {
        let etag: Arc<str> = etag(&payload).into();
        let entry = Arc::new(Entry {
            generation,
            payload: payload.into(),
            etag,
            created: Instant::now(),
            last_used: AtomicU64::new(self.now_ms()),
            protected: AtomicBool::new(false),
        });
        let size = entry.payload.len();
        if !self.config.enabled || size > self.config.max_bytes || self.config.max_entries == 0 {
            return entry;
        }
        if let Some(old) = self.map.insert(key.into(), Arc::clone(&entry)) {
            self.bytes.fetch_sub(old.payload.len(), Ordering::Relaxed);
            // A page asked for again after its generation moved on is still a page in demand.
            if old.protected.load(Ordering::Relaxed) {
                entry.protected.store(true, Ordering::Relaxed);
            }
        }
        if !entry.protected.load(Ordering::Relaxed) {
            let mut queue = self.probation_queue();
            queue.push_back((key.into(), Arc::downgrade(&entry)));
            // Entries promoted, replaced or invalidated since leave dead places behind: drop
            // them once they outnumber the cache, so the queue stays within twice its size.
            if queue.len() > 2 * self.config.max_entries.max(64) {
                queue.retain(|(_, weak)| {
                    weak.upgrade()
                        .is_some_and(|e| !e.protected.load(Ordering::Relaxed))
                });
            }
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.evict_to_limits();
        entry
    }

    /// Drops every entry rendered from a generation older than `generation`.
    pub fn invalidate_before(&self, generation: u64) {
        let mut dropped = 0u64;
        self.map.retain(|_, entry| {
            let keep = entry.generation >= generation;
            if !keep {
                self.bytes.fetch_sub(entry.payload.len(), Ordering::Relaxed);
                dropped += 1;
            }
            keep
        });
        self.invalidations.fetch_add(dropped, Ordering::Relaxed);
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        CacheStats {
            entries: self.map.len(),
            bytes: self.bytes.load(Ordering::Relaxed),
            hits,
            misses,
            hit_rate: if lookups == 0 {
                0.0
            } else {
                hits as f64 / lookups as f64
            },
            evictions: self.evictions.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            max_entries: self.config.max_entries,
            max_bytes: self.config.max_bytes,
        }
    }

    fn expired(&self, entry: &Entry) -> bool {
        entry.created.elapsed() > Duration::from_secs(self.config.ttl_secs)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn remove_if_same(&self, key: &str, entry: &Arc<Entry>) {
        if let Some((_, removed)) = self.map.remove_if(key, |_, e| Arc::ptr_eq(e, entry)) {
            self.bytes
                .fetch_sub(removed.payload.len(), Ordering::Relaxed);
        }
    }

    fn probation_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<(Box<str>, Weak<Entry>)>> {
        self.probation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The oldest entry still on probation, taken off the queue.
    fn oldest_on_probation(&self) -> Option<(Box<str>, Arc<Entry>)> {
        let mut queue = self.probation_queue();
        while let Some((key, weak)) = queue.pop_front() {
            if let Some(entry) = weak.upgrade()
                && !entry.protected.load(Ordering::Relaxed)
            {
                return Some((key, entry));
            }
        }
        None
    }

    fn evict_to_limits(&self) {
        while self.map.len() > self.config.max_entries
            || self.bytes.load(Ordering::Relaxed) > self.config.max_bytes
        {
            if let Some((key, entry)) = self.oldest_on_probation() {
                self.remove_if_same(&key, &entry);
                self.evictions.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // Nothing on probation: the least recently used of a few protected entries.
            let victim = self
                .map
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|e| e.value().last_used.load(Ordering::Relaxed))
                .map(|e| (e.key().clone(), Arc::clone(e.value())));
            let Some((key, entry)) = victim else { break };
            self.remove_if_same(&key, &entry);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A strong entity tag for `payload`: a quoted 64-bit hash and the length. The hash takes
/// eight bytes a step (the rotate-xor-multiply of FxHash): every uncached answer is hashed, and
/// a byte at a time cost as much as a tenth of a search.
pub fn etag(payload: &[u8]) -> String {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut step = |word: u64| hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    let mut words = payload.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        step(u64::from_le_bytes(bytes));
    }
    for &b in words.remainder() {
        step(u64::from(b));
    }
    format!("\"{hash:016x}-{:x}\"", payload.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_entries: usize, max_bytes: usize) -> ResponseCache {
        ResponseCache::new(CacheConfig {
            enabled: true,
            max_entries,
            max_bytes,
            ttl_secs: 60,
        })
    }

    #[test]
    fn hits_misses_and_generations() {
        let c = cache(10, 1024);
        assert!(c.get("/a", 1).is_none());
        let stored = c.insert("/a", 1, b"one".to_vec());
        let hit = c.get("/a", 1).unwrap();
        assert_eq!(&*hit.payload, b"one");
        assert_eq!(hit.etag, stored.etag);
        // A newer generation never sees the old payload.
        assert!(c.get("/a", 2).is_none());
        assert_eq!(c.stats().entries, 0);
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.invalidations), (1, 2, 1));
        assert!((s.hit_rate - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn limits_evict_least_recently_used() {
        let c = cache(2, 1024);
        c.insert("/a", 1, b"a".to_vec());
        std::thread::sleep(Duration::from_millis(3));
        c.insert("/b", 1, b"b".to_vec());
        std::thread::sleep(Duration::from_millis(3));
        assert!(c.get("/a", 1).is_some());
        c.insert("/c", 1, b"c".to_vec());
        assert_eq!(c.stats().entries, 2);
        assert_eq!(c.stats().evictions, 1);
        assert!(c.get("/b", 1).is_none(), "b was least recently used");
        assert!(c.get("/a", 1).is_some());

        let c = cache(100, 10);
        c.insert("/x", 1, vec![0; 6]);
        c.insert("/y", 1, vec![0; 6]);
        assert!(c.stats().bytes <= 10);
        let huge = c.insert("/z", 1, vec![0; 11]);
        assert_eq!(huge.payload.len(), 11, "served once");
        assert!(c.get("/z", 1).is_none(), "but not kept");
    }

    /// A long tail of answers asked once never pushes out the pages asked for again.
    #[test]
    fn one_off_answers_do_not_evict_pages_in_demand() {
        let c = cache(100, 1024 * 1024);
        let pages: Vec<String> = (0..20)
            .map(|i| format!("/api/v2/agents?page={i}"))
            .collect();
        for page in &pages {
            c.insert(page, 1, vec![b'p'; 500]);
            assert!(c.get(page, 1).is_some());
        }
        for i in 0..10_000 {
            c.insert(&format!("/api/v2/search?q=word{i}"), 1, vec![b's'; 300]);
            if i % 100 == 0 {
                for page in &pages {
                    assert!(
                        c.get(page, 1).is_some(),
                        "{page} evicted after {i} searches"
                    );
                }
            }
        }
        assert_eq!(c.stats().entries, 100);
        assert!(c.stats().evictions >= 9_900);
        // The probation queue stays within twice the cache, dead places included.
        assert!(c.probation_queue().len() <= 200);
        // Invalidated entries leave the queue as it is compacted, not kept alive by it.
        let c = cache(100, 1024 * 1024);
        for generation in 1..=50 {
            for i in 0..10 {
                c.insert(&format!("/p{i}"), generation, vec![0; 10]);
            }
            c.invalidate_before(generation + 1);
        }
        assert_eq!(c.stats().entries, 0);
        assert!(c.probation_queue().len() <= 200);
    }

    #[test]
    fn invalidation_drops_old_generations() {
        let c = cache(10, 1024);
        c.insert("/a", 1, b"a".to_vec());
        c.insert("/b", 2, b"b".to_vec());
        c.invalidate_before(2);
        assert_eq!(c.stats().entries, 1);
        assert_eq!(c.stats().bytes, 1);
        assert!(c.get("/b", 2).is_some());
    }

    #[test]
    fn ttl_expires_entries() {
        let c = ResponseCache::new(CacheConfig {
            ttl_secs: 0,
            ..CacheConfig::default()
        });
        c.insert("/a", 1, b"a".to_vec());
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get("/a", 1).is_none());
    }

    #[test]
    fn etags_differ_with_content() {
        assert_eq!(etag(b"abc"), etag(b"abc"));
        assert_ne!(etag(b"abc"), etag(b"abd"));
        assert!(etag(b"").starts_with('"') && etag(b"").ends_with('"'));
        // A change anywhere in a long payload, in a whole word or in the tail, changes the tag.
        let page: Vec<u8> = (0..8191u32).map(|i| (i % 251) as u8).collect();
        let tags: std::collections::HashSet<String> = (0..page.len())
            .step_by(97)
            .map(|at| {
                let mut changed = page.clone();
                changed[at] ^= 1;
                etag(&changed)
            })
            .chain([etag(&page)])
            .collect();
        assert_eq!(tags.len(), page.len().div_ceil(97) + 1);
    }
}
