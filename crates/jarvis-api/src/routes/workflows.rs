//! Triggering n8n workflows and following their executions.
//!
//! `POST /workflow/trigger` keeps the original shape; `POST /api/v2/workflows/{id}/trigger` is the
//! resource form. Both call the workflow's production webhook with the parameters and a
//! correlation id, store an execution record, answer `202 Accepted` with it, and follow n8n's
//! execution to its end. Registered before the resource routes so that
//! `/api/v2/workflows/executions` is not taken for a workflow id.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use jarvis_auth::{Principal, Scope};
use jarvis_core::{Code, Details, ExecutionStatus, ResourceKind, WorkflowExecution};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::context;
use crate::envelope::{v2_finish, v2_prefix};
use crate::error::ApiError;
use crate::params::{DEFAULT_LIMIT, MAX_LIMIT, Params};
use crate::registry::{Body, Param, Route};
use crate::routing::Routes;
use crate::state::AppState;

/// The largest parameters object accepted, serialized, in bytes.
const MAX_PARAMETERS: usize = 64 * 1024;

/// `POST /workflow/trigger`: the original shape.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerWorkflow {
    /// n8n's workflow id, Jarvis's resource id, or the workflow's name.
    #[schema(min_length = 1)]
    pub workflow_id: String,
    /// A JSON object sent to the webhook (at most 64 KiB).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
}

/// `POST /api/v2/workflows/{id}/trigger`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerParameters {
    /// A JSON object sent to the webhook (at most 64 KiB).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
}

/// The pattern of an execution id: `wfx_` and the server's random hex (earlier versions used
/// the request id, of letters, digits, `-`, `_` and `.`).
const EXECUTION_ID: &str = "^wfx_[A-Za-z0-9._-]{1,64}$";

fn route(method: &'static str, path: &str, op: &str, summary: &str, scope: Scope) -> Route {
    Route {
        method,
        path: path.to_owned(),
        operation_id: op.to_owned(),
        tag: "workflows",
        summary: summary.to_owned(),
        params: if path.contains("{id}") {
            vec![if path.contains("/executions/") {
                Param::path("id", "The execution id").pattern(EXECUTION_ID, 5, 68)
            } else {
                Param::path("id", "The workflow's n8n id, resource id or name")
            }]
        } else {
            vec![]
        },
        body: Body::Envelope("WorkflowExecution"),
        errors: &[],
        deprecated: false,
        cached: false,
        status: 200,
        request: None,
        scope: Some(scope),
    }
}

fn limit() -> Param {
    Param::query("limit", "integer", "How many")
        .range(1, MAX_LIMIT)
        .default(DEFAULT_LIMIT)
}

const TRIGGER_ERRORS: &[Code] = &[
    Code::ResourceNotFound,
    Code::AmbiguousName,
    Code::WorkflowNotTriggerable,
    Code::WorkflowInactive,
    Code::UpstreamUnavailable,
    Code::UpstreamTimeout,
    Code::CircuitOpen,
    Code::MalformedBody,
    Code::PayloadTooLarge,
    Code::UnsupportedMediaType,
];

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    routes.add(
        cfg,
        Route {
            errors: TRIGGER_ERRORS,
            status: 202,
            request: Some("TriggerWorkflow"),
            ..route(
                "post",
                "/workflow/trigger",
                "trigger_workflow",
                "Trigger a workflow through its webhook (the original shape)",
                Scope::Execute,
            )
        },
        web::resource("/workflow/trigger").route(web::post().to(trigger_original)),
    );
    routes.add(
        cfg,
        Route {
            errors: TRIGGER_ERRORS,
            status: 202,
            request: Some("TriggerParameters"),
            ..route(
                "post",
                "/api/v2/workflows/{id}/trigger",
                "trigger_workflow_v2",
                "Trigger a workflow through its webhook",
                Scope::Execute,
            )
        },
        web::resource("/api/v2/workflows/{id}/trigger").route(web::post().to(trigger_v2)),
    );
    routes.add(
        cfg,
        Route {
            body: Body::List("Object"),
            params: vec![limit()],
            ..route(
                "get",
                "/workflows/active",
                "active_workflows",
                "Executions in flight: status, start, elapsed time",
                Scope::Read,
            )
        },
        web::resource("/workflows/active").route(web::get().to(active)),
    );
    routes.add(
        cfg,
        Route {
            body: Body::List("WorkflowExecution"),
            params: vec![
                Param::query("status", "string", "Only this status").one_of(&[
                    "triggered",
                    "running",
                    "waiting",
                    "success",
                    "error",
                    "crashed",
                    "canceled",
                    "unknown",
                ]),
                limit(),
            ],
            ..route(
                "get",
                "/api/v2/workflows/executions",
                "workflow_executions",
                "Triggered executions, newest first, in flight and finished",
                Scope::Read,
            )
        },
        web::resource("/api/v2/workflows/executions").route(web::get().to(list)),
    );
    routes.add(
        cfg,
        Route {
            errors: &[Code::ResourceNotFound],
            ..route(
                "get",
                "/api/v2/workflows/executions/{id}",
                "workflow_execution",
                "One triggered execution",
                Scope::Read,
            )
        },
        web::resource("/api/v2/workflows/executions/{id}").route(web::get().to(detail)),
    );
}

