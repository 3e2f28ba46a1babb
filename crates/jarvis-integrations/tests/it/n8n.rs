//! Retries, timeouts, the breaker, pagination — against a fake n8n.

use std::time::{Duration, Instant};

use jarvis_core::{Code, ErrorCode, Secret};
use jarvis_integrations::{
    BreakerConfig, BreakerState, Error, N8nClient, N8nConfig, RetrySchedule,
};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(server: &MockServer) -> N8nConfig {
    N8nConfig {
        base_url: server.uri(),
        api_key: Some(Secret::new("n8n-api-key-for-tests")),
        connect_timeout_ms: 500,
        timeout_ms: 2_000,
        retry: RetrySchedule {
            initial_ms: 20,
            max_interval_ms: 100,
            multiplier: 2.0,
            jitter: 0.0,
            max_elapsed_ms: 1_500,
        },
        breaker: BreakerConfig {
            failure_threshold: 100,
            ..BreakerConfig::default()
        },
        ..N8nConfig::default()
    }
}

fn workflow(id: &str, name: &str) -> serde_json::Value {
    json!({
        "id": id, "name": name, "active": true, "isArchived": false,
        "tags": [{ "id": "t1", "name": "ci" }],
        "nodes": [{ "name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "webhookId": "w-1",
                    "parameters": { "httpMethod": "POST", "path": "github-pr" } }],
        "connections": {}
    })
}

#[tokio::test]
async fn workflows_are_paged_across_cursors_with_the_api_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/workflows"))
        .and(header("X-N8N-API-KEY", "n8n-api-key-for-tests"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": [workflow("A1", "one")], "nextCursor": "page-2" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/workflows"))
        .and(query_param("cursor", "page-2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": [workflow("B2", "two")], "nextCursor": null })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = N8nClient::new(&config(&server)).unwrap();
    let all = client.list_workflows().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["A1", "B2"]);
}

#[tokio::test]
async fn a_503_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook/github-pr"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/webhook/github-pr"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "message": "Workflow was started" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = N8nClient::new(&config(&server)).unwrap();
    let reply = client
        .trigger_webhook("POST", "github-pr", &json!({ "pr": 7 }))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["message"], "Workflow was started");
    let stats = client.stats().view();
    assert_eq!((stats.calls, stats.failures), (2, 1));
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "status": "ok" })))
        .mount(&server)
        .await;
    let client = N8nClient::new(&config(&server)).unwrap();
    let started = Instant::now();
    client.health().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_404_is_not_retried_and_n8n_internals_stay_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": 404,
            "message": "The requested webhook \"POST missing\" is not registered.",
            "hint": "Click the 'Execute workflow' button on the canvas, then try again.",
            "stacktrace": "Error: The requested webhook ... at /usr/local/lib/node_modules/n8n/dist/webhooks.js:42"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = N8nClient::new(&config(&server)).unwrap();
    let err = client
        .trigger_webhook("POST", "missing", &json!({}))
        .await
        .unwrap_err();
    match &err {
        Error::Status {
            status, message, ..
        } => {
            assert_eq!(*status, 404);
            assert!(message.contains("is not registered"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("node_modules"));
    // A client error does not count against the service.
    assert_eq!(client.breaker().state(), BreakerState::Closed);
}

#[tokio::test]
async fn timeouts_are_not_retried_for_webhooks_but_are_for_reads() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1_500)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1_500)))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.timeout_ms = 300;
    cfg.retry.max_elapsed_ms = 700;
    let client = N8nClient::new(&cfg).unwrap();
    let err = client
        .trigger_webhook("POST", "slow", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Code::UpstreamTimeout, "{err}");
    let err = client.health().await.unwrap_err();
    assert_eq!(err.error_code(), Code::UpstreamTimeout, "{err}");
    let health_calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/healthz")
        .count();
    assert!(health_calls >= 2, "reads are retried: {health_calls}");
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_half_opens_and_closes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "status": "ok" })))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.retry.max_elapsed_ms = 0;
    cfg.breaker = BreakerConfig {
        failure_threshold: 3,
        cool_down_ms: 300,
        ..BreakerConfig::default()
    };
    let client = N8nClient::new(&cfg).unwrap();
    let mut events = client.breaker().subscribe();
    for _ in 0..3 {
        let err = client.health().await.unwrap_err();
        assert_eq!(err.error_code(), Code::UpstreamUnavailable, "{err}");
    }
    assert_eq!(client.breaker().state(), BreakerState::Open);
    let before = server.received_requests().await.unwrap().len();
    let err = client.health().await.unwrap_err();
    assert!(matches!(err, Error::CircuitOpen { .. }), "{err}");
    assert_eq!(err.error_code(), Code::CircuitOpen);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        before,
        "failed fast: no request"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    client.health().await.unwrap();
    assert_eq!(client.breaker().state(), BreakerState::Closed);
    let states: Vec<BreakerState> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.state)
        .collect();
    assert_eq!(
        states,
        [
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Closed
        ]
    );
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let cfg = N8nConfig {
        base_url: format!("http://127.0.0.1:{port}"),
        retry: RetrySchedule {
            initial_ms: 10,
            max_interval_ms: 20,
            multiplier: 2.0,
            jitter: 0.0,
            max_elapsed_ms: 100,
        },
        ..N8nConfig::default()
    };
    let client = N8nClient::new(&cfg).unwrap();
    let err = client
        .trigger_webhook("POST", "x", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Code::UpstreamUnavailable, "{err}");
    assert!(
        client.stats().view().calls >= 2,
        "connect failures are retried even for webhooks"
    );
    assert!(
        N8nClient::new(&N8nConfig {
            base_url: "ftp://x".into(),
            ..N8nConfig::default()
        })
        .is_err()
    );
}

#[tokio::test]
async fn executions_are_read_with_their_data() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/executions/4"))
        .and(query_param("includeData", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "4", "finished": true, "mode": "webhook", "status": "success", "workflowId": "A1",
            "startedAt": "2025-11-27T10:00:00.000Z", "stoppedAt": "2025-11-27T10:00:01.000Z"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/executions"))
        .and(query_param("status", "running"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "data": [{ "id": "5", "status": "running" }], "nextCursor": null }),
        ))
        .mount(&server)
        .await;
    let client = N8nClient::new(&config(&server)).unwrap();
    let execution = client.get_execution("4", true).await.unwrap();
    assert_eq!(execution["status"], "success");
    let running = client
        .list_executions(None, Some("running"), false)
        .await
        .unwrap();
    assert_eq!(running[0]["id"], "5");
}
