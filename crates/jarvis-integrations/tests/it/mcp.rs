//! MCP health checks against real servers: the stdio fixture (python3) in each of its modes,
//! and streamable HTTP and SSE servers on loopback.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jarvis_core::{MASK, McpLaunch, McpTransport, ResourceId, Secret};
use jarvis_integrations::mcp::{
    McpCheckConfig, McpHealth, McpMonitor, McpProblemCode, McpStatus, McpTarget, probe,
};
use jarvis_testkit::media::processes_naming;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "tok-s3cr3t-4242";
const HEADER_KEY: &str = "hdr-s3cr3t-9191";

fn config() -> McpCheckConfig {
    McpCheckConfig {
        enabled: true,
        timeout: Duration::from_secs(2),
        slow: Duration::from_secs(20),
        ..McpCheckConfig::default()
    }
}

fn target(name: &str, transport: McpTransport, launch: McpLaunch) -> McpTarget {
    McpTarget {
        id: ResourceId::from_raw(format!("mcp-{name}")),
        name: name.to_owned(),
        transport,
        shown_command: "python3".to_owned(),
        launch,
        env: BTreeMap::from([("FIXTURE_TOKEN".to_owned(), Secret::new(TOKEN))]),
        headers: BTreeMap::new(),
        timeout: None,
        cwd: None,
        refused: None,
    }
}

fn stdio(script: &Path, mode: &str, marker: &str) -> McpTarget {
    target(
        mode,
        McpTransport::Stdio,
        McpLaunch {
            command: Some(Secret::new("python3")),
            args: [script.to_string_lossy().as_ref(), mode, marker]
                .into_iter()
                .map(Secret::new)
                .collect(),
            url: None,
        },
    )
}

fn http(url: &str, transport: McpTransport) -> McpTarget {
    target(
        "remote",
        transport,
        McpLaunch {
            command: None,
            args: Vec::new(),
            url: Some(Secret::new(url)),
        },
    )
}

/// A unique marker for this test's processes.
fn marker(test: &str) -> String {
    format!("mcpfx-{test}-{}", std::process::id())
}

/// Nothing the check started is still running.
async fn none_left(marker: &str) {
    jarvis_testkit::eventually(
        "every process the check started to be gone",
        Duration::from_secs(5),
        || async { processes_naming(marker).is_empty().then_some(()) },
    )
    .await;
}

/// The health as a client sees it: no secret anywhere in it.
fn shown(health: &McpHealth) -> String {
    let text = serde_json::to_string(health).unwrap();
    assert!(!text.contains(TOKEN), "the env secret leaked: {text}");
    assert!(
        !text.contains(HEADER_KEY),
        "the header secret leaked: {text}"
    );
    text
}

async fn check(target: &McpTarget) -> McpHealth {
    tokio::time::timeout(Duration::from_secs(30), probe(target, &config()))
        .await
        .expect("a check always ends")
}

#[tokio::test]
async fn a_healthy_stdio_server_reports_its_tools_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("healthy");
    let health = check(&stdio(&script, "healthy", &marker)).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Healthy, "{text}");
    assert_eq!(health.server_name.as_deref(), Some("fixture"));
    assert_eq!(health.server_version.as_deref(), Some("1.2.3"));
    assert!(health.protocol_version.is_some());
    assert_eq!(health.tool_count, Some(2));
    let names: Vec<&str> = health.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["search", "fetch"]);
    assert_eq!(
        health.tools[0].description.as_deref(),
        Some("Searches the fixture")
    );
    assert_eq!(health.prompt_count, Some(1));
    assert_eq!(health.resource_count, None, "it offers no resources");
    let steps: Vec<Value> = health
        .steps
        .iter()
        .map(|s| serde_json::to_value(s.step).unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            json!("start"),
            json!("initialize"),
            json!("tools/list"),
            json!("prompts/list"),
            json!("shutdown")
        ]
    );
    let stderr = health.stderr_tail.as_deref().unwrap();
    assert!(stderr.contains(&format!("token is {MASK}")), "{stderr}");
    assert!(health.error.is_none());
    none_left(&marker).await;
}