fn integration_error(e: &jarvis_integrations::Error) -> HttpResponse {
    let mut response = ApiError::from_error(e).error_response();
    if let jarvis_integrations::Error::CircuitOpen { retry_after, .. } = e {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after.as_secs().max(1)),
        );
    }
    response
}

async fn trigger_original(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<TriggerWorkflow>,
) -> Result<HttpResponse, ApiError> {
    let TriggerWorkflow {
        workflow_id,
        parameters,
    } = body.into_inner();
    trigger(&req, &state, &workflow_id, parameters).await
}

async fn trigger_v2(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<TriggerParameters>,
) -> Result<HttpResponse, ApiError> {
    trigger(&req, &state, &id, body.into_inner().parameters).await
}

async fn trigger(
    req: &HttpRequest,
    state: &AppState,
    key: &str,
    parameters: Option<Value>,
) -> Result<HttpResponse, ApiError> {
    // Parameters are checked before anything is called.
    let mut parameters = match parameters {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ApiError::invalid(
                "parameters",
                "`parameters` must be a JSON object",
            ));
        }
    };
    let size = serde_json::to_vec(&parameters).map_or(usize::MAX, |v| v.len());
    if size > MAX_PARAMETERS {
        return Err(ApiError::invalid(
            "parameters",
            format!("`parameters` has {size} bytes; the limit is {MAX_PARAMETERS}"),
        ));
    }
    let snapshot = state.catalog.snapshot();
    // Only a workflow in effect can be triggered; a name two of them answer to is ambiguous.
    let workflow = match snapshot.lookup(ResourceKind::Workflow, key) {
        Ok(found) if found.is_active() => found,
        Ok(_) => {
            let gone = jarvis_discovery::LookupError::NotFound;
            return Err(ApiError::lookup(ResourceKind::Workflow, key, &gone));
        }
        Err(e) => return Err(ApiError::lookup(ResourceKind::Workflow, key, &e)),
    };
    let Details::Workflow(details) = &workflow.details else {
        return Err(ApiError::new(
            Code::ResourceNotFound,
            format!("no workflow with id or name `{key}`"),
        ));
    };
    let Some(hook) = details.webhooks.first() else {
        return Err(ApiError::new(
            Code::WorkflowNotTriggerable,
            format!("workflow `{}` has no webhook trigger", workflow.name),
        ));
    };
    if !details.active {
        return Err(ApiError::new(
            Code::WorkflowInactive,
            format!(
                "workflow `{}` is inactive: its production webhook does not answer",
                workflow.name
            ),
        ));
    }
    let Some(client) = state.services.n8n().cloned() else {
        return Err(ApiError::new(
            Code::UpstreamUnavailable,
            "n8n is not configured (set n8n.base_url)",
        ));
    };
    // The execution is recorded before n8n is called: a database that cannot take it stops the
    // trigger before any side effect, and a trigger that happened is never without its record.
    // Both ids are the server's own; the request id is only a label in the logs.
    let id = jarvis_store::new_id("wfx").map_err(|e| ApiError::store(&e))?;
    let correlation_id = jarvis_store::new_id("jarvis").map_err(|e| ApiError::store(&e))?;
    parameters.insert(
        "jarvis_correlation_id".into(),
        Value::String(correlation_id.clone()),
    );
    let by = req
        .extensions()
        .get::<Principal>()
        .map_or_else(|| "anonymous".to_owned(), |p| p.name.clone());
    let mut execution = WorkflowExecution {
        id,
        workflow_id: details
            .workflow_id
            .clone()
            .unwrap_or_else(|| workflow.id.to_string()),
        workflow_name: workflow.name.clone(),
        correlation_id,
        n8n_execution_id: None,
        status: ExecutionStatus::Triggered,
        reply: None,
        started_at: crate::follower::now_ms(),
        finished_at: None,
        error: None,
        submitted_by: by,
    };
    state
        .executions
        .save(&execution, true)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let method = hook.methods.first().map_or("POST", String::as_str);
    let reply = client
        .trigger_webhook(method, &hook.production_path, &Value::Object(parameters))
        .await;
    let failure = match reply {
        Ok(reply) => {
            execution.reply = Some(reply.body);
            None
        }
        Err(e) => {
            execution.status = ExecutionStatus::Error;
            execution.finished_at = Some(crate::follower::now_ms());
            execution.error = Some(format!("the webhook call failed: {e}"));
            Some(e)
        }
    };
    if let Err(store) = state.executions.save(&execution, false).await {
        // n8n was called (or refused); the record keeps its first state.
        tracing::error!(
            execution = %execution.id,
            request_id = %context::request_id(),
            error = %store,
            "cannot record the webhook's answer"
        );
    }
    if let Some(e) = failure {
        return Ok(integration_error(&e));
    }
    tracing::info!(
        target: "jarvis::audit",
        action = "workflow.trigger",
        by = %execution.submitted_by,
        workflow = %execution.workflow_name,
        execution = %execution.id,
        request_id = %context::request_id(),
        "workflow triggered"
    );
    if client.has_api_key() {
        state.executions.follow(client, execution.clone());
    }
    let prefix = v2_prefix(&execution, None, snapshot.generation())?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((
            header::LOCATION,
            format!("/api/v2/workflows/executions/{}", execution.id),
        ))
        .body(v2_finish(&prefix)))
}

