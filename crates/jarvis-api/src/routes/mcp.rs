//! MCP server health: the last check of one configured server, and a check on demand. Only
//! servers in the catalog are checked — the id names a catalog entry, never a command.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::{Code, Resource, ResourceId, ResourceKind};
use jarvis_integrations::mcp::{McpHealth, McpMonitor, McpStatus};
use serde::Serialize;

use crate::envelope::{Version, cached_with, v2_prefix};
use crate::error::ApiError;
use crate::guard::Caller;
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

/// One server's health, with what names it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct McpServerHealth {
    /// The server's catalog id.
    #[schema(value_type = String)]
    pub id: ResourceId,
    /// Its name.
    pub name: String,
    /// Its last check.
    pub health: McpHealth,
}

fn id_param() -> Param {
    Param::path(
        "id",
        "The MCP server's id, or its name (`github`, `project:github`)",
    )
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    routes.add(
        cfg,
        Route {
            method: "get",
            path: "/api/v2/mcp-servers/{id}/health".into(),
            operation_id: "mcp_server_health".into(),
            tag: "resources",
            summary: "An MCP server's last health check: status, each step's latency, server name and version, protocol version, tools, last error with a stable code, next check".into(),
            params: vec![id_param()],
            body: Body::Envelope("McpServerHealth"),
            errors: &[Code::ResourceNotFound, Code::AmbiguousName],
            deprecated: false,
            cached: true,
            status: 200,
            request: None,
            scope: Some(Scope::Read),
        },
        web::resource("/api/v2/mcp-servers/{id}/health").route(web::get().to(health)),
    );
    routes.add(
        cfg,
        Route {
            method: "post",
            path: "/api/v2/mcp-servers/{id}/check".into(),
            operation_id: "mcp_server_check".into(),
            tag: "resources",
            summary: "Checks an MCP server now (starts it, or connects to it, as configured) and answers its new health; a check already running is waited for. Only when `mcp.health_checks` is on".into(),
            params: vec![id_param()],
            body: Body::Envelope("McpServerHealth"),
            errors: &[
                Code::ResourceNotFound,
                Code::AmbiguousName,
                Code::McpChecksDisabled,
            ],
            deprecated: false,
            cached: false,
            status: 200,
            request: None,
            scope: Some(Scope::Execute),
        },
        web::resource("/api/v2/mcp-servers/{id}/check").route(web::post().to(check)),
    );
}

/// The health shown for `resource`: the monitor's, or why it has none.
pub(crate) fn health_of(mcp: &McpMonitor, resource: &Resource) -> McpHealth {
    if let Some(health) = mcp.health(&resource.id) {
        return health;
    }
    let reason = match &resource.shadowed_by {
        Some(by) => {
            format!("shadowed by {by}: Claude Code does not start it, so it is not checked")
        }
        None => "not known to the health monitor yet".to_owned(),
    };
    McpHealth::idle(McpStatus::Disabled, reason)
}

/// The cache key suffix that changes whenever any server's health does.
pub(crate) fn cache_suffix(mcp: &McpMonitor) -> String {
    format!("#mcp{}", mcp.version())
}

async fn health(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mcp = state.mcp.clone();
    let suffix = cache_suffix(&mcp);
    cached_with(&req, &state, Version::V2, &suffix, move |snapshot| {
        let resource = snapshot.find(ResourceKind::McpServer, &id)?;
        let view = McpServerHealth {
            id: resource.id.clone(),
            name: resource.name.clone(),
            health: health_of(&mcp, resource),
        };
        v2_prefix(&view, None, snapshot.generation())
    })
    .await
}

async fn check(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = state.catalog.snapshot();
    let resource = snapshot.find(ResourceKind::McpServer, &id)?;
    if !state.mcp.enabled() {
        return Err(ApiError::new(
            Code::McpChecksDisabled,
            "MCP health checks are turned off (mcp.health_checks = false): a check starts the program the server names, so it runs only when the configuration allows it",
        ));
    }
    tracing::info!(target: "jarvis::audit", action = "mcp.check", server = %resource.name, by = %caller.name(), "MCP server check asked");
    let health = match state.mcp.check_now(&resource.id).await {
        Some(health) => health,
        // Shadowed (never started), or removed by a reload in between.
        None => health_of(&state.mcp, resource),
    };
    let view = McpServerHealth {
        id: resource.id.clone(),
        name: resource.name.clone(),
        health,
    };
    reply::ok(&view, snapshot.generation())
}
