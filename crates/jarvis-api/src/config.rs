//! The `[server]` configuration section.

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
    /// How long in-flight requests may take to finish on shutdown, in seconds.
    pub shutdown_timeout_secs: u64,
    /// The response cache.
    pub cache: CacheConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            workers: 0,
            max_body_bytes: 256 * 1024,
            shutdown_timeout_secs: 30,
            cache: CacheConfig::default(),
        }
    }
}
