//! The error-code table: every error Jarvis reports to a client carries one of these codes.
//!
//! One table, so that a code's HTTP status, machine name and kind are decided in one place and can
//! never drift apart between crates. Every crate's error type implements [`ErrorCode`] to map its
//! variants onto this table; the HTTP layer turns the result into the response envelope.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. The serialized form (`"RESOURCE_NOT_FOUND"`) is part of
/// the public API: clients match on it, so a variant is never renamed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// A query parameter, path segment or body field has the wrong type or is out of range.
    ValidationError,
    /// The request body is not valid JSON, or not the JSON shape the route expects.
    MalformedBody,
    /// The addressed resource (agent, command, task, metric, process …) does not exist.
    ResourceNotFound,
    /// No route matches the request path.
    RouteNotFound,
    /// A name matches several resources; the details list their ids.
    AmbiguousName,
    /// The route exists but not for this HTTP method.
    MethodNotAllowed,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// The request body has a content type the route does not accept.
    UnsupportedMediaType,
    /// The request's URL (path and query) is longer than the configured limit.
    UriTooLong,
    /// The request's headers together are larger than the configured limit.
    HeadersTooLarge,
    /// No credentials, or credentials that do not match any key.
    Unauthorized,
    /// Valid credentials without the scope the route requires.
    Forbidden,
    /// The client exceeded its request budget.
    RateLimited,
    /// A WebSocket message is not JSON, not a known message, malformed, or too large.
    InvalidMessage,
    /// The server holds as many WebSocket connections as it allows; retry later.
    ConnectionLimit,
    /// A peer service (n8n, an MCP server, …) could not be reached or answered with an error.
    UpstreamUnavailable,
    /// A peer service did not answer in time.
    UpstreamTimeout,
    /// Calls to a peer are suspended because it failed repeatedly.
    CircuitOpen,
    /// The workflow has no webhook trigger, so it cannot be started from outside.
    WorkflowNotTriggerable,
    /// The workflow is inactive: its production webhook does not answer.
    WorkflowInactive,
    /// The task runner program is not installed or not executable.
    RunnerUnavailable,
    /// The task has ended and can no longer be canceled.
    TaskNotCancelable,
    /// The task's process exited with a failure or could not start.
    TaskFailed,
    /// The task ran past its timeout and was stopped.
    TaskTimedOut,
    /// The server stopped while the task ran.
    TaskInterrupted,
    /// The store (database) failed.
    StoreUnavailable,
    /// The configuration is invalid; the message names the key.
    ConfigInvalid,
    /// The resource catalog could not be loaded at all.
    CatalogUnavailable,
    /// System telemetry is turned off, or has not taken its first sample yet.
    TelemetryUnavailable,
    /// An unexpected failure. Its cause is logged with the request id, never sent to the client.
    InternalError,
}

/// Broad families of errors, for clients that only care whether to retry or fix their request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request was wrong; retrying it unchanged will fail again.
    InvalidRequest,
    /// Authentication or authorization failed.
    Auth,
    /// A dependency failed; retrying later may succeed.
    Upstream,
    /// Jarvis itself failed.
    System,
}

