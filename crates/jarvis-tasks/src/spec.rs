//! The rules a task request meets before it is queued, the same for every door (HTTP routes,
//! the WebSocket `command` message, the command line): a command line's shape, the bounds on
//! arguments and agent tasks, priorities, and the spec built from a command or an agent. Also
//! the two strings the engine hands out and reads back: the task id's shape and list cursors. A refusal is
//! [`EngineError::Invalid`], naming the field at fault.

use std::fmt;

use jarvis_core::{Details, Priority, Resource, TaskKind};
use serde_json::{Value, json};

use crate::engine::{EngineError, TaskSpec};
use crate::expand::{RunVars, command_prompt};

/// The longest argument string or agent task accepted, in characters.
pub const MAX_INPUT: usize = 32 * 1024;

/// The pattern of a task id: `task_` and 24 hex digits, from the server's own randomness.
pub const TASK_ID_PATTERN: &str = "^task_[0-9a-f]{24}$";

/// The length of every task id.
pub const TASK_ID_LEN: usize = 29;

/// The pattern of a task list cursor ([`TaskCursor`]).
pub const TASK_CURSOR_PATTERN: &str = "^t1\\.[0-9]{1,18}$";

/// A refusal naming the request field at fault.
fn invalid(field: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid {
        field,
        message: message.into(),
    }
}

/// The field a refusal names, if it is one.
#[cfg(test)]
fn field(error: &EngineError) -> &'static str {
    match error {
        EngineError::Invalid { field, .. } => field,
        _ => "",
    }
}

/// The characters a request's blanks are: what is trimmed around names and arguments.
const BLANKS: [char; 4] = [' ', '\t', '\r', '\n'];

/// A slash command line, `/name args`, split: the leading `/` is optional, blanks around both
/// parts are trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLine<'a> {
    /// The command's name, id or namespaced name (`tools:lint`).
    pub name: &'a str,
    /// Everything after the name (`$ARGUMENTS`).
    pub arguments: &'a str,
}

impl<'a> CommandLine<'a> {
    /// Splits `line`, refusing one without a name and arguments longer than [`MAX_INPUT`].
    pub fn parse(line: &'a str) -> Result<Self, EngineError> {
        let line = line.trim_matches(BLANKS);
        let line = line.strip_prefix('/').unwrap_or(line);
        let (name, arguments) = line.split_once(BLANKS).unwrap_or((line, ""));
        if name.is_empty() {
            return Err(invalid(
                "command",
                "`command` must name a slash command, like `/tools:lint src`",
            ));
        }
        check_len("command", arguments)?;
        Ok(CommandLine {
            name,
            arguments: arguments.trim_matches(BLANKS),
        })
    }
}

/// Refuses `value` when it is longer than [`MAX_INPUT`] characters.
pub fn check_len(field: &'static str, value: &str) -> Result<(), EngineError> {
    // Counting characters only matters once the bytes could exceed the bound.
    if value.len() > MAX_INPUT && value.chars().count() > MAX_INPUT {
        return Err(invalid(
            field,
            format!("`{field}` is longer than {MAX_INPUT} characters"),
        ));
    }
    Ok(())
}

/// The priority a request asked for: `normal` when it asked for none.
pub fn priority(raw: Option<&str>) -> Result<Priority, EngineError> {
    raw.map_or(Ok(Priority::Normal), |p| {
        p.parse().map_err(|e: String| invalid("priority", e))
    })
}

/// Refuses an agent task that is only blanks or longer than [`MAX_INPUT`].
pub fn check_agent_task(task: &str) -> Result<(), EngineError> {
    if task.trim_matches(BLANKS).is_empty() {
        return Err(invalid("task", "`task` must say what the agent should do"));
    }
    check_len("task", task)
}

/// Where a page of tasks ends: the sequence number of its last task, written `t1.<seq>`. The
/// next page starts below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCursor(pub i64);

impl TaskCursor {
    /// Reads a cursor this server issued.
    pub fn parse(raw: &str) -> Result<Self, EngineError> {
        raw.strip_prefix("t1.")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<i64>().ok())
            .map(TaskCursor)
            .ok_or_else(|| {
                invalid(
                    "cursor",
                    format!("`{raw}` is not a cursor this server issued"),
                )
            })
    }
}

impl fmt::Display for TaskCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t1.{}", self.0)
    }
}

fn model_of(model: Option<&str>) -> String {
    model
        .filter(|m| !m.is_empty() && *m != "inherit")
        .unwrap_or_default()
        .to_owned()
}

