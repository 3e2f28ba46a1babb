//! The `[server]` configuration section.

use jarvis_auth::RateLimitConfig;
use jarvis_cache::CacheConfig;
use serde::{Deserialize, Serialize};

/// How the HTTP server listens and what it allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// The address to bind. Loopback by default: the API is not exposed unless asked.
    pub host: String,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The longest URL (path and query) accepted, in bytes.
    pub max_uri_bytes: usize,
    /// The most header bytes (names and values together) accepted.
    pub max_header_bytes: usize,
    /// How long a client may take to send its request head, in seconds (slow clients cannot
    /// hold a worker).
    pub request_timeout_secs: u64,
    /// How long an idle keep-alive connection stays open, in seconds.
    pub keep_alive_secs: u64,
    /// The most concurrent connections per worker.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish on shutdown, in seconds.
    pub shutdown_timeout_secs: u64,
    /// The response cache.
    pub cache: CacheConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// Cross-origin requests.
    pub cors: CorsConfig,
    /// The WebSocket hub.
    pub websocket: WsConfig,
}

/// The `[server.websocket]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// The most WebSocket connections at once; the next is refused with 503 before the upgrade.
    pub max_connections: usize,
    /// The largest message a client may send, in bytes; larger ones are answered with
    /// `INVALID_MESSAGE` (frames beyond 1 MiB end the connection with 1009).
    pub max_message_bytes: usize,
    /// Messages waiting to be sent to one client; a client that lets it fill is disconnected
    /// (1008) so it cannot slow anyone else.
    pub outbound_queue: usize,
    /// How long one message may take to hand to a client's connection, in milliseconds, before
    /// the client is deemed too slow and disconnected.
    pub send_timeout_ms: u64,
    /// How often the server pings each client, in milliseconds.
    pub ping_interval_ms: u64,
    /// A client that sends nothing (not even a pong) for this long is closed, in milliseconds.
    pub idle_timeout_ms: u64,
    /// Invalid messages a client may send within a minute; one more closes it with 1008.
    pub max_invalid_messages: u32,
    /// Messages a client may send per second (a burst of as many is allowed); the excess is
    /// answered with `RATE_LIMITED`, not acted on, and counts as an invalid message.
    pub max_messages_per_second: u32,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_connections: 100,
            max_message_bytes: 64 * 1024,
            outbound_queue: 256,
            send_timeout_ms: 5_000,
            ping_interval_ms: 20_000,
            idle_timeout_ms: 60_000,
            max_invalid_messages: 10,
            max_messages_per_second: 50,
        }
    }
}

/// The `[server.auth]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether GET routes answer without a key once keys exist (execute and admin never do).
    pub public_reads: bool,
    /// Whether the Prometheus exposition at `/metrics` answers without a key (for a scraper
    /// that cannot send a bearer token); it shows counts and the machine's gauges, no names of
    /// resources or secrets.
    pub public_metrics: bool,
    /// Serve on a non-loopback address with no keys configured. Dangerous; logged loudly.
    pub allow_unauthenticated_public: bool,
    /// How long a WebSocket connection ticket stays valid, in seconds.
    pub ticket_ttl_secs: u64,
    /// Accept JWT bearer tokens too (keys still work).
    pub jwt: Option<jarvis_auth::JwtConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            public_reads: false,
            public_metrics: false,
            allow_unauthenticated_public: false,
            ticket_ttl_secs: 30,
            jwt: None,
        }
    }
}

/// The `[server.cors]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser (`https://app.example`); none by default.
    pub allowed_origins: Vec<String>,
    /// How long browsers may cache a preflight answer, in seconds.
    pub max_age_secs: usize,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            max_age_secs: 600,
        }
    }
}

impl ApiConfig {
    /// Whether `host` is a loopback address (or `localhost`): the only kind served with no
    /// API key configured, unless `auth.allow_unauthenticated_public` says otherwise.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            workers: 0,
            max_body_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout_secs: 5,
            keep_alive_secs: 5,
            max_connections: 1024,
            shutdown_timeout_secs: 30,
            cache: CacheConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            cors: CorsConfig::default(),
            websocket: WsConfig::default(),
        }
    }
}
