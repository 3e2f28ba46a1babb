//! Jarvis domain types: the vocabulary every other Jarvis crate speaks.
//!
//! This crate sits at the bottom of the workspace. It holds the resource model (agents, slash
//! commands, skills, MCP servers, n8n workflows), their stable ids, the diagnostics produced when a
//! file cannot be fully understood, the one table of error codes that every HTTP error and failed
//! task is answered with, and the [`Secret`] wrapper that keeps credentials out of output.
//!
//! Architecture invariant: no I/O, no async runtime, no HTTP framework. Everything here is plain
//! data that can be built in a unit test, serialized, and compared. Higher crates add behaviour.
//!
//! # Example
//!
//! ```
//! use jarvis_core::{Code, ErrorKind, ResourceId, ResourceKind, Scope, Secret};
//!
//! // Ids are stable: the same definition in the same file always has the same id.
//! let id = ResourceId::derive(ResourceKind::Agent, Scope::User, "/home/me/.claude/agents/a.md", "a");
//! assert!(id.as_str().starts_with("agent_"));
//! assert_eq!(id, ResourceId::derive(ResourceKind::Agent, Scope::User, "/home/me/.claude/agents/a.md", "a"));
//!
//! // A secret never shows itself: not in Debug, Display or JSON.
//! let token = Secret::new("ghp_123");
//! assert_eq!(format!("{token} {token:?}"), "******** Secret(********)");
//! assert_eq!(serde_json::to_string(&token)?, r#""********""#);
//! assert_eq!(token.expose(), "ghp_123"); // only where it is used
//!
//! // Every error answered by the server has a stable code, an HTTP status and a kind.
//! assert_eq!((Code::CircuitOpen.name(), Code::CircuitOpen.http_status()), ("CIRCUIT_OPEN", 503));
//! assert_eq!(Code::CircuitOpen.kind(), ErrorKind::Upstream);
//! # Ok::<(), serde_json::Error>(())
//! ```

pub mod body;
pub mod clock;
pub mod code;
pub mod diagnostic;
pub mod id;
pub mod kind;
pub mod resource;
pub mod secret;
pub mod task;

pub use body::{Body, FrameSource, StoredBody};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, system_clock};
pub use code::{Code, ErrorCode, ErrorKind, panic_message};
pub use diagnostic::{Diagnostic, DiagnosticCode, Severity};
pub use id::ResourceId;
pub use resource::{
    AgentDetails, CommandDetails, Details, McpApproval, McpLaunch, McpServerDetails, McpTransport,
    Resource, ResourceKind, Scope, SkillDetails, SkillFile, UnknownKind, WebhookTrigger,
    WorkflowDetails,
};
pub use secret::{MASK, Secret, mask_secret_values, mask_url_password};
pub use task::{
    ExecutionStatus, Priority, Task, TaskError, TaskKind, TaskStatus, WorkflowExecution,
};