impl Code {
    /// Every code, in table order. Used to render the documentation table and to test it.
    pub const ALL: &'static [Code] = &[
        Code::ValidationError,
        Code::MalformedBody,
        Code::ResourceNotFound,
        Code::RouteNotFound,
        Code::AmbiguousName,
        Code::MethodNotAllowed,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::UriTooLong,
        Code::HeadersTooLarge,
        Code::Unauthorized,
        Code::Forbidden,
        Code::RateLimited,
        Code::InvalidMessage,
        Code::ConnectionLimit,
        Code::UpstreamUnavailable,
        Code::UpstreamTimeout,
        Code::CircuitOpen,
        Code::WorkflowNotTriggerable,
        Code::WorkflowInactive,
        Code::RunnerUnavailable,
        Code::TaskNotCancelable,
        Code::TaskFailed,
        Code::TaskTimedOut,
        Code::TaskInterrupted,
        Code::StoreUnavailable,
        Code::ConfigInvalid,
        Code::CatalogUnavailable,
        Code::TelemetryUnavailable,
        Code::InternalError,
    ];

    /// The wire name, e.g. `RESOURCE_NOT_FOUND`.
    pub const fn name(self) -> &'static str {
        match self {
            Code::ValidationError => "VALIDATION_ERROR",
            Code::MalformedBody => "MALFORMED_BODY",
            Code::ResourceNotFound => "RESOURCE_NOT_FOUND",
            Code::RouteNotFound => "ROUTE_NOT_FOUND",
            Code::AmbiguousName => "AMBIGUOUS_NAME",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::UriTooLong => "URI_TOO_LONG",
            Code::HeadersTooLarge => "HEADERS_TOO_LARGE",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Forbidden => "FORBIDDEN",
            Code::RateLimited => "RATE_LIMITED",
            Code::InvalidMessage => "INVALID_MESSAGE",
            Code::ConnectionLimit => "CONNECTION_LIMIT",
            Code::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Code::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Code::CircuitOpen => "CIRCUIT_OPEN",
            Code::WorkflowNotTriggerable => "WORKFLOW_NOT_TRIGGERABLE",
            Code::WorkflowInactive => "WORKFLOW_INACTIVE",
            Code::RunnerUnavailable => "RUNNER_UNAVAILABLE",
            Code::TaskNotCancelable => "TASK_NOT_CANCELABLE",
            Code::TaskFailed => "TASK_FAILED",
            Code::TaskTimedOut => "TASK_TIMED_OUT",
            Code::TaskInterrupted => "TASK_INTERRUPTED",
            Code::StoreUnavailable => "STORE_UNAVAILABLE",
            Code::ConfigInvalid => "CONFIG_INVALID",
            Code::CatalogUnavailable => "CATALOG_UNAVAILABLE",
            Code::TelemetryUnavailable => "TELEMETRY_UNAVAILABLE",
            Code::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status the code is answered with.
    pub const fn http_status(self) -> u16 {
        match self {
            Code::ValidationError | Code::MalformedBody | Code::InvalidMessage => 400,
            Code::Unauthorized => 401,
            Code::Forbidden => 403,
            Code::ResourceNotFound | Code::RouteNotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::AmbiguousName => 409,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::UriTooLong => 414,
            Code::HeadersTooLarge => 431,
            Code::RateLimited => 429,
            Code::TaskNotCancelable | Code::WorkflowInactive => 409,
            Code::WorkflowNotTriggerable => 422,
            Code::RunnerUnavailable | Code::StoreUnavailable => 503,
            Code::TaskFailed | Code::TaskInterrupted => 500,
            Code::TaskTimedOut => 504,
            Code::ConfigInvalid | Code::InternalError => 500,
            Code::UpstreamUnavailable
            | Code::CircuitOpen
            | Code::CatalogUnavailable
            | Code::TelemetryUnavailable
            | Code::ConnectionLimit => 503,
            Code::UpstreamTimeout => 504,
        }
    }

    /// The family the code belongs to.
    pub const fn kind(self) -> ErrorKind {
        match self {
            Code::ValidationError
            | Code::MalformedBody
            | Code::ResourceNotFound
            | Code::RouteNotFound
            | Code::AmbiguousName
            | Code::MethodNotAllowed
            | Code::PayloadTooLarge
            | Code::UnsupportedMediaType
            | Code::UriTooLong
            | Code::HeadersTooLarge
            | Code::TaskNotCancelable
            | Code::WorkflowNotTriggerable
            | Code::WorkflowInactive
            | Code::RateLimited
            | Code::InvalidMessage => ErrorKind::InvalidRequest,
            Code::Unauthorized | Code::Forbidden => ErrorKind::Auth,
            Code::UpstreamUnavailable | Code::UpstreamTimeout | Code::CircuitOpen => {
                ErrorKind::Upstream
            }
            Code::ConfigInvalid
            | Code::CatalogUnavailable
            | Code::TelemetryUnavailable
            | Code::ConnectionLimit
            | Code::InternalError
            | Code::RunnerUnavailable
            | Code::TaskFailed
            | Code::TaskTimedOut
            | Code::TaskInterrupted
            | Code::StoreUnavailable => ErrorKind::System,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Implemented by every crate's error type so that the HTTP layer (and the task engine, which
/// stores failures in the same shape) can answer any error without knowing where it came from.
pub trait ErrorCode {
    /// The table entry for this error.
    fn error_code(&self) -> Code;
}

/// The message a caught panic carried (`panic!("…")` or a formatted one), if any: for logging a
/// failure that `catch_unwind` turned back into an error.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        let literal = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*literal), Some("plain"));
        let formatted = std::panic::catch_unwind(|| panic!("n = {}", 3)).unwrap_err();
        assert_eq!(panic_message(&*formatted), Some("n = 3"));
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_message(&*other), None);
    }

    #[test]
    fn names_match_serde_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.name()));
            assert!(seen.insert(code.name()), "duplicate name {}", code.name());
            let status = code.http_status();
            assert!((400..600).contains(&status), "{code} has status {status}");
        }
    }

    #[test]
    fn client_errors_are_4xx_and_system_errors_5xx() {
        for code in Code::ALL {
            match code.kind() {
                ErrorKind::InvalidRequest | ErrorKind::Auth => {
                    assert!(code.http_status() < 500, "{code}")
                }
                ErrorKind::Upstream | ErrorKind::System => {
                    assert!(code.http_status() >= 500, "{code}")
                }
            }
        }
    }
}
