//! Triggering n8n workflows and following their executions.
//!
//! `POST /workflow/trigger` keeps the original shape; `POST /api/v2/workflows/{id}/trigger` is the
//! resource form. Both call the workflow's production webhook with the parameters and a
//! correlation id, store an execution record, answer `202 Accepted` with it, and follow n8n's
//! execution to its end. Registered before the resource routes so that
//! `/api/v2/workflows/executions` is not taken for a workflow id.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use jarvis_auth::Scope;
use jarvis_core::{Code, ExecutionStatus, WorkflowExecution};
use jarvis_workflows::TriggerError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context;
use crate::error::{ApiError, blocking};
use crate::guard::Caller;
use crate::params::{DEFAULT_LIMIT, MAX_LIMIT, Params};
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

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
    caller: Caller,
    state: web::Data<AppState>,
    body: crate::error::JsonObject<TriggerWorkflow>,
) -> Result<HttpResponse, ApiError> {
    let TriggerWorkflow {
        workflow_id,
        parameters,
    } = body.into_inner();
    trigger(&caller, &state, &workflow_id, parameters).await
}

async fn trigger_v2(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: crate::error::JsonObject<TriggerParameters>,
) -> Result<HttpResponse, ApiError> {
    trigger(&caller, &state, &id, body.into_inner().parameters).await
}

async fn trigger(
    caller: &Caller,
    state: &AppState,
    key: &str,
    parameters: Option<Value>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = state.catalog.snapshot();
    let by = caller.name().to_owned();
    let execution = match state
        .executions
        .trigger(&snapshot, state.services.n8n(), key, parameters, by)
        .await
    {
        Ok(execution) => execution,
        Err(TriggerError::Webhook(e)) => return Ok(integration_error(&e)),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        target: "jarvis::audit",
        action = "workflow.trigger",
        by = %execution.submitted_by,
        workflow = %execution.workflow_name,
        execution = %execution.id,
        request_id = %context::request_id(),
        "workflow triggered"
    );
    let location = format!("/api/v2/workflows/executions/{}", execution.id);
    reply::accepted(&execution, Some(&location), snapshot.generation())
}

async fn executions(
    state: &AppState,
    in_flight: Option<bool>,
    status: Option<ExecutionStatus>,
    limit: usize,
) -> Result<Vec<WorkflowExecution>, ApiError> {
    let store = std::sync::Arc::clone(state.executions.store());
    blocking(move || store.list_executions(in_flight, status, limit)).await
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
    reply::ok(&data, state.catalog.snapshot().generation())
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let limit = params.count("limit");
    let status = params.parsed::<ExecutionStatus>("status")?;
    reply::ok(
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
    let found = blocking(move || store.get_execution(&key))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::ResourceNotFound,
                format!("no workflow execution `{id}`"),
            )
        })?;
    reply::ok(&found, state.catalog.snapshot().generation())
}
