//! `/`, `/health`, `/ready`: what is running, whether it is alive, whether it is ready.

use actix_web::HttpResponse;
use actix_web::web::{self, ServiceConfig};
use jarvis_core::{Code, ResourceKind};
use serde::Serialize;
use serde_json::json;

use super::{Doc, get, get_v2};
use crate::error::ApiError;
use crate::registry::Body;
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

/// Liveness.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
    /// The server's version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_secs: u64,
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    let root = || {
        Doc {
        operation: "root".into(),
        tag: "system",
        summary: "What is running: version, uptime, API versions, catalog counts and links (a browser asking `/` for HTML is sent to the dashboard, `/ui/`)".into(),
        params: vec![],
        body: Body::Envelope("Object"),
        errors: &[],
        cached: false,
        scope: None,
    }
    };
    get(cfg, routes, "/", root(), false, system_info);
    get(
        cfg,
        routes,
        "/api/v2",
        Doc {
            operation: "root_v2".into(),
            ..root()
        },
        false,
        system_info,
    );
    get_v2(
        cfg,
        routes,
        "/health",
        Doc {
            operation: "health".into(),
            tag: "system",
            summary: "Liveness: answers while the process runs".into(),
            params: vec![],
            body: Body::Envelope("Health"),
            errors: &[],
            cached: false,
            scope: None,
        },
        health,
    );
    get_v2(
        cfg,
        routes,
        "/ready",
        Doc {
            operation: "ready".into(),
            tag: "system",
            summary:
                "Readiness: 200 once the catalog has loaded and every required service is healthy"
                    .into(),
            params: vec![],
            body: Body::Envelope("Object"),
            errors: &[Code::CatalogUnavailable, Code::UpstreamUnavailable],
            cached: false,
            scope: None,
        },
        ready,
    );
}

pub(crate) fn configure_services(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/services",
        Doc {
            operation: "services".into(),
            tag: "system",
            summary: "Services Jarvis depends on: n8n (health, circuit breaker, calls, failures, last error, latency percentiles), the content analyzer (ffprobe and ffmpeg versions, running and waiting analyses) and the configured MCP servers (counts by health status; each one's status, check latency and error code)".into(),
            params: vec![],
            body: Body::List("Object"),
            errors: &[],
            cached: false,
            scope: Some(jarvis_auth::Scope::Read),
        },
        services,
    );
}

async fn services(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut views: Vec<serde_json::Value> = state
        .services
        .views()
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(&e))?;
    views.push(analyzer_view(&state).await);
    views.push(mcp_view(&state.mcp));
    reply::ok(&views, state.catalog.snapshot().generation())
}

/// MCP servers as a service: how many are in each status, and each server's status, latency
/// and error code. Never required for readiness.
fn mcp_view(mcp: &jarvis_integrations::mcp::McpMonitor) -> serde_json::Value {
    let counted = mcp.counts();
    let counts: serde_json::Map<String, serde_json::Value> =
        jarvis_integrations::mcp::McpStatus::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str().to_owned(),
                    json!(counted.get(s).copied().unwrap_or(0)),
                )
            })
            .collect();
    let servers: Vec<serde_json::Value> = mcp
        .all()
        .into_iter()
        .map(|(id, name, health)| {
            json!({
                "id": id,
                "name": name,
                "status": health.status,
                "duration_ms": health.duration_ms,
                "checked_at": health.checked_at,
                "next_check_at": health.next_check_at,
                "error_code": health.error.as_ref().map(|e| e.code),
                "consecutive_failures": health.consecutive_failures,
            })
        })
        .collect();
    json!({
        "name": "mcp",
        "required": false,
        "enabled": mcp.enabled(),
        "servers": counts,
        "checks": servers,
    })
}

/// The content analyzer as a service: healthy when ffprobe and ffmpeg run. It is never
/// required for readiness (text analyses need neither).
async fn analyzer_view(state: &AppState) -> serde_json::Value {
    let Some(analysis) = &state.analysis else {
        return json!({
            "name": "analyzer",
            "required": false,
            "enabled": false,
            "health": null,
        });
    };
    let status = analysis.analyzer().status().await;
    let missing = status.missing().map(|t| {
        format!(
            "{} is not installed or cannot be run (`{}`): {}",
            t.tool,
            t.program,
            t.error.as_deref().unwrap_or("unknown error")
        )
    });
    json!({
        "name": "analyzer",
        "required": false,
        "enabled": true,
        "health": {
            "healthy": missing.is_none(),
            "checked_at": status.checked_at,
            "error": missing,
        },
        "tools": status.tools,
        "concurrency": status.concurrency,
        "running": status.running,
        "waiting": status.waiting,
    })
}

async fn system_info(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if req.path() == "/" && super::ui::wants_page(&req) {
        // A browser asking for the root gets the dashboard; JSON clients keep this answer.
        return Ok(HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, "/ui/"))
            .finish());
    }
    let snapshot = state.catalog.snapshot();
    let stats = snapshot.stats();
    let counts: serde_json::Map<String, serde_json::Value> = ResourceKind::ALL
        .iter()
        .map(|k| {
            (
                k.plural().to_owned(),
                json!(stats.kinds.get(k).map_or(0, |c| c.active)),
            )
        })
        .collect();
    let data = json!({
        "name": "jarvis",
        "description": "Command center for AI coding agents",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "api": { "current": "/api/v2", "deprecated": ["/api/v1"] },
        "catalog": {
            "generation": snapshot.generation(),
            "resources": counts,
            "diagnostics": snapshot.diagnostics().len(),
            // Where the file is stays out of this public answer.
            "cache": state.catalog.cache_status().map(|c| json!({
                "start": c.start,
                "files_loaded": c.files_loaded,
                "load_ms": c.load_ms,
                "reason": c.reason,
                "saves": c.saves,
                "saved_at_ms": c.saved_at_ms,
                "save_error": c.save_error,
            })),
        },
        "links": {
            "health": "/health",
            "ready": "/ready",
            "docs": "/docs",
            "openapi": "/api/v2/openapi.json",
        },
    });
    reply::ok(&data, snapshot.generation())
}

async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let health = Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
    };
    reply::ok(&health, state.catalog.snapshot().generation())
}

async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.catalog.snapshot();
    if snapshot.generation() == 0 {
        return Err(ApiError::new(
            Code::CatalogUnavailable,
            "the catalog has not loaded yet",
        ));
    }
    let unready = state.services.unready();
    if !unready.is_empty() {
        return Err(ApiError::new(
            Code::UpstreamUnavailable,
            format!("required services are unhealthy: {}", unready.join(", ")),
        )
        .with_details(json!({ "services": unready })));
    }
    let data = json!({
        "ready": true,
        "generation": snapshot.generation(),
        "last_reload_error": state.catalog.last_error(),
    });
    reply::ok(&data, snapshot.generation())
}
