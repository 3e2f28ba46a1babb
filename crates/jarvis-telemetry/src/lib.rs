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
