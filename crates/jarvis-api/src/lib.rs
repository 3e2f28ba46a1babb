//! The Jarvis HTTP API over the live catalog (actix-web).
//!
//! - `/api/v2/…` is current and answers in one envelope:
//!   `{"success", "data", "metadata": {"api_version", "generation", "pagination"?, "request_id"}}`
//!   or `{"success": false, "error": {"code", "message", "details"?}, "metadata": {"request_id"}}`.
//!   The unversioned paths answer as v2; `/api/v1/…` keeps the original server's shapes with
//!   `Deprecation`, `Sunset` and `Link` headers.
//! - Every error, actix's own included (unknown routes, wrong methods, bodies too large, bad
//!   JSON or query strings), leaves in the envelope with a code from `jarvis_core::Code`.
//! - GET responses are rendered once per catalog generation into a bounded cache
//!   (`jarvis-cache`), validated by strong ETags; misses render on the blocking pool.
//! - Every route is registered through a documented table, from which the OpenAPI 3.1 document
//!   at `/api/v2/openapi.json` is generated; `/docs` renders it without any CDN.
//!
//! - `/metrics` exposes Prometheus text: requests by route pattern, method and status with
//!   latency histograms (counted by the request-context middleware), connections, cache,
//!   breakers, tasks, catalog and the machine's gauges from `jarvis-telemetry`.
//!
//! - `/ws` (also `/api/v2/ws`) is the WebSocket hub (actix-ws): authenticated at the handshake,
//!   bounded in connections and per-client queues, with topics fed by the in-process buses.
//!
//! Architecture invariant: the only crate that knows actix. Handlers never touch the disk: they
//! read the catalog's in-memory snapshot.

mod config;
mod context;
mod envelope;
mod error;
mod exposition;
mod guard;
mod hub;
mod metrics;
mod openapi;
mod params;
mod registry;
mod reply;
mod request_id;
mod routes;
mod routing;
mod server;
mod services;
mod startup;
mod state;
mod views;
mod ws_entry;

pub use config::{ApiConfig, AuthConfig, CorsConfig, WsConfig};
pub use context::REQUEST_ID_HEADER;
pub use error::ApiError;
pub use hub::{Hub, HubStats};
pub use jarvis_auth::{KeyStore, RateLimitConfig, Scope};
pub use jarvis_workflows::{ExecutionFollower, LoopHandle, spawn_workflow_refresh};
pub use metrics::ServerMetrics;
pub use registry::{Body, Choice, In, Kind, Param, Route};
pub use server::{CATALOG_CACHE, FollowTiming, Server, ServerError, ServerSettings};
pub use services::analysis::{
    ANALYSIS_TYPES, Analysis, AnalysisConfig, AnalysisJob, Source as AnalysisSource,
};
pub use services::shared::{StoreKeys, StoreTickets, open_keys};
pub use startup::{Application, Parts, ShutdownHandle, StartError, route_table};
pub use state::AppState;
