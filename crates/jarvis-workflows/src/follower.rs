//! Following triggered n8n executions to their end.
//!
//! n8n's webhook reply carries no execution id, so each trigger sends a correlation id in its
//! body; the follower finds the execution whose data holds it (listing running executions too,
//! since n8n leaves those out of unfiltered lists), then polls it with a growing interval until
//! a final status. Every change is stored, then published.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jarvis_core::{ExecutionStatus, WorkflowExecution};
use jarvis_integrations::N8nClient;
use jarvis_store::Store;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

/// Polls n8n for triggered executions.
#[derive(Debug, Clone)]
pub struct ExecutionFollower {
    store: Arc<dyn Store>,
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
        ExecutionFollower {
            store,
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

    /// Stores, then announces.
    pub async fn save(
        &self,
        execution: &WorkflowExecution,
        new: bool,
    ) -> Result<(), jarvis_store::Error> {
        let store = Arc::clone(&self.store);
        let record = execution.clone();
        tokio::task::spawn_blocking(move || {
            if new {
                store.insert_execution(&record)
            } else {
                store.update_execution(&record)
            }
        })
        .await
        .map_err(|e| jarvis_store::Error::Interrupted(e.to_string()))??;
        let _ = self.bus.send(execution.clone());
        Ok(())
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
