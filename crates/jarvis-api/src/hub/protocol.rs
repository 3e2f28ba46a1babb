//! The WebSocket protocol: JSON text messages with a `type`.
//!
//! Client to server: `ping`, `subscribe` / `unsubscribe` (`topics`), `command`; each may carry
//! an `id` (≤ 64 characters) that the reply echoes. Server to client: `welcome`, `pong`,
//! `subscribed`, `unsubscribed`, `task` (a command queued), `event` (`topic`, `event`,
//! `sent_at_us`, `data`), `error` (`code`, `message`).

use std::fmt;

use bytestring::ByteString;
use jarvis_core::Code;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The most topics one subscribe or unsubscribe may name.
pub const MAX_TOPICS: usize = 32;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Answered with `pong`.
    Ping {
        /// Echoed.
        #[serde(default)]
        id: Option<String>,
    },
    /// Start receiving events of these topics.
    Subscribe {
        /// `metrics`, `tasks`, `task:<id>`, `workflows`, `catalog`, `services`.
        topics: Vec<String>,
        /// Echoed.
        #[serde(default)]
        id: Option<String>,
    },
    /// Stop receiving events of these topics.
    Unsubscribe {
        /// As for subscribe.
        topics: Vec<String>,
        /// Echoed.
        #[serde(default)]
        id: Option<String>,
    },
    /// Run a slash command as a task (needs the `execute` scope).
    Command {
        /// `/name arguments…`
        command: String,
        /// Passed to the task.
        #[serde(default)]
        context: Option<Value>,
        /// `urgent`, `high`, `normal` (default), `low`.
        #[serde(default)]
        priority: Option<String>,
        /// Echoed.
        #[serde(default)]
        id: Option<String>,
    },
}

impl ClientMessage {
    /// The client's correlation id.
    pub fn id(&self) -> Option<&str> {
        match self {
            ClientMessage::Ping { id }
            | ClientMessage::Subscribe { id, .. }
            | ClientMessage::Unsubscribe { id, .. }
            | ClientMessage::Command { id, .. } => id.as_deref(),
        }
    }
}

/// A message the server refuses, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Parses one text message of at most `max_bytes`.
pub fn parse(text: &str, max_bytes: usize) -> Result<ClientMessage, Invalid> {
    if text.len() > max_bytes {
        return Err(Invalid(format!(
            "the message has {} bytes; the limit is {max_bytes}",
            text.len()
        )));
    }
    let message: ClientMessage = serde_json::from_str(text).map_err(|e| {
        Invalid(if e.is_syntax() || e.is_eof() {
            format!("the message is not JSON: {e}")
        } else {
            format!("the message is not one this server understands: {e}")
        })
    })?;
    if let Some(id) = message.id()
        && (id.is_empty() || id.chars().count() > 64)
    {
        return Err(Invalid("`id` must have 1 to 64 characters".into()));
    }
    Ok(message)
}

/// What a client subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// The system-metrics heartbeat.
    Metrics,
    /// Every task's state changes.
    Tasks,
    /// One task's state changes and output.
    Task(Box<str>),
    /// Workflow executions.
    Workflows,
    /// Catalog reloads.
    Catalog,
    /// Circuit-breaker state changes.
    Services,
    /// Cost entries recorded and budget thresholds crossed.
    Costs,
    /// Knowledge index updates.
    Knowledge,
}

