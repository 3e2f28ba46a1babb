//! System metrics for Jarvis: sampled off the async executor and kept as multi-resolution
//! history.
//!
//! The history keeps, per metric, several tiers of fixed-width buckets (by default 2 s for the
//! last hour, 1 min for two days and 15 min for 90 days). Each bucket holds min, max, sum and
//! count, so a coarse tier loses detail but never the extremes, and the memory a metric can take
//! is bounded by the tiers alone — about 13,000 buckets, ≈0.5 MB, however long Jarvis runs.
//!
//! Architecture invariant: knows nothing of HTTP or of an async runtime. sysinfo runs only on
//! the `Monitor`'s own thread, which also writes to the store; `Monitor::start` reads the store
//! once, so async callers run it on the blocking pool. The history takes the time as an
//! argument, which keeps its arithmetic testable.
//!
//! # Example: sample the machine and query its history
//!
//! A [`Monitor`] samples on a thread of its own (no async runtime needed) and keeps every
//! metric of [`METRICS`] in its history; with a store it also restores and saves it.
//!
//! ```
//! use std::time::Duration;
//! use jarvis_telemetry::{Monitor, TelemetryConfig, TimeRange, unix_now};
//!
//! let config = TelemetryConfig { interval_ms: 100, ..TelemetryConfig::default() };
//! let monitor = Monitor::start(&config, None)?; // None: history in memory only
//! while monitor.samples() < 2 {
//!     std::thread::sleep(Duration::from_millis(20));
//! }
//!
//! let now = monitor.latest().expect("sampled at least once");
//! assert!(now.memory_total_bytes > 0 && now.memory_used_bytes <= now.memory_total_bytes);
//!
//! // The last minute of CPU use, one point per 2-second bucket with min, max and mean.
//! let last_minute = TimeRange::resolve(Some(60), None, None, unix_now());
//! let cpu = monitor.history("cpu_usage", last_minute, None)?;
//! assert_eq!(cpu.step_secs, 2);
//! assert!(cpu.points.iter().all(|p| p.min <= p.mean() && p.mean() <= p.max));
//!
//! assert!(monitor.history("no_such_metric", last_minute, None).is_err());
//! monitor.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: the history on its own
//!
//! [`History`] takes the time as an argument, so it records and answers any series:
//!
//! ```
//! use jarvis_telemetry::{History, Tier};
//!
//! let mut history = History::new(&Tier::DEFAULTS, 2_000)?;
//! let now = 1_764_000_000; // Unix seconds
//! for (i, value) in [10.0, 30.0, 20.0].into_iter().enumerate() {
//!     history.record("queue_depth", now - 3 + i as i64, value, now);
//! }
//! // One 1-minute point holding the three samples: extremes kept, mean exact.
//! let series = history.query("queue_depth", now - 3600, now + 1, Some(60), now)?;
//! let point = series.points.last().expect("one bucket");
//! assert_eq!((point.min, point.max, point.count), (10.0, 30.0, 3));
//! assert_eq!(point.mean(), 20.0);
//! # Ok::<(), jarvis_telemetry::HistoryError>(())
//! ```

pub mod history;
pub mod monitor;
pub mod prometheus;
pub mod range;
pub mod sampler;

pub use history::{Bucket, History, HistoryError, Series, Tier};
pub use monitor::{LiveGuard, Monitor, TelemetryConfig, TelemetryError, unix_now};
pub use range::{DURATION_PATTERN, LAST_SECOND, TimeRange, duration_secs};
pub use sampler::{
    DiskSpace, InterfaceRates, METRICS, MetricInfo, ProcessInfo, ProcessSort, Sample, Sampler,
    select_processes,
};