async fn executions(
    state: &AppState,
    in_flight: Option<bool>,
    status: Option<ExecutionStatus>,
    limit: usize,
) -> Result<Vec<WorkflowExecution>, ApiError> {
    let store = std::sync::Arc::clone(state.executions.store());
    web::block(move || store.list_executions(in_flight, status, limit))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::store(&e))
}

fn ok(data: &impl serde::Serialize, generation: u64) -> Result<HttpResponse, ApiError> {
    let prefix = v2_prefix(data, None, generation)?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(v2_finish(&prefix)))
}

async fn active(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let limit = Params::of(&req).count("limit");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let running = executions(&state, Some(true), None, limit).await?;
    let data: Vec<Value> = running
        .iter()
        .map(|e| {
            let mut v = json!(e);
            v["elapsed_ms"] = json!(now - e.started_at);
            v
        })
        .collect();
    ok(&data, state.catalog.snapshot().generation())
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let limit = params.count("limit");
    let status = params.parsed::<ExecutionStatus>("status")?;
    ok(
        &executions(&state, None, status, limit).await?,
        state.catalog.snapshot().generation(),
    )
}

async fn detail(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = std::sync::Arc::clone(state.executions.store());
    let key = id.clone();
    let found = web::block(move || store.get_execution(&key))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::store(&e))?
        .ok_or_else(|| {
            ApiError::new(
                Code::ResourceNotFound,
                format!("no workflow execution `{id}`"),
            )
        })?;
    ok(&found, state.catalog.snapshot().generation())
}
