//! The WebSocket hub with real WebSocket clients (tokio-tungstenite) against the real server.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jarvis_api::{ApiConfig, KeyStore, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{Spawn, TestApp, post, spawn_app};

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// A refused handshake: the status and the envelope.
#[derive(Debug)]
struct Refused {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

async fn connect_with(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    recv_buffer: Option<u32>,
) -> Result<Ws, Refused> {
    let address = app.base.trim_start_matches("http://");
    let mut request = format!("ws://{address}{path}")
        .into_client_request()
        .unwrap();
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let stream = socket.connect(address.parse().unwrap()).await.unwrap();
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(Refused {
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                .unwrap_or(Value::Null),
        }),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

async fn connect(app: &TestApp, path: &str, key: Option<&str>) -> Result<Ws, Refused> {
    connect_with(app, path, key, None).await
}

/// Connects and reads the welcome.
pub(crate) async fn open(app: &TestApp, key: Option<&str>) -> Ws {
    let mut ws = connect(app, "/ws", key).await.unwrap();
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws
}

pub(crate) async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The next JSON message, skipping pings and pongs; panics on close or after 10 s.
pub(crate) async fn next_json(ws: &mut Ws) -> Value {
    let deadline = Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout(deadline, ws.next())
            .await
            .expect("no message within 10 s")
            .expect("the connection ended")
            .expect("a WebSocket error");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Reads until a message satisfies `wanted`.
/// A connection (no key) subscribed to `topic`, once the server has said so.
pub(crate) async fn subscribed(app: &TestApp, topic: &str) -> Ws {
    let mut ws = open(app, None).await;
    send(&mut ws, json!({ "type": "subscribe", "topics": [topic] })).await;
    until(&mut ws, |m| m["type"] == "subscribed").await;
    ws
}

pub(crate) async fn until(ws: &mut Ws, mut wanted: impl FnMut(&Value) -> bool) -> Value {
    loop {
        let message = next_json(ws).await;
        if wanted(&message) {
            return message;
        }
    }
}

/// Reads until the server's close frame: its code and reason.
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no close within 10 s");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.as_str().to_owned());
            }
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("connection failed before a close frame: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

async fn stats(app: &TestApp) -> Value {
    let (status, _, body) = app.get_json("/api/v2/ws/stats").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn eventually(app: &TestApp, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    jarvis_testkit::eventually(what, Duration::from_secs(10), || async {
        let s = stats(app).await;
        check(&s).then_some(s)
    })
    .await
}

struct Keys {
    read: String,
    execute: String,
    admin: String,
    read_id: String,
}

async fn app_with_keys(config: ApiConfig) -> (TestApp, Keys) {
    let mut keys = None;
    let app = Spawn::new()
        .config(config)
        .prepare(|store: &KeyStore| {
            let read = store.create("reader", &[Scope::Read]).unwrap();
            keys = Some(Keys {
                read_id: read.info.id.clone(),
                read: read.secret,
                execute: store.create("runner", &[Scope::Execute]).unwrap().secret,
                admin: store.create("operator", &[Scope::Admin]).unwrap().secret,
            });
        })
        .start()
        .await;
    (app, keys.unwrap())
}

async fn ticket(app: &TestApp, key: &str) -> String {
    let res = app
        .client
        .post(format!("{}/api/v2/ws-ticket", app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["data"]["ticket"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_handshake_is_authenticated_and_tickets_work_once() {
    let mut config = ApiConfig::default();
    config.websocket.ping_interval_ms = 100;
    let (app, keys) = app_with_keys(config).await;

    let refused = connect(&app, "/ws", None).await.unwrap_err();
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"]["code"], "UNAUTHORIZED");
    let refused = connect(&app, "/api/v2/ws?ticket=forged", None)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 401);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ticket")
    );
    let refused = connect(&app, "/ws", Some(&keys.execute)).await.unwrap_err();
    assert_eq!(
        refused.status, 403,
        "an execute-only key cannot read events"
    );

    let once = ticket(&app, &keys.read).await;
    let mut ws = connect(&app, &format!("/ws?ticket={once}"), None)
        .await
        .unwrap();
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["principal"], "reader");
    assert_eq!(welcome["scopes"], json!(["read"]));
    let reused = connect(&app, &format!("/ws?ticket={once}"), None)
        .await
        .unwrap_err();
    assert_eq!(reused.status, 401, "a ticket is single-use");

    let mut by_header = open(&app, Some(&keys.admin)).await;
    send(&mut by_header, json!({ "type": "ping", "id": "p1" })).await;
    let pong = next_json(&mut by_header).await;
    assert_eq!(
        pong,
        json!({ "type": "pong", "id": "p1", "at_us": pong["at_us"] })
    );

    // Revoking the key ends its connection at the next ping.
    assert!(app.keys.revoke(&keys.read_id).unwrap());
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("revoked"), "{reason}");
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_before_the_upgrade() {
    let mut config = ApiConfig::default();
    config.websocket.max_connections = 2;
    let app = Spawn::new().config(config).telemetry(None).start().await;
    let first = open(&app, None).await;
    let _second = open(&app, None).await;
    let refused = connect(&app, "/api/v2/ws", None).await.unwrap_err();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.body["error"]["code"], "CONNECTION_LIMIT");
    assert_eq!(refused.retry_after.as_deref(), Some("5"));
    let s = stats(&app).await;
    assert_eq!(
        (s["connections"].as_u64(), s["refused"].as_u64()),
        (Some(2), Some(1))
    );
    drop(first);
    eventually(&app, "the slot to free", |s| s["connections"] == 1).await;
    let _third = open(&app, None).await;
}

#[tokio::test]
async fn invalid_messages_are_answered_and_abuse_closes_the_connection() {
    let mut config = ApiConfig::default();
    config.websocket.max_message_bytes = 1024;
    config.websocket.max_invalid_messages = 5;
    let app = Spawn::new().config(config).telemetry(None).start().await;
    let mut ws = open(&app, None).await;
    let oversized = json!({ "type": "ping", "pad": "x".repeat(2000) }).to_string();
    for (message, reason) in [
        (Message::text("{not json"), "not JSON"),
        (Message::text(r#"{"type":"dance"}"#), "unknown variant"),
        (Message::text(oversized), "limit is 1024"),
        (Message::binary(vec![1u8, 2, 3]), "binary"),
        (
            Message::text(r#"{"type":"subscribe","topics":["weather"]}"#),
            "unknown topic",
        ),
    ] {
        ws.send(message).await.unwrap();
        let error = next_json(&mut ws).await;
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["code"], "INVALID_MESSAGE");
        assert!(
            error["message"].as_str().unwrap().contains(reason),
            "{reason}: {error}"
        );
        // The connection stays.
        send(&mut ws, json!({ "type": "ping" })).await;
        assert_eq!(next_json(&mut ws).await["type"], "pong");
    }
    // Subscribing to metrics without telemetry is refused with its own code.
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": ["metrics"], "id": "m" }),
    )
    .await;
    let error = next_json(&mut ws).await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_str()),
        (Some("TELEMETRY_UNAVAILABLE"), Some("m"))
    );
    // One more invalid message than allowed in a minute: closed with 1008.
    ws.send(Message::text("nope")).await.unwrap();
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("invalid messages"), "{reason}");
    let s = eventually(&app, "the connection to go", |s| s["connections"] == 0).await;
    assert_eq!(s["invalid_messages"], 6);
    assert_eq!(s["abuse_disconnects"], 1);
}

#[tokio::test]
async fn task_subscribers_see_states_in_order_and_output() {
    let app = spawn_app().await;
    let mut all = open(&app, None).await;
    send(
        &mut all,
        json!({ "type": "subscribe", "topics": ["tasks"], "id": "s" }),
    )
    .await;
    let subscribed = next_json(&mut all).await;
    assert_eq!(
        subscribed,
        json!({ "type": "subscribed", "topics": ["tasks"], "id": "s" })
    );

    // A command over the socket: queued, this client subscribed to its output.
    let mut runner = open(&app, None).await;
    send(
        &mut runner,
        json!({ "type": "command", "command": "/tools:lint src \"two words\"", "id": "c1" }),
    )
    .await;
    let reply = next_json(&mut runner).await;
    assert_eq!(reply["type"], "task", "{reply}");
    assert_eq!(reply["id"], "c1");
    let id = reply["task"]["id"].as_str().unwrap().to_owned();
    assert_eq!(reply["subscribed"], format!("task:{id}"));
    let mut output = String::new();
    loop {
        let event = next_json(&mut runner).await;
        assert_eq!(event["topic"], format!("task:{id}"), "{event}");
        assert!(event["sent_at_us"].as_u64().unwrap() > 0);
        match event["event"].as_str().unwrap() {
            "output" => output.push_str(event["data"]["chunk"].as_str().unwrap()),
            "task" if event["data"]["status"] == "succeeded" => break,
            _ => {}
        }
    }
    assert!(output.contains("ARG<Lint src \"two words\""), "{output}");

    // The `tasks` subscriber saw that task's states, in order, ending in success.
    let order = ["queued", "running", "succeeded"];
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("succeeded") {
        let event = next_json(&mut all).await;
        assert_eq!(event["topic"], "tasks", "{event}");
        if event["data"]["id"] == id.as_str() {
            seen.push(event["data"]["status"].as_str().unwrap().to_owned());
        }
    }
    let ranks: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.contains(&"running".to_owned()), "{seen:?}");

    // A task started over HTTP reaches the same subscriber.
    let (status, _, body) = post(&app, "/command", json!({ "command": "/tools:lint http" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let http_id = body["data"]["id"].as_str().unwrap().to_owned();
    until(&mut all, |e| {
        e["data"]["id"] == http_id.as_str() && e["data"]["status"] == "succeeded"
    })
    .await;

    // Subscribing to a finished task tells its state at once; to an unknown one is an error.
    send(
        &mut all,
        json!({ "type": "subscribe", "topics": [format!("task:{id}")] }),
    )
    .await;
    until(&mut all, |m| m["type"] == "subscribed").await;
    let state = until(&mut all, |e| e["topic"] == format!("task:{id}")).await;
    assert_eq!(state["data"]["status"], "succeeded");
    send(
        &mut all,
        json!({ "type": "subscribe", "topics": ["tasks", "task:task_000000000000000000000000"], "id": "s2" }),
    )
    .await;
    let error = until(&mut all, |m| m["type"] == "error").await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_str()),
        (Some("RESOURCE_NOT_FOUND"), Some("s2"))
    );

    // Unknown commands and missing scopes answer as errors, with the request's id.
    send(
        &mut runner,
        json!({ "type": "command", "command": "/no-such", "id": "c2" }),
    )
    .await;
    let error = next_json(&mut runner).await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_str()),
        (Some("RESOURCE_NOT_FOUND"), Some("c2"))
    );
}

