//! Tasks: every run of a slash command or an agent, from queue to end.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::code::Code;

/// What a task runs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A slash command.
    Command,
    /// An agent given a task.
    Agent,
    /// A content analysis (video, audio, text), run inside the server.
    Analysis,
}

impl TaskKind {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::Command => "command",
            TaskKind::Agent => "agent",
            TaskKind::Analysis => "analysis",
        }
    }
}

impl FromStr for TaskKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "command" => Ok(TaskKind::Command),
            "agent" => Ok(TaskKind::Agent),
            "analysis" => Ok(TaskKind::Analysis),
            other => Err(format!(
                "unknown task kind `{other}`; expected command, agent or analysis"
            )),
        }
    }
}

/// How urgent a task is. Higher runs first; equal priorities run in arrival order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever there is room.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before normal work.
    High,
    /// Before everything else.
    Urgent,
}

impl Priority {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

impl FromStr for Priority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Priority::Low),
            "normal" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            "urgent" => Ok(Priority::Urgent),
            other => Err(format!(
                "unknown priority `{other}`; expected urgent, high, normal or low"
            )),
        }
    }
}

/// Where a task is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for a slot.
    Queued,
    /// Its process runs.
    Running,
    /// The process exited with 0.
    Succeeded,
    /// The process exited otherwise, or could not start.
    Failed,
    /// Canceled by a client.
    Canceled,
    /// Ran past its timeout and was stopped.
    TimedOut,
    /// Was running when the server stopped unexpectedly.
    Interrupted,
}

impl TaskStatus {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Canceled => "canceled",
            TaskStatus::TimedOut => "timed_out",
            TaskStatus::Interrupted => "interrupted",
        }
    }

    /// Whether the task has ended.
    pub const fn is_final(self) -> bool {
        !matches!(self, TaskStatus::Queued | TaskStatus::Running)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => TaskStatus::Queued,
            "running" => TaskStatus::Running,
            "succeeded" => TaskStatus::Succeeded,
            "failed" => TaskStatus::Failed,
            "canceled" => TaskStatus::Canceled,
            "timed_out" => TaskStatus::TimedOut,
            "interrupted" => TaskStatus::Interrupted,
            other => return Err(format!("unknown task status `{other}`")),
        })
    }
}

/// Why a task did not succeed, in the same shape as an HTTP error.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    /// A code from the one table.
    pub code: Code,
    /// A sentence.
    pub message: String,
}

/// One task, as stored and as shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unique id.
    pub id: String,
    /// Command or agent.
    pub kind: TaskKind,
    /// The resource's qualified name (`tools:smart-debug`, `code-reviewer`).
    pub target: String,
    /// The resource's id at submission.
    pub resource_id: String,
    /// What was asked: arguments or the agent's task, and the client's context.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input: serde_json::Value,
    /// Urgency.
    pub priority: Priority,
    /// Where it is.
    pub status: TaskStatus,
    /// The order of submission, for FIFO within a priority.
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When its process started.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// The process's exit code.
    pub exit_code: Option<i32>,
    /// Why it did not succeed.
    pub error: Option<TaskError>,
    /// Standard output (head and tail when it exceeded the bound).
    pub stdout: String,
    /// Standard error (likewise).
    pub stderr: String,
    /// Whether output was cut to the bound.
    pub output_truncated: bool,
    /// Token usage the runner reported.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub usage: Option<serde_json::Value>,
    /// Cost in US dollars the runner reported.
    pub cost_usd: Option<f64>,
    /// The key that submitted it.
    pub submitted_by: String,
    /// What a task run inside the server (an analysis) produced.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
}

/// Where an n8n workflow execution triggered by Jarvis is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// The webhook accepted the call; n8n's execution is not found yet.
    Triggered,
    /// n8n runs it.
    Running,
    /// n8n waits (a Wait node, a form).
    Waiting,
    /// Finished successfully.
    Success,
    /// Finished with an error.
    Error,
    /// n8n crashed while running it.
    Crashed,
    /// Canceled in n8n.
    Canceled,
    /// Jarvis could not follow it to the end (n8n unreachable for too long, or never found).
    Unknown,
}

impl ExecutionStatus {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Triggered => "triggered",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Waiting => "waiting",
            ExecutionStatus::Success => "success",
            ExecutionStatus::Error => "error",
            ExecutionStatus::Crashed => "crashed",
            ExecutionStatus::Canceled => "canceled",
            ExecutionStatus::Unknown => "unknown",
        }
    }

    /// Whether it has ended.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Success
                | ExecutionStatus::Error
                | ExecutionStatus::Crashed
                | ExecutionStatus::Canceled
                | ExecutionStatus::Unknown
        )
    }
}

impl FromStr for ExecutionStatus {
    type Err = String;

    /// Jarvis's names, which include n8n's (`new` maps to running).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "triggered" => ExecutionStatus::Triggered,
            "running" | "new" => ExecutionStatus::Running,
            "waiting" => ExecutionStatus::Waiting,
            "success" => ExecutionStatus::Success,
            "error" => ExecutionStatus::Error,
            "crashed" => ExecutionStatus::Crashed,
            "canceled" => ExecutionStatus::Canceled,
            "unknown" => ExecutionStatus::Unknown,
            other => return Err(format!("unknown execution status `{other}`")),
        })
    }
}

/// A workflow execution Jarvis triggered and follows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowExecution {
    /// Jarvis's id.
    pub id: String,
    /// n8n's workflow id.
    pub workflow_id: String,
    /// The workflow's name.
    pub workflow_name: String,
    /// Sent in the webhook body as `jarvis_correlation_id`, to find n8n's execution.
    pub correlation_id: String,
    /// n8n's execution id, once found.
    pub n8n_execution_id: Option<String>,
    /// Where it is.
    pub status: ExecutionStatus,
    /// What the webhook answered.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub reply: Option<serde_json::Value>,
    /// Milliseconds since the epoch.
    pub started_at: i64,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Why it did not succeed, or could not be followed.
    pub error: Option<String>,
    /// Who triggered it.
    pub submitted_by: String,
}
