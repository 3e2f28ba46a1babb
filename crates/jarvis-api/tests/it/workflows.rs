//! Triggering workflows against wiremock playing n8n, and following the execution to its end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jarvis_integrations::{BreakerConfig, N8nClient, N8nConfig, RetrySchedule, ServiceRegistry};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{Spawn, TestApp, post};

/// The webhook: records the correlation id Jarvis sent, answers like n8n's `onReceived` mode.
struct Webhook(Arc<Mutex<Option<String>>>);

impl Respond for Webhook {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        *self.0.lock().unwrap() = body["jarvis_correlation_id"].as_str().map(str::to_owned);
        ResponseTemplate::new(200).set_body_json(json!({ "message": "Workflow was started" }))
    }
}

/// `GET /api/v1/executions`: one execution whose received body holds the correlation id.
struct Executions(Arc<Mutex<Option<String>>>);

impl Respond for Executions {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let corr = self.0.lock().unwrap().clone().unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(json!({
            "data": [{
                "id": "77", "status": "running", "workflowId": "A1", "mode": "webhook",
                "data": { "resultData": { "runData": { "Webhook": [{ "data": { "main": [[{ "json": { "body": { "jarvis_correlation_id": corr } } }]] } }] } } }
            }],
            "nextCursor": null
        }))
    }
}

/// The services of a server whose n8n is `server`.
pub(crate) fn n8n_services(server: &MockServer, breaker: BreakerConfig) -> ServiceRegistry {
    let client = N8nClient::new(&N8nConfig {
        base_url: server.uri(),
        api_key: Some(jarvis_core::Secret::new("key")),
        retry: RetrySchedule {
            initial_ms: 10,
            max_interval_ms: 20,
            multiplier: 2.0,
            jitter: 0.0,
            max_elapsed_ms: 50,
        },
        breaker,
        ..N8nConfig::default()
    })
    .unwrap();
    ServiceRegistry::new(Some((client, false)))
}

async fn app_with_n8n(server: &MockServer, breaker: BreakerConfig) -> TestApp {
    Spawn::new()
        .services(n8n_services(server, breaker))
        .start()
        .await
}

/// An n8n whose PR-digest webhook must be called `times` times; the correlation id of the last
/// call lands in the cell.
pub(crate) async fn n8n_expecting_webhooks(times: u64) -> (MockServer, Arc<Mutex<Option<String>>>) {
    let server = MockServer::start().await;
    let corr = Arc::new(Mutex::new(None));
    Mock::given(method("POST"))
        .and(path("/webhook/github-pr"))
        .respond_with(Webhook(corr.clone()))
        .expect(times)
        .mount(&server)
        .await;
    (server, corr)
}

/// n8n's execution API: the list finds the execution by Jarvis's correlation id, and execution
/// 77 has succeeded.
pub(crate) async fn mount_executions(server: &MockServer, corr: &Arc<Mutex<Option<String>>>) {
    Mock::given(method("GET"))
        .and(path("/api/v1/executions"))
        .respond_with(Executions(Arc::clone(corr)))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/executions/77"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "77", "status": "success", "finished": true })),
        )
        .mount(server)
        .await;
}

/// Execution 77 is running at the first look, ahead of the success [`mount_executions`] answers.
pub(crate) async fn mount_running_once(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v1/executions/77"))
        .and(query_param("includeData", "false"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "77", "status": "running", "finished": false })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
}

/// A breaker that opens after three failures and stays open for the test.
fn trips_after_three() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        cool_down_ms: 60_000,
        ..BreakerConfig::default()
    }
}