#[tokio::test]
async fn running_commands_needs_the_execute_scope() {
    let (app, keys) = app_with_keys(ApiConfig::default()).await;
    let mut reader = open(&app, Some(&keys.read)).await;
    send(
        &mut reader,
        json!({ "type": "command", "command": "/tools:lint x" }),
    )
    .await;
    let error = next_json(&mut reader).await;
    assert_eq!(error["code"], "FORBIDDEN", "{error}");
    let mut admin = open(&app, Some(&keys.admin)).await;
    send(
        &mut admin,
        json!({ "type": "command", "command": "/tools:lint x" }),
    )
    .await;
    assert_eq!(next_json(&mut admin).await["type"], "task");
}

#[tokio::test]
async fn the_heartbeat_runs_only_while_someone_subscribes_to_metrics() {
    let app = spawn_app().await;
    let monitor = app.monitor.clone().unwrap();
    let mut ws = open(&app, None).await;
    let s = stats(&app).await;
    assert_eq!(s["heartbeat_active"], false);
    assert_eq!(monitor.live_watchers(), 0);

    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": ["metrics"] }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    // The current sample at once, then heartbeats as samples are taken.
    for _ in 0..3 {
        let event = next_json(&mut ws).await;
        assert_eq!(
            (event["topic"].as_str(), event["event"].as_str()),
            (Some("metrics"), Some("sample"))
        );
        assert!(event["data"]["memory_total_bytes"].as_u64().unwrap() > 0);
    }
    let s = stats(&app).await;
    assert_eq!(s["heartbeat_active"], true);
    assert!(s["heartbeats"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["subscribers"]["metrics"], 1);
    assert_eq!(monitor.live_watchers(), 1);

    send(
        &mut ws,
        json!({ "type": "unsubscribe", "topics": ["metrics"] }),
    )
    .await;
    until(&mut ws, |m| m["type"] == "unsubscribed").await;
    let s = stats(&app).await;
    assert_eq!(s["heartbeat_active"], false);
    assert_eq!(monitor.live_watchers(), 0, "fast sampling stopped");

    // A subscriber that disconnects stops it too.
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": ["metrics"] }),
    )
    .await;
    until(&mut ws, |m| m["type"] == "subscribed").await;
    assert_eq!(monitor.live_watchers(), 1);
    drop(ws);
    eventually(&app, "the heartbeat to stop", |s| {
        s["heartbeat_active"] == false
    })
    .await;
    assert_eq!(monitor.live_watchers(), 0);
}