impl TaskSpec {
    /// The task that runs the command `resource` with `arguments`: its body with `$ARGUMENTS`
    /// expanded is the prompt; its `model` and `allowed-tools` go to the runner.
    pub fn command(
        resource: &Resource,
        arguments: &str,
        context: Option<Value>,
        priority: Priority,
        submitted_by: String,
    ) -> TaskSpec {
        let (model, tools) = match &resource.details {
            Details::Command(d) => (
                model_of(d.model.as_deref()),
                d.allowed_tools.clone().unwrap_or_default().join(","),
            ),
            _ => (String::new(), String::new()),
        };
        TaskSpec {
            kind: TaskKind::Command,
            target: resource.qualified_name.clone(),
            resource_id: resource.id.to_string(),
            input: json!({ "arguments": arguments, "context": context }),
            priority,
            vars: RunVars {
                prompt: command_prompt(&resource.body.text(), arguments),
                system_prompt: String::new(),
                model,
                tools,
            },
            submitted_by,
        }
    }

    /// The task that gives the agent `resource` the job `task`: the agent's body is the system
    /// prompt, the task (with `context` appended as JSON) the prompt; its `model` and `tools` go
    /// to the runner.
    pub fn agent(
        resource: &Resource,
        task: &str,
        context: Option<Value>,
        priority: Priority,
        submitted_by: String,
    ) -> TaskSpec {
        let (model, tools) = match &resource.details {
            Details::Agent(d) => (
                model_of(Some(&d.model)),
                d.tools.clone().unwrap_or_default().join(","),
            ),
            _ => (String::new(), String::new()),
        };
        let mut prompt = task.to_owned();
        if let Some(ctx) = context.as_ref().filter(|c| !c.is_null()) {
            prompt.push_str("\n\nContext:\n```json\n");
            prompt.push_str(&serde_json::to_string_pretty(ctx).unwrap_or_default());
            prompt.push_str("\n```\n");
        }
        TaskSpec {
            kind: TaskKind::Agent,
            target: resource.qualified_name.clone(),
            resource_id: resource.id.to_string(),
            input: json!({ "task": task, "context": context }),
            priority,
            vars: RunVars {
                prompt,
                system_prompt: resource.body.text(),
                model,
                tools,
            },
            submitted_by,
        }
    }
}

#[cfg(test)]
mod tests {
    use jarvis_core::{Code, ErrorCode};

    use super::*;

    #[test]
    fn a_command_line_splits_into_name_and_trimmed_arguments() {
        let line = CommandLine::parse("  /tools:lint \t src  lib \n").unwrap();
        assert_eq!(line.name, "tools:lint");
        assert_eq!(line.arguments, "src  lib");
        let bare = CommandLine::parse("review").unwrap();
        assert_eq!((bare.name, bare.arguments), ("review", ""));
        for empty in ["", "/", "  / x", "\n"] {
            let error = CommandLine::parse(empty).unwrap_err();
            assert_eq!(field(&error), "command", "{empty:?}");
        }
    }

    #[test]
    fn inputs_are_bounded_in_characters_not_bytes() {
        let wide = "é".repeat(MAX_INPUT);
        assert!(wide.len() > MAX_INPUT);
        assert!(check_len("arguments", &wide).is_ok());
        let error = check_len("arguments", &format!("{wide}x")).unwrap_err();
        assert_eq!(field(&error), "arguments");
        assert_eq!(error.error_code(), Code::ValidationError);
        assert_eq!(
            error.error_details(),
            Some(json!({ "parameter": "arguments" }))
        );
        let long = format!("/x {}", "a".repeat(MAX_INPUT + 1));
        assert_eq!(field(&CommandLine::parse(&long).unwrap_err()), "command");
    }

    #[test]
    fn agent_tasks_say_something() {
        assert_eq!(field(&check_agent_task(" \t\n").unwrap_err()), "task");
        assert!(check_agent_task("fix it").is_ok());
    }

    #[test]
    fn priorities_default_to_normal_and_unknown_ones_are_refused() {
        assert_eq!(priority(None).unwrap(), Priority::Normal);
        assert_eq!(priority(Some("urgent")).unwrap(), Priority::Urgent);
        assert_eq!(field(&priority(Some("asap")).unwrap_err()), "priority");
    }

    #[test]
    fn cursors_read_back_what_they_wrote_and_nothing_else() {
        let cursor = TaskCursor(42);
        assert_eq!(cursor.to_string(), "t1.42");
        assert_eq!(TaskCursor::parse("t1.42").unwrap(), cursor);
        for bad in [
            "t1.",
            "t1.-4",
            "t1.+4",
            "t2.4",
            "c1.4",
            "t1.99999999999999999999",
        ] {
            assert_eq!(
                field(&TaskCursor::parse(bad).unwrap_err()),
                "cursor",
                "{bad}"
            );
        }
    }

    #[test]
    fn the_task_id_pattern_fits_the_ids_the_store_issues() {
        let id = jarvis_store::new_id("task").unwrap();
        assert_eq!(id.len(), TASK_ID_LEN);
        let hex = id.strip_prefix("task_").unwrap();
        assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(TASK_ID_PATTERN, "^task_[0-9a-f]{24}$");
    }
}
