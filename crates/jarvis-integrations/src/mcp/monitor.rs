//! Keeps every configured MCP server checked: periodically, with backoff for failing servers,
//! a bounded number at a time, and on demand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use jarvis_core::ResourceId;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio::task::JoinSet;

use super::{McpCheckConfig, McpHealth, McpStatus, McpTarget, now_ms, probe};
use crate::background::LoopHandle;

/// A check ended (or a server's state changed without one: added, removed, refused).
#[derive(Debug, Clone, Serialize)]
pub struct McpEvent {
    /// The server's catalog id.
    pub id: ResourceId,
    /// Its name.
    pub name: String,
    /// Its health now; `None` when it left the catalog.
    pub health: Option<McpHealth>,
}

#[derive(Debug)]
struct Entry {
    target: Arc<McpTarget>,
    health: McpHealth,
    /// When the next periodic check is due; `None` when it is never checked.
    due: Option<Instant>,
    running: bool,
    /// When the last check that finished had started.
    last_started: Option<Instant>,
    /// Bumped when the target changes, so a check of the old configuration is not kept.
    generation: u64,
    /// Held while a check of this server runs: checks of one server never overlap.
    lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct Inner {
    config: McpCheckConfig,
    entries: Mutex<HashMap<ResourceId, Entry>>,
    permits: Semaphore,
    events: broadcast::Sender<McpEvent>,
    wake: Notify,
    version: AtomicU64,
    generations: AtomicU64,
}

/// The monitor. Cheap to clone.
#[derive(Debug, Clone)]
pub struct McpMonitor {
    inner: Arc<Inner>,
}

impl Default for McpMonitor {
    /// A monitor with checks off.
    fn default() -> Self {
        McpMonitor::new(McpCheckConfig::default())
    }
}

impl McpMonitor {
    /// A monitor with no servers yet; [`McpMonitor::sync`] gives it the catalog's.
    pub fn new(config: McpCheckConfig) -> McpMonitor {
        let permits = Semaphore::new(config.concurrency.max(1));
        McpMonitor {
            inner: Arc::new(Inner {
                config,
                entries: Mutex::default(),
                permits,
                events: broadcast::channel(256).0,
                wake: Notify::new(),
                version: AtomicU64::new(0),
                generations: AtomicU64::new(0),
            }),
        }
    }

    /// Whether periodic and on-demand checks run.
    pub fn enabled(&self) -> bool {
        self.inner.config.enabled
    }

    /// The configuration.
    pub fn config(&self) -> &McpCheckConfig {
        &self.inner.config
    }

    /// Bumped on every change of any server's health: a key for caching what shows it.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    /// Every change, as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<McpEvent> {
        self.inner.events.subscribe()
    }

    /// Takes the catalog's servers: new ones are checked at once, changed ones again, removed
    /// ones forgotten (a check of one that is running is not kept).
    pub fn sync(&self, targets: Vec<McpTarget>) {
        let mut events = Vec::new();
        {
            let mut entries = self.entries();
            let mut seen = HashMap::with_capacity(targets.len());
            for target in targets {
                seen.insert(target.id.clone(), ());
                match entries.get_mut(&target.id) {
                    Some(entry) if *entry.target == target => {}
                    Some(entry) => {
                        tracing::info!(server = %target.name, "an MCP server's configuration changed; it is checked again");
                        entry.generation = self.inner.generations.fetch_add(1, Ordering::Relaxed);
                        entry.health = self.initial(&target);
                        entry.due = self.first_due(&target);
                        entry.target = Arc::new(target);
                        events.push(event(entry));
                    }
                    None => {
                        let entry = Entry {
                            health: self.initial(&target),
                            due: self.first_due(&target),
                            running: false,
                            last_started: None,
                            generation: self.inner.generations.fetch_add(1, Ordering::Relaxed),
                            lock: Arc::default(),
                            target: Arc::new(target),
                        };
                        events.push(event(&entry));
                        entries.insert(entry.target.id.clone(), entry);
                    }
                }
            }
            entries.retain(|id, entry| {
                let keep = seen.contains_key(id);
                if !keep {
                    tracing::info!(server = %entry.target.name, "an MCP server left the catalog; its checks stop");
                    events.push(McpEvent {
                        id: id.clone(),
                        name: entry.target.name.clone(),
                        health: None,
                    });
                }
                keep
            });
        }
        if !events.is_empty() {
            self.inner.version.fetch_add(1, Ordering::AcqRel);
            for e in events {
                let _ = self.inner.events.send(e);
            }
            self.inner.wake.notify_one();
        }
    }

    fn initial(&self, target: &McpTarget) -> McpHealth {
        if let Some(reason) = &target.refused {
            return McpHealth::idle(McpStatus::Disabled, reason.clone());
        }
        if !self.inner.config.enabled {
            return McpHealth::idle(
                McpStatus::Disabled,
                "MCP health checks are off; set mcp.health_checks = true to turn them on",
            );
        }
        let mut health = McpHealth::idle(McpStatus::Unchecked, "not checked yet");
        health.next_check_at = Some(now_ms());
        health
    }

    fn first_due(&self, target: &McpTarget) -> Option<Instant> {
        (self.inner.config.enabled && target.refused.is_none()).then(Instant::now)
    }

    /// The health of the server `id`, if it is in the catalog.
    pub fn health(&self, id: &ResourceId) -> Option<McpHealth> {
        self.entries().get(id).map(|e| e.health.clone())
    }