#[tokio::test]
async fn catalog_changes_reach_their_subscribers() {
    let app = spawn_app().await;
    let mut ws = open(&app, None).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": ["catalog", "workflows", "services"] }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    let before = app.catalog.snapshot().generation();
    std::fs::write(
        app.home.join(".claude/agents/late.md"),
        crate::support::agent("late", "Arrives while a client listens"),
    )
    .unwrap();
    let event = until(&mut ws, |e| e["topic"] == "catalog").await;
    assert_eq!(event["event"], "reloaded");
    assert!(event["data"]["generation"].as_u64().unwrap() > before);
    assert!(event["data"]["resources"]["agents"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn a_slow_reader_is_dropped_while_a_fast_one_keeps_receiving() {
    let mut config = ApiConfig::default();
    config.websocket.outbound_queue = 128;
    config.websocket.send_timeout_ms = 1000;
    let app = Spawn::new().config(config).telemetry(None).start().await;
    let mut fast = open(&app, None).await;
    // The slow client's kernel buffer is tiny and it never reads after subscribing.
    let mut slow = connect_with(&app, "/ws", None, Some(4096)).await.unwrap();
    assert_eq!(next_json(&mut slow).await["type"], "welcome");

    // The fake runner waits half a second (time to subscribe both), then writes 16 MB in
    // bursts of 1 MB: a client that reads keeps up; one that does not fills its queue.
    send(
        &mut fast,
        json!({ "type": "command", "command": "/tools:lint flood" }),
    )
    .await;
    let reply = next_json(&mut fast).await;
    let topic = reply["subscribed"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned();
    send(&mut slow, json!({ "type": "subscribe", "topics": [topic] })).await;

    let started = Instant::now();
    let mut received = 0usize;
    loop {
        let event = next_json(&mut fast).await;
        if event["event"] == "output" {
            received += event["data"]["chunk"].as_str().unwrap().len();
        }
        if event["event"] == "task" && event["data"]["status"] == "succeeded" {
            break;
        }
    }
    assert!(
        received >= 16_000_000,
        "the fast client got {received} bytes"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let s = eventually(&app, "the slow client to be dropped", |s| {
        s["slow_disconnects"].as_u64() >= Some(1) && s["connections"] == 1
    })
    .await;
    assert_eq!(s["connections"], 1, "the fast client is still connected");
    // The slow client finds its connection ended (a close frame if one fitted, else EOF).
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = slow.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the slow connection never ended");
    assert!(matches!(ended, Some(1008) | None), "{ended:?}");
    send(&mut fast, json!({ "type": "ping" })).await;
    assert_eq!(
        until(&mut fast, |m| m["type"] == "pong").await["type"],
        "pong"
    );
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    let mut config = ApiConfig::default();
    config.websocket.ping_interval_ms = 100;
    config.websocket.idle_timeout_ms = 400;
    let app = Spawn::new().config(config).telemetry(None).start().await;
    let mut silent = connect(&app, "/ws", None).await.unwrap();
    // Not reading means not answering pings.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (code, reason) = close_frame(&mut silent).await;
    assert_eq!(code, 1000);
    assert!(reason.contains("idle"), "{reason}");
    assert_eq!(stats(&app).await["idle_disconnects"], 1);
}

#[tokio::test]
async fn shutdown_closes_every_client_with_going_away() {
    let app = spawn_app().await;
    let mut one = open(&app, None).await;
    let mut two = open(&app, None).await;
    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop(true).await });
    for ws in [&mut one, &mut two] {
        let (code, reason) = close_frame(ws).await;
        assert_eq!(code, 1001);
        assert!(reason.contains("shutting down"), "{reason}");
    }
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the server stops promptly")
        .unwrap();
}

#[tokio::test]
async fn a_flood_of_messages_is_limited_not_obeyed() {
    let mut config = ApiConfig::default();
    config.websocket.max_messages_per_second = 5;
    config.websocket.max_invalid_messages = 100;
    let app = Spawn::new()
        .config(config)
        .telemetry(None)
        .manual_clock()
        .start()
        .await;
    let clock = app.clock.clone().unwrap();
    let mut ws = open(&app, None).await;
    for i in 0..20 {
        send(&mut ws, json!({ "type": "ping", "id": format!("p{i}") })).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    for _ in 0..20 {
        let reply = next_json(&mut ws).await;
        match reply["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => {
                assert_eq!(reply["code"], "RATE_LIMITED", "{reply}");
                limited += 1;
            }
            _ => panic!("{reply}"),
        }
    }
    // The clock stands still: the burst of 5 and nothing more.
    assert_eq!(pongs, 5, "a burst of 5");
    assert_eq!(limited, 15);
    // The budget refills at 5 a second: one message after 200 ms, not two.
    clock.advance(Duration::from_millis(210));
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(next_json(&mut ws).await["type"], "pong");
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(next_json(&mut ws).await["code"], "RATE_LIMITED");
}