#[tokio::test]
async fn a_server_that_hangs_in_initialize_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("hang");
    let mut target = stdio(&script, "hang", &marker);
    target.timeout = Some(Duration::from_millis(800));
    let started = std::time::Instant::now();
    let health = check(&target).await;
    shown(&health);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(health.status, McpStatus::Unhealthy);
    let error = health.error.unwrap();
    assert_eq!(error.code, McpProblemCode::Timeout);
    assert_eq!(serde_json::to_value(error.step).unwrap(), "initialize");
    assert!(error.message.contains("800 ms"), "{}", error.message);
    none_left(&marker).await;
}

#[tokio::test]
async fn a_server_that_exits_at_once_is_reported_with_its_last_words() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("exit");
    let health = check(&stdio(&script, "exit", &marker)).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Unhealthy, "{text}");
    let error = health.error.unwrap();
    assert_eq!(error.code, McpProblemCode::Exited, "{text}");
    assert!(
        error.message.contains("fatal: no configuration found"),
        "{}",
        error.message
    );
    assert!(error.message.contains('3'), "{}", error.message);
    none_left(&marker).await;
}

#[tokio::test]
async fn a_server_that_writes_malformed_json_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("garbage");
    let mut target = stdio(&script, "garbage", &marker);
    target.timeout = Some(Duration::from_secs(1));
    let health = check(&target).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Unhealthy, "{text}");
    let error = health.error.unwrap();
    assert_eq!(error.code, McpProblemCode::ProtocolError, "{text}");
    assert!(error.message.contains("not JSON-RPC"), "{}", error.message);
    assert!(
        error.message.contains("Server ready on stdio!"),
        "{}",
        error.message
    );
    none_left(&marker).await;
}

#[tokio::test]
async fn a_server_that_floods_stderr_still_answers_and_only_the_tail_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("flood");
    let mut target = stdio(&script, "flood", &marker);
    target.timeout = Some(Duration::from_secs(10));
    let health = check(&target).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Healthy, "{text}");
    assert_eq!(health.tool_count, Some(2));
    let tail = health.stderr_tail.unwrap();
    assert!(tail.len() <= 2048, "{} bytes kept", tail.len());
    none_left(&marker).await;
}

#[tokio::test]
async fn a_banner_on_stdout_makes_a_working_server_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("noisy");
    let health = check(&stdio(&script, "noisy", &marker)).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Degraded, "{text}");
    assert_eq!(health.tool_count, Some(2));
    let reason = health.reason.unwrap();
    assert!(reason.contains("not JSON-RPC"), "{reason}");
    assert!(reason.contains("listening on stdio"), "{reason}");
    none_left(&marker).await;
}

#[tokio::test]
async fn a_list_that_never_answers_makes_the_server_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("slowtools");
    let mut target = stdio(&script, "slow-tools", &marker);
    target.timeout = Some(Duration::from_millis(800));
    let health = check(&target).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Degraded, "{text}");
    assert_eq!(health.tool_count, None);
    assert_eq!(health.prompt_count, Some(1), "the other lists still ran");
    let error = health.error.unwrap();
    assert_eq!(error.code, McpProblemCode::Timeout);
    assert_eq!(serde_json::to_value(error.step).unwrap(), "tools/list");
    assert!(health.reason.unwrap().contains("tools/list"));
    none_left(&marker).await;
}

#[tokio::test]
async fn a_missing_command_cannot_be_spawned() {
    let mut target = target(
        "missing",
        McpTransport::Stdio,
        McpLaunch {
            command: Some(Secret::new("/nonexistent/jarvis-mcp-server")),
            args: Vec::new(),
            url: None,
        },
    );
    target.shown_command = "/nonexistent/jarvis-mcp-server".to_owned();
    let health = check(&target).await;
    shown(&health);
    assert_eq!(health.status, McpStatus::Unhealthy);
    let error = health.error.unwrap();
    assert_eq!(error.code, McpProblemCode::SpawnFailed);
    assert!(error.message.contains("/nonexistent/jarvis-mcp-server"));
}

