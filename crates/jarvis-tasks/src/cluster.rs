//! This instance among others sharing one store: who it is, how it tells the others it is
//! alive, and the envelope its task events travel in between instances.
//!
//! On a store of its own (SQLite) an instance is alone: it records itself, and at start ends as
//! interrupted whatever its predecessors left running. On a shared store (PostgreSQL) it
//! heartbeats, ends the running tasks of instances silent for longer than `dead_after`, and
//! relays every task event to the others (and receives theirs) through the store's
//! notifications.

use std::time::Duration;

use jarvis_core::Task;
use jarvis_store::InstanceRecord;
use serde::{Deserialize, Serialize};

use crate::event::TaskEvent;

/// The notification channel task events and cancel requests travel on.
pub(crate) const CHANNEL: &str = "jarvis_tasks";

/// How this instance presents itself and watches the others.
#[derive(Debug, Clone)]
pub struct InstanceSettings {
    /// A label for people (`store.instance_name`, else the host name).
    pub name: Option<String>,
    /// How often to tell the others this instance is alive.
    pub heartbeat: Duration,
    /// How long an instance may stay silent before its running tasks are interrupted.
    pub dead_after: Duration,
}

impl Default for InstanceSettings {
    fn default() -> Self {
        InstanceSettings {
            name: None,
            heartbeat: Duration::from_secs(5),
            dead_after: Duration::from_secs(30),
        }
    }
}

impl InstanceSettings {
    /// The name it goes by: `name`, else the host name.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(host_name)
    }
}

/// This instance: a new id at every start (from the system's randomness), its host and pid.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) record: InstanceRecord,
    pub(crate) settings: InstanceSettings,
}

impl Instance {
    pub(crate) fn new(settings: InstanceSettings, now_ms: i64) -> jarvis_store::Result<Instance> {
        let host = host_name();
        Ok(Instance {
            record: InstanceRecord {
                id: jarvis_store::new_id("ins")?,
                name: settings.name.clone().unwrap_or_else(|| host.clone()),
                host,
                pid: std::process::id(),
                started_at: now_ms,
                heartbeat_at: now_ms,
                stopped_at: None,
            },
            settings,
        })
    }

    pub(crate) fn id(&self) -> &str {
        &self.record.id
    }
}

/// The machine's name, as the kernel has it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// What one instance tells the others.
#[derive(Debug, Serialize)]
pub(crate) struct Outgoing<'a> {
    /// The sending instance.
    pub(crate) origin: &'a str,
    /// A task event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) event: Option<&'a TaskEvent>,
    /// A request to cancel a task the receiver runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cancel: Option<&'a str>,
}

/// What one instance hears from another.
#[derive(Debug, Deserialize)]
pub(crate) struct Incoming {
    pub(crate) origin: String,
    #[serde(default)]
    pub(crate) event: Option<WireEvent>,
    #[serde(default)]
    pub(crate) cancel: Option<String>,
}

/// A [`TaskEvent`] as it travels.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum WireEvent {
    Changed {
        task: Box<Task>,
    },
    Output {
        id: String,
        stream: String,
        chunk: String,
    },
    Progress {
        id: String,
        stage: String,
        percent: f64,
    },
}

impl WireEvent {
    /// The event as this instance's bus carries it.
    pub(crate) fn into_event(self) -> TaskEvent {
        match self {
            WireEvent::Changed { task } => TaskEvent::Changed {
                task,
                relayed: true,
            },
            WireEvent::Output { id, stream, chunk } => TaskEvent::Output {
                id,
                stream: if stream == "stderr" {
                    "stderr"
                } else {
                    "stdout"
                },
                chunk,
            },
            WireEvent::Progress { id, stage, percent } => {
                TaskEvent::Progress { id, stage, percent }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_trip() {
        let event = TaskEvent::Output {
            id: "task_1".into(),
            stream: "stderr",
            chunk: "naïve\n".into(),
        };
        let text = serde_json::to_string(&Outgoing {
            origin: "ins_a",
            event: Some(&event),
            cancel: None,
        })
        .unwrap_or_default();
        let incoming: Incoming =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(incoming.origin, "ins_a");
        assert!(incoming.cancel.is_none());
        match incoming.event.map(WireEvent::into_event) {
            Some(TaskEvent::Output { id, stream, chunk }) => {
                assert_eq!(
                    (id.as_str(), stream, chunk.as_str()),
                    ("task_1", "stderr", "naïve\n")
                );
            }
            other => panic!("{other:?}"),
        }
        let cancel = serde_json::to_string(&Outgoing {
            origin: "ins_b",
            event: None,
            cancel: Some("task_2"),
        })
        .unwrap_or_default();
        let incoming: Incoming = serde_json::from_str(&cancel).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(incoming.cancel.as_deref(), Some("task_2"));
        assert!(incoming.event.is_none());
    }
}
