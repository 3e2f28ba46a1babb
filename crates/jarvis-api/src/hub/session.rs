//! One WebSocket connection: a single task that reads the client's frames, writes its queue,
//! pings it, and closes it — for idleness, slowness, abuse, a revoked key, or shutdown.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::web;
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseReason, ProtocolError, Session};
use bytestring::ByteString;
use jarvis_auth::{Principal, Scope};
use jarvis_core::{Code, ErrorCode};
use serde_json::json;
use tokio::sync::mpsc;

use super::protocol::{self, ClientMessage, Invalid, MAX_TOPICS, Topic};
use super::{Hub, Slot, close};
use crate::state::AppState;

/// Everything a connection needs.
pub(crate) struct Connection {
    pub hub: Hub,
    pub slot: Slot,
    pub principal: Principal,
    pub session: Session,
    pub stream: AggregatedMessageStream,
    pub state: web::Data<AppState>,
}

/// Unregisters the connection however its task ends.
struct Registration {
    hub: Hub,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

/// What the connection knows about its client.
struct Client {
    id: u64,
    hub: Hub,
    tx: mpsc::Sender<ByteString>,
    principal: Principal,
    state: web::Data<AppState>,
    invalid: VecDeque<Instant>,
    /// Messages the client may still send now, refilled at `max_messages_per_second`.
    budget: f64,
    refilled: Instant,
}

type CloseWith = (u16, String);

impl Client {
    /// Queues a reply to this client alone; a full queue means the client is too slow.
    fn send(&self, message: ByteString) -> Result<(), CloseWith> {
        match self.tx.try_send(message) {
            Ok(()) => {
                self.hub.count_sent();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.hub.count_slow();
                Err((
                    close::POLICY,
                    "too slow: the outbound queue is full".to_owned(),
                ))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
        }
    }

    /// Takes one message from the client's budget; `false` when it has none left.
    fn admit(&mut self) -> bool {
        let rate = f64::from(self.hub.config().max_messages_per_second.max(1));
        let now = self.hub.now();
        self.budget =
            (self.budget + now.duration_since(self.refilled).as_secs_f64() * rate).min(rate);
        self.refilled = now;
        if self.budget >= 1.0 {
            self.budget -= 1.0;
            true
        } else {
            false
        }
    }

    /// Answers an invalid message; too many within a minute close the connection.
    fn invalid(&mut self, reason: &str, id: Option<&str>) -> Result<(), CloseWith> {
        self.strike(Code::InvalidMessage, reason, id)
    }

    /// Counts a strike against the client and answers it with `code`; too many within a
    /// minute close the connection.
    fn strike(&mut self, code: Code, reason: &str, id: Option<&str>) -> Result<(), CloseWith> {
        self.hub.count_invalid();
        let now = self.hub.now();
        self.invalid.push_back(now);
        while self
            .invalid
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.invalid.pop_front();
        }
        let limit = self.hub.config().max_invalid_messages as usize;
        if self.invalid.len() > limit {
            self.hub.count_abusive();
            tracing::warn!(
                connection = self.id,
                principal = %self.principal.name,
                "closing a WebSocket client that keeps sending invalid messages"
            );
            return Err((
                close::POLICY,
                format!("more than {limit} invalid messages in a minute"),
            ));
        }
        self.send(protocol::error(code, reason, id))
    }

    fn topics(
        &mut self,
        names: &[String],
        id: Option<&str>,
    ) -> Result<Option<Vec<Topic>>, CloseWith> {
        if names.is_empty() || names.len() > MAX_TOPICS {
            self.invalid(&format!("`topics` must name 1 to {MAX_TOPICS} topics"), id)?;
            return Ok(None);
        }
        let mut topics = Vec::with_capacity(names.len());
        for name in names {
            match Topic::parse(name) {
                Ok(topic) => topics.push(topic),
                Err(Invalid(reason)) => {
                    self.invalid(&reason, id)?;
                    return Ok(None);
                }
            }
        }
        Ok(Some(topics))
    }