#[tokio::test]
async fn refused_servers_and_websocket_servers_are_not_started() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("refused");
    let mut refused = stdio(&script, "healthy", &marker);
    refused.refused = Some("refused in ~/.claude.json".to_owned());
    let health = check(&refused).await;
    assert_eq!(health.status, McpStatus::Disabled);
    assert!(processes_naming(&marker).is_empty());
    let ws = check(&http("ws://127.0.0.1:9/mcp", McpTransport::Ws)).await;
    assert_eq!(ws.status, McpStatus::Disabled);
    assert!(ws.reason.unwrap().contains("WebSocket"));
}

/// A streamable HTTP MCP server: answers `initialize`, `tools/list` and notifications, and
/// refuses requests without `x-api-key: HEADER_KEY` when `require_key`.
struct HttpMcp {
    require_key: bool,
}

impl Respond for HttpMcp {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.require_key
            && request
                .headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                != Some(HEADER_KEY)
        {
            return ResponseTemplate::new(401).set_body_string("missing or wrong API key");
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        match answer(&body) {
            None => ResponseTemplate::new(202),
            Some(reply) => ResponseTemplate::new(200)
                .insert_header("mcp-session-id", "session-1")
                .set_body_json(reply),
        }
    }
}

/// The loopback servers' answer to a JSON-RPC message; `None` for notifications.
fn answer(body: &Value) -> Option<Value> {
    let id = body.get("id").cloned()?;
    let result = match body["method"].as_str().unwrap_or("") {
        "initialize" => json!({
            "protocolVersion": body["params"]["protocolVersion"],
            "capabilities": {"tools": {}, "resources": {}},
            "serverInfo": {"name": "remote-fixture", "version": "0.9.0"},
        }),
        "tools/list" => json!({"tools": [
            {"name": "query", "description": "Runs a query", "inputSchema": {"type": "object"}}
        ]}),
        "resources/list" => json!({"resources": [
            {"uri": "file:///a", "name": "a"}, {"uri": "file:///b", "name": "b"}
        ]}),
        _ => {
            return Some(json!({
                "jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "no such method"}
            }));
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

async fn http_server(require_key: bool) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(HttpMcp { require_key })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(405))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_streamable_http_server_on_loopback_is_healthy() {
    let server = http_server(false).await;
    let health = check(&http(&format!("{}/mcp", server.uri()), McpTransport::Http)).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Healthy, "{text}");
    assert_eq!(health.server_name.as_deref(), Some("remote-fixture"));
    assert_eq!(health.tool_count, Some(1));
    assert_eq!(health.resource_count, Some(2));
    assert_eq!(health.stderr_tail, None);
}

#[tokio::test]
async fn a_server_behind_a_header_needs_it_and_never_shows_it() {
    let server = http_server(true).await;
    let url = format!("{}/mcp", server.uri());
    let without = check(&http(&url, McpTransport::Http)).await;
    let text = shown(&without);
    assert_eq!(without.status, McpStatus::Unhealthy, "{text}");
    let error = without.error.unwrap();
    assert_eq!(error.code, McpProblemCode::HttpStatus, "{text}");
    assert_eq!(error.http_status, Some(401));

    let mut with = http(&url, McpTransport::Http);
    with.headers
        .insert("x-api-key".to_owned(), Secret::new(HEADER_KEY));
    let health = check(&with).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Healthy, "{text}");
    let sent = server.received_requests().await.unwrap();
    assert!(
        sent.iter()
            .any(|r| r.headers.get("x-api-key").is_some_and(|v| v == HEADER_KEY)),
        "the header was sent"
    );
}

#[tokio::test]
async fn an_endpoint_nobody_listens_on_fails_to_connect() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let health = check(&http(
        &format!("http://127.0.0.1:{port}/mcp"),
        McpTransport::Http,
    ))
    .await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Unhealthy, "{text}");
    assert_eq!(
        health.error.unwrap().code,
        McpProblemCode::ConnectFailed,
        "{text}"
    );
}

