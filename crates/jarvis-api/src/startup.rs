//! Building and running the server: `Application::build` binds, `run_until_stopped` serves.
//! Tests use the same path (port 0), so they exercise the real server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpRequest, web};
use jarvis_auth::{KeyStore, RateLimiter, TicketStore};
use jarvis_cache::ResponseCache;
use jarvis_core::{Code, ResourceKind};
use jarvis_discovery::{CatalogSnapshot, LiveCatalog};

use crate::config::ApiConfig;
use crate::error::{self, ApiError};
use crate::metrics::ServerMetrics;
use crate::registry::Route;
use crate::state::AppState;
use crate::{context, guard, openapi, routes};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A non-loopback address without authentication.
    #[error(
        "refusing to serve on {address} without authentication: create a key with `jarvis keys create`, bind a loopback address, or set server.auth.allow_unauthenticated_public = true (dangerous)"
    )]
    Unprotected {
        /// The address.
        address: String,
    },
    /// The JWT settings are unusable.
    #[error("invalid configuration `server.auth.jwt`: {0}")]
    Auth(#[from] jarvis_auth::AuthError),
    /// The thread that picks up keys created or revoked by another process could not start.
    #[error("cannot start the key file refresher: {0}")]
    Refresher(std::io::Error),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

impl jarvis_core::ErrorCode for StartError {
    fn error_code(&self) -> Code {
        match self {
            StartError::Refresher(_) => Code::InternalError,
            _ => Code::ConfigInvalid,
        }
    }
}

/// What the server serves and runs on, built by the caller (the binary's `serve`, a test, a
/// tool embedding the API).
#[derive(Debug)]
pub struct Parts {
    /// The live catalog of resources.
    pub catalog: LiveCatalog,
    /// The API keys.
    pub keys: Arc<KeyStore>,
    /// The task engine, started.
    pub tasks: jarvis_tasks::TaskEngine,
    /// The peer services (n8n) and their breakers.
    pub services: jarvis_integrations::ServiceRegistry,
    /// Workflow triggering and execution following.
    pub executions: jarvis_workflows::ExecutionFollower,
    /// The machine's telemetry, when it is on.
    pub monitor: Option<Arc<jarvis_telemetry::Monitor>>,
    /// What rate limits and WebSocket message budgets refill by.
    pub clock: jarvis_core::SharedClock,
    /// The cost ledger, when cost tracking is on.
    pub costs: Option<jarvis_costs::CostService>,
    /// Content analysis, when it is on.
    pub analysis: Option<crate::services::analysis::Analysis>,
    /// The knowledge base, when it is on.
    pub knowledge: Option<jarvis_knowledge::KnowledgeBase>,
    /// MCP server health checks (off unless its configuration turns them on). The server keeps
    /// it in step with the catalog and, when checks are on, runs its periodic checks.
    pub mcp: jarvis_integrations::mcp::McpMonitor,
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    state: web::Data<AppState>,
    // Keeps the key file refresher running as long as the server.
    _refresher: jarvis_auth::RefresherGuard,
    // Periodic MCP checks, when they are on; they end (with their processes) with the server.
    _mcp_checks: Option<jarvis_integrations::LoopHandle>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Gives the monitor the server's own gauges, sampled and kept in the history with the
/// machine's.
fn add_probes(
    monitor: &jarvis_telemetry::Monitor,
    metrics: &ServerMetrics,
    tasks: &jarvis_tasks::TaskEngine,
    hub: &crate::hub::Hub,
) {
    use jarvis_telemetry::MetricInfo;
    let connections = metrics.connections_counter();
    let running = tasks.clone();
    let queued = tasks.clone();
    let websockets = hub.clone();
    let added = [
        monitor.add_probe(
            MetricInfo {
                name: "jarvis_websocket_connections",
                unit: "count",
                description: "WebSocket connections open to Jarvis",
            },
            move || websockets.connections() as f64,
        ),
        monitor.add_probe(
            MetricInfo {
                name: "jarvis_open_connections",
                unit: "count",
                description: "HTTP connections open to Jarvis",
            },
            move || connections.load(std::sync::atomic::Ordering::Relaxed) as f64,
        ),
        monitor.add_probe(
            MetricInfo {
                name: "jarvis_tasks_running",
                unit: "count",
                description: "tasks running",
            },
            move || running.load().0 as f64,
        ),
        monitor.add_probe(
            MetricInfo {
                name: "jarvis_tasks_queued",
                unit: "count",
                description: "tasks waiting for a slot",
            },
            move || queued.load().1 as f64,
        ),
    ];
    if added.contains(&false) {
        tracing::warn!(
            "the telemetry monitor already had Jarvis's gauges (a second server on one monitor?); the first server's stay"
        );
    }
}

/// Gives the MCP monitor the catalog's servers now and after every reload, and starts its
/// periodic checks when they are on (and a runtime is there to run them).
fn keep_mcp_in_step(
    mcp: &jarvis_integrations::mcp::McpMonitor,
    catalog: &LiveCatalog,
) -> Option<jarvis_integrations::LoopHandle> {
    let unapproved = mcp.config().check_unapproved;
    let targets = move |snapshot: &CatalogSnapshot| {
        jarvis_integrations::mcp::targets(snapshot.of_kind(ResourceKind::McpServer), unapproved)
    };
    mcp.sync(targets(&catalog.snapshot()));
    let follower = mcp.clone();
    catalog.on_swap(move |snapshot| follower.sync(targets(snapshot)));
    if !mcp.enabled() {
        return None;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Some(mcp.start()),
        Err(_) => {
            tracing::warn!(
                "MCP health checks are on but no runtime runs them: checks only on demand"
            );
            None
        }
    }
}

/// The OpenAPI document for `table`, serialized. The document's JSON tree takes some 7 MB of
/// small allocations for 600 KB of text: it is built and dropped on a thread of its own, and
/// only the text is copied out, so the allocator can give that thread's memory back instead of
/// keeping it in the server's heap for good (an idle server on the real corpus: 32.7 MB resident
/// before, 23.7 MB after).
fn openapi_bytes(table: &[Route]) -> Arc<[u8]> {
    let built = std::thread::scope(|scope| {
        scope
            .spawn(|| serde_json::to_vec_pretty(&openapi::document(table)).unwrap_or_default())
            .join()
    });
    match built {
        Ok(bytes) => Arc::from(bytes.as_slice()),
        Err(_) => {
            tracing::error!("building the OpenAPI document panicked; serving an empty one");
            Arc::from(&b"{}"[..])
        }
    }
}

/// Every route the application registers, with its documentation.
pub fn route_table() -> Vec<Route> {
    let mut table = Vec::new();
    // `App::configure` runs the closure at once; the app itself is discarded.
    let _ = App::new().configure(|cfg| table = routes::configure(cfg));
    table
}

impl Application {
    /// Binds `config.host:config.port` and prepares the server over `parts`: the catalog,
    /// guarded by the keys, running tasks on the engine, reading the machine from the monitor
    /// (which also gets the server's own gauges: open connections, running and queued tasks).
    /// Refuses a non-loopback address while no key exists, unless overridden.
    pub fn build(config: &ApiConfig, parts: Parts) -> Result<Application, StartError> {
        let Parts {
            catalog,
            keys,
            tasks,
            services,
            executions,
            monitor,
            clock,
            costs,
            analysis,
            knowledge,
            mcp,
        } = parts;
        let address = format!("{}:{}", config.host, config.port);
        let loopback = config.is_loopback();
        let jwt = config
            .auth
            .jwt
            .as_ref()
            .map(jarvis_auth::JwtVerifier::new)
            .transpose()?;
        if !loopback && keys.is_empty() && jwt.is_none() {
            if !config.auth.allow_unauthenticated_public {
                return Err(StartError::Unprotected { address });
            }
            tracing::warn!(
                %address,
                "SERVING WITHOUT AUTHENTICATION ON A NON-LOOPBACK ADDRESS (server.auth.allow_unauthenticated_public = true): anyone who can reach this address can read your setup and run agents"
            );
        }
        let listener = TcpListener::bind(&address).map_err(|source| StartError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                address: address.clone(),
                source,
            })?
            .port();
        // Keys created or revoked by another process (`jarvis keys …`) apply within a second.
        let refresher = keys
            .spawn_refresher(std::time::Duration::from_secs(1))
            .map_err(StartError::Refresher)?;
        let cache = Arc::new(ResponseCache::new(config.cache.clone()));
        // Free memory held by stale entries as soon as the catalog moves on.
        let invalidate = Arc::clone(&cache);
        catalog.on_swap(move |snapshot| invalidate.invalidate_before(snapshot.generation()));
        let table = route_table();
        let openapi = openapi_bytes(&table);
        let mut allowed: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        for route in &table {
            let methods = allowed.entry(route.path.clone()).or_default();
            if !methods.is_empty() {
                methods.push_str(", ");
            }
            methods.push_str(&route.method.to_ascii_uppercase());
        }
        let metrics = ServerMetrics::default();
        let hub = crate::hub::Hub::new(config.websocket.clone(), monitor.clone(), clock.clone());
        if let Some(monitor) = &monitor {
            add_probes(monitor, &metrics, &tasks, &hub);
        }
        crate::hub::connect_buses(&hub, &tasks, &executions, &services, &catalog);
        if let Some(costs) = &costs {
            crate::hub::connect_costs(&hub, costs);
        }
        if let Some(knowledge) = &knowledge {
            crate::hub::connect_knowledge(&hub, knowledge);
        }
        crate::hub::connect_mcp(&hub, &mcp);
        let mcp_checks = keep_mcp_in_step(&mcp, &catalog);
        let tickets = {
            let ttl = std::time::Duration::from_secs(config.auth.ticket_ttl_secs);
            // Shared by the instances sharing the store: a ticket is redeemed by whichever
            // instance the WebSocket reaches.
            if tasks.store().shared() {
                TicketStore::with_backend(
                    ttl,
                    Arc::new(crate::services::shared::StoreTickets::new(Arc::clone(
                        tasks.store(),
                    ))),
                )
            } else {
                TicketStore::new(ttl)
            }
        };
        let state = web::Data::new(AppState {
            catalog,
            cache,
            started: Instant::now(),
            started_at: SystemTime::now(),
            openapi,
            allowed,
            keys,
            jwt,
            tasks,
            services,
            executions,
            monitor,
            analysis,
            costs,
            knowledge,
            mcp,
            hub,
            metrics,
            limiter: RateLimiter::with_clock(config.rate_limit.clone(), clock),
            tickets,
            config: config.clone(),
        });
        let max_body = config.max_body_bytes;
        let app_state = state.clone();
        let cors_config = config.cors.clone();
        let connections = state.clone();
        let mut server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(error::json_error),
                )
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(from_fn(guard::middleware))
                .wrap(cors(&cors_config))
                .wrap(from_fn(context::middleware))
                .wrap(Compress::default())
                .wrap(from_fn(no_compression_on_upgrade))
                .configure(|cfg| {
                    routes::configure(cfg);
                })
                .default_service(web::to(not_found))
        })
        // The guard lives in the connection's extensions and drops when the connection closes.
        .on_connect(move |connection, extensions| {
            no_delay(connection);
            extensions.insert(connections.metrics.connection_opened());
        })
        .shutdown_timeout(config.shutdown_timeout_secs)
        .client_request_timeout(std::time::Duration::from_secs(config.request_timeout_secs))
        .keep_alive(std::time::Duration::from_secs(config.keep_alive_secs))
        .max_connections(config.max_connections)
        .disable_signals();
        if config.workers > 0 {
            server = server.workers(config.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartError::Bind { address, source })?
            .run();
        Ok(Application {
            server,
            port,
            state,
            _refresher: refresher,
            _mcp_checks: mcp_checks,
        })
    }

    /// The port bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server: WebSocket clients first, then HTTP.
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            server: self.server.handle(),
            hub: self.state.hub.clone(),
        }
    }

    /// The shared state (catalog, cache).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server is stopped through its handle; then stops following workflow
    /// executions (each keeps its last stored state).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.executions.shutdown();
        result
    }
}

