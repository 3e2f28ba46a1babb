//! Jobs: tasks that run inside the server (a content analysis) instead of through the runner
//! program. A [`Job`] is registered for a [`jarvis_core::TaskKind`] when the engine starts; the
//! engine queues, prioritises, cancels, stores and announces its tasks like any other, and the
//! job reports progress and answers a result.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use jarvis_core::{Task, TaskError};
use serde_json::Value;
use tokio::sync::oneshot;

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done; the result is stored with the task.
    Succeeded(Value),
    /// Failed, with a code from the one table and a sentence.
    Failed(TaskError),
    /// Stopped after the cancel signal.
    Canceled,
    /// Stopped at its own time limit; the sentence says which.
    TimedOut(String),
}

/// The future a job runs as.
pub type JobFuture = Pin<Box<dyn Future<Output = JobOutcome> + Send>>;

/// Work the engine runs for tasks of one kind.
pub trait Job: Send + Sync + std::fmt::Debug {
    /// Runs `task` (its `input` holds what the client asked), reporting through `progress`,
    /// until done or until `cancel` fires (the job then stops what it started and answers
    /// [`JobOutcome::Canceled`]).
    fn run(&self, task: Task, progress: Progress, cancel: oneshot::Receiver<()>) -> JobFuture;

    /// How many of its tasks run at once. Jobs have slots of their own, apart from the
    /// runner's `tasks.concurrency`: a long job never holds back commands and agents.
    fn concurrency(&self) -> usize {
        1
    }
}

type Report = Arc<dyn Fn(&str, f64) + Send + Sync>;

/// Where a job reports how far it is (the engine announces `progress` events for its task).
#[derive(Clone)]
pub struct Progress {
    report: Report,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").finish_non_exhaustive()
    }
}

impl Progress {
    /// Progress handed to `report` as `(stage, percent)`.
    pub fn new(report: impl Fn(&str, f64) + Send + Sync + 'static) -> Progress {
        Progress {
            report: Arc::new(report),
        }
    }

    /// Reports `stage` (a word: `probing`, `analyzing`, …) and `percent` (0 to 100).
    pub fn report(&self, stage: &str, percent: f64) {
        (self.report)(stage, percent.clamp(0.0, 100.0));
    }
}
