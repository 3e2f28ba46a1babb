//! The WebSocket hub: who is connected, what each one subscribes to, and the fan-out of events
//! from the in-process buses to them.
//!
//! Every connection has a bounded queue of outgoing messages. Publishing serializes an event
//! once and offers the same bytes to each subscriber's queue without waiting; a client whose
//! queue is full is told to close (1008) instead of slowing the others. The system-metrics
//! heartbeat rides on the telemetry monitor: while anyone subscribes to `metrics` the hub holds
//! a live guard (sampling at `telemetry.live_interval_ms`) and publishes each sample as it is
//! taken; with no subscriber it drops the guard and publishes nothing.

pub(crate) mod protocol;
pub(crate) mod session;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytestring::ByteString;
use jarvis_core::SharedClock;
use jarvis_telemetry::{LiveGuard, Monitor};
use serde::Serialize;
use tokio::sync::{Notify, broadcast, mpsc, watch};

use crate::config::WsConfig;
pub(crate) use protocol::Topic;

/// Close codes the hub uses (RFC 6455).
pub mod close {
    /// Normal closure (idle timeout).
    pub const NORMAL: u16 = 1000;
    /// The server is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the rules: too slow, repeated invalid messages, key revoked.
    pub const POLICY: u16 = 1008;
    /// A frame larger than the codec accepts.
    pub const TOO_BIG: u16 = 1009;
    /// The client broke the WebSocket protocol itself.
    pub const PROTOCOL: u16 = 1002;
}

/// Tells one connection to close, once.
#[derive(Debug, Default)]
pub(crate) struct Kill {
    reason: Mutex<Option<(u16, String)>>,
    notify: Notify,
}

impl Kill {
    /// Asks the connection to close with `code`; the first reason wins.
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let mut slot = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some((code, reason.to_owned()));
            self.notify.notify_one();
        }
    }

    /// Waits until asked to close; answers the code and reason.
    pub(crate) async fn wait(&self) -> (u16, String) {
        loop {
            if let Some(reason) = self
                .reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
            {
                return reason;
            }
            self.notify.notified().await;
        }
    }
}

/// Where one connection's messages go, and how to close it.
#[derive(Debug, Clone)]
struct Subscriber {
    tx: mpsc::Sender<ByteString>,
    kill: Arc<Kill>,
}

#[derive(Debug)]
struct Conn {
    to: Subscriber,
    topics: HashSet<Topic>,
}

/// Every connection, and the subscribers of each topic: an event finds its subscribers without
/// looking at any other connection (a task's events, among thousands of connections, go to
/// the one or two that follow it).
#[derive(Debug, Default)]
struct Registry {
    conns: HashMap<u64, Conn>,
    topics: HashMap<Topic, HashMap<u64, Subscriber>>,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    sent: AtomicU64,
    slow: AtomicU64,
    idle: AtomicU64,
    invalid: AtomicU64,
    abusive: AtomicU64,
    heartbeats: AtomicU64,
    lagged: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    config: WsConfig,
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    open: AtomicUsize,
    metrics_subscribers: Mutex<(usize, Option<LiveGuard>)>,
    monitor: Option<Arc<Monitor>>,
    shutdown: watch::Sender<bool>,
    counters: Counters,
    /// What message budgets and strikes are measured by.
    clock: SharedClock,
}

impl Registry {
    /// Takes connection `id` out of `topic`'s subscribers; a topic left without any is dropped,
    /// so per-task topics do not pile up.
    fn unindex(&mut self, topic: &Topic, id: u64) {
        if let Some(subscribers) = self.topics.get_mut(topic) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                self.topics.remove(topic);
            }
        }
    }
}