impl Topic {
    /// Parses `metrics`, `tasks`, `task:<id>`, `workflows`, `catalog`, `services`, `costs` or
    /// `knowledge`.
    pub fn parse(text: &str) -> Result<Topic, Invalid> {
        Ok(match text {
            "metrics" => Topic::Metrics,
            "tasks" => Topic::Tasks,
            "workflows" => Topic::Workflows,
            "catalog" => Topic::Catalog,
            "services" => Topic::Services,
            "costs" => Topic::Costs,
            "knowledge" => Topic::Knowledge,
            other => match other.strip_prefix("task:") {
                Some(id)
                    if !id.is_empty()
                        && id.len() <= 64
                        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    Topic::Task(id.into())
                }
                _ => {
                    return Err(Invalid(format!(
                        "unknown topic `{other}`; topics are metrics, tasks, task:<id>, workflows, catalog, services, costs, knowledge"
                    )));
                }
            },
        })
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Metrics => f.write_str("metrics"),
            Topic::Tasks => f.write_str("tasks"),
            Topic::Task(id) => write!(f, "task:{id}"),
            Topic::Workflows => f.write_str("workflows"),
            Topic::Catalog => f.write_str("catalog"),
            Topic::Services => f.write_str("services"),
            Topic::Costs => f.write_str("costs"),
            Topic::Knowledge => f.write_str("knowledge"),
        }
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// An event for `topic`, serialized once for every subscriber.
pub fn event(topic: &Topic, event: &str, data: &impl Serialize) -> ByteString {
    #[derive(Serialize)]
    struct Event<'a, T> {
        r#type: &'static str,
        topic: String,
        event: &'a str,
        sent_at_us: u64,
        data: &'a T,
    }
    let text = serde_json::to_string(&Event {
        r#type: "event",
        topic: topic.to_string(),
        event,
        sent_at_us: now_us(),
        data,
    })
    .unwrap_or_else(|e| {
        error_text(
            Code::InternalError,
            &format!("cannot encode an event: {e}"),
            None,
        )
    });
    ByteString::from(text)
}

fn error_text(code: Code, message: &str, id: Option<&str>) -> String {
    let mut value = json!({ "type": "error", "code": code.name(), "message": message });
    if let Some(id) = id {
        value["id"] = json!(id);
    }
    value.to_string()
}

/// An `error` message.
pub fn error(code: Code, message: &str, id: Option<&str>) -> ByteString {
    ByteString::from(error_text(code, message, id))
}

/// A reply of `kind` with `fields`, echoing `id`.
pub fn reply(kind: &str, mut fields: Value, id: Option<&str>) -> ByteString {
    if !fields.is_object() {
        fields = json!({});
    }
    fields["type"] = json!(kind);
    if let Some(id) = id {
        fields["id"] = json!(id);
    }
    ByteString::from(fields.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_parsed_strictly() {
        let ok = [
            r#"{"type":"ping"}"#,
            r#"{"type":"ping","id":"a1"}"#,
            r#"{"type":"subscribe","topics":["metrics","task:task_ab12"]}"#,
            r#"{"type":"unsubscribe","topics":[]}"#,
            r#"{"type":"command","command":"/tools:lint src","priority":"high","context":{"pr":7}}"#,
        ];
        for text in ok {
            assert!(parse(text, 1024).is_ok(), "{text}");
        }
        let bad = [
            ("", "not JSON"),
            ("{", "not JSON"),
            ("[1,2]", "understands"),
            (r#"{"kind":"ping"}"#, "understands"),
            (r#"{"type":"dance"}"#, "understands"),
            (r#"{"type":"ping","extra":1}"#, "understands"),
            (r#"{"type":"subscribe"}"#, "understands"),
            (r#"{"type":"subscribe","topics":"metrics"}"#, "understands"),
            (r#"{"type":"command"}"#, "understands"),
            (r#"{"type":"ping","id":""}"#, "`id`"),
        ];
        for (text, reason) in bad {
            let Invalid(message) = parse(text, 1024).unwrap_err();
            assert!(message.contains(reason), "{text}: {message}");
        }
        let big = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(2000));
        assert!(parse(&big, 1024).unwrap_err().0.contains("limit is 1024"));
    }

    #[test]
    fn topics_round_trip_and_unknown_ones_are_named() {
        for text in [
            "metrics",
            "tasks",
            "task:task_0a1b",
            "workflows",
            "catalog",
            "services",
            "costs",
            "knowledge",
        ] {
            assert_eq!(Topic::parse(text).unwrap().to_string(), text);
        }
        for text in [
            "",
            "task:",
            "task:../x",
            "Metrics",
            "task:a b",
            "everything",
        ] {
            assert!(Topic::parse(text).is_err(), "{text}");
        }
    }
}
