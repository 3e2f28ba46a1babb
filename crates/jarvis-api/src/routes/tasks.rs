//! Running commands and agents as tasks, and following them.
//!
//! `POST /command` and `POST /agent/execute` keep the original request shapes;
//! `POST /api/v2/commands/{id}/run` and `POST /api/v2/agents/{id}/run` are the resource-shaped
//! forms. All answer `202 Accepted` with the queued task and a `Location` to follow it. Every run
//! is an audit line with the key's name and the request id.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::{Code, Priority, Task, TaskKind, TaskStatus};
use jarvis_store::TaskFilter;
use jarvis_tasks::{TASK_CURSOR_PATTERN, TASK_ID_LEN, TASK_ID_PATTERN, TaskCursor, TaskSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::context;
use crate::envelope::Pagination;
use crate::error::ApiError;
use crate::guard::Caller;
use crate::params::{DEFAULT_LIMIT, MAX_LIMIT, Params};
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::services::tasks;
use crate::state::AppState;

/// `POST /command`: the original shape.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCommand {
    /// The slash command and its arguments: `/tools:smart-debug the login test fails`.
    #[schema(
        min_length = 1,
        pattern = "^[ \\t\\r\\n]*(/[^ \\t\\r\\n]|[^ \\t\\r\\n/])"
    )]
    pub command: String,
    /// Anything the caller wants kept with the task.
    #[serde(default, deserialize_with = "object_or_null")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// `urgent`, `high`, `normal` (default) or `low`.
    #[serde(default)]
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
}

/// A `context` as documented: a JSON object, or `null` (absent).
fn object_or_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(object @ Value::Object(_)) => Ok(Some(object)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "`context` must be a JSON object, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            }
        ))),
    }
}

/// `POST /api/v2/commands/{id}/run`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommand {
    /// Everything after the command name (`$ARGUMENTS`).
    #[serde(default)]
    #[schema(max_length = 32768)]
    pub arguments: String,
    /// Anything the caller wants kept with the task.
    #[serde(default, deserialize_with = "object_or_null")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// `urgent`, `high`, `normal` (default) or `low`.
    #[serde(default)]
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
}

/// `POST /agent/execute`: the original shape.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteAgent {
    /// The agent's name or id.
    #[schema(min_length = 1)]
    pub agent: String,
    /// What the agent should do (not only blanks).
    #[schema(min_length = 1, max_length = 32768, pattern = "[^ \\t\\r\\n]")]
    pub task: String,
    /// Extra context, appended to the task as JSON.
    #[serde(default, deserialize_with = "object_or_null")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// `urgent`, `high`, `normal` (default) or `low`.
    #[serde(default)]
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
}

/// `POST /api/v2/agents/{id}/run`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunAgent {
    /// What the agent should do (not only blanks).
    #[schema(min_length = 1, max_length = 32768, pattern = "[^ \\t\\r\\n]")]
    pub task: String,
    /// Extra context, appended to the task as JSON.
    #[serde(default, deserialize_with = "object_or_null")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// `urgent`, `high`, `normal` (default) or `low`.
    #[serde(default)]
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
}

/// A task in a list: everything but its output.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskSummary<'a> {
    /// Id.
    pub id: &'a str,
    /// Command or agent.
    pub kind: TaskKind,
    /// The resource's qualified name.
    pub target: &'a str,
    /// Where it is.
    pub status: TaskStatus,
    /// Urgency.
    pub priority: Priority,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// When it started.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Why it did not succeed.
    #[schema(value_type = Option<jarvis_core::TaskError>)]
    pub error: Option<&'a jarvis_core::TaskError>,
    /// Cost the runner reported.
    pub cost_usd: Option<f64>,
    /// Who submitted it.
    pub submitted_by: &'a str,
}

impl<'a> From<&'a Task> for TaskSummary<'a> {
    fn from(t: &'a Task) -> Self {
        TaskSummary {
            id: &t.id,
            kind: t.kind,
            target: &t.target,
            status: t.status,
            priority: t.priority,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            exit_code: t.exit_code,
            error: t.error.as_ref(),
            cost_usd: t.cost_usd,
            submitted_by: &t.submitted_by,
        }
    }
}

fn post(
    path: &str,
    op: &str,
    summary: &str,
    request: &'static str,
    errors: &'static [Code],
    params: Vec<Param>,
) -> Route {
    Route {
        method: "post",
        path: path.to_owned(),
        operation_id: op.to_owned(),
        tag: "tasks",
        summary: summary.to_owned(),
        params,
        body: Body::Envelope("Task"),
        errors,
        deprecated: false,
        cached: false,
        status: 202,
        request: Some(request),
        scope: Some(Scope::Execute),
    }
}