/// The hub. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// A reserved connection slot, released on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    hub: Hub,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.hub.inner.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The hub's state, for `/api/v2/ws/stats` and `/metrics`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HubStats {
    /// Connections open now.
    pub connections: usize,
    /// The most allowed at once.
    pub max_connections: usize,
    /// Subscribers per topic (`task:<id>` topics summed under `task:*`).
    pub subscribers: std::collections::BTreeMap<String, usize>,
    /// Whether the metrics heartbeat runs (someone subscribes to `metrics`).
    pub heartbeat_active: bool,
    /// Heartbeats published since start.
    pub heartbeats: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Handshakes refused at the connection limit.
    pub refused: u64,
    /// Messages queued to clients.
    pub messages_sent: u64,
    /// Clients disconnected for reading too slowly.
    pub slow_disconnects: u64,
    /// Clients closed after the idle timeout.
    pub idle_disconnects: u64,
    /// Invalid messages received.
    pub invalid_messages: u64,
    /// Clients closed for repeated invalid messages.
    pub abuse_disconnects: u64,
    /// Bus events the hub missed because it fell behind (logged).
    pub events_lagged: u64,
}

impl Hub {
    /// A hub with these limits; `monitor` feeds the `metrics` topic; clients' message budgets
    /// refill by `clock`.
    pub fn new(config: WsConfig, monitor: Option<Arc<Monitor>>, clock: SharedClock) -> Hub {
        let (shutdown, _) = watch::channel(false);
        let hub = Hub {
            inner: Arc::new(Inner {
                config,
                registry: Mutex::new(Registry::default()),
                next_id: AtomicU64::new(1),
                open: AtomicUsize::new(0),
                metrics_subscribers: Mutex::new((0, None)),
                monitor,
                shutdown,
                counters: Counters::default(),
                clock,
            }),
        };
        if let Some(monitor) = &hub.inner.monitor {
            let weak = Arc::downgrade(&hub.inner);
            monitor.on_sample(move |sample| {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let hub = Hub { inner };
                if hub.heartbeat_active() {
                    hub.emit(&Topic::Metrics, "sample", sample.as_ref());
                    hub.inner
                        .counters
                        .heartbeats
                        .fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        hub
    }

    /// Now, by the hub's clock.
    pub(crate) fn now(&self) -> std::time::Instant {
        self.inner.clock.now()
    }

    /// The limits in force.
    pub fn config(&self) -> &WsConfig {
        &self.inner.config
    }

    /// Whether the `metrics` topic can be served.
    pub(crate) fn has_metrics(&self) -> bool {
        self.inner.monitor.is_some()
    }

    /// Reserves a connection slot, or `None` at the limit.
    pub(crate) fn reserve(&self) -> Option<Slot> {
        let max = self.inner.config.max_connections;
        let reserved = self
            .inner
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if reserved {
            Some(Slot { hub: self.clone() })
        } else {
            self.inner.counters.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Registers a connection: answers its id, its queue and its kill switch.
    pub(crate) fn register(
        &self,
    ) -> (
        u64,
        mpsc::Receiver<ByteString>,
        mpsc::Sender<ByteString>,
        Arc<Kill>,
    ) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.inner.config.outbound_queue.max(1));
        let kill = Arc::new(Kill::default());
        self.lock().conns.insert(
            id,
            Conn {
                to: Subscriber {
                    tx: tx.clone(),
                    kill: Arc::clone(&kill),
                },
                topics: HashSet::new(),
            },
        );
        self.inner.counters.accepted.fetch_add(1, Ordering::Relaxed);
        (id, rx, tx, kill)
    }

    /// Forgets a connection and its subscriptions.
    pub(crate) fn unregister(&self, id: u64) {
        let removed = {
            let mut registry = self.lock();
            let removed = registry.conns.remove(&id);
            if let Some(conn) = &removed {
                for topic in &conn.topics {
                    registry.unindex(topic, id);
                }
            }
            removed
        };
        if let Some(conn) = removed
            && conn.topics.contains(&Topic::Metrics)
        {
            self.metrics_delta(-1);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds topics to a connection; answers those newly added.
    pub(crate) fn subscribe(&self, id: u64, topics: &[Topic]) -> Vec<Topic> {
        self.change_topics(id, topics, true)
    }

    /// Removes topics from a connection; answers those it had.
    pub(crate) fn unsubscribe(&self, id: u64, topics: &[Topic]) -> Vec<Topic> {
        self.change_topics(id, topics, false)
    }

    fn change_topics(&self, id: u64, topics: &[Topic], add: bool) -> Vec<Topic> {
        let changed: Vec<Topic> = {
            let mut guard = self.lock();
            let registry = &mut *guard;
            match registry.conns.get_mut(&id) {
                None => Vec::new(),
                Some(conn) => {
                    let mut changed = Vec::new();
                    for topic in topics {
                        if add && conn.topics.insert(topic.clone()) {
                            registry
                                .topics
                                .entry(topic.clone())
                                .or_default()
                                .insert(id, conn.to.clone());
                            changed.push(topic.clone());
                        } else if !add && conn.topics.remove(topic) {
                            changed.push(topic.clone());
                        }
                    }
                    if !add {
                        for topic in &changed {
                            registry.unindex(topic, id);
                        }
                    }
                    changed
                }
            }
        };
        if changed.contains(&Topic::Metrics) {
            self.metrics_delta(if add { 1 } else { -1 });
        }
        changed
    }

    /// Counts `metrics` subscribers; the first takes a live guard, the last drops it.
    fn metrics_delta(&self, delta: isize) {
        let mut state = self
            .inner
            .metrics_subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.0 = state.0.saturating_add_signed(delta);
        match (state.0, &state.1) {
            (0, Some(_)) => {
                state.1 = None;
                tracing::debug!("no metrics subscriber left: heartbeat stopped");
            }
            (n, None) if n > 0 => {
                state.1 = self.inner.monitor.as_ref().map(|m| m.live());
                tracing::debug!("first metrics subscriber: heartbeat started");
            }
            _ => {}
        }
    }

    /// Whether the heartbeat runs.
    pub fn heartbeat_active(&self) -> bool {
        self.inner
            .metrics_subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .is_some()
    }

    /// Serializes an event for `topic` once — not at all when nobody subscribes — and offers
    /// it to every subscriber's queue without waiting; a subscriber whose queue is full is
    /// closed (1008). Answers how many took it.
    pub(crate) fn emit(&self, topic: &Topic, event: &str, data: &impl Serialize) -> usize {
        // The subscribers are copied out so the registry is locked only to pick them, not
        // while thousands of queues are offered the message.
        let subscribers: Vec<Subscriber> = self
            .lock()
            .topics
            .get(topic)
            .map(|subscribers| subscribers.values().cloned().collect())
            .unwrap_or_default();
        if subscribers.is_empty() {
            return 0;
        }
        let payload = protocol::event(topic, event, data);
        let mut delivered = 0usize;
        let mut slow = 0u64;
        for Subscriber { tx, kill } in &subscribers {
            match tx.try_send(payload.clone()) {
                Ok(()) => delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    kill.close(
                        close::POLICY,
                        "too slow: the outbound queue is full; read faster or subscribe to less",
                    );
                    slow += 1;
                }
                // The connection is ending; its task unregisters it.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        let counters = &self.inner.counters;
        counters.sent.fetch_add(delivered as u64, Ordering::Relaxed);
        if slow > 0 {
            counters.slow.fetch_add(slow, Ordering::Relaxed);
            tracing::warn!(%topic, clients = slow, "disconnecting WebSocket clients that read too slowly");
        }
        delivered
    }

    /// Counts a message queued directly to one client.
    pub(crate) fn count_sent(&self) {
        self.inner.counters.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an invalid message.
    pub(crate) fn count_invalid(&self) {
        self.inner.counters.invalid.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a client closed for abuse.
    pub(crate) fn count_abusive(&self) {
        self.inner.counters.abusive.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a client closed for idleness.
    pub(crate) fn count_idle(&self) {
        self.inner.counters.idle.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a client dropped as too slow outside `emit` (a stuck send).
    pub(crate) fn count_slow(&self) {
        self.inner.counters.slow.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections open now (slots reserved).
    pub fn connections(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// A receiver that sees `true` once the hub shuts down.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Tells every client the server is going away (1001) and waits, up to `wait`, for the
    /// connections to close.
    pub async fn shutdown(&self, wait: std::time::Duration) {
        self.inner.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + wait;
        while self.connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if self.connections() > 0 {
            tracing::warn!(
                open = self.connections(),
                "WebSocket connections still open after the shutdown wait"
            );
        }
    }

    /// The hub's counters.
    pub fn stats(&self) -> HubStats {
        let mut subscribers = std::collections::BTreeMap::new();
        for (topic, subscribed) in &self.lock().topics {
            let name = match topic {
                Topic::Task(_) => "task:*".to_owned(),
                other => other.to_string(),
            };
            *subscribers.entry(name).or_insert(0) += subscribed.len();
        }
        let c = &self.inner.counters;
        HubStats {
            connections: self.connections(),
            max_connections: self.inner.config.max_connections,
            subscribers,
            heartbeat_active: self.heartbeat_active(),
            heartbeats: c.heartbeats.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            messages_sent: c.sent.load(Ordering::Relaxed),
            slow_disconnects: c.slow.load(Ordering::Relaxed),
            idle_disconnects: c.idle.load(Ordering::Relaxed),
            invalid_messages: c.invalid.load(Ordering::Relaxed),
            abuse_disconnects: c.abusive.load(Ordering::Relaxed),
            events_lagged: c.lagged.load(Ordering::Relaxed),
        }
    }

    /// Forwards a bus to the hub until the bus closes or the hub shuts down.
    pub(crate) fn forward<T, F>(
        &self,
        what: &'static str,
        mut bus: broadcast::Receiver<T>,
        mut route: F,
    ) where
        T: Clone + Send + 'static,
        F: FnMut(&Hub, T) + Send + 'static,
    {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut shutdown = self.shutdown_signal();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    received = bus.recv() => received,
                    _ = shutdown.changed() => return,
                };
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let hub = Hub { inner };
                match received {
                    Ok(item) => route(&hub, item),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        hub.inner
                            .counters
                            .lagged
                            .fetch_add(missed, Ordering::Relaxed);
                        tracing::warn!(
                            bus = what,
                            missed,
                            "the WebSocket hub fell behind an event bus; events were not delivered"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

/// Starts the forwarders from the in-process buses: task states and output, workflow
/// executions, service health and breaker changes, and catalog reloads. Call inside a tokio runtime.
pub(crate) fn connect_buses(
    hub: &Hub,
    tasks: &jarvis_tasks::TaskEngine,
    executions: &jarvis_workflows::ExecutionFollower,
    services: &jarvis_integrations::ServiceRegistry,
    catalog: &jarvis_discovery::LiveCatalog,
) {
    hub.forward("tasks", tasks.subscribe(), |hub, event| match event {
        jarvis_tasks::TaskEvent::Changed { task, .. } => {
            let one = Topic::Task(task.id.as_str().into());
            hub.emit(&Topic::Tasks, "task", &task);
            hub.emit(&one, "task", &task);
        }
        jarvis_tasks::TaskEvent::Output { id, stream, chunk } => {
            let one = Topic::Task(id.as_str().into());
            let data = serde_json::json!({ "id": id, "stream": stream, "chunk": chunk });
            hub.emit(&one, "output", &data);
        }
        jarvis_tasks::TaskEvent::Progress { id, stage, percent } => {
            let one = Topic::Task(id.as_str().into());
            let data = serde_json::json!({ "id": id, "stage": stage, "percent": percent });
            hub.emit(&one, "progress", &data);
        }
    });
    hub.forward("workflows", executions.subscribe(), |hub, execution| {
        hub.emit(&Topic::Workflows, "execution", &execution);
    });
    hub.forward("services", services.subscribe_health(), |hub, change| {
        hub.emit(&Topic::Services, "health", &change);
    });
    for bus in services.subscribe_breakers() {
        hub.forward("services", bus, |hub, change| {
            hub.emit(&Topic::Services, "breaker", &change);
        });
    }
    let weak = Arc::downgrade(&hub.inner);
    catalog.on_swap(move |snapshot| {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let stats = snapshot.stats();
        let counts: std::collections::BTreeMap<&str, usize> = stats
            .kinds
            .iter()
            .map(|(kind, c)| (kind.plural(), c.active))
            .collect();
        let data = serde_json::json!({
            "generation": snapshot.generation(),
            "resources": counts,
            "diagnostics": snapshot.diagnostics().len(),
        });
        let hub = Hub { inner };
        hub.emit(&Topic::Catalog, "reloaded", &data);
    });
}

/// Sends the cost ledger's events to the `costs` topic: `recorded` and `budget`.
pub(crate) fn connect_costs(hub: &Hub, costs: &jarvis_costs::CostService) {
    let weak = Arc::downgrade(&hub.inner);
    costs.subscribe(move |event| {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let name = match event {
            jarvis_costs::CostEvent::Recorded { .. } => "recorded",
            jarvis_costs::CostEvent::BudgetThreshold { .. } => "budget",
        };
        Hub { inner }.emit(&Topic::Costs, name, event);
    });
}

/// Sends the knowledge index's updates to the `knowledge` topic: `indexed`, `removed`,
/// `updated` (counts, for a commit of many notes), `rebuilding` and `ready`.
pub(crate) fn connect_knowledge(hub: &Hub, knowledge: &jarvis_knowledge::KnowledgeBase) {
    hub.forward("knowledge", knowledge.subscribe(), |hub, event| {
        let name = match &event {
            jarvis_knowledge::KnowledgeEvent::Indexed { .. } => "indexed",
            jarvis_knowledge::KnowledgeEvent::Removed { .. } => "removed",
            jarvis_knowledge::KnowledgeEvent::Updated { .. } => "updated",
            jarvis_knowledge::KnowledgeEvent::Rebuilding { .. } => "rebuilding",
            jarvis_knowledge::KnowledgeEvent::Ready { .. } => "ready",
        };
        hub.emit(&Topic::Knowledge, name, &event);
    });
}

/// Sends MCP server checks to the `services` topic as `mcp` events: a check ended, a server
/// was added or changed (`unchecked`), or left the catalog (`health: null`).
pub(crate) fn connect_mcp(hub: &Hub, mcp: &jarvis_integrations::mcp::McpMonitor) {
    hub.forward("services", mcp.subscribe(), |hub, event| {
        hub.emit(&Topic::Services, "mcp", &event);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_only_the_subscribers_of_their_topic_and_empty_topics_go() {
        let hub = Hub::new(WsConfig::default(), None, jarvis_core::system_clock());
        let (a, mut a_rx, _, _) = hub.register();
        let (b, mut b_rx, _, _) = hub.register();
        let task = Topic::Task("task_1".into());
        assert_eq!(hub.subscribe(a, &[Topic::Tasks, task.clone()]).len(), 2);
        assert_eq!(hub.subscribe(b, &[Topic::Tasks]).len(), 1);
        // Subscribing twice changes nothing.
        assert!(hub.subscribe(b, &[Topic::Tasks]).is_empty());

        assert_eq!(hub.emit(&task, "task", &1), 1);
        assert!(a_rx.try_recv().is_ok());
        assert!(b_rx.try_recv().is_err());
        assert_eq!(hub.emit(&Topic::Tasks, "task", &2), 2);
        assert_eq!(hub.emit(&Topic::Workflows, "execution", &3), 0);
        assert_eq!(hub.stats().subscribers.get("tasks"), Some(&2));

        assert_eq!(
            hub.unsubscribe(a, std::slice::from_ref(&task)),
            vec![task.clone()]
        );
        assert!(!hub.lock().topics.contains_key(&task));
        hub.unregister(b);
        assert_eq!(hub.emit(&Topic::Tasks, "task", &4), 1);
        hub.unregister(a);
        assert!(hub.lock().topics.is_empty());
        assert!(hub.stats().subscribers.is_empty());
    }
}
