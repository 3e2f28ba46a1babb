//! `/api/v2/services` and readiness with a required n8n played by wiremock.

use std::time::Duration;

use jarvis_integrations::{N8nClient, N8nConfig, RetrySchedule, ServiceRegistry};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Spawn, spawn_app};

/// A required n8n whose first health check fails and every later one passes. The server must
/// be kept for as long as the registry is used.
async fn n8n_failing_its_first_check() -> (MockServer, ServiceRegistry) {
    let n8n = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&n8n)
        .await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "status": "ok" })))
        .mount(&n8n)
        .await;
    let client = N8nClient::new(&N8nConfig {
        base_url: n8n.uri(),
        retry: RetrySchedule {
            max_elapsed_ms: 0,
            ..RetrySchedule::default()
        },
        ..N8nConfig::default()
    })
    .unwrap();
    let registry = ServiceRegistry::new(Some((client, true)));
    (n8n, registry)
}

#[tokio::test]
async fn without_n8n_the_analyzer_and_mcp_servers_are_listed_and_ready_is_ready() {
    let app = spawn_app().await;
    let (status, _, body) = app.get_json("/api/v2/services").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["analyzer", "mcp"], "{body}");
    assert_eq!(body["data"][0]["required"], false);
    assert_eq!(body["data"][1]["required"], false);
    assert_eq!(
        body["data"][1]["enabled"], false,
        "MCP checks are off by default"
    );
    assert_eq!(body["data"][1]["servers"]["disabled"], 2, "{body}");
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_required_n8n_decides_readiness() {
    let (_n8n, registry) = n8n_failing_its_first_check().await;
    let app = Spawn::new().services(registry.clone()).start().await;

    // Never checked yet: not ready.
    let (status, _, body) = app.get_json("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(body["error"]["details"]["services"], json!(["n8n"]));
    // A failed check: still not ready, and the view says why.
    registry.check_all().await;
    let (_, _, services) = app.get_json("/api/v2/services").await;
    let n8n_view = &services["data"][0];
    assert_eq!(n8n_view["name"], "n8n");
    assert_eq!(n8n_view["required"], true);
    assert_eq!(n8n_view["health"]["healthy"], false);
    assert_eq!(n8n_view["breaker"], "closed");
    assert_eq!(n8n_view["failures"], 1);
    assert!(n8n_view["latency_ms"]["p50"].is_number());
    // A passing check: ready. `/health` never depended on it.
    registry.check_all().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_changes_reach_websocket_subscribers() {
    use crate::ws::{send, subscribed, until};

    let (_n8n, registry) = n8n_failing_its_first_check().await;
    let app = Spawn::new().services(registry.clone()).start().await;
    let mut ws = subscribed(&app, "services").await;

    registry.check_all().await; // fails: first verdict, unhealthy
    let down = until(&mut ws, |e| e["event"] == "health").await;
    assert_eq!(down["topic"], "services");
    assert_eq!(down["data"]["service"], "n8n");
    assert_eq!(down["data"]["required"], true);
    assert_eq!(down["data"]["health"]["healthy"], false);
    registry.check_all().await; // passes: a change
    let up = until(&mut ws, |e| e["event"] == "health").await;
    assert_eq!(up["data"]["health"]["healthy"], true);
    registry.check_all().await; // passes again: no change, no event
    send(&mut ws, json!({ "type": "ping", "id": "after" })).await;
    let next = until(&mut ws, |m| m["type"] == "pong" || m["event"] == "health").await;
    assert_eq!(
        next["type"], "pong",
        "an unchanged verdict is not an event: {next}"
    );
}