/// Stops a running server. Cheap to clone.
#[derive(Clone)]
pub struct ShutdownHandle {
    server: ServerHandle,
    hub: crate::hub::Hub,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

impl ShutdownHandle {
    /// Closes every WebSocket with 1001 (waiting up to a second for them to go), then stops
    /// the server; `graceful` lets in-flight requests finish within `shutdown_timeout_secs`.
    pub async fn stop(&self, graceful: bool) {
        self.hub.shutdown(std::time::Duration::from_secs(1)).await;
        self.server.stop(graceful).await;
    }
}

/// A request asking to switch protocols gets no compressed answer: its connection belongs to
/// the new protocol once the head is out, so an error answered instead of the switch must be
/// framed by its length, never as a compressed stream.
async fn no_compression_on_upgrade(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if req.headers().contains_key(actix_web::http::header::UPGRADE) {
        req.headers_mut()
            .remove(actix_web::http::header::ACCEPT_ENCODING);
    }
    next.call(req).await
}

/// Turns Nagle's algorithm off on an accepted connection. With it on, a response written in
/// two parts (head, then a body of a few tens of KB) waits for the client's delayed ACK: 40 ms
/// a request on a keep-alive connection. HTTP and WebSocket share this listener.
fn no_delay(connection: &dyn std::any::Any) {
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        tracing::warn!("accepted a connection that is not TCP; TCP_NODELAY not applied");
        return;
    };
    if let Err(error) = stream.set_nodelay(true) {
        tracing::warn!(%error, "cannot set TCP_NODELAY on an accepted connection; responses may stall on delayed ACKs");
    }
}

/// CORS from the allow-list: explicit methods and headers; no origin is allowed by default.
fn cors(config: &crate::config::CorsConfig) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::IF_NONE_MATCH,
            context::REQUEST_ID_HEADER,
        ])
        .expose_headers([
            actix_web::http::header::ETAG,
            context::REQUEST_ID_HEADER,
            actix_web::http::header::HeaderName::from_static("ratelimit-limit"),
            actix_web::http::header::HeaderName::from_static("ratelimit-remaining"),
            actix_web::http::header::HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(config.max_age_secs);
    for origin in &config.allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        Code::RouteNotFound,
        format!("no route matches {} {}", req.method(), req.path()),
    )
    .with_details(serde_json::json!({ "docs": "/docs" })))
}
