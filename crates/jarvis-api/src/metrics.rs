//! What the server counts about itself for `/metrics`: requests by route, method and status
//! with their latency, and open connections.
//!
//! The route label is the route table's pattern (`/api/v2/agents/{id}`), put on the request by
//! the per-route wrapper once routing has chosen it; requests that matched no route share the
//! label `unmatched`, and methods outside the standard set share `OTHER`, so no client can grow
//! the number of series.

use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::Method;
use dashmap::DashMap;
use jarvis_telemetry::prometheus::{Histogram, HistogramSnapshot, LATENCY_BOUNDS};
use rustc_hash::FxHasher;

/// The label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The route pattern a request matched, set by the route table's wrapper.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Arc<str>);

type Key = (Arc<str>, &'static str, u16);

/// The server's own counters. Shared by every worker.
#[derive(Debug)]
pub struct ServerMetrics {
    requests: DashMap<Key, Histogram, BuildHasherDefault<FxHasher>>,
    unmatched: Arc<str>,
    connections: Arc<AtomicUsize>,
    websockets: Arc<AtomicUsize>,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        ServerMetrics {
            requests: DashMap::default(),
            unmatched: Arc::from(UNMATCHED),
            connections: Arc::new(AtomicUsize::new(0)),
            websockets: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// One series of the request histogram.
#[derive(Debug, Clone)]
pub struct RequestSeries {
    /// The route pattern, or `unmatched`.
    pub route: Arc<str>,
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
    /// Counts a finished request.
    pub fn observe(
        &self,
        route: Option<&Arc<str>>,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or(&self.unmatched);
        let key: Key = (Arc::clone(route), method_label(method), status);
        if let Some(histogram) = self.requests.get(&key) {
            histogram.observe(elapsed);
            return;
        }
        self.requests
            .entry(key)
            .or_insert_with(|| Histogram::new(LATENCY_BOUNDS))
            .observe(elapsed);
    }

    /// Every request series, sorted by route, method and status.
    pub fn requests(&self) -> Vec<RequestSeries> {
        let mut series: Vec<RequestSeries> = self
            .requests
            .iter()
            .map(|entry| {
                let (route, method, status) = entry.key();
                RequestSeries {
                    route: Arc::clone(route),
                    method,
                    status: *status,
                    latency: entry.value().snapshot(),
                }
            })
            .collect();
        series.sort_by(|a, b| (&a.route, a.method, a.status).cmp(&(&b.route, b.method, b.status)));
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

    /// WebSocket connections open now.
    pub fn websocket_connections(&self) -> usize {
        self.websockets.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_grouped_and_odd_methods_share_a_label() {
        let m = ServerMetrics::default();
        let route: Arc<str> = Arc::from("/api/v2/agents/{id}");
        m.observe(Some(&route), &Method::GET, 200, Duration::from_millis(2));
        m.observe(Some(&route), &Method::GET, 200, Duration::from_millis(4));
        m.observe(Some(&route), &Method::GET, 404, Duration::from_millis(1));
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
        let got: Vec<(String, &str, u16, u64)> = m
            .requests()
            .into_iter()
            .map(|s| (s.route.to_string(), s.method, s.status, s.latency.count))
            .collect();
        assert_eq!(
            got,
            [
                ("/api/v2/agents/{id}".to_owned(), "GET", 200, 2),
                ("/api/v2/agents/{id}".to_owned(), "GET", 404, 1),
                (UNMATCHED.to_owned(), "OTHER", 404, 2),
            ]
        );
        let guard = m.connection_opened();
        let second = m.connection_opened();
        assert_eq!(m.open_connections(), 2);
        drop(guard);
        drop(second);
        assert_eq!(m.open_connections(), 0);
    }
}
