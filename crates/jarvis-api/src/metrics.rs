//! What the server counts about itself for `/metrics`: requests by route, method and status
//! with their latency, and open connections.
//!
//! The route label is the route table's pattern (`/api/v2/agents/{id}`), put on the request by
//! the per-route wrapper once routing has chosen it; requests that matched no route share the
//! label `unmatched`, and methods outside the standard set share `OTHER`, so no client can grow
//! the number of series.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use actix_web::http::Method;
use jarvis_telemetry::prometheus::{Histogram, HistogramSnapshot, LATENCY_BOUNDS};
use rustc_hash::FxHasher;

/// The label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The route pattern a request matched, set by the route table's wrapper.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// The one `'static` copy of a route pattern: the table is built more than once (each server,
/// the OpenAPI document), its patterns are a fixed set, so each is leaked once.
pub fn intern(pattern: &str) -> &'static str {
    static PATTERNS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut patterns = PATTERNS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = patterns.get(pattern) {
        return known;
    }
    let leaked: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
    patterns.insert(leaked);
    leaked
}

type Key = (&'static str, &'static str, u16);
type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// One worker thread's series. Only that thread writes; `/metrics` reads each shard briefly,
/// so the lock is uncontended and no cache line is shared between workers per request.
#[derive(Debug, Default)]
struct Shard {
    series: Mutex<FxMap<Key, Histogram>>,
}

thread_local! {
    /// This thread's shard of each `ServerMetrics` (tests run several servers in one process).
    static SHARDS: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

/// The server's own counters. Shared by every worker.
#[derive(Debug)]
pub struct ServerMetrics {
    id: u64,
    shards: Mutex<Vec<Arc<Shard>>>,
    connections: Arc<AtomicUsize>,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ServerMetrics {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            shards: Mutex::new(Vec::new()),
            connections: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// One series of the request histogram.
#[derive(Debug, Clone)]
pub struct RequestSeries {
    /// The route pattern, or `unmatched`.
    pub route: &'static str,
    /// The method.
    pub method: &'static str,
    /// The response status.
    pub status: u16,
    /// Latencies.
    pub latency: HistogramSnapshot,
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Counts one open connection while it lives (held in the connection's extensions, dropped
/// when the connection closes).
#[derive(Debug)]
pub struct ConnectionGuard(Arc<AtomicUsize>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ServerMetrics {
    /// This thread's shard, registered on first use.
    fn shard(&self) -> Arc<Shard> {
        SHARDS.with(|shards| {
            let mut shards = shards.borrow_mut();
            if let Some((_, shard)) = shards.iter().find(|(id, _)| *id == self.id) {
                return Arc::clone(shard);
            }
            let shard = Arc::new(Shard::default());
            self.shards
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::clone(&shard));
            shards.push((self.id, Arc::clone(&shard)));
            shard
        })
    }

    /// Counts a finished request.
    pub fn observe(
        &self,
        route: Option<&'static str>,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        let key: Key = (route.unwrap_or(UNMATCHED), method_label(method), status);
        SHARDS.with(|shards| {
            let shards = shards.borrow();
            let record = |shard: &Shard| {
                shard
                    .series
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(key)
                    .or_insert_with(|| Histogram::new(LATENCY_BOUNDS))
                    .observe(elapsed);
            };
            match shards.iter().find(|(id, _)| *id == self.id) {
                Some((_, shard)) => record(shard),
                None => {
                    drop(shards);
                    record(&self.shard());
                }
            }
        });
    }

    /// Every request series, summed over the workers, sorted by route, method and status.
    pub fn requests(&self) -> Vec<RequestSeries> {
        let shards: Vec<Arc<Shard>> = self
            .shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut total: FxMap<Key, Histogram> = FxMap::default();
        for shard in shards {
            let series = shard.series.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, histogram) in series.iter() {
                total
                    .entry(*key)
                    .or_insert_with(|| Histogram::new(LATENCY_BOUNDS))
                    .merge(histogram);
            }
        }
        let mut series: Vec<RequestSeries> = total
            .into_iter()
            .map(|((route, method, status), histogram)| RequestSeries {
                route,
                method,
                status,
                latency: histogram.snapshot(),
            })
            .collect();
        series.sort_by(|a, b| (a.route, a.method, a.status).cmp(&(b.route, b.method, b.status)));
        series
    }

    /// Counts a connection until the guard drops.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(Arc::clone(&self.connections))
    }

    /// HTTP connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// The counter behind [`ServerMetrics::open_connections`], for a telemetry probe.
    pub fn connections_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_grouped_and_odd_methods_share_a_label() {
        let m = ServerMetrics::default();
        let route = intern("/api/v2/agents/{id}");
        assert!(
            std::ptr::eq(route, intern("/api/v2/agents/{id}")),
            "interned once"
        );
        m.observe(Some(route), &Method::GET, 200, Duration::from_millis(2));
        m.observe(Some(route), &Method::GET, 404, Duration::from_millis(1));
        // Another worker thread: its own shard, summed when read.
        std::thread::scope(|s| {
            s.spawn(|| m.observe(Some(route), &Method::GET, 200, Duration::from_millis(4)));
        });
        m.observe(
            None,
            &Method::from_bytes(b"BREW").unwrap(),
            404,
            Duration::ZERO,
        );
        m.observe(
            None,
            &Method::from_bytes(b"TEAPOT").unwrap(),
            404,
            Duration::ZERO,
        );
        let all = m.requests();
        let got: Vec<(String, &str, u16, u64)> = all
            .iter()
            .map(|s| (s.route.to_owned(), s.method, s.status, s.latency.count))
            .collect();
        assert_eq!(
            got,
            [
                ("/api/v2/agents/{id}".to_owned(), "GET", 200, 2),
                ("/api/v2/agents/{id}".to_owned(), "GET", 404, 1),
                (UNMATCHED.to_owned(), "OTHER", 404, 2),
            ]
        );
        let ok = &all[0].latency;
        assert!((ok.sum - 0.006).abs() < 1e-9, "{ok:?}");
        // 2 ms and 4 ms: both above 1 ms, within 5 ms.
        assert_eq!(ok.counts[..3], [0, 0, 1]);
        assert_eq!(ok.counts[3], 1);
        let guard = m.connection_opened();
        let second = m.connection_opened();
        assert_eq!(m.open_connections(), 2);
        drop(guard);
        drop(second);
        assert_eq!(m.open_connections(), 0);
    }
}
