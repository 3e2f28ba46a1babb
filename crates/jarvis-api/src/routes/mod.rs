//! Every route, one module per resource. Each module's `configure` registers its routes through
//! the [`Routes`] table so that the OpenAPI document lists exactly what the server answers.

pub(crate) mod analyses;
pub(crate) mod antigravity;
pub(crate) mod cache;
pub(crate) mod costs;
pub(crate) mod diagnostics;
pub(crate) mod docs;
pub(crate) mod keys;
pub(crate) mod knowledge;
pub(crate) mod legacy;
pub(crate) mod mcp;
pub(crate) mod resources;
pub(crate) mod search;
pub(crate) mod system;
pub(crate) mod tasks;
pub(crate) mod telemetry;
pub(crate) mod ui;
pub(crate) mod workflows;
pub(crate) mod ws;

use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, Handler, Responder};
use jarvis_auth::Scope;
use jarvis_core::Code;

use crate::registry::{Body, Param, Route};
use crate::routing::Routes;

/// Registers every route; returns the table of what was registered.
pub fn configure(cfg: &mut ServiceConfig) -> Vec<Route> {
    let mut routes = Routes::default();
    system::configure(cfg, &mut routes);
    system::configure_services(cfg, &mut routes);
    // Before the resources: `/api/v2/workflows/executions` is not a workflow id.
    workflows::configure(cfg, &mut routes);
    mcp::configure(cfg, &mut routes);
    resources::configure(cfg, &mut routes);
    search::configure(cfg, &mut routes);
    diagnostics::configure(cfg, &mut routes);
    cache::configure(cfg, &mut routes);
    antigravity::configure(cfg, &mut routes);
    docs::configure(cfg, &mut routes);
    ui::configure(cfg, &mut routes);
    keys::configure(cfg, &mut routes);
    tasks::configure(cfg, &mut routes);
    telemetry::configure(cfg, &mut routes);
    costs::configure(cfg, &mut routes);
    analyses::configure(cfg, &mut routes);
    knowledge::configure(cfg, &mut routes);
    ws::configure(cfg, &mut routes);
    legacy::configure(cfg, &mut routes);
    routes.into_list()
}

/// What a GET route is, before it is given a path.
pub(crate) struct Doc {
    pub operation: String,
    pub tag: &'static str,
    pub summary: String,
    pub params: Vec<Param>,
    pub body: Body,
    pub errors: &'static [Code],
    pub cached: bool,
    pub scope: Option<Scope>,
}

/// Registers a GET handler at `path` exactly.
pub(crate) fn get<F, Args>(
    cfg: &mut ServiceConfig,
    routes: &mut Routes,
    path: &str,
    doc: Doc,
    deprecated: bool,
    handler: F,
) where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let route = Route {
        method: "get",
        path: path.to_owned(),
        operation_id: doc.operation,
        tag: doc.tag,
        summary: doc.summary,
        params: doc.params,
        body: doc.body,
        errors: doc.errors,
        deprecated,
        cached: doc.cached,
        status: 200,
        request: None,
        scope: doc.scope,
    };
    routes.add(
        cfg,
        route,
        web::resource(path).route(web::get().to(handler)),
    );
}

/// Registers a v2 GET handler under `/api/v2{path}` and, as the current version, at `{path}`.
pub(crate) fn get_v2<F, Args>(
    cfg: &mut ServiceConfig,
    routes: &mut Routes,
    path: &str,
    doc: Doc,
    handler: F,
) where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let alias = Doc {
        operation: format!("{}_unversioned", doc.operation),
        tag: doc.tag,
        summary: format!("{} (same as /api/v2{path})", doc.summary),
        params: doc.params.clone(),
        body: doc.body.clone(),
        errors: doc.errors,
        cached: doc.cached,
        scope: doc.scope,
    };
    get(
        cfg,
        routes,
        &format!("/api/v2{path}"),
        doc,
        false,
        handler.clone(),
    );
    get(cfg, routes, path, alias, false, handler);
}
