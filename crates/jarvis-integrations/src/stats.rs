//! Per-service counters and latency percentiles, for `/api/v2/services`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// How many recent latencies percentiles are computed over.
const WINDOW: usize = 512;

/// Counters of one service.
#[derive(Debug, Default)]
pub struct ServiceStats {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    calls: u64,
    failures: u64,
    last_error: Option<String>,
    latencies_ms: VecDeque<f64>,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsView {
    /// Calls made (attempts, retries included).
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
    /// The last failure, in words safe to show.
    pub last_error: Option<String>,
    /// Latency percentiles over the last calls, in milliseconds.
    pub latency_ms: Percentiles,
}

/// p50, p95, p99.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl ServiceStats {
    /// Records one attempt.
    pub fn record(&self, latency: Duration, error: Option<&str>) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.calls += 1;
        if let Some(e) = error {
            inner.failures += 1;
            inner.last_error = Some(e.to_owned());
        }
        inner.latencies_ms.push_back(latency.as_secs_f64() * 1000.0);
        if inner.latencies_ms.len() > WINDOW {
            inner.latencies_ms.pop_front();
        }
    }

    /// The counters now.
    pub fn view(&self) -> StatsView {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sorted: Vec<f64> = inner.latencies_ms.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if sorted.is_empty() {
                0.0
            } else {
                sorted[((sorted.len() - 1) as f64 * p).round() as usize]
            }
        };
        StatsView {
            calls: inner.calls,
            failures: inner.failures,
            last_error: inner.last_error.clone(),
            latency_ms: Percentiles {
                p50: at(0.5),
                p95: at(0.95),
                p99: at(0.99),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let s = ServiceStats::default();
        for ms in 1..=100 {
            s.record(Duration::from_millis(ms), (ms == 100).then_some("boom"));
        }
        let v = s.view();
        assert_eq!((v.calls, v.failures), (100, 1));
        assert_eq!(v.last_error.as_deref(), Some("boom"));
        assert!((v.latency_ms.p50 - 51.0).abs() < 1.5, "{:?}", v.latency_ms);
        assert!((v.latency_ms.p99 - 99.0).abs() < 1.5, "{:?}", v.latency_ms);
    }
}
