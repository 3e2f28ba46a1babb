//! Task submission, one rule for both doors: `POST /command`, `POST /api/v2/{commands,agents}/{id}/run`,
//! `POST /agent/execute` and the WebSocket `command` message all build their task here and queue
//! it through [`queue`], which writes the audit line.

use jarvis_core::{ResourceKind, Task};
use jarvis_tasks::{CommandLine, TaskSpec, check_agent_task, check_len, priority};
use serde_json::Value;

use crate::context;
use crate::error::ApiError;
use crate::state::AppState;

/// Queues `spec` and writes the audit line. Shared by the HTTP routes and the WebSocket hub.
pub(crate) async fn queue(state: &AppState, spec: TaskSpec) -> Result<Task, ApiError> {
    let task = state.tasks.submit(spec).await?;
    tracing::info!(
        target: "jarvis::audit",
        action = "task.submit",
        by = %task.submitted_by,
        task = %task.id,
        kind = task.kind.as_str(),
        target_resource = %task.target,
        request_id = %context::request_id(),
        "task queued"
    );
    Ok(task)
}

/// The task for a command line (`/tools:lint src`), checked: the command exists and is not
/// ambiguous, the arguments are within bounds, the priority is known.
pub(crate) fn command_task(
    state: &AppState,
    command: &str,
    context: Option<Value>,
    priority_raw: Option<&str>,
    by: String,
) -> Result<TaskSpec, ApiError> {
    let line = CommandLine::parse(command)?;
    let priority = priority(priority_raw)?;
    let snapshot = state.catalog.snapshot();
    let resource = snapshot.find(ResourceKind::Command, line.name)?;
    Ok(TaskSpec::command(
        resource,
        line.arguments,
        context,
        priority,
        by,
    ))
}

/// The task for the command `id` (or name) with `arguments`, checked as [`command_task`] checks.
pub(crate) fn command_by_id(
    state: &AppState,
    id: &str,
    arguments: &str,
    context: Option<Value>,
    priority_raw: Option<&str>,
    by: String,
) -> Result<TaskSpec, ApiError> {
    check_len("arguments", arguments)?;
    let priority = priority(priority_raw)?;
    let snapshot = state.catalog.snapshot();
    let resource = snapshot.find(ResourceKind::Command, id)?;
    Ok(TaskSpec::command(
        resource, arguments, context, priority, by,
    ))
}

/// The task for the agent `agent` (id or name) to do `task`, checked: the task says something
/// and is within bounds, the priority is known, the agent exists and is not ambiguous.
pub(crate) fn agent_task(
    state: &AppState,
    agent: &str,
    task: &str,
    context: Option<Value>,
    priority_raw: Option<&str>,
    by: String,
) -> Result<TaskSpec, ApiError> {
    check_agent_task(task)?;
    let priority = priority(priority_raw)?;
    let snapshot = state.catalog.snapshot();
    let resource = snapshot.find(ResourceKind::Agent, agent)?;
    Ok(TaskSpec::agent(resource, task, context, priority, by))
}