    async fn handle(&mut self, text: &str) -> Result<(), CloseWith> {
        if !self.admit() {
            let limit = self.hub.config().max_messages_per_second;
            return self.strike(
                Code::RateLimited,
                &format!("more than {limit} messages a second; this one was not acted on"),
                None,
            );
        }
        let message = match protocol::parse(text, self.hub.config().max_message_bytes) {
            Ok(message) => message,
            Err(Invalid(reason)) => return self.invalid(&reason, None),
        };
        match message {
            ClientMessage::Ping { id } => self.send(protocol::reply(
                "pong",
                json!({ "at_us": protocol::now_us() }),
                id.as_deref(),
            )),
            ClientMessage::Subscribe { topics, id } => {
                let id = id.as_deref();
                if !self.principal.allows(Scope::Read) {
                    return self.send(protocol::error(
                        Code::Forbidden,
                        "subscribing needs the `read` scope",
                        id,
                    ));
                }
                let Some(topics) = self.topics(&topics, id)? else {
                    return Ok(());
                };
                if topics.contains(&Topic::Metrics) && !self.hub.has_metrics() {
                    return self.send(protocol::error(
                        Code::TelemetryUnavailable,
                        "the `metrics` topic needs telemetry, which is turned off (telemetry.enabled = false)",
                        id,
                    ));
                }
                // A task topic names a task that exists; its current state follows the reply,
                // so a client subscribing to a finished task learns it has finished.
                let mut current = Vec::new();
                for topic in &topics {
                    if let Topic::Task(task_id) = topic {
                        match self.state.tasks.get(task_id).await {
                            Ok(task) => current.push((topic.clone(), task)),
                            Err(e) => {
                                return self.send(protocol::error(
                                    e.error_code(),
                                    &format!("cannot subscribe to `{topic}`: {e}"),
                                    id,
                                ));
                            }
                        }
                    }
                }
                let added = self.hub.subscribe(self.id, &topics);
                let names: Vec<String> = topics.iter().map(ToString::to_string).collect();
                self.send(protocol::reply(
                    "subscribed",
                    json!({ "topics": names }),
                    id,
                ))?;
                for (topic, task) in &current {
                    self.send(protocol::event(topic, "task", task))?;
                }
                // A new metrics subscriber sees the current state at once, not in 2 s.
                if added.contains(&Topic::Metrics)
                    && let Some(sample) = self.state.monitor.as_ref().and_then(|m| m.latest())
                {
                    self.send(protocol::event(&Topic::Metrics, "sample", sample.as_ref()))?;
                }
                Ok(())
            }
            ClientMessage::Unsubscribe { topics, id } => {
                let id = id.as_deref();
                let Some(topics) = self.topics(&topics, id)? else {
                    return Ok(());
                };
                self.hub.unsubscribe(self.id, &topics);
                let names: Vec<String> = topics.iter().map(ToString::to_string).collect();
                self.send(protocol::reply(
                    "unsubscribed",
                    json!({ "topics": names }),
                    id,
                ))
            }
            ClientMessage::Command {
                command,
                context,
                priority,
                id,
            } => {
                if !self.principal.allows(Scope::Execute) {
                    return self.send(protocol::error(
                        Code::Forbidden,
                        &format!(
                            "the key `{}` lacks the `execute` scope that running a command needs",
                            self.principal.name
                        ),
                        id.as_deref(),
                    ));
                }
                self.command(&command, context, priority.as_deref(), id.as_deref())
                    .await
            }
        }
    }

