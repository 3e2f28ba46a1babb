//! Jarvis domain types: the vocabulary every other Jarvis crate speaks.
//!
//! This crate sits at the bottom of the workspace. It holds the resource model (agents, slash
//! commands, skills, MCP servers, n8n workflows), their stable ids, the diagnostics produced when a
//! file cannot be fully understood, the one table of error codes that every HTTP error and failed
//! task is answered with, and the [`Secret`] wrapper that keeps credentials out of output.
//!
//! Architecture invariant: no I/O, no async runtime, no HTTP framework. Everything here is plain
//! data that can be built in a unit test, serialized, and compared. Higher crates add behaviour.

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
