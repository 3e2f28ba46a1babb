//! Task runs in the cost ledger: each finished task whose runner reported usage or a cost is
//! recorded once (its idempotency key is the task id), as it finishes and, for runs finished
//! while nothing listened, when the server starts.

use jarvis_core::{Task, TaskKind};
use jarvis_costs::{CostService, EntryId, Record, Source, Tokens, Usd};
use serde_json::Value;

/// The ledger record of a finished task run, if its runner reported usage or a cost.
pub(crate) fn task_record(task: &Task) -> Option<Record> {
    if !task.status.is_final() || (task.usage.is_none() && task.cost_usd.is_none()) {
        return None;
    }
    let usage = task.usage.as_ref();
    let count = |field: &str| {
        usage
            .and_then(|u| u.get(field))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cache_creation = usage.and_then(|u| u.get("cache_creation"));
    let split = |field: &str| {
        cache_creation
            .and_then(|c| c.get(field))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    // Claude Code's JSON result: `session_id`, and `modelUsage` keyed by model.
    let result: Option<Value> = serde_json::from_str(task.stdout.trim()).ok();
    let session = result
        .as_ref()
        .and_then(|r| r.get("session_id"))
        .and_then(Value::as_str)
        .unwrap_or(&task.id)
        .to_owned();
    let model = result
        .as_ref()
        .and_then(|r| r.get("modelUsage"))
        .and_then(Value::as_object)
        .and_then(|m| m.keys().next().cloned())
        .or_else(|| {
            task.input
                .pointer("/run/model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
        });
    Some(Record {
        id: EntryId([0; 12]),
        at_ms: task.finished_at.unwrap_or(task.created_at),
        source: Source::Task,
        model,
        tokens: Tokens {
            input: count("input_tokens"),
            output: count("output_tokens"),
            cache_write: count("cache_creation_input_tokens"),
            cache_write_5m: split("ephemeral_5m_input_tokens"),
            cache_write_1h: split("ephemeral_1h_input_tokens"),
            cache_read: count("cache_read_input_tokens"),
        },
        reported: task.cost_usd.and_then(Usd::from_dollars),
        fast: false,
        sidechain: false,
        project: task.target.clone(),
        session,
        agent: (task.kind == TaskKind::Agent).then(|| task.target.clone()),
        category: Some("task".into()),
        tags: Vec::new(),
        description: Some(format!("{} {}", task.kind.as_str(), task.target)),
        message_id: None,
        request_id: None,
        idempotency_key: Some(format!("task:{}", task.id)),
        recorded_by: task.id.clone(),
    })
}

async fn record(costs: &CostService, task: &Task) {
    let Some(record) = task_record(task) else {
        return;
    };
    let costs = costs.clone();
    let id = task.id.clone();
    match tokio::task::spawn_blocking(move || costs.record(record)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(task = %id, error = %e, "cannot record a task's cost"),
        Err(e) => tracing::error!(task = %id, error = %e, "recording a task's cost did not finish"),
    }
}

/// Records each task's cost as it finishes; first, those of the last 500 tasks (runs that
/// finished while the server was down are recorded now; those recorded before are not again).
pub(crate) fn follow_task_costs(tasks: jarvis_tasks::TaskEngine, costs: CostService) {
    let mut events = tasks.subscribe();
    tokio::spawn(async move {
        let filter = jarvis_store::TaskFilter {
            limit: 500,
            ..jarvis_store::TaskFilter::default()
        };
        match tasks.list(filter).await {
            Ok(recent) => {
                for task in recent.iter().rev() {
                    record(&costs, task).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list recent tasks for their costs"),
        }
        loop {
            match events.recv().await {
                // A task another instance ran is recorded there.
                Ok(jarvis_tasks::TaskEvent::Changed {
                    task,
                    relayed: false,
                }) if task.status.is_final() => {
                    // The event leaves the output out; the stored task has it.
                    match tasks.get(&task.id).await {
                        Ok(full) => record(&costs, &full).await,
                        Err(e) => {
                            tracing::warn!(task = %task.id, error = %e, "cannot read a finished task for its cost")
                        }
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "task events were missed; their costs are recorded at the next start"
                    );
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
