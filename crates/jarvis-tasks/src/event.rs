//! What the task bus carries: a leaf module, so that the engine and the relay between instances
//! both use it without importing each other.

use jarvis_core::Task;
use serde::Serialize;

/// What the bus carries: state changes (after they are stored) and output as it arrives.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskEvent {
    /// A task changed state; the view has no output (fetch the task for it).
    Changed {
        /// The task, output left out.
        task: Box<Task>,
        /// Whether it came from another instance sharing the store (which ran the task, and
        /// records what follows from its end, such as its cost).
        #[serde(skip)]
        relayed: bool,
    },
    /// A chunk of output.
    Output {
        /// The task id.
        id: String,
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The text (invalid UTF-8 replaced).
        chunk: String,
    },
    /// How far a job is.
    Progress {
        /// The task id.
        id: String,
        /// The stage, a word.
        stage: String,
        /// 0 to 100 within the stage.
        percent: f64,
    },
}
