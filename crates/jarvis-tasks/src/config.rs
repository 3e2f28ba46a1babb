//! The `[tasks]` configuration section.

use std::ffi::OsStr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How tasks run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// The runner's argv. Placeholders `{prompt}`, `{system_prompt}`, `{model}` and `{tools}`
    /// are replaced inside each element; an element whose placeholder has no value is left out.
    /// Executed directly, never through a shell.
    pub runner: Vec<String>,
    /// How many runner tasks (commands and agents) run at once. Jobs run in slots of their
    /// own ([`crate::Job::concurrency`]).
    pub concurrency: usize,
    /// How long a task may run before it is stopped, in seconds.
    pub timeout_secs: u64,
    /// How long a stopped task gets between TERM and KILL, in seconds.
    pub grace_secs: u64,
    /// How much of each of stdout and stderr is kept (head and tail halves), in bytes.
    pub max_output_bytes: usize,
    /// The folders a runner given by a bare name (`claude`) is looked up in, in order. Not
    /// read from the configuration file: the program that embeds the engine passes its own
    /// (the `jarvis` binary passes its `PATH`, through [`search_path`]). Empty, a bare name is
    /// never found and tasks are refused with `RUNNER_UNAVAILABLE`; a runner given by a path
    /// does not need it.
    #[serde(skip)]
    pub search_path: Vec<PathBuf>,
}

/// The folders of a `PATH`-style list (`/usr/local/bin:/usr/bin`), in order.
pub fn search_path(list: &OsStr) -> Vec<PathBuf> {
    std::env::split_paths(list).collect()
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
            search_path: Vec::new(),
        }
    }
}
