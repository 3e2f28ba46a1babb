//! The sampler on its own thread, feeding the history and the latest sample.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use jarvis_core::{Code, ErrorCode};
use jarvis_store::{MetricBucket, Store};

use crate::history::{Bucket, History, HistoryError, Series, Tier};
use crate::range::TimeRange;
use crate::sampler::{METRICS, MetricInfo, ProcessInfo, Sample, Sampler};

/// Command lines longer than this are cut: some carry whole prompts or JSON.
const MAX_COMMAND_CHARS: usize = 512;

/// How often to sample and what history to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Whether to sample at all; off, the metric and process routes answer
    /// `TELEMETRY_UNAVAILABLE`.
    pub enabled: bool,
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// Milliseconds between samples while someone watches live (a WebSocket `metrics`
    /// subscriber holds a [`LiveGuard`]); never slower than `interval_ms`.
    pub live_interval_ms: u64,
    /// The history's tiers, finest first.
    pub tiers: Vec<Tier>,
    /// The most points a history query without a step answers.
    pub max_points: usize,
    /// Seconds between writes of the history to the store (a restart loses at most this much;
    /// a clean stop loses nothing).
    pub flush_secs: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            enabled: true,
            interval_ms: 2000,
            live_interval_ms: 2000,
            tiers: Tier::DEFAULTS.to_vec(),
            max_points: 2000,
            flush_secs: 60,
        }
    }
}

/// A gauge another layer supplies (open connections, running tasks), read on the sampler's
/// thread with every sample and kept in the history like the machine's metrics.
struct Probe {
    info: MetricInfo,
    read: Box<dyn Fn() -> f64 + Send + Sync>,
}

type SampleListener = Box<dyn Fn(&Arc<Sample>) + Send + Sync>;

struct Shared {
    /// Called with every sample, on the sampler's thread.
    listeners: RwLock<Vec<SampleListener>>,
    /// How many [`LiveGuard`]s exist.
    live: AtomicUsize,
    probes: RwLock<Vec<Probe>>,
    history: Mutex<History>,
    latest: RwLock<Option<Arc<Sample>>>,
    processes: RwLock<Arc<Vec<ProcessInfo>>>,
    samples: AtomicU64,
    /// The label this instance's buckets are stored under.
    instance: String,
}

/// What the sampler thread is told.
enum Signal {
    /// Someone started watching live: sample now and at the live interval.
    Wake,
}

/// Keeps the sampler at the live interval while it exists. From [`Monitor::live`].
pub struct LiveGuard {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LiveGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveGuard").finish_non_exhaustive()
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running sampler. [`Monitor::stop`], or dropping it, stops the thread.
pub struct Monitor {
    shared: Arc<Shared>,
    config: TelemetryConfig,
    stop: Mutex<Option<mpsc::Sender<Signal>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Where the history is kept, with the other instances' when the store is shared.
    store: Option<Arc<dyn Store>>,
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
    /// Starts sampling on a thread of its own (`jarvis-telemetry`). With a store, the history
    /// is first restored from it (a blocking read), written back every `flush_secs` and once
    /// more on stop.
    pub fn start(
        config: &TelemetryConfig,
        store: Option<Arc<dyn Store>>,
    ) -> Result<Monitor, TelemetryError> {
        Monitor::start_as(config, store, String::new())
    }

