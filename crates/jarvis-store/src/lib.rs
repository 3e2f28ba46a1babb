//! Persistence for Jarvis.
//!
//! [`Store`] is the interface the rest of Jarvis uses. [`SqliteStore`] implements it over one
//! SQLite file in the data folder (WAL mode), the default for one instance; [`PostgresStore`]
//! over a PostgreSQL database that several instances share. Both apply the same migrations at
//! start-up (one list in SQL both dialects accept; PostgreSQL applies it under an advisory lock,
//! so instances starting together apply each once), and both pass one conformance suite
//! (`tests/it/conformance.rs`).
//!
//! Architecture invariants: every method is blocking — async callers use `spawn_blocking`; a
//! database that is corrupt or cannot be written stops start-up with a message naming the file
//! (or the address, never its password), and is never replaced or recreated silently.
//!
//! # Example
//!
//! Open the store a configuration names (SQLite in the data folder unless `url` is a
//! PostgreSQL address), keep a task, and read it back:
//!
//! ```
//! use jarvis_store::{Priority, StoreConfig, Task, TaskFilter, TaskKind, TaskStatus, new_id};
//!
//! let data = tempfile::tempdir()?;
//! let store = jarvis_store::open(&StoreConfig::default(), data.path())?; // applies migrations
//! assert!(data.path().join("jarvis.db").is_file());
//!
//! let task = Task {
//!     id: new_id("task")?, // ids come from the store's randomness, never from a client
//!     kind: TaskKind::Command,
//!     target: "tools:lint".into(),
//!     resource_id: "command_1".into(),
//!     input: serde_json::json!({ "arguments": "src/" }),
//!     priority: Priority::Normal,
//!     status: TaskStatus::Queued,
//!     seq: store.next_seq()?,
//!     created_at: 1_764_000_000_000,
//!     started_at: None,
//!     finished_at: None,
//!     exit_code: None,
//!     error: None,
//!     stdout: String::new(),
//!     stderr: String::new(),
//!     output_truncated: false,
//!     usage: None,
//!     cost_usd: None,
//!     submitted_by: "ci".into(),
//!     result: None,
//! };
//! store.insert_task(&task)?;
//!
//! assert_eq!(store.get_task(&task.id)?, Some(task.clone()));
//! let queued = store.list_tasks(&TaskFilter {
//!     status: Some(TaskStatus::Queued),
//!     limit: 10,
//!     ..TaskFilter::default()
//! })?;
//! assert_eq!(queued.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every method blocks on the database: from async code, call the store on
//! `tokio::task::spawn_blocking`.

mod config;
mod migrations;
mod pg;
mod sqlite;

use std::path::PathBuf;

use jarvis_core::{Code, ErrorCode};

pub use jarvis_core::{
    ExecutionStatus, Priority, Task, TaskError, TaskKind, TaskStatus, WorkflowExecution,
};

pub use config::{DatabaseUrl, StoreConfig, open, valid_instance_name};
pub use pg::PostgresStore;
pub use sqlite::SqliteStore;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database file cannot be opened or written.
    #[error("cannot use the database {path}: {reason}")]
    Unavailable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not a healthy database.
    #[error(
        "the database {path} is corrupt ({reason}); move it aside to start afresh, or restore a backup"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the check said.
        reason: String,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Query(String),
    /// A call to the database, run on a blocking thread, did not come back: the thread
    /// panicked or the runtime is shutting down. Whether the call took effect is unknown.
    #[error("a database call did not finish: {0}")]
    Interrupted(String),
    /// A stored row could not be read back.
    #[error("a stored row is unreadable: {0}")]
    Decode(String),
    /// The operating system gave no randomness for a new id.
    #[error("no randomness for a new id: {0}")]
    Random(String),
}

