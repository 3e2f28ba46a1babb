//! n8n workflows as Jarvis runs them, beneath every door that triggers or watches one.
//!
//! - [`ExecutionFollower::trigger`]: the rules for triggering a workflow of the catalog (the
//!   parameters, the lookup with its ambiguity rule, webhook and active checks), the stored
//!   execution record, the webhook call.
//! - [`ExecutionFollower::follow`]: n8n's execution followed to its end, every change stored and
//!   then published; [`ExecutionFollower::shutdown`] ends every follow loop.
//! - [`ExecutionFollower::relay`]: on a store several instances share, the executions the
//!   others store, published here too.
//! - [`spawn_workflow_refresh`]: the catalog's list of workflows kept current from n8n's API,
//!   with the last list kept on disk for a start while n8n is down; it runs until its
//!   [`LoopHandle`] is dropped or stopped.
//!
//! Architecture invariant: knows nothing of HTTP. Store calls and file writes run on the
//! blocking pool; everything here needs a tokio runtime.

mod follower;
mod refresh;
mod trigger;

pub use follower::{EXECUTIONS_CHANNEL, ExecutionFollower, now_ms};
pub use jarvis_integrations::LoopHandle;
pub use refresh::{ORIGIN, spawn_workflow_refresh};
pub use trigger::{MAX_PARAMETERS, TriggerError, check_parameters};
