//! The error-code table: every error Jarvis reports to a client carries one of these codes.
//!
//! One table, so that a code's HTTP status, machine name and kind are decided in one place and can
//! never drift apart between crates. Every crate's error type implements [`ErrorCode`] to map its
//! variants onto this table; the HTTP layer turns the result into the response envelope.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares [`Code`] from one line per code: `Variant = ("WIRE_NAME", status, Kind)`, with
/// its documentation above it. The table order, wire name, HTTP status and family of a code are
/// written once; `ALL`, `name`, `http_status` and `kind` are generated from them.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($name:literal, $status:literal, $kind:ident),)*) => {
        /// A stable, machine-readable error code. The serialized form (`"RESOURCE_NOT_FOUND"`)
        /// is part of the public API: clients match on it, so a variant is never renamed.
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in table order. Used to render the documentation table and to test it.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The wire name, e.g. `RESOURCE_NOT_FOUND`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The HTTP status the code is answered with.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(Code::$variant => $status,)*
                }
            }

            /// The family the code belongs to.
            pub const fn kind(self) -> ErrorKind {
                match self {
                    $(Code::$variant => ErrorKind::$kind,)*
                }
            }
        }
    };
}

error_codes! {
    /// A query parameter, path segment or body field has the wrong type or is out of range.
    ValidationError = ("VALIDATION_ERROR", 400, InvalidRequest),
    /// The request body is not valid JSON, or not the JSON shape the route expects.
    MalformedBody = ("MALFORMED_BODY", 400, InvalidRequest),
    /// The addressed resource (agent, command, task, metric, process …) does not exist.
    ResourceNotFound = ("RESOURCE_NOT_FOUND", 404, InvalidRequest),
    /// No route matches the request path.
    RouteNotFound = ("ROUTE_NOT_FOUND", 404, InvalidRequest),
    /// A name matches several resources; the details list their ids.
    AmbiguousName = ("AMBIGUOUS_NAME", 409, InvalidRequest),
    /// The route exists but not for this HTTP method.
    MethodNotAllowed = ("METHOD_NOT_ALLOWED", 405, InvalidRequest),
    /// The request body is larger than the configured limit.
    PayloadTooLarge = ("PAYLOAD_TOO_LARGE", 413, InvalidRequest),
    /// The request body has a content type the route does not accept.
    UnsupportedMediaType = ("UNSUPPORTED_MEDIA_TYPE", 415, InvalidRequest),
    /// The request's URL (path and query) is longer than the configured limit.
    UriTooLong = ("URI_TOO_LONG", 414, InvalidRequest),
    /// The request's headers together are larger than the configured limit.
    HeadersTooLarge = ("HEADERS_TOO_LARGE", 431, InvalidRequest),
    /// No credentials, or credentials that do not match any key.
    Unauthorized = ("UNAUTHORIZED", 401, Auth),
    /// Valid credentials without the scope the route requires.
    Forbidden = ("FORBIDDEN", 403, Auth),
    /// The client exceeded its request budget.
    RateLimited = ("RATE_LIMITED", 429, InvalidRequest),
    /// A WebSocket message is not JSON, not a known message, malformed, or too large.
    InvalidMessage = ("INVALID_MESSAGE", 400, InvalidRequest),
    /// The server holds as many WebSocket connections as it allows; retry later.
    ConnectionLimit = ("CONNECTION_LIMIT", 503, System),
    /// A peer service (n8n, an MCP server, …) could not be reached or answered with an error.
    UpstreamUnavailable = ("UPSTREAM_UNAVAILABLE", 503, Upstream),
    /// A peer service did not answer in time.
    UpstreamTimeout = ("UPSTREAM_TIMEOUT", 504, Upstream),
    /// Calls to a peer are suspended because it failed repeatedly.
    CircuitOpen = ("CIRCUIT_OPEN", 503, Upstream),
    /// The workflow has no webhook trigger, so it cannot be started from outside.
    WorkflowNotTriggerable = ("WORKFLOW_NOT_TRIGGERABLE", 422, InvalidRequest),
    /// The workflow is inactive: its production webhook does not answer.
    WorkflowInactive = ("WORKFLOW_INACTIVE", 409, InvalidRequest),
    /// The task runner program is not installed or not executable.
    RunnerUnavailable = ("RUNNER_UNAVAILABLE", 503, System),
    /// The task has ended and can no longer be canceled.
    TaskNotCancelable = ("TASK_NOT_CANCELABLE", 409, InvalidRequest),
    /// The task's process exited with a failure or could not start.
    TaskFailed = ("TASK_FAILED", 500, System),
    /// The task ran past its timeout and was stopped.
    TaskTimedOut = ("TASK_TIMED_OUT", 504, System),
    /// The server stopped while the task ran.
    TaskInterrupted = ("TASK_INTERRUPTED", 500, System),
    /// The store (database) failed.
    StoreUnavailable = ("STORE_UNAVAILABLE", 503, System),
    /// The configuration is invalid; the message names the key.
    ConfigInvalid = ("CONFIG_INVALID", 500, System),
    /// The resource catalog could not be loaded at all.
    CatalogUnavailable = ("CATALOG_UNAVAILABLE", 503, System),
    /// System telemetry is turned off, or has not taken its first sample yet.
    TelemetryUnavailable = ("TELEMETRY_UNAVAILABLE", 503, System),
    /// The file or address named is one Jarvis does not analyse: outside the media folders (or
    /// none are configured), a link out of them, not a regular file, or an internal address.
    SourceForbidden = ("SOURCE_FORBIDDEN", 403, InvalidRequest),
    /// Content analysis is turned off, or ffmpeg/ffprobe is not installed (the message names it).
    AnalyzerUnavailable = ("ANALYZER_UNAVAILABLE", 503, System),
    /// Cost tracking is turned off (`costs.enabled = false`).
    CostsUnavailable = ("COSTS_UNAVAILABLE", 503, System),
    /// The knowledge base is turned off (`knowledge.enabled = false`).
    KnowledgeUnavailable = ("KNOWLEDGE_UNAVAILABLE", 503, System),
    /// The knowledge index is being built or rebuilt; answers would be partial. Retry after the
    /// `Retry-After` header.
    IndexRebuilding = ("INDEX_REBUILDING", 503, System),
    /// MCP health checks are turned off (`mcp.health_checks = false`): nothing is started.
    McpChecksDisabled = ("MCP_CHECKS_DISABLED", 409, InvalidRequest),
    /// An unexpected failure. Its cause is logged with the request id, never sent to the client.
    InternalError = ("INTERNAL_ERROR", 500, System),
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

    /// Structured details for the client (the field at fault, candidate ids, …), if any.
    fn error_details(&self) -> Option<serde_json::Value> {
        None
    }
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