    /// [`Monitor::start`] for one of several instances sharing `store`: its buckets are stored
    /// under `instance` (its name), beside the others', and only its own are restored.
    pub fn start_as(
        config: &TelemetryConfig,
        store: Option<Arc<dyn Store>>,
        instance: String,
    ) -> Result<Monitor, TelemetryError> {
        let mut history = History::new(&config.tiers, config.max_points)?;
        for metric in METRICS {
            history.declare(metric.name);
        }
        if let Some(store) = &store {
            restore(&mut history, store.as_ref(), &instance)?;
        }
        let shared = Arc::new(Shared {
            listeners: RwLock::new(Vec::new()),
            live: AtomicUsize::new(0),
            probes: RwLock::new(Vec::new()),
            history: Mutex::new(history),
            latest: RwLock::new(None),
            processes: RwLock::new(Arc::new(Vec::new())),
            samples: AtomicU64::new(0),
            instance,
        });
        let (stop, stopped) = mpsc::channel::<Signal>();
        let interval = Duration::from_millis(config.interval_ms.max(100));
        let live_interval = Duration::from_millis(config.live_interval_ms.max(100)).min(interval);
        let flush_every = i64::try_from(config.flush_secs.max(1)).unwrap_or(i64::MAX);
        let worker = Arc::clone(&shared);
        let kept = store.clone();
        let thread = std::thread::Builder::new()
            .name("jarvis-telemetry".into())
            .spawn(move || {
                let mut sampler = Sampler::new();
                let mut flushed_at = unix_now();
                // The first sample at once; then a timeout or a wake-up means sample again, a
                // dropped sender means stop.
                let mut wait = Duration::ZERO;
                while let Err(RecvTimeoutError::Timeout) | Ok(Signal::Wake) =
                    stopped.recv_timeout(wait)
                {
                    wait = if worker.live.load(Ordering::SeqCst) > 0 {
                        live_interval
                    } else {
                        interval
                    };
                    let now = unix_now();
                    let mut sample = sampler.sample(now);
                    sample.probes = worker
                        .probes
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .iter()
                        .map(|p| (p.info.name, (p.read)()))
                        .collect();
                    {
                        let mut history = worker
                            .history
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        let probed = sample.probes.iter().map(|(name, value)| (*name, *value));
                        for (metric, value) in sample.metrics().into_iter().chain(probed) {
                            if !history.record(metric, now, value, now) {
                                tracing::warn!(
                                    metric,
                                    value,
                                    "metric sample is not a finite number; skipped"
                                );
                            }
                        }
                    }
                    let processes = Arc::new(sampler.processes(MAX_COMMAND_CHARS));
                    *worker
                        .processes
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = processes;
                    let sample = Arc::new(sample);
                    *worker
                        .latest
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&sample));
                    worker.samples.fetch_add(1, Ordering::Relaxed);
                    for listener in worker
                        .listeners
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .iter()
                    {
                        listener(&sample);
                    }
                    if let Some(store) = &store
                        && now - flushed_at >= flush_every
                    {
                        flush(&worker, store.as_ref(), flushed_at, now);
                        flushed_at = now;
                    }
                }
                if let Some(store) = &store {
                    flush(&worker, store.as_ref(), flushed_at, unix_now());
                }
                tracing::debug!("telemetry sampler stopped");
            })
            .map_err(TelemetryError::Thread)?;
        Ok(Monitor {
            shared,
            config: config.clone(),
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
            store: kept,
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &TelemetryConfig {
        &self.config
    }

    /// Stops sampling and writes the history to the store one last time; waits at most for the
    /// sample in progress. Later calls do nothing. Also done on drop.
    pub fn stop(&self) {
        drop(
            self.stop
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the telemetry sampler thread panicked");
        }
    }

    /// The latest sample, once one has been taken.
    pub fn latest(&self) -> Option<Arc<Sample>> {
        self.shared
            .latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The process table as of the latest sample (empty before the first).
    pub fn processes(&self) -> Arc<Vec<ProcessInfo>> {
        Arc::clone(
            &self
                .shared
                .processes
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Adds a gauge read with every sample and kept in the history under `info.name`. A name
    /// already taken (by the machine's metrics or another probe) is refused with `false`.
    pub fn add_probe(
        &self,
        info: MetricInfo,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> bool {
        let mut probes = self
            .shared
            .probes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if METRICS
            .iter()
            .chain(probes.iter().map(|p| &p.info))
            .any(|m| m.name == info.name)
        {
            return false;
        }
        self.shared
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .declare(info.name);
        probes.push(Probe {
            info,
            read: Box::new(read),
        });
        true
    }

    /// Every metric the history keeps: the machine's, then the probes'.
    pub fn metrics(&self) -> Vec<MetricInfo> {
        let probes = self
            .shared
            .probes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        METRICS
            .iter()
            .copied()
            .chain(probes.iter().map(|p| p.info))
            .collect()
    }

    /// Calls `f` with every sample, on the sampler's thread, right after it is taken (keep it
    /// short and non-blocking: the next sample waits).
    pub fn on_sample(&self, f: impl Fn(&Arc<Sample>) + Send + Sync + 'static) {
        self.shared
            .listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(f));
    }

    /// Samples at the live interval until the guard drops (and at once, when it is the first
    /// guard). Cheap; any number may exist.
    pub fn live(&self) -> LiveGuard {
        if self.shared.live.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(stop) = self
                .stop
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
        {
            // The thread may have stopped; then there is nothing to wake.
            let _ = stop.send(Signal::Wake);
        }
        LiveGuard {
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many live guards exist: whether someone watches live.
    pub fn live_watchers(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
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

    /// The metric `name`'s description, or [`HistoryError::UnknownMetric`] naming those there are.
    pub fn metric(&self, name: &str) -> Result<MetricInfo, HistoryError> {
        let known = self.metrics();
        known
            .iter()
            .find(|m| m.name == name)
            .copied()
            .ok_or_else(|| HistoryError::UnknownMetric {
                name: name.to_owned(),
                known: known.iter().map(|m| m.name.to_owned()).collect(),
            })
    }

    /// A metric's history over `range` at `step` (see [`History::query`]). A range that holds
    /// no second answers no points, at the resolution the range's start would be read from.
    pub fn history(
        &self,
        metric: &str,
        range: TimeRange,
        step: Option<u64>,
    ) -> Result<Series, HistoryError> {
        self.with_history(|h| query_range(h, metric, range, step, unix_now()))
    }

    /// The name this instance's history is stored under (empty on a store of its own).
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    /// The instances whose history the store holds, this one's included. Blocking.
    pub fn instances(&self) -> Result<Vec<String>, TelemetryError> {
        // A store of this instance's own holds no other's: nothing to read.
        let mut names = match &self.store {
            Some(store) if store.shared() => store.metric_instances()?,
            _ => Vec::new(),
        };
        if !names.iter().any(|n| n == self.instance()) {
            names.push(self.instance().to_owned());
            names.sort_unstable();
        }
        Ok(names)
    }

    /// [`Monitor::history`] of `instance`: this one's from memory, another's (an instance
    /// sharing the store) from what it last stored, read through the same tiers. Blocking.
    pub fn history_of(
        &self,
        instance: &str,
        metric: &str,
        range: TimeRange,
        step: Option<u64>,
    ) -> Result<Series, TelemetryError> {
        if instance == self.instance() {
            return Ok(self.history(metric, range, step)?);
        }
        let known = self.instances()?;
        let Some(store) = self
            .store
            .as_ref()
            .filter(|_| known.iter().any(|n| n == instance))
        else {
            return Err(HistoryError::UnknownInstance {
                name: instance.to_owned(),
                known,
            }
            .into());
        };
        let mut history = History::new(&self.config.tiers, self.config.max_points)?;
        history.declare(metric);
        let now = unix_now();
        restore_buckets(
            &mut history,
            &store.load_metric_buckets_of(instance, metric)?,
            now,
        );
        Ok(query_range(&history, metric, range, step, now)?)
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

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The tiers are not usable.
    #[error("invalid telemetry tiers: {0}")]
    Tiers(#[from] HistoryError),
    /// The stored history could not be read.
    #[error("cannot read the stored metric history: {0}")]
    Store(#[from] jarvis_store::Error),
    /// The sampler thread could not start.
    #[error("cannot start the telemetry thread: {0}")]
    Thread(std::io::Error),
}

impl ErrorCode for TelemetryError {
    fn error_code(&self) -> Code {
        match self {
            TelemetryError::Tiers(e) => e.error_code(),
            TelemetryError::Store(_) => Code::StoreUnavailable,
            TelemetryError::Thread(_) => Code::InternalError,
        }
    }

    fn error_details(&self) -> Option<serde_json::Value> {
        match self {
            TelemetryError::Tiers(e) => e.error_details(),
            TelemetryError::Store(_) | TelemetryError::Thread(_) => None,
        }
    }
}

/// Loads the stored buckets of `instance` into `history`; buckets it refuses (unknown step, misaligned, not
/// finite, out of reach) are counted and logged.
fn restore(history: &mut History, store: &dyn Store, instance: &str) -> Result<(), TelemetryError> {
    let mut stored = store.load_metric_buckets()?;
    stored.retain(|b| b.instance == instance);
    let (kept, refused) = restore_buckets(history, &stored, unix_now());
    if refused > 0 {
        tracing::warn!(
            kept,
            refused,
            "some stored metric buckets do not fit the configured tiers; left out"
        );
    }
    tracing::info!(buckets = kept, "metric history restored");
    Ok(())
}

/// Puts stored buckets into `history`; answers how many it kept and how many it refused
/// (unknown step, misaligned, not finite, out of reach).
fn restore_buckets(history: &mut History, stored: &[MetricBucket], now: i64) -> (usize, usize) {
    let (mut kept, mut refused) = (0usize, 0usize);
    for b in stored {
        let (Ok(step), Ok(count)) = (u64::try_from(b.step_secs), u64::try_from(b.count)) else {
            refused += 1;
            continue;
        };
        let bucket = Bucket {
            start: b.start,
            min: b.min,
            max: b.max,
            sum: b.sum,
            count,
        };
        if history.restore(&b.metric, step, bucket, now) {
            kept += 1;
        } else {
            refused += 1;
        }
    }
    (kept, refused)
}

/// `history`'s answer for `range`: a range that holds no second answers no points, at the
/// resolution its start would be read from.
fn query_range(
    history: &History,
    metric: &str,
    range: TimeRange,
    step: Option<u64>,
    now: i64,
) -> Result<Series, HistoryError> {
    let mut series = history.query(metric, range.from, range.to.max(range.from + 1), step, now)?;
    if range.is_empty() {
        series.points.clear();
    }
    Ok(series)
}

/// Writes every bucket touched since `since` and prunes what fell out of each tier's reach.
/// A failure is logged and retried at the next flush (the buckets are still in memory).
fn flush(shared: &Shared, store: &dyn Store, since: i64, now: i64) {
    let rows: Vec<MetricBucket> = {
        let history = shared
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut rows = Vec::new();
        for metric in history.metric_names() {
            for tier in history.tiers() {
                let step = i64::try_from(tier.step_secs).unwrap_or(i64::MAX);
                let from = since - since.rem_euclid(step);
                for b in history.buckets_since(&metric, tier.step_secs, from) {
                    rows.push(MetricBucket {
                        instance: shared.instance.clone(),
                        metric: metric.clone(),
                        step_secs: step,
                        start: b.start,
                        min: b.min,
                        max: b.max,
                        sum: b.sum,
                        count: i64::try_from(b.count).unwrap_or(i64::MAX),
                    });
                }
            }
        }
        rows
    };
    if let Err(e) = store.save_metric_buckets(&rows) {
        tracing::error!(error = %e, buckets = rows.len(), "cannot save the metric history; retrying at the next flush");
        return;
    }
    let tiers = shared
        .history
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .tiers()
        .to_vec();
    for tier in tiers {
        let step = i64::try_from(tier.step_secs).unwrap_or(i64::MAX);
        let reach = i64::try_from(tier.retention_secs).unwrap_or(i64::MAX);
        if let Err(e) = store.prune_metric_buckets(step, now.saturating_sub(reach)) {
            tracing::warn!(error = %e, step, "cannot prune old metric buckets");
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
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
        let monitor = Monitor::start(&config, None).unwrap();
        let probe = MetricInfo {
            name: "jarvis_widgets",
            unit: "count",
            description: "widgets",
        };
        assert!(monitor.add_probe(probe, || 7.0));
        assert!(!monitor.add_probe(probe, || 8.0), "a name is taken once");
        assert!(
            !monitor.add_probe(
                MetricInfo {
                    name: "cpu_usage",
                    ..probe
                },
                || 0.0
            ),
            "machine metrics cannot be shadowed"
        );
        assert_eq!(monitor.metrics().len(), METRICS.len() + 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while monitor.samples() < 3 {
            assert!(std::time::Instant::now() < deadline, "no samples");
            std::thread::sleep(Duration::from_millis(20));
        }
        let latest = monitor.latest().unwrap();
        assert!(latest.memory_total_bytes > 0);
        assert!(
            monitor
                .processes()
                .iter()
                .any(|p| p.pid == std::process::id())
        );
        let now = unix_now();
        let series = monitor.query("cpu_usage", now - 60, now + 2, None).unwrap();
        assert_eq!(series.tier.step_secs, 2);
        let counted: u64 = series.points.iter().map(|b| b.count).sum();
        assert!(counted >= 3, "{series:?}");
        let widgets = monitor
            .query("jarvis_widgets", now - 60, now + 2, None)
            .unwrap();
        assert!(widgets.points.iter().all(|b| b.min == 7.0 && b.max == 7.0));
        assert!(!widgets.points.is_empty());
        assert_eq!(latest.probes.get("jarvis_widgets"), Some(&7.0));
        let names = monitor.with_history(History::metric_names);
        assert!(names.contains(&"memory_usage".to_owned()), "{names:?}");
        let started = std::time::Instant::now();
        drop(monitor);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "drop waits at most one sample"
        );
    }

    #[test]
    fn a_live_watcher_speeds_sampling_up_until_it_leaves() {
        let config = TelemetryConfig {
            interval_ms: 60_000,
            live_interval_ms: 100,
            ..TelemetryConfig::default()
        };
        let monitor = Monitor::start(&config, None).unwrap();
        let heard = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&heard);
        monitor.on_sample(move |sample| {
            assert!(sample.memory_total_bytes > 0);
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while monitor.samples() < 1 {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
        // At one sample a minute, more samples can only come from the live interval.
        let guard = monitor.live();
        let second = monitor.live();
        assert_eq!(monitor.live_watchers(), 2);
        while monitor.samples() < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "live sampling did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            heard.load(Ordering::SeqCst) >= 3,
            "listeners hear the live samples"
        );
        drop(guard);
        drop(second);
        assert_eq!(monitor.live_watchers(), 0);
        // The sample in progress finishes; after it the thread waits a minute again.
        std::thread::sleep(Duration::from_millis(250));
        let settled = monitor.samples();
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            monitor.samples(),
            settled,
            "still sampling fast with no watcher"
        );
    }

    #[test]
    fn history_survives_a_restart_on_the_same_store() {
        let dir = tempfile::tempdir().unwrap();
        let open = || -> Arc<dyn Store> {
            Arc::new(jarvis_store::SqliteStore::open(dir.path().join("jarvis.db")).unwrap())
        };
        let config = TelemetryConfig {
            interval_ms: 100,
            ..TelemetryConfig::default()
        };
        let monitor = Monitor::start(&config, Some(open())).unwrap();
        while monitor.samples() < 3 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let now = unix_now();
        let before = monitor.query("cpu_usage", now - 60, now + 2, None).unwrap();
        monitor.stop(); // a clean stop flushes
        monitor.stop();
        let stopped_at = monitor.samples();
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(monitor.samples(), stopped_at, "no sampling after stop");
        drop(monitor);
        let stored = open().load_metric_buckets().unwrap();
        assert!(
            stored
                .iter()
                .any(|b| b.metric == "cpu_usage" && b.step_secs == 900)
        );

        let restarted = Monitor::start(&config, Some(open())).unwrap();
        let after = restarted
            .query("cpu_usage", now - 60, now + 2, None)
            .unwrap();
        let count = |s: &Series| s.points.iter().map(|b| b.count).sum::<u64>();
        assert!(count(&after) >= count(&before), "{before:?} then {after:?}");
        assert!(count(&before) >= 3);
    }
}