impl ErrorCode for Error {
    fn error_code(&self) -> Code {
        Code::StoreUnavailable
    }
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A new key for a stored row: `{prefix}_` and 24 hex digits (96 bits) from the operating
/// system's randomness. Every id the store keeps comes from here; a value a client sent (a
/// request id, a name) is at most a label beside it.
pub fn new_id(prefix: &str) -> Result<String> {
    use std::fmt::Write as _;
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    let mut id = String::with_capacity(prefix.len() + 25);
    id.push_str(prefix);
    id.push('_');
    for byte in bytes {
        let _ = write!(id, "{byte:02x}");
    }
    Ok(id)
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this kind.
    pub kind: Option<TaskKind>,
    /// At most this many (newest first).
    pub limit: usize,
    /// Only tasks submitted before this sequence number (the cursor).
    pub before_seq: Option<i64>,
}

/// One bucket of a metric's history, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricBucket {
    /// The instance that sampled it (`store.instance_name`, else its host name) when several
    /// share the store; empty on a store of one instance's own.
    pub instance: String,
    /// The metric's name.
    pub metric: String,
    /// The width of the bucket (its tier), in seconds.
    pub step_secs: i64,
    /// The bucket's start, in Unix seconds.
    pub start: i64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// The sum of the samples.
    pub sum: f64,
    /// How many samples.
    pub count: i64,
}

/// The process that ran a task's runner, as recorded while it runs: enough to find its process
/// group again after a crash, and never to mistake another process for it (a pid the system
/// has reused has another start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerProcess {
    /// The runner's pid, which is also its process group id.
    pub pid: u32,
    /// When it started, in clock ticks after boot (`/proc/<pid>/stat`, field 22).
    pub start_ticks: u64,
}

/// A cost entry as stored (see `jarvis-costs` for what each field means). Amounts are integer
/// nano-dollars; token counts and file identities fit `BIGINT`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CostRow {
    /// `cst_` and 24 hex digits.
    pub id: String,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// `claude_code`, `task`, `workflow` or `manual`.
    pub source: String,
    /// The model.
    pub model: Option<String>,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cache writes, all.
    pub cache_write_tokens: i64,
    /// Cache writes kept 5 minutes.
    pub cache_write_5m_tokens: i64,
    /// Cache writes kept 1 hour.
    pub cache_write_1h_tokens: i64,
    /// Cache reads.
    pub cache_read_tokens: i64,
    /// The cost when recorded.
    pub cost_nanos: i64,
    /// The cost the source reported.
    pub reported_nanos: Option<i64>,
    /// Computed from tokens.
    pub computed: bool,
    /// The model had no price.
    pub unpriced: bool,
    /// Fast mode.
    pub fast: bool,
    /// A side conversation's copy.
    pub sidechain: bool,
    /// The project.
    pub project: String,
    /// The session.
    pub session: String,
    /// The agent.
    pub agent: Option<String>,
    /// The category.
    pub category: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// A description.
    pub description: Option<String>,
    /// The response's message id.
    pub message_id: Option<String>,
    /// The response's request id.
    pub request_id: Option<String>,
    /// The recorder's idempotency key (unique).
    pub idempotency_key: Option<String>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was recorded, in Unix milliseconds.
    pub recorded_at: i64,
}

/// How far a usage log has been read: its identity, the offset of the first byte not read,
/// and a hash of its first bytes (which tells a rewritten file from the one read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageFileCursor {
    /// The device.
    pub dev: u64,
    /// The inode.
    pub ino: u64,
    /// Bytes read.
    pub offset: u64,
    /// The hash of the first bytes.
    pub head: u64,
    /// How many bytes the hash covers.
    pub head_len: u32,
}

/// Which cost entries to list.
#[derive(Debug, Clone, Default)]
pub struct CostFilter {
    /// From this moment (Unix milliseconds, inclusive).
    pub since_ms: Option<i64>,
    /// Before this moment (exclusive).
    pub until_ms: Option<i64>,
    /// Only this source.
    pub source: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
    /// Only entries before this one in that order (its time and id: the cursor).
    pub before: Option<(i64, String)>,
}

/// One running Jarvis, as recorded in the store: several instances sharing a PostgreSQL
/// database see one another here, and a start after a crash sees its predecessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    /// `ins_` and 24 hex digits, new at every start.
    pub id: String,
    /// A label (`store.instance_name`, else the host name).
    pub name: String,
    /// The host name.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it started, in Unix milliseconds.
    pub started_at: i64,
    /// Its last heartbeat, in Unix milliseconds by the database's clock.
    pub heartbeat_at: i64,
    /// When it stopped, or was found dead by another instance.
    pub stopped_at: Option<i64>,
}