    /// Queues the command as a task, answers with it, subscribes this client to it, and sends
    /// its state as of the subscription (so no state change falls between the two).
    async fn command(
        &mut self,
        command: &str,
        context: Option<serde_json::Value>,
        priority: Option<&str>,
        id: Option<&str>,
    ) -> Result<(), CloseWith> {
        let spec = match crate::services::tasks::command_task(
            &self.state,
            command,
            context,
            priority,
            self.principal.name.clone(),
        ) {
            Ok(spec) => spec,
            Err(e) => return self.send(protocol::error(e.code, &e.message, id)),
        };
        // Audit lines name the connection and the client's id in place of a request id.
        // Request ids are plain characters only (they go into JSON unescaped): the client's id
        // is filtered to them.
        let client_id: String = id
            .unwrap_or("-")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(32)
            .collect();
        let request_id = format!("ws{}.{client_id}", self.id);
        let queued = crate::context::with_request_id(
            request_id,
            crate::services::tasks::queue(&self.state, spec),
        )
        .await;
        let task = match queued {
            Ok(task) => task,
            Err(e) => return self.send(protocol::error(e.code, &e.message, id)),
        };
        // The reply first, so it precedes every event of the task; then the subscription; then
        // the state as of the subscription, should it have moved in between.
        let topic = Topic::Task(task.id.as_str().into());
        self.send(protocol::reply(
            "task",
            json!({ "task": task, "subscribed": topic.to_string() }),
            id,
        ))?;
        self.hub.subscribe(self.id, std::slice::from_ref(&topic));
        if let Ok(now) = self.state.tasks.get(&task.id).await
            && now.status != task.status
        {
            self.send(protocol::event(&topic, "task", &now))?;
        }
        Ok(())
    }
}

enum Sent {
    Ok,
    Closed,
    TimedOut,
}

/// Hands `text` to the connection. The usual case — room in the connection's buffer — needs
/// no timer; only a send that has to wait is given `limit`.
async fn send_text(session: &mut Session, text: ByteString, limit: Duration) -> Sent {
    use std::future::Future;
    use std::task::Poll;

    let mut send = std::pin::pin!(session.text(text));
    let first = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
    let result = match first {
        Poll::Ready(result) => result,
        Poll::Pending => match tokio::time::timeout(limit, send).await {
            Ok(result) => result,
            Err(_) => return Sent::TimedOut,
        },
    };
    match result {
        Ok(()) => Sent::Ok,
        Err(_) => Sent::Closed,
    }
}

fn still_valid(principal: &Principal, state: &AppState) -> bool {
    // Anonymous callers exist only while no key does; JWTs are checked when presented.
    if principal.key_id == "anonymous" || principal.key_id.starts_with("jwt:") {
        return true;
    }
    state.keys.contains(&principal.key_id)
}

/// Runs the connection to its end.
pub(crate) async fn run(connection: Connection) {
    let Connection {
        hub,
        slot,
        principal,
        mut session,
        mut stream,
        state,
    } = connection;
    let config = hub.config().clone();
    let (id, mut rx, tx, kill) = hub.register();
    let _registration = Registration {
        hub: hub.clone(),
        id,
    };
    let mut shutdown = hub.shutdown_signal();
    let mut client = Client {
        id,
        hub: hub.clone(),
        tx,
        principal,
        state,
        invalid: VecDeque::new(),
        budget: f64::from(config.max_messages_per_second.max(1)),
        refilled: hub.now(),
    };
    tracing::debug!(connection = id, principal = %client.principal.name, "WebSocket connected");
    let heartbeat_ms = client
        .state
        .monitor
        .as_ref()
        .map(|m| m.config().live_interval_ms);
    let welcome = protocol::reply(
        "welcome",
        json!({
            "connection_id": id,
            "principal": client.principal.name,
            "scopes": client.principal.scopes,
            "topics": ["metrics", "tasks", "task:<id>", "workflows", "catalog", "services", "costs"],
            "heartbeat_ms": heartbeat_ms,
            "max_message_bytes": config.max_message_bytes,
        }),
        None,
    );
    let send_timeout = Duration::from_millis(config.send_timeout_ms.max(1));
    let idle_timeout = Duration::from_millis(config.idle_timeout_ms.max(1));
    let ping_every = Duration::from_millis(config.ping_interval_ms.max(10));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut echo_close: Option<Option<CloseReason>> = None;
    // Created once: re-creating them on every turn of the loop would re-register their wakers.
    let mut killed = std::pin::pin!(kill.wait());
    let mut stopping = std::pin::pin!(shutdown.changed());
    let outcome: Option<CloseWith> = match client.send(welcome) {
        Err(reason) => Some(reason),
        Ok(()) => loop {
            tokio::select! {
                biased;
                reason = &mut killed => break Some(reason),
                _ = &mut stopping => {
                    break Some((close::GOING_AWAY, "the server is shutting down".to_owned()));
                }
                out = rx.recv() => {
                    let Some(text) = out else { break None };
                    match send_text(&mut session, text, send_timeout).await {
                        Sent::Ok => {}
                        Sent::Closed => break None,
                        Sent::TimedOut => {
                            hub.count_slow();
                            break Some((close::POLICY, format!("too slow: a message waited more than {} ms to be sent", config.send_timeout_ms)));
                        }
                    }
                }
                frame = stream.recv() => match frame {
                    None => break None,
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        last_heard = Instant::now();
                        if let Err(reason) = client.handle(&text).await {
                            break Some(reason);
                        }
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        last_heard = Instant::now();
                        if let Err(reason) = client.invalid("binary messages are not accepted; send JSON text", None) {
                            break Some(reason);
                        }
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        last_heard = Instant::now();
                        if !matches!(tokio::time::timeout(send_timeout, session.pong(&bytes)).await, Ok(Ok(()))) {
                            break None;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => last_heard = Instant::now(),
                    Some(Ok(AggregatedMessage::Close(reason))) => {
                        echo_close = Some(reason);
                        break None;
                    }
                    Some(Err(e)) => {
                        let code = match e {
                            ProtocolError::Overflow => close::TOO_BIG,
                            _ => close::PROTOCOL,
                        };
                        tracing::debug!(connection = id, error = %e, "WebSocket protocol error");
                        break Some((code, e.to_string()));
                    }
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle_timeout {
                        hub.count_idle();
                        break Some((close::NORMAL, format!("idle: nothing received for {} ms", config.idle_timeout_ms)));
                    }
                    if !still_valid(&client.principal, &client.state) {
                        break Some((close::POLICY, "the API key was revoked".to_owned()));
                    }
                    if !matches!(tokio::time::timeout(send_timeout, session.ping(b"")).await, Ok(Ok(()))) {
                        break None;
                    }
                }
            }
        },
    };
    let reason = match (outcome, echo_close) {
        (Some((code, description)), _) => {
            tracing::debug!(connection = id, code, %description, "closing WebSocket");
            Some(Some(CloseReason {
                code: code.into(),
                description: Some(description),
            }))
        }
        // The client closed: answer with its own close frame, as the protocol asks.
        (None, Some(theirs)) => Some(theirs),
        (None, None) => None,
    };
    if let Some(reason) = reason {
        let _ = tokio::time::timeout(Duration::from_secs(1), session.close(reason)).await;
    }
    drop(slot);
}
