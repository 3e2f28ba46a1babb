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
//!
//! # Example: serve a folder on a free port
//!
//! [`Server::start`] builds every part (catalog and watcher, store, task engine, telemetry,
//! hub, …) from [`ServerSettings`] and binds; [`Server::run_until_stopped`] serves until its
//! [`ShutdownHandle`] stops it. Both need a Tokio runtime with I/O and time enabled:
//!
//! ```
//! use std::collections::BTreeMap;
//! use jarvis_api::{ApiConfig, Server, ServerSettings};
//! use jarvis_discovery::{DiscoveryConfig, Environment};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let home = tempfile::tempdir()?;
//! std::fs::create_dir_all(home.path().join(".claude/agents"))?;
//! std::fs::write(
//!     home.path().join(".claude/agents/security-reviewer.md"),
//!     "---\nname: security-reviewer\ndescription: Reviews code for security issues\n---\n",
//! )?;
//! // A real program passes `Environment::from_process()`.
//! let env = Environment { home: Some(home.path().to_owned()), vars: BTreeMap::new() };
//! let roots = DiscoveryConfig::default().resolve(&env)?;
//!
//! let api = ApiConfig { port: 0, ..ApiConfig::default() }; // loopback, a free port
//! let settings = ServerSettings::new(api, roots, home.path().join("data"));
//! let server = Server::start(settings).await?;
//! let base = format!("http://127.0.0.1:{}", server.port());
//! let handle = server.handle();
//! let serving = tokio::spawn(server.run_until_stopped());
//!
//! // No key exists yet, so loopback callers are let in; create one to require it.
//! let agents: serde_json::Value =
//!     reqwest::get(format!("{base}/api/v2/agents")).await?.json().await?;
//! assert_eq!(agents["success"], true);
//! assert_eq!(agents["data"][0]["name"], "security-reviewer");
//!
//! handle.stop(true).await;
//! serving.await??;
//! # Ok(())
//! # }
//! ```

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
