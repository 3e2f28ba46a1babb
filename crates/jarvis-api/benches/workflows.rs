//! The n8n path under load, against wiremock playing n8n on loopback.
//!
//! Reports how long a refresh of a large live workflow list takes to reach the catalog,
//! trigger throughput and latency (HTTP → store → webhook call → 202), and how fast calls fail
//! once the circuit breaker is open. `cargo xtask bench` runs it with `--bench`; as a test (no
//! `--bench`) it runs a few of each.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

mod common;

use common::percentile;

use std::time::{Duration, Instant};

use jarvis_api::{ApiConfig, Application};
use jarvis_core::{ResourceKind, Secret};
use jarvis_integrations::{BreakerConfig, N8nClient, N8nConfig, RetrySchedule, ServiceRegistry};
use jarvis_tasks::TaskConfig;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn workflow(i: usize) -> Value {
    json!({
        "id": format!("W{i}"), "name": format!("Workflow {i}"), "active": true,
        "tags": [{ "id": "t1", "name": "bench" }],
        "nodes": [
            { "name": "Hook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "webhookId": format!("w-{i}"),
              "parameters": { "httpMethod": "POST", "path": format!("hook-{i}") } },
            { "name": "Set", "type": "n8n-nodes-base.set", "parameters": {} }
        ]
    })
}

async fn mount_n8n(server: &MockServer, workflows: usize, webhook_status: u16) {
    let page = 100;
    for start in (0..workflows).step_by(page) {
        let end = (start + page).min(workflows);
        let next = (end < workflows).then(|| format!("c{end}"));
        let items: Vec<Value> = (start..end).map(workflow).collect();
        let mut mock = Mock::given(method("GET")).and(path("/api/v1/workflows"));
        if start > 0 {
            mock = mock.and(wiremock::matchers::query_param(
                "cursor",
                format!("c{start}"),
            ));
        }
        mock.respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": items, "nextCursor": next })),
        )
        .with_priority(if start > 0 { 1 } else { 5 })
        .mount(server)
        .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v1/executions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": [], "nextCursor": null })),
        )
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/webhook/"))
        .respond_with(
            ResponseTemplate::new(webhook_status)
                .set_body_json(json!({ "message": "Workflow was started" })),
        )
        .mount(server)
        .await;
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let workflows: usize = if full { 1000 } else { 20 };
    let total: usize = if full { 2000 } else { 20 };
    let fast_fails: usize = if full { 2000 } else { 20 };
    let clients: usize = 8;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let common::Parts { dir: _dir, catalog, store: _store, follower, engine, keys } = common::parts(
            |_| {},
            TaskConfig { runner: vec!["true".into(), "{prompt}".into()], search_path: jarvis_tasks::search_path(&std::env::var_os("PATH").unwrap_or_default()), ..TaskConfig::default() },
            Duration::from_millis(500),
        )
        .await;
        let server = MockServer::start().await;
        mount_n8n(&server, workflows, 200).await;
        let client = N8nClient::new(&N8nConfig {
            base_url: server.uri(),
            api_key: Some(Secret::new("bench-key")),
            retry: RetrySchedule { initial_ms: 5, max_interval_ms: 10, multiplier: 2.0, jitter: 0.0, max_elapsed_ms: 20 },
            breaker: BreakerConfig { cool_down_ms: 3_600_000, ..BreakerConfig::default() },
            ..N8nConfig::default()
        })
        .unwrap();
        let services = ServiceRegistry::new(Some((client.clone(), false)));
        let mut config = ApiConfig { port: 0, ..ApiConfig::default() };
        config.rate_limit.enabled = false;
        let app = Application::build(&config, jarvis_api::Parts { catalog: catalog.clone(), keys, tasks: engine, services, executions: follower, monitor: None, clock: jarvis_core::system_clock(), costs: None, analysis: None, knowledge: None, mcp: Default::default() }).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());

        // Refresh: fetch every page, parse, merge, rebuild the snapshot and its index.
        let started = Instant::now();
        let _refresh = jarvis_api::spawn_workflow_refresh(client, catalog.clone(), Duration::from_secs(3600), None);
        while catalog.snapshot().of_kind(ResourceKind::Workflow).count() < workflows {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let refresh_ms = started.elapsed().as_secs_f64() * 1000.0;

        // Triggers from concurrent clients.
        let http = reqwest::Client::new();
        let started = Instant::now();
        let mut workers = Vec::new();
        for w in 0..clients {
            let http = http.clone();
            let base = base.clone();
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in (w..total).step_by(clients) {
                    let sent = Instant::now();
                    let res = http
                        .post(format!("{base}/api/v2/workflows/W{}/trigger", i % workflows))
                        .json(&json!({ "parameters": { "n": i } }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 202);
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            }));
        }
        let mut trigger_ms = Vec::new();
        for w in workers {
            trigger_ms.extend(w.await.unwrap());
        }
        let wall = started.elapsed().as_secs_f64();
        trigger_ms.sort_by(f64::total_cmp);

        // n8n starts failing: retries, then the breaker opens and calls fail at once.
        server.reset().await;
        mount_n8n(&server, workflows, 503).await;
        loop {
            let res = http.post(format!("{base}/api/v2/workflows/W0/trigger")).json(&json!({})).send().await.unwrap();
            let body: Value = res.json().await.unwrap();
            if body["error"]["code"] == "CIRCUIT_OPEN" {
                break;
            }
        }
        let mut open_ms = Vec::new();
        for _ in 0..fast_fails {
            let sent = Instant::now();
            let res = http.post(format!("{base}/api/v2/workflows/W1/trigger")).json(&json!({})).send().await.unwrap();
            assert_eq!(res.status(), 503);
            open_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        open_ms.sort_by(f64::total_cmp);
        handle.stop(true).await;

        println!("workflows_refresh: {workflows} live workflows in {} pages → catalog: {refresh_ms:.1} ms", workflows.div_ceil(100));
        println!("workflow_triggers: {total} triggers from {clients} concurrent clients (store write + webhook call each)");
        println!("  throughput        {:.0} triggers/s ({:.2} s)", total as f64 / wall, wall);
        println!("  POST trigger (202) p50 {:.2} ms, p99 {:.2} ms", percentile(&trigger_ms, 0.5), percentile(&trigger_ms, 0.99));
        println!("circuit_open: {fast_fails} triggers refused while open: p50 {:.3} ms, p99 {:.3} ms (no request reaches n8n)", percentile(&open_ms, 0.5), percentile(&open_ms, 0.99));
    });
}