    /// Every server: id, name and health, by name.
    pub fn all(&self) -> Vec<(ResourceId, String, McpHealth)> {
        let mut all: Vec<_> = self
            .entries()
            .values()
            .map(|e| (e.target.id.clone(), e.target.name.clone(), e.health.clone()))
            .collect();
        all.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.as_str().cmp(b.0.as_str())));
        all
    }

    /// How many servers are in each status.
    pub fn counts(&self) -> HashMap<McpStatus, usize> {
        let mut counts = HashMap::new();
        for entry in self.entries().values() {
            *counts.entry(entry.health.status).or_default() += 1;
        }
        counts
    }

    /// Checks the server `id` now and returns its new health; `None` when it is not in the
    /// catalog. A check already running is waited for and its answer taken.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn check_now(&self, id: &ResourceId) -> Option<McpHealth> {
        let asked = Instant::now();
        let (lock, target, generation) = {
            let entries = self.entries();
            let entry = entries.get(id)?;
            (
                Arc::clone(&entry.lock),
                Arc::clone(&entry.target),
                entry.generation,
            )
        };
        let _held = lock.lock().await;
        if let Some(entry) = self.entries().get(id)
            && entry.generation == generation
            && entry.last_started.is_some_and(|at| at >= asked)
        {
            return Some(entry.health.clone());
        }
        let _permit = self.inner.permits.acquire().await.ok()?;
        let started = Instant::now();
        let health = probe(&target, &self.inner.config).await;
        Some(self.store(id, generation, started, health))
    }

    /// Records a finished check and schedules the next; returns the health as stored.
    fn store(
        &self,
        id: &ResourceId,
        generation: u64,
        started: Instant,
        mut health: McpHealth,
    ) -> McpHealth {
        let config = &self.inner.config;
        let (event, kept) = {
            let mut entries = self.entries();
            let Some(entry) = entries.get_mut(id) else {
                return health;
            };
            if entry.generation != generation {
                tracing::debug!(server = %entry.target.name, "a check of an older configuration was dropped");
                return health;
            }
            let failures = if health.is_up() || health.status == McpStatus::Disabled {
                0
            } else {
                entry.health.consecutive_failures.saturating_add(1)
            };
            let wait = if failures == 0 {
                config.interval
            } else {
                backoff(config.retry, config.max_backoff, failures)
            };
            health.consecutive_failures = failures;
            let periodic = config.enabled && entry.target.refused.is_none();
            entry.due = periodic.then(|| Instant::now() + wait);
            health.next_check_at =
                periodic.then(|| now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            if entry.health.status != health.status {
                let message = health
                    .error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .or(health.reason.as_deref())
                    .unwrap_or("");
                if health.is_up() {
                    tracing::info!(server = %entry.target.name, status = health.status.as_str(), "MCP server check: {message}");
                } else {
                    tracing::warn!(server = %entry.target.name, status = health.status.as_str(), failures, "MCP server check failed: {message}");
                }
            }
            entry.health = health.clone();
            entry.running = false;
            entry.last_started = Some(started);
            (event(entry), health)
        };
        self.inner.version.fetch_add(1, Ordering::AcqRel);
        let _ = self.inner.events.send(event);
        self.inner.wake.notify_one();
        kept
    }

    /// Runs periodic checks until the handle is dropped. Checks in flight end with the loop,
    /// and their processes with them.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub fn start(&self) -> LoopHandle {
        let monitor = self.clone();
        LoopHandle::new(tokio::spawn(async move { monitor.run().await }))
    }

    async fn run(self) {
        let mut running = JoinSet::new();
        loop {
            let now = Instant::now();
            let due: Vec<Due> = {
                let mut entries = self.entries();
                entries
                    .values_mut()
                    .filter(|e| !e.running && e.due.is_some_and(|d| d <= now))
                    .map(|e| {
                        e.running = true;
                        (
                            e.target.id.clone(),
                            Arc::clone(&e.target),
                            e.generation,
                            Arc::clone(&e.lock),
                        )
                    })
                    .collect()
            };
            for (id, target, generation, lock) in due {
                let monitor = self.clone();
                running.spawn(async move {
                    let _held = lock.lock().await;
                    let Ok(_permit) = monitor.inner.permits.acquire().await else {
                        return;
                    };
                    let started = Instant::now();
                    let health = probe(&target, &monitor.inner.config).await;
                    monitor.store(&id, generation, started, health);
                });
            }
            while running.try_join_next().is_some() {}
            let next = self.entries().values().filter_map(|e| e.due).min();
            let sleep = next.map_or(Duration::from_secs(60), |d| {
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10))
            });
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.inner.wake.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<ResourceId, Entry>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A check the loop starts: the server, its target, the generation checked, its lock.
type Due = (ResourceId, Arc<McpTarget>, u64, Arc<tokio::sync::Mutex<()>>);

fn event(entry: &Entry) -> McpEvent {
    McpEvent {
        id: entry.target.id.clone(),
        name: entry.target.name.clone(),
        health: Some(entry.health.clone()),
    }
}

/// `retry`, doubled for each failure after the first, at most `max`.
fn backoff(retry: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    retry.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let retry = Duration::from_secs(30);
        let max = Duration::from_secs(300);
        assert_eq!(backoff(retry, max, 1), Duration::from_secs(30));
        assert_eq!(backoff(retry, max, 2), Duration::from_secs(60));
        assert_eq!(backoff(retry, max, 3), Duration::from_secs(120));
        assert_eq!(backoff(retry, max, 5), max);
        assert_eq!(backoff(retry, max, u32::MAX), max);
    }
}