#[tokio::test]
async fn a_trigger_is_followed_from_running_to_success() {
    let (server, corr) = n8n_expecting_webhooks(2).await;
    mount_executions(&server, &corr).await;
    mount_running_once(&server).await;
    let app = app_with_n8n(&server, BreakerConfig::default()).await;

    let (status, headers, body) = post(
        &app,
        "/workflow/trigger",
        json!({ "workflow_id": "A1", "parameters": { "pr": 7 } }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"],
        format!("/api/v2/workflows/executions/{id}")
    );
    assert_eq!(body["data"]["status"], "triggered");
    assert_eq!(body["data"]["reply"]["message"], "Workflow was started");
    assert_eq!(
        corr.lock().unwrap().as_deref(),
        body["data"]["correlation_id"].as_str()
    );

    let path = format!("/api/v2/workflows/executions/{id}");
    let done = eventually(&app, &path, |b| b["data"]["status"] == "success").await["data"].clone();
    assert_eq!(done["n8n_execution_id"], "77");
    assert!(done["finished_at"].is_number());
    let (_, _, history) = app
        .get_json("/api/v2/workflows/executions?status=success")
        .await;
    assert_eq!(history["data"].as_array().unwrap().len(), 1);
    let (_, _, active) = app.get_json("/workflows/active").await;
    assert!(active["data"].as_array().unwrap().is_empty());

    // The v2 form triggers too.
    let (status, _, _) = post(
        &app,
        "/api/v2/workflows/A1/trigger",
        json!({ "parameters": {} }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn bad_triggers_are_refused_before_any_call() {
    let server = MockServer::start().await;
    let app = app_with_n8n(&server, BreakerConfig::default()).await;
    let big = "x".repeat(70 * 1024);
    for (body, status, code) in [
        (json!({ "workflow_id": "nope" }), 404, "RESOURCE_NOT_FOUND"),
        (
            json!({ "workflow_id": "Lead lookup" }),
            409,
            "WORKFLOW_INACTIVE",
        ),
        (
            json!({ "workflow_id": "C3" }),
            422,
            "WORKFLOW_NOT_TRIGGERABLE",
        ),
        (
            json!({ "workflow_id": "A1", "parameters": [1, 2] }),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({ "workflow_id": "A1", "parameters": "text" }),
            400,
            "VALIDATION_ERROR",
        ),
    ] {
        let (got, _, reply) = post(&app, "/workflow/trigger", body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{body}: {reply}");
    }
    // Too large for the body limit of the test server (4 KiB) or the 64 KiB parameter cap.
    let (got, _, _) = post(
        &app,
        "/workflow/trigger",
        json!({ "workflow_id": "A1", "parameters": { "blob": big } }),
    )
    .await;
    assert!(
        got == StatusCode::PAYLOAD_TOO_LARGE || got == StatusCode::BAD_REQUEST,
        "{got}"
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing reached n8n"
    );
}

#[tokio::test]
async fn n8n_down_answers_upstream_unavailable_then_circuit_open() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook/github-pr"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let app = app_with_n8n(&server, trips_after_three()).await;
    let (status, _, body) = post(&app, "/workflow/trigger", json!({ "workflow_id": "A1" })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "UPSTREAM_UNAVAILABLE");
    let res = app
        .client
        .post(format!("{}/workflow/trigger", app.base))
        .json(&json!({ "workflow_id": "A1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "CIRCUIT_OPEN");
    let (_, _, services) = app.get_json("/api/v2/services").await;
    assert_eq!(services["data"][0]["breaker"], "open");
    // Each attempt was recorded before the call and keeps its record, in error.
    let (_, _, failed) = app
        .get_json("/api/v2/workflows/executions?status=error")
        .await;
    let failed = failed["data"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{failed:?}");
    for execution in failed {
        assert!(execution["finished_at"].is_number(), "{execution}");
        assert!(
            execution["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("the webhook call failed")),
            "{execution}"
        );
    }
}

/// The client's request id is a label: two triggers sent with the same one both reach n8n once
/// each, under execution and correlation ids of the server's own.
#[tokio::test]
async fn a_repeated_request_id_never_becomes_a_key() {
    let (server, corr) = n8n_expecting_webhooks(2).await;
    let app = app_with_n8n(&server, BreakerConfig::default()).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .post(format!("{}/workflow/trigger", app.base))
            .header("x-request-id", "samesame123")
            .json(&json!({ "workflow_id": "A1" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(res.headers()["x-request-id"], "samesame123");
        let body: Value = res.json().await.unwrap();
        let data = &body["data"];
        for (field, prefix) in [("id", "wfx_"), ("correlation_id", "jarvis_")] {
            let value = data[field].as_str().unwrap();
            let hex = value
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{value}"));
            assert!(
                hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{value}"
            );
        }
        assert_eq!(
            corr.lock().unwrap().as_deref(),
            data["correlation_id"].as_str()
        );
        seen.push(data["id"].as_str().unwrap().to_owned());
    }
    assert_ne!(seen[0], seen[1]);
    let (_, _, all) = app.get_json("/api/v2/workflows/executions").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");
}

/// Waits until `check` holds for the body at `path`.
async fn eventually(app: &TestApp, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    jarvis_testkit::eventually(
        &format!("{path} to match"),
        Duration::from_secs(10),
        || async {
            let (_, _, body) = app.get_json(path).await;
            check(&body).then_some(body)
        },
    )
    .await
}

fn live_workflow(id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "active": true, "isArchived": false,
        "nodes": [{ "name": "Hook", "type": "n8n-nodes-base.webhook", "typeVersion": 2,
                    "webhookId": format!("w-{id}"), "parameters": { "httpMethod": "POST", "path": format!("live-{id}") } }]
    })
}

#[tokio::test]
async fn live_workflows_merge_with_exports_and_survive_n8n_going_away() {
    let server = MockServer::start().await;
    // Two pages: the client follows `nextCursor`.
    Mock::given(method("GET"))
        .and(path("/api/v1/workflows"))
        .and(query_param("cursor", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "data": [live_workflow("D4", "Live only")], "nextCursor": null }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/workflows"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [live_workflow("A1", "PR digest, edited in n8n"), { "id": "bad", "name": "No nodes" }],
            "nextCursor": "page-2"
        })))
        .mount(&server)
        .await;
    let app = app_with_n8n(&server, BreakerConfig::default()).await;
    let client = N8nClient::new(&N8nConfig {
        base_url: server.uri(),
        api_key: Some(jarvis_core::Secret::new("key")),
        retry: RetrySchedule {
            initial_ms: 10,
            max_interval_ms: 20,
            multiplier: 2.0,
            jitter: 0.0,
            max_elapsed_ms: 50,
        },
        ..N8nConfig::default()
    })
    .unwrap();
    let saved = app.home.join("data/n8n-workflows.json");
    std::fs::create_dir_all(saved.parent().unwrap()).unwrap();
    let _refresh = jarvis_api::spawn_workflow_refresh(
        client.clone(),
        app.catalog.clone(),
        Duration::from_millis(50),
        Some(saved.clone()),
    );

    let listed = eventually(&app, "/api/v2/workflows?scope=remote", |b| {
        b["data"].as_array().is_some_and(|d| d.len() == 2)
    })
    .await;
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Live only", "PR digest, edited in n8n"], "{listed}");
    // The list is saved for the owner's eyes only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The export's A1 is shadowed by the live copy, and the malformed entry is reported.
    let (_, _, all) = app.get_json("/api/v2/workflows?limit=100").await;
    let exported_a1 = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "PR digest")
        .unwrap_or_else(|| panic!("export A1 missing: {all}"));
    assert!(exported_a1["shadowed_by"].is_string(), "{exported_a1}");
    let (_, _, invalid) = app
        .get_json("/api/v2/diagnostics?code=workflow_invalid")
        .await;
    assert!(
        invalid["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"].as_str().unwrap().ends_with("/api/v1/workflows")),
        "{invalid}"
    );
    // Triggering by id now uses the live webhook.
    Mock::given(method("POST"))
        .and(path("/webhook/live-A1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "message": "ok" })))
        .expect(1)
        .mount(&server)
        .await;
    let (status, _, body) = post(&app, "/api/v2/workflows/A1/trigger", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // n8n goes away: the last list stays, with a diagnostic saying so.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/workflows"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    eventually(&app, "/api/v2/diagnostics?code=source_unreachable", |b| {
        b["data"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await;
    let (_, _, listed) = app.get_json("/api/v2/workflows?scope=remote").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");

    // A restart while n8n is still down serves the list saved by the last successful fetch.
    let restarted = app_with_n8n(&server, BreakerConfig::default()).await;
    let _refresh_again = jarvis_api::spawn_workflow_refresh(
        client,
        restarted.catalog.clone(),
        Duration::from_millis(50),
        Some(saved),
    );
    let diagnostics = eventually(
        &restarted,
        "/api/v2/diagnostics?code=source_unreachable",
        |b| b["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    assert!(
        diagnostics["data"][0]["message"]
            .as_str()
            .unwrap()
            .contains("last known list"),
        "{diagnostics}"
    );
    let (_, _, listed) = restarted.get_json("/api/v2/workflows?scope=remote").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
}

#[tokio::test]
async fn websocket_subscribers_follow_executions_and_breaker_changes() {
    use crate::ws::{open, send, until};

    let server = MockServer::start().await;
    let corr = Arc::new(Mutex::new(None));
    Mock::given(method("POST"))
        .and(path("/webhook/github-pr"))
        .respond_with(Webhook(corr.clone()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_executions(&server, &corr).await;
    let app = app_with_n8n(&server, trips_after_three()).await;
    let mut ws = open(&app, None).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": ["workflows", "services"] }),
    )
    .await;
    until(&mut ws, |m| m["type"] == "subscribed").await;

    let (status, _, body) = post(&app, "/workflow/trigger", json!({ "workflow_id": "A1" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let done = until(&mut ws, |e| {
        e["topic"] == "workflows"
            && e["data"]["id"] == id.as_str()
            && e["data"]["status"] == "success"
    })
    .await;
    assert_eq!(done["event"], "execution");
    assert_eq!(done["data"]["n8n_execution_id"], "77");

    // n8n starts failing: the breaker opens, and subscribers hear it.
    Mock::given(method("POST"))
        .and(path("/webhook/github-pr"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let (status, _, _) = post(&app, "/workflow/trigger", json!({ "workflow_id": "A1" })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let change = until(&mut ws, |e| e["topic"] == "services").await;
    assert_eq!(change["event"], "breaker");
    assert_eq!(change["data"]["service"], "n8n");
    assert_eq!(change["data"]["state"], "open");
}