fn get(path: &str, op: &str, summary: &str, body: Body, params: Vec<Param>) -> Route {
    Route {
        method: "get",
        path: path.to_owned(),
        operation_id: op.to_owned(),
        tag: "tasks",
        summary: summary.to_owned(),
        params,
        body,
        errors: &[],
        deprecated: false,
        cached: false,
        status: 200,
        request: None,
        scope: Some(Scope::Read),
    }
}

const RUN_ERRORS: &[Code] = &[
    Code::ResourceNotFound,
    Code::AmbiguousName,
    Code::MalformedBody,
    Code::PayloadTooLarge,
    Code::UnsupportedMediaType,
    Code::RunnerUnavailable,
    Code::StoreUnavailable,
];

fn task_id() -> Param {
    Param::path("id", "The task id").pattern(TASK_ID_PATTERN, TASK_ID_LEN, TASK_ID_LEN)
}

fn list_params() -> Vec<Param> {
    vec![
        Param::query("status", "string", "Only this status").one_of(&[
            "queued",
            "running",
            "succeeded",
            "failed",
            "canceled",
            "timed_out",
            "interrupted",
        ]),
        Param::query("kind", "string", "Only command, agent or analysis tasks")
            .one_of(&["command", "agent", "analysis"]),
        Param::query("limit", "integer", "Page size")
            .range(1, MAX_LIMIT)
            .default(DEFAULT_LIMIT),
        Param::query("cursor", "string", "The `next_cursor` of the previous page").pattern(
            TASK_CURSOR_PATTERN,
            4,
            21,
        ),
    ]
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    let id = || vec![Param::path("id", "The resource id or name")];
    routes.add(
        cfg,
        post(
            "/command",
            "execute_command",
            "Run a slash command given as `/name args` (the original shape)",
            "ExecuteCommand",
            RUN_ERRORS,
            vec![],
        ),
        web::resource("/command").route(web::post().to(execute_command)),
    );
    routes.add(
        cfg,
        post(
            "/agent/execute",
            "execute_agent",
            "Give an agent a task (the original shape)",
            "ExecuteAgent",
            RUN_ERRORS,
            vec![],
        ),
        web::resource("/agent/execute").route(web::post().to(execute_agent)),
    );
    routes.add(
        cfg,
        post(
            "/api/v2/commands/{id}/run",
            "run_command",
            "Run a slash command with arguments",
            "RunCommand",
            RUN_ERRORS,
            id(),
        ),
        web::resource("/api/v2/commands/{id}/run").route(web::post().to(run_command)),
    );
    routes.add(
        cfg,
        post(
            "/api/v2/agents/{id}/run",
            "run_agent",
            "Give an agent a task",
            "RunAgent",
            RUN_ERRORS,
            id(),
        ),
        web::resource("/api/v2/agents/{id}/run").route(web::post().to(run_agent)),
    );
    routes.add(
        cfg,
        get(
            "/tasks/recent",
            "recent_tasks",
            "The most recent tasks (the original route)",
            Body::List("TaskSummary"),
            vec![
                Param::query("limit", "integer", "How many")
                    .range(1, MAX_LIMIT)
                    .default(20),
            ],
        ),
        web::resource("/tasks/recent").route(web::get().to(recent)),
    );
    for prefix in ["/api/v2", ""] {
        let suffix = if prefix.is_empty() {
            "_unversioned"
        } else {
            ""
        };
        routes.add(
            cfg,
            get(
                &format!("{prefix}/tasks"),
                &format!("list_tasks{suffix}"),
                "Tasks, newest first, filtered and paginated",
                Body::Page("TaskSummary"),
                list_params(),
            ),
            web::resource(format!("{prefix}/tasks")).route(web::get().to(list)),
        );
        routes.add(
            cfg,
            get(
                &format!("{prefix}/tasks/{{id}}"),
                &format!("get_task{suffix}"),
                "One task with its output",
                Body::Envelope("Task"),
                vec![task_id()],
            ),
            web::resource(format!("{prefix}/tasks/{{id}}")).route(web::get().to(detail)),
        );
        routes.add(
            cfg,
            Route {
                errors: &[Code::ResourceNotFound, Code::TaskNotCancelable],
                body: Body::Envelope("CancelRequested"),
                request: None,
                params: vec![task_id()],
                ..post(
                    &format!("{prefix}/tasks/{{id}}/cancel"),
                    &format!("cancel_task{suffix}"),
                    "Cancel a queued or running task (its whole process group)",
                    "RunCommand",
                    &[],
                    vec![],
                )
            },
            web::resource(format!("{prefix}/tasks/{{id}}/cancel")).route(web::post().to(cancel)),
        );
    }
}

