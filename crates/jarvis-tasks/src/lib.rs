//! The task engine: every run of a slash command or an agent is a task — queued by priority,
//! run through a configurable runner with a concurrency limit and a timeout, cancellable, its
//! every state change written to the store before it is announced on the event bus.
//!
//! - The runner is an argv template (`["claude", "-p", "{prompt}", …]`) executed directly, never
//!   through a shell: user input only ever becomes whole arguments.
//! - Each run gets its own process group, so cancel and timeout end the whole tree (TERM, then
//!   KILL after a grace period).
//! - Output is captured up to a bound (head and tail kept) and streamed as events.
//! - On start-up, tasks the store shows as running are marked `interrupted` and queued ones are
//!   queued again: nothing is lost across a crash.
//! - Several instances can share one store (PostgreSQL; `cluster`): each queues every queued
//!   task, the first to claim one in the store runs it, events are relayed to every instance,
//!   a cancel reaches the instance that runs the task, and the running tasks of an instance
//!   silent for longer than `dead_after` are interrupted by the others.
//! - Kinds registered with a [`Job`] (content analysis) run inside the server instead of
//!   through the runner, with the same queue, priorities, cancel, storage and events, plus
//!   `progress` events; their result is stored with the task.
//! - A runner never outlives the server: on Linux it gets the parent-death signal, and each
//!   runner's pid and start time are recorded so that the next start ends whatever is left of
//!   its process group (`process`).
//!
//! Architecture invariants: store calls run on the blocking pool; process waits and output reads
//! are async; nothing blocks the executor.
//!
//! # Example
//!
//! Run a command through a runner — here `echo`, standing in for `claude -p {prompt}` — and
//! watch it end. The engine needs a Tokio runtime (with the `process` and `time` drivers,
//! as `#[tokio::main]` gives):
//!
//! ```
//! use std::sync::Arc;
//! use jarvis_tasks::{Priority, RunVars, TaskConfig, TaskEngine, TaskEvent, TaskKind, TaskSpec, TaskStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = tempfile::tempdir()?;
//! let store = tokio::task::spawn_blocking({
//!     let path = data.path().join("jarvis.db");
//!     move || jarvis_store::SqliteStore::open(path)
//! })
//! .await??;
//!
//! let config = TaskConfig {
//!     runner: vec!["/bin/echo".into(), "ran: {prompt}".into()], // argv, never a shell
//!     concurrency: 1,
//!     ..TaskConfig::default()
//! };
//! let engine = TaskEngine::start(Arc::new(store), config).await?;
//! let mut events = engine.subscribe();
//!
//! let task = engine
//!     .submit(TaskSpec {
//!         kind: TaskKind::Command,
//!         target: "tools:lint".into(),
//!         resource_id: "command_1".into(),
//!         input: serde_json::json!({ "arguments": "src/" }),
//!         priority: Priority::Normal,
//!         vars: RunVars { prompt: "lint src/".into(), ..RunVars::default() },
//!         submitted_by: "docs".into(),
//!     })
//!     .await?;
//! assert_eq!(task.status, TaskStatus::Queued);
//!
//! // Every state change is stored, then announced.
//! loop {
//!     if let TaskEvent::Changed { task: changed, .. } = events.recv().await? {
//!         if changed.id == task.id && changed.status.is_final() {
//!             break;
//!         }
//!     }
//! }
//! let done = engine.get(&task.id).await?;
//! assert_eq!(done.status, TaskStatus::Succeeded);
//! assert_eq!(done.stdout, "ran: lint src/\n");
//! engine.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod cluster;
mod config;
mod engine;
mod event;
mod expand;
mod job;
mod output;
mod process;
mod spec;

pub use jarvis_core::{Priority, Task, TaskError, TaskKind, TaskStatus};

pub use cluster::InstanceSettings;
pub use config::{TaskConfig, search_path};
pub use engine::{EngineError, TaskEngine, TaskSpec, find_program};
pub use event::TaskEvent;
pub use expand::{RunVars, command_prompt, expand_argv, split_arguments};
pub use job::{Job, JobFuture, JobOutcome, Progress};
pub use spec::{
    CommandLine, MAX_INPUT, TASK_CURSOR_PATTERN, TASK_ID_LEN, TASK_ID_PATTERN, TaskCursor,
    check_agent_task, check_len, priority,
};
