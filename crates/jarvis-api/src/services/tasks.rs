//! Task submission, one rule for both doors: `POST /command`, `POST /api/v2/{commands,agents}/{id}/run`,
//! `POST /agent/execute` and the WebSocket `command` message all build their task here and queue
//! it through [`queue`], which writes the audit line.

use jarvis_core::{Details, Priority, Resource, ResourceKind, Task, TaskKind};
use jarvis_tasks::{RunVars, TaskSpec, command_prompt};
use serde_json::{Value, json};

use crate::context;
use crate::error::ApiError;
use crate::params::trim_blanks;
use crate::state::AppState;

/// The longest argument string or agent task accepted, in characters.
const MAX_INPUT: usize = 32 * 1024;

fn priority(raw: Option<&str>) -> Result<Priority, ApiError> {
    raw.map_or(Ok(Priority::Normal), |p| {
        p.parse()
            .map_err(|e: String| ApiError::invalid("priority", e))
    })
}

fn check_len(field: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_INPUT {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` is longer than {MAX_INPUT} characters"),
        ));
    }
    Ok(())
}

fn model_of(model: Option<&str>) -> String {
    model
        .filter(|m| !m.is_empty() && *m != "inherit")
        .unwrap_or_default()
        .to_owned()
}

fn command_spec(
    resource: &Resource,
    arguments: &str,
    context: Option<Value>,
    priority: Priority,
    by: String,
) -> TaskSpec {
    let (model, tools) = match &resource.details {
        Details::Command(d) => (
            model_of(d.model.as_deref()),
            d.allowed_tools.clone().unwrap_or_default().join(","),
        ),
        _ => (String::new(), String::new()),
    };
    TaskSpec {
        kind: TaskKind::Command,
        target: resource.qualified_name.clone(),
        resource_id: resource.id.to_string(),
        input: json!({ "arguments": arguments, "context": context }),
        priority,
        vars: RunVars {
            prompt: command_prompt(&resource.body.text(), arguments),
            system_prompt: String::new(),
            model,
            tools,
        },
        submitted_by: by,
    }
}

fn agent_spec(
    resource: &Resource,
    task: &str,
    context: Option<Value>,
    priority: Priority,
    by: String,
) -> TaskSpec {
    let (model, tools) = match &resource.details {
        Details::Agent(d) => (
            model_of(Some(&d.model)),
            d.tools.clone().unwrap_or_default().join(","),
        ),
        _ => (String::new(), String::new()),
    };
    let mut prompt = task.to_owned();
    if let Some(ctx) = context.as_ref().filter(|c| !c.is_null()) {
        prompt.push_str("\n\nContext:\n```json\n");
        prompt.push_str(&serde_json::to_string_pretty(ctx).unwrap_or_default());
        prompt.push_str("\n```\n");
    }
    TaskSpec {
        kind: TaskKind::Agent,
        target: resource.qualified_name.clone(),
        resource_id: resource.id.to_string(),
        input: json!({ "task": task, "context": context }),
        priority,
        vars: RunVars {
            prompt,
            system_prompt: resource.body.text(),
            model,
            tools,
        },
        submitted_by: by,
    }
}

/// Queues `spec` and writes the audit line. Shared by the HTTP routes and the WebSocket hub.
pub(crate) async fn queue(state: &AppState, spec: TaskSpec) -> Result<Task, ApiError> {
    let task = state
        .tasks
        .submit(spec)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
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
    let line = trim_blanks(command);
    let line = line.strip_prefix('/').unwrap_or(line);
    let (name, arguments) = line
        .split_once([' ', '\t', '\r', '\n'])
        .unwrap_or((line, ""));
    if name.is_empty() {
        return Err(ApiError::invalid(
            "command",
            "`command` must name a slash command, like `/tools:lint src`",
        ));
    }
    check_len("command", arguments)?;
    let priority = priority(priority_raw)?;
    let snapshot = state.catalog.snapshot();
    let resource = snapshot
        .lookup(ResourceKind::Command, name)
        .map_err(|e| ApiError::lookup(ResourceKind::Command, name, &e))?;
    Ok(command_spec(
        resource,
        trim_blanks(arguments),
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
    let resource = snapshot
        .lookup(ResourceKind::Command, id)
        .map_err(|e| ApiError::lookup(ResourceKind::Command, id, &e))?;
    Ok(command_spec(resource, arguments, context, priority, by))
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
    if trim_blanks(task).is_empty() {
        return Err(ApiError::invalid(
            "task",
            "`task` must say what the agent should do",
        ));
    }
    check_len("task", task)?;
    let priority = priority(priority_raw)?;
    let snapshot = state.catalog.snapshot();
    let resource = snapshot
        .lookup(ResourceKind::Agent, agent)
        .map_err(|e| ApiError::lookup(ResourceKind::Agent, agent, &e))?;
    Ok(agent_spec(resource, task, context, priority, by))
}