async fn submit(state: &AppState, spec: TaskSpec) -> Result<HttpResponse, ApiError> {
    let task = tasks::queue(state, spec).await?;
    let location = format!("/api/v2/tasks/{}", task.id);
    reply::accepted(
        &task,
        Some(&location),
        state.catalog.snapshot().generation(),
    )
}

async fn execute_command(
    caller: Caller,
    state: web::Data<AppState>,
    body: crate::error::JsonObject<ExecuteCommand>,
) -> Result<HttpResponse, ApiError> {
    let ExecuteCommand {
        command,
        context,
        priority,
    } = body.into_inner();
    let by = caller.name().to_owned();
    let spec = tasks::command_task(&state, &command, context, priority.as_deref(), by)?;
    submit(&state, spec).await
}

async fn run_command(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: crate::error::JsonObject<RunCommand>,
) -> Result<HttpResponse, ApiError> {
    let RunCommand {
        arguments,
        context,
        priority,
    } = body.into_inner();
    let by = caller.name().to_owned();
    let spec = tasks::command_by_id(&state, &id, &arguments, context, priority.as_deref(), by)?;
    submit(&state, spec).await
}

async fn execute_agent(
    caller: Caller,
    state: web::Data<AppState>,
    body: crate::error::JsonObject<ExecuteAgent>,
) -> Result<HttpResponse, ApiError> {
    let ExecuteAgent {
        agent,
        task,
        context,
        priority,
    } = body.into_inner();
    let by = caller.name().to_owned();
    let spec = tasks::agent_task(&state, &agent, &task, context, priority.as_deref(), by)?;
    submit(&state, spec).await
}

async fn run_agent(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: crate::error::JsonObject<RunAgent>,
) -> Result<HttpResponse, ApiError> {
    let RunAgent {
        task,
        context,
        priority,
    } = body.into_inner();
    let by = caller.name().to_owned();
    let spec = tasks::agent_task(&state, &id, &task, context, priority.as_deref(), by)?;
    submit(&state, spec).await
}

fn summaries(tasks: &[Task]) -> Vec<TaskSummary<'_>> {
    tasks.iter().map(TaskSummary::from).collect()
}

async fn recent(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let limit = Params::of(&req).count("limit");
    let tasks = state
        .tasks
        .list(TaskFilter {
            limit,
            ..TaskFilter::default()
        })
        .await?;
    reply::ok(&summaries(&tasks), state.catalog.snapshot().generation())
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let kind = params.parsed::<TaskKind>("kind")?;
    let (tasks, pagination) = page(&state, &params, kind).await?;
    reply::page(
        &summaries(&tasks),
        &pagination,
        state.catalog.snapshot().generation(),
    )
}

/// One page of tasks of `kind` (any when `None`), newest first, as `limit`, `status` and
/// `cursor` ask: the tasks list and the analyses list page alike.
pub(crate) async fn page(
    state: &AppState,
    params: &Params,
    kind: Option<TaskKind>,
) -> Result<(Vec<Task>, Pagination), ApiError> {
    let limit = params.count("limit");
    let status = params.parsed::<TaskStatus>("status")?;
    let before_seq = params
        .get("cursor")
        .map(|c| TaskCursor::parse(c).map(|c| c.0))
        .transpose()?;
    // One more than asked tells whether another page follows.
    let mut tasks = state
        .tasks
        .list(TaskFilter {
            status,
            kind,
            limit: limit + 1,
            before_seq,
        })
        .await?;
    let has_more = tasks.len() > limit;
    tasks.truncate(limit);
    let pagination = Pagination {
        total: tasks.len(),
        limit,
        offset: 0,
        has_more,
        next_cursor: has_more
            .then(|| tasks.last().map(|t| TaskCursor(t.seq).to_string()))
            .flatten(),
    };
    Ok((tasks, pagination))
}

async fn detail(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = state.tasks.get(&id).await?;
    reply::ok(&task, state.catalog.snapshot().generation())
}

async fn cancel(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = state.tasks.cancel(&id).await?;
    tracing::info!(
        target: "jarvis::audit",
        action = "task.cancel",
        by = %caller.name(),
        task = %task.id,
        request_id = %context::request_id(),
        "task cancel requested"
    );
    let data = json!({ "id": task.id, "status": task.status, "cancel_requested": true });
    reply::accepted(&data, None, state.catalog.snapshot().generation())
}
