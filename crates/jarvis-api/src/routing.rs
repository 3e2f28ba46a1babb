//! Registers routes with actix and records them for the OpenAPI document: each resource is
//! wrapped in its gate (scope and parameters, `guard`), its metrics label and the panic net
//! (`context`). The declarations themselves (`Route`, `Param`, `Body`) are in `registry`, which
//! imports nothing of this crate.

use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::web::ServiceConfig;
use actix_web::{HttpMessage, Resource};

use crate::guard::Gate;
use crate::registry::Route;

/// Collects routes while registering them.
#[derive(Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// Registers `service` (an actix resource for `route.path`) and records its documentation.
    pub fn add(&mut self, cfg: &mut ServiceConfig, route: Route, service: Resource) {
        self.add_many(cfg, vec![route], service);
    }

    /// Registers `service`, one actix resource answering several methods, with a route each.
    /// The resource is wrapped in the scope check for its methods: routing has already picked
    /// the resource, so the check costs no second lookup of the path.
    pub fn add_many(&mut self, cfg: &mut ServiceConfig, routes: Vec<Route>, service: Resource) {
        let gates: Arc<[Gate]> = routes
            .iter()
            .map(|r| Gate {
                method: Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
                    .unwrap_or(Method::GET),
                scope: r.scope,
                params: r.params.clone().into(),
            })
            .collect();
        // Every route of one resource shares its path: the label `/metrics` counts it under.
        let label = crate::metrics::intern(routes.first().map_or("", |r| r.path.as_str()));
        cfg.service(service.wrap(from_fn(move |req: ServiceRequest, next| {
            req.extensions_mut()
                .insert(crate::metrics::RouteLabel(label));
            // Routing is done: the request may be shared with the panic net.
            let request = req.request().clone();
            crate::context::contain_panics(
                request,
                crate::guard::require(Arc::clone(&gates), req, next),
            )
        })));
        self.routes.extend(routes);
    }

    /// Takes the list.
    pub fn into_list(self) -> Vec<Route> {
        self.routes
    }
}
