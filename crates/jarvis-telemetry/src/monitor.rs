//! The sampler on its own thread, feeding the history and the latest sample.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::history::{History, HistoryError, Series, Tier};
use crate::sampler::{Sample, Sampler};

/// How often to sample and what history to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// The history's tiers, finest first.
    pub tiers: Vec<Tier>,
    /// The most points a history query without a step answers.
    pub max_points: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            interval_ms: 2000,
            tiers: Tier::DEFAULTS.to_vec(),
            max_points: 2000,
        }
    }
}

struct Shared {
    history: Mutex<History>,
    latest: RwLock<Option<Arc<Sample>>>,
    samples: AtomicU64,
}

/// A running sampler. Dropping it stops the thread.
pub struct Monitor {
    shared: Arc<Shared>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("samples", &self.samples())
            .finish_non_exhaustive()
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Monitor {
    /// Starts sampling on a thread of its own (`jarvis-telemetry`), with `history` as the start
    /// (empty, or restored from storage).
    pub fn start(config: &TelemetryConfig, history: History) -> std::io::Result<Monitor> {
        let shared = Arc::new(Shared {
            history: Mutex::new(history),
            latest: RwLock::new(None),
            samples: AtomicU64::new(0),
        });
        let (stop, stopped) = mpsc::channel::<()>();
        let interval = Duration::from_millis(config.interval_ms.max(100));
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("jarvis-telemetry".into())
            .spawn(move || {
                let mut sampler = Sampler::new();
                // A message or a dropped sender both mean stop; a timeout means sample.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let now = unix_now();
                    let sample = sampler.sample(now);
                    {
                        let mut history = worker
                            .history
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        for (metric, value) in sample.metrics() {
                            if !history.record(metric, now, value, now) {
                                tracing::warn!(
                                    metric,
                                    value,
                                    "metric sample is not a finite number; skipped"
                                );
                            }
                        }
                    }
                    *worker
                        .latest
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(sample));
                    worker.samples.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!("telemetry sampler stopped");
            })?;
        Ok(Monitor {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The latest sample, once one has been taken.
    pub fn latest(&self) -> Option<Arc<Sample>> {
        self.shared
            .latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many samples have been taken.
    pub fn samples(&self) -> u64 {
        self.shared.samples.load(Ordering::Relaxed)
    }

    /// A history query (see [`History::query`]).
    pub fn query(
        &self,
        metric: &str,
        from: i64,
        to: i64,
        step: Option<u64>,
    ) -> Result<Series, HistoryError> {
        self.with_history(|h| h.query(metric, from, to, step, unix_now()))
    }

    /// Runs `f` with the history locked (keep it short: the sampler waits).
    pub fn with_history<T>(&self, f: impl FnOnce(&History) -> T) -> T {
        f(&self
            .shared
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the telemetry sampler thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monitor_samples_into_history_and_stops_on_drop() {
        let config = TelemetryConfig {
            interval_ms: 100,
            ..TelemetryConfig::default()
        };
        let history = History::new(&config.tiers, config.max_points).unwrap();
        let monitor = Monitor::start(&config, history).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while monitor.samples() < 3 {
            assert!(std::time::Instant::now() < deadline, "no samples");
            std::thread::sleep(Duration::from_millis(20));
        }
        let latest = monitor.latest().unwrap();
        assert!(latest.memory_total_bytes > 0);
        let now = unix_now();
        let series = monitor.query("cpu_usage", now - 60, now + 2, None).unwrap();
        assert_eq!(series.tier.step_secs, 2);
        let counted: u64 = series.points.iter().map(|b| b.count).sum();
        assert!(counted >= 3, "{series:?}");
        let names = monitor.with_history(History::metric_names);
        assert!(names.contains(&"memory_usage".to_owned()), "{names:?}");
        let started = std::time::Instant::now();
        drop(monitor);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "drop waits at most one sample"
        );
    }
}
