//! The `[tasks]` configuration section.

use serde::{Deserialize, Serialize};

/// How tasks run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// The runner's argv. Placeholders `{prompt}`, `{system_prompt}`, `{model}` and `{tools}`
    /// are replaced inside each element; an element whose placeholder has no value is left out.
    /// Executed directly, never through a shell.
    pub runner: Vec<String>,
    /// How many tasks run at once.
    pub concurrency: usize,
    /// How long a task may run before it is stopped, in seconds.
    pub timeout_secs: u64,
    /// How long a stopped task gets between TERM and KILL, in seconds.
    pub grace_secs: u64,
    /// How much of each of stdout and stderr is kept (head and tail halves), in bytes.
    pub max_output_bytes: usize,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            runner: [
                "claude",
                "-p",
                "{prompt}",
                "--output-format",
                "json",
                "--model={model}",
                "--append-system-prompt={system_prompt}",
                "--allowedTools={tools}",
            ]
            .map(str::to_owned)
            .to_vec(),
            concurrency: 2,
            timeout_secs: 1800,
            grace_secs: 5,
            max_output_bytes: 256 * 1024,
        }
    }
}
