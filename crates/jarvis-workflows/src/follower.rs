//! Following triggered n8n executions to their end.
//!
//! n8n's webhook reply carries no execution id, so each trigger sends a correlation id in its
//! body; the follower finds the execution whose data holds it (listing running executions too,
//! since n8n leaves those out of unfiltered lists), then polls it with a growing interval until
//! a final status. Every change is stored, then published — on a store several instances share,
//! to the other instances too, through the store's `jarvis_workflows` channel, so a WebSocket
//! client sees every execution whichever instance triggered it. Each execution is followed by
//! the one instance that triggered it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jarvis_core::{ExecutionStatus, WorkflowExecution};
use jarvis_integrations::N8nClient;
use jarvis_store::{Listener, Notification, Store};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

/// The store channel executions are relayed on between instances sharing a store.
pub const EXECUTIONS_CHANNEL: &str = "jarvis_workflows";

/// Polls n8n for triggered executions.
#[derive(Debug, Clone)]
pub struct ExecutionFollower {
    store: Arc<dyn Store>,
    /// Marks what this follower relays, so that it does not hear itself.
    origin: Arc<str>,
    bus: broadcast::Sender<WorkflowExecution>,
    /// `true` once [`ExecutionFollower::shutdown`] was called: every follow loop ends.
    stop: Arc<watch::Sender<bool>>,
    first_poll: Duration,
    max_poll: Duration,
    give_up_after: Duration,
}

/// Milliseconds since the Unix epoch, as executions record their times.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl ExecutionFollower {
    /// A follower writing to `store`; polls start at `first_poll` and double up to `max_poll`.
    pub fn new(
        store: Arc<dyn Store>,
        first_poll: Duration,
        max_poll: Duration,
        give_up_after: Duration,
    ) -> Self {
        let (bus, _) = broadcast::channel(256);
        let (stop, _) = watch::channel(false);
        // Not a stored id: a mark on relayed messages. The system's randomness, else the
        // process and the moment it started (unique enough between processes).
        let origin = jarvis_store::new_id("flw").unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("flw_{}_{nanos}", std::process::id())
        });
        ExecutionFollower {
            store,
            origin: origin.into(),
            bus,
            stop: Arc::new(stop),
            first_poll,
            max_poll,
            give_up_after,
        }
    }

    /// Every stored change to a followed execution.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkflowExecution> {
        self.bus.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Stores, then announces (to the other instances too, when the store is shared).
    pub async fn save(
        &self,
        execution: &WorkflowExecution,
        new: bool,
    ) -> Result<(), jarvis_store::Error> {
        let store = Arc::clone(&self.store);
        let record = execution.clone();
        let origin = Arc::clone(&self.origin);
        tokio::task::spawn_blocking(move || {
            if new {
                store.insert_execution(&record)?;
            } else {
                store.update_execution(&record)?;
            }
            if store.shared() {
                let payload = json!({ "origin": &*origin, "execution": &record }).to_string();
                if let Err(e) = store.notify(EXECUTIONS_CHANNEL, &payload) {
                    tracing::warn!(execution = %record.id, error = %e, "cannot tell the other instances of an execution's change; they see it when they read the store");
                }
            }
            Ok::<(), jarvis_store::Error>(())
        })
        .await
        .map_err(|e| jarvis_store::Error::Interrupted(e.to_string()))??;
        let _ = self.bus.send(execution.clone());
        Ok(())
    }

    /// Publishes on this follower's bus the executions other instances store, until the answer
    /// is dropped; `None` on a store of one instance's own. Blocking (it connects).
    pub fn relay(&self) -> Result<Option<Box<dyn Listener>>, jarvis_store::Error> {
        let origin = Arc::clone(&self.origin);
        let bus = self.bus.clone();
        self.store.listen(
            &[EXECUTIONS_CHANNEL],
            Box::new(move |notification: Notification| {
                match relayed(&notification.payload, &origin) {
                    Ok(Some(execution)) => {
                        let _ = bus.send(execution);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, bytes = notification.payload.len(), "an execution relayed by another instance could not be read; ignored");
                    }
                }
            }),
        )
    }

    /// Ends every follow loop at its next wait and refuses new ones: the server is stopping.
    /// An execution left unfinished keeps its last stored state.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Follows `execution` on its own task until it ends, cannot be followed any longer, or
    /// [`ExecutionFollower::shutdown`] is called.
    pub fn follow(&self, client: N8nClient, mut execution: WorkflowExecution) {
        let mut stop = self.stop.subscribe();
        if *stop.borrow_and_update() {
            tracing::debug!(execution = %execution.id, "not followed: the server is stopping");
            return;
        }
        let follower = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut interval = follower.first_poll;
            while !execution.status.is_final() {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => {
                        tracing::debug!(execution = %execution.id, "no longer followed: the server is stopping");
                        return;
                    }
                }
                interval = (interval * 2).min(follower.max_poll);
                let before = (execution.status, execution.n8n_execution_id.clone());
                match follower.poll(&client, &mut execution).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::debug!(execution = %execution.id, error = %e, "cannot poll n8n yet");
                        execution.error = Some(e.to_string());
                    }
                }
                if !execution.status.is_final() && started.elapsed() > follower.give_up_after {
                    execution.status = ExecutionStatus::Unknown;
                    execution.finished_at = Some(now_ms());
                    execution.error = Some(format!(
                        "not followed to its end within {} s",
                        follower.give_up_after.as_secs()
                    ));
                }
                let changed = (execution.status, execution.n8n_execution_id.clone()) != before;
                if (changed || execution.status.is_final())
                    && let Err(e) = follower.save(&execution, false).await
                {
                    tracing::error!(execution = %execution.id, error = %e, "cannot store the execution's state");
                }
            }
        });
    }

    async fn poll(
        &self,
        client: &N8nClient,
        execution: &mut WorkflowExecution,
    ) -> jarvis_integrations::Result<()> {
        if execution.n8n_execution_id.is_none() {
            // Running executions are only listed when asked for by status.
            let mut candidates = client
                .list_executions(Some(&execution.workflow_id), Some("running"), true)
                .await?;
            candidates.extend(
                client
                    .list_executions(Some(&execution.workflow_id), None, true)
                    .await?,
            );
            execution.n8n_execution_id = candidates
                .iter()
                .find(|c| c.to_string().contains(&execution.correlation_id))
                .and_then(|c| match c.get("id") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                });
        }
        let Some(id) = execution.n8n_execution_id.clone() else {
            return Ok(());
        };
        let found = client.get_execution(&id, false).await?;
        let status = found
            .get("status")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<ExecutionStatus>().ok())
            .unwrap_or(ExecutionStatus::Running);
        execution.status = status;
        execution.error = None;
        if status.is_final() {
            execution.finished_at = Some(now_ms());
            if status != ExecutionStatus::Success {
                execution.error = Some(format!("n8n reports the execution as {}", status.as_str()));
            }
        }
        Ok(())
    }
}

/// The execution in a relayed message, unless `own` sent it.
fn relayed(payload: &str, own: &str) -> Result<Option<WorkflowExecution>, serde_json::Error> {
    let mut message: Value = serde_json::from_str(payload)?;
    if message.get("origin").and_then(Value::as_str) == Some(own) {
        return Ok(None);
    }
    serde_json::from_value(message["execution"].take()).map(Some)
}
