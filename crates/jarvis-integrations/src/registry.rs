//! The service registry: every service Jarvis depends on, its health (checked periodically),
//! its breaker and its counters — what `/api/v2/services` shows and `/ready` weighs.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::breaker::BreakerState;
use crate::n8n::N8nClient;
use crate::stats::StatsView;

/// The last health check of a service.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Whether the last check passed.
    pub healthy: bool,
    /// When it ran (seconds since the Unix epoch).
    pub checked_at: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// A service's health changed: it became healthy or unhealthy (or was checked the first time).
#[derive(Debug, Clone, Serialize)]
pub struct HealthEvent {
    /// The service.
    pub service: String,
    /// Whether readiness depends on it.
    pub required: bool,
    /// The check that changed it.
    pub health: Health,
}

/// One service as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// Its name.
    pub name: String,
    /// Whether readiness depends on it.
    pub required: bool,
    /// The last health check; `None` before the first.
    pub health: Option<Health>,
    /// The circuit breaker.
    pub breaker: BreakerState,
    /// Calls, failures, last error, latency percentiles.
    #[serde(flatten)]
    pub stats: StatsView,
}

#[derive(Debug)]
struct Entry {
    name: String,
    required: bool,
    client: N8nClient,
    health: RwLock<Option<Health>>,
}

/// The registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceRegistry {
    entries: Arc<Vec<Entry>>,
    health_bus: tokio::sync::broadcast::Sender<HealthEvent>,
}

impl Default for ServiceRegistry {
    fn default() -> Self {
        ServiceRegistry::new(None)
    }
}

impl ServiceRegistry {
    /// A registry of n8n (when configured). Later services join here.
    pub fn new(n8n: Option<(N8nClient, bool)>) -> ServiceRegistry {
        let entries = n8n
            .into_iter()
            .map(|(client, required)| Entry {
                name: "n8n".to_owned(),
                required,
                client,
                health: RwLock::new(None),
            })
            .collect();
        ServiceRegistry {
            entries: Arc::new(entries),
            health_bus: tokio::sync::broadcast::channel(64).0,
        }
    }

    /// Health changes: published when a check's verdict differs from the one before.
    pub fn subscribe_health(&self) -> tokio::sync::broadcast::Receiver<HealthEvent> {
        self.health_bus.subscribe()
    }

    /// The n8n client, if configured.
    pub fn n8n(&self) -> Option<&N8nClient> {
        self.entries
            .iter()
            .find(|e| e.name == "n8n")
            .map(|e| &e.client)
    }

    /// Checks every service once.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn check_all(&self) {
        for entry in self.entries.iter() {
            let result = entry.client.health().await;
            let health = Health {
                healthy: result.is_ok(),
                checked_at: SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                error: result.as_ref().err().map(ToString::to_string),
            };
            if let Err(e) = &result {
                tracing::warn!(service = %entry.name, error = %e, "health check failed");
            }
            let previous = entry
                .health
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .replace(health.clone());
            if previous.is_none_or(|p| p.healthy != health.healthy) {
                tracing::info!(service = %entry.name, healthy = health.healthy, "service health changed");
                // Nobody listening is fine: the state is also in the registry.
                let _ = self.health_bus.send(HealthEvent {
                    service: entry.name.clone(),
                    required: entry.required,
                    health,
                });
            }
        }
    }

    /// Checks every `interval` until the handle is dropped or the registry is dropped everywhere
    /// else. Call inside a tokio runtime.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub fn spawn_checks(&self, interval: Duration) -> crate::LoopHandle {
        let weak = Arc::downgrade(&self.entries);
        let bus = self.health_bus.clone();
        crate::LoopHandle::new(tokio::spawn(async move {
            loop {
                let Some(entries) = weak.upgrade() else {
                    return;
                };
                ServiceRegistry {
                    entries,
                    health_bus: bus.clone(),
                }
                .check_all()
                .await;
                tokio::time::sleep(interval).await;
            }
        }))
    }

    /// A receiver of every service's circuit-breaker state changes.
    pub fn subscribe_breakers(&self) -> Vec<tokio::sync::broadcast::Receiver<crate::BreakerEvent>> {
        self.entries
            .iter()
            .map(|e| e.client.breaker().subscribe())
            .collect()
    }

    /// Every service.
    pub fn views(&self) -> Vec<ServiceView> {
        self.entries
            .iter()
            .map(|e| ServiceView {
                name: e.name.clone(),
                required: e.required,
                health: e
                    .health
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
                breaker: e.client.breaker().state(),
                stats: e.client.stats().view(),
            })
            .collect()
    }

    /// Required services whose last check failed (or that were never checked).
    pub fn unready(&self) -> Vec<String> {
        self.views()
            .into_iter()
            .filter(|v| v.required && !v.health.as_ref().is_some_and(|h| h.healthy))
            .map(|v| v.name)
            .collect()
    }
}
