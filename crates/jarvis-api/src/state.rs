//! What every handler shares.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use jarvis_cache::ResponseCache;
use jarvis_discovery::LiveCatalog;

/// Shared state, handed to handlers as `web::Data<AppState>`.
#[derive(Debug)]
pub struct AppState {
    /// The live catalog; handlers take one snapshot per request.
    pub catalog: LiveCatalog,
    /// Rendered GET responses, keyed by path and query, invalidated by catalog generation.
    pub cache: Arc<ResponseCache>,
    /// When the server started (for uptime).
    pub started: Instant,
    /// The same, as wall-clock time.
    pub started_at: SystemTime,
    /// The OpenAPI document, rendered once at start-up.
    pub openapi: Arc<[u8]>,
    /// The methods each route pattern answers (`/api/v2/search` → `GET, POST`), for `Allow`.
    pub allowed: std::collections::HashMap<String, String>,
    /// API keys.
    pub keys: Arc<jarvis_auth::KeyStore>,
    /// JWT verification, when configured.
    pub jwt: Option<jarvis_auth::JwtVerifier>,
    /// Rate limits.
    pub limiter: jarvis_auth::RateLimiter,
    /// The services Jarvis depends on (n8n …), their health and breakers.
    pub services: jarvis_integrations::ServiceRegistry,
    /// Triggered workflow executions, followed to their end.
    pub executions: jarvis_workflows::ExecutionFollower,
    /// The task engine.
    pub tasks: jarvis_tasks::TaskEngine,
    /// WebSocket tickets.
    pub tickets: jarvis_auth::TicketStore,
    /// The telemetry monitor (system samples, history, processes); `None` when turned off.
    pub monitor: Option<Arc<jarvis_telemetry::Monitor>>,
    /// Content analysis (settings, roots, the shared analyzer); `None` when it is turned off.
    pub analysis: Option<crate::services::analysis::Analysis>,
    /// The knowledge base; `None` when it is turned off.
    pub knowledge: Option<jarvis_knowledge::KnowledgeBase>,
    /// MCP server health (checks off unless configured).
    pub mcp: jarvis_integrations::mcp::McpMonitor,
    /// The cost ledger; `None` when cost tracking is turned off.
    pub costs: Option<jarvis_costs::CostService>,
    /// The WebSocket hub.
    pub hub: crate::hub::Hub,
    /// The server's own counters, for `/metrics`.
    pub metrics: crate::metrics::ServerMetrics,
    /// The limits and auth settings the guard enforces.
    pub config: crate::config::ApiConfig,
}

impl AppState {
    /// Whether callers must authenticate: keys exist, or JWTs are configured.
    pub fn auth_enabled(&self) -> bool {
        self.jwt.is_some() || !self.keys.is_empty()
    }
}