/// A running task whose instance is gone, now stored as interrupted.
#[derive(Debug, Clone, PartialEq)]
pub struct OrphanedTask {
    /// The task, as now stored.
    pub task: Task,
    /// Its runner as recorded, to end when it runs on this host.
    pub runner: Option<RunnerProcess>,
    /// The host of the instance that ran it (`None` when unknown).
    pub host: Option<String>,
}

/// A notification from another instance (or this one) through the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel.
    pub channel: String,
    /// The payload, whole (a large one was fetched by its id).
    pub payload: String,
}

/// What receives notifications; called on the listener's own thread.
pub type NotificationSink = Box<dyn Fn(Notification) + Send + Sync>;

/// Listens for notifications until dropped.
pub trait Listener: Send + std::fmt::Debug {}

/// An API key as stored when several instances share the store: everything but the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// The key's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes, by name.
    pub scopes: Vec<String>,
    /// When it was created, in Unix seconds.
    pub created_at: i64,
    /// Hex SHA-256 of the whole key.
    pub sha256: String,
}

impl std::fmt::Debug for ApiKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A WebSocket ticket as stored when several instances share the store (so that a ticket
/// issued by one is redeemed by whichever the connection reaches): its hash, never itself.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketRow {
    /// Hex SHA-256 of the ticket.
    pub sha256: String,
    /// Who it stands for, as JSON.
    pub principal: String,
    /// When it expires, in Unix milliseconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for TicketRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketRow")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Everything Jarvis persists.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Records a new task.
    fn insert_task(&self, task: &Task) -> Result<()>;
    /// Saves a task's new state.
    fn update_task(&self, task: &Task) -> Result<()>;
    /// A task by id.
    fn get_task(&self, id: &str) -> Result<Option<Task>>;
    /// Tasks, newest first.
    fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>>;
    /// Tasks that had not ended (queued or running), oldest first: what a restart resumes.
    fn unfinished_tasks(&self) -> Result<Vec<Task>>;
    /// Records the runner process of a running task (`None` forgets it once it has ended).
    fn set_task_runner(&self, id: &str, runner: Option<RunnerProcess>) -> Result<()>;
    /// The recorded runner of every task still marked running, oldest first: what a restart
    /// after a crash must end.
    fn running_task_runners(&self) -> Result<Vec<(String, RunnerProcess)>>;
    /// Reserves the next submission sequence number: above every stored task's, and never the
    /// same twice, whichever instance asks.
    fn next_seq(&self) -> Result<i64>;
    /// Marks a queued task running on `instance`, if it is still queued and no other instance
    /// is claiming it at this moment; answers the task as stored then, or `None`.
    fn claim_task(&self, id: &str, instance: &str, started_at: i64) -> Result<Option<Task>>;
    /// Marks a queued task canceled, if it is still queued; answers it as stored then.
    fn cancel_queued_task(&self, id: &str, finished_at: i64) -> Result<Option<Task>>;
    /// Saves the end of a task `instance` runs: only while it is still stored as running on
    /// `instance` (not found dead and interrupted meanwhile). Answers whether it was saved.
    fn finish_task(&self, task: &Task, instance: &str) -> Result<bool>;
    /// Marks interrupted, with `error`, every running task whose instance is gone: stopped,
    /// silent for longer than `dead_after_ms` (by the database's clock), or — with `None` —
    /// any instance but `me` (one instance on a store of its own). Those instances are recorded
    /// as stopped. Answers the tasks interrupted, each once, whichever instance asks.
    fn interrupt_orphaned_tasks(
        &self,
        me: &str,
        dead_after_ms: Option<i64>,
        error: &TaskError,
        finished_at: i64,
    ) -> Result<Vec<OrphanedTask>>;
    /// Whether several instances may share this store (they then claim tasks and relay events
    /// through it).
    fn shared(&self) -> bool {
        false
    }
    /// Records a starting instance.
    fn register_instance(&self, instance: &InstanceRecord) -> Result<()>;
    /// Records that `id` is alive; answers `false` when it had been found dead (its running
    /// tasks were interrupted) — it is alive again from now on.
    fn heartbeat(&self, id: &str) -> Result<bool>;
    /// Records that `id` stopped.
    fn stop_instance(&self, id: &str, at_ms: i64) -> Result<()>;
    /// Every recorded instance, newest first, at most `limit`.
    fn list_instances(&self, limit: usize) -> Result<Vec<InstanceRecord>>;
    /// Every API key, oldest first.
    fn load_api_keys(&self) -> Result<Vec<ApiKeyRow>>;
    /// Records a new API key.
    fn insert_api_key(&self, key: &ApiKeyRow) -> Result<()>;
    /// Deletes the API key `id`; answers whether there was one.
    fn delete_api_key(&self, id: &str) -> Result<bool>;
    /// Records a ticket, and forgets those expired before `now_ms`.
    fn insert_ticket(&self, ticket: &TicketRow, now_ms: i64) -> Result<()>;
    /// Takes the ticket with this hash: whoever asks first gets it, once; `None` when there is
    /// none. Whether it has expired is the caller's to check.
    fn take_ticket(&self, sha256: &str) -> Result<Option<TicketRow>>;
    /// Sends `payload` on `channel` to every listener of every instance (this one's too).
    /// A store with one instance has nobody else to tell and does nothing.
    fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        let _ = (channel, payload);
        Ok(())
    }
    /// Calls `sink` with every notification on `channels`, on a thread of its own, until the
    /// answer is dropped; `None` when the store relays nothing (one instance).
    fn listen(
        &self,
        channels: &[&str],
        sink: NotificationSink,
    ) -> Result<Option<Box<dyn Listener>>> {
        let _ = (channels, sink);
        Ok(None)
    }
    /// How many stored tasks are in each status (statuses with none are absent).
    fn count_tasks_by_status(&self) -> Result<Vec<(TaskStatus, u64)>>;
    /// Records a triggered workflow execution.
    fn insert_execution(&self, execution: &WorkflowExecution) -> Result<()>;
    /// Saves an execution's new state.
    fn update_execution(&self, execution: &WorkflowExecution) -> Result<()>;
    /// An execution by id.
    fn get_execution(&self, id: &str) -> Result<Option<WorkflowExecution>>;
    /// Executions, newest first: `in_flight` true for those not ended, false for history.
    fn list_executions(
        &self,
        in_flight: Option<bool>,
        status: Option<ExecutionStatus>,
        limit: usize,
    ) -> Result<Vec<WorkflowExecution>>;
    /// Writes metric buckets in one transaction, replacing stored buckets with the same metric,
    /// step and start (a flush writes each bucket's whole state).
    fn save_metric_buckets(&self, buckets: &[MetricBucket]) -> Result<()>;
    /// Every stored metric bucket, oldest first.
    fn load_metric_buckets(&self) -> Result<Vec<MetricBucket>>;
    /// The buckets of one instance's `metric`, oldest first.
    fn load_metric_buckets_of(&self, instance: &str, metric: &str) -> Result<Vec<MetricBucket>> {
        let mut all = self.load_metric_buckets()?;
        all.retain(|b| b.instance == instance && b.metric == metric);
        Ok(all)
    }
    /// The instances that have stored metric history, by name.
    fn metric_instances(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .load_metric_buckets()?
            .into_iter()
            .map(|b| b.instance)
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }
    /// Deletes the buckets of one step that start before `before`; answers how many went.
    fn prune_metric_buckets(&self, step_secs: i64, before: i64) -> Result<usize>;
    /// Writes cost entries (replacing stored ones with the same id) and usage-log cursors
    /// (replacing, or forgetting those named in `forgotten`) in one transaction, so that a
    /// crash never keeps entries without the cursor that read them, or the reverse.
    fn save_costs(
        &self,
        rows: &[CostRow],
        cursors: &[(String, UsageFileCursor)],
        forgotten: &[String],
    ) -> Result<()>;
    /// Every cost entry, oldest first, handed to `visit` one at a time (a ledger of a million
    /// entries is never held twice); the first error `visit` answers stops the read.
    fn load_costs(&self, visit: &mut dyn FnMut(CostRow) -> Result<()>) -> Result<()>;
    /// Every usage-log cursor, by path.
    fn load_usage_cursors(&self) -> Result<Vec<(String, UsageFileCursor)>>;
    /// Cost entries, newest first.
    fn list_costs(&self, filter: &CostFilter) -> Result<Vec<CostRow>>;
    /// A cost entry by id.
    fn get_cost(&self, id: &str) -> Result<Option<CostRow>>;
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn new_ids_are_prefixed_random_hex() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| new_id("wfx").unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let hex = id.strip_prefix("wfx_").unwrap();
            assert_eq!(hex.len(), 24, "{id}");
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }
}