#[tokio::test]
async fn the_monitor_checks_new_servers_rechecks_changed_ones_and_forgets_removed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("monitor");
    let monitor = McpMonitor::new(McpCheckConfig {
        interval: Duration::from_secs(3600),
        retry: Duration::from_secs(3600),
        ..config()
    });
    let mut events = monitor.subscribe();
    let _loop = monitor.start();
    let good = stdio(&script, "healthy", &marker);
    monitor.sync(vec![good.clone()]);
    let first = next_check(&mut events).await;
    assert_eq!(first.status, McpStatus::Healthy);
    assert!(first.next_check_at.unwrap() > first.checked_at.unwrap() + 3_000_000);
    assert_eq!(monitor.health(&good.id).unwrap().status, McpStatus::Healthy);

    // The same configuration again: nothing to do.
    let version = monitor.version();
    monitor.sync(vec![good.clone()]);
    assert_eq!(monitor.version(), version);

    // A changed configuration is checked again.
    let mut broken = good.clone();
    broken.launch.args[1] = Secret::new("exit");
    monitor.sync(vec![broken.clone()]);
    let second = next_check(&mut events).await;
    assert_eq!(second.status, McpStatus::Unhealthy);
    assert_eq!(second.consecutive_failures, 1);

    // On demand, a failing server is checked again and counts its failures.
    let third = monitor.check_now(&broken.id).await.unwrap();
    assert_eq!(third.consecutive_failures, 2);

    // Removed: forgotten, and an unknown id is not checked.
    monitor.sync(Vec::new());
    assert!(monitor.health(&broken.id).is_none());
    assert!(monitor.check_now(&broken.id).await.is_none());
    assert!(monitor.all().is_empty());
    none_left(&marker).await;
}

#[tokio::test]
async fn with_checks_off_servers_are_disabled_and_never_started() {
    let dir = tempfile::tempdir().unwrap();
    let script = jarvis_testkit::mcp::stdio_server(dir.path());
    let marker = marker("off");
    let monitor = McpMonitor::new(McpCheckConfig::default());
    let _loop = monitor.start();
    let target = stdio(&script, "healthy", &marker);
    monitor.sync(vec![target.clone()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = monitor.health(&target.id).unwrap();
    assert_eq!(health.status, McpStatus::Disabled);
    assert!(health.reason.unwrap().contains("mcp.health_checks"));
    assert!(processes_naming(&marker).is_empty());
}

/// The health of the next finished check (skipping `unchecked` announcements).
async fn next_check(
    events: &mut tokio::sync::broadcast::Receiver<jarvis_integrations::mcp::McpEvent>,
) -> McpHealth {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let event = events.recv().await.unwrap();
            if let Some(health) = event.health
                && health.checked_at.is_some()
            {
                return health;
            }
        }
    })
    .await
    .expect("a check finished")
}

/// A server of the 2024-11-05 HTTP+SSE transport on loopback: `GET /sse` streams events,
/// `POST /messages` takes messages and answers on the stream. Plain HTTP/1.1 on a socket.
async fn sse_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let rx = std::sync::Arc::clone(&rx);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                if head.starts_with("GET /sse") {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\nevent: endpoint\ndata: /messages?session=1\n\n")
                        .await
                        .unwrap();
                    let mut rx = rx.lock().await;
                    while let Some(message) = rx.recv().await {
                        let event = format!("event: message\ndata: {message}\n\n");
                        if socket.write_all(event.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                } else {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    socket.read_exact(&mut body).await.unwrap();
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    if let Some(reply) = answer(&body) {
                        tx.send(reply).unwrap();
                    }
                    socket
                        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await
                        .unwrap();
                }
            });
        }
    });
    format!("http://{address}/sse")
}

#[tokio::test]
async fn a_legacy_sse_server_on_loopback_is_healthy() {
    let url = sse_server().await;
    let health = check(&http(&url, McpTransport::Sse)).await;
    let text = shown(&health);
    assert_eq!(health.status, McpStatus::Healthy, "{text}");
    assert_eq!(health.server_name.as_deref(), Some("remote-fixture"));
    assert_eq!(health.tool_count, Some(1));
    assert_eq!(health.resource_count, Some(2));
    assert_eq!(
        serde_json::to_value(health.steps[0].step).unwrap(),
        "start",
        "{text}"
    );
}
