//! Clients for the services Jarvis talks to, starting with n8n, and the content analyzer
//! (ffprobe and ffmpeg subprocesses, text statistics).
//!
//! Every outbound call goes through the same discipline: connect and total timeouts; retries
//! ([`RetrySchedule`], exponential with jitter and a maximum elapsed time) only where retrying is
//! safe; a [`CircuitBreaker`] per service that fails calls at once while the service is down;
//! and counters and latency percentiles per service ([`ServiceStats`]) for the health view.
//!
//! The retry rule (see [`retry::classify`]): retry when the request provably did not reach the
//! service (connection refused or reset before sending), or when the service answered 429
//! (after its `Retry-After`), 502, 503 or 504. Never retry any other 4xx. A timeout is retried
//! only for idempotent reads: a webhook call that timed out may have started its workflow, and
//! starting it twice is worse than reporting the timeout.
//!
//! Architecture invariant: API keys are `Secret`s; neither they nor upstream stack traces reach
//! logs, errors or clients.
//!
//! # Runtime
//!
//! Every `async fn` here (the [`N8nClient`] calls, the analyzer, the MCP checks, the registry's
//! checks) and every `spawn_*` function needs a [Tokio](https://docs.rs/tokio) runtime with its
//! I/O and time drivers enabled (`#[tokio::main]`, or a `Runtime` built with `enable_all`):
//! awaited in another executor, or with the drivers off, they panic with "there is no reactor
//! running". Building a client ([`N8nClient::new`]) needs no runtime. The [`CircuitBreaker`],
//! [`RetrySchedule`] and [`ServiceStats`] need none at all: they are plain synchronous types
//! any program can use around its own calls.
//!
//! # Example: the n8n client
//!
//! ```
//! use jarvis_integrations::{BreakerState, N8nClient, N8nConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use wiremock::{Mock, MockServer, ResponseTemplate, matchers::{method, path}};
//! # let n8n = MockServer::start().await;
//! # Mock::given(method("POST")).and(path("/webhook/pr-digest"))
//! #     .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "queued": 3 })))
//! #     .mount(&n8n).await;
//! # let base_url = n8n.uri();
//! // `base_url` is n8n's address, such as http://localhost:5678.
//! let client = N8nClient::new(&N8nConfig { base_url, ..N8nConfig::default() })?;
//!
//! let reply = client
//!     .trigger_webhook("POST", "pr-digest", &serde_json::json!({ "repo": "jarvis" }))
//!     .await?;
//! assert_eq!(reply.status, 200);
//! assert_eq!(reply.body["queued"], 3);
//!
//! // Every call went through the client's breaker and counters.
//! assert_eq!(client.breaker().state(), BreakerState::Closed);
//! assert_eq!(client.stats().view().calls, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Example: a circuit breaker around your own calls
//!
//! No runtime needed. Observe its state changes with [`CircuitBreaker::subscribe`]
//! (`try_recv` polls without a runtime; `recv().await` waits in one):
//!
//! ```
//! use jarvis_integrations::{BreakerConfig, BreakerState, CircuitBreaker};
//!
//! let breaker = CircuitBreaker::new("billing", BreakerConfig {
//!     failure_threshold: 2,
//!     ..BreakerConfig::default()
//! });
//! let mut changes = breaker.subscribe();
//!
//! for _ in 0..2 {
//!     let permit = breaker.acquire().expect("closed: calls go through");
//!     // … make the call; it failed because of the service:
//!     permit.failure();
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//! let wait = breaker.acquire().expect_err("open: calls fail at once");
//! assert!(wait.as_secs() > 0); // time left before a probe is let through
//!
//! let change = changes.try_recv()?;
//! assert_eq!((change.service.as_str(), change.state), ("billing", BreakerState::Open));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod analyzer;
pub mod background;
pub mod breaker;
mod child;
pub mod mcp;
pub mod n8n;
pub mod registry;
pub mod retry;
pub mod stats;

pub use background::LoopHandle;
pub use breaker::{BreakerConfig, BreakerEvent, BreakerState, CircuitBreaker, Permit};
pub use n8n::{N8nClient, N8nConfig, WebhookReply};
pub use registry::{Health, HealthEvent, ServiceRegistry, ServiceView};
pub use retry::RetrySchedule;
pub use stats::{ServiceStats, StatsView};

use std::time::Duration;

use jarvis_core::{Code, ErrorCode};

/// What an outbound call can end in.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The breaker is open: the call was not made.
    #[error("{service} is failing; calls are suspended for {} s", retry_after.as_secs().max(1))]
    CircuitOpen {
        /// The service.
        service: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The service could not be reached, or kept failing through the retries.
    #[error("{service} is unavailable: {reason}")]
    Unavailable {
        /// The service.
        service: String,
        /// Why, in words safe to show.
        reason: String,
    },
    /// The service did not answer in time.
    #[error("{service} did not answer within {} s", timeout.as_secs())]
    Timeout {
        /// The service.
        service: String,
        /// The limit.
        timeout: Duration,
    },
    /// The service answered with an error status that retrying cannot fix.
    #[error("{service} answered {status}: {message}")]
    Status {
        /// The service.
        service: String,
        /// The HTTP status.
        status: u16,
        /// The service's own message (never its stack trace).
        message: String,
    },
    /// The service answered something that is not what its API promises.
    #[error("{service} answered unexpectedly: {reason}")]
    Invalid {
        /// The service.
        service: String,
        /// What was wrong.
        reason: String,
    },
    /// The client is misconfigured.
    #[error("invalid configuration `{key}`: {reason}")]
    Config {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl ErrorCode for Error {
    fn error_code(&self) -> Code {
        match self {
            Error::CircuitOpen { .. } => Code::CircuitOpen,
            Error::Timeout { .. } => Code::UpstreamTimeout,
            Error::Unavailable { .. } | Error::Status { .. } | Error::Invalid { .. } => {
                Code::UpstreamUnavailable
            }
            Error::Config { .. } => Code::ConfigInvalid,
        }
    }
}

/// The integrations' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
