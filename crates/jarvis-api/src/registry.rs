//! The route table: every route is registered through it, with its documentation, so the
//! OpenAPI document is generated from exactly the routes the server answers.

use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::web::ServiceConfig;
use actix_web::{HttpMessage, Resource};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// The query string.
    Query,
    /// A path segment.
    Path,
}

/// One documented parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Where it goes.
    pub location: In,
    /// Whether it must be given.
    pub required: bool,
    /// JSON type: `string`, `integer` or `boolean`.
    pub kind: &'static str,
    /// What it does.
    pub description: &'static str,
}

impl Param {
    /// An optional query parameter.
    pub const fn query(name: &'static str, kind: &'static str, description: &'static str) -> Param {
        Param {
            name,
            location: In::Query,
            required: false,
            kind,
            description,
        }
    }

    /// A required path parameter.
    pub const fn path(name: &'static str, description: &'static str) -> Param {
        Param {
            name,
            location: In::Path,
            required: true,
            kind: "string",
            description,
        }
    }

    /// The same parameter, required.
    #[must_use]
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }
}

/// What a successful response carries.
#[derive(Debug, Clone)]
pub enum Body {
    /// The envelope with `data` of this schema.
    Envelope(&'static str),
    /// The envelope with `data` a list of this schema, and pagination.
    Page(&'static str),
    /// A bare JSON value (v1 shapes, the OpenAPI document).
    Json,
    /// An HTML page.
    Html,
    /// A script.
    Script,
    /// Prometheus text exposition.
    Prometheus,
    /// A WebSocket handshake (101 Switching Protocols).
    WebSocket,
}

/// A documented route.
#[derive(Debug, Clone)]
pub struct Route {
    /// The HTTP method, lowercase.
    pub method: &'static str,
    /// The path, actix style (`/api/v2/agents/{id}`).
    pub path: String,
    /// A unique operation id.
    pub operation_id: String,
    /// Groups operations in the docs.
    pub tag: &'static str,
    /// One line.
    pub summary: String,
    /// Parameters.
    pub params: Vec<Param>,
    /// The success body.
    pub body: Body,
    /// Error codes it may answer besides the common ones.
    pub errors: &'static [jarvis_core::Code],
    /// Whether it is deprecated (v1).
    pub deprecated: bool,
    /// Whether it is served from the response cache (ETag, `If-None-Match` → 304).
    pub cached: bool,
    /// The JSON request body's schema, for routes that take one.
    pub request: Option<&'static str>,
    /// The scope a caller needs; `None` for public routes (health, docs).
    pub scope: Option<jarvis_auth::Scope>,
}

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
        let scopes: Arc<[(Method, Option<jarvis_auth::Scope>)]> = routes
            .iter()
            .map(|r| {
                let method = Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
                    .unwrap_or(Method::GET);
                (method, r.scope)
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
                crate::guard::require(Arc::clone(&scopes), req, next),
            )
        })));
        self.routes.extend(routes);
    }

    /// Takes the list.
    pub fn into_list(self) -> Vec<Route> {
        self.routes
    }
}
